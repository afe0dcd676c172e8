"""The AU side of one synthetic sequence of a preset: the subject's style, the true AU
trajectory and the coded labels, each from its own random stream (DESIGN §6.1).
"""

import dataclasses
from typing import Final

import numpy as np

from ..face import AU_IDS
from ._coding import Labels, code_labels
from ._episodes import Episode, SubjectStyle, au_trajectory
from ._presets import Preset
from ._streams import stream_rng


__all__ = ["SequenceAUs", "generate_sequence", "sample_style"]

_N_AU = len(AU_IDS)

# co-activation pairs a subject may carry (driver, dragged): the dragged AU follows the driver
_COACTIVATION_POOL: Final = (
    (12, 14),
    (12, 25),
    (12, 10),
    (6, 7),
    (4, 7),
    (1, 2),
    (17, 24),
    (15, 17),
    (10, 25),
    (9, 4),
)


def sample_style(preset: Preset, subject: str, *, seed: int) -> SubjectStyle:
    """Samples a subject's propensities and co-activations (deterministic in seed and subject)."""
    if subject not in preset.subjects:
        raise ValueError(f"unknown subject {subject!r} for preset {preset.dataset}/{preset.size}")
    rng = stream_rng(seed, preset.dataset, subject, "style")
    prop = np.exp(preset.propensity_sd * rng.standard_normal(_N_AU))
    picks = rng.random(len(_COACTIVATION_POOL)) < preset.coactivation_prob
    gains = rng.uniform(*preset.coactivation_gain, size=len(_COACTIVATION_POOL))
    coact = tuple(
        (d, g, float(gain))
        for (d, g), p, gain in zip(_COACTIVATION_POOL, picks, gains, strict=True)
        if p
    )
    return SubjectStyle(subject, prop, coact)


@dataclasses.dataclass(frozen=True)
class SequenceAUs:
    """The AU side of one synthetic sequence.

    Attributes:
        subject: subject ID.
        task: task name.
        intensity: (T, 17) true intensities (ground truth, in the order of ``AU_IDS``).
        labels: the coded labels.
        episodes: the expression episodes.
    """

    subject: str
    task: str
    intensity: np.ndarray
    labels: Labels
    episodes: list[Episode]


def generate_sequence(preset: Preset, subject: str, task: str, *, seed: int) -> SequenceAUs:
    """True AU trajectory, coded labels and episodes of one (subject, task) sequence.

    Deterministic in ``(seed, preset.dataset, subject, task)`` and independent of what else is
    generated (see :func:`stream_rng`).
    """
    context = preset.task(task)
    style = sample_style(preset, subject, seed=seed)
    traj_rng = stream_rng(seed, preset.dataset, subject, task, "trajectory")
    x, episodes = au_trajectory(
        context, n_frames=preset.frames_per_task, fps=preset.fps, rng=traj_rng, style=style
    )
    labels = code_labels(
        x, coding=preset.coding, rng=stream_rng(seed, preset.dataset, subject, task, "coding")
    )
    return SequenceAUs(subject, task, x, labels, episodes)
