from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Iterator

import numpy  # noqa: F401  # imported up front: numpy must not be re-imported by in-process pytester runs
import pytest

import pytest_synthloss
from pytest_synthloss.core import registry


def _import_every_module() -> None:
    """Import all of pytest_synthloss up front. An in-process pytester run restores
    ``sys.modules`` when it ends: a module first imported inside one would be imported
    again later as a new module object, with new classes that ``isinstance`` does not
    recognise (a LossCurve from before would no longer be a LossCurve)."""
    for info in pkgutil.walk_packages(pytest_synthloss.__path__, "pytest_synthloss."):
        with contextlib.suppress(ImportError):  # an optional extra that is not installed
            importlib.import_module(info.name)


_import_every_module()

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
