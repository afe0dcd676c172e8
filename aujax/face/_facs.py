"""The FACS table: the 17 action units of the face model and the muscles behind each (REFERENCE §6.5)."""

from typing import Final

import numpy as np


AU_IDS: Final = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26)

AU_NAMES: Final = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
}

# AU -> {muscle base name: relative weight}; paired muscles act on both sides.
FACS_MUSCLES: Final = {
    1: {"frontalis_medial": 1.0},
    2: {"frontalis_lateral": 1.0},
    4: {"corrugator": 1.0, "depressor_supercilii": 0.6},
    5: {"levator_palpebrae": 1.0},
    6: {"orbicularis_oculi_orbital": 1.0},
    7: {"orbicularis_oculi_palpebral": 1.0},
    9: {"levator_labii_alaeque_nasi": 1.0},
    10: {"levator_labii_superioris": 1.0},
    12: {"zygomaticus_major": 1.0},
    14: {"buccinator": 1.0},
    15: {"depressor_anguli_oris": 1.0},
    17: {"mentalis": 1.0},
    20: {"risorius": 1.0},
    23: {"orbicularis_oris_peripheral": 1.0},
    24: {"orbicularis_oris_marginal": 1.0},
    25: {"depressor_labii_inferioris": 1.0, "jaw": 0.1},
    26: {"jaw": 1.0},
}

# Peak skin displacement (cm) at intensity 5 (E) used to scale each AU's blendshape; a brow raise
# moves the brow about 1 cm; a jaw drop moves the lower face up to 2.5 cm (the menton ~1 cm, the
# mouth opens ~8 mm; DESIGN §3.4).
AU_PEAK_DISPLACEMENT: Final = {
    1: 1.0,
    2: 1.0,
    4: 0.8,
    5: 0.45,
    6: 0.7,
    7: 0.35,
    9: 0.6,
    10: 0.6,
    12: 1.2,
    14: 0.5,
    15: 0.7,
    17: 0.7,
    20: 0.9,
    23: 0.45,
    24: 0.45,
    25: 0.6,
    26: 2.5,
}


def check_au(au: int) -> int:
    """Returns `au` if it is one of the model's 17 AUs; otherwise raises a ValueError naming it."""
    if au not in FACS_MUSCLES:
        raise ValueError(f"unknown AU {au!r}; the face model has AUs {AU_IDS}")
    return au


def au_muscle_matrix(muscle_names: tuple[str, ...], aus: tuple[int, ...] = AU_IDS) -> np.ndarray:
    """W (K, M): relative activation of each muscle when AU k acts at unit strength.

    Args:
      muscle_names: the muscle columns (e.g. `MuscleSet.names`).
      aus: the AU rows.

    Raises:
      ValueError: for an unknown AU, or a FACS muscle missing from `muscle_names`.
    """
    w = np.zeros((len(aus), len(muscle_names)))
    for k, au in enumerate(aus):
        for base, weight in FACS_MUSCLES[check_au(au)].items():
            cols = [i for i, n in enumerate(muscle_names) if n in (base, base + "_r", base + "_l")]
            if not cols:
                raise ValueError(f"AU{au} needs muscle {base!r}, absent from muscle_names")
            w[k, cols] = weight
    return w
