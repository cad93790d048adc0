"""TGF210: a weight made by calling an initializer: a constant tensor that never trains."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.initializers import InitializerWeight, initializer_weights
from tfgradfix.fixes.edits import Fix, keyword_arg
from tfgradfix.rules.base import Rule

# Where `self.add_weight(...)` can replace the constant: Keras creates weights there.
_SETUP_METHODS = ("__init__", "build")


class InitializerAsWeight(Rule):
    code = "TGF210"
    name = "initializer-as-weight"
    summary = "a weight made by calling an initializer: a constant tensor that never trains"
    message = ("`self.{attr}` is {made}: a constant tensor, not a variable. `{method}` uses it as a weight, "
               "but Keras does not track it and no tape records it, so it never trains")
    triggers = ("initializer", "Initializer", "random.normal", "random.uniform", "random.truncated_normal")
    what = (
        "Finds an attribute of a Keras layer or model made by calling an initializer outside the "
        "forward pass (`self.W = init((n, m))` with `init = tf.keras.initializers.GlorotUniform()`, "
        "`self.W = tf.keras.initializers.GlorotUniform()((n, m))`, an initializer stored on `self` "
        "or from `initializers.get(...)`, `tf.random_normal_initializer()(shape)`, a helper of the "
        "module or of another project module every return of which is such a call: `self.W = "
        "glorot((n, m))` with `glorot` in `inits.py`), or drawn with "
        "`tf.random.normal`/`uniform`/`truncated_normal` under a weight's name (`W`, `w_*`, `kernel`, "
        "`*_weight`). Evidence needed: a forward method of the class (or a helper it reaches) uses "
        "the attribute as a weight, in a product, `matmul`, `tensordot`, `einsum` or convolution "
        "with a value that carries a gradient (the layer's input), or, for an initializer's value, "
        "in a bias addition; and nothing in the module makes it a variable (no other assignment of "
        "the attribute, no `tf.Variable(self.W)`, `add_weight(...)` or `.assign` given it, no "
        "`tape.watch` of it). An initializer's value handed to `tf.Variable` or `add_weight` is the "
        "right way and is not reported; a random draw under another name (fixed random features, "
        "a random projection kept constant on purpose) is not reported either."
    )
    evidence = (
        "A forward method of the class (or a helper it reaches) uses the attribute as a weight with a value "
        "that carries a gradient (a product, `matmul`, `tensordot`, `einsum`, a convolution; for an "
        "initializer's value, also a bias addition), and nothing in the module makes it a variable (no other "
        "assignment, no `tf.Variable(self.W)`, `add_weight`, `.assign` or `tape.watch` of it). A random draw "
        "counts only under a weight's name, and not where a forward method multiplies it by a trained weight "
        "(`w_mu + w_sigma * w_epsilon`: the noise of a learned distribution)."
    )
    why = (
        "An initializer, called, returns a tensor with the right distribution, not a variable. "
        "The layer computes with that constant on every step: "
        "`layer.trainable_variables` does not list it, `tape.gradient` has nothing to return for "
        "it, `model.fit` never changes it (or fails with `No gradients provided for any variable` "
        "when it was the only weight), and `model.save` does not store it."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim):\n"
        "        super().__init__()\n"
        "        init = tf.keras.initializers.GlorotUniform()\n"
        "        self.W = init((input_dim, units))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.W)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim):\n"
        "        super().__init__()\n"
        "        init = tf.keras.initializers.GlorotUniform()\n"
        "        self.W = self.add_weight(shape=(input_dim, units), initializer=init)\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.W)\n"
    )
    fix_safety = (
        "Safe where offered: `self.W = init(shape)` becomes `self.add_weight(shape=shape, "
        "initializer=init)` (with its `dtype=`), so the weight starts from the same initializer, "
        "is tracked, trained and saved, and the forward pass computes the same function of its "
        "value. Offered only for an initializer's call written in `__init__` or `build` itself "
        "with a shape and at most a dtype; a value made in a helper, through another name, or "
        "drawn with `tf.random.*` (whose distribution `add_weight` would spell differently) is "
        "reported without a fix."
    )

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        analysis = self.context.analysis
        cls = analysis.keras_classes.get(node)
        if cls is None:
            return
        for found in initializer_weights(analysis, cls):
            made = ("made by calling an initializer" if found.made_by == "initializer"
                    else "a random draw (`tf.random.*`)")
            message = self.message.format(attr=found.attr, made=made, method="call")
            fix = _fix(found)
            if fix is None:
                message += " (no fix: create it with `self.add_weight(shape=..., initializer=...)`)"
            self.report(found.value, message, fix, scope=analysis.scopes.get(found.method))


def _fix(found: InitializerWeight) -> Optional[Fix]:
    """`self.add_weight(shape=..., initializer=<init>, dtype=...)` for `<init>(shape, dtype=...)`."""
    if found.made_by != "initializer" or found.initializer is None or found.assign.value is not found.value:
        return None
    if found.method.name.value not in _SETUP_METHODS:
        return None
    args = found.value.args
    if any(a.star for a in args):
        return None
    positional = [a for a in args if a.keyword is None]
    keywords = {a.keyword.value: a.value for a in args if a.keyword is not None}
    if len(positional) > 2 or set(keywords) - {"shape", "dtype"}:
        return None
    shape = positional[0].value if positional else keywords.get("shape")
    dtype = positional[1].value if len(positional) > 1 else keywords.get("dtype")
    if shape is None or (len(positional) > 1 and "dtype" in keywords):
        return None
    new_args = [keyword_arg("shape", shape), keyword_arg("initializer", found.initializer)]
    if dtype is not None:
        new_args.append(keyword_arg("dtype", dtype))
    replacement = cst.Call(func=cst.Attribute(cst.Name("self"), cst.Name("add_weight")),
                           args=_with_commas(new_args))
    return Fix.replace(found.value, replacement, f"Create `self.{found.attr}` with `self.add_weight`")


def _with_commas(args: list[cst.Arg]) -> list[cst.Arg]:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [a.with_changes(comma=comma) for a in args[:-1]] + args[-1:]
