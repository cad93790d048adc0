"""The per-file pipeline: prefilter -> parse -> analyse -> rules -> fixes -> new text."""

from __future__ import annotations

import ast
import dataclasses
import io
import os
import re
import tokenize
from typing import Callable, Collection, Optional, Sequence

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from tfgradfix.analysis.context import TraversalContext
from tfgradfix.analysis.imports import ImportMap, dotted_name
from tfgradfix.analysis.project import Kind, ProjectIndex, checksum, index_module
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.slices import ModuleSlices
from tfgradfix.analysis.tree import child_nodes, visit_batched
from tfgradfix.files import NotPython, SourceError, SourceFile, read_source
from tfgradfix.noqa import EVERY_CODE, NoqaLines, file_exemptions
from tfgradfix.notebooks import NotebookError
from tfgradfix.positions import NodePositions
from tfgradfix.result import FileResult, TextFix, failure, text_edit
from tfgradfix.fixes.edits import Applicability, Fix, apply_fixes
from tfgradfix.rules import Finding, Rule
from tfgradfix.rules.unused_noqa import UnusedNoqa

# Fixes can enable others (a `.numpy()` dropped makes a conversion redundant);
# the loop stops earlier once nothing changes.
MAX_FIX_PASSES = 10
# Only files that mention TensorFlow or Keras can hold a gradient path.
_FRAMEWORK_MARKERS = ("tensorflow", "keras")
_KERAS_CLASS_MARKERS = ("Layer", "Model", "Sequential", "layers.")
# A `# noqa` naming one of this tool's codes (TGF901 judges it in every file).
_STALE_NOQA = re.compile(r"#\s*noqa\s*:[^\n]*TGF[0-9]", re.IGNORECASE)
# Functions handed to Keras to run on tensors: `Lambda(fn)`, `compile(loss=fn)`,
# `opt.minimize(loss_fn, var_list)`.
_HANDED_FUNCTION_MARKERS = ("Lambda(", "loss=", ".minimize(")


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
        if not self.may_have_path(source) and not (_STALE_NOQA.search(source.text) and self._judges_noqa(source)):
            return result  # (a `# noqa: TGF...` is judged in every file: with no gradient path, it is stale)
        sliced = self._slice(source, module_name)
        checked = source.text if sliced is None else sliced
        try:
            module = self._parse(source.path, checked, module_name)
            if source.notebook is None:
                _python_accepts(source.text, self._ast_parsed(module_name, source))
        except SyntaxProblem as error:
            module = None if source.notebook is None else _without_broken_cells(source, result)
            if module is None:
                result.error = str(error) if source.notebook is None else source.notebook.syntax_error(
                    error.line, error.column, error.reason)
                return result
        except SourceError as error:
            result.error = str(error)
            return result
        if source.notebook is not None and not _cells_parse_alone(source):
            # IPython compiles each cell alone: a string or bracket opened in one cell and
            # closed in the next is an error in both, though the cells joined parse.
            module = _without_broken_cells(source, result) or module
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
        """The prefilter. With the project index: a module the gradient path of another
        module calls into, or with a Keras class (through bases in other modules) defining
        a forward method, or that passes the `ast` gate of the index's parse (taken once,
        in the index)."""
        text = source.text
        project = self.project
        module_name = self.module_name(source)
        if module_name is None or project is None:
            return self.may_match(text) and _ast_gate(text)
        if project.entries_of(module_name):
            return any(t in text for t in self.triggers)
        info = project.module_info(module_name)
        if info is None or source.from_stdin or not info.parsed:
            return self.may_match(text) and _ast_gate(text)
        has_path = (_has_markers(text) and project.gate(module_name)) or project.defines_keras_forward(module_name)
        # A path that calls into other project modules matters to them, whatever this file mentions.
        return has_path and (any(t in text for t in self.triggers) or project.calls_marked(module_name))

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
        return _has_markers(text) and any(t in text for t in self.triggers)

    def _check(self, module: cst.Module, text: str, ignored: tuple[str, ...] = (),
               module_name: Optional[str] = None, outgoing: Optional[dict] = None,
               path: Optional[str] = None) -> list[Finding]:
        analysis = ModuleAnalysis(module, text, self.project, module_name)
        if outgoing is not None:
            outgoing.update(analysis.outgoing)
        judged = [rule for rule in self.rules if not (rule is UnusedNoqa and self.ignore_noqa)]
        if not analysis.has_gradient_path:  # no rule finds anything: only `noqa` directives are judged
            judged = [rule for rule in judged if rule is UnusedNoqa]
            if not judged or not _STALE_NOQA.search(text):
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
        positions = NodePositions(module, [*(f.node for f in findings),
                                           *(holder.comment for holder, _ in (noqa.directives if noqa else ()))],
                                  [f.symbol for f in findings])
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
            comment_lines = {holder.comment: positions[holder.comment].start.line for holder, _ in noqa.directives}
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
            findings = self._check(module, module.code, ignored, module_name, path=result.path)
        return module, findings

    def apply(self, module: cst.Module, fixes: list[Fix], path: str) -> tuple[cst.Module, list[Fix]]:
        """The module with the fixes that do not overlap applied, imports updated, and
        re-parsed; SourceError when the result would not compile. Fixes that also edit
        other modules are left to `fix_across`."""
        fixed, applied = apply_fixes(module, [fix for fix in fixes if not fix.elsewhere])
        if not applied:
            return module, []
        code = _update_imports(module, fixed, applied).code
        # A notebook's cells joined are not one module Python would run: top-level `await`
        # and a `from __future__` after a magic are IPython's to judge; only syntax is checked.
        flags = ast.PyCF_ONLY_AST if path.endswith(".ipynb") else 0
        try:
            compile(code, path, "exec", flags)
            return parse_source(code), applied
        except (SyntaxError, ValueError, SourceError) as error:
            raise SourceError(f"a fix produced code that does not parse ({error}); fixes not applied") from error

    def fix_across(self, results: dict[str, FileResult]) -> None:
        """Make the fixes that edit several modules: each with every file it edits at hand
        (results of this run, keyed by path), all its edits or none, every file compiling."""
        project = self.project
        if project is None:
            return
        by_module = {project.module_for_path(path): result for path, result in results.items()}
        for result in list(results.values()):
            declined: set[tuple] = set()
            try:
                while result.crossing and result.error is None and self._fix_one_across(result, by_module, declined):
                    pass
            except Exception as error:  # this file's fixes across files are not made; the run goes on
                result.crossing = False
                result.problems.append(f"fixes across files not made: {failure(error)}")

    def _fix_one_across(self, result: FileResult, by_module: dict, declined: set) -> bool:
        module = parse_source(_text(result))
        findings = self.findings(module, result.path)
        result.findings = findings
        candidates = [f for f in findings if self.fixable(f, result.path) and f.fix.elsewhere
                      and (f.code, f.symbol, f.line) not in declined]
        result.crossing = bool(candidates)
        if not candidates:
            return False
        finding = candidates[0]
        declined.add((finding.code, finding.symbol, finding.line))

        def text_of(module_name: str) -> Optional[tuple[str, str]]:
            other = by_module.get(module_name)
            if other is None or other.error is not None or other.source is None:
                return None  # that module is not in this run: not this fix
            return other.path, _text(other)

        changes = self.apply_across(module, result.path, finding.fix, text_of)
        if changes is None:
            return True
        by_path = {r.path: r for r in by_module.values()}
        group = {path for path, _, _ in changes}
        group |= {other for path in list(group) for other in by_path[path].linked}
        left = [self.findings(fixed, path) for path, fixed, _ in changes]  # first: this may raise
        for (path, fixed, made), findings in zip(changes, left):
            target = by_path[path]
            target.new_text = fixed.code
            target.applied.extend(made)
            target.findings = findings
        for path in group:
            by_path[path].linked = frozenset(group - {path})
        return True

    def apply_across(self, module: cst.Module, path: str, fix: Fix, text_of: Callable[[str], Optional[tuple[str, str]]]
                     ) -> Optional[list[tuple[str, cst.Module, list[Fix]]]]:
        """A fix that also edits other modules, made on `module` (of `path`) and on the
        texts `text_of(module name)` gives as (path, text) (None: not at hand): (path, fixed
        module, the fixes made there) for each file it edits, this one last; None when some
        part cannot be made or some file would not compile, and then nothing is."""
        fixed: dict[str, tuple[cst.Module, list[Fix]]] = {}
        try:
            for part in fix.elsewhere:
                found = text_of(part.module)
                if found is None or found[0] == path:
                    return None
                other_path, text = found
                current, made = fixed.get(other_path) or (parse_source(text), [])
                analysis = ModuleAnalysis(current, current.code, self.project, part.module)
                other_fix = part.edit(analysis)
                if other_fix is None:
                    return None
                after, applied = self.apply(current, [other_fix], other_path)
                if not applied:
                    return None
                fixed[other_path] = (after, [*made, other_fix])
            here, applied = self.apply(module, [dataclasses.replace(fix, elsewhere=())], path)
        except SourceError:
            return None
        if not applied:
            return None
        return [*((p, after, made) for p, (after, made) in fixed.items()), (path, here, [fix])]

    def _preview(self, result: FileResult, module: cst.Module, findings: list[Finding]) -> None:
        """`result.fix_edits` of the fixes that edit this file only, each applied alone; those
        that also edit other modules wait for `preview_across`. An error leaves the file's
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

    def preview_across(self, results: Collection[FileResult]) -> None:
        """The text edits of the fixes that also edit other modules (`FileResult.across`), each
        made alone on the texts of this run's files as read, once every round is done."""
        project = self.project
        if project is None:
            return
        by_path = {os.path.realpath(r.path): r for r in results if r.error is None}

        def text_of(module_name: str) -> Optional[tuple[str, str]]:
            found = project.path_for_module(module_name)
            other = by_path.get(os.path.realpath(found)) if found is not None else None
            if other is None or other.source is None:
                return None
            return other.path, other.source.text

        for result in results:
            if not result.across or result.source is None:
                continue
            try:
                self._preview_across(result, text_of)
            except Exception as error:  # the file's findings are reported without their text edits
                failure(error)  # (a Ctrl-C is raised)
                result.fix_edits = {}

    def _preview_across(self, result: FileResult, text_of: Callable[[str], Optional[tuple[str, str]]]) -> None:
        assert result.source is not None
        module = parse_source(result.source.text)
        texts = {result.path: result.source.text}

        def recorded(module_name: str) -> Optional[tuple[str, str]]:
            found = text_of(module_name)
            if found is not None:
                texts[found[0]] = found[1]
            return found

        for finding in self.findings(module, result.path):
            if finding.fix is None or not finding.fix.elsewhere:
                continue
            made = self.apply_across(module, result.path, finding.fix, recorded)
            changed = [(path, fixed.code) for path, fixed, _ in made[-1:] + made[:-1]] if made else []
            edits = [edit for path, after in changed if (edit := text_edit(path, texts[path], after)) is not None]
            if edits and len(edits) == len(changed):
                result.fix_edits[(finding.code, finding.line, finding.column)] = TextFix(finding.fix.description, edits)

    def findings(self, module: cst.Module, path: str) -> list[Finding]:
        """What the rules report on `module` (per-file ignores applied)."""
        module_name = self.project.module_for_path(path) if self.project is not None else None
        text = module.code
        return self._check(module, text, self._ignored(path, text), module_name, path=path)


def _has_markers(text: str) -> bool:
    """TensorFlow or Keras, and a tape, a function handed to Keras/TF, or a Keras class."""
    return any(m in text for m in _FRAMEWORK_MARKERS) and (
        "GradientTape" in text or any(m in text for m in _HANDED_FUNCTION_MARKERS)
        or ("class " in text and any(m in text for m in _KERAS_CLASS_MARKERS)))


def _text(result: FileResult) -> str:
    assert result.source is not None
    return result.new_text if result.new_text is not None else result.source.text


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


def _ast_gate(text: str) -> bool:
    """The second, cheap tier of the prefilter for a file read alone (Python's `ast` costs a
    tenth of LibCST's parse): the project index's gate for this one module, with no project
    to resolve its bases: a tape, a Lambda layer, a loss function handed to `compile`, or a
    class with a Keras-looking base (a subclass of a Keras class of this module needs that
    class), in code rather than in a docstring or comment. A file `ast` cannot parse goes on to LibCST, which names the error."""
    info = index_module("<gate>", "<gate>", text)
    if not info.parsed:
        # Only Lambda(...) or loss=... in a file even `ast` cannot read: not worth an error.
        return "GradientTape" in text or "class " in text
    return info.starts_path or bool(info.keras_looking)


class SyntaxProblem(SourceError):
    """Code that does not parse, and where."""

    def __init__(self, line: int, column: int, reason: str) -> None:
        super().__init__(f"syntax error at {line}:{column}: {reason}")
        self.line, self.column, self.reason = line, column, reason

    def in_cell(self, cell: int) -> str:
        """The problem of a notebook cell parsed alone, told by its number."""
        return f"cell {cell}, line {self.line}: syntax error at column {self.column}: {self.reason}"


class UnparsableSyntax(SyntaxProblem):
    """Code Python accepts that LibCST, the parser fixes are written with, cannot parse:
    the file is not analysed, and the message says why without calling it invalid."""

    def __init__(self, line: int, column: int, reason: str, mixed_indent: Optional[int]) -> None:
        super().__init__(line, column, reason)
        self.mixed_indent = mixed_indent
        self.args = (self._told("this file"),)

    def _told(self, what: str) -> str:
        cause = (f"line {self.mixed_indent} indents with tabs and spaces mixed" if self.mixed_indent is not None
                 else f"{self.reason} at {self.line}:{self.column}")
        return (f"not analysed: Python accepts {what}, but LibCST (the parser tfgradfix rewrites code with) "
                f"cannot parse it: {cause}")

    def in_cell(self, cell: int) -> str:
        return f"cell {cell}: {self._told('this cell')}"


def parse_source(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        # Python's own message ("'(' was never closed") is the one users know.
        try:
            ast.parse(text)
        except SyntaxError as python_error:
            raise SyntaxProblem(python_error.lineno or 0, python_error.offset or 0, python_error.msg) from error
        except (ValueError, RecursionError, MemoryError):
            raise SyntaxProblem(error.editor_line, error.editor_column, error.message) from error
        # No parser option of LibCST reads these (its tokenizer rejects them whatever the version).
        raise UnparsableSyntax(error.editor_line, error.editor_column, error.message, _mixed_indent(text)) from error
    except (RecursionError, MemoryError) as error:
        raise SourceError(f"cannot parse: {type(error).__name__}") from error


def _python_accepts(text: str, ast_parsed: Optional[bool]) -> None:
    """SyntaxProblem when Python rejects code LibCST parsed (900 nested parentheses: Python's
    parser stops at 200). Python's `ast` is asked only when the project index's `ast` read of
    the file failed, or the index does not know it (standard input)."""
    if ast_parsed:
        return
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise SyntaxProblem(error.lineno or 0, error.offset or 0, error.msg) from error
    except (ValueError, RecursionError, MemoryError):
        return


def _mixed_indent(text: str) -> Optional[int]:
    """The first line whose indentation mixes tabs and spaces, within itself or against the
    lines indented before it, which Python allows where its two ways of counting tabs agree."""
    seen: set[str] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.INDENT:
                seen.update(token.string)
                if len(seen) > 1:
                    return token.start[0]
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def _cells_parse_alone(source: SourceFile) -> bool:
    """Whether each code cell of the notebook is Python by itself (Python's `ast`, a tenth
    of LibCST's cost, judges; what it cannot judge, LibCST will)."""
    assert source.notebook is not None
    for cell in source.notebook.cells:
        try:
            ast.parse(cell.code)
        except SyntaxError:
            return False
        except (ValueError, RecursionError, MemoryError):
            continue
    return True


def _without_broken_cells(source: SourceFile, result: FileResult) -> Optional[cst.Module]:
    """A notebook some of whose cells are not Python (an R cell, a stray no-break space), as
    Ruff reads one: each such cell gets its error in `result.problems` and is set aside,
    coming back as it is, and the others are checked and fixed. None when no cell alone
    fails (or setting them aside does not help)."""
    notebook = source.notebook
    assert notebook is not None
    broken: dict[int, SyntaxProblem] = {}
    for cell in notebook.cells:
        try:
            parse_source(cell.code)
            _python_accepts(cell.code, None)  # (900 nested parentheses LibCST reads)
        except SyntaxProblem as problem:
            broken[cell.index] = problem
        except SourceError:
            return None
    if not broken:
        return None
    text = notebook.set_aside(broken)
    try:
        module = parse_source(text)
    except SourceError:
        notebook.set_aside(())  # the notebook as read, for the error the whole module gets
        return None
    source.text = text
    result.problems = [f"{problem.in_cell(index + 1)} (the cell is not checked)" for index, problem in broken.items()]
    return module


def _update_imports(before: cst.Module, after: cst.Module, applied: list[Fix]) -> cst.Module:
    """Add the imports the fixes refer to (those the fixed code reads: a fix lists the import
    it may need, and one that wrote no `tf.` needs none); drop NumPy imports they left unused."""
    context = CodemodContext()
    needed = {(module_name, alias) for fix in applied for module_name, alias in fix.imports
              if _reads(after, alias)}
    for module_name, alias in sorted(needed):
        AddImportsVisitor.add_needed_import(context, module_name, asname=alias if alias != module_name else None)
    if needed:
        after = AddImportsVisitor(context).transform_module(after)
    imports = ImportMap(before)
    unused = [
        (local, full) for local, full in imports.bindings.items()
        if (full == "numpy" or full.startswith("numpy.")) and _references(before, local) and not _references(after, local)
    ]
    return after.visit(_DropImports(set(unused))) if unused else after


class _DropImports(cst.CSTTransformer):
    """Remove the import names binding these (local, dotted) pairs, which `_references`
    found unused: RemoveImportsVisitor's edit without its scope analysis of the whole
    module, which made --fix on a large file cost many times `check`."""

    def __init__(self, unused: set[tuple[str, str]]) -> None:
        super().__init__()
        self.unused = unused
        # Statement lines left without an import (LibCST removes them), and their comment lines.
        self.emptied: dict[int, list[cst.EmptyLine]] = {}

    # Imports are statements: expressions, and statement lines without an import, are not entered.
    def on_visit(self, node: cst.CSTNode) -> bool:
        return not isinstance(node, cst.BaseExpression) and super().on_visit(node)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in node.body)

    visit_SimpleStatementSuite = visit_SimpleStatementLine  # type: ignore[assignment]

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if not updated.body:
            self.emptied[id(original)] = [line for line in updated.leading_lines if line.comment is not None]
        return updated

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        """The comments above a removed top-level import stay where they were, on the next
        statement: one of them may be a notebook's cell marker."""
        if not any(self.emptied.get(id(statement)) for statement in original.body):
            return updated
        body: list[cst.BaseStatement] = []
        comments: list[cst.EmptyLine] = []
        kept = iter(updated.body)
        for statement in original.body:
            if id(statement) in self.emptied:
                comments.extend(self.emptied[id(statement)])
                continue
            node = next(kept)
            if comments:
                node = node.with_changes(leading_lines=[*comments, *node.leading_lines])
                comments = []
            body.append(node)
        return updated.with_changes(body=body, footer=[*comments, *updated.footer])

    def leave_Import(self, original: cst.Import, updated: cst.Import):
        return self._keep(updated, [a for a in updated.names if _binding(a, None) not in self.unused])

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if isinstance(updated.names, cst.ImportStar) or updated.relative or updated.module is None:
            return updated
        base = dotted_name(updated.module)
        return self._keep(updated, [a for a in updated.names if _binding(a, base) not in self.unused])

    @staticmethod
    def _keep(node, names: list[cst.ImportAlias]):
        if len(names) == len(node.names):
            return node
        if not names:
            return cst.RemoveFromParent()
        return node.with_changes(names=[*names[:-1], names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)])


def _binding(alias: cst.ImportAlias, base: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(local name, dotted name) that `import x as y` / `from base import x as y` binds."""
    name = dotted_name(alias.name)
    if name is None:
        return None, None
    full = f"{base}.{name}" if base else name
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value, full
    return (name, full) if base else (name.split(".")[0], name.split(".")[0])


def _reads(module: cst.Module, local: str) -> bool:
    """Whether code of the module reads the name `local` (not an attribute, keyword or
    parameter spelled so): a fix's import is added only then."""
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if isinstance(node, cst.Name):
            if node.value == local:
                return True
            continue
        if isinstance(node, cst.Attribute):
            stack.append(node.value)
            continue
        if isinstance(node, cst.Arg):
            stack.append(node.value)
            continue
        if isinstance(node, cst.Param):
            if node.default is not None:
                stack.append(node.default)
            if node.annotation is not None:
                stack.append(node.annotation)
            continue
        stack.extend(child_nodes(node))
    return False


def _references(module: cst.Module, local: str) -> int:
    count = 0
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if isinstance(node, cst.Name) and node.value == local:
            count += 1
        stack.extend(child_nodes(node))
    return count
