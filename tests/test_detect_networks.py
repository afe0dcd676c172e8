"""The JAX port of MediaPipe's face networks against the `.tflite` models run by ai-edge-litert.

The reference models are the unchanged `.tflite` files of the mediapipe==0.10.14 wheel, kept in
``tests/data/mediapipe`` (Apache-2.0, see the NOTICE there). Both sides get the same input
tensors: the letterboxed photographs for the detectors, the face crops the front end cuts for the
mesh.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aujax.detect import FaceFrontEnd, Roi, crop, letterbox, load_network, read_image, roi_from_box
from aujax.nn import LiteGraph, parse_program


litert = pytest.importorskip("ai_edge_litert.interpreter")

DATA = pathlib.Path(__file__).parent / "data" / "mediapipe"
PHOTOS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "realfaces" / "photos"
TFLITE = {
    "short_range": "face_detection_short_range.tflite",
    "full_range": "face_detection_full_range_sparse.tflite",
    "face_mesh": "face_landmark.tflite",
}
SIZES = {"short_range": 128, "full_range": 192, "face_mesh": 192}
# photographs with one frontal face, one turned, one small in the frame, one with glasses
SAMPLE = ("img1.jpg", "img12.jpg", "img14.jpg", "img30.jpg", "img47.jpg")


def _reference(name: str, x: np.ndarray) -> list[np.ndarray]:
    interp = litert.Interpreter(model_path=str(DATA / TFLITE[name]))
    interp.allocate_tensors()
    index = interp.get_input_details()[0]["index"]
    outs = []
    for b in range(len(x)):
        interp.set_tensor(index, x[b : b + 1].astype(np.float32))
        interp.invoke()
        outs.append([interp.get_tensor(o["index"]) for o in interp.get_output_details()])
    return [np.concatenate(o) for o in zip(*outs, strict=True)]


def _photos():
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} is missing")
    return [read_image(PHOTOS / f) for f in SAMPLE]


@pytest.mark.parametrize("name", ["short_range", "full_range"])
def test_detector_scores_match_tflite(name):
    size = SIZES[name]
    xs = []
    for image in _photos():
        roi = letterbox(*image.shape[:2])
        xs.append(np.asarray(crop(jnp.asarray(image, jnp.float32), roi, out_size=size,
                                  replicate=False)) / 127.5 - 1.0)  # fmt: skip
    x = np.concatenate(xs).astype(np.float32)
    regressors, logits = jax.jit(lambda v: load_network(name)(v))(jnp.asarray(x))
    ref_reg, ref_logits = _reference(name, x)
    sig = lambda v: 1.0 / (1.0 + np.exp(-np.clip(np.asarray(v, np.float64), -100, 100)))
    score_err = np.abs(sig(np.asarray(logits, np.float64)) - sig(ref_logits.astype(np.float64)))
    assert score_err.max() <= 1e-3, score_err.max()
    # boxes and keypoints in input pixels, at anchors that score (the others are noise)
    live = sig(ref_logits[..., 0]) > 0.1
    assert live.any()
    reg_err = np.abs(np.asarray(regressors) - ref_reg)[live]
    assert reg_err.max() <= 0.5, reg_err.max()


def test_mesh_landmarks_match_tflite():
    front = FaceFrontEnd(zooms=())
    crops, n_faces = [], 0
    for image in _photos():
        found = front.detect(image)
        assert found, "every sample photograph shows a face"
        box, kps, _ = found[0]
        roi = roi_from_box(box[None, :2], box[None, 2:], kps[None, 0], kps[None, 1])
        crops.append(np.asarray(crop(jnp.asarray(image, jnp.float32), roi, out_size=192)) / 255.0)
        n_faces += 1
    x = np.concatenate(crops).astype(np.float32)
    lm, flag = jax.jit(lambda v: load_network("face_mesh")(v))(jnp.asarray(x))
    ref_lm, ref_flag = _reference("face_mesh", x)
    err = np.abs(np.asarray(lm) - ref_lm).reshape(n_faces, 468, 3)
    assert err[..., :2].max() <= 0.5, err[..., :2].max()  # pixels of the 192 px input
    sig = lambda v: 1.0 / (1.0 + np.exp(-v.astype(np.float64)))
    assert np.abs(sig(np.asarray(flag)) - sig(ref_flag)).max() <= 1e-3
    assert (sig(ref_flag) > 0.5).all()


def test_batch_rows_are_independent():
    x = np.random.default_rng(1).uniform(0, 1, (3, 192, 192, 3)).astype(np.float32)
    net = load_network("face_mesh")
    run = jax.jit(lambda a: net(a))
    full = run(jnp.asarray(x))[0]
    one = run(jnp.asarray(x[1:2]))[0]
    np.testing.assert_allclose(np.asarray(full[1:2]), np.asarray(one), rtol=1e-4, atol=1e-3)


def test_converter_reproduces_the_shipped_weights(tmp_path):
    pytest.importorskip("tflite")
    from tools import convert_mediapipe

    convert_mediapipe.main(["--tflite-dir", str(DATA), "--out", str(tmp_path)])
    shipped = pathlib.Path(convert_mediapipe.ASSETS)
    for name in ("face_detection_short_range", "face_detection_full_range", "face_landmark"):
        with np.load(tmp_path / f"{name}.npz") as a, np.load(shipped / f"{name}.npz") as b:
            assert a.files == b.files
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}:{k}")


def test_program_errors_name_the_problem():
    with pytest.raises(ValueError, match="line 2"):
        parse_program("input 1x8x8x3\nnot an op\noutputs t0")
    with pytest.raises(ValueError, match="'input' and an 'outputs'"):
        parse_program("op000_RELU input -> t0 1x8x8x3")
    prog = "input 1x8x8x3\nop000_CONV_2D stride=1 padding=SAME act=NONE input -> t0 1x8x8x4\noutputs t0"
    with pytest.raises(ValueError, match="op000_CONV_2D_b"):
        LiteGraph(prog, {"op000_CONV_2D_w": np.zeros((4, 3, 3, 3))})
    net = LiteGraph(
        prog, {"op000_CONV_2D_w": np.zeros((4, 3, 3, 3)), "op000_CONV_2D_b": np.ones(4)}
    )
    with pytest.raises(ValueError, match=r"input must be \(batch, \(8, 8, 3\)\)"):
        net(jnp.zeros((1, 9, 8, 3)))
    (y,) = net(jnp.zeros((2, 8, 8, 3), jnp.float32))
    np.testing.assert_array_equal(np.asarray(y), np.ones((2, 8, 8, 4)))


def test_depthwise_and_pooling_match_lax():
    from aujax.nn._lite_graph import _depthwise, _max_pool

    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(2, 9, 10, 5)))
    w = jnp.asarray(rng.normal(size=(3, 3, 5)))
    for stride in (1, 2):
        for padding in ("SAME", "VALID"):
            ref = jax.lax.conv_general_dilated(
                x, w[:, :, None, :], (stride, stride), padding,
                dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=5,
            )  # fmt: skip
            np.testing.assert_allclose(
                _depthwise(x, w, stride, padding), ref, rtol=1e-12, atol=1e-12
            )
    ref = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")
    np.testing.assert_array_equal(_max_pool(x, 2, 2, ref.shape), ref)
    assert isinstance(Roi, type)
