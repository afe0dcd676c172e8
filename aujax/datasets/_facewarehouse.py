r"""FaceWarehouse's per-subject blendshape files: read and written in the real layout (REFERENCE §5.6).

FaceWarehouse (Cao et al. 2014) ships, per subject ("tester") ``k = 1..150``::

    root/Tester_k/Blendshape/shape.bs          the 47 expression meshes, binary (below)
    root/Tester_k/Blendshape/shape_j.obj       the same meshes as OBJ, j = 0..46 (quads, with vt)
    root/Tester_k/TrainingPose/pose_j.obj      the 20 captured poses, j = 0..19 (+ .land, .poses)

**shape.bs** (little-endian, no padding)::

    offset 0    nShapes  int32                 46: the expression blendshapes B1..B46
    offset 4    nVerts   int32                 11510
    offset 8    nFaces   int32                 11540 (the mesh's polygon count; see below)
    offset 12   data     float32[(nShapes + 1) * nVerts * 3]
                         B0 (the neutral) first, then B1..B46; each mesh's vertices in order,
                         x, y, z per vertex; absolute positions (not offsets from B0)

Sources: the public ``loadBlendshapeFW`` reader (shunsukesaito/face_toolkit, ``fw_utils.cpp``)
reads the three counts with ``fread(&x, sizeof(int), 1, fp)`` and then ``nShapes + 1`` blocks of
``nVerts * 3`` floats, subtracting B0 from B1..B46 itself (so the file holds absolute positions);
a second public reader (telef, ``face_warehouse.cpp``) does the same with ``int32_t`` and takes
the triangles from ``Tester_k/Blendshape/shape_0.obj`` (quads split into ``(0, 1, 2), (0, 2, 3)``),
and a Python reader unpacks the header with ``struct.unpack('iii', ...)`` and reads the data with
``np.fromfile(dtype=np.float32)``. All three read native x86 byte order, hence little-endian; none
reads anything after the data, so **the faces are not in shape.bs** (only their count): they come
from ``shape_0.obj``. Whether a real file carries bytes after the data is not known here
(unverified); :func:`read_blendshapes` refuses them unless ``allow_trailing=True``. The header's
nFaces is recorded in the comments of those readers as 11540 in one and 11400 in another, so it is
not checked against the OBJ. The real files' length unit is not documented (unverified); the
readers here return the stored numbers unchanged, and the synthetic copies
(:func:`aujax.synth.generate_facewarehouse`) store centimetres (aujax's unit).

The folder names and the 20 poses follow a public Python importer of the data (face2face
``importObjFW``: ``Tester_{i+1}/Blendshape/shape_{s}.obj`` for s in 0..46,
``Tester_{i+1}/TrainingPose/pose_{s}.obj`` for s in 0..19, quads with texture indices, and
``pose_{s}.land`` / ``pose_{s}.poses`` beside them).

Implemented: ``shape.bs`` (read and written); ``shape_0.obj`` as the source of the faces (read:
any OBJ polygons, ``v``/``vt``/``vn`` index forms, fan-triangulated; written: the neutral and
triangles); the ``TrainingPose/pose_j.obj`` meshes (read and written, vertices and faces). Not
implemented: the other ``shape_j.obj`` (the same meshes as shape.bs), ``pose_j.land`` (2D
landmarks) and ``pose_j.poses`` (Kinect frames).

This module is pure host code (NumPy); it does not import JAX.
"""

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._bosphorus_names import PathLike


__all__ = [
    "FACEWAREHOUSE_SHAPES",
    "FaceWarehouseData",
    "facewarehouse_subject_id",
    "list_facewarehouse_subjects",
    "read_blendshapes",
    "read_facewarehouse",
    "read_facewarehouse_faces",
    "read_facewarehouse_poses",
    "write_blendshapes",
    "write_facewarehouse",
    "write_facewarehouse_poses",
]

#: Meshes per subject in the real data: the neutral B0 and the 46 expression blendshapes.
FACEWAREHOUSE_SHAPES = 47

_HEADER = np.dtype([("n_shapes", "<i4"), ("n_verts", "<i4"), ("n_faces", "<i4")])
_SUBJECT_RE = re.compile(r"Tester_([1-9][0-9]*)")
_BS = ("Blendshape", "shape.bs")
_OBJ = ("Blendshape", "shape_0.obj")


@dataclasses.dataclass(frozen=True, eq=False)
class FaceWarehouseData:
    """Meshes of a FaceWarehouse layout, real or synthetic.

    Attributes:
        vertices: (n_subjects, n_expressions, n_vertices, 3) float32 absolute positions as stored
            (the neutral is expression 0).
        faces: (n_faces, 3) int64 triangles, 0-based, from the first subject's
            ``Blendshape/shape_0.obj`` (polygons fan-triangulated); None where no subject has one.
        subject_ids: the ``Tester_k`` folder names, in the order of ``vertices``.
    """

    vertices: np.ndarray
    faces: np.ndarray | None
    subject_ids: tuple[str, ...]

    def __post_init__(self):
        v = self.vertices
        if not isinstance(v, np.ndarray) or v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(
                "vertices must be an array of shape (n_subjects, n_expressions, n_vertices, 3), "
                f"got {getattr(v, 'shape', type(v).__name__)}"
            )
        if len(self.subject_ids) != v.shape[0]:
            raise ValueError(
                f"subject_ids has {len(self.subject_ids)} names for {v.shape[0]} subjects"
            )
        if self.faces is not None:
            _check_faces(self.faces, v.shape[2], "faces")

    @property
    def n_subjects(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_expressions(self) -> int:
        return int(self.vertices.shape[1])

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[2])


def facewarehouse_subject_id(subject: int | str) -> str:
    """The folder name of a subject: ``3`` or ``"Tester_3"`` -> ``"Tester_3"`` (1-based numbers).

    Raises:
        ValueError: not a positive int nor a ``Tester_k`` name.
    """
    if isinstance(subject, bool):
        raise ValueError(f"subject must be a tester number >= 1 or 'Tester_k', got {subject!r}")
    if isinstance(subject, int | np.integer):
        if subject < 1:
            raise ValueError(f"subject numbers start at 1 (Tester_1), got {subject}")
        return f"Tester_{int(subject)}"
    if isinstance(subject, str) and _SUBJECT_RE.fullmatch(subject):
        return subject
    raise ValueError(f"subject must be a tester number >= 1 or 'Tester_k', got {subject!r}")


def list_facewarehouse_subjects(root: PathLike) -> tuple[str, ...]:
    """The ``Tester_k`` folders under ``root`` that hold ``Blendshape/shape.bs``, by k.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{os.fspath(root)}: FaceWarehouse root is not a directory")
    found = [
        (int(m.group(1)), p.name)
        for p in root.iterdir()
        if (m := _SUBJECT_RE.fullmatch(p.name)) and p.joinpath(*_BS).is_file()
    ]
    return tuple(name for _, name in sorted(found))


def read_blendshapes(path: PathLike, *, allow_trailing: bool = False) -> np.ndarray:
    """Reads one ``shape.bs`` file (format in the module docstring).

    Args:
        path: the ``Tester_k/Blendshape/shape.bs`` file.
        allow_trailing: accept bytes after the data (ignored); by default they are an error,
            since they mean the counts do not describe the file.

    Returns:
        (nShapes + 1, nVerts, 3) float32: B0 (neutral) first, absolute positions.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file: a header shorter than 12 bytes, a negative or zero count,
            data shorter than the counts say (truncated) or longer (trailing bytes), a non-finite
            coordinate (with the shape and vertex).
    """
    where = os.fspath(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where}: no such FaceWarehouse blendshape file (shape.bs)")
    buf = Path(path).read_bytes()
    if len(buf) < _HEADER.itemsize:
        raise ValueError(
            f"{where}: truncated shape.bs: the header (nShapes, nVerts, nFaces: 3 x int32) needs "
            f"{_HEADER.itemsize} bytes, the file has {len(buf)}"
        )
    head = np.frombuffer(buf, _HEADER, count=1)[0]
    n_shapes, n_verts, n_faces = (int(head[k]) for k in ("n_shapes", "n_verts", "n_faces"))
    for name, value, low in (
        ("nShapes", n_shapes, 0),
        ("nVerts", n_verts, 1),
        ("nFaces", n_faces, 0),
    ):
        if value < low:
            raise ValueError(
                f"{where}: header field {name} = {value}, expected >= {low} "
                f"(header nShapes={n_shapes}, nVerts={n_verts}, nFaces={n_faces}; a little-endian "
                "int32 each)"
            )
    count = (n_shapes + 1) * n_verts * 3
    need = _HEADER.itemsize + 4 * count
    if len(buf) < need:
        raise ValueError(
            f"{where}: truncated shape.bs: nShapes={n_shapes}, nVerts={n_verts} need "
            f"(nShapes + 1) * nVerts * 3 = {count} float32 after the 12-byte header, "
            f"{need} bytes in all; the file has {len(buf)}"
        )
    if len(buf) > need and not allow_trailing:
        raise ValueError(
            f"{where}: {len(buf) - need} bytes after the data: nShapes={n_shapes}, "
            f"nVerts={n_verts} describe a {need}-byte file, the file has {len(buf)} (wrong counts? "
            "pass allow_trailing=True to ignore extra bytes)"
        )
    data = np.frombuffer(buf, "<f4", count=count, offset=_HEADER.itemsize)
    shapes = data.astype(np.float32).reshape(n_shapes + 1, n_verts, 3)
    bad = ~np.isfinite(shapes)
    if bad.any():
        s, v, _ = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: {int(bad.any(-1).sum())} vertices with non-finite coordinates, the first in "
            f"shape {int(s)} (0 = neutral), vertex {int(v)}: {shapes[s, v].tolist()}"
        )
    return shapes


def _check_faces(faces, n_vertices: int, name: str) -> np.ndarray:
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(
            f"{name} must be an int array of shape (n_faces, 3), got {f.dtype} {f.shape}"
        )
    if f.size and (f.min() < 0 or f.max() >= n_vertices):
        raise ValueError(
            f"{name} index vertices outside 0..{n_vertices - 1} (min {f.min()}, max {f.max()})"
        )
    return f.astype(np.int64)


def _check_shapes(shapes, name: str) -> np.ndarray:
    s = np.asarray(shapes)
    if s.ndim != 3 or s.shape[2] != 3 or s.shape[0] < 1 or s.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (n_shapes + 1, n_vertices, 3) with at least the neutral and "
            f"one vertex, got {s.shape}"
        )
    if not np.issubdtype(s.dtype, np.floating) and not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"{name} must hold real numbers, got dtype {s.dtype}")
    s = s.astype("<f4")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} must be finite (in float32)")
    return s


def write_blendshapes(path: PathLike, shapes, *, faces=None) -> None:
    """Writes one ``shape.bs`` file, the exact inverse of :func:`read_blendshapes`.

    With ``faces`` the header's nFaces is their count and ``shape_0.obj`` is written beside the
    file (the neutral and the triangles, 1-based), where the real layout keeps the faces; without,
    nFaces is 0.

    Args:
        path: destination ``.../Blendshape/shape.bs`` (parent folders are created).
        shapes: (n_shapes + 1, n_vertices, 3) absolute positions, neutral first; stored as float32.
        faces: optional (n_faces, 3) int triangles, 0-based.

    Raises:
        ValueError: wrong shapes, non-finite values, face indices out of range, counts beyond int32.
    """
    s = _check_shapes(shapes, "shapes")
    f = None if faces is None else _check_faces(faces, s.shape[1], "faces")
    n_faces = 0 if f is None else len(f)
    if max(s.shape[0] - 1, s.shape[1], n_faces) > np.iinfo(np.int32).max:
        raise ValueError(f"shapes {s.shape} / {n_faces} faces exceed the int32 counts of shape.bs")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = np.array([(s.shape[0] - 1, s.shape[1], n_faces)], _HEADER)
    path.write_bytes(head.tobytes() + np.ascontiguousarray(s).tobytes())
    if f is not None:
        _write_obj(path.parent / _OBJ[1], s[0], f)


def _write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """A mesh as an OBJ: ``v`` with the shortest digits that give the float32 back, 1-based ``f``.

    (Read as float64 and rounded to float32 such a string gives the same float32: 53 >= 2 * 24 + 2
    bits, so the double rounding is harmless.)
    """
    lines = [f"v {x!s} {y!s} {z!s}" for x, y, z in vertices.astype(np.float32)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces.tolist()]
    path.write_text("\n".join(lines) + "\n")


def _read_obj(path: PathLike, *, keep_vertices: bool) -> tuple[np.ndarray | None, np.ndarray, int]:
    """(vertices (n, 3) float32 or None, triangles (f, 3) int64, n) of an OBJ (see below)."""
    where = os.fspath(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where}: no such OBJ file")
    n_v, verts, tris = 0, [], []
    with open(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            parts = raw.split("#", 1)[0].split()
            if not parts:
                continue
            if parts[0] == "v":
                if len(parts) < 4:
                    raise ValueError(f"{where}:{lineno}: expected 'v x y z', got {raw.strip()!r}")
                if keep_vertices:
                    try:
                        xyz = [float(p) for p in parts[1:4]]
                    except ValueError:
                        raise ValueError(
                            f"{where}:{lineno}: expected 'v x y z' with numbers, got {raw.strip()!r}"
                        ) from None
                    if not all(np.isfinite(xyz)):
                        raise ValueError(f"{where}:{lineno}: non-finite vertex {raw.strip()!r}")
                    verts.append(xyz)
                n_v += 1
            elif parts[0] == "f":
                if len(parts) < 4:
                    raise ValueError(
                        f"{where}:{lineno}: a face needs at least 3 vertices, got {raw.strip()!r}"
                    )
                idx = []
                for tok in parts[1:]:
                    try:
                        i = int(tok.split("/", 1)[0])
                    except ValueError:
                        raise ValueError(
                            f"{where}:{lineno}: bad face index {tok!r} in {raw.strip()!r}"
                        ) from None
                    i = i - 1 if i > 0 else n_v + i
                    if not 0 <= i < n_v:
                        raise ValueError(
                            f"{where}:{lineno}: face index {tok!r} outside the {n_v} vertices "
                            "read so far"
                        )
                    idx.append(i)
                tris += [(idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1)]
    v = (
        np.asarray(verts, dtype=np.float64).reshape(-1, 3).astype(np.float32)
        if keep_vertices
        else None
    )
    return v, np.asarray(tris, dtype=np.int64).reshape(-1, 3), n_v


def read_facewarehouse_faces(path: PathLike, *, n_vertices: int | None = None) -> np.ndarray:
    """The triangles of a FaceWarehouse OBJ (``Tester_k/Blendshape/shape_0.obj``), 0-based.

    Polygons are fan-triangulated ``(0, 1, 2), (0, 2, 3), ...`` (for the real quads: the split of
    the public readers); face tokens ``a``, ``a/t``, ``a//n``, ``a/t/n`` and negative (relative)
    indices are accepted; other records are ignored.

    Args:
        path: the OBJ file.
        n_vertices: if given, the OBJ must have exactly this many ``v`` records (the shape.bs
            nVerts).

    Returns:
        (n_triangles, 3) int64.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and line: a malformed record, an index out of range, a
            vertex count other than ``n_vertices``.
    """
    _, tris, n_v = _read_obj(path, keep_vertices=False)
    if n_vertices is not None and n_v != n_vertices:
        raise ValueError(
            f"{os.fspath(path)}: {n_v} vertices, expected {n_vertices} (nVerts of the subject's "
            "shape.bs)"
        )
    return tris


def read_facewarehouse(
    root: PathLike, *, subjects: Sequence[int | str] | None = None, allow_trailing: bool = False
) -> FaceWarehouseData:
    """Reads the blendshape meshes of a FaceWarehouse layout, real or synthetic.

    Args:
        root: the folder holding ``Tester_k`` (k = 1..150 in the real data).
        subjects: tester numbers (1-based) or ``Tester_k`` names, in the order wanted (default:
            every ``Tester_k`` with a ``Blendshape/shape.bs``, by k).
        allow_trailing: passed to :func:`read_blendshapes`.

    Returns:
        The :class:`FaceWarehouseData`; faces from the first subject (in order) with a
        ``Blendshape/shape_0.obj``, which must have the shape.bs vertex count.

    Raises:
        FileNotFoundError: ``root`` is not a directory, a requested subject's shape.bs is missing.
        ValueError: no subject found, a malformed file (naming it), subjects whose files
            disagree on the number of meshes or vertices (naming the file).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{os.fspath(root)}: FaceWarehouse root is not a directory")
    if subjects is None:
        ids = list_facewarehouse_subjects(root)
        if not ids:
            raise ValueError(
                f"{os.fspath(root)}: no Tester_k/Blendshape/shape.bs found (not a FaceWarehouse "
                "layout?)"
            )
    else:
        ids = tuple(facewarehouse_subject_id(s) for s in subjects)
        if not ids:
            raise ValueError("subjects is empty")
        if len(set(ids)) != len(ids):
            raise ValueError(f"subjects has duplicates: {list(ids)}")
    out, faces = None, None  # filled in place: the real data is ~1 GB of float32
    for i, sid in enumerate(ids):
        path = root / sid / Path(*_BS)
        shapes = read_blendshapes(path, allow_trailing=allow_trailing)
        if out is None:
            out = np.empty((len(ids),) + shapes.shape, dtype=np.float32)
        elif shapes.shape != out.shape[1:]:
            raise ValueError(
                f"{os.fspath(path)}: {shapes.shape[0]} meshes of {shapes.shape[1]} vertices, but "
                f"{ids[0]} has {out.shape[1]} of {out.shape[2]}"
            )
        out[i] = shapes
        obj = root / sid / Path(*_OBJ)
        if faces is None and obj.is_file():
            faces = read_facewarehouse_faces(obj, n_vertices=shapes.shape[1])
    return FaceWarehouseData(vertices=out, faces=faces, subject_ids=tuple(ids))


def write_facewarehouse(
    root: PathLike, vertices, *, subject_ids: Sequence[int | str] | None = None, faces=None
) -> tuple[str, ...]:
    """Writes meshes in the FaceWarehouse layout: ``root/Tester_k/Blendshape/shape.bs`` per subject.

    Args:
        root: output folder (created).
        vertices: (n_subjects, n_expressions, n_vertices, 3) absolute positions, the neutral first
            (n_expressions >= 1); stored as float32.
        subject_ids: tester numbers or ``Tester_k`` names (default ``Tester_1``..``Tester_S``).
        faces: optional (n_faces, 3) int triangles, 0-based: written as each subject's
            ``Blendshape/shape_0.obj`` (with its neutral) and counted in the header.

    Returns:
        The subject folder names written, in order.

    Raises:
        ValueError: wrong shapes, non-finite values, bad or duplicate subject IDs, bad faces.
    """
    v = np.asarray(vertices)
    if v.ndim != 4 or v.shape[-1] != 3 or v.shape[0] < 1:
        raise ValueError(
            "vertices must have shape (n_subjects, n_expressions, n_vertices, 3) with at least one "
            f"subject, got {v.shape}"
        )
    if subject_ids is None:
        ids = tuple(f"Tester_{k + 1}" for k in range(v.shape[0]))
    else:
        ids = tuple(facewarehouse_subject_id(s) for s in subject_ids)
        if len(ids) != v.shape[0]:
            raise ValueError(f"subject_ids has {len(ids)} names for {v.shape[0]} subjects")
        if len(set(ids)) != len(ids):
            raise ValueError(f"subject_ids has duplicates: {list(ids)}")
    f = None if faces is None else _check_faces(faces, v.shape[2], "faces")
    checked = [_check_shapes(v[i], f"vertices[{i}] ({sid})") for i, sid in enumerate(ids)]
    root = Path(root)
    for sid, shapes in zip(ids, checked, strict=True):
        write_blendshapes(root / sid / Path(*_BS), shapes, faces=f)
    return ids


def _pose_files(folder: Path) -> list[Path]:
    """``pose_0.obj``, ``pose_1.obj``, ... in ``folder``: the contiguous run from 0."""
    out, j = [], 0
    while (folder / f"pose_{j}.obj").is_file():
        out.append(folder / f"pose_{j}.obj")
        j += 1
    return out


def read_facewarehouse_poses(
    root: PathLike, *, subjects: Sequence[int | str] | None = None
) -> FaceWarehouseData:
    """Reads the captured expressions of a FaceWarehouse layout: ``Tester_k/TrainingPose/pose_j.obj``.

    FaceWarehouse ships 20 per subject (j = 0..19, the neutral first), beside ``pose_j.land`` (2D
    landmarks) and ``pose_j.poses`` (Kinect frames), which are not read here. The OBJ records are
    parsed as :func:`read_facewarehouse_faces` does; the vertices are returned as float32.

    Args:
        root: the folder holding ``Tester_k``.
        subjects: tester numbers (1-based) or ``Tester_k`` names (default: every ``Tester_k``
            with a ``TrainingPose/pose_0.obj``, by k).

    Returns:
        A :class:`FaceWarehouseData` whose "expressions" are the poses (the contiguous run
        ``pose_0.obj``, ``pose_1.obj``, ...); faces from the first subject's ``pose_0.obj``
        (None if it has none).

    Raises:
        FileNotFoundError: ``root`` is not a directory; a requested subject has no ``pose_0.obj``.
        ValueError: no subject found; a malformed OBJ (naming file and line); subjects or poses
            that disagree on the number of poses or vertices (naming the file).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{os.fspath(root)}: FaceWarehouse root is not a directory")
    if subjects is None:
        found = [
            (int(m.group(1)), p.name)
            for p in root.iterdir()
            if (m := _SUBJECT_RE.fullmatch(p.name))
            and (p / "TrainingPose" / "pose_0.obj").is_file()
        ]
        ids = tuple(name for _, name in sorted(found))
        if not ids:
            raise ValueError(f"{os.fspath(root)}: no Tester_k/TrainingPose/pose_0.obj found")
    else:
        ids = tuple(facewarehouse_subject_id(s) for s in subjects)
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"subjects must be non-empty and without duplicates, got {subjects!r}")
    meshes, faces = [], None
    for sid in ids:
        files = _pose_files(root / sid / "TrainingPose")
        if not files:
            raise FileNotFoundError(
                f"{os.fspath(root / sid / 'TrainingPose' / 'pose_0.obj')}: no such pose file"
            )
        if meshes and len(files) != meshes[0].shape[0]:
            raise ValueError(
                f"{os.fspath(root / sid / 'TrainingPose')}: {len(files)} poses (pose_0.obj.."
                f"pose_{len(files) - 1}.obj), but {ids[0]} has {meshes[0].shape[0]}"
            )
        poses = []
        for path in files:
            v, tris, _ = _read_obj(path, keep_vertices=True)
            expected = meshes[0].shape[1] if meshes else (poses[0].shape[0] if poses else None)
            if expected is not None and v.shape[0] != expected:
                raise ValueError(f"{os.fspath(path)}: {v.shape[0]} vertices, expected {expected}")
            if not v.shape[0]:
                raise ValueError(f"{os.fspath(path)}: no vertices")
            if faces is None and len(tris):
                faces = tris
            poses.append(v)
        meshes.append(np.stack(poses))
    return FaceWarehouseData(vertices=np.stack(meshes), faces=faces, subject_ids=ids)


def write_facewarehouse_poses(
    root: PathLike, vertices, *, subject_ids: Sequence[int | str] | None = None, faces=None
) -> tuple[str, ...]:
    """Writes meshes as ``root/Tester_k/TrainingPose/pose_j.obj``, the inverse of
    :func:`read_facewarehouse_poses` (vertices as float32, written with round-trip precision).

    Args:
        root: output folder (created).
        vertices: (n_subjects, n_poses, n_vertices, 3) positions.
        subject_ids: tester numbers or ``Tester_k`` names (default ``Tester_1``..``Tester_S``).
        faces: optional (n_faces, 3) int triangles, 0-based, written into every pose file.

    Returns:
        The subject folder names written, in order.

    Raises:
        ValueError: wrong shapes, non-finite values, bad or duplicate subject IDs, bad faces.
    """
    v = np.asarray(vertices)
    if v.ndim != 4 or v.shape[-1] != 3 or min(v.shape[:3]) < 1:
        raise ValueError(
            "vertices must have shape (n_subjects, n_poses, n_vertices, 3), none of them empty, "
            f"got {v.shape}"
        )
    if subject_ids is None:
        ids = tuple(f"Tester_{k + 1}" for k in range(v.shape[0]))
    else:
        ids = tuple(facewarehouse_subject_id(s) for s in subject_ids)
        if len(ids) != v.shape[0] or len(set(ids)) != len(ids):
            raise ValueError(
                f"subject_ids must name the {v.shape[0]} subjects without duplicates, got {ids}"
            )
    f = np.zeros((0, 3), np.int64) if faces is None else _check_faces(faces, v.shape[2], "faces")
    checked = [_check_shapes(v[i], f"vertices[{i}] ({sid})") for i, sid in enumerate(ids)]
    for sid, poses in zip(ids, checked, strict=True):
        folder = Path(root) / sid / "TrainingPose"
        folder.mkdir(parents=True, exist_ok=True)
        for j, pose in enumerate(poses):
            _write_obj(folder / f"pose_{j}.obj", pose, f)
    return ids
