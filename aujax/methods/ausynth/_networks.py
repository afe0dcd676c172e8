"""The CGAN and CAAE sub-networks of seed 002 (§3.2-3.3, §4.2, fig. 4) in Flax NNX.

Every sub-network is three fully connected layers (fig. 4) with ReLU between them
(:class:`aujax.nn.MLP`) and an output map chosen by its role (§4.2: "tanh and sigmoid functions are
used for the output layers"):

* :class:`Generator` ``G(z, y)`` — ``[z, y] -> tanh`` expression parameters in (-1, 1) (the
  parameters are normalised to [-1, 1]); the CGAN's noise ``z`` (100-d) or the CAAE's latent
  ``E(x)`` (50-d); fig. 4a / 4d;
* :class:`Discriminator` ``D_exp(x, y)`` — ``[x, y] ->`` one logit of "real (x, y) pair"; the
  paper's sigmoid output is ``sigmoid(logit)``, and the losses take the logit (``log D =
  -softplus(-logit)`` is stable where ``log(sigmoid(.))`` underflows); fig. 4b / 4c;
* :class:`Encoder` ``E(x)`` — ``x -> tanh`` latent in (-1, 1)^50; fig. 4f;
* :class:`PriorDiscriminator` ``D_z(z)`` — ``z ->`` one logit of "drawn from the prior
  U(-1, 1)^50"; fig. 4e.

The widths of fig. 4 are not in the text; :class:`NetworkConfig` holds ours (documented there).
Inputs may carry any leading batch shape (the same for ``z`` and ``y``; nothing is broadcast)
and are cast to the parameters' dtype.
"""

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float

from ...nn import MLP


__all__ = [
    "PRIORS",
    "Discriminator",
    "Encoder",
    "Generator",
    "NetworkConfig",
    "PriorDiscriminator",
    "caae_networks",
    "cgan_networks",
    "sample_prior",
]

PRIORS = ("uniform", "normal")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the CGAN and CAAE sub-networks.

    The paper (§4.2) fixes ``noise_dim`` 100, ``y_dim`` 12 (the DISFA AUs), ``x_dim`` 79 (the
    FaceWarehouse expression space), ``latent_dim`` 50 and three dense layers per sub-network;
    fig. 4's widths are not in the text. Ours: two hidden layers of 256 for ``G``, ``D_exp`` and
    ``E`` (wider than the 79-d data, narrow enough to train on a CPU), and 64, 32 for ``D_z``
    (the narrowing prior discriminator of the CAAE of Zhang et al. 2017, which seed 002 adapts).

    Attributes:
        x_dim: expression parameters.
        y_dim: AU labels.
        noise_dim: the CGAN's noise ``z``.
        latent_dim: the CAAE's latent ``E(x)``.
        generator_hidden, discriminator_hidden, encoder_hidden, prior_hidden: hidden widths of
            ``G``, ``D_exp``, ``E`` and ``D_z`` (two each: three dense layers).
        noise: the CGAN's noise prior ``P_z`` (:data:`PRIORS`); the paper does not say, we take
            U(-1, 1) like the CAAE's prior. The CAAE's prior is always U(-1, 1) (§3.3).
    """

    x_dim: int = 79
    y_dim: int = 12
    noise_dim: int = 100
    latent_dim: int = 50
    generator_hidden: tuple[int, ...] = (256, 256)
    discriminator_hidden: tuple[int, ...] = (256, 256)
    encoder_hidden: tuple[int, ...] = (256, 256)
    prior_hidden: tuple[int, ...] = (64, 32)
    noise: str = "uniform"

    def __post_init__(self):
        for name in ("x_dim", "y_dim", "noise_dim", "latent_dim"):
            _check_dim(getattr(self, name), name)
        for name in ("generator_hidden", "discriminator_hidden", "encoder_hidden",
                     "prior_hidden"):  # fmt: skip
            object.__setattr__(self, name, _check_hidden(getattr(self, name), name))
        if self.noise not in PRIORS:
            raise ValueError(f"noise must be one of {PRIORS}, got {self.noise!r}.")


def _check_dim(d, name: str) -> int:
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"{name} must be a positive int, got {d!r}.")
    return int(d)


def _check_hidden(hidden, name: str) -> tuple[int, ...]:
    if isinstance(hidden, int | str) or not isinstance(hidden, Sequence):
        raise ValueError(f"{name} must be a sequence of positive ints, got {hidden!r}.")
    return tuple(_check_dim(h, name) for h in hidden)


def sample_prior(
    key: jax.Array, shape: Sequence[int], dim: int, *, kind: str = "uniform", dtype=jnp.float32
) -> Float[Array, "*shape dim"]:
    """Draws from a prior: U(-1, 1)^dim (``"uniform"``) or N(0, I_dim) (``"normal"``).

    Args:
        key: a PRNG key.
        shape: the leading (batch) shape.
        dim: the vector size.
        kind: one of :data:`PRIORS`.
        dtype: the result dtype.

    Returns:
        ``shape + (dim,)`` draws.
    """
    if kind not in PRIORS:
        raise ValueError(f"kind must be one of {PRIORS}, got {kind!r}.")
    shape = (*tuple(shape), _check_dim(dim, "dim"))
    if kind == "uniform":
        return jax.random.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)
    return jax.random.normal(key, shape, dtype)


def _input(v, dim: int, name: str, dtype) -> Array:
    v = jnp.asarray(v)
    if v.ndim < 1 or v.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}), got {v.shape}.")
    if not (jnp.issubdtype(v.dtype, jnp.floating) or jnp.issubdtype(v.dtype, jnp.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {v.dtype}.")
    return v.astype(dtype)


def _pair(a, b, names: tuple[str, str]) -> Array:
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must share their leading (batch) shape, got "
            f"{a.shape} and {b.shape}."
        )
    return jnp.concatenate([a, b], axis=-1)


class Generator(nnx.Module):
    """``G(z, y) = tanh(MLP([z, y]))``: expression parameters from a code and AU labels.

    Fig. 4a (CGAN, ``z`` the 100-d noise) and fig. 4d (CAAE, ``z = E(x)`` the 50-d latent).
    """

    def __init__(
        self,
        *,
        noise_dim: int,
        y_dim: int,
        x_dim: int,
        hidden: Sequence[int] = (256, 256),
        prior: str = "uniform",
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds G.

        Args:
            noise_dim: the code ``z`` (CGAN noise or CAAE latent).
            y_dim: the AU labels ``y``.
            x_dim: the expression parameters.
            hidden: hidden widths (two: three dense layers).
            prior: the prior of ``z`` (:data:`PRIORS`), used by :meth:`sample_prior`.
            param_dtype: parameter (and computation) dtype.
            rngs: initialisation streams.
        """
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}.")
        self.noise_dim = _check_dim(noise_dim, "noise_dim")
        self.y_dim = _check_dim(y_dim, "y_dim")
        self.x_dim = _check_dim(x_dim, "x_dim")
        self.prior, self.param_dtype = prior, param_dtype
        sizes = (self.noise_dim + self.y_dim, *_check_hidden(hidden, "hidden"), self.x_dim)
        self.mlp = MLP(sizes, activation="relu", param_dtype=param_dtype, rngs=rngs)

    def __call__(
        self, z: Float[Array, "*batch noise_dim"], y: Float[Array, "*batch y_dim"]
    ) -> Float[Array, "*batch x_dim"]:
        """Generates expression parameters in (-1, 1) for codes ``z`` and labels ``y``."""
        z = _input(z, self.noise_dim, "z", self.param_dtype)
        y = _input(y, self.y_dim, "y", self.param_dtype)
        return jnp.tanh(self.mlp(_pair(z, y, ("z", "y"))))

    def sample_prior(self, key: jax.Array, shape: Sequence[int] = ()) -> Array:
        """Draws ``shape + (noise_dim,)`` codes from the generator's prior."""
        return sample_prior(key, shape, self.noise_dim, kind=self.prior, dtype=self.param_dtype)


class Discriminator(nnx.Module):
    """``D_exp(x, y)``: the logit that ``x`` is a real expression for labels ``y`` (fig. 4b/4c).

    The paper's ``D_exp`` is ``sigmoid`` of this logit.
    """

    def __init__(
        self,
        *,
        x_dim: int,
        y_dim: int,
        hidden: Sequence[int] = (256, 256),
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.x_dim = _check_dim(x_dim, "x_dim")
        self.y_dim = _check_dim(y_dim, "y_dim")
        self.param_dtype = param_dtype
        sizes = (self.x_dim + self.y_dim, *_check_hidden(hidden, "hidden"), 1)
        self.mlp = MLP(sizes, activation="relu", param_dtype=param_dtype, rngs=rngs)

    def __call__(
        self, x: Float[Array, "*batch x_dim"], y: Float[Array, "*batch y_dim"]
    ) -> Float[Array, "*batch"]:
        """The logits of ``(x, y)`` pairs."""
        x = _input(x, self.x_dim, "x", self.param_dtype)
        y = _input(y, self.y_dim, "y", self.param_dtype)
        return self.mlp(_pair(x, y, ("x", "y")))[..., 0]


class Encoder(nnx.Module):
    """``E(x) = tanh(MLP(x))``: the CAAE's latent in (-1, 1)^latent_dim (fig. 4f)."""

    def __init__(
        self,
        *,
        x_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (256, 256),
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.x_dim = _check_dim(x_dim, "x_dim")
        self.latent_dim = _check_dim(latent_dim, "latent_dim")
        self.param_dtype = param_dtype
        sizes = (self.x_dim, *_check_hidden(hidden, "hidden"), self.latent_dim)
        self.mlp = MLP(sizes, activation="relu", param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: Float[Array, "*batch x_dim"]) -> Float[Array, "*batch latent_dim"]:
        """The latent codes of expression parameters ``x``."""
        return jnp.tanh(self.mlp(_input(x, self.x_dim, "x", self.param_dtype)))


class PriorDiscriminator(nnx.Module):
    """``D_z(z)``: the logit that ``z`` was drawn from the prior U(-1, 1)^latent_dim (fig. 4e)."""

    def __init__(
        self,
        *,
        latent_dim: int,
        hidden: Sequence[int] = (64, 32),
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.latent_dim = _check_dim(latent_dim, "latent_dim")
        self.param_dtype = param_dtype
        sizes = (self.latent_dim, *_check_hidden(hidden, "hidden"), 1)
        self.mlp = MLP(sizes, activation="relu", param_dtype=param_dtype, rngs=rngs)

    def __call__(self, z: Float[Array, "*batch latent_dim"]) -> Float[Array, "*batch"]:
        """The logits of codes ``z``."""
        return self.mlp(_input(z, self.latent_dim, "z", self.param_dtype))[..., 0]


def cgan_networks(config: NetworkConfig, *, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    """The CGAN's ``{"generator": G, "discriminator": D_exp}`` (fig. 2a, 4a-b)."""
    if not isinstance(config, NetworkConfig):
        raise ValueError(f"config must be a NetworkConfig, got {type(config).__name__}.")
    c = config
    return {
        "generator": Generator(noise_dim=c.noise_dim, y_dim=c.y_dim, x_dim=c.x_dim,
                               hidden=c.generator_hidden, prior=c.noise, rngs=rngs),
        "discriminator": Discriminator(x_dim=c.x_dim, y_dim=c.y_dim,
                                       hidden=c.discriminator_hidden, rngs=rngs),
    }  # fmt: skip


def caae_networks(config: NetworkConfig, *, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    """The CAAE's ``{"encoder": E, "generator": G, "discriminator": D_exp,
    "prior_discriminator": D_z}`` (fig. 2b, 4c-f); ``G`` reads the 50-d latent, prior U(-1, 1)."""
    if not isinstance(config, NetworkConfig):
        raise ValueError(f"config must be a NetworkConfig, got {type(config).__name__}.")
    c = config
    return {
        "encoder": Encoder(x_dim=c.x_dim, latent_dim=c.latent_dim, hidden=c.encoder_hidden,
                           rngs=rngs),
        "generator": Generator(noise_dim=c.latent_dim, y_dim=c.y_dim, x_dim=c.x_dim,
                               hidden=c.generator_hidden, prior="uniform", rngs=rngs),
        "discriminator": Discriminator(x_dim=c.x_dim, y_dim=c.y_dim,
                                       hidden=c.discriminator_hidden, rngs=rngs),
        "prior_discriminator": PriorDiscriminator(latent_dim=c.latent_dim,
                                                  hidden=c.prior_hidden, rngs=rngs),
    }  # fmt: skip
