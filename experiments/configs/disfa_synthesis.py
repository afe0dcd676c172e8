"""Config of `python -m experiments.disfa_synthesis` (seed 002: AU-conditioned 3D expression
synthesis, Tables 1 and 2).

Presets (``--config=experiments/configs/disfa_synthesis.py:PRESET``):

* ``small`` (default): the CPU run (see ``docs/ausynth_method.md`` for the measured times): the 27
  synthetic DISFA-like subjects at 400 frames each (25 training / 2 test subjects), a morphable
  model of 30 FaceWarehouse-like subjects x 47 meshes (79 expression dimensions, capped by the
  data's rank), the paper's networks (z 100-d, latent 50-d, hidden 256) trained a few thousand
  steps with a cosine schedule instead of the paper's 150k at lr 1e-5.
* ``tiny``: the test-suite run: 3 subjects x 60 frames, 20 steps per generator.
* ``paper``: the paper's sizes: every frame of the ``full`` DISFA-like preset (4,845 per subject),
  150 FaceWarehouse-like subjects, 150k steps at lr 1e-5 (hours; a GPU).

Override any field: ``--config.train.steps=2000 --config.data.disfa_dir=/data/DISFA``.
"""

import ml_collections


__all__ = ["get_config"]


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
    preset = preset or "small"
    if preset not in ("small", "tiny", "paper"):
        raise ValueError(f"unknown preset {preset!r}: expected small, tiny or paper")
    c = ml_collections.ConfigDict()
    c.experiment = "disfa_synthesis"  # the launchers and experiments.evaluate dispatch on this
    c.preset = preset
    c.seed = 0
    c.data = dict(
        disfa_dir="",  # a DISFA copy; "" -> $AUJAX_DISFA_DIR, else synthetic
        cache_dir="",  # "" -> $AUJAX_CACHE or ~/.cache/aujax
        disfa_size="small",  # the synthetic preset (its subjects: small / full 27, tiny 3)
        subjects=(),  # a subset of the preset's subjects (() : all)
        frames=400,  # frames per subject (0: the preset's, 1,200 small / 4,845 full)
        n_vertices=650,  # template resolution of both synthetic sets (one vertex layout)
        image_size=64,  # crop side of the frames and the renders
        facewarehouse_subjects=30,
        facewarehouse_expressions=47,
    )
    c.model = dict(n_exp=79, n_id=0)  # n_id 0: every identity axis with variance (<= 100)
    # section 4.2's extraction (aujax.methods.ausynth.extract_subject)
    c.extract = dict(lambda_id=1e-4, lambda_exp=1e-4, temporal=0.0, n_neutral=32, n_iterations=10)
    c.split = dict(test_subjects=2, fold=0)  # fold 0: the paper's 25 / 2 by seed; 1-3: official
    c.bounds_q = 0.5  # ParameterBounds percentiles (training frames only)
    # the four generators (aujax.methods.ausynth.GANConfig); the paper: 150k steps, lr 1e-5, Adam
    c.train = dict(
        steps=4000, batch_size=64, lr=1e-4, lr_schedule="cosine", beta=10.0, lam=100.0,
        form="non_saturating", soft_labels="uniform", checkpoint_every=1000, log_every=100,
    )  # fmt: skip
    c.network = dict(noise_dim=100, latent_dim=50, hidden=256)
    c.judges = dict(
        fraction=0.3,  # section 4.3: 30 % of the non-neutral training frames
        svr_solver="jax",  # "sklearn" (liblinear) or "jax": the same optimum
        c=1.0, epsilon=0.1, c_ordinal=1.0, max_gap=10, image_c=0.1,
        # the image judge's 1,764 HOG features x ~2,200 crops: the JAX solver ~25 s for all 12
        # AUs; liblinear (the same optimum) did not converge in 1,000 iterations in 22 s per AU
        image_svr_solver="jax",
        # OpenFace's person-specific normalisation of the image judge's HOG ("none" or
        # "person_median": each crop's HOG minus its subject's median; docs/ausynth_method.md)
        image_normalise="person_median",
    )  # fmt: skip
    c.render = dict(light_elevation_deg=10.0, ambient=0.5)  # the DISFA-like capture's means
    c.generators = ("CGAN", "CGAN*", "CAAE", "CAAE*")
    # fig. 5 (aujax.methods.ausynth.augmentation_stage): the paper's CAAE* renders added to the
    # real training crops at 0 / 10 / 20 / 45 / 90 %; the same regressor, steps and key for each
    c.augment = dict(
        enabled=True, generator="CAAE*", fractions=(0.0, 0.1, 0.2, 0.45, 0.9), steps=400,
        batch_size=32,
        # aujax.methods.ausynth.RegressorConfig: ResNet-18 at width 16 (AlexNet: arch="alexnet",
        # the paper's, 61 M parameters: a GPU); Adam 1e-4, 4 % less per epoch (the paper's)
        regressor=dict(arch="resnet", depth=18, width=16, stem="imagenet", lr=1e-4, decay=0.04,
                       checkpoint_every=100, log_every=50),
    )  # fmt: skip
    # figs. 6-8 from `generator` on the first test subject; the vertex error against the physics
    # for every generator, `draws` neutral source frames / noise draws per test subject
    c.figures = dict(enabled=True, generator="CAAE*", draws=2)

    if preset == "tiny":
        c.data.disfa_size = "tiny"
        c.data.frames = 60
        c.data.n_vertices = 400
        c.data.facewarehouse_subjects = 6
        c.data.facewarehouse_expressions = 8
        c.model.n_exp = 10
        c.extract.update(n_neutral=8, n_iterations=4)
        c.split.test_subjects = 1
        c.train.update(steps=20, batch_size=16, checkpoint_every=10, log_every=10)
        c.network.update(noise_dim=8, latent_dim=4, hidden=16)
        c.augment.update(steps=4, batch_size=8, fractions=(0.0, 0.45))
        c.augment.regressor.update(checkpoint_every=2, log_every=2)
        c.figures.draws = 1
    elif preset == "paper":
        c.data.disfa_size = "full"
        c.data.frames = 0
        c.data.n_vertices = 1500
        c.data.image_size = 128
        c.data.facewarehouse_subjects = 150
        c.train.update(steps=150_000, lr=1e-5, lr_schedule="constant", checkpoint_every=5000)
        c.judges.svr_solver = "sklearn"
        c.augment.update(steps=20_000, batch_size=64)
        c.augment.regressor.update(arch="alexnet", checkpoint_every=1000, log_every=100)
        c.figures.draws = 8
    return c
