"""`python -m tools.dataset_report DIR [--figures OUT]`: statistics of a dataset in the BP4D layout.

Works on a licensed BP4D copy and on the synthetic one (`python -m tools.make_synthetic`) alike,
reading only through `aujax.data`'s readers. Prints:

* sequences, subjects, frames; per-AU occurrence base rates of the 12 BP4D AUs (9s skipped), the
  fractions of not-coded (9) labels and occluded frames;
* co-occurrence: P(AU_j | AU_i) on frames where both are coded;
* episode durations: lengths of runs of label 1 per AU (median and 90th percentile, seconds at
  25 fps);
* landmarks: fraction of frames without landmarks, frame-to-frame landmark jitter, and — for
  synthetic data, whose ground truth sits in `synthetic/` — the detector noise (RMS of stored minus
  clean landmarks);

and writes two figures: the AU timeline of one sequence (label raster; true intensities too when
ground truth exists) and a grid of sample frames, each beside its landmarks drawn in the frame's
pixel coordinates. Ends with one headline line.
"""

import argparse
import pathlib
import sys

import numpy as np


FPS = 25.0


def _runs(x: np.ndarray) -> list[int]:
    """Lengths of runs of True in a boolean vector."""
    padded = np.concatenate([[False], x, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return list(np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0])


def _timeline(seq, gt, height: int = 12) -> np.ndarray:
    """An RGB raster: one band per AU, label 1 dark, 0 light, 9 red; true intensity as a grey band."""
    t = seq.occurrence.shape[0]
    rows = []
    for i in range(len(seq.aus)):
        lab = seq.occurrence[:, i]
        band = np.full((height, t, 3), 235, np.uint8)
        band[:, lab == 1] = (40, 40, 40)
        band[:, lab == 9] = (220, 60, 60)
        rows.append(band)
        if gt is not None:
            level = np.clip(gt[:, i] / 5.0, 0.0, 1.0)
            shade = (255 - 200 * level).astype(np.uint8)
            rows.append(np.repeat(np.repeat(shade[None, :, None], height // 2, 0), 3, 2))
        rows.append(np.full((2, t, 3), 255, np.uint8))
    image = np.concatenate(rows, axis=0)
    return np.repeat(image, max(1, 600 // max(t, 1)), axis=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.dataset_report", description=__doc__)
    ap.add_argument("root")
    ap.add_argument("--figures", default=None, help="output folder (default: ROOT/report)")
    ap.add_argument("--samples", type=int, default=8)
    args = ap.parse_args(argv)

    from aujax.data import (
        BP4D_AUS,
        list_bp4d_sequences,
        read_bp4d_frames,
        read_bp4d_sequence,
    )
    from aujax.face import AU_IDS, IDX49
    from aujax.render import contact_sheet, draw_points, save_png

    from ._common import print_table

    root = pathlib.Path(args.root)
    try:
        names = list_bp4d_sequences(root)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    if not names:
        print(f"{root}: no BP4D sequences (AUCoding/AU_OCC/*.csv) found", file=sys.stderr)
        return 2
    out = pathlib.Path(args.figures) if args.figures else root / "report"
    gt_dir = root / "synthetic"
    occ, occl, runs = [], [], {au: [] for au in BP4D_AUS}
    missing, jitter, noise, seqs = [], [], [], []
    for subject, task in names:
        seq = read_bp4d_sequence(root, subject, task, aus=BP4D_AUS)
        seqs.append(seq)
        occ.append(seq.occurrence)
        occl.append(seq.occlusion)
        for i, au in enumerate(BP4D_AUS):
            runs[au] += _runs(seq.occurrence[:, i] == 1)
        present = np.all(np.isfinite(seq.landmarks), axis=(1, 2))
        missing.append(~present)
        lm = seq.landmarks
        both = present[1:] & present[:-1]
        if both.any():
            jitter.append(np.sqrt(np.mean((lm[1:][both] - lm[:-1][both]) ** 2)))
        gt_file = gt_dir / f"{subject}_{task}.npz"
        if gt_file.exists():
            with np.load(gt_file) as gt:
                clean = gt["landmarks_2d"][:, np.asarray(IDX49)]
            if present.any():
                noise.append(np.sqrt(np.mean((lm[present] - clean[present]) ** 2)))
    occ, occl = np.concatenate(occ), np.concatenate(occl)
    n_frames = occ.shape[0]
    coded = occ != 9
    rates = {au: float(np.mean(occ[coded[:, i], i] == 1)) if coded[:, i].any() else float("nan")
             for i, au in enumerate(BP4D_AUS)}  # fmt: skip
    subjects = sorted({s for s, _ in names})
    print(f"{root}: {len(names)} sequences, {len(subjects)} subjects, {n_frames} frames")
    print_table(
        ["AU", "base rate", "not coded (9)", "episodes", "median s", "p90 s"],
        [
            [
                f"AU{au}",
                f"{rates[au]:.3f}",
                f"{np.mean(~coded[:, i]):.3f}",
                len(runs[au]),
                f"{np.median(runs[au]) / FPS:.2f}" if runs[au] else "-",
                f"{np.quantile(runs[au], 0.9) / FPS:.2f}" if runs[au] else "-",
            ]
            for i, au in enumerate(BP4D_AUS)
        ],
        title="occurrence base rates and episode durations",
    )
    cooc = []
    for i, a in enumerate(BP4D_AUS):
        row = [f"AU{a}"]
        for j in range(len(BP4D_AUS)):
            both = coded[:, i] & coded[:, j] & (occ[:, i] == 1)
            row.append(f"{np.mean(occ[both, j] == 1):.2f}" if both.any() else "-")
        cooc.append(row)
    print_table(["P(col | row)"] + [f"AU{a}" for a in BP4D_AUS], cooc, title="co-occurrence")
    missing = np.concatenate(missing)
    lm_rows = [
        ["frames without landmarks", f"{missing.mean():.4f}"],
        ["occluded frames", f"{occl.mean():.4f}"],
        ["frame-to-frame landmark motion (RMS px)", f"{np.mean(jitter):.2f}" if jitter else "-"],
        ["detector noise vs ground truth (RMS px)", f"{np.mean(noise):.2f}" if noise else "n/a"],
    ]
    print_table(["landmarks", "value"], lm_rows, title="landmarks")

    # figures: AU timeline and sample frames with their landmarks
    out.mkdir(parents=True, exist_ok=True)
    first = seqs[0]
    gt_int = None
    gt_file = gt_dir / f"{first.subject}_{first.task}.npz"
    if gt_file.exists():
        with np.load(gt_file) as gt:
            cols = [list(AU_IDS).index(au) for au in BP4D_AUS]
            gt_int = gt["intensity"][:, cols]
    save_png(out / "au_timeline.png", _timeline(first, gt_int))
    rng = np.random.default_rng(0)
    tiles, labels = [], []
    for k in rng.choice(len(seqs), size=min(args.samples, len(seqs)), replace=False):
        seq = seqs[int(k)]
        try:
            frames = read_bp4d_frames(root, seq.subject, seq.task)
        except ValueError:
            continue
        t = int(rng.integers(frames.shape[0]))
        img = frames[t]
        side = img.shape[0]
        lm = seq.landmarks[t]
        panel = np.full((side, side, 3), 255, np.uint8)
        if np.all(np.isfinite(lm)):
            lo, hi = lm.min(0), lm.max(0)
            scale = 0.8 * side / max(float((hi - lo).max()), 1e-9)
            uv = (lm - (lo + hi) / 2.0) * scale + side / 2.0
            panel = draw_points(panel, uv, color=(200, 30, 30), radius=1.0)
        tiles += [img, panel]
        active = [f"{au}" for i, au in enumerate(seq.aus) if seq.occurrence[t, i] == 1]
        labels += [f"{seq.subject} {seq.task} #{int(seq.frames[t])}", "AU " + ",".join(active)]
    if tiles:
        save_png(out / "samples.png", contact_sheet(tiles, ncols=4, labels=labels))
    mean_rate = float(np.nanmean(list(rates.values())))
    print(
        f"dataset_report: {n_frames} frames in {len(names)} sequences, mean base rate "
        f"{mean_rate:.3f}, landmarks missing {missing.mean():.4f}; figures in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
