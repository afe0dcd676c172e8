"""A synthetic subject of the generators: the template model, the subject's body (identity, muscle
gains, skin, rig, own AU -> muscle synergies) and its sequences simulated on the full spring-mass
skin (DESIGN §6.1).

The same draws serve every dataset (:func:`subject_physique`: stream ``(seed, dataset, subject,
"physique")``, the synergies ``(seed, dataset, subject, "synergy")``), so a subject's body does not
depend on what else is generated. A :class:`Cast` drives its sequences with the preset's
:class:`~aujax.synth.MuscleRealism` (:meth:`Cast.drive`; asymmetry stream ``(seed, dataset,
subject, task, "asymmetry")``).
"""

import dataclasses
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from ..face import AU_IDS, make_face, skin_albedo
from ._activation import ActivationDynamics, activation_dynamics, muscle_activations
from ._realism import MuscleRealism, event_side_scales, realistic_excitation, subject_synergy
from ._rig import (
    SubjectRig,
    build_subject_rig,
    rig_landmarks,
    simulate_expression,
    simulate_long_expression,
)
from ._streams import stream_rng


__all__ = [
    "DEFAULT_N_VERTICES",
    "Cast",
    "Drive",
    "SubjectPhysique",
    "simulate_subject_sequence",
    "subject_physique",
    "template_model",
]

# Mesh resolution per preset size: the small preset's ~650 vertices (instead of 1,500) are what
# lets it run in minutes on 2 cores (docs/data.md, "Measured": landmark cost of the coarser mesh).
DEFAULT_N_VERTICES = {"tiny": 600, "small": 650, "full": 1500}


def template_model(n_vertices: int, seed: int, gt_dir: pathlib.Path | None = None):
    """The face template and its AU blendshape model (saved to ``gt_dir`` unless it is None).

    Both are immutable and deterministic in ``(n_vertices, seed)``, so the last few are cached.
    Built in float64 (``jax.enable_x64``), as the generators build them, whatever the caller's
    default.
    """
    with jax.enable_x64(True):
        face, model = _template(int(n_vertices), int(seed))
    if gt_dir is not None:
        gt_dir = pathlib.Path(gt_dir)
        gt_dir.mkdir(parents=True, exist_ok=True)
        model.save(gt_dir / "blendshape_model.npz")
    return face, model


@functools.lru_cache(maxsize=4)
def _template(n_vertices: int, seed: int):
    from ..physics import build_au_blendshapes

    face = make_face(n_vertices, seed=seed)
    model, _ = build_au_blendshapes(face)
    return face, model


@dataclasses.dataclass(frozen=True)
class SubjectPhysique:
    """A synthetic subject's body: the random draws and the built rig.

    Attributes:
        identity: (I,) identity coefficients.
        gains: (M,) log-normal muscle gains.
        tone: skin tone in [0, 1] (0 light, 1 dark).
        albedo: (n, 3) RGB skin albedo.
        rig: the subject's :class:`~aujax.synth.SubjectRig` (own mesh, full skin, integrator).
        synergy: (K, M) the subject's own AU -> muscle map (:func:`aujax.synth.subject_synergy`),
            or None where none was drawn (the template's ``au_activations`` then apply).
    """

    identity: np.ndarray
    gains: np.ndarray
    tone: float
    albedo: np.ndarray
    rig: SubjectRig
    synergy: np.ndarray | None = None


def subject_physique(
    face, identity_dim: int, n_muscles: int, *, dataset: str, subject: str, seed: int, fps: float,
    au_activations=None, realism: MuscleRealism | None = None,
) -> SubjectPhysique:  # fmt: skip
    """Draws a subject's identity, gains and skin, and builds its rig.

    Identity coefficients ~ N(0, 1), log-normal muscle gains (sd 0.15), a uniform skin tone and the
    albedo's key, in this order; deterministic in ``(seed, dataset, subject)``
    (:func:`aujax.synth.stream_rng`). With ``au_activations`` also the subject's synergies
    (:func:`aujax.synth.subject_synergy`, stream ``(seed, dataset, subject, "synergy")``).

    Args:
        face: the face template.
        identity_dim: number of identity coefficients (``model.identity_basis.shape[0]``).
        n_muscles: number of muscles (``model.au_activations.shape[1]``).
        dataset: stream name of the dataset, e.g. ``"disfa"``.
        subject: subject ID.
        seed: the dataset seed.
        fps: frame rate of the integrator.
        au_activations: optional (K, M) template activations per unit AU intensity: draws the
            subject's synergies from them.
        realism: the options of the synergies (default :meth:`MuscleRealism.off`: the template's).

    Returns:
        The :class:`SubjectPhysique`.
    """
    rng = stream_rng(seed, dataset, subject, "physique")
    identity = rng.standard_normal(identity_dim)
    gains = np.exp(0.15 * rng.standard_normal(n_muscles))
    tone = float(rng.uniform())
    key = jax.random.key(int(rng.integers(2**31)))
    albedo = np.asarray(skin_albedo(face, jnp.asarray(tone), key=key))
    rig = build_subject_rig(face, identity, fps=fps)
    synergy = None
    if au_activations is not None:
        synergy = subject_synergy(
            au_activations, MuscleRealism.off() if realism is None else realism,
            stream_rng(seed, dataset, subject, "synergy"),
        )  # fmt: skip
    return SubjectPhysique(identity, gains, tone, albedo, rig, synergy)


@dataclasses.dataclass(frozen=True)
class Drive:
    """The muscle drive of one sequence, ``warmup`` frames in front.

    Attributes:
        activations: (warmup + T, M) muscle activations.
        side_scale: (warmup + T, 17, 2) right/left scales of each AU's drive
            (:func:`aujax.synth.event_side_scales`; all 1 for symmetric actions).
    """

    activations: np.ndarray
    side_scale: np.ndarray


@dataclasses.dataclass(frozen=True)
class Cast:
    """The subjects of a dataset: built on one template model, drawn from the dataset's streams.

    Attributes:
        dataset: stream name of the dataset, e.g. ``"bp4d"``.
        seed: the dataset seed.
        fps: frame rate of the subjects' integrators.
        face: the face template.
        model: its AU blendshape model (:func:`template_model`).
        realism: the muscle activity's realism (the preset's; default :meth:`MuscleRealism.off`,
            the historical generator).
    """

    dataset: str
    seed: int
    fps: float
    face: object
    model: object
    realism: MuscleRealism = dataclasses.field(default_factory=MuscleRealism.off)

    @property
    def au_activations(self) -> np.ndarray:
        """(17, M) float64 activations per unit AU intensity (the template model's)."""
        return np.asarray(self.model.au_activations, dtype=np.float64)

    def physique(self, subject: str) -> SubjectPhysique:
        """The subject's body and synergies (:func:`subject_physique`)."""
        return subject_physique(
            self.face, self.model.identity_basis.shape[0], self.model.au_activations.shape[1],
            dataset=self.dataset, subject=subject, seed=self.seed, fps=self.fps,
            au_activations=self.au_activations, realism=self.realism,
        )  # fmt: skip

    def drive(
        self,
        physique: SubjectPhysique,
        intensity,
        *,
        subject: str,
        task: str,
        rng,
        warmup: int,
        sides=None,
    ) -> Drive:
        """The muscle drive of a sequence, ``warmup`` frames holding its first intensity in front.

        Realism off: :func:`aujax.synth.muscle_activations` with the subject's gains and the default
        dynamics, exactly the historical activations. Otherwise the excitation of
        :func:`aujax.synth.realistic_excitation` (the subject's synergies, the sequence's event
        asymmetry from stream ``(seed, dataset, subject, task, "asymmetry")``, co-contraction)
        through :func:`aujax.synth.activation_dynamics` with the realism's dynamics. The excitation
        noise is drawn from ``rng`` (the sequence's capture stream) either way.

        ``sides`` (optional, (17, 2)) replaces the drawn right/left scales of the AUs whose row is
        finite (NaN rows keep the draws), e.g. a row ``(0, 1)`` makes that AU act on the subject's
        left side only (Bosphorus ``LFAU_12L``); it needs the realistic branch (realism not off).
        """
        x = _held_in_front(intensity, warmup)
        realism = self.realism
        if sides is not None:
            sides = np.asarray(sides, dtype=np.float64)
            if sides.shape != (len(AU_IDS), 2) or np.any(sides < 0) or np.any(np.isinf(sides)):
                raise ValueError(f"sides must be a ({len(AU_IDS)}, 2) array of scales >= 0 or NaN.")
            if realism == MuscleRealism.off():
                raise ValueError("sides needs the realistic drive (the preset's realism is off).")
        if realism == MuscleRealism.off():
            acts = muscle_activations(
                x, self.au_activations, fps=self.fps, rng=rng, gains=physique.gains,
                dynamics=ActivationDynamics(),
            )  # fmt: skip
            return Drive(acts, np.ones(x.shape + (2,)))
        scale = event_side_scales(
            x, realism, stream_rng(self.seed, self.dataset, subject, task, "asymmetry")
        )
        if sides is not None:
            scale = np.where(np.isnan(sides)[None], scale, sides[None])
        synergy = self.au_activations if physique.synergy is None else physique.synergy
        e = realistic_excitation(x, synergy, scale, realism=realism, gains=physique.gains)
        acts = activation_dynamics(e, fps=self.fps, rng=rng, dynamics=realism.dynamics)
        return Drive(acts, scale)


def _held_in_front(intensity, warmup: int) -> np.ndarray:
    """(warmup + T, 17) float64 intensities, ``warmup`` frames holding the first one in front."""
    x = np.asarray(intensity, dtype=np.float64)
    return np.concatenate([np.repeat(x[:1], warmup, 0), x])


def simulate_subject_sequence(
    physique: SubjectPhysique,
    intensity,
    au_activations,
    *,
    fps: float,
    rng: np.random.Generator,
    warmup: int,
    dynamics: ActivationDynamics | None = None,
    segments: int | None = None,
    activations=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AU intensities -> activations -> full spring-mass dynamics -> 68 landmarks.

    ``warmup`` frames holding the first intensity are simulated first and dropped, so a sequence
    does not open with a transient (for a posed apex, they let the skin settle).

    Args:
        physique: the subject.
        intensity: (T, 17) AU intensities at the frame times (order of ``AU_IDS``).
        au_activations: (17, M) activations per unit AU intensity (the template model's).
        fps: frame rate.
        rng: generator for the activation noise (consumed).
        warmup: frames simulated before the sequence (>= 0).
        dynamics: activation dynamics (defaults if None).
        segments: None: the host SuperLU integrator (:func:`aujax.synth.simulate_expression`, rtol
            1e-6; short posed clips); an int: the jitted dense Newmark with the sequence cut
            into that many overlapping pieces run as one batch
            (:func:`aujax.synth._rig.simulate_long_expression`, 50 frames of overlap, rtol 1e-5;
            the long DISFA-like videos).
        activations: optional precomputed (warmup + T, M) activations (:meth:`Cast.drive`); then
            ``au_activations``, ``rng`` and ``dynamics`` are not used.

    Returns:
        ``(displacements, activations, landmarks_3d)``: (T, n, 3), (T, M) and (T, 68, 3) in the
        model frame (cm).
    """
    x = np.asarray(intensity, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(AU_IDS) or x.shape[0] < 1:
        raise ValueError(f"intensity must have shape (T, {len(AU_IDS)}) with T >= 1, got {x.shape}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}.")
    if activations is None:
        acts = muscle_activations(
            _held_in_front(x, warmup), au_activations, fps=fps, rng=rng, gains=physique.gains,
            dynamics=ActivationDynamics() if dynamics is None else dynamics,
        )  # fmt: skip
    else:
        acts = np.asarray(activations, dtype=np.float64)
        if acts.ndim != 2 or acts.shape[0] != warmup + x.shape[0]:
            raise ValueError(
                f"activations must have shape (warmup + T, M) = ({warmup + x.shape[0]}, M), "
                f"got {acts.shape}."
            )
    if segments is None:
        us, _ = simulate_expression(physique.rig, acts, rtol=1e-6)
    else:
        us = simulate_long_expression(physique.rig, acts, segments=segments, overlap=50, rtol=1e-5)
    us, acts = us[warmup:], acts[warmup:]
    return us, acts, rig_landmarks(physique.rig, us)
