"""The tool's own output is clean (issue 19, item 3): after `--fix`, `check` reports
nothing new on the lines the fixes wrote, and the fixes add no import that goes unused
and remove none that is still used. Run over every golden fixture, with the unsafe
fixes too (the golden files show them)."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest

from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import ALL_RULES

from conftest import case_id, fixture_cases


def _process(path: Path, fix: bool):
    return Engine(ALL_RULES, fix=fix, unsafe_fixes=True).process(read_source(str(path)))


def _new_findings_on_fixed_lines(before_text: str, before, after_text: str, after) -> list[str]:
    """Findings of the fixed text on a line the fixes wrote that the original did not have
    (with the same code) on the lines those replaced."""
    old, new = before_text.splitlines(), after_text.splitlines()
    new_ones = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        was = {f.code for f in before if i1 + 1 <= f.line <= max(i2, i1 + 1)}
        for finding in after:
            if j1 + 1 <= finding.line <= j2 and finding.code not in was:
                new_ones.append(f"{finding.line}: {finding.code} {finding.message}")
    return new_ones


def _imports_and_reads(text: str) -> tuple[set[str], set[str]]:
    """The names import statements bind, and the names the code reads (attribute heads
    included), anywhere in the module."""
    tree = ast.parse(text)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update((a.asname or a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            bound.update((a.asname or a.name) for a in node.names if a.name != "*")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
    return bound, read


@pytest.mark.parametrize("path", fixture_cases("fixed"), ids=case_id)
def test_fixed_code_checks_clean_where_the_fix_wrote(path: Path):
    before = _process(path, fix=False)
    after = _process(path, fix=True)
    assert after.error is None and after.new_text is not None
    new = _new_findings_on_fixed_lines(path.read_text(encoding="utf-8"), before.findings, after.new_text,
                                       after.findings)
    assert new == [], f"--fix wrote lines that check reports: {new}"


@pytest.mark.parametrize("path", fixture_cases("fixed"), ids=case_id)
def test_fixes_add_no_unused_import_and_remove_none_still_used(path: Path):
    text = path.read_text(encoding="utf-8")
    after = _process(path, fix=True)
    assert after.error is None and after.new_text is not None
    bound_before, read_before = _imports_and_reads(text)
    bound_after, read_after = _imports_and_reads(after.new_text)
    added = bound_after - bound_before
    removed = bound_before - bound_after
    assert not (added - read_after), f"--fix added imports nothing uses: {sorted(added - read_after)}"
    assert not (removed & read_after), f"--fix removed imports still used: {sorted(removed & read_after)}"
    left_unused = {name for name in bound_before & bound_after if name in read_before and name not in read_after}
    assert not left_unused, f"--fix left imports it made unused: {sorted(left_unused)}"
