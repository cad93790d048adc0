"""What a whole run found, in the shape every reporter reads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tfgradfix.engine import FileResult
from tfgradfix.fixes.edits import Applicability
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

    @property
    def findings(self) -> list[tuple[str, Finding]]:
        return [(display_path(r.path), f) for r in self.results for f in r.findings]

    @property
    def all_errors(self) -> list[tuple[str, str]]:
        return self.errors + [(display_path(r.path), r.error) for r in self.results if r.error]

    @property
    def fixed(self) -> int:
        return sum(len(r.applied) for r in self.results)

    @property
    def files(self) -> int:
        return len(self.results)

    def fixable_counts(self) -> tuple[int, int]:
        safe = sum(1 for _, f in self.findings if f.fix_applicability is Applicability.SAFE)
        unsafe = sum(1 for _, f in self.findings if f.fix_applicability is Applicability.UNSAFE)
        return safe, unsafe
