"""`path:line:col: CODE [*] message` lines, then a summary (Ruff's layout)."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Optional, TextIO

from tfgradfix.result import FileResult
from tfgradfix.fixes.edits import Applicability
from tfgradfix.report.run import RunReport, display_path
from tfgradfix.rules import Finding

_MARKS = {Applicability.SAFE: "[*] ", Applicability.UNSAFE: "[?] ", None: ""}


def write_statistics(report: RunReport, out: TextIO) -> None:
    """`--statistics`: one line per rule, most frequent first."""
    for code, name, count, fixable in report.statistics():
        mark = "[*]" if fixable == count else f"[{fixable} fixable]" if fixable else "   "
        out.write(f"{count:>6}  {code}  {mark} {name}\n")


def _write_fixes(report: RunReport, out: TextIO) -> None:
    """`--show-fixes`: what --fix applied, per file and rule (Ruff's layout)."""
    for result in report.results:
        counts = Counter((f.code, f.name) for f in result.fixed_findings)
        if counts:
            out.write(f"- {display_path(result.path)}:\n")
            for (code, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
                out.write(f"    {count} × {code} ({name})\n")


def write_text(report: RunReport, out: TextIO, quiet: bool = False, show_fixes: bool = False,
               details: Optional[Callable[[FileResult, Finding], str]] = None) -> None:
    """One line per finding (`details`: what follows each, for `--output-format full`),
    then (unless `quiet`) what was found, fixed (with `show_fixes`: per file and rule) and
    fixable."""
    findings = report.findings
    for result in report.results:
        path = display_path(result.path)
        for f in result.findings:
            where = f"{path}:cell {f.cell}" if f.cell is not None else path
            out.write(f"{where}:{f.line}:{f.column}: {f.code} {_MARKS[f.fix_applicability]}{f.message}\n")
            if details is not None:
                out.write(details(result, f))
    if quiet:
        return
    count = len(findings)
    if report.fix_mode and report.fixed:
        out.write(f"Fixed {report.fixed} {_plural(report.fixed, 'finding')}"
                  f"{f', {count} remaining' if count else ''}{':' if show_fixes else '.'}\n")
        if show_fixes:
            _write_fixes(report, out)
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
