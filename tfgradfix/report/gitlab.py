"""`--output-format gitlab`: a GitLab Code Quality report (a JSON array), as Ruff writes
it: per finding its `description`, `check_name` (the code), a `fingerprint` that stays
the same while the code around it moves (path, code, message, symbol and which of the
identical ones it is, hashed), `severity` "major", and `location` with `path` and
`lines.begin`/`lines.end`. A file's error is an entry with `check_name` "error" and
severity "critical" at the line it names (else 1). Paths are relative to
`CI_PROJECT_DIR` when GitLab sets it, else as the other formats show them; a notebook
finding points at the lines of the `.ipynb` file that hold its code."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TextIO

from tfgradfix.report.github import error_line
from tfgradfix.report.run import RunReport


def _path(path: str) -> str:
    project = os.environ.get("CI_PROJECT_DIR")
    if not project:
        return path
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(project))
    return path if relative.startswith("..") else relative


def _fingerprint(seen: dict[str, int], *parts: str) -> str:
    key = "\0".join(parts)
    seen[key] = seen.get(key, 0) + 1
    return hashlib.sha256(f"{key}\0{seen[key]}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def write_gitlab(report: RunReport, out: TextIO) -> None:
    entries = []
    seen: dict[str, int] = {}
    notebooks = report.notebooks
    for path, f in report.findings:
        begin, end = f.line, f.end_line
        message = f.message
        if f.cell is not None and path in notebooks:
            lines = notebooks[path].file_lines_of(f.cell, f.line, f.end_line)
            begin, end = lines if lines else (1, 1)
            message = f"cell {f.cell}, line {f.line}: {f.message}"
        entries.append({
            "description": f"{f.code} {message}",
            "check_name": f.code,
            "fingerprint": _fingerprint(seen, _path(path), f.code, f.message, f.symbol),
            "severity": "major",
            "location": {"path": _path(path), "lines": {"begin": begin, "end": end}},
        })
    for path, message in report.all_errors:
        line = error_line(message, notebooks.get(path))
        entries.append({
            "description": message,
            "check_name": "error",
            "fingerprint": _fingerprint(seen, _path(path), "error", message),
            "severity": "critical",
            "location": {"path": _path(path), "lines": {"begin": line, "end": line}},
        })
    json.dump(entries, out, indent=2, ensure_ascii=False)
    out.write("\n")
