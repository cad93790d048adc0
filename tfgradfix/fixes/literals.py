"""Rewriting numeric literals in the syntax tree (reading them is `tfgradfix.analysis.literals`)."""

from __future__ import annotations

from typing import cast

import libcst as cst

# Re-exported for the fixes and rules that read literals before they rewrite them.
from tfgradfix.analysis.literals import (  # noqa: F401
    is_float_literal, is_integer_literal, is_numeric_literal, literal_int, literal_int_tuple,
)


class _Floats(cst.CSTTransformer):
    def leave_Integer(self, original_node: cst.Integer, updated_node: cst.Integer) -> cst.Float:
        return cst.Float(f"{int(original_node.evaluated_value)}.0")


def as_floats(expr: cst.BaseExpression) -> cst.BaseExpression:
    """The literal with every integer written as a float (`[1, 2]` -> `[1.0, 2.0]`)."""
    return cast(cst.BaseExpression, expr.visit(_Floats()))
