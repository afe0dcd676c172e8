r"""Ground truth on range scans (seed 004, section 4.1): the weights ``g*`` and the mesh ``M``.

The paper prepares its training targets by fitting the bilinear model to each Bosphorus point
cloud ``D``: "the 3DMM were fitted to the 3D landmarks to initialize the rigid transformation and
model parameters. Then, a dense fitting was performed which fitted the 3DMM to both the landmarks
and the 3D point cloud. The correspondences and the rigid transformation were updated iteratively
using the ICP algorithm", and builds the evaluation mesh ``M`` "by performing non-parametric fitting
to the 3D point cloud D using the Laplacian deformation method". :func:`fit_scan` does this in
three stages:

1. **Landmarks.** From the prior means, alternate the similarity ``T`` (model frame -> scan frame,
   :func:`aujax.geometry.umeyama` on the landmarks) and the weights (below) on the landmarks only.
2. **ICP.** Each iteration matches every model vertex ``T(v_i)`` (those of ``vertex_mask``) to its
   nearest scan point (``scipy.spatial.cKDTree``), drops matches farther than ``outlier_factor``
   times the median match distance (or than ``max_distance``), and takes as target ``q_i`` the foot
   of ``T(v_i)`` on the scan's tangent plane at the match (normal from a PCA of the match's
   ``n_normal_neighbours`` nearest scan points): a point-to-plane ICP, free of the sampling bias of
   point-to-point matches. It re-solves ``T`` by Umeyama on the kept matches plus the landmarks,
   then the identity and the expression weights in closed form, in the model frame:

   .. math::
       \min_{\alpha, \beta}\; \frac{1}{D} \sum_i c_i \|v_i(\alpha, \beta) - T^{-1}(q_i)\|^2
       + \lambda_1 (\alpha - \mu_\alpha)^\top Q_\alpha (\alpha - \mu_\alpha)
       + \lambda_2 (\beta - \mu_\beta)^\top Q_\beta (\beta - \mu_\beta),

   the 3D analogue of eq. 7 (``c_i`` 1 for a surface match, ``landmark_weight`` for a landmark;
   ``D`` the mean squared distance of the model's mean shape from its centroid, so the lambdas
   are dimensionless: the MAP value is ``sigma^2 / D`` for scan noise ``sigma`` in model units).
   The result is ``g* = (alpha, beta)`` and the model shape ``S* = v(g*)``.
3. **Laplacian deformation.** Per-vertex offsets ``d`` of ``T(S*)`` toward the scan,

   .. math::
       \min_d \sum_i c_i \|T(s_i) + d_i - q_i\|^2 + \lambda_L \|L d\|^2 + \epsilon \|d\|^2,

   with ``L`` the uniform graph Laplacian of the mesh (``L = I - A / deg``: the offsets keep the
   model's Laplacian coordinates up to a smooth field), ``q_i`` the tangent-plane targets of the
   deformed mesh, ``epsilon`` a tiny ridge for vertices with no match; one sparse solve per
   iteration, matches refreshed between iterations. ``M`` is the deformed mesh mapped back to the
   model frame.

Host code (NumPy, SciPy; the model evaluated once per iteration), not jitted: a one-off per scan.
Units: any (Bosphorus scans are in mm, models in cm): ``T`` carries the scale.
"""

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from flax import struct
from jaxtyping import Array, ArrayLike, Float, Int
from scipy.spatial import cKDTree

from ...face import BilinearModel
from ...geometry import SimilarityTransform, umeyama
from ._fitting import DEFAULT_LAMBDA_EXP, DEFAULT_LAMBDA_ID, _ridge_block


__all__ = ["ScanFit", "fit_scan", "uniform_laplacian"]


@struct.dataclass
class ScanFit:
    """The model fitted to one range scan.

    Attributes:
        w_id: (n_id,) identity weights of ``g*``.
        w_exp: (n_exp,) expression weights of ``g*``.
        transform: the similarity from the model frame to the scan frame (``T``).
        model_vertices: (n_vertices, 3) the model shape ``S* = v(g*)``, model frame.
        mesh: (n_vertices, 3) the Laplacian-deformed mesh ``M``, model frame (``transform.apply``
            puts it on the scan).
        residual: (n_icp,) RMS distance of the kept matches to the scan after each ICP iteration
            (scan units; point-to-plane unless ``n_normal_neighbours`` is 0).
        mesh_residual: (n_nonrigid,) the same for ``M`` after each deformation step.
        inlier_fraction: () fraction of the masked model vertices matched (kept) in the last ICP
            step.
    """

    w_id: Float[Array, " n_id"]
    w_exp: Float[Array, " n_exp"]
    transform: SimilarityTransform
    model_vertices: Float[Array, "n_vertices 3"]
    mesh: Float[Array, "n_vertices 3"]
    residual: Float[Array, " n_icp"]
    mesh_residual: Float[Array, " n_nonrigid"]
    inlier_fraction: Float[Array, ""]


def uniform_laplacian(faces: Int[ArrayLike, "f 3"], n_vertices: int) -> scipy.sparse.csr_matrix:
    """The uniform graph Laplacian ``L = I - diag(1/deg) A`` of a triangle mesh (sparse).

    Args:
        faces: (f, 3) vertex indices.
        n_vertices: number of vertices (isolated vertices get a zero row).

    Returns:
        (n_vertices, n_vertices) CSR matrix; ``L @ x`` is each vertex minus the mean of its
        neighbours (zero on constant and, for interior vertices, on affine fields of a regular grid).
    """
    f = np.asarray(faces, dtype=np.int64)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    i = np.concatenate([edges[:, 0], edges[:, 1]])
    j = np.concatenate([edges[:, 1], edges[:, 0]])
    adj = scipy.sparse.csr_matrix((np.ones(i.size), (i, j)), shape=(n_vertices, n_vertices))
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1.0), 0.0)
    diag = scipy.sparse.diags((deg > 0).astype(float))
    return (diag - scipy.sparse.diags(inv) @ adj).tocsr()


def fit_scan(
    model: BilinearModel,
    points: Float[ArrayLike, "P 3"],
    landmarks3d: Float[ArrayLike, "L 3"],
    landmark_vertices: Int[ArrayLike, " L"],
    *,
    lambda_id: float = DEFAULT_LAMBDA_ID,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    landmark_weight: float = 10.0,
    n_landmark_iterations: int = 5,
    n_icp: int = 30,
    n_nonrigid: int = 3,
    lambda_laplacian: float = 1.0,
    outlier_factor: float = 3.0,
    max_distance: float | None = None,
    n_normal_neighbours: int = 10,
    vertex_mask: ArrayLike | None = None,
    faces: Int[ArrayLike, "f 3"] | None = None,
) -> ScanFit:
    """Fits the bilinear model, then a Laplacian-regularised deformation, to a range scan.

    See the module docstring for the three stages. For a Bosphorus sample::

        pts, present = read_lm3(path_lm3).to_ibug68()  # (68, 3) mm, NaN where absent
        fit = fit_scan(model, read_bnt(path_bnt).points(), pts, ibug68_vertices)

    (``ibug68_vertices``: the model vertex of each iBUG-68 landmark; absent rows are ignored).

    Args:
        model: the bilinear model (its priors; its faces for stage 3 unless ``faces`` is given).
        points: (P, 3) scan points (valid points only, finite), P >= 4.
        landmarks3d: (L, 3) scan landmarks; rows with a non-finite coordinate are ignored; at
            least 3 finite, not collinear.
        landmark_vertices: (L,) model vertex of each landmark.
        lambda_id: ``lambda_1`` >= 0 of the weight fit (dimensionless, module docstring).
        lambda_exp: ``lambda_2`` >= 0.
        landmark_weight: weight ``c_i`` > 0 of a landmark relative to one surface match.
        n_landmark_iterations: stage-1 alternations, >= 1.
        n_icp: stage-2 ICP iterations, >= 1.
        n_nonrigid: stage-3 deformation steps, >= 0 (0: ``M = S*``).
        lambda_laplacian: ``lambda_L`` > 0, smoothness of the offsets (relative to one match).
        outlier_factor: matches farther than this times the median match distance are dropped
            (> 1).
        max_distance: optional absolute cap on match distances (scan units), applied as well.
        n_normal_neighbours: scan points in the PCA of each scan normal (>= 3; 0 turns the
            tangent-plane targets off: point-to-point matches).
        vertex_mask: optional (n_vertices,) bool, the model vertices that may be matched to the
            scan (the face region of a whole-head model such as FaceWarehouse's: vertices the scan
            cannot see would drag the median); default all. The landmarks count regardless.
        faces: (f, 3) triangles for the Laplacian; default ``model.faces``.

    Returns:
        :class:`ScanFit`.

    Raises:
        ValueError: wrong shapes, non-finite points, too few landmarks, indices out of range,
            invalid hyper-parameters, or no faces for ``n_nonrigid > 0``.
    """
    q, lm, lm_idx, faces = _check(model, points, landmarks3d, landmark_vertices, faces, n_nonrigid)
    _check_options(
        lambda_id=lambda_id,
        lambda_exp=lambda_exp,
        landmark_weight=landmark_weight,
        lambda_laplacian=lambda_laplacian,
        outlier_factor=outlier_factor,
        max_distance=max_distance,
        n_landmark_iterations=n_landmark_iterations,
        n_icp=n_icp,
        n_nonrigid=n_nonrigid,
        n_normal_neighbours=n_normal_neighbours,
        n_points=q.shape[0],
    )
    mask = _check_mask(vertex_mask, model.n_vertices)

    core = np.asarray(model.core, dtype=np.float64)
    mu_id = np.asarray(model.id_mean, np.float64)
    mu_exp = np.asarray(model.exp_mean, np.float64)
    prec_id = 1.0 / np.asarray(model.id_var, np.float64)
    prec_exp = 1.0 / np.asarray(model.exp_var, np.float64)
    mean_shape = np.einsum("vcie,i,e->vc", core, mu_id, mu_exp)
    spread = float(np.mean(np.sum(np.square(mean_shape - mean_shape.mean(axis=0)), axis=1)))
    if not spread > 0:
        raise ValueError("model: the mean shape is a single point (zero spread).")
    tree = cKDTree(q)
    normals = _normals(tree, q, int(n_normal_neighbours)) if n_normal_neighbours else None

    def match(x):
        """(kept (n,) bool, targets (n, 3), distances (n,), normals (n, 3) or None) at positions x.

        The distances are point-to-plane (point-to-point without normals); the inliers are chosen
        on the point-to-point distance (a far match is an outlier whatever its plane says).
        """
        dist, j = tree.query(x)
        kept = mask & _inliers(dist, mask, outlier_factor, max_distance)
        target = q[j]
        if normals is None:
            return kept, target, dist, None
        n = normals[j]
        along = np.sum(n * (target - x), axis=1)
        return kept, x + n * along[:, None], np.abs(along), n

    def shape(a, b):
        return np.einsum("vcie,i,e->vc", core, a, b)

    def fit_weights(a, b, rows):
        """The weight update: alpha then beta in closed form, on scalar rows (model frame).

        ``rows = (vertex (r,), direction (r, 3), target (r,), weight (r,))``: each row asks
        ``direction . v_vertex = target`` (a landmark gives three rows along the axes, a surface
        match one row along the scan normal: point-to-plane).
        """
        vertex, direction, target, weight = rows
        target = target[:, None]
        basis_id = np.tensordot(core, b, axes=([3], [0]))[vertex]  # (r, 3, n_id)
        jac = np.einsum("rc,rck->rk", direction, basis_id)[:, None, :]
        a = _ridge_block(jac, target, weight, spread, lambda_id, prec_id, mu_id, xp=np)
        basis_exp = np.tensordot(core, a, axes=([2], [0]))[vertex]  # (r, 3, n_exp)
        jac = np.einsum("rc,rck->rk", direction, basis_exp)[:, None, :]
        b = _ridge_block(jac, target, weight, spread, lambda_exp, prec_exp, mu_exp, xp=np)
        return a, b

    def point_rows(vertex, points, weight, transform):
        """Three axis rows per point target (scan frame), in the model frame."""
        local = _inverse_apply(transform, points)
        n = vertex.size
        return (
            np.repeat(vertex, 3),
            np.tile(np.eye(3), (n, 1)),
            local.ravel(),
            np.repeat(weight, 3),
        )

    def surface_rows(vertex, points, normal, transform):
        """One row per surface match along its scan normal (model frame), or three without."""
        if normal is None:
            return point_rows(vertex, points, np.ones(vertex.size), transform)
        direction = normal @ np.asarray(transform.rotation, np.float64)  # R^T n, row-wise
        local = _inverse_apply(transform, points)
        return vertex, direction, np.sum(direction * local, axis=1), np.ones(vertex.size)

    def stack(*rows):
        return tuple(np.concatenate(parts) for parts in zip(*rows, strict=True))

    a, b = mu_id.copy(), mu_exp.copy()
    lm_w = np.full(lm_idx.size, float(landmark_weight))
    transform = umeyama(shape(a, b)[lm_idx], lm)
    for _ in range(int(n_landmark_iterations)):
        a, b = fit_weights(a, b, point_rows(lm_idx, lm, lm_w, transform))
        transform = umeyama(shape(a, b)[lm_idx], lm)

    residual = []
    kept = np.zeros(model.n_vertices, bool)
    masked = np.flatnonzero(mask)
    for _ in range(int(n_icp)):
        v = shape(a, b)
        kept, target, _, normal = match(_apply(transform, v))
        on = np.flatnonzero(kept)
        # Umeyama on every masked vertex (weight 0 where not kept): one shape, one compilation
        idx = np.concatenate([masked, lm_idx])
        targets = np.concatenate([target[masked], lm])
        weights = np.concatenate([kept[masked].astype(np.float64), lm_w])
        transform = umeyama(v[idx], targets, weights=weights)
        rows = stack(
            surface_rows(on, target[on], None if normal is None else normal[on], transform),
            point_rows(lm_idx, lm, lm_w, transform),
        )
        a, b = fit_weights(a, b, rows)
        _, _, dist, _ = match(_apply(transform, shape(a, b)))
        residual.append(float(np.sqrt(np.mean(np.square(dist[kept])))))

    s_star = shape(a, b)
    placed = _apply(transform, s_star)
    deformed = placed
    mesh_residual = []
    if n_nonrigid:
        lap = uniform_laplacian(faces, model.n_vertices)
        reg = float(lambda_laplacian) * (lap.T @ lap) + 1e-8 * scipy.sparse.identity(
            model.n_vertices
        )
        for _ in range(int(n_nonrigid)):
            keep, target, _, _ = match(deformed)
            c = np.zeros(model.n_vertices)
            rhs = np.zeros((model.n_vertices, 3))
            c[keep] += 1.0
            rhs[keep] += target[keep] - placed[keep]
            np.add.at(c, lm_idx, lm_w)
            np.add.at(rhs, lm_idx, lm_w[:, None] * (lm - placed[lm_idx]))
            solve = scipy.sparse.linalg.factorized((scipy.sparse.diags(c) + reg).tocsc())
            offsets = np.stack([solve(rhs[:, k]) for k in range(3)], axis=1)
            deformed = placed + offsets
            _, _, dist, _ = match(deformed)
            mesh_residual.append(float(np.sqrt(np.mean(np.square(dist[keep])))))
    mesh = _inverse_apply(transform, deformed)
    dtype = model.core.dtype
    return ScanFit(
        w_id=np.asarray(a, dtype),
        w_exp=np.asarray(b, dtype),
        transform=transform,
        model_vertices=np.asarray(s_star, dtype),
        mesh=np.asarray(mesh, dtype),
        residual=np.asarray(residual, dtype),
        mesh_residual=np.asarray(mesh_residual, dtype),
        inlier_fraction=np.asarray(kept[mask].mean(), dtype),
    )


def _check(model, points, landmarks3d, landmark_vertices, faces, n_nonrigid):
    q = np.asarray(points, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 3 or q.shape[0] < 4:
        raise ValueError(f"points must have shape (P, 3) with P >= 4, got {q.shape}.")
    if not np.all(np.isfinite(q)):
        raise ValueError("points must be finite (pass the scan's valid points only).")
    lm = np.asarray(landmarks3d, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 3:
        raise ValueError(f"landmarks3d must have shape (L, 3), got {lm.shape}.")
    idx = np.asarray(landmark_vertices)
    if idx.shape != (lm.shape[0],) or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"landmark_vertices must be ({lm.shape[0]},) integer vertex indices, got "
            f"{idx.dtype} {idx.shape}."
        )
    if idx.size and (idx.min() < 0 or idx.max() >= model.n_vertices):
        raise ValueError(f"landmark_vertices must lie in 0..{model.n_vertices - 1}.")
    present = np.all(np.isfinite(lm), axis=1)
    if present.sum() < 3:
        raise ValueError(
            f"landmarks3d must hold at least 3 finite landmarks, got {int(present.sum())}."
        )
    if faces is None:
        faces = model.faces
    if n_nonrigid and faces is None:
        raise ValueError("faces: the Laplacian deformation needs triangles (model.faces is None).")
    if faces is not None:
        faces = np.asarray(faces)
        if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
            raise ValueError(f"faces must be an integer array (f, 3), got {faces.shape}.")
        if faces.size and (faces.min() < 0 or faces.max() >= model.n_vertices):
            raise ValueError(f"faces must index vertices in 0..{model.n_vertices - 1}.")
    return q, lm[present], idx[present].astype(np.int64), faces


def _check_options(
    *,
    lambda_id,
    lambda_exp,
    landmark_weight,
    lambda_laplacian,
    outlier_factor,
    max_distance,
    n_landmark_iterations,
    n_icp,
    n_nonrigid,
    n_normal_neighbours,
    n_points,
):
    """Raises a ValueError naming the first invalid hyper-parameter of :func:`fit_scan`."""
    for name, value in (("lambda_id", lambda_id), ("lambda_exp", lambda_exp)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}.")
    for name, value, low in (
        ("landmark_weight", landmark_weight, 0.0),
        ("lambda_laplacian", lambda_laplacian, 0.0),
        ("outlier_factor", outlier_factor, 1.0),
    ):
        if not (np.isfinite(value) and value > low):
            raise ValueError(f"{name} must be finite and > {low:g}, got {value}.")
    if max_distance is not None and not (np.isfinite(max_distance) and max_distance > 0):
        raise ValueError(f"max_distance must be finite and > 0 (or None), got {max_distance}.")
    for name, value, low in (
        ("n_landmark_iterations", n_landmark_iterations, 1),
        ("n_icp", n_icp, 1),
        ("n_nonrigid", n_nonrigid, 0),
        ("n_normal_neighbours", n_normal_neighbours, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    if 0 < n_normal_neighbours < 3 or n_normal_neighbours > n_points:
        raise ValueError(
            f"n_normal_neighbours must be 0 or in 3..{n_points} (the scan's points), "
            f"got {n_normal_neighbours}."
        )


def _check_mask(vertex_mask, n_vertices):
    """The (n_vertices,) bool mask of matchable vertices (all by default)."""
    if vertex_mask is None:
        return np.ones(n_vertices, bool)
    mask = np.asarray(vertex_mask)
    if mask.shape != (n_vertices,) or mask.dtype != np.bool_:
        raise ValueError(
            f"vertex_mask must be a bool array ({n_vertices},), got {mask.dtype} {mask.shape}."
        )
    if mask.sum() < 4:
        raise ValueError("vertex_mask must select at least 4 vertices.")
    return mask


def _inliers(dist, mask, factor, max_distance):
    """Matches within ``factor`` x the median distance over ``mask`` (and ``max_distance``)."""
    limit = factor * float(np.median(dist[mask]))
    if max_distance is not None:
        limit = min(limit, float(max_distance))
    keep = dist <= limit
    if (keep & mask).sum() < 3:  # a degenerate median (exact matches): keep every masked vertex
        keep = np.ones_like(keep)
    return keep


def _normals(tree: cKDTree, q: np.ndarray, k: int) -> np.ndarray:
    """(P, 3) unit normals of the scan: the least-variance axis of each point's k neighbours."""
    _, nb = tree.query(q, k=k)
    x = q[nb] - q[nb].mean(axis=1, keepdims=True)  # (P, k, 3)
    _, vecs = np.linalg.eigh(np.einsum("pki,pkj->pij", x, x))
    return vecs[:, :, 0]


def _parts(transform: SimilarityTransform):
    return tuple(
        np.asarray(v, np.float64)
        for v in (transform.scale, transform.rotation, transform.translation)
    )


def _apply(transform: SimilarityTransform, x: np.ndarray) -> np.ndarray:
    """``s R x + t`` row-wise, in float64 NumPy."""
    s, r, t = _parts(transform)
    return s * x @ r.T + t[None, :]


def _inverse_apply(transform: SimilarityTransform, y: np.ndarray) -> np.ndarray:
    """``R^T (y - t) / s`` row-wise, in float64 NumPy."""
    s, r, t = _parts(transform)
    return (y - t[None, :]) @ r / s
