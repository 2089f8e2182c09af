"""Optional extras: one way to import them, and one message when one is missing.

Every integration (matplotlib, hypothesis, prometheus_client, tensorboard, ...) is imported
only when it is used, through :func:`require_extra`. When the package is missing the user
gets :class:`MissingExtraError`, which names what needed it and the pip command that installs
it. It is a :class:`~pytest_synthloss.SynthLossError` *and* an :class:`ImportError`, so both
``except SynthLossError`` and ``pytest.importorskip`` treat it as they should.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pytest_synthloss.core.errors import SynthLossError

__all__ = ["MissingExtraError", "install_hint", "require_extra"]


class MissingExtraError(SynthLossError, ImportError):
    """An optional package is not installed; the message says which extra installs it."""


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``: ``pip install "pytest-synthloss[extra]"``."""
    return f'pip install "pytest-synthloss[{extra}]"'


def require_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` for ``what``, or raise :class:`MissingExtraError` naming ``extra``.

    >>> require_extra("json", "none", "this example").__name__
    'json'
    >>> try:
    ...     require_extra("no_such_module_xyz", "plot", "plotting")
    ... except MissingExtraError as error:
    ...     print(error)
    plotting needs no_such_module_xyz, which is not installed: pip install "pytest-synthloss[plot]"
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.partition(".")[0]
        error = MissingExtraError(
            f"{what} needs {top}, which is not installed: {install_hint(extra)}"
        )
        error.name = top
        raise error from None
