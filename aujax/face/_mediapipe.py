"""The MediaPipe-468 face-mesh landmark scheme (REFERENCE §5.3, §10).

MediaPipe's face landmarker returns the 468 vertices of its canonical face mesh (plus 10 iris points
in the 478-point variant; drop those before calling anything here). This module holds

* the canonical model itself (`canonical_face_model`, an Apache-2.0 asset, see ``assets/NOTICE``),
* the iBUG-68 correspondence (`MEDIAPIPE_TO_IBUG68`, `ibug68_from_mediapipe`), and
* an embedding of the 468 points on a `FaceTemplate` as (triangle, barycentric) pairs
  (`mediapipe_embedding`), so MediaPipe points can be evaluated on any deformation of the template
  with `landmarks_from_vertices`, like the template's own 68 landmarks.

The canonical model's frame matches the model frame: cm, x toward the subject's left, y up, z toward
the viewer (its nose tip, vertex 4, has the largest z; the subject's right outer canthus, vertex 33,
has negative x).
"""

import functools
import pathlib
from typing import Final

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from scipy.spatial import cKDTree

from ._template import SLIT_NAMES, FaceTemplate


MEDIAPIPE_SCHEME: Final = 468
_ASSET: Final = pathlib.Path(__file__).with_name("assets") / "canonical_face_model.npz"

# The face oval (MediaPipe's FACEMESH_FACE_OVAL, as a closed loop from the forehead's midline,
# vertex 10, over the subject's left side, the chin (152) and back): the mesh's silhouette points.
MEDIAPIPE_FACE_OVAL: Final = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip

# REFERENCE §10 (after PeizhiYan/Mediapipe_2_Dlib_Landmarks): the MediaPipe vertices of each iBUG
# point; where two are listed, the iBUG point is their mean.
MEDIAPIPE_TO_IBUG68: Final[tuple[tuple[int, ...], ...]] = (
    # 0-16 jaw contour, subject's right ear -> chin -> left ear
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    # 17-21 right brow (outer -> inner), 22-26 left brow (inner -> outer)
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    # 27-30 nose bridge -> tip, 31-35 nostrils
    (168, 6), (197, 195), (5,), (4,),
    (75,), (97,), (2,), (326,), (305,),
    # 36-41 right eye, 42-47 left eye
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # 48-59 outer lip, 60-67 inner lip
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)  # fmt: skip

# MediaPipe's lid-margin and inner-lip contours (face_mesh_connections FACEMESH_*_EYE and the inner
# half of FACEMESH_LIPS), each from one corner to the other, keyed by the template's SLIT_NAMES.
_SLIT_CONTOURS: Final = {
    "eye_r": (
        (33, 246, 161, 160, 159, 158, 157, 173, 133),  # upper lid
        (33, 7, 163, 144, 145, 153, 154, 155, 133),  # lower lid
    ),
    "eye_l": (
        (263, 466, 388, 387, 386, 385, 384, 398, 362),
        (263, 249, 390, 373, 374, 380, 381, 382, 362),
    ),
    "mouth": (
        (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),  # upper inner lip
        (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),  # lower inner lip
    ),
}
_INNER68: Final = np.arange(17, 68)  # the jaw contour (0-16) is a silhouette: left out of fits


def _pair_indices() -> tuple[np.ndarray, np.ndarray]:
    a = np.array([p[0] for p in MEDIAPIPE_TO_IBUG68])
    b = np.array([p[-1] for p in MEDIAPIPE_TO_IBUG68])
    return a, b


def ibug68_from_mediapipe(points: Float[Array, "... 468 d"]) -> Float[Array, "... 68 d"]:
    """The iBUG-68 landmarks from MediaPipe-468 points (`MEDIAPIPE_TO_IBUG68`).

    Args:
      points: (..., 468, d) MediaPipe face-mesh points (numpy or jax; d is usually 2 or 3).

    Returns:
      (..., 68, d), of the same array type: one listed vertex copied, or the mean of two.

    Raises:
      ValueError: if `points` has fewer than 2 axes or axis -2 is not 468 long.
    """
    shape = getattr(points, "shape", None)
    if shape is None or len(shape) < 2 or shape[-2] != MEDIAPIPE_SCHEME:
        raise ValueError(
            f"points must have {MEDIAPIPE_SCHEME} MediaPipe landmarks on axis -2 "
            f"(shape (..., 468, d)), got shape {shape}"
        )
    a, b = _pair_indices()
    return 0.5 * (points[..., a, :] + points[..., b, :])


@functools.cache
def _load_canonical() -> tuple[np.ndarray, np.ndarray]:
    with np.load(_ASSET) as data:
        vertices = np.array(data["vertices"], dtype=np.float32)
        triangles = np.array(data["triangles"], dtype=np.int32)
    vertices.setflags(write=False)
    triangles.setflags(write=False)
    return vertices, triangles


def canonical_face_model() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face model (Apache-2.0, see ``aujax/face/assets/NOTICE``).

    Returns:
      (vertices, triangles): (468, 3) float32 in cm (model frame: x toward the subject's left, y up,
      z toward the viewer; row i is MediaPipe landmark i) and (898, 3) int32 vertex indices,
      counter-clockwise seen from the front. Both are cached and read-only.
    """
    return _load_canonical()


def _umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ~ s R src + t (Umeyama 1991); returns (s, R, t)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(xd.T @ xs / len(src))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    rot = (u * d) @ vt
    scale = float((sig * d).sum() / (xs**2).sum(1).mean())
    return scale, rot, mu_d - scale * rot @ mu_s


def _tps_fit(centres: np.ndarray, values: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """Regularised 3-D thin-plate spline through (centres, values): weights and affine part.

    The kernel is -|r| (the biharmonic Green's function in 3-D, with the sign that makes it
    conditionally positive definite), so the ridge `reg` trades bending energy for fit.
    """
    n = len(centres)
    k = -np.linalg.norm(centres[:, None] - centres[None], axis=-1) + reg * np.eye(n)
    p = np.concatenate([np.ones((n, 1)), centres], 1)
    a = np.block([[k, p], [p.T, np.zeros((4, 4))]])
    sol = np.linalg.solve(a, np.concatenate([values, np.zeros((4, values.shape[1]))]))
    return sol[:n], sol[n:]


def _tps_eval(x: np.ndarray, centres: np.ndarray, w: np.ndarray, affine: np.ndarray) -> np.ndarray:
    k = -np.linalg.norm(x[:, None] - centres[None], axis=-1)
    return k @ w + np.concatenate([np.ones((len(x), 1)), x], 1) @ affine


def _closest_triangle(p, cand, corners) -> tuple[int, np.ndarray]:
    """The candidate triangle (indices ``cand`` into ``corners`` (f, 3, 3)) closest to ``p`` (3,),
    and the barycentric coordinates of the closest point in it."""
    c = corners[cand]
    bary = _closest_on_triangles(p[None], c[:, 0], c[:, 1], c[:, 2])
    q = np.einsum("kc,kcd->kd", bary, c)
    best = int(np.argmin(((q - p) ** 2).sum(1)))
    b = np.clip(bary[best], 0.0, None)
    return int(cand[best]), b / b.sum()


def _closest_on_triangles(p, a, b, c) -> np.ndarray:
    """Barycentric weights (m, 3) of the closest point to p on triangle (a, b, c), row by row.

    Ericson, Real-Time Collision Detection §5.1.5: the Voronoi region of the triangle that holds p.
    """
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c
    dot = lambda u, v: (u * v).sum(-1)
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    safe = lambda x: np.where(x == 0.0, 1.0, x)
    t_ab = d1 / safe(d1 - d3)
    t_ac = d2 / safe(d2 - d6)
    t_bc = (d4 - d3) / safe((d4 - d3) + (d5 - d6))
    den = safe(va + vb + vc)
    v_in, w_in = vb / den, vc / den
    one, zero = np.ones_like(d1), np.zeros_like(d1)
    conds = [
        (d1 <= 0) & (d2 <= 0),  # vertex a
        (d3 >= 0) & (d4 <= d3),  # vertex b
        (d6 >= 0) & (d5 <= d6),  # vertex c
        (vc <= 0) & (d1 >= 0) & (d3 <= 0),  # edge ab
        (vb <= 0) & (d2 >= 0) & (d6 <= 0),  # edge ac
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),  # edge bc
    ]
    choices = [
        np.stack(x, -1)
        for x in (
            (one, zero, zero),
            (zero, one, zero),
            (zero, zero, one),
            (1 - t_ab, t_ab, zero),
            (1 - t_ac, zero, t_ac),
            (zero, 1 - t_bc, t_bc),
        )
    ]
    inside = np.stack([1 - v_in - w_in, v_in, w_in], -1)
    return np.select([c[:, None] for c in conds], choices, inside)


def _slit_sides(points: np.ndarray, band: float) -> np.ndarray:
    """Which side of which slit each canonical point must stay on: (468, 2) of (slit id, side).

    A point whose x lies strictly between a slit's corners and whose y is within `band` of the
    slit's mid line (halfway between MediaPipe's upper and lower contour) is tied to the upper
    (+1) or lower (-1) rim; others get (-1, 0).
    """
    out = np.zeros((len(points), 2), dtype=np.int64)
    out[:, 0] = -1
    for name, (upper, lower) in _SLIT_CONTOURS.items():
        up, lo = points[list(upper)], points[list(lower)]
        x0, x1 = sorted((float(up[0, 0]), float(up[-1, 0])))
        yu = lambda x, c=up: np.interp(x, *c[np.argsort(c[:, 0])][:, :2].T)
        yl = lambda x, c=lo: np.interp(x, *c[np.argsort(c[:, 0])][:, :2].T)
        mid = 0.5 * (yu(points[:, 0]) + yl(points[:, 0]))
        dy = points[:, 1] - mid
        near = (points[:, 0] > x0) & (points[:, 0] < x1) & (np.abs(dy) < band) & (dy != 0)
        out[near, 0] = SLIT_NAMES.index(name)
        out[near, 1] = np.sign(dy[near]).astype(np.int64)
    return out


def mediapipe_embedding(
    template: FaceTemplate, *, regularization: float = 0.1, slit_band: float = 1.0
) -> tuple[Int[Array, " 468"], Float[Array, "468 3"]]:
    """Embeds MediaPipe's 468 canonical points on a template as (triangle, barycentric) pairs.

    The result plays the role of `FaceTemplate.landmark_triangles`/`landmark_barycentric` for the
    MediaPipe scheme: ``landmarks_from_vertices(vertices, template.triangles, tri, bary)`` gives
    the 468 points on any deformation of the template's vertices.

    Method:
      1. Similarity: a closed-form least-squares similarity (Umeyama; scale, rotation,
         translation) takes the canonical model's iBUG points 17-67 (`ibug68_from_mediapipe`;
         the jaw contour 0-16 is a silhouette and is left out) onto the template's own landmarks
         17-67 on its neutral vertices; it is applied to all 468 points.
      2. Non-rigid correction: a regularised 3-D thin-plate spline (kernel -|r| plus an affine
         part, ridge `regularization` on the kernel matrix) fitted to the 51 residuals
         (template landmark minus mapped canonical landmark) displaces all 468 points smoothly.
      3. Projection: each warped point goes to the closest point of the template surface (exact
         point-triangle distance over every triangle that can hold it); its triangle and the
         barycentric weights of that closest point are returned. Points of MediaPipe's lid-margin
         and inner-lip contours, and every other canonical point between the corners of an eye or
         the mouth within `slit_band` cm of that slit's mid line, are kept on the matching side
         of the template's slit: points above it may only land on triangles above the slit line
         (upper rim), points below only on triangles below it, so upper and lower lid/lip points
         separate when the aperture opens.

    Args:
      template: the face to embed on (its neutral `vertices` are used).
      regularization: thin-plate ridge in cm; 0 interpolates the 51 residuals exactly, larger
        values smooth the correction (and let the iBUG points miss the template's landmarks more).
      slit_band: half width in cm (canonical model) of the band around each slit in which points
        are tied to a rim.

    Returns:
      (triangles, barycentric): (468,) int32 triangle indices into ``template.triangles`` and
      (468, 3) weights, non-negative and summing to 1.

    Raises:
      ValueError: if `regularization` is negative or `slit_band` is not positive.
    """
    if not regularization >= 0.0:
        raise ValueError(f"regularization must be >= 0, got {regularization!r}")
    if not slit_band > 0.0:
        raise ValueError(f"slit_band must be > 0, got {slit_band!r}")
    verts = np.asarray(template.vertices, dtype=np.float64)
    tris = np.asarray(template.triangles, dtype=np.int64)
    lmk_bary = np.asarray(template.landmark_barycentric, dtype=np.float64)
    target = np.einsum("kc,kcd->kd", lmk_bary, verts[tris[np.asarray(template.landmark_triangles)]])
    canon = np.asarray(canonical_face_model()[0], dtype=np.float64)
    sides = _slit_sides(canon, slit_band)

    # 1. similarity on the 51 inner iBUG points
    src = ibug68_from_mediapipe(canon)[_INNER68]
    dst = target[_INNER68]
    s, rot, t = _umeyama(src, dst)
    moved = canon @ (s * rot).T + t
    # 2. smooth non-rigid correction through the residuals
    centres = src @ (s * rot).T + t
    w, affine = _tps_fit(centres, dst - centres, regularization)
    warped = moved + _tps_eval(moved, centres, w, affine)

    # 3. closest point on the surface, restricted to one side of a slit where required
    corners = verts[tris]  # (f, 3, 3)
    centroid = corners.mean(1)
    reach = float(np.linalg.norm(corners - centroid[:, None], axis=-1).max())
    param_y = np.asarray(template.param_xy, dtype=np.float64)[:, 1]
    tri_py = param_y[tris].mean(1)
    pairs = np.asarray(template.slit_pairs)
    slit_id = np.asarray(template.slit_id)
    out_tri = np.zeros(MEDIAPIPE_SCHEME, dtype=np.int64)
    out_bary = np.zeros((MEDIAPIPE_SCHEME, 3))
    for sid, side in sorted({tuple(r) for r in sides.tolist()}):
        if side == 0:
            allowed = np.arange(len(tris))
        else:
            slit_y = float(param_y[pairs[slit_id == sid, 0]].mean())
            allowed = np.flatnonzero(np.sign(tri_py - slit_y) == side)
        tree = cKDTree(centroid[allowed])
        members = np.flatnonzero((sides[:, 0] == sid) & (sides[:, 1] == side))
        d_near, _ = tree.query(warped[members])
        for k, p, d in zip(members, warped[members], d_near, strict=True):
            cand = allowed[np.sort(tree.query_ball_point(p, d + reach + 1e-9))]
            out_tri[k], out_bary[k] = _closest_triangle(p, cand, corners)
    return jnp.asarray(out_tri, dtype=jnp.int32), jnp.asarray(out_bary)
