"""The experiments by name, and the one launcher pattern of ``python -m experiments.<name>``.

``config.experiment`` names the experiment a config runs (configs written before the field
existed are ``bp4d_physics`` runs). :data:`EXPERIMENTS` says how each runs: its
``train_and_evaluate`` with what the experiments layer chooses for it (the physics method trains on
the coefficients the top-down engine reconstructs: ``prepare_table=``
:func:`aujax.methods.topdown.prepared_table`). The launchers (``experiments/bp4d_physics.py``,
``experiments/bp4d_topdown.py``), ``experiments/evaluate.py`` and the notebook run through it.
"""

import dataclasses
import functools
import os
import sys
from collections.abc import Callable

from absl import app, flags
from ml_collections import config_flags


__all__ = ["EXPERIMENTS", "Experiment", "command", "experiment_of", "run_experiment"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _physics() -> Callable:
    from aujax.methods.physics import train_and_evaluate
    from aujax.methods.topdown import prepared_table

    return functools.partial(train_and_evaluate, prepare_table=prepared_table)


def _topdown() -> Callable:
    from aujax.methods.topdown import train_and_evaluate

    return train_and_evaluate


def _sdm() -> Callable:
    from aujax.methods.sdm import train_and_evaluate

    return train_and_evaluate


def _ausynth() -> Callable:
    from aujax.methods.ausynth import train_and_evaluate

    return train_and_evaluate


def _augane() -> Callable:
    from aujax.methods.augane import train_and_evaluate

    return train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Experiment:
    """How one experiment runs.

    Attributes:
        name: ``config.experiment``; also the launcher module and the config file's name.
        load: imports the method (on first use) and returns ``train_and_evaluate(config, workdir,
            *, train, step, echo)`` with its injections bound.
        best_checkpoint: the run keeps a best-by-validation checkpoint (``--step best``).
    """

    name: str
    load: Callable[[], Callable]
    best_checkpoint: bool = False

    @property
    def config_file(self) -> str:
        return os.path.join(_HERE, "configs", f"{self.name}.py")


EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment("bp4d_physics", _physics, best_checkpoint=True),
        Experiment("bp4d_topdown", _topdown),
        Experiment("bosphorus_sdm", _sdm),
        Experiment("disfa_synthesis", _ausynth),
        Experiment("disfa_augane", _augane),
    )
}
_LEGACY = "bp4d_physics"  # configs written before config.experiment existed


def experiment_of(config) -> Experiment:
    """The experiment ``config.experiment`` names.

    Raises:
        ValueError: an unknown name.
    """
    name = config.get("experiment", _LEGACY)
    if name not in EXPERIMENTS:
        raise ValueError(
            f"config.experiment: unknown experiment {name!r} (known: {list(EXPERIMENTS)})."
        )
    return EXPERIMENTS[name]


def run_experiment(config, workdir, **kwargs) -> dict:
    """Runs the experiment ``config`` names in ``workdir`` (``train=False`` and ``step=``:
    evaluation by restore; ``echo=``: where progress goes). Returns its tables as a dict."""
    return experiment_of(config).load()(config, workdir, **kwargs)


def command(name: str) -> Callable[[], None]:
    """The command ``python -m experiments.<name>``: defines its flags ``--config`` (default
    ``experiments/configs/<name>.py``, preset after ``:``) and ``--workdir`` (default
    ``workdirs/<name>``) and returns the function that parses them and runs the experiment the
    config names (training, resuming a killed run, printing and writing the tables)."""
    config = config_flags.DEFINE_config_file(
        "config", EXPERIMENTS[name].config_file, "Experiment config (preset after ':').",
        lock_config=True,
    )  # fmt: skip
    workdir = flags.DEFINE_string(
        "workdir", f"workdirs/{name}", "Run directory (resumes if present)."
    )

    def main(argv) -> int:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        from absl import logging

        from aujax.datasets import cache_root
        from aujax.train import initialize, use_compilation_cache

        logging.set_verbosity(logging.WARNING)  # JAX's backend probing logs through absl at INFO
        initialize()
        # compiled steps are cached beside the data: the same row on every fold compiles once
        use_compilation_cache(cache_root(config.value.data.cache_dir) / "jax")
        run_experiment(config.value, workdir.value)
        return 0

    return lambda: sys.exit(app.run(main))
