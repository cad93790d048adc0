"""TGF208: `.assign*()` on the gradient path, read back by the output."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.callers import result_trained
from tfgradfix.analysis.dataflow import Blocking, argument_for, names_in
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.layer_state import ASSIGNS, attribute_values
from tfgradfix.analysis.objects import describe
from tfgradfix.analysis.project import Kind
from tfgradfix.analysis.tree import descendants
from tfgradfix.rules.base import Rule


class AssignOnForwardPath(Rule):
    code = "TGF208"
    name = "assign-on-forward-path"
    summary = "`.assign*()` whose result feeds the output (assign has no gradient)"
    message = "`{receiver}.{method}(...)` stores a value that carries a gradient, and the output then reads `{variable}`: assign has no gradient, so everything upstream gets None"
    triggers = (".assign",)
    what = (
        "Finds `v.assign(x)` / `assign_add` / `assign_sub` on the gradient path (a layer's "
        "`call`, a tape block) where `x` carries a gradient and the output then reads `v` (or the "
        "result of the assign). Not reported: state updates whose value is under "
        "`tf.stop_gradient` (power iteration in spectral normalisation), counters, and moving "
        "statistics that the output does not read after the update. The result of the assign "
        "counts only where it is a `tf.Variable`'s (a Keras 3 weight's `assign` returns the value "
        "it stores, gradient included) and, in a helper, where a caller trains through what the "
        "helper returns (not where it goes to `add_update`)."
    )
    evidence = (
        "The assigned value depends on a trainable weight (the layer's own inputs do not count; a value under"
        " `tf.stop_gradient` neither), and either the output reads the variable after the assign in the same "
        "block, or it uses the assign's result where that result loses the gradient: a `tf.Variable`'s (a "
        "Keras 3 weight's `assign` returns the value, gradient included; a helper's parameter is what its "
        "callers pass), and in a helper (a method of the layer included) only where a caller trains through "
        "what the helper returns (not `add_update`). The receiver is not an object the value model knows to be "
        "an instance of a plain class of the project, with its own `assign` method. TF 1.x's function form "
        "(`tf.assign_add(ref, value)`, `tf.compat.v1.assign`) stores its second argument in its first."
    )
    why = (
        "`assign` copies a value into the variable's buffer; the tape records no gradient for "
        "it. Reading the variable afterwards gives a value whose history is cut: the gradient "
        "with respect to the inputs or upstream weights is `None` (meta-learning inner loops, "
        "memory networks, fast weights)."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Leaky(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        '        self.state = self.add_weight(shape=(4,), initializer="zeros", trainable=False)\n'
        "\n"
        "    def call(self, x):\n"
        "        self.state.assign(self.state * 0.9 + tf.reduce_mean(tf.matmul(x, self.w), axis=0))\n"
        "        return self.state\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Leaky(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        '        self.state = self.add_weight(shape=(4,), initializer="zeros", trainable=False)\n'
        "\n"
        "    def call(self, x):\n"
        "        state = self.state * 0.9 + tf.reduce_mean(tf.matmul(x, self.w), axis=0)\n"
        "        self.state.assign(state)\n"
        "        return state\n"
    )
    fix_safety = (
        "No automatic fix: compute the new value as a tensor, use that tensor for the output, "
        "and assign afterwards."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        callee = node.func
        if not (isinstance(callee, cst.Attribute) and callee.attr.value in ASSIGNS and node.args):
            return
        if not context.on_gradient_path:
            return
        # Sources are the weights (and watched tensors), not the layer's inputs: a layer that
        # stores a statistic of its input and also returns the input still passes a gradient.
        flow = context.scope.analyse(Blocking(parameters=False).extended("stop_gradient", "StopGradient"))
        if context.imports.resolve(callee) is not None:
            # TF 1.x's function form, `tf.assign_add(ref, value)`: the variable is its first argument
            if len(node.args) < 2:
                return
            receiver, value = node.args[0].value, node.args[1].value
        else:
            receiver, value = callee.value, node.args[0].value
        # A slice of a variable (`y[:, i].assign(v)`): the variable filled piece by piece, an output buffer.
        sliced = isinstance(receiver, cst.Subscript) and isinstance(receiver.value, cst.Name)
        if sliced:
            receiver = receiver.value
        if not flow.is_tainted(value):
            return
        if describe(context.scope, receiver).kind is Kind.PLAIN:
            return  # an object of a known class (`self.target_assigner.assign(boxes, truths)`), no variable
        variable = dotted_name(receiver)
        if variable is None or not (
                self._result_used(node) and not self._returns_value(receiver)
                or self._read_after(node, variable, flow, enclosing=sliced)):
            return
        receiver_text = f"{variable}[...]" if sliced else variable
        self.report(node, self.message.format(receiver=receiver_text, method=callee.attr.value, variable=variable))

    def _result_used(self, node: cst.Call) -> bool:
        context = self.context
        if isinstance(context.parent(node), cst.Expr) or not context.reaches_output(node):
            return False
        scope = context.scope
        # A helper returning the assign (`return moving.assign_sub(...)`) loses something only
        # where a caller trains through its result, not where it hands it to `add_update`.
        # (A helper method of the layer is no forward method itself: its callers decide.)
        return (scope.is_keras_forward and scope.is_forward_entry) or bool(scope.tape_blocks) or result_trained(scope)

    def _returns_value(self, variable: cst.BaseExpression) -> bool:
        """A Keras 3 weight's `assign` returns the value it stores, gradient and all; a
        `tf.Variable`'s returns the variable (measured on TF 2.21 / Keras 3). A helper's
        parameter (`def assign_moving_average(self, variable, value)`) is what every caller of
        the module passes for it."""
        scope = self.context.scope
        if isinstance(variable, cst.Name) and variable.value in scope.parameter_names \
                and isinstance(scope.node, cst.FunctionDef):
            passed = [argument_for(scope.node, call, variable.value) for _, call in scope.module.callers_of(scope)]
            return bool(passed) and all(p is not None and self._returns_value(p) for p in passed)
        cls = scope.keras_class
        attr = self_attribute(variable)
        value = attribute_values(cls).get(f"self.{attr}") if cls is not None and attr is not None else None
        return isinstance(value, cst.Call) and (
            isinstance(value.func, cst.Attribute) and value.func.attr.value == "add_weight"
            or self.context.imports.resolve(value.func) == "keras.Variable")

    def _read_after(self, node: cst.Call, variable: str, flow, enclosing: bool = False) -> bool:
        """Whether a statement after the assign, in its block (and with `enclosing`, in the
        blocks around it: a buffer filled in loops and returned after them), feeds the output
        with the variable, and with no other path to a weight."""
        parent_of = self.context.parent
        statement: Optional[cst.CSTNode] = node
        while statement is not None and not isinstance(statement, cst.SimpleStatementLine):
            statement = parent_of(statement)
        live = self.context.flow.live if self.context.flow is not None else set()
        while statement is not None:
            container = parent_of(statement)
            if not isinstance(container, (cst.IndentedBlock, cst.Module)):
                return False
            body = list(container.body)
            for later in body[body.index(statement) + 1:]:
                if not isinstance(later, cst.SimpleStatementLine):
                    continue
                for small in later.body:
                    value = getattr(small, "value", None)
                    if value is None or not any(dotted_name(n) == variable for n in descendants(value)):
                        continue
                    feeds_output = (isinstance(small, cst.Return) and self.context.scope.forward) or (
                        isinstance(small, cst.Assign)
                        and any(name in live for t in small.targets for name in names_in(t.target)))
                    if feeds_output and not _other_gradient_path(flow, value, variable):
                        return True
            outer = parent_of(container)
            statement = outer if enclosing and isinstance(outer, (cst.For, cst.While, cst.If, cst.With)) else None
        return False


def _other_gradient_path(flow, expr: cst.BaseExpression, variable: str) -> bool:
    """Whether `expr` reaches a weight other than through `variable`."""
    for node in descendants(expr):
        if dotted_name(node) == variable:
            continue
        if isinstance(node, cst.Name) and node.value in flow.tainted:
            return True
        attr = self_attribute(node)
        if attr is not None and flow.scope.is_weight(attr):
            return True
        if isinstance(node, cst.Call) and self_attribute(node.func) is not None and not (
                flow.scope.has_method(node.func.attr.value)):
            return True  # a sub-layer's output
    return False
