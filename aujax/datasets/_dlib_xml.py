"""dlib's imglab landmark XML (``training_with_face_landmarks.xml`` and the like).

``<image file=...>`` elements hold ``<box top left width height>`` elements, each with ``<part
name='00' x y/>`` children (the 68 iBUG points for dlib's face-landmark sets). Parts absent from
a box are NaN.
"""

from __future__ import annotations

import dataclasses
import pathlib
import xml.etree.ElementTree as ET

import numpy as np


@dataclasses.dataclass(frozen=True)
class AnnotatedFace:
    """One ``<box>`` of an imglab XML file.

    Attributes:
        image: path of the image (resolved against the XML file's folder).
        box: (4,) x_min, y_min, x_max, y_max in pixels.
        points: (n_parts, 2) x, y in pixels; NaN where a part is missing.
    """

    image: pathlib.Path
    box: np.ndarray
    points: np.ndarray


def read_dlib_landmarks(path: str | pathlib.Path, *, n_parts: int = 68) -> list[AnnotatedFace]:
    """Reads every annotated face of an imglab XML file.

    Raises:
        ValueError: naming the file and the element that is malformed.
    """
    path = pathlib.Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: not an imglab XML file ({err})") from err
    faces = []
    for image in root.iter("image"):
        file = image.get("file")
        if file is None:
            raise ValueError(f"{path}: an <image> element has no 'file' attribute")
        for box in image.iter("box"):
            try:
                top, left = float(box.get("top")), float(box.get("left"))
                width, height = float(box.get("width")), float(box.get("height"))
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}: <box> of {file} lacks top/left/width/height") from err
            points = np.full((n_parts, 2), np.nan)
            for part in box.iter("part"):
                k = int(part.get("name"))
                if not 0 <= k < n_parts:
                    raise ValueError(f"{path}: part {k} of {file} is outside 0..{n_parts - 1}")
                points[k] = float(part.get("x")), float(part.get("y"))
            faces.append(
                AnnotatedFace(
                    image=path.parent / file,
                    box=np.array([left, top, left + width, top + height]),
                    points=points,
                )
            )
    return faces
