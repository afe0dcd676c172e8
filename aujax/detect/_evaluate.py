"""Landmark agreement of the front end with annotated faces (dlib's 68-point XML files).

A face counts as found when a detected face's iBUG-68 points lie, on average, within a quarter
of the annotation's outer inter-ocular distance (points 36-45) of the annotated points (the
nearest such face is taken). Errors are normalised mean errors (NME): the mean point distance
over the 51 inner points (17-67) or the 17 jaw points, divided by the outer inter-ocular
distance of the annotation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..face import ibug68_from_mediapipe
from ._sources import read_image


@dataclasses.dataclass(frozen=True)
class LandmarkAgreement:
    """Per annotated face: ``found`` (bool), ``inner`` and ``jaw`` NME (NaN when not found),
    ``size`` (annotated box width, px)."""

    found: np.ndarray
    inner: np.ndarray
    jaw: np.ndarray
    size: np.ndarray

    def summary(self) -> str:
        f = self.found
        return (
            f"found {int(f.sum())} of {f.size} faces; NME (outer inter-ocular) inner 51: "
            f"mean {100 * np.nanmean(self.inner):.2f} %, median {100 * np.nanmedian(self.inner):.2f} %;"
            f" jaw 17: mean {100 * np.nanmean(self.jaw):.2f} %"
        )


def landmark_agreement(front, faces) -> LandmarkAgreement:
    """Runs ``front`` (a :class:`FaceFrontEnd`) on the images of ``faces`` (annotated faces,
    :func:`aujax.datasets.read_dlib_landmarks`) and scores it (see the module docstring)."""
    by_image: dict = {}
    for i, f in enumerate(faces):
        by_image.setdefault(f.image, []).append(i)
    n = len(faces)
    found, inner, jaw = np.zeros(n, bool), np.full(n, np.nan), np.full(n, np.nan)
    size = np.array([f.box[2] - f.box[0] for f in faces])
    for image, idx in by_image.items():
        got = [ibug68_from_mediapipe(g.landmarks)[:, :2] for g in front.faces(read_image(image))]
        for i in idx:
            ann = faces[i].points
            iod = np.linalg.norm(ann[36] - ann[45])
            errs = [np.linalg.norm(p - ann, axis=-1) / iod for p in got]
            errs = [e for e in errs if np.nanmean(e) < 0.25]
            if errs:
                e = min(errs, key=np.nanmean)
                found[i], inner[i], jaw[i] = True, np.nanmean(e[17:]), np.nanmean(e[:17])
    return LandmarkAgreement(found, inner, jaw, size)
