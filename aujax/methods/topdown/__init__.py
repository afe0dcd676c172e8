"""Blendshape-augmented AU detection (seed 000): the top-down engine (§2.1, eqs. 1-4), the
bottom-up CNN (eq. 5), the integration model (eq. 6), level thresholds, apex frames and the
experiment (``train_and_evaluate``)."""

from ._apex import apex_rows as apex_rows, synthetic_intensities as synthetic_intensities
from ._bottomup import BottomUpCNN as BottomUpCNN
from ._engine import (
    SubjectNeutral as SubjectNeutral,
    TopDownEngine as TopDownEngine,
    TopDownResult as TopDownResult,
)
from ._integration import IntegrationNet as IntegrationNet
from ._thresholds import LevelThresholds as LevelThresholds, choose_thresholds as choose_thresholds


# The experiment reuses the physics experiment's data path, whose frame table imports the engine
# from this package: importing it here eagerly would be circular, so its names load on first use.
_LAZY = {
    "EXPERIMENT": "._experiment",
    "PROTOCOLS": "._experiment",
    "ROWS": "._experiment",
    "load_frames": "._experiment",
    "top_down_levels": "._experiment",
    "train_and_evaluate": "._experiment",
    "BlockSource": "._train",
    "build_bottomup": "._train",
    "build_integration": "._train",
    "flatten_blocks": "._train",
    "predict_bottomup": "._train",
    "predict_integration": "._train",
    "train_bottomup": "._train",
    "train_integration": "._train",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
