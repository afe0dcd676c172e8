r"""Realism of the synthetic muscle activity (issue 17): what real faces do and a linear AU -> muscle
map does not (DESIGN §6.1; sources and values in docs/data.md, "Realism of the muscle activity").

Without these options the excitation of muscle m is ``e_m(t) = g_m sum_k c_k(t) W[k, m]``: a fixed,
left/right-symmetric linear function of the AU intensities c (T, K) with W the template's
``au_activations`` (K, M) and g the subject's per-muscle gains. :class:`MuscleRealism` adds

1. **asymmetric and unilateral actions** (:func:`event_side_scales`): every *event* of an AU (a
   maximal run of frames in which its intensity is > 0) gets a right and a left scale of the drive
   of the paired muscles. The AU's intensity (its label) is the *stronger* side's, whose scale is
   1; the weaker side's is ``exp(-asymmetry_sd |z|)``, z ~ N(0, 1), or 0 for a unilateral event
   (probability ``unilateral_fraction``; FACS codes these "R12", "L14"). The stronger side is right
   or left with probability 1/2. Unpaired muscles (the jaw) keep the coded drive.
2. **subject-specific synergies** (:func:`subject_synergy`): the subject's own W. The template
   drives almost every AU with a single muscle pair (AU12: zygomaticus major), so a subject's mix
   must recruit other muscles: the other muscle pairs of the facial region of an AU's muscles
   (regions below) enter that AU's row, sharing equally ``synergy_secondary`` times the mean of
   the row's regional entries (per side); every entry of the row (template and recruited) is
   then multiplied by a log-normal factor ``exp(synergy_sd z[k, pair])`` (the same for the two
   muscles of a pair: the mix changes, the symmetry is the asymmetry option's), and the row is
   rescaled to the template row's sum (a different *mix* for the same total drive, not a gain).
   An anatomical variant follows, the bifid zygomaticus major: in each hemiface with
   probability ``bifid_zygomaticus_prob`` a share ``bifid_share`` of the zygomaticus major's
   column moves to the same side's risorius (the template's muscle nearest to the inferior
   bundle's pull on the modiolus).
3. **co-contraction** (:func:`cocontraction_matrix`): each facial muscle receives
   ``cocontraction`` times the mean excitation of the other muscles of its facial region on its
   side (upper: brow and eyelid sphincter; middle: lip elevators and zygomaticus; lower: the other
   perioral muscles). The jaw and levator palpebrae (not facial-nerve muscles) neither give nor
   receive.
4. **activation dynamics** (``dynamics``, :class:`aujax.synth.ActivationDynamics`): time constants
   and an electromechanical delay, applied by :func:`aujax.synth.activation_dynamics` after the
   excitation noise.

:func:`realistic_excitation` puts 1-3 together: ``e = g * (c * S_side) @ W_subject``, clipped at 0,
then ``e + cocontraction * e @ C.T``. With :meth:`MuscleRealism.off` every step is the identity
and the generator's activations are the historical ones bit for bit.

The draws come from their own streams (:func:`aujax.synth.stream_rng`): ``(seed, dataset, subject,
"synergy")`` per subject and ``(seed, dataset, subject, task, "asymmetry")`` per sequence, so the
identity, gain, episode and capture draws are those of the generator without realism.
"""

import dataclasses
from typing import Final

import numpy as np

from ..face import muscle_names
from ._activation import ActivationDynamics, checked_intensity, with_gains


__all__ = [
    "REALISTIC_DYNAMICS",
    "MuscleRealism",
    "cocontraction_matrix",
    "event_side_scales",
    "muscle_layout",
    "realistic_excitation",
    "subject_synergy",
]

#: Activation dynamics of the realistic presets: Zajac's (1989) mid-range time constants (10-20 ms
#: activating, 30-60 ms relaxing; facial muscles have limb-like fibre-type mixes, Happak et al.
#: 1988) and a 20 ms electromechanical delay (an estimate: no facial measurement found).
REALISTIC_DYNAMICS: Final = ActivationDynamics(tau_act=0.015, tau_deact=0.045, delay=0.02)

# facial regions of the co-contraction (base names of the template's muscles, aujax.face)
_REGIONS: Final = {
    "upper": (
        "frontalis_medial",
        "frontalis_lateral",
        "corrugator",
        "depressor_supercilii",
        "orbicularis_oculi_orbital",
        "orbicularis_oculi_palpebral",
    ),
    "middle": ("levator_labii_alaeque_nasi", "levator_labii_superioris", "zygomaticus_major"),
    "lower": (
        "buccinator",
        "depressor_anguli_oris",
        "mentalis",
        "risorius",
        "depressor_labii_inferioris",
        "orbicularis_oris_peripheral",
        "orbicularis_oris_marginal",
    ),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MuscleRealism:
    """Options of the muscle activity's realism (module docstring); the defaults are the realistic
    values of docs/data.md, :meth:`off` the historical linear, symmetric generator.

    Attributes:
        asymmetry_sd: log-sd of the weaker/stronger side ratio of a bilateral AU event (the ratio is
            ``exp(-asymmetry_sd |z|)``); 0: symmetric.
        unilateral_fraction: probability that an AU event is unilateral (weaker side 0), in [0, 1].
        synergy_secondary: total weight of an AU's regional neighbour muscles (shared equally by
            their pairs) in the subject's W, relative to the mean of the AU's own regional
            entries, before the log-normal factors, >= 0.
        synergy_sd: log-sd of the subject's per-AU, per-muscle-pair factors on W, >= 0.
        bifid_zygomaticus_prob: per-hemiface probability of a bifid zygomaticus major, in [0, 1].
        bifid_share: share of a bifid zygomaticus major's drive moved to the risorius, in [0, 1].
        cocontraction: fraction of the mean excitation of a muscle's regional neighbours it
            receives, >= 0.
        dynamics: the activation dynamics (time constants, delay, excitation noise).
    """

    asymmetry_sd: float = 0.15
    unilateral_fraction: float = 0.05
    synergy_secondary: float = 0.15
    synergy_sd: float = 0.5
    bifid_zygomaticus_prob: float = 0.34
    bifid_share: float = 0.46
    cocontraction: float = 0.1
    dynamics: ActivationDynamics = REALISTIC_DYNAMICS

    def __post_init__(self):
        for name in ("asymmetry_sd", "synergy_secondary", "synergy_sd", "cocontraction"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}.")
        for name in ("unilateral_fraction", "bifid_zygomaticus_prob", "bifid_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
        if not isinstance(self.dynamics, ActivationDynamics):
            raise ValueError(f"dynamics must be an ActivationDynamics, got {self.dynamics!r}.")

    @classmethod
    def off(cls) -> "MuscleRealism":
        """The historical generator: symmetric, the template's synergies, no co-contraction, the
        default :class:`~aujax.synth.ActivationDynamics` (15 ms / 40 ms, no delay)."""
        return cls(
            asymmetry_sd=0.0,
            unilateral_fraction=0.0,
            synergy_secondary=0.0,
            synergy_sd=0.0,
            bifid_zygomaticus_prob=0.0,
            cocontraction=0.0,
            dynamics=ActivationDynamics(),
        )

    @property
    def symmetric(self) -> bool:
        """True when AU events drive both sides alike (no asymmetry, no unilateral events)."""
        return self.asymmetry_sd == 0.0 and self.unilateral_fraction == 0.0

    @property
    def template_synergy(self) -> bool:
        """True when every subject uses the template's W."""
        return (
            self.synergy_sd == 0.0
            and self.synergy_secondary == 0.0
            and self.bifid_zygomaticus_prob == 0.0
        )


@dataclasses.dataclass(frozen=True)
class _Layout:
    side: np.ndarray  # (M,) 0 right, 1 left, -1 unpaired
    group: np.ndarray  # (M,) pair index (the two muscles of a pair share it)
    region: np.ndarray  # (M,) index into _REGIONS, -1 for muscles outside them
    names: tuple[str, ...]


def muscle_layout(n_muscles: int) -> _Layout:
    """Sides and pairs of the template's muscles (:func:`aujax.face.muscle_names`).

    Raises:
        ValueError: ``n_muscles`` is not the template's muscle count.
    """
    names = muscle_names()
    if n_muscles != len(names):
        raise ValueError(
            f"the realism options need the template's {len(names)} muscles "
            f"(aujax.face.muscle_names), got M = {n_muscles}."
        )
    side = np.array([0 if n.endswith("_r") else 1 if n.endswith("_l") else -1 for n in names])
    base = [n[:-2] if s >= 0 else n for n, s in zip(names, side, strict=True)]
    index = {b: i for i, b in enumerate(dict.fromkeys(base))}
    region_of = {m: r for r, members in enumerate(_REGIONS.values()) for m in members}
    region = np.array(
        [region_of.get(b, -1) if s >= 0 else -1 for b, s in zip(base, side, strict=True)]
    )
    return _Layout(side, np.array([index[b] for b in base]), region, names)


def subject_synergy(au_activations, realism: MuscleRealism, rng: np.random.Generator) -> np.ndarray:
    """A subject's own AU -> muscle map W_subject (K, M) (option 2 of the module docstring).

    Draws, in this order and whatever the other options (none when ``realism.template_synergy``):
    (K, pairs) standard normals, then 2 uniforms (right and left hemiface's bifid zygomaticus
    major).

    Args:
        au_activations: (K, M) the template's activations per unit AU intensity, M = the template's
            muscle count.
        realism: the options (``synergy_secondary``, ``synergy_sd``, ``bifid_zygomaticus_prob``,
            ``bifid_share``).
        rng: the subject's ``"synergy"`` stream.

    Returns:
        (K, M) float64; the template's W itself (a copy, any M) when ``realism.template_synergy``.
    """
    w = np.array(au_activations, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"au_activations must have shape (K, M), got {w.shape}.")
    if realism.template_synergy:
        return w
    lay = muscle_layout(w.shape[1])
    z = rng.standard_normal((w.shape[0], int(lay.group.max()) + 1))
    bifid = rng.random(2) < realism.bifid_zygomaticus_prob
    out = w.copy()
    for k in range(w.shape[0]):
        own = (w[k] != 0.0) & (lay.region >= 0)
        if own.any():  # recruit the regional neighbours of the AU's own muscles
            near = np.isin(lay.region, lay.region[own]) & ~np.isin(
                lay.group, lay.group[w[k] != 0.0]
            )
            n_pairs = len(np.unique(lay.group[near]))
            out[k, near] = realism.synergy_secondary * np.abs(w[k, own]).mean() / max(n_pairs, 1)
    out = out * np.exp(realism.synergy_sd * z[:, lay.group])
    total, new = np.abs(w).sum(1, keepdims=True), np.abs(out).sum(1, keepdims=True)
    out = np.where(new > 0.0, out * (total / np.where(new > 0.0, new, 1.0)), out)
    for s in (0, 1):
        if bifid[s]:
            suffix = "_r" if s == 0 else "_l"
            zm = lay.names.index("zygomaticus_major" + suffix)
            ris = lay.names.index("risorius" + suffix)
            moved = realism.bifid_share * out[:, zm]
            out[:, ris] += moved
            out[:, zm] -= moved
    return out


def event_side_scales(intensity, realism: MuscleRealism, rng: np.random.Generator) -> np.ndarray:
    """Right/left scales (T, K, 2) of each AU's drive (option 1 of the module docstring).

    The events of AU k are the maximal runs of frames with ``intensity[:, k] > 0``, taken AU by AU
    and in time order; each draws three numbers whatever the options (uniform: unilateral?,
    uniform: which side is stronger, normal: the asymmetry).

    Args:
        intensity: (T, K) AU intensities.
        realism: the options (``asymmetry_sd``, ``unilateral_fraction``).
        rng: the sequence's ``"asymmetry"`` stream.

    Returns:
        (T, K, 2) float64 scales in [0, 1] (index 0 the subject's right, 1 the left); the stronger
        side of an event is 1; 1 everywhere outside events.
    """
    c = np.asarray(intensity, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"intensity must have shape (T, K), got {c.shape}.")
    out = np.ones(c.shape + (2,))
    for k in range(c.shape[1]):
        on = np.concatenate([[False], c[:, k] > 0.0, [False]])
        starts = np.flatnonzero(on[1:] & ~on[:-1])
        stops = np.flatnonzero(~on[1:] & on[:-1])
        for t0, t1 in zip(starts, stops, strict=True):
            u, side, z = rng.random(), rng.random(), rng.standard_normal()
            weak = (
                0.0 if u < realism.unilateral_fraction else np.exp(-realism.asymmetry_sd * abs(z))
            )
            out[t0:t1, k, 0 if side < 0.5 else 1] = weak  # the other side stays 1
    return out


def cocontraction_matrix(n_muscles: int) -> np.ndarray:
    """(M, M) leak matrix C: ``C[m, m'] = 1 / (n - 1)`` for m' != m of m's region and side (n its
    muscle count there), else 0 (option 3 of the module docstring)."""
    lay = muscle_layout(n_muscles)
    region = lay.region
    same = (region[:, None] == region[None]) & (lay.side[:, None] == lay.side[None])
    same &= (region[:, None] >= 0) & ~np.eye(n_muscles, dtype=bool)
    n = same.sum(1, keepdims=True)
    return np.where(same, 1.0 / np.maximum(n, 1), 0.0)


def realistic_excitation(
    intensity, synergy, side_scale, *, realism: MuscleRealism, gains=None
) -> np.ndarray:
    """Neural excitation (T, M) with the realism options 1-3 (module docstring).

    Args:
        intensity: (T, K) AU intensities (0-5), finite and >= 0.
        synergy: (K, M) the subject's W (:func:`subject_synergy`).
        side_scale: (T, K, 2) right/left scales (:func:`event_side_scales`).
        realism: the options (``cocontraction``).
        gains: optional (M,) positive per-muscle gains.

    Returns:
        (T, M) non-negative excitations; with symmetric scales, the template W, no co-contraction,
        ``g * (c @ W)`` clipped at 0 bit for bit (:func:`aujax.synth.muscle_excitation`).
    """
    c, w = checked_intensity(intensity, synergy, name="synergy")
    s = np.asarray(side_scale, dtype=np.float64)
    if s.shape != c.shape + (2,):
        raise ValueError(f"side_scale must have shape (T, K, 2) = {c.shape + (2,)}, got {s.shape}.")
    lay = muscle_layout(w.shape[1])
    e = c @ w
    if np.any(s != 1.0):
        e = np.where(lay.side[None] == 0, (c * s[..., 0]) @ w, e)
        e = np.where(lay.side[None] == 1, (c * s[..., 1]) @ w, e)
    e = np.maximum(with_gains(e, gains), 0.0)
    if realism.cocontraction > 0.0:
        e = e + realism.cocontraction * (e @ cocontraction_matrix(w.shape[1]).T)
    return e
