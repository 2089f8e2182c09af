"""Every example in README.md and docs/ runs here, so a broken example fails the suite.

Fenced code blocks are handled by their language:

- ``pycon`` or ``python`` blocks holding ``>>>`` prompts are doctests. A file's doctests run
  in order in one namespace (a reader goes top to bottom), in a temporary working directory,
  with ``ELLIPSIS``. In an exception line the module path of a ``pytest_synthloss``
  exception class is not compared (``SynthLossError: ...`` matches
  ``pytest_synthloss.core.errors.SynthLossError: ...``).
- ``python`` blocks without prompts run in the same namespace, except a block whose first
  line names a file (``# conftest.py``, ``# test_monitor.py``): it is written to that file,
  and once the whole document is read, pytest runs the ``test_*`` files written and must
  pass. ``yaml``, ``toml`` and ``ini`` blocks that name a file are written the same way
  (``# alerts.yml``), for the examples that use them.
- ``console`` blocks: each ``$ command`` runs in bash; its stdout and stderr must match the
  lines up to the next ``$`` (``...`` matches anything). A block whose program is not
  installed (promtool) is skipped, and the skip is reported.

Everything of one document runs in order in one temporary directory holding a copy of
``examples/``, so a console block can run the files and read the logs written before it.
- ``bash`` blocks: only README's two commands, checked by the tests at the end.
- Any other language (``text``, ``toml``, ``yaml``, MyST directives) is not code, and may
  not hold a ``>>>`` or ``$`` prompt: nothing that looks runnable escapes the checks.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_synthloss import available_profiles

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _doc_files() -> list[Path]:
    pages = [
        path
        for path in sorted(DOCS.rglob("*.md"))
        if not any(part.startswith("_") for part in path.relative_to(DOCS).parts)
    ]
    return [ROOT / "README.md", *pages]


DOC_FILES = _doc_files()
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<lang>[^\s`]*)(?:\s.*)?$")
FILE_HEADER = re.compile(r"^# (?P<name>[\w./-]+\.(?:py|toml|ini|yml|yaml))\s*$")
RUN_LANGS = {"python", "pycon", "console", "bash"}
ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")
#: Languages of blocks that are written to the file their first line names.
FILE_LANGS = {"python", "yaml", "toml", "ini"}
QUALIFIED_ERROR = re.compile(r"\bpytest_synthloss(?:\.\w+)*\.(\w+(?:Error|Exception))\b")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text and the line its text starts on."""

    path: Path
    lang: str
    text: str
    lineno: int  # 1-based line of the block's first line of text

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.lineno}"


def fenced_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, lang = match["fence"], match["lang"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence:
            body.append(lines[j])
            j += 1
        assert j < len(lines), f"{path}:{i + 1}: unclosed code fence"
        blocks.append(Block(path, lang, "\n".join(body) + "\n", i + 2))
        i = j + 1
    return blocks


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


class _Checker(doctest.OutputChecker):
    """doctest's checker, blind to the module path of our exception classes."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(want, QUALIFIED_ERROR.sub(r"\1", got), optionflags)

    def output_difference(self, example: doctest.Example, got: str, optionflags: int) -> str:
        return super().output_difference(example, QUALIFIED_ERROR.sub(r"\1", got), optionflags)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"))
    }
    # The interpreter running the suite provides `python`, `pytest` and `synthloss`.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COLUMNS"] = "80"
    env["PYTEST_ADDOPTS"] = "-p no:randomly"  # documented pytest output is in file order
    env["MPLBACKEND"] = "Agg"
    env.update(extra)
    return env


def _commands(block: Block) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        else:
            assert pairs, f"{block.where}: a console block starts with a '$ ' command"
            pairs[-1][1].append(line)
    return [(cmd, "".join(f"{line}\n" for line in out)) for cmd, out in pairs]


def _missing_program(commands: list[tuple[str, str]]) -> str | None:
    """The first program (or device) a block needs that this machine lacks, if any.

    promtool comes from Debian's ``prometheus`` package, and ``/dev/full`` (a device whose
    writes fail with "No space left on device") is Linux-only.
    """
    builtins = ("cd", "echo", "test", "cat", "python", "pytest", "synthloss")
    for cmd, _ in commands:
        words = cmd.split()  # past the variables the command sets (NAME=value)
        program = next((w for w in words if not ENV_ASSIGNMENT.fullmatch(w)), words[0])
        if program not in builtins and shutil.which(program) is None:
            return program
        if "/dev/full" in cmd and not Path("/dev/full").exists():
            return "/dev/full"
    return None


def _run_console(block: Block, cwd: Path) -> list[str]:
    """Run a console block's commands in one bash; return the mismatches."""
    commands = _commands(block)
    marker = "@@synthloss-docs-command@@"
    # Each command sees the exit status of the one before (for `echo $?`).
    script = "status=0\n" + "".join(
        f"echo {marker}\n(exit $status)\n{{ {cmd}\n}} 2>&1\nstatus=$?\n" for cmd, _ in commands
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = done.stdout.split(f"{marker}\n")[1:]
    if len(outputs) != len(commands):
        return [f"{block.where}: the block did not run to its end:\n{done.stdout}{done.stderr}"]
    checker = doctest.OutputChecker()
    problems = []
    for (cmd, want), raw in zip(commands, outputs, strict=True):
        got = "".join(f"{line.rstrip()}\n" for line in raw.splitlines()).rstrip("\n") + "\n"
        if not checker.check_output(want.rstrip("\n") + "\n", got, doctest.ELLIPSIS):
            problems.append(f"{block.where}: $ {cmd}\nexpected:\n{want}got:\n{got}")
    return problems


@pytest.mark.usefixtures("clean_registry")
@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every python and console block of one document, in order, in one directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    shutil.copytree(
        ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    namespace: dict[str, object] = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(checker=_Checker(), optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    skipped: list[str] = []
    test_files: list[str] = []
    for block in fenced_blocks(path):
        if block.lang == "console":
            commands = _commands(block)
            missing = _missing_program(commands)
            if missing is not None:
                skipped.append(f"{block.where} ({missing} not found)")
            else:
                report += _run_console(block, tmp_path)
            continue
        header = FILE_HEADER.match(block.text.splitlines()[0]) if block.text.strip() else None
        if header is not None and block.lang in FILE_LANGS:
            target = tmp_path / header["name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
            if Path(header["name"]).name.startswith("test_"):
                test_files.append(header["name"])
            continue
        if block.lang not in ("python", "pycon"):
            continue
        if ">>>" in block.text:
            test = parser.get_doctest(block.text, namespace, block.where, str(path), 0)
            for example in test.examples:
                example.lineno += block.lineno - 1
            runner.run(test, out=report.append, clear_globs=False)
            namespace.update(test.globs)  # a DocTest runs in a copy of the namespace
            continue
        assert block.lang == "python", f"{block.where}: a pycon block needs >>> prompts"
        try:
            exec(compile(block.text, block.where, "exec"), namespace)
        except Exception as exc:
            report.append(f"{block.where}: the block raised {exc!r}\n")
    if test_files:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *test_files],
            cwd=tmp_path,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            report.append(f"pytest {' '.join(test_files)} failed:\n{done.stdout}{done.stderr}")
    assert not report, "\n".join(report)
    if skipped:
        pytest.skip("every example ran except the console blocks at " + ", ".join(skipped))


@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_no_unchecked_prompts(path: Path) -> None:
    """A block that is not run may not look runnable (no ``>>>`` or ``$`` prompts)."""
    for block in fenced_blocks(path):
        if block.lang in RUN_LANGS:
            continue
        for line in block.text.splitlines():
            assert not line.startswith((">>>", "$ ")), (
                f"{block.where}: a {block.lang or 'plain'} block holds a prompt; "
                "make it a pycon or console block so it runs"
            )


def _readme_commands() -> list[str]:
    blocks = [b for b in fenced_blocks(ROOT / "README.md") if b.lang == "bash"]
    return [b.text.strip() for b in blocks]


def test_readme_has_only_the_two_commands_as_bash() -> None:
    demo, test_command = _readme_commands()
    assert demo.startswith("pip install -e . && ")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"<!-- test-command -->\n```bash\n{test_command}\n```" in readme
    for part in (
        'pip install -e ".[dev]"',
        "ruff check .",
        "ruff format --check .",
        "mypy",
        "lint-imports",
        "sphinx-build -W",
        "python -m build",
        "twine check",
        "pytest -n 2",
    ):
        assert part in test_command, part


def test_readme_demo_command_prints_what_readme_says() -> None:
    demo = _readme_commands()[0].removeprefix("pip install -e . && ")
    done = subprocess.run(
        ["bash", "-c", demo],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    spec = ["Step 1: loss=2.18", "Step 2: loss=2.11", "Step 3: loss=2.04", "Step 4: loss=1.97"]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# synthloss run: profile=stable steps=5")
    assert lines[1:6] == [*spec, "Step 5: loss=1.90"]
    assert f" {5 * len(available_profiles())} passed in " in done.stdout
    assert "test_spike_alerts_match_ground_truth[spiky] PASSED" in done.stdout
