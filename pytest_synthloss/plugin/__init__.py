"""The pytest plugin: options, hooks, fixtures and the marker (a thin layer over the core)."""
