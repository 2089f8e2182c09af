"""The ``>>>`` examples in the package's docstrings run: the generated reference shows them."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pytest_synthloss


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(pytest_synthloss.__path__, "pytest_synthloss.")
        if not info.name.endswith("__main__")
    )


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: list[doctest.DocTest] = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            continue
        found.extend(test for test in finder.find(module, name) if test.examples)
    return found


DOCTESTS = {test.name: test for test in _doctests()}


def test_the_package_has_docstring_examples() -> None:
    assert {
        "pytest_synthloss.core.extras.require_extra",
        "pytest_synthloss.exports.strategies",
    } <= set(DOCTESTS)


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_example(name: str) -> None:
    test = DOCTESTS[name]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda _: None)
    result = runner.summarize(verbose=False)
    if result.failed:
        report: list[str] = []
        rerun = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        rerun.run(test, out=report.append)
        pytest.fail("".join(report), pytrace=False)
