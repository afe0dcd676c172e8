"""The synthetic default: the dataset an experiment reads when no copy is given, generated once
into the cache directory (DESIGN §6.1)."""

import contextlib
import hashlib
import json
import pathlib
import shutil
import time

from ..datasets import DATASET_ENV, given_copy
from ._bosphorus import generate_bosphorus
from ._bp4d import generate_bp4d
from ._crops import DEFAULT_IMAGE_SIZE
from ._disfa import generate_disfa
from ._presets import get_preset


__all__ = ["TEMPLATE_TAG", "dataset_root"]

#: The generation of the synthetic world, part of the cached copy's directory name (and of the
#: top-down coefficient cache key): ``_cal1`` since issue 16 moved the world onto the face
#: calibrated to human proportions (:func:`aujax.face.make_face`'s default); ``r1`` since issue 17
#: made the muscle activity realistic (the presets' :class:`aujax.synth.MuscleRealism`:
#: asymmetric and unilateral actions, subject synergies, co-contraction, slower activation
#: dynamics with an electromechanical delay). Copies of older generations (no tag, ``_cal1``) are
#: never reused.
TEMPLATE_TAG = "_cal1r1"


def dataset_root(
    kind: str,
    *,
    given: str,
    preset: str,
    seed: int,
    cache: pathlib.Path,
    image_size: int | None = None,
    n_frames: int | None = None,
    n_vertices: int | None = None,
    subjects=None,
    log=print,
) -> tuple[pathlib.Path, bool]:
    """The dataset copy an experiment reads, and whether it is synthetic.

    Args:
        kind: ``"bp4d"``, ``"disfa"`` or ``"bosphorus"``.
        given: a copy's directory from the config ("" : ``$AUJAX_BP4D_DIR`` /
            ``$AUJAX_DISFA_DIR`` / ``$AUJAX_BOSPHORUS_DIR``, else the synthetic default).
        preset: the synthetic preset generated when no copy is given (Bosphorus: ``"sdm"`` for
            seed 004, or the AU presets ``"tiny"`` / ``"small"`` / ``"full"``).
        seed: the generator's seed.
        cache: the cache directory (:func:`cache_root`); the synthetic copy lives in
            ``datasets/{kind}_synthetic_{preset}_{S}px_seed{seed}{TEMPLATE_TAG}`` and is generated
            once (a ``synthetic/COMPLETE`` marker is written last, so an interrupted generation
            reruns).
        image_size: the crop side S the synthetic copy is rendered at (None: the preset's
            default, :data:`DEFAULT_IMAGE_SIZE`; Bosphorus: the preset's capture size).
        n_frames, n_vertices, subjects: BP4D / DISFA only: frames per sequence, the template's
            resolution and a subset of the preset's subjects, passed to the generator. Given
            ``n_vertices``, the name gains ``_{n_frames or 'all'}f_{n_vertices}v`` after the
            preset; given ``subjects``, it ends in a hash of them.
        log: progress lines.

    Raises:
        ValueError: a given path that is not a directory, or an unknown kind.
    """
    path = given_copy(kind, given)
    if path is not None:
        return path, (path / "synthetic").is_dir()
    env = DATASET_ENV[kind]
    if kind == "bosphorus":
        size = int(image_size or get_preset("bosphorus", preset).capture.image_size[0])
    else:
        size = int(image_size or DEFAULT_IMAGE_SIZE[preset])
    extra = {"n_frames": n_frames, "n_vertices": n_vertices, "subjects": subjects}
    extra = {k: v for k, v in extra.items() if v is not None}
    if extra and kind == "bosphorus":
        raise ValueError(
            f"n_frames, n_vertices and subjects are BP4D / DISFA options, got {extra}."
        )
    shape = f"_{n_frames or 'all'}f_{int(n_vertices)}v" if n_vertices is not None else ""
    name = f"{kind}_synthetic_{preset}{shape}_{size}px_seed{seed}{TEMPLATE_TAG}"
    if subjects is not None:
        key = hashlib.sha1(json.dumps(list(subjects), sort_keys=True).encode()).hexdigest()[:10]
        name += f"_{key}"
    path = cache / "datasets" / name
    with _generation_lock(path):  # two processes (xdist workers, runs) generate a copy once
        return _generate_once(kind, path, preset=preset, seed=seed, size=size, extra=extra,
                              env=env, log=log)  # fmt: skip


@contextlib.contextmanager
def _generation_lock(path: pathlib.Path):
    """An exclusive ``flock`` on ``{path}.lock`` while a copy is checked and generated (a no-op
    where ``fcntl`` is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path.parent / f".{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _generate_once(kind, path, *, preset, seed, size, extra, env, log):
    done = path / "synthetic" / "COMPLETE"
    if done.exists():
        log(f"No {kind.upper()} copy given: using the cached synthetic dataset {path}.")
        return path, True
    log(
        f"No {kind.upper()} copy given (data.{kind}_dir or ${env}): generating the synthetic "
        f"{kind.upper()}-like '{preset}' dataset once into {path}."
    )
    if path.exists():  # an interrupted generation: start again
        shutil.rmtree(path)
    gen = {"bp4d": generate_bp4d, "disfa": generate_disfa, "bosphorus": generate_bosphorus}[kind]
    t0 = time.perf_counter()
    summary = gen(path, size=preset, seed=seed, image_size=size, progress=None, **extra)
    done.write_text(json.dumps(summary, default=str))
    log(f"  {summary['frames']} frames in {time.perf_counter() - t0:.0f} s.")
    return path, True
