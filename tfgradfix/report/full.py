"""`--output-format full`: each finding's line, then the source lines around it with the
finding underlined and its fix, as Ruff's `full` format shows them:

    layers.py:17:13: TGF102 [*] `.numpy()` detaches the tensor from the gradient tape
       |
    16 |     def call(self, inputs):
    17 |         x = inputs.numpy()
       |             ^^^^^^^^^^^^^^ TGF102
    18 |         return x
       |
       = help: Drop `.numpy()`

A notebook finding shows the lines of its cell as the notebook holds them."""

from __future__ import annotations

from typing import Optional, TextIO

from tfgradfix.result import FileResult
from tfgradfix.report.run import RunReport
from tfgradfix.report.text import write_text
from tfgradfix.rules import Finding

CONTEXT = 2  # lines shown before and after the finding's


def _lines(result: FileResult, finding: Finding) -> Optional[list[str]]:
    """The lines the finding's line numbers count in: the file's (as fixed, when fixes were
    applied), or its notebook cell's; None when they are not at hand."""
    source = result.source
    if source is None:
        return None
    if finding.cell is None or source.notebook is None:
        text = result.new_text if result.applied and result.new_text is not None else source.text
        return text.splitlines()
    if result.applied:  # the cell as fixed is not kept apart from the notebook's JSON
        return None
    cells = source.notebook.document.get("cells", [])
    if not 0 < finding.cell <= len(cells):
        return None
    cell_source = cells[finding.cell - 1].get("source", "")
    return ("".join(cell_source) if isinstance(cell_source, list) else str(cell_source)).splitlines()


def snippet(result: FileResult, finding: Finding) -> str:
    lines = _lines(result, finding)
    if lines is None or not 0 < finding.line <= len(lines):
        return ""
    first, last = max(1, finding.line - CONTEXT), min(len(lines), finding.line + CONTEXT)
    width = len(str(last))
    gutter = " " * width + " |"
    out = [gutter]
    for number in range(first, last + 1):
        text = lines[number - 1]
        out.append(f"{number:>{width}} | {text}".rstrip())
        if number == finding.line:
            start = max(finding.column - 1, 0)
            end = finding.end_column - 1 if finding.end_line == finding.line else len(text)
            out.append(f"{gutter} {' ' * start}{'^' * max(end - start, 1)} {finding.code}")
    out.append(gutter)
    if finding.fix is not None:
        unsafe = " (unsafe: needs --unsafe-fixes)" if finding.fix.applicability.value == "unsafe" else ""
        out.append(f"{' ' * width} = help: {finding.fix.description}{unsafe}")
    return "\n".join(out) + "\n\n"


def write_full(report: RunReport, out: TextIO, quiet: bool = False, show_fixes: bool = False) -> None:
    write_text(report, out, quiet=quiet, show_fixes=show_fixes, details=snippet)
