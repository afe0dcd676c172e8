"""`python -m tools.bench train`: training throughput of the main job's two branches (seed 001).

What is timed, per branch, at the main job's `small` configuration (experiments/configs/
bp4d_physics.py; `--preset` picks another): one optimizer step of the experiment's own training
stack — `aujax.train.make_train_step` (jitted, batch sharded over every local device on the
`'data'` mesh, state donated) on the loss the experiment trains (`physics_loss_fn` /
`image_loss_fn`) and its optax chain — after compilation, median of `--repeat` timings of
`--steps` consecutive steps each:

* **physics**: `PhysicsAUNet` (3D physics row: forces + position, `paper` dynamics, Euler ODE
  decoder, lambda_3d of the config), batch B windows x T frames of K coefficients;
* **image**: the ResNet of the image branch on B crops (`cfg.image`).

Reference, measured in the same run: the same model, loss and optax chain stepped the way the
Flax NNX examples do it (`nnx.Optimizer` + `nnx.value_and_grad` under `nnx.jit`). The ratio
(reference time / ours) shows what the stack's pure-JAX step (split state, `jax.jit`, donation)
costs or saves. Figures: steps/s, frames/s (physics: B x T frames per step), the compiled step's
FLOPs (XLA cost analysis) and the achieved FLOP/s; on a GPU or TPU the model-FLOP utilisation of
ResNet-50 at 224 px in bf16 (`--resnet50`, on by default there) against the device's peak.

Goal (headline): the stack's step is no slower than the NNX-idiom reference (ratio >= 0.9).
`--quick`: 3 steps x 2 repeats per row, no ResNet-50.
"""

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from ._common import print_table


GOAL_RATIO = 0.9

# dense bf16 peak FLOP/s per device (vendor datasheets), for model-FLOP utilisation
PEAK_BF16 = {
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
}


def _peak(device) -> float | None:
    kind = getattr(device, "device_kind", "")
    for name, peak in PEAK_BF16.items():
        if name.lower() in kind.lower():
            return peak
    return None


def _time_steps(step, state, batch, *, steps: int, repeat: int):
    """Median seconds per step over ``repeat`` runs of ``steps`` steps (after one warm-up step)."""
    state, m = step(state, batch)
    jax.block_until_ready(m)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            state, m = step(state, batch)
        jax.block_until_ready((state, m))
        times.append((time.perf_counter() - t0) / steps)
    return float(np.median(times))


def _flops(step, state, batch) -> float | None:
    try:
        cost = step.lower(state, batch).compile().cost_analysis()
    except Exception:  # noqa: BLE001 - cost analysis is optional on some backends
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    return float(cost["flops"]) if cost and "flops" in cost else None


def _reference_step(loss_fn):
    """The Flax NNX examples' idiom: nnx.Optimizer + nnx.value_and_grad under nnx.jit."""
    from flax import nnx

    @nnx.jit
    def step(model, opt, batch):
        def objective(m):
            return loss_fn(m, batch, key=None)

        (loss, _), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        opt.update(model, grads)
        return loss

    return step


def _time_reference(model, tx, loss_fn, batch, *, steps: int, repeat: int) -> float:
    from flax import nnx

    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    step = _reference_step(loss_fn)
    jax.block_until_ready(step(model, opt, batch))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step(model, opt, batch)
        jax.block_until_ready(loss)
        times.append((time.perf_counter() - t0) / steps)
    return float(np.median(times))


def _branch(name, build, loss_fn, batch, tx, *, frames_per_step, mesh, steps, repeat):
    """One table row: ours vs the reference on the same model, loss and batch."""
    from aujax.train import create_train_state, make_train_step, replicate, shard_batch

    state = replicate(create_train_state(build(), tx, key=jax.random.key(0)), mesh)
    step = make_train_step(loss_fn, mesh=mesh)
    sharded = shard_batch(batch, mesh)
    flops = _flops(make_train_step(loss_fn, mesh=mesh, donate=False), state, sharded)
    ours = _time_steps(step, state, sharded, steps=steps, repeat=repeat)
    ref = _time_reference(build(), tx, loss_fn, jax.device_put(batch), steps=steps, repeat=repeat)
    return {
        "name": name,
        "ours": ours,
        "ref": ref,
        "flops": flops,
        "frames_per_step": frames_per_step,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.bench train", description=__doc__.split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="3 steps x 2 repeats, no ResNet-50")
    p.add_argument("--preset", default="small", help="experiments/configs/bp4d_physics.py preset")
    p.add_argument("--steps", type=int, default=10, help="steps per timing")
    p.add_argument("--repeat", type=int, default=3, help="timings (median)")
    p.add_argument("--resnet50", choices=("auto", "yes", "no"), default="auto",
                   help="ResNet-50 224 px bf16 MFU row (auto: on GPU/TPU only)")  # fmt: skip
    args = p.parse_args(argv)
    steps, repeat = (3, 2) if args.quick else (args.steps, args.repeat)

    from aujax.methods.physics import build_physics_template, row_spec
    from aujax.methods.physics._train import (
        build_image_net,
        build_physics_net,
        image_loss_fn,
        physics_loss_fn,
    )
    from aujax.nn import ResNet
    from aujax.train import data_mesh, warmup_cosine_adamw
    from experiments.configs.bp4d_physics import get_config

    cfg = get_config(args.preset)
    mesh = data_mesh()
    dev = jax.devices()[0]
    rng = np.random.default_rng(0)
    n_aus = 12
    print(f"# bench train: {jax.device_count()} x {dev.device_kind} ({jax.default_backend()}), "
          f"{platform.machine()}, preset {args.preset!r}")  # fmt: skip

    t0 = time.perf_counter()
    template, _ = build_physics_template(
        n_vertices=cfg.data.template_vertices, factors=tuple(cfg.model.factors), seed=0
    )
    print(f"  template ({cfg.data.template_vertices} vertices) built in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    spec = row_spec("3D physics", cfg)
    b, t, k = cfg.train.batch_size, cfg.model.window, template.n_coefficients
    c = np.cumsum(rng.normal(0.0, 0.3, (b, t, k)), axis=1) + 1.0
    pbatch = {
        "c": c.astype(np.float32),
        "c_mask": np.ones((b, t), bool),
        "labels": (rng.random((b, t, n_aus)) < 0.3).astype(np.int8),
        "label_mask": np.ones((b, t, n_aus), bool),
    }
    rows = [
        _branch(
            f"physics (3D physics, B={b} x T={t}, {cfg.data.template_vertices} v)",
            lambda: build_physics_net(template, cfg, spec, n_aus=n_aus, image_features=0, seed=0),
            physics_loss_fn(cfg, spec),
            pbatch,
            warmup_cosine_adamw(cfg.train.steps, lr=cfg.train.lr, warmup=1),
            frames_per_step=b * t,
            mesh=mesh,
            steps=steps,
            repeat=repeat,
        )  # fmt: skip
    ]
    bi, s = cfg.image.batch_size, cfg.data.image_size
    ibatch = {
        "image": rng.integers(0, 256, (bi, s, s, 3), dtype=np.uint8),
        "labels": (rng.random((bi, n_aus)) < 0.3).astype(np.int8),
        "label_mask": np.ones((bi, n_aus), bool),
    }
    rows.append(
        _branch(
            f"image (ResNet-{cfg.image.depth} w{cfg.image.width}, B={bi}, {s} px)",
            lambda: build_image_net(cfg, n_aus=n_aus, seed=0),
            image_loss_fn,
            ibatch,
            warmup_cosine_adamw(cfg.image.steps, lr=cfg.image.lr, warmup=1),
            frames_per_step=bi,
            mesh=mesh,
            steps=steps,
            repeat=repeat,
        )  # fmt: skip
    )
    r50 = args.resnet50 == "yes" or (
        args.resnet50 == "auto" and jax.default_backend() != "cpu" and not args.quick
    )
    if r50:
        from flax import nnx

        bb = 64 * jax.device_count()
        big = {
            "image": rng.integers(0, 256, (bb, 224, 224, 3), dtype=np.uint8),
            "labels": (rng.random((bb, n_aus)) < 0.3).astype(np.int8),
            "label_mask": np.ones((bb, n_aus), bool),
        }
        rows.append(
            _branch(
                f"ResNet-50 224 px bf16, B={bb}",
                lambda: ResNet(
                    depth=50,
                    num_classes=n_aus,
                    width=64,
                    stem="imagenet",
                    dtype=jnp.bfloat16,
                    rngs=nnx.Rngs(0),
                ),
                image_loss_fn,
                big,
                warmup_cosine_adamw(1000, lr=1e-3, warmup=1),
                frames_per_step=bb,
                mesh=mesh,
                steps=steps,
                repeat=repeat,
            )  # fmt: skip
        )

    peak = _peak(dev)
    table = []
    for r in rows:
        fl = r["flops"]
        achieved = fl / r["ours"] if fl else None
        mfu = (
            f"{100 * achieved / (peak * jax.device_count()):.1f} %"
            if achieved and peak and "bf16" in r["name"]
            else "-"
        )
        table.append([
            r["name"], f"{1e3 * r['ours']:.1f} ms", f"{1 / r['ours']:.2f}",
            f"{r['frames_per_step'] / r['ours']:.0f}", f"{1e3 * r['ref']:.1f} ms",
            f"{r['ref'] / r['ours']:.2f}x",
            "-" if fl is None else f"{fl / 1e9:.2f}",
            "-" if achieved is None else f"{achieved / 1e9:.1f}", mfu,
        ])  # fmt: skip
    print_table(
        ["branch", "step", "steps/s", "frames/s", "NNX-idiom step", "ratio (ref/ours)",
         "GFLOP/step", "GFLOP/s", "MFU"],
        table,
        title=f"training step, {steps} steps x {repeat} (median)",
    )  # fmt: skip
    worst = min(r["ref"] / r["ours"] for r in rows)
    ok = worst >= GOAL_RATIO
    print(
        f"\nHEADLINE: physics {1 / rows[0]['ours']:.1f} steps/s "
        f"({rows[0]['frames_per_step'] / rows[0]['ours']:.0f} frames/s), image "
        f"{1 / rows[1]['ours']:.1f} steps/s ({rows[1]['frames_per_step'] / rows[1]['ours']:.0f} "
        f"frames/s) on {jax.device_count()} x {dev.device_kind}; stack vs NNX idiom >= "
        f"{worst:.2f}x (goal >= {GOAL_RATIO}) {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1
