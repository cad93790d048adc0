"""SARIF 2.1.0, as GitHub code scanning reads it: rules with help, results with
locations, and for each fixable result its fix as a replacement of whole lines (in
every file it edits, for a fix that spans files)."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Optional, TextIO
from urllib.parse import quote

from tfgradfix import __version__
from tfgradfix.engine import Engine, parse_source
from tfgradfix.result import FileResult, failure
from tfgradfix.files import SourceError, read_source
from tfgradfix.report.run import RunReport, display_path
from tfgradfix.rules import ALL_RULES
from tfgradfix.rules.docs import render

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule(rule) -> dict:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "help": {"text": rule.why, "markdown": render(rule)},
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["tensorflow", "gradients"]},
    }


def _fixes(engine: Engine, result: FileResult,
           text_of: Callable[[str], Optional[tuple[str, str]]], root: str) -> dict[tuple, dict]:
    """SARIF `fix` objects for the file's fixable findings, keyed by (code, line, column):
    each fix applied alone, and the lines it changes; a fix that spans files changes
    each of its files (one `artifactChanges` entry per file, the finding's file first)."""
    source = result.source
    if source is None or source.notebook is not None or not any(f.fix for f in result.findings):
        return {}
    try:
        module = parse_source(source.text)
    except SourceError:
        return {}
    texts = {result.path: source.text}

    def recorded(module_name: str) -> Optional[tuple[str, str]]:
        found = text_of(module_name)
        if found is not None:
            texts[found[0]] = found[1]
        return found

    fixes = {}
    for finding in engine.findings(module, result.path):
        if finding.fix is None:
            continue
        if finding.fix.elsewhere:
            made = engine.apply_across(module, result.path, finding.fix, recorded)
            changed = [(path, fixed.code) for path, fixed, _ in made[-1:] + made[:-1]] if made else []
        else:
            try:
                fixed, applied = engine.apply(module, [finding.fix], result.path)
            except SourceError:
                continue
            changed = [(result.path, fixed.code)] if applied else []
        changes = []
        for path, after in changed:
            change = _replacement(texts[path].splitlines(keepends=True), after.splitlines(keepends=True))
            if change is not None:
                changes.append({"artifactLocation": artifact(path, root), "replacements": [change]})
        if changes and len(changes) == len(changed):
            fixes[(finding.code, finding.line, finding.column)] = {
                "description": {"text": finding.fix.description}, "artifactChanges": changes}
    return fixes


def _replacement(before: list[str], after: list[str]) -> Optional[dict]:
    opcodes = [op for op in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
               if op[0] != "equal"]
    if not opcodes:
        return None
    first, last = opcodes[0], opcodes[-1]
    start, end = first[1], last[2]  # lines [start, end) of the original are replaced
    inserted = "".join(after[first[3]:last[4]])
    return {"deletedRegion": {"startLine": start + 1, "startColumn": 1, "endLine": end + 1, "endColumn": 1},
            "insertedContent": {"text": inserted}}


# Relative URIs are resolved against the repository's root (GitHub code scanning reads them so).
ROOT_ID = "%SRCROOT%"


def source_root() -> str:
    """The root relative URIs start from: the git work tree holding the current folder, else
    the current folder."""
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, timeout=30)
        top = done.stdout.decode("utf-8", "surrogateescape").strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        top = ""
    return os.path.realpath(top or ".")


def artifact(path: str, root: str) -> dict:
    """The artifactLocation of a file: its path from `root`, percent-encoded (a space, a
    non-ASCII letter, the `:` of `c:layer.py`, which would read as a scheme), under
    `uriBaseId`; a file outside `root` gets its absolute `file:` URI."""
    if path == "-":
        return {"uri": "-"}
    real = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))
    relative = os.path.relpath(real, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return {"uri": Path(real).as_uri()}
    return {"uri": quote(Path(relative).as_posix(), safe="/"), "uriBaseId": ROOT_ID}


def _texts_of_run(engine: Engine, report: RunReport) -> Callable[[str], Optional[tuple[str, str]]]:
    """(path, text as analysed) of a module that is a file of this run."""
    by_path = {os.path.realpath(r.path): r for r in report.results if r.error is None}

    def text_of(module_name: str) -> Optional[tuple[str, str]]:
        found = engine.project.path_for_module(module_name) if engine.project is not None else None
        result = by_path.get(os.path.realpath(found)) if found is not None else None
        if result is None:
            return None
        if result.source is None:  # let go of after a run without findings in it
            try:
                result.source = read_source(result.path)
            except SourceError:
                return None
        return result.path, result.source.text

    return text_of


def write_sarif(report: RunReport, out: TextIO, engine: Optional[Engine] = None) -> None:
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    fixes: dict[tuple, dict] = {}
    root = source_root()
    if engine is not None:
        text_of = _texts_of_run(engine, report)
        for file_result in report.results:
            try:
                found = _fixes(engine, file_result, text_of, root)
            except Exception as error:  # the findings are reported without their fixes
                failure(error)  # (a Ctrl-C is raised)
                continue
            fixes.update({(display_path(file_result.path), *key): fix for key, fix in found.items()})
    results = []
    notebooks = report.notebooks
    for path, f in report.findings:
        location: dict = {"artifactLocation": artifact(path, root),
                          "region": {"startLine": f.line, "startColumn": f.column,
                                     "endLine": f.end_line, "endColumn": f.end_column}}
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "warning",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"symbol": f"{f.code}:{f.symbol}"},
        }
        if f.cell is not None and path in notebooks:
            # The region is in the .ipynb file as stored (the lines of the JSON that hold the
            # code); the cell and the line and column in it are properties.
            lines = notebooks[path].file_lines_of(f.cell, f.line, f.end_line)
            location.pop("region")
            if lines is not None:
                location["region"] = {"startLine": lines[0], "endLine": lines[1]}
            result["message"] = {"text": f"cell {f.cell}, line {f.line}: {f.message}"}
            result["properties"] = {"cell": f.cell, "cellLine": f.line, "cellColumn": f.column,
                                    "cellEndLine": f.end_line, "cellEndColumn": f.end_column}
        if f.fix is not None:
            result.setdefault("properties", {})["fix"] = {"applicability": f.fix.applicability.value,
                                                          "description": f.fix.description}
            fix = fixes.get((path, f.code, f.line, f.column))
            if fix is not None:
                result["fixes"] = [fix]
        results.append(result)
    notifications = [
        {"level": "error", "message": {"text": message},
         "locations": [{"physicalLocation": {"artifactLocation": artifact(path, root)}}]}
        for path, message in report.all_errors
    ]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "tfgradfix", "version": __version__,
                                "rules": [_rule(rule) for rule in ALL_RULES]}},
            "originalUriBaseIds": {ROOT_ID: {"uri": Path(root).as_uri().rstrip("/") + "/"}},
            "results": results,
            "invocations": [{"executionSuccessful": not report.all_errors,
                             "toolExecutionNotifications": notifications}],
        }],
    }
    json.dump(document, out, indent=2)
    out.write("\n")
