r"""Physics inversion: muscle activations from a coefficient trajectory (issue 17, DESIGN 4.3).

The reduced skin ``M c'' + D c' + K c = g a`` (``galerkin``, :class:`ReducedModel`) maps the
directed muscle activations a(t) >= 0 to the blendshape coefficients c(t). This module inverts it
over windows of W frames. With the exact zero-order-hold propagator (:func:`zoh_propagator`,
``x_{t+1} = Phi x_t + Gamma Q_t``, x = (c, c')) the window's coefficients are linear in the
unknowns, the window's initial state x_0 (free) and the drive u_0 .. u_{W-2} (non-negative):

.. math::

    c_t = C \Phi^t x_0 + \sum_{\tau < t} C \Phi^{t-1-\tau} \Gamma\, g\, S^\top u_\tau ,

where ``C = [I 0]`` selects the coefficients and S is the drive's parameterisation: the FACS
synergies (``a = A^T s``, S = A (n_aus, m): one drive per AU, in AU-intensity units, since the AU
blendshapes are the static responses to ``A^T e_k``) or the identity (every muscle free). The
estimate is the non-negative least-squares solution of

.. math::

    \min_{x_0,\ u \ge 0}\ \sum_t \|c_t - \hat c_t\|^2
    + \lambda \sum_\tau \|u_{\tau+1} - u_\tau\|^2 + \mu \sum_\tau \|u_\tau\|^2

(temporal smoothness lambda, ridge mu; :func:`aujax.optim.nnls_implicit`, exact block principal
pivoting), differentiable in the observations, the model and lambda, mu by implicit gradients
through its KKT conditions. Windows overlap by half; each frame takes the drive of the window whose
centre is nearest (the drive near a window's end is weakly determined: u_{W-2} only moves c_{W-1}).

The trivial estimate without physics is ``u = c`` (the static limit, K^{-1} g A^T = I on the AU
basis); what the dynamics add is the lag between drive and skin, and the non-negativity of the
drive.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Bool, Float

from ..optim import nnls_implicit
from ._reduced import ReducedModel
from ._reduced_integrate import zoh_propagator


__all__ = ["ActivationInversion", "invert_activations", "window_design"]


def window_design(
    model: ReducedModel,
    drive_map: Float[ArrayLike, "K S"],
    *,
    length: int,
    dt: float,
) -> Float[Array, "WK n"]:
    r"""The linear map from a window's unknowns to its coefficients (module docstring).

    Args:
        model: the reduced model (``galerkin``; ``paper`` works too: D = K = 0).
        drive_map: (K, S) generalized force per unit drive, ``g S^T`` (synergies) or g.
        length: W frames (>= 2).
        dt: frame interval in seconds.

    Returns:
        (W K, 2K + (W - 1) S) matrix H with ``vec(c) = H [x_0; u_0; ...; u_{W-2}]``, rows frame-major
        (row ``t K + k`` is ``c_t[k]``).
    """
    if length < 2:
        raise ValueError(f"length must be >= 2 frames, got {length}.")
    drive_map = jnp.asarray(drive_map)
    k, s = drive_map.shape
    dtype = jnp.result_type(jnp.asarray(model.mass).dtype, drive_map.dtype)
    phi, gamma = zoh_propagator(model, dt=dt, dtype=dtype)
    b = gamma @ drive_map.astype(dtype)  # (2K, S)

    def powers(p, _):
        return phi @ p, p

    _, phis = jax.lax.scan(powers, jnp.eye(2 * k, dtype=dtype), None, length=length)  # Phi^t
    initial = phis[:, :k, :]  # (W, K, 2K): C Phi^t
    impulse = jnp.einsum("jkn,ns->jks", initial, b)  # (W, K, S): C Phi^j Gamma g S^T
    lag = jnp.arange(length)[:, None] - 1 - jnp.arange(length - 1)[None, :]  # t - 1 - tau
    blocks = jnp.where(
        (lag >= 0)[..., None, None], impulse[jnp.clip(lag, 0)], 0.0
    )  # (W, W-1, K, S)
    drive = blocks.transpose(0, 2, 1, 3).reshape(length * k, (length - 1) * s)
    return jnp.concatenate([initial.reshape(length * k, 2 * k), drive], axis=1)


@struct.dataclass
class ActivationInversion:
    """Activations recovered from a coefficient trajectory (leading axis T = frames).

    Attributes:
        drive: (T, S) the non-negative drive u(t) (per AU synergy, or per muscle).
        activations: (T, m) directed muscle activations ``a = S^T u``.
        fitted: (T, K) the coefficients the recovered drive and initial states reproduce.
        residual: () RMS of ``fitted - observed`` over the valid frames.
    """

    drive: Float[Array, "T S"]
    activations: Float[Array, "T m"]
    fitted: Float[Array, "T K"]
    residual: Float[Array, ""]


def _starts(t: int, window: int) -> np.ndarray:
    hop = max(1, window // 2)
    starts = list(range(0, max(t - window, 0) + 1, hop))
    if starts[-1] != t - window:
        starts.append(t - window)
    return np.asarray(starts)


def invert_activations(
    model: ReducedModel,
    coefficients: Float[ArrayLike, "T K"],
    *,
    dt: float,
    synergies: Float[ArrayLike, "S m"] | None = None,
    smoothness: float | Float[ArrayLike, ""] = 1.0,
    ridge: float | Float[ArrayLike, ""] = 1e-3,
    window: int = 50,
    valid: Bool[ArrayLike, " T"] | None = None,
) -> ActivationInversion:
    """Recovers non-negative activations from one coefficient trajectory (module docstring).

    Args:
        model: the reduced model with its ``force_map`` g (K, m).
        coefficients: (T, K) observed coefficients (e.g. the top-down engine's, smoothed or not).
        dt: frame interval in seconds.
        synergies: (S, m) drive parameterisation ``a = synergies^T u`` (the FACS synergies A of the
            AU basis, ``BlendshapeModel.au_activations``); None: every muscle free (S = m).
        smoothness: lambda, the weight of the drive's squared first differences (choose it on
            training subjects, as ``python -m tools.force_report`` does).
        ridge: mu, the weight of the drive's squared norm (keeps the free-muscle form well posed:
            g has a null space there).
        window: W frames per window (static; the windows overlap by half).
        valid: optional (T,) mask; invalid frames' rows get no weight (their coefficients are
            predicted by the dynamics).

    Returns:
        :class:`ActivationInversion`.

    Raises:
        ValueError: on a model without ``force_map``, mismatched shapes or T < 2.
    """
    if model.force_map is None:
        raise ValueError("model.force_map (g) is needed to invert for activations.")
    c = jnp.asarray(coefficients)
    g = jnp.asarray(model.force_map)
    k, m = g.shape
    if c.ndim != 2 or c.shape[1] != k or c.shape[0] < 2:
        raise ValueError(f"coefficients must be (T >= 2, {k}), got {c.shape}.")
    t = c.shape[0]
    syn = jnp.eye(m, dtype=g.dtype) if synergies is None else jnp.asarray(synergies)
    if syn.ndim != 2 or syn.shape[1] != m:
        raise ValueError(f"synergies must be (S, {m}), got {syn.shape}.")
    w = min(int(window), t)
    ok = jnp.ones((t,), bool) if valid is None else jnp.asarray(valid, bool)
    if ok.shape != (t,):
        raise ValueError(f"valid must have shape ({t},), got {ok.shape}.")
    masked = valid is not None
    if masked and not isinstance(ok, jax.core.Tracer) and bool(np.all(np.asarray(ok))):
        # every frame valid: all windows share one design, so one Gram serves them all (the
        # per-window weighted path costs about twice as much; measured 0.27 vs 0.14 s per 100-frame
        # sequence at W = 20 on 2 CPU cores)
        masked = False
    return _invert(model, c, syn, jnp.asarray(smoothness), jnp.asarray(ridge), ok, dt=float(dt),
                   window=w, masked=masked)  # fmt: skip


@functools.partial(jax.jit, static_argnames=("dt", "window", "masked"))
def _invert(model, c, syn, smoothness, ridge, ok, *, dt, window, masked):
    g = jnp.asarray(model.force_map)
    k = g.shape[0]
    t = c.shape[0]
    w = window
    s = syn.shape[0]
    dtype = jnp.result_type(c.dtype, g.dtype, jnp.asarray(model.mass).dtype)
    design = window_design(model, g @ syn.T, length=w, dt=dt).astype(dtype)
    n = design.shape[1]
    # regulariser rows on the drive: sqrt(lambda) first differences, sqrt(mu) identity
    eye = jnp.eye(w - 1, dtype=dtype)
    diff = jnp.kron(eye[1:] - eye[:-1], jnp.eye(s, dtype=dtype))  # ((W-2) S, (W-1) S)
    lam = jnp.sqrt(jnp.asarray(smoothness, dtype))
    mu = jnp.sqrt(jnp.asarray(ridge, dtype))
    on_drive = jnp.concatenate([lam * diff, mu * jnp.eye((w - 1) * s, dtype=dtype)])
    reg = jnp.concatenate([jnp.zeros((on_drive.shape[0], 2 * k), dtype), on_drive], axis=1)
    starts = _starts(t, w)
    idx = starts[:, None] + np.arange(w)[None, :]  # (n_windows, W)
    obs = c.astype(dtype)[idx]  # (n_windows, W, K)
    obs = jnp.where(ok[idx][..., None], jnp.nan_to_num(obs), 0.0)
    free = jnp.arange(n) < 2 * k
    rhs = jnp.concatenate(
        [obs.reshape(len(starts), w * k), jnp.zeros((len(starts), reg.shape[0]), dtype)], 1
    )
    if not masked:
        a_full = jnp.concatenate([design, reg])
        x = nnls_implicit(a_full, rhs, free=free)  # (n_windows, n)
    else:  # per-window row weights: one problem per window
        weights = ok[idx].astype(dtype).repeat(k, axis=1)  # (n_windows, W K)

        def one(wt, b):
            a_w = jnp.concatenate([design * wt[:, None], reg])
            return nnls_implicit(a_w, b, free=free)

        x = jax.vmap(one)(weights, rhs)
    fitted_w = jnp.einsum("ij,bj->bi", design, x).reshape(len(starts), w, k)
    drive_w = x[:, 2 * k :].reshape(len(starts), w - 1, s)
    drive_w = jnp.concatenate([drive_w, drive_w[:, -1:]], axis=1)  # the last frame: u_{W-2}
    # each frame from the window whose centre is nearest (ties: the earlier window)
    centre = starts + (w - 1) / 2.0
    frames = np.arange(t)
    inside = (frames[:, None] >= starts[None, :]) & (frames[:, None] < starts[None, :] + w)
    dist = np.where(inside, np.abs(frames[:, None] - centre[None, :]), np.inf)
    pick = np.argmin(dist, axis=1)
    local = frames - starts[pick]
    drive = drive_w[pick, local]
    fitted = fitted_w[pick, local]
    err = jnp.where(ok[:, None], fitted - jnp.nan_to_num(c.astype(dtype)), 0.0)
    count = jnp.maximum(jnp.sum(ok.astype(dtype)) * k, 1.0)
    residual = jnp.sqrt(jnp.sum(err**2) / count)
    return ActivationInversion(
        drive=drive, activations=drive @ syn.astype(dtype), fitted=fitted, residual=residual
    )
