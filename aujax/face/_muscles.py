"""Facial muscles: the distribution matrix P (seed 001, eq. 1) and pull directions d (DESIGN §3.3).

Each muscle m gives, at every vertex i of a face,

* an influence ``p[i, m]`` in [0, 1] — the muscle's effective area (seed 001, Fig. 2), a field of the
  face's parameter plane, so it is the same at every mesh resolution;
* the distribution matrix ``P[i, m] = A_i p[i, m] / sum_j A_j p[j, m]`` with ``A_i`` the lumped vertex
  area: the share of muscle m's force that vertex i receives. Its columns sum to 1, so an activation
  ``a_m`` is the muscle's total force and the nodal force ``f_i = sum_m a_m P[i, m] d[i, m]`` (seed 001,
  eq. 1 in directed form) converges as the mesh is refined;
* a unit pull direction ``d[i, m]`` (toward the bony attachment for linear muscles, toward the
  centre for sphincters, along the fibres for sheets, tangent to the rotation for the jaw).

Muscle geometry follows REFERENCE §6: Waters' linear muscle (1987 form with the smooth angular
factor cos(mu/Omega * pi/2)), the Parke–Waters elliptic sphincter (with a ring variant for the
orbital part of orbicularis oculi), sheets of parallel fibres, and a hinge actuator for the jaw.
Left and right muscles are separate (suffixes ``_r``/``_l``; "right" is the subject's right, x < 0).
"""

import dataclasses
from typing import Final, Literal

import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float

from . import _geometry_spec as spec
from ._template import (
    FaceTemplate,
    is_procedural,
    reference_vertices,
    vertex_deformation_gradients,
)


@dataclasses.dataclass(frozen=True)
class MuscleSpec:
    """Geometry of one (right-side or midline) muscle in parameter-plane coordinates (cm).

    Attributes:
      name: base name; paired muscles get ``_r``/``_l`` suffixes.
      kind: "linear" (Waters), "sheet", "sphincter", "lid" (levator palpebrae) or "hinge" (jaw).
      origin: (x, y) of the bony attachment (linear), the fibre origin (sheet), or the centre
        (sphincter, lid). Right-side value (x <= 0).
      insertion: (x, y) of the skin insertion (linear, sheet).
      depth: how far below the skin surface the attachment lies (linear), or the inward component
        of the pull (sphincter, lid).
      angle: half-angle of the zone of influence in degrees (linear).
      reach: R_f / R_s, how far past the insertion the influence extends (linear), or the fall-off
        length past the insertion in cm (sheet).
      axes: (l_x, l_y) semi-axes of a sphincter, or (half width, -) of a sheet.
      profile: sphincter profile: "parke" (1 - rho), "ring" (peaks mid-way) or "ring_lower" (ring with
        the lower arc weighted, for the cheek raiser).
      pull: sphincter pull: "centre" (toward the centre) or "vertical" (toward the slit line).
      slit_side: +1 acts only above the mouth slit, -1 only below it, 0 both.
      tangential: pull along the skin surface (superficial muscles that run in the fascia, whose
        straight line to the bony origin would cut through the head): the direction toward the
        attachment with its normal component removed.
      paired: whether a mirrored left copy exists.
    """

    name: str
    kind: Literal["linear", "sheet", "sphincter", "lid", "hinge"]
    origin: tuple[float, float] = (0.0, 0.0)
    insertion: tuple[float, float] = (0.0, 0.0)
    depth: float = 0.0
    angle: float = 25.0
    reach: float = 1.3
    axes: tuple[float, float] = (1.0, 1.0)
    profile: str = "parke"
    pull: str = "centre"
    slit_side: int = 0
    tangential: bool = False
    paired: bool = True


MUSCLE_SPECS: Final = (
    MuscleSpec(
        "frontalis_medial",
        "sheet",
        origin=(-1.5, 8.5),
        insertion=(-1.5, 3.3),
        axes=(1.4, 0.0),
        reach=0.6,
    ),
    MuscleSpec(
        "frontalis_lateral",
        "sheet",
        origin=(-4.1, 8.0),
        insertion=(-4.1, 3.5),
        axes=(1.5, 0.0),
        reach=0.6,
    ),
    MuscleSpec(
        "corrugator",
        "linear",
        origin=(-0.7, 2.7),
        insertion=(-2.6, 3.55),
        depth=0.8,
        angle=30.0,
        reach=1.35,
    ),
    MuscleSpec(
        "depressor_supercilii",
        "linear",
        origin=(-0.8, 1.2),
        insertion=(-1.4, 3.3),
        depth=0.8,
        angle=25.0,
        reach=1.3,
    ),
    MuscleSpec(
        "orbicularis_oculi_orbital",
        "sphincter",
        origin=(-3.1, 1.7),
        axes=(3.0, 2.4),
        profile="ring_lower",
        depth=0.15,
    ),
    MuscleSpec(
        "orbicularis_oculi_palpebral",
        "sphincter",
        origin=(-3.1, 1.8),
        axes=(1.9, 1.05),
        profile="parke",
        depth=0.1,
    ),
    MuscleSpec("levator_palpebrae", "lid", origin=(-3.1, 1.8), depth=0.25),
    MuscleSpec(
        "levator_labii_alaeque_nasi",
        "linear",
        origin=(-0.8, 1.0),
        insertion=(-1.45, -3.2),
        tangential=True,
        depth=0.6,
        angle=22.0,
        reach=1.35,
        slit_side=1,
    ),
    MuscleSpec(
        "levator_labii_superioris",
        "linear",
        origin=(-2.3, -0.6),
        insertion=(-1.4, -4.9),
        tangential=True,
        depth=0.6,
        angle=25.0,
        reach=1.25,
        slit_side=1,
    ),
    MuscleSpec(
        "zygomaticus_major",
        "linear",
        origin=(-5.6, -0.3),
        insertion=(-2.55, -5.5),
        tangential=True,
        depth=0.8,
        angle=22.0,
        reach=1.3,
    ),
    MuscleSpec(
        "buccinator",
        "linear",
        origin=(-4.6, -5.4),
        insertion=(-2.5, -5.6),
        depth=2.5,
        angle=25.0,
        reach=1.3,
    ),
    MuscleSpec(
        "depressor_anguli_oris",
        "linear",
        origin=(-3.4, -9.4),
        insertion=(-2.5, -5.8),
        tangential=True,
        depth=0.5,
        angle=22.0,
        reach=1.2,
    ),
    MuscleSpec(
        "mentalis",
        "linear",
        origin=(-0.5, -7.2),
        insertion=(-0.6, -9.2),
        depth=0.8,
        angle=35.0,
        reach=1.2,
        slit_side=-1,
    ),
    MuscleSpec(
        "risorius",
        "linear",
        origin=(-6.4, -5.0),
        insertion=(-2.55, -5.6),
        depth=1.0,
        angle=15.0,
        reach=1.2,
        tangential=True,
    ),
    MuscleSpec(
        "depressor_labii_inferioris",
        "linear",
        origin=(-1.9, -9.0),
        insertion=(-0.9, -6.15),
        tangential=True,
        depth=0.5,
        angle=25.0,
        reach=1.3,
        slit_side=-1,
    ),
    MuscleSpec(
        "orbicularis_oris_peripheral",
        "sphincter",
        origin=(0.0, spec.Y_MOUTH),
        axes=(3.0, 1.6),
        profile="parke",
        depth=0.3,
    ),
    MuscleSpec(
        "orbicularis_oris_marginal",
        "sphincter",
        origin=(0.0, spec.Y_MOUTH),
        axes=(2.7, 1.1),
        profile="parke",
        pull="vertical",
        depth=0.35,
    ),
    MuscleSpec("jaw", "hinge", paired=False),
)


def muscle_names() -> tuple[str, ...]:
    """Names of all muscles in column order of P: each pair as (_r, _l), then unpaired ones."""
    out = []
    for s in MUSCLE_SPECS:
        out += [s.name + "_r", s.name + "_l"] if s.paired else [s.name]
    return tuple(out)


@struct.dataclass
class MuscleSet:
    """The muscles of one face.

    Attributes:
      influence: (n, m) effective-area field p in [0, 1].
      distribution: (n, m) distribution matrix P (seed 001, eq. 1); columns sum to 1.
      directions: (n, m, 3) unit pull directions d.
      names: muscle names (static), one per column.
    """

    influence: Float[Array, "n m"]
    distribution: Float[Array, "n m"]
    directions: Float[Array, "n m 3"]
    names: tuple[str, ...] = struct.field(pytree_node=False, default=())

    @property
    def n_muscles(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Column of a muscle by name; raises a ValueError naming the unknown muscle."""
        if name not in self.names:
            raise ValueError(f"unknown muscle {name!r}; expected one of {self.names}")
        return self.names.index(name)


def vertex_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Lumped vertex areas: one third of the areas of the adjacent triangles, shape (n,)."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    a = 0.5 * np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1)
    return np.bincount(t.ravel(), weights=np.repeat(a / 3.0, 3), minlength=v.shape[0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _surface_point(x: float, y: float) -> np.ndarray:
    return np.array([x, y, float(spec.height(np.array(x), np.array(y)))])


def _surface_normals(xy: np.ndarray) -> np.ndarray:
    """Unit normals of the neutral height field at parameter positions, shape (n, 3)."""
    e = 1e-3
    dzdx = (spec.height(xy[:, 0] + e, xy[:, 1]) - spec.height(xy[:, 0] - e, xy[:, 1])) / (2 * e)
    dzdy = (spec.height(xy[:, 0], xy[:, 1] + e) - spec.height(xy[:, 0], xy[:, 1] - e)) / (2 * e)
    return _unit(np.stack([-dzdx, -dzdy, np.ones_like(dzdx)], axis=1))


def _linear(s: MuscleSpec, pos: np.ndarray):
    """Waters' linear muscle (REFERENCE §6.1, smooth angular factor)."""
    ins = _surface_point(*s.insertion)
    att = _surface_point(*s.origin) - np.array([0.0, 0.0, s.depth])
    axis = ins - att
    r_s = np.linalg.norm(axis)
    r_f = s.reach * r_s
    vb = pos - att
    dist = np.linalg.norm(vb, axis=1)
    cosmu = vb @ axis / np.maximum(dist * r_s, 1e-12)
    mu = np.arccos(np.clip(cosmu, -1.0, 1.0))
    omega = np.deg2rad(s.angle)
    ang = np.where(mu < omega, np.cos(mu / omega * np.pi / 2.0), 0.0)
    rad = np.where(
        dist <= r_s,
        np.cos((1.0 - dist / r_s) * np.pi / 2.0),
        np.where(dist <= r_f, np.cos((dist - r_s) / (r_f - r_s) * np.pi / 2.0), 0.0),
    )
    return ang * rad, _unit(att[None] - pos)


def _sheet(s: MuscleSpec, pos: np.ndarray, xy: np.ndarray):
    """Sheet of parallel fibres (REFERENCE §6.4): cos(pi s / W) sin(pi t / 2L), pull toward origin."""
    (x0, y_top), (_, y_ins) = s.origin, s.insertion
    half_w = s.axes[0]
    length = y_top - y_ins
    lat = xy[:, 0] - x0
    t = y_top - xy[:, 1]
    across = np.where(np.abs(lat) < half_w, np.cos(np.pi * lat / (2.0 * half_w)), 0.0)
    along = np.where(
        t <= length,
        np.sin(np.pi * np.clip(t, 0.0, None) / (2.0 * length)),
        np.where(t <= length + s.reach, np.cos((t - length) / s.reach * np.pi / 2.0), 0.0),
    )
    # fibres run up the forehead surface: tangent of the height field along y
    dzdy = (spec.height(xy[:, 0], xy[:, 1] + 1e-3) - spec.height(xy[:, 0], xy[:, 1] - 1e-3)) / 2e-3
    d = _unit(np.stack([np.zeros_like(dzdy), np.ones_like(dzdy), dzdy], axis=1))
    return across * along, d


def _sphincter(s: MuscleSpec, pos: np.ndarray, xy: np.ndarray, mouth_side: np.ndarray):
    """Parke–Waters elliptic sphincter (REFERENCE §6.3), with ring and vertical-pull variants."""
    cx, cy = s.origin
    lx, ly = s.axes
    px, py = pos[:, 0] - cx, pos[:, 1] - cy
    rho = np.sqrt((px / lx) ** 2 + (py / ly) ** 2)
    inside = rho < 1.0
    if s.profile == "parke":
        f = np.where(inside, 1.0 - rho, 0.0)
    else:
        f = np.where(inside, np.sin(np.pi * np.clip(rho, 0.0, 1.0)) ** 0.7, 0.0)
        if s.profile == "ring_lower":
            f = f * (0.25 + 0.75 / (1.0 + np.exp(py / 0.5)))
    if s.pull == "vertical":
        sgn = np.where(mouth_side != 0, mouth_side, np.sign(py))
        d = np.stack([np.zeros_like(px), -sgn, -s.depth * np.ones_like(px)], axis=1)
    else:
        d = np.stack([-px, -py, -s.depth * np.hypot(px / lx * ly, py)], axis=1)
    return f, _unit(d)


def _lid(s: MuscleSpec, pos: np.ndarray, xy: np.ndarray, eye_side: np.ndarray):
    """Levator palpebrae superioris: lifts the upper lid (its aponeurosis, not a skin muscle)."""
    cx, _ = s.origin
    half = (spec.EYE_OUTER - spec.EYE_INNER) / 2.0 + 0.3
    across = np.where(
        np.abs(xy[:, 0] - cx) < half, np.cos(np.pi * (xy[:, 0] - cx) / (2 * half)), 0.0
    )
    above = (xy[:, 1] > spec.Y_EYE) | (eye_side > 0)
    rise = np.clip(xy[:, 1] - spec.Y_EYE, 0.0, None)
    f = np.where(above, across * np.exp(-rise / 0.45) * (rise < 1.3), 0.0)
    d = _unit(np.tile(np.array([0.0, 1.0, -s.depth]), (pos.shape[0], 1)))
    return f, d


def _hinge(pos: np.ndarray, jaw_weights: np.ndarray, bone_weights: np.ndarray):
    """Jaw rotation about the temporomandibular axis (along +x through `JAW_PIVOT`).

    Rotating the mandible by a small angle theta moves the anchor targets of the skin tied to it by
    theta * jaw_i * (e_x x r_i); the anchor springs then pull with k_i * theta * jaw_i * (e_x x r_i),
    k_i proportional to bone weight times area. The jaw is therefore a force field with influence
    jaw_i * bone_i * |r_i| (normalised) along the rotation tangent: exactly a rotated bone anchor.
    """
    r = pos - spec.JAW_PIVOT[None]
    d = np.stack([np.zeros(pos.shape[0]), -r[:, 2], r[:, 1]], axis=1)  # e_x cross r
    f = jaw_weights * bone_weights * np.linalg.norm(d, axis=1)
    return f / f.max(), _unit(d)


def make_muscles(face: FaceTemplate, *, vertices: np.ndarray | None = None) -> MuscleSet:
    """Builds the muscles of a face (on its neutral or an identity-deformed rest shape).

    On the procedural template the muscle attachments, sphincter centres and the jaw hinge are
    fixed points of its frame (`_geometry_spec`), and zones and directions are evaluated at the
    rest positions. A re-shaped template (calibrated to human proportions,
    `aujax.face.calibrate_template`) keeps the procedural anatomy instead of sliding its features
    under fixed attachments: the muscles are laid out on the procedural rest positions of the same
    vertices (`reference_vertices`), where the layout is exact, and carried to the actual ones —
    influence fields kept (they belong to the vertices), each pull direction mapped by the
    per-vertex deformation gradient (`vertex_deformation_gradients`) and renormalised, the
    distribution matrix recomputed with the actual vertex areas.

    Args:
      face: the template (topology, parameter plane, jaw weights).
      vertices: optional (n, 3) rest positions of a subject (defaults to the template's). On the
        procedural template the zones and directions are evaluated on these positions; on a
        re-shaped template the muscles are carried to them.

    Returns:
      A `MuscleSet` with M = 35 muscles.
    """
    pos = np.asarray(face.vertices if vertices is None else vertices, dtype=np.float64)
    if pos.shape != tuple(face.vertices.shape):
        raise ValueError(f"vertices must have shape {tuple(face.vertices.shape)}, got {pos.shape}")
    if not is_procedural(face):
        return _carried_muscles(face, pos)
    return _laid_out_muscles(face, pos)


def _carried_muscles(face: FaceTemplate, pos: np.ndarray) -> MuscleSet:
    """The muscles of the procedural rest shape carried to ``pos`` (see `make_muscles`)."""
    ref = reference_vertices(face)
    muscles = _laid_out_muscles(face, ref)
    grad = vertex_deformation_gradients(ref, pos, np.asarray(face.triangles))
    d = np.einsum("nij,nmj->nmi", grad, np.asarray(muscles.directions, dtype=np.float64))
    d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    influence = np.asarray(muscles.influence, dtype=np.float64)
    dist = vertex_areas(pos, np.asarray(face.triangles))[:, None] * influence
    dist = dist / dist.sum(0, keepdims=True)
    return MuscleSet(
        influence=muscles.influence,
        distribution=jnp.asarray(dist),
        directions=jnp.asarray(d),
        names=muscles.names,
    )


def _laid_out_muscles(face: FaceTemplate, pos: np.ndarray) -> MuscleSet:
    """Muscle zones and directions evaluated at rest positions ``pos`` (n, 3) in the procedural
    frame."""
    xy = np.asarray(face.param_xy, dtype=np.float64)
    side = np.asarray(face.slit_side)
    on_mouth = np.abs(xy[:, 1] - spec.Y_MOUTH) < 1e-9
    in_mouth_x = np.abs(xy[:, 0]) < spec.MOUTH_HALF
    mouth_side = np.where(on_mouth, side, np.sign(xy[:, 1] - spec.Y_MOUTH)) * in_mouth_x
    eye_side = np.where(np.abs(xy[:, 1] - spec.Y_EYE) < 1e-9, side, 0)
    tpos = pos

    infl, dirs, names = [], [], []
    for s in MUSCLE_SPECS:
        for suffix, sgn in (("_r", 1.0), ("_l", -1.0)) if s.paired else (("", 1.0),):
            # evaluate the right-side muscle on the mirrored face for the left copy
            m = np.array([sgn, 1.0, 1.0])
            p_t, p_xy = tpos * m, xy * m[:2]
            if s.kind == "linear":
                f, d = _linear(s, p_t)
                if s.tangential:
                    nrm = _surface_normals(p_xy)
                    d = _unit(d - np.sum(d * nrm, axis=1, keepdims=True) * nrm)
            elif s.kind == "sheet":
                f, d = _sheet(s, p_t, p_xy)
            elif s.kind == "sphincter":
                f, d = _sphincter(s, p_t, p_xy, mouth_side)
                if s.paired:  # halves of a midline sphincter: split smoothly at the midline
                    f = f / (1.0 + np.exp(p_xy[:, 0] / 0.15)) if s.origin[0] == 0.0 else f
            elif s.kind == "lid":
                f, d = _lid(s, p_t, p_xy, eye_side)
            else:
                f, d = _hinge(tpos, np.asarray(face.jaw_weights), np.asarray(face.bone_weights))
            if s.slit_side:
                f = f * (mouth_side != -s.slit_side)
            d = d * m[None]
            infl.append(np.clip(f, 0.0, 1.0))
            dirs.append(d)
            names.append(s.name + suffix)
    infl = np.stack(infl, axis=1)
    if np.any(infl.sum(0) <= 0):
        empty = [n for n, z in zip(names, infl.sum(0) <= 0, strict=True) if z]
        raise RuntimeError(f"muscles with no vertices at this resolution: {empty}")
    area = vertex_areas(pos, np.asarray(face.triangles))
    dist = area[:, None] * infl
    dist = dist / dist.sum(0, keepdims=True)
    return MuscleSet(
        influence=jnp.asarray(infl),
        distribution=jnp.asarray(dist),
        directions=jnp.asarray(np.stack(dirs, axis=1)),
        names=tuple(names),
    )
