"""TGF104: Python scalars made from a tensor on the gradient path."""

from __future__ import annotations

import libcst as cst

from tfgradfix.rules.base import Rule
from tfgradfix.rules.numpy.base import on_path_with_tensor


class PythonScalar(Rule):
    code = "TGF104"
    summary = "`float(t)`, `.item()` on the gradient path"
    name = "python-scalar"
    message = "`{form}` turns the tensor into a Python value: no gradient flows through it"
    triggers = ("float(", ".item(")
    what = (
        "Finds `float(t)` and `t.item()` on a float tensor that carries a gradient, where the "
        "value reaches the layer's output or the loss, or decides a Python `if`/`while` in a "
        "layer's `call`. Evidence needed: the value depends on a trainable weight or a layer "
        "input, and nothing shows it is not a float tensor (an integer or boolean tensor, a "
        "shape, a Python number or string, a list in an `isinstance(x, list)` branch are "
        "silent). `int(t)` and `bool(t)` are not reported: an integer or a truth value has no "
        "gradient either way, and code that asks for one (a length, a grid size, an index, a "
        "flag) wants a Python value."
    )
    evidence = (
        "A float tensor that depends on a trainable weight or a layer input (not shown to be an integer or "
        "boolean tensor, a shape, a Python number or string, or list data, nor in the `else` of "
        "`isinstance(x, Iterable)`, which a tensor never reaches), whose Python float reaches the "
        "output or the loss, or decides a Python `if`/`while` in a layer's `call`. `int()` and `bool()` never"
        " count. Unknown means silent."
    )
    why = (
        "A Python number is a constant to the tape. Eagerly the gradient is silently wrong or "
        "None (d(float(s)*s)/ds comes out as s instead of 2s); under `model.fit` it raises "
        "`TypeError: float() argument must be ... not 'SymbolicTensor'`, and a Python `if` on "
        "a tensor raises `OperatorNotAllowedInGraphError`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Normalize(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        x = tf.matmul(inputs, self.w)\n"
        "        scale = float(tf.reduce_max(x))\n"
        "        return x / scale\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Normalize(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        x = tf.matmul(inputs, self.w)\n"
        "        scale = tf.reduce_max(x)\n"
        "        return x / scale\n"
    )
    fix_safety = (
        "No automatic fix: whether the value was meant as a tensor, a shape, or Python control "
        "flow (which needs `tf.cond`/`tf.where`) cannot be told from the code."
    )

    def visit_Call(self, node: cst.Call) -> None:
        callee = node.func
        if isinstance(callee, cst.Name) and callee.value == "float":
            if len(node.args) == 1 and on_path_with_tensor(self, node, [node.args[0].value]):
                self.report(node, self.message.format(form=f"{callee.value}(...)"))
        elif isinstance(callee, cst.Attribute) and callee.attr.value == "item" and not node.args:
            if on_path_with_tensor(self, node, [callee.value]):
                self.report(node, self.message.format(form=".item()"))
