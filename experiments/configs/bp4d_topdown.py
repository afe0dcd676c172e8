"""Config of `python -m experiments.bp4d_topdown` (seed 000, DESIGN §7.2).

Presets (``--config=experiments/configs/bp4d_topdown.py:PRESET``):

* ``small`` (default): the CPU run. Synthetic BP4D-like ``small`` preset when no BP4D copy is
  given (the one the physics experiment caches), three folds, both protocols (apex frames and
  all frames), the per-AU figure.
* ``tiny``: the test-suite run: synthetic ``tiny`` preset, fold 1, a few steps.
* ``paper``: GPU/TPU scale (128 px crops, wider CNN, longer schedules, the ``full`` preset).

The same run on the DISFA-like dataset (its 8 detection AUs, DISFA's own folds):
``--config.data.dataset=disfa`` (``data.disfa_dir`` or ``$AUJAX_DISFA_DIR`` for a real copy,
else the synthetic ``data.disfa_preset``).

Override any field: ``--config.train.steps=2000 --config.data.bp4d_dir=/data/BP4D``.
"""

import ml_collections


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
    preset = preset or "small"
    if preset not in ("small", "tiny", "paper"):
        raise ValueError(f"unknown preset {preset!r}: expected small, tiny or paper")
    c = ml_collections.ConfigDict()
    c.experiment = "bp4d_topdown"  # experiments.evaluate dispatches on this
    c.preset = preset
    c.seed = 0
    c.data = dict(
        dataset="bp4d",  # "bp4d" (12 occurrence AUs) or "disfa" (8 detection AUs)
        bp4d_dir="",  # a BP4D copy; "" -> $AUJAX_BP4D_DIR, else the synthetic default
        disfa_dir="",  # a DISFA copy; "" -> $AUJAX_DISFA_DIR, else the synthetic default
        cache_dir="",  # "" -> $AUJAX_CACHE or ~/.cache/aujax
        synthetic_preset="small",
        disfa_preset="small",
        image_size=64,
        block=16,  # frames per grain record (grain's per-record cost dominates small models)
        # the top-down engine (same keys as bp4d_physics: the coefficient cache is shared)
        template_vertices=400,
        engine_iterations=6,
        engine_nnls_iterations=200,  # cap: face solves ("active_set") or iterations ("apg")
        engine_nnls_method="active_set",  # exact per-frame NNLS (aujax.optim.nnls)
        # the subject's identity: median over the least expressive 20 % of 48 spread frames
        engine_neutral_fraction=0.2,
        # each sequence's coefficients smoothed by a Kalman/RTS smoother whose prior is the
        # template's Galerkin dynamics (aujax.physics.CoefficientSmoother; hyper-parameters by
        # marginal likelihood, no labels); part of the coefficient cache key. tools.jitter_report
        # measures it; enabled=False gives the per-frame fits.
        smoother=dict(enabled=True, robust_iterations=3, robust_threshold=1.5, fit_sequences=64),
    )
    c.model = dict(
        channels=(16, 32, 32),  # the three convolutions of the bottom-up CNN
        kernels=(5, 5, 3),  # the paper's kernels
        strides=(2, 1, 1),  # conv1 strides: a 64 px crop analysed at 32 px (CPU budget)
        hidden=64,  # dense layer between the flattened feature map and the AU layer
        integration_hidden=(64, 32),  # three dense layers: in -> 64 -> 32 -> AUs
        level_scale=5.0,  # top-down levels (0-5 intensity units) / 5 at the integration input
    )
    c.train = dict(batch_size=64, steps=400, lr=3e-3, warmup=40, checkpoint_every=200, log_every=50)
    c.integration = dict(batch_size=256, steps=400, lr=3e-3)
    c.folds = (1, 2, 3)
    c.protocols = ("apex", "all")
    c.figures = True

    if preset == "tiny":
        c.data.synthetic_preset = "tiny"
        c.data.disfa_preset = "tiny"
        c.data.block = 4
        c.model.channels = (4, 8, 8)
        c.model.hidden = 16
        c.model.integration_hidden = (16, 8)
        c.train.update(batch_size=8, steps=6, warmup=2, checkpoint_every=3, log_every=2)
        c.integration.update(batch_size=16, steps=6)
        c.folds = (1,)
    elif preset == "paper":
        c.data.synthetic_preset = "full"
        c.data.disfa_preset = "full"
        c.data.image_size = 128
        c.data.engine_iterations = 20
        c.data.engine_nnls_iterations = 2000
        c.data.engine_nnls_method = "active_set"
        c.model.channels = (32, 64, 128)
        c.model.strides = (1, 1, 1)
        c.model.hidden = 256
        c.model.integration_hidden = (128, 64)
        c.train.update(batch_size=128, steps=20_000, lr=1e-3, checkpoint_every=1000, log_every=100)
        c.integration.update(batch_size=512, steps=5000, lr=1e-3)
    return c
