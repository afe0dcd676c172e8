"""The generator's physical stage: subject rig, full-model expression simulation, landmarks."""

import numpy as np
import pytest

from aujax.face import make_face
from aujax.physics import build_au_blendshapes
from aujax.synth import (
    ActivationDynamics,
    build_subject_rig,
    muscle_activations,
    rig_landmarks,
    simulate_expression,
)


@pytest.fixture(scope="module")
def setup():
    face = make_face(600)
    model, _ = build_au_blendshapes(face)
    rng = np.random.default_rng(0)
    rig = build_subject_rig(face, rng.normal(size=20), fps=25.0)
    return face, model, rig


def _au(model, au, level, n_frames=40, start=5):
    c = np.zeros((n_frames, model.n_aus))
    c[start:, model.au_index(au)] = level
    return c


def test_rest_stays_at_rest(setup):
    _, model, rig = setup
    us, _ = simulate_expression(rig, np.zeros((5, rig.n_muscles)))
    np.testing.assert_array_equal(us, 0.0)
    assert not np.allclose(rig.rest, np.asarray(rig.face.vertices))  # the subject's own shape


def test_au12_raises_and_widens_the_mouth_corners(setup):
    """Labels agree with geometry: an AU12 episode lifts landmarks 48/54 up and outward."""
    _, model, rig = setup
    c = _au(model, 12, 4.0)
    dyn = ActivationDynamics(noise_sd=0.0)
    a = muscle_activations(c, np.asarray(model.au_activations), fps=25.0,
                           rng=np.random.default_rng(0), dynamics=dyn)  # fmt: skip
    us, _ = simulate_expression(rig, a)
    lm = rig_landmarks(rig, us)
    rise = lm[-1, [48, 54], 1] - lm[0, [48, 54], 1]
    assert np.all(rise > 0.3)  # cm (measured 0.63-0.64 at intensity 4)
    width = np.abs(lm[:, 54, 0] - lm[:, 48, 0])
    assert width[-1] > width[0] + 0.1
    # the brows do not move
    assert np.abs(lm[-1, 17:27] - lm[0, 17:27]).max() < 0.05


def test_held_expression_settles_near_the_blendshape(setup):
    """At apex the full model on the subject's mesh sits close to the template blendshape: the model
    gap a blendshape method faces (subject's own mesh and muscles, nonlinear full skin). Measured
    at N = 600, 1.8 s after onset, relative displacement difference: AU2 4.3 %, AU26 2.3 %,
    AU12 12.9 %, AU4 15.1 %; the last frame changes by < 1e-3 relative (settled)."""
    _, model, rig = setup
    c = _au(model, 2, 5.0, n_frames=50)
    a = muscle_activations(c, np.asarray(model.au_activations), fps=25.0,
                           rng=np.random.default_rng(0),
                           dynamics=ActivationDynamics(noise_sd=0.0))  # fmt: skip
    us, vs = simulate_expression(rig, a)
    assert np.linalg.norm(us[-1] - us[-2]) < 1e-2 * np.linalg.norm(us[-1])  # settled
    blend = 5.0 * np.asarray(model.au_basis[model.au_index(2)])
    err = np.linalg.norm(us[-1] - blend) / np.linalg.norm(blend)
    assert err < 0.1, err


def test_bad_input(setup):
    face, _, rig = setup
    with pytest.raises(ValueError, match="activations must have shape"):
        simulate_expression(rig, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="identity must have shape"):
        build_subject_rig(face, np.zeros(3), fps=25.0)
    with pytest.raises(ValueError, match="fps"):
        build_subject_rig(face, np.zeros(20), fps=0.0)
    with pytest.raises(ValueError, match="displacements must have shape"):
        rig_landmarks(rig, np.zeros((2, 5, 3)))


def test_batched_fast_simulation_matches_the_superlu_one(setup):
    """simulate_expressions (jitted Newmark scan, dense K_eff^-1, batch) equals simulate_expression
    (host SuperLU) per sequence in float64, and a batch equals its sequences run alone."""
    from aujax.synth._rig import simulate_expressions

    _, model, rig = setup
    dyn = ActivationDynamics(noise_sd=0.0)
    acts = np.stack([
        muscle_activations(_au(model, au, 4.0, n_frames=12, start=2),
                           np.asarray(model.au_activations), fps=25.0,
                           rng=np.random.default_rng(0), dynamics=dyn)
        for au in (12, 4)
    ])  # fmt: skip
    us, vs = simulate_expressions(rig, acts, rtol=1e-10)
    assert us.shape == vs.shape == (2, 12, rig.rest.shape[0], 3)
    for b in range(2):
        ref_u, ref_v = simulate_expression(rig, acts[b], rtol=1e-10)
        assert np.max(np.abs(us[b] - ref_u)) < 1e-9 * np.max(np.abs(ref_u))
        alone, _ = simulate_expressions(rig, acts[b : b + 1], rtol=1e-10)
        np.testing.assert_allclose(alone[0], us[b], rtol=0, atol=1e-12 * np.max(np.abs(ref_u)))
    # the generator's tolerance stays far below the model's own accuracy (~1 %)
    us5, _ = simulate_expressions(rig, acts, rtol=1e-5)
    assert np.max(np.abs(us5 - us)) < 1e-4 * np.max(np.abs(us))
    with pytest.raises(ValueError, match="activations must have shape"):
        simulate_expressions(rig, acts[0])
