"""Benchmarks: `python -m tools.bench <name> [--quick]`.

Each benchmark prints a table, measures its reference in the same run, ends with one headline
line, and exits non-zero when a goal is missed. Names: `physics`, `nnls`, `data`, `train`, `detect`,
`sdm`, `render`.
"""

import sys


BENCHMARKS = {
    "physics": "tools._bench_physics",
    "nnls": "tools._bench_nnls",
    "data": "tools._bench_data",
    "train": "tools._bench_train",
    "detect": "tools._bench_detect",
    "sdm": "tools._bench_sdm",
    "render": "tools._bench_render",
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m tools.bench {{{','.join(BENCHMARKS)}}} [--quick] [options]")
        return 2
    import importlib

    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
