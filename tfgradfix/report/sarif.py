"""SARIF 2.1.0, as GitHub code scanning reads it: rules with help, results with
locations, and for each fixable result its fix as a replacement of whole lines."""

from __future__ import annotations

import difflib
import json
from typing import Optional, TextIO

from tfgradfix import __version__
from tfgradfix.engine import Engine, FileResult, parse_source
from tfgradfix.files import SourceError
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


def _fixes(engine: Engine, result: FileResult) -> dict[tuple, dict]:
    """SARIF `fix` objects for the file's fixable findings, keyed by (code, line, column):
    each fix applied alone, and the lines it changes."""
    source = result.source
    if source is None or source.notebook is not None or not any(f.fix for f in result.findings):
        return {}
    try:
        module = parse_source(source.text)
    except SourceError:
        return {}
    before = source.text.splitlines(keepends=True)
    fixes = {}
    for finding in engine.findings(module, result.path):
        if finding.fix is None:
            continue
        try:
            fixed, applied = engine.apply(module, [finding.fix], result.path)
        except SourceError:
            continue
        change = _replacement(before, fixed.code.splitlines(keepends=True)) if applied else None
        if change is not None:
            fixes[(finding.code, finding.line, finding.column)] = {
                "description": {"text": finding.fix.description},
                "artifactChanges": [{"artifactLocation": {"uri": display_path(result.path).replace("\\", "/")},
                                     "replacements": [change]}],
            }
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


def write_sarif(report: RunReport, out: TextIO, engine: Optional[Engine] = None) -> None:
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    fixes: dict[tuple, dict] = {}
    if engine is not None:
        for result in report.results:
            fixes.update({(display_path(result.path), *key): fix for key, fix in _fixes(engine, result).items()})
    results = []
    notebooks = report.notebooks
    for path, f in report.findings:
        location: dict = {"artifactLocation": {"uri": path.replace("\\", "/")},
                          "region": {"startLine": f.line, "startColumn": f.column,
                                     "endLine": f.end_line, "endColumn": f.end_column}}
        result = {
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
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": path}}}]}
        for path, message in report.all_errors
    ]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "tfgradfix", "version": __version__,
                                "rules": [_rule(rule) for rule in ALL_RULES]}},
            "results": results,
            "invocations": [{"executionSuccessful": not report.all_errors,
                             "toolExecutionNotifications": notifications}],
        }],
    }
    json.dump(document, out, indent=2)
    out.write("\n")
