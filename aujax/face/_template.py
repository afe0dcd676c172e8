"""The procedural neutral face: a deterministic mesh at any requested resolution (DESIGN §3.1)."""

from typing import Final

import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float, Int

from . import _geometry_spec as spec
from ._landmarks import LANDMARK_SIDES, landmark_targets


MIN_VERTICES: Final = 400
MAX_VERTICES: Final = 120_000

REGION_NAMES: Final = (
    "forehead",
    "brow_r",
    "brow_l",
    "glabella",
    "lid_upper_r",
    "lid_upper_l",
    "lid_lower_r",
    "lid_lower_l",
    "nose",
    "cheek_r",
    "cheek_l",
    "lip_upper",
    "lip_lower",
    "chin",
    "jaw_r",
    "jaw_l",
)
SLIT_NAMES: Final = ("eye_r", "eye_l", "mouth")


@struct.dataclass
class FaceTemplate:
    """A neutral face mesh with its anatomical annotations.

    Attributes:
      vertices: (n, 3) rest positions in cm (model frame, DESIGN §2).
      triangles: (f, 3) vertex indices, counter-clockwise seen from +z (front).
      param_xy: (n, 2) parameter-plane coordinates before the apertures open; fields defined on the
        face (muscles, identity, albedo) are functions of these, so they do not depend on resolution.
      regions: (n,) index into `REGION_NAMES`.
      bone_weights: (n,) in [0, 1]: how firmly skin is tied to bone (forehead, nose bridge, zygoma,
        chin high; cheeks, lids and lips low; the outline, which continues into scalp and neck, 1).
      jaw_weights: (n,) in [0, 1]: skinning weight of the mandible (1 on the lower lip and chin, 0 on
        the upper face); the lower lip and upper lip are separated by the mouth slit.
      slit_side: (n,) +1 on upper copies of slit vertices, -1 on lower copies, 0 elsewhere.
      slit_pairs: (k, 2) (upper, lower) vertex indices duplicated along the slits.
      slit_id: (k,) index into `SLIT_NAMES` for each pair.
      landmark_triangles: (68,) triangle index of each iBUG-68 landmark.
      landmark_barycentric: (68, 3) barycentric weights in that triangle.
      grid_spacing: nominal edge length h in cm (static).
      seed: the seed the template was made with (static).
    """

    vertices: Float[Array, "n 3"]
    triangles: Int[Array, "f 3"]
    param_xy: Float[Array, "n 2"]
    regions: Int[Array, " n"]
    bone_weights: Float[Array, " n"]
    jaw_weights: Float[Array, " n"]
    slit_side: Int[Array, " n"]
    slit_pairs: Int[Array, "k 2"]
    slit_id: Int[Array, " k"]
    landmark_triangles: Int[Array, " 68"]
    landmark_barycentric: Float[Array, "68 3"]
    grid_spacing: float = struct.field(pytree_node=False, default=0.0)
    seed: int = struct.field(pytree_node=False, default=0)

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def boundary(self) -> np.ndarray:
        """Indices of the vertices on the outline of the face domain."""
        return boundary_vertices(np.asarray(self.triangles), self.n_vertices)

    def region_mask(self, name: str) -> np.ndarray:
        """Boolean (n,) mask of one region; raises for unknown names."""
        if name not in REGION_NAMES:
            raise ValueError(f"region {name!r} is unknown; expected one of {REGION_NAMES}")
        return np.asarray(self.regions) == REGION_NAMES.index(name)


def boundary_vertices(triangles: np.ndarray, n: int) -> np.ndarray:
    """Vertices on boundary edges (edges used by one triangle), sorted; includes aperture rims."""
    e = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), 1
    )
    key = e[:, 0].astype(np.int64) * n + e[:, 1]
    uniq, counts = np.unique(key, return_counts=True)
    b = uniq[counts == 1]
    return np.unique(np.concatenate([b // n, b % n]))


def _piecewise_axis(n: int, anchors: list[tuple[float, float]]) -> np.ndarray:
    """n values on a grid axis, piecewise linear through (fractional index, value) anchors."""
    idx, val = zip(*anchors, strict=True)
    return np.interp(np.arange(n, dtype=np.float64), np.asarray(idx), np.asarray(val))


def _snap(targets: list[float], n: int, lo: float, hi: float) -> list[int]:
    """Nearest grid indices of increasing targets in [lo, hi], forced strictly increasing."""
    out = []
    for t in targets:
        i = int(round((t - lo) / (hi - lo) * (n - 1)))
        if out and i <= out[-1]:
            i = out[-1] + 1
        out.append(i)
    if out[-1] >= n - 1:
        raise ValueError("grid too coarse to place the face's features; raise n_vertices")
    return out


def _build_grid(h: float):
    n_rows = int(round((spec.Y_TOP - spec.Y_BOTTOM) / h)) + 1
    j_m, j_e = _snap([spec.Y_MOUTH, spec.Y_EYE], n_rows, spec.Y_BOTTOM, spec.Y_TOP)
    ys = _piecewise_axis(
        n_rows,
        [(0, spec.Y_BOTTOM), (j_m, spec.Y_MOUTH), (j_e, spec.Y_EYE), (n_rows - 1, spec.Y_TOP)],
    )
    w_e = float(spec.half_width(spec.Y_EYE))
    w_m = float(spec.half_width(spec.Y_MOUTH))
    s_targets = sorted(
        [spec.EYE_INNER / w_e, spec.MOUTH_HALF / w_m, spec.EYE_OUTER / w_e]
    )  # in (0, 1)
    half = int(round(float(spec.half_width(0.0)) / h))
    half = max(half, 4)
    n_cols = 2 * half + 1
    pos = _snap(s_targets, half + 1, 0.0, 1.0)
    anchors = [(half - p, -s) for p, s in zip(pos[::-1], s_targets[::-1], strict=True)]
    anchors = [(0, -1.0)] + anchors + [(half, 0.0)]
    anchors += [(half + p, s) for p, s in zip(pos, s_targets, strict=True)] + [(n_cols - 1, 1.0)]
    ss = _piecewise_axis(n_cols, anchors)
    col_of = {s: half + p for s, p in zip(s_targets, pos, strict=True)}
    return ys, ss, j_e, j_m, col_of, w_e, w_m


def make_face(n_vertices: int = 5000, *, seed: int = 0, calibrated: bool = True) -> FaceTemplate:
    """Builds the neutral face at about `n_vertices` vertices, calibrated to human proportions
    (the procedural face as built with ``calibrated=False``).

    The face is a height field over an egg-shaped domain (`_geometry_spec`), meshed by a grid whose
    rows and columns are warped so that the eye and mouth slits lie on grid lines; vertices on the
    slits are duplicated (upper and lower copies) and the slits are opened into lid and lip
    apertures, so lids close, lips part and the jaw drops without tearing the mesh.

    Args:
      n_vertices: requested vertex count, in [400, 120000]; the result is within a few percent.
      seed: recorded on the template; the geometry itself is deterministic in `n_vertices`
        (the seed drives the smooth residual identity modes, `identity_basis`).
      calibrated: warp the procedural face to human proportions (MediaPipe's canonical face model,
        `calibrate_template` with its defaults, see `docs/face_calibration.md`); same topology
        and annotations. True (the default since issue 16) for everything aujax builds: the
        synthetic world, the methods' templates and `aujax detect`. False gives the procedural
        height-field face the calibration starts from.

    Returns:
      A `FaceTemplate`.

    Raises:
      ValueError: if `n_vertices` is out of range or not an integer.
    """
    if isinstance(n_vertices, bool) or not isinstance(n_vertices, int | np.integer):
        raise ValueError(f"n_vertices must be an int, got {type(n_vertices).__name__}")
    if not MIN_VERTICES <= n_vertices <= MAX_VERTICES:
        raise ValueError(
            f"n_vertices={n_vertices} is out of range; expected {MIN_VERTICES}..{MAX_VERTICES}"
        )
    # Vertex count ~ C / h^2; calibrate C on one trial build, then build for real.
    h = float(np.sqrt(260.0 / n_vertices))
    for _ in range(3):
        ys, ss, *_ = _build_grid(h)
        count = ys.size * ss.size
        if abs(count - n_vertices) / n_vertices < 0.02:
            break
        h *= float(np.sqrt(count / n_vertices))
    face = _make_face_at(h, seed)
    if calibrated:
        from ._calibration import calibrate_template  # imports this module

        face = calibrate_template(face)
    return face


def _make_face_at(h: float, seed: int) -> FaceTemplate:
    ys, ss, j_e, j_m, col_of, w_e, w_m = _build_grid(h)
    n_rows, n_cols = ys.size, ss.size
    half = n_cols // 2
    jj, ii = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    y = ys[jj].ravel()
    x = (ss[ii] * spec.half_width(ys[jj])).ravel()
    base_id = (jj * n_cols + ii).astype(np.int64)

    # slits: (row, first col, last col, slit id); interior columns are duplicated
    c_ei = col_of[spec.EYE_INNER / w_e]
    c_eo = col_of[spec.EYE_OUTER / w_e]
    c_mh = col_of[spec.MOUTH_HALF / w_m]
    slits = [
        (j_e, 2 * half - c_eo, 2 * half - c_ei, 0),  # subject's right eye: negative x
        (j_e, c_ei, c_eo, 1),
        (j_m, 2 * half - c_mh, c_mh, 2),
    ]
    n_base = n_rows * n_cols
    lower_copy = {}  # base id -> lower copy id
    pairs, pair_slit = [], []
    for row, c0, c1, sid in slits:
        for c in range(c0 + 1, c1):
            b = row * n_cols + c
            lower_copy[b] = n_base + len(pairs)
            pairs.append((b, lower_copy[b]))
            pair_slit.append(sid)
    pairs = np.asarray(pairs, dtype=np.int64)
    dup = pairs[:, 1] - n_base
    px = np.concatenate([x, x[pairs[:, 0]]])
    py = np.concatenate([y, y[pairs[:, 0]]])
    side = np.zeros(px.size, dtype=np.int64)
    side[pairs[:, 0]] = 1
    side[n_base + dup] = -1

    tris = []
    for j in range(n_rows - 1):
        for i in range(n_cols - 1):
            a, b = base_id[j, i], base_id[j, i + 1]
            c, d = base_id[j + 1, i + 1], base_id[j + 1, i]
            # the top corners of a cell below a slit row use the lower copies
            c = lower_copy.get(int(c), int(c))
            d = lower_copy.get(int(d), int(d))
            if i < half:
                tris += [(a, b, c), (a, c, d)]
            else:
                tris += [(a, b, d), (b, c, d)]
    tris = np.asarray(tris, dtype=np.int64)

    wy = py + spec.opening_offset(px, py, side.astype(np.float64))
    vz = spec.height(px, wy)
    vertices = np.stack([px, wy, vz], axis=1)

    regions = _regions(px, py, wy, side)
    jaw = _jaw_weights(px, py, side, tris)
    bone = _bone_weights(px, py, regions)
    bnd = boundary_vertices(tris, px.size)
    rims = np.zeros(px.size, dtype=bool)
    rims[pairs.ravel()] = True
    outline = bnd[~rims[bnd]]
    # aperture corners are boundary vertices too but are not on the outline
    outline = outline[
        (np.abs(px[outline]) >= 0.999 * spec.half_width(py[outline]))
        | (py[outline] <= spec.Y_BOTTOM + 1e-9)
        | (py[outline] >= spec.Y_TOP - 1e-9)
    ]
    bone[outline] = 1.0

    lmk_tri, lmk_bary = _locate_landmarks(vertices[:, :2], py, tris, side, pairs)
    return FaceTemplate(
        vertices=jnp.asarray(vertices),
        triangles=jnp.asarray(tris, dtype=jnp.int32),
        param_xy=jnp.asarray(np.stack([px, py], axis=1)),
        regions=jnp.asarray(regions, dtype=jnp.int32),
        bone_weights=jnp.asarray(bone),
        jaw_weights=jnp.asarray(jaw),
        slit_side=jnp.asarray(side, dtype=jnp.int32),
        slit_pairs=jnp.asarray(pairs, dtype=jnp.int32),
        slit_id=jnp.asarray(pair_slit, dtype=jnp.int32),
        landmark_triangles=jnp.asarray(lmk_tri, dtype=jnp.int32),
        landmark_barycentric=jnp.asarray(lmk_bary),
        grid_spacing=float(h),
        seed=int(seed),
    )


def _regions(x, y, wy, side) -> np.ndarray:
    """Region label per vertex from its parameter-plane position (and slit side)."""
    ax = np.abs(x)
    right = x < 0
    r = np.full(x.size, REGION_NAMES.index("forehead"), dtype=np.int64)

    def put(mask, name_r, name_l=None):
        if name_l is None:
            r[mask] = REGION_NAMES.index(name_r)
        else:
            r[mask & right] = REGION_NAMES.index(name_r)
            r[mask & ~right] = REGION_NAMES.index(name_l)

    e = spec.jaw_ellipse_radius(x, y)
    lower = y < 2.2
    put(lower & (e <= 1.0), "cheek_r", "cheek_l")
    put(lower & (e > 1.0), "jaw_r", "jaw_l")
    put((y < spec.Y_MOUTH - 1.2) & (ax < 2.8) & (e <= 1.0), "chin")
    up = (wy > spec.Y_MOUTH) | ((wy == spec.Y_MOUTH) & (side >= 0))
    put((y >= spec.Y_MOUTH) & (y < spec.Y_MOUTH + 1.5) & (ax < 2.7) & up, "lip_upper")
    put((y <= spec.Y_MOUTH) & (y > spec.Y_MOUTH - 1.2) & (ax < 2.6) & ~up, "lip_lower")
    nose_w = 0.55 + 0.55 * np.clip((1.8 - y) / 4.6, 0.0, 1.0) + 0.9 * (y < -2.2)
    put((y < 2.2) & (y > -3.85) & (ax < nose_w), "nose")
    in_eye = (ax > spec.EYE_INNER - 0.5) & (ax < spec.EYE_OUTER + 0.5)
    eye_up = (wy > spec.Y_EYE) | ((wy == spec.Y_EYE) & (side >= 0))
    put(in_eye & (y >= spec.Y_EYE) & (y < spec.Y_EYE + 1.0) & eye_up, "lid_upper_r", "lid_upper_l")
    put(in_eye & (y <= spec.Y_EYE) & (y > spec.Y_EYE - 0.8) & ~eye_up, "lid_lower_r", "lid_lower_l")
    brow = (y >= spec.Y_EYE + 1.0) & (y < 4.4)
    put(brow & (ax >= 0.9) & (ax < 5.8), "brow_r", "brow_l")
    put(brow & (ax < 0.9), "glabella")
    return r


def _bone_weights(x, y, regions) -> np.ndarray:
    """Skin-to-bone attachment in [0, 1] as smooth fields of the parameter plane."""
    ax = np.abs(x)
    g = lambda cx, cy, sx, sy: np.exp(-0.5 * (((ax - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))
    w = 0.04 * np.ones_like(x)
    w = np.maximum(w, 0.9 / (1.0 + np.exp(-(y - 4.6) / 0.4)))  # forehead over the frontal bone
    w = np.maximum(w, 1.0 * g(0.0, 0.3, 0.55, 1.3))  # nasal bones
    w = np.maximum(w, 0.7 * g(4.9, 0.1, 1.1, 0.8))  # zygomatic arch
    w = np.maximum(w, 0.5 * g(0.0, -9.3, 1.4, 0.9))  # mental protuberance
    e = spec.jaw_ellipse_radius(x, y)
    w = np.maximum(w, 0.4 * np.exp(-0.5 * ((e - 1.0) / 0.06) ** 2) * (y < 0.0))  # mandible border
    w = np.maximum(w, 0.8 / (1.0 + np.exp(-(ax / spec.half_width(y) - 0.9) / 0.03)))  # ears
    soft = np.isin(
        regions,
        [
            REGION_NAMES.index(n)
            for n in (
                "lid_upper_r",
                "lid_upper_l",
                "lid_lower_r",
                "lid_lower_l",
                "lip_upper",
                "lip_lower",
            )
        ],
    )
    w[soft] = np.minimum(w[soft], 0.03)
    return np.clip(w, 0.0, 1.0)


def _jaw_weights(x, y, side, tris) -> np.ndarray:
    """Mandible skinning weights: a hard lower-face label, diffused along mesh edges.

    Diffusion follows the mesh, so it never crosses the mouth slit: the lower lip moves with the
    jaw and the upper lip does not. The diffusion length is fixed in cm (~0.8), independent of h.
    """
    import scipy.sparse as sp

    side = np.where(np.abs(y - spec.Y_MOUTH) < 1e-9, side, 0)  # the mouth slit only
    ax = np.abs(x)
    y_line = spec.Y_MOUTH + np.clip((ax - spec.MOUTH_HALF) / (6.5 - spec.MOUTH_HALF), 0, 1) ** 2 * (
        spec.JAW_CENTRE_Y - spec.Y_MOUTH
    )
    hard = ((y < y_line) | ((y == y_line) & (side < 0))).astype(np.float64)
    hard[(side > 0)] = 0.0
    n = x.size
    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(np.float64)
    deg = np.asarray(a.sum(1)).ravel()
    p = sp.diags(1.0 / deg) @ a
    # mean edge length ~ spacing; iterations ~ (L / h)^2 for a diffusion length L
    el = np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]]).mean()
    iters = int(np.clip((0.8 / el) ** 2, 1, 400))
    w = hard.copy()
    for _ in range(iters):
        w = 0.5 * w + 0.5 * (p @ w)
        w[side > 0] = 0.0  # the upper lip rim stays with the skull
        w[side < 0] = 1.0  # the lower lip rim moves with the mandible
    return np.clip(w, 0.0, 1.0)


def _barycentric_2d(p: np.ndarray, tri_xy: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of points p (k,2) in every triangle (f,3,2) -> (k,f,3)."""
    a, b, c = tri_xy[:, 0], tri_xy[:, 1], tri_xy[:, 2]
    v0, v1 = b - a, c - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    v2 = p[:, None, :] - a[None]
    l1 = (v2[..., 0] * v1[None, :, 1] - v1[None, :, 0] * v2[..., 1]) / den[None]
    l2 = (v0[None, :, 0] * v2[..., 1] - v2[..., 0] * v0[None, :, 1]) / den[None]
    return np.stack([1.0 - l1 - l2, l1, l2], axis=-1)


def _locate_landmarks(xy, py, tris, side, pairs):
    """Places the 68 landmarks as (triangle, barycentric) on the warped parameter plane."""
    targets = landmark_targets()
    lmk_tri = np.zeros(68, dtype=np.int64)
    lmk_bary = np.zeros((68, 3))
    tri_xy = xy[tris]
    cent_py = py[tris].mean(1)
    tri_side = np.sign(side[tris].sum(1))
    for k in range(68):
        want_side, slit_y = LANDMARK_SIDES.get(k, (0, None))
        bary = _barycentric_2d(targets[k][None], tri_xy)[0]
        score = bary.min(1)
        if want_side != 0:
            ok = (np.sign(cent_py - slit_y) == want_side) | (tri_side == want_side)
            score = np.where(ok, score, -np.inf)
        t = int(np.argmax(score))
        if score[t] < -0.05:
            raise RuntimeError(f"landmark {k} could not be placed on the mesh")
        b = np.clip(bary[t], 0.0, None)
        lmk_tri[k], lmk_bary[k] = t, b / b.sum()
    return lmk_tri, lmk_bary


def mirror_map(face: FaceTemplate) -> np.ndarray:
    """Index of each vertex's mirror image across the midline (x -> -x), shape (n,).

    The template is mirror symmetric by construction; slit copies map to copies on the same side
    of their slit.
    """
    xy = np.asarray(face.param_xy)
    side = np.asarray(face.slit_side)
    key = {
        (round(float(x), 9), round(float(y), 9), int(s)): i
        for i, (x, y, s) in enumerate(zip(xy[:, 0], xy[:, 1], side, strict=True))
    }
    out = np.empty(len(xy), dtype=np.int64)
    for i, (x, y, s) in enumerate(zip(xy[:, 0], xy[:, 1], side, strict=True)):
        j = key.get((round(-float(x), 9) + 0.0, round(float(y), 9), int(s)))
        if j is None:
            raise RuntimeError(f"vertex {i} has no mirror image; the template is not symmetric")
        out[i] = j
    return out


def reference_vertices(face: FaceTemplate) -> np.ndarray:
    """The procedural (uncalibrated) rest positions of a template's vertices, (n, 3) float64.

    Rebuilt from the parameter plane and the slit sides, as `make_face` places them: the apertures
    opened by `_geometry_spec.opening_offset`, then z from the height field. Equal to the vertices of
    the procedural template (to the rounding of its dtype) and the same for its calibrated copy.
    """
    xy = np.asarray(face.param_xy, dtype=np.float64)
    side = np.asarray(face.slit_side).astype(np.float64)
    y = xy[:, 1]
    for slit_y in (spec.Y_EYE, spec.Y_MOUTH):  # undo float32 rounding of the slit rows
        y = np.where(np.abs(y - slit_y) < 1e-5, slit_y, y)
    wy = y + spec.opening_offset(xy[:, 0], y, side)
    return np.stack([xy[:, 0], wy, spec.height(xy[:, 0], wy)], axis=1)


def is_procedural(face: FaceTemplate) -> bool:
    """Whether a template's vertices are the procedural ones (not calibrated or re-shaped)."""
    v = np.asarray(face.vertices, dtype=np.float64)
    tol = 1e-4 if face.vertices.dtype == jnp.float32 else 1e-9
    return bool(np.allclose(v, reference_vertices(face), rtol=0.0, atol=tol))


def vertex_deformation_gradients(
    reference: np.ndarray, deformed: np.ndarray, triangles: np.ndarray
) -> np.ndarray:
    """Per-vertex deformation gradient of a surface map, (n, 3, 3).

    Each triangle's gradient takes its two reference edges to the deformed edges and its unit
    normal to the deformed unit normal scaled by sqrt(area ratio) (so the normal stretches like the
    surface on average); a vertex's gradient is the area-weighted mean over its triangles.

    Args:
      reference: (n, 3) rest positions of the map's domain.
      deformed: (n, 3) positions they are mapped to.
      triangles: (f, 3) vertex indices (non-degenerate in `reference`).

    Returns:
      (n, 3, 3) gradients: the mean of the adjacent triangles' F, each with F @ (reference edge) =
      deformed edge exactly.
    """
    ref = np.asarray(reference, dtype=np.float64)
    dfm = np.asarray(deformed, dtype=np.float64)
    t = np.asarray(triangles)

    def frame(v):
        e1, e2 = v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]
        n = np.cross(e1, e2)
        area = np.linalg.norm(n, axis=1)
        return e1, e2, n / area[:, None], area

    r1, r2, rn, ra = frame(ref)
    d1, d2, dn, da = frame(dfm)
    dn = dn * np.sqrt(da / ra)[:, None]
    grad = np.stack([d1, d2, dn], axis=2) @ np.linalg.inv(np.stack([r1, r2, rn], axis=2))
    out = np.zeros((len(ref), 3, 3))
    wsum = np.zeros(len(ref))
    for k in range(3):
        np.add.at(out, t[:, k], ra[:, None, None] * grad)
        np.add.at(wsum, t[:, k], ra)
    return out / np.maximum(wsum, 1e-300)[:, None, None]
