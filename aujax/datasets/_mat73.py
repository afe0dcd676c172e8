"""BP4D's ``2DFeatures`` files: per-frame landmarks and head pose in MATLAB v7.3 (HDF5) cell arrays,
written and read through h5py's low-level API (REFERENCE §1.1).

``2DFeatures/{Subj}_{Task}.mat`` (49 landmarks and head pose)
    MATLAB v7.3, i.e. HDF5 behind a 512-byte MATLAB userblock. ``fit`` is a struct (HDF5 group);
    ``fit/pred`` is a cell array holding one object reference per frame, HDF5 shape ``(n, 1)`` so
    that ``fh[fh['fit/pred'][i][0]][()].T`` is the (49, 2) array of (x, y); ``fit/pose`` holds one
    reference per frame to a struct (group) with ``rot``, the 3x3 head rotation. MATLAB stores
    arrays column-major, so an HDF5 dataset is the transpose of the MATLAB array: ``pred`` targets
    are stored 2x49 and ``rot`` is stored as ``R.T`` (MATLAB sees ``R``; the reader transposes back).
    Frames without landmarks (e.g. ``M010/T6/958``) are stored the way MATLAB v7.3 stores an empty
    cell element ``[]``: a ``uint64`` dataset ``[0, 0]`` (the dimensions) with attributes
    ``MATLAB_class = 'double'`` and ``MATLAB_empty = 1``; the reader also treats a 0-size dataset
    or a null reference as missing. Entry ``i`` (0-based) belongs to video frame number ``i + 1``
    (:data:`MAT_FIRST_FRAME`; **unverified**: the 2D features are taken to cover the whole video
    from frame 1, whereas the AU coding covers a segment of it), so the writer stores entries
    ``0 .. max(frames) - 1`` with uncoded frames empty.

Both directions go through h5py's low-level API (no high-level wrapper object per frame: ~10x
faster over a sequence); files are written without HDF5 object timestamps, so they are
byte-for-byte deterministic.
"""

import os

import h5py
import numpy as np


__all__ = ["MAT_FIRST_FRAME", "N_BP4D_LANDMARKS", "read_features_mat", "write_features_mat"]

#: Number of 2D landmarks in ``2DFeatures`` (iBUG 17..67 without 60 and 64).
N_BP4D_LANDMARKS = 49
#: Video frame number of entry 0 of ``fit/pred`` and ``fit/pose`` (unverified).
MAT_FIRST_FRAME = 1

_MATLAB_HEADER = (
    "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 1970 "
    "HDF5 schema 1.00 ."
)


def _matlab_attrs(obj, cls):
    obj.attrs["MATLAB_class"] = np.bytes_(cls)


def _ll_attr(objid, name, value):
    """A scalar attribute through h5py's low-level API, typed as the high-level ``attrs[name] =
    value`` types it (``np.bytes_`` -> fixed-length string, ``np.uint8`` -> STD_U8LE)."""
    value = np.asarray(value)
    aid = h5py.h5a.create(objid, name, h5py.h5t.py_create(value.dtype),
                          h5py.h5s.create(h5py.h5s.SCALAR))  # fmt: skip
    aid.write(value)


def _no_times(kind):
    """A creation property list without object timestamps (as h5py's high-level API makes them:
    the files stay byte-for-byte deterministic)."""
    plist = h5py.h5p.create(kind)
    plist.set_obj_track_times(False)
    return plist


def _ll_dataset(gid, name, data, cls, empty=False):
    """A dataset with its MATLAB attributes through the low-level API (the high-level
    ``create_dataset`` + ``attrs`` cost ~1 ms per object); returns its object reference."""
    data = np.ascontiguousarray(data)
    dsid = h5py.h5d.create(gid, name, h5py.h5t.py_create(data.dtype),
                           h5py.h5s.create_simple(data.shape),
                           dcpl=_no_times(h5py.h5p.DATASET_CREATE))  # fmt: skip
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
    _ll_attr(dsid, b"MATLAB_class", np.bytes_(cls))
    if empty:
        _ll_attr(dsid, b"MATLAB_empty", np.uint8(1))
    return h5py.h5r.create(dsid, b".", h5py.h5r.OBJECT)


def write_features_mat(path, frames, landmarks, pose):
    """``2DFeatures`` .mat (see the module docstring): the per-frame cells through the low-level
    API, the reference columns written at once."""
    n = int(frames[-1]) - MAT_FIRST_FRAME + 1 if frames.size else 0
    index = {int(f) - MAT_FIRST_FRAME: t for t, f in enumerate(frames)}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    empty = np.zeros(2, np.uint64)  # MATLAB's empty [] (its dimensions)
    with h5py.File(path, "w", userblock_size=512) as fh:
        refs = fh.create_group("#refs#").id
        fit = fh.create_group("fit")
        _matlab_attrs(fit, "struct")
        pred = fit.create_dataset("pred", shape=(n, 1), dtype=h5py.ref_dtype)
        poses = fit.create_dataset("pose", shape=(n, 1), dtype=h5py.ref_dtype)
        _matlab_attrs(pred, "cell")
        _matlab_attrs(poses, "cell")
        pred_refs = np.empty((n, 1), h5py.ref_dtype)
        pose_refs = np.empty((n, 1), h5py.ref_dtype)
        for i in range(n):
            t = index.get(i)
            pts = None if t is None else landmarks[t]
            name = f"p{i}".encode()
            if pts is None or not np.all(np.isfinite(pts)):
                pred_refs[i, 0] = _ll_dataset(refs, name, empty, "double", empty=True)
            else:
                pred_refs[i, 0] = _ll_dataset(refs, name, np.asarray(pts, np.float64).T, "double")
            rot = None if t is None else pose[t]
            name = f"r{i}".encode()
            if rot is None or not np.all(np.isfinite(rot)):
                pose_refs[i, 0] = _ll_dataset(refs, name, empty, "double", empty=True)
            else:
                gid = h5py.h5g.create(refs, name, gcpl=_no_times(h5py.h5p.GROUP_CREATE))
                _ll_attr(gid, b"MATLAB_class", np.bytes_("struct"))
                _ll_dataset(gid, b"rot", np.asarray(rot, np.float64).T, "double")
                pose_refs[i, 0] = h5py.h5r.create(gid, b".", h5py.h5r.OBJECT)
        if n:
            pred[...] = pred_refs
            poses[...] = pose_refs
    header = _MATLAB_HEADER.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as fh:
        fh.write(header)


def _is_empty(obj):
    if not isinstance(obj, h5py.Dataset):
        return False
    return bool(obj.attrs.get("MATLAB_empty", 0)) or obj.size == 0


def _ref_column(fh, name, path):
    ds = fh.get(name)
    if not isinstance(ds, h5py.Dataset) or ds.dtype != h5py.ref_dtype:
        raise ValueError(f"{path}: expected a dataset of object references '{name}'")
    refs = ds[()]
    if refs.ndim != 2 or 1 not in refs.shape:
        raise ValueError(f"{path}: expected '{name}' of shape (n, 1), got {refs.shape}")
    return refs.reshape(-1)


def _read_float(dsid, shape, raw):
    """The low-level dataset ``dsid`` as float64 when it is a float dataset of ``shape`` without
    a ``MATLAB_empty`` attribute (the common case), else None (the caller then takes the checked
    high-level path). A contiguous little-endian float64 dataset is sliced out of ``raw`` (the
    file's bytes) at its offset instead of read through HDF5."""
    ftype = dsid.get_type()
    if (
        dsid.get_space().get_simple_extent_dims() != shape  # (`dsid.shape` is ~10x slower)
        or ftype.get_class() != h5py.h5t.FLOAT
        or h5py.h5a.exists(dsid, b"MATLAB_empty")
    ):
        return None
    count = int(np.prod(shape))
    offset = dsid.get_offset()  # None unless contiguous (no filters) with storage allocated
    if (
        offset is not None
        and ftype.get_size() == 8
        and ftype.get_order() == h5py.h5t.ORDER_LE
        and dsid.get_storage_size() == 8 * count
        and offset + 8 * count <= len(raw)
    ):
        return np.frombuffer(raw, "<f8", count, offset).reshape(shape).astype(np.float64)
    out = np.empty(shape, np.float64)
    dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def _fast_landmarks(fid, ref, raw):
    """(2, 49) float64 of a ``fit/pred`` reference through the low-level API, or None."""
    obj = h5py.h5r.dereference(ref, fid)
    if not isinstance(obj, h5py.h5d.DatasetID):
        return None
    return _read_float(obj, (2, N_BP4D_LANDMARKS), raw)


def _fast_rotation(fid, ref, raw):
    """(3, 3) float64 ``rot`` of a ``fit/pose`` reference through the low-level API, or None."""
    obj = h5py.h5r.dereference(ref, fid)
    if not isinstance(obj, h5py.h5g.GroupID) or not obj.links.exists(b"rot"):
        return None
    rot = h5py.h5o.open(obj, b"rot")
    return _read_float(rot, (3, 3), raw) if isinstance(rot, h5py.h5d.DatasetID) else None


def read_features_mat(path, frames):
    """Landmarks (T, 49, 2) and pose (T, 3, 3) of ``frames`` from a ``2DFeatures`` .mat file.

    Each entry is read through h5py's low-level API (one dereference and one read, no
    high-level wrapper objects: ~10x faster over a sequence); an entry that is not the common
    2x49 / struct-with-3x3-``rot`` float case (an empty cell, a group, a wrong shape) takes the
    high-level path, which decides between missing and malformed with the same checks and
    messages."""
    t = frames.shape[0]
    landmarks = np.full((t, N_BP4D_LANDMARKS, 2), np.nan)
    pose = np.full((t, 3, 3), np.nan)
    try:
        with open(path, "rb") as raw_file:
            raw = raw_file.read()  # the datasets' bytes (HDF5 offsets count from byte 0)
        fh = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a MATLAB v7.3 (HDF5) file ({e})") from None
    with fh:
        fid = fh.id
        pred = _ref_column(fh, "fit/pred", path)
        rots = _ref_column(fh, "fit/pose", path) if "fit/pose" in fh else None
        for k, f in enumerate(frames):
            i = int(f) - MAT_FIRST_FRAME
            if not 0 <= i < pred.shape[0]:
                continue
            if pred[i]:
                arr = _fast_landmarks(fid, pred[i], raw)
                if arr is not None:
                    landmarks[k] = arr.T
                else:
                    obj = fh[pred[i]]
                    if not _is_empty(obj):
                        arr = obj[()] if isinstance(obj, h5py.Dataset) else None
                        if arr is None or arr.shape != (2, N_BP4D_LANDMARKS):
                            got = getattr(arr, "shape", "a group")
                            raise ValueError(
                                f"{path}: fit/pred entry {i} (frame {f}): expected a 2x49 "
                                f"array (49x2 landmarks in MATLAB), got {got}"
                            )
                        landmarks[k] = arr.T
            if rots is not None and i < rots.shape[0] and rots[i]:
                rot = _fast_rotation(fid, rots[i], raw)
                if rot is not None:
                    pose[k] = rot.T
                    continue
                obj = fh[rots[i]]
                if _is_empty(obj):
                    continue
                rot = obj.get("rot") if isinstance(obj, h5py.Group) else None
                if not isinstance(rot, h5py.Dataset) or rot.shape != (3, 3):
                    raise ValueError(
                        f"{path}: fit/pose entry {i} (frame {f}): expected a struct with a 3x3 "
                        "'rot'"
                    )
                pose[k] = rot[()].T
    return landmarks, pose
