"""TGF203: `tf.Variable` attributes that Keras 3 does not track."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.layer_state import VARIABLE, is_false, keyword_value, stored_on
from tfgradfix.fixes.edits import Fix
from tfgradfix.fixes.literals import is_integer_literal
from tfgradfix.fixes.weights import WeightTranslator
from tfgradfix.rules.base import Rule

class UntrackedVariableAttribute(Rule):
    code = "TGF203"
    name = "untracked-variable-attribute"
    summary = "`self.x = tf.Variable(...)` (or in a list/dict) in a Keras 3 `Layer`/`Model`"
    message = "`self.{attr}` holds a `tf.Variable`: Keras 3 does not track it, so it is not in `trainable_variables` and never trains"
    triggers = ("Variable(",)
    what = (
        "Finds `tf.Variable(...)` stored on a Keras layer or model outside its forward pass "
        "(`__init__`, `build`, helpers they call): `self.w = tf.Variable(...)`, and variables kept in "
        "a list or dict on the layer (`self.ws = [tf.Variable(...) for ...]`, "
        "`self.ws.append(tf.Variable(...))`). A class is a Keras layer or model through any "
        "chain of base classes of the project, across modules (a subclass in `models.py` of a "
        "Keras base in `base.py`)."
    )
    why = (
        "Keras 3 (`tf.keras` from TensorFlow 2.16) tracks only the variables it creates itself "
        "(`add_weight`, `keras.Variable`). A `tf.Variable` attribute is invisible: "
        "`len(layer.trainable_variables) == 0`, `model.fit` never updates it, `model.save` does "
        "not store it, and nothing warns. TF 2.0-2.15 tutorials wrote layers exactly this way, "
        "so legacy code moved to TF >= 2.16 silently stops training."
    )
    example = (
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim):\n"
        "        super().__init__()\n"
        "        self.w = tf.Variable(tf.random.normal((input_dim, units)), name=\"w\")\n"
        "        self.b = tf.Variable(tf.zeros((units,)))\n"
    )
    fixed_example = (
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim):\n"
        "        super().__init__()\n"
        "        self.w = self.add_weight(name=\"w\", shape=(input_dim, units), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))\n"
        "        self.b = self.add_weight(shape=(units,), initializer=\"zeros\")\n"
    )
    fix_safety = (
        "Safe: the same shape, dtype, trainability and name, and an initializer with the same "
        "distribution as the initial value (`tf.random.normal` -> `RandomNormal` with its mean "
        "and stddev spelled out, `tf.zeros` -> \"zeros\", literals and `tf.fill` -> `Constant`, "
        "`init(shape)` -> `init`). When the shape cannot be read from the code (a NumPy array, "
        "a tensor from elsewhere) the finding has no fix.\n\n"
        "Only for Keras 3. A project on Keras 2 (it imports `tf_keras`, or sets "
        "`TF_USE_LEGACY_KERAS=1`) tracks these variables; files that import `tf_keras` or name "
        "`TF_USE_LEGACY_KERAS` are skipped, and `--ignore TGF203` turns the rule off everywhere."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if context.imports.resolve(node.func) not in VARIABLE or scope.keras_class is None:
            return
        if scope.forward or scope.keras_class.legacy or context.analysis.legacy_keras:
            return  # in call: TGF201/TGF202's business
        attr = stored_on(context, node)
        if attr is None:
            return
        trainable_integer = (node.args and node.args[0].keyword is None and is_integer_literal(node.args[0].value)
                             and not is_false(keyword_value(node, "trainable")))
        fix = None if trainable_integer else self._fix(node, attr)  # TGF206 first: an int weight cannot train
        self.report(node, self.message.format(attr=attr), fix)

    def _fix(self, node: cst.Call, attr: str) -> Optional[Fix]:
        context = self.context
        assign = context.parent(node)
        statement = context.parent(assign)
        direct = (isinstance(assign, cst.Assign) and assign.value is node
                  and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1)
        initial = f"initial_{attr.lstrip('_')}" if direct else None
        weight = WeightTranslator(context.imports).from_variable(node, initial=initial)
        if weight is None:
            return None
        if weight.prelude is None:
            return Fix.replace(node, weight.add_weight(), "Create it with `self.add_weight`")
        prelude = weight.prelude.with_changes(leading_lines=statement.leading_lines)
        rest = statement.with_changes(leading_lines=[], body=[assign.with_changes(value=weight.add_weight())])
        return Fix.replace(statement, cst.FlattenSentinel([prelude, rest]), "Create it with `self.add_weight`")
