"""The seed 003 experiment (``aujax.methods.augane.train_and_evaluate``): tables, outputs, resume
after a kill, reprint.

One module-scoped run of the ``tiny`` preset on the cached tiny synthetic DISFA-like copy (the one
tests/test_augane_data.py reads; generated once per cache, under a lock). A killed run (GANE cut
after its step-2 checkpoint, the EMOCA-like run never started) resumes to the same tables;
``train=False`` restores every network and reprints them.
"""

import json
import shutil

import numpy as np
import pytest

from aujax.methods.augane import METHODS, PAPER_TABLE2, load_augane_data, train_and_evaluate
from experiments.configs.disfa_augane import get_config


pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = get_config("tiny")
    data = load_augane_data(cfg, log=lambda _: None)
    wd = tmp_path_factory.mktemp("augane") / "run"
    lines = []
    res = train_and_evaluate(cfg, wd, echo=lines.append, data=data)
    return cfg, data, wd, res, lines


def test_tables_outputs_and_figure(tiny_run):
    cfg, data, wd, res, lines = tiny_run
    t2, t3, beyond = res["table2"], res["table3"], res["beyond"]
    assert set(t2["rows"]) <= set(data.test_subjects)
    for name in (*METHODS, "neutral face"):
        f1 = np.asarray(t3["per_au"][name]["f1"])
        assert f1.shape == (12,) and np.all((f1 >= 0) & (f1 <= 1))
        assert 0 <= beyond[name]["F1 vs labels"] <= 1
        for k in ("3d_cm", "expression_cm", "2d_px"):
            assert np.isfinite(beyond[name][k]) and beyond[name][k] >= 0
    # the neutral face has no expression: its expression error is the truth's displacement alone
    assert beyond["AUGANE"]["3d_cm"] < 2.0  # cm: a face, not noise
    text = (wd / "results" / "tables.md").read_text()
    for s in ("Table 2", "Table 3", "Beyond the paper", "paper Avg. (printed)", "neutral face"):
        assert s in text
    assert f"paper {next(iter(PAPER_TABLE2))}" in text
    assert (wd / "results" / "qualitative.png").stat().st_size > 1000
    saved = json.loads((wd / "results" / "results.json").read_text())
    assert saved["split"]["test"] == list(data.test_subjects)
    with np.load(wd / "outputs" / "eval.npz") as z:
        n = z["rows"].size
        assert n == cfg.eval.frames_per_subject * len(data.test_subjects)
        assert z["augane_renders"].shape == (n, 64, 64, 3)
        assert z["augane_expression"].shape == (n, data.model.n_exp)
        assert z["input_probs"].shape == (n, 12)
    assert any("stage times" in line for line in lines)


def test_killed_run_resumes_and_evaluate_reprints(tiny_run, tmp_path):
    cfg, data, wd, res, _ = tiny_run
    cut = tmp_path / "cut"
    shutil.copytree(wd, cut)
    for d in (cut / "runs" / "augane" / "checkpoints").iterdir():
        if d.name.isdigit() and int(d.name) > 2:
            shutil.rmtree(d)
    shutil.rmtree(cut / "runs" / "emoca_like")
    shutil.rmtree(cut / "results")
    again = train_and_evaluate(cfg, cut, echo=None, data=data)
    for key in ("table2", "table3", "beyond"):
        assert again[key] == res[key], key
    lines = []
    reprint = train_and_evaluate(cfg, wd, train=False, echo=lines.append, data=data)
    for key in ("table2", "table3", "beyond"):
        assert reprint[key] == res[key], key
    assert any("restored" in line for line in lines)
    with pytest.raises(ValueError, match="config.experiment must be 'disfa_augane'"):
        bad = get_config("tiny")
        bad.experiment = "disfa_synthesis"
        train_and_evaluate(bad, tmp_path / "bad", echo=None, data=data)
