"""`python -m experiments.bp4d_topdown`: blendshape-augmented AU detection (seed 000).

Top-down (blendshape engine + per-AU level thresholds), bottom-up (a three-layer CNN on aligned
crops) and their integration, table 1 over the three subject-independent folds under two
protocols (apex frames, all frames). With no flags it runs the ``small`` preset on this machine:
if no BP4D copy is given (``--config.data.bp4d_dir=/data/BP4D`` or ``$AUJAX_BP4D_DIR``) it says so
in one line and uses the synthetic BP4D-like dataset (generated once, cached in
``~/.cache/aujax`` and shared with ``experiments.bp4d_physics``). Tables go to
``WORKDIR/results``, the per-AU figure to ``WORKDIR/figures``; rerunning the same command resumes
a killed run from its checkpoints; ``python -m experiments.evaluate --workdir WORKDIR`` reprints
the tables from the checkpoints.

    python -m experiments.bp4d_topdown                                   # small preset
    python -m experiments.bp4d_topdown --config.data.dataset=disfa \\
        --workdir=workdirs/disfa_topdown                                # DISFA-like, 8 AUs
    python -m experiments.bp4d_topdown --config=experiments/configs/bp4d_topdown.py:paper \\
        --config.data.bp4d_dir=/data/BP4D --workdir=/runs/bp4d_topdown_paper

The training function is importable: ``from aujax.methods.topdown import train_and_evaluate``.
"""

import os
import sys

from absl import app, flags
from ml_collections import config_flags


_HERE = os.path.dirname(os.path.abspath(__file__))
_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(_HERE, "configs", "bp4d_topdown.py"), "Experiment config (preset after ':').",
    lock_config=True,
)  # fmt: skip
_WORKDIR = flags.DEFINE_string(
    "workdir", "workdirs/bp4d_topdown", "Run directory (resumes if present)."
)


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from absl import logging

    from aujax.datasets import cache_root
    from aujax.methods.topdown import train_and_evaluate
    from aujax.train import initialize, use_compilation_cache

    logging.set_verbosity(logging.WARNING)  # JAX's backend probing logs through absl at INFO
    initialize()
    # compiled steps are cached beside the data: the same row on every fold compiles once
    use_compilation_cache(cache_root(_CONFIG.value.data.cache_dir) / "jax")
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
