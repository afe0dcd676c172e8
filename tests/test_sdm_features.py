"""The eq. (8)-(10) features of seed 004 (`aujax.methods.sdm.sdm_features`)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.feature import hog as sk_hog

from aujax.methods.sdm import FeatureConfig, feature_size, reference_length, sdm_features
from aujax.render import extract_patches, hog


def _landmarks(rng, n, lo, hi):
    return rng.uniform(lo, hi, (n, 2))


def _bilinear_image(height, width, *, scale=1.0, shift=(0.0, 0.0)):
    """f(x, y) = 0.3 + 0.02 x - 0.015 y + 0.001 x y on the frame ``X = scale x + shift``: bilinear
    sampling reproduces it exactly, so patches of two framings of it agree exactly."""
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    x, y = (xx - shift[0]) / scale, (yy - shift[1]) / scale
    return 0.3 + 0.02 * x - 0.015 * y + 0.001 * x * y


def test_layout_and_size():
    rng = np.random.default_rng(0)
    image = rng.random((64, 80))
    detected = _landmarks(rng, 7, 15, 50)
    projected = detected + rng.normal(0, 2, detected.shape)
    config = FeatureConfig()
    f = np.asarray(sdm_features(image, projected, detected, config=config))
    n_hog = config.hog_length
    assert n_hog == 144  # one block of 4 x 4 cells x 9 orientations
    assert f.shape == (feature_size(config, 7),) == (7 * (144 + 2),)
    r = float(reference_length(detected))
    np.testing.assert_allclose(r, np.sqrt(np.mean(np.sum((detected - detected.mean(0)) ** 2, 1))))
    # eq. 9, normalised: u_i = (l_i - P_i) / r, after the HOG of every landmark (eq. 10)
    np.testing.assert_allclose(f[7 * n_hog :], ((detected - projected) / r).reshape(-1), atol=1e-14)
    # h_i: the HOG of the patch of side patch_extent * r around P_i
    patches = extract_patches(image, projected, size=16, spacing=0.5 * r / 16)
    for i in range(7):
        np.testing.assert_allclose(
            f[i * n_hog : (i + 1) * n_hog],
            np.asarray(hog(patches[i], pixels_per_cell=(4, 4), cells_per_block=(4, 4))),
            rtol=0,
            atol=1e-12,
        )


def test_hog_part_is_skimage_on_fixed_pixel_patches():
    """patch_extent=None: the paper's fixed-pixel patches; at integer projections they are plain
    crops, and the HOG part is skimage's on them."""
    rng = np.random.default_rng(1)
    image = rng.random((96, 96))
    projected = rng.integers(20, 76, (5, 2)).astype(np.float64)
    detected = projected + 1.5
    config = FeatureConfig(
        patch_size=32, patch_extent=None, pixels_per_cell=(8, 8), cells_per_block=(2, 2)
    )
    f = np.asarray(sdm_features(image, projected, detected, config=config))
    n_hog = config.hog_length
    for i, (x, y) in enumerate(projected.astype(int)):
        crop = image[y - 16 : y + 16, x - 16 : x + 16]
        np.testing.assert_allclose(
            f[i * n_hog : (i + 1) * n_hog],
            sk_hog(crop, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
            rtol=0,
            atol=1e-5,
        )


def test_invariant_to_image_scale_and_translation():
    """The same face framed at two resolutions and offsets gives the same features (the image is
    bilinear, so resampling is exact)."""
    rng = np.random.default_rng(2)
    detected = _landmarks(rng, 6, 20, 40)
    projected = detected + rng.normal(0, 1.5, detected.shape)
    config = FeatureConfig(patch_size=8, pixels_per_cell=(2, 2), cells_per_block=(2, 2))
    base = sdm_features(_bilinear_image(64, 64), projected, detected, config=config)
    scale, shift = 2.5, np.array([7.0, -3.0])
    image2 = _bilinear_image(200, 200, scale=scale, shift=tuple(shift))
    moved = sdm_features(image2, scale * projected + shift, scale * detected + shift, config=config)
    np.testing.assert_allclose(np.asarray(moved), np.asarray(base), rtol=0, atol=1e-9)


def test_config_parts_and_pixel_ld():
    rng = np.random.default_rng(3)
    image = rng.random((48, 48))
    detected = _landmarks(rng, 4, 12, 36)
    projected = detected + 1.0
    full = np.asarray(sdm_features(image, projected, detected, config=FeatureConfig()))
    hog_only = FeatureConfig(use_ld=False)
    ld_only = FeatureConfig(use_hog=False, normalize_ld=False)
    h = np.asarray(sdm_features(image, projected, detected, config=hog_only))
    u = np.asarray(sdm_features(image, projected, detected, config=ld_only))
    assert h.shape == (feature_size(hog_only, 4),) == (4 * 144,)
    assert u.shape == (feature_size(ld_only, 4),) == (8,)
    np.testing.assert_array_equal(h, full[: 4 * 144])
    np.testing.assert_allclose(u, np.full(8, -1.0))  # l_i - P_i in pixels (eq. 9 as written)
    # a colour image: skimage's rgb2gray weights
    rgb = np.stack([image, 0.5 * image, 0.25 * image], -1)
    gray = image * (0.2125 + 0.7154 * 0.5 + 0.0721 * 0.25)
    np.testing.assert_allclose(
        np.asarray(sdm_features(rgb, projected, detected, config=FeatureConfig())),
        np.asarray(sdm_features(gray, projected, detected, config=FeatureConfig())),
        rtol=0,
        atol=1e-12,
    )


def test_vmaps_and_jits_over_images():
    rng = np.random.default_rng(4)
    images = rng.random((3, 40, 40)).astype(np.float32)
    detected = rng.uniform(10, 30, (3, 5, 2)).astype(np.float32)
    projected = (detected + rng.normal(0, 1, detected.shape)).astype(np.float32)
    config = FeatureConfig()
    run = jax.jit(jax.vmap(functools.partial(sdm_features, config=config)))
    out = np.asarray(run(images, projected, detected))
    assert out.shape == (3, feature_size(config, 5)) and out.dtype == np.float32
    for b in range(3):
        one = np.asarray(sdm_features(images[b], projected[b], detected[b], config=config))
        np.testing.assert_allclose(out[b], one, rtol=0, atol=1e-5)
    # config is static and hashable: jit with it as a static argument
    static = jax.jit(sdm_features, static_argnames="config")
    np.testing.assert_allclose(
        np.asarray(static(images[0], projected[0], detected[0], config=config)),
        out[0],
        rtol=0,
        atol=1e-5,
    )


def test_reference_override_and_gradient_of_ld():
    rng = np.random.default_rng(5)
    image = jnp.asarray(rng.random((40, 40)))
    detected = jnp.asarray(rng.uniform(10, 30, (4, 2)))
    projected = detected + 0.3
    config = FeatureConfig(use_hog=False)
    f = sdm_features(image, projected, detected, config=config, reference=2.0)
    np.testing.assert_allclose(np.asarray(f), np.full(8, -0.15), atol=1e-14)
    jac = jax.jacobian(lambda p: sdm_features(image, p, detected, config=config, reference=2.0))(
        projected
    )
    np.testing.assert_allclose(np.asarray(jac).reshape(8, 8), -0.5 * np.eye(8), atol=1e-14)


def test_errors():
    image = np.zeros((32, 32))
    pts = np.full((4, 2), 16.0)
    with pytest.raises(ValueError, match="same landmarks"):
        sdm_features(image, pts, pts[:3], config=FeatureConfig())
    with pytest.raises(ValueError, match=r"projected must have shape \(L, 2\)"):
        sdm_features(image, pts[:, :1], pts, config=FeatureConfig())
    with pytest.raises(ValueError, match="detected contains NaN"):
        sdm_features(image, pts, np.full((4, 2), np.nan), config=FeatureConfig())
    with pytest.raises(ValueError, match="image must be"):
        sdm_features(np.zeros((32, 32, 2)), pts, pts, config=FeatureConfig())
    with pytest.raises(ValueError, match="too small"):
        FeatureConfig(patch_size=8)  # one 4 x 4 block of 4-sample cells needs 16
    with pytest.raises(ValueError, match="block_norm"):
        FeatureConfig(block_norm="L3")
    with pytest.raises(ValueError, match="use_hog or use_ld"):
        FeatureConfig(use_hog=False, use_ld=False)
    with pytest.raises(ValueError, match="patch_extent"):
        FeatureConfig(patch_extent=0.0)
    with pytest.raises(ValueError, match="n_landmarks"):
        feature_size(FeatureConfig(), 0)


def test_bench_sdm_runs_with_a_fit_hook(capsys):
    """`python -m tools.bench sdm`: the HOG rows, and fit rows from a plugged-in callable."""
    from tools._bench_sdm import FitRow, main

    def rows(args, data):
        n = data.images.shape[0]
        double = jax.jit(lambda x: 2 * x)
        fit = FitRow("toy fit", double, (jnp.ones((n, 3)),), n_fits=n, stages=2)
        ref = FitRow("toy reference", double, (jnp.ones((n, 3)),), n_fits=n, reference=True)
        return [fit, ref], ["toy cascade: not plugged in"]

    code = main(["--images", "2", "--repeat", "1"], fit_rows=rows)
    out = capsys.readouterr().out
    assert code in (0, 1)  # speed goals are measured, not asserted
    assert "HOG: aujax hog" in out and "skimage.feature.hog loop" in out
    assert "skipped: toy cascade: not plugged in" in out
    assert "toy fit" in out and "toy reference (reference)" in out and "end to end" in out
    assert "bench sdm: HOG" in out.splitlines()[-1]
