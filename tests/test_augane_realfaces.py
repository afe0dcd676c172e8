"""Seed 003 on real photographs (``tools.augane_realfaces``): the crop alignment, no networks.

The alignment is checked on a known similarity (recovered exactly; a warped image read back
exactly where bilinear interpolation is exact), against :func:`aujax.methods.augane.decode` of
zero parameters, and on one real photograph of ``../shared/realfaces/photos`` through
``aujax detect``'s front end (skipped where the photographs or the MediaPipe weights are
missing).
"""

import jax.numpy as jnp
import numpy as np
import pytest

from aujax.methods.augane import FaceParams, decode, default_light, reference_camera
from tools import augane_realfaces as tool


pytestmark = pytest.mark.usefixtures("fast_compile")

S = 32


def _similarity(angle_deg: float, scale: float, shift) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return scale * np.array([[c, -s], [s, c]]), np.asarray(shift, np.float64)


def test_reference_landmarks_are_decode_of_zero_parameters(augane_model):
    m = augane_model
    ref = tool.reference_landmarks(m, size=S)
    cam = reference_camera(m, size=S)
    p = FaceParams(identity=jnp.zeros(m.n_id), expression=jnp.zeros(m.n_exp), pose=jnp.zeros(3),
                   scale=cam.scale, translation=cam.translation, light=default_light(),
                   albedo=jnp.zeros(m.n_alb))  # fmt: skip
    np.testing.assert_allclose(ref, np.asarray(decode(p, m, size=S, landmarks=68,
                                                      render=False).landmarks), atol=1e-9)  # fmt: skip
    # image y down: the brows above the nose tip above the chin; the face's right eye (36) on
    # the image left; the face inside the crop
    assert ref[19, 1] < ref[30, 1] < ref[8, 1] and ref[36, 0] < ref[45, 0]
    assert ref.min() > 0 and ref.max() < S


def test_fit_similarity_recovers_a_known_similarity_and_its_residual():
    rng = np.random.default_rng(0)
    ref = rng.uniform(5, 27, size=(68, 2))
    lin, shift = _similarity(17.0, 0.2, (3.0, -4.0))  # photo -> crop
    photo = (ref - shift) @ np.linalg.inv(lin).T  # the photo's points that map onto ref
    a, t = tool.fit_similarity(photo, ref)
    np.testing.assert_allclose(a, lin, atol=1e-12)
    np.testing.assert_allclose(t, shift, atol=1e-9)
    np.testing.assert_allclose(tool.apply_similarity(a, t, photo), ref, atol=1e-9)
    # noise on the photo's points: the mapped points miss the reference by no more than the
    # least-squares residual allows (its RMS is at most the noise's RMS mapped by the truth)
    noisy = photo + rng.normal(scale=2.0, size=photo.shape)
    a, t = tool.fit_similarity(noisy, ref)
    fitted = np.sqrt(np.mean(np.sum((tool.apply_similarity(a, t, noisy) - ref) ** 2, axis=1)))
    truth = np.sqrt(np.mean(np.sum((tool.apply_similarity(lin, shift, noisy) - ref) ** 2, axis=1)))
    assert 0 < fitted <= truth
    assert a[0, 0] == a[1, 1] and a[0, 1] == -a[1, 0]  # a similarity, not a general affine map
    with pytest.raises(ValueError, match="target must have source's shape"):
        tool.fit_similarity(photo, ref[:10])
    with pytest.raises(ValueError, match="all coincide"):
        tool.fit_similarity(np.ones((5, 2)), ref[:5])
    with pytest.raises(ValueError, match="must be finite"):
        tool.fit_similarity(np.full((5, 2), np.nan), ref[:5])


def test_warp_to_crop_samples_the_photo_at_the_inverse_similarity():
    # a photo whose channels are affine in (x, y) = (col, row): bilinear interpolation is exact
    h, w = 90, 120
    row, col = np.mgrid[0:h, 0:w].astype(np.float64)
    image = np.stack([col / w, row / h, 0.5 + 0.2 * (col - row) / (w + h)], axis=-1)
    lin, shift = _similarity(-25.0, 0.35, (-2.0, 5.0))
    crop = tool.warp_to_crop(image, lin, shift, size=S)
    assert crop.shape == (S, S, 3) and crop.dtype == np.float32
    # crop pixel (r, c) is centred at q = (c + 0.5, r + 0.5); the photo point p = A^-1 (q - t)
    c, r = np.meshgrid(np.arange(S) + 0.5, np.arange(S) + 0.5)
    p = (np.stack([c, r], axis=-1) - shift) @ np.linalg.inv(lin).T
    inside = (p[..., 0] >= 0) & (p[..., 0] <= w - 1) & (p[..., 1] >= 0) & (p[..., 1] <= h - 1)
    assert inside.mean() > 0.5
    expected = np.stack([p[..., 0] / w, p[..., 1] / h,
                         0.5 + 0.2 * (p[..., 0] - p[..., 1]) / (w + h)], axis=-1)  # fmt: skip
    np.testing.assert_allclose(crop[inside], expected[inside], atol=1e-6)
    far = (p[..., 0] < -1) | (p[..., 0] > w) | (p[..., 1] < -1) | (p[..., 1] > h)
    assert far.any() and np.all(crop[far] == 0.0)  # outside the photo: black
    # a bright photo pixel lands where the similarity maps it: (70, 40) -> (25.5, 17.5), the
    # centre of crop pixel (row 17, col 25), read at full value
    dot = np.zeros((h, w, 3), np.uint8)
    dot[40, 70] = 255
    crop = tool.warp_to_crop(dot, np.eye(2) * 0.5, np.array([-9.5, -2.5]), size=S)
    assert crop[17, 25, 0] == 1.0 and np.count_nonzero(crop[..., 0]) == 1
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        tool.warp_to_crop(np.zeros((4, 4)), lin, shift, size=S)
    with pytest.raises(ValueError, match="lin must be an invertible"):
        tool.warp_to_crop(image, np.zeros((2, 2)), shift, size=S)


def test_align_photo_maps_a_similar_face_onto_the_reference(augane_model):
    ref = tool.reference_landmarks(augane_model, size=S)
    lin, shift = _similarity(8.0, 0.1, (-6.0, 2.0))
    photo_lm = (ref - shift) @ np.linalg.inv(lin).T
    image = np.full((400, 400, 3), 200, np.uint8)
    out = tool.align_photo(image, photo_lm, ref, size=S)
    np.testing.assert_allclose(out["landmarks"], ref, atol=1e-9)
    assert out["residual_pct"] < 1e-6 and out["crop"].shape == (S, S, 3)


def test_a_real_photo_is_cropped_like_the_synthetic_crops(augane_model):
    path = tool.PHOTOS / "img2.jpg"  # frontal, no smile, lips closed
    if not path.is_file():
        pytest.skip(f"{tool.PHOTOS} is missing")
    from aujax.detect import FaceFrontEnd, load_network, read_image

    try:
        for name in ("full_range", "face_mesh"):
            load_network(name)
    except FileNotFoundError as e:
        pytest.skip(f"the MediaPipe weights are missing: {e}")
    ref = tool.reference_landmarks(augane_model, size=64)
    (rec,) = tool.crop_photos([path], reference=ref, size=64, front_end=FaceFrontEnd(), echo=None)
    assert rec["face"] and rec["crop"].shape == (64, 64, 3)
    image, lm = read_image(path), rec["photo_landmarks"]
    np.testing.assert_allclose(
        rec["landmarks"], tool.apply_similarity(rec["lin"], rec["shift"], lm)
    )
    # a real face is not the model's mean face, but a similarity brings it close: measured
    # 6.0 % of the IOD (RMS) on this photo with this test model (the small run's model: 6.1 %
    # median over the 61 photos, max 9.2 %)
    assert rec["residual_pct"] < 15.0
    iod_photo = np.linalg.norm(lm[45] - lm[36])
    iod_crop = np.linalg.norm(rec["landmarks"][45] - rec["landmarks"][36])
    assert 0.7 < iod_crop / np.linalg.norm(ref[45] - ref[36]) < 1.3
    assert iod_photo > 40 and iod_crop < 64
    # the crop is the photo, read bilinearly at the inverse similarity (around three landmarks)
    inv = np.linalg.inv(rec["lin"])
    for k in (30, 33, 8):
        c, r = np.floor(rec["landmarks"][k]).astype(int)
        x, y = (np.array([c + 0.5, r + 0.5]) - rec["shift"]) @ inv.T
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        im = image.astype(np.float64) / 255.0
        expected = ((1 - fy) * ((1 - fx) * im[y0, x0] + fx * im[y0, x0 + 1])
                    + fy * ((1 - fx) * im[y0 + 1, x0] + fx * im[y0 + 1, x0 + 1]))  # fmt: skip
        np.testing.assert_allclose(rec["crop"][r, c], expected, atol=1e-5)


def test_scores_agreement_and_landmark_errors_on_made_up_outputs(augane_model):
    """Four "photos" with hand-made detector outputs and landmarks: the scores worked by hand."""
    aus = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
    j12 = aus.index(12)
    records = [{"smile": "1", "teeth": "1"}, {"smile": "0", "teeth": "0"},
               {"smile": "?", "teeth": "1"}, {"smile": "1", "teeth": "0"}]  # fmt: skip
    photo = np.zeros((4, 12))
    photo[:, j12] = (0.9, 0.2, 0.7, 0.4)  # on photos 0 and 2
    render = {m: photo.copy() for m in (*tool.METHODS, tool.NEUTRAL)}
    render["DECA-like"][:, j12] = (0.9, 0.6, 0.1, 0.1)  # decisions 1 1 0 0 vs 1 0 1 0: F1 0.5
    render[tool.NEUTRAL][:, j12] = 0.0  # never found on the render: F1 0
    ref = tool.reference_landmarks(augane_model, size=S)
    detected = np.repeat(ref[None], 4, axis=0)
    detected[:, 66, 1] += np.array([3.0, 0.0, 2.0, 0.5])  # the inner lips open on 0 and 2
    landmarks = {m: detected.copy() for m in render}
    landmarks["DECA-like"] = detected + 0.1 * np.linalg.norm(ref[45] - ref[36])  # 14.1 % IOD
    out = {"input_probs": photo, "render_probs": render, "landmarks": landmarks}
    rows = {(r["score"], r["label"]): r
            for r in tool.score_rows(records, out, aus, detected=detected)}  # fmt: skip
    au12 = rows[("detector AU12 on the photo crop", "smile")]
    assert (au12["n_pos"], au12["n_neg"]) == (2, 1)  # the "?" left out
    assert au12["auc"] == 1.0 and au12["accuracy"] == 2 / 3  # 0.9, 0.4 > 0.2; 0.4 < 0.5
    assert rows[("detector AU12 on the DECA-like render", "smile")]["auc"] == 0.5  # 0.9 > 0.6 > 0.1
    assert rows[("detector AU25 on the photo crop", "teeth")]["auc"] == 0.5  # all p equal
    mouth = rows[("mouth (% IOD) of the detected landmarks", "teeth")]
    assert mouth["auc"] == 1.0 and np.isnan(mouth["accuracy"])
    summary, per_au = tool.agreement_rows(out, aus, detected=detected)
    assert summary["AUGANE"]["F1 agreement"] == 1.0 and summary["AUGANE"]["AUs"] == 1
    assert summary["DECA-like"]["F1 agreement"] == 0.5
    assert summary[tool.NEUTRAL]["F1 agreement"] == 0.0
    assert per_au["AU12"]["photos on"] == 2 and per_au["AU12"]["max p"] == 0.9
    assert "AUGANE" not in per_au["AU25"] and per_au["AU25"]["photos on"] == 0
    assert summary["AUGANE"]["lm_mean"] == 0.0
    np.testing.assert_allclose(summary["DECA-like"]["lm_mean"], 10 * np.sqrt(2), rtol=1e-9)
    table = tool.table_markdown(list(rows.values()), summary, per_au)
    assert "| DECA-like | 0.50 | 1 |" in table and "| AU25 | 0 | 0.00 |" in table
    # the figure: the crop and the three renders per photo named, the AUs (or the best) beneath
    for i, r in enumerate(records):
        r.update(file=f"p{i}.jpg", crop=np.zeros((S, S, 3), np.float32), landmarks=detected[i])
    out.update(reference=ref, renders={m: np.zeros((4, S, S, 3)) for m in render})
    tiles, labels = tool.figure_rows(records, out, aus, names=("p0.jpg", "nope.jpg", "p1.jpg"),
                                     tile=48)  # fmt: skip
    assert len(tiles) == len(labels) == 8 and all(t.shape == (48, 48, 3) for t in tiles)
    assert labels[0] == "p0.jpg s1t1: AU 12" and labels[2] == "DECA-like: AU 12"
    assert labels[4] == "p1.jpg s0t0: none (AU12 0.20)"
    assert tiles[0][..., 1].max() == 220  # the detected landmarks drawn in green
