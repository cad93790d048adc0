"""Unified diffs of what `--fix` would write."""

from __future__ import annotations

import difflib

from tfgradfix.engine import FileResult
from tfgradfix.report.run import display_path


def unified_diff(result: FileResult) -> str:
    if not result.changed:
        return ""
    assert result.source is not None and result.new_text is not None
    path = display_path(result.path)
    return "".join(difflib.unified_diff(
        result.source.text.splitlines(keepends=True),
        result.new_text.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    ))
