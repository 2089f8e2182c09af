"""The spec's ``train_gpt2.py``: a training script whose loss follows the synthetic model.

    python train_gpt2.py --steps 5 --sleep-seconds 0.1 --profile stable

prints a ``# synthloss run:`` header line, then ``Step 1: loss=2.18`` ... ``Step 5: loss=1.90``,
one line per step, ``--sleep-seconds`` apart. ``--help`` lists the other options
(``--lr``, ``--batch-size``, ``--format``, ``--output``...). Needs ``pip install pytest-synthloss``.
"""

from __future__ import annotations

import sys

from pytest_synthloss.cli.main import train_main

if __name__ == "__main__":
    sys.exit(train_main(prog="train_gpt2.py"))
