"""The pytest plugin (entry point ``synthloss``). Filled in by the plugin work."""

from __future__ import annotations
