"""The generator pipeline of the synthetic datasets: physics -> render -> write, overlapped
(DESIGN §6.1).

A generator (BP4D-, DISFA- or Bosphorus-like) says what differs in :class:`Stages` over its units
of work (the subjects); :func:`run_pipeline` runs them:

* ``simulate(unit)``: the physics (the unit's draws, its rig, the full spring-mass dynamics), in
  worker threads under float64, ``workers`` units in flight. A subject's physics (the dense
  inverse, then the Newmark scan) is single-threaded on XLA CPU and LAPACK here, and the main
  thread's rendering and the writer leave most of a core free, so two in flight keep both cores
  busy;
* ``render(simulated)``: the main thread, unit after unit in order (the camera's draws, the
  images);
* ``write(rendered)``: the unit's files, in one writer thread, in order; it yields
  ``(name, frames)`` per item written, reported then as a progress line ``"{name}: {frames}
  {noun} ({elapsed} s)"``.

While unit i renders, the physics of the next units runs and unit i - 1's files are written. Every
unit draws from its own random streams, so results do not depend on the overlap (test). The
:class:`Timings` sum each stage's seconds over its threads, beside the wall time.
"""

import collections
import concurrent.futures
import json
import pathlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import jax


__all__ = [
    "Stages",
    "Timings",
    "check_int",
    "check_subjects",
    "run_pipeline",
    "save_summary",
]

_PHYSICS_WORKERS = 2  # units whose physics is in flight at once


class Stages(Protocol):
    """What a generator supplies to :func:`run_pipeline` (module docstring)."""

    def simulate(self, unit: Any) -> Any: ...

    def render(self, simulated: Any) -> Any: ...

    def write(self, rendered: Any) -> Iterable[tuple[str, int]]: ...


class Timings:
    """Seconds spent in each stage (summed over threads) since the generator started."""

    def __init__(self):
        self.start = time.perf_counter()
        self.seconds = {"physics": 0.0, "rendering": 0.0, "writing": 0.0}
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def timed(self, stage: str, fn: Callable, *args):
        """``fn(*args)``, its seconds added to ``stage``."""
        t0 = time.perf_counter()
        out = fn(*args)
        self.add(stage, time.perf_counter() - t0)
        return out

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def summary(self) -> dict[str, float]:
        """The summary.json fields: wall seconds, then physics, rendering and writing seconds."""
        out = {"seconds": self.elapsed()}
        out.update({f"{stage}_seconds": s for stage, s in self.seconds.items()})
        return out


def _simulate(stages: Stages, unit, timings: Timings):
    with jax.enable_x64(True):  # thread-local: the worker thread sets its own
        return timings.timed("physics", stages.simulate, unit)


def run_pipeline(
    units: Sequence,
    stages: Stages,
    *,
    timings: Timings,
    progress: Callable[[str], None] | None,
    noun: str = "frames",
    workers: int = _PHYSICS_WORKERS,
) -> int:
    """Simulates, renders and writes every unit (module docstring); returns the frames written.

    ``progress`` is called from the writer thread, one line per item as it is written. Errors of
    any stage are raised here (after the threads have finished their current work).
    """
    units, frames = list(units), 0

    def write(rendered) -> None:  # the writer thread
        nonlocal frames
        t0 = time.perf_counter()
        for name, n in stages.write(rendered):
            frames += n
            if progress is not None:
                progress(f"{name}: {n} {noun} ({timings.elapsed():.0f} s)")
        timings.add("writing", time.perf_counter() - t0)

    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
        concurrent.futures.ThreadPoolExecutor(max_workers=1) as writer,
    ):
        ahead = collections.deque(
            pool.submit(_simulate, stages, u, timings) for u in units[:workers]
        )
        written = None
        for index in range(len(units)):
            simulated = ahead.popleft().result()
            if index + workers < len(units):
                ahead.append(pool.submit(_simulate, stages, units[index + workers], timings))
            rendered = timings.timed("rendering", stages.render, simulated)
            if written is not None:
                written.result()  # one unit's files at a time; re-raises the writer's errors
            written = writer.submit(write, rendered)
        if written is not None:
            written.result()
    return frames


def save_summary(gt_dir: pathlib.Path, summary: dict) -> dict:
    """Writes ``summary`` to ``gt_dir/summary.json`` and returns it."""
    (gt_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def check_subjects(preset, subjects) -> tuple[str, ...]:
    """The preset's subjects, or the given subset of them (a ValueError names an unknown one)."""
    subjects = preset.subjects if subjects is None else tuple(subjects)
    for s in subjects:
        if s not in preset.subjects:
            raise ValueError(
                f"subjects: {s!r} is not in the {preset.dataset}/{preset.size} preset."
            )
    return subjects


def check_int(name: str, value, minimum: int, maximum: int | None = None) -> None:
    """Raises a ValueError unless ``value`` is an int in ``[minimum, maximum]`` (not a bool)."""
    if (
        isinstance(value, bool) or not isinstance(value, int) or value < minimum
        or (maximum is not None and value > maximum)
    ):  # fmt: skip
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an int {bounds}, got {value!r}.")
