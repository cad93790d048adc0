"""TGF3 — the gradient is blocked between the weights and the output.

Both rules ask the same question with the shared data flow run twice: does an
output (a forward method's return value, a `tape.gradient` target) depend on
the trainable weights, and does it still when these ops pass no gradient? Only
when the answer flips is an op reported, so a straight-through estimator
(`x + tf.stop_gradient(q - x)`), a stop_gradient on targets, or an argmax used
to select values with `tf.gather` stays unreported: another path carries the
gradient. The layer's own inputs are not counted as sources, so a weightless
`StopGradient` layer is left alone. TGF301 also asks it for each weight of a layer on its
own (`Blocking.only`): a stop_gradient that freezes one projection while the others train;
both rules ask it for each sub-layer of a model with several outputs (an auxiliary head put
under stop_gradient or through argmax), and TGF301 asks it, in a tape, for the models a
`tape.gradient` differentiates (`analysis/sources.py`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import Blocking, is_python_test, tainted_parameters, walk_scope
from tfgradfix.analysis.integer_tensors import LENGTH_OPERANDS
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.layer_state import assigned_attributes, declared_untrainable
from tfgradfix.analysis.no_gradient_ops import NO_GRADIENT
from tfgradfix.analysis.objects import describe
from tfgradfix.analysis.rebinding import tainted_at
from tfgradfix.analysis.tapes import find_tape_blocks
from tfgradfix.analysis.values import carries_no_gradient
from tfgradfix.analysis.sources import (
    bound_value, called_objects, enclosing_blocks, excluding_others, gradient_objects, handed_inference_models,
)
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.vocabulary import MODEL_VARIABLE_LISTS
from tfgradfix.fixes.edits import Applicability, Fix
from tfgradfix.fixes.numpy_to_tf import bind
from tfgradfix.rules.base import Rule

_STOP_GRADIENTS = ("stop_gradient", "StopGradient")
# Results that carry no gradient even with the flags below off: shapes and sizes.
_METADATA = frozenset({"shape", "shape_n", "size", "rank", "ndim", "is_tensor", "zeros_like", "ones_like"})
_NON_DIFFERENTIABLE = {
    "argmax": "select values with `tf.gather`/`tf.experimental.numpy.take_along_axis`, or use a soft "
              "choice (softmax, Gumbel-softmax)",
    "argmin": "select values with `tf.gather`, or use a soft choice (softmax of the negated values)",
    "top_k": "use the values rather than `.indices`, or a soft choice (softmax)",
    "round": "use a straight-through estimator: `x + tf.stop_gradient(tf.round(x) - x)`",
    "floor": "use a straight-through estimator: `x + tf.stop_gradient(tf.floor(x) - x)`",
    "ceil": "use a straight-through estimator: `x + tf.stop_gradient(tf.math.ceil(x) - x)`",
    "sign": "use a straight-through estimator (`x + tf.stop_gradient(tf.sign(x) - x)`) or `tf.tanh`",
    "cast": "keep a float dtype on the gradient path, or use a straight-through estimator",
    "comparison": "use a soft version (`tf.sigmoid((a - b) / temperature)`) or a straight-through "
                  "estimator",
}
# For TensorFlow's own list (analysis/no_gradient_ops.py), by why it has no gradient.
_ADVICE_BY_REASON = {
    "integer or boolean result": "its result is integer or boolean (indices, counts, a mask): use it to "
                                 "select values (`tf.gather`, `tf.where(mask, a, b)`) rather than as a value, "
                                 "or use a soft version",
    "registered NotDifferentiable": "TensorFlow registers it as not differentiable: use a differentiable "
                                    "relaxation or a straight-through estimator",
    "gradient registered as None": "TensorFlow registers a None gradient for it: use a differentiable "
                                   "relaxation or a straight-through estimator",
}
# How many callers up a helper's cut is followed (a helper of a helper of `call`).
_CALLER_DEPTH = 3
_COMPARISON_OPS = frozenset({"Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual"})


class _CutRule(Rule):
    """An op whose removal from the gradient's way would let the output reach the weights."""

    baseline: ClassVar[Blocking]
    cut: ClassVar[Blocking]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._assigned: Optional[set[str]] = None
        self._asserts_none: Optional[bool] = None

    def _cuts_every_path(self, node: cst.CSTNode, operand: Optional[cst.BaseExpression]) -> bool:
        context = self.context
        if operand is None or not context.on_gradient_path or not context.reaches_output(node):
            return False
        scope = context.scope
        baseline = scope.analyse(self.baseline)
        if not baseline.is_tainted(operand):
            return False  # targets, labels, constants: no weight reaches them
        if self._only_from_frozen_models(scope, operand):
            return False  # only a network the class is handed and runs with training=False: a teacher
        if carries_no_gradient(baseline, operand):
            return False  # an integer or boolean operand (sampled indices, indicator masks): nothing to cut
        if not scope.analyse(self.cut).is_tainted(operand):
            return False  # an op upstream already cuts every path to the operand: that one is the cut
        if not self._output_cut(scope):
            return False
        return self._cut_for_callers(scope)

    def _cut_for_callers(self, scope, depth: int = 0) -> bool:
        """Whether a cut of `scope`'s output reaches a forward method, a tape, a compiled loss
        or a Lambda between layers. A helper's parameters carry whatever its callers pass, so
        the cut must also reach what every caller returns, up to one of those: `x + freeze(q - x)`
        is a straight-through estimator written with a helper, and a padding mask that a helper
        of a helper makes from a model's token ids cuts no weight's path."""
        if scope.is_forward_entry or not scope.forward:
            return True
        if scope.handed == "loss" or scope.between_layers:
            return True  # the model's weights reach it: a loss `compile` trains, a Lambda between layers
        callers = [caller for caller, _ in self.context.analysis.callers_of(scope) if caller is not scope]
        return bool(callers) and depth < _CALLER_DEPTH and all(
            self._output_cut(caller) and self._cut_for_callers(caller, depth + 1) for caller in callers)

    def _only_from_frozen_models(self, scope, operand: cst.BaseExpression) -> bool:
        """Whether only models the class is handed and runs in inference mode reach `operand`
        (`analysis/sources.handed_inference_models`); a helper's parameters count as far as its
        callers pass it what a weight reaches, not the forward method's inputs."""
        frozen = handed_inference_models(scope)
        if not frozen:
            return False
        blocking = self.baseline.excluding(frozen)
        if not scope.is_forward_entry and isinstance(scope.node, cst.FunctionDef):
            callers = [(c, call) for c, call in self.context.analysis.callers_of(scope) if c is not scope]
            if not callers:
                return False
            kept: set[str] = set()
            for caller, call in callers:
                kept |= tainted_parameters(scope.node, call, caller.analyse(blocking))
            blocking = replace(blocking, parameters_kept=frozenset(kept))
        return not scope.analyse(blocking).is_tainted(operand)

    def _sources_cut(self, node: cst.CSTNode, operand: Optional[cst.BaseExpression]) -> Optional[str]:
        """In a tape, the sources of a `tape.gradient` (models' variables) whose every path
        to its target goes through `node`, while other models still reach it: a DDPG actor
        step that stops the actor's own output. Their code, or None."""
        context = self.context
        if operand is None or not context.in_tape or not context.reaches_output(node):
            return None
        scope = context.scope
        for block in enclosing_blocks(scope, node):
            for gradient in block.gradients:
                objects = gradient_objects(scope, gradient.sources)
                baseline = excluding_others(scope, objects, self.baseline) if objects is not None else None
                if baseline is None:
                    continue
                before, after = scope.analyse(baseline), scope.analyse(excluding_others(scope, objects, self.cut))
                if before.is_tainted(operand) and before.is_tainted(gradient.target) and not after.is_tainted(
                        gradient.target):
                    return context.analysis.module.code_for_node(gradient.sources)
        return None

    def _output_cut(self, scope) -> bool:
        baseline, cut = scope.analyse(self.baseline), scope.analyse(self.cut)
        if any(cut.is_tainted(loss) for loss in cut.added_losses):
            return False  # the weights still train through a loss handed to `add_loss` (a VQ codebook)
        asked = self._asked_for(scope)
        # The returns of a method are one output on different paths: where one of them still
        # trains (`return logits` beside an inference-time `return tf.argmax(logits)`), the
        # op cuts no path the weights need.
        returned = [n.value for n in walk_scope(scope.body) if isinstance(n, cst.Return) and n.value is not None]
        entry = scope.tainted_params if self.baseline.parameters or not scope.is_forward_entry else set()
        if any(tainted_at(baseline, r, entry) and tainted_at(cut, r, entry) for r in returned):
            returned_ids = {id(r) for r in returned}
        else:
            returned_ids = set()
        for sink in baseline.sink_expressions:
            if id(sink) in returned_ids:
                continue
            # Read where it is used: `flows = tf.floor(flows * k); return flows` returns the floor.
            cut_off = tainted_at(baseline, sink, entry) and not tainted_at(cut, sink, entry)
            by_name, blockings = asked.get(sink, (False, None))
            if blockings is None:
                # Sources unknown: the cut counts only where no method of an object the
                # analysis cannot see into (`self.net.critic(s, a)`) reaches the target around it.
                if cut_off and (scope.is_keras_forward
                                or not tainted_at(scope.analyse(replace(self.cut, unknown_calls=True)), sink, entry)):
                    return True
                continue
            # A `tape.gradient` asks for some variables only: the cut counts when it takes the
            # target away from them, as far as the code shows that they reach it. Variables
            # listed by name are judged on their own, whatever else reaches the target.
            # A method of the differentiated model itself (`self.actor.get_log_prob(obs, acts)`) may
            # run its weights: the cut counts only where none reaches the target around it.
            if (by_name or cut_off) and any(
                    scope.analyse(before).is_tainted(sink) and not scope.analyse(after).is_tainted(sink)
                    and (by_name or scope.is_keras_forward
                         or not scope.analyse(replace(after, unknown_calls=True)).is_tainted(sink))
                    for before, after in blockings):
                return True
        return False

    def _asked_for(self, scope) -> dict:
        """Targets of the scope's `tape.gradient` calls whose sources are known, and the
        (baseline, cut) blockings that see only those sources: `self.<attr>` variables listed
        by name (`tape.gradient(alpha_loss, [self.log_alpha])`), or models' variables
        (`self.actor.trainable_variables`, where other models called are constants)."""
        asked = {}
        for block in find_tape_blocks(scope, self.context.imports):
            for gradient in block.gradients:
                sources = gradient.sources
                if isinstance(sources, cst.Name) and scope.flow is not None:
                    # `variables = [self.log_alpha]` above `tape.gradient(loss, variables)`
                    bound = bound_value(scope, scope.flow, sources)
                    if isinstance(bound, (cst.List, cst.Tuple)):
                        sources = bound
                elements = ([e.value for e in sources.elements] if isinstance(sources, (cst.List, cst.Tuple))
                            else [sources])
                attrs = [self_attribute(e) for e in elements if e is not None]
                if attrs and all(a is not None and a not in MODEL_VARIABLE_LISTS for a in attrs):
                    asked[gradient.target] = (True, [(self.baseline.only(a), self.cut.only(a)) for a in attrs])
                    continue
                objects = gradient_objects(scope, sources)
                if objects:
                    before = excluding_others(scope, objects, self.baseline) or self.baseline
                    after = excluding_others(scope, objects, self.cut) or self.cut
                    asked[gradient.target] = (False, [(before, after)])
        return asked

    def _qualified(self, node: cst.Call) -> Optional[str]:
        return self.context.imports.resolve(node.func)

    def _frozen_on_purpose(self, cls) -> bool:
        """A layer of a test, or of a module that asserts a gradient is None: frozen to check that."""
        if self._asserts_none is None:
            self._asserts_none = any(_asserts_none(n) for n in descendants(self.context.analysis.module))
        return self._asserts_none or _in_a_test(self.context, cls)

    def _updated_by_code(self, cls, weight: str, entry) -> bool:
        """Set by code rather than by gradients (a target network, an EMA, power iteration:
        assigned in the module or declared `trainable=False`), or read by a method `entry` does
        not run (`train_step`, a custom loss: a path to the loss this flow does not see)."""
        if self._assigned is None:
            self._assigned = assigned_attributes(self.context.analysis.module)
        return (weight in self._assigned or declared_untrainable(cls, weight, self.context.imports)
                or _read_outside(self.context, cls, weight, entry))

    def _parts_behind(self, node: cst.CSTNode, operand: Optional[cst.BaseExpression], weights: bool) -> list[str]:
        """The sub-layers (and, with `weights`, the weights) of a layer returning several
        outputs whose every path goes through the cut ops, into an output that nothing else
        reaches either, while other outputs still train: a second head under stop_gradient,
        an output put through argmax. An output that stops a target (`return p,
        tf.stop_gradient(z)` with `z` also feeding `p`) keeps its parts reaching `p`."""
        context = self.context
        scope = context.scope
        cls = scope.keras_class
        if operand is None or cls is None or not scope.is_forward_entry or not context.reaches_output(node):
            return []
        outputs = _outputs(scope)
        baseline, cut = scope.analyse(self.baseline), scope.analyse(self.cut)
        dead = [o for o in outputs if baseline.is_tainted(o) and not cut.is_tainted(o)]
        if not dead or not any(cut.is_tainted(o) for o in outputs) or self._frozen_on_purpose(cls):
            return []
        parts = [p for p in sorted(called_objects(scope)) if p.count(".") == 1 and p.startswith("self.")]
        candidates = [p[len("self."):] for p in parts if _only_called(context, p[len("self."):])]
        candidates = [p for p in candidates if not cls.is_weight(p)
                      and describe(scope, cst.Attribute(cst.Name("self"), cst.Name(p))).is_keras]
        if weights:
            candidates += sorted({w for owner in cls.lineage() for w in owner.weights})
        found = []
        for part in candidates:
            before, after = scope.analyse(self.baseline.only(part)), scope.analyse(self.cut.only(part))
            if not before.is_tainted(operand) or not any(before.is_tainted(o) for o in dead):
                continue
            if any(after.is_tainted(s) for s in after.sink_expressions):
                continue
            if cls.is_weight(part) and self._updated_by_code(cls, part, scope):
                continue
            found.append(part)
        return found


def _operand(call: cst.Call) -> Optional[cst.BaseExpression]:
    bound = bind(call.args, ["input", "dtype", "name"]) or {}
    if "input" in bound:
        return bound["input"]
    for keyword in ("x", "value", "values", "inputs", "variable"):
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == keyword:
                return arg.value
    return call.args[0].value if call.args and not call.args[0].star else None


class StopGradientOutput(_CutRule):
    code = "TGF301"
    name = "stop-gradient-output"
    summary = "`tf.stop_gradient` that cuts every path from the weights, or from one weight, to the output"
    message = "`{function}` cuts every path from the trainable weights to the {sink}: their gradients are None"
    weight_message = ("`{function}` cuts every path from {weights} to the {sink}, while other weights still "
                      "reach it: the gradient for {weights} is None, so it never trains")
    sources_message = ("`{function}` cuts every path from the tape's sources (`{sources}`) to the loss, while "
                       "other models still reach it: their gradients are None")
    triggers = ("stop_gradient", "StopGradient")
    baseline = Blocking(parameters=False)
    cut = Blocking(parameters=False).extended(*_STOP_GRADIENTS)
    what = (
        "Finds `tf.stop_gradient` (also `keras.ops.stop_gradient`, `K.stop_gradient`) when every "
        "path from the trainable weights to the layer's output, or to the target of "
        "`tape.gradient`, goes through it; the weights of a subclass of a built-in layer "
        "(`class E(layers.Dense)`) are the ones `super().call(inputs)` runs, and a loss handed to "
        "`compile` or a `Lambda` between layers with weights counts as in TGF302. "
        "In a layer's `call`, also when it cuts every path from "
        "one weight (`self.<name>`, followed on its own) while other weights or sub-layers still "
        "reach the output: a projection frozen by mistake. In a model returning several outputs, "
        "also when it cuts every path from a sub-layer into an output nothing else reaches either "
        "(`return main, tf.stop_gradient(self.aux_head(h))`: the auxiliary head never trains), "
        "unless the module copies, freezes or reads that sub-layer's weights (a target encoder "
        "updated by code, `trainable=False`) or the stopped output is a target other outputs "
        "are trained from (SimSiam's `return p, tf.stop_gradient(z)`). In a tape whose `tape.gradient` sources "
        "are models' variables (`actor.trainable_variables`, a list or sum of those), also when it "
        "cuts every path from those models to the target while other models still reach it (a DDPG "
        "actor step that stops the actor's own action); a stop_gradient on a model the tape does "
        "not differentiate (a target network) is not reported. Evidence needed: when a "
        "`tape.gradient` names its sources, the cut is judged for those alone: for variables "
        "listed by name (`tape.gradient(alpha_loss, [self.log_alpha])`, a SAC temperature) "
        "whatever else reaches the target, and for models' variables only when the code shows "
        "those models reaching the target (a method of the model the analysis cannot follow, "
        "`self.actor.action_probabilities(s)`, is no evidence either way: silent). Variables "
        "that are state (`trainable=False`, written with `.assign*()`) are no weights to cut "
        "off. The value is followed through "
        "assignments and arithmetic. Not reported: straight-through estimators (`x + tf.stop_gradient(q - x)`, "
        "`x - tf.stop_gradient(x - q)`, whichever of `x` and `q` the weights reach), zero-valued "
        "carriers (`e - tf.stop_gradient(e)`), a "
        "stop_gradient on targets or labels (a DQN target network), on a value no trainable "
        "weight reaches, or inside a loss whose other terms still reach the weights; a layer whose "
        "weights still reach a loss it hands to `self.add_loss` (a loss added there counts as an "
        "output: a VQ-VAE's commitment term stops the codebook, its codebook term trains it); a weightless "
        "layer that stops the gradient of its input on purpose. For one weight, also not: a "
        "weight declared `trainable=False` or updated with `.assign*()` anywhere in the module "
        "(moving averages, target-network copies, spectral-norm power iteration), a weight that "
        "reaches the output (or an `add_loss`) another way (VQ-VAE codebooks), a weight read by "
        "a method `call` does not run (`train_step`, a custom loss), a stop_gradient "
        "in a helper rather than in `call`, and layers defined in tests (in a `test*` function "
        "or `*Test` class, or a module that asserts something `is None`)."
    )
    evidence = (
        "The analysis is run twice, with and without the cut: a trainable weight of the layer (or, where "
        "`tape.gradient` names its sources, those sources) reaches the output or the target without the cut "
        "and not with it (a sources name bound once per update, `variables = [self.log_alpha]` after "
        "`variables = policy.trainable_variables`, means the binding that reaches that `tape.gradient`). "
        "Alternatives are looked for first: another return of the method that still trains, "
        "a loss given to `add_loss`, a straight-through or zero-valued carrier, a target other outputs train "
        "from, state variables (`trainable=False`, `.assign*()`), a target network the tape does not "
        "differentiate. Outside a Keras layer, a method of an object the analysis cannot see into "
        "(`self.net.critic(s, a)`) may still reach the target: silent. In a helper, whose parameters carry "
        "what its callers pass, the cut must reach what every caller returns, up to a forward method, a tape, a "
        "compiled loss or a `Lambda` between layers, in the helper's own module: a mask that a helper of a "
        "helper makes from the token ids a model of another module hands it is silent."
    )
    why = (
        "`tf.stop_gradient` is the identity forward and zero backward: whatever it wraps is a "
        "constant to the tape. When it wraps the only path from the weights to the output, "
        "`tape.gradient` returns `None` for every weight (eagerly and under `tf.function`), and "
        "`model.fit` fails with `ValueError: No gradients provided for any variable` or trains "
        "nothing with the warning `Gradients do not exist for variables`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Projection(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        output = tf.matmul(inputs, self.w)\n"
        "        return tf.stop_gradient(output)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Projection(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        output = tf.matmul(inputs, self.w)\n"
        "        return output\n"
    )
    fix_safety = (
        "Unsafe (applied with `--unsafe-fixes`): the call is removed and its argument kept. The "
        "forward values do not change, but whether the author meant to freeze those weights "
        "cannot be known from the code."
    )

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self._qualified(node)
        if qualified is None or qualified.rsplit(".", 1)[-1] not in _STOP_GRADIENTS:
            return
        operand = _operand(node)
        if _straight_through(self.context.parent(node), node, operand):
            return
        sink = _sink(self.context.scope)
        function = qualified.replace("tensorflow.", "tf.")
        if self._cuts_every_path(node, operand):
            message = self.message.format(function=function, sink=sink)
        elif (sources := self._sources_cut(node, operand)) is not None:
            message = self.sources_message.format(function=function, sources=sources)
        else:
            weights = self._weights_cut_off(node, operand) or self._parts_behind(node, operand, weights=False)
            if not weights:
                return
            message = self.weight_message.format(
                function=function, sink=sink, weights=", ".join(f"`self.{w}`" for w in weights))
        fix = Fix.replace(node, lambda updated: _operand(updated), "Remove the `stop_gradient`",
                          applicability=Applicability.UNSAFE)
        self.report(node, message, fix)

    def _weights_cut_off(self, node: cst.Call, operand: Optional[cst.BaseExpression]) -> list[str]:
        """The weights of the layer that reach its output only through the stop_gradients
        of `call`, one data flow per weight, while something else still reaches it."""
        context = self.context
        scope = context.scope
        cls = scope.keras_class
        if operand is None or cls is None or not scope.is_forward_entry or not context.reaches_output(node):
            return []
        if self._frozen_on_purpose(cls):
            return []
        sinks = scope.analyse(self.cut).sink_expressions
        if not any(scope.analyse(self.cut).is_tainted(s) for s in sinks):
            return []  # nothing else reaches the output either: the whole-layer case above
        cut_off = []
        for weight in sorted({w for owner in cls.lineage() for w in owner.weights}):
            baseline = scope.analyse(self.baseline.only(weight))
            if not baseline.is_tainted(operand) or not any(baseline.is_tainted(s) for s in sinks):
                continue
            if any(scope.analyse(self.cut.only(weight)).is_tainted(s) for s in sinks):
                continue
            if self._updated_by_code(cls, weight, scope):
                continue
            cut_off.append(weight)
        return cut_off


def _sink(scope) -> str:
    """What the gradient path of `scope` ends in, as the message names it."""
    if scope.handed == "layer":
        return "output of the `Lambda` layer"
    if scope.forward and not scope.model_calls and scope.handed != "loss":
        return "layer's output"
    return "loss"


def _outputs(scope) -> list[cst.BaseExpression]:
    """What the forward method returns, output by output (`return main, aux`, a dict of heads)."""
    found: list[cst.BaseExpression] = []
    for node in walk_scope(scope.body):
        if isinstance(node, cst.Return) and node.value is not None:
            value = node.value
            if isinstance(value, (cst.Tuple, cst.List)):
                found.extend(e.value for e in value.elements)
            elif isinstance(value, cst.Dict):
                found.extend(e.value for e in value.elements)
            else:
                found.append(value)
    return found


def _only_called(context, attr: str) -> bool:
    """`<owner>.<attr>` is only assigned and called anywhere in the module: nothing copies,
    freezes or reads its weights (`agent.model.target.set_weights(...)`, `.trainable = False`,
    `.variables`, a `trainable=False` construction)."""
    for node in descendants(context.analysis.module):
        if not (isinstance(node, cst.Attribute) and node.attr.value == attr):
            continue
        parent = context.parent(node)
        if isinstance(parent, cst.Call) and parent.func is node:
            continue
        if isinstance(parent, cst.AssignTarget) and parent.target is node:
            value = context.parent(parent).value
            if not any(isinstance(n, cst.Arg) and n.keyword is not None and n.keyword.value == "trainable"
                       for n in descendants(value)):
                continue
        return False
    return True


def _straight_through(parent: Optional[cst.CSTNode], call: cst.Call, operand: Optional[cst.BaseExpression]) -> bool:
    """`a + stop_gradient(b - a)`, `a - stop_gradient(a - b)` (either order), `a - stop_gradient(a)`:
    the forward value of `b` (or zero) with the gradient of `a`, deliberately, whichever of `a`
    and `b` the weights reach."""
    if not isinstance(parent, cst.BinaryOperation) or operand is None:
        return False
    carrier = parent.right if parent.left is call else parent.left
    if isinstance(parent.operator, cst.Subtract) and parent.right is call and _same(operand, carrier):
        return True  # `a - stop_gradient(a)`: zero forward, the gradient of `a`
    if not isinstance(operand, cst.BinaryOperation) or not isinstance(operand.operator, cst.Subtract):
        return False
    if isinstance(parent.operator, cst.Add):
        return _same(operand.right, carrier)
    return isinstance(parent.operator, cst.Subtract) and parent.right is call and _same(operand.left, carrier)


def _same(a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
    return a.with_changes(lpar=(), rpar=()).deep_equals(b.with_changes(lpar=(), rpar=()))


_SETUP_METHODS = frozenset({"__init__", "build", "get_config", "from_config"})


def _read_outside(context, cls, weight: str, entry) -> bool:
    """`self.<weight>` read by a method of the class that `entry` does not run."""
    reached, pending = {entry.node}, [entry]
    while pending:
        scope = pending.pop()
        for node in descendants(scope.node):
            callee = context.analysis.callee_scope(scope, node) if isinstance(node, cst.Call) else None
            if callee is not None and callee.node not in reached:
                reached.add(callee.node)
                pending.append(callee)
    return any(
        name not in _SETUP_METHODS and method not in reached
        and any(self_attribute(n) == weight for n in descendants(method))
        for owner in cls.lineage() for name, method in owner.methods.items())


def _in_a_test(context, cls) -> bool:
    """A layer defined in a `test*` function or a `Test*` / `*Test` class."""
    parent = context.parent(cls.node)
    while parent is not None:
        if isinstance(parent, (cst.FunctionDef, cst.ClassDef)) and (
                parent.name.value.startswith(("test", "Test")) or parent.name.value.endswith("Test")):
            return True
        parent = context.parent(parent)
    return False


def _asserts_none(node: cst.CSTNode) -> bool:
    """`self.assertIsNone(...)`, `assert ... is None`."""
    if isinstance(node, cst.Call):
        callee = node.func
        return isinstance(callee, cst.Attribute) and callee.attr.value == "assertIsNone"
    if isinstance(node, cst.Assert) and isinstance(node.test, cst.Comparison):
        return any(isinstance(c.operator, cst.Is) and isinstance(c.comparator, cst.Name)
                   and c.comparator.value == "None" for c in node.test.comparisons)
    return False


class NonDifferentiableOp(_CutRule):
    code = "TGF302"
    name = "non-differentiable-op"
    summary = "`argmax`/`argsort`/`round`/`floor`/`sign`/int casts/comparisons on every path from weights to output"
    message = "{op} has no gradient, and every path from the trainable weights to the {sink} goes through it: {advice}"
    parts_message = ("{op} has no gradient, and every path from {parts} to the {sink} goes through it, while "
                     "other weights still reach another output: {parts} never trains; {advice}")
    triggers = ("argmax", "argmin", "round", "floor", "ceil", "sign", "cast", "top_k", ">", "<", "==",
                *sorted({name.rsplit(".", 1)[-1] for name in NO_GRADIENT}))
    baseline = Blocking(functions=_METADATA, comparisons=False, parameters=False)
    cut = Blocking(
        functions=_METADATA | frozenset(NO_GRADIENT) | frozenset(n for n in _NON_DIFFERENTIABLE if n != "cast"),
        comparisons=True, integer_casts=True, parameters=False)
    what = (
        "Finds `argmax`, `argmin`, `round`, `floor`, `ceil`, `sign`, casts to an integer or bool "
        "dtype, comparisons, `tf.math.top_k(...).indices`, and every public TensorFlow function "
        "that TensorFlow itself gives no gradient (its gradient registry: ops registered "
        "`NotDifferentiable`, gradients registered as None, integer or boolean results; the list "
        "is generated from TensorFlow by `tools/no_gradient_ops.py` and tested against it): "
        + ", ".join(f"`{name.replace('tensorflow.', 'tf.')}`" for name in sorted(NO_GRADIENT)) + ". "
        "It reports one when every path from the trainable "
        "weights to the layer's output (or the `tape.gradient` target) goes through one of them; "
        "a loss handed to `self.add_loss` counts as an output, so weights it still reaches are not cut off. "
        "In a model returning several outputs, it also reports one that cuts every path from a sub-layer "
        "or weight into an output that nothing else reaches either, while other outputs still train "
        "(`main = tf.cast(tf.argmax(self.main_head(h), -1), tf.float32)` beside an auxiliary head); "
        "class ids returned beside the logits they come from (`return logits, tf.argmax(logits, -1)`) "
        "are not reported. "
        "Off the tape's body and a layer's `call`, also: in a loss handed to "
        "`model.compile(loss=...)` (`tf.round(y_pred)`), in a function handed to `Lambda` whose "
        "layer sits after a layer with trainable weights and before another layer "
        "(`Sequential([Dense(8), Lambda(lambda x: tf.round(x)), Dense(1)])`, or the same in the "
        "functional API; a `Lambda` on the raw inputs, or after the last layer of an inference "
        "model, is not reported), and after a name is rebound (`flows = tf.math.floor(flows * k)`: "
        "the value that reaches the output is read, not every value the name ever held). "
        "The same op off that path is fine and not reported: `argmax` for a metric, "
        "`tf.gather(x, tf.argmax(...))` (the values still carry the gradient), "
        "`tf.cast(tf.round(x), tf.int32)` used to index, a straight-through estimator, a "
        "`@tf.custom_gradient` function."
    )
    evidence = (
        "As TGF301, with the op as the cut: a trainable weight (or a named source) reaches the output or the "
        "target without the op and not with it, and no other return, `add_loss` loss, straight-through "
        "estimator or index use keeps the path. An op on values that carry no gradient anyway (integer "
        "indices from `top_k` or `argmax`, a backend's `shape`, integer casts) is silent, and so is "
        "`tf.sequence_mask`, whose operands are lengths: what made a length from the weights (a `round`) is "
        "the cut reported; outside a Keras layer, so is a cut around a method of an object the analysis "
        "cannot see into. Code that runs only at inference is not on the path (TGF101). A built-in layer "
        "without weights that the class holds (`self.flatten = layers.Reshape(...)`, not a `Lambda`) carries "
        "what its input carries and no weight of its own, and a `trainable=False` weight is state, not a weight."
    )
    why = (
        "These ops are piecewise constant: TensorFlow registers no gradient for them (or a zero "
        "one), so the tape returns `None` for every weight upstream, and `model.fit` raises "
        "`ValueError: No gradients provided for any variable`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Choice(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        logits = tf.matmul(inputs, self.w)\n"
        "        return tf.cast(tf.argmax(logits, axis=-1), tf.float32)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Choice(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        logits = tf.matmul(inputs, self.w)\n"
        "        return tf.nn.softmax(logits, axis=-1)  # a soft choice; or a straight-through one-hot\n"
    )
    fix_safety = (
        "No automatic fix: a soft version or a straight-through estimator changes the forward "
        "values, and which one is right depends on the model. The message suggests one."
    )

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self._qualified(node)
        if qualified is None:
            return
        op = qualified.rsplit(".", 1)[-1]
        shown = f"`{qualified.replace('tensorflow.', 'tf.')}`"
        if op not in _NON_DIFFERENTIABLE and qualified in NO_GRADIENT:
            if qualified in LENGTH_OPERANDS:
                return  # a padding mask from sequence lengths
            op_type, reason = NO_GRADIENT[qualified]
            operands = [a.value for a in node.args if a.keyword is None and not a.star][:2]
            comparison = op_type in _COMPARISON_OPS
            self._check(node, operands, shown, _NON_DIFFERENTIABLE["comparison"] if comparison
                        else _ADVICE_BY_REASON[reason])
            return
        if op not in _NON_DIFFERENTIABLE or op == "cast" and not self._integer_cast(node):
            return
        if op == "top_k" and not self._indices_used(node):
            return
        self._check(node, [_operand(node)], shown + (" to an integer type" if op == "cast" else ""),
                    _NON_DIFFERENTIABLE[op])

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if is_python_test(node):
            return
        operands = [node.left, *(target.comparator for target in node.comparisons)]
        self._check(node, operands, "A comparison", _NON_DIFFERENTIABLE["comparison"])

    def _check(self, node: cst.CSTNode, operands: list, op: str, advice: str) -> None:
        if any(self._cuts_every_path(node, operand) for operand in operands):
            self._flag(node, op, advice)
            return
        for operand in operands:
            parts = self._parts_behind(node, operand, weights=True)
            if parts:
                sink = _sink(self.context.scope)
                self.report(node, self.parts_message.format(
                    op=op, sink=sink, advice=advice, parts=", ".join(f"`self.{p}`" for p in parts)))
                return

    def _integer_cast(self, node: cst.Call) -> bool:
        return self.cut.blocks("tensorflow.cast", node, self.context.scope.analyse(self.cut))

    def _indices_used(self, node: cst.Call) -> bool:
        parent = self.context.parent(node)
        return isinstance(parent, cst.Attribute) and parent.attr.value == "indices"

    def _flag(self, node: cst.CSTNode, op: str, advice: str) -> None:
        sink = _sink(self.context.scope)
        self.report(node, self.message.format(op=op, sink=sink, advice=advice))
