"""`python -m experiments.evaluate --workdir W [--step latest|N]`: restore a run, reprint its tables.

Every model of the run is restored from its checkpoints (orbax), evaluated on the same test
frames and the tables are printed again; with ``--step latest`` (the default, the step a finished
run ends with) they are identical to the ones the run printed. A missing or corrupt checkpoint is
reported with its directory. The run's resolved ``config.json`` is used.
"""

import json
import pathlib
import sys

from absl import app, flags


_WORKDIR = flags.DEFINE_string("workdir", None, "The run directory.", required=True)
_STEP = flags.DEFINE_string("step", "latest", "Checkpoint to evaluate: 'latest' or a step number.")


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import ml_collections
    from absl import logging

    from aujax.methods.physics import train_and_evaluate

    logging.set_verbosity(logging.WARNING)
    workdir = pathlib.Path(_WORKDIR.value)
    path = workdir / "config.json"
    if not path.exists():
        print(f"evaluate: {path} not found; is {workdir} a bp4d_physics workdir?", file=sys.stderr)
        return 2
    step = _STEP.value
    if step == "best":
        print("evaluate: runs keep no best checkpoint (no validation split); use latest or N.",
              file=sys.stderr)  # fmt: skip
        return 2
    step = step if step == "latest" else int(step)
    config = ml_collections.ConfigDict(json.loads(path.read_text()))
    train_and_evaluate(config, workdir, train=False, step=step)
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
