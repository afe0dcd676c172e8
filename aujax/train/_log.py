"""A run's ``metrics.jsonl``: one JSON object per logged step, truncated on resume (DESIGN §8)."""

import json
import os
import pathlib

import numpy as np


__all__ = ["MetricsLog", "read_metrics"]


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    a = np.asarray(v)
    if a.ndim == 0:
        return a.item()
    return a.tolist()


class MetricsLog:
    """Appends ``{"step": s, ...}`` lines to ``workdir/metrics.jsonl``.

    On a resumed run, :meth:`truncate` drops the lines logged after the restored checkpoint, so
    the file of a killed-and-resumed run equals that of an uninterrupted one.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, metrics: dict, **extra) -> None:
        """Appends one line (arrays become lists, scalars plain numbers) and flushes it."""
        record = {"step": int(step), **_plain(dict(extra)), **_plain(dict(metrics))}
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate(self, step: int) -> None:
        """Keeps only lines with ``record["step"] <= step`` (and drops a torn last line)."""
        if not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill
            if rec.get("step", -1) <= step:
                keep.append(line)
        self.path.write_text("".join(line + "\n" for line in keep))


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """All records of a ``metrics.jsonl`` file.

    Raises:
        ValueError: a malformed line (names the file and line number).
    """
    out = []
    for i, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i}: expected one JSON object per line ({e}).") from e
    return out
