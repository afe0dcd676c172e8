"""Batched packed-z-buffer rendering (aujax.render._splat) against the reference renderer."""

import jax.numpy as jnp
import numpy as np
import pytest

import aujax.geometry as ag
import aujax.render as ar
from aujax.face import make_face
from aujax.render import _splat
from aujax.render._splat import render_splat
from tests._images import assert_same_image


def _rotations(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for yaw, pitch in 0.35 * rng.standard_normal((n, 2)):
        cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
        ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
        out.append(ry @ rx)
    return np.asarray(out, np.float32)


@pytest.fixture(scope="module")
def scene():
    face = make_face(400)
    rng = np.random.default_rng(1)
    n = 5
    verts = (face.vertices[None] + 0.05 * rng.standard_normal((n, face.n_vertices, 3))).astype(
        np.float32
    )
    albedo = rng.uniform(0.3, 0.9, (face.n_vertices, 3)).astype(np.float32)
    cam = ag.frame_vertices(jnp.asarray(face.vertices, jnp.float32), height=40, width=36,
                            margin=0.06)  # fmt: skip
    return face, verts, _rotations(n), albedo, cam


def _reference(face, verts, rots, albedo, cam, *, light, ambient, diffuse, color=True):
    out = []
    for v, r in zip(verts, rots, strict=True):
        img = ar.render(jnp.asarray(v), face.triangles, jnp.asarray(albedo),
                        camera=cam.replace(rotation=jnp.asarray(r)), light_dir=light,
                        ambient=ambient, diffuse=diffuse).image  # fmt: skip
        if not color and img.shape[-1] == 3:
            img = jnp.mean(img, axis=-1, keepdims=True)
        out.append(np.asarray(ar.to_uint8(img)))
    return np.stack(out)


@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize("ambient, diffuse", [(0.35, 0.65), (0.6, 0.9)])
def test_equals_the_reference_renderer_within_one_grey_level(scene, color, ambient, diffuse):
    """Frame by frame the images of `render` (uint8), for RGB and grey output, with a chunk that
    does not divide the batch (padding); with ambient + diffuse > 1 bright channels clip before
    the grey average, as in `render`."""
    face, verts, rots, albedo, cam = scene
    light = (0.0, 0.5, 0.866)
    got = render_splat(verts, face.triangles, albedo, camera=cam, rotations=rots, light_dir=light,
                       ambient=ambient, diffuse=diffuse, color=color, chunk=2)  # fmt: skip
    ref = _reference(face, verts, rots, albedo, cam, light=light, ambient=ambient,
                     diffuse=diffuse, color=color)  # fmt: skip
    assert got.shape == ref.shape == (5, 40, 36, 3 if color else 1) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - ref.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3
    assert (got > 0).mean() > 0.3  # the face is there


def test_grayscale_albedo_and_banded_fallback(scene):
    """A (n,) albedo gives one channel; forcing the banded fallback (max_tile=0) gives the same
    images; the frames do not depend on the chunk size."""
    face, verts, rots, albedo, cam = scene
    grey = albedo.mean(axis=1)
    kw = dict(camera=cam, rotations=rots, light_dir=(0.3, 0.2, 1.0), ambient=0.3, diffuse=0.7)
    fast = render_splat(verts, face.triangles, grey, chunk=5, **kw)
    banded = render_splat(verts, face.triangles, grey, chunk=3, max_tile=0, **kw)
    small_chunks = render_splat(verts, face.triangles, grey, chunk=1, **kw)
    assert fast.shape == (5, 40, 36, 1)
    assert np.abs(fast.astype(int) - banded.astype(int)).max() <= 1
    assert_same_image(fast, small_chunks)


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_triangle_wins_whatever_the_order(near_first):
    """The packed (depth, id) key keeps the nearer surface, not the higher index."""
    xyz = np.array([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 0.0],
                    [-0.8, -0.8, 0.5], [0.8, -0.8, 0.5], [-0.8, 0.8, 0.5]], np.float32)  # fmt: skip
    tris = np.array([[0, 1, 2], [3, 4, 5]], np.int32)  # counter-clockwise seen from +z
    albedo = np.array([0.2, 0.2, 0.2, 1.0, 1.0, 1.0], np.float32)
    if near_first:
        tris = tris[::-1]
    cam = ag.OrthoCamera.create(height=16, width=16, scale=6.0, dtype=jnp.float32)
    img = render_splat(xyz[None], tris, albedo, camera=cam, ambient=1.0, diffuse=0.0)[0, ..., 0]
    assert img[7, 7] == 255  # the near (white) triangle covers the centre
    assert img[12, 2] == round(0.2 * 255)  # only the far one reaches there
    assert img[0, 0] == 0  # background
    back = render_splat(xyz[None], tris[:, ::-1], albedo, camera=cam, ambient=1.0, diffuse=0.0)
    assert not back.any()  # back faces culled


def test_bad_inputs(scene):
    face, verts, rots, albedo, cam = scene
    with pytest.raises(ValueError, match="vertices must have shape"):
        render_splat(verts[0], face.triangles, albedo, camera=cam)
    with pytest.raises(ValueError, match="albedo must have shape"):
        render_splat(verts, face.triangles, albedo[:-1], camera=cam)
    with pytest.raises(ValueError, match="rotations must have shape"):
        render_splat(verts, face.triangles, albedo, camera=cam, rotations=rots[:2])
    with pytest.raises(ValueError, match="NaN"):
        render_splat(np.full_like(verts, np.nan), face.triangles, albedo, camera=cam)
    with pytest.raises(ValueError, match="chunk"):
        render_splat(verts, face.triangles, albedo, camera=cam, chunk=0)
    with pytest.raises(ValueError, match="light_dir"):
        render_splat(verts, face.triangles, albedo, camera=cam, light_dir=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="tile"):
        render_splat(verts, face.triangles, albedo, camera=cam, tile=(0, 2))
    with pytest.raises(ValueError, match="out of range"):
        render_splat(verts, np.asarray(face.triangles) + verts.shape[1], albedo, camera=cam)
    assert render_splat(verts[:0], face.triangles, albedo, camera=cam).shape == (0, 40, 36, 3)


def _extents(verts, rots, scale, triangles):
    """(B, f, 2) pixel centres each triangle's box can hold along v and u (all triangles)."""
    xy = scale * np.einsum("bij,bnj->bni", rots[:, :2], verts)
    corners = xy[:, np.asarray(triangles)]
    ext = corners.max(axis=2) - corners.min(axis=2)
    return (np.floor(ext[..., ::-1] + 2e-3) + 1).astype(np.int64)


@pytest.fixture(scope="module")
def crop72(scene):
    face, verts, rots, albedo, _ = scene
    cam = ag.frame_vertices(jnp.asarray(face.vertices, jnp.float32), height=72, width=72,
                            margin=0.06)  # fmt: skip
    kw = dict(camera=cam, rotations=rots, light_dir=(0.0, 0.4, 1.0), ambient=0.3, diffuse=0.7)
    return face, verts, albedo, kw


def test_small_tiles_plus_shifted_copies_equal_one_fitted_tile(scene, crop72):
    """The default (a quantile tile for every triangle, shifted copies of it over the larger
    boxes, compacted on the device) gives the images of one tile fitted to the largest triangle
    (up to float32 rounding of two compiled programs, ``assert_same_image``)."""
    face, verts, albedo, kw = crop72
    ext = _extents(verts, scene[2], float(kw["camera"].scale), face.triangles)
    fitted = tuple(int(t) for t in ext.max(axis=(0, 1)))
    tile = _splat._default_tile(verts[0], scene[2][0], float(kw["camera"].scale),
                                np.asarray(face.triangles), _splat.MAX_TILE)  # fmt: skip
    assert 0 < np.mean(np.any(ext > np.asarray(tile), axis=-1)) < 0.5  # both passes are used
    two = render_splat(verts, face.triangles, albedo, chunk=3, **kw)
    one = render_splat(verts, face.triangles, albedo, chunk=3, tile=fitted, **kw)
    assert_same_image(two, one)


def test_overflowing_budget_renders_the_chunk_again(crop72, monkeypatch):
    """A budget too small for the larger triangles (forced to 8) is detected from the device's
    counts and the chunk is rendered again with one that holds them: the same images."""
    face, verts, albedo, kw = crop72
    want = render_splat(verts, face.triangles, albedo, chunk=3, **kw)
    monkeypatch.setattr(_splat, "BUDGET_ROUND", 8)
    monkeypatch.setattr(_splat, "BUDGET_FRACTION", 10**6)
    calls = []
    original = _splat._zbuffer_chunk

    def spy(*args, **kwargs):
        calls.append((kwargs["n_big"], kwargs["n_extra"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(_splat, "_zbuffer_chunk", spy)
    got = render_splat(verts, face.triangles, albedo, chunk=3, **kw)
    assert_same_image(got, want)
    assert calls[0] == (8, 8) and len(calls) > 2 and max(calls[2:]) > (8, 8)


def test_a_triangle_past_max_tile_sends_the_frames_to_the_banded_rasterizer(crop72):
    """The device reports the largest front-facing box; past ``max_tile`` every frame is
    rendered by the banded rasterizer (here: boxes of up to ~6 pixels, max_tile 4 > the default
    tile), the same images as forcing it (max_tile=0)."""
    face, verts, albedo, kw = crop72
    forced = render_splat(verts, face.triangles, albedo, chunk=3, max_tile=0, **kw)
    fallback = render_splat(verts, face.triangles, albedo, chunk=3, max_tile=4, **kw)
    np.testing.assert_array_equal(fallback, forced)  # the same banded program
    fast = render_splat(verts, face.triangles, albedo, chunk=3, **kw)
    assert np.abs(fast.astype(int) - forced.astype(int)).max() <= 1
