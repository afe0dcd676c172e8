"""Seed 004's reconstruction metrics (section 4.2): depth RMSE (eq. 14), mean vertex distance
(eq. 15), alignment, central-face regions, CED, grouped errors and tables."""

import numpy as np
import pytest

from aujax.geometry import rotation_from_axis_angle, umeyama
from aujax.train import (
    ALIGNMENTS,
    align_prediction,
    ced,
    central_face_mask,
    depth_rmse,
    error_table_csv,
    error_table_markdown,
    grouped_errors,
    mean_vertex_distance,
    reconstruction_errors,
    vertex_distances,
)


TARGET = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
OFFSET = np.array([[0.0, 0.0, 1.0], [3.0, 4.0, 0.0], [0.0, 0.0, -2.0]])
PRED = TARGET + OFFSET


def _mesh(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) * np.array([3.0, 4.0, 1.5])


def _rotation(axis, angle):
    return np.asarray(rotation_from_axis_angle(np.asarray(axis, float) * angle))


def test_hand_computed_values():
    # eq. 15: per-vertex Euclidean distances 1, 5, 2 (not the per-coordinate mean 10/9)
    np.testing.assert_allclose(vertex_distances(PRED, TARGET), [1.0, 5.0, 2.0])
    assert mean_vertex_distance(PRED, TARGET) == pytest.approx(8.0 / 3.0, abs=1e-15)
    # eq. 14: depth differences 1, 0, -2
    assert depth_rmse(PRED, TARGET) == pytest.approx(np.sqrt(5.0 / 3.0), abs=1e-15)
    # regions: a boolean mask and an index set select the same vertices
    assert mean_vertex_distance(PRED, TARGET, region=[1, 2]) == pytest.approx(3.5, abs=1e-15)
    assert depth_rmse(PRED, TARGET, region=np.array([True, False, True])) == pytest.approx(
        np.sqrt(2.5), abs=1e-15
    )
    # depth alignment: z shifted by mean(z* - z) = 1/3, differences 4/3, 1/3, -5/3
    out = reconstruction_errors(PRED, TARGET, align="depth")
    assert out["rmse_whole"] == pytest.approx(np.sqrt(42.0 / 27.0), abs=1e-14)
    aligned = align_prediction(PRED, TARGET, align="depth")
    np.testing.assert_allclose(aligned[:, :2], PRED[:, :2], atol=0)
    np.testing.assert_allclose(aligned[:, 2], PRED[:, 2] + 1.0 / 3.0, atol=1e-15)
    # translation alignment: the mean offset (1, 4/3, -1/3) removed
    t = align_prediction(PRED, TARGET, align="translation")
    np.testing.assert_allclose(t - TARGET, OFFSET - np.array([1.0, 4.0 / 3.0, -1.0 / 3.0]), 1e-15)
    np.testing.assert_array_equal(align_prediction(PRED, TARGET, align="none"), PRED)


def test_alignment_invariances():
    target = _mesh()
    pred = target + 0.05 * np.random.default_rng(1).normal(size=target.shape)
    rot = _rotation([0.3, -0.8, 0.5] / np.linalg.norm([0.3, -0.8, 0.5]), 0.4)
    shift = np.array([2.0, -1.0, 7.0])
    base = {a: reconstruction_errors(pred, target, align=a) for a in ALIGNMENTS}
    moved = {
        "depth": pred + np.array([0.0, 0.0, 5.0]),
        "translation": pred + shift,
        "rigid": pred @ rot.T + shift,
        "similarity": 1.7 * pred @ rot.T + shift,
    }
    for align, p in moved.items():
        got = reconstruction_errors(p, target, align=align)
        for key, value in base[align].items():
            assert got[key] == pytest.approx(float(value), rel=1e-10), (align, key)
    # each alignment does at least as well as the weaker ones (nested least-squares problems)
    sse = {
        a: float(np.sum((align_prediction(pred, target, align=a) - target) ** 2))
        for a in ALIGNMENTS
    }
    assert sse["similarity"] <= sse["rigid"] <= sse["translation"] <= sse["none"]
    # an exact similarity copy is recovered exactly
    exact = align_prediction(0.6 * target @ rot.T + shift, target, align="similarity")
    np.testing.assert_allclose(exact, target, atol=1e-12)
    # the depth shift is not a 3D translation: a lateral offset is not removed
    lateral = reconstruction_errors(target + np.array([1.0, 0.0, 0.0]), target, align="depth")
    assert lateral["mae_whole"] == pytest.approx(1.0, abs=1e-14)
    assert lateral["rmse_whole"] == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize("align", ["rigid", "similarity"])
def test_alignment_matches_geometry_umeyama(align):
    target = _mesh(seed=2)
    mirrored = target * np.array([-1.0, 1.0, 1.0]) + 0.1  # the best orthogonal map is a reflection
    region = np.arange(5, 30)
    got = align_prediction(mirrored, target, align=align, region=region)
    tr = umeyama(mirrored[region], target[region], with_scale=align == "similarity")
    np.testing.assert_allclose(got, np.asarray(tr.apply(mirrored)), atol=1e-10)
    assert np.linalg.det(np.asarray(tr.rotation)) == pytest.approx(1.0, abs=1e-12)


def test_batch_and_regions():
    target = np.stack([_mesh(seed=s) for s in range(3)])
    pred = target + np.random.default_rng(3).normal(size=target.shape) * 0.2
    central = central_face_mask(target[0], center=0, radius=4.0)
    regions = {"central": central, "whole": None}
    out = reconstruction_errors(pred, target, regions=regions, align="rigid")
    assert list(out) == ["rmse_central", "mae_central", "rmse_whole", "mae_whole"]
    for b in range(3):
        one = reconstruction_errors(pred[b], target[b], regions=regions, align="rigid")
        for key in out:
            assert out[key].shape == (3,)
            assert out[key][b] == pytest.approx(float(one[key]), rel=1e-12)
    # the alignment is estimated on align_region, the same for every region
    a = reconstruction_errors(
        pred, target, regions=regions, align="translation", align_region=central
    )
    shifted = align_prediction(pred, target, align="translation", region=central)
    np.testing.assert_allclose(a["mae_whole"], mean_vertex_distance(shifted, target))


def test_central_face_mask():
    grid = np.array([[x, y, 0.0] for x in range(-2, 3) for y in range(-2, 3)], dtype=float)
    mask = central_face_mask(grid, center=np.zeros(3), radius=1.0)
    assert mask.sum() == 5  # the centre and its 4 neighbours at distance 1
    np.testing.assert_array_equal(mask, np.linalg.norm(grid, axis=1) <= 1.0)
    by_index = central_face_mask(grid, center=12, radius=1.5)  # grid[12] is the origin
    assert by_index.sum() == 9
    with pytest.raises(ValueError, match="no vertex"):
        central_face_mask(grid, center=np.array([10.0, 10.0, 10.0]), radius=1.0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        central_face_mask(grid, center=0, radius=0.0)
    with pytest.raises(ValueError, match="out of range"):
        central_face_mask(grid, center=25, radius=1.0)


def test_ced():
    errors = np.array([2.0, 1.0, 4.0, 2.0])
    th, frac = ced(errors, thresholds=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(frac, [0.0, 0.25, 0.75, 0.75, 1.0, 1.0])
    th, frac = ced(errors)
    np.testing.assert_array_equal(th, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(frac, [0.25, 0.75, 1.0])
    rng = np.random.default_rng(4)
    e = rng.gamma(2.0, size=200)
    th, frac = ced(e, thresholds=np.linspace(0, e.max(), 50))
    assert np.all(np.diff(frac) >= 0) and frac[0] >= 0 and frac[-1] == 1.0
    with pytest.raises(ValueError, match="non-decreasing"):
        ced(errors, thresholds=[2.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        ced([1.0, np.nan])


def test_grouped_errors_and_tables():
    errors = {"mae": np.array([1.0, 2.0, 3.0, 5.0]), "rmse": np.array([0.5, 0.5, 1.0, 2.0])}
    groups = ["neutral", "happy", "neutral", "happy"]
    rows = grouped_errors(errors, groups, total=True)
    assert list(rows) == ["neutral", "happy", "all"]
    assert rows["neutral"] == {"n": 2, "mae": 2.0, "rmse": 0.75}
    assert rows["happy"] == {"n": 2, "mae": 3.5, "rmse": 1.25}
    assert rows["all"] == {"n": 4, "mae": 2.75, "rmse": 1.0}
    yaw = grouped_errors(np.array([1.0, 2.0, 4.0]), [45, 10, 45], order=[10, 20, 45])
    assert yaw == {10: {"n": 1, "mean": 2.0}, 45: {"n": 2, "mean": 2.5}}
    with pytest.raises(ValueError, match="does not list"):
        grouped_errors(np.array([1.0, 2.0]), ["a", "b"], order=["a"])
    with pytest.raises(ValueError, match="like groups"):
        grouped_errors(np.array([1.0, 2.0]), ["a"])

    md = error_table_markdown(
        rows, columns=["n", "mae"], label="expression", title="MAE", precision=2
    )
    assert md == (
        "### MAE\n\n| expression | n | mae |\n|---|---|---|\n"
        "| neutral | 2 | 2.00 |\n| happy | 2 | 3.50 |\n| all | 4 | 2.75 |\n"
    )
    csv = error_table_csv({"Zhu et al.": {"rmse": 2.7586}, "ours": {"rmse": 2.4628, "n": 3}})
    assert csv == "group,rmse,n\nZhu et al.,2.758600,\nours,2.462800,3\n"
    with pytest.raises(ValueError, match="comma"):
        error_table_csv({"a,b": {"x": 1.0}})


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="same shape"):
        mean_vertex_distance(PRED, TARGET[:2])
    with pytest.raises(ValueError, match=r"\(\.\.\., n_vertices, 3\)"):
        depth_rmse(PRED[:, :2], TARGET[:, :2])
    with pytest.raises(ValueError, match="align must be one of"):
        align_prediction(PRED, TARGET, align="icp")
    with pytest.raises(ValueError, match="finite"):
        depth_rmse(np.where(PRED > 3, np.nan, PRED), TARGET)
    with pytest.raises(ValueError, match="selects no vertex"):
        depth_rmse(PRED, TARGET, region=np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"regions\['central'\]"):
        reconstruction_errors(PRED, TARGET, regions={"central": [7]})
    with pytest.raises(ValueError, match="at least 3 vertices"):
        align_prediction(PRED, TARGET, align="rigid", region=[0, 1])
