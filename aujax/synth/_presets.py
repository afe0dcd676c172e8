"""Dataset-like presets: who, which tasks, how long, how subjects vary, how coders code, how the
camera captures, how realistic the muscle activity is (DESIGN §6.1); :data:`PRESETS` holds the
tiny, small and full presets of the BP4D-, DISFA- and Bosphorus-like datasets.
"""

import dataclasses
from typing import Final

from ..datasets import BP4D_AUS, BP4D_SUBJECTS, DISFA_AUS, DISFA_SUBJECTS
from ..face import AU_IDS
from ._coding import Coding
from ._contexts import BOSPHORUS_CONTEXTS, BOSPHORUS_SDM_CONTEXTS, BP4D_CONTEXTS, DISFA_CONTEXTS
from ._episodes import Context
from ._realism import MuscleRealism


__all__ = ["BOSPHORUS_SUBJECTS", "PRESETS", "Capture", "Preset", "get_preset"]

BOSPHORUS_SUBJECTS: Final = tuple(f"bs{i:03d}" for i in range(105))


@dataclasses.dataclass(frozen=True)
class Capture:
    """Camera and lighting statistics of a dataset, for the rendering stages (DESIGN §6.1).

    Attributes:
        image_size: (height, width) of the aligned crops.
        color: True for RGB, False for grayscale.
        distance_cm: camera-to-face distance.
        pose_sd_deg: (yaw, pitch, roll) head-pose standard deviations in degrees.
        light_elevation_deg: (mean, sd) of the key light's elevation.
        ambient: (mean, sd) ambient light fraction.
    """

    image_size: tuple[int, int]
    color: bool
    distance_cm: float
    pose_sd_deg: tuple[float, float, float]
    light_elevation_deg: tuple[float, float]
    ambient: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A dataset-like preset: who, which tasks, how long, how subjects vary, how coders code.

    Attributes:
        dataset: ``"bp4d"``, ``"disfa"`` or ``"bosphorus"``.
        size: ``"tiny"``, ``"small"`` or ``"full"`` (and ``"sdm"`` for the Bosphorus-like
            preset of seed 004).
        subjects: subject IDs (the real ones, so the official folds apply).
        tasks: the contexts every subject performs.
        frames_per_task: frames per (subject, task) sequence.
        fps: frame rate.
        propensity_sd: log-sd of the per-subject, per-AU propensity multipliers.
        coactivation_prob: probability of each pool co-activation pair per subject.
        coactivation_gain: (low, high) uniform range of co-activation gains.
        coding: label coding parameters.
        capture: camera and lighting statistics.
        label_aus: the AUs the dataset labels (occurrence or intensity).
        realism: the muscle activity's realism (:class:`~aujax.synth.MuscleRealism`): the
            realistic defaults of docs/data.md for every dataset (the literature found does not
            support less asymmetry for posed expressions: "Realism of the muscle activity");
            ``dataclasses.replace(preset, realism=MuscleRealism.off())`` is the historical
            generator.
    """

    dataset: str
    size: str
    subjects: tuple[str, ...]
    tasks: tuple[Context, ...]
    frames_per_task: int
    fps: float
    propensity_sd: float
    coactivation_prob: float
    coactivation_gain: tuple[float, float]
    coding: Coding
    capture: Capture
    label_aus: tuple[int, ...]
    realism: MuscleRealism = MuscleRealism()

    @property
    def n_frames(self) -> int:
        """Total number of frames over all subjects and tasks."""
        return len(self.subjects) * len(self.tasks) * self.frames_per_task

    def task(self, name: str) -> Context:
        """The context called ``name``."""
        for c in self.tasks:
            if c.name == name:
                return c
        raise ValueError(f"unknown task {name!r}; preset has {[c.name for c in self.tasks]}")


_BP4D_CAPTURE: Final = Capture((128, 128), True, 100.0, (12.0, 8.0, 4.0), (30.0, 10.0), (0.4, 0.1))
_DISFA_CAPTURE: Final = Capture((128, 128), True, 150.0, (6.0, 5.0, 3.0), (10.0, 15.0), (0.5, 0.1))
_BOSPHORUS_CAPTURE: Final = Capture(
    (128, 128), True, 150.0, (2.0, 2.0, 1.0), (20.0, 5.0), (0.6, 0.05)
)

_BP4D_CODING: Final = Coding(
    threshold=0.5,
    boundary_jitter=3,
    not_coded_fraction=0.02,
    not_coded_run=30.0,
    occlusion_fraction=0.03,
    occlusion_run=20.0,
)
# DISFA: frame-by-frame intensity coding, no 9s, no occlusion column
_DISFA_CODING: Final = Coding(threshold=0.5, boundary_jitter=2)
# Bosphorus: posed targets of static scans
_BOSPHORUS_CODING: Final = Coding(threshold=0.5, boundary_jitter=0)

# one subject per standard fold part (REFERENCE §2) for the tiny presets
_TINY_BP4D: Final = ("F001", "M011", "F007")
_TINY_DISFA: Final = ("SN002", "SN013", "SN003")


def _make_presets() -> dict[str, dict[str, Preset]]:
    def bp4d(size, subjects, frames):
        return Preset(
            "bp4d", size, subjects, BP4D_CONTEXTS, frames, 25.0, 0.3, 0.15, (0.3, 0.7),
            _BP4D_CODING, _BP4D_CAPTURE, BP4D_AUS,
        )  # fmt: skip

    def disfa(size, subjects, frames):
        return Preset(
            "disfa", size, subjects, DISFA_CONTEXTS, frames, 25.0, 0.4, 0.1, (0.3, 0.6),
            _DISFA_CODING, _DISFA_CAPTURE, DISFA_AUS,
        )  # fmt: skip

    def bosphorus(size, subjects, frames, tasks=BOSPHORUS_CONTEXTS):
        return Preset(
            "bosphorus", size, subjects, tasks, frames, 25.0, 0.2, 0.05, (0.2, 0.5),
            _BOSPHORUS_CODING, _BOSPHORUS_CAPTURE, AU_IDS,
        )  # fmt: skip

    return {
        "bp4d": {
            "tiny": bp4d("tiny", _TINY_BP4D, 50),
            "small": bp4d("small", BP4D_SUBJECTS, 100),  # 32,800 frames
            "full": bp4d("full", BP4D_SUBJECTS, 447),  # 146,616 frames (paper: 146,576)
        },
        "disfa": {
            "tiny": disfa("tiny", _TINY_DISFA, 100),
            "small": disfa("small", DISFA_SUBJECTS, 1200),  # 32,400 frames
            "full": disfa("full", DISFA_SUBJECTS, 4845),  # 130,815 frames
        },
        "bosphorus": {
            "tiny": bosphorus("tiny", BOSPHORUS_SUBJECTS[:3], 5),
            "small": bosphorus("small", BOSPHORUS_SUBJECTS, 1),
            "full": bosphorus("full", BOSPHORUS_SUBJECTS, 1),
            # seed 004: the real sample classes, expressions as static equilibria, head poses,
            # occlusions and detector landmarks (aujax.synth._bosphorus_sdm)
            "sdm": bosphorus("sdm", BOSPHORUS_SUBJECTS, 1, BOSPHORUS_SDM_CONTEXTS),
        },
    }


PRESETS: Final = _make_presets()


def get_preset(dataset: str, size: str) -> Preset:
    """``PRESETS[dataset][size]`` with a clear error for unknown names."""
    if dataset not in PRESETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(PRESETS)}")
    if size not in PRESETS[dataset]:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(PRESETS[dataset])}")
    return PRESETS[dataset][size]
