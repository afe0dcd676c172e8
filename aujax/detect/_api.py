"""``aujax detect``'s Python API: one input -> one DataFrame; many inputs -> one CSV each."""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time

import numpy as np

from ..face import ibug68_from_mediapipe
from ._au_fit import FITS
from ._frontend import FaceFrontEnd
from ._sources import Video, folder_images, kind_of, read_image, read_landmarks
from ._table import build_table


@dataclasses.dataclass
class Detector:
    """The configured pipeline: front end (images, videos) and table (every input).

    Args:
        detector: ``"full_range"`` or ``"short_range"`` BlazeFace.
        zooms: extra tile zooms for small faces (:class:`FaceFrontEnd`).
        max_faces: most faces per image or frame.
        mesh: add the 468 mesh points to the table.
        fit: the engine's observations: ``"mesh468"`` (all 468 mesh points with their relative
            depth, in 3D; the default: it reads real faces best, see ``docs/detect.md``) or
            ``"ibug68"`` (the 68 points in 2D through a pinhole camera); landmark files always
            take ``"ibug68"``.
        image_size: (width, height) of the images landmark files refer to, when the file does
            not say (OpenFace CSV, ``.npy``); default: the landmarks' extent, at least 640 x 480.
        track: track each face of a video (or a landmark file with timestamps): per-frame fits
            smoothed by the template's reduced dynamics (``AU**_r`` smoothed, ``c_AU**`` per
            frame; issue 16); False reports every frame's own fit.
        progress: a progress bar on videos.
    """

    detector: str = "full_range"
    zooms: tuple[int, ...] = (2,)
    max_faces: int = 8
    mesh: bool = False
    fit: str = "mesh468"
    image_size: tuple[int, int] | None = None
    track: bool = True
    progress: bool = True

    def __post_init__(self):
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {self.fit!r}")
        self.front = FaceFrontEnd(self.detector, zooms=tuple(self.zooms), max_faces=self.max_faces)
        self.timings = {"decode": 0.0, "fit": 0.0, "write": 0.0}

    # ------------------------------------------------------------------ inputs

    def __call__(self, path):
        """The table of one input (image, folder, video or landmark file)."""
        return self.table(*self.rows(path))

    def rows(self, path):
        """The face rows of one input and a row -> (width, height) function: the front end's
        (or the file's) landmarks before the engine, so that :meth:`table` can fit them more
        than once (e.g. with both fits)."""
        path = pathlib.Path(path)
        kind = kind_of(path)
        if kind == "image":
            return self._images([path])
        if kind == "folder":
            return self._images(folder_images(path))
        if kind == "video":
            return self._video(path)
        return self._landmarks(path)

    def table(self, rows, size_of, *, fit: str | None = None):
        """The DataFrame of :meth:`rows` (``fit``: override the detector's)."""
        t0 = time.perf_counter()
        df = build_table(rows, size_of=size_of, mesh=self.mesh, fit=fit or self.fit,
                         track=self.track)  # fmt: skip
        self.timings["fit"] += time.perf_counter() - t0
        return df

    def image(self, image: np.ndarray, *, name: str = "<array>"):
        """The table of one RGB uint8 image given as an array."""
        rows = self._image_rows(image, name, 0)
        return self.table(rows, lambda r: (image.shape[1], image.shape[0]))

    def _images(self, files):
        rows, sizes, errors = [], {}, []
        for i, f in enumerate(files):
            t0 = time.perf_counter()
            try:
                image = read_image(f)
            except ValueError as e:
                if len(files) == 1:
                    raise
                errors.append(str(e))  # one bad file in a folder: report it, keep the rest
                rows.append(_failed(f, i, np.nan))
                continue
            finally:
                self.timings["decode"] += time.perf_counter() - t0
            sizes[str(f)] = (image.shape[1], image.shape[0])
            rows += self._image_rows(image, f, i)
        for e in errors:
            print(f"aujax detect: {e}", file=sys.stderr)
        return rows, lambda r: sizes[str(r["input"])]

    def _image_rows(self, image, name, index):
        faces = self.front.faces(image)
        if not faces:
            return [_failed(name, index, np.nan)]
        return [_face_row(name, index, np.nan, k, f) for k, f in enumerate(faces)]

    def _video(self, path):
        video = Video(path)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=video.n_frames or None, desc=path.name, unit="frame", leave=False)
        rows = []
        frames = _timed(video.frames(), self.timings)
        try:
            for t, faces in enumerate(self.front.track(frames, progress=bar)):
                ts = t / video.fps
                if not faces:
                    rows.append(_failed(path, t, ts))
                rows += [_face_row(path, t, ts, k, f) for k, f in enumerate(faces)]
        finally:
            if bar is not None:
                bar.close()
        return rows, lambda r: video.size

    def _landmarks(self, path):
        src = read_landmarks(path)
        size = src.size or self.image_size or _extent(src.points)
        rows = []
        for i in range(len(src.points)):
            pts = src.points[i]
            ok = np.isfinite(pts).all(-1).sum() >= 17
            row = {"input": path, "frame": src.frame[i], "face_id": src.face_id[i],
                   "timestamp": src.timestamp[i], "confidence": 1.0 if ok else np.nan,
                   "success": int(ok)}  # fmt: skip
            if ok:
                row["points"] = pts
                row["box"] = np.r_[np.nanmin(pts, 0), np.nanmax(pts, 0)]
            rows.append(row)
        return rows, lambda r: size


def _timed(frames, timings):
    it = iter(frames)
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        finally:
            timings["decode"] += time.perf_counter() - t0
        yield frame


def _failed(name, index, ts):
    return {"input": name, "frame": index, "face_id": 0, "timestamp": ts,
            "confidence": np.nan, "success": 0}  # fmt: skip


def _face_row(name, index, ts, k, face):
    return {
        "input": name,
        "frame": index,
        "face_id": face.face_id if face.face_id >= 0 else k,
        "timestamp": ts,
        "confidence": face.presence,
        "success": 1,
        "points": ibug68_from_mediapipe(face.landmarks)[:, :2],
        "box": face.box,
        "mesh": face.landmarks,
    }


def _extent(points: np.ndarray) -> tuple[int, int]:
    hi = np.nanmax(points.reshape(-1, 2), 0) if np.isfinite(points).any() else np.zeros(2)
    return max(640, int(np.ceil(hi[0])) + 1), max(480, int(np.ceil(hi[1])) + 1)


def detect(path, **options):
    """The table (a pandas DataFrame) of one image, folder, video or landmark file.

    ``options`` are :class:`Detector`'s. Raises ValueError naming the file for unusable input.
    """
    return Detector(**options)(path)


def detect_files(paths, *, out_dir, plot: bool = False, detector: Detector | None = None):
    """Writes one CSV per input into ``out_dir`` (and plots with ``plot``); returns
    ``{input: csv path}`` and ``{input: error message}``. A failing input never stops the
    others."""
    detector = detector or Detector()
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, errors = {}, {}
    for p in map(pathlib.Path, paths):
        try:
            df = detector(p)
        except ValueError as e:
            errors[str(p)] = str(e)
            print(f"aujax detect: {e}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        csv = out_dir / f"{p.stem if not p.is_dir() else p.name}.csv"
        df.to_csv(csv, index=False, float_format="%.6g")
        detector.timings["write"] += time.perf_counter() - t0
        written[str(p)] = csv
        if plot:
            from ._plots import plot_table

            plot_table(df, p, out_dir)
    return written, errors
