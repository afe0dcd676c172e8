"""Realism of the synthetic muscle activity (issue 17): asymmetric and unilateral AU events,
subject synergies, co-contraction, slower activation dynamics; "off" is the historical generator."""

import dataclasses
import types

import numpy as np
import pytest

from aujax.face import AU_IDS, muscle_names
from aujax.synth import (
    REALISTIC_DYNAMICS,
    ActivationDynamics,
    Cast,
    MuscleRealism,
    SubjectPhysique,
    activation_dynamics,
    cocontraction_matrix,
    event_side_scales,
    get_preset,
    muscle_activations,
    realistic_excitation,
    stream_rng,
    subject_synergy,
)


NAMES = muscle_names()
M, K = len(NAMES), len(AU_IDS)
COL = {n: i for i, n in enumerate(NAMES)}
AU = {au: i for i, au in enumerate(AU_IDS)}
OFF = MuscleRealism.off()
QUIET = ActivationDynamics(noise_sd=0.0)


def _template_w() -> np.ndarray:
    """(17, M) symmetric W in the template's style: one muscle pair per AU (AU26: the jaw)."""
    pairs = {1: "frontalis_medial", 2: "frontalis_lateral", 4: "corrugator", 6: "orbicularis_oculi_orbital",
             7: "orbicularis_oculi_palpebral", 9: "levator_labii_alaeque_nasi",
             10: "levator_labii_superioris", 12: "zygomaticus_major", 14: "buccinator",
             15: "depressor_anguli_oris", 17: "mentalis", 20: "risorius",
             23: "orbicularis_oris_peripheral", 24: "orbicularis_oris_marginal",
             25: "depressor_labii_inferioris", 5: "levator_palpebrae"}  # fmt: skip
    w = np.zeros((K, M))
    for au, base in pairs.items():
        w[AU[au], [COL[base + "_r"], COL[base + "_l"]]] = 1.0 + 0.1 * au
    w[AU[4], [COL["depressor_supercilii_r"], COL["depressor_supercilii_l"]]] = 0.6
    w[AU[26], COL["jaw"]] = 5.0
    return w


W = _template_w()


def _events(au: int, n_events: int, *, length: int = 6, gap: int = 4, level: float = 2.0):
    """(T, 17) intensity with ``n_events`` separated square events of one AU."""
    x = np.zeros((n_events * (length + gap) + gap, K))
    for i in range(n_events):
        t0 = gap + i * (length + gap)
        x[t0 : t0 + length, AU[au]] = level
    return x


def _old_muscle_activations(intensity, au_activations, *, fps, rng, gains, dynamics):
    """The generator's activations before issue 17, verbatim (excitation, noise, dynamics)."""
    c = np.asarray(intensity, dtype=np.float64)
    e = np.maximum((c @ np.asarray(au_activations, dtype=np.float64)) * gains[None], 0.0)
    dt = 1.0 / fps
    n_frames, n_muscles = e.shape
    rho = np.exp(-dt / dynamics.noise_time)
    noise = np.empty((n_frames, n_muscles))
    noise[0] = rng.standard_normal(n_muscles)
    kick = np.sqrt(1.0 - rho * rho)
    for t in range(1, n_frames):
        noise[t] = rho * noise[t - 1] + kick * rng.standard_normal(n_muscles)
    e = e * np.exp(dynamics.noise_sd * noise - 0.5 * dynamics.noise_sd**2)
    a = np.empty_like(e)
    a[0] = e[0]
    decay_act, decay_deact = np.exp(-dt / dynamics.tau_act), np.exp(-dt / dynamics.tau_deact)
    for t in range(n_frames - 1):
        decay = np.where(e[t] > a[t], decay_act, decay_deact)
        a[t + 1] = e[t] + (a[t] - e[t]) * decay
    return a


def _cast(realism: MuscleRealism, w=W) -> Cast:
    model = types.SimpleNamespace(au_activations=w, identity_basis=np.zeros((1, 3)))
    return Cast("bp4d", 5, 25.0, None, model, realism)


def _body(gains, synergy=None) -> SubjectPhysique:
    return SubjectPhysique(np.zeros(1), gains, 0.5, np.zeros((1, 3)), None, synergy)


def _intensity(seed: int = 0, n_frames: int = 40) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0.0, 3.0, (n_frames, K))
    x[x < 1.0] = 0.0  # events with gaps
    return x


def test_off_reproduces_the_old_generator_bit_for_bit():
    x, gains = _intensity(), np.exp(0.15 * np.random.default_rng(1).standard_normal(M))
    old_rng, new_rng = np.random.default_rng(7), np.random.default_rng(7)
    old = _old_muscle_activations(
        np.concatenate([np.repeat(x[:1], 3, 0), x]), W, fps=25.0, rng=old_rng, gains=gains,
        dynamics=ActivationDynamics(),
    )  # fmt: skip
    drive = _cast(OFF).drive(_body(gains), x, subject="F001", task="T1", rng=new_rng, warmup=3)
    np.testing.assert_array_equal(drive.activations, old)
    np.testing.assert_array_equal(drive.side_scale, 1.0)
    assert old_rng.random() == new_rng.random()  # the capture stream is consumed alike
    # the general path with every option off is the identity too
    synergy = subject_synergy(W, OFF, np.random.default_rng(2))
    np.testing.assert_array_equal(synergy, W)
    e = realistic_excitation(x, synergy, event_side_scales(x, OFF, np.random.default_rng(3)),
                             realism=OFF, gains=gains)  # fmt: skip
    ref = muscle_activations(x, W, fps=25.0, rng=np.random.default_rng(4), gains=gains)
    got = activation_dynamics(e, fps=25.0, rng=np.random.default_rng(4), dynamics=OFF.dynamics)
    np.testing.assert_array_equal(got, ref)


def test_presets_default_to_the_realistic_options():
    for dataset in ("bp4d", "disfa", "bosphorus"):
        assert get_preset(dataset, "tiny").realism == MuscleRealism()
    assert MuscleRealism().dynamics == REALISTIC_DYNAMICS
    assert MuscleRealism() != OFF


def test_unilateral_events_drive_one_side_only():
    realism = MuscleRealism(unilateral_fraction=1.0, dynamics=QUIET)
    x = _events(12, 40)
    scale = event_side_scales(x, realism, np.random.default_rng(0))
    e = realistic_excitation(x, W, scale, realism=realism)
    zr, zl = e[:, COL["zygomaticus_major_r"]], e[:, COL["zygomaticus_major_l"]]
    on = x[:, AU[12]] > 0
    assert np.all((zr[on] == 0.0) ^ (zl[on] == 0.0))  # exactly one side active in every frame
    np.testing.assert_allclose(np.maximum(zr, zl)[on], 2.0 * W[AU[12], COL["zygomaticus_major_r"]])
    starts = np.flatnonzero(np.diff(on.astype(int)) == 1) + 1
    right = np.mean([zr[t] > 0 for t in starts])
    assert 0.2 < right < 0.8  # both sides occur (p = 1/2 each)
    # the activations (no noise) only relax on the silent side through each event
    a = activation_dynamics(e, fps=25.0, rng=np.random.default_rng(0), dynamics=QUIET)
    for t0 in starts:
        silent = COL["zygomaticus_major_r"] if zr[t0] == 0.0 else COL["zygomaticus_major_l"]
        assert np.all(np.diff(a[t0 : t0 + 7, silent]) <= 0.0)


def test_asymmetric_events_have_the_configured_ratio_distribution():
    sd = 0.3
    realism = MuscleRealism(asymmetry_sd=sd, unilateral_fraction=0.0)
    x = _events(6, 600, length=3, gap=1)
    scale = event_side_scales(x, realism, np.random.default_rng(1))
    on = x[:, AU[6]] > 0
    s = scale[on, AU[6]]
    np.testing.assert_array_equal(s.max(-1), 1.0)  # the coded intensity is the stronger side's
    e = realistic_excitation(x, W, scale, realism=realism)
    ratio = np.minimum(
        e[on, COL["orbicularis_oculi_orbital_r"]], e[on, COL["orbicularis_oculi_orbital_l"]]
    ) / (
        np.maximum(
            e[on, COL["orbicularis_oculi_orbital_r"]], e[on, COL["orbicularis_oculi_orbital_l"]]
        )
    )
    np.testing.assert_allclose(ratio, s.min(-1), rtol=1e-12)
    z = -np.log(ratio[::3]) / sd  # one per event: |N(0, 1)|, mean sqrt(2/pi), sd 0.60
    assert abs(z.mean() - np.sqrt(2.0 / np.pi)) < 0.1
    # unpaired muscles (the jaw of AU26) keep the coded drive
    x26 = _events(26, 5)
    e26 = realistic_excitation(x26, W, event_side_scales(x26, realism, np.random.default_rng(2)),
                               realism=realism)  # fmt: skip
    np.testing.assert_array_equal(e26[:, COL["jaw"]], x26[:, AU[26]] * 5.0)


def test_subject_synergies_differ_between_subjects_and_are_deterministic():
    realism = MuscleRealism()
    a = subject_synergy(W, realism, stream_rng(0, "bp4d", "F001", "synergy"))
    a2 = subject_synergy(W, realism, stream_rng(0, "bp4d", "F001", "synergy"))
    b = subject_synergy(W, realism, stream_rng(0, "bp4d", "M011", "synergy"))
    np.testing.assert_array_equal(a, a2)
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a.sum(1), W.sum(1), rtol=1e-12)  # the same total drive per AU
    # AU12 recruits the other mid-face muscles (outside the template's synergy), not the brow
    k = AU[12]
    assert (
        a[k, COL["levator_labii_superioris_r"]] > 0
        and b[k, COL["levator_labii_alaeque_nasi_l"]] > 0
    )
    assert a[k, COL["frontalis_medial_r"]] == 0.0 and a[k, COL["jaw"]] == 0.0
    # different mixes, not different gains: the normalised rows differ
    assert not np.allclose(a[k] / a[k].sum(), b[k] / b[k].sum())


def test_bifid_zygomaticus_moves_drive_to_the_risorius():
    realism = MuscleRealism(synergy_sd=0.0, synergy_secondary=0.0, bifid_zygomaticus_prob=1.0)
    out = subject_synergy(W, realism, np.random.default_rng(0))
    share = realism.bifid_share
    for s in ("_r", "_l"):
        zm, ris = COL["zygomaticus_major" + s], COL["risorius" + s]
        np.testing.assert_allclose(out[:, zm], (1 - share) * W[:, zm], rtol=1e-12)
        np.testing.assert_allclose(out[:, ris], W[:, ris] + share * W[:, zm], rtol=1e-12)
    never = dataclasses.replace(realism, bifid_zygomaticus_prob=0.0)
    np.testing.assert_array_equal(subject_synergy(W, never, np.random.default_rng(0)), W)


def test_cocontraction_puts_activity_outside_the_synergy():
    realism = MuscleRealism(asymmetry_sd=0.0, unilateral_fraction=0.0, cocontraction=0.1)
    x = _events(12, 2)
    e = realistic_excitation(x, W, np.ones(x.shape + (2,)), realism=realism)
    zm = e[:, COL["zygomaticus_major_r"]]
    # the mid-face neighbours get 0.1 x the mean of the other two mid-face muscles of their side
    for n in ("levator_labii_superioris_r", "levator_labii_alaeque_nasi_r"):
        np.testing.assert_allclose(e[:, COL[n]], 0.1 * zm / 2.0, rtol=1e-12)
        assert e[:, COL[n]].max() > 0.0
    for n in ("frontalis_medial_r", "mentalis_l", "jaw", "levator_palpebrae_r"):
        np.testing.assert_array_equal(e[:, COL[n]], 0.0)  # other regions, not facial
    c = cocontraction_matrix(M)
    np.testing.assert_allclose(c[c.sum(1) > 0].sum(1), 1.0)
    assert np.all(np.diag(c) == 0.0)
    assert np.all(c[np.ix_([COL[n] for n in NAMES if n.endswith("_r")],
                           [COL[n] for n in NAMES if n.endswith("_l")])] == 0.0)  # fmt: skip


def test_slower_dynamics_lag_by_the_configured_time_constant():
    fps = 1000.0
    e = np.zeros((400, 1))
    e[50:] = 1.0
    for tau in (0.03, 0.08):
        dyn = ActivationDynamics(tau_act=tau, tau_deact=0.1, noise_sd=0.0)
        a = activation_dynamics(e, fps=fps, rng=np.random.default_rng(0), dynamics=dyn)[:, 0]
        t63 = (np.argmax(a >= 1.0 - np.exp(-1.0)) - 50) / fps
        assert abs(t63 - tau) <= 1.5 / fps  # within a frame and a half
    # an electromechanical delay of 20 frames shifts the response by exactly 20 frames
    base = ActivationDynamics(tau_act=0.03, tau_deact=0.1, noise_sd=0.0)
    a0 = activation_dynamics(e, fps=fps, rng=np.random.default_rng(0), dynamics=base)
    a1 = activation_dynamics(e, fps=fps, rng=np.random.default_rng(0),
                             dynamics=dataclasses.replace(base, delay=0.02))  # fmt: skip
    np.testing.assert_allclose(a1[20:], a0[:-20], rtol=0, atol=1e-15)
    # a half-frame delay interpolates between frames
    half = activation_dynamics(e, fps=fps, rng=np.random.default_rng(0),
                               dynamics=dataclasses.replace(base, tau_act=1e-9, delay=0.0005))  # fmt: skip
    assert half[51, 0] == pytest.approx(0.5) and half[52, 0] == pytest.approx(1.0)
    # at 25 fps the realistic dynamics respond slower than the historical ones
    step = np.zeros((20, 1))
    step[5:] = 1.0
    old = activation_dynamics(step, fps=25.0, rng=np.random.default_rng(0), dynamics=QUIET)
    new = activation_dynamics(step, fps=25.0, rng=np.random.default_rng(0),
                              dynamics=dataclasses.replace(REALISTIC_DYNAMICS, noise_sd=0.0))  # fmt: skip
    assert new[6, 0] < 0.75 * old[6, 0]
    assert REALISTIC_DYNAMICS.delay + REALISTIC_DYNAMICS.tau_deact > 1.0 / 25.0  # > one frame


def test_realistic_drive_is_deterministic_and_keeps_the_capture_stream():
    x, gains = _intensity(3, 60), np.ones(M)
    cast = _cast(MuscleRealism())
    body = _body(gains, subject_synergy(W, cast.realism, stream_rng(5, "bp4d", "F001", "synergy")))
    r1, r2, r_old = (np.random.default_rng(9) for _ in range(3))
    d1 = cast.drive(body, x, subject="F001", task="T1", rng=r1, warmup=4)
    d2 = cast.drive(body, x, subject="F001", task="T1", rng=r2, warmup=4)
    _cast(OFF).drive(body, x, subject="F001", task="T1", rng=r_old, warmup=4)
    np.testing.assert_array_equal(d1.activations, d2.activations)
    np.testing.assert_array_equal(d1.side_scale, d2.side_scale)
    assert r1.random() == r_old.random()  # same number of noise draws as the historical drive
    d3 = cast.drive(body, x, subject="F001", task="T2", rng=np.random.default_rng(9), warmup=4)
    assert not np.array_equal(d1.side_scale, d3.side_scale)  # per-sequence asymmetry stream
    assert d1.activations.shape == (64, M) and d1.side_scale.shape == (64, K, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"asymmetry_sd": -0.1}, "asymmetry_sd"),
        ({"unilateral_fraction": 1.5}, "unilateral_fraction"),
        ({"synergy_sd": float("nan")}, "synergy_sd"),
        ({"synergy_secondary": -1.0}, "synergy_secondary"),
        ({"bifid_zygomaticus_prob": -0.1}, "bifid_zygomaticus_prob"),
        ({"bifid_share": 2.0}, "bifid_share"),
        ({"cocontraction": float("inf")}, "cocontraction"),
        ({"dynamics": 0.02}, "dynamics"),
    ],
)
def test_invalid_options_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MuscleRealism(**kwargs)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="delay"):
        ActivationDynamics(delay=-0.01)
    with pytest.raises(TypeError):
        MuscleRealism(0.1)  # keyword-only
    with pytest.raises(ValueError, match="35 muscles"):
        subject_synergy(np.ones((17, 3)), MuscleRealism(), np.random.default_rng(0))
    x = _events(12, 1)
    with pytest.raises(ValueError, match="side_scale"):
        realistic_excitation(x, W, np.ones(x.shape), realism=OFF)
    with pytest.raises(ValueError, match="realism"):
        from aujax.synth import generate_bp4d

        generate_bp4d("/nonexistent", realism=0.5, progress=None)


def test_generators_store_the_realism_draws(tmp_path):
    from aujax.synth import generate_bosphorus

    generate_bosphorus(tmp_path, size="tiny", seed=2, subjects=["bs001"], poses=["LFAU_12"],
                       image_size=32, settle=3, progress=None)  # fmt: skip
    gt = np.load(tmp_path / "synthetic" / "bs001_LFAU_12_0.npz")
    assert gt["synergy"].shape == (K, M) and gt["au_side_scale"].shape == (K, 2)
    template = np.load(tmp_path / "synthetic" / "blendshape_model.npz")["au_activations"]
    ref = subject_synergy(template, MuscleRealism(), stream_rng(2, "bosphorus", "bs001", "synergy"))
    np.testing.assert_allclose(gt["synergy"], ref, rtol=1e-12)
    assert gt["au_side_scale"][AU[12]].max() == 1.0  # the posed AU's stronger side
