"""Shared pieces of the command-line tools: float64 setup, the default face model, table printing."""

import time

import jax
import numpy as np


def enable_float64() -> None:
    """Physics verification runs in float64 (DESIGN §2)."""
    jax.config.update("jax_enable_x64", True)


def build_model(n_vertices: int, *, seed: int = 0):
    """Face template, muscles, spring-mass system and physics-built AU blendshapes at n vertices."""
    from aujax.face import make_face, make_muscles
    from aujax.physics import build_au_blendshapes, build_spring_mass

    face = make_face(n_vertices, seed=seed)
    muscles = make_muscles(face)
    system = build_spring_mass(face.vertices, face.triangles, face.bone_weights)
    t0 = time.perf_counter()
    model, report = build_au_blendshapes(face, muscles=muscles, system=system)
    return face, muscles, system, model, report, time.perf_counter() - t0


def print_table(headers: list[str], rows: list[list], *, title: str | None = None) -> str:
    """Prints (and returns) a Markdown table; floats in compact scientific or fixed notation."""

    def fmt(x):
        if isinstance(x, float | np.floating):
            if x == 0 or 1e-3 <= abs(x) < 1e5:
                return f"{x:.4g}"
            return f"{x:.3e}"
        return str(x)

    lines = []
    if title:
        lines.append(f"\n### {title}\n")
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "---|" * len(headers))
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def block(x):
    """Blocks until every array in a pytree is ready (for timing)."""
    return jax.block_until_ready(x)


def timeit(fn, *args, repeat: int = 5, **kw) -> tuple[float, object]:
    """Median wall time (s) of `fn(*args)` after one warm-up call, and the last result."""
    out = block(fn(*args, **kw))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = block(fn(*args, **kw))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def cast_floats(tree, dtype):
    """Casts every floating-point leaf of a pytree to `dtype` (integer leaves are kept)."""
    import jax.numpy as jnp

    return jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree
    )
