"""TGF103: converting a NumPy round trip back to a tensor."""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from tfgradfix.analysis.dataflow import is_certainly_tensor
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.arrays import ArrayToTensor
from tfgradfix.fixes.edits import Fix
from tfgradfix.fixes.numpy_to_tf import NoSpelling, bind, call
from tfgradfix.rules.base import Rule
from tfgradfix.rules.numpy.base import on_path_with_tensor


class NumpyRoundtrip(Rule):
    code = "TGF103"
    summary = "`tf.convert_to_tensor`/`tf.constant` around a NumPy round trip"
    name = "numpy-roundtrip"
    message = "`{function}` {problem}"
    problems = {
        True: "converts a NumPy result back: that does not restore the gradient NumPy dropped",
        False: "of a value that is already a tensor: a leftover of a NumPy round trip",
    }
    triggers = ("convert_to_tensor", "constant(")
    what = (
        "Finds `tf.convert_to_tensor(x)` and `tf.constant(x)` around a value computed from a "
        "tensor that carries a gradient: a NumPy round trip, or (after TGF101/TGF102 fixes) a "
        "conversion of what is already a tensor but was made from a NumPy result in the same "
        "function. `tf.convert_to_tensor(inputs)` on a layer's own argument is a common, correct "
        "guard, and a conversion of a tensor that never left TensorFlow is an identity: neither is "
        "reported."
    )
    evidence = (
        "The wrapped value is computed from a tensor that carries a gradient (the evidence of TGF101), it is "
        "not the layer's own argument, and the converted result reaches the output or the loss. What it wraps "
        "is NumPy, or a tensor the function made from a NumPy result (a leftover); a tensor that never left "
        "TensorFlow is not evidence. What it wraps is not a bootstrap target (TGF102's evidence), nor a DQN's "
        "target copy (`q_target = q.numpy()`, TD targets written into it, then `mse(tf.convert_to_tensor(q_target), "
        "q)`). Unknown means silent."
    )
    why = (
        "Converting back to a tensor does not restore the gradient that NumPy dropped: the "
        "result is a constant to the tape. `tf.constant(t)` on a symbolic tensor also raises "
        "under `tf.function`."
    )
    example = (
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Squash(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        y = np.tanh(tf.matmul(inputs, self.w))\n"
        "        return tf.convert_to_tensor(y, dtype=tf.float32)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Squash(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        y = tf.tanh(tf.matmul(inputs, self.w))\n"
        "        return tf.cast(y, tf.float32)\n"
    )
    fix_safety = (
        "Safe, and offered once the argument is a tensor (a TF op's result): the call is "
        "unwrapped, keeping a `tf.cast` when a `dtype` was given. While the argument is still "
        "NumPy the finding has no fix of its own; `--fix` applies the NumPy fixes first and "
        "this one in the next pass of the same run. The `tf.cast` is written with the `tf` of the "
        "call it replaces (it ran there); after a bare `convert_to_tensor` (imported by name) it is "
        "written as TGF101 writes (`keras.ops.cast` in Keras 3 code without TensorFlow), or not at "
        "all where no framework is certain."
    )

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.imports.resolve(node.func)
        if qualified not in ("tensorflow.convert_to_tensor", "tensorflow.constant") or not node.args:
            return
        flow = self.context.flow
        value = node.args[0].value
        if flow is None or not on_path_with_tensor(self, node, [value]):
            return
        if isinstance(value, cst.Name) and any(
                b.name == value.value and isinstance(b.value, cst.Call) and self.context.copied_as_target(b.value)
                for b in flow.bindings):
            return  # a DQN's target copy (`q_target = q.numpy()`, TD targets written in), detached on purpose
        numpy_left = _has_numpy(self, value)
        if not numpy_left and not is_certainly_tensor(flow, value, sublayers=False):
            return  # what a sub-layer, method or held function returns may be no tensor (a distribution)
        if not numpy_left and not (flow.went_through_numpy(value)
                                   or self.context.scope.symbol in self.context.analysis.numpy_fixed):
            return  # converting a tensor that never left TensorFlow is an identity: no gradient lost
        fix = None
        if not numpy_left:
            b = bind(node.args, ["value", "dtype"])
            if b is not None and "value" in b:
                arrays = ArrayToTensor(self.context)
                target, imports = arrays.target, arrays.imports
                head = dotted_name(node.func)
                alias = head.split(".")[0] if head is not None and "." in head else None
                if alias is not None and self.context.imports.bindings.get(alias) == "tensorflow":
                    # `tf.cast` where `tf.convert_to_tensor` ran: the same `tf`, on the same path
                    target, imports = replace(target, tf=alias), ()
                try:
                    replacement = call(target, "tf.cast", value, b["dtype"]) if "dtype" in b else value
                    fix = Fix.replace(node, replacement, "Unwrap the conversion", imports=imports)
                except NoSpelling:
                    fix = None
        function = qualified.replace("tensorflow.", "tf.")
        self.report(node, self.message.format(function=function, problem=self.problems[numpy_left]), fix)


def _has_numpy(rule: Rule, expr: cst.BaseExpression) -> bool:
    """Whether a NumPy value that carries a gradient is part of `expr`: `t / np.sqrt(d)`
    is no round trip."""
    flow = rule.context.flow
    return flow is not None and any(
        ((isinstance(node, cst.Name) and node.value in flow.ndarray_names)
         or (isinstance(node, cst.Call) and flow.produces_ndarray(node)))
        and flow.is_tainted(node)
        for node in descendants(expr)
    )
