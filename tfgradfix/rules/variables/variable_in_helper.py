"""TGF201: variables created in helpers that `call` runs."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.layer_state import creates, lazily_created
from tfgradfix.fixes.edits import Edit, Fix, keyword_arg
from tfgradfix.fixes.hoist import (
    RenameReads, add_to_build, buildable, build_input_name, free_attribute, weight_statements, without,
)
from tfgradfix.rules.base import Rule

class VariableInHelper(Rule):
    code = "TGF201"
    name = "variable-in-helper"
    summary = "`tf.Variable` created in a function or method that `call` reaches"
    message = "a `tf.Variable` is created in `{helper}`, which `call` runs: a new, untracked variable on every call, which never trains"
    triggers = ("Variable(",)
    what = (
        "Finds `tf.Variable(...)` (and `self.add_weight(...)`) in a helper function of the module "
        "or a method of the layer that a Keras layer's `call` reaches. Lazy creation guarded by "
        "`if self.v is None:` and the like is not reported."
    )
    why = (
        "The helper runs on every forward pass, so the variable is created again each time: it "
        "is never in `trainable_variables`, the optimizer never updates it, its gradient is lost "
        "after the step, and under `tf.function` / `model.fit` TensorFlow raises "
        "`tf.function only supports singleton tf.Variables created on the first call`."
    )
    example = (
        "def project(inputs):\n"
        "    w = tf.Variable(tf.random.normal((inputs.shape[-1], 2)))\n"
        "    return tf.matmul(inputs, w)\n"
        "\n"
        "class Layer(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return project(inputs)\n"
    )
    fixed_example = (
        "def project(inputs, *, w):\n"
        "    return tf.matmul(inputs, w)\n"
        "\n"
        "class Layer(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 2), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return project(inputs, w=self.w)\n"
    )
    fix_safety = (
        "Safe: the variable is created once, in the calling layer's `build`, as `self.add_weight` "
        "(same shape, dtype, trainability, an initializer of the same distribution). A helper "
        "method then reads `self.<name>`; a module function gets a keyword-only parameter that "
        "every call site passes. No fix when several layers call the helper, when the shape "
        "needs values other than the input's static shape, or when the variable is created "
        "inside a loop or an expression."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if not scope.forward or scope.is_forward_entry or not isinstance(scope.node, cst.FunctionDef):
            return
        if creates(context, node) is None or lazily_created(context, node):
            return
        callers = context.analysis.callers_of(scope)
        layers = {c.keras_class for c, _ in callers if c.is_forward_entry}
        if not callers or len(layers) != 1 or not all(c.is_forward_entry for c, _ in callers):
            return  # reached through other helpers, or from tapes: not this rule's fix
        cls = layers.pop()
        self.report(node, self.message.format(helper=scope.symbol), self._fix(cls, node, callers))

    def _fix(self, cls, ctor: cst.Call, callers) -> Optional[Fix]:
        context = self.context
        helper = context.scope.node
        assign = context.parent(ctor)
        statement = context.parent(assign)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in helper.body.body):
            return None
        local = assign.targets[0].target.value
        inputs = self._input_parameters(helper, callers)
        attr = free_attribute(cls, local)
        statements = weight_statements(ctor, context.imports, attr, statement)
        input_shape = build_input_name(cls)
        statements = buildable(statements, inputs, context.imports, input_shape) if statements else None
        if statements is None:
            return None
        build_node, build_edit = add_to_build(cls, statements)
        edits = [Edit(build_node, build_edit)]
        if context.scope.owner_methods.get(helper.name.value) is helper:
            rename = RenameReads(local, cst.Attribute(cst.Name("self"), cst.Name(attr)))
            edits.append(Edit(helper, without(helper, statement, rename)))
        else:
            remove = without(helper, statement, None)
            edits.append(Edit(helper, lambda updated: _with_keyword_parameter(remove(updated), local)))
            for _, call in callers:
                edits.append(Edit(call, lambda updated: updated.with_changes(args=[
                    *_with_comma(updated.args), keyword_arg(local, cst.Attribute(cst.Name("self"), cst.Name(attr)))])))
        return Fix("Create the weight once, in the layer's `build`", tuple(edits))

    def _input_parameters(self, helper: cst.FunctionDef, callers) -> set[str]:
        """Helper parameters that receive the layer's input at every call site."""
        positional = [p.name.value for p in helper.params.params]
        if positional and positional[0] == "self":
            positional = positional[1:]
        found: Optional[set[str]] = None
        for caller, call in callers:
            layer_input = caller.node.params.params[1].name.value if len(caller.node.params.params) > 1 else None
            here = set()
            for index, arg in enumerate(call.args):
                name = arg.keyword.value if arg.keyword is not None else (
                    positional[index] if index < len(positional) and not arg.star else None)
                if name is not None and isinstance(arg.value, cst.Name) and arg.value.value == layer_input:
                    here.add(name)
            found = here if found is None else found & here
        return found or set()


def _with_comma(args) -> list[cst.Arg]:
    args = list(args)
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return args


def _with_keyword_parameter(function: cst.FunctionDef, name: str) -> cst.FunctionDef:
    params = function.params
    star = params.star_arg if isinstance(params.star_arg, cst.Param) else cst.ParamStar()
    return function.with_changes(params=params.with_changes(
        star_arg=star, kwonly_params=[*params.kwonly_params, cst.Param(cst.Name(name))]))
