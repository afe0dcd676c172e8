"""`python -m tools.bench sdm`: seed 004's features and fits per second, aujax vs skimage.

Inputs: ``--images`` grayscale images of 128 x 128 pixels (the Bosphorus-like ``sdm`` preset's
size) holding a smooth random texture, and per image the 68 landmarks of the aujax template,
frontal, scaled to fill the image as the preset's crops do (RMS radius about 28 px), with detector
noise as the detections and a second perturbation as the current projections. Features at the
default :class:`aujax.methods.sdm.FeatureConfig` (16 x 16-sample patches of side ``0.5 r``, 4 x 4
cells, one block, 9 bins, L2-Hys: 144 values per landmark, F = 68 x 146).

* **HOG** of all landmark patches of all images, on the same patches (cut by
  :func:`aujax.render.extract_patches`): aujax :func:`aujax.render.hog`, jitted and vmapped over
  landmarks and images, vs ``skimage.feature.hog`` in a Python loop (the goal: >= 10x);
* **features** (eq. 10: patches + HOG + landmark displacements) per image: aujax
  :func:`aujax.methods.sdm.sdm_features` jitted and vmapped over images, vs the NumPy path one
  would write without aujax (bilinear patches by ``scipy.ndimage.map_coordinates``, the skimage
  HOG loop, NumPy displacements);
* agreement: the largest difference between the two paths, and the fraction above 1e-5 (float32
  HOG bins can differ from skimage's float64 ones within ~1e-7 rad of a bin edge);
* **fits per second** (the issue's goal: >= 100 on 2 CPU cores) through a hook: ``main(argv,
  fit_rows=...)`` takes a callable ``fit_rows(args, data) -> (rows, skipped)`` returning
  :class:`FitRow` s (a batched, jitted callable, its arguments, the fits it makes and the cascade
  stages it runs) and the reasons for rows it could not build. The default,
  :func:`sdm_fit_rows`, builds the rows from what :mod:`aujax.methods.sdm` exports:
  ``fit_landmarks`` (eqs. 6-7) on a bilinear model of the template's landmarks with the paper's
  ranks (50 identity, 25 expression), and ``apply_cascade_batch`` (eqs. 11-12, Algorithm 1 at
  test time) with ``--stages`` ridge stages of random weights (the speed does not depend on them)
  on these features, per fit and per stage, beside the same cascade with the NumPy / skimage
  features. A row whose function is not exported (yet) is skipped with the reason printed.

The machine (CPU count, load, JAX backend) is printed with the figures: on a shared machine the
load average says how far the absolute numbers are from an idle one; both sides of each ratio are
measured in the same run. `--quick`: 8 images, 3 repeats.
"""

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._common import print_table, timeit


GOAL_HOG_SPEEDUP = 10.0
GOAL_FITS_PER_S = 100.0
IMAGE_SIZE = 128
LANDMARK_NOISE = 1.0  # px, the detector's
PROJECTION_NOISE = 2.0  # px, the current estimate's


class BenchData(NamedTuple):
    """The benchmark's inputs (NumPy, float32)."""

    images: np.ndarray  # (B, H, W)
    detected: np.ndarray  # (B, L, 2) (x, y) pixels, pinhole convention
    projected: np.ndarray  # (B, L, 2)
    landmarks_3d: np.ndarray  # (L, 3) the template's landmarks (cm)
    pose: tuple[float, np.ndarray]  # (scale px/cm, (2,) offset px) of the frontal framing
    config: Any  # the FeatureConfig


class FitRow(NamedTuple):
    """One "fits per second" row: ``fn(*args)`` fits ``n_fits`` samples, running ``stages``
    cascade stages per fit (1 for a one-shot fit); ``fn`` is timed after one warm-up call.
    ``reference`` rows (the skimage path) are shown but not part of the aujax pipeline, whose
    rows run one after the other (landmark fit, then the cascade): the end-to-end figure, judged
    against the goal, is ``n_fits`` over the sum of their times."""

    name: str
    fn: Callable[..., Any]
    args: tuple
    n_fits: int
    stages: int = 1
    reference: bool = False


FitRows = Callable[[argparse.Namespace, BenchData], tuple[list[FitRow], list[str]]]


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random grayscale image in [0, 1]: sum of Gaussian blobs plus a little noise."""
    y, x = np.mgrid[:size, :size].astype(np.float64)
    img = np.zeros((size, size))
    for _ in range(40):
        cx, cy = rng.uniform(0, size, 2)
        s = rng.uniform(2.0, 12.0)
        img += rng.normal() * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    img += 0.02 * rng.normal(size=img.shape)
    return (img - img.min()) / (img.max() - img.min())


def make_data(n_images: int, *, seed: int = 0) -> BenchData:
    """Images, detections and projections as in the module docstring."""
    from aujax.face import landmarks_from_vertices, make_face
    from aujax.methods.sdm import FeatureConfig

    face = make_face(600)
    lm3 = np.asarray(
        landmarks_from_vertices(
            face.vertices, face.triangles, face.landmark_triangles, face.landmark_barycentric
        ),
        np.float64,
    )
    verts = np.asarray(face.vertices, np.float64)
    lo, hi = verts[:, :2].min(0), verts[:, :2].max(0)
    scale = (1 - 2 * 0.06) * IMAGE_SIZE / float(np.max(hi - lo))  # the preset's framing
    centre = 0.5 * (lo + hi)
    offset = np.array([IMAGE_SIZE / 2 - scale * centre[0], IMAGE_SIZE / 2 + scale * centre[1]])
    frontal = np.stack([scale * lm3[:, 0], -scale * lm3[:, 1]], -1) + offset  # y down
    rng = np.random.default_rng(seed)
    images = np.stack([_texture(rng, IMAGE_SIZE) for _ in range(n_images)])
    detected = frontal + rng.normal(0, LANDMARK_NOISE, (n_images, *frontal.shape))
    projected = detected + rng.normal(0, PROJECTION_NOISE, detected.shape)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return BenchData(
        f32(images), f32(detected), f32(projected), lm3, (scale, offset), FeatureConfig()
    )


def numpy_features(image, projected, detected, config) -> np.ndarray:
    """The eq. (10) feature the NumPy way: ``map_coordinates`` patches, skimage HOG, displacements.

    Same definition as :func:`aujax.methods.sdm.sdm_features` (pinhole convention, edge mode).
    """
    from scipy.ndimage import map_coordinates
    from skimage.feature import hog as sk_hog

    r = float(np.sqrt(np.mean(np.sum((detected - detected.mean(0)) ** 2, -1))))
    size = config.patch_size
    step = 1.0 if config.patch_extent is None else config.patch_extent * r / size
    offsets = (np.arange(size) - size // 2) * step
    parts = []
    for x, y in projected:
        yy, xx = np.meshgrid(y + offsets, x + offsets, indexing="ij")
        patch = map_coordinates(image, [yy, xx], order=1, mode="nearest")
        parts.append(
            sk_hog(
                patch,
                orientations=config.orientations,
                pixels_per_cell=config.pixels_per_cell,
                cells_per_block=config.cells_per_block,
                block_norm=config.block_norm,
            )
        )
    u = detected - projected
    parts.append((u / r if config.normalize_ld else u).reshape(-1))
    return np.concatenate(parts).astype(np.float32)


# --- the default fit rows -------------------------------------------------------------------------


def _bench_model(data: BenchData, *, n_subjects=60, n_expressions=30, n_id=50, n_exp=25, seed=1):
    """A bilinear model of the 68 template landmarks (only the landmark vertices matter for the
    speed of a fit): smooth random identities x expressions around the template, HOSVD."""
    from aujax.face import BilinearModel

    rng = np.random.default_rng(seed)
    base = data.landmarks_3d
    ident = rng.normal(0, 0.3, (n_subjects, 1, *base.shape)) * np.linspace(0.5, 1.5, 3)
    expr = rng.normal(0, 0.2, (1, n_expressions, *base.shape))
    expr[:, 0] = 0.0  # a neutral
    tensor = base + ident + expr
    model = BilinearModel.from_tensor(np.asarray(tensor, np.float32), n_id=n_id, n_exp=n_exp)
    return model, np.arange(base.shape[0])


def sdm_fit_rows(args: argparse.Namespace, data: BenchData) -> tuple[list[FitRow], list[str]]:
    """The fit rows from what :mod:`aujax.methods.sdm` exports (module docstring)."""
    import jax
    import jax.numpy as jnp

    import aujax.methods.sdm as sdm

    rows, skipped = [], []
    needed = {
        "landmark fitting": ("fit_landmarks",),
        "cascade": ("apply_cascade_batch", "Cascade", "RidgeRegressor", "fit_camera",
                    "project_model"),
    }  # fmt: skip
    missing = {k: [n for n in names if not hasattr(sdm, n)] for k, names in needed.items()}
    for what, names in missing.items():
        if names:
            skipped.append(f"{what}: aujax.methods.sdm does not export {', '.join(names)} (yet)")
    if missing["landmark fitting"]:
        return rows, skipped
    model, lv = _bench_model(data)
    lv = jnp.asarray(lv)
    detected = jnp.asarray(data.detected)
    n = detected.shape[0]
    fit = jax.jit(jax.vmap(lambda lm: sdm.fit_landmarks(model, lm, lv)))
    rows.append(FitRow("landmark fitting (fit_landmarks, eqs. 6-7)", fit, (detected,), n))
    if missing["cascade"]:
        return rows, skipped

    n_id = model.n_id
    config = data.config
    k = args.stages
    start = fit(detected)
    g0 = jnp.concatenate([start.w_id, start.w_exp], axis=-1).astype(jnp.float32)
    p = g0.shape[-1]
    f = sdm.feature_size(config, detected.shape[1])
    rng = np.random.default_rng(2)
    regressors = sdm.RidgeRegressor(
        coef=jnp.asarray(rng.normal(0, 1e-4, (k, f, p)), jnp.float32),
        intercept=jnp.zeros((k, p), jnp.float32),
        alpha=jnp.ones((k,), jnp.float32),
        penalty=jnp.zeros((k,), jnp.float32),
    )
    cascade = sdm.Cascade(
        regressors=regressors,
        rss=jnp.zeros((k + 1,)),
        residual=jnp.zeros((k + 1,)),
        objective=jnp.zeros((k,)),
        guarded=jnp.zeros((k,), bool),
    )

    def camera(g, sample):
        return sdm.fit_camera(model, g[:n_id], g[n_id:], sample["detected"], lv)

    def project(g, cam):
        return sdm.project_model(model, g[:n_id], g[n_id:], cam, lv)

    def features(g, cam, sample):
        return sdm.sdm_features(sample["image"], project(g, cam), sample["detected"], config=config)

    samples = {"image": jnp.asarray(data.images), "detected": detected}

    def run_aujax(cascade, g0, samples):
        return sdm.apply_cascade_batch(cascade, g0, samples, features=features, camera=camera).g

    rows.append(FitRow(f"cascade, {k} stages (apply_cascade_batch)", run_aujax,
                       (cascade, g0, samples), n, k))  # fmt: skip

    # the same cascade with the NumPy / skimage features (cameras and projections still jitted)
    cams = jax.jit(jax.vmap(camera))
    projs = jax.jit(jax.vmap(project))
    images, det = data.images, data.detected
    coef, intercept = np.asarray(regressors.coef), np.asarray(regressors.intercept)

    def run_skimage(g):
        g = np.asarray(g)
        for stage in range(k):
            pr = np.asarray(projs(jnp.asarray(g), cams(jnp.asarray(g), samples)))
            x = np.stack([numpy_features(images[j], pr[j], det[j], config) for j in range(n)])
            g = g + x @ coef[stage] + intercept[stage]
        cams(jnp.asarray(g), samples)
        return jnp.asarray(g)

    rows.append(FitRow(f"cascade, {k} stages, NumPy / skimage features", run_skimage, (g0,), n, k,
                       reference=True))  # fmt: skip
    return rows, skipped


# --- main --------------------------------------------------------------------------------------


def main(argv=None, *, fit_rows: FitRows | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench sdm", description=__doc__)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--skimage-images", type=int, default=0, help="0: all images")
    ap.add_argument("--stages", type=int, default=4, help="cascade stages of the fit rows")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.repeat = 8, 3
    import functools

    import jax
    import jax.numpy as jnp
    import skimage
    from skimage.feature import hog as sk_hog

    from aujax.methods.sdm import feature_size, sdm_features
    from aujax.render import extract_patches, hog

    dev = jax.devices()[0]
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        usable = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"device: {dev.platform} ({dev.device_kind}), jax backend {jax.default_backend()}; "
        f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({usable} usable), load average {load}; jax {jax.__version__}, scikit-image "
        f"{skimage.__version__}"
    )
    data = make_data(args.images, seed=args.seed)
    cfg = data.config
    n_img, n_lm = data.detected.shape[:2]
    n_ref = n_img if args.skimage_images <= 0 else min(args.skimage_images, n_img)
    scaled = lambda t: t * n_img / n_ref  # noqa: E731
    note = "" if n_ref == n_img else f" (timed on {n_ref} images, scaled)"
    hog_kw = dict(
        orientations=cfg.orientations, pixels_per_cell=cfg.pixels_per_cell,
        cells_per_block=cfg.cells_per_block, block_norm=cfg.block_norm,
    )  # fmt: skip
    r = float(np.mean(np.sqrt(np.mean(np.sum(
        (data.detected - data.detected.mean(1, keepdims=True)) ** 2, -1), -1))))  # fmt: skip
    print(
        f"{n_img} images {IMAGE_SIZE} x {IMAGE_SIZE}, {n_lm} landmarks (RMS radius {r:.1f} px); "
        f"patches {cfg.patch_size} x {cfg.patch_size} samples of side {cfg.patch_extent} r, "
        f"HOG {hog_kw}: {cfg.hog_length} per landmark, F = {feature_size(cfg, n_lm)}"
    )

    images = jnp.asarray(data.images)
    detected, projected = jnp.asarray(data.detected), jnp.asarray(data.projected)
    spacing = cfg.patch_extent * jnp.sqrt(
        jnp.mean(jnp.sum((detected - detected.mean(1, keepdims=True)) ** 2, -1), -1)
    ) / cfg.patch_size  # fmt: skip
    cut = jax.jit(jax.vmap(lambda im, c, s: extract_patches(im, c, size=cfg.patch_size, spacing=s)))
    patches = cut(images, projected, spacing)  # (B, L, S, S)
    patches_np = np.asarray(patches)
    n_patches = n_img * n_lm

    # --- HOG: the same patches --------------------------------------------------------------------
    t0 = time.perf_counter()
    ref_hog = np.stack([[sk_hog(p, **hog_kw) for p in patches_np[b]] for b in range(n_ref)])
    t_sk_hog = scaled(time.perf_counter() - t0)
    hog_all = jax.jit(jax.vmap(jax.vmap(functools.partial(hog, **hog_kw))))
    t1 = time.perf_counter()
    jax.block_until_ready(hog_all(patches))
    t_compile_hog = time.perf_counter() - t1
    t_hog, out_hog = timeit(hog_all, patches, repeat=args.repeat)
    hog_diff = np.abs(np.asarray(out_hog)[:n_ref] - ref_hog)

    # --- features (eq. 10) per image --------------------------------------------------------------
    t0 = time.perf_counter()
    ref_feat = np.stack(
        [numpy_features(data.images[b], data.projected[b], data.detected[b], cfg)
         for b in range(n_ref)]
    )  # fmt: skip
    t_np_feat = scaled(time.perf_counter() - t0)
    feats = jax.jit(jax.vmap(functools.partial(sdm_features, config=cfg)))
    t1 = time.perf_counter()
    jax.block_until_ready(feats(images, projected, detected))
    t_compile_feat = time.perf_counter() - t1
    t_feat, out_feat = timeit(feats, images, projected, detected, repeat=args.repeat)
    feat_diff = np.abs(np.asarray(out_feat)[:n_ref] - ref_feat)
    t_cut, _ = timeit(cut, images, projected, spacing, repeat=args.repeat)

    hog_speedup, feat_speedup = t_sk_hog / t_hog, t_np_feat / t_feat
    rows = [
        ["HOG: skimage.feature.hog loop" + note, f"{t_sk_hog * 1e3:.1f} ms",
         f"{n_patches / t_sk_hog:,.0f}", f"{n_img / t_sk_hog:,.1f}", "1x", "-", "-"],
        ["HOG: aujax hog, jit(vmap(vmap)) (judged)",
         f"{t_hog * 1e3:.2f} ms (compile {t_compile_hog:.1f} s)", f"{n_patches / t_hog:,.0f}",
         f"{n_img / t_hog:,.1f}", f"{hog_speedup:.1f}x (goal >= {GOAL_HOG_SPEEDUP:.0f}x)",
         f"{hog_diff.max():.1e}", f"{np.mean(hog_diff > 1e-5):.1e}"],
        ["features: map_coordinates + skimage loop + NumPy LD" + note, f"{t_np_feat * 1e3:.1f} ms",
         f"{n_patches / t_np_feat:,.0f}", f"{n_img / t_np_feat:,.1f}", "1x", "-", "-"],
        ["features: aujax sdm_features, jit(vmap)",
         f"{t_feat * 1e3:.2f} ms (compile {t_compile_feat:.1f} s)", f"{n_patches / t_feat:,.0f}",
         f"{n_img / t_feat:,.1f}", f"{feat_speedup:.1f}x", f"{feat_diff.max():.1e}",
         f"{np.mean(feat_diff > 1e-5):.1e}"],
        ["  of which patches: aujax extract_patches, jit(vmap)", f"{t_cut * 1e3:.2f} ms",
         f"{n_patches / t_cut:,.0f}", f"{n_img / t_cut:,.1f}", "-", "-", "-"],
    ]  # fmt: skip
    print_table(
        ["path", f"time, {n_img} images", "patches/s", "images/s", "speed-up",
         "max |diff| vs skimage", "fraction > 1e-5"],
        rows,
        title=f"bench sdm: HOG and eq. (10) features, {n_img} images x {n_lm} landmarks",
    )  # fmt: skip

    # --- fits per second --------------------------------------------------------------------------
    builder = sdm_fit_rows if fit_rows is None else fit_rows
    fits, skipped = builder(args, data)
    for reason in skipped:
        print(f"skipped: {reason}")
    end_to_end = None
    if fits:
        table, t_pipeline = [], 0.0
        for row in fits:
            t1 = time.perf_counter()
            jax.block_until_ready(row.fn(*row.args))
            t_first = time.perf_counter() - t1
            t, _ = timeit(row.fn, *row.args, repeat=max(1, min(args.repeat, 3)))
            table.append([row.name + (" (reference)" if row.reference else ""),
                          f"{t * 1e3:.1f} ms (first call {t_first:.1f} s)",
                          f"{row.n_fits / t:,.1f}", f"{row.n_fits * row.stages / t:,.1f}"])  # fmt: skip
            t_pipeline += 0.0 if row.reference else t / row.n_fits
        if t_pipeline > 0:
            end_to_end = 1.0 / t_pipeline
            table.append(["end to end: the aujax rows one after the other (judged)", "-",
                          f"{end_to_end:,.1f} (goal >= {GOAL_FITS_PER_S:.0f})", "-"])  # fmt: skip
        print_table(
            ["fit", f"time, {fits[0].n_fits} fits", "fits/s", "stages/s"],
            table,
            title=f"bench sdm: fits per second (goal >= {GOAL_FITS_PER_S:.0f} end to end)",
        )
    ok = hog_speedup >= GOAL_HOG_SPEEDUP and (end_to_end is None or end_to_end >= GOAL_FITS_PER_S)
    fit_text = "fit rows skipped" if end_to_end is None else f"end to end {end_to_end:,.1f} fits/s"
    print(
        f"bench sdm: HOG {hog_speedup:.1f}x skimage (goal >= {GOAL_HOG_SPEEDUP:.0f}x), features "
        f"{feat_speedup:.1f}x the NumPy path, max |diff| {feat_diff.max():.1e}; {fit_text} "
        f"(goal >= {GOAL_FITS_PER_S:.0f}); load {load} on {usable} cores "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1
