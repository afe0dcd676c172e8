"""Seed 002's augmentation study (§4.3, "Evaluation of data augmentation", fig. 5).

An image AU-intensity regressor is trained on the real non-neutral frames of the training
subjects plus 0 / 10 / 20 / 45 / 90 % as many synthetic renders (the paper: 15K / 30K / 65K /
130K on ~140K real frames), and tested on the held-out subjects' frames (MAE, MSE and, beyond the
paper's figure, ICC(3,1)). The synthetic images come from labels drawn by
:func:`augmentation_labels`: each synthetic row gets a target training subject (its identity and
albedo) and the AU intensities of a frame of a *different* training subject, so every subject is
shown with label combinations it never made.

Departures from the paper (``docs/ausynth_method.md``, "Fig. 5: the augmentation study"):

* the default network is :class:`aujax.nn.ResNet` (ResNet-18, ImageNet stem, width 16) on the
  64 px crops of the synthetic DISFA-like set: AlexNet on 224 px crops, the paper's, does not
  train in the CPU budget; it is ``RegressorConfig(arch="alexnet")`` (:class:`aujax.nn.AlexNet`,
  dropout from the step's key);
* the optimizer is the paper's (Adam at 1e-4, the rate reduced by 4 % at each epoch); an epoch is
  one pass over the fraction's training rows, so the same number of steps spans fewer epochs when
  more synthetic images are added (the paper's schedule is per epoch too);
* the loss is the mean squared error on intensities 0..5; predictions are clipped to [0, 5].

Every fraction trains the same network from the same initial parameters for the same number of
steps with the same seeds: only the data change. The synthetic rows of fraction f are the first
``round(f * n_real)`` rows of ``synth_images``, so a larger fraction contains every smaller one.
Each fraction's run is resumable (:func:`aujax.train.fit_or_restore`) in ``workdir/<fraction>``.
"""

import dataclasses
import functools
import math
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from jaxtyping import ArrayLike

from ...nn import AlexNet, ResNet
from ...train import (
    ArrayLoader,
    TrainState,
    check_run_config,
    create_train_state,
    fit_or_restore,
    intensity_metrics,
    make_eval_step,
    make_train_step,
    predict_in_batches,
    train_loop,
)


__all__ = [
    "AUGMENT_FRACTIONS",
    "PAPER_FIG5",
    "RegressorConfig",
    "augmentation_labels",
    "augmentation_study",
    "build_regressor",
    "format_augmentation",
    "plot_augmentation",
    "predict_au_intensities",
    "train_au_regressor",
]

#: Synthetic images as a fraction of the real training frames (fig. 5: 0, 15K, 30K, 65K, 130K on
#: ~140K real frames, i.e. 0 / 10.7 / 21.4 / 46.4 / 92.9 %).
AUGMENT_FRACTIONS = (0.0, 0.1, 0.2, 0.45, 0.9)

#: The two points of fig. 5 the text gives (§4.3): no synthetic images and 30K (~20 %).
PAPER_FIG5 = {0.0: {"mae": 0.603, "mse": 1.001}, 0.2: {"mae": 0.543, "mse": 0.753}}

_ARCHS = ("resnet", "alexnet")
_EVAL_BATCH = 256
_MAX_INTENSITY = 5.0  # DISFA's intensities A-E = 1-5; predictions are clipped to [0, 5]


# -- labels for synthesis ----------------------------------------------------------------------


def augmentation_labels(
    labels: ArrayLike, subjects: ArrayLike, *, n: int, key: jax.Array
) -> tuple[np.ndarray, np.ndarray]:
    """AU label vectors for synthesis, each from another training subject (§4.3, fig. 5).

    "The label diversity of each subject in the training set was increased by randomly selecting
    different AU label combinations across different subjects in the training set." Row ``i``
    gets a target subject (whose identity and albedo the render uses) and the labels of a
    non-neutral frame (at least one AU above 0) of a *different* subject, drawn uniformly. Target
    subjects cycle through a random order of all subjects, so every prefix of the rows is
    balanced over subjects (the study takes prefixes).

    Args:
        labels: (N, n_aus) AU intensities of the training subjects' frames.
        subjects: (N,) the subject of each frame (ints or strings).
        n: how many label vectors to draw (>= 0).
        key: a PRNG key.

    Returns:
        ``(labels, targets)``: (n, n_aus) float32 label vectors and (n,) target subjects (the
        dtype of ``subjects``); ``subjects`` of a row's source frame never equals its target.

    Raises:
        ValueError: bad shapes, non-finite labels, fewer than two subjects, or a subject for whom
            no other subject has a non-neutral frame.
    """
    y = np.asarray(labels)
    s = np.asarray(subjects)
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError(f"labels must have shape (N, n_aus) with N >= 1, got {y.shape}.")
    if s.shape != (y.shape[0],):
        raise ValueError(f"subjects must have shape ({y.shape[0]},) (one per labels row), "
                         f"got {s.shape}.")  # fmt: skip
    if not np.all(np.isfinite(y)):
        raise ValueError("labels contains NaN or inf values.")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}.")
    ids = np.unique(s)
    if ids.size < 2:
        raise ValueError(f"subjects: need at least two training subjects, got {ids.tolist()}.")
    active = np.flatnonzero(np.any(y > 0, axis=1))
    k_order, k_rows = jax.random.split(key)
    order = ids[np.asarray(jax.random.permutation(k_order, ids.size))]
    targets = order[np.arange(n) % ids.size]
    pools = {t: active[s[active] != t] for t in order}
    for t, pool in pools.items():
        if pool.size == 0:
            raise ValueError(f"subjects: no other subject than {t.item()!r} has a non-neutral frame "
                             "(a label above 0) to draw labels from.")  # fmt: skip
    sizes = np.array([pools[t].size for t in targets], np.int64)
    draws = np.asarray(jax.random.randint(k_rows, (n,), 0, np.maximum(sizes, 1)), np.int64)
    rows = np.empty(n, np.int64)
    for t in order:
        at = targets == t
        rows[at] = pools[t][draws[at]]
    return y[rows].astype(np.float32), targets


# -- the regressor -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RegressorConfig:
    """The image AU-intensity network and its optimizer (§4.3: AlexNet, lr 1e-4, -4 % per epoch).

    Attributes:
        arch: ``"resnet"`` (:class:`aujax.nn.ResNet`) or ``"alexnet"`` (:class:`aujax.nn.AlexNet`,
            the paper's, 224 px crops; ``depth``, ``width`` and ``stem`` do not apply).
        depth, width, stem: the ResNet's depth (18, 34, 50, ...), first-stage width and stem
            (``"imagenet"``: stride 4 before the first stage, fit for 64-224 px crops).
        lr: Adam's initial learning rate (the paper: 1e-4).
        decay: the learning rate's reduction per epoch (the paper: 4 %, ``lr * (1 - decay) **
            epoch``).
        checkpoint_every, log_every: checkpoint and log intervals in steps.
    """

    arch: str = "resnet"
    depth: int = 18
    width: int = 16
    stem: str = "imagenet"
    lr: float = 1e-4
    decay: float = 0.04
    checkpoint_every: int = 100
    log_every: int = 50

    def __post_init__(self):
        if self.arch not in _ARCHS:
            raise ValueError(f"arch must be one of {_ARCHS}, got {self.arch!r}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive, got {self.lr!r}.")
        if not 0 <= self.decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {self.decay!r}.")
        for name in ("checkpoint_every", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")


def build_regressor(
    config: RegressorConfig, *, n_aus: int, in_channels: int, key: jax.Array
) -> nnx.Module:
    """The regressor of :class:`RegressorConfig`: images (b, H, W, C) -> (features, (b, n_aus)).

    Args:
        config: the network's configuration.
        n_aus: outputs of the last layer (the paper: 12).
        in_channels: image channels.
        key: the PRNG key of the initial parameters.
    """
    if config.arch == "alexnet":
        return AlexNet(num_classes=n_aus, in_channels=in_channels, rngs=nnx.Rngs(key))
    return ResNet(depth=config.depth, num_classes=n_aus, width=config.width, stem=config.stem,
                  in_channels=in_channels, rngs=nnx.Rngs(key))  # fmt: skip


class _EpochDecayState(NamedTuple):
    count: jax.Array  # () int32, updates applied
    epoch_steps: jax.Array  # () float32, updates per epoch (set per run: see _with_epoch_steps)


def _epoch_decay(lr: float, decay: float) -> optax.GradientTransformation:
    """Scales updates by ``-lr * (1 - decay) ** floor(count / epoch_steps)``.

    ``optax.exponential_decay(staircase=True)`` fixes the epoch length in the transformation,
    which is a static part of the :class:`aujax.train.TrainState`: every fraction's epoch length
    would compile the step again. Here the epoch length is a leaf of the optimizer state.
    """

    def init(params):
        del params
        return _EpochDecayState(jnp.zeros((), jnp.int32), jnp.ones((), jnp.float32))

    def update(updates, state, params=None):
        del params
        epoch = jnp.floor(state.count.astype(jnp.float32) / state.epoch_steps)
        scale = -lr * jnp.power(jnp.float32(1.0 - decay), epoch)
        updates = jax.tree.map(lambda g: (scale * g).astype(g.dtype), updates)
        return updates, state._replace(count=state.count + 1)

    return optax.GradientTransformation(init, update)


@functools.lru_cache(maxsize=8)
def _optimizer(lr: float, decay: float) -> optax.GradientTransformation:
    """Adam with the per-epoch decay; one object per setting (a static part of the state, so
    equal settings reuse the compiled step)."""
    return optax.chain(optax.scale_by_adam(), _epoch_decay(lr, decay))


def _with_epoch_steps(state: TrainState, epoch_steps: int) -> TrainState:
    adam, decay = state.opt_state
    decay = decay._replace(epoch_steps=jnp.asarray(float(epoch_steps), jnp.float32))
    return state.replace(opt_state=(adam, decay))


def _forward(model, images, key=None):
    """(b, n_aus) intensities of images in [0, 1] (centred on 0; AlexNet's dropout with a key)."""
    x = images - 0.5
    _, out = model(x, key=key) if isinstance(model, AlexNet) else model(x)
    return out


def _loss_fn(model, batch, *, key):
    """Mean squared error of the intensities (BatchNorm in training mode, AlexNet's dropout)."""
    model.train()
    out = _forward(model, batch["image"], key)
    err = out - batch["labels"]
    loss = jnp.mean(err * err)
    return loss, {"mse": loss, "mae": jnp.mean(jnp.abs(err))}


def _predict_fn(model, batch):
    return {"y": _forward(model, batch["image"])}


@functools.lru_cache(maxsize=1)
def _train_step():
    """One jitted step for every run (its compiled programs are reused across fractions)."""
    return make_train_step(_loss_fn)


@functools.lru_cache(maxsize=1)
def _eval_step():
    return make_eval_step(_predict_fn)


def _images(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (n, H, W, C), got {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold floats in [0, 1], got dtype {x.dtype}.")
    x = x.astype(np.float32, copy=False)
    if x.size and not (np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0):
        raise ValueError(f"{name} must hold finite values in [0, 1], got values in "
                         f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}].")  # fmt: skip
    return x


def _labels(y, name: str, images: np.ndarray, images_name: str,
            n_aus: int | None = None) -> np.ndarray:  # fmt: skip
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"{name} must have shape (n, n_aus), got {y.shape}.")
    if y.shape[0] != images.shape[0]:
        raise ValueError(f"{name} has {y.shape[0]} rows but {images_name} has "
                         f"{images.shape[0]}: expected one label vector per image.")  # fmt: skip
    if n_aus is not None and y.shape[1] != n_aus:
        raise ValueError(f"{name} has {y.shape[1]} AUs, expected {n_aus} (as real_labels).")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or inf values.")
    if y.size and not (y.min() >= 0.0 and y.max() <= _MAX_INTENSITY):
        raise ValueError(f"{name} must hold AU intensities in [0, {_MAX_INTENSITY:g}], got values "
                         f"in [{y.min():.3g}, {y.max():.3g}].")  # fmt: skip
    return y.astype(np.float32)


def _typed_key(key) -> jax.Array:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
            and key.shape == ()):  # fmt: skip
        raise ValueError(f"key must be a typed PRNG key (jax.random.key(seed)), got {key!r}.")
    return key


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}.")
    return int(v)


def train_au_regressor(
    images: ArrayLike,
    labels: ArrayLike,
    *,
    key: jax.Array,
    steps: int,
    batch_size: int,
    config: RegressorConfig = RegressorConfig(),
    workdir: str | os.PathLike | None = None,
    progress: bool | str = False,
    restore: int | str | None = None,
) -> TrainState:
    """Trains the image AU-intensity regressor of §4.3 on ``(images, labels)``.

    Adam at ``config.lr``, reduced by ``config.decay`` at each epoch (``len(images) //
    batch_size`` steps), mean squared error on the intensities. The initial parameters, the
    batches' shuffling seed and the steps' keys all derive from ``key``, so equal keys give equal
    runs and runs on different data start from the same network.

    Args:
        images: (n, H, W, C) floats in [0, 1].
        labels: (n, n_aus) AU intensities (0..5).
        key: a PRNG key.
        steps: optimizer steps.
        batch_size: images per step (<= n).
        config: the network and optimizer.
        workdir: the run directory (checkpoints, ``metrics.jsonl``): resumes from its newest
            checkpoint; None trains in memory.
        progress: show a progress bar (a string is its label).
        restore: with a workdir, ``"latest"`` or a step number restores that checkpoint without
            training (evaluation by restore).

    Returns:
        The trained :class:`aujax.train.TrainState`; predict with :func:`predict_au_intensities`.
    """
    key = _typed_key(key)
    x = _images(images, "images")
    y = _labels(labels, "labels", x, "images")
    steps, batch_size = _positive_int(steps, "steps"), _positive_int(batch_size, "batch_size")
    if batch_size > x.shape[0]:
        raise ValueError(f"batch_size = {batch_size} exceeds the {x.shape[0]} training images.")
    k_init, k_data, k_step = jax.random.split(key, 3)
    net = build_regressor(config, n_aus=y.shape[1], in_channels=x.shape[3], key=k_init)
    state = create_train_state(net, _optimizer(float(config.lr), float(config.decay)), key=k_step)
    seed = int(jax.random.randint(k_data, (), 0, 2**31 - 1))
    loader = ArrayLoader({"image": x, "labels": y}, batch_size=batch_size, seed=seed)
    state = _with_epoch_steps(state, loader.batches_per_epoch)
    if workdir is None:
        if restore is not None:
            raise ValueError("restore needs a workdir.")
        return train_loop(state, _train_step(), loader, num_steps=steps, progress=progress)
    return fit_or_restore(
        pathlib.Path(workdir), state, None, loader, steps=steps,
        checkpoint_every=min(config.checkpoint_every, steps), log_every=config.log_every,
        progress=progress, restore=restore, step_fn=_train_step(),
    )  # fmt: skip


def predict_au_intensities(
    state: TrainState, images: ArrayLike, *, batch_size: int = _EVAL_BATCH
) -> np.ndarray:
    """AU intensities (n, n_aus) of ``images`` (n, H, W, C) in [0, 1], clipped to [0, 5]."""
    x = _images(images, "images")
    batch = max(1, min(int(batch_size), x.shape[0]))
    out = predict_in_batches(lambda b: _eval_step()(state, b), {"image": x}, batch)["y"]
    return np.clip(np.asarray(out, np.float64), 0.0, _MAX_INTENSITY)


# -- the study ---------------------------------------------------------------------------------


def _fraction_name(f: float) -> str:
    return f"{f:g}"


def _check_fractions(fractions) -> tuple[float, ...]:
    fr = tuple(float(f) for f in fractions)
    if not fr or any(not (math.isfinite(f) and f >= 0) for f in fr):
        raise ValueError(f"fractions must be non-empty and >= 0, got {fractions!r}.")
    if len(set(map(_fraction_name, fr))) != len(fr):
        raise ValueError(f"fractions must be distinct, got {fractions!r}.")
    return fr


def augmentation_study(
    *,
    real_images: ArrayLike,
    real_labels: ArrayLike,
    synth_images: ArrayLike,
    synth_labels: ArrayLike,
    test_images: ArrayLike,
    test_labels: ArrayLike,
    fractions: Sequence[float] = AUGMENT_FRACTIONS,
    key: jax.Array,
    steps: int,
    batch_size: int,
    config: RegressorConfig = RegressorConfig(),
    workdir: str | os.PathLike | None = None,
    progress: bool | str | None = None,
    log: Callable[[str], None] | None = None,
    restore: bool = False,
) -> dict:
    """Fig. 5: the image AU-intensity regressor trained on real + synthetic images per fraction.

    Fraction ``f`` trains :func:`train_au_regressor` on the real images plus the first
    ``round(f * n_real)`` synthetic ones, with the same ``key``, ``steps``, ``batch_size`` and
    ``config`` for every fraction, and scores the test images.

    Args:
        real_images: (n_real, H, W, C) the training subjects' non-neutral frames, floats in [0, 1].
        real_labels: (n_real, n_aus) their AU intensities (0..5).
        synth_images: (n_synth, H, W, C) synthetic renders (labels from
            :func:`augmentation_labels`), at least ``round(max(fractions) * n_real)`` rows.
        synth_labels: (n_synth, n_aus) the labels they were rendered with.
        test_images: (n_test, H, W, C) the test subjects' frames.
        test_labels: (n_test, n_aus) their AU intensities.
        fractions: synthetic images as fractions of ``n_real`` (:data:`AUGMENT_FRACTIONS`).
        key: the PRNG key of every fraction's run.
        steps: optimizer steps per fraction.
        batch_size: images per step.
        config: the network and optimizer (:class:`RegressorConfig`).
        workdir: each fraction trains in ``workdir/<fraction>`` (``config.json`` ties the
            directory to these settings; a killed run resumes, a finished one is restored);
            None trains in memory.
        progress: None / False: no progress bars; True or a label prefix: one bar per fraction.
        log: optional ``log(line)`` called once per fraction (size, time, MAE / MSE / ICC).
        restore: evaluation by restore: each fraction's latest checkpoint in ``workdir`` is
            restored and tested, nothing is trained (its ``config.json`` must exist and match).

    Returns:
        ``{fraction: {"mae", "mse", "icc", "per_au", "n_synthetic", "seconds"}}``: ``mae``, ``mse``
        and ``icc`` are means over AUs (ICC: over the AUs where it is defined), ``per_au`` holds
        the (n_aus,) arrays ``{"mae", "mse", "icc"}``, ``seconds`` the fraction's wall time
        (training or restoring, and testing).

    Raises:
        ValueError: images that are not (n, H, W, C) floats in [0, 1] or differ in size, label
            arrays whose rows or AUs do not match, too few synthetic rows, bad fractions.
    """
    fractions = _check_fractions(fractions)
    key = _typed_key(key)
    xr = _images(real_images, "real_images")
    yr = _labels(real_labels, "real_labels", xr, "real_images")
    xs = _images(synth_images, "synth_images")
    ys = _labels(synth_labels, "synth_labels", xs, "synth_images", yr.shape[1])
    xt = _images(test_images, "test_images")
    yt = _labels(test_labels, "test_labels", xt, "test_images", yr.shape[1])
    for name, x in (("synth_images", xs), ("test_images", xt)):
        if x.shape[1:] != xr.shape[1:]:
            raise ValueError(f"{name} has images of shape {x.shape[1:]}, expected "
                             f"{xr.shape[1:]} (as real_images).")  # fmt: skip
    n_real = xr.shape[0]
    need = max(round(f * n_real) for f in fractions)
    if need > xs.shape[0]:
        raise ValueError(f"synth_images has {xs.shape[0]} rows; fraction {max(fractions):g} of "
                         f"{n_real} real images needs {need}.")  # fmt: skip
    steps, batch_size = _positive_int(steps, "steps"), _positive_int(batch_size, "batch_size")
    if not (xr.shape[0] and xt.shape[0]):
        raise ValueError(f"real_images ({xr.shape[0]} rows) and test_images ({xt.shape[0]} rows) "
                         "must not be empty.")  # fmt: skip
    results = {}
    for f in fractions:
        n_syn = round(f * n_real)
        t0 = time.perf_counter()
        x = np.concatenate([xr, xs[:n_syn]]) if n_syn else xr
        y = np.concatenate([yr, ys[:n_syn]]) if n_syn else yr
        run_dir = None
        if workdir is not None:
            run_dir = pathlib.Path(workdir) / _fraction_name(f)
            settings = {"fraction": f, "n_real": n_real, "n_synthetic": n_syn,
                        "image_shape": list(xr.shape[1:]), "n_aus": int(yr.shape[1]),
                        "steps": steps, "batch_size": batch_size,
                        "key": np.asarray(jax.random.key_data(key)).tolist(),
                        "labels_sum": float(np.sum(y, dtype=np.float64)),
                        "regressor": dataclasses.asdict(config)}  # fmt: skip
            check_run_config(ml_collections.ConfigDict(settings), run_dir, train=not restore,
                             experiment="augmentation study")  # fmt: skip
        elif restore:
            raise ValueError("restore needs a workdir.")
        label = False
        if progress:
            prefix = progress if isinstance(progress, str) else "fig. 5"
            label = f"{prefix} +{_fraction_name(100 * f)}% synthetic"
        state = train_au_regressor(x, y, key=key, steps=steps, batch_size=batch_size,
                                   config=config, workdir=run_dir, progress=label,
                                   restore="latest" if restore else None)  # fmt: skip
        m = intensity_metrics(yt, predict_au_intensities(state, xt), not_coded=None)
        icc = m["icc"]
        results[f] = {
            "mae": float(np.mean(m["mae"])),
            "mse": float(np.mean(m["mse"])),
            "icc": float(np.nanmean(icc)) if np.any(np.isfinite(icc)) else float("nan"),
            "per_au": {k: np.asarray(v) for k, v in m.items()},
            "n_synthetic": int(n_syn),
            "seconds": time.perf_counter() - t0,
        }
        if log is not None:
            r = results[f]
            log(f"fig. 5: +{n_syn} synthetic ({100 * f:g} % of {n_real} real): MAE {r['mae']:.3f} "
                f"MSE {r['mse']:.3f} ICC {r['icc']:.3f} ({r['seconds']:.1f} s)")  # fmt: skip
    return results


# -- reporting ---------------------------------------------------------------------------------


def format_augmentation(results: dict) -> str:
    """Fig. 5 as a Markdown table: MAE, MSE, ICC per fraction, the paper's two points beside."""
    if not results:
        raise ValueError("results: expected {fraction: metrics} from augmentation_study.")

    def paper(f, k):
        hit = [v[k] for p, v in PAPER_FIG5.items() if math.isclose(p, f)]
        return f"{hit[0]:.3f}" if hit else "-"

    lines = ["### Fig. 5 — AU intensity estimation with synthetic images (test subjects)", "",
             "| synthetic images | % of real | MAE | MSE | ICC | paper MAE | paper MSE |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for f in sorted(results):
        r = results[f]
        lines.append(f"| {r['n_synthetic']} | {100 * f:g} | {r['mae']:.3f} | {r['mse']:.3f} | "
                     f"{r['icc']:.3f} | {paper(f, 'mae')} | {paper(f, 'mse')} |")  # fmt: skip
    lines += ["", "Means over AUs (ICC(3,1): over the AUs where it is defined). Paper: §4.3's text "
              "(AlexNet, ~140K real DISFA frames; 0 and 30K synthetic, ~20 %); its other points "
              "are drawn in fig. 5 only."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_augmentation(path: str | os.PathLike, results: dict) -> None:
    """Fig. 5: MAE, MSE and ICC against the number of synthetic images, written to ``path`` (PNG).

    The paper's two points (:data:`PAPER_FIG5`) are drawn at the same fractions of our real set.
    """
    if not results:
        raise ValueError("results: expected {fraction: metrics} from augmentation_study.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = sorted(results)
    n = [results[f]["n_synthetic"] for f in fr]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, k in zip(axes, ("mae", "mse", "icc"), strict=True):
        ax.plot(n, [results[f][k] for f in fr], "o-", label="ours")
        ax.set_xlabel("synthetic images")
        ax.set_title(k.upper())
        ax.grid(alpha=0.3)
        if k in ("mae", "mse"):
            n_real = _n_real(results)
            pts = [(p * n_real, v[k]) for p, v in PAPER_FIG5.items()] if n_real else []
            if pts:
                ax.plot(*zip(*pts, strict=True), "x--", color="C3",
                        label="paper (same fraction of real)")  # fmt: skip
        ax.legend(fontsize=7)
    fig.suptitle("Fig. 5 analogue — AU intensity estimation with synthetic images")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _n_real(results: dict) -> float | None:
    """The real training set's size, recovered from a fraction > 0 (None: only fraction 0)."""
    for f, r in results.items():
        if f > 0 and r["n_synthetic"] > 0:
            return r["n_synthetic"] / f
    return None
