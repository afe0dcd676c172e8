"""`python -m tools.bench data`: synthetic-data generation speed, split into physics, rendering, writing.

1. Rendering alone: aligned face crops of a simulated mesh at 64 and 128 px as the generator
   renders them (`aujax.synth.sequence_crops`: `aujax.render._splat.render_splat`, one
   packed z-buffer scatter per chunk of 32 frames), frames/second after compilation, beside the
   hard z-buffer rasterizer `aujax.render.render` on the same crops, per frame, vmapped over
   chunks of 32 frames (the reference: `render_splat`'s banded path forced with `max_tile=0`,
   same camera, light and uint8 conversion, same images up to 1 grey level; runs interleaved with
   the measured ones, as the machine may be shared). Goal: >= 1,000 frames/s at 64x64.
2. Physics alone: one subject's 8 BP4D-like tasks (preset length plus the generator's warm-up) as
   one batch through `simulate_expressions` (jitted Newmark scan, dense K_eff^-1), beside the
   host SuperLU integrator (`simulate_expression`) on 2 of them, with the relative displacement
   difference between the two.
3. End to end: `generate_bp4d` on the `small` BP4D-like preset (all 8 tasks, the preset's mesh
   resolution and its default 64 px crops), timed per stage (physics runs in worker threads and
   writing in a writer thread beside rendering, so the stage times overlap the wall time). By
   default the whole preset (all 41 subjects, ~32,800 frames) from a cold start: the wall time
   is the measured figure, compilation included. With `--subjects K`, K subjects after a warm-up
   run of one other subject (so the one-time compilations are not extrapolated), extrapolated
   linearly in frames to all 41 (the table says so, from how many frames, and what the warm-up
   took). Goal: the `small` preset in <= 5 minutes.

`--quick`: fewer frames, a warm-up subject (2 tasks) then 3 subjects with their 8 tasks end to end,
extrapolated (< 1.5 min; three subjects keep the generator's two physics workers and writer
overlapping as in a full run, one alone would not).
"""

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from ._common import print_table


def _median_time(fn, repeat: int) -> float:
    fn()  # compile
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench data", description=__doc__)
    ap.add_argument(
        "--subjects",
        type=int,
        default=None,
        help="time K subjects after a warm-up and extrapolate (default: the whole preset)",
    )
    ap.add_argument("--n-vertices", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    import jax
    import jax.numpy as jnp

    from aujax.face import make_face, skin_albedo
    from aujax.geometry import frame_vertices
    from aujax.physics import build_au_blendshapes
    from aujax.render import render_splat
    from aujax.synth import (
        DEFAULT_N_VERTICES,
        generate_bp4d,
        generate_sequence,
        get_preset,
        head_pose_sequence,
        muscle_activations,
        sequence_crops,
    )
    from aujax.synth._rig import build_subject_rig, simulate_expression, simulate_expressions

    preset = get_preset("bp4d", "small")
    n_vertices = args.n_vertices or DEFAULT_N_VERTICES["small"]
    dev = jax.devices()[0]
    print(f"device: {dev.platform}; host: {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores")  # fmt: skip
    rows, ok = [], True

    # --- 1. rendering alone -----------------------------------------------------------------------

    face = make_face(n_vertices)
    albedo = np.asarray(skin_albedo(face, 0.3, key=jax.random.key(0)))
    n = 128  # frames per call: 4 chunks of 32 (one chunk alone would time its read-back too)
    rng = np.random.default_rng(0)
    u = 0.05 * rng.standard_normal((n, face.n_vertices, 3))
    rot, _ = head_pose_sequence(n, sd_deg=preset.capture.pose_sd_deg, fps=25.0, rng=rng)
    repeat = 2 if args.quick else 3
    fps = {}
    rest = np.asarray(face.vertices, np.float32)
    verts = rest[None] + u.astype(np.float32)
    el = np.radians(30.0)  # the key light and ambient of `sequence_crops`' defaults
    for size in (64, 128):
        cam = frame_vertices(jnp.asarray(rest), height=size, width=size, margin=0.06)

        def crops(reference, size=size, cam=cam):
            if reference:  # `aujax.render.render` per frame, vmapped (the banded path)
                return render_splat(verts, face.triangles, albedo, camera=cam, rotations=rot,
                                    light_dir=(0.0, np.sin(el), np.cos(el)), ambient=0.4,
                                    diffuse=0.6, chunk=32, max_tile=0)  # fmt: skip
            return sequence_crops(face.vertices, u, rot, face.triangles, albedo, size=size,
                                  chunk=32)  # fmt: skip

        a, b = crops(False), crops(True)  # compile
        grey = int(np.abs(a.astype(int) - b.astype(int)).max())
        times = {False: [], True: []}
        for _ in range(repeat):  # interleaved: a shared machine's load drifts
            for reference in (False, True):
                t0 = time.perf_counter()
                crops(reference)
                times[reference].append(time.perf_counter() - t0)
        t, t_ref = (float(np.median(times[b])) for b in (False, True))
        fps[size] = n / t
        goal = " (goal >= 1000)" if size == 64 else ""
        rows.append([f"render crops {size}x{size}, N={face.n_vertices}",
                     f"{fps[size]:.0f} frames/s{goal}", f"{t / n * 1e3:.2f} ms/frame",
                     f"aujax.render.render vmapped {n / t_ref:.0f} frames/s ({t_ref / t:.1f}x "
                     f"the time; interleaved runs); max diff {grey} grey level"])  # fmt: skip
    ok &= fps[64] >= 1000.0

    # --- 2. physics alone -------------------------------------------------------------------------
    with jax.enable_x64(True):
        face = make_face(n_vertices)  # float64, as in the generator
        model, _ = build_au_blendshapes(face)
    au = np.asarray(model.au_activations)
    rig = build_subject_rig(face, np.random.default_rng(1).normal(size=model.identity_basis.shape[0]),
                            fps=preset.fps)  # fmt: skip
    t0 = time.perf_counter()
    _ = rig.k_eff_inverse
    t_inv = time.perf_counter() - t0
    tasks = [t.name for t in preset.tasks]
    length = 30 if args.quick else preset.frames_per_task + 10
    acts = []
    for task in tasks:
        x = generate_sequence(preset, preset.subjects[0], task, seed=0).intensity[:length]
        acts.append(muscle_activations(x, au, fps=preset.fps, rng=np.random.default_rng(2)))
    acts = np.stack(acts)
    t_dense = _median_time(lambda: simulate_expressions(rig, acts, rtol=1e-5), 1)
    us, _ = simulate_expressions(rig, acts, rtol=1e-5)
    n_ref = 2
    t0 = time.perf_counter()
    ref = [simulate_expression(rig, a, rtol=1e-5)[0] for a in acts[:n_ref]]
    t_lu = (time.perf_counter() - t0) / n_ref
    diff = max(np.abs(us[i] - ref[i]).max() / max(np.abs(ref[i]).max(), 1e-300)
               for i in range(n_ref))  # fmt: skip
    per_frame = t_dense / acts.shape[0] / length
    rows.append([f"physics, batch of {len(tasks)} x {length} frames, N={face.n_vertices}",
                 f"{1.0 / per_frame:.0f} frames/s", f"{per_frame * 1e3:.2f} ms/frame",
                 f"SuperLU {t_lu / length * 1e3:.2f} ms/frame ({t_lu / length / per_frame:.1f}x "
                 f"slower); max rel. diff {diff:.1e}; K_eff^-1 {t_inv:.2f} s"])  # fmt: skip

    # --- 3. end to end: the whole preset, or a subset after a warm-up, extrapolated ------------
    # The warm-up subject (2 tasks suffice: the physics batch always has the preset's 8 tasks,
    # the crop chunks one shape) keeps the one-time compilations out of an extrapolated figure.
    # Timed subjects run all 8 tasks: a subject's physics and setup cost the same for 2 tasks as
    # for 8, so a 2-task subset would extrapolate 4x too high.
    n_subj = 3 if args.quick and args.subjects is None else args.subjects
    whole = n_subj is None
    warm = preset.subjects[0]
    subjects = list(preset.subjects) if whole else list(preset.subjects[1 : 1 + max(1, n_subj)])
    t_warm = 0.0
    if not whole:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate_bp4d(tmp, size="small", seed=0, n_vertices=n_vertices, subjects=[warm],
                          tasks=tasks[:2], progress=None)  # fmt: skip
            t_warm = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = generate_bp4d(tmp, size="small", seed=0, n_vertices=n_vertices,
                                subjects=subjects, tasks=tasks, progress=None)  # fmt: skip
        wall = time.perf_counter() - t0
    frames = summary["frames"]
    for k in ("physics", "rendering", "writing"):
        v = summary[f"{k}_seconds"] / frames
        note = {
            "physics": "worker threads (2 subjects at once), overlaps the others",
            "rendering": "main thread",
            "writing": "writer thread, overlaps the others",
        }[k]
        rows.append([f"{k}, small preset{'' if whole else ' subset'}", f"{1.0 / v:.0f} frames/s",
                     f"{v * 1e3:.2f} ms/frame", note])  # fmt: skip
    total_frames = preset.n_frames
    estimate = wall / frames * total_frames
    setup = f"N={summary['n_vertices']}, {summary['image_size']} px"
    if whole:
        rows.append([f"small preset end to end ({frames} frames)",
                     f"{wall / 60:.1f} min (goal <= 5)", "measured, cold start",
                     f"{len(subjects)} subjects x {len(tasks)} tasks, compilation included, "
                     f"{setup}"])  # fmt: skip
    else:
        rows.append([
            f"small preset end to end ({total_frames} frames)",
            f"{estimate / 60:.1f} min (goal <= 5)", f"extrapolated from {frames} frames",
            f"{len(subjects)} subjects x {len(tasks)} tasks in {wall:.1f} s wall after a warm-up "
            f"subject ({t_warm:.1f} s, compilation included, not extrapolated), {setup}",
        ])  # fmt: skip
    ok &= estimate <= 300.0
    print_table(["what", "speed", "detail", "note"], rows, title="bench data")
    print(
        f"bench data: rendering {fps[64]:.0f} frames/s at 64 px, {fps[128]:.0f} at 128 px; physics "
        f"{1.0 / per_frame:.0f} frames/s; small BP4D-like preset {'' if whole else '~'}"
        f"{estimate / 60:.1f} min end to end ({'measured' if whole else 'extrapolated'}) "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1
