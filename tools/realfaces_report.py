"""How ``aujax detect`` reads real faces: AU12 / AU25 against by-eye labels, fit residuals, levels.

::

    python -m tools.realfaces_report ../shared/realfaces/photos
    python -m tools.realfaces_report DIR --fit ibug68 --csv out.csv

``DIR`` holds images and a ``labels.csv`` in the format of ``../shared/realfaces/photos/labels.csv``
(one row per image, for its largest face): ``file``, ``smile`` (1: lip corners clearly pulled up,
AU12; 0: clearly not; ``?``: unclear), ``teeth`` (1: lips parted / teeth visible, AU25; 0: lips
closed), optionally ``yaw``. Rows marked ``?`` are left out of the scores.

The front end runs once; each requested fit (the 68 points in 2D, the 468 mesh points with their
depth) runs the engine on the same landmarks, with no neutral reference. Printed per fit:

- agreement of AU12 presence with ``smile`` and of AU25 presence with ``teeth``, with presence
  read two ways: level >= 1 (the issue's rule) and the table's ``AU**_c`` (thresholds chosen on
  the synthetic training data); the AUC of the level as a score; and the agreement of always
  answering the majority label, for scale;
- the fit residual (% of the outer inter-ocular distance): median, 90th percentile, max, and the
  share of successful fits;
- the per-image AU levels (``AU**_r``) beside the labels.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import pandas as pd

from aujax.detect import FITS, Detector


def largest_faces(df: pd.DataFrame) -> pd.DataFrame:
    """The largest face of each image, indexed by file name."""
    df = df.assign(
        file=df["input"].map(lambda s: pathlib.Path(s).name),
        area=(df.face_x1 - df.face_x0) * (df.face_y1 - df.face_y0),
    )
    return df.sort_values("area", ascending=False).groupby("file").head(1).set_index("file")


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    pos, neg = score[label == 1], score[label == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(np.mean((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])))


def read_labels(folder: pathlib.Path) -> pd.DataFrame:
    path = folder / "labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no labels.csv (columns file, smile, teeth; see --help)")
    labels = pd.read_csv(path, dtype=str).set_index("file")
    missing = {"smile", "teeth"} - set(labels.columns)
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {sorted(missing)}; expected file, smile, teeth"
        )
    for col in ("smile", "teeth"):
        bad = ~labels[col].isin(["0", "1", "?"])
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise ValueError(f"{path}, line {line}: {col} must be 0, 1 or ?, got "
                             f"{labels[col][bad].iloc[0]!r}")  # fmt: skip
    return labels


def scores(faces: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """Agreement / AUC of AU12 with smile and AU25 with teeth, and the residual distribution."""
    out = {}
    for au, col in ((12, "smile"), (25, "teeth")):
        lab = labels[col][labels[col].isin(["0", "1"])].astype(int)
        found = lab.index.intersection(faces.index)
        lab = lab.loc[found].to_numpy()
        level = faces.loc[found, f"AU{au:02d}_r"].to_numpy(float)
        present = faces.loc[found, f"AU{au:02d}_c"].to_numpy(float)
        out[au] = {
            "n": len(lab),
            "agree_level1": float(np.mean((level >= 1.0) == lab)),
            "agree_c": float(np.mean((present == 1) == lab)),
            "auc": auc(np.nan_to_num(level), lab),
            "majority": float(max(np.mean(lab), 1 - np.mean(lab))),
        }
    res = faces.loc[faces.index.intersection(labels.index), "residual"].to_numpy(float)
    ok = faces.loc[faces.index.intersection(labels.index), "success"].to_numpy(int)
    out["residual"] = {
        "median": float(np.nanmedian(res)),
        "p90": float(np.nanpercentile(res, 90)),
        "max": float(np.nanmax(res)),
        "success": float(np.mean(ok == 1)),
        "n": len(res),
    }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=pathlib.Path, help="images + labels.csv")
    ap.add_argument("--fit", choices=(*FITS, "both"), default="both")
    ap.add_argument("--csv", type=pathlib.Path, default=None, help="write the per-image table")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        ap.error(f"{args.folder}: not a folder")
    labels = read_labels(args.folder)
    det = Detector(progress=False)
    rows = det.rows(args.folder)  # the front end once
    fits = FITS if args.fit == "both" else (args.fit,)
    tables = []
    for fit in fits:
        faces = largest_faces(det.table(*rows, fit=fit))
        missing = labels.index.difference(faces.index[faces["success"].notna()])
        s = scores(faces, labels)
        r = s["residual"]
        print(f"\n== fit {fit}: {r['n']} labelled images, {len(missing)} without a face ==")
        for au, name in ((12, "smile"), (25, "teeth")):
            a = s[au]
            print(f"AU{au} vs {name} ({a['n']} faces): agreement {100 * a['agree_level1']:.0f} % "
                  f"(level >= 1), {100 * a['agree_c']:.0f} % (AU{au}_c); AUC {a['auc']:.3f}; "
                  f"majority answer {100 * a['majority']:.0f} %")  # fmt: skip
        print(f"residual, % IOD: median {r['median']:.2f}, p90 {r['p90']:.2f}, max {r['max']:.2f}; "
              f"successful fits {100 * r['success']:.0f} %")  # fmt: skip
        aus = [c for c in faces.columns if c.startswith("AU") and c.endswith("_r")]
        table = faces.reindex(labels.index)[aus + ["residual", "success"]].round(2)
        table = labels[["smile", "teeth"]].join(table)
        table.columns = pd.MultiIndex.from_product([[fit], table.columns])
        tables.append(table)
    per_image = pd.concat(tables, axis=1)
    with pd.option_context("display.max_rows", None, "display.max_columns", None,
                           "display.width", 250):  # fmt: skip
        for fit in fits:
            print(f"\n-- per-image AU levels, fit {fit} --")
            print(per_image[fit].to_string())
    if args.csv is not None:
        per_image.to_csv(args.csv)
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
