"""Tests for aujax.render (hard z-buffer rasterizer, shading, image I/O) and its camera from
aujax.geometry."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from PIL import Image

from aujax import geometry as ag, render as ar


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


# ----------------------------------------------------------------------------- helpers


def _reference_zbuffer(pixels_xyz, triangles, height, width, *, cull_backfaces=True):
    """Independent NumPy z-buffer: point-in-triangle by solving for barycentrics."""
    pts = np.asarray(pixels_xyz, np.float64)
    rows, cols = np.mgrid[0:height, 0:width]
    centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=-1)
    zbuf = np.full(height * width, -np.inf)
    ids = np.full(height * width, -1)
    for t, tri in enumerate(np.asarray(triangles)):
        a, b, c = pts[tri]
        # Orientation with y up: counter-clockwise on screen is front facing.
        signed = (b[0] - a[0]) * (a[1] - c[1]) - (a[1] - b[1]) * (c[0] - a[0])
        if signed == 0 or (cull_backfaces and signed < 0):
            continue
        mat = np.array([[b[0] - a[0], c[0] - a[0]], [b[1] - a[1], c[1] - a[1]]])
        l12 = np.linalg.solve(mat, (centres - a[:2]).T).T
        lam = np.concatenate([1.0 - l12.sum(axis=1, keepdims=True), l12], axis=1)
        inside = np.all(lam >= 0.0, axis=1)
        z = lam @ np.array([a[2], b[2], c[2]])
        update = inside & (z > zbuf)
        zbuf[update] = z[update]
        ids[update] = t
    return ids.reshape(height, width), zbuf.reshape(height, width)


def _uv_sphere(radius, n_lat, n_lon):
    """Closed UV sphere, triangles counter-clockwise seen from outside."""
    theta = np.linspace(0.0, np.pi, n_lat + 1)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, n_lon, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], axis=-1)
    verts = np.concatenate([[[0.0, 1.0, 0.0]], ring.reshape(-1, 3), [[0.0, -1.0, 0.0]]]) * radius
    north, south = 0, verts.shape[0] - 1

    def idx(i, j):
        return 1 + i * n_lon + (j % n_lon)

    tris = []
    for j in range(n_lon):
        tris.append([north, idx(0, j + 1), idx(0, j)])
        tris.append([south, idx(n_lat - 2, j), idx(n_lat - 2, j + 1)])
    for i in range(n_lat - 2):
        for j in range(n_lon):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
            tris.append([a, b, d])
            tris.append([a, d, c])
    return verts, np.asarray(tris, np.int32)


def _grid_mesh(n, *, bump=0.3):
    """A (n x n)-vertex height field over [-1, 1]^2 facing +z."""
    xs = np.linspace(-1.0, 1.0, n)
    x, y = np.meshgrid(xs, xs)
    z = bump * np.exp(-2.0 * (x**2 + y**2))
    verts = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=-1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.concatenate([np.stack([a, b, d], -1), np.stack([a, d, c], -1)]).reshape(-1, 3)
    return verts, tris.astype(np.int32)


def _front(triangle_uv):
    """Orders a screen triangle counter-clockwise as seen from the camera (front facing)."""
    a, b, c = np.asarray(triangle_uv, np.float64)
    signed = (b[0] - a[0]) * (a[1] - c[1]) - (a[1] - b[1]) * (c[0] - a[0])
    return np.stack([a, b, c]) if signed > 0 else np.stack([a, c, b])


TRI = np.array([[0, 1, 2]], np.int32)
H, W = 24, 33  # shared test image size: fewer distinct shapes, fewer compilations


# ----------------------------------------------------------------------------- camera


def test_project_matches_formula(getkey):
    verts = jax.random.normal(getkey(), (5, 3), jnp.float64)
    rot = ag.look_rotation(0.3, -0.2, 0.1)
    cam = ag.OrthoCamera.create(
        height=40, width=60, scale=7.0, translation=(20.0, 25.0), rotation=rot
    )
    out = np.asarray(ag.project(cam, verts))
    y = np.asarray(verts) @ np.asarray(rot).T
    np.testing.assert_allclose(out[:, 0], 7.0 * y[:, 0] + 20.0, rtol=1e-12)
    np.testing.assert_allclose(out[:, 1], 25.0 - 7.0 * y[:, 1], rtol=1e-12)
    np.testing.assert_allclose(out[:, 2], y[:, 2], rtol=1e-12)
    check_grads(jax.jit(lambda v: ag.project(cam, v)), (verts,), order=1)


def test_look_rotation_is_a_rotation_with_documented_directions():
    rot = np.asarray(ag.look_rotation(0.4, -0.7, 1.1))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)
    nose = np.array([0.0, 0.0, 1.0])
    assert (np.asarray(ag.look_rotation(0.3, 0.0, 0.0)) @ nose)[0] > 0.2  # yaw: toward +x
    assert (np.asarray(ag.look_rotation(0.0, 0.3, 0.0)) @ nose)[1] < -0.2  # pitch: nose down
    x_axis = np.asarray(ag.look_rotation(0.0, 0.0, 0.3)) @ np.array([1.0, 0.0, 0.0])
    assert x_axis[1] > 0.2  # roll: counter-clockwise
    np.testing.assert_allclose(np.asarray(ag.look_rotation(0.0, 0.0, 0.0)), np.eye(3))


@pytest.mark.parametrize("rotated", [False, True])
def test_frame_vertices_fits_the_bounding_box(getkey, rotated):
    verts = jax.random.uniform(getkey(), (50, 3), jnp.float64, -3.0, 5.0) * jnp.array(
        [[1.0, 2.0, 1.0]]
    )
    rot = ag.look_rotation(0.5, 0.2, -0.3) if rotated else None
    cam = ag.frame_vertices(verts, height=64, width=96, margin=0.1, rotation=rot)
    uv = np.asarray(ag.project(cam, verts))[:, :2]
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    assert lo[0] >= 0.1 * 96 - 1e-9 and hi[0] <= 0.9 * 96 + 1e-9
    assert lo[1] >= 0.1 * 64 - 1e-9 and hi[1] <= 0.9 * 64 + 1e-9
    # The limiting axis touches both margins; the box is centred.
    assert np.isclose(hi[0] - lo[0], 0.8 * 96) or np.isclose(hi[1] - lo[1], 0.8 * 64)
    np.testing.assert_allclose((lo + hi) / 2, [48.0, 32.0], atol=1e-9)
    jitted = jax.jit(functools.partial(ag.frame_vertices, height=64, width=96, rotation=rot))(verts)
    np.testing.assert_allclose(np.asarray(jitted.scale), np.asarray(cam.scale), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jitted.translation), np.asarray(cam.translation))
    assert jitted.height == 64 and jitted.width == 96


# ----------------------------------------------------------------------------- rasterizer


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cull", [True, False])
def test_single_triangle_covers_exactly_the_inside_pixel_centres(seed, cull):
    rng = np.random.default_rng(seed)
    h, w = H, W
    uv = rng.uniform([-4.0, -4.0], [w + 4.0, h + 4.0], size=(3, 2))
    if cull:
        uv = _front(uv)
    xyz = np.concatenate([uv, rng.normal(size=(3, 1))], axis=1)
    frags = ar.rasterize(jnp.asarray(xyz), TRI, height=h, width=w, cull_backfaces=cull)
    # Reference: sign test of the three edge cross products, in NumPy.
    rows, cols = np.mgrid[0:h, 0:w]
    p = np.stack([cols + 0.5, rows + 0.5], axis=-1)
    crosses = []
    for i in range(3):
        a, b = uv[i], uv[(i + 1) % 3]
        crosses.append((b[0] - a[0]) * (p[..., 1] - a[1]) - (b[1] - a[1]) * (p[..., 0] - a[0]))
    crosses = np.stack(crosses)
    expected = np.all(crosses >= 0, axis=0) | np.all(crosses <= 0, axis=0)
    assert expected.sum() > 0
    np.testing.assert_array_equal(np.asarray(frags.mask), expected)
    np.testing.assert_array_equal(np.asarray(frags.triangle_id), np.where(expected, 0, -1))
    # Barycentrics reproduce the pixel centre and sum to one.
    bary = np.asarray(frags.barycentric)[expected]
    np.testing.assert_allclose(bary.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(bary @ uv, p[expected], atol=1e-9)
    assert np.all(np.asarray(frags.barycentric)[~expected] == 0)
    assert np.all(np.isneginf(np.asarray(frags.depth)[~expected]))


def test_depth_equals_plane_depth_at_pixel_centres():
    h, w = H, W
    uv = _front([[2.3, 1.7], [25.1, 4.2], [9.6, 18.9]])
    plane = lambda u, v: 0.31 * u - 0.17 * v + 2.0  # noqa: E731
    xyz = np.concatenate([uv, plane(uv[:, 0], uv[:, 1])[:, None]], axis=1)
    frags = ar.rasterize(jnp.asarray(xyz), TRI, height=h, width=w)
    rows, cols = np.mgrid[0:h, 0:w]
    mask = np.asarray(frags.mask)
    assert mask.sum() > 50
    np.testing.assert_allclose(
        np.asarray(frags.depth)[mask], plane(cols + 0.5, rows + 0.5)[mask], rtol=1e-12
    )
    # Interpolating the vertex attributes (u, v, z) gives the pixel centre and its depth.
    interp = np.asarray(ar.interpolate(frags, TRI, jnp.asarray(xyz)))
    np.testing.assert_allclose(interp[..., 0][mask], (cols + 0.5)[mask], atol=1e-10)
    np.testing.assert_allclose(interp[..., 1][mask], (rows + 0.5)[mask], atol=1e-10)
    np.testing.assert_allclose(interp[..., 2][mask], np.asarray(frags.depth)[mask], atol=1e-12)
    assert np.all(interp[~mask] == 0)


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_triangle_wins_regardless_of_order(near_first):
    h, w = H, W
    near = np.concatenate([_front([[1.0, 1.0], [14.0, 2.0], [3.0, 14.5]]), np.full((3, 1), 1.0)], 1)
    far = np.concatenate(
        [_front([[15.0, 15.0], [0.5, 6.0], [12.0, 0.2]]), np.full((3, 1), -1.0)], 1
    )
    xyz = np.concatenate([near, far] if near_first else [far, near])
    tris = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
    near_id = 0 if near_first else 1
    frags = ar.rasterize(jnp.asarray(xyz), tris, height=h, width=w)
    ref_near = ar.rasterize(jnp.asarray(xyz), tris[near_id : near_id + 1], height=h, width=w)
    ref_far = ar.rasterize(jnp.asarray(xyz), tris[1 - near_id : 2 - near_id], height=h, width=w)
    both = np.asarray(ref_near.mask) & np.asarray(ref_far.mask)
    assert both.sum() > 20
    ids = np.asarray(frags.triangle_id)
    assert np.all(ids[np.asarray(ref_near.mask)] == near_id)
    far_only = np.asarray(ref_far.mask) & ~np.asarray(ref_near.mask)
    assert np.all(ids[far_only] == 1 - near_id)
    np.testing.assert_allclose(np.asarray(frags.depth)[both], 1.0)


def test_backface_culling():
    uv = _front([[2.0, 3.0], [20.0, 5.0], [8.0, 18.0]])
    xyz = jnp.asarray(np.concatenate([uv, np.zeros((3, 1))], axis=1))
    back = np.array([[0, 2, 1]], np.int32)
    front = ar.rasterize(xyz, TRI, height=H, width=W)
    culled = ar.rasterize(xyz, back, height=H, width=W)
    kept = ar.rasterize(xyz, back, height=H, width=W, cull_backfaces=False)
    assert np.asarray(front.mask).sum() > 50
    assert not np.asarray(culled.mask).any()
    np.testing.assert_array_equal(np.asarray(kept.mask), np.asarray(front.mask))
    # Same pixels, vertex order swapped: barycentrics of vertices 1 and 2 swap.
    np.testing.assert_allclose(
        np.asarray(kept.barycentric), np.asarray(front.barycentric)[..., [0, 2, 1]], atol=1e-12
    )


@pytest.mark.parametrize(("cull", "chunk"), [(True, 7), (False, 512)])
def test_random_soup_matches_reference_zbuffer_across_bands(cull, chunk):
    # 50 px wide: bands of 5 rows, the last one partial; chunk 7 does not divide 60.
    rng = np.random.default_rng(7)
    h, w, f = 37, 50, 60
    centres = rng.uniform([0.0, 0.0], [w, h], size=(f, 1, 2))
    uv = centres + rng.normal(scale=7.0, size=(f, 3, 2))
    z = rng.normal(size=(f, 3, 1))
    xyz = np.concatenate([uv, z], axis=-1).reshape(-1, 3)
    tris = np.arange(3 * f, dtype=np.int32).reshape(f, 3)
    ids_ref, z_ref = _reference_zbuffer(xyz, tris, h, w, cull_backfaces=cull)
    frags = ar.rasterize(
        jnp.asarray(xyz), tris, height=h, width=w, chunk_size=chunk, cull_backfaces=cull
    )
    np.testing.assert_array_equal(np.asarray(frags.triangle_id), ids_ref)
    mask = ids_ref >= 0
    assert mask.mean() > 0.3
    np.testing.assert_allclose(np.asarray(frags.depth)[mask], z_ref[mask], rtol=1e-10)


def test_empty_and_offscreen_meshes_give_background():
    xyz = jnp.asarray([[-50.0, -50.0, 0.0], [-40.0, -50.0, 0.0], [-45.0, -60.0, 0.0]])
    frags = ar.rasterize(xyz, TRI, height=H, width=W)
    assert not np.asarray(frags.mask).any()
    assert np.all(np.asarray(frags.triangle_id) == -1)
    empty = ar.rasterize(xyz, np.zeros((0, 3), np.int32), height=8, width=8)
    assert not np.asarray(empty.mask).any()


def test_barycentrics_are_differentiable_in_vertex_positions():
    uv = _front([[2.2, 3.1], [20.7, 5.3], [8.4, 18.6]])
    xyz = jnp.asarray(np.concatenate([uv, [[0.1], [0.5], [-0.3]]], axis=1))

    def f(x):
        frags = ar.rasterize(x, TRI, height=H, width=W)
        return frags.barycentric, jnp.where(frags.mask, frags.depth, 0.0)

    # No pixel centre lies within the finite-difference step of an edge.
    lam = np.asarray(f(xyz)[0])[np.asarray(ar.rasterize(xyz, TRI, height=H, width=W).mask)]
    assert lam.min() > 1e-5
    check_grads(f, (xyz,), order=1, eps=1e-6)


# ----------------------------------------------------------------------------- shading


def _quad(half=1.0, z=0.0):
    verts = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    return verts, np.array([[0, 1, 2], [0, 2, 3]], np.int32)


@pytest.mark.parametrize(
    ("light", "cosine"),
    [((0.0, 0.0, 1.0), 1.0), ((np.sqrt(3.0), 0.0, 1.0), 0.5), ((0.0, 0.0, -1.0), 0.0)],
)
def test_lambert_flat_quad(light, cosine):
    verts, tris = _quad()
    cam = ag.OrthoCamera.create(height=16, width=16, scale=6.0)
    albedo = np.full((4,), 0.8)
    out = ar.render(verts, tris, albedo, camera=cam, light_dir=light, ambient=0.2, diffuse=0.5)
    mask = np.asarray(out.mask)
    assert mask.sum() == 144  # 12 x 12 pixel centres inside the 12-pixel square
    np.testing.assert_allclose(np.asarray(out.image)[mask], 0.8 * (0.2 + 0.5 * cosine), atol=1e-12)
    assert np.all(np.asarray(out.image)[~mask] == 0.0)
    assert out.image.shape == (16, 16, 1)
    np.testing.assert_allclose(np.asarray(out.depth)[mask], 0.0, atol=1e-12)


def test_rgb_albedo_is_interpolated_and_background_configurable():
    verts, tris = _quad()
    albedo = np.stack([(verts[:, 0] + 1) / 2, (verts[:, 1] + 1) / 2, np.full(4, 0.5)], -1)
    cam = ag.OrthoCamera.create(height=16, width=16, scale=6.0)
    out = ar.render(verts, tris, albedo, camera=cam, ambient=1.0, diffuse=0.0, background=0.25)
    image, mask = np.asarray(out.image), np.asarray(out.mask)
    assert image.shape == (16, 16, 3)
    rows, cols = np.mgrid[0:16, 0:16]
    x, y = (cols + 0.5 - 8.0) / 6.0, (8.0 - rows - 0.5) / 6.0
    np.testing.assert_allclose(image[..., 0][mask], ((x + 1) / 2)[mask], atol=1e-12)
    np.testing.assert_allclose(image[..., 1][mask], ((y + 1) / 2)[mask], atol=1e-12)
    assert np.all(image[~mask] == 0.25)


def test_sphere_renders_a_disc_of_the_right_area():
    radius, size, scale = 1.5, 64, 16.0  # a disc of radius 24 pixels
    verts, tris = _uv_sphere(radius, 24, 48)
    cam = ag.OrthoCamera.create(height=size, width=size, scale=scale)
    out = ar.render(verts, tris, np.full(verts.shape[0], 0.9), camera=cam)
    area = np.asarray(out.mask).sum()
    disc = np.pi * (radius * scale) ** 2
    assert abs(area - disc) / disc < 0.03
    # Facing the light at the centre; darker toward the rim; depth = sphere surface.
    image, mid = np.asarray(out.image)[..., 0], size // 2
    assert np.all(image[mid - 2 : mid + 2, mid - 2 : mid + 2] > 0.9 * (0.3 + 0.7 * 0.98))
    assert image[mid, 10] < 0.9 * (0.3 + 0.7 * 0.5)  # x = -1.375 cm: cosine about 0.4
    np.testing.assert_allclose(np.asarray(out.depth)[mid, mid], radius, rtol=0.02)
    # Only the front hemisphere is drawn: every visible depth is >= 0.
    assert np.asarray(out.depth)[np.asarray(out.mask)].min() > -1e-9


def test_vertex_normals_of_a_sphere_are_radial():
    verts, tris = _uv_sphere(2.0, 12, 24)
    normals = np.asarray(jax.jit(ar.vertex_normals)(verts, tris))
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    assert np.min(np.sum(normals * verts / 2.0, axis=1)) > 0.99
    small_v, small_t = _grid_mesh(4)
    check_grads(jax.jit(lambda v: ar.vertex_normals(v, small_t)), (small_v,), order=1)


def test_shade_gradients():
    verts, tris = _grid_mesh(5)
    cam = ag.OrthoCamera.create(height=12, width=12, scale=4.0)
    frags = ar.rasterize(ag.project(cam, jnp.asarray(verts)), tris, height=12, width=12)
    normals = ar.vertex_normals(verts, tris)
    albedo = jnp.linspace(0.2, 0.7, verts.shape[0])

    def f(n, a):
        return ar.shade(frags, tris, n, a, light_dir=(0.3, 0.2, 1.0), ambient=0.2, diffuse=0.6)

    check_grads(jax.jit(f), (normals, albedo), order=1, modes=("rev",))


# ----------------------------------------------------------------------------- render API


def _scene(dtype=np.float64):
    verts, tris = _grid_mesh(9)
    cam = ag.frame_vertices(jnp.asarray(verts, dtype), height=32, width=32, margin=0.05)
    albedo = np.linspace(0.3, 0.9, verts.shape[0]).astype(dtype)
    return verts.astype(dtype), tris, albedo, cam


def test_jit_matches_eager():
    verts, tris, albedo, cam = _scene()
    eager = ar.render(verts, tris, albedo, camera=cam, light_dir=(0.2, 0.3, 1.0))
    fn = jax.jit(ar.render, static_argnames=("chunk_size", "cull_backfaces", "supersample"))
    jitted = fn(jnp.asarray(verts), tris, albedo, camera=cam, light_dir=(0.2, 0.3, 1.0))
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)


def test_vmap_over_a_batch_equals_a_loop(getkey):
    verts, tris, albedo, cam = _scene()
    batch = jnp.asarray(verts)[None] + 0.05 * jax.random.normal(getkey(), (3,) + verts.shape)

    def one(v):
        return ar.render(v, tris, albedo, camera=cam)

    batched = jax.vmap(one)(batch)
    for i in range(3):
        single = one(batch[i])
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), atol=1e-12)


def test_vmap_over_head_poses():
    verts, tris, albedo, _ = _scene()
    yaws = jnp.array([-0.4, 0.0, 0.5])

    def one(yaw):
        rot = ag.look_rotation(yaw, 0.1, 0.0)
        cam = ag.frame_vertices(jnp.asarray(verts), height=32, width=32, rotation=rot)
        return ar.render(verts, tris, albedo, camera=cam).image

    batched = np.asarray(jax.vmap(one)(yaws))
    for i in range(3):
        np.testing.assert_allclose(batched[i], np.asarray(one(yaws[i])), atol=1e-12)
    assert not np.allclose(batched[0], batched[2])


def test_float32_matches_float64():
    verts, tris, albedo, cam = _scene(np.float64)
    v32, _, a32, cam32 = _scene(np.float32)
    out64 = ar.render(verts, tris, albedo, camera=cam)
    out32 = ar.render(v32, tris, a32, camera=cam32)
    assert out32.image.dtype == jnp.float32 and out32.depth.dtype == jnp.float32
    assert out32.barycentric.dtype == jnp.float32
    agree = np.asarray(out32.mask) == np.asarray(out64.mask)
    assert agree.mean() > 0.99
    both = np.asarray(out32.mask) & np.asarray(out64.mask)
    np.testing.assert_allclose(
        np.asarray(out32.image)[both], np.asarray(out64.image)[both], atol=1e-4
    )


def test_gradient_through_render_is_finite():
    verts, tris, albedo, cam = _scene()

    def loss(v, a):
        return jnp.sum(ar.render(v, tris, a, camera=cam).image ** 2)

    gv, ga = jax.grad(loss, argnums=(0, 1))(jnp.asarray(verts), jnp.asarray(albedo))
    assert np.all(np.isfinite(np.asarray(gv))) and np.abs(np.asarray(gv)).sum() > 0
    assert np.all(np.asarray(ga) >= 0) and np.asarray(ga).sum() > 0


def test_supersampling_antialiases_edges_and_keeps_geometry():
    verts, tris = _quad(half=6.4 / 6.0)  # a 12.8-pixel square from u = 1.6 to 14.4
    cam = ag.OrthoCamera.create(height=16, width=16, scale=6.0)
    albedo = np.ones(4)
    base = ar.render(verts, tris, albedo, camera=cam, ambient=1.0, diffuse=0.0)
    fine = ar.render(verts, tris, albedo, camera=cam, ambient=1.0, diffuse=0.0, supersample=2)
    for name in ("mask", "triangle_id", "barycentric", "depth"):
        np.testing.assert_array_equal(
            np.asarray(getattr(fine, name)), np.asarray(getattr(base, name))
        )
    np.testing.assert_array_equal(np.asarray(base.coverage), np.asarray(base.mask).astype(float))
    image = np.asarray(fine.image)[..., 0]
    assert np.any((image > 0.2) & (image < 0.8))  # partially covered edge pixels
    # Edge pixels have one of two samples per axis inside: 0.5 on sides, 0.25 at corners.
    np.testing.assert_allclose(image[1, 2:14], 0.5, atol=1e-12)
    np.testing.assert_allclose(image[[1, 1, 14, 14], [1, 14, 1, 14]], 0.25, atol=1e-12)
    np.testing.assert_allclose(image.sum(), 13.0**2, atol=1e-9)
    np.testing.assert_allclose(np.asarray(fine.coverage), image, atol=1e-12)


@pytest.mark.parametrize("size", [256])  # 64 is covered by the sphere test
def test_supported_image_sizes(size):
    verts, tris = _grid_mesh(6)
    cam = ag.frame_vertices(jnp.asarray(verts), height=size, width=size)
    out = ar.render(verts, tris, np.full(36, 0.5), camera=cam)
    assert out.image.shape == (size, size, 1)
    # The square spans [0.1, 0.9] of the image: count the pixel centres inside it.
    centres = np.arange(size) + 0.5
    side = np.sum((centres >= 0.1 * size) & (centres <= 0.9 * size))
    assert np.asarray(out.mask).sum() == side**2


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"triangles": np.zeros((2, 4), np.int32)}, "triangles must have shape"),
        ({"triangles": np.zeros((2, 3), np.float64)}, "triangles must be an integer"),
        ({"triangles": np.array([[0, 1, 9]], np.int32)}, "out of range"),
        ({"triangles": np.array([[0, -1, 2]], np.int32)}, "out of range"),
        ({"vertices": np.zeros((4, 2))}, "vertices must have shape"),
        ({"vertices": np.full((4, 3), np.nan)}, "vertices contains NaN"),
        ({"albedo": np.zeros(5)}, "albedo must have shape"),
        ({"albedo": np.zeros((4, 2))}, "albedo must have shape"),
        ({"light_dir": (0.0, 1.0)}, "light_dir must have shape"),
        ({"light_dir": (0.0, 0.0, 0.0)}, "light_dir must be a non-zero"),
        ({"supersample": 0}, "supersample"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_render_rejects_bad_inputs(kwargs, match):
    verts, tris = _quad()
    args = {"vertices": verts, "triangles": tris, "albedo": np.ones(4)}
    extra = {k: v for k, v in kwargs.items() if k not in args}
    args.update({k: v for k, v in kwargs.items() if k in args})
    cam = ag.OrthoCamera.create(height=16, width=16, scale=6.0)
    with pytest.raises(ValueError, match=match):
        ar.render(args["vertices"], args["triangles"], args["albedo"], camera=cam, **extra)


@pytest.mark.parametrize("size", [4, 2048])
def test_image_size_limits(size):
    with pytest.raises(ValueError, match="between 8 and 1024"):
        ag.OrthoCamera.create(height=size, width=32, scale=1.0)
    with pytest.raises(ValueError, match="width must be between"):
        ar.rasterize(jnp.zeros((3, 3)), TRI, height=32, width=size)
    with pytest.raises(ValueError, match="height must be between"):
        ag.frame_vertices(jnp.ones((3, 3)), height=size, width=32)
    with pytest.raises(ValueError, match="vertices contains NaN"):
        ag.frame_vertices(jnp.full((3, 3), jnp.nan), height=32, width=32)


def test_rasterize_rejects_bad_vertices():
    with pytest.raises(ValueError, match="pixels_xyz must have shape"):
        ar.rasterize(jnp.zeros((3,)), TRI, height=8, width=8)
    with pytest.raises(ValueError, match="pixels_xyz must be a floating"):
        ar.rasterize(jnp.zeros((3, 3), jnp.int32), TRI, height=8, width=8)


# ----------------------------------------------------------------------------- image I/O


def test_to_uint8_and_save_png_roundtrip(tmp_path):
    image = np.linspace(-0.5, 1.5, 48).reshape(4, 4, 3)
    u8 = ar.to_uint8(image)
    assert u8.dtype == np.uint8 and u8.shape == (4, 4, 3)
    np.testing.assert_array_equal(u8, np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    ar.save_png(tmp_path / "sub" / "rgb.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sub" / "rgb.png")), u8)
    gray = np.linspace(0.0, 1.0, 16).reshape(4, 4, 1)
    ar.save_png(tmp_path / "gray.png", jnp.asarray(gray))
    loaded = Image.open(tmp_path / "gray.png")
    assert loaded.mode == "L"
    np.testing.assert_array_equal(np.asarray(loaded), ar.to_uint8(gray)[..., 0])
    with pytest.raises(ValueError, match="NaN"):
        ar.to_uint8(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="image must have shape"):
        ar.to_uint8(np.zeros((2, 2, 2)))


def test_contact_sheet_layout_and_labels():
    tiles = [np.full((10, 12, 1), 0.0), np.full((10, 12, 3), 1.0), np.full((10, 12), 0.5)]
    sheet = ar.contact_sheet(tiles, ncols=2, pad=3)
    assert sheet.shape == (2 * 10 + 3 * 3, 2 * 12 + 3 * 3, 3) and sheet.dtype == np.uint8
    np.testing.assert_array_equal(sheet[3:13, 3:15], 0)
    np.testing.assert_array_equal(sheet[3:13, 18:30], 255)
    np.testing.assert_array_equal(sheet[16:26, 3:15], 128)
    labelled = ar.contact_sheet(tiles, ncols=2, pad=3, labels=["AU1", "AU12", ""])
    assert labelled.shape[0] > sheet.shape[0] and labelled.shape[1] == sheet.shape[1]
    label_strip = labelled[13 : 3 + (labelled.shape[0] - 9) // 2, 3:15]
    assert (label_strip < 128).any()  # some dark text pixels under tile 0
    with pytest.raises(ValueError, match="labels must have one entry"):
        ar.contact_sheet(tiles, ncols=2, labels=["a"])
    with pytest.raises(ValueError, match="ncols"):
        ar.contact_sheet(tiles, ncols=0)


def test_draw_points():
    image = np.zeros((10, 10, 3))
    out = ar.draw_points(image, np.array([[2.5, 3.5], [np.nan, 1.0], [7.2, 7.9]]), color=(1, 0, 0))
    assert out[3, 2].tolist() == [1.0, 0.0, 0.0] and out[7, 7].tolist() == [1.0, 0.0, 0.0]
    assert out[..., 1:].sum() == 0 and image.sum() == 0  # input untouched
    # Radius 1: (2.5, 3.5) reaches its pixel and 4 neighbours (centres at distance 1),
    # (7.2, 7.9) reaches the 4 pixels around it.
    assert (out[..., 0] > 0).sum() == 5 + 4
    big = ar.draw_points(np.zeros((10, 10), np.uint8), np.array([[5.0, 5.0]]), radius=2.0)
    assert big.dtype == np.uint8 and big.shape == (10, 10, 1) and (big == 255).sum() == 12
    with pytest.raises(ValueError, match="points_uv must have shape"):
        ar.draw_points(image, np.zeros((3,)))
    with pytest.raises(ValueError, match="color must be"):
        ar.draw_points(image, np.zeros((1, 2)), color=(1.0, 0.0))


# ----------------------------------------------------------------------------- tile splatting


def test_rasterize_tiles_matches_rasterize_on_a_face():
    """The triangle-major tile rasterizer gives the z-buffer of `rasterize` (same winners up to
    ties at equal depth, same barycentrics and depth) on a rotated procedural face."""
    from aujax.face import make_face
    from tests._render_reference import rasterize_tiles, tile_extent

    face = make_face(400)
    v = jnp.asarray(face.vertices, jnp.float32)
    for yaw in (0.0, 0.5):
        c, s = np.cos(yaw), np.sin(yaw)
        rot = jnp.asarray([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], jnp.float32)
        cam = ag.frame_vertices(v, height=40, width=36, margin=0.05).replace(rotation=rot)
        px = ag.project(cam, v)
        tile = tile_extent(px, face.triangles)
        assert 1 <= min(tile) and max(tile) <= 6
        ref = ar.rasterize(px, face.triangles, height=40, width=36)
        got = rasterize_tiles(px, face.triangles, height=40, width=36)
        np.testing.assert_array_equal(np.asarray(got.mask), np.asarray(ref.mask))
        same = np.asarray(got.triangle_id) == np.asarray(ref.triangle_id)
        assert same.mean() > 0.97  # the rest: pixel centres on shared edges (ties)
        np.testing.assert_allclose(np.asarray(got.depth)[np.asarray(ref.mask)],
                                   np.asarray(ref.depth)[np.asarray(ref.mask)], atol=1e-4)  # fmt: skip
        # two compiled programs: equal up to float32 rounding (XLA may fuse a*du + b*dv into an
        # FMA in one and not the other), far below the rasterizer's own 64-eps edge tolerance
        np.testing.assert_allclose(np.asarray(got.barycentric)[same],
                                   np.asarray(ref.barycentric)[same], rtol=0,
                                   atol=8 * np.finfo(np.float32).eps)  # fmt: skip


def test_rasterize_tiles_occlusion_and_culling():
    from tests._render_reference import rasterize_tiles

    xyz = np.array([[2.0, 2.0, 0.0], [14.0, 2.0, 0.0], [2.0, 14.0, 0.0],
                    [3.0, 3.0, 1.0], [12.0, 3.0, 1.0], [3.0, 12.0, 1.0]], np.float32)  # fmt: skip
    tris = np.array([[0, 2, 1], [3, 5, 4]], np.int32)  # counter-clockwise seen from the camera
    frags = rasterize_tiles(jnp.asarray(xyz), tris, height=16, width=16)
    ref = ar.rasterize(jnp.asarray(xyz), tris, height=16, width=16)
    np.testing.assert_array_equal(np.asarray(frags.triangle_id), np.asarray(ref.triangle_id))
    assert np.asarray(frags.triangle_id)[5, 5] == 1  # the nearer triangle wins
    back = rasterize_tiles(jnp.asarray(xyz), tris[:, ::-1], height=16, width=16)
    assert not np.asarray(back.mask).any()
    with pytest.raises(ValueError, match="tile"):
        rasterize_tiles(jnp.asarray(xyz), tris, height=16, width=16, tile=(0, 3))
