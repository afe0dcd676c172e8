r"""The synthetic FaceWarehouse-like dataset: identities x expressions as static equilibria of the
muscle-driven skin, written in FaceWarehouse's real layout (REFERENCE §5.6, issue 18).

FaceWarehouse (Cao et al. 2014) holds, per subject, a neutral mesh and 46 FACS-like expression
blendshapes on one topology; seed 004 builds its bilinear face model (eqs. 2-3) from such a
vertices x identity x expression tensor. :func:`generate_facewarehouse` makes the same from the
physics, so the model is built the same way from a synthetic copy as from a licensed one:

1. per subject ``Tester_k`` (k = 1..n_subjects): identity, muscle gains and the subject's own
   AU -> muscle synergies, drawn as for every generator (:func:`aujax.synth.subject_physique`,
   stream ``"facewarehouse"``) on the face template (:func:`aujax.synth.template_model`), and the
   subject's skin (:class:`aujax.synth.SubjectRig`). Expression 0 is the subject's rest mesh (the
   template plus the identity displacement), the static equilibrium without muscle force;
2. per expression (:data:`FACEWAREHOUSE_EXPRESSIONS`, the AUs of each in
   :data:`FACEWAREHOUSE_EXPRESSION_AUS`): the AUs at full activation, FACS intensity E (5). The
   muscle activations are ``a = 5 g * sum_k W_subject[k]`` over the expression's AUs (``g`` the
   subject's gains, ``W_subject`` its synergies, :func:`aujax.synth.subject_synergy`); a
   unilateral AU (``R12``: right side only) keeps only the muscles of that side. Then the
   **static equilibrium** of the full, geometrically nonlinear spring-mass skin under
   ``f_i = sum_m a_m P[i, m] d[i, m]`` (seed 001, eq. 1): the minimum of the elastic and anchor
   energy minus the work of ``f`` (DESIGN §4.1), to a relative force residual of ``rtol``;
3. per training pose (:data:`FACEWAREHOUSE_POSES`, the first ``n_poses``; FaceWarehouse captures
   20 per subject and fits its blendshapes to them): AU combinations at partial intensities
   (:data:`FACEWAREHOUSE_POSE_AUS`, e.g. happiness 6C + 12D), solved the same way; on the nonlinear
   skin they lie off the blendshapes' span, so they test a model built from the blendshapes;
4. the layout (:func:`aujax.datasets.write_blendshapes`,
   :func:`aujax.datasets.write_facewarehouse_poses`): ``Tester_k/Blendshape/shape.bs`` with the
   neutral and the blendshapes as absolute positions (float32, **centimetres**, the model frame
   of DESIGN §2), ``Tester_k/Blendshape/shape_0.obj`` with the neutral and the template's
   triangles, ``Tester_k/TrainingPose/pose_j.obj`` (j = 0..n_poses - 1, pose 0 the neutral);
   ground truth ``synthetic/Tester_k.npz`` (identity, gains, synergies, the activations and
   equilibrium residual of each expression and pose), ``synthetic/summary.json`` and, written
   last, ``synthetic/COMPLETE``.

What is left out, on purpose: no realism of the timing kind (a static pose has no activation
dynamics, asymmetry draws or co-contraction; the unilateral expressions are listed explicitly
instead, as FaceWarehouse's ``_L``/``_R`` blendshapes are); no scanner noise (FaceWarehouse's
blendshapes are fitted meshes, not scans); no ``pose_j.land`` / ``pose_j.poses`` (landmarks and
Kinect frames of the captures) and no images.

**Solver** (:func:`static_equilibria`). The equilibria of one subject are solved together by
modified Newton with the factorised rest Hessian ``H(0)`` (one sparse LU per subject, SciPy
SuperLU), ``u <- u + H(0)^{-1} (f - grad E(u))`` from the linear response ``H(0)^{-1} f``,
accelerated by Anderson mixing, the gradients of the whole batch in one jitted call. Measured (664
vertices, the 46 expressions of a subject, rtol 1e-8): 13-16 iterations (37-58 without the
mixing), about 1-2 s per subject on the shared 2-core machine, against ~2.6 s for 17 single AUs
with Newton-PCG (:class:`aujax.physics.SparseEquilibriumSolver`, which also recompiles its gradient
for every skin, ~1 s); the two agree to 2e-8 cm on ``AU25+26`` (peak 2.2 cm). An expression not
converged after ``max_iter`` iterations is finished by that Newton-PCG solver.

**Cost** (measured on the 2 CPU cores shared with other jobs, load average 8-12, rtol 1e-8; the
``template_seconds`` and ``seconds_per_subject`` of ``summary.json``): the template and its
physics-built AU basis once, 10-25 s at 664 vertices; then, at 664 vertices, 1.4-2.6 s per subject
for the 47 blendshape meshes alone (``n_poses=0``; 50 subjects: 144 s in all) and 3.1 s with the
20 training poses (20 subjects: 78 s in all, 25 MB on disk); ~9.5 s per subject for the 47 meshes
at 1,572 vertices (3 subjects, the first one's compilation included). Hence the 150 subjects of
FaceWarehouse at 664 vertices: about 8 minutes on this busy machine (extrapolated), once (cached),
less on two free cores; :data:`FACEWAREHOUSE_SUBJECTS` ``"small"`` (50) about 3 minutes.

Regions for the metrics of seed 004 (eqs. 14-15 on the "central" and the "whole" face):
:func:`central_face_vertices` (rule in its docstring) and :func:`facewarehouse_landmark_vertices`
(the 68 iBUG points as vertices of the mesh; :func:`facewarehouse_landmark_embedding` gives the
template's barycentric embedding they come from). Both depend only on ``n_vertices``: the
template's geometry, topology and annotations are deterministic in it (:func:`aujax.face.make_face`;
the seed only drives the identity basis).
"""

import dataclasses
import functools
import hashlib
import json
import pathlib
from collections.abc import Callable, Sequence
from typing import Final

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg as spla

from ..datasets import cache_root, write_blendshapes, write_facewarehouse_poses
from ..face import AU_IDS, make_face
from ..physics import SparseEquilibriumSolver, elastic_energy, muscle_forces, sparse_hessian
from ._default import TEMPLATE_TAG
from ._pipeline import Timings, check_int, run_pipeline, save_summary
from ._realism import MuscleRealism
from ._rig import SubjectRig
from ._subject import DEFAULT_N_VERTICES, Cast, template_model


__all__ = [
    "FACEWAREHOUSE_EXPRESSIONS",
    "FACEWAREHOUSE_EXPRESSION_AUS",
    "FACEWAREHOUSE_INTENSITY",
    "FACEWAREHOUSE_POSES",
    "FACEWAREHOUSE_POSE_AUS",
    "FACEWAREHOUSE_SUBJECTS",
    "StaticSolution",
    "central_face_vertices",
    "facewarehouse_activations",
    "facewarehouse_landmark_embedding",
    "facewarehouse_landmark_vertices",
    "generate_facewarehouse",
    "static_equilibria",
]

#: Subjects per preset size, for callers that choose by size: ``small`` keeps the 50 identity modes
#: seed 004 uses (eq. 2) identifiable (about 3 minutes at 664 vertices on the shared 2 cores, module
#: docstring); ``full`` is FaceWarehouse's 150 testers.
FACEWAREHOUSE_SUBJECTS: Final = {"tiny": 4, "small": 50, "full": 150}

#: FACS intensity of every AU of an expression ("full activation": E = 5, the intensity at which
#: the template's AU blendshapes reach their peak displacement, :data:`aujax.face.AU_PEAK_DISPLACEMENT`).
FACEWAREHOUSE_INTENSITY: Final = 5.0

# the AUs whose muscles come in left/right pairs and that FaceWarehouse-like rigs split by side
# (brows up/down, eye open/squint, cheek squint, sneer, upper lip up, smile, dimple, frown,
# stretch); AU1 (the medial frontalis pair pulls the inner brows together), the midline lip and
# chin actions and the jaw stay bilateral
_UNILATERAL_AUS: Final = (2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 20)
# AU combinations: brows raised, sad brows, Duchenne smile, sneer, mouth open, fear mouth, lips
# pressed tight
_COMBINATIONS: Final = ((1, 2), (1, 4), (6, 12), (9, 10), (25, 26), (20, 25), (23, 24))


def _expression_table() -> dict[str, tuple[tuple[int, str], ...]]:
    table: dict[str, tuple[tuple[int, str], ...]] = {"neutral": ()}
    table.update({f"AU{au}": ((au, "both"),) for au in AU_IDS})
    for au in _UNILATERAL_AUS:
        table[f"R{au}"] = ((au, "r"),)
        table[f"L{au}"] = ((au, "l"),)
    for combo in _COMBINATIONS:
        table["AU" + "+".join(map(str, combo))] = tuple((au, "both") for au in combo)
    return table


#: Expression name -> its AUs as ``(au, side)``, side ``"both"``, ``"r"`` or ``"l"`` (the subject's
#: right / left, FACS's ``R12`` / ``L12``). 47 entries: ``"neutral"`` (no AU), the 17 AUs of the
#: model bilaterally (``"AU1"`` ... ``"AU26"``), 11 AUs on each side alone (``"R2"``, ``"L2"``, ...
#: for AUs 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 20) and 7 combinations (``"AU1+2"``, ``"AU1+4"``,
#: ``"AU6+12"``, ``"AU9+10"``, ``"AU25+26"``, ``"AU20+25"``, ``"AU23+24"``).
FACEWAREHOUSE_EXPRESSION_AUS: Final = _expression_table()

#: The 47 expressions of a synthetic subject, in file order: ``"neutral"`` (B0), then the 46
#: blendshapes B1..B46 (FaceWarehouse's count; their AUs in :data:`FACEWAREHOUSE_EXPRESSION_AUS`).
FACEWAREHOUSE_EXPRESSIONS: Final = tuple(FACEWAREHOUSE_EXPRESSION_AUS)
assert len(FACEWAREHOUSE_EXPRESSIONS) == 47

#: The captured expressions of ``TrainingPose`` (FaceWarehouse: 20 per subject, the neutral first,
#: from which its blendshapes were fitted): pose name -> ``(au, side, intensity)``, FACS
#: intensities 1..5 (A..E). Unlike the blendshapes (single AUs at E), they combine several AUs at
#: partial intensities, so on the nonlinear skin they lie off the span of the blendshapes: test
#: meshes for a model built from them (seed 004, fig. 8). Prototypes after EMFACS-style codes
#: (happiness 6+12, sadness 1+4+15, surprise 1+2+5+26, fear 1+2+4+5+20+25, anger 4+5+7+23,
#: disgust 9+10+15+17, contempt R12+R14, pain 4+6+7+9+10), then mouth, brow and one-sided poses.
FACEWAREHOUSE_POSE_AUS: Final = {
    "neutral": (),
    "happy": ((6, "both", 3.0), (12, "both", 4.0)),
    "happy_open": ((6, "both", 3.0), (12, "both", 4.0), (25, "both", 3.0), (26, "both", 2.0)),
    "sad": ((1, "both", 3.0), (4, "both", 2.0), (15, "both", 3.0)),
    "surprise": ((1, "both", 4.0), (2, "both", 4.0), (5, "both", 3.0), (26, "both", 3.0)),
    "fear": (
        (1, "both", 3.0), (2, "both", 3.0), (4, "both", 2.0), (5, "both", 3.0),
        (20, "both", 3.0), (25, "both", 3.0),
    ),
    "anger": ((4, "both", 4.0), (5, "both", 2.0), (7, "both", 3.0), (23, "both", 3.0)),
    "disgust": ((9, "both", 3.0), (10, "both", 3.0), (15, "both", 2.0), (17, "both", 2.0)),
    "contempt": ((12, "r", 3.0), (14, "r", 3.0)),
    "pain": (
        (4, "both", 3.0), (6, "both", 3.0), (7, "both", 3.0), (9, "both", 2.0), (10, "both", 2.0),
    ),
    "mouth_open": ((25, "both", 3.0), (26, "both", 4.0)),
    "lips_pressed": ((17, "both", 3.0), (24, "both", 4.0)),
    "lips_tight": ((17, "both", 2.0), (23, "both", 4.0)),
    "smirk_left": ((12, "l", 4.0),),
    "brows_raised": ((1, "both", 3.0), (2, "both", 3.0)),
    "frown": ((4, "both", 4.0), (7, "both", 2.0)),
    "grimace": ((12, "both", 3.0), (20, "both", 3.0), (25, "both", 3.0)),
    "sneer_right": ((9, "r", 3.0), (10, "r", 3.0)),
    "squint": ((6, "both", 4.0), (7, "both", 3.0)),
    "pout": ((15, "both", 3.0), (17, "both", 4.0)),
}  # fmt: skip

#: The 20 training poses, in file order (``pose_0.obj`` = ``"neutral"``).
FACEWAREHOUSE_POSES: Final = tuple(FACEWAREHOUSE_POSE_AUS)
assert len(FACEWAREHOUSE_POSES) == 20


def _check_expressions(expressions, n_expressions) -> tuple[str, ...]:
    if expressions is None:
        check_int("n_expressions", n_expressions, 1, len(FACEWAREHOUSE_EXPRESSIONS))
        return FACEWAREHOUSE_EXPRESSIONS[:n_expressions]
    names = tuple(expressions)
    if not names or names[0] != "neutral":
        raise ValueError(f"expressions must start with 'neutral' (B0 of shape.bs), got {names}")
    for n in names:
        if n not in FACEWAREHOUSE_EXPRESSION_AUS:
            raise ValueError(
                f"expressions: unknown expression {n!r}; expected names of "
                "FACEWAREHOUSE_EXPRESSIONS"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"expressions has duplicates: {names}")
    if n_expressions != len(names) and n_expressions != len(FACEWAREHOUSE_EXPRESSIONS):
        raise ValueError(
            f"n_expressions={n_expressions} disagrees with the {len(names)} expressions given"
        )
    return names


def facewarehouse_activations(
    name: str, synergy: np.ndarray, gains: np.ndarray, muscle_names: Sequence[str]
) -> np.ndarray:
    """(M,) muscle activations of one expression: ``5 g * sum_k W[k]`` over its AUs, by side
    (for a training pose ``g * sum_k c_k W[k]`` with its intensities c_k).

    Args:
        name: a key of :data:`FACEWAREHOUSE_EXPRESSION_AUS`, or of
            :data:`FACEWAREHOUSE_POSE_AUS` prefixed ``"pose:"`` (e.g. ``"pose:happy"``).
        synergy: (17, M) the subject's AU -> muscle map per unit intensity (rows in ``AU_IDS``
            order).
        gains: (M,) the subject's muscle gains.
        muscle_names: the M muscle names (``_r`` / ``_l`` suffixes give the side).
    """
    sides = np.array(
        ["r" if m.endswith("_r") else "l" if m.endswith("_l") else "" for m in muscle_names]
    )
    pose = name[len("pose:") :] if name.startswith("pose:") else None
    if (pose is None and name not in FACEWAREHOUSE_EXPRESSION_AUS) or (
        pose is not None and pose not in FACEWAREHOUSE_POSE_AUS
    ):
        raise ValueError(
            f"name: unknown expression {name!r}; expected a FACEWAREHOUSE_EXPRESSIONS name or "
            "'pose:' + a FACEWAREHOUSE_POSES name"
        )
    synergy = np.asarray(synergy, dtype=np.float64)
    if synergy.shape != (len(AU_IDS), len(muscle_names)):
        raise ValueError(
            f"synergy must have shape ({len(AU_IDS)}, {len(muscle_names)}), got {synergy.shape}"
        )
    if pose is not None:
        aus = FACEWAREHOUSE_POSE_AUS[pose]
    else:
        aus = tuple(
            (au, side, FACEWAREHOUSE_INTENSITY) for au, side in FACEWAREHOUSE_EXPRESSION_AUS[name]
        )
    a = np.zeros(len(muscle_names))
    for au, side, intensity in aus:
        row = synergy[AU_IDS.index(au)]
        if side != "both":
            row = np.where(sides == side, row, 0.0)
        a = a + intensity * row
    return np.maximum(a, 0.0) * np.asarray(gains, dtype=np.float64)


_batched_forces = jax.jit(jax.vmap(muscle_forces, in_axes=(None, None, 0)))


@dataclasses.dataclass(frozen=True)
class StaticSolution:
    """Static equilibria of one skin under a batch of muscle activations.

    Attributes:
        displacements: (B, n, 3) float64 equilibrium displacements from rest (cm).
        residual: (B,) relative force residuals ``|f - grad E(u)| / |f|`` (0 where f = 0).
        iterations: the most accelerated iterations any row took.
        fallback: (B,) bool, True where the Newton-PCG solver finished the solve.
    """

    displacements: np.ndarray
    residual: np.ndarray
    iterations: int
    fallback: np.ndarray


def static_equilibria(
    rig: SubjectRig, activations, *, rtol: float = 1e-8, max_iter: int = 60, memory: int = 5
) -> StaticSolution:
    r"""Static equilibria of a subject's skin under a batch of muscle activations.

    For each row ``a`` of ``activations``, the displacement ``u`` minimising ``E(u) - f . u``
    (DESIGN §4.1) with the muscle forces of seed 001, eq. 1:

    .. math::
        \nabla E(u) = f, \qquad f_i = \sum_m a_m P_{im} d_{im}.

    Modified Newton with the factorised rest Hessian (one sparse LU for the batch),
    ``u <- u + H(0)^{-1} (f - \nabla E(u))`` from the linear response ``H(0)^{-1} f``, accelerated
    by Anderson mixing over the last ``memory`` iterates (each row on its own; a least-squares
    combination of the previous preconditioned residuals): 13-16 iterations instead of 37-58 to
    1e-8 for the 46 expressions of a subject (664 vertices). Rows not within ``rtol`` after
    ``max_iter`` iterations (or gone non-finite) are finished by
    :class:`aujax.physics.SparseEquilibriumSolver` (Newton-PCG) from the last finite iterate.

    Args:
        rig: the subject's rig (its float64 skin, distribution P and directions d).
        activations: (B, M) muscle activations (>= 0).
        rtol: relative force residual ``|f - grad E(u)| / |f|`` to reach.
        max_iter: accelerated iterations before the fallback (>= 1).
        memory: Anderson memory (>= 0; 0: plain modified Newton).

    Returns:
        The :class:`StaticSolution`.
    """
    a = np.asarray(activations, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != rig.n_muscles:
        raise ValueError(f"activations must have shape (B, {rig.n_muscles}), got {a.shape}.")
    if not np.all(np.isfinite(a)) or np.any(a < 0.0):
        raise ValueError("activations must be finite and >= 0.")
    if not rtol > 0.0:
        raise ValueError(f"rtol must be > 0, got {rtol}.")
    check_int("max_iter", max_iter, 1)
    check_int("memory", memory, 0)
    n, b = rig.rest.shape[0], a.shape[0]
    system = rig.system
    with jax.enable_x64(True):
        f = np.asarray(_batched_forces(rig.distribution, rig.directions, jnp.asarray(a)))
        f = f.reshape(b, 3 * n)
        lu = spla.splu(
            sparse_hessian(system, np.zeros((n, 3))).tocsc(), permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0, options={"SymmetricMode": True},
        )  # fmt: skip
        u, res, its = np.zeros((b, 3 * n)), np.zeros(b), np.zeros(b, dtype=np.int64)
        fallback = np.zeros(b, dtype=bool)
        solver = None
        for k in range(b):
            u[k], res[k], its[k] = _accelerated_solve(system, lu, f[k], rtol, max_iter, memory)
            if not res[k] <= rtol:  # not converged, or NaN: finish with Newton-PCG
                solver = SparseEquilibriumSolver(system) if solver is None else solver
                u0 = u[k].reshape(n, 3) if np.all(np.isfinite(u[k])) else None
                uk, stats = solver.solve(f[k], u0=u0, rtol=rtol)
                u[k], res[k], fallback[k] = uk.reshape(-1), stats.residual, True
    return StaticSolution(u.reshape(b, n, 3), res, int(its.max(initial=0)), fallback)


# one expression at a time: the gradient of a (B, n, 3) batch under vmap ran 4-5x slower per row
# on XLA CPU than B calls of this one (scattered spring forces with a batch dimension)
_gradient = jax.jit(jax.grad(elastic_energy, argnums=1))


def _accelerated_solve(system, lu, f: np.ndarray, rtol: float, max_iter: int, memory: int):
    """(u (3n,), relative residual, iterations) of one equilibrium (:func:`static_equilibria`)."""
    fnorm = float(np.sqrt(np.sum(f * f)))
    if fnorm == 0.0:
        return np.zeros_like(f), 0.0, 0
    n = f.shape[0] // 3
    u, mixer, res = lu.solve(f), _Anderson(memory), np.inf
    for it in range(max_iter + 1):
        r = f - np.asarray(_gradient(system, u.reshape(n, 3))).reshape(-1)
        res = float(np.sqrt(np.sum(r * r))) / fnorm
        if res <= rtol or not np.isfinite(res) or it == max_iter:
            return u, res, it
        u = mixer.step(u, lu.solve(r))
    return u, res, max_iter


class _Anderson:
    """Anderson mixing of one fixed-point iteration ``u <- u + g(u)`` (type II, memory m).

    The next iterate is ``u + g - (dU + dG) gamma`` with ``gamma`` the least-squares solution of
    ``dG gamma = g`` over the last m differences of iterates (dU) and of steps (dG).
    """

    def __init__(self, memory: int):
        self.memory, self.prev, self.du, self.dg = memory, None, [], []

    def step(self, u: np.ndarray, g: np.ndarray) -> np.ndarray:
        if self.memory == 0:
            return u + g
        if self.prev is not None:
            self.du.append(u - self.prev[0])
            self.dg.append(g - self.prev[1])
            del self.du[: -self.memory], self.dg[: -self.memory]
        self.prev = (u.copy(), g)
        if not self.du:
            return u + g
        du, dg = np.stack(self.du, axis=1), np.stack(self.dg, axis=1)  # (3n, k)
        gamma = np.linalg.lstsq(dg, g, rcond=None)[0]
        return u + g - (du + dg) @ gamma


def _cache_name(
    n_subjects: int, expressions: tuple[str, ...], n_poses: int, n_vertices: int, seed: int
) -> str:
    tag = f"{len(expressions)}e"
    if expressions != FACEWAREHOUSE_EXPRESSIONS[: len(expressions)]:
        tag += hashlib.sha1(",".join(expressions).encode()).hexdigest()[:8]
    tag += f"{n_poses}p"
    return f"facewarehouse_synthetic_{n_subjects}s{tag}_{n_vertices}v_seed{seed}{TEMPLATE_TAG}"


def generate_facewarehouse(
    root=None,
    *,
    n_subjects: int = 150,
    n_expressions: int = 47,
    expressions: Sequence[str] | None = None,
    n_poses: int = 20,
    seed: int = 0,
    n_vertices: int = DEFAULT_N_VERTICES["small"],
    realism: MuscleRealism | None = None,
    rtol: float = 1e-8,
    cache_dir: str = "",
    progress: Callable[[str], None] | None = print,
) -> pathlib.Path:
    """Writes (once) a synthetic FaceWarehouse-like dataset in the real layout; returns its root.

    Steps and files in the module docstring; :func:`aujax.datasets.read_facewarehouse` reads it.

    Args:
        root: output folder (None: ``{cache}/datasets/facewarehouse_synthetic_{S}s{E}e{P}p_{N}v_
            seed{seed}{TEMPLATE_TAG}`` under :func:`aujax.datasets.cache_root`, with a hash of the
            names after ``{E}e`` for an ``expressions`` list other than the default's first E). A
            root whose ``synthetic/COMPLETE`` records the same settings is returned as it is; an
            incomplete one (interrupted) is generated again.
        n_subjects: subjects ``Tester_1``..``Tester_S`` (FaceWarehouse: 150).
        n_expressions: meshes per subject, the first of :data:`FACEWAREHOUSE_EXPRESSIONS`
            (default all 47: the neutral and 46 blendshapes).
        expressions: instead, the names of the meshes (``"neutral"`` first).
        n_poses: training poses written as ``Tester_k/TrainingPose/pose_j.obj``, the first of
            :data:`FACEWAREHOUSE_POSES` (0: no ``TrainingPose`` folder; FaceWarehouse: 20).
        seed: the one seed of the subjects' draws and of the template's identity basis.
        n_vertices: mesh resolution of the template (the Bosphorus-like data the model is
            evaluated on must use the same).
        realism: the synergy options (default :class:`aujax.synth.MuscleRealism`'s, the presets'
            realistic ones; :meth:`~aujax.synth.MuscleRealism.off`: the template's AU -> muscle
            map for every subject).
        rtol: relative force residual of every equilibrium.
        cache_dir: the cache directory when ``root`` is None ("" : ``$AUJAX_CACHE`` or
            ``~/.cache/aujax``).
        progress: called with one line per subject (None: silent).

    Returns:
        The root folder.

    Raises:
        ValueError: bad sizes or names; a ``root`` holding a complete copy made with other
            settings, or ``Tester_k`` folders beyond ``n_subjects``.
    """
    check_int("n_subjects", n_subjects, 1)
    names = _check_expressions(expressions, n_expressions)
    check_int("n_poses", n_poses, 0, len(FACEWAREHOUSE_POSES))
    poses = FACEWAREHOUSE_POSES[:n_poses]
    check_int("seed", seed, 0)
    check_int("n_vertices", n_vertices, 400, 120000)
    if realism is None:
        realism = MuscleRealism()
    elif not isinstance(realism, MuscleRealism):
        raise ValueError(f"realism must be a MuscleRealism, got {realism!r}.")
    if not rtol > 0.0:
        raise ValueError(f"rtol must be > 0, got {rtol}.")
    if root is None:
        root = (
            cache_root(cache_dir)
            / "datasets"
            / _cache_name(n_subjects, names, n_poses, n_vertices, seed)
        )
    root = pathlib.Path(root)
    gt_dir, subjects = root / "synthetic", tuple(f"Tester_{k + 1}" for k in range(n_subjects))
    settings = {
        "dataset": "facewarehouse", "template_tag": TEMPLATE_TAG, "seed": seed,
        "n_vertices_requested": n_vertices, "subjects": list(subjects), "expressions": list(names),
        "poses": list(poses), "intensity": FACEWAREHOUSE_INTENSITY,
        "realism": _jsonable(dataclasses.asdict(realism)), "rtol": rtol, "units": "cm",
    }  # fmt: skip
    done = gt_dir / "COMPLETE"
    if done.is_file():
        old = json.loads(done.read_text())
        diff = sorted(k for k in settings if old.get(k) != settings[k])
        if not diff:
            if progress is not None:
                progress(f"Using the cached synthetic FaceWarehouse-like dataset {root}.")
            return root
        raise ValueError(
            f"{root}: holds a complete synthetic FaceWarehouse-like copy made with other settings "
            f"({', '.join(diff)}); choose another root or delete it."
        )
    stale = sorted(
        p.name for p in (root.iterdir() if root.is_dir() else ())
        if p.name.startswith("Tester_") and p.name not in subjects
    )  # fmt: skip
    if stale:
        raise ValueError(
            f"{root}: holds subject folders beyond the {n_subjects} to generate ({', '.join(stale)}"
            "): read_facewarehouse would read them too; choose another root or delete them."
        )
    if progress is not None:
        progress(
            f"Generating a synthetic FaceWarehouse-like dataset ({n_subjects} subjects x "
            f"{len(names)} blendshape meshes + {len(poses)} training poses) into {root}."
        )
    timings = Timings()
    with jax.enable_x64(True):  # the physics runs in float64 whatever the caller's default
        face, model = template_model(n_vertices, seed, gt_dir)
        template_seconds = timings.elapsed()
        cast = Cast("facewarehouse", seed, 30.0, face, model, realism)
        stages = _Stages(root, cast, names, poses, rtol)
        run_pipeline(subjects, stages, timings=timings, progress=progress, noun="meshes")
    summary = save_summary(gt_dir, {
        **settings, "n_vertices": int(face.n_vertices), "n_faces": int(face.triangles.shape[0]),
        "max_residual": max(stages.residuals), "fallbacks": int(sum(stages.fallbacks)),
        "template_seconds": template_seconds,
        "seconds_per_subject": (timings.elapsed() - template_seconds) / n_subjects,
        **timings.summary(),
    })  # fmt: skip
    done.write_text(json.dumps(summary, indent=2))
    return root


def _jsonable(x):
    """A dataclasses.asdict tree with tuples as lists (as they come back from JSON)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


@dataclasses.dataclass(frozen=True)
class _Stages:
    """The pipeline stages (:func:`aujax.synth._pipeline.run_pipeline`), one subject per unit."""

    root: pathlib.Path
    cast: Cast
    expressions: tuple[str, ...]
    poses: tuple[str, ...]
    rtol: float
    residuals: list = dataclasses.field(default_factory=lambda: [0.0])
    fallbacks: list = dataclasses.field(default_factory=list)

    def simulate(self, subject: str):
        """The subject's body, the activations of every mesh and their static equilibria."""
        body = self.cast.physique(subject)
        names = self.cast.model.muscle_names
        keys = [*self.expressions, *(f"pose:{p}" for p in self.poses)]
        acts = np.stack(
            [facewarehouse_activations(k, body.synergy, body.gains, names) for k in keys]
        )
        moving = np.flatnonzero(np.any(acts > 0.0, axis=1))  # the neutrals stay at rest
        u = np.zeros((len(keys),) + body.rig.rest.shape)
        residual, fallbacks = np.zeros(len(keys)), 0
        if moving.size:
            sol = static_equilibria(body.rig, acts[moving], rtol=self.rtol)
            u[moving], residual[moving] = sol.displacements, sol.residual
            fallbacks = int(sol.fallback.sum())
        return subject, body, acts, u, residual, fallbacks

    def render(self, simulated):
        return simulated

    def write(self, rendered):
        subject, body, acts, u, residual, fallbacks = rendered
        meshes = (body.rig.rest[None] + u).astype(np.float32)
        n_e, faces = len(self.expressions), np.asarray(self.cast.face.triangles)
        write_blendshapes(
            self.root / subject / "Blendshape" / "shape.bs", meshes[:n_e], faces=faces
        )
        if self.poses:
            write_facewarehouse_poses(self.root, meshes[None, n_e:], subject_ids=[subject],
                                      faces=faces)  # fmt: skip
        np.savez_compressed(
            self.root / "synthetic" / f"{subject}.npz", identity=body.identity, gains=body.gains,
            synergy=body.synergy, activations=acts[:n_e], residual=residual[:n_e],
            expressions=np.asarray(self.expressions), pose_activations=acts[n_e:],
            pose_residual=residual[n_e:], poses=np.asarray(self.poses, dtype=str),
        )  # fmt: skip
        self.residuals.append(float(residual.max()))
        self.fallbacks.append(fallbacks)
        yield subject, len(acts)


@functools.lru_cache(maxsize=4)
def _face(n_vertices: int):
    return make_face(n_vertices)


def facewarehouse_landmark_embedding(
    *, n_vertices: int = DEFAULT_N_VERTICES["small"]
) -> tuple[np.ndarray, np.ndarray]:
    """The 68 iBUG landmarks of the synthetic mesh as the template embeds them.

    Args:
        n_vertices: the resolution the dataset was generated at (``generate_facewarehouse``'s).

    Returns:
        ``(triangles, barycentric)``: (68,) int64 triangle indices and (68, 3) float64 weights;
        landmark ``l = sum_j barycentric[l, j] * vertices[faces[triangles[l], j]]`` on any mesh of
        the dataset (:func:`aujax.face.landmarks_from_vertices`).
    """
    face = _face(n_vertices)
    return (
        np.asarray(face.landmark_triangles, dtype=np.int64),
        np.asarray(face.landmark_barycentric, dtype=np.float64),
    )


def facewarehouse_landmark_vertices(*, n_vertices: int = DEFAULT_N_VERTICES["small"]) -> np.ndarray:
    """The 68 iBUG landmarks of the synthetic mesh as vertex indices ("i in L" of seed 004, eq. 7).

    Landmark l is the vertex of its embedding triangle with the largest barycentric weight
    (:func:`facewarehouse_landmark_embedding`): on the lid and lip slits, whose vertices are
    duplicated, it stays on the landmark's own side (upper or lower lid / lip) and follows it
    through every expression. The vertex lies within its triangle's longest edge of the embedded
    point (at 664 vertices at most 0.95 cm, grid spacing 0.72 cm): use the embedding where that
    matters.

    Args:
        n_vertices: the resolution the dataset was generated at.

    Returns:
        (68,) int64 vertex indices, in iBUG order (REFERENCE §10). For a real FaceWarehouse copy
        (11,510 vertices) the indices are not known here: the caller supplies them.
    """
    face = _face(n_vertices)
    tris, bary = facewarehouse_landmark_embedding(n_vertices=n_vertices)
    corners = np.asarray(face.triangles)[tris]  # (68, 3)
    return corners[np.arange(68), np.argmax(bary, axis=1)].astype(np.int64)


def central_face_vertices(*, n_vertices: int = DEFAULT_N_VERTICES["small"]) -> np.ndarray:
    """The "central face" of the synthetic mesh, for the metrics of seed 004 (eqs. 14-15).

    Rule: the vertices whose neutral template position, seen from the front (x, y), lies inside
    the closed outer contour of the 68 iBUG landmarks: the jaw line from the right ear end over
    the chin to the left (points 0..16), then back along the top of the brows from the left outer
    corner to the right one (points 26..17). It keeps the brows' lower half, eyes, nose, cheeks,
    mouth and chin; it drops the forehead above the brows, the strips beyond the jaw contour
    toward the ears and below the chin toward the neck: the outline of the template, which
    continues into scalp, ears and neck (``bone_weights`` 1 there) and which a scan or a fit
    captures worst. The "whole face" is every vertex. The rule is evaluated once on the template,
    so every subject and expression uses the same vertices.

    Args:
        n_vertices: the resolution the dataset was generated at.

    Returns:
        (k,) int64 sorted vertex indices.
    """
    face = _face(n_vertices)
    v = np.asarray(face.vertices, dtype=np.float64)
    tris, bary = facewarehouse_landmark_embedding(n_vertices=n_vertices)
    lm = np.einsum("lj,ljd->ld", bary, v[np.asarray(face.triangles)[tris]])
    polygon = lm[[*range(17), *range(26, 16, -1)], :2]
    return np.flatnonzero(_inside(v[:, :2], polygon)).astype(np.int64)


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(p,) bool: points (p, 2) inside the closed polygon (q, 2), even-odd rule."""
    x, y = points[:, 0:1], points[:, 1:2]  # (p, 1)
    a, b = polygon[None], np.roll(polygon, -1, axis=0)[None]  # (1, q, 2)
    crosses = (a[..., 1] > y) != (b[..., 1] > y)
    dy = np.where(b[..., 1] == a[..., 1], 1.0, b[..., 1] - a[..., 1])
    x_at = a[..., 0] + (y - a[..., 1]) * (b[..., 0] - a[..., 0]) / dy
    return np.sum(crosses & (x < x_at), axis=1) % 2 == 1
