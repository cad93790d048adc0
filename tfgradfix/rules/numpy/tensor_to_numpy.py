"""TGF102: `.numpy()`, `np.array(t)`, `np.asarray(t)` on the gradient path."""

from __future__ import annotations

import libcst as cst

from tfgradfix.analysis.imports import is_integer_dtype
from tfgradfix.analysis.vocabulary import FOREIGN_ARRAY_LIBRARIES
from tfgradfix.fixes.arrays import ArrayToTensor, conversion_keeps_dtype
from tfgradfix.fixes.numpy_to_tf import bind
from tfgradfix.rules.base import Rule
from tfgradfix.rules.numpy.base import CONVERSIONS, numpy_function, on_path_with_tensor


class TensorToNumpy(Rule):
    code = "TGF102"
    summary = "`.numpy()`, `np.array(t)`, `np.asarray(t)` on the gradient path"
    name = "tensor-to-numpy"
    message = "`{form}` detaches the tensor from the gradient tape"
    triggers = (".numpy(", "array(")
    what = (
        "Finds `.numpy()`, `np.array(t)` and `np.asarray(t)` on a tensor that carries a "
        "gradient, where the result flows into the layer's output or the loss, anywhere on the "
        "gradient path (see TGF101). `.numpy()` of a loss or image that is only printed, logged "
        "or plotted is not reported, nor is `.numpy()` in a function handed to "
        "`tf.numpy_function`/`tf.py_function`, which receives arrays by contract. Outside a "
        "Keras layer, a value that reaches the loss only as items written into a NumPy array "
        "(`returns = np.zeros_like(rewards)`, `returns[t] = running_add`: an A3C bootstrap value "
        "`model(last_state)[-1][0].numpy()` in its n-step returns) is not reported either: the "
        "array would take a tensor's value without its gradient anyway, so those returns are "
        "data (a regression target) on purpose, and dropping the conversion restores nothing. "
        "The same holds for NumPy functions (TGF101)."
    )
    evidence = (
        "As TGF101: a source upstream (a trainable weight, a layer input, a watched tensor inside its tape's "
        "block), a value not shown to be integer, a Python value, metadata or list data between, and the "
        "converted value reaching the output, the `tape.gradient` target or an `add_loss` loss. A conversion "
        "to an integer dtype loses no gradient. The output of a model call detached at once (`.numpy()`, "
        "`.item()`, `np.array`, `float`), or reaching the loss only through such a conversion later (n-step "
        "returns bootstrapped from the critic, gathered in a list, then `np.array(returns)`), while the same "
        "model is called undetached in the same scope is a bootstrap target (semi-gradient TD, SimSiam) and is "
        "not reported; so is a copy (`q.numpy()`, `np.array(q)`, also under the tensor's own name) that the "
        "scope writes TD targets into and subtracts a tensor from or hands with it to a loss (a DQN's regression "
        "target, `mse(q_target, q)`). As TGF101: a helper's result counts only where a caller uses it, a tape "
        "never asked for a gradient records nothing, a rebound gradient target depends on the binding that "
        "reaches the call, and text written to a log or progress bar holds no tensor. What a PyTorch "
        "tensor's own method returns (`logits.cpu()`, `.detach()`, `.cuda()`: TensorFlow's tensors have none) "
        "is no TensorFlow value (a frozen PyTorch model run in a Keras layer). A record dict "
        "bound empty, also with an annotation (`metrics: dict = {}`), and only filled, returned or printed holds "
        "logged copies. A copy handed straight to a host-array library (SciPy, scikit-learn, OpenCV, ...: "
        "`eigsh(sp.csr_matrix(m.numpy()), k)`) is what that library needs, and has no TF gradient either way: not "
        "reported. Dropping `.numpy()` is no fix where the copy is indexed with more than one index that is "
        "not certainly a Python number (`values.numpy()[rows, cols]`: NumPy's advanced indexing, which a tensor "
        "refuses), nor where the copy is made either way (`x.numpy() if hasattr(x, \"numpy\") else x`) and a use of it "
        "has no TF form. Unknown means silent."
    )
    why = (
        "The array is a copy the tape cannot see, so everything computed from it has no "
        "gradient: eagerly `tape.gradient` returns `None`; under `model.fit` or `tf.function` "
        "it raises `AttributeError: 'SymbolicTensor' object has no attribute 'numpy'`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Dense(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], 4))\n"
        '        self.bias = self.add_weight(shape=(4,), initializer="zeros")\n'
        "\n"
        "    def call(self, inputs):\n"
        "        x = inputs.numpy()\n"
        "        return x @ self.kernel.numpy() + self.bias.numpy()\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Dense(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], 4))\n"
        '        self.bias = self.add_weight(shape=(4,), initializer="zeros")\n'
        "\n"
        "    def call(self, inputs):\n"
        "        x = inputs\n"
        "        return tf.experimental.numpy.matmul(x, self.kernel) + self.bias\n"
    )
    fix_safety = (
        "Safe: the conversion is dropped (`np.asarray(t, dtype)` becomes `tf.cast`), and the "
        "array methods that follow are rewritten to TF ops with the same semantics: `.T` "
        "(`tf.transpose`), `.sum/.mean/.max/.min/.prod/.std/.var(axis=, keepdims=)`, "
        "`.reshape(2, -1)` (`tf.reshape(x, (2, -1))`), `.astype(np.float32)` (`tf.cast`), "
        "`.flatten()`/`.ravel()`, `.transpose(...)`, `.copy()`, and `@` (`tf.matmul` when both "
        "ranks are declared >= 2, else the NumPy-compatible `matmul` that accepts 1-D operands). "
        "When a use has no exact TF form (`.tolist()`, fancy indexing `x[[0, 2]]`, item "
        "assignment, a helper of the module receiving the array) the finding has no fix.\n\n"
        "Dropping `np.array(x)`/`np.asarray(x)` keeps the dtype only when `x` is certainly a tensor "
        "(a TF or `keras.ops` result, a weight, arithmetic on those, a float cast): NumPy gives a Python "
        "list or number NumPy's dtype (int64, float64; a list of uint8 images stays uint8) where TF makes "
        "int32/float32 of it, and `tf.cast` of a list of Python floats rounds them to float32 first. So "
        "where `x` may be a list or an array (a layer's own argument: "
        "`ops.convert_to_tensor(np.array(inputs))`) the fix is unsafe and its description says why, and "
        "where `x` is certainly a list or a number (`np.array([a, b])`) it is not offered."
        "\n\nWhat a fix writes is proven from the module's imports: `tf.*` only where `tf` is certainly TensorFlow on every path the module runs (`try: import tensorflow as tf` / `except ImportError: tf = None` is not); Keras 3 code that does not import TensorFlow gets `keras.ops`, spelled as the module spells it (`ops.sum`), and never a new `import tensorflow as tf`; a module that imports neither gets that import only when the fix writes `tf.`. Where no framework is certain (TensorFlow or Keras bound under a `try`/`if` only, or imported only inside functions) the finding has no fix and the message says why."
    )

    def visit_Call(self, node: cst.Call) -> None:
        callee = node.func
        if isinstance(callee, cst.Attribute) and callee.attr.value == "numpy" and not node.args:
            if self._handed_to_another_library(node) or not on_path_with_tensor(self, node, [callee.value]):
                return
            fix = ArrayToTensor(self.context).fix(node, lambda updated: updated.func.value, "Drop `.numpy()`")
            self.report(node, self.message.format(form=".numpy()"), fix)
            return
        function = numpy_function(self, node)
        if function not in CONVERSIONS or not node.args:
            return
        if not on_path_with_tensor(self, node, [node.args[0].value]):
            return
        arrays = ArrayToTensor(self.context)
        conversion = arrays.translator.conversion
        message = self.message.format(form=f"np.{function}(...)")
        b = bind(node.args, ["a", "dtype"], {"dtype": None}) or {}
        dtypes = self.context.scope.dtype_names(b["dtype"]) if b.get("dtype") is not None else {""}
        if all(is_integer_dtype(dtype) or dtype in ("bool", "str") for dtype in dtypes):
            return  # token ids, masks: an integer result has no gradient, in NumPy or in TF
        # The precondition: the dtype is kept only when the value is certainly a tensor.
        offered, unsafe = conversion_keeps_dtype(self.context.flow, node.args[0].value, function, "dtype" in b)
        fix = None
        if not offered:
            message += f" (no fix: {unsafe})"
        elif conversion(node.args) is not None:
            fix = arrays.fix(node, lambda updated: conversion(updated.args), f"Drop `np.{function}`", unsafe=unsafe)
        elif arrays.reason is not None:
            message += f" (no fix: {arrays.reason})"
        self.report(node, message, fix)

    def _handed_to_another_library(self, node: cst.Call) -> bool:
        """`sp.csr_matrix(logM.numpy())`, `eigsh(m.numpy(), k)`: the array goes straight to a library
        that is neither NumPy nor TensorFlow nor the project, which needs host data. What it computes
        has no TF gradient whatever is passed (an eigen-decomposition whose vectors the code keeps
        constant on purpose), and dropping `.numpy()` restores nothing."""
        parent = self.context.parent(node)
        if not isinstance(parent, cst.Arg):
            return False
        call = self.context.parent(parent)
        qualified = self.context.imports.resolve(call.func) if isinstance(call, cst.Call) else None
        return qualified is not None and qualified.split(".")[0] in FOREIGN_ARRAY_LIBRARIES

