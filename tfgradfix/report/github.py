"""GitHub Actions workflow annotations: `::warning file=...,line=...,col=...::CODE message`."""

from __future__ import annotations

from typing import TextIO

from tfgradfix.report.run import RunReport


def _escape(text: str) -> str:
    # Workflow commands end at a newline and use % escapes for it.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def write_github(report: RunReport, out: TextIO) -> None:
    for path, f in report.findings:
        out.write(
            f"::warning title={_property(f'{f.code} {f.name}')},file={_property(path)},line={f.line},"
            f"col={f.column},endLine={f.end_line},endColumn={f.end_column}::{_escape(f'{f.code} {f.message}')}\n"
        )
    for path, message in report.all_errors:
        out.write(f"::error file={_property(path)}::{_escape(message)}\n")
