"""TGF204: a variable's name rebound to a tensor."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import names_in
from tfgradfix.analysis.vocabulary import TF_VARIABLE
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.edits import Fix
from tfgradfix.rules.base import Rule


# The augmented assignments `tf.Variable` refuses (TF 2.21); `//=` and `%=` rebind the name.
_RAISING_OPERATORS = {cst.AddAssign: "+=", cst.SubtractAssign: "-=", cst.MultiplyAssign: "*=",
                      cst.DivideAssign: "/=", cst.PowerAssign: "**="}


class VariableRebound(Rule):
    code = "TGF204"
    name = "variable-rebound"
    summary = "a `tf.Variable` name rebound to a tensor (`x = x - lr * g`)"
    message = "`{name} = ...` replaces the `tf.Variable` with a plain tensor: from the next step on, the tape does not watch it and its gradient is None"
    augmented_message = "`{name} {operator} ...` on a `tf.Variable` raises `RuntimeError` in TF 2.x: the first update stops the loop"
    triggers = ("Variable(",)
    what = (
        "Finds `w = w - lr * g`, `w -= lr * g`, `w = w + d` and `w = f(w)` where `w` holds a "
        "`tf.Variable` (it is bound only to `tf.Variable(...)` otherwise), inside a loop that "
        "takes gradients with a `tf.GradientTape`. (`w -= d` on a variable raises `RuntimeError` in "
        "TF 2.x; it gets the same fix.) A rebinding that does not read the variable (`z = "
        "tf.random.normal(...)` before `z = tf.Variable(z)`, a fresh value each step) is no update "
        "and is not reported."
    )
    evidence = (
        "The name is bound only to `tf.Variable(...)` elsewhere (in the scope, or at module level), the "
        "rebinding is in a loop whose body takes gradients with a `tf.GradientTape`, and it rebinds the name "
        "to arithmetic or a call on it."
    )
    why = (
        "Arithmetic on a variable returns a tensor, and the assignment rebinds the name to it: "
        "the variable is gone. A tape watches variables automatically, tensors never, so the "
        "second step's `tape.gradient` returns `None` and the optimisation stops after one step "
        "(or `optimizer.apply_gradients` raises)."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "x, y = tf.constant(2.0), tf.constant(3.0)\n"
        "w = tf.Variable(0.5)\n"
        "for step in range(100):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = (w * x - y) ** 2\n"
        "    w = w - 0.1 * tape.gradient(loss, w)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "x, y = tf.constant(2.0), tf.constant(3.0)\n"
        "w = tf.Variable(0.5)\n"
        "for step in range(100):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = (w * x - y) ** 2\n"
        "    w.assign_sub(0.1 * tape.gradient(loss, w))\n"
    )
    fix_safety = (
        "Safe: `w.assign_sub(d)` / `w.assign_add(d)` / `w.assign(expr)` leave `w` the same "
        "values as before, but as the variable, so every later step (and every other holder of "
        "the variable) sees the update and the tape watches it."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._seen: set = set()  # nested loops visit a statement more than once

    def visit_For(self, node: cst.For) -> None:
        self._loop(node)

    def visit_While(self, node: cst.While) -> None:
        self._loop(node)

    def _loop(self, loop: cst.CSTNode) -> None:
        context = self.context
        flow = context.flow
        if flow is None or not any(isinstance(n, cst.With) and n in context.analysis.tape_blocks
                                   for n in descendants(loop)):
            return
        for statement in descendants(loop):
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(statement, cst.Assign) and len(statement.targets) == 1:
                target = statement.targets[0].target
            elif isinstance(statement, cst.AugAssign):
                target = statement.target
            else:
                continue
            if not isinstance(target, cst.Name) or not self._is_variable(target.value, statement):
                continue
            if isinstance(statement, cst.Assign) and isinstance(statement.value, cst.Call) and \
                    context.imports.resolve(statement.value.func) in TF_VARIABLE:
                continue  # `w = tf.Variable(w - lr * g)`: a new variable, which the next tape watches
            if isinstance(statement, cst.Assign) and target.value not in names_in(statement.value):
                # `z = tf.random.normal(...)` then `z = tf.Variable(z)`: a fresh value, not an
                # update of the variable, and `z.assign(...)` would need `z` bound before it.
                continue
            if statement in self._seen:
                continue
            self._seen.add(statement)
            replacement = _assign_call(statement, target.value)
            fix = Fix.replace(statement, replacement, "Update the variable in place") if replacement else None
            operator = _RAISING_OPERATORS.get(type(getattr(statement, "operator", None)))
            if operator is not None:
                message = self.augmented_message.format(name=target.value, operator=operator)
            else:
                message = self.message.format(name=target.value)
            self.report(statement, message, fix)

    def _is_variable(self, name: str, rebinding: cst.CSTNode) -> bool:
        context = self.context
        others = [b for b in context.flow.bindings if b.name == name and b.statement is not rebinding]
        if others:
            return all(context.imports.resolve(getattr(b.value, "func", cst.Name("_"))) in TF_VARIABLE
                       for b in others)
        return context.scope.module_variable(name)


def _assign_call(statement: cst.CSTNode, name: str) -> Optional[cst.Expr]:
    """`w = w - d` -> `w.assign_sub(d)`; `w += d` -> `w.assign_add(d)`; `w = f(w)` -> `w.assign(f(w))`."""
    if isinstance(statement, cst.AugAssign):
        method = {cst.SubtractAssign: "assign_sub", cst.AddAssign: "assign_add"}.get(type(statement.operator))
        if method is not None:
            value = statement.value
        else:
            operator = {cst.MultiplyAssign: cst.Multiply, cst.DivideAssign: cst.Divide}.get(type(statement.operator))
            if operator is None:
                return None
            method, value = "assign", cst.BinaryOperation(cst.Name(name), operator(), statement.value)
    else:
        value = statement.value
        method = "assign"
        if (isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.Name)
                and value.left.value == name and isinstance(value.operator, (cst.Subtract, cst.Add))
                and not value.lpar):
            method = "assign_sub" if isinstance(value.operator, cst.Subtract) else "assign_add"
            value = value.right
    call = cst.Call(func=cst.Attribute(cst.Name(name), cst.Name(method)),
                    args=[cst.Arg(value.with_changes(lpar=[], rpar=[]) if not isinstance(value, cst.Tuple) else value)])
    return cst.Expr(call)
