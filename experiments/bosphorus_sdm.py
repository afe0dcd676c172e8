"""`python -m experiments.bosphorus_sdm`: 3D face reconstruction from one image (seed 004).

A bilinear identity x expression model (HOSVD of FaceWarehouse-like meshes) fitted to the detected
landmarks (eqs. 6-7), refined by a cascade of ridge regressors on HOG + landmark-displacement
features (eqs. 8-13, Algorithm 1), evaluated on Bosphorus-like samples by depth RMSE (eq. 14) and
mean vertex distance (eq. 15) over five cross-validation runs. With no flags it runs the ``small``
preset on this machine: without a Bosphorus copy (``--config.data.bosphorus_dir=/data/Bosphorus``
or ``$AUJAX_BOSPHORUS_DIR``) it generates the synthetic Bosphorus-like and FaceWarehouse-like data
once (cached in ``~/.cache/aujax``), trains and prints Table 1 (with the paper's numbers), the MAE
by expression (fig. 4) and by yaw (fig. 5), and writes them to ``WORKDIR/results`` with the CED
curves (fig. 7) and error maps (fig. 3) in ``WORKDIR/figures``. Rerunning the same command resumes
a killed run (finished cascades are restored); ``python -m experiments.evaluate --workdir WORKDIR``
reprints the tables from the saved cascades.

    python -m experiments.bosphorus_sdm                                   # small preset
    python -m experiments.bosphorus_sdm --config=experiments/configs/bosphorus_sdm.py:paper \\
        --workdir=/runs/sdm_paper

The training function is importable: ``from aujax.methods.sdm import train_and_evaluate``.
"""

from experiments._launch import command


main = command("bosphorus_sdm")  # --config, --workdir

if __name__ == "__main__":
    main()
