"""Unified diffs of what `--fix` would write."""

from __future__ import annotations

import difflib

from tfgradfix.result import FileResult
from tfgradfix.report.run import display_path


def unified_diff(result: FileResult) -> str:
    if not result.changed:
        return ""
    assert result.source is not None and result.new_text is not None
    path = display_path(result.path)
    before, after = result.source.text, result.new_text
    if result.source.notebook is not None:  # its code cells, as one module
        before, after = result.source.notebook.readable(before), result.source.notebook.readable(after)
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path.lstrip('/')}",  # an absolute path must not give `a//tmp/...`
        tofile=f"b/{path.lstrip('/')}",
    ))
