"""Reading numeric and boolean literals in the syntax tree."""

from __future__ import annotations

from typing import Optional

import libcst as cst


def literal_int(expr: Optional[cst.BaseExpression]) -> Optional[int]:
    """The value of `3` or `-3`, else None."""
    if isinstance(expr, cst.Integer):
        return int(expr.evaluated_value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = literal_int(expr.expression)
        return -inner if inner is not None else None
    return None


def literal_int_tuple(expr: Optional[cst.BaseExpression]) -> Optional[list[int]]:
    """The values of `(0, -1, 2)` or `[0, 1]`, else None."""
    if isinstance(expr, (cst.Tuple, cst.List)):
        values = [literal_int(el.value) if isinstance(el, cst.Element) else None for el in expr.elements]
        if all(v is not None for v in values):
            return values  # type: ignore[return-value]
    return None


def _numbers(expr: cst.BaseExpression, kinds: tuple[type, ...]) -> bool:
    if isinstance(expr, kinds):
        return True
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return _numbers(expr.expression, kinds)
    if isinstance(expr, (cst.List, cst.Tuple)):
        return bool(expr.elements) and all(_numbers(e.value, kinds) for e in expr.elements)
    return False


def is_integer_literal(expr: cst.BaseExpression) -> bool:
    """`3`, `-1`, `[1, 2]`, `((1, 2), (3, 4))`."""
    return _numbers(expr, (cst.Integer,))


def is_float_literal(expr: cst.BaseExpression) -> bool:
    return _numbers(expr, (cst.Float,))


def is_numeric_literal(expr: cst.BaseExpression) -> bool:
    return _numbers(expr, (cst.Integer, cst.Float))


def is_true(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


def is_false(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"
