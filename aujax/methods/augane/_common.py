"""Input checks the seed 003 networks share (images, keys, counts, run settings)."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ...train import (
    ArrayLoader,
    create_train_state,
    fit_or_restore,
    train_loop,
    warmup_cosine_adamw,
)


__all__ = ["check_images", "check_positive_int", "check_typed_key", "train_network"]


def check_images(x, name: str) -> np.ndarray:
    """(n, H, W, C) floats in [0, 1] as float32, or a ValueError naming ``name``."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, H, W, C) with n >= 1, got {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold floats in [0, 1], got dtype {x.dtype}.")
    x = x.astype(np.float32, copy=False)
    if not (np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0):
        raise ValueError(f"{name} must hold finite values in [0, 1], got values in "
                         f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}].")  # fmt: skip
    return x


def check_typed_key(key) -> jax.Array:
    """A scalar typed PRNG key, or a ValueError."""
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
            and key.shape == ()):  # fmt: skip
        raise ValueError(f"key must be a typed PRNG key (jax.random.key(seed)), got {key!r}.")
    return key


def check_positive_int(v, name: str) -> int:
    """``v`` as an int >= 1, or a ValueError naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}.")
    return int(v)


def train_network(build, step, arrays: dict, *, key, steps: int, batch_size: int, config,
                  workdir, restore, progress, trainable=nnx.Param):  # fmt: skip
    """The runs of both networks: ``build(rngs)`` initialised from ``key``, AdamW with warm-up
    and cosine decay (``config.lr``, ``config.warmup``), shuffled batches of ``arrays``, trained
    in memory (``workdir`` None) or resumably in ``workdir`` (:func:`aujax.train.fit_or_restore`:
    checkpoints every ``config.checkpoint_every`` steps, ``restore`` evaluates without training).
    The initial parameters, the batch order and the steps' keys each derive from ``key``;
    ``trainable`` (an ``nnx`` filter) selects the optimised variables, the rest stay frozen."""
    if batch_size > len(next(iter(arrays.values()))):
        raise ValueError(f"batch_size = {batch_size} exceeds the {len(next(iter(arrays.values())))} "
                         "training images.")  # fmt: skip
    if restore is not None and workdir is None:
        raise ValueError("restore needs a workdir.")
    k_init, k_data, k_step = jax.random.split(key, 3)
    tx = warmup_cosine_adamw(steps, lr=float(config.lr), warmup=int(config.warmup))
    state = create_train_state(build(nnx.Rngs(k_init)), tx, key=k_step, trainable=trainable)
    seed = int(jax.random.randint(k_data, (), 0, 2**31 - 1))
    loader = ArrayLoader(arrays, batch_size=batch_size, seed=seed)
    if workdir is None:
        return train_loop(state, step, loader, num_steps=steps, progress=progress)
    return fit_or_restore(
        pathlib.Path(workdir), state, None, loader, steps=steps,
        checkpoint_every=min(config.checkpoint_every, steps), log_every=config.log_every,
        progress=progress, restore=restore, step_fn=step,
    )  # fmt: skip
