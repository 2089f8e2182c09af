"""The ``synthloss`` command line."""
