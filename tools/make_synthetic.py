"""`python -m tools.make_synthetic --layout {bp4d,disfa,bosphorus} --preset {tiny,small,full,sdm} --out DIR`.

Generates the synthetic dataset in the real on-disk layout (AU episodes -> muscle activations ->
full spring-mass dynamics on each subject's mesh -> head pose, camera, landmark-detector noise ->
labels, landmarks, rendered images and ground truth), with a progress bar. Ends with one line:
frames, wall time and frames/second.

Layouts: `bp4d` (aujax.synth.generate_bp4d: subjects x 8 tasks), `disfa`
(aujax.synth._disfa.generate_disfa: one stimulus video per subject, 12 AU intensities,
66 landmarks, PNG frames) and `bosphorus` (aujax.synth._bosphorus.generate_bosphorus: one
posed apex scan per subject and pose; a "frame" is a sample; `--preset sdm`: seed 004's preset,
aujax.synth._bosphorus_sdm, one progress step per subject, `--poses` selects sample classes such
as `N_N,YR_R90,O_EYE`). `--subjects`, `--frames`, `--poses`
and `--image-size` make smaller runs (the `small` bp4d and disfa presets render 64 px crops by
default; `--image-size 128` for the presets' 128 px); bad values exit with status 2.
"""

import argparse
import sys
import time


class _Bar:
    def __init__(self, total: int, width: int = 30, unit: str = "sequences"):
        self.total, self.width, self.done, self.t0 = total, width, 0, time.perf_counter()
        self.unit = unit

    def __call__(self, line: str) -> None:
        self.done += 1
        frac = self.done / self.total
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * int(frac * self.width) + "." * (self.width - int(frac * self.width))
        sys.stdout.write(
            f"\r[{bar}] {self.done}/{self.total} {self.unit}, {elapsed:.0f} s elapsed, "
            f"ETA {eta:.0f} s  {line.split(':')[0]}   "
        )
        sys.stdout.flush()
        if self.done == self.total:
            sys.stdout.write("\n")


def _csv(text):
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.make_synthetic", description=__doc__)
    ap.add_argument("--layout", choices=("bp4d", "disfa", "bosphorus"), default="bp4d")
    ap.add_argument("--preset", choices=("tiny", "small", "full", "sdm"), default="tiny")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-vertices", type=int, default=None)
    ap.add_argument(
        "--no-images", action="store_true", help="labels and landmarks only (bp4d, disfa)"
    )
    ap.add_argument(
        "--subjects", default=None, help="comma-separated subset of the preset's subjects"
    )
    ap.add_argument("--frames", type=int, default=None, help="disfa: frames per subject")
    ap.add_argument("--poses", default=None, help="bosphorus: comma-separated subset of the poses")
    ap.add_argument(
        "--image-size", type=int, default=None,
        help="crop / image side in pixels (default: 64 for the small bp4d and disfa presets, 128 "
        "otherwise; the preset's for bosphorus)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    from aujax.synth import get_preset

    preset = get_preset(args.layout, args.preset)
    subjects = _csv(args.subjects)
    n_subjects = len(preset.subjects if subjects is None else subjects)
    t0 = time.perf_counter()
    try:
        if args.layout == "bp4d":
            from aujax.synth import generate_bp4d

            bar = _Bar(n_subjects * len(preset.tasks))
            summary = generate_bp4d(
                args.out, size=args.preset, seed=args.seed, n_vertices=args.n_vertices,
                subjects=subjects, image_size=args.image_size, images=not args.no_images,
                progress=bar,
            )  # fmt: skip
        elif args.layout == "disfa":
            from aujax.synth._disfa import generate_disfa

            bar = _Bar(n_subjects, unit="subjects")
            summary = generate_disfa(
                args.out, size=args.preset, seed=args.seed, n_vertices=args.n_vertices,
                subjects=subjects, n_frames=args.frames, image_size=args.image_size,
                images=not args.no_images, progress=bar,
            )  # fmt: skip
        else:
            from aujax.synth._bosphorus import generate_bosphorus

            poses = _csv(args.poses)
            if args.preset == "sdm":  # one progress line per subject
                bar = _Bar(n_subjects, unit="subjects")
            else:
                bar = _Bar(
                    n_subjects * len(preset.tasks if poses is None else poses), unit="samples"
                )
            summary = generate_bosphorus(
                args.out, size=args.preset, seed=args.seed, n_vertices=args.n_vertices,
                subjects=subjects, poses=poses, image_size=args.image_size, progress=bar,
            )  # fmt: skip
    except ValueError as err:
        print(f"make_synthetic: {err}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    print(
        f"physics {summary['physics_seconds']:.1f} s, rendering {summary['rendering_seconds']:.1f} s,"
        f" writing {summary['writing_seconds']:.1f} s"
    )
    if "failure_fraction" in summary:
        print(
            f"landmark detection failed on {summary['detection_failures']} of "
            f"{summary['samples']} samples ({100 * summary['failure_fraction']:.1f} %)"
        )
    print(
        f"make_synthetic: {summary['frames']} frames of {args.layout}/{args.preset} in {wall:.0f} s "
        f"({summary['frames'] / wall:.1f} frames/s) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
