"""Seed 002's figs. 6-8 (deformation maps) and the vertex error against the physics (issue 19)."""

import dataclasses

import matplotlib.image
import numpy as np
import pytest

from aujax.datasets import DISFA_AUS
from aujax.methods.ausynth import (
    FIG6_AUS,
    FIG6_INTENSITIES,
    FIG8_COMBINATIONS,
    deformation,
    error_label_rows,
    label_grid,
    physics_activations,
    physics_meshes,
    physics_subject,
    plot_au_maps,
    plot_combination_maps,
    plot_intensity_maps,
    projected_meshes,
    vertex_error_table,
    vertex_errors,
    view_triangles,
)
from aujax.synth import REALISTIC_DYNAMICS, Cast, MuscleRealism, rig_landmarks, template_model


pytestmark = pytest.mark.usefixtures("fast_compile")

# the smallest template (417 vertices) and a subject of the tiny DISFA-like preset
_SUBJECT = dict(subject="SN002", seed=0, size="tiny", n_vertices=400)


@pytest.fixture(scope="module")
def truth():
    """The subject, and its physics meshes for: no AU, AU1, AU2, AU12 alone at 5."""
    subject = physics_subject(**_SUBJECT)
    labels, names = label_grid((1, 2, 12), intensities=(5,))
    labels = np.concatenate([np.zeros((1, 12), np.int8), labels])
    return subject, physics_meshes(labels, **_SUBJECT), ("none", *names)


# ------------------------------------------------------------------------------------------------
# label grids


def test_label_grid_rows_and_names():
    labels, names = label_grid(FIG6_AUS, intensities=FIG6_INTENSITIES)
    assert labels.shape == (15, 12) and labels.dtype == np.int8
    grid = labels.reshape(3, 5, 12)  # (AU, intensity): the order fig. 6 reads
    for i, au in enumerate(FIG6_AUS):
        col = DISFA_AUS.index(au)
        np.testing.assert_array_equal(grid[i, :, col], [1, 2, 3, 4, 5])
        assert np.count_nonzero(grid[i]) == 5
    assert names[:2] == ("AU1@1", "AU1@2") and names[-1] == "AU25@5"
    labels, names = label_grid(FIG8_COMBINATIONS)
    assert names == ("AU1+2@5", "AU25+26@5", "AU1+2+12@5", "AU1+2+15@5", "AU1+25@5")
    assert np.count_nonzero(labels, axis=1).tolist() == [2, 2, 3, 3, 2]
    assert set(labels[labels > 0].tolist()) == {5}
    labels, names = error_label_rows(intensities=(3, 5))
    assert labels.shape == (12 * 2 + 5, 12) and names[1] == "AU1@5" and names[-1] == "AU1+25@5"
    for bad in ([7], [(1, 1)], [()], []):  # AU7 is not a DISFA AU
        with pytest.raises(ValueError, match="entries"):
            label_grid(bad)
    with pytest.raises(ValueError, match="intensities"):
        label_grid([1], intensities=(6,))


# ------------------------------------------------------------------------------------------------
# figures


def _grid_mesh(n=5):
    """A bumpy n x n height field facing +z: (V, 3) vertices and (F, 3) counter-clockwise faces."""
    x, y = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1.2, 1.2, n))
    v = np.stack([x.ravel(), y.ravel(), 0.2 * np.cos(x.ravel() * y.ravel())], axis=1)
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, 1:].ravel(), i[1:, :-1].ravel()
    return v, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def test_view_triangles_culls_back_faces_and_orders_far_to_near():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1.0]])
    f = np.array([[3, 4, 5], [0, 2, 1], [0, 1, 2]])  # near +z, back-facing, far +z
    xy, tris = view_triangles(v, f, view="front")
    np.testing.assert_array_equal(tris, [[0, 1, 2], [3, 4, 5]])  # far first, back face gone
    np.testing.assert_array_equal(xy, v[:, :2])
    xy, tris = view_triangles(v, f, view="profile")  # seen from -x: screen (z, y)
    np.testing.assert_array_equal(xy, v[:, [2, 1]])
    assert len(tris) == 0  # every triangle lies in a plane x = const or faces along z
    with pytest.raises(ValueError, match="view"):
        view_triangles(v, f, view="top")
    with pytest.raises(ValueError, match="faces"):
        view_triangles(v, f + 10)


def _check_png(path, fig):
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == fig.size


def test_figures_write_pngs_of_the_right_layout(tmp_path):
    v, f = _grid_mesh()
    rng = np.random.default_rng(0)
    move = rng.normal(scale=0.1, size=(3, 5) + v.shape)
    meshes = v + move
    fig = plot_intensity_maps(tmp_path / "fig6.png", neutral=v, meshes=meshes, faces=f)
    _check_png(tmp_path / "fig6.png", fig)
    assert fig.grid == (3, 5)
    assert fig.vmax == pytest.approx(np.linalg.norm(move, axis=-1).max())  # one shared scale
    wide = plot_intensity_maps(tmp_path / "fig6p.png", neutral=v, meshes=meshes[:1, :2], faces=f,
                               aus=[1], intensities=(1, 2), profile=True, vmax=2.0)  # fmt: skip
    _check_png(tmp_path / "fig6p.png", wide)
    assert wide.grid == (1, 4) and wide.vmax == 2.0
    # fig. 7: 7 AUs at 6 per row make a short second row; fig. 8 one row
    fig = plot_au_maps(tmp_path / "fig7.png", neutral=v, meshes=meshes.reshape(15, *v.shape)[:7],
                       faces=f, aus=DISFA_AUS[:7])  # fmt: skip
    _check_png(tmp_path / "fig7.png", fig)
    assert fig.grid == (2, 6)
    _, names = label_grid(FIG8_COMBINATIONS)
    fig = plot_combination_maps(tmp_path / "fig8.png", neutral=v, meshes=meshes[0], faces=f,
                                names=names)  # fmt: skip
    _check_png(tmp_path / "fig8.png", fig)
    assert fig.grid == (1, 5)
    still = plot_combination_maps(tmp_path / "z.png", neutral=v, meshes=np.stack([v, v]), faces=f,
                                  names=["a", "b"])  # fmt: skip
    assert still.vmax == 1.0  # no deformation: a unit scale, not an empty one
    with pytest.raises(ValueError, match="meshes"):
        plot_intensity_maps(tmp_path / "bad.png", neutral=v, meshes=meshes[:2], faces=f)
    with pytest.raises(ValueError, match="neutral"):
        plot_au_maps(tmp_path / "bad.png", neutral=v[:-1], meshes=meshes[0, :1], faces=f, aus=[1])
    with pytest.raises(ValueError, match="finite"):
        plot_au_maps(tmp_path / "bad.png", neutral=v, meshes=np.full((1,) + v.shape, np.nan),
                     faces=f, aus=[1])  # fmt: skip
    assert not (tmp_path / "bad.png").exists()


def test_deformation_is_the_vertex_distance():
    v, _ = _grid_mesh(3)
    m = v + np.array([3.0, 4.0, 0.0])
    np.testing.assert_allclose(deformation(v, m[None]), 5.0)


# ------------------------------------------------------------------------------------------------
# the physics' meshes


def test_zero_labels_give_the_rest_mesh(truth):
    subject, meshes, _ = truth
    assert meshes.shape == (4, subject.n_vertices, 3)
    np.testing.assert_array_equal(meshes[0], subject.rest)
    assert subject.faces.shape[1] == 3 and subject.faces.max() == subject.n_vertices - 1
    assert not np.any(physics_activations(np.zeros((2, 12)), subject))
    with pytest.raises(ValueError, match="labels"):
        physics_meshes(np.full((1, 12), 6), **_SUBJECT)
    with pytest.raises(ValueError, match="subject"):
        physics_subject("SN001", size="tiny")  # not in the tiny preset


def test_activations_are_the_generators_drive_held(truth):
    """With the generator's random parts switched off (asymmetry, noise), its own drive of a held
    expression (Cast.drive: synergies, gains, co-contraction, activation dynamics) is
    physics_activations' at every frame."""
    subject, _, _ = truth
    quiet = dataclasses.replace(
        MuscleRealism(), asymmetry_sd=0.0, unilateral_fraction=0.0,
        dynamics=dataclasses.replace(REALISTIC_DYNAMICS, noise_sd=0.0),
    )  # fmt: skip
    mine = physics_subject(**_SUBJECT, realism=quiet)
    np.testing.assert_array_equal(mine.body.synergy, subject.body.synergy)  # same draws
    labels, _ = label_grid([(1, 2, 12)], intensities=(4,))
    face, model = template_model(_SUBJECT["n_vertices"], _SUBJECT["seed"])
    cast = Cast("disfa", _SUBJECT["seed"], 25.0, face, model, quiet)
    x = np.zeros((6, 17))
    x[:, [0, 1, 8]] = 4.0  # AU1, AU2, AU12 in AU_IDS order
    drive = cast.drive(mine.body, x, subject="SN002", task="video",
                       rng=np.random.default_rng(0), warmup=2)  # fmt: skip
    acts = physics_activations(labels, mine)
    np.testing.assert_allclose(drive.activations, np.repeat(acts, 8, axis=0), rtol=1e-12)
    assert np.count_nonzero(acts) > 6


def test_one_au_moves_its_muscles_region(truth):
    """AU12 (zygomaticus major) lifts and widens the mouth corners, AU1 (medial frontalis) lifts
    the inner brows, AU2 (lateral frontalis) the outer brows; each leaves the other region nearly
    still. Margins are factors of several over what the muscles' geometry gives, not rounding."""
    subject, meshes, names = truth
    lm = rig_landmarks(subject.body.rig, meshes - subject.rest)  # (4, 68, 3)
    d = lm - lm[0]
    au1, au2, au12 = (names.index(n) for n in ("AU1@5", "AU2@5", "AU12@5"))
    corners, inner, outer = [48, 54], [21, 22], [17, 26]
    # AU12: both corners up and outward (48 is on the subject's right, x < 0), brows still
    assert np.all(d[au12, corners, 1] > 0.2)
    assert d[au12, 48, 0] < -0.1 and d[au12, 54, 0] > 0.1
    assert (
        np.abs(d[au12, inner + outer]).max() < 0.1 * np.linalg.norm(d[au12, corners], axis=-1).min()
    )
    # AU1 / AU2: their brow points up, the mouth corners nearly still
    assert np.all(d[au1, inner, 1] > 0.3) and np.all(d[au2, outer, 1] > 0.2)
    assert np.all(d[au1, inner, 1] > 4 * np.abs(d[au1, outer, 1]))
    assert np.all(d[au2, outer, 1] > 4 * np.abs(d[au2, inner, 1]))
    for k in (au1, au2):
        assert np.linalg.norm(d[k, corners], axis=-1).max() < 0.1


# ------------------------------------------------------------------------------------------------
# vertex errors


def _similarity(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.linalg.det(q))  # a proper rotation
    return 1.3, rot, np.array([2.0, -1.0, 0.5])


def test_vertex_errors_zero_invariant_and_by_hand(truth):
    subject, meshes, _ = truth
    rest = subject.rest
    err = vertex_errors(meshes, meshes, generated_neutral=rest, truth_neutral=rest)
    np.testing.assert_allclose(err.mean, 0.0, atol=1e-12)
    assert np.isnan(err.relative[0]) and np.all(err.relative[1:] < 1e-10)
    # a similarity transform of the generated side (neutral and expressions) changes nothing
    # once aligned; the rigid alignment cannot undo the scale
    s, rot, t = _similarity(np.random.default_rng(0))
    gen = meshes[1:].copy()
    gen[..., 1] += 0.05 * np.sin(gen[..., 0])  # a generator that is off
    moved = s * gen @ rot.T + t
    ref = vertex_errors(gen, meshes[1:], generated_neutral=rest, truth_neutral=rest, align="none")
    assert np.all(ref.mean > 1e-3)
    same = vertex_errors(moved, meshes[1:], generated_neutral=s * rest @ rot.T + t,
                         truth_neutral=rest)  # fmt: skip
    np.testing.assert_allclose(same.mean, ref.mean, rtol=1e-9)
    np.testing.assert_allclose(same.relative, ref.relative, rtol=1e-9)
    rigid = vertex_errors(moved, meshes[1:], generated_neutral=s * rest @ rot.T + t,
                          truth_neutral=rest, align="rigid")  # fmt: skip
    np.testing.assert_allclose(rigid.generated, s * ref.generated, rtol=1e-9)
    assert np.all(rigid.mean > ref.mean + 1e-3)
    # by hand: dt = (1,0,0), 0, (0,2,0); dg = (1,0,0), (0,0,1), (0,1,0): distances 0, 1, 1
    n = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    dt = np.array([[1.0, 0, 0], [0, 0, 0], [0, 2, 0]])
    dg = np.array([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]])
    hand = vertex_errors((n + dg)[None], (n + dt)[None], generated_neutral=n, truth_neutral=n,
                         align="none")  # fmt: skip
    np.testing.assert_allclose(hand.mean, [2.0 / 3.0])
    np.testing.assert_allclose(hand.relative, [np.sqrt(2.0) / np.sqrt(5.0)])
    np.testing.assert_allclose(hand.truth, [1.0])
    region = vertex_errors((n + dg)[None], (n + dt)[None], generated_neutral=n, truth_neutral=n,
                           align="none", region=[1, 2])  # fmt: skip
    np.testing.assert_allclose(region.mean, [1.0])
    with pytest.raises(ValueError, match="generated"):
        vertex_errors(meshes[:, :-1], meshes, generated_neutral=rest, truth_neutral=rest)
    with pytest.raises(ValueError, match="align"):
        vertex_errors(meshes, meshes, generated_neutral=rest, truth_neutral=rest, align="scale")


def test_vertex_error_table_groups_rows(truth):
    subject, meshes, names = truth
    rest = subject.rest
    gen = {"CGAN": meshes + 0.01 * np.arange(3), "CAAE": meshes}
    rows = [*names, *names]  # the same labels on two "subjects"
    table = vertex_error_table({k: np.concatenate([g, g]) for k, g in gen.items()},
                               np.concatenate([meshes, meshes]), names=rows,
                               generated_neutral={"CGAN": rest + 0.01 * np.arange(3), "CAAE": rest},
                               truth_neutral=rest)  # fmt: skip
    assert table.rows == names and table.generators == ("CGAN", "CAAE")
    np.testing.assert_array_equal(table.count, [2, 2, 2, 2])
    np.testing.assert_allclose(table.mean, 0.0, atol=1e-9)  # a translation of both is no error
    assert table.truth[0] == 0.0 and np.all(table.truth[1:] > 0.01)
    assert "| AU12@5 | 2 |" in table.text and "CAAE" in table.text
    with pytest.raises(ValueError, match="names"):
        vertex_error_table(gen, meshes, names=names[:2], generated_neutral=rest, truth_neutral=rest)


def test_projected_meshes_floor(truth):
    """A basis spanning the true displacements reproduces them; one orthogonal to them keeps the
    neutral (relative error 1)."""
    subject, meshes, _ = truth
    rest, v = subject.rest, subject.n_vertices
    d = (meshes[1:] - rest).reshape(3, -1).T  # (3V, 3)
    q, _ = np.linalg.qr(d)
    spans = projected_meshes(meshes, truth_neutral=rest, exp_basis=q.reshape(v, 3, 3))
    np.testing.assert_allclose(spans, meshes, atol=1e-12)
    g = np.random.default_rng(1).normal(size=(3 * v, 2))
    other = np.linalg.qr(g - q @ (q.T @ g))[0]  # orthogonal to the displacements
    off = projected_meshes(meshes, truth_neutral=rest, exp_basis=other.reshape(v, 3, 2))
    err = vertex_errors(off[1:], meshes[1:], generated_neutral=rest, truth_neutral=rest)
    np.testing.assert_allclose(err.relative, 1.0, rtol=1e-9)
    with pytest.raises(ValueError, match="exp_basis"):
        projected_meshes(meshes, truth_neutral=rest, exp_basis=q.reshape(v, 3, 3)[:-1])
