"""Shared helpers: the fixture corpus and a runner for the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


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


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture
def cli():
    from tfgradfix.cli import main

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return run
