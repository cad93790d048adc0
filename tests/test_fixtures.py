"""Golden fixtures: each rule's bad cases become exactly their .fixed.py, correct
code that looks similar is not reported, flag-only cases keep their bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import ALL_RULES

from conftest import case_id, fixture_cases


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
