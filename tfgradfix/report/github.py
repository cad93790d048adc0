"""GitHub Actions workflow annotations: `::warning file=...,line=...,col=...::CODE message`.

A finding in a notebook points at the lines of the .ipynb file that hold its
code (GitHub shows the file as it is stored), and its message names the cell
and the line in it."""

from __future__ import annotations

from typing import TextIO

from tfgradfix.report.run import RunReport


def _escape(text: str) -> str:
    # Workflow commands end at a newline and use % escapes for it.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


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
        out.write(f"::error file={_property(path)}::{_escape(message)}\n")
