"""``aujax detect``'s table: OpenFace 2 columns where they overlap, then aujax's own.

=======================  ===================================================================
column                   meaning
=======================  ===================================================================
``input``                the file the row comes from (an image of a folder, a video, ...)
``frame``                frame number (video, landmark file) or image index (folder); 0-based
``face_id``              face index within the frame (a tracked face keeps its id)
``timestamp``            seconds (video: frame / fps; NaN for images)
``confidence``           face-mesh face flag in (0, 1) (1.0 for landmarks read from a file)
``success``              1 when a face was found and fitted within the engine's residual bound;
                         0: no face (the other columns NaN) or a failed fit (numbers kept)
``face_x0 .. face_y1``   face box, pixels
``pose_Tx .. pose_Tz``   head translation, mm, camera frame (x right, y down, z forward)
``pose_Rx .. pose_Rz``   head rotation, radians, ``R = Rx Ry Rz`` (OpenFace's convention)
``x_0..x_67 y_0..y_67``  iBUG-68 points, pixels (from the 468-point mesh, REFERENCE §10)
``AU01_r .. AU26_r``     AU intensity on 0-5: the engine's level (a tracked face: smoothed)
``AU01_c .. AU26_c``     AU presence 0/1: ``AU**_r`` >= threshold chosen on synthetic training data
``c_AU01 .. c_AU26``     aujax: the frame's own blendshape coefficients a* (a tracked face: the
                         per-frame fit, before smoothing)
``residual``             aujax: RMS fit residual, % of the outer inter-ocular distance
``act_<muscle>``         aujax, tracked faces only: directed muscle activation recovered by the
                         physics inversion of the smoothed levels through the template's
                         reduced skin (model units; issue 17, ``docs/physics_inversion.md``)
``mp_x_k mp_y_k mp_z_k`` aujax, with ``mesh=True``: the 468 mesh points (z: relative depth, px)
=======================  ===================================================================

Missing values are NaN (empty fields in the CSV).

Tracking (``track=True``, the default of ``aujax detect``): the rows of one face (``input``,
``face_id``) in a video, or in a landmark file with timestamps, of at least
:data:`MIN_TRACK_FRAMES` frames are one sequence: each frame is fitted (identity per frame) and
the levels are smoothed by the template's reduced dynamics
(:func:`aujax.detect._au_fit.track_aus`); the lost frames' rows stay NaN with ``success`` 0.
"""

from __future__ import annotations

import numpy as np

from ..face import AU_IDS
from ._au_fit import fit_aus, muscle_names, track_aus


#: the fewest frames of one face that are tracked as a sequence (fewer: fitted frame by frame)
MIN_TRACK_FRAMES = 16


def au_name(au: int) -> str:
    return f"AU{au:02d}"


def columns(*, mesh: bool = False) -> list[str]:
    """The table's columns, in order."""
    cols = ["input", "frame", "face_id", "timestamp", "confidence", "success"]
    cols += ["face_x0", "face_y0", "face_x1", "face_y1"]
    cols += [f"pose_T{a}" for a in "xyz"] + [f"pose_R{a}" for a in "xyz"]
    cols += [f"x_{k}" for k in range(68)] + [f"y_{k}" for k in range(68)]
    cols += [f"{au_name(a)}_r" for a in AU_IDS] + [f"{au_name(a)}_c" for a in AU_IDS]
    cols += [f"c_{au_name(a)}" for a in AU_IDS] + ["residual"]
    cols += [f"act_{m}" for m in muscle_names()]
    if mesh:
        cols += [f"mp_{a}_{k}" for k in range(468) for a in "xyz"]
    return cols


def build_table(
    rows: list[dict], *, size_of, mesh: bool = False, fit: str = "ibug68", track: bool = False
):
    """The DataFrame of a list of rows.

    Args:
        rows: dicts with ``input, frame, face_id, timestamp, confidence, success`` and, for
            successful rows, ``points`` (68, 2), optionally ``box`` (4,) and ``mesh`` (468, 3).
        size_of: row -> (width, height) of its image (the engine's camera).
        mesh: add the 468 mesh columns.
        fit: ``"ibug68"`` or ``"mesh468"`` (:func:`fit_aus`; rows without a mesh, i.e. landmarks
            read from a file, always take the 68-point fit).
        track: track each face of a video (module docstring); False: every face alone.
    """
    import pandas as pd

    cols = columns(mesh=mesh)
    out = np.full((len(rows), len(cols)), np.nan)
    at = {c: i for i, c in enumerate(cols)}
    for i, r in enumerate(rows):
        for c in ("frame", "face_id", "timestamp", "confidence", "success"):
            out[i, at[c]] = r[c]
        if "box" in r:
            out[i, at["face_x0"] : at["face_y1"] + 1] = r["box"]
        if mesh and "mesh" in r:
            out[i, at["mp_x_0"] :] = np.asarray(r["mesh"]).reshape(-1)
    ok = [i for i, r in enumerate(rows) if r["success"]]
    groups: dict[tuple[int, int], list[int]] = {}
    for i in ok:
        groups.setdefault(tuple(size_of(rows[i])), []).append(i)
    for (w, h), idx in groups.items():
        for seq, fps in _sequences(rows, idx) if track else [(idx, None)]:
            _fill(out, at, rows, seq, (w, h), fit=fit, fps=fps)
    df = pd.DataFrame(out, columns=cols)
    df["input"] = [str(r["input"]) for r in rows]
    for c in ("frame", "face_id", "success"):
        df[c] = df[c].astype(int)
    return df


def _sequences(rows, idx):
    """Splits row indices into tracked faces ``(rows, fps)`` and a rest fitted frame by frame
    ``(rows, None)``."""
    faces: dict[tuple[str, int], list[int]] = {}
    for i in idx:
        faces.setdefault((str(rows[i]["input"]), int(rows[i]["face_id"])), []).append(i)
    rest, out = [], []
    for face in faces.values():
        face = sorted(face, key=lambda i: rows[i]["frame"])
        frames = np.array([rows[i]["frame"] for i in face], float)
        times = np.array([rows[i]["timestamp"] for i in face], float)
        fps = np.nan
        if len(face) >= 2 and np.isfinite(times).all() and np.all(np.diff(frames) > 0):
            fps = float(np.median(np.diff(frames) / np.maximum(np.diff(times), 1e-12)))
        if len(face) >= MIN_TRACK_FRAMES and np.isfinite(fps) and fps > 0:
            out.append((face, fps))
        else:
            rest += face
    if rest:
        out.append((rest, None))
    return out


def _fill(out, at, rows, idx, size, *, fit, fps):
    pts = np.stack([rows[i]["points"] for i in idx])
    use_mesh = fit == "mesh468" and all("mesh" in rows[i] for i in idx)
    meshes = np.stack([rows[i]["mesh"] for i in idx]) if use_mesh else None
    if fps is None:
        fit_ = fit_aus(pts, *size, mesh=meshes)
    else:  # consecutive frames 0..T-1 of the face, NaN where it was lost
        frame = np.array([rows[i]["frame"] for i in idx], int)
        t = frame - frame[0]
        full = np.full((t[-1] + 1, 68, 2), np.nan)
        full[t] = pts
        valid = np.zeros(t[-1] + 1, bool)
        valid[t] = True
        full_mesh = None
        if meshes is not None:
            full_mesh = np.full((t[-1] + 1, 468, 3), np.nan)
            full_mesh[t] = meshes
        fit_ = track_aus(full, *size, fps=fps, mesh=full_mesh, valid=valid)
        fit_ = {k: (v if k == "aus" else v[t]) for k, v in fit_.items()}
    j = np.asarray(idx)
    out[j, at["x_0"] : at["x_67"] + 1] = pts[..., 0]
    out[j, at["y_0"] : at["y_67"] + 1] = pts[..., 1]
    out[j, at["pose_Tx"] : at["pose_Tz"] + 1] = fit_["pose_T"]
    out[j, at["pose_Rx"] : at["pose_Rz"] + 1] = fit_["pose_R"]
    out[j, at["residual"]] = fit_["residual"]
    for k, a in enumerate(fit_["aus"]):
        name = au_name(int(a))
        out[j, at[f"{name}_r"]] = np.clip(fit_["levels"][:, k], 0.0, 5.0)
        out[j, at[f"{name}_c"]] = fit_["present"][:, k]
        out[j, at[f"c_{name}"]] = fit_["frame_levels"][:, k]
    if "activations" in fit_:
        first = at[f"act_{muscle_names()[0]}"]
        out[j, first : first + fit_["activations"].shape[1]] = fit_["activations"]
    bad = j[~fit_["success"]]
    out[bad, at["success"]] = 0
