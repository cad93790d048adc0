"""The JSON document of README "JSON (`--output-format json`)" (keys are a contract; more keys are fine)."""

from __future__ import annotations

import json
from typing import TextIO

from tfgradfix import __version__
from tfgradfix.report.run import RunReport


def write_json(report: RunReport, out: TextIO) -> None:
    findings = []
    for path, f in report.findings:
        findings.append({
            "path": path,
            "line": f.line,
            "column": f.column,
            "end_line": f.end_line,
            "end_column": f.end_column,
            "code": f.code,
            "name": f.name,
            "message": f.message,
            "symbol": f.symbol,
            "fix": None if f.fix is None else {
                "applicability": f.fix.applicability.value,
                "description": f.fix.description,
            },
            "verification": f.verification,
            **({"cell": f.cell} if f.cell is not None else {}),
        })
    document = {
        "version": __version__,
        "findings": findings,
        "errors": [{"path": path, "message": message} for path, message in report.all_errors],
        "summary": {"files": report.files, "findings": len(findings), "fixed": report.fixed,
                    **({"verification": report.verification} if report.verification else {})},
        "statistics": [{"code": c, "name": n, "count": t, "fixable": x} for c, n, t, x in report.statistics()],
    }
    json.dump(document, out, indent=2)
    out.write("\n")
