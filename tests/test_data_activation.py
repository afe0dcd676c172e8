"""AU intensities -> muscle activations (excitation, noise, first-order activation dynamics)."""

import numpy as np
import pytest

from aujax.synth import ActivationDynamics, muscle_activations, muscle_excitation


W = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, 0.0]])  # 2 AUs -> 3 muscles


def test_excitation_is_gained_linear_map():
    c = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 3.0]])
    g = np.array([1.0, 0.5, 2.0])
    np.testing.assert_allclose(muscle_excitation(c, W, gains=g), (c @ W) * g[None])


def test_step_response_follows_first_order_dynamics():
    fps, tau_a, tau_d = 100.0, 0.05, 0.2
    dyn = ActivationDynamics(tau_act=tau_a, tau_deact=tau_d, noise_sd=0.0)
    c = np.zeros((200, 2))
    c[10:100, 0] = 2.0  # on at frame 10, off at frame 100
    a = muscle_activations(c, W, fps=fps, rng=np.random.default_rng(0), dynamics=dyn)
    t_on = (np.arange(11, 100) - 10) / fps  # activation lags the excitation by one frame
    np.testing.assert_allclose(a[11:100, 0], 2.0 * (1.0 - np.exp(-t_on / tau_a)), rtol=1e-12)
    t_off = (np.arange(101, 200) - 100) / fps
    peak = a[100, 0]
    np.testing.assert_allclose(a[101:, 0], peak * np.exp(-t_off / tau_d), rtol=1e-12)
    np.testing.assert_array_equal(a[:, 1], 0.0)  # AU2 never active
    assert tau_a < tau_d  # activating is faster than relaxing


def test_noise_is_smooth_mean_preserving_and_deterministic():
    c = np.full((4000, 2), 2.0)
    dyn = ActivationDynamics(noise_sd=0.1, noise_time=0.3)
    a = muscle_activations(c, W, fps=25.0, rng=np.random.default_rng(1), dynamics=dyn)
    b = muscle_activations(c, W, fps=25.0, rng=np.random.default_rng(1), dynamics=dyn)
    np.testing.assert_array_equal(a, b)
    assert np.all(a >= 0.0)
    np.testing.assert_allclose(a[:, 0].mean(), 2.0, rtol=0.03)
    assert 0.05 < a[:, 0].std() / 2.0 < 0.15
    # correlated over the noise time: successive frames are close
    lag1 = np.corrcoef(a[1:, 0], a[:-1, 0])[0, 1]
    assert lag1 > 0.8


def test_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="intensity must have shape"):
        muscle_activations(np.zeros((5, 3)), W, fps=25.0, rng=rng)
    with pytest.raises(ValueError, match="gains must have shape"):
        muscle_excitation(np.zeros((5, 2)), W, gains=np.ones(2))
    with pytest.raises(ValueError, match="tau_act"):
        ActivationDynamics(tau_act=0.0)
    with pytest.raises(ValueError, match="fps"):
        muscle_activations(np.zeros((5, 2)), W, fps=0.0, rng=rng)
    with pytest.raises(ValueError, match=">= 0"):
        muscle_excitation(-np.ones((5, 2)), W)
