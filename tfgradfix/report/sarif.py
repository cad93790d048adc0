"""SARIF 2.1.0, as GitHub code scanning reads it: rules with help, results with
locations, and each result's fix (applicability, description) in its properties;
`tfgradfix --diff` shows the fix itself."""

from __future__ import annotations

import json
from typing import TextIO

from tfgradfix import __version__
from tfgradfix.report.run import RunReport
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


def write_sarif(report: RunReport, out: TextIO) -> None:
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    results = []
    for path, f in report.findings:
        result = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "warning",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": path.replace("\\", "/")},
                "region": {"startLine": f.line, "startColumn": f.column,
                           "endLine": f.end_line, "endColumn": f.end_column},
            }}],
            "partialFingerprints": {"symbol": f"{f.code}:{f.symbol}"},
        }
        if f.fix is not None:
            result["properties"] = {"fix": {"applicability": f.fix.applicability.value,
                                            "description": f.fix.description}}
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
