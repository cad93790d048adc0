"""TGF202: variables created inside `call`."""

from __future__ import annotations

from typing import Union

import libcst as cst

from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.frequency import runs_once
from tfgradfix.analysis.layer_state import (
    creates, integer_constant, integer_names, known_values, perturbation, sliced_buffer, snapshot,
)
from tfgradfix.analysis.roles import holds_state, stepped_counters
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.edits import Edit, Fix
from tfgradfix.fixes.hoist import (
    COMPUTED_NAMES, RenameReads, add_to_build, build_input_name, free_attribute, hoist_weight, without,
)
from tfgradfix.rules.base import Rule

class VariableInCall(Rule):
    code = "TGF202"
    name = "variable-in-call"
    summary = "`tf.Variable` / `add_weight` created inside `call`"
    message = "{what} is created inside `call`: {consequence}"
    triggers = ("Variable(", "add_weight")
    what = (
        "Finds `tf.Variable(...)` and `self.add_weight(...)` in a Keras layer's `call`. Lazy "
        "creation guarded by `if self.v is None:`, `if not self.built:` or `hasattr` runs once "
        "and is not reported."
    )
    evidence = (
        "How often the code runs: the creation is in `call` itself and runs on every call, not under a test "
        "that closes after the first run (`if self.v is None:`, `if not self.built:`, `hasattr`, a predicate "
        "method returning such a test, the handler of a `try` that reads the attribute) nor under "
        "`tf.init_scope()`. What it makes: a variable of integers that nothing writes with `.assign*()` "
        "(`tf.Variable(range(n))` used as indices) is a constant, neither weight nor state, and is silent; so "
        "is a non-trainable variable made from a value `call` computed that nothing writes (a CRF's "
        "transition matrix kept for decoding): it holds that call's result and keeps nothing across calls; "
        "and so is a perturbation, made from what a gradient computed or differentiated against by `call` "
        "itself. "
        "`add_weight` is reported in Keras 3 "
        "classes only (whose tracker raises); a class derived from Keras 2 (`tf_keras`, "
        "`tensorflow.python.keras`) is silent there."
    )
    why = (
        "A `tf.Variable` made in `call` is a new, untracked variable on every call: it is not in "
        "`trainable_variables`, the optimizer never updates it, and under `tf.function` / "
        "`model.fit` TensorFlow raises `tf.function only supports singleton tf.Variables created "
        "on the first call`. `self.add_weight` in `call` raises in Keras 3 (`You cannot add new "
        "elements of state`)."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Scores(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        # one score per feature\n"
        "        w = tf.Variable(tf.random.normal((inputs.shape[-1], 4)))\n"
        "        return tf.matmul(inputs, w)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Scores(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        # one score per feature\n"
        '        self.w = self.add_weight(name="w", shape=(input_shape[-1], 4), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))\n'
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.w)\n"
    )
    fix_safety = (
        "Safe: the variable is created once, in `build` (made if the class has none; "
        "`super().build()` is not added), as `self.add_weight` with the same shape, dtype, "
        "trainability and the initializer the code names (see TGF203); the input's static "
        "shape (`inputs.shape[-1]`) becomes `input_shape[-1]`; comments above the statement "
        "move with it, and an initializer object of `call` only the variable used (`w_init = "
        "tf.random_normal_initializer()`) goes, since `build` spells it out. The first call computes what the original did; later calls use the "
        "trained weight instead of a fresh one. No fix, and the finding says why, when the "
        "variable needs values that only `call` has, or is created inside a loop or "
        "expression."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        cls = scope.keras_class
        if cls is None or not scope.is_forward_entry or scope.node.name.value != "call":
            return
        created = creates(context, node)
        if (created is None or runs_once(context, node) or integer_constant(context, node)
                or sliced_buffer(context, node) or perturbation(context, node)):
            return
        is_variable = created == "variable"
        if not is_variable and cls.legacy:
            return  # a Keras 2 layer (`tf_keras`): its `add_weight` in `call` does not raise
        what = "a `tf.Variable`" if is_variable else "a weight"
        state = is_variable and self._state(node)
        if state and snapshot(context, node):
            return  # it holds this call's result for later reads, and keeps nothing across calls
        consequence = ("a new variable on every call, so the state it keeps (a counter, a running value) starts "
                       "over on every call" if state else "a new, untracked variable on every call, which never trains"
                       if is_variable else "Keras 3 raises once the layer is built")
        message = self.message.format(what=what, consequence=consequence)
        fix = "it holds state, not a weight: make it once in `build` with `add_weight(..., trainable=False)`" \
            if state else self._fix(cls, node)
        if isinstance(fix, str):
            message, fix = f"{message} (no fix: {fix})", None
        self.report(node, message, fix)

    def _state(self, ctor: cst.Call) -> bool:
        """Declared state (`trainable=False`, an integer dtype), or a local the code then steps by
        a constant with `.assign*()` / `tf.compat.v1.assign_add(v, 1.0)`: a counter, not a weight."""
        context = self.context
        if holds_state(ctor, context.imports):
            return True
        assign = context.parent(ctor)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)):
            return False
        return assign.targets[0].target.value in stepped_counters(descendants(context.scope.node.body),
                                                                  context.imports)

    def _fix(self, cls, ctor: cst.Call) -> Union[Fix, str]:
        context = self.context
        call_method = context.scope.node
        statement = context.parent(context.parent(ctor))
        assign = context.parent(ctor)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in call_method.body.body):
            return "the variable is not made by a `name = tf.Variable(...)` statement of `call`'s own body"
        target = assign.targets[0].target
        local = target.value if isinstance(target, cst.Name) else None
        attr = self_attribute(target) if local is None else free_attribute(cls, local)
        if attr is None:
            return "the variable is stored in a container" if local is None else COMPUTED_NAMES
        inputs = {p.name.value for p in call_method.params.params[1:2]}
        hoisted = hoist_weight(ctor, statement, attr, context.imports, inputs=inputs,
                               input_shape=build_input_name(cls), values=known_values(context, cls),
                               integers=integer_names(cls))
        if hoisted.statements is None:
            return hoisted.reason
        rename = RenameReads(local, cst.Attribute(cst.Name("self"), cst.Name(attr))) if local else None
        build_node, build_edit = add_to_build(cls, hoisted.statements)
        return Fix("Create the weight once, in `build`", (
            Edit(call_method, without(call_method, statement, rename, context.imports)),
            Edit(build_node, build_edit),
        ))
