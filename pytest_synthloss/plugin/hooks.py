"""The pytest plugin (entry point ``synthloss``): options, ini keys, marker, fixtures, header.

Thin glue: parsing and precedence live in :mod:`pytest_synthloss.plugin.selection`, curves in
:mod:`pytest_synthloss.core.curve`, streams in :mod:`pytest_synthloss.core.stream`. This module
imports nothing that imports numpy; the fixtures import it on first use, so suites that
never use them pay nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from pytest_synthloss.core import hookspecs
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.plugin import recorded, scorecard
from pytest_synthloss.plugin.parametrization import (
    CURVE,
    PROFILE_NAME,
    SHARED,
    chosen_by_test,
    ours,
)
from pytest_synthloss.plugin.prometheus_fixture import (
    _synthloss_prometheus_session,
    synthloss_prometheus,
)
from pytest_synthloss.plugin.run_fixture import synthloss_run

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.core.factory import CurveFactory
    from pytest_synthloss.core.profiles import Profile
    from pytest_synthloss.core.stream import LossStream
    from pytest_synthloss.plugin.selection import Selection

__all__ = [
    "_synthloss_prometheus_session",
    "synthloss_curve",
    "synthloss_factory",
    "synthloss_profile",
    "synthloss_profile_name",
    "synthloss_prometheus",
    "synthloss_run",
    "synthloss_shared_curve",
    "synthloss_shared_profile",
    "synthloss_stream",
]


MARKER = (
    "synthloss(profile=None, steps=None): run this test's synthloss fixtures with this "
    "profile (a name, a comma list or 'all') and/or number of steps, over "
    "--synthloss-profile/--synthloss-steps and the ini keys."
)

_SELECTION = pytest.StashKey["Selection"]()
_ADDED = pytest.StashKey[tuple[str, ...]]()
#: A node's selection with its markers applied (see :func:`_selection_for`).
_NODE_SELECTION = pytest.StashKey["Selection"]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Make ``pytest_synthloss_profiles`` and ``pytest_synthloss_recorded`` available to
    conftest.py files and plugins."""
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``synthloss`` option group and its ini keys."""
    group = parser.getgroup("synthloss", "synthloss: synthetic loss curves (pytest-synthloss)")
    group.addoption(
        "--synthloss-profile",
        metavar="NAME",
        default=None,
        help="profile of the synthloss fixtures: a registered name, a comma list "
        "(stable,spiky) or 'all'; each test using them runs once per profile. "
        "Default: ini synthloss_profile, else stable.",
    )
    group.addoption(
        "--synthloss-steps",
        metavar="N",
        default=None,
        help="steps of synthloss_curve and the other fixtures (integer >= 1). "
        "Default: ini synthloss_steps, else the profile's natural length (20 for stable).",
    )
    parser.addini(
        "synthloss_profile",
        "default for --synthloss-profile (a name, a comma list or 'all'; in TOML also a list)",
        type="linelist",  # a string, a TOML list, or one name per line
        default=[],
    )
    parser.addini("synthloss_steps", "default for --synthloss-steps", default="")
    recorded.add_ini(parser)
    scorecard.add_options(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and conftest/plugin profiles; validate the selection and
    ``SYNTHLOSS_THREADS`` (exit 4).

    A run with no synthloss option, ini value or profile hook imports nothing more: the
    default selection (stable, 20 steps) needs no checking and is made on first use.
    """
    config.addinivalue_line("markers", MARKER)
    if not config.option.help:
        config.pluginmanager.register(scorecard.ScorecardPlugin(config), "synthloss-scorecard")
    profile_hooks = config.pluginmanager.hook.pytest_synthloss_profiles.get_hookimpls()
    if profile_hooks or recorded.has_recorded(config):
        _register_hook_profiles(config, bool(profile_hooks))
    if config.option.help:
        return
    given = (
        config.option.synthloss_profile,
        _ini(config, "synthloss_profile"),
        config.option.synthloss_steps,
        _ini(config, "synthloss_steps"),
    )
    if "SYNTHLOSS_THREADS" in os.environ:  # a bad value is a usage error (exit 4)
        from pytest_synthloss.core.parallel import thread_count

        try:
            thread_count()
        except SynthLossError as exc:
            raise pytest.UsageError(str(exc)) from None
    if any(value is not None for value in given):
        from pytest_synthloss.plugin.selection import resolve_selection

        try:
            config.stash[_SELECTION] = selection = resolve_selection(*given)
            recorded.load_selected(selection)
        except SynthLossError as exc:
            raise pytest.UsageError(str(exc)) from None


def _register_hook_profiles(config: pytest.Config, profile_hooks: bool) -> None:
    """Register the hooks' profiles, then the recorded runs (forgotten at unconfigure)."""
    from pytest_synthloss.core import registry

    before = set(registry.registered_now())
    hook = config.pluginmanager.hook.pytest_synthloss_profiles
    try:
        for impl in reversed(
            hook.get_hookimpls() if profile_hooks else []
        ):  # the order pluggy calls them in
            where = getattr(impl.plugin, "__file__", None) or impl.plugin_name
            try:
                profiles: Any = impl.function()
            except Exception as exc:
                raise pytest.UsageError(
                    f"pytest_synthloss_profiles() in {where} raised {type(exc).__name__}: {exc}"
                ) from None
            registry.register_profiles(profiles, source=where)
        if recorded.has_recorded(config):
            recorded.register_recorded_from(config)
    except SynthLossError as exc:
        raise pytest.UsageError(str(exc)) from None
    finally:
        config.stash[_ADDED] = tuple(
            name for name in registry.registered_now() if name not in before
        )


def _selection(config: pytest.Config) -> Selection:
    """The run's selection: made in ``pytest_configure``, or the default on first use."""
    selection = config.stash.get(_SELECTION, None)
    if selection is None:
        from pytest_synthloss.plugin.selection import resolve_selection

        selection = config.stash[_SELECTION] = resolve_selection(None, None, None, None)
    return selection


def _ini(config: pytest.Config, name: str) -> str | None:
    """An ini key as text (``None``: unset or empty). A TOML list of names is a comma list
    (``["stable", ""]`` keeps its empty name, refused as on the command line)."""
    try:
        value = config.getini(name)
    except (TypeError, ValueError) as exc:  # pytest's native TOML table checks types itself
        raise pytest.UsageError(f"ini option {name}: {exc} (write it as a string)") from None
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        value = ",".join(item.strip() for item in value)  # an empty item is an error
    if not isinstance(value, str):
        raise pytest.UsageError(
            f"ini option {name}: expected a string, got {value!r} ({type(value).__name__})"
        )
    return value.strip() or None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Forget the profiles this run's conftest.py files and plugins registered."""
    added = config.stash.get(_ADDED, ())
    if not added:
        return
    from pytest_synthloss.core import registry

    known = set(registry.registered_now())
    for name in added:
        if name in known:
            registry.unregister_profile(name)


def pytest_report_header(config: pytest.Config) -> str | None:
    """``synthloss: profile=... steps=... (registered: ...)``."""
    if config.option.help:
        return None
    return _selection(config).header()


def _selection_for(config: pytest.Config, node: pytest.Item | pytest.Collector) -> Selection:
    """The run's selection with this test's synthloss markers applied.

    Each key (``profile``, ``steps``) comes from the closest marker that sets it:
    function, then class, then module; keys no marker sets keep the run's value.
    """
    cached = node.stash.get(_NODE_SELECTION, None)
    if cached is not None:
        return cached
    selection = _selection(config)
    markers = list(node.iter_markers("synthloss"))  # closest first
    if not markers:
        node.stash[_NODE_SELECTION] = selection
        return selection
    from pytest_synthloss.plugin.selection import parse_marker

    for marker in reversed(markers):  # farthest first, so closer ones override
        try:
            settings = parse_marker(marker.args, marker.kwargs, node.nodeid)
        except SynthLossError as exc:
            problem = str(exc)
        else:
            selection = settings.apply(selection)
            continue
        pytest.fail(problem, pytrace=False)  # outside the except: the message shows once
    node.stash[_NODE_SELECTION] = selection
    return selection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test using a synthloss fixture once per selected profile (ids = names).

    A synthloss marker is validated on every test that has one, used or not; tests with
    neither a synthloss fixture nor the marker cost one lookup. A test that uses the
    module-shared fixtures is parametrized at module scope instead (see
    :func:`synthloss_shared_profile`). A test whose only synthloss fixture is
    ``synthloss_curve`` (or ``synthloss_stream``) is parametrized on ``synthloss_curve``
    itself: one fixture set up per test instead of two.
    """
    names = metafunc.fixturenames
    if SHARED in names:
        _parametrize_shared(metafunc)
        return
    target = PROFILE_NAME if PROFILE_NAME in names else CURVE if ours(metafunc, __name__) else None
    if target is None:
        if "synthloss" in metafunc.definition.keywords:  # a marker here or on a parent
            _selection_for(metafunc.config, metafunc.definition)  # validate it
        return
    selection = _selection_for(metafunc.config, metafunc.definition)
    if chosen_by_test(metafunc):
        return
    if len(selection.profiles) > 1:
        metafunc.parametrize(target, selection.profiles, ids=selection.names, indirect=True)


def _parametrize_shared(metafunc: pytest.Metafunc) -> None:
    """Parametrize a test using the module-shared fixtures by its module's selection."""
    module = metafunc.definition.getparent(pytest.Module)
    shared = _selection_for(metafunc.config, module) if module is not None else None
    own = _selection_for(metafunc.config, metafunc.definition)
    if shared is None or own != shared:
        pytest.fail(
            f"{metafunc.definition.nodeid} uses {SHARED}, which its module shares: its "
            f"synthloss marker selects profile={','.join(own.names)} steps={own.steps_text()}, but "
            f"the module selects profile={','.join(shared.names if shared else ())} "
            f"steps={shared.steps_text() if shared else '?'}; set profile and steps for the whole "
            "module (pytestmark = pytest.mark.synthloss(...)) or on the command line",
            pytrace=False,
        )
    if len(shared.profiles) > 1:
        metafunc.parametrize(
            SHARED, shared.profiles, ids=shared.names, indirect=True, scope="module"
        )


def _chosen(request: pytest.FixtureRequest) -> str | Profile:
    """The profile (or registered name) the requesting test runs with: the module-shared
    one for a test using it, else its parameter (see :func:`pytest_generate_tests`; a
    ``synthloss_curve`` parameter counts when it is a name or a Profile, as indirect
    parametrization gives it), else its selection's only profile."""
    node = request.node
    if SHARED in getattr(node, "fixturenames", ()):
        shared: Profile = request.getfixturevalue(SHARED)
        return shared
    callspec = getattr(node, "callspec", None)
    if callspec is not None:
        params = callspec.params
        if PROFILE_NAME in params:
            chosen: str | Profile = params[PROFILE_NAME]
            return chosen
        if CURVE in params and _is_profile(params[CURVE]):
            chosen = params[CURVE]
            return chosen
    return _selection_for(request.config, node).profiles[0]


def _is_profile(value: object) -> bool:
    """A name or a Profile (a curve given by direct parametrization is neither)."""
    if isinstance(value, str):
        return True
    from pytest_synthloss.core.profiles import Profile

    return isinstance(value, Profile)


@pytest.fixture
def synthloss_profile_name(request: pytest.FixtureRequest) -> str:
    """The name of the profile this test runs with.

    Set by ``@pytest.mark.synthloss(profile=...)``, else ``--synthloss-profile``, else the
    ini key ``synthloss_profile``, else ``stable``. With several profiles selected, tests
    using the synthloss fixtures run once per profile, with ids such as ``[spiky]``.
    """
    chosen = _chosen(request)
    return chosen if isinstance(chosen, str) else chosen.name


@pytest.fixture
def synthloss_profile(request: pytest.FixtureRequest, synthloss_profile_name: str) -> Profile:
    """The selected :class:`~pytest_synthloss.Profile` (frozen): ground truth by name.

    A marker may also give a ``Profile`` object, registered or not: that is the profile.
    """
    from pytest_synthloss.core.registry import resolve_profile

    return resolve_profile(_chosen(request))


@pytest.fixture(scope="module")
def synthloss_shared_profile(request: pytest.FixtureRequest) -> Profile:
    """The selected profile, shared by the tests of a module: for module-scoped work.

    A module- or class-scoped fixture that trains once per profile depends on this
    fixture (or :func:`synthloss_shared_curve`) instead of the function-scoped ones,
    which would raise ScopeMismatch. Tests using it are parametrized at module scope:
    pytest runs a module's tests profile by profile and the shared fixtures (and yours)
    are computed once per profile per module (per xdist worker). The profiles and steps
    are the module's: the command line, the ini file and module-level markers
    (``pytestmark``); a test whose own marker selects otherwise is an error. The
    function-scoped fixtures of such a test follow the shared profile.
    """
    from pytest_synthloss.core.registry import resolve_profile

    param = getattr(request, "param", None)
    if param is None:
        param = _selection_for(request.config, request.node).profiles[0]
    return resolve_profile(param)


@pytest.fixture(scope="module")
def synthloss_shared_curve(
    request: pytest.FixtureRequest, synthloss_shared_profile: Profile
) -> LossCurve:
    """The shared profile's curve from step 1, with the module's steps (module scope)."""
    from pytest_synthloss.core.curve import make_curve

    return make_curve(_selection_for(request.config, request.node).steps, synthloss_shared_profile)


@pytest.fixture
def synthloss_curve(request: pytest.FixtureRequest) -> LossCurve:
    """The selected profile's :class:`~pytest_synthloss.LossCurve` from step 1.

    Steps: marker ``steps=``, else ``--synthloss-steps``, else ini ``synthloss_steps``,
    else the profile's natural length (20 for stable). Its arrays are read-only; ground
    truth is on the curve (``spike_steps``, ``floor_step``, ``final_loss``...).
    """
    from pytest_synthloss.core.curve import make_curve

    # make_curve resolves a name as synthloss_profile does
    return make_curve(_selection_for(request.config, request.node).steps, _chosen(request))


@pytest.fixture
def synthloss_factory(request: pytest.FixtureRequest, synthloss_profile: Profile) -> CurveFactory:
    """A :class:`~pytest_synthloss.core.factory.CurveFactory` making any curve.

    ``synthloss_factory()`` is the selected curve; ``synthloss_factory("spiky", steps=40,
    start_step=10)`` another run (profile and steps default to the selected ones).
    """
    from pytest_synthloss.core.factory import CurveFactory

    steps = _selection_for(request.config, request.node).steps
    return CurveFactory(synthloss_profile, steps)


@pytest.fixture
def synthloss_stream(synthloss_curve: LossCurve) -> LossStream:
    """A :class:`~pytest_synthloss.LossStream` over ``synthloss_curve`` on a fake clock.

    Yields ``(step, loss, time)``; each step takes ``interval`` = 1.0 s on
    ``synthloss_stream.clock``, a :class:`~pytest_synthloss.FakeClock` that never really
    sleeps. Give your monitor the same clock to test its time-based logic instantly.
    """
    from pytest_synthloss.core.stream import LossStream

    return LossStream(synthloss_curve)
