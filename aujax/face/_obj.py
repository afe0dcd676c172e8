"""Wavefront OBJ reading and writing for meshes and blendshape targets."""

from pathlib import Path

import numpy as np


def write_obj(path, vertices, triangles, *, comment: str | None = None) -> None:
    """Writes vertices (n, 3) and triangles (f, 3, 0-based) as an OBJ file (1-based indices)."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (n, 3), got {v.shape}")
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"triangles must have shape (f, 3), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= len(v)):
        raise ValueError(f"triangles index outside 0..{len(v) - 1}")
    lines = [f"# {comment}"] if comment else []
    lines += [f"v {a:.9g} {b:.9g} {c:.9g}" for a, b, c in v]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in t]
    Path(path).write_text("\n".join(lines) + "\n")


def read_obj(path) -> tuple[np.ndarray, np.ndarray]:
    """Reads an OBJ file's vertices and faces (polygons fan-triangulated).

    Accepts `v x y z [w]`, `f a b c ...` with `a`, `a/t`, `a//n`, `a/t/n` and negative (relative)
    indices; ignores other records.

    Returns:
      (vertices (n, 3) float64, triangles (f, 3) int64, 0-based).

    Raises:
      ValueError: naming the file and line for a malformed record or an out-of-range index.
    """
    verts, faces = [], []
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        parts = raw.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "v":
            try:
                xyz = [float(p) for p in parts[1:4]]
            except ValueError:
                raise ValueError(
                    f"{path}:{lineno}: expected 'v x y z' with numbers, got {raw!r}"
                ) from None
            if len(xyz) != 3:
                raise ValueError(f"{path}:{lineno}: expected 'v x y z', got {raw!r}")
            verts.append(xyz)
        elif parts[0] == "f":
            idx = []
            for p in parts[1:]:
                try:
                    i = int(p.split("/")[0])
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: bad face index {p!r} in {raw!r}") from None
                i = i - 1 if i > 0 else len(verts) + i
                if not 0 <= i < len(verts):
                    raise ValueError(
                        f"{path}:{lineno}: face index {p} refers to a vertex not yet defined "
                        f"({len(verts)} so far)"
                    )
                idx.append(i)
            if len(idx) < 3:
                raise ValueError(f"{path}:{lineno}: a face needs at least 3 vertices, got {raw!r}")
            faces += [(idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1)]
    if not verts:
        raise ValueError(f"{path}: no vertices found")
    return np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int64).reshape(-1, 3)
