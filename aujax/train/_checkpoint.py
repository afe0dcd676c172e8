"""Checkpoints of a training run through orbax-checkpoint's V1 API, behind one class (DESIGN §8).

A run's ``workdir/checkpoints/`` holds two orbax ``training.Checkpointer`` directories:

``latest/``
    periodic checkpoints (every ``every`` steps and whenever ``force=True``), the newest
    ``keep`` kept; a killed run resumes from the newest one that reads back;
``best/``
    the best-so-far checkpoint by one metric (``best_metric``, ``mode``), replaced when a
    better value is saved.

Each checkpoint holds the training state pytree (model parameters and statistics, optimizer
state, step, the PRNG key as raw key data) and, beside it, the input pipeline's iterator state
(grain ``get_state()`` bytes, stored as text) and the metrics it was saved with. orbax writes a
checkpoint to a temporary directory and renames it when complete, so a run killed while saving
leaves the previous checkpoints intact. A checkpoint that fails to read (deleted or corrupted
files) raises :class:`CheckpointError` naming its directory; :meth:`Checkpoints.restore` with
``step="latest"`` skips such checkpoints with a warning and falls back to the next newest one.
"""

import os
import pathlib
import warnings
from typing import Any

import jax
import numpy as np
from flax import struct
from orbax.checkpoint import v1 as ocp


__all__ = ["CheckpointError", "Checkpoints", "Restored"]


class CheckpointError(RuntimeError):
    """A checkpoint is missing or cannot be read; the message names its directory."""


@struct.dataclass
class Restored:
    """What :meth:`Checkpoints.restore` returns.

    Attributes:
        state: the restored training-state pytree.
        data_state: the input iterator state saved with it (bytes), or None.
        step: the checkpoint's step.
        metrics: the metrics it was saved with (dict, possibly empty).
        path: the checkpoint directory.
    """

    state: Any
    data_state: bytes | None = struct.field(pytree_node=False)
    step: int = struct.field(pytree_node=False)
    metrics: dict = struct.field(pytree_node=False)
    path: str = struct.field(pytree_node=False)


def _step_dir(root: pathlib.Path, step: int) -> pathlib.Path:
    return root / str(step)


class Checkpoints:
    """Periodic and best-so-far checkpoints of one run (orbax V1 ``training.Checkpointer``).

    Use as a context manager (or call :meth:`close`); saves are synchronous, so a returned
    :meth:`save` is on disk.

    Args:
        directory: the run's checkpoint directory (``workdir/checkpoints``).
        every: save a periodic checkpoint every ``every`` steps (steps ``0, every, 2 every, ...``;
            ``force=True`` saves any step).
        keep: periodic checkpoints kept (the newest ``keep``).
        best_metric: name of the metric (a key of ``metrics`` in :meth:`save`) that ranks the
            best checkpoint; None disables ``best/``.
        mode: ``"max"`` (higher is better, e.g. F1) or ``"min"`` (e.g. a loss).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        every: int,
        keep: int = 2,
        best_metric: str | None = None,
        mode: str = "max",
    ):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}.")
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an int >= 1, got {keep!r}.")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        self.directory = pathlib.Path(directory).absolute()
        self.every, self.keep, self.best_metric, self.mode = every, keep, best_metric, mode
        policies = ocp.training.preservation_policies
        self._latest = ocp.training.Checkpointer(
            self.directory / "latest",
            save_decision_policy=ocp.training.save_decision_policies.FixedIntervalPolicy(every),
            preservation_policy=policies.LatestN(keep),
        )
        self._best = None
        if best_metric is not None:
            self._best = ocp.training.Checkpointer(
                self.directory / "best", preservation_policy=policies.LatestN(1)
            )

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> "Checkpoints":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Waits for pending work and releases the checkpointers."""
        self._latest.close()
        if self._best is not None:
            self._best.close()

    # -- queries ---------------------------------------------------------------------------------
    def steps(self) -> list[int]:
        """Steps of the periodic checkpoints on disk, oldest first."""
        return sorted(int(m.step) for m in self._latest.checkpoints)

    @property
    def latest_step(self) -> int | None:
        """The newest periodic checkpoint's step, or None."""
        steps = self.steps()
        return steps[-1] if steps else None

    def best(self) -> tuple[int, float] | None:
        """``(step, value)`` of the best checkpoint, or None."""
        if self._best is None:
            return None
        ms = list(self._best.checkpoints)
        if not ms:
            return None
        m = ms[-1]
        return int(m.step), float((m.metrics or {})[self.best_metric])

    def _improves(self, value: float) -> bool:
        current = self.best()
        if current is None:
            return True
        return value > current[1] if self.mode == "max" else value < current[1]

    # -- save / restore ----------------------------------------------------------------------------
    def save(
        self,
        step: int,
        state,
        *,
        data_state: bytes | None = None,
        metrics: dict | None = None,
        force: bool = False,
    ) -> bool:
        """Saves ``state`` at ``step`` if the interval says so (or ``force``), and as the best.

        Args:
            step: the training step (int >= 0).
            state: the training-state pytree (arrays; PRNG keys as ``jax.random.key_data``).
            data_state: the input iterator's ``get_state()`` (bytes), restored with the state.
            metrics: JSON-serialisable scalars saved with the checkpoint; when ``best_metric`` is
                among them and improves on the best so far, the state is also saved to ``best/``.
            force: save a periodic checkpoint whatever the interval.

        Returns:
            True if a periodic checkpoint was written.
        """
        step = int(step)
        metrics = {} if metrics is None else {k: float(v) for k, v in metrics.items()}
        flat, extra = _flatten(state), _encode(data_state)

        def items():  # a fresh dict per call: orbax adds its own keys to the one it is given
            return {"state": flat, "extra": extra}

        wrote = self._latest.save_checkpointables(
            step, items(), metrics=metrics, force=force, overwrite=force
        )
        if self._best is not None and self.best_metric in metrics:
            value = metrics[self.best_metric]
            if np.isfinite(value) and self._improves(value):
                self._best.save_checkpointables(step, items(), metrics=metrics, force=True,
                                                overwrite=True)  # fmt: skip
        return bool(wrote)

    def restore(self, abstract_state=None, *, step: int | str = "latest") -> Restored:
        """Restores a checkpoint.

        Args:
            abstract_state: a pytree of ``jax.ShapeDtypeStruct`` (with shardings) or arrays
                shaped like the state; strongly recommended (orbax otherwise infers it).
            step: ``"latest"`` (the newest checkpoint that reads back; corrupt ones are skipped
                with a warning), ``"best"``, or an int step of a periodic checkpoint.

        Returns:
            :class:`Restored`.

        Raises:
            CheckpointError: no checkpoint, an unknown step, or an unreadable checkpoint (the
                message names its directory).
        """
        if step == "best":
            if self._best is None:
                raise CheckpointError(
                    "no best checkpoint: Checkpoints was built without best_metric."
                )
            b = self.best()
            if b is None:
                raise CheckpointError(f"no best checkpoint under {self.directory / 'best'}.")
            return self._load(self._best, self.directory / "best", b[0], abstract_state)
        steps = self.steps()
        if step == "latest":
            if not steps:
                raise CheckpointError(f"no checkpoint under {self.directory / 'latest'}.")
            errors = []
            for s in reversed(steps):
                try:
                    return self._load(self._latest, self.directory / "latest", s, abstract_state)
                except CheckpointError as e:
                    warnings.warn(f"skipping unreadable checkpoint: {e}", stacklevel=2)
                    errors.append(str(e))
            raise CheckpointError("no readable checkpoint: " + "; ".join(errors))
        if not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be 'latest', 'best' or an int, got {step!r}.")
        if int(step) not in steps:
            raise CheckpointError(
                f"no checkpoint for step {step} under {self.directory / 'latest'} "
                f"(steps on disk: {steps})."
            )
        return self._load(self._latest, self.directory / "latest", int(step), abstract_state)

    def _load(self, ckptr, root: pathlib.Path, step: int, abstract_state) -> Restored:
        path = _step_dir(root, step)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sharding info not provided"
                if abstract_state is None:
                    items = ckptr.load_checkpointables(step)
                else:
                    abstract = _flatten(_abstract(abstract_state))
                    items = ckptr.load_checkpointables(step, {"state": abstract, "extra": None})
            meta = [m for m in ckptr.checkpoints if int(m.step) == step]
            metrics = dict(meta[0].metrics or {}) if meta else {}
        except Exception as e:  # orbax raises many types (FileNotFoundError, ValueError, ...)
            raise CheckpointError(
                f"checkpoint {path} cannot be read ({type(e).__name__}: {e})"
            ) from e
        state = items["state"]
        if abstract_state is not None:
            state = _unflatten(abstract_state, state, path)
        return Restored(
            state=state,
            data_state=_decode(items["extra"]),
            step=step,
            metrics=metrics,
            path=str(path),
        )


def _is_key(x) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _key_data(x):
    if isinstance(x, jax.ShapeDtypeStruct):  # abstract typed key -> abstract raw key data
        return jax.eval_shape(jax.random.key_data, x)
    return jax.random.key_data(x)


def _flatten(tree) -> dict:
    """``{key path: leaf}``: a plain dict orbax stores whatever pytree node types ``tree`` uses.

    Typed PRNG keys (e.g. in an NNX module's ``Rngs``) are stored as their raw key data.
    """
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(path): _key_data(leaf) if _is_key(leaf) else leaf
        for path, leaf in leaves
    }


def _unflatten(template, flat: dict, path) -> object:
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    keys = [jax.tree_util.keystr(p) for p, _ in paths]
    missing = [k for k in keys if k not in flat]
    if missing or len(flat) != len(keys):
        extra = sorted(set(flat) - set(keys))
        raise CheckpointError(
            f"checkpoint {path} does not match the model: missing {missing[:5]}, "
            f"unexpected {extra[:5]} (changed config?)"
        )
    leaves = [
        jax.random.wrap_key_data(flat[k], impl=jax.random.key_impl(t)) if _is_key(t) else flat[k]
        for k, (_, t) in zip(keys, paths, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _abstract(tree):
    def leaf(x):
        if _is_key(x):
            return x  # _flatten turns it into abstract key data
        if isinstance(x, jax.ShapeDtypeStruct):
            return x
        if isinstance(x, jax.Array):
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
        if isinstance(x, np.ndarray | np.generic):
            return jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype)
        return x

    return jax.tree.map(leaf, tree)


def _encode(data_state: bytes | str | None) -> dict:
    """The iterator state as a uint8 array (an array leaf, like everything orbax stores)."""
    if data_state is None:
        kind, raw = 0, b"\0"
    elif isinstance(data_state, bytes):
        kind, raw = 1, data_state or b"\0"
    elif isinstance(data_state, str):
        kind, raw = 2, data_state.encode() or b"\0"
    else:
        raise ValueError(f"data_state must be bytes, str or None, got {type(data_state).__name__}.")
    return {"kind": np.asarray(kind, np.int8), "bytes": np.frombuffer(raw, np.uint8).copy(),
            "size": np.asarray(len(data_state or b""), np.int64)}  # fmt: skip


def _decode(record) -> bytes | str | None:
    try:
        kind = int(np.asarray(record["kind"]))
        raw = np.asarray(record["bytes"], np.uint8).tobytes()[: int(np.asarray(record["size"]))]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"unrecognised data_state record ({e})") from e
    return None if kind == 0 else raw if kind == 1 else raw.decode()
