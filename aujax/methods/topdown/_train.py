"""Training and prediction of the two learned models of seed 000 (one fold's models).

Both train through the one loop of :mod:`aujax.train` (resumable, orbax checkpoints,
``metrics.jsonl``) with the helpers of the physics experiment (schedule, loop wrapper, batched
prediction):

* :func:`train_bottomup` — :class:`BottomUpCNN` on single aligned crops (masked BCE, eq. 5);
* :func:`train_integration` — :class:`IntegrationNet` on ``[p^bu || a*]`` per frame (eq. 6).

Frames reach grain in blocks (:class:`aujax.datasets.TableSource` with ``block``, batches
flattened by :func:`aujax.datasets.flatten_blocks`): with one frame per record, grain's
per-record cost made the loader, not the model, the bottleneck (about 0.5 s per batch of 256
records on this machine under load).

``restore`` (``"latest"`` or a step) restores a checkpoint instead of training: evaluation by
restore.
"""

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ...datasets import FrameTable, TableSource, flatten_blocks, frame_loader
from ...train import (
    au_loss,
    create_train_state,
    crops_to_float,
    fit_or_restore,
    model_of,
    predict_in_batches,
    run_seed,
    warmup_cosine_adamw,
)
from ._bottomup import BottomUpCNN
from ._integration import IntegrationNet


__all__ = [
    "build_bottomup",
    "build_integration",
    "predict_bottomup",
    "predict_integration",
    "train_bottomup",
    "train_integration",
]


def _block_loader(table, rows, *, fields, extra=None, batch_size: int, block: int, seed: int):
    if batch_size % block:
        raise ValueError(f"batch_size {batch_size} must be a multiple of data.block = {block}.")
    source = TableSource(
        table, rows, fields=fields, extra=extra, seed=seed, block=block, keys=False
    )
    return frame_loader(source, batch_size=batch_size // block, seed=seed, num_epochs=None)


def _run_name(run_dir: pathlib.Path) -> str:
    """The run's name for its shuffling seed (``fold1/bottomup``: independent of the workdir)."""
    return f"{run_dir.parent.name}/{run_dir.name}"


def build_bottomup(cfg, *, n_aus: int, image_size: int, seed: int) -> BottomUpCNN:
    """The bottom-up CNN of ``cfg.model`` (deterministic from ``seed``)."""
    m = cfg.model
    return BottomUpCNN(n_aus, image_size=image_size, channels=tuple(m.channels),
                       kernels=tuple(m.kernels), strides=tuple(m.strides), hidden=m.hidden,
                       rngs=nnx.Rngs(seed))  # fmt: skip


def build_integration(cfg, *, n_aus: int, n_levels: int, seed: int) -> IntegrationNet:
    """The integration network of ``cfg.model`` (deterministic from ``seed``)."""
    return IntegrationNet(n_aus, n_levels, hidden=tuple(cfg.model.integration_hidden),
                          level_scale=float(cfg.model.level_scale), rngs=nnx.Rngs(seed))  # fmt: skip


def train_bottomup(
    run_dir, *, cfg, table: FrameTable, rows, mesh, seed: int, progress=True, restore=None
):
    """Trains (or resumes, or restores) the bottom-up CNN on the crops of ``rows``.

    Returns:
        The :class:`aujax.train.TrainState`.
    """
    run_dir = pathlib.Path(run_dir)
    if table.images is None:
        raise ValueError("table: the bottom-up model needs crops (data.image_size 64 or 128).")
    loader = _block_loader(table, rows, fields=("labels", "image"), batch_size=cfg.train.batch_size,
                           block=cfg.data.block, seed=run_seed(seed, _run_name(run_dir)))  # fmt: skip
    net = build_bottomup(cfg, n_aus=table.labels.shape[1], image_size=table.images.shape[1],
                         seed=seed)  # fmt: skip
    tx = warmup_cosine_adamw(cfg.train.steps, lr=cfg.train.lr, warmup=cfg.train.warmup)
    state = create_train_state(net, tx, key=jax.random.key(seed))

    def loss_fn(model, batch, *, key):
        del key
        loss = au_loss(model(crops_to_float(batch["image"])), batch["labels"], batch["label_mask"])
        return loss, {"lau": loss}

    return fit_or_restore(
        run_dir, state, loss_fn, loader, steps=cfg.train.steps, mesh=mesh, prepare=flatten_blocks,
        checkpoint_every=cfg.train.checkpoint_every, log_every=cfg.train.log_every,
        progress=progress, restore=restore,
    )  # fmt: skip


@functools.partial(jax.jit, static_argnums=0)
def _bottomup_probabilities(graphdef, state, images):
    return nnx.merge(graphdef, state, copy=True).probabilities(crops_to_float(images))


def predict_bottomup(state, *, table: FrameTable, rows, batch: int = 256) -> np.ndarray:
    """(n, R) bottom-up probabilities (eq. 5) of ``rows``.

    The weights are an argument of one module-level jitted function, so every fold and every
    evaluation reuses one compilation per batch shape.
    """
    graphdef, st = nnx.split(model_of(state))
    rows = np.asarray(rows, np.int64)
    out = predict_in_batches(lambda b: _bottomup_probabilities(graphdef, st, b["image"]),
                   {"image": table.images[rows]}, batch)  # fmt: skip
    return out.astype(np.float64)


def _inputs(prob: np.ndarray, levels: np.ndarray) -> np.ndarray:
    return np.concatenate([prob, levels], axis=1).astype(np.float32)


def train_integration(
    run_dir,
    *,
    cfg,
    table: FrameTable,
    rows,
    prob: np.ndarray,
    levels: np.ndarray,
    mesh,
    seed: int,
    progress=True,
    restore=None,
):
    """Trains (or resumes, or restores) the integration network on ``rows``.

    Args:
        prob: (N, R) bottom-up probabilities of every table row (only ``rows`` are read).
        levels: (N, L) top-down levels of every table row.

    Returns:
        The :class:`aujax.train.TrainState`.
    """
    run_dir = pathlib.Path(run_dir)
    n_aus, n_levels = prob.shape[1], levels.shape[1]
    if prob.shape[0] != len(table) or levels.shape[0] != len(table):
        raise ValueError(
            f"prob {prob.shape} and levels {levels.shape} must cover every table row ({len(table)})."
        )
    loader = _block_loader(table, rows, fields=("labels", "x"), extra={"x": _inputs(prob, levels)},
                           batch_size=cfg.integration.batch_size, block=cfg.data.block,
                           seed=run_seed(seed, _run_name(run_dir)))  # fmt: skip
    net = build_integration(cfg, n_aus=n_aus, n_levels=n_levels, seed=seed)
    tx = warmup_cosine_adamw(cfg.integration.steps, lr=cfg.integration.lr, warmup=cfg.train.warmup)
    state = create_train_state(net, tx, key=jax.random.key(seed))

    def loss_fn(model, batch, *, key):
        del key
        x = batch["x"]
        logits = model(x[:, :n_aus], x[:, n_aus:])
        loss = au_loss(logits, batch["labels"], batch["label_mask"])
        return loss, {"lau": loss}

    return fit_or_restore(
        run_dir, state, loss_fn, loader, steps=cfg.integration.steps, mesh=mesh,
        prepare=flatten_blocks,
        checkpoint_every=cfg.train.checkpoint_every, log_every=cfg.train.log_every,
        progress=progress, restore=restore,
    )  # fmt: skip


@functools.partial(jax.jit, static_argnums=(0, 1))
def _integration_probabilities(graphdef, n_aus, state, x):
    return nnx.merge(graphdef, state, copy=True).probabilities(x[:, :n_aus], x[:, n_aus:])


def predict_integration(state, *, prob, levels, batch: int = 1024) -> np.ndarray:
    """(n, R) integrated probabilities (eq. 6) of per-row ``prob`` (n, R) and ``levels`` (n, L)."""
    graphdef, st = nnx.split(model_of(state))
    n_aus = int(prob.shape[1])
    out = predict_in_batches(lambda b: _integration_probabilities(graphdef, n_aus, st, jnp.asarray(b["x"])),
                   {"x": _inputs(prob, levels)}, batch)  # fmt: skip
    return out.astype(np.float64)
