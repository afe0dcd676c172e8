"""The physics branch of seed 001 (aujax.methods.physics): shapes, the ODE decoder, gradients, losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from aujax.methods.physics import (
    LossWeights,
    PhysicsAUNet,
    au_loss,
    build_physics_template,
    clean_loss,
    initial_velocity,
    physics_loss,
    reconstruction_loss,
    smooth_loss,
)
from aujax.physics import euler_paper, paper_model


@pytest.fixture(scope="module")
def template():
    with jax.default_device(jax.devices("cpu")[0]):
        tpl, _ = build_physics_template(n_vertices=400)
    return tpl


def _batch(b=2, t=6, k=17, r=12, seed=0):
    rng = np.random.default_rng(seed)
    c = np.cumsum(rng.normal(0, 0.1, (b, t, k)), axis=1) + 1.0
    labels = (rng.random((b, t, r)) < 0.3).astype(np.int8)
    return {
        "c": jnp.asarray(c, jnp.float32),
        "c_mask": jnp.ones((b, t), bool),
        "labels": jnp.asarray(labels),
        "label_mask": jnp.asarray(rng.random((b, t, r)) < 0.9),
    }


@pytest.mark.parametrize(
    "features", [("force", "position"), ("geometry",), ("force", "position", "image")]
)
def test_shapes_and_decoder_start(template, features):
    net = PhysicsAUNet(template, n_aus=12, features=features, channels=(8, 8), latent=8, hidden=16,
                       image_features=5, rngs=nnx.Rngs(0))  # fmt: skip
    b = _batch()
    z2d = jnp.ones((2, 6, 5), jnp.float32) if "image" in features else None
    out = net(b["c"], z2d)
    m = template.n_muscles
    assert out["logits"].shape == (2, 6, 12)
    assert out["forces"].shape == (2, 6, m, 3)
    assert out["c_tilde"].shape == (2, 6, 17)
    # the decoder starts from the observed c(0) and c(dt) (seed 001, text of eq. 10)
    np.testing.assert_allclose(out["c_tilde"][:, :2], b["c"][:, :2], rtol=1e-5, atol=1e-5)
    # the regressed mass is symmetric positive definite
    eig = np.linalg.eigvalsh(np.asarray(out["mass"], np.float64))
    assert np.all(eig > 0)


def test_decoder_is_the_papers_euler(template):
    """The network's decoder equals euler_paper (eq. 6) on its own mass and generalized force."""
    net = PhysicsAUNet(template, n_aus=12, channels=(8, 8), latent=8, hidden=16, rngs=nnx.Rngs(1))
    b = _batch(b=1)
    out = net(b["c"])
    q = net.generalized_force(out["forces"])[0]
    ref = euler_paper(paper_model(out["mass"][0]), b["c"][0, 0], b["c"][0, 1], q, dt=net.dt)
    np.testing.assert_allclose(out["c_tilde"][0], ref, rtol=1e-5, atol=1e-5)


def test_initial_velocity_paper_and_fit():
    """``paper`` is the two-frame difference; ``fit`` recovers the slope of a line exactly and
    averages frame noise down (variance of the 4-frame slope is 1/10 of the two-frame one's)."""
    dt = 0.04
    t = jnp.arange(8.0)[:, None] * dt
    line = 1.5 + t * jnp.asarray([[2.0, -1.0, 0.5]])
    np.testing.assert_allclose(
        initial_velocity(line, dt=dt, method="paper"), [2, -1, 0.5], rtol=1e-10
    )
    np.testing.assert_allclose(
        initial_velocity(line, dt=dt, method="fit"), [2, -1, 0.5], rtol=1e-10
    )
    noise = jax.random.normal(jax.random.key(0), (4000, 8, 1), jnp.float64)
    v_paper = jax.vmap(lambda c: initial_velocity(c, dt=1.0, method="paper"))(noise)
    v_fit = jax.vmap(lambda c: initial_velocity(c, dt=1.0, method="fit", frames=4))(noise)
    ratio = float(jnp.var(v_fit) / jnp.var(v_paper))
    assert 0.08 < ratio < 0.12  # theory: (1 / sum_t (t - 1.5)^2) / 2 = 0.1


def test_fit_velocity_decoder_and_mass_floor(template):
    """With ``initial_velocity="fit"`` the decoder is eq. 6 started from c(0) + dt c'(0); with a
    mass floor the relative mass keeps its smallest eigenvalue above the floor even for wild
    regressor outputs."""
    net = PhysicsAUNet(template, n_aus=12, channels=(8, 8), latent=8, hidden=16,
                       initial_velocity="fit", mass_floor=0.05, rngs=nnx.Rngs(1))  # fmt: skip
    b = _batch(b=1, t=8)
    out = net(b["c"])
    q = net.generalized_force(out["forces"])[0]
    c = b["c"][0]
    v = initial_velocity(c, dt=net.dt, method="fit")
    ref = euler_paper(paper_model(out["mass"][0]), c[0], c[0] + net.dt * v, q, dt=net.dt)
    np.testing.assert_allclose(out["c_tilde"][0], ref, rtol=1e-4, atol=1e-4)
    # untrained: M^B ~ M0 as without a floor (relative mass ~ identity)
    chol = np.linalg.cholesky(np.asarray(template.reduced.mass, np.float64))

    def relative(m):
        return np.linalg.solve(chol, np.linalg.solve(chol, np.asarray(m, np.float64)).T)

    np.testing.assert_allclose(relative(out["mass"][0]), np.eye(17), atol=0.05)
    # a regressor output with huge off-diagonal factor entries: L L^T alone is nearly singular
    last = net.mass_head.layers[-1]
    last.bias[...] = jax.random.normal(jax.random.key(3), last.bias.shape, last.bias.dtype) * 50.0
    rel = relative(net(b["c"])["mass"][0])
    assert np.linalg.eigvalsh(rel).min() >= 0.05 * (1 - 1e-3)
    with pytest.raises(ValueError, match="mass_floor"):
        PhysicsAUNet(template, n_aus=3, mass_floor=1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="initial_velocity"):
        PhysicsAUNet(template, n_aus=3, initial_velocity="spline", rngs=nnx.Rngs(0))


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_gradients_flow_through_the_ode_decoder_into_the_encoder(template):
    """Non-zero finite gradients on every parameter group, from the reconstruction loss alone."""
    net = PhysicsAUNet(template, n_aus=12, channels=(8, 8), latent=8, hidden=16, rngs=nnx.Rngs(2))
    b = _batch()

    def l3d(model):
        out = model(b["c"])
        return reconstruction_loss(b["c"], out["c_tilde"], b["c_mask"])

    grads = nnx.grad(l3d)(net)
    groups = {"encoder": 0.0, "force_head": 0.0, "mass_head": 0.0, "code_norm": 0.0}
    for path, g in jax.tree_util.tree_flatten_with_path(nnx.state(grads, nnx.Param))[0]:
        assert np.all(np.isfinite(np.asarray(g))), jax.tree_util.keystr(path)
        name = str(path[0].key)
        if name in groups:
            groups[name] += float(jnp.sum(g**2))
    assert all(v > 0 for v in groups.values()), groups

    # and the AU loss reaches the AU head and (through the forces) the encoder
    def lau(model):
        return au_loss(model(b["c"])["logits"], b["labels"], b["label_mask"])

    g2 = nnx.state(nnx.grad(lau)(net), nnx.Param)
    assert float(jnp.sum(g2["au_head"]["layers"][0]["kernel"][...] ** 2)) > 0
    assert float(jnp.sum(g2["encoder"]["linear"]["kernel"][...] ** 2)) > 0


def test_galerkin_with_explicit_euler_is_refused(template):
    with pytest.raises(ValueError, match="unstable for the galerkin dynamics"):
        PhysicsAUNet(template, n_aus=12, dynamics="galerkin", force_mode="activations",
                     solver="euler", rngs=nnx.Rngs(0))  # fmt: skip


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_galerkin_activations_with_tsit5(template):
    net = PhysicsAUNet(template, n_aus=3, dynamics="galerkin", force_mode="activations",
                       solver="tsit5", channels=(8, 8), latent=8, hidden=16, rngs=nnx.Rngs(0))  # fmt: skip
    out = net(_batch(b=1, t=4)["c"])
    assert out["forces"].shape == (1, 4, template.n_muscles)
    assert np.all(np.asarray(out["forces"]) >= 0) and np.all(np.isfinite(out["c_tilde"]))


def test_bad_arguments(template):
    with pytest.raises(ValueError, match="features"):
        PhysicsAUNet(template, n_aus=3, features=("colour",), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="image_features"):
        PhysicsAUNet(template, n_aus=3, features=("image",), rngs=nnx.Rngs(0))
    net = PhysicsAUNet(template, n_aus=3, channels=(8, 8), latent=8, hidden=16, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="c must have shape"):
        net(jnp.zeros((2, 1, 17), jnp.float32))


def test_losses_match_the_equations():
    rng = np.random.default_rng(0)
    c, ct = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    mask = np.ones((2, 5), bool)
    mask[1, 3:] = False
    want = np.mean(np.sum((c - ct) ** 2, -1)[mask])
    np.testing.assert_allclose(
        reconstruction_loss(jnp.asarray(c), jnp.asarray(ct), jnp.asarray(mask)), want
    )
    f = rng.normal(size=(2, 5, 4))  # 4 muscles, activations
    np.testing.assert_allclose(
        clean_loss(jnp.asarray(f), n_muscles=4), np.mean(np.abs(f).sum(-1)) / 4
    )
    d = np.sum(np.diff(f, axis=1) ** 2, -1).sum(-1) / 5  # eq. 16 per window
    np.testing.assert_allclose(smooth_loss(jnp.asarray(f)), np.mean(d), rtol=1e-12)
    # eq. 14: masked entries do not count
    logits = rng.normal(size=(2, 5, 3))
    y = (rng.random((2, 5, 3)) < 0.5).astype(np.int8)
    m = rng.random((2, 5, 3)) < 0.6
    p = 1 / (1 + np.exp(-logits))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(au_loss(jnp.asarray(logits), jnp.asarray(y), jnp.asarray(m)),
                               bce[m].mean(), rtol=1e-10)  # fmt: skip
    y9 = np.where(m, y, 9)  # 9s in masked entries are ignored
    np.testing.assert_allclose(au_loss(jnp.asarray(logits), jnp.asarray(y9), jnp.asarray(m)),
                               bce[m].mean(), rtol=1e-10)  # fmt: skip


def test_total_loss_weights(template):
    net = PhysicsAUNet(template, n_aus=12, channels=(8, 8), latent=8, hidden=16, rngs=nnx.Rngs(0))
    b = _batch()
    out = net(b["c"])
    total, terms = physics_loss(
        out, b, weights=LossWeights(reconstruction=2.0, au=3.0, clean=0.5, smooth=0.25)
    )
    want = 2 * terms["l3d"] + 3 * terms["lau"] + 0.5 * terms["lclean"] + 0.25 * terms["lsmooth"]
    np.testing.assert_allclose(total, want, rtol=1e-6)


def test_balanced_reconstruction_has_the_au_losss_size_and_the_log_gradient():
    """LossWeights(balance=True): value lambda * L_au, gradient lambda * L_au * grad log L_3d."""
    rng = np.random.default_rng(0)
    c = jnp.asarray(rng.normal(size=(2, 5, 3)))
    labels = jnp.asarray((rng.random((2, 5, 4)) < 0.4).astype(np.int8))
    batch = {"c": c, "c_mask": jnp.ones((2, 5), bool), "labels": labels,
             "label_mask": jnp.ones((2, 5, 4), bool)}  # fmt: skip
    logits = jnp.asarray(rng.normal(size=(2, 5, 4)))
    forces = jnp.zeros((2, 5, 3))
    w = LossWeights(reconstruction=0.5, au=1.0, clean=0.0, smooth=0.0, balance=True)

    def total(c_tilde):
        out = {"logits": logits, "forces": forces, "c_tilde": c_tilde}
        return physics_loss(out, batch, weights=w)[0]

    with jax.enable_x64(True):
        c_tilde = c + jnp.asarray(rng.normal(size=(2, 5, 3)))
        l3d = reconstruction_loss(c, c_tilde, batch["c_mask"])
        lau = au_loss(logits, labels, batch["label_mask"])
        np.testing.assert_allclose(total(c_tilde), 1.5 * lau, rtol=1e-12)
        grad_log = jax.grad(lambda x: jnp.log(reconstruction_loss(c, x, batch["c_mask"])))(c_tilde)
        np.testing.assert_allclose(jax.grad(total)(c_tilde), 0.5 * lau * grad_log, rtol=1e-10)
        # scaling the reconstruction error leaves the term's size unchanged
        far = c + 10.0 * (c_tilde - c)
        assert reconstruction_loss(c, far, batch["c_mask"]) > 99 * l3d
        np.testing.assert_allclose(total(far), 1.5 * lau, rtol=1e-12)


def test_force_and_mass_sources(template):
    b = _batch()
    m = template.n_muscles
    a_inv = jnp.asarray(np.random.default_rng(3).uniform(0, 2, (2, 6, m)), jnp.float32)
    kw = dict(n_aus=12, channels=(8, 8), latent=8, hidden=16, force_mode="activations",
              dynamics="galerkin", solver="exact")  # fmt: skip
    # the inversion as the force layer: the forces are a_inv, no force regressor; template mass
    net = PhysicsAUNet(template, force_source="inversion", mass_source="template", head_norm=True,
                       rngs=nnx.Rngs(0), **kw)  # fmt: skip
    assert net.force_head is None and net.mass_head is None
    out = net(b["c"], None, a_inv)
    np.testing.assert_array_equal(out["forces"], a_inv)
    np.testing.assert_allclose(out["mass"][1], np.asarray(template.reduced.mass, np.float32))
    # the decoder is driven by g a_inv: it matches the exact propagator on that force
    from aujax.physics import ReducedModel, simulate_reduced_exact

    red = template.reduced
    model = ReducedModel(mass=red.mass, stiffness=red.stiffness, damping=red.damping,
                         form="galerkin")  # fmt: skip
    q = jnp.einsum("km,tm->tk", red.force_map, a_inv[0])
    cdot0 = initial_velocity(b["c"][0], dt=net.dt)
    ref = simulate_reduced_exact(model, b["c"][0, 0], cdot0, q, dt=net.dt)[0]
    np.testing.assert_allclose(out["c_tilde"][0], ref, rtol=1e-4, atol=1e-4)
    # fed to the regressor: the forces depend on a_inv
    fed = PhysicsAUNet(template, force_source="both", rngs=nnx.Rngs(0), **kw)
    f1 = fed(b["c"], None, a_inv)["forces"]
    f2 = fed(b["c"], None, 2.0 * a_inv)["forces"]
    assert float(jnp.max(jnp.abs(f1 - f2))) > 0
    with pytest.raises(ValueError, match="a_inv must have shape"):
        fed(b["c"])
    with pytest.raises(ValueError, match="force_mode='activations'"):
        PhysicsAUNet(template, n_aus=3, force_source="both", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="mass_source"):
        PhysicsAUNet(template, n_aus=3, mass_source="learned", rngs=nnx.Rngs(0))


def test_head_norm_makes_the_au_head_blind_to_a_feature_groups_scale(template):
    b = _batch()
    kw = dict(n_aus=12, features=("position",), channels=(8, 8), latent=8, hidden=16)
    net = PhysicsAUNet(template, head_norm=True, rngs=nnx.Rngs(0), **kw)
    shift = b["c"].mean(axis=-1, keepdims=True)
    a = net(b["c"])["logits"]
    z = net(3.0 * (b["c"] - shift) + shift)["logits"]  # same pattern across coefficients, scaled
    np.testing.assert_allclose(a, z, rtol=1e-3, atol=1e-3)
    plain = PhysicsAUNet(template, head_norm=False, rngs=nnx.Rngs(0), **kw)
    assert float(jnp.max(jnp.abs(plain(b["c"])["logits"] - plain(3.0 * b["c"])["logits"]))) > 1e-3
