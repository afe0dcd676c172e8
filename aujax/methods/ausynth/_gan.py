"""Training and sampling of seed 002's CGAN (§3.2) and CAAE (§3.3) on arrays.

:func:`train_cgan` and :func:`train_caae` take expression parameters ``x`` (n, x_dim) and AU
labels ``y`` (n, y_dim), both normalised to [-1, 1] (§4.2), the bounds of ``L_R`` and a
:class:`GANConfig`, and train through :mod:`aujax.train`'s adversarial step and resumable loop
(:func:`aujax.train.make_adversarial_step`, :func:`aujax.train.fit_or_restore`): one jitted step
updates the discriminator side ``discriminator_steps`` times, then the generator side once, each
with its own Adam; with a ``workdir`` the run checkpoints both players (parameters and optimizer
states), the step, the PRNG key and the batch position, logs ``metrics.jsonl``, shows a progress
bar, and a killed run resumes to the same parameters bit for bit. :func:`generate` samples a
trained state.

Players (the names in the :class:`aujax.train.AdversarialState`):

* CGAN: ``"discriminator"`` (``D_exp``) and ``"generator"`` (``G``), eq. (5);
* CAAE: ``"discriminators"`` (``{"discriminator": D_exp, "prior_discriminator": D_z}``, one
  Adam) and ``"autoencoder"`` (``{"encoder": E, "generator": G}``), eq. (10).

Soft labels (eq. 11, ``GANConfig.soft_labels``) are drawn afresh for every update: the scaled
labels are mapped back to intensities 0..``max_intensity``, perturbed, and scaled again, the
paper's order (noise on the discrete levels, then the linear scaling to [-1, 1]). One draw serves
the real pair, the generator's condition and the generated pair of an update.
"""

import dataclasses
import functools
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jaxtyping import Array, ArrayLike, Float

from ...train import (
    AdversarialState,
    ArrayLoader,
    create_adversarial_state,
    fit_or_restore,
    make_adversarial_step,
    train_loop,
)
from ._losses import (
    GENERATOR_FORMS,
    SOFT_LABELS,
    caae_objective,
    cgan_objective,
    range_loss,
    reconstruction_loss,
    scale_labels,
    soft_labels,
    unscale_labels,
)
from ._networks import NetworkConfig, caae_networks, cgan_networks


__all__ = ["GANConfig", "default_bounds", "generate", "train_caae", "train_cgan"]


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Hyper-parameters of a CGAN or CAAE run.

    The paper (§4.2): Adam, learning rate 1e-5, batch 64, 150k iterations, beta = 10 (eqs. 5, 10),
    lambda = 100 (eq. 10). Where it is silent: Adam's ``b1`` = 0.5 (DCGAN's and the CAAE code's
    choice for adversarial training; optax's default 0.9 oscillates more), one discriminator step
    per generator step (Goodfellow et al.'s k = 1), the non-saturating generator loss
    (:mod:`aujax.methods.ausynth._losses`).

    Attributes:
        network: the sub-networks' sizes (``x_dim``, ``y_dim`` must match the data).
        steps: adversarial steps (each ``discriminator_steps`` + 1 optimizer updates).
        batch_size: examples per step.
        lr, b1, b2: Adam's learning rate and moment decays (one Adam per player).
        lr_schedule: ``"constant"`` (the paper) or ``"cosine"`` (decay to 0 over ``steps``:
            the players settle instead of circling the equilibrium at the last step).
        discriminator_steps: discriminator-side updates per step (k), each on the step's batch
            with fresh noise.
        beta: the weight of L_R (eqs. 5, 10).
        lam: the weight of L_G (eq. 10; CAAE only).
        form: the generator side's adversarial form (``"non_saturating"`` or ``"minimax"``).
        soft_labels: None, or the soft-label noise of eq. 11 (``"uniform"``, ``"normal"``).
        max_intensity: the top AU level that labels in [-1, 1] were scaled from (5).
        seed: the networks' initialisation, the batches' order and the noise.
        checkpoint_every, log_every: checkpoint and ``metrics.jsonl`` intervals (with a workdir).
    """

    network: NetworkConfig = dataclasses.field(default_factory=NetworkConfig)
    steps: int = 150_000
    batch_size: int = 64
    lr: float = 1e-5
    lr_schedule: str = "constant"
    b1: float = 0.5
    b2: float = 0.999
    discriminator_steps: int = 1
    beta: float = 10.0
    lam: float = 100.0
    form: str = "non_saturating"
    soft_labels: str | None = None
    max_intensity: float = 5.0
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 100

    def __post_init__(self):
        if not isinstance(self.network, NetworkConfig):
            raise ValueError(f"network must be a NetworkConfig, got {type(self.network).__name__}.")
        for name in ("steps", "batch_size", "discriminator_steps", "checkpoint_every",
                     "log_every", "seed"):  # fmt: skip
            v = getattr(self, name)
            low = 0 if name in ("steps", "seed") else 1
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}.")
        for name in ("lr", "max_intensity"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
        for name in ("beta", "lam"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}.")
        for name in ("b1", "b2"):
            if not 0 <= float(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}.")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}."
            )
        if self.form not in GENERATOR_FORMS:
            raise ValueError(f"form must be one of {GENERATOR_FORMS}, got {self.form!r}.")
        if self.soft_labels is not None and self.soft_labels not in SOFT_LABELS:
            raise ValueError(
                f"soft_labels must be None or one of {SOFT_LABELS}, got {self.soft_labels!r}."
            )


def default_bounds(x: Float[ArrayLike, "n d"]) -> tuple[np.ndarray, np.ndarray]:
    """``(x_lower, x_upper)`` of L_R: the per-parameter minimum and maximum of the training data.

    The paper calls them "the upper and lower limits of the expression parameters" without
    values. The parameters are normalised to [-1, 1] and ``G`` ends in tanh, so bounds of +-1
    would make L_R vanish identically; the per-parameter range of the real data is the limit that
    the regulariser can enforce.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be an (n, d) array with n >= 1, got shape {x.shape}.")
    return x.min(axis=0), x.max(axis=0)


def _check_data(x, y, network: NetworkConfig, bounds):
    x, y = np.asarray(x), np.asarray(y)
    for name, a, dim, field in (("x", x, network.x_dim, "x_dim"), ("y", y, network.y_dim, "y_dim")):
        if a.ndim != 2 or a.shape[1] != dim:
            raise ValueError(f"{name} must have shape (n, {dim}) (config.network.{field}), got "
                             f"{a.shape}.")  # fmt: skip
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}.")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite.")
        if np.any(np.abs(a) > 1 + 1e-6):
            raise ValueError(f"{name} must be normalised to [-1, 1], got values in "
                             f"[{a.min()}, {a.max()}].")  # fmt: skip
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same rows, got {x.shape[0]} and {y.shape[0]}.")
    if bounds is None:
        bounds = default_bounds(x)
    if not (isinstance(bounds, tuple | list) and len(bounds) == 2):
        raise ValueError("bounds must be a pair (x_lower, x_upper) or None.")
    lo, hi = (np.broadcast_to(np.asarray(b, np.float32), (x.shape[1],)) for b in bounds)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= hi)):
        raise ValueError("bounds must be finite with x_lower <= x_upper in every parameter.")
    return x.astype(np.float32), y.astype(np.float32), (lo.copy(), hi.copy())


def _condition(y, key, config: GANConfig):
    """The label condition of one update: ``y`` or its soft version (eq. 11), in [-1, 1] scale."""
    if config.soft_labels is None:
        return y
    levels = unscale_labels(y, max_intensity=config.max_intensity)
    soft = soft_labels(levels, key=key, kind=config.soft_labels,
                       max_intensity=config.max_intensity)  # fmt: skip
    return scale_labels(soft, max_intensity=config.max_intensity)


def _cgan_loss_fns(config: GANConfig, bounds):
    lo, hi = bounds

    def forward(models, batch, key):
        kz, ky = jax.random.split(key)
        g, d = models["generator"], models["discriminator"]
        y = _condition(batch["y"], ky, config)
        x_fake = g(g.sample_prior(kz, y.shape[:-1]), y)
        real, fake = d(batch["x"], y), d(x_fake, y)
        d_loss, g_loss = cgan_objective(real, fake, x_fake, lower=lo, upper=hi, beta=config.beta,
                                        form=config.form)  # fmt: skip
        return d_loss, g_loss, real, fake, x_fake

    def discriminator(models, batch, *, key):
        d_loss, _, real, fake, _ = forward(models, batch, key)
        return d_loss, {"p_real": jnp.mean(jax.nn.sigmoid(real)),
                        "p_fake": jnp.mean(jax.nn.sigmoid(fake))}  # fmt: skip

    def generator(models, batch, *, key):
        _, g_loss, _, _, x_fake = forward(models, batch, key)
        return g_loss, {"range": range_loss(x_fake, lower=lo, upper=hi)}

    return {"discriminator": discriminator, "generator": generator}


def _caae_loss_fns(config: GANConfig, bounds):
    lo, hi = bounds

    def forward(models, batch, key):
        kp, ky = jax.random.split(key)
        e, g = models["autoencoder"]["encoder"], models["autoencoder"]["generator"]
        d, dz = (
            models["discriminators"]["discriminator"],
            models["discriminators"]["prior_discriminator"],
        )
        x = batch["x"]
        y = _condition(batch["y"], ky, config)
        z = e(x)
        x_rec = g(z, y)
        z_star = g.sample_prior(kp, z.shape[:-1])
        real, fake, prior, code = d(x, y), d(x_rec, y), dz(z_star), dz(z)
        losses = caae_objective(real, fake, prior, code, x, x_rec, lower=lo, upper=hi,
                                lam=config.lam, beta=config.beta, form=config.form)  # fmt: skip
        return losses, (real, fake, prior, code, x, x_rec)

    def discriminators(models, batch, *, key):
        (d_loss, _), (real, fake, prior, code, _, _) = forward(models, batch, key)
        p = jax.nn.sigmoid
        return d_loss, {"p_real": jnp.mean(p(real)), "p_fake": jnp.mean(p(fake)),
                        "p_prior": jnp.mean(p(prior)), "p_code": jnp.mean(p(code))}  # fmt: skip

    def autoencoder(models, batch, *, key):
        (_, eg_loss), (_, _, _, _, x, x_rec) = forward(models, batch, key)
        return eg_loss, {"l1": reconstruction_loss(x, x_rec),
                         "range": range_loss(x_rec, lower=lo, upper=hi)}  # fmt: skip

    return {"discriminators": discriminators, "autoencoder": autoencoder}


def _step(kind: str, config: GANConfig, lower: tuple, upper: tuple):
    """The jitted adversarial step of a run; equal losses give the same (already compiled) step."""
    # what the step does not depend on is normalised out of the cache key
    key = dataclasses.replace(config, steps=0, seed=0, batch_size=1, lr=1.0, b1=0.0, b2=0.0,
                              lr_schedule="constant", checkpoint_every=1,
                              log_every=1)  # fmt: skip
    return _cached_step(kind, key, lower, upper)


@functools.lru_cache(maxsize=16)
def _adam(
    lr: float, b1: float, b2: float, schedule: str, steps: int
) -> optax.GradientTransformation:
    """One Adam object per setting: the optimizer is a static part of the state, and an equal
    object lets a new run reuse the compiled step."""
    if schedule == "cosine":
        return optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1)), b1=b1, b2=b2)
    return optax.adam(lr, b1=b1, b2=b2)


@functools.lru_cache(maxsize=16)
def _cached_step(kind: str, config: GANConfig, lower: tuple, upper: tuple):
    bounds = (np.asarray(lower, np.float32), np.asarray(upper, np.float32))
    k = config.discriminator_steps
    if kind == "cgan":
        losses = _cgan_loss_fns(config, bounds)
        schedule = (("discriminator", k), ("generator", 1))
    else:
        losses = _caae_loss_fns(config, bounds)
        schedule = (("discriminators", k), ("autoencoder", 1))
    return make_adversarial_step(losses, schedule=schedule)


def _train(kind, x, y, *, config, bounds, workdir, progress, restore):
    if not isinstance(config, GANConfig):
        raise ValueError(f"config must be a GANConfig, got {type(config).__name__}.")
    x, y, bounds = _check_data(x, y, config.network, bounds)
    if config.batch_size > x.shape[0]:
        raise ValueError(f"config.batch_size = {config.batch_size} exceeds the {x.shape[0]} rows.")
    rngs = nnx.Rngs(config.seed)
    if kind == "cgan":
        nets = cgan_networks(config.network, rngs=rngs)
        models = {"discriminator": nets["discriminator"], "generator": nets["generator"]}
    else:
        nets = caae_networks(config.network, rngs=rngs)
        models = {
            "discriminators": {k: nets[k] for k in ("discriminator", "prior_discriminator")},
            "autoencoder": {k: nets[k] for k in ("encoder", "generator")},
        }
    steps = int(config.steps) if config.lr_schedule == "cosine" else 0  # constant: one object
    tx = _adam(float(config.lr), float(config.b1), float(config.b2), config.lr_schedule, steps)
    state = create_adversarial_state(models, tx, key=jax.random.key(config.seed))
    step = _step(kind, config, tuple(bounds[0].tolist()), tuple(bounds[1].tolist()))
    loader = ArrayLoader({"x": x, "y": y}, batch_size=config.batch_size, seed=config.seed)
    label = kind if progress is True else progress
    if workdir is None:
        if restore is not None:
            raise ValueError("restore needs a workdir.")
        return train_loop(state, step, loader, num_steps=config.steps, progress=label)
    return fit_or_restore(
        pathlib.Path(workdir), state, None, loader, steps=config.steps,
        checkpoint_every=config.checkpoint_every, log_every=config.log_every, progress=label,
        restore=restore, step_fn=step,
    )  # fmt: skip


def train_cgan(
    x: Float[ArrayLike, "n x_dim"],
    y: Float[ArrayLike, "n y_dim"],
    *,
    config: GANConfig,
    bounds: tuple[ArrayLike, ArrayLike] | None = None,
    workdir: str | os.PathLike | None = None,
    progress: bool | str = True,
    restore: int | str | None = None,
) -> AdversarialState:
    """Trains the CGAN of §3.2 (eq. 5: eq. 3's game plus beta L_R) on ``(x, y)``.

    Args:
        x: (n, x_dim) real expression parameters in [-1, 1].
        y: (n, y_dim) their AU labels scaled to [-1, 1] (:func:`scale_labels`).
        config: the run's :class:`GANConfig`.
        bounds: ``(x_lower, x_upper)`` of L_R, scalars or (x_dim,) arrays; None: the data's
            per-parameter range (:func:`default_bounds`).
        workdir: the run directory (``checkpoints/``, ``metrics.jsonl``): resumes from its newest
            checkpoint; None trains in memory (no checkpoints).
        progress: show a progress bar (a string is its label).
        restore: with a workdir, ``"latest"`` or a step restores that checkpoint without
            training.

    Returns:
        The :class:`aujax.train.AdversarialState` (players ``"discriminator"``,
        ``"generator"``); sample it with :func:`generate`.
    """
    return _train("cgan", x, y, config=config, bounds=bounds, workdir=workdir,
                  progress=progress, restore=restore)  # fmt: skip


def train_caae(
    x: Float[ArrayLike, "n x_dim"],
    y: Float[ArrayLike, "n y_dim"],
    *,
    config: GANConfig,
    bounds: tuple[ArrayLike, ArrayLike] | None = None,
    workdir: str | os.PathLike | None = None,
    progress: bool | str = True,
    restore: int | str | None = None,
) -> AdversarialState:
    """Trains the CAAE of §3.3 (eq. 10: eqs. 6-9) on ``(x, y)``: the source label is the target.

    Arguments as in :func:`train_cgan`.

    Returns:
        The :class:`aujax.train.AdversarialState` (players ``"discriminators"``,
        ``"autoencoder"``); sample it with :func:`generate` (with ``source``).
    """
    return _train("caae", x, y, config=config, bounds=bounds, workdir=workdir,
                  progress=progress, restore=restore)  # fmt: skip


def generate(
    state: AdversarialState,
    y: Float[ArrayLike, "*batch y_dim"],
    *,
    key: jax.Array | None = None,
    source: Float[ArrayLike, "*batch x_dim"] | None = None,
) -> Float[Array, "*batch x_dim"]:
    """Expression parameters for target labels ``y`` from a trained CGAN or CAAE.

    CGAN: ``G(z, y)`` with ``z`` drawn from the noise prior (``key`` required). CAAE:
    ``G(E(source), y)`` (§3.3, the source face's parameters carry the individual part), or, with
    no ``source``, ``G(z, y)`` with ``z`` ~ U(-1, 1)^latent_dim (``key`` required).

    Args:
        state: a state from :func:`train_cgan` or :func:`train_caae`.
        y: target labels scaled to [-1, 1], (..., y_dim).
        key: a PRNG key for the noise.
        source: CAAE only: source parameters (..., x_dim), the leading shape of ``y``.

    Returns:
        (..., x_dim) parameters in (-1, 1), float32.
    """
    if not isinstance(state, AdversarialState):
        raise ValueError(f"state must be an AdversarialState, got {type(state).__name__}.")
    y = jnp.asarray(y)
    if "autoencoder" in state.players:
        nets = state.model("autoencoder")
        g = nets["generator"]
        if source is not None:
            return g(nets["encoder"](source), y)
    elif "generator" in state.players:
        if source is not None:
            raise ValueError("source: only a CAAE state generates from source parameters.")
        g = state.model("generator")
    else:
        raise ValueError(f"state: not a CGAN or CAAE state (players {sorted(state.players)}).")
    if key is None:
        raise ValueError("key: required to draw the generator's noise.")
    if y.ndim < 1:
        raise ValueError(f"y must have shape (..., y_dim), got {y.shape}.")
    return g(g.sample_prior(key, y.shape[:-1]), y)
