"""`python -m experiments.bp4d_physics`: biomechanics-guided AU detection (seed 001).

With no flags it runs the ``small`` preset on this machine: if no BP4D copy is given
(``--config.data.bp4d_dir=/data/BP4D`` or ``$AUJAX_BP4D_DIR``) it says so in one line, generates
the synthetic BP4D-like dataset once (cached in ``~/.cache/aujax``), trains the three folds and
prints the tables, which it also writes to ``WORKDIR/results`` with figures in
``WORKDIR/figures``. Rerunning the same command resumes a killed run from its checkpoints.

    python -m experiments.bp4d_physics                                  # small preset
    python -m experiments.bp4d_physics --config=experiments/configs/bp4d_physics.py:table1
    python -m experiments.bp4d_physics --config=experiments/configs/bp4d_physics.py:paper \\
        --config.data.bp4d_dir=/data/BP4D --workdir=/runs/bp4d_paper

The training function is importable: ``from aujax.methods.physics import train_and_evaluate``
(it takes the coefficient source, ``prepare_table=aujax.methods.topdown.prepared_table``); or
``from experiments import run_experiment``, which passes it (``experiments/_launch.py``).
"""

from experiments._launch import command


main = command("bp4d_physics")  # --config, --workdir

if __name__ == "__main__":
    main()
