"""TGF1 — computation leaves TensorFlow on the gradient path."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import DEFAULT_BLOCKING, is_certainly_tensor
from tfgradfix.analysis.objects import Kind, describe
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.arrays import ArrayToTensor
from tfgradfix.fixes.edits import Fix, keyword_arg
from tfgradfix.fixes.numpy_to_tf import _DTYPES, INTEGER_RESULTS, bind, call
from tfgradfix.rules.base import Rule

_CONVERSIONS = ("array", "asarray", "asanyarray")
_GRAPH_ERRORS = (
    "Eagerly the gradient is silently None; under `model.fit` or `tf.function` the call "
    "fails while tracing."
)


def _numpy_function(rule: Rule, call_node: cst.Call) -> Optional[str]:
    qualified = rule.context.imports.resolve(call_node.func)
    if qualified is not None and qualified.startswith("numpy."):
        return qualified[len("numpy."):]
    return None


# Values that have no gradient on purpose: a target under stop_gradient.
_DETACHED = DEFAULT_BLOCKING.extended("stop_gradient")


def _on_path_with_tensor(rule: Rule, node: cst.Call, values) -> bool:
    context = rule.context
    if not (context.on_gradient_path and any(context.is_tainted(v) for v in values)
            and context.reaches_output(node)):
        return False
    if context.scope.is_keras_forward:
        return True  # in a Keras layer, NumPy on a tensor fails when `fit` traces it, whatever it feeds
    # Eagerly, in a tape, NumPy loses nothing on a value that has no gradient anyway: a
    # sampled action, a DQN target under stop_gradient or from the target network.
    if context.feeds_no_gradient(node):
        return False
    values = [_reaching(context, v) for v in values]
    if not any(context.scope.analyse(_DETACHED).is_tainted(v) for v in values):
        return False
    # Nor on the output of a model whose variables the tape does not differentiate.
    to_sources = context.to_sources(node, _DETACHED)
    return to_sources is None or any(context.scope.analyse(to_sources).is_tainted(v) for v in values)


def _reaching(context, value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(value, cst.Name):
        return context.value_at(value) or value
    return value


class NumpyCallOnTensor(Rule):
    code = "TGF101"
    summary = "`np.*` applied to a tensor on the gradient path"
    name = "numpy-call-on-tensor"
    message = "`np.{function}` on a tensor leaves TensorFlow: its gradient is None"
    triggers = ("numpy",)
    what = (
        "Finds NumPy functions (`np.dot`, `np.exp`, `np.sum`, ... under any alias, and names "
        "imported with `from numpy import ...`) applied to a tensor that carries a gradient, on "
        "the gradient path: a Keras layer's `call`, what it calls in the same module or in other "
        "modules of the project (a NumPy helper in `ops.py` called from a layer in `layers.py` is "
        "reported in `ops.py`; helpers, "
        "functions nested in it, the closure a factory returns: `loss_fn = make_loss(3)`), "
        "loss functions handed to `model.compile(loss=...)` (their `y_pred`), functions handed "
        "to `keras.layers.Lambda`, `tf.map_fn` and `tf.vectorized_map`, and the body of a "
        "`tf.GradientTape` block. Tensors keep their gradient through lists, tuples and dicts "
        "(`outs = [m(x) for m in models]`, `for out, y in zip(outs, ys)`, `sum(...)`). NumPy on "
        "constants and static shapes (`np.sqrt(self.units)`, `np.prod(input_shape[1:])`) is not "
        "reported, nor is NumPy whose result is only logged, NumPy in a tape whose value only "
        "feeds a result that has no gradient anyway (an action drawn with "
        "`np.random.choice(n, p=np.squeeze(probs))`) or only comes from models whose variables "
        "the tape's `tape.gradient` sources do not list (a DQN target network's `np.amax` when "
        "the sources are `model.trainable_variables`), the bodies of functions handed to "
        "`tf.numpy_function`/`tf.py_function` (NumPy by contract), `tf.custom_gradient` "
        "functions, and layers of a test module used only under `pytest.raises`/`assertRaises`."
    )
    why = (
        "NumPy converts the tensor to an array, so the tape records nothing. Eagerly the "
        "gradient is silently `None` (or the upstream layers stop training with only a warning "
        "`Gradients do not exist for variables`). Under `model.fit` or `tf.function` it raises "
        "`NotImplementedError: Cannot convert a symbolic tf.Tensor to a numpy array`."
    )
    example = (
        "class Scale(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return np.exp(inputs) / np.sum(np.exp(inputs), axis=-1, keepdims=True)\n"
    )
    fixed_example = (
        "class Scale(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return tf.exp(inputs) / tf.reduce_sum(tf.exp(inputs), axis=-1, keepdims=True)\n"
    )
    fix_safety = (
        "Safe: only translations measured identical to NumPy for floating inputs are emitted "
        "(values, shapes, gradients, graph mode). TF needs arguments that NumPy defaults, so "
        "they are spelled out: `axis=0` for `concat`, `axes=2` for `tensordot`, an explicit axis "
        "for `argmax`/`cumsum` (NumPy's `axis=None` becomes a flatten). Rank-dependent calls "
        "(`np.dot`, `np.matmul`, `np.tile`) use `tf.matmul`/`tf.tensordot` when the weight's "
        "rank is declared, else the NumPy-compatible `keras.ops` (Keras 3 code) or "
        "`tf.experimental.numpy`. `np.dot(x, w)` with a declared 1-D or 2-D `w` becomes "
        "`tf.tensordot(x, w, axes=1)`, which assumes `x` is not a scalar. Calls with no exact TF "
        "spelling (`ddof=1`, `out=`, the sublist `einsum`, matrix `norm` ords, `np.where` on a "
        "non-bool condition) are reported without a fix. One difference remains by design: "
        "where NumPy silently promoted to float64, the TF op keeps float32.\n\n"
        "Uses of the result as an array are rewritten too (`y.sum(axis=1)` becomes "
        "`tf.reduce_sum(y, axis=1)`); when one cannot be (`.tolist()`, fancy indexing, item "
        "assignment, passing the array to a helper of the module) the finding has no fix.\n\n"
        "In a helper that the project also calls off the gradient path (a NumPy utility that "
        "data preparation calls too, in any module), the fix would change what those callers "
        "get back (a tensor, not an array): it is unsafe there."
    )

    def visit_Call(self, node: cst.Call) -> None:
        function = _numpy_function(self, node)
        if function is None or function in _CONVERSIONS:
            return
        if not _on_path_with_tensor(self, node, [a.value for a in node.args]):
            return
        arrays = ArrayToTensor(self.context)
        translator = arrays.translator

        def translate(call_node: cst.Call) -> Optional[cst.BaseExpression]:
            if function in _DTYPES:
                return translator.scalar_type(function, call_node.args)
            return translator.translate(function, call_node.args)

        fix = None
        if translate(node) is not None:
            fix = arrays.fix(node, translate, f"Replace `np.{function}` with its TensorFlow equivalent",
                             integer_result=function in INTEGER_RESULTS)
        self.report(node, self.message.format(function=function), fix)


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
        "`tf.numpy_function`/`tf.py_function`, which receives arrays by contract."
    )
    why = (
        "The array is a copy the tape cannot see, so everything computed from it has no "
        "gradient: eagerly `tape.gradient` returns `None`; under `model.fit` or `tf.function` "
        "it raises `AttributeError: 'SymbolicTensor' object has no attribute 'numpy'`."
    )
    example = (
        "class Dense(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        x = inputs.numpy()\n"
        "        return x @ self.kernel.numpy() + self.bias.numpy()\n"
    )
    fixed_example = (
        "class Dense(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        x = inputs\n"
        "        return keras.ops.matmul(x, self.kernel) + self.bias\n"
    )
    fix_safety = (
        "Safe: the conversion is dropped (`np.asarray(t, dtype)` becomes `tf.cast`), and the "
        "array methods that follow are rewritten to TF ops with the same semantics: `.T` "
        "(`tf.transpose`), `.sum/.mean/.max/.min/.prod/.std/.var(axis=, keepdims=)`, "
        "`.reshape(2, -1)` (`tf.reshape(x, (2, -1))`), `.astype(np.float32)` (`tf.cast`), "
        "`.flatten()`/`.ravel()`, `.transpose(...)`, `.copy()`, and `@` (`tf.matmul` when both "
        "ranks are declared >= 2, else the NumPy-compatible `matmul` that accepts 1-D operands). "
        "When a use has no exact TF form (`.tolist()`, fancy indexing `x[[0, 2]]`, item "
        "assignment, a helper of the module receiving the array) the finding has no fix."
    )

    def visit_Call(self, node: cst.Call) -> None:
        callee = node.func
        if isinstance(callee, cst.Attribute) and callee.attr.value == "numpy" and not node.args:
            if not _on_path_with_tensor(self, node, [callee.value]):
                return
            fix = ArrayToTensor(self.context).fix(node, lambda updated: updated.func.value, "Drop `.numpy()`")
            self.report(node, self.message.format(form=".numpy()"), fix)
            return
        function = _numpy_function(self, node)
        if function not in _CONVERSIONS or not node.args:
            return
        if not _on_path_with_tensor(self, node, [node.args[0].value]):
            return
        arrays = ArrayToTensor(self.context)
        conversion = arrays.translator.conversion
        fix = None
        if conversion(node.args) is not None:
            fix = arrays.fix(node, lambda updated: conversion(updated.args), f"Drop `np.{function}`")
        self.report(node, self.message.format(form=f"np.{function}(...)"), fix)


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
        "conversion of what is already a tensor. `tf.convert_to_tensor(inputs)` on a layer's "
        "own argument is a common, correct guard and is not reported."
    )
    why = (
        "Converting back to a tensor does not restore the gradient that NumPy dropped: the "
        "result is a constant to the tape. `tf.constant(t)` on a symbolic tensor also raises "
        "under `tf.function`."
    )
    example = (
        "    def call(self, inputs):\n"
        "        y = np.tanh(inputs)\n"
        "        return tf.convert_to_tensor(y, dtype=tf.float32)\n"
    )
    fixed_example = (
        "    def call(self, inputs):\n"
        "        y = tf.tanh(inputs)\n"
        "        return tf.cast(y, tf.float32)\n"
    )
    fix_safety = (
        "Safe, and offered once the argument is a tensor (a TF op's result): the call is "
        "unwrapped, keeping a `tf.cast` when a `dtype` was given. While the argument is still "
        "NumPy the finding has no fix of its own; `--fix` applies the NumPy fixes first and "
        "this one in the next pass of the same run."
    )

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.imports.resolve(node.func)
        if qualified not in ("tensorflow.convert_to_tensor", "tensorflow.constant") or not node.args:
            return
        flow = self.context.flow
        value = node.args[0].value
        if flow is None or not _on_path_with_tensor(self, node, [value]):
            return
        numpy_left = _has_numpy(self, value)
        if not numpy_left and not is_certainly_tensor(flow, value):
            return
        fix = None
        if not numpy_left:
            b = bind(node.args, ["value", "dtype"])
            if b is not None and "value" in b:
                arrays = ArrayToTensor(self.context)
                replacement = call(arrays.target, "tf.cast", value, b["dtype"]) if "dtype" in b else value
                fix = Fix.replace(node, replacement, "Unwrap the conversion", imports=arrays.imports)
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


class PythonScalar(Rule):
    code = "TGF104"
    summary = "`float(t)`, `int(t)`, `bool(t)`, `.item()` on the gradient path"
    name = "python-scalar"
    message = "`{form}` turns the tensor into a Python value: no gradient flows through it"
    triggers = ("float(", "int(", "bool(", ".item(")
    what = (
        "Finds `float(t)`, `int(t)`, `bool(t)` and `t.item()` on a tensor that carries a "
        "gradient, where the value reaches the layer's output or the loss, or decides a Python "
        "`if`/`while` in a layer's `call`."
    )
    why = (
        "A Python number is a constant to the tape. Eagerly the gradient is silently wrong or "
        "None (d(float(s)*s)/ds comes out as s instead of 2s); under `model.fit` it raises "
        "`TypeError: float() argument must be ... not 'SymbolicTensor'`, and a Python `if` on "
        "a tensor raises `OperatorNotAllowedInGraphError`."
    )
    example = (
        "    def call(self, inputs):\n"
        "        scale = float(tf.reduce_max(inputs))\n"
        "        return inputs / scale\n"
    )
    fixed_example = (
        "    def call(self, inputs):\n"
        "        scale = tf.reduce_max(inputs)\n"
        "        return inputs / scale\n"
    )
    fix_safety = (
        "No automatic fix: whether the value was meant as a tensor, a shape, or Python control "
        "flow (which needs `tf.cond`/`tf.where`) cannot be told from the code."
    )

    def visit_Call(self, node: cst.Call) -> None:
        callee = node.func
        if isinstance(callee, cst.Name) and callee.value in ("float", "int", "bool"):
            if len(node.args) == 1 and _on_path_with_tensor(self, node, [node.args[0].value]):
                self.report(node, self.message.format(form=f"{callee.value}(...)"))
        elif isinstance(callee, cst.Attribute) and callee.attr.value == "item" and not node.args:
            if _on_path_with_tensor(self, node, [callee.value]):
                self.report(node, self.message.format(form=".item()"))


class NumpyFunction(Rule):
    code = "TGF105"
    summary = "`tf.numpy_function`/`tf.py_function`/`tf.py_func` on the gradient path"
    name = "numpy-function"
    message = "`{function}` runs Python outside the graph: {consequence}"
    triggers = ("numpy_function", "py_function", "py_func")
    what = (
        "Finds `tf.numpy_function`, `tf.compat.v1.py_func` and `tf.py_func` on the gradient "
        "path with a tensor input, and `tf.py_function` whose wrapped function (defined in the "
        "module) converts to NumPy. The wrapper call is the finding: the wrapped function's "
        "own body is NumPy by contract and no other rule reports inside it. A wrapper called on "
        "values without a gradient (an environment step on a sampled action, labels) is fine."
    )
    why = (
        "`tf.numpy_function` has no gradient at all: everything upstream gets `None`. "
        "`tf.py_function` differentiates only the TF ops its Python function runs eagerly; "
        "once the function converts to NumPy, the gradient is `None` too. Both also prevent "
        "XLA (on by default on GPUs in Keras 3) and saving the model."
    )
    example = (
        "    def call(self, x):\n"
        "        return tf.numpy_function(lambda a: np.sinh(a), [x], tf.float32)\n"
    )
    fixed_example = (
        "    def call(self, x):\n"
        "        return tf.sinh(x)\n"
    )
    fix_safety = (
        "No automatic fix: rewrite the wrapped function with TF ops, or give it a gradient "
        "with `tf.custom_gradient`."
    )

    _ALWAYS = ("tensorflow.numpy_function", "tensorflow.compat.v1.py_func", "tensorflow.py_func")

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.imports.resolve(node.func)
        if qualified not in self._ALWAYS and qualified != "tensorflow.py_function":
            return
        b = bind(node.args, ["func", "inp", "Tout", "stateful", "name"])
        if not b or "inp" not in b or not _on_path_with_tensor(self, node, [b["inp"]]):
            return
        function = qualified.replace("tensorflow.", "tf.")
        if qualified in self._ALWAYS:
            consequence = "it has no gradient, so everything upstream gets None"
        elif self._uses_numpy(b.get("func")):
            consequence = "its Python function converts to NumPy, so the gradient is None"
        else:
            return
        self.report(node, self.message.format(function=function, consequence=consequence))

    def _uses_numpy(self, func: Optional[cst.BaseExpression]) -> bool:
        if isinstance(func, cst.Name):
            func = self.context.analysis.functions.get(func.value)
        if func is None:
            return False
        imports = self.context.imports
        return any(
            isinstance(node, cst.Call) and (
                (isinstance(node.func, cst.Attribute) and node.func.attr.value == "numpy" and not node.args)
                or (imports.resolve(node.func) or "").startswith("numpy."))
            for node in descendants(func)
        )


class PredictInTape(Rule):
    code = "TGF106"
    summary = "`model.predict(x)` inside a tape or `call` (returns NumPy)"
    name = "predict-in-tape"
    message = "`.predict()` returns NumPy: the tape sees a constant and the gradient is None"
    triggers = (".predict(",)
    what = (
        "Finds `model.predict(x)` inside a `tf.GradientTape` block or a layer's `call`, where "
        "its result flows into the loss or the output, and `model` is a Keras model or layer: "
        "made from a Keras class (`keras.Sequential`, `keras.Model`, `keras.applications`, a "
        "subclass in the module), returned by a module function that makes one, passed in by "
        "the module's callers, or a parameter the code calls `.fit`/`.compile` on. Objects "
        "whose class defines its own `predict` (a from-scratch model written as a plain class, "
        "a `tf.Module`) are not reported; objects the module cannot tell are reported "
        "without a fix."
    )
    why = (
        "`predict` runs its own loop over batches and returns a NumPy array, outside any tape: "
        "`tape.gradient` returns `None` for every weight."
    )
    example = (
        "with tf.GradientTape() as tape:\n"
        "    error = model.predict(x) - y\n"
        "    loss = tf.reduce_mean(error ** 2)\n"
    )
    fixed_example = (
        "with tf.GradientTape() as tape:\n"
        "    error = model(x, training=False) - y\n"
        "    loss = tf.reduce_mean(error ** 2)\n"
    )
    fix_safety = (
        "Safe, and offered only for a Keras model or layer: `model(x, training=False)` computes "
        "the same values as `predict` (inference mode) as a tensor the tape records. `batch_size` and `verbose` are dropped; calls with "
        "other arguments (`steps`, `callbacks`, generators) are reported without a fix."
    )

    def visit_Call(self, node: cst.Call) -> None:
        callee = node.func
        if not (isinstance(callee, cst.Attribute) and callee.attr.value == "predict"):
            return
        context = self.context
        if context.imports.resolve(callee.value) is not None:
            return
        if not (context.in_tape or context.scope.is_keras_forward) or not context.reaches_output(node):
            return
        model = describe(context.scope, callee.value)
        if "predict" in model.methods or model.kind in (Kind.PLAIN, Kind.TF_MODULE):
            return  # its own `predict`, whatever that returns
        if not model.is_keras:
            self.report(node)  # calling the object instead may not even be possible
            return
        fix = None
        positional = [a for a in node.args if a.keyword is None]
        extra = {a.keyword.value for a in node.args if a.keyword is not None}
        if len(positional) == 1 and not positional[0].star and extra <= {"batch_size", "verbose"}:
            replacement = cst.Call(func=callee.value, args=[
                cst.Arg(positional[0].value),
                keyword_arg("training", cst.Name("False")),
            ])
            fix = Fix.replace(node, replacement, "Call the model instead of `predict`")
        self.report(node, fix=fix)
