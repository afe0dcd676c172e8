"""Per-frame tables: a dataset copy read through its TFDS builder into numpy arrays, and the grain
source that serves chosen rows of it (DESIGN §6.3).

An experiment reads a BP4D or DISFA copy (real or synthetic) through the TFDS builder
(:func:`aujax.datasets.build_bp4d_tfds`, array_record, no TensorFlow) and holds every frame in
one :class:`FrameTable` of numpy arrays (labels, masks, landmarks, crops). Methods add derived
per-frame arrays to it (the top-down engine's blendshape coefficients ``c``, see
:func:`aujax.methods.topdown.prepared_table`) and train from windows of T consecutive frames or
single frames (or blocks of frames) served to grain by :class:`TableSource`.
"""

import dataclasses
import hashlib
import pathlib

import numpy as np

from ._folds import BP4D_AUS, BP4D_PARTS, DISFA_AUS, NOT_CODED
from ._tfds_bp4d import BP4D_SPLITS, bp4d_data_source, build_bp4d_tfds
from ._tfds_disfa import DISFA_SPLITS, build_disfa_tfds, disfa_data_source


__all__ = [
    "FrameTable",
    "TableSource",
    "flatten_blocks",
    "load_bp4d_table",
    "load_disfa_table",
    "nominal_intrinsics",
    "synthetic_intrinsics",
    "table_fingerprint",
]


@dataclasses.dataclass
class FrameTable:
    """Every frame of a dataset as parallel numpy arrays (N frames, sorted by subject, task, frame).

    Attributes:
        subject, task: (N,) str.
        frame: (N,) int64 frame numbers.
        labels: (N, R) int8 occurrence 0/1/9.
        label_mask: (N, R) bool, the label is usable (not 9, not occluded).
        landmarks: (N, k, 2) float32 pixels, NaN where missing.
        landmark_mask: (N,) bool.
        images: (N, S, S, 3) uint8 crops, or None.
        aus: AU numbers of the label columns.
        c: (N, K) float32 reconstructed blendshape coefficients (after
            :func:`reconstruct_coefficients`), else None.
        c_mask: (N,) bool, the reconstruction is valid.
    """

    subject: np.ndarray
    task: np.ndarray
    frame: np.ndarray
    labels: np.ndarray
    label_mask: np.ndarray
    landmarks: np.ndarray
    landmark_mask: np.ndarray
    images: np.ndarray | None
    aus: tuple[int, ...]
    c: np.ndarray | None = None
    c_mask: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def rows(self, subjects) -> np.ndarray:
        """Row indices of the given subjects' frames."""
        return np.flatnonzero(np.isin(self.subject, np.asarray(sorted(subjects))))

    def sequences(self) -> list[tuple[str, str, np.ndarray]]:
        """``(subject, task, rows)`` of each sequence, rows in frame order."""
        key = np.char.add(np.char.add(self.subject.astype(str), "_"), self.task.astype(str))
        out = []
        for k in dict.fromkeys(key.tolist()):
            rows = np.flatnonzero(key == k)
            rows = rows[np.argsort(self.frame[rows], kind="stable")]
            s, t = k.split("_", 1)
            out.append((s, t, rows))
        return out


def _quiet_tfds() -> None:
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()


def load_bp4d_table(manual_dir, data_dir, *, image_size: int | None = 64) -> FrameTable:
    """Builds (once) the BP4D TFDS dataset of ``manual_dir`` and reads every frame into a table.

    Args:
        manual_dir: the BP4D copy (real or synthetic layout).
        data_dir: the TFDS data directory (prepared files are reused).
        image_size: 64 or 128 (crops) or None (no images).

    Returns:
        :class:`FrameTable` over the parts present.
    """
    config = {None: "nocrops", 64: "crops64", 128: "crops128"}.get(image_size)
    if config is None:
        raise ValueError(f"image_size must be 64, 128 or None, got {image_size!r}.")
    _quiet_tfds()
    build_bp4d_tfds(manual_dir, data_dir, config=config)
    present = {s for part in BP4D_PARTS for s in part}
    cols = {k: [] for k in ("subject", "task", "frame", "occurrence", "occurrence_mask",
                            "landmarks", "landmark_mask", "image")}  # fmt: skip
    for split in BP4D_SPLITS:
        try:
            src = bp4d_data_source(data_dir, split, config=config)
        except (KeyError, ValueError) as e:  # a part without sequences has no split
            if "split" in str(e).lower() or "unknown" in str(e).lower():
                continue
            raise
        n = len(src)
        for start in range(0, n, 2048):
            recs = src.__getitems__(list(range(start, min(n, start + 2048))))
            for r in recs:
                for k in cols:
                    if k == "image" and image_size is None:
                        continue
                    v = r[k]
                    cols[k].append(v.decode() if isinstance(v, bytes) else v)
    if not cols["frame"]:
        raise ValueError(f"manual_dir: no frames read from {manual_dir}.")
    subject, task = np.asarray(cols["subject"]), np.asarray(cols["task"])
    frame = np.asarray(cols["frame"], np.int64)
    order = np.lexsort((frame, task, subject))
    unknown = sorted(set(subject.tolist()) - present)
    if unknown:
        raise ValueError(f"manual_dir: subjects {unknown} are in no BP4D part.")
    return FrameTable(
        subject=subject[order],
        task=task[order],
        frame=frame[order],
        labels=np.stack(cols["occurrence"])[order].astype(np.int8),
        label_mask=np.stack(cols["occurrence_mask"])[order].astype(bool),
        landmarks=np.stack(cols["landmarks"])[order].astype(np.float32),
        landmark_mask=np.asarray(cols["landmark_mask"], bool)[order],
        images=None if image_size is None else np.stack(cols["image"])[order],
        aus=tuple(BP4D_AUS),
    )


def load_disfa_table(manual_dir, data_dir, *, aus=None, image_size: int | None = 64) -> FrameTable:
    """A DISFA copy as a :class:`FrameTable` whose label columns are the AUs ``aus``.

    Occurrence is DISFA's intensity >= 2 (REFERENCE §3.1). Columns of ``aus`` that DISFA does not
    code are 9 (not coded) and masked, so a model trained on BP4D's AUs can be evaluated on the
    shared ones (table 5).

    Args:
        manual_dir: the DISFA copy (real or synthetic layout).
        data_dir: the TFDS data directory.
        aus: label columns (default: the 12 BP4D AUs).
        image_size: 64, 128 or None.
    """
    aus = tuple(BP4D_AUS if aus is None else aus)
    config = {None: "nocrops", 64: "crops64", 128: "crops128"}.get(image_size)
    if config is None:
        raise ValueError(f"image_size must be 64, 128 or None, got {image_size!r}.")
    _quiet_tfds()
    build_disfa_tfds(manual_dir, data_dir, config=config)
    col = {au: i for i, au in enumerate(DISFA_AUS)}
    recs = []
    for split in DISFA_SPLITS:
        try:
            src = disfa_data_source(data_dir, split, config=config)
        except (KeyError, ValueError) as e:
            if "split" in str(e).lower() or "unknown" in str(e).lower():
                continue
            raise
        n = len(src)
        for start in range(0, n, 2048):
            recs.extend(src.__getitems__(list(range(start, min(n, start + 2048)))))
    if not recs:
        raise ValueError(f"manual_dir: no frames read from {manual_dir}.")
    txt = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
    subject = np.asarray([txt(r["subject"]) for r in recs])
    task = np.asarray([txt(r["task"]) for r in recs])
    frame = np.asarray([int(r["frame"]) for r in recs], np.int64)
    occ = np.stack([r["occurrence"] for r in recs])
    labels = np.full((len(recs), len(aus)), NOT_CODED, np.int8)
    for j, au in enumerate(aus):
        if au in col:
            labels[:, j] = occ[:, col[au]]
    order = np.lexsort((frame, task, subject))
    return FrameTable(
        subject=subject[order],
        task=task[order],
        frame=frame[order],
        labels=labels[order],
        label_mask=(labels != NOT_CODED)[order],
        landmarks=np.stack([r["landmarks"] for r in recs])[order].astype(np.float32),
        landmark_mask=np.asarray([bool(r["landmark_mask"]) for r in recs])[order],
        images=None if image_size is None else np.stack([r["image"] for r in recs])[order],
        aus=aus,
    )


def synthetic_intrinsics(manual_dir) -> np.ndarray | None:
    """The virtual camera's (3, 3) intrinsics of a synthetic copy (None for a real one).

    The generator stores them in ``synthetic/{subj}_{task}.npz``; all sequences share one camera.
    """
    gt = pathlib.Path(manual_dir) / "synthetic"
    files = [f for f in sorted(gt.glob("*.npz")) if f.name != "blendshape_model.npz"]
    files = files if gt.is_dir() else []
    if not files:
        return None
    with np.load(files[0]) as z:
        return np.asarray(z["intrinsics"], np.float64)


def nominal_intrinsics(frame_size=(1040, 1392), *, fov_deg: float = 30.0) -> np.ndarray:
    """A nominal pinhole camera for a real copy whose calibration is unknown (BP4D 1040 x 1392)."""
    h, w = frame_size
    f = 0.5 * h / np.tan(np.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])


def table_fingerprint(table: FrameTable) -> str:
    """A short hash of the table's keys and landmarks (cache key of derived arrays)."""
    h = hashlib.sha256()
    for a in (table.subject.astype(str), table.task.astype(str), table.frame, table.landmarks):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


class TableSource:
    """grain random-access source of per-frame dicts over chosen rows of a :class:`FrameTable`.

    Records hold ``subject``, ``task``, ``frame`` (for :func:`aujax.datasets.window_index`), the fields
    named in ``fields`` and ``row`` (the table row). ``label_fraction`` < 1 keeps each
    (frame, AU) label with that probability (a deterministic draw from ``seed``) and masks the
    rest (table 4); the reconstruction targets are not affected.

    With ``block``, a record is a block of ``block`` frames instead of one: grain's per-record cost
    (~0.5-2 ms) dominates a small model's step when every frame is a record. ``rows`` are then
    permuted once (``seed``) and cut into blocks (the last one completed with the first rows of
    the permutation); a record stacks its block's fields, shape ``(block, ...)`` (fancy indexing,
    no Python loop over frames). A loader of ``batch_size // block`` records per batch gives
    ``(b, block, ...)`` arrays, which :func:`flatten_blocks` reshapes to ``(b * block, ...)``;
    grain reshuffles the blocks every epoch, which frames share a block is fixed by ``seed``.

    Args:
        table: the frames.
        rows: table rows served.
        fields: ``"labels"`` (gives ``labels`` and ``label_mask``), ``"c"`` (``c`` and
            ``c_mask``), ``"image"`` or a key of ``extra``.
        extra: per-table-row arrays (N, ...) for other fields.
        label_fraction: fraction of the (frame, AU) labels kept.
        seed: the label draw's seed (and the block permutation's).
        block: frames per record; None: one frame per record.
        keys: include ``subject``, ``task``, ``frame`` and ``row``; False leaves them out (a
            consumer that needs neither windows nor rows).
    """

    def __init__(
        self,
        table: FrameTable,
        rows,
        *,
        fields,
        extra=None,
        label_fraction=1.0,
        seed=0,
        block: int | None = None,
        keys: bool = True,
    ):
        self.table, self.rows = table, np.asarray(rows, np.int64)
        self.fields = tuple(fields)
        self.extra = {} if extra is None else dict(extra)
        for f in self.fields:
            if f not in ("labels", "c", "image") and f not in self.extra:
                raise ValueError(f"fields: {f!r} is not 'labels', 'c', 'image' or a key of extra.")
        self.label_fraction = float(label_fraction)
        self.block, self.keys = block, bool(keys)
        mask = table.label_mask[self.rows]
        if self.label_fraction < 1.0:
            keep = np.random.default_rng(seed).random(mask.shape) < self.label_fraction
            mask = mask & keep
        self.label_mask = mask
        self._repr = (
            f"TableSource(n={self.rows.size}, fields={self.fields}, "
            f"fraction={self.label_fraction}, seed={seed}, rows={_hash(self.rows)}"
        )
        self.blocks = None  # (n_blocks, block) positions into rows, or None
        if block is not None:
            if isinstance(block, bool) or not isinstance(block, int) or block < 1:
                raise ValueError(f"block must be an int >= 1, got {block!r}.")
            if self.rows.size == 0:
                raise ValueError("rows: no frames to serve.")
            perm = np.random.default_rng(seed).permutation(self.rows.size)
            n_blocks = -(-self.rows.size // block)
            self.blocks = np.resize(perm, n_blocks * block).reshape(n_blocks, block)
            self._repr += f", block={block}"
        if not self.keys:
            self._repr += ", keys=False"
        self._repr += ")"

    def __len__(self) -> int:
        return int(self.rows.size if self.blocks is None else self.blocks.shape[0])

    def __getitem__(self, i):
        # p: position(s) into rows (an int, or a block's (block,) array); r: the table row(s).
        p = int(i) if self.blocks is None else self.blocks[int(i)]
        r = int(self.rows[p]) if self.blocks is None else self.rows[p]
        t = self.table
        out = {}
        if self.keys:
            out = {"subject": t.subject[r], "task": t.task[r], "frame": t.frame[r],
                   "row": np.int64(r) if self.blocks is None else r}  # fmt: skip
        for f in self.fields:
            if f == "labels":
                out["labels"] = t.labels[r]
                out["label_mask"] = self.label_mask[p]
            elif f == "c":
                out["c"], out["c_mask"] = t.c[r], t.c_mask[r]
            elif f == "image":
                out["image"] = t.images[r]
            else:
                out[f] = self.extra[f][r]
        return out

    def __repr__(self) -> str:
        return self._repr


def flatten_blocks(batch: dict) -> dict:
    """``(b, block, ...)`` arrays of a block :class:`TableSource` loader -> ``(b * block, ...)``."""
    return {k: v.reshape(-1, *v.shape[2:]) for k, v in batch.items()}


def _hash(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]
