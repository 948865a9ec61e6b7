"""``python -m mktows``: the same command as ``mktows``. Nothing else."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
