"""Calibration of the procedural template to human proportions (MediaPipe's canonical face model).

The procedural face (`make_face`) is drawn from hand-set constants (`_geometry_spec`). This module
warps it, by one smooth 3-D deformation, onto the shape of MediaPipe's canonical face model (an
Apache-2.0 asset, see ``assets/NOTICE``; `canonical_face_model`), keeping every annotation of the
template: parameter plane, regions, bone and jaw weights, slits and the landmark embedding. Only
`FaceTemplate.vertices` change (and, optionally, the 17 jaw-contour landmarks, see
`calibrate_template`). The measured effect is in ``docs/face_calibration.md``.

Method (`calibration_warp`):

1. Correspondences. The 468 MediaPipe points are embedded on the procedural template
   (`mediapipe_embedding`) and lifted onto the template's analytic surface (the height field of
   `_geometry_spec`, so the points do not depend on the mesh resolution). Their partners are the
   canonical model's 468 vertices.
2. Symmetry. Both point sets are averaged with their mirror images (x -> -x, with MediaPipe's
   left/right vertex correspondence), so the warp is mirror-symmetric.
3. Apertures (``keep_apertures``). The canonical model's lips are parted (5.5 mm) and its eyes are
   narrower than the template's. Canonical points within `APERTURE_BAND` cm of an eye or the mouth
   are moved vertically, piecewise linearly, so that the canonical lid margins and inner lips are as
   far apart as the template's rims (scaled by the ratio of the slit widths); points outside the
   band do not move.
4. Rigid placement. The canonical points are placed in the template's frame by the least-squares
   rotation and translation (scale fixed to ``scale``) of its iBUG points 17-67 onto the embedded
   ones, as in `mediapipe_embedding`; the jaw contour is a silhouette and is left out.
5. Outline. The template extends beyond the canonical mesh (the forehead above the canonical top,
   the sides toward the ears, and under the chin). Points sampled every `OUTLINE_SPACING` cm along
   the template's outline are added as correspondences that move with the nearby canonical boundary
   (a Gaussian-weighted mean, width ``outline_sigma``, of the canonical boundary vertices'
   displacements), so the strip between the two outlines keeps the template's own shape instead of
   following the affine extrapolation of the spline (which turned the forehead corners past
   vertical).
6. Warp. A regularised 3-D thin-plate spline (kernel -|r| plus an affine part; ridge
   ``regularization`` on the kernel matrix) interpolates the displacements of steps 1-5 and is
   applied to every vertex. The result is symmetrised with `mirror_map` to remove rounding.

Muscles: `make_muscles` recognises a re-shaped template (`is_procedural`) and lays its muscles out
on the procedural rest positions (`reference_vertices`), then carries them with the deformation
(see its docstring), so `build_au_blendshapes(face)` works on the calibrated face as it is.

Frame: the warped face stays in the template's frame (cm, x toward the subject's left, y up, z toward
the camera; DESIGN §2) and keeps the canonical model's metric size unless ``scale`` says otherwise.
"""

import dataclasses
import functools
from typing import Final

import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float
from scipy.spatial import cKDTree

from . import _geometry_spec as spec
from ._mediapipe import (
    _SLIT_CONTOURS,
    MEDIAPIPE_TO_IBUG68,
    _closest_triangle,
    _umeyama,
    canonical_face_model,
    ibug68_from_mediapipe,
    mediapipe_embedding,
)
from ._template import (
    FaceTemplate,
    boundary_vertices,
    is_procedural,
    mirror_map,
)


TARGETS: Final = ("mediapipe",)
JAW_CONTOURS: Final = ("mediapipe", "template")
APERTURE_BAND: Final = 1.0  # cm around a slit's mid line in which canonical points are moved
OUTLINE_SPACING: Final = 0.5  # cm between outline correspondences
_FLIP: Final = np.array([-1.0, 1.0, 1.0])
_INNER68: Final = np.arange(17, 68)


@struct.dataclass
class CalibrationWarp:
    """A smooth 3-D deformation x -> x + u(x): a thin-plate spline with an affine part.

    u(x) = sum_i w_i (-|x - c_i|) + A^T [1, x]. Host-side (numpy, float64) geometry.

    Attributes:
      centres: (c, 3) spline centres (template-frame points, cm).
      weights: (c, 3) spline weights w_i.
      affine: (4, 3) affine part A (first row: translation).
      n_canonical: how many leading centres are MediaPipe points (the rest are outline points).
    """

    centres: np.ndarray
    weights: np.ndarray
    affine: np.ndarray
    n_canonical: int = struct.field(pytree_node=False, default=0)

    def displacement(self, points: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
        """u(points) for (n, 3) points; (n, 3) float64."""
        p = np.asarray(points, dtype=np.float64)
        out = np.empty_like(p)
        c2 = (self.centres**2).sum(1)
        for s in range(0, len(p), chunk):
            q = p[s : s + chunk]
            d2 = (q**2).sum(1)[:, None] + c2[None] - 2.0 * q @ self.centres.T
            r = np.sqrt(np.clip(d2, 0.0, None))
            out[s : s + chunk] = -r @ self.weights + self.affine[0] + q @ self.affine[1:]
        return out

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """The warped points x + u(x), (n, 3) float64."""
        p = np.asarray(points, dtype=np.float64)
        return p + self.displacement(p)

    def jacobian(self, points: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
        """d(x + u(x))/dx at (n, 3) points: (n, 3, 3), row i = output coordinate i."""
        p = np.asarray(points, dtype=np.float64)
        out = np.empty((len(p), 3, 3))
        for s in range(0, len(p), chunk):
            diff = p[s : s + chunk, None, :] - self.centres[None]  # (k, c, 3)
            r = np.linalg.norm(diff, axis=-1, keepdims=True)
            grad = -diff / np.where(r > 0.0, r, 1.0)  # d(-|x - c|)/dx
            out[s : s + chunk] = np.einsum("kcj,ci->kij", grad, self.weights)
        return out + self.affine[1:].T[None] + np.eye(3)[None]


@functools.cache
def mediapipe_mirror() -> np.ndarray:
    """MediaPipe's left/right vertex correspondence: (468,) index of each vertex's mirror image.

    Found on the canonical model (mirror-symmetric to float32 precision); midline vertices map to
    themselves.
    """
    canon = np.asarray(canonical_face_model()[0], dtype=np.float64)
    dist, idx = cKDTree(canon).query(canon * _FLIP)
    if dist.max() > 1e-4 or len(set(idx.tolist())) != len(idx):
        raise RuntimeError("the canonical face model is not mirror-symmetric")
    idx = idx.astype(np.int64)
    idx.setflags(write=False)
    return idx


def _symmetrise(points: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    return 0.5 * (points + points[mirror] * _FLIP)


def _surface(xy: np.ndarray) -> np.ndarray:
    """Points of the procedural height field over (opened) plane positions xy, (n, 3)."""
    return np.stack([xy[:, 0], xy[:, 1], spec.height(xy[:, 0], xy[:, 1])], axis=1)


def _outline_points() -> np.ndarray:
    """The procedural domain's outline sampled every `OUTLINE_SPACING` cm, on the surface (m, 3).

    Independent of the mesh: the sides |x| = half_width(y), the top row y = Y_TOP and the bottom row
    y = Y_BOTTOM, mirror-symmetric.
    """
    ys = np.linspace(spec.Y_BOTTOM, spec.Y_TOP, 2001)
    side = np.stack([spec.half_width(ys), ys], axis=1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(side, axis=0), axis=1))])
    n_side = int(np.ceil(arc[-1] / OUTLINE_SPACING)) + 1
    s = np.linspace(0.0, arc[-1], n_side)
    left = np.stack([np.interp(s, arc, side[:, 0]), np.interp(s, arc, side[:, 1])], axis=1)
    rows = []
    for y in (spec.Y_BOTTOM, spec.Y_TOP):
        w = float(spec.half_width(np.array(y)))
        k = int(np.ceil(2 * w / OUTLINE_SPACING)) + 1
        xs = np.linspace(-w, w, k)[1:-1]  # the corners are on the sides already
        rows.append(np.stack([xs, np.full_like(xs, y)], axis=1))
    xy = np.concatenate([left, left * np.array([-1.0, 1.0]), *rows])
    return _surface(xy)


def _slit_profile(name: str, s: np.ndarray) -> np.ndarray:
    """The template's aperture half height at normalised slit position s in [0, 1].

    s = 0 at the inner eye corner / the mouth's midline, 1 at the outer corner.
    """
    if name == "mouth":
        return spec.mouth_opening_profile(s * spec.MOUTH_HALF)
    return spec.eye_opening_profile(spec.EYE_INNER + s * (spec.EYE_OUTER - spec.EYE_INNER))


def _template_slit_width(name: str) -> float:
    return 2.0 * spec.MOUTH_HALF if name == "mouth" else spec.EYE_OUTER - spec.EYE_INNER


def _match_apertures(points: np.ndarray, band: float = APERTURE_BAND) -> np.ndarray:
    """Canonical points with each aperture (lid fissure, lip gap) reshaped to the template's.

    Within `band` cm of a slit's mid line (and between its corners), the vertical offset dy from the
    mid line is mapped piecewise linearly: [0, g_c] -> [0, g_t] and [g_c, band] -> [g_t, band], with
    g_c the canonical half aperture and g_t the template's (`_geometry_spec` profiles at the same
    normalised position along the slit, scaled by the ratio of the slit widths). Monotone in dy, so
    the order of points across the slit is kept.
    """
    out = points.copy()
    for name, (upper, lower) in _SLIT_CONTOURS.items():
        up, lo = points[list(upper)], points[list(lower)]
        xa, xb = float(up[0, 0]), float(up[-1, 0])
        x0, x1 = min(xa, xb), max(xa, xb)
        order_u, order_l = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
        x = points[:, 0]
        yu = np.interp(x, up[order_u, 0], up[order_u, 1])
        yl = np.interp(x, lo[order_l, 0], lo[order_l, 1])
        mid, g_c = 0.5 * (yu + yl), np.clip(0.5 * (yu - yl), 0.0, None)
        if name == "mouth":
            centre, half = 0.5 * (x0 + x1), 0.5 * (x1 - x0)
            s = np.abs(x - centre) / half
            width = x1 - x0
        else:
            inner = x1 if x1 < 0 else x0  # the corner nearer the midline
            outer = x0 if x1 < 0 else x1
            s = (x - inner) / (outer - inner)
            width = abs(outer - inner)
        g_t = _slit_profile(name, np.clip(s, 0.0, 1.0)) * width / _template_slit_width(name)
        dy = points[:, 1] - mid
        a = np.abs(dy)
        move = (x > x0) & (x < x1) & (a < band) & (g_c < band)
        safe_gc = np.where(g_c > 0.0, g_c, 1.0)
        inside = np.where(g_c > 0.0, a / safe_gc * g_t, a)
        outside = g_t + (a - g_c) * (band - g_t) / np.maximum(band - g_c, 1e-12)
        new_a = np.where(a <= g_c, inside, outside)
        out[move, 1] = mid[move] + np.sign(dy[move]) * new_a[move]
    return out


def _rigid(src: np.ndarray, dst: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t with dst ~ scale * R src + t (least squares, scale fixed)."""
    _, rot, _ = _umeyama(src, dst)
    return rot, dst.mean(0) - scale * rot @ src.mean(0)


def _tps_fit(centres: np.ndarray, values: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """Regularised 3-D thin-plate spline through (centres, values): weights (c, 3), affine (4, 3)."""
    n = len(centres)
    k = -np.linalg.norm(centres[:, None] - centres[None], axis=-1) + reg * np.eye(n)
    p = np.concatenate([np.ones((n, 1)), centres], axis=1)
    a = np.block([[k, p], [p.T, np.zeros((4, 4))]])
    rhs = np.concatenate([values, np.zeros((4, values.shape[1]))])
    sol = np.linalg.solve(a, rhs)
    return sol[:n], sol[n:]


def calibration_warp(
    face: FaceTemplate,
    *,
    target: str = "mediapipe",
    scale: float = 1.0,
    regularization: float = 0.1,
    keep_apertures: bool = True,
    outline_sigma: float = 1.0,
) -> CalibrationWarp:
    """The smooth deformation that takes the procedural template onto the target shape.

    See the module docstring for the method.

    Args:
      face: a procedural template from `make_face` (its vertices on the analytic height field).
      target: "mediapipe" (MediaPipe's canonical face model; the only target so far).
      scale: size of the target relative to the canonical model's own metric size (1 keeps it).
      regularization: thin-plate ridge (cm); 0 interpolates the correspondences exactly.
      keep_apertures: keep the template's lid and lip apertures (step 3 of the method).
      outline_sigma: width (cm) of the weighting that carries the template's outline with the
        canonical boundary.

    Returns:
      A `CalibrationWarp` in the template's frame.

    Raises:
      ValueError: for an unknown target, a non-positive scale or outline_sigma, a negative
        regularization, or a face that is not a procedural template.
    """
    _validate(face, target, scale, regularization, outline_sigma)
    return _warp(
        face, mediapipe_embedding(face), scale, regularization, keep_apertures, outline_sigma
    )


def _validate(face, target, scale, regularization, outline_sigma) -> None:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not scale > 0.0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    if not regularization >= 0.0:
        raise ValueError(f"regularization must be >= 0, got {regularization!r}")
    if not outline_sigma > 0.0:
        raise ValueError(f"outline_sigma must be > 0, got {outline_sigma!r}")
    if not is_procedural(face):
        raise ValueError(
            "face must be a procedural template from make_face (vertices on the analytic height "
            "field); calibrate the uncalibrated template"
        )


def _warp(face, embedding, scale, regularization, keep_apertures, outline_sigma) -> CalibrationWarp:
    """`calibration_warp` after validation, given the MediaPipe embedding on `face`."""
    tri, bary = np.asarray(embedding[0]), np.asarray(embedding[1], dtype=np.float64)
    corners = np.asarray(face.vertices, dtype=np.float64)[np.asarray(face.triangles)[tri]]
    xy = np.einsum("kc,kcd->kd", bary, corners[..., :2])  # lifted onto the analytic surface
    mirror = mediapipe_mirror()
    src = _symmetrise(_surface(xy), mirror)
    canon = _symmetrise(np.asarray(canonical_face_model()[0], dtype=np.float64), mirror)
    if keep_apertures:
        canon = _match_apertures(canon)
    rot, t = _rigid(
        ibug68_from_mediapipe(canon)[_INNER68], ibug68_from_mediapipe(src)[_INNER68], scale
    )
    dst = scale * canon @ rot.T + t
    # the template's outline moves with the nearby canonical boundary
    canon_tris = np.asarray(canonical_face_model()[1])
    rim = boundary_vertices(canon_tris, len(canon))
    outline = _outline_points()
    d2 = ((outline[:, None] - src[rim][None]) ** 2).sum(-1)
    w = np.exp(-0.5 * (d2 - d2.min(1, keepdims=True)) / outline_sigma**2)
    outline_disp = (w / w.sum(1, keepdims=True)) @ (dst[rim] - src[rim])
    centres = np.concatenate([src, outline])
    values = np.concatenate([dst - src, outline_disp])
    weights, affine = _tps_fit(centres, values, regularization)
    return CalibrationWarp(
        centres=centres, weights=weights, affine=affine, n_canonical=int(len(src))
    )


def _project_to_mesh(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray):
    """Closest mesh point of each point: (triangle, barycentric) per row."""
    corners = vertices[triangles]
    centroid = corners.mean(1)
    reach = float(np.linalg.norm(corners - centroid[:, None], axis=-1).max())
    tree = cKDTree(centroid)
    out_tri = np.zeros(len(points), dtype=np.int64)
    out_bary = np.zeros((len(points), 3))
    for k, p in enumerate(points):
        d, _ = tree.query(p)
        cand = np.sort(tree.query_ball_point(p, d + reach + 1e-9))
        out_tri[k], out_bary[k] = _closest_triangle(p, cand, corners)
    return out_tri, out_bary


def _mediapipe_jaw(
    face: FaceTemplate, vertices: np.ndarray, embedding
) -> tuple[np.ndarray, np.ndarray]:
    """(triangle, barycentric) of iBUG points 0-16 at their MediaPipe vertices on `vertices`."""
    tri, bary = np.asarray(embedding[0]), np.asarray(embedding[1], dtype=np.float64)
    tris = np.asarray(face.triangles)
    mp = np.einsum("kc,kcd->kd", bary, vertices[tris[tri]])
    mp = _symmetrise(mp, mediapipe_mirror())
    jaw = np.stack([mp[list(p)].mean(0) for p in MEDIAPIPE_TO_IBUG68[:17]])
    jaw = 0.5 * (jaw + jaw[::-1] * _FLIP)  # point k mirrors point 16 - k
    return _project_to_mesh(jaw, vertices, tris)


def calibrate_template(
    face: FaceTemplate,
    *,
    target: str = "mediapipe",
    scale: float = 1.0,
    regularization: float = 0.1,
    keep_apertures: bool = True,
    jaw_contour: str = "mediapipe",
    outline_sigma: float = 1.0,
) -> FaceTemplate:
    """The procedural template warped to human proportions (`calibration_warp`).

    Everything but the vertices is kept: parameter plane, regions, bone and jaw weights, slits and
    the landmarks' (triangle, barycentric) embedding, except that with ``jaw_contour="mediapipe"``
    the 17 jaw-contour landmarks (iBUG 0-16) are re-placed where MediaPipe's jaw-contour vertices
    (`MEDIAPIPE_TO_IBUG68`) fall on the calibrated surface. The template's own jaw contour follows its
    jaw ellipse (`_geometry_spec.JAW_AXES`) on the front of the face, while MediaPipe's lies on the
    face oval toward the ears (the frontal silhouette); the two differ by about 2 cm (RMS, 3-D).

    Args:
      face: a procedural template from `make_face`.
      target: "mediapipe" (MediaPipe's canonical face model).
      scale: target size relative to the canonical model's metric size.
      regularization: thin-plate ridge (cm).
      keep_apertures: keep the template's lid and lip apertures.
      jaw_contour: "mediapipe" (re-place landmarks 0-16 on MediaPipe's jaw contour) or "template"
        (keep the template's jaw-line landmarks, warped with the surface).
      outline_sigma: see `calibration_warp`.

    Returns:
      A `FaceTemplate` with the same topology and annotations, vertices of the same dtype.

    Raises:
      ValueError: for invalid options or a face that is not a procedural template.
    """
    if jaw_contour not in JAW_CONTOURS:
        raise ValueError(f"jaw_contour must be one of {JAW_CONTOURS}, got {jaw_contour!r}")
    _validate(face, target, scale, regularization, outline_sigma)
    embedding = mediapipe_embedding(face)
    warp = _warp(face, embedding, scale, regularization, keep_apertures, outline_sigma)
    verts = warp(np.asarray(face.vertices, dtype=np.float64))
    mm = mirror_map(face)
    verts = 0.5 * (verts + verts[mm] * _FLIP)
    lmk_tri = np.asarray(face.landmark_triangles).copy()
    lmk_bary = np.asarray(face.landmark_barycentric, dtype=np.float64).copy()
    if jaw_contour == "mediapipe":
        lmk_tri[:17], lmk_bary[:17] = _mediapipe_jaw(face, verts, embedding)
    return dataclasses.replace(
        face,
        vertices=jnp.asarray(verts, dtype=face.vertices.dtype),
        landmark_triangles=jnp.asarray(lmk_tri, dtype=face.landmark_triangles.dtype),
        landmark_barycentric=jnp.asarray(lmk_bary, dtype=face.landmark_barycentric.dtype),
    )


def landmark_rms(
    points68: Float[Array, "68 3"], reference68: Float[Array, "68 3"], *, subset=None
) -> float:
    """RMS distance (cm) between two 68-point sets after the best similarity of the reference.

    Args:
      points68: (68, 3) landmarks (e.g. a template's).
      reference68: (68, 3) reference landmarks (e.g. `ibug68_from_mediapipe` of the canonical model),
        moved onto `points68` by a least-squares similarity (Umeyama) fitted on the same subset.
      subset: iBUG indices to fit and measure on (default all 68).

    Returns:
      The RMS point distance in cm.
    """
    idx = np.arange(68) if subset is None else np.asarray(subset)
    p = np.asarray(points68, dtype=np.float64)[idx]
    r = np.asarray(reference68, dtype=np.float64)[idx]
    s, rot, t = _umeyama(r, p)
    return float(np.sqrt((((r @ (s * rot).T + t) - p) ** 2).sum(1).mean()))
