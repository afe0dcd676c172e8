"""The jitted training and evaluation steps, data-parallel over a device mesh (DESIGN §8).

``loss_fn(model, batch, *, key) -> (loss, metrics)`` is written for the global batch on one
device; :func:`make_train_step` differentiates it with respect to the trainable parameters, applies
the optimizer and jits the result with the state replicated and the batch sharded over
``'data'``, so XLA inserts the gradient all-reduce (the pmap pattern without ``jax.pmap``).
"""

from collections.abc import Callable

import jax
from flax import nnx

from ._parallel import batch_sharding, replicated_sharding
from ._state import TrainState, split_rest


__all__ = ["make_eval_step", "make_train_step"]


def make_train_step(
    loss_fn: Callable, *, mesh: jax.sharding.Mesh | None = None, donate: bool = True
) -> Callable:
    """Builds ``step(state, batch) -> (state, metrics)``.

    Args:
        loss_fn: ``loss_fn(model, batch, *, key) -> (loss, metrics)``; ``model`` is the NNX model
            (in whatever train/eval mode the loss sets), ``key`` the step's PRNG key, ``loss`` a
            scalar and ``metrics`` a dict of scalars. Variables the model updates while running
            (BatchNorm statistics) are carried into the new state.
        mesh: the data mesh; None jits without sharding annotations (one device).
        donate: donate the input state's buffers (the caller must not reuse it).

    Returns:
        The jitted step. ``metrics`` gains ``"loss"``.
    """

    def step(state: TrainState, batch):
        key = state.step_key()

        def objective(params):
            model = nnx.merge(state.graphdef, params, state.rest, copy=True)
            loss, metrics = loss_fn(model, batch, key=key)
            return loss, (metrics, split_rest(state, model))

        (loss, (metrics, rest)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        metrics = dict(metrics, loss=loss)
        return state.apply_gradients(grads, rest), metrics

    kwargs = {"donate_argnums": (0,)} if donate else {}
    if mesh is not None:
        repl = replicated_sharding(mesh)
        kwargs.update(in_shardings=(repl, batch_sharding(mesh)), out_shardings=(repl, repl))
    return jax.jit(step, **kwargs)


def make_eval_step(predict_fn: Callable, *, mesh: jax.sharding.Mesh | None = None) -> Callable:
    """Builds ``evaluate(state, batch) -> outputs``, per-example outputs sharded like the batch.

    Args:
        predict_fn: ``predict_fn(model, batch) -> dict`` of per-example arrays (leading axis the
            batch); the model is put in eval mode first.
        mesh: the data mesh; None jits without sharding annotations.
    """

    def evaluate(state: TrainState, batch):
        model = nnx.merge(state.graphdef, state.params, state.rest, copy=True)
        model.eval()
        return predict_fn(model, batch)

    if mesh is None:
        return jax.jit(evaluate)
    return jax.jit(
        evaluate,
        in_shardings=(replicated_sharding(mesh), batch_sharding(mesh)),
        out_shardings=batch_sharding(mesh),
    )
