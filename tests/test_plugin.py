"""The pytest plugin through pytester: options, ini, marker, precedence, errors, fixtures."""

from __future__ import annotations

import hypothesis  # noqa: F401  # loaded once here, not re-imported by each inner run's summary
import pytest

from pytest_synthloss import available_profiles

KNOWN = ", ".join(available_profiles())  # the built-ins, as error messages list them

CONFTEST_PROFILE = """
from pytest_synthloss import Profile

def pytest_synthloss_profiles():
    return [Profile("late-spike", spikes={30: 8.0}, description="One spike at step 30.")]
"""

REPORTING_TEST = """
import pytest

def test_report(synthloss_profile, synthloss_curve, synthloss_profile_name):
    assert synthloss_profile.name == synthloss_profile_name == synthloss_curve.profile.name
    print(f"RESULT {synthloss_profile.name} {len(synthloss_curve)}")
"""


def results(result: pytest.RunResult) -> list[str]:
    return [line.split("RESULT ", 1)[1] for line in result.outlines if "RESULT " in line]


def test_help_shows_the_synthloss_group_and_ini_keys(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "synthloss: synthetic loss curves (pytest-synthloss):",
            "  --synthloss-profile=NAME",
            "*profile of the synthloss fixtures: a registered name, a*",
            "  --synthloss-steps=N   steps of synthloss_curve and the other fixtures (integer",
        ]
    )
    result.stdout.fnmatch_lines(["  synthloss_profile (linelist):", "  synthloss_steps (string):"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers", "--strict-markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.synthloss(profile=None, steps=None): run this test's synthloss fixtures*"]
    )


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "synthloss_profile_name -- *hooks.py:*",
            "    The name of the profile this test runs with.",
            "synthloss_profile -- *hooks.py:*",
            "    The selected :class:`~pytest_synthloss.Profile` (frozen): ground truth by name.",
            "synthloss_curve -- *hooks.py:*",
            "    The selected profile's :class:`~pytest_synthloss.LossCurve` from step 1.",
            "synthloss_factory -- *hooks.py:*",
            "    A :class:`~pytest_synthloss.core.factory.CurveFactory` making any curve.",
            "synthloss_stream -- *hooks.py:*",
            "    A :class:`~pytest_synthloss.LossStream` over ``synthloss_curve`` on a fake clock.",
        ]
    )


def test_defaults_and_header(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(REPORTING_TEST)
    result = pytester.runpytest("-v", "-s")
    result.assert_outcomes(passed=1)
    assert results(result) == ["stable 20"]
    result.stdout.fnmatch_lines(
        [f"synthloss: profile=stable steps=20 (registered: {KNOWN})", "*::test_report RESULT*"]
    )


@pytest.mark.parametrize(
    ("ini", "args", "marker", "expected"),
    [
        ("", [], "", "stable 20"),
        ("synthloss_profile = spiky\nsynthloss_steps = 5", [], "", "spiky 5"),
        (
            "synthloss_profile = spiky\nsynthloss_steps = 5",
            ["--synthloss-steps", "7"],
            "",
            "spiky 7",
        ),
        (
            "synthloss_profile = spiky\nsynthloss_steps = 5",
            ["--synthloss-profile", "stable", "--synthloss-steps", "7"],
            "",
            "stable 7",
        ),
        (
            "synthloss_profile = stable\nsynthloss_steps = 5",
            ["--synthloss-profile", "stable", "--synthloss-steps", "7"],
            "profile='spiky', steps=3",
            "spiky 3",
        ),
        ("synthloss_steps = 5", ["--synthloss-profile", "spiky"], "steps=9", "spiky 9"),
        ("synthloss_profile = spiky", ["--synthloss-steps", "4"], "profile='stable'", "stable 4"),
        ("synthloss_profile =", [], "", "stable 20"),  # an empty ini value means unset
    ],
)
def test_precedence_marker_then_cli_then_ini_then_default(
    pytester: pytest.Pytester, ini: str, args: list[str], marker: str, expected: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    decorator = f"@pytest.mark.synthloss({marker})\n" if marker else ""
    pytester.makepyfile(REPORTING_TEST.replace("def test_report", decorator + "def test_report"))
    result = pytester.runpytest("-s", *args)
    result.assert_outcomes(passed=1)
    assert results(result) == [expected]


def test_class_and_module_markers_apply_closest_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.synthloss(steps=3)

        @pytest.mark.synthloss(profile="spiky")
        class TestRun:
            def test_a(self, synthloss_curve):
                print(f"RESULT {synthloss_curve.profile.name} {len(synthloss_curve)}")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    assert results(result) == ["spiky 3"]  # profile from the class marker, steps from the module


MARKER_TEST = """
def test_sentinel(tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent / "ran").write_text("yes")
"""


@pytest.mark.parametrize(
    ("ini", "args", "line"),
    [
        (
            "",
            ["--synthloss-profile", "spikey"],
            f"ERROR: --synthloss-profile: unknown profile 'spikey'; known profiles: {KNOWN} "
            "(did you mean 'spiky'?)",
        ),
        (
            "",
            ["--synthloss-profile", "stable,,spiky"],
            "ERROR: --synthloss-profile: empty profile name in 'stable,,spiky'; give a name, a "
            f"comma list or 'all' (registered profiles: {KNOWN})",
        ),
        (
            "synthloss_profile = stabel",
            [],
            "ERROR: ini option synthloss_profile: unknown profile 'stabel'; known profiles: "
            f"{KNOWN} (did you mean 'stable'?)",
        ),
        (
            "",
            ["--synthloss-steps", "0"],
            "ERROR: --synthloss-steps: steps must be an integer >= 1, got 0",
        ),
        (
            "",
            ["--synthloss-steps", "ten"],
            "ERROR: --synthloss-steps: steps must be an integer >= 1, got 'ten'",
        ),
        (
            "synthloss_steps = 2.5",
            [],
            "ERROR: ini option synthloss_steps: steps must be an integer >= 1, got '2.5'",
        ),
    ],
)
def test_bad_values_are_usage_errors_before_any_test(
    pytester: pytest.Pytester, ini: str, args: list[str], line: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(MARKER_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [line, ""]
    assert "sentinel" not in result.stdout.str()
    assert not list(pytester.path.parent.glob("**/ran"))


def test_conftest_profiles_are_choices_and_are_forgotten_after_the_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST_PROFILE)
    pytester.makepyfile(REPORTING_TEST)
    result = pytester.runpytest(
        "-s", "--synthloss-profile", "late-spike", "--synthloss-steps", "31"
    )
    result.assert_outcomes(passed=1)
    assert results(result) == ["late-spike 31"]
    result.stdout.fnmatch_lines(
        [f"synthloss: profile=late-spike steps=31 (registered: {KNOWN}, late-spike)"]
    )
    assert ", ".join(available_profiles()) == KNOWN

    bad = pytester.runpytest("--synthloss-profile", "late-spik")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert bad.errlines == [
        f"ERROR: --synthloss-profile: unknown profile 'late-spik'; known profiles: {KNOWN}, "
        "late-spike (did you mean 'late-spike'?)",
        "",
    ]
    assert ", ".join(available_profiles()) == KNOWN


def test_a_bad_profile_hook_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_synthloss.core.builtins import SPIKY

        def pytest_synthloss_profiles():
            return SPIKY
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        f"ERROR: pytest_synthloss_profiles() in {pytester.path / 'conftest.py'} "
        "must return a list of Profile objects, got "
        "Profile(name='spiky', start=2.25, decay=0.07, floor=1.05, spikes={4: 9.7, 5: 9.5})",
        "",
    ]
    assert ", ".join(available_profiles()) == KNOWN


PARAM_TESTS = """
import pytest

def test_curve(synthloss_curve):
    pass

def test_stream(synthloss_stream):
    pass

def test_plain():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_both(n, synthloss_factory):
    pass

@pytest.mark.synthloss(profile="spiky")
def test_pinned(synthloss_profile):
    assert synthloss_profile.name == "spiky"

@pytest.mark.parametrize("synthloss_profile_name", ["spiky"])
def test_self_chosen(synthloss_profile):
    assert synthloss_profile.name == "spiky"
"""


def test_comma_list_runs_each_fixture_test_once_per_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ids=PARAM_TESTS)
    result = pytester.runpytest("--collect-only", "-q", "--synthloss-profile", "stable,spiky")
    assert result.outlines[: result.outlines.index("")] == [
        "test_ids.py::test_curve[stable]",
        "test_ids.py::test_curve[spiky]",
        "test_ids.py::test_stream[stable]",
        "test_ids.py::test_stream[spiky]",
        "test_ids.py::test_plain",
        "test_ids.py::test_both[stable-1]",
        "test_ids.py::test_both[stable-2]",
        "test_ids.py::test_both[spiky-1]",
        "test_ids.py::test_both[spiky-2]",
        "test_ids.py::test_pinned",
        "test_ids.py::test_self_chosen[spiky]",
    ]


def test_single_profile_adds_no_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ids=PARAM_TESTS)
    result = pytester.runpytest("--collect-only", "-q", "--synthloss-profile", "spiky")
    assert result.outlines[: result.outlines.index("")] == [
        "test_ids.py::test_curve",
        "test_ids.py::test_stream",
        "test_ids.py::test_plain",
        "test_ids.py::test_both[1]",
        "test_ids.py::test_both[2]",
        "test_ids.py::test_pinned",
        "test_ids.py::test_self_chosen[spiky]",
    ]


def test_all_includes_conftest_profiles_and_marker_lists(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST_PROFILE)
    pytester.makepyfile(
        """
        import pytest

        def test_alert(synthloss_curve):
            pass

        @pytest.mark.synthloss(profile="stable,late-spike")
        def test_listed(synthloss_curve):
            pass
        """
    )
    result = pytester.runpytest("-v", "--synthloss-profile", "all")
    names = [*available_profiles(), "late-spike"]
    result.assert_outcomes(passed=len(names) + 2)
    result.stdout.fnmatch_lines(
        [
            f"synthloss: profile={','.join(names)} steps=natural (registered: {KNOWN}, late-spike)",
            *(f"*::test_alert[[]{name}[]] PASSED*" for name in names),
            "*::test_listed[[]stable[]] PASSED*",
            "*::test_listed[[]late-spike[]] PASSED*",
        ]
    )


def test_bad_marker_is_a_clear_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.synthloss(step=5)
        def test_a(synthloss_curve):
            pass

        def test_b():
            pass
        """
    )
    pytester.makepyfile(
        test_unused="""
        import pytest

        @pytest.mark.synthloss(profile="spikey")
        def test_c():
            pass
        """
    )
    # a fresh interpreter: CPython 3.11.7's gh-106905 can break pytest's traceback rendering
    # in-process after another test's RecursionError (seen under pytest-randomly seed 3)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_marked.py*",
            "@pytest.mark.synthloss on test_marked.py::test_a: unknown keyword 'step'; "
            "allowed: profile, steps (did you mean 'steps'?)",
            "*ERROR collecting test_unused.py*",
            "@pytest.mark.synthloss on test_unused.py::test_c: profile: unknown profile "
            f"'spikey'; known profiles: {KNOWN} (did you mean 'spiky'?)",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_fixture_values(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_synthloss import FakeClock, LossCurve, LossStream, Profile, make_curve
        from pytest_synthloss.core.factory import CurveFactory
        from pytest_synthloss.core.stream import StreamStep

        def test_values(
            synthloss_profile: Profile,
            synthloss_curve: LossCurve,
            synthloss_factory: CurveFactory,
            synthloss_stream: LossStream,
        ):
            assert synthloss_curve == make_curve(12, "spiky")
            assert synthloss_factory() == synthloss_curve
            assert synthloss_factory("stable", steps=40, start_step=10) == make_curve(
                40, "stable", start_step=10
            )
            assert isinstance(synthloss_stream.clock, FakeClock)
            assert synthloss_stream.curve == synthloss_curve
            first = next(synthloss_stream)
            assert first == StreamStep(1, 2.18, 1.0)
            assert [e.time for e in synthloss_stream][-1] == 12.0
        """
    )
    result = pytester.runpytest("--synthloss-profile", "spiky", "--synthloss-steps", "12")
    result.assert_outcomes(passed=1)


def test_fixture_data_is_read_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_1_mutate(synthloss_curve, synthloss_factory):
            with pytest.raises(ValueError, match="read-only"):
                synthloss_curve.losses[0] = 0.0
            with pytest.raises(ValueError, match="read-only"):
                synthloss_factory(steps=20).losses[:] = 0.0
            with pytest.raises(ValueError, match="read-only"):
                synthloss_curve.steps[0] = 5

        def test_2_untouched(synthloss_curve):
            assert synthloss_curve.losses[0] == 2.18
            assert synthloss_curve.losses.tolist()[3:5] == [1.97, 1.9]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_failure_message_in_pytest_output_hides_plugin_frames(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fail="""
        from pytest_synthloss import assert_no_spikes

        def test_alert(synthloss_curve):
            assert_no_spikes(synthloss_curve)
        """
    )
    result = pytester.runpytest("--synthloss-profile", "stable,spiky")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_alert[[]spiky[]] _*",
            "    def test_alert(synthloss_curve):",
            ">       assert_no_spikes(synthloss_curve)",
            "E       pytest_synthloss.LossAssertionError: Loss spikes found: 2 / 20 "
            "steps (10.0%) by rule running-min ratio >= 3.0 (profile 'spiky', steps 1..20)",
            "E       Worst: step 4 loss=9.7 vs reference 2.04 (4.75x)",
            "E        step  loss  reference  ratio",
            "E           4  9.7   2.04       4.75x",
            "E           5  9.5   2.04       4.66x",
            "E       ▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁",
            "E          ▲▲",
            "E       Reproduce: make_curve(20, 'spiky') / pytest --synthloss-profile spiky "
            "--synthloss-steps 20",
            "",
            "test_fail.py:4: LossAssertionError",
            "*short test summary info*",
            "FAILED test_fail.py::test_alert[[]spiky[]] - pytest_synthloss.LossAssertionError*",
        ]
    )
    assert "_assertions.py" not in result.stdout.str()


def test_marker_keys_resolve_separately_closest_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.synthloss(profile="spiky", steps=7)

        @pytest.mark.synthloss(profile="nan")
        def test_fn(synthloss_curve):
            print(f"RESULT {synthloss_curve.profile.name} {len(synthloss_curve)}")

        @pytest.mark.synthloss(steps=9)
        class TestClass:
            def test_method(self, synthloss_curve):
                print(f"RESULT {synthloss_curve.profile.name} {len(synthloss_curve)}")

            @pytest.mark.synthloss(profile="stable")
            def test_pinned(self, synthloss_curve):
                print(f"RESULT {synthloss_curve.profile.name} {len(synthloss_curve)}")
        """
    )
    result = pytester.runpytest("-s", "-p", "no:randomly", "--synthloss-profile", "all")
    result.assert_outcomes(passed=3)
    # test_fn: profile from its own marker, steps from the module's; the class tests take
    # steps from the class marker and the profile from the module's (or their own), and
    # the module's pinned profile wins over --synthloss-profile all
    assert results(result) == ["nan 7", "spiky 9", "stable 9"]


def test_a_toml_list_of_profiles_is_a_comma_list(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nsynthloss_profile = ["spiky", "stable"]\n'
    )
    pytester.makepyfile("def test_a(synthloss_curve):\n    pass\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["synthloss: profile=spiky,stable steps=20 *", "*test_a[[]spiky[]] PASSED*"]
    )


@pytest.mark.skipif(
    int(pytest.__version__.split(".")[0]) < 9, reason="the native [tool.pytest] table is pytest 9+"
)
def test_a_mistyped_native_toml_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.pytest]\nsynthloss_steps = 40\n")
    pytester.makepyfile("def test_a(synthloss_curve):\n    pass\n")
    result = pytester.runpytest()
    # pytest >= 9.2 refuses the value itself while reading the config; before that, our
    # plugin turns pytest's TypeError into the same kind of usage error: either way, exit 4
    # before any test, naming the key and the value
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines[0].startswith("ERROR: ")
    assert (
        f"{pytester.path / 'pyproject.toml'}: config option 'synthloss_steps' expects a "
        "string, got int: 40"
    ) in result.errlines[0]
    result.stdout.no_fnmatch_line("*passed*")


def test_one_ini_profile_per_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsynthloss_profile =\n    spiky\n    nan\n")
    pytester.makepyfile("def test_a(synthloss_curve):\n    pass\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["synthloss: profile=spiky,nan steps=20 *"])


def test_a_bad_marker_is_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.synthloss(step=5)\ndef test_a(synthloss_curve):\n    pass\n"
    )
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    message = (
        "@pytest.mark.synthloss on test_a_bad_marker_is_reported_once.py::test_a: unknown keyword "
        "'step'; allowed: profile, steps (did you mean 'steps'?)"
    )
    out = result.stdout.str()
    assert out.splitlines().count(message) == 1
    assert "During handling of the above exception" not in out


CURVE_ONLY = """
import pytest


@pytest.mark.parametrize("synthloss_profile_name", ["spiky", "nan"])
def test_curve_chosen(synthloss_curve):
    print("curve", synthloss_curve.profile.name)


@pytest.mark.parametrize("synthloss_profile_name", ["noisy"])
def test_stream_chosen(synthloss_stream):
    print("stream", synthloss_stream.curve.profile.name)


@pytest.mark.parametrize("synthloss_curve", ["plateau"], indirect=True)
def test_curve_indirect(synthloss_curve):
    print("indirect", synthloss_curve.profile.name)


def test_name_on_demand(request, synthloss_curve):
    name = request.getfixturevalue("synthloss_profile_name")
    print("on-demand", name, synthloss_curve.profile.name)
"""


@pytest.mark.parametrize("args", [[], ["--synthloss-profile", "stable,diverging"]])
def test_a_curve_only_test_chooses_its_profiles_and_names_them_on_demand(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    # synthloss_curve is parametrized itself (one fixture set up per test), yet a test may
    # still parametrize synthloss_profile_name and look its value up
    pytester.makepyfile(test_curve_only=CURVE_ONLY)
    result = pytester.runpytest("-p", "no:randomly", "-s", "-q", *args)
    result.assert_outcomes(passed=6 if args else 5)
    printed = [line.lstrip(".") for line in result.outlines]
    on_demand = ["on-demand stable stable", "on-demand diverging diverging"][: len(args) or 1]
    assert printed[: printed.index("")] == [
        "curve spiky",
        "curve nan",
        "stream noisy",
        "indirect plateau",
        *on_demand,
    ]
    ids = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly", *args)
    assert ids.outlines[: ids.outlines.index("")] == [
        "test_curve_only.py::test_curve_chosen[spiky]",
        "test_curve_only.py::test_curve_chosen[nan]",
        "test_curve_only.py::test_stream_chosen[noisy]",
        "test_curve_only.py::test_curve_indirect[plateau]",
        *(
            [
                "test_curve_only.py::test_name_on_demand[stable]",
                "test_curve_only.py::test_name_on_demand[diverging]",
            ]
            if args
            else ["test_curve_only.py::test_name_on_demand"]
        ),
    ]


OVERRIDES = {
    "conftest": """
import pytest

from pytest_synthloss import make_curve
""",
    "own/conftest": """
import pytest

from pytest_synthloss import make_curve


@pytest.fixture
def synthloss_curve():  # the user's own curve: not the plugin's
    return make_curve(7, "plateau")
""",
    "own/test_own": """
def test_own(synthloss_curve):
    assert len(synthloss_curve) == 7
""",
    "wrapped/conftest": """
import pytest


@pytest.fixture
def synthloss_curve(synthloss_curve):  # the plugin's, looked at first
    return synthloss_curve
""",
    "wrapped/test_wrapped": """
def test_wrapped(synthloss_curve):
    print("wrapped", synthloss_curve.profile.name)
""",
}


def test_a_conftest_curve_of_ones_own_is_not_parametrized(pytester: pytest.Pytester) -> None:
    for path, source in OVERRIDES.items():
        (pytester.path / path).parent.mkdir(exist_ok=True)
        (pytester.path / f"{path}.py").write_text(source)
    args = ("-p", "no:randomly", "--synthloss-profile", "stable,spiky")
    ids = pytester.runpytest("--collect-only", "-q", *args)
    assert ids.outlines[: ids.outlines.index("")] == [
        "own/test_own.py::test_own",
        "wrapped/test_wrapped.py::test_wrapped[stable]",
        "wrapped/test_wrapped.py::test_wrapped[spiky]",
    ]
    result = pytester.runpytest("-s", "-q", *args)
    result.assert_outcomes(passed=3)
    assert [line.lstrip(".") for line in result.outlines if "wrapped " in line] == [
        "wrapped stable",
        "wrapped spiky",
    ]


FOLLOWERS = """
import pytest

from pytest_synthloss import make_curve


@pytest.mark.parametrize("synthloss_curve", [make_curve(5, "spiky"), make_curve(5, "nan")])
def test_curves_given_directly(synthloss_curve, synthloss_profile):
    # the test's own curves are not profiles: the profile fixture keeps the selection's
    print("direct", synthloss_curve.profile.name, synthloss_profile.name)


@pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.synthloss(profile="nan")), 2])
def test_shared_leads(x, synthloss_shared_curve, synthloss_curve, synthloss_profile_name):
    # the function-scoped fixtures follow the module-shared profile
    print("shared", x, synthloss_shared_curve.profile.name, synthloss_curve.profile.name,
          synthloss_profile_name)
"""


def test_function_fixtures_follow_the_shared_profile_and_ignore_direct_curves(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_followers=FOLLOWERS)
    result = pytester.runpytest("-p", "no:randomly", "-s", "-q")
    result.assert_outcomes(passed=4)
    printed = [line.lstrip(".") for line in result.outlines]
    assert printed[: printed.index("")] == [
        "direct spiky stable",
        "direct nan stable",
        "shared 1 stable stable stable",
        "shared 2 stable stable stable",
    ]


OWN_HOOKS = {
    "conftest": """
def pytest_generate_tests(metafunc):
    if metafunc.function.__name__ == "test_by_conftest":
        metafunc.parametrize("synthloss_profile_name", ["nan"])
""",
    "test_hooks": """
def pytest_generate_tests(metafunc):
    if metafunc.function.__name__ == "test_by_module":
        metafunc.parametrize("synthloss_curve", ["spiky", "plateau"], indirect=True)


def test_by_module(synthloss_curve):
    print("module", synthloss_curve.profile.name)


def test_by_conftest(synthloss_profile):
    print("conftest", synthloss_profile.name)
""",
}


def test_a_generate_tests_hook_of_ones_own_chooses_the_profiles(
    pytester: pytest.Pytester,
) -> None:
    # a conftest's or module's own parametrization is left alone (it was parametrized twice)
    for path, source in OWN_HOOKS.items():
        (pytester.path / f"{path}.py").write_text(source)
    result = pytester.runpytest("-p", "no:randomly", "-s", "-q", "--synthloss-profile", "all")
    result.assert_outcomes(passed=3)
    printed = [line.lstrip(".") for line in result.outlines]
    assert printed[: printed.index("")] == ["module spiky", "module plateau", "conftest nan"]
