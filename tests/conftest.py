from __future__ import annotations

from collections.abc import Iterator

import numpy  # noqa: F401  # imported up front: numpy must not be re-imported by in-process pytester runs
import pytest

from pytest_synthloss.core import registry

pytest_plugins = ["pytester"]


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Undo any profile registered by the test."""
    saved = dict(registry._registry)
    yield
    registry._registry.clear()
    registry._registry.update(saved)
