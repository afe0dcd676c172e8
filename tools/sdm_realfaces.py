"""Seed 004 on real photographs: fit the bilinear model, render the mesh beside the photo.

::

    python -m tools.sdm_realfaces                                   # small model, no cascade
    python -m tools.sdm_realfaces --workdir W [--run 0] [--out PNG] [IMAGES...]

For each photograph, ``aujax detect``'s front end (:class:`aujax.detect.FaceFrontEnd`, MediaPipe's
detector and face mesh; the 68 iBUG points by :func:`aujax.face.ibug68_from_mediapipe`) gives the
landmarks of the largest face; the bilinear model of the seed 004 experiment is fitted to them
(eqs. 6-7, :func:`aujax.methods.sdm.fit_photo`) and, with ``--workdir`` of a finished
``experiments.bosphorus_sdm`` run, refined by that run's ``ours`` cascade (``runs/run<R>/ours``)
on the photo's grey image, cropped to the experiment's framing. Without ``--workdir`` the model
of ``--preset`` (``small`` by default; the FaceWarehouse-like meshes are generated once and
cached in ``$AUJAX_CACHE``) is fitted and no cascade runs.

Prints, per photo, the landmark reprojection error (mean distance of the projected model
landmarks from the detected ones, pixels and % of the outer inter-ocular distance) of the
landmark fit and of the cascade, how far the cascade moved the mesh, the mouth's opening
(inner-lip midpoints 62 -> 66, % IOD) detected and of each estimate, and the identity weights'
size in prior standard deviations. Writes a figure (``--out``, default
``docs/figures/sdm_realfaces.png``): per photo the face with its landmarks
(detected green, landmark fit red, cascade blue), then for each estimate the shaded mesh in the
photo's camera overlaid on the photo and alone, and the last estimate turned by 50 degrees.

Default photos: six of ``../shared/realfaces/photos`` (``$AUJAX_REALFACES/photos`` when set;
labels.csv: frontal and slight yaw, smiling or not, teeth or not). Photographs: deepface's test
images (serengil/deepface, MIT licence).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import numpy as np


ROOT = pathlib.Path(__file__).resolve().parents[1]
#: ``../shared/realfaces`` beside the checkout; ``$AUJAX_REALFACES`` for a checkout elsewhere
REALFACES = pathlib.Path(os.environ.get("AUJAX_REALFACES", ROOT.parent / "shared" / "realfaces"))
PHOTOS = REALFACES / "photos"
#: frontal / slight yaw x no smile / smile / teeth (labels.csv)
DEFAULT_PHOTOS = ("img2.jpg", "img3.jpg", "img1.jpg", "img47.jpg", "img34.jpg", "img18.jpg")
DEFAULT_OUT = ROOT / "docs" / "figures" / "sdm_realfaces.png"
_COLOURS = {"detected": (40, 220, 40), "landmarks": (230, 40, 40), "cascade": (40, 120, 255)}
_FLIP = np.diag([1.0, -1.0, -1.0])


def largest_face_landmarks(front_end, image: np.ndarray) -> np.ndarray | None:
    """(68, 2) iBUG landmarks of the image's largest face, pinhole pixels; None: no face."""
    from aujax.face import ibug68_from_mediapipe

    faces = front_end.faces(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
    # the face mesh's points have pixel centres at (col + 0.5, row + 0.5); the fit's at (col, row)
    return np.asarray(ibug68_from_mediapipe(face.landmarks), np.float64)[:, :2] - 0.5


def _mouth(points: np.ndarray, iod: float) -> float:
    """The mouth's opening: inner-lip midpoints 62 -> 66 (iBUG), % of the IOD."""
    return 100.0 * float(np.linalg.norm(points[66] - points[62])) / iod


def _tile_frame(landmarks: np.ndarray, tile: int, extent: float = 2.0):
    """``(k, offset)``: the tile around the face, ``photo = k * tile + offset`` (pinhole)."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    side = extent * float(np.max(hi - lo))
    k = side / tile
    return k, 0.5 * (lo + hi) - k * (tile - 1) / 2.0


def _photo_tile(image: np.ndarray, k: float, offset: np.ndarray, tile: int) -> np.ndarray:
    from PIL import Image

    x0, y0 = offset - 0.5 * k + 0.5  # edge coordinates of the tile's corner
    pad = int(np.ceil(k * tile)) + 2  # PIL's box must lie inside the image: pad with black
    pil = Image.fromarray(np.pad(np.asarray(image, np.uint8), ((pad, pad), (pad, pad), (0, 0))))
    box = (x0 + pad, y0 + pad, x0 + pad + k * tile, y0 + pad + k * tile)
    return np.asarray(pil.resize((tile, tile), Image.Resampling.BILINEAR, box=box), np.uint8)


def ortho_camera(camera, *, k: float, offset, size: int):
    """The renderer's camera of a fit's scaled-orthographic camera, seen in a tile.

    The fit's camera maps a model point to photo pixels (pinhole convention, y down) as
    ``s [R v]_xy + t``; the tile shows ``photo = k * tile + offset``. The
    :class:`aujax.geometry.OrthoCamera` (y up in its camera frame, pixel centres at + 0.5) is
    ``R_o = diag(1, -1, -1) R``, ``s_o = s / k``, ``t_o = (t - offset) / k + 0.5``.
    """
    from aujax.geometry import OrthoCamera

    rot = _FLIP @ np.asarray(camera.rotation, np.float64)
    t = (np.asarray(camera.translation, np.float64)[:2] - np.asarray(offset)) / k + 0.5
    return OrthoCamera.create(height=size, width=size, scale=float(camera.scale) / k,
                              translation=t, rotation=rot, dtype=np.float32)  # fmt: skip


def _render(vertices, faces, camera):
    from aujax.render import render

    v = np.asarray(vertices, np.float32)
    out = render(v, np.asarray(faces), np.full((v.shape[0], 3), 0.78, np.float32),
                 camera=camera, light_dir=(0.25, 0.35, 1.0), ambient=0.3, diffuse=0.7,
                 supersample=2)  # fmt: skip
    return np.asarray(out.image), np.asarray(out.coverage)


def _overlay(photo: np.ndarray, shaded: np.ndarray, coverage: np.ndarray, alpha=0.65):
    a = alpha * coverage[..., None]
    return np.clip((1 - a) * photo / 255.0 + a * shaded, 0, 1)


def _turned(vertices, faces, size: int, yaw_deg: float = 50.0):
    from aujax.geometry import frame_vertices, look_rotation

    v = np.asarray(vertices, np.float32)
    cam = frame_vertices(v, height=size, width=size, margin=0.08,
                         rotation=look_rotation(np.radians(yaw_deg), 0.0, 0.0))  # fmt: skip
    image, _ = _render(v, faces, cam)
    return image


def reconstruct(photos, *, data, config, cascade=None, front_end=None, tile: int = 160,
                labels=None, echo=print) -> tuple[list[dict], list[np.ndarray], list[str]]:  # fmt: skip
    """Fits every photo and renders its tiles (the module docstring).

    Args:
        photos: image paths.
        data: the run's :class:`aujax.methods.sdm.SdmModel`.
        config: the run's config.
        cascade: the run's ``ours`` cascade or None.
        front_end: a :class:`aujax.detect.FaceFrontEnd` (default: ``aujax detect``'s).
        tile: side of each figure tile in pixels.
        labels: optional ``{file name: {column: value}}`` (labels.csv rows) for the printout.
        echo: where the per-photo lines go (None: silent).

    Returns:
        ``(records, tiles, tile labels)``: one record per photo (file, iod, errors in pixels and
        % IOD per estimate, ``moved_mm``: mean vertex displacement of the cascade from the
        landmark fit), and the figure's tiles row by row.
    """
    import jax.numpy as jnp

    from aujax.detect import FaceFrontEnd, read_image
    from aujax.methods.sdm import fit_photo, reprojection_error
    from aujax.render import draw_points

    front_end = front_end or FaceFrontEnd()
    model, faces = data.model, np.asarray(data.faces)
    unit = float(config.eval.unit_scale) if "eval" in config else 10.0
    records, tiles, names = [], [], []
    for path in map(pathlib.Path, photos):
        image = read_image(path)
        lm = largest_face_landmarks(front_end, image)
        if lm is None:
            if echo:
                echo(f"{path.name}: no face found, skipped.")
            records.append({"file": path.name, "face": False})
            continue
        fits = fit_photo(image, lm, data=data, config=config, cascade=cascade)
        iod = float(np.linalg.norm(lm[45] - lm[36]))
        rec = {"file": path.name, "face": True, "iod_px": iod, **(labels or {}).get(path.name, {}),
               "detected_mouth_pct": _mouth(lm, iod)}  # fmt: skip
        meshes = {}
        for name, fit in fits.items():
            px, pct = reprojection_error(fit.projected, lm)
            rec[f"{name}_px"], rec[f"{name}_iod_pct"] = px, pct
            rec[f"{name}_mouth_pct"] = _mouth(np.asarray(fit.projected), iod)
            z = (np.asarray(fit.w_id) - np.asarray(model.id_mean)) / np.sqrt(
                np.asarray(model.id_var)
            )
            rec[f"{name}_id_z"] = float(np.sqrt(np.mean(z * z)))
            meshes[name] = np.asarray(model.vertices(jnp.asarray(fit.w_id), jnp.asarray(fit.w_exp)))
        if "cascade" in meshes:
            d = np.linalg.norm(meshes["cascade"] - meshes["landmarks"], axis=1)
            rec["moved_mm"] = unit * float(np.mean(d))
        records.append(rec)
        # the figure's row
        k, offset = _tile_frame(lm, tile)
        photo = _photo_tile(image, k, offset, tile)
        marked = photo
        radius = max(1.0, tile / 160)
        for name, pts in (
            ("detected", lm),
            *((n, np.asarray(f.projected)) for n, f in fits.items()),
        ):
            uv = (pts - offset[None, :]) / k + 0.5
            marked = draw_points(marked, uv, color=_COLOURS[name], radius=radius)
        row, row_names = [marked], [path.stem]
        for name, fit in fits.items():
            cam = ortho_camera(fit.camera, k=k, offset=offset, size=tile)
            shaded, cov = _render(meshes[name], faces, cam)
            tag = "fit" if name == "landmarks" else "cascade"
            row += [_overlay(photo, shaded, cov), shaded]
            row_names += [f"{tag} {rec[f'{name}_iod_pct']:.1f}% IOD", f"{tag} mesh"]
        last = "cascade" if "cascade" in meshes else "landmarks"
        row.append(_turned(meshes[last], faces, tile))
        row_names.append(f"{'cascade' if last == 'cascade' else 'fit'}, yaw 50")
        tiles += row
        names += row_names
        if echo:
            line = (f"{path.name}: IOD {iod:.0f} px; landmark fit {rec['landmarks_px']:.2f} px "
                    f"({rec['landmarks_iod_pct']:.2f} % IOD)")  # fmt: skip
            if "cascade" in fits:
                line += (f"; cascade {rec['cascade_px']:.2f} px ({rec['cascade_iod_pct']:.2f} % "
                         f"IOD), mesh moved {rec['moved_mm']:.2f} mm")  # fmt: skip
            echo(line)
    return records, tiles, names


def table_markdown(records: list[dict], *, cascade: bool) -> str:
    """The reprojection table (Markdown) of :func:`reconstruct`'s records (means in the last row;
    ``mouth``: the inner lips' opening, 62 -> 66, % IOD; ``identity z``: the root-mean-square
    identity weight in prior standard deviations, ``(alpha - mu) / sigma``: about 1 for the
    model's own subjects)."""
    head = ["photo", "smile", "teeth", "yaw", "IOD (px)", "fit (px)", "fit (% IOD)"]
    if cascade:
        head += ["cascade (px)", "cascade (% IOD)", "mesh moved (mm)"]
    head += ["mouth: detected", "fit"] + (["cascade"] if cascade else [])
    head += ["identity z: fit"] + (["cascade"] if cascade else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ok = [r for r in records if r.get("face")]
    for r in ok:
        cells = [r["file"], r.get("smile", ""), r.get("teeth", ""), r.get("yaw", ""),
                 f"{r['iod_px']:.0f}", f"{r['landmarks_px']:.2f}",
                 f"{r['landmarks_iod_pct']:.2f}"]  # fmt: skip
        if cascade:
            cells += [f"{r['cascade_px']:.2f}", f"{r['cascade_iod_pct']:.2f}",
                      f"{r['moved_mm']:.2f}"]  # fmt: skip
        cells += [f"{r[f'{k}_mouth_pct']:.1f}"
                  for k in ("detected", "landmarks", *(("cascade",) if cascade else ()))]  # fmt: skip
        cells += [
            f"{r[f'{k}_id_z']:.2f}" for k in ("landmarks", *(("cascade",) if cascade else ()))
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    if ok:
        mean = ["mean", "", "", "", f"{np.mean([r['iod_px'] for r in ok]):.0f}",
                f"{np.mean([r['landmarks_px'] for r in ok]):.2f}",
                f"{np.mean([r['landmarks_iod_pct'] for r in ok]):.2f}"]  # fmt: skip
        if cascade:
            mean += [f"{np.mean([r[k] for r in ok]):.2f}"
                     for k in ("cascade_px", "cascade_iod_pct", "moved_mm")]  # fmt: skip
        mean += [""] * (3 if cascade else 2)
        mean += [f"{np.mean([r[f'{k}_id_z'] for r in ok]):.2f}"
                 for k in ("landmarks", *(("cascade",) if cascade else ()))]  # fmt: skip
        lines.append("| " + " | ".join(mean) + " |")
    return "\n".join(lines)


def _labels(folder: pathlib.Path) -> dict:
    path = folder / "labels.csv"
    if not path.is_file():
        return {}
    import csv

    with open(path, newline="") as f:
        return {row["file"]: {k: row[k] for k in ("smile", "teeth", "yaw") if k in row}
                for row in csv.DictReader(f)}  # fmt: skip


def load_run(workdir, *, run: int = 0, preset: str = "small", log=print):
    """``(config, SdmModel, cascade or None)`` of an experiment's workdir, or of a preset."""
    import ml_collections

    from aujax.methods.sdm import EXPERIMENT, load_cascade, load_sdm_model

    if workdir is None:
        from experiments.configs.bosphorus_sdm import get_config

        config = get_config(preset)
        return config, load_sdm_model(config, log), None
    workdir = pathlib.Path(workdir)
    path = workdir / "config.json"
    if not path.is_file():
        raise ValueError(f"{path}: no config.json; is {workdir} a bosphorus_sdm workdir?")
    config = ml_collections.ConfigDict(json.loads(path.read_text()))
    if config.get("experiment", None) != EXPERIMENT:
        raise ValueError(f"{path}: experiment {config.get('experiment')!r}, not {EXPERIMENT!r}.")
    cpath = workdir / "runs" / f"run{run}" / "ours" / "checkpoints" / "cascade.npz"
    if not cpath.is_file():
        raise ValueError(f"{cpath}: no trained 'ours' cascade in run {run} of {workdir}.")
    return config, load_sdm_model(config, log), load_cascade(cpath)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", type=pathlib.Path,
                    help=f"photographs (default: {', '.join(DEFAULT_PHOTOS)} of {PHOTOS})")  # fmt: skip
    ap.add_argument("--workdir", type=pathlib.Path, default=None,
                    help="a finished experiments.bosphorus_sdm run: its model and cascade")  # fmt: skip
    ap.add_argument("--run", type=int, default=0, help="cross-validation run of the cascade")
    ap.add_argument("--preset", choices=("tiny", "small", "paper"), default="small",
                    help="the model without --workdir")  # fmt: skip
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="figure (PNG)")
    ap.add_argument("--tile", type=int, default=160, help="figure tile side, pixels")
    args = ap.parse_args(argv)
    photos = args.images or [PHOTOS / p for p in DEFAULT_PHOTOS]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        ap.error(f"no such image: {', '.join(missing)}")
    try:
        config, data, cascade = load_run(args.workdir, run=args.run, preset=args.preset)
    except ValueError as e:
        print(f"sdm_realfaces: {e}", file=sys.stderr)
        return 2
    labels = {}
    for folder in {p.parent for p in photos}:
        labels.update(_labels(folder))
    records, tiles, names = reconstruct(photos, data=data, config=config, cascade=cascade,
                                        tile=args.tile, labels=labels)  # fmt: skip
    print()
    print(table_markdown(records, cascade=cascade is not None))
    if not tiles:
        print("sdm_realfaces: no face found in any photo.", file=sys.stderr)
        return 1
    from aujax.render import contact_sheet, save_png

    per_row = len(tiles) // sum(1 for r in records if r.get("face"))
    save_png(args.out, contact_sheet(tiles, ncols=per_row, labels=names))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
