"""``python -m pytest_synthloss``: the ``synthloss`` command line."""

from __future__ import annotations

if __name__ == "__main__":
    try:
        from pytest_synthloss.cli.main import console_main
    except KeyboardInterrupt:  # SIGINT while starting up: the exit code of a stopped run
        raise SystemExit(130) from None
    console_main()
