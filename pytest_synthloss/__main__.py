"""``python -m pytest_synthloss``: the ``synthloss`` command line."""

from __future__ import annotations

import sys

from pytest_synthloss.cli.main import main

if __name__ == "__main__":
    from pytest_synthloss.emulation.runner import register_child_profile

    register_child_profile()  # the profile a TrainingRun parent handed over, if any
    sys.exit(main())
