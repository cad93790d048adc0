"""The docs users read are the ones the code describes."""

from __future__ import annotations

from conftest import ROOT
from tfgradfix.rules import ALL_RULES
from tfgradfix.rules.docs import render


def test_rule_docs_are_generated_from_the_rules():
    for rule in ALL_RULES:
        path = ROOT / "docs" / "rules" / f"{rule.code}.md"
        assert path.exists(), f"run `python -m tfgradfix.rules.docs docs/rules` ({path} is missing)"
        assert path.read_text(encoding="utf-8") == render(rule), f"{path} is stale"


def test_readme_lists_every_rule():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for rule in ALL_RULES:
        assert f"| {rule.code} | {rule.name} |" in readme


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line.strip() for line in ci.splitlines() if "pytest" in line)
    assert f"    {command}\n" in readme
