"""The protocol every experiment follows around its models (DESIGN §8).

* :class:`Run` — one run: its workdir tied to one config, its log and clock, train or restore,
  one directory per model (``runs/<fold>/<model>/``), each model trained or restored with its
  time logged, and the result files written at the end;
* :class:`SubjectFolds` — the subject-independent folds of a table, with validation subjects
  drawn (seeded) from each fold's training subjects;
* :class:`Report` — the result tables of a run, as Markdown (printed, ``results/tables.md``) and
  CSV (``results/<name>.csv``);
* :func:`fold_f1_lines` — per-fold per-AU F1 of each method averaged over the folds (a table 1).
"""

import contextlib
import json
import pathlib
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple, TypeVar

import jax
import numpy as np

from ..datasets import FrameTable, folds
from ._runs import RunLog, check_run_config, csv_table, markdown_table


__all__ = ["Report", "Run", "Split", "SubjectFolds", "au_header", "fold_f1_lines"]

T = TypeVar("T")


def _slug(name: str) -> str:
    """A model directory's name from its display name (``"physics + image"`` -> ``physics_plus_image``)."""
    return name.lower().replace(" + ", "_plus_").replace(" ", "_").replace("%", "pct")


class Report:
    """The result tables of a run: Markdown sections and CSV bodies by name."""

    def __init__(self):
        self.markdown: list[str] = []
        self.csv: dict[str, str] = {}

    def table(self, name: str, title: str, header: list[str], lines, *, note: str = "",
              csv_header: list[str] | None = None) -> None:  # fmt: skip
        """Adds a table of ``(name, fractions)`` lines (percent in Markdown, fractions in CSV)."""
        self.markdown.append(markdown_table(title, header, lines, note=note))
        self.csv[name] = csv_table(csv_header or header, lines)

    def section(self, name: str, markdown: str, csv: str) -> None:
        """Adds a section written by the caller (a table of other units than percent)."""
        self.markdown.append(markdown)
        self.csv[name] = csv

    @property
    def text(self) -> str:
        return "\n".join(self.markdown)


class Run:
    """One run of an experiment in ``workdir``.

    Creating it checks (and on a first run writes) the workdir's ``config.json``
    (:func:`check_run_config`), opens the run log and starts the clock.

    Args:
        config: the run's ConfigDict.
        workdir: the run directory.
        experiment: the experiment's name (log lines, error messages).
        train: False restores every model from its checkpoints instead of training.
        step: the checkpoint restored when ``train`` is False (``"latest"``, ``"best"``, a step).
        echo: where progress lines are printed (None: silent; ``log.txt`` always).
        provenance: versions the checkpoints depend on beyond the config
            (:func:`check_run_config`).
    """

    def __init__(self, config, workdir, *, experiment: str, train: bool = True, step="latest",
                 echo=print, provenance: dict | None = None):  # fmt: skip
        self.workdir = pathlib.Path(workdir)
        check_run_config(config, self.workdir, train=train, experiment=experiment,
                         provenance=provenance)  # fmt: skip
        self.experiment, self.train, self.step = experiment, train, step
        self.log = RunLog(self.workdir, echo)
        self._t0 = time.perf_counter()
        self.log(f"{experiment}: workdir {self.workdir}, {jax.device_count()} "
                 f"{jax.default_backend()} device(s).")  # fmt: skip

    @property
    def restore(self) -> int | str | None:
        """What a model's fit function restores: None (train) or the checkpoint to restore."""
        return None if self.train else self.step

    def model_dir(self, *names: str) -> pathlib.Path:
        """``runs/<name>/<name>/...`` of a model (``("fold1", "3D physics")`` -> fold1/3d_physics)."""
        return self.workdir / "runs" / "/".join(_slug(n) for n in names)

    def fit(self, names: tuple[str, ...], fit: Callable[..., T]) -> T:
        """Trains (resuming) or restores one model in :meth:`model_dir` ``(*names)``.

        Args:
            names: the model's name parts; joined by ``/`` they label its progress and log line.
            fit: ``fit(run_dir, *, progress, restore) -> state`` (a method's ``train_*``).

        Raises:
            ValueError: evaluation by restore and the model has no checkpoints.
        """
        d = self.model_dir(*names)
        if not self.train and not (d / "checkpoints").exists():
            raise ValueError(f"{d}: no checkpoints to evaluate (was the run finished?).")
        label = "/".join(names)
        with self.timed(f"{label}: {'trained' if self.train else 'restored'}"):
            return fit(d, progress=label, restore=self.restore)

    @contextlib.contextmanager
    def timed(self, what: str) -> Iterator[None]:
        """Logs ``  <what> in <seconds> s`` once the block is done."""
        t0 = time.perf_counter()
        yield
        self.log(f"  {what} in {time.perf_counter() - t0:.0f} s")

    def finish(self, report: Report, results: dict) -> None:
        """Writes ``results/`` (tables.md, the CSVs, results.json; when training) and prints the
        tables and the run's time."""
        if self.train:
            out = self.workdir / "results"
            out.mkdir(exist_ok=True)
            (out / "tables.md").write_text(report.text)
            for name, body in report.csv.items():
                (out / f"{name}.csv").write_text(body)
            (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        self.log("")
        self.log(report.text)
        self.log(f"{self.experiment}: done in {time.perf_counter() - self._t0:.0f} s.")


class Split(NamedTuple):
    """Table rows of one fold: ``train`` (without the validation subjects), ``validation`` (held-out
    training subjects), ``test``; and the fold's test subjects."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    test_subjects: tuple[str, ...]


class SubjectFolds:
    """The standard subject-independent folds of ``dataset`` over a table's frames.

    Args:
        table: the frames.
        dataset: the folds' dataset (:func:`aujax.datasets.folds`).
        validation_subjects: training subjects per fold held out for validation, drawn with
            ``np.random.default_rng([seed, fold])`` (0, or no more training subjects than that:
            none).
        seed: the experiment's seed.
        where: names the data in the error of a fold without frames.
    """

    def __init__(self, table: FrameTable, dataset: str, *, validation_subjects: int = 0,
                 seed: int = 0, where: str = "the table"):  # fmt: skip
        self.table, self.where = table, where
        self.validation_subjects, self.seed = int(validation_subjects), seed
        self._folds = folds(dataset)
        self._present = set(table.subject.tolist())
        self._splits: dict[int, Split] = {}

    def __call__(self, fold: int) -> Split:
        """The rows of ``fold`` (1-based)."""
        if fold not in self._splits:
            self._splits[fold] = self._split(fold)
        return self._splits[fold]

    def _split(self, fold: int) -> Split:
        tr_subj, te_subj = self._folds[fold - 1]
        tr_subj = sorted(s for s in tr_subj if s in self._present)
        n_val = self.validation_subjects
        if n_val and len(tr_subj) > n_val:
            rng = np.random.default_rng([self.seed, fold])
            val_subj = sorted(rng.choice(tr_subj, n_val, replace=False).tolist())
        else:
            val_subj = []
        fit_subj = [s for s in tr_subj if s not in val_subj]
        t = self.table
        tr, val, te = t.rows(fit_subj), t.rows(val_subj), t.rows(te_subj)
        if tr.size == 0 or te.size == 0:
            raise ValueError(f"fold {fold}: no training or test frames in {self.where}.")
        return Split(tr, val, te, tuple(te_subj))


def au_header(aus, first: str = "Method") -> list[str]:
    """``[first, "AU1", ..., "Avg"]``: the header of a per-AU table."""
    return [first] + [f"AU{a}" for a in aus] + ["Avg"]


def fold_f1_lines(per_fold: dict[str, list[np.ndarray]], aus) -> tuple[list, dict]:
    """Per-AU F1 of each method averaged over the folds, and its average over the AUs.

    Args:
        per_fold: method -> one (n_aus,) F1 array per fold.
        aus: the AU numbers of the columns.

    Returns:
        ``(lines, record)``: table lines ``(method, [per-AU..., avg])`` and method ->
        ``{"per_au", "avg", "per_fold_avg"}``.
    """
    lines, record = [], {}
    for row, scores in per_fold.items():
        f1 = np.mean(np.stack(scores), axis=0)
        lines.append((row, [*f1.tolist(), float(np.mean(f1))]))
        record[row] = {
            "per_au": dict(zip(aus, f1.tolist(), strict=True)),
            "avg": float(np.mean(f1)),
            "per_fold_avg": [float(np.mean(x)) for x in scores],
        }
    return lines, record
