"""Presence thresholds of ``aujax detect``'s ``AU**_c`` columns, from the synthetic training data.

As in seed 000, an AU is present when the top-down engine's level ``a*_k`` reaches a threshold
``t_k`` that maximises the frame-based F1 on training data (:func:`aujax.methods.topdown.
choose_thresholds`). ``aujax detect`` has no labelled data of its own, so its thresholds come
from the synthetic BP4D-like default (all of its subjects: the thresholds are applied to other
people, never scored on these) and its DISFA-like default (for AUs 5, 9, 20, 25, 26, which BP4D
does not code; intensity >= 2 counts as present, DISFA's usual cut), fitted with the same engine
settings that ``aujax detect`` uses (:data:`aujax.detect.ENGINE`)::

    python -m tools.detect_thresholds            # small presets (default run's data)
    python -m tools.detect_thresholds --preset tiny

writes ``aujax/detect/assets/au_thresholds.json`` with the thresholds, the training F1 and the
provenance (presets, seed, engine settings, frames, date).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib

import ml_collections
import numpy as np

from aujax.datasets import cache_root
from aujax.detect import ENGINE, THRESHOLDS_PATH
from aujax.face import AU_IDS
from aujax.methods.topdown import choose_thresholds, prepared_table


DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", help="synthetic preset (default: small)")
    parser.add_argument("--out", default=str(THRESHOLDS_PATH))
    args = parser.parse_args(argv)
    data = ml_collections.ConfigDict(
        dict(
            bp4d_dir="",
            disfa_dir="",
            synthetic_preset=args.preset,
            disfa_preset=args.preset,
            image_size=64,
            template_vertices=ENGINE["template_vertices"],
            engine_iterations=ENGINE["iterations"],
            engine_nnls_iterations=ENGINE["nnls_iterations"],
            engine_nnls_method=ENGINE["nnls_method"],
        )
    )
    out: dict = {"thresholds": {}, "train_f1": {}, "source": {}}
    for kind in ("bp4d", "disfa"):
        table, root, _ = prepared_table(
            kind, data, seed=ENGINE["seed"], cache=cache_root(),
            aus=DISFA_AUS if kind == "disfa" else None,
        )  # fmt: skip
        ok = table.c_mask
        aus = list(table.aus)
        labels = np.asarray(table.labels)[ok]  # DISFA: occurrence = intensity >= 2
        cols = [list(AU_IDS).index(a) for a in aus]
        levels = np.asarray(table.c)[ok][:, cols]
        thr = choose_thresholds(
            levels, labels, subjects=np.asarray(table.subject)[ok], aus=aus, dataset=kind
        )
        for a, t, f in zip(aus, thr.thresholds, thr.train_f1, strict=True):
            if kind == "bp4d" or str(a) not in out["thresholds"]:
                out["thresholds"][str(a)] = float(t)
                out["train_f1"][str(a)] = round(float(f), 4)
                out["source"][str(a)] = f"{root.name} ({int(ok.sum())} frames)"
    out["engine"] = dict(ENGINE)
    out["preset"] = args.preset
    out["date"] = datetime.date.today().isoformat()
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
