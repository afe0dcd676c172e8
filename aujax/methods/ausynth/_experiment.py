"""The seed 002 experiment (``python -m experiments.disfa_synthesis``): Tables 1 and 2.

Stages (:func:`train_and_evaluate`; :func:`run_stages` returns them for the stages added after):

1. **data** (:func:`load_synthesis_data`): the DISFA-like frames, the morphable model at the same
   ``n_vertices`` and seed, the source albedos, the vertex-layout check;
2. **extraction** (:func:`extract_all`, cached): identity once per subject, expressions per frame;
   the split (:func:`split_subjects`: 25 training / 2 test subjects); ``ParameterBounds`` on the
   training subjects' valid frames (section 4.2);
3. **generators**: CGAN, CGAN* (soft labels, eq. 11), CAAE, CAAE* (:func:`train_cgan`,
   :func:`train_caae`) on the training subjects' normalised parameters and labels, each resumable
   in ``workdir/runs/<cgan|cgan_soft|caae|caae_soft>``;
4. **generation** (section 4.3): the test set is every *non-neutral* valid frame of the test
   subjects (some AU above 0); each gets a **source**, a neutral frame (all labels 0) of the same
   subject drawn with the run's seed, and the generators produce parameters for the target frame's
   labels: CGAN ``G(z, y)``, CAAE ``G(E(x_source), y)`` (:func:`generator_fn`);
5. **Table 1**: SVR and OSVR judges (:func:`fit_parameter_judges`) trained on 30 % of the
   training subjects' non-neutral frames (their extracted parameters), applied to the test
   frames' own extracted parameters ("Real") and to each generator's; MAE / MSE over the 12 AUs;
6. **Table 2**: the image judge (HOG + linear SVR, :func:`fit_image_judge`) trained on the same
   training frames' crops, applied to the test crops ("Real") and to renders of each generator's
   parameters with the source subject's identity, albedo and head pose
   (:func:`render_parameters`); also to renders of the test frames' own extracted parameters
   (the 3DMM's and the renderer's share of the gap). With ``judges.image_normalise =
   "person_median"`` (OpenFace's person-specific normalisation) each crop's HOG has its subject's
   median HOG subtracted, the median over that subject's crops of the same row (training crops;
   test crops; one generator's renders).

Both tables print the paper's numbers beside ours, a "training label means" row (the chance
baseline a judge must beat) and the fraction of generated parameters at or outside the bounds.
Results: ``workdir/results`` (tables.md, CSVs, results.json); the stage outputs (generated
parameters per test frame, the renders) in ``workdir/outputs``.
"""

import dataclasses
import functools
import json
import pathlib
import time

import jax
import numpy as np
from tqdm.auto import tqdm

from ...train import Report, Run, error_table_csv, error_table_markdown
from ._data import Extracted, SynthesisData, extract_all, load_synthesis_data, split_subjects
from ._extract import ParameterBounds, labels_to_unit
from ._gan import GANConfig, generate, train_caae, train_cgan
from ._judges import (
    fit_image_judge,
    fit_parameter_judges,
    image_judge_predict,
    judge_metrics,
    judge_predictions,
    judge_training_rows,
)
from ._networks import NetworkConfig
from ._render import expression_meshes, head_rotations, render_parameters


__all__ = [
    "EXPERIMENT",
    "GENERATORS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "Stages",
    "expression_meshes",
    "generator_fn",
    "judge_rows",
    "parameter_judges",
    "restore_generator",
    "run_stages",
    "train_and_evaluate",
    "training_set",
]

EXPERIMENT = "disfa_synthesis"

#: display name -> (kind, soft labels, run directory)
GENERATORS = {
    "CGAN": ("cgan", False, "cgan"),
    "CGAN*": ("cgan", True, "cgan_soft"),
    "CAAE": ("caae", False, "caae"),
    "CAAE*": ("caae", True, "caae_soft"),
}

#: Table 1 of the paper (real DISFA; header "Classifier SVR | OSVR, Metric MAE MSE | MAE MSE").
PAPER_TABLE1 = {
    "Real": (0.489, 0.549, 0.454, 0.485),
    "CGAN": (0.606, 1.011, 0.49, 0.728),
    "CGAN*": (0.643, 1.13, 0.519, 0.796),
    "CAAE": (0.409, 0.38, 0.389, 0.394),
    "CAAE*": (0.395, 0.374, 0.386, 0.344),
}
#: Table 2 of the paper (OpenFace's HOG SVRs on real crops / renders): (MAE, MSE).
PAPER_TABLE2 = {
    "Real": (0.314, 0.336),
    "CGAN": (0.383, 0.661),
    "CGAN*": (0.371, 0.659),
    "CAAE": (0.380, 0.645),
    "CAAE*": (0.330, 0.599),
}
_T1_COLUMNS = ("SVR MAE", "SVR MSE", "OSVR MAE", "OSVR MSE")
_MEAN_ROW = "training label means"
_RENDER_ROW = "Real parameters rendered"


@dataclasses.dataclass
class Stages:
    """What the stages produce (host arrays; the integrator's stages read it).

    Attributes:
        cfg: the config.
        data: the frames and the model (:class:`SynthesisData`).
        params: the extracted parameters (:class:`Extracted`).
        train_subjects, test_subjects: the split.
        bounds: the :class:`ParameterBounds` (training subjects' valid frames).
        states: generator name -> trained :class:`aujax.train.AdversarialState`.
        test_rows: (n,) rows of the test set (non-neutral valid frames of the test subjects).
        source_rows: (n,) the neutral source frame of each test row (same subject).
        generated: generator name -> (n, n_exp) generated parameters (not normalised).
        renders: name -> (n, S, S, 3) uint8 renders (each generator, and ``_RENDER_ROW``).
        judge_rows: rows the judges were trained on (training subjects' non-neutral frames).
        timings: stage -> seconds.
    """

    cfg: object
    data: SynthesisData
    params: Extracted
    train_subjects: tuple
    test_subjects: tuple
    bounds: ParameterBounds
    states: dict
    test_rows: np.ndarray
    source_rows: np.ndarray
    generated: dict
    renders: dict
    judge_rows: np.ndarray
    timings: dict


# ------------------------------------------------------------------------------- generators


def generator_fn(
    state, labels, *, bounds: ParameterBounds, source=None, key: jax.Array | None = None
) -> np.ndarray:
    """Expression parameters for AU labels from a trained CGAN or CAAE (section 4.3).

    Args:
        state: a trained generator (:func:`train_cgan` / :func:`train_caae`).
        labels: (n, 12) AU intensities 0-5 (the targets), for one subject.
        bounds: the normalisation the generator was trained in.
        source: CAAE: (n, n_exp) the source frames' parameters (not normalised; the subject's
            own neutral frame); None draws the CAAE's latent from its prior.
        key: PRNG key of the noise (required unless a CAAE has a source).

    Returns:
        (n, n_exp) parameters (not normalised; :func:`expression_meshes`).
    """
    y = labels_to_unit(np.asarray(labels, np.float32))
    src = None if source is None else bounds.normalise(np.asarray(source))
    u = generate(state, y.astype(np.float32), key=key,
                 source=None if src is None else src.astype(np.float32))  # fmt: skip
    return np.asarray(bounds.denormalise(np.asarray(u, np.float64)))


def _gan_config(cfg, n_exp: int, soft: bool, index: int) -> GANConfig:
    t, n = cfg.train, cfg.network
    h = (int(n.hidden), int(n.hidden))
    net = NetworkConfig(x_dim=n_exp, y_dim=12, noise_dim=int(n.noise_dim),
                        latent_dim=int(n.latent_dim), generator_hidden=h,
                        discriminator_hidden=h, encoder_hidden=h)  # fmt: skip
    return GANConfig(
        network=net, steps=int(t.steps), batch_size=int(t.batch_size), lr=float(t.lr),
        lr_schedule=t.lr_schedule, beta=float(t.beta), lam=float(t.lam), form=t.form,
        soft_labels=t.soft_labels if soft else None, seed=int(cfg.seed) + index,
        checkpoint_every=int(t.checkpoint_every), log_every=int(t.log_every),
    )  # fmt: skip


def _fit_generator(run_dir, *, progress, restore, kind, x, y, config):
    fn = train_cgan if kind == "cgan" else train_caae
    return fn(x, y, config=config, workdir=run_dir, progress=progress, restore=restore)


# --------------------------------------------------------------------- training data, judges


def training_set(cfg, data: SynthesisData, params: Extracted, train_subjects):
    """The generators' training set (stage 3): the training subjects' valid frames.

    Args:
        cfg: the experiment config (``bounds_q``).
        data: the frames.
        params: their extracted parameters.
        train_subjects: the training subjects (:func:`split_subjects`).

    Returns:
        ``(bounds, x, y)``: the :class:`ParameterBounds` of the training subjects' valid frames,
        (n, n_exp) float32 normalised parameters and (n, 12) float32 labels in [-1, 1].
    """
    is_train = np.isin(data.subject, train_subjects) & params.valid
    bounds = ParameterBounds.fit({s: params.x_exp[data.rows(s)][params.valid[data.rows(s)]]
                                  for s in train_subjects}, train_subjects=train_subjects,
                                 q=float(cfg.bounds_q))  # fmt: skip
    x = np.asarray(bounds.normalise(params.x_exp[is_train]), np.float32)
    y = np.asarray(labels_to_unit(data.labels[is_train].astype(np.float32)), np.float32)
    return bounds, x, y


def judge_rows(cfg, data: SynthesisData, params: Extracted, train_subjects) -> np.ndarray:
    """The rows Table 1's judges train on (section 4.3): a ``cfg.judges.fraction`` (30 %) draw,
    with the run's seed, of the training subjects' non-neutral valid frames; (n,) increasing."""
    rows = np.flatnonzero(np.isin(data.subject, train_subjects) & params.valid)
    pick = judge_training_rows(data.labels[rows], fraction=float(cfg.judges.fraction),
                               key=jax.random.key(int(cfg.seed)))  # fmt: skip
    return rows[pick]


def parameter_judges(cfg, data: SynthesisData, params: Extracted, rows, *,
                     kinds=("SVR", "OSVR")) -> dict:  # fmt: skip
    """Table 1's parameter judges (:func:`fit_parameter_judges`) on the extracted parameters of
    ``rows`` (:func:`judge_rows`) with the config's ``judges`` settings.

    Args:
        cfg: the experiment config (``judges``).
        data: the frames.
        params: their extracted parameters.
        rows: the judges' training rows.
        kinds: which of ``"SVR"`` and ``"OSVR"`` (sequences: the subjects) to train.

    Returns:
        kind -> :class:`LinearJudge`.
    """
    bad = [k for k in kinds if k not in ("SVR", "OSVR")]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of ('SVR', 'OSVR'), got {kinds!r}.")
    j, rows = cfg.judges, np.asarray(rows)
    kw = dict(aus=data.aus, c=float(j.c), epsilon=float(j.epsilon), svr_solver=j.svr_solver)
    out = {}
    if "SVR" in kinds:
        out["SVR"] = fit_parameter_judges(params.x_exp[rows], data.labels[rows], kind="svr", **kw)
    if "OSVR" in kinds:
        seq = np.unique(data.subject[rows], return_inverse=True)[1]
        out["OSVR"] = fit_parameter_judges(
            params.x_exp[rows], data.labels[rows], kind="osvr", sequence=seq,
            c_ordinal=float(j.c_ordinal), max_gap=int(j.max_gap), **kw,
        )  # fmt: skip
    return out


def restore_generator(cfg, workdir, name: str, *, x, y):
    """A trained generator of a finished run (``workdir/runs/<slug>``), restored without training.

    Args:
        cfg: the run's config (its ``config.json``).
        workdir: the run directory.
        name: a generator of ``cfg.generators`` (e.g. ``"CAAE*"``).
        x, y: the training set (:func:`training_set`; it sizes the state).

    Returns:
        The restored :class:`aujax.train.AdversarialState`.

    Raises:
        ValueError: an unknown generator or one without checkpoints.
    """
    if name not in GENERATORS or name not in tuple(cfg.generators):
        raise ValueError(f"name must be one of the run's generators {list(cfg.generators)}, got "
                         f"{name!r}.")  # fmt: skip
    kind, soft, slug = GENERATORS[name]
    run_dir = pathlib.Path(workdir) / "runs" / slug
    if not (run_dir / "checkpoints").is_dir():
        raise ValueError(f"{run_dir}: no checkpoints of {name} (was the run finished?).")
    gc = _gan_config(cfg, int(np.asarray(x).shape[1]), soft, tuple(cfg.generators).index(name))
    return _fit_generator(run_dir, progress=False, restore="latest", kind=kind, x=x, y=y,
                          config=gc)  # fmt: skip


# ------------------------------------------------------------------------------- the stages


def neutral_rows(data: SynthesisData, params: Extracted, subject: str) -> np.ndarray:
    """Rows of the subject's valid all-zero frames (none: its least expressive valid frames)."""
    rows = data.rows(subject)
    ok = params.valid[rows]
    lab = data.labels[rows]
    neutral = rows[ok & np.all(lab == 0, axis=1)]
    if neutral.size == 0:
        total = np.where(ok, lab.sum(axis=1), np.iinfo(np.int64).max)
        neutral = rows[total == total.min()]
    return neutral


def _test_sets(data: SynthesisData, params: Extracted, test_subjects, seed: int):
    """Test rows (non-neutral valid frames) and a neutral source frame of the same subject each."""
    rng = np.random.default_rng(int(seed))
    test_rows, source_rows = [], []
    for s in test_subjects:
        rows = data.rows(s)
        target = rows[params.valid[rows] & np.any(data.labels[rows] > 0, axis=1)]
        neutral = neutral_rows(data, params, s)
        test_rows.append(target)
        source_rows.append(rng.choice(neutral, size=target.size, replace=True))
    return np.concatenate(test_rows), np.concatenate(source_rows)


def run_stages(cfg, run: Run, data: SynthesisData | None = None) -> Stages:
    """Stages 1-4 and the renders of stage 6 (module docstring); timings in ``Stages.timings``.

    Args:
        cfg: the experiment config.
        run: the :class:`aujax.train.Run` (workdir, train or restore, log).
        data: in-memory data instead of the configured (tests).

    Returns:
        :class:`Stages`.
    """
    timings = {}
    t0 = time.perf_counter()
    with run.timed("data"):
        data = load_synthesis_data(cfg, run.log) if data is None else data
    timings["data"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with run.timed("extraction"):
        params = extract_all(data, cfg, log=run.log)
    timings["extraction"] = time.perf_counter() - t0
    train_s, test_s = split_subjects(data.subjects, seed=int(cfg.seed),
                                     n_test=int(cfg.split.test_subjects),
                                     fold=int(cfg.split.fold))  # fmt: skip
    run.log(f"split: {len(train_s)} training subjects, test {list(test_s)}")
    bounds, x, y = training_set(cfg, data, params, train_s)
    states = {}
    t0 = time.perf_counter()
    for i, name in enumerate(cfg.generators):
        kind, soft, slug = GENERATORS[name]
        gc = _gan_config(cfg, data.model.n_exp, soft, i)
        states[name] = run.fit((slug,), functools.partial(_fit_generator, kind=kind, x=x, y=y,
                                                          config=gc))  # fmt: skip
    timings["generators"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_rows, source_rows = _test_sets(data, params, test_s, int(cfg.seed))
    generated = {}
    for i, name in enumerate(cfg.generators):
        out = np.zeros((test_rows.size, data.model.n_exp))
        for s in test_s:
            m = data.subject[test_rows] == s
            src = params.x_exp[source_rows[m]] if GENERATORS[name][0] == "caae" else None
            key = jax.random.fold_in(jax.random.key(int(cfg.seed)), 1000 * i + test_s.index(s))
            out[m] = generator_fn(states[name], data.labels[test_rows[m]], bounds=bounds,
                                  source=src, key=key)  # fmt: skip
        generated[name] = out
    renders = _renders(cfg, data, params, test_rows, source_rows, generated)
    timings["generation + renders"] = time.perf_counter() - t0
    return Stages(cfg=cfg, data=data, params=params, train_subjects=train_s, test_subjects=test_s,
                  bounds=bounds, states=states, test_rows=test_rows, source_rows=source_rows,
                  generated=generated, renders=renders,
                  judge_rows=judge_rows(cfg, data, params, train_s), timings=timings)  # fmt: skip


def _renders(cfg, data, params, test_rows, source_rows, generated) -> dict:
    """Renders of each generator's parameters (source identity, albedo, head pose) and of the
    test frames' own extracted parameters (their own pose)."""
    size = int(data.images.shape[1])
    out = {k: np.zeros((test_rows.size, size, size, 3), np.uint8)
           for k in (*generated, _RENDER_ROW)}  # fmt: skip
    jobs = [(k, v, source_rows) for k, v in generated.items()]
    jobs.append((_RENDER_ROW, params.x_exp[test_rows], test_rows))
    subjects = list(dict.fromkeys(data.subject[test_rows].tolist()))
    for name, x_exp, pose_rows in tqdm(jobs, desc="render", leave=False):
        for s in subjects:
            m = data.subject[test_rows] == s
            out[name][m] = render_parameters(
                data.model, x_id=params.x_id[s], x_exp=x_exp[m], albedo=data.albedo[s],
                image_size=size, rotations=head_rotations(params.rotation[pose_rows[m]]),
                light_elevation_deg=float(cfg.render.light_elevation_deg),
                ambient=float(cfg.render.ambient),
            )  # fmt: skip
    return out


# ------------------------------------------------------------------------------- the tables


def _metrics(y, pred) -> dict:
    m = judge_metrics(y, pred)
    return {"mae": m["mae_mean"], "mse": m["mse_mean"], "icc": m["icc_mean"],
            "mae_per_au": np.asarray(m["mae"]).tolist()}  # fmt: skip


def _table1(st: Stages, report: Report) -> dict:
    d, p = st.data, st.params
    rows, y_test = st.judge_rows, d.labels[st.test_rows]
    judges = parameter_judges(st.cfg, d, p, rows)
    inputs = {"Real": p.x_exp[st.test_rows], **st.generated}
    mean = np.broadcast_to(d.labels[rows].mean(axis=0), y_test.shape)
    out, table = {}, {}
    for name, x in inputs.items():
        out[name] = {k: _metrics(y_test, judge_predictions(jd, x)) for k, jd in judges.items()}
    out[_MEAN_ROW] = {k: _metrics(y_test, mean) for k in judges}
    for name, r in out.items():
        table[name] = {f"{k} {m.upper()}": r[k][m] for k in judges for m in ("mae", "mse")}
        if name in PAPER_TABLE1:
            table[f"paper: {name}"] = dict(zip(_T1_COLUMNS, PAPER_TABLE1[name], strict=True))
    order = [k for n in ("Real", *st.generated, _MEAN_ROW) for k in (n, f"paper: {n}")
             if k in table]  # fmt: skip
    table = {k: table[k] for k in order}
    n = int(st.test_rows.size)
    title = (f"Table 1 — AU intensity estimation from 3DMM expression parameters ({d.src}, test "
             f"subjects {list(st.test_subjects)}: {n} non-neutral frames); MAE / MSE over the "
             f"{len(d.aus)} AUs")  # fmt: skip
    note = ("Judges: linear SVR and OSVR on 30 % of the training subjects' non-neutral frames' "
            "extracted parameters, predictions clipped to [0, 5]. Real: the test frames' own "
            "extracted parameters; generators: parameters for the test frames' labels (CGAN from "
            "noise, CAAE from a neutral frame of the same subject); '*': soft labels (eq. 11). "
            f"'{_MEAN_ROW}': every frame predicted as the training labels' mean (the chance "
            "level). Paper rows: real DISFA.")  # fmt: skip
    report.section("table1", error_table_markdown(table, columns=list(_T1_COLUMNS),
                                                  label="parameters", title=title, note=note),
                   error_table_csv(table, columns=list(_T1_COLUMNS), label="parameters"))  # fmt: skip
    return {"rows": table, "detail": out, "n_test_frames": n}


def _table2(st: Stages, report: Report) -> dict:
    d, j = st.data, st.cfg.judges
    rows, y_test = st.judge_rows, d.labels[st.test_rows]
    norm = str(j.get("image_normalise", "none"))  # configs saved before the option: none
    judge = fit_image_judge(d.images[rows], d.labels[rows], aus=d.aus, c=float(j.image_c),
                            epsilon=float(j.epsilon), svr_solver=j.image_svr_solver,
                            normalise=norm, subjects=d.subject[rows])  # fmt: skip
    inputs = {"Real": d.images[st.test_rows], **st.renders}
    # the renders of a test row are of its subject (the source frame is the same subject's): with
    # "person_median" each input's median is over that subject's crops / renders of that input
    subjects = d.subject[st.test_rows]
    out = {k: _metrics(y_test, image_judge_predict(judge, v, subjects=subjects))
           for k, v in inputs.items()}  # fmt: skip
    out[_MEAN_ROW] = _metrics(y_test, np.broadcast_to(d.labels[rows].mean(axis=0), y_test.shape))
    table = {}
    for name in ("Real", _RENDER_ROW, *st.generated, _MEAN_ROW):
        table[name] = {"MAE": out[name]["mae"], "MSE": out[name]["mse"]}
        if name in PAPER_TABLE2:
            table[f"paper: {name}"] = dict(zip(("MAE", "MSE"), PAPER_TABLE2[name], strict=True))
    hog = "HOG minus the subject's median HOG" if norm == "person_median" else "HOG"
    title = (f"Table 2 — AU intensity estimation from face crops by the image judge ({hog} + "
             f"linear SVR), {d.images.shape[1]} px; the test frames of Table 1")  # fmt: skip
    median = ("" if norm == "none" else
              "Person-specific normalisation (OpenFace): every crop's HOG minus the median HOG of "
              "its subject's crops in the same row (training: the subject's training crops; "
              "test: the subject's test crops, or that generator's renders of the subject). ")  # fmt: skip
    note = ("Judge trained on the training frames' real crops (the rows of Table 1's judges). "
            + median +
            "Real: the test crops; generators: renders of their parameters with the source "
            "subject's identity, albedo and head pose; "
            f"'{_RENDER_ROW}': renders of the test frames' own extracted parameters (the 3DMM's "
            "and the renderer's share of the gap). Paper: OpenFace's SVRs on real DISFA.")  # fmt: skip
    report.section("table2", error_table_markdown(table, label="images", title=title, note=note),
                   error_table_csv(table, label="images"))  # fmt: skip
    return {"rows": table, "detail": out, "normalise": norm}


def _bounds_table(st: Stages, report: Report) -> dict:
    """Fraction of parameter values outside the normalisation bounds (|u| > 1) and near them."""
    inputs = {"Real": st.params.x_exp[st.test_rows], **st.generated}
    table = {}
    for name, x in inputs.items():
        u = np.asarray(st.bounds.normalise(np.asarray(x, np.float64), clip=False))
        table[name] = {"outside": float(np.mean(np.abs(u) > 1.0)),
                       "|u| > 0.95": float(np.mean(np.abs(u) > 0.95))}  # fmt: skip
    title = "Generated parameters against the bounds [x_lower, x_upper] (eq. 4)"
    note = ("u: the parameters normalised by the training subjects' 0.5 / 99.5 % percentiles "
            "(ParameterBounds); the generators end in tanh, so |u| < 1 by construction and only "
            "the saturation (|u| > 0.95) can differ; Real: the test frames' own parameters.")  # fmt: skip
    report.section("bounds", error_table_markdown(table, label="parameters", title=title,
                                                  note=note),
                   error_table_csv(table, label="parameters"))  # fmt: skip
    return table


def _save_outputs(st: Stages, workdir) -> None:
    out = workdir / "outputs"
    out.mkdir(exist_ok=True)
    d = st.data
    np.savez(out / "generated.npz", test_rows=st.test_rows, source_rows=st.source_rows,
             subject=d.subject[st.test_rows], labels=d.labels[st.test_rows],
             real=st.params.x_exp[st.test_rows],
             **{GENERATORS[k][2]: v for k, v in st.generated.items()})  # fmt: skip
    np.savez_compressed(out / "renders.npz", real=d.images[st.test_rows],
                        **{GENERATORS.get(k, (0, 0, "real_rendered"))[2]: v
                           for k, v in st.renders.items()})  # fmt: skip
    (out / "split.json").write_text(json.dumps(
        {"train": list(st.train_subjects), "test": list(st.test_subjects),
         "judge_rows": int(st.judge_rows.size), "test_rows": int(st.test_rows.size)}, indent=2))  # fmt: skip


# ------------------------------------------------------------------------------- the run


def train_and_evaluate(config, workdir, *, train: bool = True, step="latest", echo=print,
                       data: SynthesisData | None = None) -> dict:  # fmt: skip
    """Runs (or, with ``train=False``, restores and re-evaluates) the seed 002 experiment.

    Args:
        config: the ``get_config()`` ConfigDict (experiments/configs/disfa_synthesis.py).
        workdir: the run directory; a rerun with the same config resumes (finished generators
            are restored, the others trained from their newest checkpoint).
        train: False restores every generator (``python -m experiments.evaluate``).
        step: the checkpoint restored when ``train`` is False.
        echo: where progress lines and tables go (None: silent).
        data: optional :class:`SynthesisData` instead of the configured data.

    Returns:
        dict with ``table1``, ``table2``, ``bounds``, ``data``, ``split`` and ``timings``.
    """
    cfg = config
    if cfg.get("experiment", None) != EXPERIMENT:
        raise ValueError(
            f"config.experiment must be {EXPERIMENT!r}, got {cfg.get('experiment')!r}."
        )
    unknown = [g for g in cfg.generators if g not in GENERATORS]
    if unknown:
        raise ValueError(f"config.generators: unknown {unknown} (known: {list(GENERATORS)}).")
    run = Run(cfg, workdir, experiment=EXPERIMENT, train=train, step=step, echo=echo)
    st = run_stages(cfg, run, data)
    t0 = time.perf_counter()
    report = Report()
    results = {
        "table1": _table1(st, report),
        "table2": _table2(st, report),
        "bounds": _bounds_table(st, report),
        "data": {"src": st.data.src, "subjects": len(st.data.subjects),
                 "frames": int(st.data.labels.shape[0]), "n_id": st.data.model.n_id,
                 "n_exp": st.data.model.n_exp, "n_vertices": st.data.model.n_vertices,
                 "valid_frames": int(st.params.valid.sum()), "layout": st.data.layout,
                 "mean_residual_px": float(np.nanmean(st.params.residual))},
        "split": {"train": list(st.train_subjects), "test": list(st.test_subjects)},
    }  # fmt: skip
    st.timings["judges"] = time.perf_counter() - t0
    from ._studies import augmentation_stage, figures_stage  # they build on this module

    if cfg.augment.enabled:
        t0 = time.perf_counter()
        results["fig5"] = augmentation_stage(st, run, report)
        st.timings["fig. 5"] = time.perf_counter() - t0
    if cfg.figures.enabled:
        t0 = time.perf_counter()
        results["figures"] = figures_stage(st, run, report)
        st.timings["figs. 6-8 + vertex error"] = time.perf_counter() - t0
    run.log("stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in st.timings.items()))
    if train:
        _save_outputs(st, run.workdir)
        results["timings"] = dict(st.timings)
    run.finish(report, results)
    return results
