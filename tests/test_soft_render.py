"""Tests for the soft rasterizer (aujax.render.soft_rasterize / soft_blend / soft_render,
sh_shading): the hard limit, analytic coverage, the candidate search against brute force,
float64 gradients (silhouettes included), alpha and background."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _meshes import height_field_mesh
from jax.test_util import check_grads

from aujax import geometry as ag, render as ar


pytestmark = pytest.mark.usefixtures("fast_compile")

H = W = 24  # one image size and one K for the module: fewer compilations
K = 4
GRAD_BLEND = ar.SoftBlend(sigma=0.5, gamma=0.05, k=K, background=jnp.full((3,), 0.1))


# ----------------------------------------------------------------------------- references


def _np_signed_sq_distance(points, tri):
    """Independent signed squared distance from (P, 2) points to the boundary of a (3, 2)
    triangle: inside by the sign of the three cross products, distance by projecting on each
    edge's line and clamping to the segment."""
    points = np.asarray(points, np.float64)
    tri = np.asarray(tri, np.float64)
    best = np.full(points.shape[0], np.inf)
    crosses = []
    for i in range(3):
        a, b = tri[i], tri[(i + 1) % 3]
        e, w = b - a, points - a
        t = np.clip(w @ e / (e @ e), 0.0, 1.0)
        best = np.minimum(best, np.sum((w - t[:, None] * e) ** 2, axis=1))
        crosses.append(e[0] * w[:, 1] - e[1] * w[:, 0])
    crosses = np.stack(crosses)
    inside = np.all(crosses >= 0, axis=0) | np.all(crosses <= 0, axis=0)
    return np.where(inside, -best, best)


def _np_nearest_on_segment(points, a, b):
    e = b - a
    t = np.clip((points - a) @ e / (e @ e), 0.0, 1.0)
    return a + t[:, None] * e


def _pixel_centres(height, width):
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=-1)


def _front_facing(pixels_xyz, triangles):
    """(f,) True for triangles counter-clockwise on screen with y up (not culled)."""
    c = np.asarray(pixels_xyz)[np.asarray(triangles)]
    area = (c[:, 1, 1] - c[:, 0, 1]) * (c[:, 2, 0] - c[:, 0, 0]) + (c[:, 0, 0] - c[:, 1, 0]) * (
        c[:, 2, 1] - c[:, 0, 1]
    )
    return area > 0


@pytest.fixture(scope="module")
def scene():
    """A curved face-sized grid with a small square in front of it (an occluder 2 cm nearer)
    and a camera that frames both with a margin; float64."""
    grid_v, grid_t, _ = height_field_mesh(5, 6)
    square = np.array([[-3.0, -2.0, 3.0], [4.0, -2.5, 3.5], [4.5, 4.0, 3.0], [-2.5, 4.5, 2.5]])
    verts = np.concatenate([grid_v, square])
    n = grid_v.shape[0]
    tris = np.concatenate([grid_t, np.array([[n, n + 1, n + 2], [n, n + 2, n + 3]])])
    verts = jnp.asarray(verts, jnp.float64)
    tris = jnp.asarray(tris, jnp.int32)
    rotation = ag.look_rotation(0.2, -0.1, 0.05)
    camera = ag.frame_vertices(verts, height=H, width=W, margin=0.15, rotation=rotation)
    albedo = jnp.asarray(np.random.default_rng(0).uniform(0.2, 0.8, (verts.shape[0], 3)))
    return verts, tris, albedo, camera


def _edge_distance(pixels_xyz, triangles):
    """(H W,) distance from each pixel centre to the nearest edge of a front-facing triangle."""
    centres = _pixel_centres(H, W)
    xyz = np.asarray(pixels_xyz)
    tris = np.asarray(triangles)[_front_facing(xyz, triangles)]
    d = np.stack([np.abs(_np_signed_sq_distance(centres, xyz[t, :2])) for t in tris])
    return np.sqrt(d.min(axis=0))


# ----------------------------------------------------------------------------- limits


def test_hard_limit_equals_render_away_from_edges(scene):
    """σ = γ = 1e-7: the soft image equals the hard one, and alpha its mask, to 1e-9 at every
    pixel centre farther than 0.01 px from all front-facing edges (at least 90 % of pixels);
    the difference is exactly the edge band where sigmoid(-d/σ) is neither 0 nor 1."""
    verts, tris, albedo, camera = scene
    blend = GRAD_BLEND.replace(sigma=1e-7, gamma=1e-7, background=jnp.full((3,), 0.25))
    soft = ar.soft_render(verts, tris, albedo, camera=camera, blend=blend)
    hard = ar.render(verts, tris, albedo, camera=camera, background=0.25)
    far = _edge_distance(ag.project(camera, verts), tris) > 0.01
    assert far.mean() >= 0.9
    diff = np.abs(np.asarray(soft.image) - np.asarray(hard.image)).reshape(H * W, 3)
    np.testing.assert_array_less(diff[far], 1e-9)
    alpha_diff = np.abs(np.asarray(soft.alpha) - np.asarray(hard.mask)).reshape(-1)
    np.testing.assert_array_less(alpha_diff[far], 1e-9)
    # the occluder is visible: the nearest candidate is the hard renderer's triangle
    front = np.asarray(soft.fragments.triangle_id)[..., 0]
    covered = np.asarray(hard.mask) & far.reshape(H, W)
    np.testing.assert_array_equal(front[covered], np.asarray(hard.triangle_id)[covered])
    assert np.any(np.asarray(hard.triangle_id) >= tris.shape[0] - 2)


def test_one_triangle_coverage_is_analytic():
    """Alpha of one triangle is sigmoid(-d/σ) with d from an independent NumPy distance, 0 past
    the cutoff radius; the blended colour is p c / (p + δ)."""
    uv = np.array([[4.3, 18.2], [19.6, 15.1], [9.2, 3.7]])  # counter-clockwise with y up
    xyz = jnp.asarray(np.concatenate([uv, [[1.0], [2.0], [1.5]]], axis=1))
    tri = jnp.asarray([[0, 1, 2]], jnp.int32)
    blend = ar.SoftBlend(sigma=3.0, gamma=0.1, k=2)
    frags = ar.soft_rasterize(xyz, tri, height=H, width=W, blend=blend)
    d = _np_signed_sq_distance(_pixel_centres(H, W), uv)
    p = 1.0 / (1.0 + np.exp(d / 3.0))
    candidate = d < 3.0 * np.log(1.0 / 1e-4 - 1.0)
    assert 0.1 < candidate.mean() < 0.9 and np.any((p > 0.05) & (p < 0.95))
    colors = jnp.ones((H, W, 2, 1), jnp.float64)
    image, alpha = ar.soft_blend(colors, frags, blend=blend)
    alpha = np.asarray(alpha).reshape(-1)
    np.testing.assert_allclose(alpha[candidate], p[candidate], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(alpha[~candidate], 0.0)
    np.testing.assert_allclose(
        np.asarray(frags.distance)[..., 0].reshape(-1)[candidate], d[candidate], rtol=1e-10
    )
    z_tilde = np.asarray(frags.z_tilde)[..., 0].reshape(-1)
    delta = np.maximum(np.exp((1e-10 - np.maximum(z_tilde, 1e-10)) / 0.1), 1e-10)
    expected = np.where(candidate, p / (p + delta), 0.0)
    np.testing.assert_allclose(np.asarray(image).reshape(-1), expected, rtol=1e-12, atol=1e-15)
    assert np.all(np.asarray(frags.triangle_id)[..., 1] == -1)


def test_candidates_match_brute_force(scene):
    """The binned search keeps, per pixel, K of the triangles within the cutoff radius: those
    containing the pixel centre first, then the rest, each by largest clipped-barycentric depth
    (brute force over every triangle; every edge blurred)."""
    verts, tris, _, camera = scene
    k = K
    blend = GRAD_BLEND.replace(sigma=2.0, all_edges=True)
    xyz = np.asarray(ag.project(camera, verts))
    frags = ar.soft_rasterize(ag.project(camera, verts), tris, height=H, width=W, blend=blend)
    centres = _pixel_centres(H, W)
    radius_sq = 2.0 * np.log(1.0 / 1e-4 - 1.0)
    front = _front_facing(xyz, tris)
    depths = np.full((H * W, tris.shape[0]), -np.inf)
    contains = np.zeros((H * W, tris.shape[0]), bool)
    for j, t in enumerate(np.asarray(tris)):
        if not front[j]:
            continue
        a, b, c = xyz[t]
        mat = np.array([[b[0] - a[0], c[0] - a[0]], [b[1] - a[1], c[1] - a[1]]])
        l12 = np.linalg.solve(mat, (centres - a[:2]).T).T
        lam = np.clip(np.concatenate([1.0 - l12.sum(1, keepdims=True), l12], axis=1), 0, None)
        z = (lam / lam.sum(1, keepdims=True)) @ xyz[t, 2]
        d = _np_signed_sq_distance(centres, xyz[t, :2])
        depths[:, j] = np.where(d < radius_sq, z, -np.inf)
        contains[:, j] = d <= 0
    lift = 2 * np.abs(xyz[:, 2]).max() + 1
    order = np.argsort(-(depths + lift * contains), axis=1, kind="stable")[:, :k]
    expected_z = np.take_along_axis(depths, order, axis=1)
    got_ids = np.asarray(frags.triangle_id).reshape(-1, k)
    got_z = np.asarray(frags.depth).reshape(-1, k)
    np.testing.assert_allclose(got_z, expected_z, rtol=1e-12)
    assert np.array_equal(got_ids >= 0, np.isfinite(expected_z))
    assert np.all(np.asarray(frags.mask).sum(-1) <= k) and np.any(got_ids[:, -1] >= 0)
    # SoftRas blurs edges inside a surface: a covered pixel's alpha can stay well below 1
    alpha = 1.0 - np.prod(1.0 - np.asarray(frags.probability), axis=-1)
    assert alpha[np.asarray(frags.probability)[..., 0] > 0.5].min() < 0.9


def _boundary_edges(triangles):
    """(e, 2) vertex pairs of the edges that belong to one triangle only."""
    count = {}
    for tri in np.asarray(triangles):
        for i in range(3):
            edge = tuple(sorted((int(tri[i]), int(tri[(i + 1) % 3]))))
            count[edge] = count.get(edge, 0) + 1
    return np.asarray([e for e, c in count.items() if c == 1])


def test_edge_neighbours_concrete_and_traced_agree_with_a_dict(scene):
    """The triangle across each edge, from NumPy (concrete triangles) and from the sort under
    jit, against a dictionary of edges."""
    from aujax.render._soft import _edge_neighbours

    tris = np.asarray(scene[1])
    owners = {}
    for t, tri in enumerate(tris):
        for i in range(3):
            owners.setdefault(tuple(sorted((tri[i], tri[(i + 1) % 3]))), []).append(t)
    expected = np.full(tris.shape, -1)
    for t, tri in enumerate(tris):
        for i in range(3):
            others = [o for o in owners[tuple(sorted((tri[i], tri[(i + 1) % 3])))] if o != t]
            expected[t, i] = others[0] if others else -1
    np.testing.assert_array_equal(np.asarray(_edge_neighbours(jnp.asarray(tris))), expected)
    traced = jax.jit(_edge_neighbours)(jnp.asarray(tris))
    np.testing.assert_array_equal(np.asarray(traced), expected)
    assert (expected < 0).sum() == 2 * (4 + 5) + 4  # the 5 x 6 grid's outline, the square's


def test_alpha_in_unit_interval_and_background_where_no_triangle(scene):
    """Alpha and image in [0, 1]; the background (per channel) and alpha 0 where a pixel has no
    candidate; alpha >= 1 - cutoff at covered pixel centres farther than the blur radius from
    every silhouette edge (here the boundary edges: no triangle faces away)."""
    verts, tris, albedo, camera = scene
    background = jnp.asarray([0.1, 0.2, 0.3])
    blend = GRAD_BLEND.replace(gamma=0.01, background=background)
    out = ar.soft_render(verts, tris, albedo, camera=camera, blend=blend)
    alpha = np.asarray(out.alpha)
    assert np.all((alpha >= 0) & (alpha <= 1)) and alpha.max() > 0.99
    empty = ~np.asarray(out.fragments.mask).any(-1)
    assert 10 < empty.sum() < H * W
    np.testing.assert_array_equal(alpha[empty], 0.0)
    np.testing.assert_array_equal(
        np.asarray(out.image)[empty], np.broadcast_to(background, (empty.sum(), 3))
    )
    image = np.asarray(out.image)
    assert np.all((image >= 0) & (image <= 1))
    xyz = np.asarray(ag.project(camera, verts))
    assert _front_facing(xyz, tris).all()
    centres = _pixel_centres(H, W)
    edge_d2 = np.min(
        [np.sum((centres - _np_nearest_on_segment(centres, xyz[a, :2], xyz[b, :2])) ** 2, 1)
         for a, b in _boundary_edges(tris)], axis=0,
    )  # fmt: skip
    hard = ar.render(verts, tris, albedo, camera=camera)
    interior = np.asarray(hard.mask).reshape(-1) & (edge_d2 > 0.5 * np.log(1.0 / 1e-4 - 1.0))
    assert interior.sum() > 20
    assert alpha.reshape(-1)[interior].min() >= 1.0 - 1e-4


# ----------------------------------------------------------------------------- gradients


def _weights(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).uniform(0.0, 1.0, shape))


def test_vertex_and_light_gradients_float64_with_silhouettes():
    """Two flat triangles facing the camera, the smaller one partly in front of the other, each
    of one albedo: the hard image is piecewise constant, so its gradient in the in-plane vertex
    positions is exactly zero; the soft one's is not (silhouette and occlusion edges), and
    check_grads (reverse mode against central differences) holds for a weighted sum of image
    and alpha with respect to the vertices, the light direction, ambient and diffuse."""
    verts = jnp.asarray(
        [[-4.0, -3.0, 0.0], [5.0, -2.0, 0.0], [0.5, 5.5, 0.0],
         [-1.0, -1.0, 2.0], [3.5, 0.5, 2.0], [-0.5, 3.0, 2.0]]
    )  # fmt: skip
    tris = jnp.asarray([[0, 1, 2], [3, 4, 5]], jnp.int32)
    albedo = jnp.asarray([[0.8, 0.6, 0.5]] * 3 + [[0.3, 0.5, 0.7]] * 3)
    camera = ag.OrthoCamera.create(height=H, width=W, scale=2.0, dtype=jnp.float64)
    wi, wa = _weights((H, W, 3), 1), _weights((H, W), 2)
    light = jnp.asarray([0.3, 0.4, 1.0])

    def loss(v, light_dir, ambient, diffuse):
        out = ar.soft_render(
            v, tris, albedo, camera=camera, blend=GRAD_BLEND, light_dir=light_dir,
            ambient=ambient, diffuse=diffuse,
        )  # fmt: skip
        return jnp.sum(wi * out.image) + jnp.sum(wa * out.alpha)

    def hard_loss(v):
        return jnp.sum(wi * ar.render(v, tris, albedo, camera=camera, light_dir=light).image)

    args = (verts, light, jnp.asarray(0.2), jnp.asarray(0.6))
    jitted = jax.jit(loss)
    check_grads(jitted, args, order=1, modes=("rev",), eps=1e-6)
    g_soft = np.asarray(jax.vjp(jitted, *args)[1](1.0)[0])  # the vjp check_grads compiled
    g_hard = np.asarray(jax.grad(hard_loss)(verts))
    assert np.abs(g_hard[:, :2]).max() < 1e-12  # rounding of the normals only
    assert np.all(np.linalg.norm(g_soft[:, :2], axis=1) > 1e-2)


def test_albedo_and_sh_gradients_float64(scene):
    """check_grads (reverse mode) with respect to the albedo and the SH coefficients."""
    verts, tris, albedo, camera = scene
    wi = _weights((H, W, 3), 3)
    sh = jnp.asarray([1.2, 0.1, 0.2, 0.6, 0.0, 0.05, -0.05, 0.02, 0.1])
    render = functools.partial(ar.soft_render, verts, tris, camera=camera, blend=GRAD_BLEND)

    def loss_sh(rho, coefficients):
        return jnp.sum(wi * render(rho, sh_coefficients=coefficients).image)

    check_grads(jax.jit(loss_sh), (0.8 * albedo, sh), order=1, modes=("rev",), eps=1e-6)


# ----------------------------------------------------------------------------- shading, API


def _np_sh_basis(n):
    """Standard real SH Y_lm (l <= 2) in DECA's order, from the usual constant table."""
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    return np.stack(
        [0.282095 + 0 * x, 0.488603 * x, 0.488603 * y, 0.488603 * z, 1.092548 * x * y,
         1.092548 * x * z, 1.092548 * y * z, 0.546274 * (x * x - y * y),
         0.315392 * (3 * z * z - 1)], axis=-1,
    )  # fmt: skip


def test_sh_shading_of_a_directional_light_is_the_order2_clamped_cosine():
    rng = np.random.default_rng(4)
    n = rng.normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    light = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    coefficients = np.pi * _np_sh_basis(light)
    t = n @ light
    expected = 0.25 + t / 2 + 5.0 / 32.0 * (3 * t**2 - 1)
    got = ar.sh_shading(jnp.asarray(n), jnp.asarray(coefficients))
    np.testing.assert_allclose(np.asarray(got), expected, atol=2e-6)  # table rounded to 1e-6
    rgb = ar.sh_shading(jnp.asarray(n), jnp.asarray(np.stack([coefficients, 2 * coefficients], 1)))
    np.testing.assert_allclose(np.asarray(rgb[:, 1]), 2 * np.asarray(got), rtol=1e-12)
    ambient = np.zeros(9)
    ambient[0] = 0.7 * np.sqrt(4 * np.pi)
    np.testing.assert_allclose(np.asarray(ar.sh_shading(jnp.asarray(n), ambient)), 0.7)


def test_vmap_batch_and_given_normals_equal_single(scene):
    verts, tris, albedo, camera = scene
    batch = jnp.stack([verts, verts + jnp.asarray([[0.5, -0.3, 0.0]])])
    render = lambda v: ar.soft_render(v, tris, albedo, camera=camera, blend=GRAD_BLEND).image
    batched = jax.jit(jax.vmap(render))(batch)
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(render(batch[1])), atol=1e-12)
    normals = ag.to_camera_frame(camera, ar.vertex_normals(verts, tris))
    given = ar.soft_render(verts, tris, albedo, camera=camera, blend=GRAD_BLEND, normals=normals)
    np.testing.assert_allclose(np.asarray(given.image), np.asarray(batched[0]), atol=1e-12)


def test_bad_inputs_raise(scene):
    verts, tris, albedo, camera = scene
    render = functools.partial(ar.soft_render, verts, tris, albedo, camera=camera)
    with pytest.raises(ValueError, match="blend.sigma"):
        render(blend=ar.SoftBlend(sigma=0.0))
    with pytest.raises(ValueError, match="blend.k"):
        render(blend=ar.SoftBlend(k=0))
    with pytest.raises(ValueError, match="z_near"):
        render(blend=ar.SoftBlend(z_near=-60.0))
    with pytest.raises(ValueError, match="sh_coefficients"):
        render(sh_coefficients=jnp.ones((4,)))
    with pytest.raises(ValueError, match="normals"):
        render(normals=jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="albedo"):
        ar.soft_render(verts, tris, albedo[:3], camera=camera)
    frags = ar.soft_rasterize(
        ag.project(camera, verts),
        tris,
        height=H,
        width=W,
        blend=GRAD_BLEND.replace(sigma=2.0, all_edges=True),
    )
    with pytest.raises(ValueError, match="colors"):
        ar.soft_blend(jnp.ones((H, W, 3)), frags)
    with pytest.raises(ValueError, match="background"):
        ar.soft_blend(
            jnp.ones((H, W, K, 3)), frags, blend=GRAD_BLEND.replace(background=jnp.ones(2))
        )
