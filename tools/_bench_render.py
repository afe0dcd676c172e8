"""`python -m tools.bench render`: the soft rasterizer's images/s, forward and forward + backward,
beside the hard renderer in the same run.

Inputs: the default face template (:func:`aujax.face.make_face`, ``--n-vertices``), a skin albedo
(:func:`aujax.face.skin_albedo`), and ``--batch`` frames whose vertices are the template turned
by random head poses (yaw and pitch within ±0.25 rad), framed by one orthographic camera
(:func:`aujax.geometry.frame_vertices`, margin 0.06 as the synthetic crops). Every row renders the
batch with ``jax.vmap`` under one ``jax.jit``, timed after compilation with
``block_until_ready`` (median of ``--repeat`` runs):

* **hard forward**: :func:`aujax.render.render` (z-buffer, Lambert + ambient);
* **hard fwd+bwd**: the gradient of a photometric loss (mean squared difference to a target
  image) through it with respect to the vertices and the albedo (shading gradients only: no
  visibility gradient);
* **soft forward**: :func:`aujax.render.soft_render` at its defaults (``SoftBlend()``: σ = 0.1 px²,
  γ = 1e-4, K = 8, silhouette edges blurred);
* **soft fwd+bwd**: the same loss plus the alpha's squared difference to the target mask, with
  respect to the vertices and the albedo (gradients through visibility).

at 64 and 128 px (``--sizes``), float32; the ratio column is the soft row's time over the hard
row's of the same kind. On a GPU the same four rows run at 224 px with the soft renderer's blend
and shading in bfloat16 (albedo in bf16; the geometry, i.e. the candidate search and distances,
stays float32: bf16 pixel coordinates cannot resolve a pixel at 224 px; the hard rows are
float32). On CPU that row is skipped with a note (``--bf16`` runs it anyway). An agreement line
per size: the largest difference between the soft image at σ = γ = 1e-7 and the hard image,
over the pixels whose soft alpha is 0 or 1 (the rest lie within ~1e-3 px of an edge).

The machine (CPU count, load, JAX backend) is printed with the figures: on a shared machine the
load average says how far the absolute numbers are from an idle one; both sides of each ratio are
measured in the same run. `--quick`: 2 frames, 64 px, a coarse face, 2 repeats.
"""

import argparse
import os
import platform

import numpy as np

from ._common import print_table, timeit


def _frames(n_vertices: int, batch: int, seed: int):
    """Template, albedo and a (batch, n, 3) stack of posed vertices (float32)."""
    import jax
    import jax.numpy as jnp

    from aujax.face import make_face, skin_albedo
    from aujax.geometry import look_rotation

    face = make_face(n_vertices)
    vertices = jnp.asarray(face.vertices, jnp.float32)
    albedo = skin_albedo(face, jnp.asarray(0.3), key=jax.random.key(seed)).astype(jnp.float32)
    rng = np.random.default_rng(seed)
    poses = rng.uniform(-0.25, 0.25, (batch, 2))
    centre = vertices.mean(axis=0, keepdims=True)
    frames = jnp.stack(
        [(vertices - centre) @ look_rotation(y, p, 0.0).astype(jnp.float32).T + centre
         for y, p in poses]
    )  # fmt: skip
    return face, vertices, albedo, frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench render", description=__doc__)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--gpu-size", type=int, default=224)
    ap.add_argument("--n-vertices", type=int, default=5000, help="make_face's default")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="run the bf16 row without a GPU too")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.sizes, args.n_vertices, args.repeat = 2, [64], 1500, 2
    import jax
    import jax.numpy as jnp

    from aujax.geometry import frame_vertices
    from aujax.render import SoftBlend, render, soft_render

    dev = jax.devices()[0]
    on_gpu = jax.default_backend() == "gpu"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        usable = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"device: {dev.platform} ({dev.device_kind}), jax backend {jax.default_backend()}; "
        f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({usable} usable), load average {load}; jax {jax.__version__}"
    )
    face, vertices, albedo, frames = _frames(args.n_vertices, args.batch, args.seed)
    print(
        f"face: make_face({args.n_vertices}): {face.n_vertices} vertices, "
        f"{face.triangles.shape[0]} triangles; batch {args.batch} (vmap), float32"
    )
    triangles = jnp.asarray(face.triangles)
    blend = SoftBlend()

    def rows_for(size: int, blend_dtype) -> tuple[list[list], str]:
        camera = frame_vertices(vertices, height=size, width=size, margin=0.06)
        rho = albedo.astype(blend_dtype)

        def hard(v, a):
            return render(v, triangles, a, camera=camera)

        def soft(v, a, b=blend):
            return soft_render(v, triangles, a, camera=camera, blend=b)

        target = hard(vertices, albedo)

        def hard_loss(v, a):
            return jnp.mean((hard(v, a).image - target.image) ** 2)

        def soft_loss(v, a):
            out = soft(v, a)
            image = out.image.astype(jnp.float32)
            return jnp.mean((image - target.image) ** 2) + jnp.mean(
                (out.alpha.astype(jnp.float32) - target.mask.astype(jnp.float32)) ** 2
            )

        grad = lambda loss: jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(0, None))  # noqa: E731
        fns = {
            "hard forward": (jax.jit(jax.vmap(lambda v, a: hard(v, a).image, (0, None))), albedo),
            "hard fwd+bwd": (jax.jit(grad(hard_loss)), albedo),
            "soft forward": (jax.jit(jax.vmap(lambda v, a: soft(v, a).image, (0, None))), rho),
            "soft fwd+bwd": (jax.jit(grad(soft_loss)), rho),
        }
        times = {}
        for name, (fn, a) in fns.items():
            times[name] = timeit(fn, frames, a, repeat=args.repeat)[0]
        label = f"{size} px" + (
            "" if blend_dtype == jnp.float32 else f", blend {blend_dtype.__name__}"
        )
        out = []
        for name, t in times.items():
            kind = name.split(" ", 1)[1]
            ratio = f"{t / times['hard ' + kind]:.1f}x" if name.startswith("soft") else "1x"
            out.append([label, name, f"{t / args.batch * 1e3:.2f}", f"{args.batch / t:.1f}", ratio])
        limit = soft(vertices, albedo, SoftBlend(sigma=1e-7, gamma=1e-7))
        alpha = np.asarray(limit.alpha)
        settled = (alpha == 0) | (alpha == 1)
        diff = np.abs(np.asarray(limit.image) - np.asarray(target.image)).max(axis=-1)
        note = (
            f"{size} px agreement: soft at sigma = gamma = 1e-7 vs hard, max |diff| "
            f"{diff[settled].max():.2e} on the {settled.mean():.1%} of pixels whose soft alpha "
            f"is 0 or 1"
        )
        return out, note

    rows, notes = [], []
    for size in args.sizes:
        out, note = rows_for(size, jnp.float32)
        rows += out
        notes.append(note)
    if on_gpu or args.bf16:
        out, note = rows_for(args.gpu_size, jnp.bfloat16)
        rows += out
        notes.append(note)
    else:
        notes.append(f"{args.gpu_size} px bf16: skipped (no GPU; backend {jax.default_backend()})")
    print_table(
        ["size", "renderer", "ms / image", "images / s", "time vs hard"],
        rows,
        title="Soft vs hard rasterizer (vmap over the batch, one jit)",
    )
    for note in notes:
        print(note)
    soft_bwd = [r for r in rows if r[1] == "soft fwd+bwd"]
    print(
        "headline: soft forward + backward "
        + ", ".join(f"{r[3]} images/s at {r[0]} ({r[4]} the hard one's time)" for r in soft_bwd)
    )
    return 0
