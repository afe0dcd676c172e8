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
import pathlib
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ...data import frame_loader, window_index, window_loader
from ...nn import ResNet
from ...train import (
    Checkpoints,
    MetricsLog,
    create_train_state,
    make_train_step,
    model_of,
    train_loop,
)
from ._frames import FrameTable, TableSource
from ._losses import LossWeights, au_loss, physics_loss
from ._network import PhysicsAUNet
from ._template import PhysicsTemplate


__all__ = [
    "PhysicsSpec",
    "build_image_net",
    "build_physics_net",
    "covering_windows",
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
    """

    features: tuple[str, ...]
    reconstruction: float = 1.0
    force_mode: str = "vectors"
    dynamics: str = "paper"
    label_fraction: float = 1.0
    solver: str | None = None


def _tx(steps: int, lr: float, warmup: int) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, lr, warmup_steps=min(warmup, max(steps - 1, 1)), decay_steps=max(steps, 2)
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=1e-4))


def _fit(run_dir, cfg, state, loss_fn, loader, prepare, *, steps, mesh, progress, restore):
    """Trains through the shared loop (resuming from ``run_dir``), or restores a checkpoint."""
    with Checkpoints(run_dir / "checkpoints", every=cfg.train.checkpoint_every) as ck:
        if restore is not None:
            return ck.restore(state, step=restore).state
        return train_loop(
            state, make_train_step(loss_fn, mesh=mesh), loader, num_steps=steps, mesh=mesh,
            checkpoints=ck, log=MetricsLog(run_dir / "metrics.jsonl"),
            log_every=cfg.train.log_every, prepare=prepare, progress=progress,
        )  # fmt: skip


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


def _images(x) -> jax.Array:
    return jnp.asarray(x, jnp.float32) / 255.0 - 0.5


def _loader_seed(seed: int, name: str) -> int:
    """A per-run shuffling seed: the run seed mixed with the run's name."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**31


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
):
    """Trains (or resumes) a physics-branch model on ``rows``, or restores one of its checkpoints.

    Args:
        restore: None trains (resuming from the newest checkpoint); ``"latest"`` or a step number
            restores that checkpoint without training (evaluation by restore).

    Returns:
        The :class:`aujax.train.TrainState`.
    """
    run_dir = pathlib.Path(run_dir)
    extra = {} if z2d is None else {"z2d": z2d}
    if "image" in spec.features and z2d is None:
        raise ValueError("spec.features include 'image': z2d (the image features) is required.")
    fields = ("labels", "c") + (("z2d",) if "image" in spec.features else ())
    source = TableSource(table, rows, fields=fields, extra=extra,
                         label_fraction=spec.label_fraction, seed=seed)  # fmt: skip
    index = window_index(source, window=cfg.model.window, stride=1)
    loader = window_loader(
        source, window=cfg.model.window, batch_size=cfg.train.batch_size, index=index,
        seed=_loader_seed(seed, run_dir.name), num_epochs=None,
    )  # fmt: skip
    net = build_physics_net(template, cfg, spec, n_aus=table.labels.shape[1],
                            image_features=0 if z2d is None else z2d.shape[1], seed=seed)  # fmt: skip
    tx = _tx(cfg.train.steps, cfg.train.lr, cfg.train.warmup)
    state = create_train_state(net, tx, key=jax.random.key(seed))
    weights = LossWeights(reconstruction=spec.reconstruction, au=cfg.loss.au,
                          clean=cfg.loss.clean, smooth=cfg.loss.smooth)  # fmt: skip

    def loss_fn(model, batch, *, key):
        del key
        out = model(batch["c"], batch.get("z2d"))
        return physics_loss(out, batch, weights=weights)

    def prepare(batch):
        keep = ("c", "c_mask", "labels", "label_mask") + (("z2d",) if "z2d" in fields else ())
        return {k: batch[k] for k in keep}

    return _fit(run_dir, cfg, state, loss_fn, loader, prepare, steps=cfg.train.steps, mesh=mesh,
                progress=progress, restore=restore)  # fmt: skip


def train_image(
    run_dir, *, cfg, table: FrameTable, rows, mesh, seed: int, progress=True, restore=None
):
    """Trains (or resumes) the image branch on single frames of ``rows`` (masked BCE, eq. 14).

    ``restore`` as in :func:`train_physics`.
    """
    run_dir = pathlib.Path(run_dir)
    source = TableSource(table, rows, fields=("labels", "image"), seed=seed)
    loader = frame_loader(source, batch_size=cfg.image.batch_size,
                          seed=_loader_seed(seed, run_dir.name), num_epochs=None)  # fmt: skip
    net = build_image_net(cfg, n_aus=table.labels.shape[1], seed=seed)
    tx = _tx(cfg.image.steps, cfg.image.lr, cfg.train.warmup)
    state = create_train_state(net, tx, key=jax.random.key(seed))

    def loss_fn(model, batch, *, key):
        del key
        model.train()
        _, logits = model(_images(batch["image"]))
        loss = au_loss(logits, batch["labels"], batch["label_mask"])
        return loss, {"lau": loss}

    def prepare(batch):
        return {k: batch[k] for k in ("image", "labels", "label_mask")}

    return _fit(run_dir, cfg, state, loss_fn, loader, prepare, steps=cfg.image.steps, mesh=mesh,
                progress=progress, restore=restore)  # fmt: skip


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


def _batched(fn, arrays: dict, batch: int):
    """Runs ``fn`` over fixed-size batches (the last one padded: one compiled shape)."""
    n = next(iter(arrays.values())).shape[0]
    outs = []
    for s in range(0, n, batch):
        part = {k: v[s : s + batch] for k, v in arrays.items()}
        m = next(iter(part.values())).shape[0]
        if m < batch:
            part = {
                k: np.concatenate([v, np.repeat(v[-1:], batch - m, 0)]) for k, v in part.items()
            }
        out = jax.device_get(fn(part))
        outs.append(jax.tree.map(lambda x, m=m: np.asarray(x)[:m], out))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *outs)


def predict_physics(state, *, cfg, table: FrameTable, rows, z2d=None, batch: int = 32):
    """Per-frame AU probabilities, forces, masses and reconstructions of a physics model.

    Returns:
        dict with ``rows`` (covered table rows), ``prob`` (n, R), ``forces`` (n, M[, 3]),
        ``c_tilde`` (n, K), ``mass_trace`` (n,).
    """
    wins, owner = covering_windows(table, np.asarray(rows), cfg.model.window)
    model = model_of(state)
    model.eval()
    graphdef, st = nnx.split(model)

    @jax.jit
    def run(b):
        m = nnx.merge(graphdef, st, copy=True)
        out = m(b["c"], b.get("z2d"))
        return {
            "prob": jax.nn.sigmoid(out["logits"]),
            "forces": out["forces"],
            "c_tilde": out["c_tilde"],
            "mass_trace": jnp.broadcast_to(
                jnp.trace(out["mass"], axis1=-2, axis2=-1)[:, None], out["logits"].shape[:2]
            ),
        }

    arrays = {"c": table.c[wins]}
    if "image" in model.features:
        arrays["z2d"] = z2d[wins]
    out = _batched(run, arrays, batch)
    sel = owner.reshape(-1)
    flat = {k: v.reshape(-1, *v.shape[2:])[sel] for k, v in out.items()}
    order = np.argsort(wins.reshape(-1)[sel], kind="stable")
    return {"rows": wins.reshape(-1)[sel][order], **{k: v[order] for k, v in flat.items()}}


def predict_image(state, *, table: FrameTable, rows, batch: int = 128):
    """Per-frame AU probabilities and pooled features (z2d, eq. 11) of the image branch."""
    model = model_of(state)
    model.eval()
    graphdef, st = nnx.split(model)

    @jax.jit
    def run(b):
        m = nnx.merge(graphdef, st, copy=True)
        feats, logits = m(_images(b["image"]))
        return {"prob": jax.nn.sigmoid(logits), "z2d": feats}

    rows = np.asarray(rows)
    out = _batched(run, {"image": table.images[rows]}, batch)
    return {"rows": rows, **out}
