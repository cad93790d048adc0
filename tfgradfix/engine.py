"""The per-file pipeline: prefilter -> parse -> analyse -> rules -> fixes -> new text."""

from __future__ import annotations

import ast
import dataclasses
from typing import Callable, Collection, Optional, Sequence

import libcst as cst

from tfgradfix import prefilter
from tfgradfix.analysis.context import TraversalContext
from tfgradfix.analysis.project import Kind, ProjectIndex, checksum
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.slices import ModuleSlices
from tfgradfix.analysis.tree import visit_batched
from tfgradfix.files import NotPython, SourceError, SourceFile, read_source
from tfgradfix.noqa import EVERY_CODE, NoqaLines, file_exemptions
from tfgradfix.notebooks import NotebookError
from tfgradfix.parsing import (SyntaxProblem, cells_parse_alone, parse_source, python_accepts,
                               without_broken_cells)
from tfgradfix.positions import NodePositions
from tfgradfix.result import FileResult, TextFix, failure, text_edit
from tfgradfix.fixes.edits import Applicability, Fix, apply_fixes
from tfgradfix.fixes.imports import update_imports
from tfgradfix.rules import Finding, Rule
from tfgradfix.rules import numpy as numpy_rules
from tfgradfix.rules.unused_noqa import UnusedNoqa

# Fixes can enable others (a `.numpy()` dropped makes a conversion redundant);
# the loop stops earlier once nothing changes.
MAX_FIX_PASSES = 10
# The rules whose fixes replace NumPy on the gradient path (what TGF103 cleans up after).
NUMPY_CODES = frozenset(getattr(numpy_rules, name).code for name in numpy_rules.__all__)


def _no_ignores(path: str) -> Sequence[str]:
    return ()


class Engine:
    def __init__(self, rules: Sequence[type[Rule]], fix: bool = False, unsafe_fixes: bool = False,
                 ignored_for: Callable[[str], Sequence[str]] = _no_ignores,
                 project: Optional[ProjectIndex] = None,
                 accept: Optional[Callable[[Finding], bool]] = None,
                 unsafe_for: Optional[Callable[[str], bool]] = None,
                 fixable_for: Optional[Callable[[str], Collection[str]]] = None,
                 ignore_noqa: bool = False, previews: bool = False) -> None:
        self.rules = list(rules)
        # The project the files belong to (built before any file is analysed); None: each file alone.
        self.project = project
        self.fix = fix
        self.unsafe_fixes = unsafe_fixes
        # Whether a file's own configuration asks for unsafe fixes (else `unsafe_fixes`, for all).
        self.unsafe_for = unsafe_for
        # Which findings' fixes to apply (--fix --verify re-fixes a file with the verified ones only).
        self.accept = accept
        # Per-file ignores (`per-file-ignores`): code prefixes whose findings, and fixes, a file drops.
        self.ignored_for = ignored_for
        # --fixable/--unfixable (`fixable`, `unfixable`): the codes whose fixes a file may take
        # (None: all); the others' findings are reported without a fix.
        self.fixable_for = fixable_for
        # --ignore-noqa: `# noqa` and `# tfgradfix: noqa` comments suppress nothing (and TGF901
        # judges none of them).
        self.ignore_noqa = ignore_noqa
        # SARIF: each fix of the text as read, also as text edits (`FileResult.fix_edits`).
        self.previews = previews
        self.triggers = tuple({t for rule in self.rules for t in rule.triggers})
        # Trees of the modules the project rounds analyse again (path -> text, tree).
        self._trees: dict[str, tuple[str, cst.Module]] = {}
        # Modules sliced before in this run (the project rounds analyse some again).
        self._sliced: set[str] = set()

    def variant(self, **changes) -> "Engine":
        """An engine of the same run (rules, project, each file's options) with `changes`:
        the review's check (`fix=False`), --verify's fix of the verified units only (`accept`)."""
        settings = dict(rules=self.rules, fix=self.fix, unsafe_fixes=self.unsafe_fixes, ignored_for=self.ignored_for,
                        project=self.project, accept=self.accept, unsafe_for=self.unsafe_for,
                        fixable_for=self.fixable_for, ignore_noqa=self.ignore_noqa, previews=self.previews)
        return Engine(**{**settings, **changes})

    def process_path(self, path: str) -> FileResult:
        try:
            source = read_source(path)
        except NotPython as note:
            return FileResult(path=path, note=str(note))
        except SourceError as error:
            return FileResult(path=path, error=str(error))
        return self.process(source)

    def process(self, source: SourceFile) -> FileResult:
        try:
            return self._process(source)
        except Exception as error:  # a bug of ours must not stop the run or lose the file
            return FileResult(path=source.path, source=source, error=failure(error))

    def module_name(self, source: SourceFile) -> Optional[str]:
        return self.project.module_for_path(source.path) if self.project is not None else None

    def _process(self, source: SourceFile) -> FileResult:
        result = FileResult(path=source.path, source=source)
        module_name = self.module_name(source)
        ignored = self._ignored(source.path, source.text)
        if EVERY_CODE in ignored:  # `# tfgradfix: noqa`: the whole file is exempt, as Ruff's `# ruff: noqa`
            return result
        if not self.may_have_path(source) and not (prefilter.STALE_NOQA.search(source.text) and self._judges_noqa(source)):
            return result  # (a `# noqa: TGF...` is judged in every file: with no gradient path, it is stale)
        sliced = self._slice(source, module_name)
        checked = source.text if sliced is None else sliced
        try:
            module = self._parse(source.path, checked, module_name)
            if source.notebook is None:
                python_accepts(source.text, self._ast_parsed(module_name, source))
        except SyntaxProblem as error:
            set_aside = None if source.notebook is None else without_broken_cells(source, result)
            if set_aside is None:
                result.error = str(error) if source.notebook is None else source.notebook.syntax_error(
                    error.line, error.column, error.reason)
                return result
            module = set_aside
        except SourceError as error:
            result.error = str(error)
            return result
        if source.notebook is not None and not cells_parse_alone(source):
            # IPython compiles each cell alone: a string or bracket opened in one cell and
            # closed in the next is an error in both, though the cells joined parse.
            module = without_broken_cells(source, result) or module
        if source.notebook is not None:
            checked = source.text  # with the cells that are not Python set aside
        result.parsed = True
        outgoing: dict = {}
        findings = self._check(module, checked, ignored, module_name, outgoing, source.path)
        if sliced is not None and findings:  # fixes, positions and callers elsewhere need the whole module
            module, outgoing, sliced = self._parse(source.path, source.text, module_name), {}, None
            findings = self._check(module, source.text, ignored, module_name, outgoing, source.path)
        result.calls_out = [(m, name, entry) for (m, name), entry in outgoing.items()]
        if self.previews and source.notebook is None and findings:
            self._preview(result, module, findings)
        if self.fix:
            result.original_findings = list(findings)
            module, findings = self._fix_until_stable(module, findings, result, ignored, module_name)
            result.new_text = module.code if sliced is None else source.text
            result.crossing = any(self.fixable(f, source.path) and f.fix.elsewhere for f in findings)
            if source.notebook is not None and result.new_text != source.text:
                try:  # a fix the notebook cannot take back (an IPython line, a cell with prompts)
                    source.notebook.from_python(result.new_text)
                except NotebookError as error:
                    result.error = str(error)
                    result.revert()
                    findings = result.findings
        if source.notebook is not None:
            # The findings left after fixing count lines of the fixed cells. (Without a
            # fix applied, both lists hold the same findings, and the texts are the same.)
            source.notebook.place(findings, result.new_text or source.text)
            placed = {id(f) for f in findings}
            source.notebook.place([f for f in result.original_findings if id(f) not in placed], source.text)
        result.findings = findings
        return result

    def _slice(self, source: SourceFile, module_name: Optional[str]) -> Optional[str]:
        """The part of a project module its gradient path can depend on (`analysis/slices`),
        or None for all of it: a notebook, a file alone, a file with `noqa` comments
        (whether one is used is a question about all of the file)."""
        project = self.project
        info = project.module_info(module_name) if project is not None and module_name is not None else None
        if info is None or not info.outline or source.notebook is not None or "noqa" in source.text.lower():
            return None
        if info.checksum != checksum(source.text):  # changed since the index read it
            return None
        assert project is not None and module_name is not None  # (info came from them)
        again = source.path in self._sliced
        self._sliced.add(source.path)
        return ModuleSlices(source.text, info.outline).text(
            lambda name: project.kind_of(f"{module_name}.{name}") is Kind.PLAIN, project.entries_of(module_name),
            again)

    def _parse(self, path: str, text: str, module_name: Optional[str]) -> cst.Module:
        """The tree of `text` (the module's, or its slice). A module that other modules'
        gradient paths call into is analysed again each round that adds entries, often
        from the same text: parsing is the larger part of a check, so its tree is kept
        (trees are immutable)."""
        kept = self._trees.get(path)
        if kept is not None and kept[0] == text:
            return kept[1]
        module = parse_source(text)
        if module_name is not None and self.project is not None and self.project.entries_of(module_name):
            self._trees[path] = (text, module)
        return module

    def may_have_path(self, source: SourceFile) -> bool:
        """The prefilter (`prefilter.may_have_path`)."""
        return prefilter.may_have_path(source, self.project, self.module_name(source), self.triggers)

    def _judges_noqa(self, source: SourceFile) -> bool:
        return UnusedNoqa in self.rules and not self.ignore_noqa and not UnusedNoqa.code.startswith(
            self._ignored(source.path, source.text))

    def _ignored(self, path: str, text: str) -> tuple[str, ...]:
        """Code prefixes whose findings the file drops: its configuration's (per-file ignores,
        rules it does not enable) and its `# tfgradfix: noqa` comments' (unless --ignore-noqa)."""
        exempt = [] if self.ignore_noqa else file_exemptions(text)
        return (*self.ignored_for(path), *exempt)

    def _ast_parsed(self, module_name: Optional[str], source: SourceFile) -> Optional[bool]:
        """Whether Python's `ast` parsed the file when the project index read it (None: not known)."""
        info = self.project.module_info(module_name) if self.project is not None and module_name else None
        if info is None or source.from_stdin:
            return None
        return info.parsed

    def may_match(self, text: str) -> bool:
        """A gradient path needs TensorFlow or Keras, and a tape or a Keras class."""
        return prefilter.may_match(text, self.triggers)

    def _check(self, module: cst.Module, text: str, ignored: tuple[str, ...] = (),
               module_name: Optional[str] = None, outgoing: Optional[dict] = None,
               path: Optional[str] = None, numpy_fixed: frozenset[str] = frozenset()) -> list[Finding]:
        analysis = ModuleAnalysis(module, text, self.project, module_name, numpy_fixed)
        if outgoing is not None:
            outgoing.update(analysis.outgoing)
        judged = [rule for rule in self.rules if not (rule is UnusedNoqa and self.ignore_noqa)]
        if not analysis.has_gradient_path:  # no rule finds anything: only `noqa` directives are judged
            judged = [rule for rule in judged if rule is UnusedNoqa]
            if not judged or not prefilter.STALE_NOQA.search(text):
                return []
        context = TraversalContext(analysis)
        findings: list[Finding] = []
        rules = [rule(context, findings.append) for rule in judged]
        # Only noqa directives are read from whitespace nodes (comments).
        visit_batched(module, [context, *rules], syntax_only="noqa" not in text.lower())
        noqa = next((r for r in rules if isinstance(r, UnusedNoqa)), None)
        if not findings and not (noqa and noqa.directives):
            return []
        if self.project is not None and module_name is not None:
            _unsafe_where_other_callers_differ(findings, analysis, self.project, module_name)
        # Positions of the findings' nodes and the noqa comments only (a whole-module
        # PositionProvider cost twice the parse on a large file: docs/performance.md).
        comments = [holder.comment for holder, _ in (noqa.directives if noqa else ()) if holder.comment is not None]
        positions = NodePositions(module, [*(f.node for f in findings), *comments], [f.symbol for f in findings])
        # Comments by line (never `# noqa` in a string), and where a line's directive goes.
        noqa_lines = NoqaLines(text) if "noqa" in text.lower() and not self.ignore_noqa else None
        kept = []
        used: set[tuple[int, str]] = set()  # (line, code) a noqa suppressed

        def place(finding: Finding) -> None:
            where = positions[finding.node]
            finding.line, finding.column = where.start.line, where.start.column + 1
            finding.end_line, finding.end_column = where.end.line, where.end.column + 1

        for finding in findings:
            place(finding)
            if noqa_lines is not None and noqa_lines.suppressed(finding.line, finding.code):
                used.add((noqa_lines.line_for(finding.line), finding.code))
            elif not finding.code.startswith(ignored):
                kept.append(finding)
        if noqa is not None and not noqa.code.startswith(ignored):
            comment_lines: dict[cst.CSTNode, int] = {comment: positions[comment].start.line for comment in comments}
            for finding in noqa.unused(comment_lines, used, [r.code for r in self.rules]):
                place(finding)
                kept.append(finding)
        fixable = self.fixable_for(path) if self.fixable_for is not None and path is not None else None
        if fixable is not None:  # --unfixable: reported, never fixed (nor marked fixable)
            for finding in kept:
                if finding.fix is not None and finding.code not in fixable:
                    finding.fix = None
        return sorted(kept, key=lambda f: (f.line, f.column, f.code))

    def fixable(self, finding: Finding, path: Optional[str] = None) -> bool:
        """Whether `--fix` applies the finding's fix (in the file at `path`)."""
        fix = finding.fix
        unsafe = self.unsafe_fixes if path is None or self.unsafe_for is None else self.unsafe_for(path)
        return fix is not None and (fix.applicability is Applicability.SAFE or unsafe) \
            and (self.accept is None or self.accept(finding))

    def _fix_until_stable(self, module: cst.Module, findings: list[Finding], result: FileResult,
                          ignored: tuple[str, ...], module_name: Optional[str] = None):
        numpy_fixed: set[str] = set()
        for _ in range(MAX_FIX_PASSES):
            fixes = {id(f.fix): f for f in findings if self.fixable(f, result.path)}
            if not fixes:
                break
            try:
                fixed, applied = self.apply(module, [f.fix for f in fixes.values()], result.path)  # type: ignore[misc]
            except SourceError as error:
                result.error = str(error)
                break
            if not applied:
                break
            module = fixed
            result.applied.extend(applied)
            result.fixed_findings.extend(fixes[id(fix)] for fix in applied)
            numpy_fixed.update(fixes[id(fix)].symbol for fix in applied if fixes[id(fix)].code in NUMPY_CODES)
            findings = self._check(module, module.code, ignored, module_name, path=result.path,
                                   numpy_fixed=frozenset(numpy_fixed))
        return module, findings

    def apply(self, module: cst.Module, fixes: list[Fix], path: str) -> tuple[cst.Module, list[Fix]]:
        """The module with the fixes that do not overlap applied, imports updated, and
        re-parsed; SourceError when the result would not compile. Fixes that also edit
        other modules are left to `fix_across`."""
        fixed, applied = apply_fixes(module, [fix for fix in fixes if not fix.elsewhere])
        if not applied:
            return module, []
        code = update_imports(module, fixed, applied).code
        # A notebook's cells joined are not one module Python would run: top-level `await`
        # and a `from __future__` after a magic are IPython's to judge; only syntax is checked.
        flags = ast.PyCF_ONLY_AST if path.endswith(".ipynb") else 0
        try:
            compile(code, path, "exec", flags)
            return parse_source(code), applied
        except (SyntaxError, ValueError, SourceError) as error:
            raise SourceError(f"a fix produced code that does not parse ({error}); fixes not applied") from error

    def _preview(self, result: FileResult, module: cst.Module, findings: list[Finding]) -> None:
        """`result.fix_edits` of the fixes that edit this file only, each applied alone; those
        that also edit other modules wait for `across.preview_across`. An error leaves the file's
        findings without text edits."""
        assert result.source is not None
        text = result.source.text
        try:
            for finding in findings:
                fix = finding.fix
                if fix is None:
                    continue
                if fix.elsewhere:
                    result.across = True
                    continue
                try:
                    fixed, applied = self.apply(module, [fix], result.path)
                except SourceError:
                    continue
                edit = text_edit(result.path, text, fixed.code) if applied else None
                if edit is not None:
                    result.fix_edits[(finding.code, finding.line, finding.column)] = TextFix(fix.description, [edit])
        except Exception as error:
            failure(error)  # (a Ctrl-C is raised)
            result.fix_edits, result.across = {}, False

    def findings(self, module: cst.Module, path: str, numpy_fixed: frozenset[str] = frozenset()) -> list[Finding]:
        """What the rules report on `module` (per-file ignores applied); `numpy_fixed`: the
        functions where fixes already applied to it replaced NumPy."""
        module_name = self.project.module_for_path(path) if self.project is not None else None
        text = module.code
        return self._check(module, text, self._ignored(path, text), module_name, path=path, numpy_fixed=numpy_fixed)


def _unsafe_where_other_callers_differ(findings: list[Finding], analysis: ModuleAnalysis, project: ProjectIndex,
                                       module_name: str) -> None:
    """A fix inside a helper changes it for every caller. Where the project also calls
    the helper off the gradient path (NumPy data preparation calling the same
    function, a caller its edits do not update), the fix is not safe."""
    scopes = {scope.symbol: scope for scope in analysis.scopes.values()}
    for finding in findings:
        fix, scope = finding.fix, scopes.get(finding.symbol)
        if fix is None or fix.applicability is not Applicability.SAFE or scope is None:
            continue
        if not isinstance(scope.node, cst.FunctionDef) or not scope.forward or scope.is_forward_entry:
            continue
        entry = analysis.entries.get(scope.symbol)
        on_path = entry.callers if entry is not None else frozenset()
        others = sorted({
            (module, symbol) for module, symbol in project.call_sites(module_name, scope.symbol)
            if not any(m == module and s == symbol for m, s, _ in on_path)
            and not (module == module_name and symbol in scopes and scopes[symbol].on_path)
        })
        if others:
            where = ", ".join(f"{module}:{symbol}" for module, symbol in others[:3])
            finding.fix = dataclasses.replace(fix, applicability=Applicability.UNSAFE, description=(
                f"{fix.description} (unsafe: `{scope.symbol}` is also called off the gradient path, from {where})"))
