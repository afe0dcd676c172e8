"""The generator's speed paths: segmented long sequences, the crop size per preset, batched crops."""

import numpy as np
import pytest

from aujax.datasets._bp4d import read_bp4d_frames
from aujax.face import make_face
from aujax.physics import build_au_blendshapes
from aujax.synth import (
    DEFAULT_IMAGE_SIZE,
    ActivationDynamics,
    build_subject_rig,
    generate_bp4d,
    muscle_activations,
    sequence_crops,
)
from aujax.synth._rig import simulate_expressions, simulate_long_expression


@pytest.fixture(scope="module")
def setup():
    face = make_face(400)
    model, _ = build_au_blendshapes(face)
    rig = build_subject_rig(face, np.random.default_rng(0).normal(size=20), fps=25.0)
    return face, model, rig


def _activations(model, n_frames, seed=0):
    rng = np.random.default_rng(seed)
    c = np.zeros((n_frames, model.n_aus))
    for au, start in ((12, 3), (4, 14), (26, 24)):
        c[start : start + 12, model.au_index(au)] = rng.uniform(2.0, 4.0)
    return muscle_activations(c, np.asarray(model.au_activations), fps=25.0, rng=rng,
                              dynamics=ActivationDynamics(noise_sd=0.0))  # fmt: skip


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_segmented_long_sequence_matches_one_integration(setup):
    """Overlapping pieces run as one batch reproduce the single integration: piece 0 exactly,
    the others up to the start transient the overlap lets decay (shrinking with the overlap)."""
    _, model, rig = setup
    acts = _activations(model, 34)  # 3 pieces of 12 frames, the last one of 10
    ref, _ = simulate_expressions(rig, acts[None], rtol=1e-7)
    ref = ref[0]
    scale = np.abs(ref).max()
    one = simulate_long_expression(rig, acts, segments=1, rtol=1e-7)
    np.testing.assert_allclose(one, ref, rtol=0, atol=1e-12 * scale)
    errors = []
    for overlap in (2, 12):
        got = simulate_long_expression(rig, acts, segments=3, overlap=overlap, rtol=1e-7)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got[:12], ref[:12], rtol=0, atol=1e-8 * scale)  # piece 0
        errors.append(np.abs(got - ref).max() / scale)
    assert errors[1] < 0.2 * errors[0]
    assert errors[1] < 2e-2
    for kw, match in (({"segments": 0}, "segments"), ({"overlap": -1}, "overlap")):
        with pytest.raises(ValueError, match=match):
            simulate_long_expression(rig, acts, **kw)
    with pytest.raises(ValueError, match="activations must have shape"):
        simulate_long_expression(rig, acts[None])


def test_crop_size_defaults_and_bad_values(tmp_path):
    """`small` renders 64 px by default (the main job's input); bad sizes fail before any work."""
    assert DEFAULT_IMAGE_SIZE == {"tiny": 128, "small": 64, "full": 128}
    for bad in (7, 2000, 64.0, True):
        with pytest.raises(ValueError, match="image_size"):
            generate_bp4d(tmp_path, size="tiny", image_size=bad, progress=None)


@pytest.mark.slow
def test_crop_size_override_reaches_the_frames(tmp_path):
    """image_size sets the side of the written frames and is recorded in the summary."""
    summary = generate_bp4d(tmp_path, size="tiny", seed=1, n_vertices=400, subjects=["F001"],
                            tasks=["T1"], image_size=32, progress=None)  # fmt: skip
    assert summary["image_size"] == 32
    frames = read_bp4d_frames(tmp_path, "F001", "T1")
    assert frames.shape == (50, 32, 32, 3)


def test_sequence_crops_shapes_and_errors(setup):
    face, _, rig = setup
    rng = np.random.default_rng(2)
    albedo = rng.uniform(0.4, 0.8, (face.n_vertices, 3))
    u = 0.02 * rng.standard_normal((3, face.n_vertices, 3))
    rot = np.repeat(np.eye(3)[None], 3, 0)
    img = sequence_crops(rig.rest, u, rot, face.triangles, albedo, size=24, color=False, chunk=2)
    assert img.shape == (3, 24, 24, 1) and img.dtype == np.uint8 and img.max() > 0
    with pytest.raises(ValueError, match="displacements"):
        sequence_crops(rig.rest, u[:, :5], rot, face.triangles, albedo, size=24)
    with pytest.raises(ValueError, match="size"):
        sequence_crops(rig.rest, u, rot, face.triangles, albedo, size=4)
    with pytest.raises(ValueError, match="ambient"):
        sequence_crops(rig.rest, u, rot, face.triangles, albedo, size=24, ambient=1.0)
