"""HOG (`aujax.render.hog`) against `skimage.feature.hog`, and bilinear `extract_patches`.

skimage accumulates its cell sums in float32 (``cdef float total`` in ``_hoghistogram.pyx``), so
it sits about 1e-8 from the exact histogram; the issue's tolerance, 1e-5, holds with a wide margin.
The bins themselves must agree exactly, including near-ties on bin edges (quantised images).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import map_coordinates
from skimage.feature import hog as sk_hog

from aujax.render import BLOCK_NORMS, extract_patches, hog, hog_shape, hog_size


TOL = 1e-5  # the tolerance (absolute; HOG values lie in [0, 1])

# (shape, orientations, pixels_per_cell, cells_per_block): skimage-like defaults, odd and
# non-square cells with leftover rows / columns, bin edges at multiples of 45 degrees (4, 8, 12
# bins), one bin, one-cell blocks
CASES = [
    ((16, 16), 9, (8, 8), (2, 2)),
    ((37, 29), 9, (5, 7), (3, 2)),
    ((24, 40), 4, (4, 4), (2, 2)),
    ((64, 64), 8, (6, 6), (1, 3)),
    ((32, 28), 12, (8, 8), (1, 1)),
    ((20, 24), 1, (8, 8), (2, 2)),
]


def _patch(kind: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.random(shape)
    if kind == "quantised":  # an 8-bit image: many gradients tie on bin edges up to an ulp
        return rng.integers(0, 256, shape) / 255.0
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    phase, cx, cy = rng.uniform(0, 2 * np.pi), rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
    return (
        np.sin(x / 5.0 + phase) * np.cos(y / 7.0)
        + 0.5 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 40.0)
        + 0.01 * x
    )


def _check_batch(patches: np.ndarray, orientations, ppc, cpb, norms=BLOCK_NORMS):
    """jit(vmap(hog)) on a stack of patches against skimage patch by patch, for each norm (one
    compiled function for all of them)."""
    kw = dict(orientations=orientations, pixels_per_cell=ppc, cells_per_block=cpb)
    run = jax.jit(
        lambda p: [jax.vmap(functools.partial(hog, block_norm=m, **kw))(p) for m in norms]
    )
    for norm, out in zip(norms, run(patches), strict=True):
        out = np.asarray(out)
        ref = np.stack([sk_hog(p, block_norm=norm, **kw) for p in patches])
        assert out.dtype == ref.dtype == patches.dtype
        assert out.shape == ref.shape == (len(patches), hog_size(*patches.shape[1:], **kw))
        np.testing.assert_allclose(out, ref, rtol=0, atol=TOL, err_msg=norm)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hog_matches_skimage(dtype):
    """All four block norms on random, smooth and (float32) 8-bit patches of several sizes and
    cell / block layouts."""
    kinds = ["random", "smooth"] + (["quantised"] if dtype == np.float32 else [])
    for c, (shape, orientations, ppc, cpb) in enumerate(CASES):
        patches = np.stack([_patch(k, shape, seed=10 * c + i) for i, k in enumerate(kinds)])
        _check_batch(patches.astype(dtype), orientations, ppc, cpb)


def _tie_cells(patch: np.ndarray, orientations: int, ppc, *, tol_deg: float = 1e-9) -> np.ndarray:
    """(cells_y, cells_x) mask of the cells holding a pixel whose gradient angle (skimage's
    central differences) lies within ``tol_deg`` of a bin edge: there the bin depends on the last
    ulp of an arctangent, which differs between libm (skimage) and XLA and between machines."""
    g_row, g_col = np.zeros_like(patch), np.zeros_like(patch)
    g_row[1:-1] = patch[2:] - patch[:-2]
    g_col[:, 1:-1] = patch[:, 2:] - patch[:, :-2]
    theta = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    step = 180 / orientations
    near = np.abs(theta - step * np.round(theta / step)) < tol_deg
    near &= (g_row != 0) & (g_col != 0)  # axis-aligned gradients are exact on both paths
    cy, cx = patch.shape[0] // ppc[0], patch.shape[1] // ppc[1]
    near = near[: cy * ppc[0], : cx * ppc[1]].reshape(cy, ppc[0], cx, ppc[1])
    return near.any(axis=(1, 3))


@pytest.mark.parametrize("orientations", [4, 8, 9, 12])
def test_hog_near_ties_on_quantised_images(orientations):
    """8-bit images give gradients at 45, 90, 135 degrees up to an ulp. float32 bins them by
    exact cross products: equal to skimage everywhere. float64 uses skimage's formula, but the
    arctangent's last ulp is the platform's (XLA vs libm), so cells holding a pixel within 1e-9
    degrees of a bin edge are left out; every other cell must agree."""
    rng = np.random.default_rng(orientations)
    patches = rng.integers(0, 256, (6, 32, 32)) / 255.0
    _check_batch(patches.astype(np.float32), orientations, (4, 4), (1, 1), norms=("L1",))
    kw = dict(orientations=orientations, pixels_per_cell=(4, 4), cells_per_block=(1, 1))
    out = np.asarray(jax.jit(jax.vmap(functools.partial(hog, block_norm="L1", **kw)))(patches))
    ref = np.stack([sk_hog(p, block_norm="L1", **kw) for p in patches])
    for p, o, r in zip(patches, out, ref, strict=True):
        keep = ~_tie_cells(p, orientations, (4, 4)).reshape(-1)
        assert keep.mean() > 0.5  # the comparison still covers most cells
        np.testing.assert_allclose(
            o.reshape(keep.size, -1)[keep], r.reshape(keep.size, -1)[keep], rtol=0, atol=TOL
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hog_axis_aligned_and_flat(dtype):
    """Pure horizontal / vertical / diagonal gradients (exact edge ties) and a flat patch."""
    y, x = np.mgrid[:24, :24].astype(np.float64)
    patches = np.stack([x, -x, y, -y, x + y, x - y, -x + y, 0 * x, 3.0 * (x > 11)]).astype(dtype)
    for orientations in (2, 4, 9):
        _check_batch(patches, orientations, (6, 6), (2, 2), norms=("L1", "L2-Hys"))


def test_hog_too_small_like_skimage():
    for shape, ppc, cpb in [((15, 16), (8, 8), (2, 2)), ((16, 16), (8, 8), (3, 3))]:
        with pytest.raises(ValueError, match="too small"):
            sk_hog(np.zeros(shape), pixels_per_cell=ppc, cells_per_block=cpb)
        with pytest.raises(ValueError, match="too small"):
            hog(np.zeros(shape), pixels_per_cell=ppc, cells_per_block=cpb)


def test_hog_vmaps_over_patches_and_images():
    rng = np.random.default_rng(3)
    patches = rng.random((2, 3, 16, 16)).astype(np.float32)  # (images, landmarks, H, W)
    f = jax.jit(jax.vmap(jax.vmap(hog)))
    out = np.asarray(f(patches))
    assert out.shape == (2, 3, hog_size(16, 16))
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(out[i, j], sk_hog(patches[i, j], cells_per_block=(2, 2)),
                                       rtol=0, atol=TOL)  # fmt: skip


def test_hog_gradient_is_finite():
    """The magnitude's square root is safe where the gradient vanishes (flat regions)."""
    patch = jnp.zeros((16, 16)).at[4:9, 5:12].set(1.0)
    g = jax.jit(jax.grad(lambda p: jnp.sum(hog(p) ** 2)))(patch)
    assert np.all(np.isfinite(np.asarray(g)))


def test_hog_shape_and_errors():
    assert hog_shape(37, 29, pixels_per_cell=(5, 7), cells_per_block=(3, 2)) == (5, 3, 3, 2, 9)
    assert hog_size(64, 64, cells_per_block=(3, 3)) == 6 * 6 * 3 * 3 * 9
    patch = np.zeros((16, 16))
    with pytest.raises(ValueError, match="too small"):
        hog(patch, cells_per_block=(3, 3))
    with pytest.raises(ValueError, match="block_norm"):
        hog(patch, block_norm="L3")
    with pytest.raises(ValueError, match="orientations"):
        hog(patch, orientations=0)
    with pytest.raises(ValueError, match="pixels_per_cell"):
        hog(patch, pixels_per_cell=(8, 0))
    with pytest.raises(ValueError, match="cells_per_block"):
        hog(patch, cells_per_block=(2.5, 2))
    with pytest.raises(ValueError, match="patch must be a 2D"):
        hog(np.zeros((16, 16, 3)))


# --- extract_patches --------------------------------------------------------------------------


def _crop(image, x, y, size, mode, cval):
    """The plain integer crop, with the border handled by numpy's padding."""
    pad = 4 * size + 200
    padded = np.pad(image, pad, mode="edge") if mode == "edge" else np.pad(
        image, pad, constant_values=cval
    )  # fmt: skip
    x = int(np.clip(x, -pad + size, image.shape[1] + pad - 2 * size))
    y = int(np.clip(y, -pad + size, image.shape[0] + pad - 2 * size))
    r, c = y - size // 2 + pad, x - size // 2 + pad
    return padded[r : r + size, c : c + size]


@pytest.mark.parametrize("mode", ["edge", "constant"])
@pytest.mark.parametrize("size", [1, 4, 7, 16])
def test_extract_patches_integer_centres_are_exact_crops(mode, size):
    rng = np.random.default_rng(size)
    image = rng.random((20, 30))
    centers = np.array(
        [[0, 0], [29, 19], [5, 7], [12, 10], [-3, 4], [33, 25], [-100, 5], [200, 300], [10, -60]],
        dtype=np.float64,
    )
    for spacing in (1.0, jnp.asarray(1.0)):  # the window path and the separable path
        out = np.asarray(
            extract_patches(image, centers, size=size, spacing=spacing, mode=mode, cval=0.7)
        )
        assert out.shape == (len(centers), size, size)
        for k, (x, y) in enumerate(centers):
            np.testing.assert_array_equal(out[k], _crop(image, x, y, size, mode, 0.7))
    # float32 images and centres: still exact
    out32 = np.asarray(extract_patches(image.astype(np.float32), centers.astype(np.float32),
                                       size=size, mode=mode, cval=0.7))  # fmt: skip
    for k, (x, y) in enumerate(centers):
        np.testing.assert_array_equal(
            out32[k], _crop(image, x, y, size, mode, 0.7).astype(np.float32)
        )


def test_extract_patches_conventions():
    """'ortho' (pixel (r, c) at (c + 0.5, r + 0.5)) is 'pinhole' shifted by half a pixel."""
    image = np.random.default_rng(0).random((12, 12))
    centers = np.array([[5.0, 7.0], [2.25, 3.75]])
    a = extract_patches(image, centers, size=5, convention="pinhole")
    b = extract_patches(image, centers + 0.5, size=5, convention="ortho")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(np.asarray(a)[0], image[5:10, 3:8])


@pytest.mark.parametrize("mode", ["edge", "constant"])
@pytest.mark.parametrize("spacing", [1.0, 0.7, 1.9])
def test_extract_patches_bilinear_matches_scipy(mode, spacing):
    rng = np.random.default_rng(1)
    image = rng.random((20, 30))
    centers = rng.uniform(-5.0, 35.0, (12, 2))
    size = 6
    out = np.asarray(
        extract_patches(image, centers, size=size, spacing=spacing, mode=mode, cval=0.3)
    )
    offsets = (np.arange(size) - size // 2) * spacing
    scipy_mode = "nearest" if mode == "edge" else "grid-constant"
    for k, (x, y) in enumerate(centers):
        yy, xx = np.meshgrid(y + offsets, x + offsets, indexing="ij")
        ref = map_coordinates(image, [yy, xx], order=1, mode=scipy_mode, cval=0.3)
        np.testing.assert_allclose(out[k], ref, rtol=0, atol=1e-12)


def test_extract_patches_differentiable_and_vmaps():
    rng = np.random.default_rng(2)
    images = jnp.asarray(rng.random((2, 16, 16)))
    centers = jnp.asarray(rng.uniform(3.1, 12.9, (2, 3, 2)))
    weights = jnp.asarray(rng.random((3, 5, 5)))

    @jax.jit
    def loss(image, center, spacing):
        return jnp.sum(weights * extract_patches(image, center, size=5, spacing=spacing) ** 2)

    unit = jax.jit(
        lambda image, center: jnp.sum(weights * extract_patches(image, center, size=5) ** 2)
    )

    # vmap over images agrees with a loop
    batched = jax.jit(jax.vmap(lambda im, c: extract_patches(im, c, size=5)))(images, centers)
    for i in range(2):
        np.testing.assert_allclose(
            np.asarray(batched[i]), np.asarray(extract_patches(images[i], centers[i], size=5)),
            rtol=0, atol=1e-14,
        )  # fmt: skip
    # gradients against central differences (the centres are off the integer grid, where the
    # interpolation is smooth)
    for f in (unit, functools.partial(loss, spacing=jnp.asarray(1.3))):  # both paths
        g_img, g_cen = jax.grad(f, argnums=(0, 1))(images[0], centers[0])
        eps = 1e-6
        num = np.zeros(centers[0].shape)
        for idx in np.ndindex(*centers[0].shape):
            d = jnp.zeros(centers[0].shape).at[idx].set(eps)
            num[idx] = (f(images[0], centers[0] + d) - f(images[0], centers[0] - d)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(g_cen), num, rtol=1e-6, atol=1e-8)
        assert np.all(np.isfinite(np.asarray(g_img)))
    g_sp = jax.grad(loss, argnums=2)(images[0], centers[0], jnp.asarray(1.3))
    assert np.isfinite(float(g_sp))


def test_extract_patches_errors():
    image = np.zeros((8, 8))
    with pytest.raises(ValueError, match="centers must have shape"):
        extract_patches(image, np.zeros((3, 3)), size=4)
    with pytest.raises(ValueError, match="image must be a 2D"):
        extract_patches(np.zeros((8, 8, 3)), np.zeros((3, 2)), size=4)
    with pytest.raises(ValueError, match="size"):
        extract_patches(image, np.zeros((3, 2)), size=0)
    with pytest.raises(ValueError, match="spacing"):
        extract_patches(image, np.zeros((3, 2)), size=4, spacing=0.0)
    with pytest.raises(ValueError, match="convention"):
        extract_patches(image, np.zeros((3, 2)), size=4, convention="opengl")
    with pytest.raises(ValueError, match="mode"):
        extract_patches(image, np.zeros((3, 2)), size=4, mode="wrap")
    with pytest.raises(ValueError, match="NaN"):
        extract_patches(image, np.full((3, 2), np.nan), size=4)
