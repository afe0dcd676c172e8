"""The training state: an NNX model split into pure pytrees, the optimizer state, step and key.

Networks are Flax NNX modules; the jitted step is a pure function over :class:`TrainState`
(``nnx.split`` once, ``nnx.merge`` inside the step), which makes the state a plain pytree that
shards, donates and checkpoints like any other. The PRNG key is stored as raw key data
(``jax.random.key_data``) so that orbax can save it; the per-step key is
``fold_in(key, step)``, which makes a resumed run draw the same randomness as an uninterrupted
one.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct


__all__ = ["TrainState", "create_train_state", "model_of", "split_rest"]


@struct.dataclass
class TrainState:
    """Everything a training step reads and writes.

    Attributes:
        params: ``nnx.State`` of the model's trainable ``nnx.Param`` variables (those selected by
            ``trainable``).
        rest: ``nnx.State`` of every other variable (frozen parameters, BatchNorm statistics).
        opt_state: the optax state of ``params``.
        step: () int32, optimizer steps taken.
        key: raw PRNG key data (``jax.random.key_data``); the step's key is
            ``fold_in(wrap_key_data(key), step)``.
        graphdef: static, the model's ``nnx.GraphDef``.
        tx: static, the optax transformation.
        trainable: static, the ``nnx`` filter that selected ``params``.
    """

    params: nnx.State
    rest: nnx.State
    opt_state: optax.OptState
    step: jax.Array
    key: jax.Array
    graphdef: nnx.GraphDef = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    trainable: object = struct.field(pytree_node=False, default=nnx.Param)

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step."""
        return jax.random.fold_in(jax.random.wrap_key_data(self.key), self.step)

    def apply_gradients(self, grads: nnx.State, rest: nnx.State | None = None) -> "TrainState":
        """One optimizer update; ``rest`` replaces the non-trainable variables (new BN stats).

        optax mixes Python floats with its int32 step count (e.g. Adam's bias correction), which
        ``jax_numpy_dtype_promotion="strict"`` rejects; the update is traced under standard
        promotion so that the library works under either setting.
        """
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
            params = optax.apply_updates(self.params, updates)
        return self.replace(
            params=params,
            rest=self.rest if rest is None else rest,
            opt_state=opt_state,
            step=self.step + 1,
        )


def create_train_state(
    model: nnx.Module, tx: optax.GradientTransformation, *, key: jax.Array, trainable=nnx.Param
) -> TrainState:
    """Splits ``model`` and initialises ``tx`` on its trainable parameters.

    Args:
        model: the NNX model (its current variables become the initial state).
        tx: the optax transformation.
        key: a typed PRNG key (``jax.random.key(seed)``) for the steps' randomness.
        trainable: an ``nnx`` filter selecting the trained variables (default ``nnx.Param``);
            everything else goes to ``rest`` and is left alone by the optimizer.

    Returns:
        :class:`TrainState` at step 0.
    """
    if not jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        raise ValueError("key must be a typed PRNG key (jax.random.key(seed)).")
    graphdef, params, rest = nnx.split(model, trainable, ...)
    # fresh buffers: the step donates the state, which must not delete arrays the caller still
    # holds (e.g. constants shared by several models)
    params, rest = jax.tree.map(_copy, (params, rest))
    return TrainState(
        params=params,
        rest=rest,
        opt_state=_init(tx, params),
        step=jnp.asarray(0, jnp.int32),
        key=jax.random.key_data(key),
        graphdef=graphdef,
        tx=tx,
        trainable=trainable,
    )


def _copy(x):
    return x.copy() if isinstance(x, jax.Array) else x


def _init(tx, params):
    with jax.numpy_dtype_promotion("standard"):
        return tx.init(params)


def model_of(state: TrainState) -> nnx.Module:
    """The NNX model holding ``state``'s variables (for evaluation and inspection)."""
    return nnx.merge(state.graphdef, state.params, state.rest, copy=True)


def split_rest(state: TrainState, model: nnx.Module) -> nnx.State:
    """The non-trainable variables of ``model`` (e.g. updated BatchNorm statistics)."""
    _, _, rest = nnx.split(model, state.trainable, ...)
    return rest
