"""TGF106: `model.predict` where a tensor is needed."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from tfgradfix.analysis.callers import result_trained
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.sources import block_objects, enclosing_blocks, related
from tfgradfix.analysis.objects import Kind, describe
from tfgradfix.fixes.edits import Fix, keyword_arg
from tfgradfix.rules.base import Rule


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
        "without a fix. Also in a helper the tape (or a layer) calls, when the helper's result "
        "reaches that caller's loss and, where the tape names its sources "
        "(`tape.gradient(loss, q_net.trainable_variables)`), the model the caller passes is "
        "among them: a DQN helper predicting with the target network, or one whose "
        "predictions are only printed, is not reported. In a loss handed to "
        "`model.compile(loss=...)`, when `predict` runs on the prediction (`y_pred`): "
        "features of the targets need no gradient."
    )
    evidence = (
        "The receiver is known to be a Keras model or layer: made from a Keras class, returned by a module "
        "function that makes one, passed in by the module's callers, or `.fit`/`.compile`d; a class with its "
        "own `predict` is not. A receiver of unknown kind counts only where the tape around it names its "
        "variables as sources (`tape.gradient(loss, model.trainable_variables)`): the TF Object Detection "
        "API's `model.predict(images, shapes)` returns tensors; in a helper, one of unknown kind counts only when "
        "it is a parameter the callers' tapes train (an item of a list of the project's own layers, each with "
        "its own `predict`, is not). The result reaches the loss or the output. In "
        "a helper, a caller runs it in a tape or a layer and trains through its result, and where the tape "
        "names its sources, the model the caller passes is among them, and the call is not in a branch that runs "
        "only when the helper's training flag (`train=True` by default) is false while every taped call leaves "
        "it true. In a compiled loss, `predict` runs on `y_pred`."
    )
    why = (
        "`predict` runs its own loop over batches and returns a NumPy array, outside any tape: "
        "`tape.gradient` returns `None` for every weight."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])\n"
        "x, y = tf.random.normal((8, 3)), tf.random.normal((8, 1))\n"
        "with tf.GradientTape() as tape:\n"
        "    error = model.predict(x) - y\n"
        "    loss = tf.reduce_mean(error ** 2)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])\n"
        "x, y = tf.random.normal((8, 3)), tf.random.normal((8, 1))\n"
        "with tf.GradientTape() as tape:\n"
        "    error = model(x, training=False) - y\n"
        "    loss = tf.reduce_mean(error ** 2)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fix_safety = (
        "Safe, and offered only for a Keras model or layer: `model(x, training=False)` computes "
        "the same values as `predict` (inference mode) as a tensor the tape records. `batch_size` and `verbose` are dropped, and so "
        "are `steps=None` and `callbacks=None` (the defaults); calls with other arguments (a number of "
        "`steps`, `callbacks`, generators) are reported without a fix. The model may reach the "
        "call through a closure (`make_loss(model)` returning a function that predicts with it): "
        "what the factory's callers pass decides."
    )

    def visit_Call(self, node: cst.Call) -> None:
        callee = node.func
        if not (isinstance(callee, cst.Attribute) and callee.attr.value == "predict"):
            return
        context = self.context
        if context.imports.resolve(callee.value) is not None:
            return
        if not (context.in_tape or context.scope.is_keras_forward or self._trained_outside(node)):
            return
        if not context.reaches_output(node):
            return
        model = describe(context.scope, callee.value)
        if "predict" in model.methods or model.kind in (Kind.PLAIN, Kind.TF_MODULE):
            return  # its own `predict`, whatever that returns
        if not model.is_keras:
            # Unknown, and trained where the tape names it (`tape.gradient(loss, model.trainable_variables)`):
            # reported, without a fix (calling it may not work). Not otherwise: the TF Object Detection
            # API's `model.predict(images, shapes)` returns tensors, and its tapes list variables.
            # In a helper, the callers' tapes say the object is theirs only for one they pass in
            # (`_trained_outside` asked them): an item of a list of the project's own layers
            # (`for l in self.layers: l.predict(m, v)`) may define `predict` itself.
            receiver = callee.value
            passed = isinstance(receiver, cst.Name) and receiver.value in context.scope.parameter_names
            if context.scope.is_keras_forward or (
                    self._tape_trains(node, receiver) if context.in_tape else passed):
                self.report(node)
            return
        fix = None
        positional = [a for a in node.args if a.keyword is None]
        # `steps=None`, `callbacks=None`: the defaults, which a call on a tensor does not need
        extra = {a.keyword.value for a in node.args if a.keyword is not None
                 and not (a.keyword.value in ("steps", "callbacks") and m.matches(a.value, m.Name("None")))}
        if len(positional) == 1 and not positional[0].star and extra <= {"batch_size", "verbose"}:
            replacement = cst.Call(func=callee.value, args=[
                cst.Arg(positional[0].value),
                keyword_arg("training", cst.Name("False")),
            ])
            fix = Fix.replace(node, replacement, "Call the model instead of `predict`")
        self.report(node, fix=fix)

    def _tape_trains(self, node: cst.Call, receiver: cst.BaseExpression) -> bool:
        """Every tape around `node` differentiates the variables of `receiver` by name."""
        name = dotted_name(receiver)
        scope = self.context.scope
        blocks = enclosing_blocks(scope, node)
        return name is not None and bool(blocks) and all(
            (objects := block_objects(scope, b)) is not None and any(related(o, name) for o in objects)
            for b in blocks)

    def _trained_outside(self, node: cst.Call) -> bool:
        """Off a tape's body and a layer's `call`, where the result is still trained through: a
        loss handed to `compile` predicting on `y_pred`, or a helper whose result a tape (or a
        layer) differentiates, running a model that tape differentiates."""
        context = self.context
        scope = context.scope
        if not context.on_gradient_path:
            return False
        if scope.handed == "loss":
            return any(context.is_tainted(a.value) for a in node.args)
        return not scope.handed and scope.forward and result_trained(scope, node.func.value)
