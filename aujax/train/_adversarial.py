"""Adversarial (two- or more-player) training on the one loop of :mod:`aujax.train` (DESIGN §8).

A GAN-like model is a set of *players*: each is an NNX model (a module, or a dict of modules that
are optimised together) with its own optax optimizer, and each minimises its own objective. The
state, :class:`AdversarialState`, holds one :class:`TrainState` per player (parameters, other
variables, optimizer state, that player's update count) plus the run's step and PRNG key data, so
it is a plain pytree that :func:`train_loop` steps, :class:`Checkpoints` saves and restores (both
players' optimizer states included) and a killed run resumes bit-identically, like every other run.

:func:`make_adversarial_step` builds one jitted step that plays a *schedule*: a sequence of
``(player, k)`` pairs, each updating ``player`` ``k`` times in a row, in order (alternating,
Gauss-Seidel updates as in Algorithm 1 of Goodfellow et al. 2014: ``(("discriminator", k),
("generator", 1))`` takes k discriminator steps and then one generator step). Every update sees
the parameters the earlier updates of the same step produced, differentiates only its own
player's parameters (the others enter as constants), and reuses the step's batch with its own
PRNG key ``fold_in(step_key, j)``, ``j`` the update's position in the schedule (so the ``k``
discriminator updates draw fresh noise on the same real batch).
"""

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from ._parallel import batch_sharding, replicated_sharding
from ._state import TrainState, create_train_state, model_of, split_rest


__all__ = ["AdversarialState", "create_adversarial_state", "make_adversarial_step"]


@struct.dataclass
class AdversarialState:
    """The state of an adversarial run: one :class:`TrainState` per player.

    Attributes:
        players: ``{name: TrainState}``; each player's ``step`` counts its own optimizer updates
            (k per step for a player scheduled k times), its ``key`` is not used.
        step: () int32, adversarial steps taken (one schedule each).
        key: raw PRNG key data; the step's key is ``fold_in(wrap_key_data(key), step)``.
    """

    players: dict[str, TrainState]
    step: jax.Array
    key: jax.Array

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step."""
        return jax.random.fold_in(jax.random.wrap_key_data(self.key), self.step)

    def model(self, name: str):
        """The NNX model (module or dict of modules) of player ``name``, holding its variables."""
        if name not in self.players:
            raise KeyError(f"name: no player {name!r}; players are {sorted(self.players)}.")
        return model_of(self.players[name])

    def models(self) -> dict:
        """``{name: model}`` of every player."""
        return {name: model_of(p) for name, p in self.players.items()}


def create_adversarial_state(
    models: Mapping[str, object],
    tx: optax.GradientTransformation | Mapping[str, optax.GradientTransformation],
    *,
    key: jax.Array,
    trainable=nnx.Param,
) -> AdversarialState:
    """Splits each player's model and initialises its optimizer.

    Args:
        models: ``{name: model}``; a model is an ``nnx.Module`` or a dict of modules trained
            together by one optimizer (e.g. an encoder and a generator). Players must not share
            modules: each is split (copied) on its own.
        tx: one optax transformation for every player, or ``{name: tx}`` with one per player.
        key: a typed PRNG key (``jax.random.key(seed)``) for the steps' randomness.
        trainable: the ``nnx`` filter of trained variables (default ``nnx.Param``).

    Returns:
        :class:`AdversarialState` at step 0.

    Raises:
        ValueError: no players, a non-string name, ``tx`` missing a player or naming an unknown
            one, or an untyped key.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models: expected a non-empty mapping {name: nnx model}.")
    if any(not isinstance(n, str) or not n for n in models):
        raise ValueError(f"models: player names must be non-empty strings, got {list(models)}.")
    if isinstance(tx, Mapping):
        if set(tx) != set(models):
            raise ValueError(
                f"tx: expected one optimizer per player {sorted(models)}, got {sorted(tx)}."
            )
        txs = dict(tx)
    else:
        txs = dict.fromkeys(models, tx)
    if not jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        raise ValueError("key must be a typed PRNG key (jax.random.key(seed)).")
    players = {
        name: create_train_state(
            model, txs[name], key=jax.random.fold_in(key, i), trainable=trainable
        )
        for i, (name, model) in enumerate(models.items())
    }
    return AdversarialState(
        players=players, step=jnp.asarray(0, jnp.int32), key=jax.random.key_data(key)
    )


def _check_schedule(losses, schedule) -> tuple[tuple[str, int], ...]:
    if not isinstance(losses, Mapping) or not losses:
        raise ValueError("losses: expected a non-empty mapping {player: loss_fn}.")
    for name, fn in losses.items():
        if not callable(fn):
            raise ValueError(f"losses[{name!r}]: expected a callable, got {type(fn).__name__}.")
    if schedule is None:
        return tuple((name, 1) for name in losses)
    out = []
    for item in schedule:
        if not (isinstance(item, Sequence) and len(item) == 2):
            raise ValueError(f"schedule: expected (player, k) pairs, got {item!r}.")
        name, k = item
        if name not in losses:
            raise ValueError(f"schedule: player {name!r} has no loss in losses {sorted(losses)}.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"schedule: k of {name!r} must be an int >= 1, got {k!r}.")
        out.append((name, k))
    if not out:
        raise ValueError("schedule: expected at least one (player, k) pair.")
    return tuple(out)


def make_adversarial_step(
    losses: Mapping[str, Callable],
    *,
    schedule: Sequence[tuple[str, int]] | None = None,
    mesh: jax.sharding.Mesh | None = None,
    donate: bool = True,
) -> Callable:
    """Builds ``step(state, batch) -> (state, metrics)`` for :func:`train_loop`.

    Args:
        losses: ``{player: loss_fn}``, ``loss_fn(models, batch, *, key) -> (loss, metrics)``:
            ``models`` is ``{name: model}`` of every player (the current parameters), ``loss``
            the scalar this player minimises (a discriminator minimises the negative of the
            value it maximises), ``metrics`` a dict of scalars. Only this player's parameters are
            differentiated; its non-trainable variables (BatchNorm statistics) are carried into
            the new state, the other players' are left as they were.
        schedule: ``((player, k), ...)``: the updates of one step, in order (default: each
            player of ``losses`` once, in the mapping's order). Put the discriminator(s) first
            for the usual "k discriminator steps, then one generator step".
        mesh: the data mesh; None jits without sharding annotations (one device).
        donate: donate the input state's buffers (the caller must not reuse it).

    Returns:
        The jitted step. ``metrics`` holds ``"{player}/loss"`` and ``"{player}/{name}"`` for each
        scheduled player (of its last update in the step) and ``"loss"``, the sum of the
        players' losses (a divergence check for :func:`train_loop`, not an objective).

    Raises:
        ValueError: a malformed ``losses`` or ``schedule`` (at build time), or a scheduled
            player missing from the state (at the first call).
    """
    plan = _check_schedule(losses, schedule)

    def step(state: AdversarialState, batch):
        missing = sorted({name for name, _ in plan} - set(state.players))
        if missing:
            raise ValueError(
                f"schedule: players {missing} are not in the state ({sorted(state.players)})."
            )
        key = state.step_key()
        players = dict(state.players)
        metrics, last = {}, {}
        j = 0
        for name, k in plan:
            for _ in range(k):
                players[name], loss, aux = _update(
                    players, name, losses[name], batch, jax.random.fold_in(key, j)
                )
                last[name] = loss
                metrics.update({f"{name}/{m}": v for m, v in aux.items()})
                metrics[f"{name}/loss"] = loss
                j += 1
        metrics["loss"] = sum(last.values())
        return state.replace(players=players, step=state.step + 1), metrics

    kwargs = {"donate_argnums": (0,)} if donate else {}
    if mesh is not None:
        repl = replicated_sharding(mesh)
        kwargs.update(in_shardings=(repl, batch_sharding(mesh)), out_shardings=(repl, repl))
    return jax.jit(step, **kwargs)


def _update(players: dict[str, TrainState], name: str, loss_fn, batch, key):
    """One optimizer update of player ``name``; returns (its new state, loss, metrics)."""
    player = players[name]
    others = {n: model_of(p) for n, p in players.items() if n != name}

    def objective(params):
        model = nnx.merge(player.graphdef, params, player.rest, copy=True)
        loss, metrics = loss_fn({**others, name: model}, batch, key=key)
        return loss, (metrics, split_rest(player, model))

    (loss, (metrics, rest)), grads = jax.value_and_grad(objective, has_aux=True)(player.params)
    return player.apply_gradients(grads, rest), loss, metrics
