"""The seed 002 experiment (``aujax.methods.ausynth.train_and_evaluate``): tables, resume, reprint.

One module-scoped run of the ``tiny`` preset (shrunk further) on in-memory data: a morphable model
of random smooth expression fields on the 400-vertex template (as tests/test_ausynth_extract.py
builds it), four subjects whose expression parameters are a fixed linear map of their AU labels
plus noise, their 66 landmarks projected by a scaled-orthographic camera and their crops rendered
by :func:`render_parameters` itself. A second call resumes (restores every generator, trains
nothing), ``train=False`` reprints the same tables.
"""

import json

import jax
import numpy as np
import pytest

from aujax.geometry import MODEL_TO_OPENCV, look_rotation
from aujax.methods.ausynth import (
    SynthesisData,
    expression_meshes,
    generator_fn,
    head_rotations,
    render_parameters,
    split_subjects,
    train_and_evaluate,
)
from experiments.configs.disfa_synthesis import get_config
from tests._morphable_models import small_morphable_model


pytestmark = pytest.mark.usefixtures("fast_compile")

_SUBJECTS = ("SN001", "SN002", "SN003", "SN004")
_T = 48


def _data() -> SynthesisData:
    model = small_morphable_model(albedo_range=(0.3, 0.9))
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(12, model.n_exp)) * np.asarray(model.exp_std) / 3.0
    parts = {k: [] for k in ("subject", "frame", "labels", "landmarks", "images")}
    albedo = {}
    for s in _SUBJECTS:
        x_id = rng.normal(size=model.n_id) * np.asarray(model.id_std)
        labels = np.zeros((_T, 12), np.int8)
        for k in range(12):  # one episode per AU somewhere in the second half
            start = rng.integers(_T // 3, _T - 6)
            labels[start : start + 6, k] = rng.integers(1, 6)
        x_exp = labels @ weights + 0.02 * rng.normal(size=(_T, model.n_exp)) * np.asarray(
            model.exp_std
        )
        rot = np.stack([MODEL_TO_OPENCV @ np.asarray(look_rotation(*a))
                        for a in 0.05 * rng.normal(size=(_T, 3))])  # fmt: skip
        lm3 = jax.vmap(lambda x, i=x_id: model.landmarks(i, x, scheme=66))(x_exp)
        q = 12.0 * np.einsum("tdc,tlc->tld", rot[:, :2], np.asarray(lm3)) + 256.0
        albedo[s] = np.clip(np.asarray(model.albedo_mean), 0, 1)
        ims = render_parameters(model, x_id=x_id, x_exp=x_exp, albedo=albedo[s], image_size=32,
                                rotations=head_rotations(rot))  # fmt: skip
        parts["subject"].append(np.full(_T, s))
        parts["frame"].append(np.arange(_T))
        parts["labels"].append(labels)
        parts["landmarks"].append(q.astype(np.float32))
        parts["images"].append(ims)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    return SynthesisData(model=model, albedo=albedo, src="in-memory test", **arrays)


def _cfg(cache):
    cfg = get_config("tiny")
    cfg.data.cache_dir = str(cache)
    cfg.extract.update(n_neutral=4, n_iterations=3)
    cfg.train.update(steps=12, batch_size=16, checkpoint_every=6, log_every=6)
    # liblinear: on 40-odd rows it is the fast solver (the JAX interior point's cost is in the
    # 1,764 HOG features, ~30 s per image judge whatever the rows)
    cfg.judges.update(svr_solver="sklearn", image_svr_solver="sklearn")
    return cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = _data()
    cfg = _cfg(tmp_path_factory.mktemp("cache"))
    workdir = tmp_path_factory.mktemp("run")
    lines = []
    results = train_and_evaluate(cfg, workdir, data=data, echo=lines.append)
    return cfg, workdir, results, lines, data


def test_tables_are_written_with_the_papers_numbers(tiny_run):
    cfg, workdir, results, lines, _ = tiny_run
    tables = (workdir / "results" / "tables.md").read_text()
    for needle in ("Table 1", "Table 2", "paper: CAAE*", "training label means", "CGAN*"):
        assert needle in tables
    saved = json.loads((workdir / "results" / "results.json").read_text())
    t1 = saved["table1"]["rows"]
    assert t1["paper: CAAE*"] == {"SVR MAE": 0.395, "SVR MSE": 0.374, "OSVR MAE": 0.386,
                                  "OSVR MSE": 0.344}  # fmt: skip
    assert saved["table2"]["rows"]["paper: Real"] == {"MAE": 0.314, "MSE": 0.336}
    # the config's OpenFace person-specific normalisation reaches the image judge and the table
    assert cfg.judges.image_normalise == saved["table2"]["normalise"] == "person_median"
    assert "HOG minus the subject's median HOG" in tables
    for name in ("Real", "CGAN", "CGAN*", "CAAE", "CAAE*"):
        for col in ("SVR MAE", "SVR MSE", "OSVR MAE", "OSVR MSE"):
            v = t1[name][col]
            assert np.isfinite(v) and 0 <= v <= 25
        assert np.isfinite(saved["table2"]["rows"][name]["MAE"])
    # the parameters are a noisy linear map of the labels: a linear judge of the real
    # parameters beats the chance level (every frame the training mean) by construction
    chance = t1["training label means"]
    assert t1["Real"]["SVR MAE"] < chance["SVR MAE"]
    assert t1["Real"]["OSVR MAE"] < chance["OSVR MAE"]
    # generators end in tanh: nothing outside the bounds
    for name in ("CGAN", "CAAE*"):
        assert saved["bounds"][name]["outside"] == 0.0
    assert "stage times" in "\n".join(lines)
    assert set(saved["timings"]) >= {"data", "extraction", "generators", "judges"}


def test_stage_outputs_are_kept(tiny_run):
    cfg, workdir, results, _, data = tiny_run
    g = np.load(workdir / "outputs" / "generated.npz")
    rows = g["test_rows"]
    assert rows.size == results["table1"]["n_test_frames"] > 0
    assert np.all(np.any(data.labels[rows] > 0, axis=1))  # non-neutral targets
    assert np.all(data.labels[g["source_rows"]] == 0)  # neutral sources
    assert np.all(data.subject[g["source_rows"]] == data.subject[rows])  # of the same subject
    assert g["caae_soft"].shape == (rows.size, data.model.n_exp)
    r = np.load(workdir / "outputs" / "renders.npz")
    assert r["cgan"].shape == (rows.size, 32, 32, 3) and r["cgan"].dtype == np.uint8
    assert r["cgan"].max() > 0 and r["real"].shape == r["cgan"].shape
    for slug in ("cgan", "cgan_soft", "caae", "caae_soft"):
        assert (workdir / "runs" / slug / "checkpoints").is_dir()


def test_fig5_and_figs_6_to_8_stages(tiny_run):
    cfg, workdir, results, _, data = tiny_run
    fig5 = results["fig5"]
    assert set(fig5["results"]) == {f"{f:g}" for f in cfg.augment.fractions}
    n_real = fig5["n_real"]
    assert fig5["n_synthetic"] == round(max(cfg.augment.fractions) * n_real) > 0
    for f, m in fig5["results"].items():
        assert m["n_synthetic"] == round(float(f) * n_real)
        assert np.isfinite(m["mae"]) and np.isfinite(m["mse"])
    tables = (workdir / "results" / "tables.md").read_text()
    assert "Fig. 5" in tables
    for name in ("fig5_augmentation", "fig6_intensities", "fig7_aus", "fig8_combinations"):
        assert (workdir / "figures" / f"{name}.png").stat().st_size > 1000
    assert results["figures"]["vertex_error"] is None  # in-memory data: no physics to compare


def test_resume_restores_without_training(tiny_run):
    cfg, workdir, results, _, data = tiny_run
    metrics = [
        workdir / "runs" / "caae" / "metrics.jsonl",
        workdir / "augment" / "0.45" / "metrics.jsonl",
    ]
    before = [m.read_text() for m in metrics]
    lines = []
    again = train_and_evaluate(cfg, workdir, data=data, echo=lines.append)
    assert [m.read_text() for m in metrics] == before  # no step trained again
    assert again["table1"] == results["table1"] and again["table2"] == results["table2"]
    assert again["fig5"] == results["fig5"]
    other = cfg.copy_and_resolve_references()
    other.train.steps = 13
    with pytest.raises(ValueError, match="different config"):
        train_and_evaluate(other, workdir, data=data, echo=None)


def test_evaluate_reprints_identical_tables(tiny_run):
    cfg, workdir, _, _, data = tiny_run
    lines = []
    train_and_evaluate(cfg, workdir, train=False, data=data, echo=lines.append)
    tables = (workdir / "results" / "tables.md").read_text()
    assert tables.strip() in "\n".join(lines)


def test_generator_fn_and_meshes(tiny_run):
    from aujax.methods.ausynth import ParameterBounds, train_caae

    cfg, workdir, _, _, data = tiny_run
    m = data.model
    bounds = ParameterBounds(lower=-np.ones(m.n_exp), upper=np.ones(m.n_exp))
    from aujax.methods.ausynth._experiment import _gan_config

    gc = _gan_config(cfg, m.n_exp, False, 2)
    state = train_caae(np.zeros((16, m.n_exp), np.float32), np.zeros((16, 12), np.float32),
                       config=gc, workdir=workdir / "runs" / "caae", progress=False,
                       restore="latest")  # fmt: skip
    labels = np.zeros((3, 12))
    labels[1, 5] = 4
    x = generator_fn(state, labels, bounds=bounds, source=np.zeros((3, m.n_exp)))
    assert x.shape == (3, m.n_exp) and np.all(np.abs(x) < 1)
    meshes = expression_meshes(m, np.zeros(m.n_id), x)
    assert meshes.shape == (3, m.n_vertices, 3)
    np.testing.assert_allclose(np.asarray(meshes[0]), np.asarray(m.vertices(np.zeros(m.n_id), x[0])),
                               atol=1e-12)  # fmt: skip


def test_split_subjects():
    subjects = [f"SN{i:03d}" for i in range(1, 28)]
    train, test = split_subjects(subjects, seed=0)
    assert len(train) == 25 and len(test) == 2 and not set(train) & set(test)
    assert split_subjects(subjects, seed=0) == (train, test)
    assert split_subjects(subjects, seed=1) != (train, test)
    train, test = split_subjects(subjects, seed=0, fold=1)
    assert len(test) >= 1 and not set(train) & set(test)
    with pytest.raises(ValueError, match="fold"):
        split_subjects(subjects, seed=0, fold=4)
    with pytest.raises(ValueError, match="both must be"):
        split_subjects(["SN001"], seed=0)
