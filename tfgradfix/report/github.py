"""GitHub Actions workflow annotations: `::warning file=...,line=...,col=...::CODE message`.

A finding in a notebook points at the lines of the .ipynb file that hold its
code (GitHub shows the file as it is stored), and its message names the cell
and the line in it."""

from __future__ import annotations

import re
from typing import TextIO

from tfgradfix.report.run import RunReport


def _escape(text: str) -> str:
    # Workflow commands end at a newline and use % escapes for it.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def error_line(message: str, notebook) -> int:
    """The line a file's error names (`syntax error at 3:7`; for a notebook's cell, the line
    of the .ipynb file that holds `cell 3, line 2`), else 1."""
    cell = re.match(r"cell (\d+), line (\d+):", message)
    if cell is not None:
        lines = notebook.file_lines_of(int(cell.group(1)), int(cell.group(2)), int(cell.group(2))) \
            if notebook is not None else None
        return lines[0] if lines else 1
    found = re.search(r"\bat (\d+):\d+", message)
    return int(found.group(1)) if found else 1


def write_github(report: RunReport, out: TextIO) -> None:
    notebooks = report.notebooks
    for path, f in report.findings:
        where = f"line={f.line},col={f.column},endLine={f.end_line},endColumn={f.end_column}"
        message = f"{f.code} {f.message}"
        if f.cell is not None and path in notebooks:
            lines = notebooks[path].file_lines_of(f.cell, f.line, f.end_line)
            where = f"line={lines[0]},endLine={lines[1]}" if lines else ""
            message = f"{f.code} cell {f.cell}, line {f.line}: {f.message}"
        out.write(f"::warning title={_property(f'{f.code} {f.name}')},file={_property(path)}"
                  f"{',' + where if where else ''}::{_escape(message)}\n")
    for path, message in report.all_errors:
        # A line, or GitHub shows the annotation nowhere in the file: the error's own, else 1.
        line = error_line(message, notebooks.get(path))
        out.write(f"::error file={_property(path)},line={line}::{_escape(message)}\n")
