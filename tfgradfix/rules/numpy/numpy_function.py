"""TGF105: `tf.numpy_function` / `tf.py_function` on the gradient path."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import is_host_copy
from tfgradfix.analysis.imports import is_integer_dtype
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.vocabulary import NUMPY_WRAPPERS
from tfgradfix.fixes.numpy_to_tf import bind
from tfgradfix.rules.base import Rule
from tfgradfix.rules.numpy.base import on_path_with_tensor


class NumpyFunction(Rule):
    code = "TGF105"
    summary = "`tf.numpy_function`/`tf.py_function`/`tf.py_func` on the gradient path"
    name = "numpy-function"
    message = "`{function}` runs Python outside the graph: {consequence}"
    triggers = ("numpy_function", "py_function", "py_func")
    what = (
        "Finds `tf.numpy_function` (also `tf.compat.v1.`), `tf.compat.v1.py_func` and `tf.py_func` on the gradient "
        "path with a tensor input, and `tf.py_function` whose wrapped function (defined in the "
        "module) converts to NumPy. The wrapper call is the finding: the wrapped function's "
        "own body is NumPy by contract and no other rule reports inside it. A wrapper called on "
        "values without a gradient (an environment step on a sampled action, labels) is fine."
    )
    evidence = (
        "A tensor that carries a gradient (the evidence of TGF101) is an input of the wrapper, on the "
        "gradient path, and the wrapper's output reaches the output or the loss. Inputs without a gradient (a"
        " sampled action, labels, a model `Input` a `Lambda`'s function unpacks from its list argument) are silent, and so are outputs declared integer or bool (`Tout=[tf.int32]`:"
        " indices out of a matching, which no op would differentiate)."
    )
    why = (
        "`tf.numpy_function` has no gradient at all: everything upstream gets `None`. "
        "`tf.py_function` differentiates only the TF ops its Python function runs eagerly; "
        "once the function converts to NumPy, the gradient is `None` too. Both also prevent "
        "XLA (on by default on GPUs in Keras 3) and saving the model."
    )
    example = (
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Sinh(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, x):\n"
        "        h = tf.matmul(x, self.w)\n"
        "        return tf.numpy_function(lambda a: np.sinh(a), [h], tf.float32)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Sinh(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, x):\n"
        "        h = tf.matmul(x, self.w)\n"
        "        return tf.sinh(h)\n"
    )
    fix_safety = (
        "No automatic fix: rewrite the wrapped function with TF ops, or give it a gradient "
        "with `tf.custom_gradient`."
    )

    # Every NumPy wrapper but `tf.py_function`, which differentiates the TF ops its function runs.
    _ALWAYS = tuple(w for w in NUMPY_WRAPPERS if w != "tensorflow.py_function")

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.imports.resolve(node.func)
        if qualified not in self._ALWAYS and qualified != "tensorflow.py_function":
            return
        b = bind(node.args, ["func", "inp", "Tout", "stateful", "name"])
        if not b or "inp" not in b or not on_path_with_tensor(self, node, [b["inp"]], runs_in_graphs=True):
            return
        if self.context.under_gradient_override(node):
            return  # `with g.gradient_override_map({"PyFunc": name}):`: the op has the gradient registered as `name`
        if self._integer_outputs(b.get("Tout")):
            return  # indices out of a matching or a lookup (`Tout=[tf.int32, tf.int32]`): no gradient to lose
        function = qualified.replace("tensorflow.", "tf.")
        if qualified in self._ALWAYS:
            consequence = "it has no gradient, so everything upstream gets None"
        elif self._uses_numpy(b.get("func")):
            consequence = "its Python function converts to NumPy, so the gradient is None"
        else:
            return
        self.report(node, self.message.format(function=function, consequence=consequence))

    def _integer_outputs(self, tout: Optional[cst.BaseExpression]) -> bool:
        """Every output dtype the call declares is an integer or bool."""
        if tout is None:
            return False
        dtypes = [e.value for e in tout.elements] if isinstance(tout, (cst.List, cst.Tuple)) else [tout]
        names = [self.context.imports.dtype_name(d) for d in dtypes]
        return bool(names) and all(n is not None and (is_integer_dtype(n) or n == "bool") for n in names)

    def _uses_numpy(self, func: Optional[cst.BaseExpression]) -> bool:
        if isinstance(func, cst.Name):
            func = self.context.analysis.functions.get(func.value)
        if func is None:
            return False
        imports = self.context.imports
        return any(
            isinstance(node, cst.Call) and (
                is_host_copy(node) or (imports.resolve(node.func) or "").startswith("numpy."))
            for node in descendants(func)
        )
