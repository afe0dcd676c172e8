"""`python -m tools.bench detect`: `aujax detect` on the 640x360 real video, beside TFLite.

* aujax: the whole `aujax detect` pipeline (OpenCV decode -> BlazeFace full range on the first
  frame and whenever a face is lost -> face mesh on the crop placed by the previous frame's
  landmarks -> top-down engine fit of the 68 points -> CSV), timed on a second pass after a
  first pass compiled everything; the time split into decode / detect / mesh / fit / write.
* reference: the same frames through the `.tflite` models run by ai-edge-litert (2 threads,
  XNNPACK; the files in tests/data/mediapipe): the detector on the first frame, then the mesh on
  an OpenCV `warpAffine` crop of each frame placed by the previous landmarks — MediaPipe's
  face-mesh loop without an AU stage (TFLite has no equivalent of the engine).
* the mesh network alone, per face: JAX at batch 1 and batch 8 (jit, after compilation) vs the
  `.tflite` model at batch 1 (its only batch size).

Goals: >= 30 frames/s end to end on this machine; the JAX mesh no slower than the `.tflite` per
face at batch 1 and faster batched. `--quick`: the first 120 frames.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import tempfile
import time

import numpy as np


ROOT = pathlib.Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "realfaces" / "video" / "WolfgangLanger_Pexels.mp4"
TFLITE = ROOT / "tests" / "data" / "mediapipe"


def _frames(n):
    from aujax.detect._sources import Video

    out = []
    for f in Video(VIDEO).frames():
        out.append(f)
        if len(out) == n:
            break
    return out


def _tflite_pipeline(frames):
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    from aujax.detect import DETECTORS, decode_detections, weighted_nms

    def interp(name):
        it = Interpreter(model_path=str(TFLITE / name), num_threads=2)
        it.allocate_tensors()
        return it, it.get_input_details()[0]["index"], [o["index"] for o in it.get_output_details()]

    det, di, do = interp("face_detection_full_range_sparse.tflite")
    mesh, mi, mo = interp("face_landmark.tflite")
    spec = DETECTORS["full_range"]

    def warp(frame, cx, cy, size, angle, out):
        c, s = np.cos(angle), np.sin(angle)
        ax, ay = np.array([c, -s]) * size / out, np.array([s, c]) * size / out
        origin = np.array([cx, cy]) - (ax + ay) * out / 2
        m = np.array([[ax[0], ay[0], origin[0]], [ax[1], ay[1], origin[1]]])
        return cv2.warpAffine(frame, m, (out, out), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip

    times = {"detect": 0.0, "mesh": 0.0}
    lm = None
    for frame in frames:
        if lm is None:
            t0 = time.perf_counter()
            h, w = frame.shape[:2]
            side = max(h, w)
            x = warp(frame, w / 2, h / 2, side, 0.0, 192).astype(np.float32) / 127.5 - 1
            det.set_tensor(di, x[None])
            det.invoke()
            reg, logit = (det.get_tensor(i) for i in do)
            boxes, kps, scores = (np.asarray(a)[0] for a in decode_detections(reg, logit, spec))
            found = weighted_nms(boxes, kps, scores, min_score=spec.min_score)
            times["detect"] += time.perf_counter() - t0
            if not found:
                continue
            box, kp, _ = found[0]
            lo, hi = (
                (box[:2] - 0.5) * side + [w / 2, h / 2],
                (box[2:] - 0.5) * side + [w / 2, h / 2],
            )
            e0, e1 = (kp[0] - 0.5) * side + [w / 2, h / 2], (kp[1] - 0.5) * side + [w / 2, h / 2]
        else:
            lo, hi, e0, e1 = lm.min(0), lm.max(0), lm[33], lm[263]
        t0 = time.perf_counter()
        d = e1 - e0
        angle = np.arctan2(-d[1], d[0])
        cx, cy = (lo + hi) / 2
        size = (hi - lo).max() * 1.5
        x = warp(frame, cx, cy, size, angle, 192).astype(np.float32) / 255.0
        mesh.set_tensor(mi, x[None])
        mesh.invoke()
        raw = mesh.get_tensor(mo[0]).reshape(468, 3)[:, :2] / 192 - 0.5
        c, s = np.cos(angle), np.sin(angle)
        lm = np.array([cx, cy]) + size * (raw[:, :1] * [c, -s] + raw[:, 1:] * [s, c])
        times["mesh"] += time.perf_counter() - t0
    return times


def _per_face(repeat):
    import jax
    import jax.numpy as jnp
    from ai_edge_litert.interpreter import Interpreter

    from aujax.detect import load_network

    net = load_network("face_mesh")
    run = jax.jit(lambda x: net(x))
    out = {}
    for b in (1, 8):
        x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (b, 192, 192, 3)), jnp.float32)
        jax.block_until_ready(run(x))
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(run(x))
            ts.append((time.perf_counter() - t0) / b)
        out[f"jax b{b}"] = float(np.median(ts))
    it = Interpreter(model_path=str(TFLITE / "face_landmark.tflite"), num_threads=2)
    it.allocate_tensors()
    idx = it.get_input_details()[0]["index"]
    x = np.random.default_rng(0).uniform(0, 1, (1, 192, 192, 3)).astype(np.float32)
    ts = []
    for _ in range(repeat * 4):
        t0 = time.perf_counter()
        it.set_tensor(idx, x)
        it.invoke()
        ts.append(time.perf_counter() - t0)
    out["tflite b1"] = float(np.median(ts))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench detect")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from aujax.detect import Detector
    from aujax.detect._sources import Video

    n_total = Video(VIDEO).n_frames
    n = 120 if args.quick else n_total
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; video {VIDEO.name}: "
          f"{n} of {n_total} frames, 640x360")  # fmt: skip
    clip = VIDEO
    tmp = tempfile.TemporaryDirectory()
    if n < n_total:  # a shorter clip, written once, so both passes decode the same frames
        import cv2

        clip = pathlib.Path(tmp.name) / "clip.avi"
        wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 23.976, (640, 360))
        for f in _frames(n):
            wr.write(np.ascontiguousarray(f[..., ::-1]))
        wr.release()
    from aujax.detect import detect_files

    runs = []
    for _ in range(2):  # the first pass compiles
        det = Detector(progress=False)
        t0 = time.perf_counter()
        detect_files([clip], out_dir=tmp.name, detector=det)
        wall = time.perf_counter() - t0
        runs.append((wall, dict(det.timings), dict(det.front.timings)))
    wall, t, ft = runs[1]
    split = {"decode": t["decode"], "detect": ft["detect"], "mesh": ft["mesh"], "fit": t["fit"],
             "write": t["write"]}  # fmt: skip
    split["other"] = wall - sum(split.values())
    frames = _frames(n)
    t0 = time.perf_counter()
    ref = _tflite_pipeline(frames)
    ref_wall = time.perf_counter() - t0
    per_face = _per_face(20 if args.quick else 50)
    print(f"\n{'stage':<10}{'aujax (s)':>12}{'ms/frame':>10}{'tflite (s)':>12}{'ms/frame':>10}")
    for k, v in split.items():
        r = ref.get(k)
        rs = f"{r:12.2f}{1000 * r / n:10.2f}" if r is not None else f"{'-':>12}{'-':>10}"
        print(f"{k:<10}{v:12.2f}{1000 * v / n:10.2f}{rs}")
    print(f"{'total':<10}{wall:12.2f}{1000 * wall / n:10.2f}{ref_wall:12.2f}{1000 * ref_wall / n:10.2f}"
          f"   (tflite: detect + crop + mesh only, no AU fit, no CSV)")  # fmt: skip
    print(f"first pass (compiling): {runs[0][0]:.1f} s")
    print(
        "\nface mesh network per face (ms):",
        ", ".join(f"{k} {1000 * v:.2f}" for k, v in per_face.items()),
    )
    fps = n / wall
    b1 = per_face["jax b1"] / per_face["tflite b1"]
    b8 = per_face["jax b8"] / per_face["tflite b1"]
    ok = fps >= 30 and b1 <= 1.0 and b8 < 1.0
    print(f"\nheadline: aujax detect {fps:.1f} frames/s end to end (goal >= 30; tflite pipeline "
          f"{n / ref_wall:.1f} without AUs); JAX mesh / tflite per face: {b1:.2f}x at batch 1, "
          f"{b8:.2f}x at batch 8 (goal <= 1, < 1) -> {'PASS' if ok else 'MISS'}")  # fmt: skip
    return 0 if ok else 1
