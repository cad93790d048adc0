"""Shared helpers: the fixture corpus and runners for the CLI (in this process: starting a
Python for each run of the CLI was most of the time of the tests)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional, Union

import pytest
from click import termui
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def pytest_addoption(parser):
    parser.addoption("--update-snapshots", action="store_true",
                     help="write each fixture's .expected snapshot from what is reported now "
                          "(tests/test_fixtures.py), instead of comparing")


@pytest.fixture(scope="session", autouse=True)
def _no_tensorflow_in_the_default_run(request):
    """The default run (`-m "not slow"`) must not import TensorFlow: its import alone is
    seconds. A test that needs it is marked `slow`; one that needs it for part of its
    checks is split, or imports it in the test, never at module level."""
    yield
    if request.config.getoption("markexpr") == "not slow" and "tensorflow" in sys.modules:
        pytest.fail("the default test run imported TensorFlow: mark the test that needs it `slow`")


def fixture_cases(kind: str) -> list[Path]:
    """`kind` is "fixed" (case.py with case.fixed.py), "ok" (must not be reported)
    or "flag" (reported without a fix)."""
    cases = []
    for path in sorted(FIXTURES.glob("TGF*/*.py")):
        if path.name.endswith(".fixed.py"):
            continue
        if kind == "ok" and path.name.startswith("ok_"):
            cases.append(path)
        elif kind == "flag" and path.name.startswith("flag_"):
            cases.append(path)
        elif kind == "fixed" and path.with_name(path.stem + ".fixed.py").exists():
            cases.append(path)
    return cases


def snapshot_cases() -> list[Path]:
    """The fixtures whose findings a snapshot pins: every reported case (`case.py` of a
    pair, `flag_*.py`). An `ok_` case is pinned to report nothing by
    `test_correct_code_is_not_reported`, and a `case.fixed.py` to keep nothing fixable by
    `test_fix_matches_golden`."""
    return [path for path in sorted(FIXTURES.glob("TGF*/*.py"))
            if not path.name.startswith("ok_") and not path.name.endswith(".fixed.py")]


def snapshot_path(case: Path) -> Path:
    """`case.py` -> `case.expected`."""
    return case.with_suffix(".expected")


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture
def cli():
    from tfgradfix.cli import main

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return run


class _PipedRunner(CliRunner):
    """A CliRunner whose prompts read standard input as `input()` does when stdin is a
    pipe (the prompt written, the answer not echoed, EOFError at the end), not as
    CliRunner's own prompt, which echoes each answer into stdout."""

    @contextlib.contextmanager
    def isolation(self, *args, **kwargs):
        with super().isolation(*args, **kwargs) as streams:
            mocked, termui.visible_prompt_func = termui.visible_prompt_func, input
            try:
                yield streams
            finally:
                termui.visible_prompt_func = mocked


def tfgradfix(*args: str, cwd: Optional[Union[str, Path]] = None, input: Optional[Union[str, bytes]] = None,
              text: bool = True) -> subprocess.CompletedProcess:
    """`python -m tfgradfix ARGS` in the folder `cwd` with `input` on stdin, run in this
    process: the same exit code, stdout and stderr (str, or bytes when not `text`), without
    the cost of starting a Python. An exception escaping the CLI fails the test. What needs
    a process of its own (signals, a terminal, a timeout on a hang, modules imported) still
    uses subprocess."""
    from tfgradfix.cli import main

    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = _PipedRunner().invoke(main, list(args), input=input, catch_exceptions=False,
                                       prog_name="tfgradfix")
    finally:
        os.chdir(before)
    if text:
        return subprocess.CompletedProcess(["tfgradfix", *args], result.exit_code, result.stdout, result.stderr)
    return subprocess.CompletedProcess(["tfgradfix", *args], result.exit_code, result.stdout_bytes,
                                       result.stderr_bytes)
