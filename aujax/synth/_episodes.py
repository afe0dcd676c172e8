"""Synthetic AU intensity trajectories: elicitation contexts, expression episodes, subject styles.

The first stage of the synthetic FACS generator (DESIGN §6.1): subjects x tasks (elicitation
contexts such as BP4D's eight, :mod:`aujax.synth._contexts`) x time at 25 fps. Everything here is
host-side NumPy; functions take ``rng: np.random.Generator`` (streams: :mod:`aujax.synth._streams`).

**Episodes.** A sequence is a window onto a stationary marked point process of expression
episodes. Each episode activates a set of AUs with per-AU peak intensities and has three phases
(durations log-normal, in seconds):

* onset: raised-cosine ramp ``0.5 (1 - cos(pi t / T_on))`` from 0 to the peak (monotone);
* apex: hold at the peak times ``1 + eps(t)``, a smooth multiplicative jitter
  (``|eps| <= 3 apex_jitter``);
* offset: raised-cosine ramp from the last apex value back to 0 (monotone).

Three episode kinds come from a :class:`Context`: *prototype* episodes (the context's
prototypical AU combinations, e.g. 6+12(+25) for amusement), *single* episodes (spontaneous
single AUs) and *tonic* episodes (long, low-intensity holds: BP4D's spontaneous expressions keep a
smile (6+12) and 7/10/14 for long spans, which is where its ~.5 base rates of AU6/7/10/12/14 come
from). Episode starts are Poisson in time and include episodes that began before the first frame
(a look-back window), so base rates do not depend on the sequence length. A *posed* context
(Bosphorus) instead holds exactly one prototype episode whose apex covers the end of the clip.

**Combination.** Overlapping episodes combine by the per-AU **maximum** of their envelopes
(an AU cannot be "more" active because two reasons drive it; the maximum keeps intensities in
[0, 5] without saturation artefacts). A subject's co-activations are then applied in the same way:
``I[dragged] = max(I[dragged], gain * I[driver])``. Intensities are continuous in [0, 5] with
the FACS levels A-E at ~1-5.

**Subjects.** :class:`SubjectStyle` holds per-AU propensity multipliers (idiosyncrasy: they scale
the per-AU peak intensities and the rates of single-AU episodes) and co-activations (e.g. a
subject whose AU12 drags AU14).

The coders' labels of a trajectory are :mod:`aujax.synth._coding`'s; a preset's sequence
(:func:`aujax.synth.generate_sequence`) puts trajectory, style and coding together.
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..face import AU_IDS


__all__ = [
    "Context",
    "Episode",
    "SubjectStyle",
    "au_trajectory",
    "episode_envelope",
    "neutral_style",
    "sample_episodes",
]

_AU_INDEX = {au: i for i, au in enumerate(AU_IDS)}
_N_AU = len(AU_IDS)


def _check_aus(combo: Mapping[int, float], name: str) -> None:
    for au, w in combo.items():
        if au not in _AU_INDEX:
            raise ValueError(f"{name}: unknown AU {au!r}; expected one of {AU_IDS}")
        if not (np.isfinite(w) and w > 0):
            raise ValueError(f"{name}: relative intensity of AU{au} must be > 0, got {w!r}")


def _check_lognormal(value, name: str) -> None:
    if len(value) != 2 or not (value[0] > 0 and value[1] >= 0):
        raise ValueError(f"{name} must be (median > 0, log-sd >= 0), got {value!r}")


@dataclasses.dataclass(frozen=True)
class Context:
    """An elicitation context (task): which expressions occur, how often, how strong, how long.

    Attributes:
        name: task name, e.g. ``"T1"``.
        description: free text, e.g. ``"amusement"``.
        prototypes: ``((combination, weight), ...)``; a combination maps AU -> relative intensity
            (1 = the episode's peak); weights are relative selection probabilities.
        episode_rate: prototype episodes per second.
        single_rate: spontaneous single-AU episodes per second.
        single_weights: AU -> relative probability of being the spontaneous AU (empty: uniform).
        tonic: ``((combination, weight), ...)`` long low-intensity holds.
        tonic_coverage: expected fraction of frames covered by at least one tonic hold (holds
            are Poisson with rate ``-log(1 - coverage) / mean tonic duration``).
        intensity: (mean, sd) of a prototype/single episode's peak intensity (normal, clipped to
            [0.3, 5]).
        tonic_intensity: (mean, sd) of a tonic hold's peak intensity.
        onset, apex, offset: (median seconds, log-sd) of the phase durations of prototype and
            single episodes (log-normal).
        tonic_apex: (median seconds, log-sd) of a tonic hold's apex; its onset and offset use
            ``onset`` and ``offset`` scaled by 2.
        apex_jitter: relative sd of the smooth apex jitter.
        au_dropout: probability that each AU of a prototype combination with more than two AUs is
            left out of an episode (expressions are rarely complete).
        posed: if True the sequence holds exactly one prototype episode whose apex covers the end
            of the clip (posed databases such as Bosphorus); rates are then ignored. A posed
            context with no prototypes is a neutral face.
    """

    name: str
    description: str
    prototypes: tuple[tuple[Mapping[int, float], float], ...]
    episode_rate: float = 0.2
    single_rate: float = 0.1
    single_weights: Mapping[int, float] = dataclasses.field(default_factory=dict)
    tonic: tuple[tuple[Mapping[int, float], float], ...] = ()
    tonic_coverage: float = 0.0
    intensity: tuple[float, float] = (2.5, 0.8)
    tonic_intensity: tuple[float, float] = (1.3, 0.3)
    onset: tuple[float, float] = (0.5, 0.4)
    apex: tuple[float, float] = (1.5, 0.6)
    offset: tuple[float, float] = (0.8, 0.4)
    tonic_apex: tuple[float, float] = (12.0, 0.6)
    apex_jitter: float = 0.04
    au_dropout: float = 0.1
    posed: bool = False

    def __post_init__(self):
        if not self.prototypes and (self.episode_rate > 0 or self.posed is False):
            raise ValueError(
                f"context {self.name!r}: prototypes may be empty only for a posed neutral context"
            )
        for combo, w in (*self.prototypes, *self.tonic):
            _check_aus(combo, f"context {self.name!r}")
            if not w > 0:
                raise ValueError(f"context {self.name!r}: prototype weights must be > 0, got {w}")
        _check_aus(self.single_weights, f"context {self.name!r} single_weights")
        for field in ("episode_rate", "single_rate", "tonic_coverage", "apex_jitter", "au_dropout"):
            v = getattr(self, field)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"context {self.name!r}: {field} must be >= 0, got {v!r}")
        if self.tonic_coverage > 0 and not self.tonic:
            raise ValueError(f"context {self.name!r}: tonic_coverage > 0 needs tonic combinations")
        if self.tonic_coverage >= 1 or self.au_dropout >= 1:
            raise ValueError(f"context {self.name!r}: tonic_coverage and au_dropout must be < 1")
        for field in ("onset", "apex", "offset", "tonic_apex"):
            _check_lognormal(getattr(self, field), f"context {self.name!r}: {field}")


@dataclasses.dataclass(frozen=True)
class Episode:
    """One expression episode (times in seconds from the first frame; may start before it).

    Attributes:
        kind: ``"prototype"``, ``"single"``, ``"tonic"`` or ``"posed"``.
        peaks: AU -> peak intensity (0-5) of this episode.
        start: onset start time (s).
        onset, apex, offset: phase durations (s).
    """

    kind: str
    peaks: Mapping[int, float]
    start: float
    onset: float
    apex: float
    offset: float

    @property
    def duration(self) -> float:
        """Total duration onset + apex + offset (s)."""
        return self.onset + self.apex + self.offset

    @property
    def aus(self) -> tuple[int, ...]:
        """The AUs this episode activates, sorted."""
        return tuple(sorted(self.peaks))


@dataclasses.dataclass(frozen=True)
class SubjectStyle:
    """A subject's idiosyncratic expression statistics.

    Attributes:
        subject: subject ID, e.g. ``"F001"``.
        propensity: (17,) per-AU multipliers in the order of ``AU_IDS``; they scale the AU's peak
            intensity in every episode and the rate of its single-AU episodes.
        coactivations: ``((driver, dragged, gain), ...)``: ``I[dragged] >= gain * I[driver]``.
    """

    subject: str
    propensity: np.ndarray
    coactivations: tuple[tuple[int, int, float], ...] = ()

    def __post_init__(self):
        p = np.asarray(self.propensity, dtype=np.float64)
        if p.shape != (_N_AU,) or not np.all(np.isfinite(p)) or np.any(p <= 0):
            raise ValueError(f"propensity must be ({_N_AU},) finite and > 0, got {p!r}")
        object.__setattr__(self, "propensity", p)
        for driver, dragged, gain in self.coactivations:
            _check_aus({driver: 1.0, dragged: 1.0}, f"subject {self.subject!r} coactivations")
            if not 0 < gain <= 1:
                raise ValueError(f"coactivation gain must be in (0, 1], got {gain!r}")


def neutral_style(subject: str = "neutral") -> SubjectStyle:
    """A subject with unit propensities and no co-activations."""
    return SubjectStyle(subject, np.ones(_N_AU))


def _lognormal(rng: np.random.Generator, spec: tuple[float, float], size=None):
    return spec[0] * np.exp(spec[1] * rng.standard_normal(size))


def _pick(rng: np.random.Generator, table) -> Mapping[int, float]:
    w = np.array([wt for _, wt in table], dtype=np.float64)
    return table[rng.choice(len(table), p=w / w.sum())][0]


def _peak(rng: np.random.Generator, spec: tuple[float, float]) -> float:
    return float(np.clip(spec[0] + spec[1] * rng.standard_normal(), 0.3, 5.0))


def _peaks(rng, combo, peak, style: SubjectStyle, dropout: float) -> dict[int, float]:
    aus = sorted(combo)
    if dropout > 0 and len(aus) > 2:
        keep = rng.random(len(aus)) >= dropout
        if not keep.any():
            keep[rng.integers(len(aus))] = True
        aus = [au for au, k in zip(aus, keep, strict=True) if k]
    # per-AU variation (+-15 %) around the episode's peak, scaled by the subject's propensity
    var = np.exp(0.15 * rng.standard_normal(len(aus)))
    return {
        au: float(np.clip(peak * combo[au] * v * style.propensity[_AU_INDEX[au]], 0.0, 5.0))
        for au, v in zip(aus, var, strict=True)
    }


def sample_episodes(
    context: Context,
    *,
    duration: float,
    rng: np.random.Generator,
    style: SubjectStyle | None = None,
) -> list[Episode]:
    """Samples the episodes that overlap ``[0, duration)`` seconds of a context.

    Starts are Poisson in ``[-lookback, duration)``; episodes that end before 0 are dropped, so a
    sequence is a window onto a stationary process.

    Args:
        context: the elicitation context.
        duration: window length in seconds (> 0).
        rng: NumPy generator (consumed).
        style: the subject's style; None for a neutral subject.

    Returns:
        The episodes, sorted by start time.
    """
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    style = neutral_style() if style is None else style
    c = context
    if c.posed:
        if not c.prototypes:  # posed neutral face
            return []
        peaks = _peaks(rng, _pick(rng, c.prototypes), _peak(rng, c.intensity), style, 0.0)
        onset = float(_lognormal(rng, c.onset))
        # the apex starts after the onset, but at the latest 0.2 s before the clip ends
        apex_start = min(onset, max(duration - 0.2, 0.0))
        return [Episode("posed", peaks, apex_start - onset, onset, 1e9, 0.0)]
    episodes = []

    def spread(spec):  # ~99.9th percentile of a log-normal
        return spec[0] * np.exp(3.1 * spec[1])

    def window(rate, lookback):
        n = rng.poisson(rate * (duration + lookback))
        return np.sort(rng.uniform(-lookback, duration, size=n))

    def phases(onset_scale, apex_spec):
        return (
            float(onset_scale * _lognormal(rng, c.onset)),
            float(_lognormal(rng, apex_spec)),
            float(onset_scale * _lognormal(rng, c.offset)),
        )

    lookback = spread(c.onset) + spread(c.apex) + spread(c.offset)
    for t0 in window(c.episode_rate, lookback):
        peaks = _peaks(rng, _pick(rng, c.prototypes), _peak(rng, c.intensity), style, c.au_dropout)
        episodes.append(Episode("prototype", peaks, float(t0), *phases(1.0, c.apex)))
    if c.single_rate > 0:
        w = np.array([c.single_weights.get(au, 0.0) for au in AU_IDS], dtype=np.float64)
        w = w if c.single_weights else np.ones(_N_AU)
        sw = w * style.propensity  # the subject's propensity scales each AU's share and rate
        rate = c.single_rate * sw.sum() / w.sum()
        for t0 in window(rate, lookback):
            au = AU_IDS[rng.choice(_N_AU, p=sw / sw.sum())]
            peak = _peak(rng, c.intensity) * style.propensity[_AU_INDEX[au]]
            episodes.append(
                Episode("single", {au: float(np.clip(peak, 0, 5))}, float(t0), *phases(1.0, c.apex))
            )
    if c.tonic_coverage > 0:
        mean_len = 2 * np.exp(c.onset[1] ** 2 / 2) * (c.onset[0] + c.offset[0]) + c.tonic_apex[
            0
        ] * np.exp(c.tonic_apex[1] ** 2 / 2)
        tlook = 2 * spread(c.onset) + spread(c.tonic_apex) + 2 * spread(c.offset)
        for t0 in window(-np.log1p(-c.tonic_coverage) / mean_len, tlook):
            combo = _pick(rng, c.tonic)
            peaks = _peaks(rng, combo, _peak(rng, c.tonic_intensity), style, c.au_dropout)
            episodes.append(Episode("tonic", peaks, float(t0), *phases(2.0, c.tonic_apex)))
    episodes = [e for e in episodes if e.start + e.duration > 0]
    return sorted(episodes, key=lambda e: e.start)


def episode_envelope(
    episode: Episode, t: np.ndarray, *, jitter: float = 0.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The unit-peak envelope of an episode at times ``t`` (s): raised-cosine onset, apex hold
    with smooth multiplicative jitter, raised-cosine offset.

    Args:
        episode: the episode.
        t: (T,) times in seconds, evenly spaced.
        jitter: relative sd of the apex jitter (0 for none; needs ``rng`` if > 0).
        rng: NumPy generator for the jitter.

    Returns:
        (T,) envelope in [0, 1 + 3 jitter], zero outside the episode.
    """
    t = np.asarray(t, dtype=np.float64)
    s = t - episode.start
    on, ap, off = episode.onset, episode.apex, episode.offset
    env = np.zeros_like(s)
    apex = np.ones_like(s)
    if jitter > 0:
        if rng is None:
            raise ValueError("episode_envelope: jitter > 0 needs rng")
        noise = rng.standard_normal(s.size + 4)
        smooth = np.convolve(noise, np.ones(5) / np.sqrt(5.0), mode="valid")
        apex = 1.0 + np.clip(jitter * smooth, -3 * jitter, 3 * jitter)
    m_on = (s >= 0) & (s < on)
    env[m_on] = 0.5 * (1 - np.cos(np.pi * s[m_on] / on))
    m_ap = (s >= on) & (s < on + ap)
    env[m_ap] = apex[m_ap]
    m_off = (s >= on + ap) & (s < on + ap + off)
    if m_off.any():
        # ramp down from the last apex value so that the offset is monotone
        last = apex[m_ap][-1] if m_ap.any() else 1.0
        env[m_off] = last * 0.5 * (1 + np.cos(np.pi * (s[m_off] - on - ap) / off))
    return env


def au_trajectory(
    context: Context,
    *,
    n_frames: int,
    fps: float = 25.0,
    rng: np.random.Generator,
    style: SubjectStyle | None = None,
) -> tuple[np.ndarray, list[Episode]]:
    """AU intensity trajectory of one sequence built from expression episodes.

    Each AU's intensity is the maximum over the episodes that activate it of
    ``peak * envelope(t)`` (see the module docstring), then the subject's co-activations are
    applied (again by maximum) and the result is clipped to [0, 5].

    Args:
        context: the elicitation context.
        n_frames: number of frames T (>= 1).
        fps: frame rate (frames per second).
        rng: NumPy generator (consumed).
        style: the subject's style; None for a neutral subject.

    Returns:
        intensity: (T, 17) float64 in [0, 5], columns in the order of ``AU_IDS``.
        episodes: the episodes overlapping the sequence, sorted by start time.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive int, got {n_frames!r}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be > 0, got {fps!r}")
    style = neutral_style() if style is None else style
    episodes = sample_episodes(context, duration=n_frames / fps, rng=rng, style=style)
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, _N_AU))
    for ep in episodes:
        env = episode_envelope(ep, t, jitter=context.apex_jitter, rng=rng)
        for au, peak in ep.peaks.items():
            j = _AU_INDEX[au]
            out[:, j] = np.maximum(out[:, j], peak * env)
    for driver, dragged, gain in style.coactivations:
        j = _AU_INDEX[dragged]
        out[:, j] = np.maximum(out[:, j], gain * out[:, _AU_INDEX[driver]])
    return np.clip(out, 0.0, 5.0), episodes
