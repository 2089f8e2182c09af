"""The pytest plugin (entry point ``synthloss``). Filled in by the plugin work."""

from __future__ import annotations

from pytest_synthloss.plugin_run import synthloss_run  # noqa: F401
