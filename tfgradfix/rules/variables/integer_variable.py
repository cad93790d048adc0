"""TGF206: trainable variables of an integer dtype."""

from __future__ import annotations

import libcst as cst

from tfgradfix.analysis.imports import is_integer_dtype
from tfgradfix.analysis.layer_state import creates, keyword_value, read_in_forward, stored_on
from tfgradfix.analysis.literals import is_false
from tfgradfix.fixes.edits import Applicability, Edit, Fix
from tfgradfix.fixes.literals import as_floats, is_integer_literal
from tfgradfix.rules.base import Rule


class IntegerVariable(Rule):
    code = "TGF206"
    name = "integer-variable"
    summary = "a trainable variable with an integer dtype"
    message = "`{attr}` is a trainable variable of an integer dtype: gradients exist only for floats, so it never trains"
    triggers = ("Variable(", "add_weight")
    what = (
        "Finds trainable variables with an integer dtype that a layer's forward pass reads: "
        '`tf.Variable(1)`, `tf.Variable([1, 2])`, `add_weight(..., dtype="int32")`, also when '
        "the dtype comes from the layer's constructor argument (`self.add_weight(..., "
        'dtype=self.weight_dtype)` and every `Layer(..., weight_dtype="int32")` in the module '
        "agrees) or from the callers of a helper. State is not reported (`trainable=False`, "
        "or written with `.assign*()` by the forward pass, as a step counter is, also when it "
        "is read through `tf.cast`)."
    )
    evidence = (
        "A trainable variable whose dtype is certainly integer (an integer `dtype=`, an integer initial value"
        " or inner constructor, a constructor argument every caller agrees on) that the forward pass reads. "
        "State is silent: `trainable=False`, or written with `.assign*()` by the forward pass (a step "
        "counter, also when read through `tf.cast`)."
    )
    why = (
        "TensorFlow differentiates floating-point values only: the tape does not watch an "
        "integer variable, `tape.gradient` returns `None` for it, and `model.fit` warns "
        "`Gradients do not exist for variables`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Gain(tf.keras.layers.Layer):\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.scale = tf.Variable(2)\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return inputs * tf.cast(self.scale, inputs.dtype)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Gain(tf.keras.layers.Layer):\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        '        self.scale = self.add_weight(name="scale", shape=(), initializer=tf.keras.initializers.Constant(value=2.0))\n'
        "\n"
        "    def call(self, inputs):\n"
        "        return inputs * tf.cast(self.scale, inputs.dtype)\n"
    )
    fix_safety = (
        "Unsafe (applied with `--unsafe-fixes`) for `tf.Variable` with integer literals: they "
        "become floats, which changes integer arithmetic downstream (`7 // 2`). An explicit "
        "integer `dtype` is reported without a fix."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        cls = context.scope.keras_class
        if cls is None or context.scope.forward:
            return
        created = creates(context, node)
        is_variable = created == "variable"
        if created is None or is_false(keyword_value(node, "trainable")):
            return
        dtype = keyword_value(node, "dtype")
        literal = is_variable and node.args and node.args[0].keyword is None and is_integer_literal(node.args[0].value)
        integer_dtype = dtype is not None and is_integer_dtype(context.scope.dtype_name(dtype))
        if not (integer_dtype or (literal and dtype is None)):
            return
        attr = stored_on(context, node)
        if attr is None or cls.is_state(attr) or not read_in_forward(context, cls, attr):
            return
        fix = None
        if literal and dtype is None:
            value = node.args[0].value
            fix = Fix("Use float literals", (Edit(value, as_floats(value)),), Applicability.UNSAFE)
        self.report(node, self.message.format(attr=f"self.{attr}"), fix)
