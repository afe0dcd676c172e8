"""Seed 002 on real photographs: do the Table 1 judges read real smiles, open mouths, raised brows?

::

    python -m tools.ausynth_realfaces                          # small preset, every labelled photo
    python -m tools.ausynth_realfaces --workdir W [--out PNG] [--table MD] [IMAGES...]

For each photograph, ``aujax detect``'s front end (:class:`aujax.detect.FaceFrontEnd`; the 68
iBUG points of the largest face, :func:`tools.sdm_realfaces.largest_face_landmarks`) gives the
landmarks; the experiment's morphable model (:func:`aujax.methods.ausynth.load_model`) is fitted
to them with the experiment's extraction on one frame (:func:`aujax.methods.ausynth.
photo_parameters`: identity, expression and camera jointly, DISFA's 66 points, the config's
``extract`` priors). The Table 1 parameter judges (SVR and OSVR), trained exactly as
``experiments.disfa_synthesis`` trains them (:func:`~aujax.methods.ausynth.judge_rows`,
:func:`~aujax.methods.ausynth.parameter_judges`: 30 % of the training subjects' non-neutral
frames of the synthetic DISFA-like set, their extracted parameters), predict the 12 AU
intensities from the photo's expression parameters. Scored against ``labels.csv`` on the rows
with a 0/1 label (``?`` left out): AU12 vs ``smile``, AU25 and AU26 vs ``teeth``, AU1 and AU2 vs
``brows_raised``: ROC AUC and the accuracy of ``intensity >= 1`` (the threshold fixed in advance,
not tuned on the photos). Two reference rows use no judge: the detected landmarks' own mouth
opening (inner lips 62 -> 66) against ``teeth`` and lip-corner lift (corners 48 / 54 above the
lips' mid-line 51 / 57) against ``smile``, both in % of the outer inter-ocular distance.

Without ``--workdir``: the ``--preset`` config (``small``; the DISFA-like data, the model and the
extracted parameters are cached in ``$AUJAX_CACHE``, generated once otherwise). With
``--workdir`` of a finished run: its config and, for the figure, its trained CAAE*.

Writes the table (``--table``, default ``docs/ausynth_realfaces.md``) and a figure (``--out``,
default ``docs/figures/ausynth_realfaces.png``): for ``--figure`` photos the face with its
landmarks (detected green, fit red), the fitted mesh over the photo and alone, and, with a
trained CAAE* (``--workdir``), CAAE* expressions AU12 at 5, AU25 + AU26 at 5 and AU1 + AU2 at 5
generated from the photo's own expression parameters (the source) on the person's fitted
identity, drawn frontal.

Photographs: deepface's test images (serengil/deepface, MIT licence), ``$AUJAX_REALFACES/photos``.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys
import time

import numpy as np

from tools.sdm_realfaces import (
    PHOTOS,
    ROOT,
    _overlay,
    _photo_tile,
    _render,
    _tile_frame,
    _turned,
    largest_face_landmarks,
    ortho_camera,
)


DEFAULT_OUT = ROOT / "docs" / "figures" / "ausynth_realfaces.png"
DEFAULT_TABLE = ROOT / "docs" / "ausynth_realfaces.md"
#: frontal no smile / smile, lips closed / smile with teeth / slight yaw, teeth (labels.csv)
FIGURE_PHOTOS = ("img2.jpg", "img3.jpg", "img1.jpg", "img18.jpg")
#: fixed in advance: DISFA's intensity 1 ("A", trace) is the lowest present level
THRESHOLD = 1.0
#: (AU, label column) pairs scored
PAIRS = ((12, "smile"), (25, "teeth"), (26, "teeth"), (1, "brows_raised"), (2, "brows_raised"))
#: the CAAE* targets of the figure: name -> {AU: intensity}
TARGETS = {"AU12@5": {12: 5}, "AU25+26@5": {25: 5, 26: 5}, "AU1+2@5": {1: 5, 2: 5}}
GENERATOR = "CAAE*"


def read_labels(folder: pathlib.Path) -> dict:
    """``{file: {column: value}}`` of ``folder/labels.csv`` ({} if missing)."""
    path = pathlib.Path(folder) / "labels.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {row["file"]: {k: v for k, v in row.items() if k != "file"}
                for row in csv.DictReader(f)}  # fmt: skip


def landmark_cues(lm: np.ndarray) -> dict:
    """Judge-free cues of the detected iBUG-68 points, % of the outer IOD (|l45 - l36|).

    ``mouth``: inner-lip opening 62 -> 66; ``corner_lift``: how far the lip corners (48, 54) lie
    above the mid-line of the outer lips' midpoints (51, 57), image y down.
    """
    iod = float(np.linalg.norm(lm[45] - lm[36]))
    mouth = float(np.linalg.norm(lm[66] - lm[62]))
    mid = 0.5 * (lm[51, 1] + lm[57, 1])
    lift = float(mid - 0.5 * (lm[48, 1] + lm[54, 1]))
    return {"iod_px": iod, "mouth": 100.0 * mouth / iod, "corner_lift": 100.0 * lift / iod}


def load_setup(workdir=None, *, preset: str = "small", kinds=("SVR", "OSVR"), log=print) -> dict:
    """The config, data, extracted parameters, the Table 1 judges and (with a finished
    ``workdir``) the trained CAAE* and its bounds, of a run or of a preset."""
    import ml_collections

    from aujax.methods.ausynth import (
        EXPERIMENT,
        extract_all,
        judge_rows,
        load_synthesis_data,
        parameter_judges,
        restore_generator,
        split_subjects,
        training_set,
    )

    if workdir is None:
        from experiments.configs.disfa_synthesis import get_config

        cfg = get_config(preset)
    else:
        path = pathlib.Path(workdir) / "config.json"
        if not path.is_file():
            raise ValueError(f"{path}: no config.json; is {workdir} a disfa_synthesis workdir?")
        cfg = ml_collections.ConfigDict(json.loads(path.read_text()))
        if cfg.get("experiment", None) != EXPERIMENT:
            raise ValueError(f"{path}: experiment {cfg.get('experiment')!r}, not {EXPERIMENT!r}.")
    data = load_synthesis_data(cfg, log)
    params = extract_all(data, cfg, log=log)
    train_s, test_s = split_subjects(data.subjects, seed=int(cfg.seed),
                                n_test=int(cfg.split.test_subjects), fold=int(cfg.split.fold))  # fmt: skip
    t0 = time.perf_counter()
    rows = judge_rows(cfg, data, params, train_s)
    judges = parameter_judges(cfg, data, params, rows, kinds=kinds)
    log(f"judges {list(judges)} on {rows.size} training frames in {time.perf_counter() - t0:.0f} s")
    out = {"cfg": cfg, "data": data, "params": params, "judges": judges, "generator": None,
           "bounds": None, "judge_rows": int(rows.size), "test_subjects": test_s}  # fmt: skip
    if workdir is not None and GENERATOR in tuple(cfg.generators):
        bounds, x, y = training_set(cfg, data, params, train_s)
        out["generator"] = restore_generator(cfg, workdir, GENERATOR, x=x, y=y)
        out["bounds"] = bounds
    return out


def fit_photos(photos, setup: dict, *, front_end=None, labels=None, echo=print) -> list[dict]:
    """Landmarks, 3DMM parameters and judged AU intensities of every photo (module docstring).

    Returns:
        One record per photo: ``file``, ``face`` (False: no face found), the labels.csv columns,
        and for a face ``landmarks`` (68, 2), ``fit`` (:class:`PhotoParameters`), ``residual_pct``
        (RMS reprojection error, % IOD), the :func:`landmark_cues` and ``pred``: judge ->
        {AU: intensity}.
    """
    from aujax.detect import FaceFrontEnd, read_image
    from aujax.methods.ausynth import judge_predictions, photo_parameters

    cfg, model = setup["cfg"], setup["data"].model
    front_end = front_end or FaceFrontEnd()
    records = []
    for path in map(pathlib.Path, photos):
        rec = {"file": path.name, **(labels or {}).get(path.name, {})}
        image = read_image(path)
        lm = largest_face_landmarks(front_end, image)
        if lm is None:
            records.append({**rec, "face": False})
            if echo:
                echo(f"{path.name}: no face found, skipped.")
            continue
        fit = photo_parameters(model, lm, lambda_id=float(cfg.extract.lambda_id),
                               lambda_exp=float(cfg.extract.lambda_exp))  # fmt: skip
        cues = landmark_cues(lm)
        x = np.asarray(fit.x_exp, np.float64)[None]
        pred = {}
        for kind, judge in setup["judges"].items():
            p = np.asarray(judge_predictions(judge, x))[0]
            pred[kind] = dict(zip(judge.aus, map(float, p), strict=True))
        rec.update(face=True, image=image, landmarks=lm, fit=fit, pred=pred, **cues,
                   residual_pct=100.0 * float(fit.residual) / cues["iod_px"])  # fmt: skip
        records.append(rec)
        if echo:
            aus = " ".join(f"AU{a} {pred[k][a]:.2f}" for k in pred for a in (12, 25, 1))
            echo(f"{path.name}: fit {rec['residual_pct']:.1f} % IOD; {aus} "
                 f"(smile {rec.get('smile', '')}, teeth {rec.get('teeth', '')})")  # fmt: skip
    return records


def score_rows(records: list[dict], *, threshold: float = THRESHOLD) -> list[dict]:
    """One row per (judge, AU, label column) and the two landmark cues: :func:`binary_scores`
    on the photos with a face and a 0/1 label in that column."""
    from aujax.methods.ausynth import binary_scores

    ok = [r for r in records if r.get("face")]
    rows = []
    kinds = list(ok[0]["pred"]) if ok else []

    def labelled(column):
        return [r for r in ok if r.get(column) in ("0", "1")]

    for kind in kinds:
        for au, column in PAIRS:
            rs = labelled(column)
            if not rs:
                continue
            s = binary_scores([r["pred"][kind][au] for r in rs],
                              [int(r[column]) for r in rs], threshold=threshold)  # fmt: skip
            rows.append({"score": f"{kind} AU{au}", "label": column, **s})
    for cue, column in (("corner_lift", "smile"), ("mouth", "teeth")):
        rs = labelled(column)
        if rs:
            s = binary_scores([r[cue] for r in rs], [int(r[column]) for r in rs], threshold=np.inf)
            rows.append({"score": f"landmarks: {cue.replace('_', ' ')} (% IOD)", "label": column,
                         **{**s, "accuracy": float("nan")}})  # fmt: skip
    return rows


def synthetic_control(setup: dict, *, n_max: int = 400, seed: int = 0) -> list[dict]:
    """The same scores on the synthetic test subjects' frames: do the judges read the one-frame fit?

    Up to ``n_max`` valid frames (every landmark finite) of the experiment's test subjects, drawn
    with ``seed``; label ``AU >= 1``. Each AU of :data:`PAIRS` is scored (:func:`binary_scores`)
    from the experiment's own extraction (identity from the subject's neutral frames, "Table 1
    Real") and from :func:`photo_parameters` on the frame alone (what a photo gets), SVR judge.
    """
    from aujax.methods.ausynth import binary_scores, judge_predictions, photo_parameters

    cfg, data, params = setup["cfg"], setup["data"], setup["params"]
    judge = setup["judges"]["SVR"]
    rows = np.flatnonzero(np.isin(data.subject, setup["test_subjects"]) & params.valid)
    rows = rows[np.all(np.isfinite(data.landmarks[rows]), axis=(1, 2))]
    if rows.size > n_max:
        rows = np.sort(np.random.default_rng(seed).choice(rows, n_max, replace=False))
    one = np.stack([np.asarray(photo_parameters(
        data.model, data.landmarks[r], lambda_id=float(cfg.extract.lambda_id),
        lambda_exp=float(cfg.extract.lambda_exp)).x_exp) for r in rows])  # fmt: skip
    preds = {"experiment's extraction": np.asarray(judge_predictions(judge, params.x_exp[rows])),
             "one-frame fit": np.asarray(judge_predictions(judge, one))}  # fmt: skip
    aus = list(data.aus)
    out = []
    for au in dict.fromkeys(a for a, _ in PAIRS):
        y = (data.labels[rows, aus.index(au)] >= 1).astype(int)
        for name, p in preds.items():
            s = binary_scores(p[:, aus.index(au)], y, threshold=THRESHOLD)
            out.append({"score": f"SVR AU{au}: {name}", "label": f"AU{au} >= 1", **s})
    return out


def table_markdown(rows: list[dict], records: list[dict], *, threshold: float = THRESHOLD,
                   judge_rows: int | None = None) -> str:  # fmt: skip
    """The scores (Markdown) with the fit's landmark error beneath."""

    def f(v, fmt):
        return "n/a" if not np.isfinite(v) else format(v, fmt)

    head = ["score", "label", "n (1 / 0)", "ROC AUC", f"accuracy (>= {threshold:g})",
            "mean: label 1", "label 0"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["score"], r["label"], f"{r['n_pos']} / {r['n_neg']}", f(r["auc"], ".2f"),
            f(r["accuracy"], ".2f"), f(r["mean_pos"], ".2f"), f(r["mean_neg"], ".2f"),
        ]) + " |")  # fmt: skip
    ok = [r for r in records if r.get("face")]
    res = np.array([r["residual_pct"] for r in ok]) if ok else np.zeros(0)
    note = (f"\n{len(ok)} of {len(records)} photos with a face; the one-frame fit's RMS landmark "
            f"error {np.median(res) if res.size else float('nan'):.1f} % of the outer IOD "
            f"(median; max {res.max() if res.size else float('nan'):.1f} %). Judges: the Table 1 "
            "SVR / OSVR trained on "
            f"{judge_rows if judge_rows is not None else '30 % of the'} synthetic DISFA-like "
            "training frames' extracted parameters; intensities clipped to [0, 5]. Accuracy: "
            f"intensity >= {threshold:g} called positive (fixed in advance). Landmark rows: "
            "the detected points' own cue, no judge (AUC only).")  # fmt: skip
    return "\n".join(lines) + "\n" + note


def figure_rows(records: list[dict], setup: dict, *, names=FIGURE_PHOTOS, tile: int = 128):
    """``(tiles, labels)`` of the figure (module docstring), row by row."""
    import jax

    from aujax.methods.ausynth import expression_meshes, generator_fn
    from aujax.render import draw_points

    model = setup["data"].model
    faces = np.asarray(model.triangles)
    by_name = {r["file"]: r for r in records if r.get("face")}
    tiles, labels = [], []
    for i, name in enumerate(n for n in names if n in by_name):
        r = by_name[name]
        fit, lm = r["fit"], r["landmarks"]
        k, offset = _tile_frame(lm, tile)
        photo = _photo_tile(r["image"], k, offset, tile)
        marked = photo
        for pts, colour in ((lm, (40, 220, 40)), (np.asarray(fit.projected), (230, 40, 40))):
            marked = draw_points(marked, (pts - offset[None]) / k + 0.5, color=colour,
                                 radius=max(1.0, tile / 160))  # fmt: skip
        mesh = np.asarray(expression_meshes(model, fit.x_id, np.asarray(fit.x_exp)[None]))[0]
        shaded, cov = _render(mesh, faces, ortho_camera(fit.camera, k=k, offset=offset, size=tile))
        sp = r["pred"].get("SVR", next(iter(r["pred"].values())))
        row = [marked, _overlay(photo, shaded, cov), _turned(mesh, faces, tile, yaw_deg=0.0)]
        row_names = [f"{name} s{r.get('smile', '')} t{r.get('teeth', '')}",
                     f"fit {r['residual_pct']:.1f}% IOD",
                     f"AU12 {sp[12]:.1f} AU25 {sp[25]:.1f}"]  # fmt: skip
        if setup.get("generator") is not None:
            y = np.zeros((len(TARGETS), 12), np.float32)
            aus = list(setup["data"].aus)
            for j, target in enumerate(TARGETS.values()):
                for au, v in target.items():
                    y[j, aus.index(au)] = v
            src = np.repeat(np.asarray(fit.x_exp, np.float64)[None], len(TARGETS), axis=0)
            gen = generator_fn(setup["generator"], y, bounds=setup["bounds"], source=src,
                               key=jax.random.key(i))  # fmt: skip
            for j, tname in enumerate(TARGETS):
                m = np.asarray(expression_meshes(model, fit.x_id, gen[j : j + 1]))[0]
                row.append(_turned(m, faces, tile, yaw_deg=0.0))
                row_names.append(f"CAAE* {tname}")
        tiles += row
        labels += row_names
    return tiles, labels


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", type=pathlib.Path,
                    help=f"photographs (default: every photo of {PHOTOS}/labels.csv)")  # fmt: skip
    ap.add_argument("--workdir", type=pathlib.Path, default=None,
                    help="a finished experiments.disfa_synthesis run: its config and CAAE*")  # fmt: skip
    ap.add_argument("--preset", choices=("tiny", "small", "paper"), default="small",
                    help="the config without --workdir")  # fmt: skip
    ap.add_argument("--no-osvr", action="store_true", help="the SVR judges only")
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="figure (PNG)")
    ap.add_argument("--table", type=pathlib.Path, default=DEFAULT_TABLE, help="table (Markdown)")
    ap.add_argument("--figure", nargs="*", default=list(FIGURE_PHOTOS),
                    help="the photos (file names) drawn in the figure")  # fmt: skip
    ap.add_argument("--tile", type=int, default=128, help="figure tile side, pixels")
    args = ap.parse_args(argv)
    labels = read_labels(PHOTOS)
    photos = args.images or [PHOTOS / f for f in labels]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing or not photos:
        ap.error(f"no such image: {', '.join(missing) or '(no photos)'}")
    for folder in {p.parent for p in photos} - {PHOTOS}:
        labels.update(read_labels(folder))
    try:
        setup = load_setup(args.workdir, preset=args.preset,
                           kinds=("SVR",) if args.no_osvr else ("SVR", "OSVR"))  # fmt: skip
    except ValueError as e:
        print(f"ausynth_realfaces: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    records = fit_photos(photos, setup, labels=labels)
    print(f"{len(records)} photos in {time.perf_counter() - t0:.0f} s")
    rows = score_rows(records)
    table = table_markdown(rows, records, judge_rows=setup["judge_rows"])
    print()
    print(table)
    t0 = time.perf_counter()
    control = synthetic_control(setup)
    test_s = ", ".join(setup["test_subjects"])
    table += (
        f"\n\n### Control: the synthetic test subjects ({test_s}), "
        f"{control[0]['n_pos'] + control[0]['n_neg']} frames\n\n"
    )
    table += table_markdown(control, [], judge_rows=setup["judge_rows"]).split("\n\n")[0]
    table += (
        "\n\nThe same SVR judge on synthetic DISFA-like test frames, labels AU >= 1: "
        "the experiment's extraction (identity from the subject's neutral frames) against "
        "the one-frame fit the photos get."
    )
    print(table.split("### Control")[1])
    print(f"(control in {time.perf_counter() - t0:.0f} s)")
    args.table.parent.mkdir(parents=True, exist_ok=True)
    cfg_preset = setup["cfg"].get("preset", "")
    src = f"`--workdir` of a finished {cfg_preset} run" if args.workdir else f"preset {args.preset}"
    args.table.write_text(f"# Seed 002's Table 1 judges on real photographs\n\n"
                          f"`python -m tools.ausynth_realfaces` ({src}).\n\n{table}\n")  # fmt: skip
    print(f"\nwrote {args.table}")
    tiles, names = figure_rows(records, setup, names=args.figure, tile=args.tile)
    if tiles:
        from aujax.render import contact_sheet, save_png

        per_row = 3 + (len(TARGETS) if setup.get("generator") is not None else 0)
        save_png(args.out, contact_sheet(tiles, ncols=per_row, labels=names))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
