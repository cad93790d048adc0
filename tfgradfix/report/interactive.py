"""`--fix -i`: show each fix (finding and hunk) and ask before applying it.

Answers come from standard input, a terminal or not, so the review can be
scripted and tested: y apply, n skip (the default), a apply this and the rest of
the file, d skip the rest of the file, q quit (what was accepted is written), ?
help. Each file is written once, atomically, with the fixes it accepted.
"""

from __future__ import annotations

import difflib
from typing import Callable, Optional

import click
import libcst as cst

from tfgradfix.engine import Engine, FileResult, parse_source
from tfgradfix.files import SourceError, SourceFile
from tfgradfix.report.run import display_path
from tfgradfix.rules import Finding
from tfgradfix.verify.runner import describe

PROMPT = "Apply this fix? [y,n,a,d,q,?]"
HELP = """y - apply this fix
n - skip it (the default)
a - apply this fix and every other fix in this file
d - skip this fix and every other fix in this file
q - quit; fixes accepted so far are written
? - show this help"""


class Quit(Exception):
    """The user answered q (or standard input ended); `text` is the file with what was accepted."""

    def __init__(self, text: Optional[str]) -> None:
        super().__init__("quit")
        self.text = text


class Review:
    def __init__(self, engine: Engine, verify: Optional[Callable[[str, str, str], dict]] = None) -> None:
        self.engine = engine
        # With --verify: (path, text before, text after) -> {unit: verdict}, shown next to each hunk.
        self.verify = verify

    def file(self, source: SourceFile, result: FileResult) -> Optional[str]:
        """The file's text with the accepted fixes, or None if none was accepted.
        Raises Quit, carrying the text accepted so far."""
        if not self.engine.may_have_path(source):
            return None
        try:
            module = parse_source(source.text)
        except SourceError as error:
            result.error = str(error)
            return None
        path = display_path(source.path)
        declined: set[tuple] = set()
        accept_all = False
        accepted = 0
        while True:
            finding = self._next(module, source.path, declined)
            if finding is None:
                break
            fixed = self._preview(module, finding, source.path)
            if fixed is None:
                declined.add(_key(finding))
                continue
            answer = "y" if accept_all else self._ask(path, finding, module, fixed)
            if answer in ("y", "a"):
                accept_all = accept_all or answer == "a"
                module = fixed
                accepted += 1
                result.applied.append(finding.fix)  # type: ignore[arg-type]
            elif answer == "n":
                declined.add(_key(finding))
            elif answer == "d":
                break
            elif answer == "q":
                raise Quit(module.code if accepted else None)
        return module.code if accepted else None

    def _next(self, module: cst.Module, path: str, declined: set) -> Optional[Finding]:
        for finding in self.engine.findings(module, path):
            if self.engine.fixable(finding) and _key(finding) not in declined:
                return finding
        return None

    def _preview(self, module: cst.Module, finding: Finding, path: str) -> Optional[cst.Module]:
        try:
            fixed, applied = self.engine.apply(module, [finding.fix], path)  # type: ignore[list-item]
        except SourceError:
            return None
        return fixed if applied else None

    def _ask(self, path: str, finding: Finding, before: cst.Module, after: cst.Module) -> str:
        mark = "[?] " if finding.fix and finding.fix.applicability.value == "unsafe" else ""
        click.echo(click.style(f"{path}:{finding.line}:{finding.column}: {finding.code} {mark}{finding.message}",
                               bold=True))
        click.echo(f"  fix: {finding.fix.description}")  # type: ignore[union-attr]
        for line in difflib.unified_diff(before.code.splitlines(), after.code.splitlines(),
                                         f"a/{path}", f"b/{path}", lineterm="", n=2):
            colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            click.echo(click.style(line, fg=colour) if colour and not line.startswith(("+++", "---")) else line)
        if self.verify is not None:
            for name, verdict in self.verify(path, before.code, after.code).items():
                colour = "green" if verdict["verdict"] == "verified" else "yellow"
                click.echo(click.style(f"  {describe(name, verdict)}", fg=colour))
        while True:
            try:
                answer = click.prompt(PROMPT, default="n", show_default=False).strip().lower()
            except click.Abort:  # standard input ended
                return "q"
            if answer in ("y", "n", "a", "d", "q"):
                return answer
            click.echo(HELP)


def _key(finding: Finding) -> tuple:
    """What identifies a finding across passes, while earlier fixes move its lines."""
    return finding.code, finding.symbol, cst.Module(body=[]).code_for_node(finding.node)
