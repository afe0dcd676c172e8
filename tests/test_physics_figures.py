"""Figures 4 and 5 of the physics method (issue 17 item 5): window choice, PNGs, force fields."""

import matplotlib.image
import numpy as np
import pytest

from aujax.datasets import NOT_CODED
from aujax.methods.physics import choose_window, figure4, figure5, synergy_fields


def _planted(t=200, k=3, start=120, length=30):
    """Labels constant except a burst of onsets/offsets in ``[start, start + length)``."""
    labels = np.zeros((t, k), np.int8)
    labels[:, 1] = 1
    for j in range(k):  # single flipped frames; the first and last flip touch the window's ends
        flips = [start + 1, *range(start + 4 + j, start + length - 3, 4), start + length - 2]
        labels[flips, j] = 1 - labels[0, j]
    return labels


def test_choose_window_finds_planted_burst():
    labels = _planted()
    assert choose_window(labels, length=30) == 120
    # a second, smaller burst earlier does not win
    labels[10:14, 0] = 1
    assert choose_window(labels, length=30) == 120


def test_choose_window_ties_go_to_earliest():
    labels = np.zeros((50, 2), np.int8)
    assert choose_window(labels, length=10) == 0
    labels[20, 0] = 1  # two changes, in every window containing frames 19..21
    assert choose_window(labels, length=10) == 12


def test_choose_window_respects_min_coded():
    labels = _planted()
    labels[110:160, :] = NOT_CODED  # the burst is not coded any more...
    labels[125:135, 0] = np.arange(10) % 2  # ...but a changes-rich, mostly uncoded island is
    labels[125:135, 1] = np.arange(10) % 2
    labels[60:64, 2] = 1  # a small coded burst: changes 59->60 and 63->64
    start = choose_window(labels, length=30)
    assert np.mean(labels[start : start + 30] != NOT_CODED) >= 0.8
    assert start == 35
    # with no coding requirement the island (18 changes, frames 125..134) wins
    assert choose_window(labels, length=30, min_coded=0.0) == 105
    assert choose_window(labels, length=30, min_coded=0.5) == 35


def test_choose_window_falls_back_when_nothing_qualifies():
    labels = np.full((40, 2), NOT_CODED, np.int8)
    labels[30:34, 0] = 0
    labels[31:33, 0] = 1
    start = choose_window(labels, length=10)
    assert start <= 30 and start + 10 >= 34


def test_choose_window_short_input_raises():
    with pytest.raises(ValueError, match=r"length.*T = 5"):
        choose_window(np.zeros((5, 2), np.int8), length=10)
    with pytest.raises(ValueError, match="labels"):
        choose_window(np.zeros(5, np.int8), length=2)


def _fig4_inputs(t=30, k=3):
    rng = np.random.default_rng(0)
    frames = np.arange(100, 100 + t)
    labels = (rng.random((t, k)) > 0.6).astype(np.int8)
    labels[:4, 2] = NOT_CODED
    est = {"network": 5 * rng.random((t, k)), "inversion": 5 * rng.random((t, k))}
    return frames, [1, 4, 12][:k], labels, est, 5 * rng.random((t, k))


def _check_png(path, size):
    assert path.exists() and path.stat().st_size > 0
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert img.shape[:2] == size


@pytest.mark.parametrize("with_truth", [False, True])
def test_figure4_writes_png(tmp_path, with_truth):
    frames, aus, labels, est, truth = _fig4_inputs()
    path = tmp_path / "figure4.png"
    size = figure4(path, frames=frames, aus=aus, labels=labels, estimates=est,
                   truth=truth if with_truth else None, title="F001 T1")  # fmt: skip
    _check_png(path, size)
    assert size[1] == round(9.0 * 110)  # 9 in wide at dpi 110
    # one estimate, one AU
    size = figure4(path, frames=frames, aus=aus[:1], labels=labels[:, :1],
                   estimates={"network": est["network"][:, :1]})  # fmt: skip
    _check_png(path, size)


def test_figure4_shape_errors(tmp_path):
    frames, aus, labels, est, truth = _fig4_inputs()
    path = tmp_path / "f.png"
    kw = dict(frames=frames, aus=aus, labels=labels, estimates=est, truth=truth)
    for name, bad in [("frames", frames[:-1]), ("labels", labels[:, :2]),
                      ("truth", truth[:-1]), ("aus", [])]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            figure4(path, **{**kw, name: bad})
    with pytest.raises(ValueError, match=r"estimates\['network'\]"):
        figure4(path, **{**kw, "estimates": {"network": est["network"][:, :2]}})
    with pytest.raises(ValueError, match="labels"):
        figure4(path, **{**kw, "labels": labels + 2})
    assert not path.exists()


def _mesh():
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.1], [1.0, 1.0, 0.0], [0.0, 1.0, 0.2]])
    triangles = np.array([[0, 1, 2], [0, 2, 3]])
    rng = np.random.default_rng(1)
    return vertices, triangles, rng.normal(size=(4, 3)), rng.normal(size=(4, 3))


@pytest.mark.parametrize(
    "with_truth,image",
    [(False, None), (True, None), (True, "rgb"), (False, "grey"), (True, "uint8")],
)
def test_figure5_writes_png(tmp_path, with_truth, image):
    vertices, triangles, est, truth = _mesh()
    rng = np.random.default_rng(2)
    img = {None: None, "rgb": rng.random((20, 16, 3)), "grey": rng.random((20, 16)),
           "uint8": rng.integers(0, 256, (20, 16, 3), dtype=np.uint8)}[image]  # fmt: skip
    path = tmp_path / "figure5.png"
    size = figure5(path, vertices=vertices, triangles=triangles, estimated=est,
                   truth=truth if with_truth else None, image=img, title="F001 T1 frame 2469",
                   arrows=3)  # fmt: skip
    _check_png(path, size)
    panels = 1 + with_truth + (image is not None)
    assert size[1] == round(4.2 * panels * 110)


def test_figure5_zero_field_and_no_arrows(tmp_path):
    vertices, triangles, _, _ = _mesh()
    path = tmp_path / "figure5.png"
    size = figure5(path, vertices=vertices, triangles=triangles, estimated=np.zeros((4, 3)))
    _check_png(path, size)
    size = figure5(path, vertices=vertices, triangles=triangles, estimated=np.ones((4, 3)),
                   arrows=0)  # fmt: skip
    _check_png(path, size)


def test_figure5_shape_errors(tmp_path):
    vertices, triangles, est, truth = _mesh()
    path = tmp_path / "f.png"
    kw = dict(vertices=vertices, triangles=triangles, estimated=est, truth=truth)
    for name, bad in [("vertices", vertices[:, :2]), ("triangles", triangles[:, :2]),
                      ("triangles", triangles + 4), ("triangles", triangles.astype(float)),
                      ("estimated", est[:3]), ("truth", truth[:, :2]),
                      ("image", np.zeros((4, 4, 2))), ("arrows", -1)]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            figure5(path, **{**kw, name: bad})
    assert not path.exists()


def test_synergy_fields_matches_loop():
    rng = np.random.default_rng(3)
    t, m, v = 5, 4, 7
    act = rng.random((t, m))
    per = rng.normal(size=(m, v, 3))
    out = synergy_fields(act, per_muscle_field=per)
    ref = np.zeros((t, v, 3))
    for i in range(t):
        for j in range(m):
            ref[i] += act[i, j] * per[j]
    assert out.shape == (t, v, 3)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_synergy_fields_shape_errors():
    with pytest.raises(ValueError, match="activations"):
        synergy_fields(np.zeros(4), per_muscle_field=np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match="per_muscle_field"):
        synergy_fields(np.zeros((2, 4)), per_muscle_field=np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="per_muscle_field"):
        synergy_fields(np.zeros((2, 4)), per_muscle_field=np.zeros((3, 2, 3)))
