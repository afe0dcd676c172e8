"""`python -m experiments.bp4d_physics` end to end on a micro synthetic BP4D copy (tiny preset).

The slow tests run the real command in subprocesses: kill -9 during a run and rerun it (it must
resume and end bit-identical to an uninterrupted run), evaluation by restore (identical tables),
a corrupt checkpoint (a clear error naming it).
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from aujax.train import read_metrics


ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "experiments" / "configs" / "bp4d_physics.py")


def _cmd(module, *args):
    return [sys.executable, "-m", module, *args]


def _run_args(data, cache, workdir):
    return [f"--config={CONFIG}:tiny", f"--config.data.bp4d_dir={data}",
            f"--config.data.cache_dir={cache}", f"--workdir={workdir}"]  # fmt: skip


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    """3 subjects (one per part) x 2 tasks of the tiny preset, 400-vertex meshes (300 frames)."""
    from aujax.synth import generate_bp4d

    root = tmp_path_factory.mktemp("micro_bp4d")
    generate_bp4d(root, size="tiny", seed=0, subjects=("F001", "M011", "F007"), tasks=("T1", "T2"),
                  n_vertices=400, progress=None)  # fmt: skip
    return root


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_config_presets_and_workdir_guard(tmp_path):
    sys.path.insert(0, str(ROOT))
    from aujax.methods.physics import ROWS as LIB_ROWS, train_and_evaluate
    from experiments.configs.bp4d_physics import ROWS, get_config

    assert ROWS == LIB_ROWS
    for preset in ("small", "table1", "tiny", "paper"):
        cfg = get_config(preset)
        assert set(cfg.rows) <= set(ROWS)
        assert len(cfg.model.channels) == len(cfg.model.factors)
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")
    cfg = get_config("tiny")
    (tmp_path / "config.json").write_text(json.dumps({"seed": 123}))
    with pytest.raises(ValueError, match="different config"):
        train_and_evaluate(cfg, tmp_path, echo=None)
    with pytest.raises(ValueError, match="not a bp4d_physics workdir"):
        train_and_evaluate(cfg, tmp_path / "empty", train=False, echo=None)


def test_evaluate_without_a_run_says_so(tmp_path):
    out = subprocess.run(_cmd("experiments.evaluate", f"--workdir={tmp_path}"), cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 2
    assert "config.json not found" in out.stderr


def _tables(workdir):
    return (workdir / "results" / "tables.md").read_text()


@pytest.mark.slow
def test_kill9_resume_is_bit_identical_and_evaluate_reprints(micro, tmp_path):
    cache = tmp_path / "cache"
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_cmd("experiments.bp4d_physics", *_run_args(micro, cache, ref)), cwd=ROOT,
                   env=_env(), check=True, capture_output=True, timeout=1800)  # fmt: skip
    # start the same run elsewhere and kill -9 it once the physics model has a checkpoint
    proc = subprocess.Popen(_cmd("experiments.bp4d_physics", *_run_args(micro, cache, run)),
                            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    marker = run / "runs" / "fold1" / "3d_physics" / "checkpoints" / "latest" / "3"
    t0 = time.time()
    while not marker.exists() and proc.poll() is None and time.time() - t0 < 1800:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "results" / "tables.md").exists()
    subprocess.run(_cmd("experiments.bp4d_physics", *_run_args(micro, cache, run)), cwd=ROOT,
                   env=_env(), check=True, capture_output=True, timeout=1800)  # fmt: skip
    assert _tables(run) == _tables(ref)
    a = json.loads((ref / "results" / "results.json").read_text())
    b = json.loads((run / "results" / "results.json").read_text())
    assert a == b
    for name in ("3d_physics", "physics_plus_image", "image"):
        assert (run / "runs" / "fold1" / name / "metrics.jsonl").read_text() == (
            ref / "runs" / "fold1" / name / "metrics.jsonl"
        ).read_text()
    # evaluation by restore reprints the same tables
    out = subprocess.run(_cmd("experiments.evaluate", f"--workdir={run}"), cwd=ROOT, env=_env(),
                         check=True, capture_output=True, text=True, timeout=1800)  # fmt: skip
    printed = [ln for ln in out.stdout.splitlines() if ln.startswith("|")]
    assert printed == [ln for ln in _tables(run).splitlines() if ln.startswith("|")]
    # the best checkpoints (validation F1 of the held-out training subject) restore and score
    out = subprocess.run(_cmd("experiments.evaluate", f"--workdir={run}", "--step=best"),
                         cwd=ROOT, env=_env(), check=True, capture_output=True, text=True,
                         timeout=1800)  # fmt: skip
    assert "Table 1" in out.stdout
    for name, last in (("3d_physics", 6), ("physics_plus_image", 6), ("image", 4)):
        rows = read_metrics(run / "runs" / "fold1" / name / "metrics.jsonl")
        assert [r["step"] for r in rows if "eval/f1" in r] == [3, last]  # checkpoints + last
    # a corrupt checkpoint: a clear error naming it; the other models stay usable
    bad = run / "runs" / "fold1" / "image" / "checkpoints" / "latest"
    for step in bad.iterdir():
        shutil.rmtree(step / "state")
    out = subprocess.run(_cmd("experiments.evaluate", f"--workdir={run}"), cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert out.returncode != 0
    assert "checkpoints/latest" in out.stderr and "cannot be read" in out.stderr
    from aujax.train import Checkpoints

    with Checkpoints(run / "runs" / "fold1" / "3d_physics" / "checkpoints", every=3) as ck:
        assert ck.restore(None).step == 6


@pytest.mark.slow
def test_colab_notebook_executes(micro, tmp_path):
    """Every code cell of experiments/colab/bp4d_physics.ipynb, in order, on CPU with `tiny`."""
    nb = json.loads((ROOT / "experiments" / "colab" / "bp4d_physics.ipynb").read_text())
    code = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    script = tmp_path / "notebook.py"
    script.write_text(code)
    env = _env() | {
        "AUJAX_NOTEBOOK_PRESET": "tiny",
        "AUJAX_BP4D_DIR": str(micro),
        "AUJAX_CACHE": str(tmp_path / "cache"),
        "AUJAX_WORKDIR": str(tmp_path / "wd"),
    }
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=1800)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Table 1" in out.stdout and "figure4.png" in out.stdout
