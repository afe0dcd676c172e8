"""`python -m tools.dataset_report DIR [--figures OUT]`: statistics of a BP4D, DISFA or Bosphorus copy.

Works on licensed copies and on the synthetic ones (`python -m tools.make_synthetic`) alike,
reading only through `aujax.datasets`' readers. The layout is detected: `ActionUnit_Labels/` ->
DISFA, `bsXXX/*.bnt` -> Bosphorus, else BP4D. For BP4D it prints:

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

For DISFA the same tables and figures, with occurrence = intensity >= 2 (REFERENCE §1.2, §3.1;
also the fraction > 0 and the mean intensity where > 0), no 9s and no occlusion column, the
detector noise against `synthetic/SNxxx.npz`. For Bosphorus: samples per class, per posed AU
(from the names) and per emotion, and a grid of sample images with their `.lm2` points beside
their range grids (depth shaded).
"""

import argparse
import pathlib
import sys
import types

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
    root = pathlib.Path(args.root)
    out = pathlib.Path(args.figures) if args.figures else root / "report"
    if (root / "ActionUnit_Labels").is_dir():
        return _report_disfa(root, out, args.samples)
    if root.is_dir() and any(root.glob("bs[0-9][0-9][0-9]/*.bnt")):
        return _report_bosphorus(root, out, args.samples)
    return _report_bp4d(root, out, args.samples)


def _report_bp4d(root: pathlib.Path, out: pathlib.Path, n_samples: int) -> int:
    from aujax.datasets import BP4D_AUS, list_bp4d_sequences, read_bp4d_frames, read_bp4d_sequence
    from aujax.face import AU_IDS, IDX49
    from aujax.render import contact_sheet, draw_points, save_png

    from ._common import print_table

    try:
        names = list_bp4d_sequences(root)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    if not names:
        print(
            f"{root}: no BP4D sequences (AUCoding/AU_OCC/*.csv), DISFA labels "
            "(ActionUnit_Labels/) or Bosphorus samples (bsXXX/*.bnt) found",
            file=sys.stderr,
        )
        return 2
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
    for k in rng.choice(len(seqs), size=min(n_samples, len(seqs)), replace=False):
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


def _landmark_panel(lm: np.ndarray, side: int) -> np.ndarray:
    """A white (side, side, 3) panel with the landmarks drawn, fitted to the panel."""
    from aujax.render import draw_points

    panel = np.full((side, side, 3), 255, np.uint8)
    ok = np.all(np.isfinite(lm), axis=-1)
    if ok.any():
        lo, hi = lm[ok].min(0), lm[ok].max(0)
        scale = 0.8 * side / max(float((hi - lo).max()), 1e-9)
        uv = (lm[ok] - (lo + hi) / 2.0) * scale + side / 2.0
        panel = draw_points(panel, uv, color=(200, 30, 30), radius=1.0)
    return panel


def _report_disfa(root: pathlib.Path, out: pathlib.Path, n_samples: int) -> int:
    """DISFA layout: base rates at intensity >= 2, co-occurrence, durations, landmarks, figures."""
    from aujax.datasets import (
        DISFA_AUS,
        list_disfa_subjects,
        read_disfa_frames,
        read_disfa_sequence,
    )
    from aujax.face import AU_IDS, IDX66
    from aujax.render import contact_sheet, save_png
    from aujax.synth import DISFA_BASE_RATES

    from ._common import print_table

    subjects = list_disfa_subjects(root)
    if not subjects:
        print(f"{root}: no DISFA subjects (ActionUnit_Labels/SNxxx) found", file=sys.stderr)
        return 2
    gt_dir = root / "synthetic"
    seqs, runs = [], {au: [] for au in DISFA_AUS}
    missing, jitter, noise = [], [], []
    for subject in subjects:
        seq = read_disfa_sequence(root, subject)
        seqs.append(seq)
        occ = seq.occurrence(2)
        for i, au in enumerate(DISFA_AUS):
            runs[au] += _runs(occ[:, i] == 1)
        present = seq.landmark_mask
        missing.append(~present)
        lm = seq.landmarks
        both = present[1:] & present[:-1]
        if both.any():
            jitter.append(np.sqrt(np.mean((lm[1:][both] - lm[:-1][both]) ** 2)))
        gt_file = gt_dir / f"{subject}.npz"
        if gt_file.exists() and present.any():
            with np.load(gt_file) as gt:
                clean = gt["landmarks_2d"][:, np.asarray(IDX66)]
            noise.append(np.sqrt(np.mean((lm[present] - clean[present]) ** 2)))
    intensity = np.concatenate([s.intensity for s in seqs])
    occ = (intensity >= 2).astype(np.int8)
    n_frames = occ.shape[0]
    rates = {au: float(occ[:, i].mean()) for i, au in enumerate(DISFA_AUS)}
    print(f"{root}: DISFA layout, {len(subjects)} subjects, {n_frames} frames")
    print_table(
        ["AU", "base rate (>= 2)", "published (>= 2)", "any (> 0)", "mean if > 0", "episodes",
         "median s", "p90 s"],
        [
            [
                f"AU{au}",
                f"{rates[au]:.3f}",
                f"{DISFA_BASE_RATES[au]:.3f}" if au in DISFA_BASE_RATES else "-",
                f"{np.mean(intensity[:, i] > 0):.3f}",
                f"{intensity[intensity[:, i] > 0, i].mean():.2f}"
                if (intensity[:, i] > 0).any() else "-",
                len(runs[au]),
                f"{np.median(runs[au]) / FPS:.2f}" if runs[au] else "-",
                f"{np.quantile(runs[au], 0.9) / FPS:.2f}" if runs[au] else "-",
            ]
            for i, au in enumerate(DISFA_AUS)
        ],
        title="occurrence base rates (intensity >= 2) and episode durations",
    )  # fmt: skip
    cooc = []
    for i, a in enumerate(DISFA_AUS):
        on = occ[:, i] == 1
        cooc.append([f"AU{a}"] + [f"{occ[on, j].mean():.2f}" if on.any() else "-"
                                  for j in range(len(DISFA_AUS))])  # fmt: skip
    print_table(["P(col | row)"] + [f"AU{a}" for a in DISFA_AUS], cooc, title="co-occurrence")
    missing = np.concatenate(missing)
    print_table(
        ["landmarks", "value"],
        [
            ["frames without landmarks", f"{missing.mean():.4f}"],
            ["frame-to-frame landmark motion (RMS px)", f"{np.mean(jitter):.2f}" if jitter else "-"],
            ["detector noise vs ground truth (RMS px)", f"{np.mean(noise):.2f}" if noise else "n/a"],
        ],
        title="landmarks",
    )  # fmt: skip

    out.mkdir(parents=True, exist_ok=True)
    first = seqs[0]

    gt_int = None
    gt_file = gt_dir / f"{first.subject}.npz"
    if gt_file.exists():
        with np.load(gt_file) as gt:
            gt_int = gt["intensity"][:, [list(AU_IDS).index(au) for au in DISFA_AUS]]
    view = types.SimpleNamespace(occurrence=first.occurrence(2), aus=DISFA_AUS)
    save_png(out / "au_timeline.png", _timeline(view, gt_int))
    rng = np.random.default_rng(0)
    tiles, labels = [], []
    for k in rng.choice(len(seqs), size=min(n_samples, len(seqs)), replace=False):
        seq = seqs[int(k)]
        t = int(rng.integers(seq.frames.size))
        try:
            img = read_disfa_frames(root, seq.subject, [t])[0]
        except ValueError:
            continue
        tiles += [img, _landmark_panel(seq.landmarks[t], img.shape[0])]
        active = [f"{au}" for i, au in enumerate(DISFA_AUS) if seq.intensity[t, i] >= 2]
        labels += [f"{seq.subject} #{t}", "AU " + ",".join(active)]
    if tiles:
        save_png(out / "samples.png", contact_sheet(tiles, ncols=4, labels=labels))
    mean_rate = float(np.mean(list(rates.values())))
    gaps = [abs(rates[au] - DISFA_BASE_RATES[au]) for au in DISFA_AUS if au in DISFA_BASE_RATES]
    print(
        f"dataset_report: {n_frames} DISFA frames of {len(subjects)} subjects, mean base rate "
        f"(>= 2) {mean_rate:.3f} (mean absolute gap to the published {np.mean(gaps):.3f}), "
        f"landmarks missing {missing.mean():.4f}; figures in {out}"
    )
    return 0


def _report_bosphorus(root: pathlib.Path, out: pathlib.Path, n_samples: int) -> int:
    """Bosphorus layout: samples per class, per posed AU and per emotion, landmarks, a grid."""
    from aujax.datasets import list_bosphorus_samples, read_bosphorus_image, read_bosphorus_sample
    from aujax.datasets._tfds_bosphorus import bosphorus_aus
    from aujax.render import contact_sheet, save_png

    from ._common import print_table

    names = list_bosphorus_samples(root, strict=False)
    subjects = sorted({n.subject for n in names})
    by_class, by_au, by_emotion = {}, {}, {}
    for n in names:
        by_class[n.cls] = by_class.get(n.cls, 0) + 1
        if n.cls == "E":
            by_emotion[n.code] = by_emotion.get(n.code, 0) + 1
        for au in bosphorus_aus(n) or ():
            by_au[au] = by_au.get(au, 0) + 1
    print(f"{root}: Bosphorus layout, {len(names)} samples, {len(subjects)} subjects")
    print_table(["class", "samples"], [[c, k] for c, k in sorted(by_class.items())],
                title="samples per class")  # fmt: skip
    print_table(["AU", "samples posing it"], [[f"AU{a}", k] for a, k in sorted(by_au.items())],
                title="samples per posed AU (LFAU, UFAU, CAU)")  # fmt: skip
    print_table(["emotion", "samples"], sorted(by_emotion.items()), title="samples per emotion")
    rng = np.random.default_rng(0)
    tiles, labels, valid = [], [], []
    for k in rng.choice(len(names), size=min(n_samples, len(names)), replace=False):
        sample = read_bosphorus_sample(root, names[int(k)])
        valid.append(float(sample.scan.valid.mean()))
        if sample.image_path is None:
            continue
        img = read_bosphorus_image(sample.image_path)
        img = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)
        if sample.lm2 is not None:
            from aujax.render import draw_points

            img = draw_points(img, sample.lm2.points + 0.5, color=(200, 30, 30), radius=1.0)
        z = sample.scan.xyz[..., 2]
        zv = z[sample.scan.valid]
        shade = np.zeros(z.shape, np.uint8)
        if zv.size:
            lo, hi = zv.min(), zv.max()
            level = np.where(sample.scan.valid, (z - lo) / max(hi - lo, 1e-9), 0.0)
            shade = np.where(sample.scan.valid, 40 + 215 * level, 0).astype(np.uint8)
        tiles += [img, np.repeat(shade[..., None], 3, axis=-1)]
        labels += [sample.name.stem, "depth"]
    out.mkdir(parents=True, exist_ok=True)
    if tiles:
        save_png(out / "samples.png", contact_sheet(tiles, ncols=4, labels=labels))
    print(
        f"dataset_report: {len(names)} Bosphorus samples of {len(subjects)} subjects, "
        f"{len(by_au)} posed AUs, {len(by_emotion)} emotions, range grid valid "
        f"{np.mean(valid) if valid else float('nan'):.3f}; figures in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
