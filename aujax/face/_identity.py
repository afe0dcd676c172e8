"""Identity: a linear basis of smooth face-shape modes, skin albedo and subject sampling (DESIGN §3.2)."""

from typing import Final

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float, PRNGKeyArray

from . import _geometry_spec as spec
from ._anthropometry import FACIAL_MEASURES, FARKAS_NAC
from ._template import FaceTemplate


IDENTITY_MODES: Final = (
    "face_width",
    "face_height",
    "nose_length",
    "nose_width",
    "nose_projection",
    "eye_spacing",
    "eye_depth",
    "brow_height",
    "lip_thickness",
    "mouth_width",
    "chin_length",
    "chin_projection",
    "jaw_width",
    "cheek_fullness",
    "forehead_slope",
)
N_RESIDUAL_MODES: Final = 5
IDENTITY_SCALINGS: Final = ("none", "farkas")
# Named modes whose size `identity_basis(..., scaling="farkas")` sets from a Farkas norm's SD, and
# the measure (`facial_measures`) each changes. face_width (zy-zy) and jaw_width (go-go) have no norm
# in `FARKAS_NAC` and keep their hand-set size, like the modes without a matching measure.
FARKAS_MODE_MEASURES: Final = {
    "face_height": "n_gn",
    "nose_width": "al_al",
    "eye_spacing": "en_en",
    "mouth_width": "ch_ch",
}


def _g(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def identity_basis(face: FaceTemplate, *, scaling: str = "none") -> Float[Array, "n_modes n 3"]:
    """The identity basis: 15 named anatomical modes plus 5 smooth residual modes, shape (20, n, 3).

    Each mode is a smooth displacement field of the parameter plane (so slit copies move together
    and the apertures stay open) scaled so that a coefficient of 1 is about one population standard
    deviation (a few millimetres). The residual modes are random smooth fields drawn from
    `face.seed`.

    Args:
      face: the template (procedural or calibrated).
      scaling: "none" (the hand-set sizes) or "farkas": each mode of `FARKAS_MODE_MEASURES` is
        rescaled so that a unit coefficient changes its measure (`facial_measures` on ``face``'s
        landmarks, to first order) by the within-sex SD of the Farkas norm (`FARKAS_NAC`,
        `Norm.sd`); other modes are unchanged (`identity_scale_factors`).

    Raises:
      ValueError: for an unknown scaling.
    """
    if scaling not in IDENTITY_SCALINGS:
        raise ValueError(f"scaling must be one of {IDENTITY_SCALINGS}, got {scaling!r}")
    basis = _raw_basis(face)
    if scaling == "farkas":
        factors = identity_scale_factors(face, basis=basis)
        names = list(IDENTITY_MODES)
        for name, f in factors.items():
            basis[names.index(name)] *= f
    return jnp.asarray(basis)


def identity_scale_factors(
    face: FaceTemplate, *, basis: np.ndarray | None = None
) -> dict[str, float]:
    """Factors that give the modes of `FARKAS_MODE_MEASURES` one Farkas SD per unit coefficient.

    For mode m and its measure (a distance between two landmarks a, b), the first-order change per
    unit coefficient is g = (L_a - L_b) . (dL_a - dL_b) / |L_a - L_b| on ``face``'s neutral landmarks;
    the factor is SD / |g|, with SD the within-sex standard deviation (`Norm.sd`, cm).

    Args:
      face: the template whose landmarks are measured.
      basis: the unscaled basis (default: computed).

    Returns:
      {mode name: factor} for the modes of `FARKAS_MODE_MEASURES`.
    """
    basis = _raw_basis(face) if basis is None else np.asarray(basis, dtype=np.float64)
    tris = np.asarray(face.triangles)[np.asarray(face.landmark_triangles)]
    bary = np.asarray(face.landmark_barycentric, dtype=np.float64)
    lmk = lambda v: np.einsum("kc,kcd->kd", bary, v[tris])
    base = lmk(np.asarray(face.vertices, dtype=np.float64))
    out = {}
    for mode, measure in FARKAS_MODE_MEASURES.items():
        (a, b), _ = FACIAL_MEASURES[measure]
        dl = lmk(basis[list(IDENTITY_MODES).index(mode)])
        diff = base[a] - base[b]
        gain = float(diff @ (dl[a] - dl[b]) / np.linalg.norm(diff))
        if abs(gain) < 1e-9:
            raise RuntimeError(f"identity mode {mode!r} does not change {measure}")
        out[mode] = FARKAS_NAC[measure].sd() / abs(gain)
    return out


def _raw_basis(face: FaceTemplate) -> np.ndarray:
    """The hand-set identity basis as float64 numpy, (20, n, 3)."""
    x = np.asarray(face.param_xy[:, 0], dtype=np.float64)
    y = np.asarray(face.param_xy[:, 1], dtype=np.float64)
    ax, sx = np.abs(x), np.sign(x)
    zero = np.zeros_like(x)
    nose = _g(x, y, 0.0, -1.5, 1.3, 2.6)
    eyes = _g(ax, y, 3.1, spec.Y_EYE, 1.8, 1.2)
    lips = _g(x, y, 0.0, spec.Y_MOUTH, 2.6, 0.9)
    chin = _g(x, y, 0.0, -9.0, 2.5, 1.8)
    jaw = np.clip(-(y - 1.0) / 10.0, 0.0, 1.0)
    up = np.where(y > spec.Y_MOUTH, 1.0, -1.0)
    modes = [
        (0.04 * x, zero, zero),
        (zero, 0.03 * y, zero),
        (zero, -0.3 * nose * np.clip((1.8 - y) / 4.6, 0, 1), zero),
        (0.15 * x * nose, zero, zero),
        (zero, zero, 0.35 * nose * np.clip((1.8 - y) / 4.6, 0, 1)),
        (0.2 * sx * eyes, zero, zero),
        (zero, zero, -0.25 * eyes),
        (zero, 0.25 * _g(ax, y, 3.0, 3.4, 2.4, 0.9), zero),
        (zero, 0.12 * up * lips, 0.15 * lips),
        (0.08 * x * lips, zero, zero),
        (zero, -0.3 * chin, zero),
        (zero, zero, 0.3 * chin),
        (0.06 * x * jaw, zero, zero),
        (zero, zero, 0.3 * _g(ax, y, 3.8, -1.8, 1.8, 1.6)),
        (zero, zero, -0.3 * np.clip((y - 3.0) / 6.0, 0, None)),
    ]
    basis = [np.stack(m, axis=1) for m in modes]
    rng = np.random.default_rng(face.seed)
    for _ in range(N_RESIDUAL_MODES):
        centres = rng.uniform([-6.5, -11.0], [6.5, 8.5], size=(12, 2))
        amps = rng.normal(size=(12, 3)) * 0.08
        f = sum(
            _g(x, y, c[0], c[1], 2.5, 2.5)[:, None] * a[None]
            for c, a in zip(centres, amps, strict=True)
        )
        basis.append(f)
    return np.stack(basis, axis=0)


@struct.dataclass
class Subject:
    """A sampled subject: identity coefficients, per-vertex albedo and muscle gains.

    Attributes:
      identity: (n_modes,) coefficients of `identity_basis`.
      albedo: (n, 3) RGB skin albedo in [0, 1].
      muscle_gains: (m,) multiplicative strength of each muscle (physiology varies).
      tone: scalar skin tone in [0, 1] (0 light, 1 dark).
    """

    identity: Float[Array, " n_modes"]
    albedo: Float[Array, "n 3"]
    muscle_gains: Float[Array, " m"]
    tone: Float[Array, ""]


def skin_albedo(
    face: FaceTemplate, tone: Float[Array, ""], *, key: PRNGKeyArray, noise: float = 0.04
) -> Float[Array, "n 3"]:
    """RGB albedo: a tone between light and dark skin, redder lips, darker brows, smooth noise."""
    dtype = face.vertices.dtype
    light = jnp.array([0.86, 0.69, 0.58], dtype=dtype)
    dark = jnp.array([0.42, 0.28, 0.20], dtype=dtype)
    base = (1.0 - tone) * light + tone * dark
    x = face.param_xy[:, 0]
    y = face.param_xy[:, 1]
    lips = jnp.asarray(np.isin(np.asarray(face.regions), [11, 12]), dtype=base.dtype)
    brow_y = 3.45 + 0.2 * jnp.cos(jnp.pi * (jnp.abs(x) - 3.2) / 4.0)
    in_brow = ((jnp.abs(x) > 1.2) & (jnp.abs(x) < 5.3)).astype(base.dtype)
    brow = jnp.exp(-0.5 * ((y - brow_y) / 0.22) ** 2) * in_brow
    lip_tint = jnp.array([0.12, -0.02, -0.02], dtype=base.dtype)
    albedo = base[None] * (1.0 - 0.25 * lips[:, None]) + lips[:, None] * lip_tint[None]
    albedo = albedo * (1.0 - 0.55 * brow[:, None])
    # smooth noise: a few random Gaussian blobs
    kc, ka = jax.random.split(key)
    centres = jax.random.uniform(
        kc,
        (16, 2),
        dtype=dtype,
        minval=jnp.array([-7.0, -12.0], dtype),
        maxval=jnp.array([7.0, 9.0], dtype),
    )
    amps = jax.random.normal(ka, (16,), dtype=dtype) * noise
    d2 = jnp.sum((face.param_xy[:, None, :] - centres[None]) ** 2, axis=-1)
    blob = jnp.exp(-d2 / (2.0 * 1.5**2)) @ amps
    return jnp.clip(albedo + blob[:, None], 0.0, 1.0)


def sample_subject(
    face: FaceTemplate,
    n_muscles: int,
    *,
    key: PRNGKeyArray,
    identity_scale: float = 1.0,
    gain_spread: float = 0.15,
) -> Subject:
    """Draws a subject: identity ~ N(0, identity_scale^2), tone ~ U(0, 1), log-normal muscle gains."""
    k_id, k_tone, k_alb, k_gain = jax.random.split(key, 4)
    n_modes = len(IDENTITY_MODES) + N_RESIDUAL_MODES
    identity = identity_scale * jax.random.normal(k_id, (n_modes,), dtype=face.vertices.dtype)
    tone = jax.random.uniform(k_tone, (), dtype=face.vertices.dtype)
    gains = jnp.exp(
        gain_spread * jax.random.normal(k_gain, (n_muscles,), dtype=face.vertices.dtype)
    )
    return Subject(
        identity=identity, albedo=skin_albedo(face, tone, key=k_alb), muscle_gains=gains, tone=tone
    )
