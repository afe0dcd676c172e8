"""Training and prediction of one model of the physics experiment (a table row on one fold).

Both branches train through the one loop of :mod:`aujax.train` (resumable, data-parallel,
orbax checkpoints, ``metrics.jsonl``):

* :func:`train_physics` — :class:`PhysicsAUNet` on windows of T frames (eq. 17 loss);
* :func:`train_image` — the image branch, a ResNet with a linear AU head on single frames
  (eq. 11; trained on AU labels, then frozen to give z2d).

:func:`predict_physics` and :func:`predict_image` give per-frame AU probabilities (and forces /
features) of a trained state; evaluation by restore calls them on a restored checkpoint.
"""

import dataclasses
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ...datasets import FrameTable, TableSource, frame_loader, window_index, window_loader
from ...nn import ResNet
from ...train import (
    au_loss,
    create_train_state,
    crops_to_float,
    fit_or_restore,
    model_of,
    predict_in_batches,
    run_seed,
    table_f1,
    warmup_cosine_adamw,
)
from ._losses import LossWeights, physics_loss
from ._network import PhysicsAUNet
from ._template import PhysicsTemplate


__all__ = [
    "PhysicsSpec",
    "build_image_net",
    "build_physics_net",
    "covering_windows",
    "image_loss_fn",
    "physics_loss_fn",
    "predict_image",
    "predict_physics",
    "train_image",
    "train_physics",
]


@dataclasses.dataclass(frozen=True)
class PhysicsSpec:
    """What distinguishes the physics-branch models of the tables (one table cell's model).

    Attributes:
        features: inputs of the AU head (:data:`aujax.methods.physics.FEATURES`).
        reconstruction: lambda_3d (0: data-driven, no physics loss).
        force_mode, dynamics: see :class:`PhysicsAUNet`.
        label_fraction: fraction of (frame, AU) labels kept for L_au (table 4).
        solver: the ODE decoder's solver (None: ``cfg.model.solver``).
        force_source, mass_source: see :class:`PhysicsAUNet` (``force_source`` other than
            ``"network"`` needs the inversion's activations ``a_inv`` of every table row).
    """

    features: tuple[str, ...]
    reconstruction: float = 1.0
    force_mode: str = "vectors"
    dynamics: str = "paper"
    label_fraction: float = 1.0
    solver: str | None = None
    force_source: str = "network"
    mass_source: str = "network"


def build_physics_net(
    template: PhysicsTemplate, cfg, spec: PhysicsSpec, *, n_aus: int, image_features: int, seed: int
) -> PhysicsAUNet:
    """The network of one physics-branch model (deterministic from ``seed``)."""
    return PhysicsAUNet(
        template,
        n_aus=n_aus,
        features=spec.features,
        force_mode=spec.force_mode,
        dynamics=spec.dynamics,
        solver=spec.solver or cfg.model.solver,
        channels=tuple(cfg.model.channels),
        latent=cfg.model.latent,
        hidden=cfg.model.hidden,
        image_features=image_features if "image" in spec.features else 0,
        mass_floor=cfg.model.mass_floor,
        initial_velocity=cfg.model.initial_velocity,
        force_source=spec.force_source,
        mass_source=spec.mass_source,
        head_norm=bool(cfg.model.get("head_norm", False)),
        rngs=nnx.Rngs(seed),
    )


def build_image_net(cfg, *, n_aus: int, seed: int) -> ResNet:
    """The image branch: a ResNet (depth, width and stem from ``cfg.image``) with an AU head."""
    return ResNet(
        depth=cfg.image.depth,
        num_classes=n_aus,
        width=cfg.image.width,
        stem=cfg.image.stem,
        rngs=nnx.Rngs(seed),
    )


def physics_loss_fn(cfg, spec: PhysicsSpec):
    """``loss_fn(model, batch, *, key)`` of a physics-branch model: eq. 17 with the config's lambdas
    (``spec.reconstruction`` is lambda_3d)."""
    weights = LossWeights(reconstruction=spec.reconstruction, au=cfg.loss.au,
                          clean=cfg.loss.clean, smooth=cfg.loss.smooth,
                          balance=bool(cfg.loss.get("balance", False)))  # fmt: skip

    def loss_fn(model, batch, *, key):
        del key
        out = model(batch["c"], batch.get("z2d"), batch.get("a_inv"))
        return physics_loss(out, batch, weights=weights)

    return loss_fn


def image_loss_fn(model, batch, *, key):
    """The image branch's loss: masked BCE on AU labels (eq. 14), BatchNorm in training mode."""
    del key
    model.train()
    _, logits = model(crops_to_float(batch["image"]))
    loss = au_loss(logits, batch["labels"], batch["label_mask"])
    return loss, {"lau": loss}


def train_physics(
    run_dir,
    *,
    cfg,
    table: FrameTable,
    rows: np.ndarray,
    template: PhysicsTemplate,
    spec: PhysicsSpec,
    z2d: np.ndarray | None,
    mesh,
    seed: int,
    progress: str | bool = True,
    restore: int | str | None = None,
    val_rows: np.ndarray | None = None,
    a_inv: np.ndarray | None = None,
):
    """Trains (or resumes) a physics-branch model on ``rows``, or restores one of its checkpoints.

    Args:
        a_inv: (N, M) the physics inversion's activations of every table row (required when
            ``spec.force_source`` is not ``"network"``).
        restore: None trains (resuming from the newest checkpoint); ``"latest"``, ``"best"`` or a
            step number restores that checkpoint without training (evaluation by restore).
        val_rows: validation frames (held-out training subjects): their mean F1 is logged at
            every checkpoint (``eval/f1``) and the best checkpoint is kept; None: none.

    Returns:
        The :class:`aujax.train.TrainState`.
    """
    run_dir = pathlib.Path(run_dir)
    extra = {} if z2d is None else {"z2d": z2d}
    if "image" in spec.features and z2d is None:
        raise ValueError("spec.features include 'image': z2d (the image features) is required.")
    inverted = spec.force_source != "network"
    if inverted:
        if a_inv is None:
            raise ValueError(f"spec.force_source={spec.force_source!r}: a_inv (the inversion's "
                             "activations of every table row) is required.")  # fmt: skip
        extra["a_inv"] = a_inv
    fields = ("labels", "c") + (("z2d",) if "image" in spec.features else ())
    fields += ("a_inv",) if inverted else ()
    source = TableSource(table, rows, fields=fields, extra=extra,
                         label_fraction=spec.label_fraction, seed=seed)  # fmt: skip
    index = window_index(source, window=cfg.model.window, stride=1)
    loader = window_loader(
        source, window=cfg.model.window, batch_size=cfg.train.batch_size, index=index,
        seed=run_seed(seed, run_dir.name), num_epochs=None,
    )  # fmt: skip
    net = build_physics_net(template, cfg, spec, n_aus=table.labels.shape[1],
                            image_features=0 if z2d is None else z2d.shape[1], seed=seed)  # fmt: skip
    tx = warmup_cosine_adamw(cfg.train.steps, lr=cfg.train.lr, warmup=cfg.train.warmup)
    state = create_train_state(net, tx, key=jax.random.key(seed))
    loss_fn = physics_loss_fn(cfg, spec)

    def prepare(batch):
        keep = ("c", "c_mask", "labels", "label_mask") + tuple(
            k for k in ("z2d", "a_inv") if k in fields
        )
        return {k: batch[k] for k in keep}

    evaluate = _physics_validation(cfg, table, val_rows, z2d, spec.features,
                                   a_inv if inverted else None)  # fmt: skip
    return fit_or_restore(
        run_dir, state, loss_fn, loader, steps=cfg.train.steps, mesh=mesh, prepare=prepare,
        checkpoint_every=cfg.train.checkpoint_every, log_every=cfg.train.log_every,
        progress=progress, restore=restore, evaluate=evaluate,
    )  # fmt: skip


def train_image(
    run_dir, *, cfg, table: FrameTable, rows, mesh, seed: int, progress=True, restore=None,
    val_rows=None,
):  # fmt: skip
    """Trains (or resumes) the image branch on single frames of ``rows`` (masked BCE, eq. 14).

    ``restore`` and ``val_rows`` as in :func:`train_physics`.
    """
    run_dir = pathlib.Path(run_dir)
    source = TableSource(table, rows, fields=("labels", "image"), seed=seed)
    loader = frame_loader(source, batch_size=cfg.image.batch_size,
                          seed=run_seed(seed, run_dir.name), num_epochs=None)  # fmt: skip
    net = build_image_net(cfg, n_aus=table.labels.shape[1], seed=seed)
    tx = warmup_cosine_adamw(cfg.image.steps, lr=cfg.image.lr, warmup=cfg.train.warmup)
    state = create_train_state(net, tx, key=jax.random.key(seed))

    def prepare(batch):
        return {k: batch[k] for k in ("image", "labels", "label_mask")}

    return fit_or_restore(
        run_dir, state, image_loss_fn, loader, steps=cfg.image.steps, mesh=mesh, prepare=prepare,
        checkpoint_every=cfg.train.checkpoint_every, log_every=cfg.train.log_every,
        progress=progress, restore=restore, evaluate=_image_validation(table, val_rows),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# prediction


def covering_windows(
    table: FrameTable, rows: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``window`` consecutive frames covering every frame of ``rows``' sequences.

    Starts at 0, T, 2T, ... and a last window aligned to the sequence end; each frame takes its
    prediction from the first window holding it. Sequences shorter than T (or the frames of a
    run shorter than T) are not covered.

    Returns:
        ``(windows, owner)``: (n_windows, T) table rows, and (n_windows, T) bool, True where the
        window provides that frame's prediction.
    """
    source = TableSource(table, rows, fields=())
    index = window_index(source, window=window, stride=1)  # positions into rows
    wins, owner, seen = [], [], set()
    if index.size == 0:
        return np.zeros((0, window), np.int64), np.zeros((0, window), bool)
    keys = [(table.subject[rows[i[0]]], table.task[rows[i[0]]]) for i in index]
    by_seq: dict = {}
    for w, k in zip(index, keys, strict=True):
        by_seq.setdefault(k, []).append(w)
    for k in sorted(by_seq):
        ws = by_seq[k]
        picks = list(range(0, len(ws), window))
        if picks[-1] != len(ws) - 1:
            picks.append(len(ws) - 1)
        for p in picks:
            r = rows[ws[p]]
            own = np.array([x not in seen for x in r.tolist()])
            seen.update(r.tolist())
            wins.append(r)
            owner.append(own)
    return np.stack(wins), np.stack(owner)


@functools.partial(jax.jit, static_argnums=0)
def _physics_outputs(graphdef, st, b):
    m = nnx.merge(graphdef, st, copy=True)
    out = m(b["c"], b.get("z2d"), b.get("a_inv"))
    return {
        "prob": jax.nn.sigmoid(out["logits"]),
        "forces": out["forces"],
        "c_tilde": out["c_tilde"],
        "mass_trace": jnp.broadcast_to(
            jnp.trace(out["mass"], axis1=-2, axis2=-1)[:, None], out["logits"].shape[:2]
        ),
    }


@functools.partial(jax.jit, static_argnums=0)
def _image_outputs(graphdef, st, b):
    m = nnx.merge(graphdef, st, copy=True)
    feats, logits = m(crops_to_float(b["image"]))
    return {"prob": jax.nn.sigmoid(logits), "z2d": feats}


def _eval_split(state):
    """``(graphdef, arrays)`` of a state's model in eval mode (one compiled predictor per model)."""
    model = model_of(state)
    model.eval()
    return nnx.split(model)


def _physics_inputs(cfg, table: FrameTable, rows, z2d, features, a_inv=None):
    wins, owner = covering_windows(table, np.asarray(rows), cfg.model.window)
    arrays = {"c": table.c[wins]}
    if "image" in features:
        arrays["z2d"] = z2d[wins]
    if a_inv is not None:
        arrays["a_inv"] = np.asarray(a_inv[wins], np.float32)
    return wins, owner, arrays


def _physics_predict(state, wins, owner, arrays, batch):
    graphdef, st = _eval_split(state)
    out = predict_in_batches(functools.partial(_physics_outputs, graphdef, st), arrays, batch)
    sel = owner.reshape(-1)
    flat = {k: v.reshape(-1, *v.shape[2:])[sel] for k, v in out.items()}
    order = np.argsort(wins.reshape(-1)[sel], kind="stable")
    return {"rows": wins.reshape(-1)[sel][order], **{k: v[order] for k, v in flat.items()}}


def predict_physics(state, *, cfg, table: FrameTable, rows, z2d=None, a_inv=None,
                    batch: int = 32):  # fmt: skip
    """Per-frame AU probabilities, forces, masses and reconstructions of a physics model.

    ``a_inv``: (N, M) the inversion's activations of every table row, for a model whose
    ``force_source`` is not ``"network"`` (an error names it when missing).

    Returns:
        dict with ``rows`` (covered table rows), ``prob`` (n, R), ``forces`` (n, M[, 3]),
        ``c_tilde`` (n, K), ``mass_trace`` (n,).
    """
    net = model_of(state)
    if net.force_source == "network":
        a_inv = None
    elif a_inv is None:
        raise ValueError(f"the model's force_source is {net.force_source!r}: predict_physics needs "
                         "a_inv, the inversion's activations of every table row.")  # fmt: skip
    wins, owner, arrays = _physics_inputs(cfg, table, rows, z2d, net.features, a_inv)
    return _physics_predict(state, wins, owner, arrays, batch)


def predict_image(state, *, table: FrameTable, rows, batch: int = 128):
    """Per-frame AU probabilities and pooled features (z2d, eq. 11) of the image branch."""
    graphdef, st = _eval_split(state)
    rows = np.asarray(rows)
    out = predict_in_batches(functools.partial(_image_outputs, graphdef, st), {"image": table.images[rows]},
                   batch)  # fmt: skip
    return {"rows": rows, **out}


def _mean_f1(prob, table: FrameTable, rows) -> float:
    return float(np.mean(table_f1(prob, table, rows)))


def _physics_validation(cfg, table, rows, z2d, features, a_inv=None):
    """``evaluate(state) -> {"f1": ...}`` on the validation subjects' frames (None: no rows)."""
    if rows is None or len(rows) == 0:
        return None
    wins, owner, arrays = _physics_inputs(cfg, table, rows, z2d, features, a_inv)

    def evaluate(state):
        pred = _physics_predict(state, wins, owner, arrays, 32)
        return {"f1": _mean_f1(pred["prob"], table, pred["rows"])}

    return evaluate


def _image_validation(table, rows):
    if rows is None or len(rows) == 0:
        return None
    rows = np.asarray(rows)

    def evaluate(state):
        return {"f1": _mean_f1(predict_image(state, table=table, rows=rows)["prob"], table, rows)}

    return evaluate
