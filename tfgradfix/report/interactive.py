"""`--fix -i`: show each fix (finding and hunks) and ask before applying it.

Answers come from standard input, a terminal or not, so the review can be
scripted and tested: y apply, n skip (the default), a apply this and the rest of
the file, d skip the rest of the file, q quit (what was accepted is written), ?
help. The end of piped answers is a q. A fix that spans files (a helper of one
module and the layer of another that calls it) is one hunk group: the hunks of
every file it edits, each under its file header, accepted or declined as a whole.

The review starts from the check of every file (`checked`): it reads no file again
whose check is clean, reviews only the files with a fix to offer, and takes the findings
of a file it leaves as it was from that check.

Nothing is written until the review ends; then each file is written once, with
the fixes it accepted, and the files an accepted group links are written
together, all or none (`files.write_sources`). Ctrl-C, or Ctrl-D at a terminal,
stops the review with nothing written (`Interrupted`).
"""

from __future__ import annotations

import difflib
import os
import sys
from typing import Callable, Optional

import click
import libcst as cst

from tfgradfix import interrupts
from tfgradfix.across import apply_across
from tfgradfix.engine import NUMPY_CODES, Engine
from tfgradfix.parsing import parse_source
from tfgradfix.result import FileResult, failure
from tfgradfix.files import NotPython, SourceError, read_source
from tfgradfix.fixes.edits import Fix
from tfgradfix.report.run import RunReport, display_path, write_together
from tfgradfix.rules import Finding
from tfgradfix.verify.runner import describe

PROMPT = "Apply this fix? [y,n,a,d,q,?]"
HELP = """y - apply this fix
n - skip it (the default)
a - apply this fix and every other fix in this file
d - skip this fix and every other fix in this file
q - quit; fixes accepted so far are written
? - show this help"""


class Interrupted(Exception):
    """Ctrl-C (or Ctrl-D at a terminal) during the review: nothing was written."""


class _Quit(Exception):
    pass


class Review:
    def __init__(self, engine: Engine, files: list[str], report: RunReport,
                 verify: Optional[Callable[[str, str, str], dict]] = None,
                 checked: Optional[dict[str, FileResult]] = None) -> None:
        self.engine = engine
        self.files = files
        # The files' results from the check before the review (by path): a clean one (no
        # error, every cell checked) gives the file's text and, while the review leaves
        # the file as it was, its findings.
        self._checked = {path: result for path, result in (checked or {}).items()
                         if result.source is not None and result.error is None and not result.problems}
        # Only the files of the run may a fix that spans files edit (by real path: the
        # index may know a file by another spelling).
        self._given = {os.path.realpath(path): path for path in files}
        self.report = report
        # With --verify: (path, text before, text after) -> {unit: verdict}, shown next to each hunk.
        self.verify = verify
        self.results: dict[str, Optional[FileResult]] = {}  # None: it could not be read
        self.modules: dict[str, cst.Module] = {}  # the files' texts with what was accepted
        # Files an accepted group links: each path -> the representative of its set.
        self._linked: dict[str, str] = {}
        # By path: the functions where an accepted fix replaced NumPy (TGF103 then unwraps what is left).
        self._numpy_fixed: dict[str, set[str]] = {}

    def run(self) -> None:
        """Review the files in order and write what was accepted. Raises Interrupted."""
        try:
            for path in self.files:
                result = self._result(path)
                if result is None or not self.engine.may_have_path(result.source):  # type: ignore[arg-type]
                    continue
                if path not in self.modules and path in self._checked and not any(
                        self.engine.fixable(f, path) for f in self._checked[path].findings):
                    continue  # no fix to offer (the check says), and no accepted fix changed it
                try:
                    self._file(result)
                except _Quit:
                    break
                except (Interrupted, KeyboardInterrupt):
                    raise
                except Exception as error:  # this file's review stops; the fixes it accepted are kept
                    result.error = f"review stopped: {failure(error)}"
        except KeyboardInterrupt:
            raise Interrupted from None
        except Exception:
            if interrupts.interrupted():  # LibCST can turn a Ctrl-C into another error
                raise Interrupted from None
            raise
        if interrupts.interrupted():
            raise Interrupted
        self._write()
        for result in self.results.values():
            if result is not None:
                self._remaining(result)
        order = {path: n for n, path in enumerate(self.files)}
        self.report.results.sort(key=lambda r: order.get(r.path, len(order)))

    def _result(self, path: str) -> Optional[FileResult]:
        """The file, read once (None when it cannot be read; the error goes to `report`)."""
        if path in self.results:
            return self.results[path]
        if path in self._checked:
            result = FileResult(path=path, source=self._checked[path].source)
            self.results[path] = result
            self.report.results.append(result)
            return result
        try:
            source = read_source(path)
        except NotPython as note:
            self.report.results.append(FileResult(path=path, note=str(note)))
            self.results[path] = None
            return None
        except SourceError as error:
            self.report.errors.append((display_path(path), str(error)))
            self.results[path] = None
            return None
        result = FileResult(path=path, source=source)
        self.results[path] = result
        self.report.results.append(result)
        return result

    def _module(self, result: FileResult) -> Optional[cst.Module]:
        if result.path not in self.modules:
            try:
                self.modules[result.path] = parse_source(result.source.text)  # type: ignore[union-attr]
            except SourceError as error:
                result.error = str(error)
                return None
        return self.modules[result.path]

    def _file(self, result: FileResult) -> None:
        declined: set[tuple] = set()
        accept_all = False
        while True:
            module = self._module(result)
            if module is None:
                return
            finding = self._next(module, result.path, declined)
            if finding is None:
                return
            changes = self._preview(module, finding, result.path)
            if changes is None:
                declined.add(_key(finding))
                continue
            answer = "y" if accept_all else self._ask(finding, changes)
            if answer in ("y", "a"):
                accept_all = accept_all or answer == "a"
                self._accept(result, finding, changes)
            elif answer == "n":
                declined.add(_key(finding))
            elif answer == "d":
                return
            elif answer == "q":
                raise _Quit

    def _next(self, module: cst.Module, path: str, declined: set) -> Optional[Finding]:
        for finding in self.engine.findings(module, path, frozenset(self._numpy_fixed.get(path, ()))):
            if self.engine.fixable(finding, path) and _key(finding) not in declined:
                return finding
        return None

    def _preview(self, module: cst.Module, finding: Finding, path: str) -> Optional[list[tuple[str, cst.Module]]]:
        """The files the fix changes and their fixed modules (this file last); None when
        it cannot be made (for a fix that spans files: a file it edits is not in this run)."""
        fix = finding.fix
        assert fix is not None
        if fix.elsewhere:
            changes = apply_across(self.engine, module, path, fix, self._text_of)
            return None if changes is None else [(p, fixed) for p, fixed, _ in changes]
        try:
            fixed, applied = self.engine.apply(module, [fix], path)
        except SourceError:
            return None
        return [(path, fixed)] if applied else None

    def _text_of(self, module_name: str) -> Optional[tuple[str, str]]:
        """A module of the project this run reviews, as its review left it."""
        project = self.engine.project
        found = project.path_for_module(module_name) if project is not None else None
        path = self._given.get(os.path.realpath(found)) if found is not None else None
        if path is None:
            return None
        result = self._result(path)
        if result is None or result.source is None or result.error is not None:
            return None
        module = self._module(result)
        return None if module is None else (path, module.code)

    def _accept(self, result: FileResult, finding: Finding, changes: list[tuple[str, cst.Module]]) -> None:
        for path, fixed in changes:
            self.modules[path] = fixed
            self._link(path, result.path)
        result.applied.append(finding.fix)  # type: ignore[arg-type]
        if finding.code in NUMPY_CODES:
            self._numpy_fixed.setdefault(result.path, set()).add(finding.symbol)

    def _link(self, a: str, b: str) -> None:
        root_a, root_b = self._root(a), self._root(b)
        if root_a != root_b:
            self._linked[root_a] = root_b

    def _root(self, path: str) -> str:
        while self._linked.get(path, path) != path:
            path = self._linked[path]
        return path

    def _ask(self, finding: Finding, changes: list[tuple[str, cst.Module]]) -> str:
        fix: Fix = finding.fix  # type: ignore[assignment]
        mark = "[?] " if fix.applicability.value == "unsafe" else ""
        here = display_path(changes[-1][0])
        click.echo(click.style(f"{here}:{finding.line}:{finding.column}: {finding.code} {mark}{finding.message}",
                               bold=True))
        files = f" ({len(changes)} files, applied together)" if len(changes) > 1 else ""
        click.echo(f"  fix: {fix.description}{files}")
        # The file of the finding first, then the others it edits.
        for path, fixed in [changes[-1], *changes[:-1]]:
            before = self.modules[path].code
            shown = display_path(path)
            for line in difflib.unified_diff(before.splitlines(), fixed.code.splitlines(),
                                             f"a/{shown}", f"b/{shown}", lineterm="", n=2):
                colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
                click.echo(click.style(line, fg=colour) if colour and not line.startswith(("+++", "---")) else line)
            if self.verify is not None:
                for name, verdict in self.verify(path, before, fixed.code).items():
                    colour = "green" if verdict["verdict"] == "verified" else "yellow"
                    click.echo(click.style(f"  {describe(name, verdict)}", fg=colour))
        while True:
            try:
                answer = click.prompt(PROMPT, default="n", show_default=False).strip().lower()
            except click.Abort:  # Ctrl-C, or the end of standard input
                if interrupts.interrupted() or sys.stdin.isatty():
                    raise Interrupted from None
                return "q"
            if answer in ("y", "n", "a", "d", "q"):
                return answer
            click.echo(HELP)

    def _write(self) -> None:
        """Each changed file once; the files an accepted group links all together, or none."""
        codes: dict[str, Optional[str]] = {}
        for result in self.results.values():
            if result is None or result.source is None or result.path not in self.modules:
                continue
            try:
                codes[result.path] = self.modules[result.path].code
            except Exception as error:  # it cannot be written: nor can the files linked to it
                codes[result.path] = None
                result.error = result.error or f"not written: {failure(error)}"
        groups: dict[str, list[FileResult]] = {}
        for path, code in codes.items():
            result = self.results[path]
            if code is None or code != result.source.text:  # type: ignore[union-attr]
                groups.setdefault(self._root(path), []).append(result)  # type: ignore[arg-type]
        for group in groups.values():
            if any(codes[result.path] is None for result in group):
                for result in group:
                    result.error = result.error or "not written: a file fixed with it cannot be"
                continue
            for result in group:
                result.new_text = codes[result.path]
            write_together(group, self.report)

    def _remaining(self, result: FileResult) -> None:
        """The findings the file has as written (or as it was)."""
        source = result.source
        if source is None or result.error is not None:
            return
        text = result.new_text or source.text
        checked = self._checked.get(result.path)
        if checked is not None and text == source.text and self.engine.may_have_path(source):
            result.findings = checked.findings  # as the check found it
            return
        if result.path in self.modules or self.engine.may_have_path(source):
            try:
                result.findings = self.engine.findings(parse_source(text), result.path)
            except (SourceError, Exception) as error:
                result.error = str(error) if isinstance(error, SourceError) else failure(error)
                return
            if source.notebook is not None:
                source.notebook.place(result.findings, text)


def _key(finding: Finding) -> tuple:
    """What identifies a finding across passes, while earlier fixes move its lines."""
    return finding.code, finding.symbol, cst.Module(body=[]).code_for_node(finding.node)
