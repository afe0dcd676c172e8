"""Seed 003's foundation parts: the AU detector (ME-GraphAU stand-in) and the DECA-like global
encoder (decode, landmark loss at the truth, gradients, resumable training)."""

import dataclasses
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from aujax.face import MorphableModel
from aujax.geometry import frame_vertices, project, rotation_from_axis_angle
from aujax.methods.augane import (
    CROP_MARGIN,
    DetectorConfig,
    EncoderConfig,
    FaceParams,
    GlobalEncoder,
    au_class_weights,
    crop_landmarks,
    decode,
    detector_f1,
    encoder_loss,
    landmark_loss,
    predict_aus,
    predict_params,
    presence_labels,
    raw_to_params,
    train_au_detector,
    train_global_encoder,
)
from aujax.methods.augane._detector import _centre_similarity
from aujax.train import read_metrics


pytestmark = pytest.mark.usefixtures("fast_compile")

N_AUS, SIZE = 3, 16
DETECTOR = DetectorConfig(width=4, node_dim=8, lr=2e-2, warmup=2, checkpoint_every=6, log_every=1)
ENC_SIZE = 16
ENCODER = EncoderConfig(width=4, image_size=ENC_SIZE, k=2, warmup=1, checkpoint_every=2,
                        log_every=1)  # fmt: skip
LANDMARK_ONLY = dataclasses.replace(ENCODER, photometric_weight=0.0)


def _separable(n, *, seed):
    """AU k present <=> a bright patch in row band k (noise elsewhere)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(n, N_AUS))
    x = rng.uniform(0.0, 0.3, size=(n, SIZE, SIZE, 3)).astype(np.float32)
    for k in range(N_AUS):
        x[:, 5 * k : 5 * k + 4, 2:14, :] += 0.6 * y[:, k, None, None, None]
    return np.clip(x, 0.0, 1.0), y


def _kill_after(done, step: int, cut) -> None:
    """``cut``: the run directory ``done`` as a run killed right after its ``step`` checkpoint."""
    shutil.copytree(done, cut)
    for d in (cut / "checkpoints").iterdir():
        if d.name.isdigit() and int(d.name) > step:
            shutil.rmtree(d)


@pytest.fixture(scope="module")
def model(augane_model) -> MorphableModel:
    return augane_model


# -- the AU detector -----------------------------------------------------------------------------


def test_centre_head_similarity():
    """ME-GraphAU's class-centre head: the cosine of the ReLU'd node and centre, in [0, 1]."""
    rng = np.random.default_rng(0)
    v, c = rng.normal(size=(4, N_AUS, 8)), rng.normal(size=(N_AUS, 8))
    p = np.asarray(_centre_similarity(jnp.asarray(v), jnp.asarray(c)))
    rv, rc = np.maximum(v, 0), np.maximum(c, 0)[None]
    want = np.sum(rv * rc, -1) / (np.linalg.norm(rv, axis=-1) * np.linalg.norm(rc, axis=-1))
    np.testing.assert_allclose(p, want, rtol=1e-9)
    assert np.all((p >= 0) & (p <= 1))
    with pytest.raises(ValueError, match="head must be one of"):
        DetectorConfig(head="graph")


def test_class_weights_and_labels():
    y = np.array([[1, 0, 9], [0, 0, 1], [0, 1, 9], [0, 0, 1]])
    # positive rates 1/4, 1/4, 2/2 -> 1/r = 4, 4, 1 -> w = 3 (4, 4, 1) / 9
    np.testing.assert_allclose(au_class_weights(y), np.array([4, 4, 1]) / 3.0, rtol=1e-6)
    # an AU with no positive (column 2 of 1,000 frames) is weighted as the rarest one with some
    # (column 0, rate 1/1000), not as a rate of 1/1000 that would take almost all the weight
    many = np.zeros((1000, 3), np.int64)
    many[0, 0] = 1
    many[:500, 1] = 1
    np.testing.assert_allclose(au_class_weights(many), np.array([1000, 2, 1000]) / 2002 * 3,
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(au_class_weights(np.zeros((4, 3), np.int64)), 1.0)
    got = presence_labels(np.array([[0, 1, 2, 9], [3, 5, 1, 0]]), threshold=2)
    np.testing.assert_array_equal(got, [[0, 0, 1, 9], [1, 1, 0, 0]])
    with pytest.raises(ValueError, match="0, 1 or 9"):
        presence_labels(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="batch_size"):
        train_au_detector(*_separable(4, seed=0), key=jax.random.key(0), steps=1, batch_size=5)


def test_detector_learns_and_resumes(tmp_path):
    x, y = _separable(64, seed=1)
    steps = 12
    full = train_au_detector(x, y, key=jax.random.key(0), steps=steps, batch_size=16,
                             config=DETECTOR, workdir=tmp_path / "full")  # fmt: skip
    loss = [r["loss"] for r in read_metrics(tmp_path / "full" / "metrics.jsonl") if "loss" in r]
    assert len(loss) == steps and np.mean(loss[-3:]) < 0.8 * loss[0], loss
    f1 = detector_f1(full, x, y)
    assert f1.shape == (N_AUS,) and np.mean(f1) > 0.8, f1
    probs, nodes = predict_aus(full, x)
    assert probs.shape == (64, N_AUS) and nodes.shape == (64, N_AUS, DETECTOR.node_dim)
    assert np.all((probs >= 0) & (probs <= 1))
    # killed after the step-6 checkpoint: the resumed run ends with the uninterrupted one's
    _kill_after(tmp_path / "full", 6, tmp_path / "cut")
    run = dict(key=jax.random.key(0), batch_size=16, config=DETECTOR, workdir=tmp_path / "cut")
    resumed = train_au_detector(x, y, steps=steps, **run)
    restored = train_au_detector(x, y, steps=steps, restore="latest", **run)
    for other in (resumed, restored):
        assert int(other.step) == steps
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                     full.params, other.params)  # fmt: skip


# -- the DECA-like encoder -----------------------------------------------------------------------


def _true_example(model):
    """Parameters of a posed, expressive face and its 66 landmarks projected by a camera framed
    as the synthetic crops are (``frame_vertices`` on the rotated mesh), independently of
    :func:`decode`."""
    rng = np.random.default_rng(3)
    x_id = jnp.asarray(rng.normal(size=model.n_id) * np.asarray(model.id_std))
    x_exp = jnp.asarray(rng.normal(size=model.n_exp) * np.asarray(model.exp_std))
    pose = jnp.asarray([0.1, -0.2, 0.05])
    rot = rotation_from_axis_angle(pose)
    cam = frame_vertices(model.vertices(x_id, x_exp), height=ENC_SIZE, width=ENC_SIZE,
                         margin=CROP_MARGIN, rotation=rot)  # fmt: skip
    lm = project(cam, model.landmarks(x_id, x_exp, scheme=66))[:, :2]
    params = FaceParams(identity=x_id, expression=x_exp, pose=pose, scale=cam.scale,
                        translation=cam.translation, light=jnp.zeros(9).at[0].set(2.5),
                        albedo=jnp.zeros(model.n_alb))  # fmt: skip
    return params, lm


@pytest.fixture(scope="module")
def scene(model):
    """The true example and its render beside a mirrored pose: ``(params, landmarks, Decoded
    with a leading axis of 2)``."""
    params, lm = _true_example(model)
    batch = jax.tree.map(lambda a: jnp.stack([a, a]), params)
    batch = batch.replace(pose=batch.pose.at[1].multiply(-1.0))
    out = jax.jit(jax.vmap(lambda p: decode(p, model, size=ENC_SIZE, blend=ENCODER.blend)))(batch)
    return params, lm, out


def test_crop_landmarks_is_the_crops_camera(model):
    """The crops' camera (the rest mesh framed frontally, then the head rotation) is a
    :class:`FaceParams` camera: decoding its scale, translation and pose gives the same points."""
    params, _ = _true_example(model)
    rest = model.vertices(params.identity, jnp.zeros(model.n_exp))
    rot = rotation_from_axis_angle(params.pose)
    lm3 = model.landmarks(params.identity, params.expression, scheme=66)
    got = crop_landmarks(lm3[None], rot[None], rest, size=ENC_SIZE)[0]
    cam = frame_vertices(rest, height=ENC_SIZE, width=ENC_SIZE, margin=CROP_MARGIN)
    p = params.replace(scale=cam.scale, translation=cam.translation)
    want = decode(p, model, size=ENC_SIZE, render=False).landmarks
    np.testing.assert_allclose(got, want, atol=1e-10)
    with pytest.raises(ValueError, match="rotations must have shape"):
        crop_landmarks(lm3[None], rot, rest, size=ENC_SIZE)


def test_encoder_decode_shapes(model):
    net = GlobalEncoder(model, config=ENCODER, rngs=nnx.Rngs(0))

    @nnx.jit
    def run(net, images):
        params = raw_to_params(net(images), model, size=ENC_SIZE)
        return params, jax.vmap(lambda p: decode(p, model, size=ENC_SIZE))(params)

    params, out = run(net, jnp.zeros((2, ENC_SIZE, ENC_SIZE, 3), jnp.float32))
    assert params.expression.shape == (2, model.n_exp) and params.light.shape == (2, 9)
    assert out.vertices.shape == (2, model.n_vertices, 3)
    assert out.landmarks.shape == (2, 66, 2)
    assert out.image.shape == (2, ENC_SIZE, ENC_SIZE, 3) and out.alpha.shape == (
        2,
        ENC_SIZE,
        ENC_SIZE,
    )
    alpha = np.asarray(out.alpha)
    assert np.all((alpha >= 0) & (alpha <= 1)) and 0.2 < alpha.mean() < 0.9
    # zero heads: the mean face inside the image, under the uniform light
    assert np.all((np.asarray(out.landmarks) > 0) & (np.asarray(out.landmarks) < ENC_SIZE))


def test_landmark_loss_zero_at_truth_and_gradients(model):
    params, lm = _true_example(model)
    out = decode(params, model, size=ENC_SIZE, render=False)
    assert out.image is None
    assert float(landmark_loss(out.landmarks, lm, size=ENC_SIZE)) < 1e-12
    # missing points (NaN) are skipped
    holes = lm.at[:10].set(jnp.nan)
    assert float(landmark_loss(out.landmarks.at[:10].add(3.0), holes, size=ENC_SIZE)) < 1e-12

    @jax.jit
    def loss(scale, translation, pose, expression):
        p = params.replace(scale=scale, translation=translation, pose=pose, expression=expression)
        return landmark_loss(decode(p, model, size=ENC_SIZE, render=False).landmarks, lm,
                             size=ENC_SIZE)  # fmt: skip

    moved = (params.scale * 1.05, params.translation + jnp.array([0.7, -0.4]),
             params.pose + 0.03, params.expression + 0.3 * model.exp_std)  # fmt: skip
    assert float(loss(*moved)) > 1e-3
    grads = jax.grad(loss, argnums=(0, 1, 2, 3))(*moved)
    for g in grads:
        assert np.all(np.isfinite(g)) and np.linalg.norm(g) > 1e-6
    check_grads(loss, moved, order=1, modes=("rev",), atol=1e-6, rtol=1e-5)


def test_encoder_loss_terms(model, scene):
    params, lm, out = scene
    image = out.image[0]
    total, terms = encoder_loss(params, model, image, lm, config=ENCODER)
    assert float(terms["landmark"]) < 1e-12 and float(terms["photometric"]) < 1e-12
    np.testing.assert_allclose(total, terms["regulariser"], rtol=1e-12)
    darker = params.replace(light=params.light * 0.5)
    _, moved = encoder_loss(darker, model, image, lm, config=ENCODER)
    assert float(moved["photometric"]) > 1e-2 and float(moved["landmark"]) < 1e-12
    # the photometric term reaches light, albedo and expression through the soft render
    photometric = jax.jit(
        lambda p: encoder_loss(p, model, image, lm, config=ENCODER)[1]["photometric"]
    )
    grads = jax.jit(jax.grad(photometric))(
        darker.replace(expression=darker.expression + 0.2 * model.exp_std)
    )
    for g in (grads.light, grads.albedo, grads.expression):
        assert np.all(np.isfinite(g)) and np.linalg.norm(g) > 1e-8


def test_encoder_trains_and_resumes(model, scene, tmp_path):
    images = np.clip(np.asarray(scene[2].image, np.float32), 0.0, 1.0)
    lms = np.asarray(scene[2].landmarks, np.float32)
    # landmark-only steps (the render's backward pass is tested in test_encoder_loss_terms and
    # test_soft_render.py; compiling it under the ResNet's costs ~10 s more)
    run = dict(key=jax.random.key(0), batch_size=2, config=LANDMARK_ONLY)
    full = train_global_encoder(images, lms, model, steps=4, workdir=tmp_path / "full", **run)
    loss = [r["loss"] for r in read_metrics(tmp_path / "full" / "metrics.jsonl") if "loss" in r]
    assert len(loss) == 4 and np.all(np.isfinite(loss)) and loss[-1] < loss[0], loss
    _kill_after(tmp_path / "full", 2, tmp_path / "cut")
    resumed = train_global_encoder(images, lms, model, steps=4, workdir=tmp_path / "cut", **run)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 full.params, resumed.params)  # fmt: skip
    pred = predict_params(full, images, model, config=LANDMARK_ONLY)
    assert pred.expression.shape == (2, model.n_exp) and np.all(np.isfinite(pred.scale))


def test_augment_images_flips_shifts_and_jitters():
    """Each augmented image is the input, flipped and/or rolled, under one affine brightness map
    (clipped to [0, 1]): its sorted pixels are an affine function of the input's."""
    from aujax.methods.augane import augment_images

    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.uniform(0.2, 0.8, size=(6, 12, 12, 3)))
    out = augment_images(x, key=jax.random.key(0))
    np.testing.assert_array_equal(out, augment_images(x, key=jax.random.key(0)))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    for a, b in zip(np.asarray(x), np.asarray(out), strict=True):
        sa, sb = np.sort(a.ravel()), np.sort(b.ravel())
        inside = (sb > 0) & (sb < 1)
        g, o = np.polyfit(sa[inside], sb[inside], 1)
        np.testing.assert_allclose(g * sa[inside] + o, sb[inside], atol=1e-9)
        assert 0.3 < g < 1.7
    assert not np.allclose(np.asarray(out), np.asarray(x))  # something changed
