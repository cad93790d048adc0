"""Which tensors are integers: gradients exist only for floating-point (and complex) ones."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import argument_for
from tfgradfix.analysis.imports import is_integer_dtype
from tfgradfix.analysis.literals import is_float_literal, is_integer_literal
from tfgradfix.analysis.tree import descendants


def integer_constructors(scope, expr: cst.BaseExpression, depth: int = 0) -> Optional[list[cst.Call]]:
    """The constructors `expr` comes from, when every one makes an integer tensor: through
    the names that bind it, and for a parameter, what every caller in the module passes."""
    if isinstance(expr, cst.Call):
        return [expr] if makes_integer_tensor(scope, expr) else None
    if not isinstance(expr, cst.Name) or depth > 4:
        return None
    if scope.flow is not None:
        values = [b.value for b in scope.flow.bindings if b.name == expr.value]
    else:
        values = [v for v in scope.local_definitions().get(expr.value, []) if isinstance(v, cst.BaseExpression)]
    passed = []
    if not values and expr.value in scope.parameter_names:
        for caller, call in scope.module.callers_of(scope):
            passed.append((caller, argument_for(scope.node, call, expr.value)))
    elif not values and not isinstance(scope.node, cst.Module) and not _rebound_anywhere(scope.module.module, expr.value):
        # A free name: the enclosing function's or the module's (`W = tf.Variable(3)` at the top
        # of a script whose `run_optimization()` differentiates it).
        outer = scope.enclosing or scope.module.scopes[scope.module.module]
        return integer_constructors(outer, expr, depth + 1)
    calls: list[cst.Call] = []
    for where, value in [(scope, v) for v in values] + passed:
        found = integer_constructors(where, value, depth + 1) if value is not None else None
        if found is None:
            return None
        calls.extend(found)
    return calls or None


def makes_integer_tensor(scope, value: cst.Call) -> bool:
    imports = scope.module.imports
    qualified = imports.resolve(value.func)
    dtype = next((a.value for a in value.args if a.keyword is not None and a.keyword.value == "dtype"), None)
    if dtype is not None:
        return is_integer_dtype(scope.dtype_name(dtype))
    if qualified in ("tensorflow.constant", "tensorflow.Variable", "tensorflow.convert_to_tensor"):
        return bool(value.args) and is_integer_literal(value.args[0].value)
    return qualified == "tensorflow.range" and not any(
        is_float_literal(a.value) for a in value.args if a.keyword is None)


def _rebound_anywhere(module: cst.Module, name: str) -> bool:
    """`global name` / `nonlocal name` in some function: the name may be rebound anywhere."""
    return any(isinstance(node, (cst.Global, cst.Nonlocal)) and any(n.name.value == name for n in node.names)
               for node in descendants(module))
