"""TGF403: a plain tensor as a source the tape never watches."""

from __future__ import annotations

from typing import Optional

import libcst as cst
import libcst.matchers as m

from tfgradfix.analysis.callers import passes_tensor
from tfgradfix.analysis.dataflow import is_certainly_tensor
from tfgradfix.analysis.tapes import TapeBlock, find_tape_blocks, reaching_value
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.tree import contains, descendants
from tfgradfix.analysis.vocabulary import TF_VARIABLE
from tfgradfix.fixes.edits import Edit, Fix
from tfgradfix.rules.tape.base import TapeRule, integer_bindings, source_names


class UnwatchedSource(TapeRule):
    code = "TGF403"
    name = "unwatched-source"
    summary = "`tape.gradient(y, x)` where `x` is a plain tensor the tape never watches"
    message = "`{name}` is a tensor, not a variable, and the tape never watches it: `tape.gradient` returns None for it"
    what = (
        "Finds `tape.gradient(y, x)` where `x` is a tensor created before the block "
        "(`tf.constant`, `tf.convert_to_tensor`, a TF op's result) and the block never calls "
        "`tape.watch(x)`. What counts is the binding that reaches the block: a parameter "
        "rebound as `x = tf.convert_to_tensor(x)` (or `tf.cast`, any TF op) before it is a "
        "tensor. A parameter that reaches it as passed is reported when another tape block of "
        "the function watches it (the outer tape of a second derivative that only the inner "
        "tape watches) or when every call of the function or method in the module (at least "
        "one; `explainer.explain(images)` on an instance of the class included) passes a "
        "certain tensor, also through a helper of the module that returns one. Not reported "
        "for `tf.Variable`s (`tf.compat.v1.Variable` and `tfe.Variable` too), lists of "
        "trainable variables, tensors computed inside the block (the tape records those), "
        "other parameters (a caller may pass a variable), a name rebound only inside an `if` or in a loop "
        "around the block, when `watch` is already there, or when the block neither reads the "
        "source nor calls anything but TensorFlow, Keras or NumPy (the target cannot depend on it: "
        "its gradient is None, watched or not, and watching it would change nothing)."
    )
    evidence = (
        "The source is certainly a tensor bound before the block (a TF constructor or op result, in the "
        "binding that reaches the `gradient` call: `vars = [v for v in tape.watched_variables() ...]` after the "
        "block is a list of variables), not a variable (nor TF 1.x's `trainable_variables()`, "
        "`global_variables()`, `get_variable`), not computed inside the block, not a parameter as "
        "passed (a caller may pass a variable), no `tape.watch` of it (nor of the tensor it converts: "
        "`tf.convert_to_tensor(t)` of a watched tensor `t` is `t` itself), and a target that can depend on it (the "
        "block reads it, or calls code that might). `model.inputs` / `model.input` as the source: a Keras "
        "model's, so `self.inputs` only in a Keras class that does not set that attribute itself (a plain "
        "class's `self.inputs` is whatever tensor it stored)."
    )
    why = (
        "A tape watches trainable `tf.Variable`s automatically, never plain tensors: unless "
        "`tape.watch(x)` runs inside the block, the operations on `x` are not recorded and the "
        "gradient with respect to it is `None` (input saliency maps, adversarial examples, "
        "physics-informed losses)."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "x = tf.constant([[1.0, 2.0]])\n"
        "with tf.GradientTape() as tape:\n"
        "    y = model(x)\n"
        "saliency = tape.gradient(y, x)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "x = tf.constant([[1.0, 2.0]])\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = model(x)\n"
        "saliency = tape.gradient(y, x)\n"
    )
    fix_safety = (
        "Safe: `tape.watch(x)` becomes the first statement of the block; no value changes. "
        "Differentiating with respect to `model.inputs` / `model.input` is reported without a "
        "fix: those are the model's symbolic placeholders, never the tensor the tape saw."
    )
    _SYMBOLIC = ("`{owner}` is the model's symbolic input, not the tensor that ran through it: the "
                 "gradient is None; watch and differentiate with respect to the batch itself")

    def check(self, block: TapeBlock) -> None:
        flow = self.context.flow
        if flow is None:
            return
        for gradient in block.gradients:
            sources = gradient.sources
            if isinstance(sources, cst.Attribute) and sources.attr.value in ("input", "inputs"):
                if not self._symbolic_inputs(sources):
                    continue
                owner = cst.Module(body=[]).code_for_node(sources)
                self.report(sources, self._SYMBOLIC.format(owner=owner))
                continue
            for source in source_names(sources):
                name = source.value
                if name in block.watched or integer_bindings(self, name) is not None:
                    continue
                if not self._may_read(block, name):
                    continue  # the target does not depend on it: watching it changes nothing
                bindings = [b for b in flow.bindings if b.name == name]
                if not bindings and name in self.context.scope.parameter_names:
                    # A parameter as passed: a tensor when another tape of the function watches
                    # it (the nested tape of a second derivative) or every caller passes one.
                    if not (self._watched_by_another(block, name) or passes_tensor(self.context.scope, name)):
                        continue
                elif not bindings or any(contains(block.node, b.statement) for b in bindings):
                    continue
                else:
                    # The binding that reaches the gradient call decides: `x = tf.convert_to_tensor(x)`
                    # makes a tensor of a parameter that could have been anything; `x = [v for v in
                    # tape.watched_variables() ...]` after the block, a list of variables.
                    reaching = reaching_value(gradient.statement, name, self.context.parent)
                    if not is_certainly_tensor(flow, source if reaching is None else reaching):
                        continue
                    if self._converts_watched(block, reaching):
                        continue  # `tf.convert_to_tensor(t)` of a tensor the tape watches is that tensor
                watch = cst.parse_statement(f"{block.name}.watch({name})\n")

                def build(updated: cst.With, watch=watch) -> cst.With:
                    # after the watches already at the top, so several fixes keep the sources' order
                    body = list(updated.body.body)
                    at = next((i for i, s in enumerate(body) if not _is_watch(s, block.name)), len(body))
                    return updated.with_changes(body=updated.body.with_changes(body=[*body[:at], watch, *body[at:]]))

                fix = Fix(f"Watch `{name}` at the top of the block", (Edit(block.node, build),))
                self.report(source, self.message.format(name=name), fix)


    def _symbolic_inputs(self, sources: cst.Attribute) -> bool:
        """`model.inputs` of a Keras model: `self.inputs` only in a Keras class that does not
        set that attribute itself (a plain class's `self.inputs = tf.convert_to_tensor(images)`
        is the tensor it watches)."""
        if not (isinstance(sources.value, cst.Name) and sources.value.value == "self"):
            return True
        cls = self.context.scope.keras_class
        if cls is None:
            return False
        attr = sources.attr.value
        return not any(isinstance(n, cst.AssignTarget) and self_attribute(n.target) == attr
                       for c in cls.lineage() for n in descendants(c.node))

    def _may_read(self, block: TapeBlock, name: str) -> bool:
        """Whether what the block records can depend on `name`: the block reads it, or calls
        code of the project that might (a loss function reading a global)."""
        for node in descendants(block.node.body):
            if isinstance(node, cst.Name) and node.value == name:
                return True
            if isinstance(node, cst.Call) and not (self.context.imports.resolve(node.func) or "").startswith(
                    ("tensorflow.", "keras.", "numpy.")):
                return True
        return False

    def _converts_watched(self, block: TapeBlock, value: Optional[cst.BaseExpression]) -> bool:
        """`t_phys = tf.convert_to_tensor(t)` where the block watches `t`: `tape.watch` takes only
        tensors and variables, and converting a tensor returns the tensor itself (measured with
        TF 2.21, eagerly and in `tf.function`), so the gradient comes back. Not where `t` is bound
        to a `tf.Variable`, whose conversion reads a new tensor."""
        if not (isinstance(value, cst.Call) and value.args and isinstance(value.args[0].value, cst.Name)
                and self.context.imports.resolve(value.func) == "tensorflow.convert_to_tensor"):
            return False
        converted = value.args[0].value.value
        flow = self.context.flow
        return converted in block.watched and flow is not None and not any(
            isinstance(b.value, cst.Call) and self.context.imports.resolve(b.value.func) in TF_VARIABLE
            for b in flow.bindings if b.name == converted)

    def _watched_by_another(self, block: TapeBlock, name: str) -> bool:
        """Another tape block of the function watches `name`, so it is no variable."""
        return any(other.node is not block.node and name in other.watched
                   for other in find_tape_blocks(self.context.scope, self.context.imports))


def _is_watch(statement: cst.CSTNode, tape: str) -> bool:
    """`tape.watch(...)` as a statement of its own."""
    return m.matches(statement, m.SimpleStatementLine(body=[m.Expr(m.Call(
        func=m.Attribute(value=m.Name(tape), attr=m.Name("watch"))))]))
