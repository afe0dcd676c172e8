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

from experiments._launch import command


main = command("bp4d_topdown")  # --config, --workdir

if __name__ == "__main__":
    main()
