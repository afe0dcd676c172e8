"""`python -m experiments.evaluate --workdir W [--step latest|best|N]`: restore, reprint the tables.

Every model of the run is restored from its checkpoints (orbax), evaluated on the same test
frames and the tables are printed again; with ``--step latest`` (the default, the step a finished
run ends with) they are identical to the ones the run printed; ``--step best`` evaluates each
model's checkpoint of highest validation F1 (bp4d_physics). A missing or corrupt checkpoint is
reported with its directory. The run's resolved ``config.json`` is used; its ``experiment`` field
says which experiment wrote it (absent: ``bp4d_physics``) and the registry of
``experiments/_launch.py`` runs that experiment by restore.
"""

import json
import pathlib
import sys

from absl import app, flags

from experiments._launch import EXPERIMENTS, experiment_of, run_experiment


_WORKDIR = flags.DEFINE_string("workdir", None, "The run directory.", required=True)
_STEP = flags.DEFINE_string(
    "step", "latest", "Checkpoint to evaluate: 'latest', 'best' (bp4d_physics) or a step number."
)


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import ml_collections
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    workdir = pathlib.Path(_WORKDIR.value)
    path = workdir / "config.json"
    if not path.exists():
        print(f"evaluate: {path} not found; is {workdir} the workdir of a run of "
              f"{', '.join(EXPERIMENTS)}?", file=sys.stderr)  # fmt: skip
        return 2
    step = _STEP.value
    if step not in ("latest", "best") and not step.isdigit():
        print(f"evaluate: --step must be latest, best or a step number, got {step!r}.",
              file=sys.stderr)  # fmt: skip
        return 2
    step = step if step in ("latest", "best") else int(step)
    config = ml_collections.ConfigDict(json.loads(path.read_text()))
    try:
        experiment = experiment_of(config)
    except ValueError as e:
        print(f"evaluate: {path}: {e}", file=sys.stderr)
        return 2
    if step == "best" and not experiment.best_checkpoint:
        print(f"evaluate: {experiment.name} runs keep no best checkpoint (no validation split); "
              "use latest or N.", file=sys.stderr)  # fmt: skip
        return 2
    run_experiment(config, workdir, train=False, step=step)
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
