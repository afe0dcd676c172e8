"""`python -m tools.bench data`: synthetic-data generation speed, split into physics, rendering, writing.

1. Rendering alone: aligned face crops (`aujax.data._crops.render_crops`) of a simulated mesh at 64
   and 128 px, frames/second after compilation. Goal: >= 1,000 frames/s at 64x64.
2. End to end: `generate_bp4d` on a subset of the `small` BP4D-like preset (`--sequences`
   sequences, the preset's mesh resolution and crop size), timed per stage, then extrapolated to the
   whole preset (41 subjects x 8 tasks; subject rigs are built once per subject, which the
   extrapolation counts per subject). Goal: the `small` preset in <= 5 minutes. The table says
   that the figure is extrapolated and from how many sequences.

`--quick`: the `tiny` preset's mesh and 2 sequences (< 1 min).
"""

import argparse
import platform
import tempfile
import time

import numpy as np

from ._common import print_table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench data", description=__doc__)
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    import jax

    from aujax.data import generate_bp4d, get_preset
    from aujax.data._crops import render_crops
    from aujax.face import make_face, skin_albedo

    if args.quick:
        args.sequences = 2
    preset = get_preset("bp4d", "small")
    n_vertices = 600 if args.quick else 1500
    dev = jax.devices()[0]
    print(f"device: {dev.platform}; host: {platform.processor() or 'cpu'}, "
          f"{__import__('os').cpu_count()} cores")  # fmt: skip
    rows, ok = [], True

    # --- 1. rendering alone -----------------------------------------------------------------------
    face = make_face(n_vertices)
    albedo = np.asarray(skin_albedo(face, 0.3, key=jax.random.key(0)))
    n = 64
    rng = np.random.default_rng(0)
    u = 0.05 * rng.standard_normal((n, face.n_vertices, 3))
    rot = np.repeat(np.eye(3)[None], n, 0)
    fps = {}
    for size in (64, 128):
        render_crops(face.vertices, u, rot, face.triangles, albedo, size=size, chunk=32)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            render_crops(face.vertices, u, rot, face.triangles, albedo, size=size, chunk=32)
            times.append(time.perf_counter() - t0)
        fps[size] = n / float(np.median(times))
        goal = " (goal >= 1000)" if size == 64 else ""
        rows.append([f"render crops {size}x{size}, N={face.n_vertices}", f"{fps[size]:.0f} frames/s"
                     + goal, "", ""])  # fmt: skip
    ok &= fps[64] >= 1000.0

    # --- 2. end to end on a subset, extrapolated ---------------------------------------------------
    tasks = [t.name for t in preset.tasks][: args.sequences]
    subject = preset.subjects[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = generate_bp4d(tmp, size="small", seed=0, n_vertices=n_vertices,
                                subjects=[subject], tasks=tasks, progress=None)  # fmt: skip
        wall = time.perf_counter() - t0
    frames = summary["frames"]
    per_frame = {k: summary[f"{k}_seconds"] / frames for k in ("physics", "rendering", "writing")}
    fixed = wall - sum(summary[f"{k}_seconds"] for k in ("physics", "rendering", "writing"))
    total_frames = preset.n_frames
    # the fixed part (face, blendshape model, one subject rig) happens once; rigs once per subject
    estimate = fixed + total_frames * sum(per_frame.values())
    for k, v in per_frame.items():
        rows.append([f"{k}, small preset subset", f"{1.0 / v:.1f} frames/s", f"{v * 1e3:.1f} ms/frame",
                     f"{len(tasks)} sequences, {frames} frames"])  # fmt: skip
    rows.append([
        f"small preset end to end ({total_frames} frames)", f"{estimate / 60:.1f} min (goal <= 5)",
        f"extrapolated from {frames} frames", f"fixed part {fixed:.1f} s",
    ])  # fmt: skip
    ok &= estimate <= 300.0
    print_table(["what", "speed", "detail", "note"], rows, title="bench data")
    print(
        f"bench data: rendering {fps[64]:.0f} frames/s at 64 px, {fps[128]:.0f} at 128 px; small "
        f"BP4D-like preset ~{estimate / 60:.1f} min end to end (extrapolated) "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1
