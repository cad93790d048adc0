"""TGF101: NumPy functions applied to a tensor on the gradient path."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.fixes.arrays import ArrayToTensor
from tfgradfix.fixes.numpy_to_tf import NUMPY_DTYPES, INTEGER_RESULTS
from tfgradfix.analysis.values import numpy_data_arguments
from tfgradfix.rules.base import Rule
from tfgradfix.rules.numpy.base import (CONVERSIONS, SHAPE_ATTRIBUTES, SHAPE_ONLY, SIZES_ONLY, TENSOR_PRESERVING,
                                        numpy_function, on_path_with_tensor)


class NumpyCallOnTensor(Rule):
    code = "TGF101"
    summary = "`np.*` applied to a tensor on the gradient path"
    name = "numpy-call-on-tensor"
    message = "`np.{function}` on a tensor leaves TensorFlow: its gradient is None"
    # What reads only the shape loses no gradient; in a layer it still fails when traced.
    shape_only_message = "`np.{function}` on a tensor fails when `model.fit` or `tf.function` traces the layer (it reads only the shape, so eagerly no gradient is lost)"
    tested_message = "`np.{function}` of a tensor in a condition fails when `model.fit` or `tf.function` traces the layer (it only decides a branch, so eagerly no gradient is lost)"
    sizes_only_message = "`np.{function}` of a tensor fails when `model.fit` or `tf.function` traces the layer (it reads only sizes, so eagerly no gradient is lost)"
    triggers = ("numpy",)
    what = (
        "Finds NumPy functions (`np.dot`, `np.exp`, `np.sum`, ... under any alias, and names "
        "imported with `from numpy import ...`) applied to a tensor that carries a gradient, on "
        "the gradient path: a Keras layer's `call`, what it calls in the same module or in other "
        "modules of the project (a NumPy helper in `ops.py` called from a layer in `layers.py` is "
        "reported in `ops.py`; helpers, "
        "functions nested in it, the closure a factory returns: `loss_fn = make_loss(3)`, also "
        "when it is bound in an enclosing function, as in `main()` around a nested `train_step`; "
        "any method of a Keras model of the project that a tape calls, `self.actor.sample_normal(s)`), "
        "loss functions handed to `model.compile(loss=...)` (their `y_pred`), functions handed "
        "to `keras.layers.Lambda`, `tf.map_fn` and `tf.vectorized_map`, and the body of a "
        "`tf.GradientTape` block. A tensor the tape watches (`tape.watch(x)`) carries a "
        "gradient from the watch on, whatever it was bound to before (a constant, an input "
        "converted with `tf.convert_to_tensor`). Tensors keep their gradient through lists, tuples and dicts "
        "(`outs = [m(x) for m in models]`, `for out, y in zip(outs, ys)`, `sum(...)`). NumPy on "
        "constants and static shapes (`np.sqrt(self.units)`, `np.prod(input_shape[1:])`) is not "
        "reported, nor are `np.flip`/`np.trim_zeros` (they index the tensor, which keeps its "
        "gradient), nor is NumPy whose result is only logged, NumPy in a tape whose value only "
        "feeds a result that has no gradient anyway (an action drawn with "
        "`np.random.choice(n, p=np.squeeze(probs))`) or only comes from models whose variables "
        "the tape's `tape.gradient` sources do not list (a DQN target network's `np.amax` when "
        "the sources are `model.trainable_variables`), the bodies of functions handed to "
        "`tf.numpy_function`/`tf.py_function` (NumPy by contract), `tf.custom_gradient` "
        "functions, and layers of a test module used only under `pytest.raises`/`assertRaises`."
    )
    evidence = (
        "No comment on the line, or on the line above, says the cut is meant (`# to stop recording`, `# "
        "detached on purpose`; a question does not count): the author's word is evidence too, for TGF101-104. "
        "Upstream, a gradient the code wants: a trainable weight the value is computed from (the layer's "
        "weights or sub-layers, a model the tape calls, a variable a `tape.gradient` differentiates) or a "
        "layer input or watched tensor. A `tape.watch` counts only inside its tape's block; a function's own "
        "`tf.Variable` that its tapes do not differentiate and that does not leave it is no source; a model "
        "call whose output is detached at once (`.numpy()`, `float`, any NumPy function), also after TF ops on that "
        "output alone (`tf.reduce_max(model(s2)).numpy()`), while the same model is also called undetached is a "
        "bootstrap "
        "target, not a source; in a tape, a value computed before the tape opened is a constant to it (an advantage "
        "computed before the actor's tape), and of `a, b = helper(x)` each name carries what the helper's own "
        "returned item carries (an action drawn with `np.argmax` beside the probabilities), as of `q, tau = "
        "self.model(s)` with a model class of the same module (quantile fractions it draws with NumPy). Between: a value the value model (`analysis/values.py`) does not show to be an"
        " integer or boolean tensor, a Python number or string, shape metadata (`x.shape`, a distribution's "
        "`event_shape`, Keras 2's "
        "`x._keras_shape`, `K.int_shape(x)`), already a NumPy array "
        "(`model.predict(x)`), integer positions (`x.nonzero()`, also once the name is rebound from them), "
        "data in an `isinstance(x, list)` branch or the `else` of `isinstance(x, Iterable)` (a tensor is iterable), "
        "or the input of a weightless preprocessing layer (one that defines `adapt`, Keras's protocol for "
        "layers fitted to the dataset, or takes strings, paths or images). Downstream: the result reaches the"
        " layer's output, the `tape.gradient` target or a loss given to `add_loss`, and not only as an item of a "
        "dict that the code only fills, returns or prints (loss terms to log), nor as a NumPy copy the code "
        "writes targets into and subtracts from the tensor itself or hands with it to a loss (a DQN's `q_target - "
        "q`, `mse(q_target, q)`); a helper's result counts only where a caller uses it toward its output (a "
        "score helper called in the tape whose results are only appended to logs is not reported; callers in "
        "other modules, Keras, or the function passed as a value count as using it); a tape that is never asked "
        "for a gradient nor handed on records nothing (a validation step written with `tf.GradientTape`); a "
        "`tape.gradient` target whose name is bound again elsewhere depends only on the binding that reaches the "
        "call (`loss = np.mean(losses)` after the epoch, to print, is not on the path); in a tape (outside a "
        "Keras layer), not only a result that has no gradient anyway (also across statements: `logits = "
        "np.log(probs)` read only by `np.argmax(logits + noise)`), nor only values from models the tape's "
        "sources leave out. NumPy that reads only the shape (`np.zeros_like`) loses no gradient: outside a "
        "layer it is silent, in a layer's `call` the finding says it fails when traced; `np.shape` and "
        "`np.ndim`, which return the tensor's own `.shape` and `.ndim` and work when traced, are never "
        "reported. A forward method is "
        "on the path only where it runs while training: not a branch taken when its training flag is false "
        "(`if not training:`, the `else` of `if training:`) where the flag defaults to `True` or has no default "
        "(`analysis/training_mode.py`), and not a model's `call` when its own `train_step` differentiates its "
        "sub-layers in a tape without running the model, or when it replaces `fit` (or trains itself with an "
        "optimizer it keeps, `self.optimizer.apply_gradients` in its own `step`) and no tape of its methods "
        "runs the model (itself, `self.call`, or a method of it that does: a k-means head whose `fit` "
        "differentiates only its centroids); nor a helper's branch under an option every call a tape records gives the same literal, in "
        "its module or another (`if to_numpy:` where every taped call passes `to_numpy=False`). In a layer, "
        "NumPy in the body of a `try` that catches any error and feeding no gradient (a shape probe) is "
        "silent: tracing fails into the handler. NumPy only in an `if`/`while` condition of a layer is reported "
        "as failing when traced (no gradient is lost there), and not at all in a class that makes Keras run it "
        "eagerly (`run_eagerly=True` in its own `compile`, or `self.run_eagerly = True`), which `fit` never "
        "traces. A name a `Lambda`'s function unpacks from its argument is "
        "data where every construction applies the layer to a list holding a model `Input` at that place. "
        "Any NumPy function (`np.max`) detaches a bootstrap target. Only a NumPy function's data arguments "
        "count (`np.tile`'s reps, `np.repeat`'s count, `np.take`'s indices are not data), and NumPy of what is "
        "already NumPy, Python numbers or integers (also lists of them, and a list only filled with `.append` "
        "of them), of `keras.ops.convert_to_numpy`, or of a new array from sizes (`np.arange(h)`), detaches "
        "nothing. An input a branch says is not a tensor (`if not tf.is_tensor(edges):`, also through a flag "
        "bound to that test, or an item `attrs[i]`) is data there, and what is computed from it too (NumPy in, "
        "NumPy back out); in a helper, such a branch on a parameter (`input_is_tensor = isinstance(x, tf.Tensor)`, "
        "`if not input_is_tensor:`) is off the path where every taped call, here or in another module, passes a "
        "TF op's result for it, or data that carries no gradient. A helper called only from other modules, none "
        "of which feeds its result into what it differentiates, is as one whose result no caller uses. "
        "A weightless layer (its project bases too) holding no layers whose lineage overrides "
        "`__call__` to hand Python inputs to `call` is a preprocessor. Where any of this is unknown, no finding."
    )
    why = (
        "NumPy converts the tensor to an array, so the tape records nothing. Eagerly the "
        "gradient is silently `None` (or the upstream layers stop training with only a warning "
        "`Gradients do not exist for variables`). Under `model.fit` or `tf.function` it raises "
        "`NotImplementedError: Cannot convert a symbolic tf.Tensor to a numpy array`."
    )
    example = (
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Softmax(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return np.exp(inputs) / np.sum(np.exp(inputs), axis=-1, keepdims=True)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Softmax(tf.keras.layers.Layer):\n"
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
        "\n\nWhat a fix writes is proven from the module's imports: `tf.*` only where `tf` is certainly TensorFlow on every path the module runs (`try: import tensorflow as tf` / `except ImportError: tf = None` is not); Keras 3 code that does not import TensorFlow gets `keras.ops`, spelled as the module spells it (`ops.sum`), and never a new `import tensorflow as tf`; a module that imports neither gets that import only when the fix writes `tf.`. Where no framework is certain (TensorFlow or Keras bound under a `try`/`if` only, or imported only inside functions) the finding has no fix and the message says why."
    )

    def visit_Call(self, node: cst.Call) -> None:
        function = numpy_function(self, node)
        if function is None or function in CONVERSIONS or function in TENSOR_PRESERVING or function in SHAPE_ATTRIBUTES:
            return
        if (function in SHAPE_ONLY or function in SIZES_ONLY) and not self.context.scope.is_keras_forward:
            return
        if not on_path_with_tensor(self, node, numpy_data_arguments(function, node)):
            return
        arrays = ArrayToTensor(self.context)
        translator = arrays.translator

        def translate(call_node: cst.Call) -> Optional[cst.BaseExpression]:
            if function in NUMPY_DTYPES:
                return translator.scalar_type(function, call_node.args)
            return translator.translate(function, call_node.args)

        fix = None
        message = (self.shape_only_message if function in SHAPE_ONLY else self.sizes_only_message
                   if function in SIZES_ONLY else self.tested_message if self.context.only_tested(node)
                   else self.message).format(function=function)
        if translate(node) is not None:
            written = "TensorFlow" if arrays.target.tf is not None else "`keras.ops`"
            fix = arrays.fix(node, translate, f"Replace `np.{function}` with its {written} equivalent",
                             integer_result=function in INTEGER_RESULTS)
        elif arrays.reason is not None:
            message += f" (no fix: {arrays.reason})"
        self.report(node, message, fix)
