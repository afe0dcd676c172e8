"""``aujax detect --plot``: an AU timeline and a few overlay frames per video, a landmark + AU bar
overlay per image."""

from __future__ import annotations

import pathlib

import numpy as np

from ..face import AU_IDS
from ._sources import kind_of, read_image


def plot_table(
    df, path: pathlib.Path, out_dir: pathlib.Path, *, frames: int = 4
) -> list[pathlib.Path]:
    """Writes the PNGs of one input's table (``frames``: overlay frames of a video); returns their
    paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = kind_of(path)
    r_cols = [f"AU{a:02d}_r" for a in AU_IDS]
    out = []
    if kind in ("video", "landmarks"):
        fig, ax = plt.subplots(figsize=(10, 4.5))
        t = df["timestamp"].to_numpy()
        x = t if np.isfinite(t).any() else df["frame"].to_numpy()
        im = ax.imshow(df[r_cols].to_numpy().T, aspect="auto", vmin=0, vmax=5, cmap="magma",
                       extent=(x.min(), x.max() if x.max() > x.min() else x.min() + 1,
                               len(r_cols) - 0.5, -0.5), interpolation="nearest")  # fmt: skip
        ax.set_yticks(range(len(r_cols)), [c[:-2] for c in r_cols])
        ax.set_xlabel("time (s)" if np.isfinite(t).any() else "frame")
        ax.set_title(f"{path.name}: AU intensity (0-5)")
        fig.colorbar(im, ax=ax)
        png = out_dir / f"{path.stem}_aus.png"
        fig.savefig(png, dpi=100, bbox_inches="tight")
        plt.close(fig)
        out.append(png)
        if kind == "video":
            out += _video_overlays(df, path, out_dir, frames=frames)
        return out
    for name, rows in df.groupby("input", sort=False):
        png = out_dir / f"{pathlib.Path(name).stem}_overlay.png"
        _overlay(read_image(pathlib.Path(name)), rows, png, title="AU intensity, face 0")
        out.append(png)
    return out


def _overlay(image: np.ndarray, rows, png: pathlib.Path, *, title: str) -> None:
    """The image with each fitted face's 68 points, and the first face's AU intensities."""
    import matplotlib.pyplot as plt

    r_cols = [f"AU{a:02d}_r" for a in AU_IDS]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 4.5), width_ratios=(3, 2))
    a0.imshow(image)
    a0.axis("off")
    ok = rows[rows["success"] == 1]
    for _, r in ok.iterrows():
        a0.scatter([r[f"x_{k}"] for k in range(68)], [r[f"y_{k}"] for k in range(68)],
                   s=4, c="lime")  # fmt: skip
    if len(ok):
        a1.barh([c[:-2] for c in r_cols], ok.iloc[0][r_cols].to_numpy(float), color="tab:red")
        a1.set_xlim(0, 5)
        a1.invert_yaxis()
    a1.set_title(title)
    fig.savefig(png, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _video_overlays(df, path: pathlib.Path, out_dir: pathlib.Path, *, frames: int) -> list:
    """Overlays of ``frames`` frames of a video spread evenly over its successful rows."""
    import cv2

    ok = df[df["success"] == 1]["frame"].drop_duplicates().to_numpy()
    if not len(ok) or frames < 1:
        return []
    picks = ok[np.linspace(0, len(ok) - 1, min(frames, len(ok))).astype(int)]
    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        for f in picks:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
            good, bgr = cap.read()
            if not good:
                continue
            png = out_dir / f"{path.stem}_frame{int(f):05d}.png"
            rows = df[df["frame"] == f]
            _overlay(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), rows, png, title=f"frame {int(f)}")
            out.append(png)
    finally:
        cap.release()
    return out
