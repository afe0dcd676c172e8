"""aujax.train adversarial training: schedule order and k, per-player optimizers, in-memory batches,
checkpoints of both players, a killed run resumed bit-identically."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from aujax.train import (
    AdversarialState,
    ArrayLoader,
    Checkpoints,
    MetricsLog,
    create_adversarial_state,
    data_mesh,
    fit_or_restore,
    make_adversarial_step,
    read_metrics,
    replicate,
    shard_batch,
    train_loop,
)


class _Scalar(nnx.Module):
    def __init__(self, value):
        self.w = nnx.Param(jnp.asarray(value, jnp.float32))


def _scalar_state(*, lr=0.5):
    return create_adversarial_state(
        {"d": _Scalar(0.0), "g": _Scalar(3.0)}, optax.sgd(lr), key=jax.random.key(0)
    )


def _scalar_losses():
    # d pulls toward 1; g toward d's current value (the gradient in d must not move d)
    return {
        "d": lambda m, b, *, key: ((m["d"].w - 1.0) ** 2, {}),
        "g": lambda m, b, *, key: ((m["g"].w - m["d"].w) ** 2, {"gap": m["g"].w - m["d"].w}),
    }


def _w(state, name):
    return float(state.players[name].params["w"][...])


def test_schedule_order_and_own_parameters_only():
    batch = {"x": jnp.zeros((1,), jnp.float32)}
    # sgd(0.5) on (w - t)^2 jumps to t in one update
    state, m = make_adversarial_step(_scalar_losses())(_scalar_state(), batch)
    assert (_w(state, "d"), _w(state, "g")) == (1.0, 1.0)  # g saw the updated d
    assert int(state.step) == 1 and int(state.players["g"].step) == 1
    assert float(m["g/gap"]) == 3.0 - 1.0 and float(m["d/loss"]) == 1.0
    assert float(m["loss"]) == float(m["d/loss"]) + float(m["g/loss"])
    step = make_adversarial_step(_scalar_losses(), schedule=(("g", 1), ("d", 1)))
    state, _ = step(_scalar_state(), batch)
    assert (_w(state, "d"), _w(state, "g")) == (1.0, 0.0)  # g moved to the old d


def test_k_discriminator_updates():
    batch = {"x": jnp.zeros((1,), jnp.float32)}
    # sgd(0.25) halves the distance to the target per update: exact in binary floating point
    step = make_adversarial_step(_scalar_losses(), schedule=(("d", 3), ("g", 1)))
    state, _ = step(_scalar_state(lr=0.25), batch)
    d = 1.0 - 1.0 / 8
    assert _w(state, "d") == d
    assert _w(state, "g") == 3.0 - (3.0 - d) / 2
    assert int(state.players["d"].step) == 3 and int(state.players["g"].step) == 1
    assert int(state.step) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="schedule: player 'x'"):
        make_adversarial_step(_scalar_losses(), schedule=(("x", 1),))
    with pytest.raises(ValueError, match="k of 'd'"):
        make_adversarial_step(_scalar_losses(), schedule=(("d", 0),))
    with pytest.raises(ValueError, match="one optimizer per player"):
        create_adversarial_state({"d": _Scalar(0.0)}, {"g": optax.sgd(1.0)}, key=jax.random.key(0))
    with pytest.raises(ValueError, match="typed PRNG key"):
        create_adversarial_state({"d": _Scalar(0.0)}, optax.sgd(1.0), key=0)
    with pytest.raises(ValueError, match="exactly one of loss_fn and step_fn"):
        fit_or_restore("unused", None, None, None, steps=1, checkpoint_every=1, log_every=1)


def test_array_loader_epochs_and_state():
    x = np.arange(10, dtype=np.float32)[:, None]
    it = iter(ArrayLoader({"x": x, "i": np.arange(10)}, batch_size=3, seed=4))
    batches = [next(it) for _ in range(7)]  # 3 batches per epoch, one row dropped per epoch
    epoch = np.concatenate([b["i"] for b in batches[:3]])
    assert len(set(epoch.tolist())) == 9
    assert not np.array_equal(epoch, np.concatenate([b["i"] for b in batches[3:6]]))
    np.testing.assert_array_equal(batches[0]["x"][:, 0], batches[0]["i"])
    it2 = iter(ArrayLoader({"x": x, "i": np.arange(10)}, batch_size=3, seed=4))
    saved = None
    for k in range(5):
        if k == 4:
            saved = it2.get_state()
        np.testing.assert_array_equal(next(it2)["i"], batches[k]["i"])
    it3 = iter(ArrayLoader({"x": x, "i": np.arange(10)}, batch_size=3, seed=4))
    it3.set_state(saved)
    np.testing.assert_array_equal(next(it3)["i"], batches[4]["i"])
    with pytest.raises(ValueError, match="cannot restore"):
        iter(ArrayLoader({"x": x}, batch_size=2, seed=4)).set_state(saved)
    with pytest.raises(ValueError, match="equal leading sizes"):
        ArrayLoader({"x": x, "y": x[:4]}, batch_size=2, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayLoader({"x": x}, batch_size=11, seed=0)


# -- a small GAN, killed and resumed ------------------------------------------------------------


def _gan_state():
    rngs = nnx.Rngs(1)
    models = {
        "disc": nnx.Linear(3, 1, rngs=rngs),
        "gen": {"a": nnx.Linear(2, 4, rngs=rngs), "b": nnx.Linear(4, 3, rngs=rngs)},
    }
    return create_adversarial_state(
        models, {"disc": optax.adam(1e-2), "gen": optax.adam(3e-3, b1=0.5)},
        key=jax.random.key(7),
    )  # fmt: skip


def _gen(m, key, n):
    z = jax.random.normal(key, (n, 2), jnp.float32)
    return m["gen"]["b"](jnp.tanh(m["gen"]["a"](z)))


def _gan_losses():
    def disc(m, batch, *, key):
        real = m["disc"](batch["x"])[:, 0]
        fake = m["disc"](_gen(m, key, batch["x"].shape[0]))[:, 0]
        loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
        return loss, {"real": jnp.mean(real)}

    def gen(m, batch, *, key):
        fake = m["disc"](_gen(m, key, batch["x"].shape[0]))[:, 0]
        return jnp.mean(jax.nn.softplus(-fake)), {}

    return {"disc": disc, "gen": gen}


class _Crash(Exception):
    pass


_STEP = make_adversarial_step(_gan_losses(), schedule=(("disc", 2), ("gen", 1)))


def _run(workdir, *, crash_at=None, num_steps=7):
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    loader = ArrayLoader({"x": x}, batch_size=8, seed=3)  # 5 batches per epoch
    calls = {"n": 0}

    def step(state, batch):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise _Crash
        return _STEP(state, batch)

    with Checkpoints(workdir / "ck", every=5) as ck:
        return train_loop(_gan_state(), step, loader, num_steps=num_steps, checkpoints=ck,
                          log=MetricsLog(workdir / "metrics.jsonl"), log_every=1,
                          progress=False)  # fmt: skip


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_killed_run_resumes_bit_identical(tmp_path):
    ref = _run(tmp_path / "ref")
    with pytest.raises(_Crash):
        _run(tmp_path / "run", crash_at=7)  # dies in step 7, last checkpoint at step 5
    with Checkpoints(tmp_path / "run" / "ck", every=5) as ck:
        restored = ck.restore(_gan_state())
        assert restored.step == 5 and isinstance(restored.state, AdversarialState)
        # both players' optimizer states are in the checkpoint (Adam's counts: 2 per step for disc)
        counts = [np.asarray(x) for x in jax.tree.leaves(restored.state.players["disc"].opt_state)
                  if np.asarray(x).dtype == np.int32]  # fmt: skip
        assert counts and all(int(c) == 10 for c in counts)
    resumed = _run(tmp_path / "run")
    assert int(resumed.step) == 7 and int(resumed.players["disc"].step) == 14
    for a, b in zip(_leaves(ref), _leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert read_metrics(tmp_path / "run" / "metrics.jsonl") == read_metrics(
        tmp_path / "ref" / "metrics.jsonl"
    )
    assert not np.array_equal(
        _leaves(ref.players["gen"].params)[0], _leaves(_gan_state().players["gen"].params)[0]
    )


def test_two_devices_match_one():
    assert len(jax.devices()) >= 2
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    results = []
    for mesh in (None, data_mesh(jax.devices()[:2])):
        step = make_adversarial_step(_gan_losses(), schedule=(("disc", 2), ("gen", 1)), mesh=mesh)
        state = _gan_state() if mesh is None else replicate(_gan_state(), mesh)
        for _ in range(2):
            state, m = step(state, {"x": x} if mesh is None else shard_batch({"x": x}, mesh))
        results.append((float(m["loss"]), _leaves(jax.device_get(state))))
    (l1, p1), (l2, p2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    for a, b in zip(p1, p2, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
