"""Every optional extra fails the same way when it is missing: MissingExtraError naming what
needed it and the pip command that installs it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import pytest

from pytest_synthloss import SynthLossError, make_curve
from pytest_synthloss.core.extras import MissingExtraError
from pytest_synthloss.exports.prometheus import serve_loss_gauge
from pytest_synthloss.exports.tensorboard import write_tensorboard


@pytest.mark.parametrize(
    ("module", "load"),
    [
        ("hypothesis", lambda: importlib.import_module("pytest_synthloss.exports.strategies")),
        ("prometheus_client", lambda: serve_loss_gauge(port=0)),
        ("tensorboard", lambda: write_tensorboard(make_curve(3), "unused-logdir")),
    ],
)
def test_every_missing_extra_names_its_pip_command(
    module: str, load: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"hypothesis": "hypothesis", "prometheus_client": "prometheus"}.get(module, module)
    what = {
        "hypothesis": "pytest_synthloss.exports.strategies",
        "prometheus_client": "serve_loss_gauge",
        "tensorboard": "write_tensorboard",
    }[module]
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    monkeypatch.delitem(sys.modules, "pytest_synthloss.exports.strategies", raising=False)
    with pytest.raises(MissingExtraError) as info:
        load()
    assert str(info.value) == (
        f'{what} needs {module}, which is not installed: pip install "pytest-synthloss[{extra}]"'
    )
    assert isinstance(info.value, SynthLossError)
    assert isinstance(info.value, ImportError)
    assert info.value.name == module
