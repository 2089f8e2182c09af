"""``python -m pytest_synthloss``: the ``synthloss`` command line."""

from __future__ import annotations

import sys

from pytest_synthloss.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
