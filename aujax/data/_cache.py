"""Where experiments find their data: a given copy (real or synthetic) or the synthetic default,
generated once into the cache directory (DESIGN §6).
"""

import json
import os
import pathlib
import time


__all__ = ["DATASET_ENV", "cache_root", "dataset_root"]

DATASET_ENV = {"bp4d": "AUJAX_BP4D_DIR", "disfa": "AUJAX_DISFA_DIR"}


def cache_root(cache_dir: str = "") -> pathlib.Path:
    """The cache directory: ``cache_dir``, else ``$AUJAX_CACHE``, else ``~/.cache/aujax``."""
    d = cache_dir or os.environ.get("AUJAX_CACHE") or "~/.cache/aujax"
    return pathlib.Path(d).expanduser()


def dataset_root(
    kind: str,
    *,
    given: str,
    preset: str,
    seed: int,
    cache: pathlib.Path,
    image_size: int | None = None,
    log=print,
) -> tuple[pathlib.Path, bool]:
    """The dataset copy an experiment reads, and whether it is synthetic.

    Args:
        kind: ``"bp4d"`` or ``"disfa"``.
        given: a copy's directory from the config ("" : ``$AUJAX_BP4D_DIR`` /
            ``$AUJAX_DISFA_DIR``, else the synthetic default).
        preset: the synthetic preset generated when no copy is given.
        seed: the generator's seed.
        cache: the cache directory (:func:`cache_root`); the synthetic copy lives in
            ``datasets/{kind}_synthetic_{preset}_{S}px_seed{seed}`` and is generated once (a
            ``synthetic/COMPLETE`` marker is written last, so an interrupted generation reruns).
        image_size: the crop side S the synthetic copy is rendered at (None: the preset's
            default, :data:`DEFAULT_IMAGE_SIZE`).
        log: progress lines.

    Raises:
        ValueError: a given path that is not a directory, or an unknown kind.
    """
    if kind not in DATASET_ENV:
        raise ValueError(f"kind must be one of {tuple(DATASET_ENV)}, got {kind!r}.")
    env = DATASET_ENV[kind]
    given = given or os.environ.get(env)
    if given:
        path = pathlib.Path(given).expanduser()
        if not path.is_dir():
            raise ValueError(f"data.{kind}_dir: {path} is not a directory.")
        return path, (path / "synthetic").is_dir()
    from ._synthetic import DEFAULT_IMAGE_SIZE

    size = int(image_size or DEFAULT_IMAGE_SIZE[preset])
    path = cache / "datasets" / f"{kind}_synthetic_{preset}_{size}px_seed{seed}"
    done = path / "synthetic" / "COMPLETE"
    if done.exists():
        log(f"No {kind.upper()} copy given: using the cached synthetic dataset {path}.")
        return path, True
    log(
        f"No {kind.upper()} copy given (data.{kind}_dir or ${env}): generating the synthetic "
        f"{kind.upper()}-like '{preset}' dataset once into {path}."
    )
    from ._synthetic import generate_bp4d
    from ._synthetic_disfa import generate_disfa

    gen = generate_bp4d if kind == "bp4d" else generate_disfa
    t0 = time.perf_counter()
    summary = gen(path, size=preset, seed=seed, image_size=size, progress=None)
    done.write_text(json.dumps(summary))
    log(f"  {summary['frames']} frames in {time.perf_counter() - t0:.0f} s.")
    return path, True
