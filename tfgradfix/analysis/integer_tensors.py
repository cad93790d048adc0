"""Which tensors are integers: gradients exist only for floating-point (and complex) ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import argument_for, walk_scope
from tfgradfix.analysis.imports import is_integer_dtype
from tfgradfix.analysis.literals import is_float_literal, is_integer_literal
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.values import Kind, kind_of

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import Scope


# TensorFlow functions whose operands are lengths by what they compute: a float operand is
# accepted and truncated, and no model wants a gradient through a sequence length, so the op
# cuts nothing (what made the length, a `round` of predicted durations, is reported there).
LENGTH_OPERANDS = frozenset({"tensorflow.sequence_mask"})


def integer_constructors(scope, expr: cst.BaseExpression, depth: int = 0) -> Optional[list[cst.Call]]:
    """The constructors `expr` comes from, when every one makes an integer tensor: through
    the names that bind it, and for a parameter, what every caller in the module passes."""
    if isinstance(expr, cst.Call):
        if makes_integer_tensor(scope, expr):
            return [expr]
        return _returned_integers(scope, expr, depth)
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


def _returned_integers(scope, call: cst.Call, depth: int) -> Optional[list[cst.Call]]:
    """`offsets = make_offsets(n)`: a helper of the module every return of which is an integer tensor."""
    callee = scope.module.callee_scope(scope, call) if depth < 4 else None
    if callee is None or callee is scope:
        return None
    returns = [n.value for n in walk_scope(callee.body) if isinstance(n, cst.Return)]
    calls: list[cst.Call] = []
    for value in returns:
        found = integer_constructors(callee, value, depth + 1) if value is not None else None
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
    if qualified in ("tensorflow.constant", "tensorflow.Variable", "tensorflow.convert_to_tensor") and (
            value.args and is_integer_literal(value.args[0].value)):
        return True
    if qualified == "tensorflow.range":
        return not any(is_float_literal(a.value) for a in value.args if a.keyword is None)
    # What the value model knows: `images.astype(np.uint8)`, `tf.Variable(tf.zeros(s, dtype=tf.int32))`.
    return kind_of(scope.flow or scope.analyse(), value) == Kind.INTEGER


def integer_from_callers(scope, name: str) -> list[tuple["Scope", cst.Call]]:
    """For a parameter `name` of a helper whose callers do not all say what they pass: the
    callers (scope, constructor) that certainly pass an integer tensor, when no caller passes
    a value known to be anything else (a second caller passing what the module cannot see
    does not hide the first's integer). Empty when none does."""
    if name not in scope.parameter_names or not isinstance(scope.node, cst.FunctionDef):
        return []
    found: list[tuple["Scope", cst.Call]] = []
    for caller, call in scope.module.callers_of(scope):
        value = argument_for(scope.node, call, name, bound=scope.owner is not None)
        if value is None or caller is scope:
            continue
        calls = integer_constructors(caller, value, 1)
        if calls:
            found.extend((caller, c) for c in calls)
            continue
        if kind_of(caller.flow or caller.analyse(), value) != Kind.UNKNOWN:
            return []  # a float tensor, or some other known value
        if isinstance(value, (cst.Integer, cst.Float, cst.Call)) and not _unknown_call(caller, value):
            return []
    return found


def _unknown_call(scope, value: cst.BaseExpression) -> bool:
    """A call the module cannot see into (a project helper, a loader): what it returns is unknown."""
    if not isinstance(value, cst.Call):
        return False
    qualified = scope.module.imports.resolve(value.func) or ""
    return not qualified.startswith(("tensorflow.", "numpy.", "keras."))


def _rebound_anywhere(module: cst.Module, name: str) -> bool:
    """`global name` / `nonlocal name` in some function: the name may be rebound anywhere."""
    return any(isinstance(node, (cst.Global, cst.Nonlocal)) and any(n.name.value == name for n in node.names)
               for node in descendants(module))
