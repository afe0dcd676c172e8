"""Seed 003's training: GANE against the frozen detector through the soft renderer (eqs. 4-8),
the EMOCA-like fine-tuning (eq. 7 alone), and eqs. 5-6's posed landmarks."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from aujax.methods.augane import (
    AUDetector,
    DetectorConfig,
    EncoderConfig,
    FaceParams,
    GANEConfig,
    GANEOutput,
    GlobalEncoder,
    decode,
    encode,
    gane_params,
    posed_landmarks,
    predict_aus,
    predict_emoca,
    predict_gane,
    project_landmarks,
    render_faces,
    train_emoca,
    train_gane,
)
from aujax.methods.augane._experiment import agreement_f1, rest_landmarks
from aujax.train import create_train_state


pytestmark = pytest.mark.usefixtures("fast_compile")

S, N, AUS = 16, 8, (1, 2, 4)
DETECTOR = DetectorConfig(width=4, node_dim=8, warmup=1, checkpoint_every=2, log_every=1)
ENCODER = EncoderConfig(width=4, image_size=S, landmarks=68, k=2, warmup=1, checkpoint_every=2,
                        log_every=1)  # fmt: skip
GANE_CFG = GANEConfig(gat_heads=2, transformer_depth=1, transformer_heads=2, warmup=1, lr=1e-2,
                      checkpoint_every=2, log_every=1)  # fmt: skip


@pytest.fixture(scope="module")
def trained(augane_model):
    """An (untrained) detector and encoder, and the inputs GANE reads."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (N, S, S, 3)).astype(np.float32)
    lm = rng.uniform(4.0, 12.0, (N, 68, 2)).astype(np.float32)
    tx = optax.sgd(0.0)
    det = create_train_state(AUDetector(len(AUS), config=DETECTOR, rngs=nnx.Rngs(0)), tx,
                             key=jax.random.key(0))  # fmt: skip
    enc = create_train_state(GlobalEncoder(augane_model, config=ENCODER, rngs=nnx.Rngs(1)), tx,
                             key=jax.random.key(1))  # fmt: skip
    probs, nodes = predict_aus(det, x)
    deca, feats = encode(enc, x, augane_model, config=ENCODER)
    return dict(x=x, lm=lm, det=det, enc=enc, probs=probs, nodes=nodes, deca=deca, feats=feats)


def _leaves(state, name):
    flat = jax.tree_util.tree_flatten_with_path(state.params)[0]
    return {
        jax.tree_util.keystr(p): np.asarray(v) for p, v in flat if name in jax.tree_util.keystr(p)
    }


def test_posed_landmarks_project_to_decoded(augane_model):
    """Eqs. 5-6's s Pi M + t is the decoded (rendered) 2D landmarks: M has the image's axes."""
    rng = np.random.default_rng(1)
    m = augane_model
    p = FaceParams(identity=jnp.asarray(rng.normal(size=m.n_id)),
                   expression=jnp.asarray(rng.normal(size=m.n_exp)),
                   pose=jnp.asarray([0.1, -0.2, 0.05]), scale=jnp.asarray(3.0),
                   translation=jnp.asarray([7.0, 9.0]), light=jnp.zeros(9),
                   albedo=jnp.zeros(m.n_alb))  # fmt: skip
    lm3, c = posed_landmarks(p, m)
    want = decode(p, m, size=S, landmarks=68, render=False).landmarks
    np.testing.assert_allclose(project_landmarks(lm3, c), want, atol=1e-10)


def test_gane_params_start_at_the_mean_face(augane_model, trained):
    """Zero raw outputs: the mean expression under the reference camera, DECA's identity."""
    deca = jax.tree.map(lambda a: jnp.asarray(a[0]), trained["deca"])
    f32 = jnp.float32
    zero = GANEOutput(expression=jnp.zeros(augane_model.n_exp, f32), pose=jnp.zeros(3, f32),
                      camera=jnp.zeros(3, f32))  # fmt: skip
    p = gane_params(zero, deca, augane_model, size=S)
    np.testing.assert_array_equal(p.expression, 0.0)
    np.testing.assert_array_equal(p.identity, deca.identity)
    np.testing.assert_array_equal(p.light, deca.light)
    assert float(p.scale) > 0


def test_train_gane_trains_gane_only_and_predicts(augane_model, trained):
    t = trained
    kw = dict(nodes=t["nodes"], global_features=t["feats"], deca=t["deca"], model=augane_model,
              size=S, aus=AUS, config=GANE_CFG)  # fmt: skip
    state = train_gane(t["det"], landmarks=t["lm"], probabilities=t["probs"],
                       key=jax.random.key(2), steps=3, batch_size=4, **kw)  # fmt: skip
    # the detector rode along frozen: its parameters are the trained detector's, bit for bit
    det_before = _leaves(t["det"], "")
    assert not any("detector" in k for k in _leaves(state, "detector"))
    rest = {jax.tree_util.keystr(p): np.asarray(v)
            for p, v in jax.tree_util.tree_flatten_with_path(state.rest)[0]}  # fmt: skip
    frozen = [v for k, v in rest.items() if "detector" in k and "kernel" in k]
    assert len(frozen) > 0 and sum(v.size for v in frozen) <= sum(
        v.size for v in det_before.values()
    )
    heads = _leaves(state, "expression")
    assert any(np.abs(v).max() > 0 for v in heads.values())  # the zero heads moved
    p = predict_gane(state, **kw)
    assert p.expression.shape == (N, augane_model.n_exp) and np.all(np.isfinite(p.expression))
    np.testing.assert_array_equal(p.identity, t["deca"].identity)
    img, alpha = render_faces(p, augane_model, size=S, blend=ENCODER.blend)
    assert img.shape == (N, S, S, 3) and alpha.shape == (N, S, S)
    assert 0.05 < alpha.mean() < 0.95 and img.min() >= 0 and img.max() <= 1
    with pytest.raises(ValueError, match="landmarks has non-finite"):
        bad = t["lm"].copy()
        bad[0, 3] = np.nan
        train_gane(t["det"], landmarks=bad, probabilities=t["probs"], key=jax.random.key(2),
                   steps=1, batch_size=4, **kw)  # fmt: skip


def test_feature_loss_alone_reaches_the_expression(augane_model, trained):
    """With eqs. 5-6 weighted 0, eq. 7's gradient (detector <- soft render <- parameters) still
    moves GANE's expression head: differentiable through the renderer and the detector."""
    t = trained
    cfg = dataclasses.replace(GANE_CFG, landmark_weight=0.0, relative_weight=0.0,
                              expression_reg=0.0, pose_reg=0.0)  # fmt: skip
    state = train_gane(t["det"], nodes=t["nodes"], global_features=t["feats"],
                       landmarks=t["lm"], probabilities=t["probs"], deca=t["deca"],
                       model=augane_model, key=jax.random.key(3), steps=2, batch_size=4,
                       size=S, aus=AUS, config=cfg)  # fmt: skip
    assert any(np.abs(v).max() > 0 for v in _leaves(state, "expression").values())


def test_train_emoca_changes_only_the_expression(augane_model, trained):
    t = trained
    state = train_emoca(t["det"], t["enc"], t["x"], nodes=t["nodes"], deca=t["deca"],
                        model=augane_model, key=jax.random.key(4), steps=2, batch_size=4,
                        config=ENCODER, lr=1e-2)  # fmt: skip
    p = predict_emoca(state, t["x"], t["deca"], augane_model, config=ENCODER)
    assert np.abs(p.expression - t["deca"].expression).max() > 0
    for f in ("identity", "pose", "scale", "translation", "light", "albedo"):
        np.testing.assert_array_equal(getattr(p, f), getattr(t["deca"], f))


def test_agreement_f1_and_rest_landmarks(augane_model):
    ref = np.array([[0.9, 0.1, 0.2], [0.8, 0.2, 0.1], [0.1, 0.3, 0.2]])
    got = np.array([[0.7, 0.9, 0.1], [0.2, 0.1, 0.1], [0.6, 0.1, 0.1]])
    f1, defined = agreement_f1(ref, got)
    # AU a: reference +,+,- ; render +,-,+ -> tp 1, fp 1, fn 1 -> F1 0.5; AU b, c never in ref
    np.testing.assert_allclose(f1[0], 0.5)
    np.testing.assert_array_equal(defined, [True, False, False])
    x_id = np.random.default_rng(0).normal(size=augane_model.n_id)
    verts = np.asarray(augane_model.vertices(x_id, np.zeros(augane_model.n_exp)))
    want = np.asarray(augane_model.landmarks(x_id, np.zeros(augane_model.n_exp)))
    np.testing.assert_allclose(rest_landmarks(augane_model, verts), want, atol=1e-9)
