"""The ``aujax`` console script: ``aujax detect INPUT... [options]`` (= ``python -m aujax.detect``)."""

from __future__ import annotations

import argparse
import sys


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def detect_main(argv: list[str] | None = None) -> int:
    """``aujax detect``; returns the exit status (1 when an input failed)."""
    parser = argparse.ArgumentParser(
        prog="aujax detect",
        description="Landmarks, head pose and AUs of faces in images, folders, videos or "
        "landmark files (OpenFace 2 CSV, BP4D 2DFeatures .mat, DISFA .mat, .npy): one CSV per "
        "input (columns: docs/detect.md).",
    )
    parser.add_argument("inputs", nargs="+", help="images, folders, videos or landmark files")
    parser.add_argument("-o", "--out-dir", default="processed", help="CSV folder (./processed)")
    parser.add_argument("--detector", default="full_range", choices=("full_range", "short_range"))
    parser.add_argument("--zooms", default="2", help="tile zooms for small faces, e.g. 2 or 2,4; "
                        "'' for the whole image only")  # fmt: skip
    parser.add_argument("--max-faces", type=int, default=8)
    parser.add_argument("--mesh", action="store_true", help="add the 468 mesh points")
    parser.add_argument("--fit", default="mesh468", choices=("ibug68", "mesh468"),
                        help="engine observations: the 468 mesh points with depth (default; "
                        "landmark files: always ibug68) or the 68 points in 2D")  # fmt: skip
    parser.add_argument(
        "--no-track",
        action="store_true",
        help="fit every video frame alone "
        "(default: track each face: neutral from the video, dynamics smoother)",
    )
    parser.add_argument("--image-size", type=_size, help="WxH for landmark files without one")
    parser.add_argument("--plot", action="store_true", help="AU timeline / overlay PNGs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from ._api import Detector, detect_files

    zooms = tuple(int(z) for z in args.zooms.split(",") if z.strip())
    det = Detector(detector=args.detector, zooms=zooms, max_faces=args.max_faces,
                   mesh=args.mesh, fit=args.fit, image_size=args.image_size,
                   track=not args.no_track, progress=not args.quiet)  # fmt: skip
    written, errors = detect_files(args.inputs, out_dir=args.out_dir, plot=args.plot, detector=det)
    for src, csv in written.items():
        print(f"{src} -> {csv}")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    """``aujax <command> ...``; today's command is ``detect``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("detect",):
        print(
            "usage: aujax detect INPUT... [options]   (aujax detect -h for help)", file=sys.stderr
        )
        return 2
    return detect_main(argv[1:])
