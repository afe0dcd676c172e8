"""What every experiment does around the loop: an optimizer, a run seed, train-or-restore, batched
prediction, a run log and result tables (DESIGN §8).

The experiments (``aujax.methods.physics``, ``aujax.methods.topdown``) train many small models,
each in its own run directory; these helpers keep them identical in how they train, resume,
restore for evaluation and report. The run around them (workdir, folds, model directories, result
files) is :mod:`aujax.train._protocol`.
"""

import json
import pathlib
import zlib
from collections.abc import Callable

import jax
import numpy as np
import optax

from ._checkpoint import Checkpoints
from ._log import MetricsLog
from ._loop import train_loop
from ._step import make_train_step


__all__ = [
    "RunLog",
    "check_run_config",
    "csv_table",
    "fit_or_restore",
    "markdown_table",
    "predict_in_batches",
    "run_seed",
    "use_compilation_cache",
    "warmup_cosine_adamw",
]


def use_compilation_cache(directory, *, min_compile_secs: float = 1.0) -> str:
    """Turns on JAX's persistent compilation cache in ``directory`` (unless one is configured).

    An experiment trains many models whose steps compile to the same programs (the same row on
    every fold); with the cache each distinct program compiles once per machine (measured: the
    image branch's first step 10 s -> 1.9 s). Executables are reused unchanged, so results do not
    change. ``$JAX_COMPILATION_CACHE_DIR`` or an earlier setting wins.

    Returns:
        The cache directory in use.
    """
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = str(pathlib.Path(directory).expanduser())
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_secs))
    return path


def check_run_config(config, workdir, *, train: bool, experiment: str,
                     provenance: dict | None = None) -> None:  # fmt: skip
    """Ties a workdir to one config: writes ``config.json`` on the first run, refuses another.

    Args:
        config: the run's ``ml_collections.ConfigDict``.
        workdir: the run directory (created when training).
        train: False (evaluation by restore) requires an existing ``config.json``.
        experiment: the experiment's name, for the error message.
        provenance: what else the checkpoints depend on that the config does not name (the
            synthetic generator's version, the coefficient engine's), saved as the
            ``"provenance"`` section: a workdir trained on data of another generator is refused
            instead of silently resumed (its checkpoints fit other data).

    Raises:
        ValueError: ``config.json`` holds a different config (the differing sections are named),
            or it is missing when ``train`` is False.
    """
    resolved = json.loads(config.to_json_best_effort())
    if provenance is not None:
        resolved["provenance"] = {k: provenance[k] for k in sorted(provenance)}
    cpath = pathlib.Path(workdir) / "config.json"
    if cpath.exists():
        saved = json.loads(cpath.read_text())
        if saved != resolved:
            diff = sorted(k for k in set(saved) | set(resolved) if saved.get(k) != resolved.get(k))
            raise ValueError(
                f"{cpath} holds a run with a different config (sections {diff}); use a new "
                "workdir or the same config to resume."
            )
    elif train:
        cpath.parent.mkdir(parents=True, exist_ok=True)
        cpath.write_text(json.dumps(resolved, indent=2, sort_keys=True))
    else:
        raise ValueError(f"{cpath} not found: {cpath.parent} is not a {experiment} workdir.")


def warmup_cosine_adamw(steps: int, *, lr: float, warmup: int) -> optax.GradientTransformation:
    """AdamW (weight decay 1e-4) with linear warm-up then cosine decay, global-norm clip 1."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, lr, warmup_steps=min(warmup, max(steps - 1, 1)), decay_steps=max(steps, 2)
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=1e-4))


def run_seed(seed: int, name: str) -> int:
    """A per-run seed (data shuffling): the experiment seed mixed with the run's name."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**31


def fit_or_restore(
    run_dir,
    state,
    loss_fn: Callable | None,
    loader,
    *,
    steps: int,
    checkpoint_every: int,
    log_every: int,
    mesh=None,
    prepare: Callable | None = None,
    progress: bool | str = True,
    restore: int | str | None = None,
    evaluate: Callable | None = None,
    step_fn: Callable | None = None,
):
    """Trains ``state`` in ``run_dir`` (resuming from its checkpoints), or restores a checkpoint.

    Args:
        run_dir: the model's directory (``checkpoints/``, ``metrics.jsonl``).
        state, loss_fn, loader, steps, mesh, prepare, progress: as in :func:`train_loop`
            (``loss_fn`` goes through :func:`make_train_step`).
        step_fn: a ready step instead of ``loss_fn`` (which must then be None), e.g. an
            adversarial step from :func:`aujax.train.make_adversarial_step`.
        checkpoint_every, log_every: checkpoint and log intervals (steps).
        restore: None trains; ``"latest"``, ``"best"`` or a step number restores that
            checkpoint into ``state`` without training (evaluation by restore).
        evaluate: optional ``evaluate(state) -> {"f1": ...}`` run at every checkpoint; its
            ``eval/f1`` ranks the ``best`` checkpoint.

    Returns:
        The trained or restored state.
    """
    if (loss_fn is None) == (step_fn is None):
        raise ValueError("give exactly one of loss_fn and step_fn.")
    run_dir = pathlib.Path(run_dir)
    best = "eval/f1" if evaluate is not None else None
    with Checkpoints(run_dir / "checkpoints", every=checkpoint_every, best_metric=best,
                     mode="max") as ck:  # fmt: skip
        if restore is not None:
            return ck.restore(state, step=restore).state
        return train_loop(
            state, step_fn or make_train_step(loss_fn, mesh=mesh), loader, num_steps=steps, mesh=mesh,
            checkpoints=ck, log=MetricsLog(run_dir / "metrics.jsonl"), log_every=log_every,
            prepare=prepare, progress=progress, evaluate=evaluate, eval_every=checkpoint_every,
        )  # fmt: skip


def predict_in_batches(fn: Callable, arrays: dict, batch: int) -> dict:
    """Runs ``fn(dict of (batch, ...) arrays) -> pytree`` over fixed-size batches of host arrays.

    The last batch is padded by repeating its last example (one compiled shape) and the padding
    is dropped from the outputs, which are concatenated on the host.
    """
    n = next(iter(arrays.values())).shape[0]
    outs = []
    for s in range(0, n, batch):
        part = {k: v[s : s + batch] for k, v in arrays.items()}
        m = next(iter(part.values())).shape[0]
        if m < batch:
            part = {
                k: np.concatenate([v, np.repeat(v[-1:], batch - m, 0)]) for k, v in part.items()
            }
        out = jax.device_get(fn(part))
        outs.append(jax.tree.map(lambda x, m=m: np.asarray(x)[:m], out))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *outs)


class RunLog:
    """Progress lines of a run: echoed (``echo``, None: silent) and appended to ``log.txt``."""

    def __init__(self, workdir, echo=print):
        self.path, self.echo = pathlib.Path(workdir) / "log.txt", echo

    def __call__(self, msg: str) -> None:
        if self.echo is not None:
            self.echo(msg)
        with open(self.path, "a") as f:
            f.write(msg + "\n")


def markdown_table(title: str, header: list[str], lines, note: str = "") -> str:
    """A ``### title`` Markdown table of ``(name, fractions)`` lines, printed as percentages."""
    out = [f"### {title}", "", "| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]  # fmt: skip
    for name, vals in lines:
        out.append("| " + " | ".join([name] + [f"{100 * v:.1f}" for v in vals]) + " |")
    if note:
        out += ["", note]
    return "\n".join(out) + "\n"


def csv_table(header: list[str], lines) -> str:
    """The same lines as CSV, fractions with 6 decimals."""
    rows = [",".join(header)] + [",".join([n] + [f"{v:.6f}" for v in vals]) for n, vals in lines]
    return "\n".join(rows) + "\n"
