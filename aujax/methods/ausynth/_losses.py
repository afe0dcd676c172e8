r"""The objectives of seed 002's CGAN (eqs. 3-5) and CAAE (eqs. 6-10), and soft labels (eq. 11).

Discriminators output logits ``l`` (:mod:`aujax.methods.ausynth._networks`); the paper's
``D = sigmoid(l)``, so ``log D = -softplus(-l)`` and ``log(1 - D) = -softplus(l)``, which stay
finite where ``log(sigmoid(l))`` underflows. Expectations over ``P_data`` / ``P_z`` are means over
the batch. A player that *maximises* a value minimises its negative, so every function here
returns a loss to minimise.

**Generator form.** The printed minimax objective (eq. 3) has the generator minimise
``E log(1 - D(G(z, y), y))``, whose gradient vanishes while the discriminator confidently rejects
the samples (early training). As Goodfellow et al. (2014, §3) recommend, and as is the practice
of GAN codes, the default (``form="non_saturating"``) has the generator minimise
``-E log D(G(z, y), y)`` instead: the same fixed point, strong gradients early.
``form="minimax"`` gives the printed term. The same choice applies to the encoder's prior term
(eq. 6) and the CAAE's conditional term (eq. 8).

**Reductions.** ``L_R`` (eqs. 4, 9) is printed as an L1 *norm* of each generated vector: a sum
over the parameters, averaged over the batch. ``L_G`` (eq. 7) is "the L1 loss": the mean absolute
error over batch and parameters, as in the CAAE of Zhang et al. (2017) that §3.3 adapts (their
``reduce_mean(abs(x - G))``), with which lambda = 100 was chosen.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ..._checks import is_concrete


__all__ = [
    "GENERATOR_FORMS",
    "SOFT_LABELS",
    "caae_objective",
    "cgan_discriminator_loss",
    "cgan_generator_loss",
    "cgan_objective",
    "conditional_discriminator_loss",
    "conditional_generator_loss",
    "prior_discriminator_loss",
    "prior_encoder_loss",
    "range_loss",
    "reconstruction_loss",
    "scale_labels",
    "soft_labels",
    "unscale_labels",
]

GENERATOR_FORMS = ("non_saturating", "minimax")
SOFT_LABELS = ("uniform", "normal")


def _logits(x, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be floating-point logits, got dtype {x.dtype}.")
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one logit, got shape {x.shape}.")
    return x


def _check_form(form: str) -> None:
    if form not in GENERATOR_FORMS:
        raise ValueError(f"form must be one of {GENERATOR_FORMS}, got {form!r}.")


def _discriminator(real, fake, names) -> Array:
    """``-(E log sigmoid(real) + E log(1 - sigmoid(fake)))``."""
    real, fake = _logits(real, names[0]), _logits(fake, names[1])
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


def _generator(fake, form: str, name: str) -> Array:
    _check_form(form)
    fake = _logits(fake, name)
    if form == "non_saturating":
        return jnp.mean(jax.nn.softplus(-fake))  # -E log D
    return -jnp.mean(jax.nn.softplus(fake))  # E log(1 - D)


def cgan_discriminator_loss(
    real_logits: Float[Array, "*n"], fake_logits: Float[Array, "*m"]
) -> Float[Array, ""]:
    r"""The discriminator's side of the CGAN game, eq. (3) of seed 002.

    .. math::
        -\big(\mathbb{E}_{x, y \sim P_{data}} \log D_{exp}(x, y)
        + \mathbb{E}_{z \sim P_z, y \sim P_{data}} \log(1 - D_{exp}(G(z, y), y))\big)

    Args:
        real_logits: logits of real pairs ``(x, y)``.
        fake_logits: logits of generated pairs ``(G(z, y), y)``.

    Returns:
        The scalar loss ``D_exp`` minimises (>= 0; ``2 log 2`` at ``D = 1/2``).
    """
    return _discriminator(real_logits, fake_logits, ("real_logits", "fake_logits"))


def cgan_generator_loss(
    fake_logits: Float[Array, "*m"], *, form: str = "non_saturating"
) -> Float[Array, ""]:
    r"""The generator's side of the CGAN game, eq. (3) of seed 002.

    ``form="minimax"``: the printed :math:`\mathbb{E} \log(1 - D_{exp}(G(z, y), y))`;
    ``"non_saturating"`` (default, see the module docstring):
    :math:`-\mathbb{E} \log D_{exp}(G(z, y), y)`.

    Args:
        fake_logits: logits of generated pairs ``(G(z, y), y)``.
        form: one of :data:`GENERATOR_FORMS`.

    Returns:
        The scalar loss ``G`` minimises through its adversarial term.
    """
    return _generator(fake_logits, form, "fake_logits")


def range_loss(
    x: Float[Array, "*batch d"], *, lower: ArrayLike, upper: ArrayLike
) -> Float[Array, ""]:
    r"""The range regulariser L_R, eq. (4) (CGAN) and eq. (9) (CAAE) of seed 002.

    .. math::
        L_R = \lVert \max(x - x_{upper}, 0) \rVert_1 + \lVert \max(x_{lower} - x, 0) \rVert_1

    per generated vector ``x``, averaged over the leading (batch) axes: zero inside the bounds,
    the L1 distance to the box outside.

    Args:
        x: generated expression parameters, (..., d) (a single (d,) vector gives its own L_R).
        lower, upper: ``x_lower`` and ``x_upper``, scalars or (d,) arrays, ``lower <= upper``.

    Returns:
        The scalar L_R.
    """
    x = jnp.asarray(x)
    if x.ndim < 1 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"x must be a floating (..., d) array, got {x.dtype} {x.shape}.")
    lo, hi = _bound(lower, x, "lower"), _bound(upper, x, "upper")
    if is_concrete(lo, hi) and bool(jnp.any(lo > hi)):
        raise ValueError("lower must be <= upper in every dimension.")
    excess = jax.nn.relu(x - hi) + jax.nn.relu(lo - x)
    return jnp.mean(jnp.sum(excess, axis=-1))


def _bound(b, x, name: str) -> Array:
    b = jnp.asarray(b)
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != x.shape[-1]):
        raise ValueError(f"{name} must be a scalar or a ({x.shape[-1]},) array, got {b.shape}.")
    if not (jnp.issubdtype(b.dtype, jnp.floating) or jnp.issubdtype(b.dtype, jnp.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {b.dtype}.")
    if is_concrete(b) and not bool(jnp.all(jnp.isfinite(b))):
        raise ValueError(f"{name} must be finite.")
    return jnp.broadcast_to(b.astype(x.dtype), x.shape)


def cgan_objective(
    real_logits: Float[Array, "*n"],
    fake_logits: Float[Array, "*m"],
    x_fake: Float[Array, "*m d"],
    *,
    lower: ArrayLike,
    upper: ArrayLike,
    beta: float = 10.0,
    form: str = "non_saturating",
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    r"""The CGAN's overall objective, eq. (5) of seed 002, as the two players' losses.

    .. math::
        \min_G \max_{D_{exp}} \beta L_R + \mathbb{E} \log D_{exp}(x, y)
        + \mathbb{E} \log(1 - D_{exp}(G(z, y), y))

    ``L_R`` does not depend on ``D_exp``, so the discriminator's loss is eq. (3)'s
    (:func:`cgan_discriminator_loss`); the generator's is ``beta L_R`` (:func:`range_loss`) plus
    its adversarial term (:func:`cgan_generator_loss`, ``form``).

    Args:
        real_logits, fake_logits: ``D_exp`` logits of real and generated pairs.
        x_fake: the generated parameters ``G(z, y)`` (the pairs of ``fake_logits``).
        lower, upper: the bounds of L_R.
        beta: the weight of L_R (the paper's 10).
        form: the generator's adversarial form (:data:`GENERATOR_FORMS`).

    Returns:
        ``(discriminator_loss, generator_loss)``.
    """
    d = cgan_discriminator_loss(real_logits, fake_logits)
    g = beta * range_loss(x_fake, lower=lower, upper=upper) + cgan_generator_loss(
        fake_logits, form=form
    )
    return d, g


def prior_discriminator_loss(
    prior_logits: Float[Array, "*n"], code_logits: Float[Array, "*m"]
) -> Float[Array, ""]:
    r"""The prior discriminator's side of the CAAE's latent game, eq. (6) of seed 002.

    .. math::
        -\big(\mathbb{E}_{z^* \sim P_z} \log D_z(z^*) + \mathbb{E}_{x \sim P_{data}}
        \log(1 - D_z(E(x)))\big)

    Args:
        prior_logits: ``D_z`` logits of prior draws ``z*`` ~ U(-1, 1).
        code_logits: ``D_z`` logits of the encoder's codes ``E(x)``.

    Returns:
        The scalar loss ``D_z`` minimises.
    """
    return _discriminator(prior_logits, code_logits, ("prior_logits", "code_logits"))


def prior_encoder_loss(
    code_logits: Float[Array, "*m"], *, form: str = "non_saturating"
) -> Float[Array, ""]:
    r"""The encoder's side of the latent game, eq. (6) of seed 002.

    ``form="minimax"``: the printed :math:`\mathbb{E} \log(1 - D_z(E(x)))`;
    ``"non_saturating"`` (default): :math:`-\mathbb{E} \log D_z(E(x))`.

    Args:
        code_logits: ``D_z`` logits of the encoder's codes ``E(x)``.
        form: one of :data:`GENERATOR_FORMS`.
    """
    return _generator(code_logits, form, "code_logits")


def reconstruction_loss(
    x: Float[Array, "*batch d"], x_rec: Float[Array, "*batch d"]
) -> Float[Array, ""]:
    r"""The CAAE's reconstruction loss L_G, eq. (7) of seed 002.

    .. math::
        L_G = \mathbb{E}_{x, y \sim P_{data}} L_1(x, G(E(x), y))

    as the mean absolute error over the batch and the parameters (module docstring).

    Args:
        x: source expression parameters, (..., d).
        x_rec: their reconstructions ``G(E(x), y)``, the same shape.
    """
    x, x_rec = jnp.asarray(x), jnp.asarray(x_rec)
    if x.shape != x_rec.shape or x.ndim < 1:
        raise ValueError(f"x and x_rec must be (..., d) arrays of one shape, got {x.shape} and "
                         f"{x_rec.shape}.")  # fmt: skip
    if x.dtype != x_rec.dtype:
        raise ValueError(f"x and x_rec must share a dtype, got {x.dtype} and {x_rec.dtype}.")
    return jnp.mean(jnp.abs(x - x_rec))


def conditional_discriminator_loss(
    real_logits: Float[Array, "*n"], fake_logits: Float[Array, "*m"]
) -> Float[Array, ""]:
    r"""``D_exp``'s side of the CAAE's conditional game, eq. (8) of seed 002.

    .. math::
        -\big(\mathbb{E}_{x, y \sim P_{data}} \log D_{exp}(x, y)
        + \mathbb{E}_{x, y \sim P_{data}} \log(1 - D_{exp}(G(E(x), y), y))\big)

    Args:
        real_logits: logits of real pairs ``(x, y)``.
        fake_logits: logits of ``(G(E(x), y), y)``.
    """
    return _discriminator(real_logits, fake_logits, ("real_logits", "fake_logits"))


def conditional_generator_loss(
    fake_logits: Float[Array, "*m"], *, form: str = "non_saturating"
) -> Float[Array, ""]:
    r"""The encoder-generator's side of the conditional game, eq. (8) of seed 002.

    ``form="minimax"``: the printed :math:`\mathbb{E} \log(1 - D_{exp}(G(E(x), y), y))`;
    ``"non_saturating"`` (default): :math:`-\mathbb{E} \log D_{exp}(G(E(x), y), y)`.
    """
    return _generator(fake_logits, form, "fake_logits")


def caae_objective(
    real_logits: Float[Array, "*n"],
    fake_logits: Float[Array, "*n"],
    prior_logits: Float[Array, "*m"],
    code_logits: Float[Array, "*n"],
    x: Float[Array, "*n d"],
    x_rec: Float[Array, "*n d"],
    *,
    lower: ArrayLike,
    upper: ArrayLike,
    lam: float = 100.0,
    beta: float = 10.0,
    form: str = "non_saturating",
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    r"""The CAAE's overall objective, eq. (10) of seed 002, as the two sides' losses.

    .. math::
        \min_{E, G} \max_{D_z, D_{exp}} \lambda L_G + \beta L_R
        + \mathbb{E} \log D_z(z^*) + \mathbb{E} \log(1 - D_z(E(x)))
        + \mathbb{E} \log D_{exp}(x, y) + \mathbb{E} \log(1 - D_{exp}(G(E(x), y), y))

    The discriminators' loss is the sum of eq. (6)'s and eq. (8)'s (their parameters are
    disjoint, so one optimizer step on the sum is a step of each); the encoder-generator's is
    ``lam L_G + beta L_R`` plus the encoder's prior term and the conditional generator term
    (``form`` for both).

    Args:
        real_logits: ``D_exp`` logits of ``(x, y)``.
        fake_logits: ``D_exp`` logits of ``(x_rec, y)``.
        prior_logits: ``D_z`` logits of prior draws.
        code_logits: ``D_z`` logits of ``E(x)``.
        x: the source parameters; x_rec: ``G(E(x), y)``.
        lower, upper: the bounds of L_R (eq. 9).
        lam: the weight of L_G (the paper's 100).
        beta: the weight of L_R (the paper's 10).
        form: the adversarial form of the encoder-generator's terms.

    Returns:
        ``(discriminators_loss, encoder_generator_loss)``.
    """
    d = prior_discriminator_loss(prior_logits, code_logits) + conditional_discriminator_loss(
        real_logits, fake_logits
    )
    eg = (
        lam * reconstruction_loss(x, x_rec)
        + beta * range_loss(x_rec, lower=lower, upper=upper)
        + prior_encoder_loss(code_logits, form=form)
        + conditional_generator_loss(fake_logits, form=form)
    )
    return d, eg


def soft_labels(
    y: Float[Array, "*batch n_aus"],
    *,
    key: jax.Array,
    kind: str = "uniform",
    max_intensity: float = 5.0,
) -> Float[Array, "*batch n_aus"]:
    r"""Soft label processing, eq. (11) of seed 002: ``y_bar = y + delta``, one ``delta`` per label.

    The text prints :math:`\delta_i \sim \mathcal{N}(-0.5, 0.5)`, but the purpose it states
    (discrete intensities 0..5 made continuous, coping with the coders' subjective variance)
    implies a perturbation spread over the half-step on either side of each level, i.e.
    :math:`\delta_i \sim U(-0.5, 0.5)`: the soft labels of the levels then tile the continuous
    intensity axis without gaps or overlaps, and are unbiased (``E[y_bar] = y``); the printed
    normal would shift every label down by half a level. The uniform is the default
    (``kind="uniform"``); ``kind="normal"`` gives the printed form read as
    :math:`\mathcal{N}(\mu, \sigma^2)`: mean -0.5, variance 0.5. No clipping: the soft labels of
    level 0 reach -0.5 and those of level 5 reach 5.5 (clipping would bias them).

    The noise is added to the discrete labels in 0..5 (eq. 11, §3.4) *before* their linear
    scaling to [-1, 1] (§4.2, :func:`scale_labels`).

    Args:
        y: AU intensities in ``[0, max_intensity]``.
        key: a PRNG key.
        kind: one of :data:`SOFT_LABELS`.
        max_intensity: the top level (5 for FACS A-E).

    Returns:
        ``y + delta`` in ``y``'s floating dtype (JAX's default float for integer labels).
    """
    if kind not in SOFT_LABELS:
        raise ValueError(f"kind must be one of {SOFT_LABELS}, got {kind!r}.")
    y = _labels(y, max_intensity)
    if kind == "uniform":
        delta = jax.random.uniform(key, y.shape, y.dtype, minval=-0.5, maxval=0.5)
    else:
        delta = -0.5 + jnp.sqrt(jnp.asarray(0.5, y.dtype)) * jax.random.normal(
            key, y.shape, y.dtype
        )
    return y + delta


def _labels(y, max_intensity) -> Array:
    y = jnp.asarray(y)
    if y.ndim < 1:
        raise ValueError(f"y must be a (..., n_aus) array of intensities, got shape {y.shape}.")
    if jnp.issubdtype(y.dtype, jnp.integer) or jnp.issubdtype(y.dtype, jnp.bool_):
        y = y.astype(jnp.result_type(float))
    elif not jnp.issubdtype(y.dtype, jnp.floating):
        raise ValueError(f"y must hold real numbers, got dtype {y.dtype}.")
    if not max_intensity > 0:
        raise ValueError(f"max_intensity must be > 0, got {max_intensity!r}.")
    if is_concrete(y) and bool(jnp.any((y < 0) | (y > max_intensity) | ~jnp.isfinite(y))):
        raise ValueError(
            f"y must hold intensities in [0, {max_intensity}] (labels before their scaling to "
            f"[-1, 1]), got values in [{float(jnp.min(y))}, {float(jnp.max(y))}]."
        )
    return y


def scale_labels(
    y: Float[Array, "*batch n_aus"], *, max_intensity: float = 5.0
) -> Float[Array, "*batch n_aus"]:
    """Intensities ``[0, max_intensity]`` linearly onto ``[-1, 1]`` (§4.2): ``2 y / max - 1``.

    Soft labels (which may leave ``[0, max]`` by half a level) are scaled the same way.
    """
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    if not max_intensity > 0:
        raise ValueError(f"max_intensity must be > 0, got {max_intensity!r}.")
    return y * jnp.asarray(2.0 / max_intensity, y.dtype) - jnp.asarray(1.0, y.dtype)


def unscale_labels(
    y: Float[Array, "*batch n_aus"], *, max_intensity: float = 5.0
) -> Float[Array, "*batch n_aus"]:
    """The inverse of :func:`scale_labels`: ``(y + 1) max / 2``."""
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    if not max_intensity > 0:
        raise ValueError(f"max_intensity must be > 0, got {max_intensity!r}.")
    return (y + jnp.asarray(1.0, y.dtype)) * jnp.asarray(max_intensity / 2.0, y.dtype)
