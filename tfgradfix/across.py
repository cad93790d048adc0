"""Fixes that edit several modules (a `Fix.elsewhere` of `FileEdit`s: TGF201's helper of
another module), once every project round is done (`parallel._rounds`): made with every file
they edit at hand, all edits or none, every file compiling (`fix_across`, `apply_across`), and,
for SARIF, as text edits (`preview_across`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Collection, Optional

import libcst as cst

from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.engine import Engine
from tfgradfix.files import SourceError
from tfgradfix.fixes.edits import Fix
from tfgradfix.parsing import parse_source
from tfgradfix.result import FileResult, TextFix, failure, text_edit


def fix_across(engine: Engine, results: dict[str, FileResult]) -> None:
    """Make the fixes that edit several modules: each with every file it edits at hand
    (results of this run, keyed by path), all its edits or none, every file compiling."""
    project = engine.project
    if project is None:
        return
    by_module = {project.module_for_path(path): result for path, result in results.items()}
    for result in list(results.values()):
        declined: set[tuple] = set()
        try:
            while result.crossing and result.error is None and _fix_one(engine, result, by_module, declined):
                pass
        except Exception as error:  # this file's fixes across files are not made; the run goes on
            result.crossing = False
            result.problems.append(f"fixes across files not made: {failure(error)}")


def _fix_one(engine: Engine, result: FileResult, by_module: dict, declined: set) -> bool:
    module = parse_source(_text(result))
    findings = engine.findings(module, result.path)
    result.findings = findings
    candidates = [f for f in findings if engine.fixable(f, result.path) and f.fix is not None and f.fix.elsewhere
                  and (f.code, f.symbol, f.line) not in declined]
    result.crossing = bool(candidates)
    if not candidates:
        return False
    finding = candidates[0]
    assert finding.fix is not None
    declined.add((finding.code, finding.symbol, finding.line))

    def text_of(module_name: str) -> Optional[tuple[str, str]]:
        other = by_module.get(module_name)
        if other is None or other.error is not None or other.source is None:
            return None  # that module is not in this run: not this fix
        return other.path, _text(other)

    changes = apply_across(engine, module, result.path, finding.fix, text_of)
    if changes is None:
        return True
    by_path = {r.path: r for r in by_module.values()}
    group = {path for path, _, _ in changes}
    group |= {other for path in list(group) for other in by_path[path].linked}
    left = [engine.findings(fixed, path) for path, fixed, _ in changes]  # first: this may raise
    for (path, fixed, made), findings in zip(changes, left):
        target = by_path[path]
        target.new_text = fixed.code
        target.applied.extend(made)
        target.findings = findings
    for path in group:
        by_path[path].linked = frozenset(group - {path})
    return True


def apply_across(engine: Engine, module: cst.Module, path: str, fix: Fix, text_of: Callable[[str], Optional[tuple[str, str]]]
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
            analysis = ModuleAnalysis(current, current.code, engine.project, part.module)
            other_fix = part.edit(analysis)
            if other_fix is None:
                return None
            after, applied = engine.apply(current, [other_fix], other_path)
            if not applied:
                return None
            fixed[other_path] = (after, [*made, other_fix])
        here, applied = engine.apply(module, [dataclasses.replace(fix, elsewhere=())], path)
    except SourceError:
        return None
    if not applied:
        return None
    return [*((p, after, made) for p, (after, made) in fixed.items()), (path, here, [fix])]


def preview_across(engine: Engine, results: Collection[FileResult]) -> None:
    """The text edits of the fixes that also edit other modules (`FileResult.across`), each
    made alone on the texts of this run's files as read, once every round is done."""
    project = engine.project
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
            _preview_one(engine, result, text_of)
        except Exception as error:  # the file's findings are reported without their text edits
            failure(error)  # (a Ctrl-C is raised)
            result.fix_edits = {}


def _preview_one(engine: Engine, result: FileResult, text_of: Callable[[str], Optional[tuple[str, str]]]) -> None:
    assert result.source is not None
    module = parse_source(result.source.text)
    texts = {result.path: result.source.text}

    def recorded(module_name: str) -> Optional[tuple[str, str]]:
        found = text_of(module_name)
        if found is not None:
            texts[found[0]] = found[1]
        return found

    for finding in engine.findings(module, result.path):
        if finding.fix is None or not finding.fix.elsewhere:
            continue
        made = apply_across(engine, module, result.path, finding.fix, recorded)
        changed = [(path, fixed.code) for path, fixed, _ in made[-1:] + made[:-1]] if made else []
        edits = [edit for path, after in changed if (edit := text_edit(path, texts[path], after)) is not None]
        if edits and len(edits) == len(changed):
            result.fix_edits[(finding.code, finding.line, finding.column)] = TextFix(finding.fix.description, edits)


def _text(result: FileResult) -> str:
    assert result.source is not None
    return result.new_text if result.new_text is not None else result.source.text
