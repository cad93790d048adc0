"""Every rule's documented examples are tests, as Fixit's VALID/INVALID are: the page a user
reads (`docs/rules/<CODE>.md`, `tfgradfix rule CODE`) shows code the tool really reports,
and a fix the tool really writes, byte for byte.

- `example`, run through the tool exactly as the page shows it, is reported by its rule;
- for a rule with a fix, `--fix` (unsafe fixes included) turns `example` into exactly
  `fixed_example`, and nothing is left to report;
- for a rule without one, `--fix` writes nothing for the rule, and `fixed_example` (the
  change a person would make) is valid code: nothing reports it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import ALL_RULES
from tfgradfix.rules.base import Rule
from tfgradfix.rules.docs import fix_kind


def _run(tmp_path: Path, text: str, fix: bool):
    path = tmp_path / "example.py"
    path.write_text(text, encoding="utf-8")
    result = Engine(ALL_RULES, fix=fix, unsafe_fixes=True).process(read_source(str(path)))
    assert result.error is None, result.error
    return result


def _reported(result, code: str) -> list[str]:
    return [f"{f.line}:{f.column}: {f.code} {f.message}" for f in result.findings if f.code == code]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_example_is_reported_by_its_rule(rule: type[Rule], tmp_path):
    assert _reported(_run(tmp_path, rule.example, fix=False), rule.code), (
        f"{rule.code}'s documented example is not reported by {rule.code}: make `example` code the rule "
        f"reports as it stands (its imports and the layer around it included)")


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if fix_kind(r) != "none"], ids=lambda rule: rule.code)
def test_fixed_example_is_what_the_fix_writes(rule: type[Rule], tmp_path):
    fixed = _run(tmp_path, rule.example, fix=True)
    assert fixed.new_text == rule.fixed_example, (
        f"`--fix` does not write {rule.code}'s `fixed_example`: the page must show what the tool writes")
    assert [f"{f.line}:{f.column}: {f.code} {f.message}" for f in fixed.findings] == []


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if fix_kind(r) == "none"], ids=lambda rule: rule.code)
def test_suggested_change_is_valid_code(rule: type[Rule], tmp_path):
    """A rule without a fix: `--fix` leaves the example alone, and the change the page
    suggests is reported by no rule."""
    fixed = _run(tmp_path, rule.example, fix=True)
    assert fixed.new_text in (None, rule.example)
    suggested = _run(tmp_path, rule.fixed_example, fix=False)
    assert [f"{f.line}:{f.column}: {f.code} {f.message}" for f in suggested.findings] == []
    assert rule.fixed_example != rule.example
