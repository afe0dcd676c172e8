"""Real images and videos in, OpenFace-style tables out (``aujax detect``).

The face front end is MediaPipe's (BlazeFace detectors and the 468-point face mesh, converted
from the Apache-2.0 ``.tflite`` models and run as Flax NNX graphs in JAX: batched, jit-compiled,
CPU/GPU/TPU); the AU columns come from the top-down engine of seed 000 on the iBUG-68 subset of
the mesh (or, ``fit="mesh468"``, on all 468 points with their depth). See ``docs/detect.md``.
"""

from ._api import Detector as Detector, detect as detect, detect_files as detect_files
from ._au_fit import (
    ENGINE as ENGINE,
    FITS as FITS,
    FOCAL as FOCAL,
    THRESHOLDS_PATH as THRESHOLDS_PATH,
    camera_for as camera_for,
    euler_xyz as euler_xyz,
    fit_aus as fit_aus,
)
from ._blazeface import (
    DETECTORS as DETECTORS,
    DetectorSpec as DetectorSpec,
    decode_detections as decode_detections,
    ssd_anchors as ssd_anchors,
    weighted_nms as weighted_nms,
)
from ._cli import detect_main as detect_main, main as main
from ._evaluate import (
    LandmarkAgreement as LandmarkAgreement,
    landmark_agreement as landmark_agreement,
)
from ._frontend import Face as Face, FaceFrontEnd as FaceFrontEnd
from ._networks import NETWORKS as NETWORKS, load_network as load_network
from ._roi import (
    Roi as Roi,
    crop as crop,
    crop_to_image as crop_to_image,
    image_to_crop as image_to_crop,
    letterbox as letterbox,
    roi_from_box as roi_from_box,
)
from ._sources import read_image as read_image, read_landmarks as read_landmarks
from ._table import columns as columns
