"""The docs users read are the ones the code describes."""

from __future__ import annotations

from conftest import ROOT
from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import ALL_RULES
from tfgradfix.rules.docs import fix_kind, render


def test_rule_docs_are_generated_from_the_rules():
    for rule in ALL_RULES:
        path = ROOT / "docs" / "rules" / f"{rule.code}.md"
        assert path.exists(), f"run `python -m tfgradfix.rules.docs docs/rules` ({path} is missing)"
        assert path.read_text(encoding="utf-8") == render(rule), f"{path} is stale"


def test_readme_lists_every_rule():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for rule in ALL_RULES:
        assert f"| {rule.code} | {rule.name} |" in readme


def test_ci_runs_the_readme_test_commands():
    """The install, the lint and type checks and both tiers of tests, as the README spells them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines()
                if any(tool in line for tool in ("pip install", "pytest", "-m ruff", "-m mypy"))]
    assert any(c.endswith("-m pytest") for c in commands) and any(c.endswith("-m pytest -m slow") for c in commands)
    assert any(c.endswith("-m ruff check .") for c in commands) and any(c.endswith("-m mypy") for c in commands)
    for command in commands:
        assert f"    {command}\n" in readme, command


def _floor(specifier: str) -> tuple[int, ...]:
    return tuple(int(part) for part in specifier.strip().removeprefix(">=").split("."))


def test_python_floor_is_what_the_dependencies_need_and_the_readme_says():
    import importlib.metadata
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ours = _floor(project["requires-python"])
    for requirement in project["dependencies"]:
        name = requirement.split(">=")[0].split(";")[0].strip()
        if ";" in requirement:  # a backport for old Pythons only
            continue
        needed = importlib.metadata.metadata(name)["Requires-Python"]
        assert needed is None or ours >= _floor(needed), f"{name} needs Python {needed}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Python {'.'.join(map(str, ours))}+" in readme


def test_rules_without_a_fix_show_no_rewrite_as_theirs():
    for rule in ALL_RULES:
        page = render(rule)
        if fix_kind(rule) == "none":
            assert "Becomes:" not in page, rule.code
            assert "Suggested change (not applied automatically):" in page, rule.code
        else:
            assert "Becomes:" in page and "Suggested change" not in page, rule.code


def test_fix_kind_in_the_docs_is_what_the_rule_does():
    """A rule documented "Fix: none" attaches a fix to none of its fixtures' findings; the
    others fix at least one golden case."""
    engine = Engine(ALL_RULES, unsafe_fixes=True)
    fixed: dict[str, bool] = {}
    for path in sorted((ROOT / "fixtures").glob("TGF*/*.py")):
        if path.name.endswith(".fixed.py"):
            continue
        for finding in engine.process(read_source(str(path))).findings:
            fixed[finding.code] = fixed.get(finding.code, False) or finding.fix is not None
    for rule in ALL_RULES:
        assert rule.code in fixed, f"{rule.code} has no fixture it reports"
        assert fixed[rule.code] == (fix_kind(rule) != "none"), rule.code


def test_readme_documents_every_option_and_output_format():
    """Each option of `check` (either spelling of a flag pair) is in the README, and so is
    each `--output-format` and the `rule` command's forms."""
    import click

    from tfgradfix.cli import _FORMATS, check

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for param in check.params:
        if isinstance(param, click.Option):
            names = [*param.opts, *param.secondary_opts]
            assert any(f"`{name}" in readme for name in names), f"README does not document {names}"
    for name in _FORMATS:
        assert f"`{name}`" in readme, f"README does not name --output-format {name}"
    assert "tfgradfix rule --all" in readme and "tfgradfix rule CODE|NAME" in readme


def test_every_rule_says_what_evidence_it_needs():
    """Issue 18: a rule's page says what it must see before it reports, in its own words."""
    from tfgradfix.rules import ALL_RULES

    for rule in ALL_RULES:
        assert len(rule.evidence) > 80, rule.code
        assert "## Evidence it needs" in (ROOT / "docs" / "rules" / f"{rule.code}.md").read_text(encoding="utf-8")
