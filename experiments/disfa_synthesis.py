"""`python -m experiments.disfa_synthesis`: AU-conditioned 3D expression synthesis (seed 002).

3DMM expression parameters are extracted from the DISFA-like landmarks with a morphable model
built from FaceWarehouse-like meshes (an expression PCA, not the AU basis), then generated from AU
intensity labels by a conditional GAN and a conditional adversarial autoencoder, each with and
without soft labels (CGAN, CGAN*, CAAE, CAAE*). With no flags it runs the ``small`` preset on this
machine: without a DISFA copy (``--config.data.disfa_dir=/data/DISFA`` or ``$AUJAX_DISFA_DIR``) it
generates the synthetic DISFA-like and FaceWarehouse-like data once (cached in ``~/.cache/aujax``),
extracts the parameters (cached), trains the four generators and prints Table 1 (SVR / OSVR
judges on the parameters) and Table 2 (an image judge on renders with the source subject's
identity and albedo) with the paper's numbers beside ours, writing them to ``WORKDIR/results`` and
the generated parameters and renders to ``WORKDIR/outputs``. Rerunning the same command resumes a
killed run; ``python -m experiments.evaluate --workdir WORKDIR`` restores the generators and
reprints the tables.

    python -m experiments.disfa_synthesis                                   # small preset
    python -m experiments.disfa_synthesis --config=experiments/configs/disfa_synthesis.py:paper \\
        --workdir=/runs/synthesis_paper

The training function is importable: ``from aujax.methods.ausynth import train_and_evaluate``.
"""

from experiments._launch import command


main = command("disfa_synthesis")  # --config, --workdir

if __name__ == "__main__":
    main()
