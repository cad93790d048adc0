"""`path:line:col: CODE [*] message` lines, then a summary (Ruff's layout)."""

from __future__ import annotations

from typing import TextIO

from tfgradfix.fixes.edits import Applicability
from tfgradfix.report.run import RunReport

_MARKS = {Applicability.SAFE: "[*] ", Applicability.UNSAFE: "[?] ", None: ""}


def write_statistics(report: RunReport, out: TextIO) -> None:
    """`--statistics`: one line per rule, most frequent first."""
    for code, name, count, fixable in report.statistics():
        mark = "[*]" if fixable == count else f"[{fixable} fixable]" if fixable else "   "
        out.write(f"{count:>6}  {code}  {mark} {name}\n")


def write_text(report: RunReport, out: TextIO) -> None:
    findings = report.findings
    for path, f in findings:
        where = f"{path}:cell {f.cell}" if f.cell is not None else path
        out.write(f"{where}:{f.line}:{f.column}: {f.code} {_MARKS[f.fix_applicability]}{f.message}\n")
    count = len(findings)
    if report.fix_mode and report.fixed:
        out.write(f"Fixed {report.fixed} {_plural(report.fixed, 'finding')}"
                  f"{f', {count} remaining' if count else ''}.\n")
    elif count:
        out.write(f"Found {count} {_plural(count, 'finding')}.\n")
    elif not report.all_errors:
        out.write("All checks passed!\n")
    safe, unsafe = report.fixable_counts()
    if safe:
        out.write(f"[*] {safe} fixable with `--fix`.\n")
    if unsafe:
        out.write(f"[?] {unsafe} more fixable with `--fix --unsafe-fixes`.\n")


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"
