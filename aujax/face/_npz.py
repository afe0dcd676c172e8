"""Reading the face models' ``.npz`` files: named arrays, no pickles, shapes checked.

One reader for :meth:`aujax.face.BilinearModel.load` and :meth:`aujax.face.MorphableModel.load`:
every error names the file and what was expected.
"""

from collections.abc import Iterable, Mapping

import numpy as np


def read_model_npz(
    path, kind: str, fields: Iterable[str], *, optional: Iterable[str] = ()
) -> dict[str, np.ndarray]:
    """The arrays ``fields`` (all required) and ``optional`` (those present) of an ``.npz`` file.

    Args:
        path: the file.
        kind: the model's name, for the error messages ("BilinearModel").
        fields: names that must be present.
        optional: names read when present.

    Raises:
        ValueError: naming the file, when it cannot be read as an ``.npz`` without pickles or
            misses a required array.
    """
    fields = tuple(fields)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a {kind} .npz file ({err})") from None
    with z:
        missing = sorted(set(fields) - set(z.files))
        if missing:
            raise ValueError(f"{path}: not a {kind} file, missing {missing}.")
        return {name: z[name] for name in (*fields, *optional) if name in z.files}


def check_shapes(
    path, arrays: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int | None, ...]]
) -> None:
    """Raises a ValueError naming ``path`` and the array when a shape differs from ``expected``
    (``None``: any size on that axis)."""
    for name, shape in expected.items():
        got = arrays[name].shape
        if len(got) != len(shape) or any(
            e is not None and e != g for e, g in zip(shape, got, strict=True)
        ):
            raise ValueError(f"{path}: {name} has shape {got}, expected {shape}.")
