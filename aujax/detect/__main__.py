"""``python -m aujax.detect INPUT... [options]``: the same as ``aujax detect``."""

import sys

from ._cli import detect_main


if __name__ == "__main__":
    sys.exit(detect_main())
