"""aujax.train: data-parallel step on fake CPU devices, orbax checkpoints, resumable loop."""

import shutil

import grain.python as pygrain
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from aujax.train import (
    CheckpointError,
    Checkpoints,
    MetricsLog,
    create_train_state,
    data_mesh,
    make_eval_step,
    make_train_step,
    model_of,
    read_metrics,
    shard_batch,
    train_loop,
)


class _Net(nnx.Module):
    def __init__(self, *, rngs):
        # no bias before BatchNorm: its gradient is zero up to round-off, which Adam would amplify
        self.lin1 = nnx.Linear(5, 8, use_bias=False, rngs=rngs, param_dtype=jnp.float32)
        self.bn = nnx.BatchNorm(8, rngs=rngs, param_dtype=jnp.float32)
        self.drop = nnx.Dropout(0.2, rngs=rngs)
        self.lin2 = nnx.Linear(8, 3, rngs=rngs, param_dtype=jnp.float32)

    def __call__(self, x, *, key=None):
        h = jax.nn.relu(self.bn(self.lin1(x)))
        if key is not None:
            h = self.drop(h, rngs=nnx.Rngs(dropout=key))
        return self.lin2(h)


def _loss(model, batch, *, key):
    model.train()
    logits = model(batch["x"], key=key)
    loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, batch["y"]))
    return loss, {"mean_logit": jnp.mean(logits)}


def _state(seed=0):
    model = _Net(rngs=nnx.Rngs(seed))
    return create_train_state(model, optax.adam(1e-2), key=jax.random.key(seed))


def _batches(n, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "x": rng.normal(size=(size, 5)).astype(np.float32),
            "y": (rng.random((size, 3)) < 0.4).astype(np.float32),
        }
        for _ in range(n)
    ]


def _leaves(tree):
    """Array leaves as numpy, typed PRNG keys as their key data."""
    return [
        np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
        for x in jax.tree.leaves(tree)
    ]


def test_four_devices_match_one():
    assert len(jax.devices()) >= 4
    results = []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
        mesh = data_mesh(devices)
        step = make_train_step(_loss, mesh=mesh)
        state = _state()
        losses = []
        for b in _batches(4):
            state, m = step(state, shard_batch(b, mesh))
            losses.append(float(m["loss"]))
        results.append((losses, jax.device_get(state.params), jax.device_get(state.rest)))
    (l1, p1, r1), (l4, p4, r4) = results
    np.testing.assert_allclose(l1, l4, rtol=1e-5)
    for a, b in zip(_leaves((p1, r1)), _leaves((p4, r4)), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_step_updates_batchnorm_and_eval_step():
    mesh = data_mesh(jax.devices()[:2])
    state = _state()
    before = jax.device_get(state.rest)
    state, _ = make_train_step(_loss, mesh=mesh)(state, shard_batch(_batches(1)[0], mesh))
    after = jax.device_get(state.rest)
    changed = [
        not np.array_equal(a, b) for a, b in zip(_leaves(before), _leaves(after), strict=True)
    ]
    assert any(changed)  # BatchNorm running statistics moved
    ev = make_eval_step(lambda m, b: {"p": jax.nn.sigmoid(m(b["x"]))}, mesh=mesh)
    out = ev(state, shard_batch(_batches(1)[0], mesh))
    assert out["p"].shape == (8, 3)
    with pytest.raises(ValueError, match="multiple of the 2 local devices"):
        shard_batch({"x": np.zeros((3, 5))}, mesh)


def test_checkpoint_roundtrip_best_and_corruption(tmp_path):
    state = _state()
    template = _state(seed=1)
    with Checkpoints(tmp_path / "ck", every=2, keep=2, best_metric="f1") as ck:
        assert ck.latest_step is None
        with pytest.raises(CheckpointError, match="no checkpoint"):
            ck.restore(template)
        for s, f1 in [(0, 0.1), (1, 0.5), (2, 0.3), (4, 0.2), (6, 0.4)]:
            ck.save(s, state.replace(step=jnp.asarray(s, jnp.int32)), data_state=b"\x00pos%d" % s,
                    metrics={"f1": f1}, force=s == 1)  # fmt: skip
        assert ck.steps() == [4, 6]  # keep=2 newest periodic
        assert ck.best() == (1, 0.5)
        r = ck.restore(template)
        assert r.step == 6 and r.data_state == b"\x00pos6" and r.metrics == {"f1": 0.4}
        for a, b in zip(_leaves(r.state), _leaves(state.replace(step=r.state.step)), strict=True):
            np.testing.assert_array_equal(a, b)
        assert int(r.state.step) == 6
        rb = ck.restore(template, step="best")
        assert rb.step == 1 and int(rb.state.step) == 1
        with pytest.raises(CheckpointError, match="no checkpoint for step 2"):
            ck.restore(template, step=2)
        # corrupt the newest: restoring it names the directory, "latest" falls back to step 4
        shutil.rmtree(tmp_path / "ck" / "latest" / "6" / "state")
        with pytest.raises(CheckpointError, match=r"latest/6"):
            ck.restore(template, step=6)
        with pytest.warns(UserWarning, match="skipping unreadable checkpoint"):
            r = ck.restore(template)
        assert r.step == 4


class _Source:
    def __init__(self, batches):
        self.x = np.concatenate([b["x"] for b in batches])
        self.y = np.concatenate([b["y"] for b in batches])

    def __len__(self):
        return len(self.x)

    def __repr__(self):  # grain checks the source's repr when it restores an iterator state
        return f"_Source({len(self.x)} records)"

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def _loader(seed=0):
    src = _Source(_batches(6))
    sampler = pygrain.IndexSampler(
        num_records=len(src), shard_options=pygrain.NoSharding(), shuffle=True, num_epochs=None,
        seed=seed,
    )  # fmt: skip
    return pygrain.DataLoader(
        data_source=src, sampler=sampler, operations=[pygrain.Batch(8)], worker_count=0
    )


class _Crash(Exception):
    pass


def _run(workdir, *, crash_at=None, num_steps=9):
    mesh = data_mesh(jax.devices()[:2])
    inner = make_train_step(_loss, mesh=mesh)
    calls = {"n": 0}

    def step(state, batch):
        calls["n"] += 1
        if crash_at is not None and calls["n"] == crash_at:
            raise _Crash
        return inner(state, batch)

    ev = make_eval_step(lambda m, b: {"p": m(b["x"])}, mesh=mesh)
    fixed = shard_batch(_batches(1, seed=9)[0], mesh)

    def evaluate(state):
        return {"score": float(jnp.mean(ev(state, fixed)["p"]))}

    with Checkpoints(workdir / "ck", every=3, best_metric="eval/score") as ck:
        return train_loop(
            _state(), step, _loader(), num_steps=num_steps, mesh=mesh, checkpoints=ck,
            log=MetricsLog(workdir / "metrics.jsonl"), log_every=1, evaluate=evaluate,
            eval_every=4, progress=False,
        )  # fmt: skip


def test_loop_resumes_bit_identical(tmp_path):
    ref = _run(tmp_path / "ref")
    with pytest.raises(_Crash):
        _run(tmp_path / "run", crash_at=8)  # dies after step 7, last checkpoint at step 6
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 7
    resumed = _run(tmp_path / "run")
    assert int(resumed.step) == 9
    for a, b in zip(_leaves(ref), _leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert read_metrics(tmp_path / "ref" / "metrics.jsonl") == read_metrics(
        tmp_path / "run" / "metrics.jsonl"
    )
    # an already finished run restores and returns without stepping
    again = _run(tmp_path / "run", crash_at=1)
    assert int(again.step) == 9
    assert isinstance(model_of(again), _Net)


def test_loop_stops_on_a_non_finite_loss(tmp_path):
    mesh = data_mesh(jax.devices()[:1])
    inner = make_train_step(_loss, mesh=mesh)

    def step(state, batch):
        state, m = inner(state, batch)
        return state, dict(m, loss=jnp.where(state.step >= 5, jnp.nan, m["loss"]))

    with Checkpoints(tmp_path / "ck", every=2) as ck:
        with pytest.raises(
            FloatingPointError, match="loss = nan at step 5.*newest checkpoint is step 4"
        ):
            train_loop(_state(), step, _loader(), num_steps=9, mesh=mesh, checkpoints=ck,
                       log=MetricsLog(tmp_path / "m.jsonl"), log_every=1, progress=False)  # fmt: skip
        assert ck.steps() == [2, 4]
    assert [r["step"] for r in read_metrics(tmp_path / "m.jsonl")] == [1, 2, 3, 4]


def test_loop_compiles_the_step_once():
    """A fresh state is placed like the step's outputs, so the step compiles once, not twice."""
    mesh = data_mesh(jax.devices()[:2])
    step = make_train_step(_loss, mesh=mesh)
    state, loader = _state(), _loader()
    compiles = []

    def listener(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        train_loop(state, step, loader, num_steps=4, mesh=mesh, progress=False)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert len(compiles) == 1


def test_run_config_provenance_refuses_a_workdir_of_another_generator(tmp_path):
    """A workdir trained on one synthetic generator is not resumed on another's data."""
    import ml_collections

    from aujax.train import check_run_config

    cfg = ml_collections.ConfigDict(dict(seed=0, train=dict(steps=3)))
    check_run_config(cfg, tmp_path, train=True, experiment="x", provenance={"generator": "_a"})
    check_run_config(cfg, tmp_path, train=True, experiment="x", provenance={"generator": "_a"})
    with pytest.raises(ValueError, match=r"different config \(sections \['provenance'\]\)"):
        check_run_config(cfg, tmp_path, train=True, experiment="x", provenance={"generator": "_b"})
    with pytest.raises(ValueError, match="provenance"):  # a workdir written before the field
        check_run_config(cfg, tmp_path, train=False, experiment="x")
