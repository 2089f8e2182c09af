"""Emulating a training run: log formats, the emulator and the training-run process."""
