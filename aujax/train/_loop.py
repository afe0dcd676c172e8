"""The one training loop every experiment uses: resume, step, log, evaluate, checkpoint (DESIGN §8).

A run is a function of its config and seed. The loop makes it survive ``kill -9``: it restores
the newest readable checkpoint (state, step, PRNG key data and the grain iterator position),
truncates ``metrics.jsonl`` to that step, and continues, so the resumed run performs exactly the
steps, draws exactly the batches and keys, and ends with exactly the numbers of an uninterrupted
run.
"""

from collections.abc import Callable

import jax
import numpy as np
from tqdm.auto import tqdm

from ._checkpoint import Checkpoints
from ._log import MetricsLog
from ._parallel import replicate, shard_batch
from ._state import TrainState


__all__ = ["train_loop"]


def train_loop(
    state: TrainState,
    step_fn: Callable,
    loader,
    *,
    num_steps: int,
    mesh: jax.sharding.Mesh | None = None,
    checkpoints: Checkpoints | None = None,
    log: MetricsLog | None = None,
    log_every: int = 10,
    evaluate: Callable[[TrainState], dict] | None = None,
    eval_every: int | None = None,
    prepare: Callable | None = None,
    progress: bool | str = True,
) -> TrainState:
    """Trains ``state`` for ``num_steps`` optimizer steps, resuming from ``checkpoints``.

    Args:
        state: the initial state (also the template a checkpoint is restored into).
        step_fn: ``step_fn(state, batch) -> (state, metrics)`` (:func:`make_train_step`).
        loader: an iterable whose iterator has ``get_state()`` / ``set_state()`` (a grain
            ``DataLoader``); it must yield at least ``num_steps`` batches (use
            ``num_epochs=None``).
        num_steps: total optimizer steps of the run.
        mesh: the data mesh; batches are sharded over it (None: placed on the default device).
        checkpoints: where to save and resume (None: no checkpoints, no resume).
        log: the run's metrics log (None: no log).
        log_every: log the step metrics every this many steps (and at the last step).
        evaluate: optional ``evaluate(state) -> dict`` of scalars, logged with an ``eval/``
            prefix and passed to ``checkpoints`` (which keeps the best by its metric).
        eval_every: evaluate every this many steps (and at the last step); None: only at the end.
        prepare: optional host-side ``prepare(batch) -> batch`` applied before sharding.
        progress: show a progress bar (a string is its label).

    Returns:
        The state after ``num_steps`` steps (restored as is when the run had already finished).

    Raises:
        ValueError: bad step counts, or a loader that runs out before ``num_steps``.
        FloatingPointError: a non-finite loss at a logging or checkpoint step (checked before
            anything is written, so the checkpoints hold only finite states).
    """
    if not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"num_steps must be an int >= 0, got {num_steps!r}.")
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be an int >= 1, got {log_every!r}.")
    it = iter(loader)
    if checkpoints is not None and checkpoints.latest_step is not None:
        restored = checkpoints.restore(state, step="latest")
        state = restored.state
        if restored.data_state is not None:
            it.set_state(restored.data_state)
        if log is not None:
            log.truncate(restored.step)
    if mesh is not None:
        # committed and replicated like the step's outputs: otherwise the second step compiles
        # the whole step again for the new input shardings (measured: +30 s per ResNet model)
        state = replicate(state, mesh)
    start = int(jax.device_get(state.step))
    if start > num_steps:
        raise ValueError(
            f"the checkpoint is at step {start}, past num_steps={num_steps} (changed config?)."
        )
    label = progress if isinstance(progress, str) else "train"
    bar = tqdm(total=num_steps, initial=start, desc=label, disable=not progress, leave=False)
    every = checkpoints.every if checkpoints is not None else None
    step = start
    while step < num_steps:
        try:
            batch = next(it)
        except StopIteration:
            raise ValueError(
                f"the loader ran out after {step} of {num_steps} steps; build it with "
                "num_epochs=None."
            ) from None
        if prepare is not None:
            batch = prepare(batch)
        batch = shard_batch(batch, mesh) if mesh is not None else jax.device_put(batch)
        state, metrics = step_fn(state, batch)
        step += 1
        bar.update(1)
        last = step == num_steps
        eval_metrics = None
        if evaluate is not None and (last or (eval_every and step % eval_every == 0)):
            eval_metrics = {f"eval/{k}": float(v) for k, v in evaluate(state).items()}
        logging = log is not None and (last or step % log_every == 0 or eval_metrics)
        saving = checkpoints is not None and (last or step % every == 0 or eval_metrics)
        if logging or saving:
            host = {k: float(np.asarray(v)) for k, v in jax.device_get(metrics).items()}
            if not np.isfinite(host.get("loss", 0.0)):
                bar.close()
                raise FloatingPointError(
                    f"training diverged: loss = {host['loss']} at step {step} (metrics {host}); "
                    "nothing after the last finite check was saved"
                    + (f", the newest checkpoint is step {checkpoints.latest_step}"
                       if checkpoints is not None else "") + "."
                )  # fmt: skip
        if logging:
            log.write(step, {**host, **(eval_metrics or {})})
            bar.set_postfix(loss=f"{host.get('loss', float('nan')):.4g}")
        if saving:
            checkpoints.save(
                step,
                state,
                data_state=it.get_state(),
                metrics=eval_metrics,
                force=True,
            )
    bar.close()
    return state
