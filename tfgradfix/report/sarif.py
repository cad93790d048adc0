"""SARIF 2.1.0, as GitHub code scanning reads it: rules with help, results with
locations, and for each fixable result its fix as a replacement of whole lines (in
every file it edits, for a fix that spans files), from the text edits the engine
carried in the results (`FileResult.fix_edits`, `Engine(previews=True)`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from tfgradfix import __version__
from tfgradfix.result import FileResult, TextEdit
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


def _fixes(result: FileResult, root: str) -> dict[tuple, dict]:
    """SARIF `fix` objects for the file's fixable findings, keyed by (code, line, column):
    each fix applied alone, and the lines it changes; a fix that spans files changes each of
    its files (one `artifactChanges` entry per file, the finding's file first). The engine
    made them as text edits where it had the trees (`FileResult.fix_edits`)."""
    source = result.source
    if source is None or source.notebook is not None or not any(f.fix for f in result.findings):
        return {}
    return {key: {"description": {"text": fix.description}, "artifactChanges": [
        {"artifactLocation": artifact(edit.path, root), "replacements": [_replacement(edit)]} for edit in fix.edits]}
        for key, fix in result.fix_edits.items()}


def _replacement(edit: TextEdit) -> dict:
    return {"deletedRegion": {"startLine": edit.start, "startColumn": 1, "endLine": edit.end, "endColumn": 1},
            "insertedContent": {"text": edit.text}}


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


def write_sarif(report: RunReport, out: TextIO) -> None:
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    fixes: dict[tuple, dict] = {}
    root = source_root()
    for file_result in report.results:
        found = _fixes(file_result, root)
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
