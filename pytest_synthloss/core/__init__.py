"""The pytest-free core: profiles and their events, the registry, the loss model, curves,
streams, sparklines and sweeps. Nothing here imports pytest, and numpy loads only in the
modules that compute values."""
