"""Video tracking with the top-down engine (issue 16): the neutral from the video, per-frame fits,
the reduced-dynamics smoother, and its use in the coefficient reconstruction of a FrameTable."""

import pathlib

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aujax.datasets import FrameTable
from aujax.geometry import Camera, intrinsics_matrix
from aujax.methods.topdown import (
    TopDownEngine,
    _coefficients,
    estimate_neutral,
    fit_frames,
    prepared_table,
    reconstruct_coefficients,
    smooth_table,
    table_smoother,
    template_dynamics,
    track_sequence,
)
from aujax.physics import CoefficientSmoother, SmootherSettings


FLIP = np.diag([1.0, -1.0, -1.0])  # model frame (x left, y up, z to camera) -> camera frame
K_CAM = np.asarray(intrinsics_matrix(focal=800.0, center=(320.0, 240.0)))
FPS = 25.0


@pytest.fixture(scope="module")
def physics():
    """The 400-vertex template's blendshapes and Galerkin dynamics (float64)."""
    return template_dynamics(n_vertices=400, seed=0)


@pytest.fixture(scope="module")
def engine(physics):
    return TopDownEngine.from_model(physics[0], iterations=6, nnls_iterations=200)


def _smooth_levels(rng, t, k, aus=(0, 4, 8)):
    """Raised-cosine episodes on a few AUs, like the generator's (0-5 scale)."""
    time = np.arange(t) / FPS
    levels = np.zeros((t, k))
    for j in aus:
        start = rng.uniform(-0.5, max(t / FPS - 1.2, 0.0))
        width, peak = rng.uniform(1.0, 2.0), rng.uniform(2, 4)
        phase = np.clip((time - start) / width, 0.0, 1.0)
        levels[:, j] = peak * 0.5 * (1.0 - np.cos(2 * np.pi * phase))
    return levels


def _video(engine, rng, levels, identity, *, noise_px=0.0):
    """2D landmarks (pixels) of the model under a slowly moving head and a perspective camera."""
    t = levels.shape[0]
    p = (
        np.asarray(engine.neutral)[None]
        + np.einsum("tk,kld->tld", levels, np.asarray(engine.au_basis))
        + np.einsum("j,jld->ld", identity, np.asarray(engine.identity_basis))[None]
    )
    angles = np.cumsum(rng.normal(scale=0.3, size=(t, 3)), axis=0)
    rot = np.einsum(
        "ij,tjk->tik", FLIP, Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    )
    x = np.einsum("tij,tlj->tli", rot, p) + np.array([0.0, 0.0, 60.0])
    q = x @ K_CAM.T
    return q[..., :2] / q[..., 2:] + noise_px * rng.normal(size=(t, x.shape[1], 2))


def test_estimate_neutral_is_the_median_of_the_least_expressive_frames(engine):
    rng = np.random.default_rng(0)
    k = engine.n_aus
    identity = 0.5 * rng.normal(size=engine.n_identity)
    levels = np.zeros((40, k))
    levels[::3] = 0.0
    expressive = np.arange(40) % 3 != 0
    levels[expressive] = rng.uniform(0.5, 4.0, size=(expressive.sum(), k)) * (
        rng.uniform(size=(expressive.sum(), k)) < 0.3
    )
    q = _video(engine, rng, levels, identity)
    camera = Camera.create(jnp.asarray(K_CAM))
    valid = np.ones(40, bool)
    valid[5] = False
    neutral = estimate_neutral(engine, q, camera=camera, valid=valid, frames=16, fraction=0.25)
    # the same steps by hand
    pick = np.flatnonzero(valid)[np.linspace(0, 38, 16).astype(int)]
    first = engine.fit(jnp.asarray(q[pick]), camera=camera)
    order = np.argsort(np.asarray(first.levels).sum(axis=1), kind="stable")[:4]
    np.testing.assert_allclose(
        neutral.identity, np.median(np.asarray(first.identity)[order], axis=0), atol=1e-8
    )
    assert int(neutral.n_frames) == 4
    assert neutral.landmarks.shape == engine.neutral.shape
    # nothing valid: no neutral
    assert estimate_neutral(engine, q, camera=camera, valid=np.zeros(40, bool)) is None
    with pytest.raises(ValueError, match="fraction"):
        estimate_neutral(engine, q, camera=camera, fraction=0.0)


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_fit_frames_equals_one_call(engine):
    rng = np.random.default_rng(1)
    levels = _smooth_levels(rng, 20, engine.n_aus)
    q = _video(engine, rng, levels, np.zeros(engine.n_identity))
    camera = Camera.create(jnp.asarray(K_CAM))
    valid = np.ones(20, bool)
    valid[7] = False
    chunked = fit_frames(engine, q, camera=camera, valid=valid, chunk=8)
    whole = engine.fit(jnp.asarray(q), camera=camera, valid=jnp.asarray(valid))
    np.testing.assert_allclose(chunked.levels, whole.levels, atol=1e-8)
    np.testing.assert_array_equal(chunked.valid, whole.valid)
    assert chunked.levels.shape == (20, engine.n_aus)


def test_track_sequence_smooths_a_noisy_video(engine, physics):
    blendshapes, reduced = physics
    rng = np.random.default_rng(2)
    t = 75
    truth = _smooth_levels(rng, t, engine.n_aus)
    q = _video(engine, rng, truth, 0.3 * rng.normal(size=engine.n_identity), noise_px=1.0)
    q[30:33] = np.nan  # a detector dropout
    camera = Camera.create(jnp.asarray(K_CAM))
    smoother = table_smoother(
        blendshapes, reduced, fps=FPS,
        options=dict(activation_sds=[0.5, 1.0, 2.0], activation_times=[1.0],
                     noise_scales=[1.0, 1.4]),
    )  # fmt: skip
    out = track_sequence(engine, q, camera=camera, smoother=smoother, neutral_frames=16,
                         chunk=80)  # fmt: skip
    assert out.levels.shape == (t, engine.n_aus) and out.drive.shape == (t, engine.n_aus)
    assert not out.valid[30:33].any() and out.valid.sum() == t - 3
    assert np.all(np.isfinite(out.levels)) and out.levels.min() >= 0 and out.levels.max() <= 5
    assert out.smoother.settings is not None and out.smoother.noise.shape == (17, 17)
    ok = out.valid
    pair = ok[1:] & ok[:-1]

    def jitter(x):
        return np.sqrt(np.mean(np.diff(x, axis=0)[pair] ** 2))

    def error(x):
        return np.mean(np.abs(x - truth)[ok])

    # (the head pose drifts, so part of the per-frame error is slow and no smoother removes it)
    assert jitter(out.levels) < jitter(out.frame_levels) / 2
    assert error(out.levels) < error(out.frame_levels)
    # the gap is bridged about as well as the fitted frames are smoothed
    assert np.mean(np.abs(out.levels[30:33] - truth[30:33])) < 1.5 * error(out.levels)
    # without a smoother: the per-frame levels
    raw = track_sequence(engine, q, camera=camera, neutral=out.neutral, chunk=80)
    np.testing.assert_allclose(raw.levels, out.frame_levels, atol=1e-8)
    assert raw.drive is None and raw.smoother is None


def _table(rng, k=17):
    """Two subjects x two tasks, 30 frames each at levels 1-4, one gap in the frame numbers,
    noisy c."""
    subject, task, frame, c, ok = [], [], [], [], []
    for s, base in (("F001", 1.0), ("M001", 3.0)):
        for tsk, shift in (("T1", 0.0), ("T2", 1.0)):
            frames = np.r_[1:11, 14:34]  # frames 11-13 missing
            subject += [s] * frames.size
            task += [tsk] * frames.size
            frame += frames.tolist()
            c.append(base + shift + 0.5 * rng.normal(size=(frames.size, k)))
            m = np.ones(frames.size, bool)
            m[4] = False
            ok.append(m)
    n = len(frame)
    return FrameTable(
        subject=np.asarray(subject), task=np.asarray(task), frame=np.asarray(frame, np.int64),
        labels=np.zeros((n, 12), np.int8), label_mask=np.ones((n, 12), bool),
        landmarks=np.zeros((n, 49, 2), np.float32), landmark_mask=np.concatenate(ok),
        images=None, aus=tuple(range(12)), c=np.concatenate(c).astype(np.float32),
        c_mask=np.concatenate(ok),
    )  # fmt: skip


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_smooth_table_smooths_each_sequence_alone(physics):
    blendshapes, reduced = physics
    rng = np.random.default_rng(3)
    table = _table(rng)
    smoother = table_smoother(blendshapes, reduced, fps=FPS).replace(
        settings=SmootherSettings(activation_sd=0.7, activation_time=2.0),
        noise=np.eye(17) * 0.25, robust_iterations=1,
    )  # fmt: skip
    raw_c, mask = table.c.copy(), table.c_mask.copy()
    smooth_table(table, smoother)
    np.testing.assert_array_equal(table.c_mask, mask)
    assert np.all(np.isfinite(table.c))
    seqs = table.sequences()
    for _, _, rows in seqs:
        assert np.std(np.diff(table.c[rows], axis=0)) < np.std(np.diff(raw_c[rows], axis=0)) / 3
    # one sequence alone gives the same result: nothing crosses a sequence boundary
    alone = _table(np.random.default_rng(3))
    keep = seqs[1][2]
    sub = FrameTable(**{f: (getattr(alone, f)[keep] if isinstance(getattr(alone, f), np.ndarray)
                           else getattr(alone, f)) for f in alone.__dataclass_fields__})  # fmt: skip
    smooth_table(sub, smoother)
    np.testing.assert_allclose(sub.c, table.c[keep], atol=1e-5)
    # the frame gap is on the time grid: shifting frame numbers by a constant changes nothing,
    # closing the gap does
    closed = _table(np.random.default_rng(3))
    closed.frame = np.concatenate([np.arange(1, 31)] * 4).astype(np.int64)
    smooth_table(closed, smoother)
    assert not np.allclose(closed.c, table.c, atol=1e-4)


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_reconstruct_coefficients_smoother_option(engine, physics):
    """reconstruct_coefficients(smoother=...) = the per-frame reconstruction, then smooth_table."""
    blendshapes, reduced = physics
    rng = np.random.default_rng(4)
    identity = 0.3 * rng.normal(size=engine.n_identity)
    lms, frames, tasks = [], [], []
    for tsk in ("T1", "T2"):
        levels = _smooth_levels(rng, 25, engine.n_aus)
        lms.append(_video(engine, rng, levels, identity, noise_px=0.5))
        frames += list(range(1, 26))
        tasks += [tsk] * 25
    lm = np.concatenate(lms)[:, 17:, :]  # BP4D's 49 points: 17..67 without 60 and 64
    lm = np.delete(lm, [60 - 17, 64 - 17], axis=1).astype(np.float32)
    n = lm.shape[0]
    table = FrameTable(
        subject=np.asarray(["F001"] * n), task=np.asarray(tasks),
        frame=np.asarray(frames, np.int64), labels=np.zeros((n, 12), np.int8),
        label_mask=np.ones((n, 12), bool), landmarks=lm, landmark_mask=np.ones(n, bool),
        images=None, aus=tuple(range(12)),
    )  # fmt: skip
    smoother = table_smoother(blendshapes, reduced, fps=FPS).replace(
        settings=SmootherSettings(activation_sd=1.0, activation_time=2.0), noise=np.eye(17) * 0.1
    )
    kw = dict(intrinsics=K_CAM, neutral_frames=16, chunk=64)
    raw = reconstruct_coefficients(table, blendshapes, **kw)
    raw_c = raw.c.copy()
    smoothed = reconstruct_coefficients(table, blendshapes, smoother=smoother, **kw)
    assert smoothed.c_mask.all()
    raw.c = raw_c
    smooth_table(raw, smoother)
    np.testing.assert_allclose(smoothed.c, raw.c, atol=1e-6)
    assert not np.allclose(smoothed.c, raw_c, atol=1e-3)


def test_prepared_table_keys_the_cache_by_the_smoother(physics, tmp_path, monkeypatch):
    """The smoothed coefficients are cached under a key that includes the smoother's settings;
    the per-frame coefficients are reused across smoother settings."""
    blendshapes, reduced = physics
    calls = []

    def fake_reconstruct(table, _blendshapes, **kw):
        calls.append(kw)
        fresh = _table(np.random.default_rng(5))
        table.c, table.c_mask = fresh.c, fresh.c_mask
        return table

    root = tmp_path / "bp4d_fake"
    root.mkdir()
    monkeypatch.setattr(_coefficients, "dataset_root", lambda *a, **k: (root, True))
    monkeypatch.setattr(_coefficients, "load_bp4d_table",
                        lambda *a, **k: _table(np.random.default_rng(5)))  # fmt: skip
    monkeypatch.setattr(_coefficients, "synthetic_intrinsics", lambda r: K_CAM)
    monkeypatch.setattr(_coefficients, "reconstruct_coefficients", fake_reconstruct)

    def data(**smoother):
        return ml_collections.ConfigDict(dict(
            bp4d_dir="", synthetic_preset="tiny", image_size=None, template_vertices=400,
            engine_iterations=6, engine_nnls_iterations=200, engine_nnls_method="active_set",
            engine_neutral_fraction=0.2,
            smoother=dict(enabled=True, fit_sequences=4, fit_window=20, drive_orders=(1,),
                          activation_sds=(0.5, 1.0), activation_times=(1.0,),
                          noise_scales=(1.0,), **smoother),
        ))  # fmt: skip

    def run(cfg):
        return prepared_table("bp4d", cfg, seed=0, cache=tmp_path, log=lambda *_: None,
                              blendshapes=blendshapes, dynamics=reduced)[0]  # fmt: skip

    def files():
        return sorted(p.name for p in pathlib.Path(tmp_path, "coefficients").glob("*.npz"))

    a = run(data(robust_iterations=0))
    assert len(calls) == 1 and calls[0]["neutral_fraction"] == 0.2
    assert len(files()) == 2 and any("_rts" in f for f in files())
    again = run(data(robust_iterations=0))
    np.testing.assert_array_equal(again.c, a.c)
    b = run(data(robust_iterations=2))
    assert len(calls) == 1  # the per-frame coefficients are reused
    assert len(files()) == 3 and not np.allclose(a.c, b.c)
    off = data()
    off.smoother.enabled = False
    raw = run(off)
    np.testing.assert_array_equal(raw.c, _table(np.random.default_rng(5)).c)
    assert len(files()) == 3


def test_smoother_options_are_checked(physics):
    blendshapes, reduced = physics
    with pytest.raises(ValueError, match="fps"):
        CoefficientSmoother(model=reduced, fps=0.0)
    with pytest.raises(ValueError, match="unknown options"):
        table_smoother(blendshapes, reduced, fps=FPS, options=dict(enabled=True, robust=2))
