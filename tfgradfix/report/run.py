"""What a whole run found, in the shape every reporter reads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tfgradfix.files import SourceError, write_sources
from tfgradfix.fixes.edits import Applicability
from tfgradfix.notebooks import Notebook
from tfgradfix.result import FileResult
from tfgradfix.rules import Finding


def display_path(path: str) -> str:
    """Paths relative to the current folder where they are under it."""
    if path == "-":
        return path
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


@dataclass
class RunReport:
    results: list[FileResult] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    fix_mode: bool = False
    seconds: float = 0.0
    # With --verify: units verified / failed / inconclusive / not runnable (verify.runner.tally).
    verification: dict = field(default_factory=dict)

    @property
    def findings(self) -> list[tuple[str, Finding]]:
        return [(display_path(r.path), f) for r in self.results for f in r.findings]

    @property
    def notebooks(self) -> dict[str, Notebook]:
        """The notebooks among the files, by the path findings show."""
        return {display_path(r.path): r.source.notebook for r in self.results
                if r.source is not None and r.source.notebook is not None}

    @property
    def all_errors(self) -> list[tuple[str, str]]:
        return self.errors + [(display_path(r.path), error) for r in self.results
                              for error in [*r.problems, *([r.error] if r.error else [])]]

    @property
    def fixed(self) -> int:
        """Fixes written (with --fix); --diff and --verify alone fix nothing."""
        return sum(len(r.applied) for r in self.results) if self.fix_mode else 0

    @property
    def files(self) -> int:
        return len(self.results)

    def statistics(self) -> list[tuple[str, str, int, int]]:
        """(code, name, findings, of which fixable), most frequent first."""
        counts: dict[tuple[str, str], list[int]] = {}
        for _, f in self.findings:
            entry = counts.setdefault((f.code, f.name), [0, 0])
            entry[0] += 1
            entry[1] += f.fix is not None
        return sorted(((c, n, t, x) for (c, n), (t, x) in counts.items()), key=lambda row: (-row[2], row[0]))

    def summary_line(self) -> str:
        files = self.files
        parsed = sum(r.parsed for r in self.results)
        errors = len(self.all_errors)
        skipped = sum(1 for r in self.results if not r.parsed and not r.error)
        with_findings = sum(1 for r in self.results if r.findings)
        fixed = f"{self.fixed} fixed, " if self.fix_mode else ""
        return (f"Checked {files} file{'s' if files != 1 else ''} in {self.seconds:.1f} s: {parsed} parsed, "
                f"{skipped} skipped by the prefilter, {with_findings} with findings, {fixed}"
                f"{errors} error{'s' if errors != 1 else ''}.")

    def fixable_counts(self) -> tuple[int, int]:
        safe = sum(1 for _, f in self.findings if f.fix_applicability is Applicability.SAFE)
        unsafe = sum(1 for _, f in self.findings if f.fix_applicability is Applicability.UNSAFE)
        return safe, unsafe


def write_together(results: list[FileResult], report: RunReport) -> None:
    """Write files a fix that spans files changed: all of them, or none (each then
    reported, with its findings as they were before the fixes)."""
    try:
        write_sources([(r.source, r.new_text) for r in results])  # type: ignore[misc]
    except (OSError, SourceError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        for result in results:
            others = ", ".join(display_path(r.path) for r in results if r is not result)
            together = f" (nor {others}, fixed with it)" if others else ""
            report.errors.append((display_path(result.path), f"not written{together}: {reason}"))
            result.revert()
