"""Seed 002 on real photographs (``tools.ausynth_realfaces``, ``aujax.methods.ausynth._photo``).

Two photographs of ``../shared/realfaces/photos`` through ``aujax detect``'s front end, fitted by
the one-frame extraction with a small in-memory morphable model (tests/_morphable_models.py: no
generated data) and judged by a hand-made linear judge; skipped where the photographs or the
MediaPipe weights are missing.
"""

import types

import jax.numpy as jnp
import numpy as np
import pytest

from aujax.datasets import DISFA_AUS
from aujax.face import landmark_subset
from aujax.geometry import scaled_orthographic_pose
from aujax.methods.ausynth import LinearJudge, binary_scores, photo_parameters
from experiments.configs.disfa_synthesis import get_config
from tests._morphable_models import small_morphable_model
from tools import ausynth_realfaces as tool


pytestmark = pytest.mark.usefixtures("fast_compile")

#: no smile, lips closed / smile, teeth (labels.csv)
PHOTOS = ("img2.jpg", "img1.jpg")


@pytest.fixture(scope="module")
def photos():
    """``(model, front end, records of fit_photos)`` for the two photos with a hand-made judge
    whose AU12 is 1 + x_exp[0] and every other AU 0 (before clipping)."""
    paths = [tool.PHOTOS / p for p in PHOTOS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"{tool.PHOTOS} is missing")
    from aujax.detect import FaceFrontEnd, load_network

    try:
        for name in ("full_range", "face_mesh"):
            load_network(name)
    except FileNotFoundError as e:
        pytest.skip(f"the MediaPipe weights are missing: {e}")
    model = small_morphable_model()
    coef = np.zeros((12, model.n_exp))
    coef[DISFA_AUS.index(12), 0] = 1.0
    intercept = np.zeros(12)
    intercept[DISFA_AUS.index(12)] = 1.0
    judge = LinearJudge(mean=jnp.zeros(model.n_exp), scale=jnp.ones(model.n_exp),
                        coef=jnp.asarray(coef), intercept=jnp.asarray(intercept), kind="svr",
                        aus=tuple(DISFA_AUS))  # fmt: skip
    setup = {"cfg": get_config("tiny"), "data": types.SimpleNamespace(model=model, aus=DISFA_AUS),
             "judges": {"SVR": judge}, "generator": None}  # fmt: skip
    front_end = FaceFrontEnd()
    labels = tool.read_labels(tool.PHOTOS)
    records = tool.fit_photos(paths, setup, front_end=front_end, labels=labels, echo=None)
    return model, setup, records


def test_photo_landmarks_give_parameters_with_a_small_landmark_error(photos):
    model, _, records = photos
    assert [r["file"] for r in records] == list(PHOTOS) and all(r["face"] for r in records)
    for r in records:
        fit, lm = r["fit"], r["landmarks"]
        assert lm.shape == (68, 2) and r["iod_px"] > 40  # the photos are 480 px, the faces large
        assert fit.x_id.shape == (model.n_id,) and fit.x_exp.shape == (model.n_exp,)
        assert fit.projected.shape == fit.landmarks.shape == (66, 2)
        np.testing.assert_allclose(np.asarray(fit.landmarks), landmark_subset(lm, 66))
        err = np.linalg.norm(np.asarray(fit.projected) - np.asarray(fit.landmarks), axis=1)
        np.testing.assert_allclose(float(fit.residual), np.sqrt(np.mean(err**2)), rtol=1e-6)
        # the fit explains part of what the mean face under its best camera misses (measured on
        # img2 / img1: fit 2.2 / 4.1 % of the IOD, 0.50 / 0.78 of the mean face's error; this
        # 6-expression model cannot open the mouth as wide as img1's)
        mean = np.asarray(model.landmark_bases(scheme=66)[0])
        cam = scaled_orthographic_pose(jnp.asarray(mean), jnp.asarray(landmark_subset(lm, 66)))
        rigid = float(cam.scale) * mean @ np.asarray(cam.rotation)[:2].T
        rigid = rigid + np.asarray(cam.translation)[None, :2]
        rigid_rms = np.sqrt(np.mean(np.sum((rigid - landmark_subset(lm, 66)) ** 2, axis=1)))
        assert r["residual_pct"] < 5.0
        assert float(fit.residual) < 0.85 * rigid_rms
        # the judge reads the fitted expression: AU12 = clip(1 + x_exp[0], 0, 5)
        expected = float(np.clip(1.0 + float(fit.x_exp[0]), 0.0, 5.0))
        np.testing.assert_allclose(r["pred"]["SVR"][12], expected, rtol=1e-6)
        assert r["pred"]["SVR"][25] == 0.0
    # the smiling, open mouth (img1) against the closed one (img2): the detected cues say so
    assert records[1]["mouth"] > records[0]["mouth"] + 5.0
    # DISFA's 66 points fitted directly give the same fit
    r = records[0]
    again = photo_parameters(
        model, landmark_subset(r["landmarks"], 66), lambda_id=1e-4, lambda_exp=1e-4
    )  # the tiny config's extract priors
    np.testing.assert_allclose(np.asarray(again.x_exp), np.asarray(r["fit"].x_exp), atol=1e-8)


def test_scores_table_and_figure(photos):
    _, setup, records = photos
    rows = tool.score_rows(records)
    by = {(r["score"], r["label"]): r for r in rows}
    au12 = by[("SVR AU12", "smile")]
    assert (au12["n_pos"], au12["n_neg"]) == (1, 1)  # img1 smiles, img2 does not
    a, b = records[1]["pred"]["SVR"][12], records[0]["pred"]["SVR"][12]
    assert au12["auc"] == (1.0 if a > b else 0.0 if a < b else 0.5)
    assert np.isnan(by[("SVR AU1", "brows_raised")]["auc"])  # no photo has raised brows
    assert by[("landmarks: mouth (% IOD)", "teeth")]["auc"] == 1.0
    table = tool.table_markdown(rows, records, judge_rows=10)
    assert "| SVR AU1 | brows_raised | 0 / 2 | n/a |" in table
    tiles, names = tool.figure_rows(records, setup, names=PHOTOS, tile=48)
    assert len(tiles) == len(names) == 6  # photo, overlay, mesh per photo (no generator)
    assert all(np.asarray(t).shape[:2] == (48, 48) for t in tiles)


def test_binary_scores():
    s = binary_scores([0.5, 2.0, 1.0, 1.0], [0, 1, 1, 0], threshold=1.0)
    assert (s["n_pos"], s["n_neg"]) == (2, 2)
    assert s["auc"] == 0.875  # 2 > 0.5, 2 > 1, 1 > 0.5, 1 = 1 (half)
    assert s["accuracy"] == 0.75  # calls 0 1 1 1 against 0 1 1 0
    assert (s["mean_pos"], s["mean_neg"]) == (1.5, 0.75)
    one = binary_scores([0.2, 3.0], [0, 0])
    assert np.isnan(one["auc"]) and one["accuracy"] == 0.5
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        binary_scores([1.0, 2.0], [0, 2])
    with pytest.raises(ValueError, match="one shape"):
        binary_scores([1.0, 2.0], [0, 1, 1])


def test_photo_parameters_argument_errors():
    model = small_morphable_model()
    with pytest.raises(ValueError, match=r"landmarks must have shape \(68, 2\)"):
        photo_parameters(model, np.zeros((49, 2)))
    with pytest.raises(ValueError, match="landmarks must be finite"):
        photo_parameters(model, np.full((68, 2), np.nan))
