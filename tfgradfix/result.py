"""What the engine gives back for one file (`FileResult`): the findings, the fixes applied
and the text they make, and (for SARIF) each fix as text edits; `revert` takes the fixes
back when the file is not written. `failure` is the one error line of a file whose
analysis raised."""

from __future__ import annotations

import dataclasses
import difflib
import os
import traceback
from dataclasses import dataclass, field
from typing import Optional

from tfgradfix import interrupts
from tfgradfix.analysis.project import PathEntry
from tfgradfix.files import SourceFile
from tfgradfix.fixes.edits import Fix
from tfgradfix.rules import Finding


@dataclass(frozen=True)
class TextEdit:
    """A fix as text: lines `start` to `end` (1-based, `end` not included) of the file at
    `path`, as it was read, replaced by `text`."""
    path: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class TextFix:
    """A finding's fix as text: its description and the edits it makes alone, in every file
    it edits (the finding's file first)."""
    description: str
    edits: list[TextEdit]


def text_edit(path: str, before: str, after: str) -> Optional[TextEdit]:
    """The one run of whole lines that turns `before` into `after` (None: no change)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    opcodes = [op for op in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not opcodes:
        return None
    first, last = opcodes[0], opcodes[-1]
    return TextEdit(path, first[1] + 1, last[2] + 1, "".join(new[first[3]:last[4]]))


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    applied: list[Fix] = field(default_factory=list)
    source: Optional[SourceFile] = None
    new_text: Optional[str] = None
    error: Optional[str] = None
    parsed: bool = False
    # With fixing on: what was reported before any fix (what `check` shows).
    original_findings: list[Finding] = field(default_factory=list)
    # From --verify: unit (class or function) name -> verdict and its numbers.
    verification: dict = field(default_factory=dict)
    # Calls of its gradient path into other project modules: (module, function, entry).
    calls_out: list[tuple[str, str, PathEntry]] = field(default_factory=list)
    # It has a fix that also edits other modules: made by `across.fix_across`, with those files at hand.
    crossing: bool = False
    # The finding each applied fix came from (for --show-fixes).
    fixed_findings: list[Finding] = field(default_factory=list)
    # Other files a fix that spans files changed with this one: written together, or none.
    linked: frozenset[str] = frozenset()
    # Errors that left the rest of the file checked: a notebook's cells that are not Python.
    problems: list[str] = field(default_factory=list)
    # Why a file that is not an error was not checked (a notebook of another language): a warning.
    note: Optional[str] = None
    # With `Engine(previews=True)` (SARIF): the fix of each finding of the text as read, keyed by
    # the finding's (code, line, column), as the text edits it makes when applied alone; a fix
    # that cannot be made alone has no entry. Made where the file's tree is at hand (a worker),
    # and, for a fix that also edits other modules, by `across.preview_across` once every round
    # is done (`across`: the file has such a fix).
    fix_edits: dict[tuple[str, int, int], TextFix] = field(default_factory=dict)
    across: bool = False

    @property
    def changed(self) -> bool:
        return self.source is not None and self.new_text is not None and self.new_text != self.source.text

    def revert(self) -> None:
        """Take the fixes back (the file is not written, or not with them): its findings are
        those it had before them, and no fix is applied, listed as fixed or pending."""
        self.findings = self.original_findings
        self.applied, self.fixed_findings = [], []
        self.new_text, self.crossing = None, False

    def detached(self) -> "FileResult":
        """A copy without syntax trees or edit functions, to cross a process boundary."""
        def summary(fix: Fix) -> Fix:
            return Fix(fix.description, (), fix.applicability)

        def plain(findings: list[Finding]) -> list[Finding]:
            return [dataclasses.replace(f, node=None, fix=None if f.fix is None else summary(f.fix))  # type: ignore[arg-type]
                    for f in findings]

        return dataclasses.replace(self, findings=plain(self.findings), original_findings=plain(self.original_findings),
                                   applied=[summary(f) for f in self.applied], fixed_findings=plain(self.fixed_findings))


TOO_DEEP = ("not analysed, file left unchanged: its code nests too deeply for the analysis (a long `+` chain "
            "or deeply nested calls reach Python's recursion limit)")


def failure(error: BaseException) -> str:
    """The one error line of a file whose analysis raised `error` (the run goes on). A
    Ctrl-C that LibCST turned into another error is raised as what it is."""
    interrupts.check()  # LibCST can turn a Ctrl-C into a KeyError: that is no bug
    if isinstance(error, RecursionError):
        return TOO_DEEP
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ is not None else None
    at = f" ({os.path.basename(where.filename)}:{where.lineno})" if where is not None else ""
    return f"internal error, file left unchanged: {type(error).__name__}: {error}{at}; please report it"
