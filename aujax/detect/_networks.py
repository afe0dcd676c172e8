"""The three MediaPipe networks as :class:`aujax.nn.LiteGraph` modules, from the shipped weights.

The weights in ``assets/`` were converted from the Apache-2.0 models in the
``mediapipe==0.10.14`` wheel by ``python -m tools.convert_mediapipe`` (see ``assets/NOTICE``).

=====================  ==========  =====================================================
network                input       outputs
=====================  ==========  =====================================================
``short_range``        128x128x3   regressors (896, 16), classificators (896, 1) logits
``full_range``         192x192x3   regressors (2304, 16), classificators (2304, 1) logits
``face_mesh``          192x192x3   landmarks (1, 1, 1404) = 468 x (x, y, z) in crop pixels,
                                   face flag (1, 1, 1) logit
=====================  ==========  =====================================================

Detector inputs are RGB in [-1, 1]; the mesh input is RGB in [0, 1].
"""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np

from ..nn import LiteGraph


ASSETS = pathlib.Path(__file__).with_name("assets")
NETWORKS = {
    "short_range": "face_detection_short_range",
    "full_range": "face_detection_full_range",
    "face_mesh": "face_landmark",
}


@functools.cache
def load_network(name: str) -> LiteGraph:
    """One of ``short_range``, ``full_range``, ``face_mesh`` (cached; float32)."""
    if name not in NETWORKS:
        raise ValueError(f"network must be one of {sorted(NETWORKS)}, got {name!r}")
    path = ASSETS / f"{NETWORKS[name]}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: reinstall aujax or run `python -m tools.convert_mediapipe`"
        )
    with np.load(path) as data:
        weights = {k: data[k] for k in data.files}
    with jax.ensure_compile_time_eval():  # concrete parameters even when first called under jit
        return LiteGraph(str(weights.pop("program")), weights)
