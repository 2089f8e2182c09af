from __future__ import annotations

from collections.abc import Iterator

import numpy  # noqa: F401  # imported up front: numpy must not be re-imported by in-process pytester runs
import pytest

from pytest_synthloss.core import registry

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _inner_runs_in_file_order(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inner pytest runs (pytester) keep their tests in file order, as their output is
    asserted line by line: pytest-randomly, when installed, is off in them (it shuffles and
    reseeds this suite itself, which passes in any order)."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # which clears PYTEST_ADDOPTS when it starts
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Undo any profile registered by the test."""
    saved = dict(registry._registry)
    yield
    registry._registry.clear()
    registry._registry.update(saved)
