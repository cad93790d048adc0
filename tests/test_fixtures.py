"""Golden fixtures: each rule's bad cases become exactly their .fixed.py, correct
code that looks similar is not reported, flag-only cases keep their bytes, and what
each reported case reports is pinned by its snapshot (`case.expected`: one
`line:col: CODE [*] message` line per finding, as the text output prints it without the
path; `pytest tests/test_fixtures.py --update-snapshots` writes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgradfix.engine import Engine
from tfgradfix.fixes.edits import Applicability
from tfgradfix.files import read_source
from tfgradfix.rules import ALL_RULES

from conftest import FIXTURES, ROOT, case_id, fixture_cases, snapshot_cases, snapshot_path


def _run(path: Path, fix: bool):
    # Golden files show every fix, unsafe ones included (test_cli checks they wait for --unsafe-fixes).
    return Engine(ALL_RULES, fix=fix, unsafe_fixes=True).process(read_source(str(path)))


@pytest.mark.parametrize("path", fixture_cases("fixed"), ids=case_id)
def test_fix_matches_golden(path: Path):
    rule = path.parent.name
    before = _run(path, fix=False)
    assert any(f.code == rule and f.fix is not None for f in before.findings), (
        f"{rule} did not report a fixable finding in {path.name}")
    after = _run(path, fix=True)
    assert after.error is None
    expected = path.with_name(path.stem + ".fixed.py").read_text(encoding="utf-8")
    assert after.new_text == expected
    assert not [f for f in after.findings if f.fix is not None], "fixable findings remain after --fix"


@pytest.mark.parametrize("path", fixture_cases("fixed"), ids=case_id)
def test_fixed_fixture_is_stable(path: Path):
    golden = path.with_name(path.stem + ".fixed.py")
    again = _run(golden, fix=True)
    assert again.error is None
    assert again.new_text in (None, golden.read_text(encoding="utf-8"))
    assert not [f for f in again.findings if f.code == path.parent.name]


@pytest.mark.parametrize("path", fixture_cases("ok"), ids=case_id)
def test_correct_code_is_not_reported(path: Path):
    result = _run(path, fix=False)
    assert result.error is None
    assert [(f.line, f.code, f.message) for f in result.findings] == []


@pytest.mark.parametrize("path", fixture_cases("flag"), ids=case_id)
def test_flag_only_cases_are_reported_and_left_alone(path: Path):
    rule = path.parent.name
    result = _run(path, fix=False)
    reported = [f for f in result.findings if f.code == rule]
    assert reported, f"{rule} did not report {path.name}"
    assert all(f.fix is None for f in reported)
    fixed = _run(path, fix=True)
    assert fixed.new_text == path.read_text(encoding="utf-8")


def test_every_rule_has_fixtures():
    from tfgradfix.rules import RULES_BY_CODE

    for code in RULES_BY_CODE:
        folder = Path(__file__).resolve().parent.parent / "fixtures" / code
        names = [p.name for p in folder.glob("*.py")]
        assert any(n.startswith("ok_") for n in names), f"{code} has no must-not-report case"
        assert any(not n.startswith("ok_") and not n.endswith(".fixed.py") for n in names), (
            f"{code} has no case that is reported")


_MARKS = {Applicability.SAFE: "[*] ", Applicability.UNSAFE: "[?] ", None: ""}
_UPDATE = "`.venv/bin/python -m pytest tests/test_fixtures.py -k snapshot --update-snapshots`"


def _snapshot(path: Path) -> str:
    """What is reported in `path` (all rules, unsafe fixes shown as `[?]`), one line a finding."""
    result = _run(path, fix=False)
    assert result.error is None, result.error
    return "".join(
        f"{f'cell {f.cell}:' if f.cell is not None else ''}{f.line}:{f.column}: {f.code} "
        f"{_MARKS[f.fix_applicability]}{f.message}\n"
        for f in result.findings)


@pytest.mark.parametrize("path", snapshot_cases(), ids=case_id)
def test_reported_findings_match_the_snapshot(path: Path, request):
    snapshot = snapshot_path(path)
    actual = _snapshot(path)
    name = snapshot.relative_to(ROOT)
    if request.config.getoption("--update-snapshots"):
        if not snapshot.exists() or snapshot.read_text(encoding="utf-8") != actual:
            snapshot.write_text(actual, encoding="utf-8")
        return
    assert snapshot.exists(), (
        f"{name} is missing: every reported fixture pins its findings. Write it with {_UPDATE}, "
        f"then read it: it must list exactly what the case should report")
    expected = snapshot.read_text(encoding="utf-8")
    assert actual.splitlines() == expected.splitlines(), (
        f"{path.relative_to(ROOT)} no longer reports what {name} pins (left: now, right: the snapshot). "
        f"If the change is intended, rewrite it with {_UPDATE} and review the diff")
    assert actual == expected, f"{name}: the same findings, but not its bytes (line endings, a last newline)"


def test_every_snapshot_has_its_fixture(request):
    """A snapshot whose case was renamed or removed is stale; --update-snapshots removes it."""
    cases = {snapshot_path(path) for path in snapshot_cases()}
    stale = [path for path in sorted(FIXTURES.glob("TGF*/*.expected")) if path not in cases]
    if request.config.getoption("--update-snapshots"):
        for path in stale:
            path.unlink()
        return
    assert not stale, f"snapshots without a reported case (remove them, or run {_UPDATE}): " + ", ".join(
        str(path.relative_to(ROOT)) for path in stale)
