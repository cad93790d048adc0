"""TGF201: variables created in helpers that `call` runs."""

from __future__ import annotations

import copy
import functools
from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import _walk_scope, names_in
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.layer_state import creates, lazily_created
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.fixes.edits import Edit, FileEdit, Fix, keyword_arg
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
        "Finds `tf.Variable(...)` (and `self.add_weight(...)`) in a helper function or a method "
        "of the layer that a Keras layer's `call` reaches, in the same module or in another "
        "module of the project (a helper of `ops.py` called from layers in `layers.py`, a method "
        "of a base class in `base.py`). Lazy creation guarded by `if self.v is None:` and the "
        "like is not reported."
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
        "every call site passes; for a helper of another module the fix edits both files (the "
        "helper, and the calling layer's `build` and calls), all or nothing, and only when every "
        "call of the helper in the project is in that layer. No fix when several layers call the helper, when the shape "
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
        external = scope.external_callers
        if external:
            # Called from layers of other modules of the project.
            if all(forward for _, _, forward in external) and all(c.is_forward_entry for c, _ in callers):
                fix = None if callers else self._fix_across(node, external)
                self.report(node, self.message.format(helper=scope.symbol), fix)
            return
        layers = {c.keras_class for c, _ in callers if c.is_forward_entry}
        if not callers or len(layers) != 1 or not all(c.is_forward_entry for c, _ in callers):
            return  # reached through other helpers, or from tapes: not this rule's fix
        cls = layers.pop()
        self.report(node, self.message.format(helper=scope.symbol), self._fix(cls, node, callers))

    def _local_variable(self, ctor: cst.Call) -> Optional[tuple[str, cst.SimpleStatementLine]]:
        """`name = tf.Variable(...)` alone on a line of the helper's body: (name, line)."""
        helper = self.context.scope.node
        assign = self.context.parent(ctor)
        statement = self.context.parent(assign)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in helper.body.body):
            return None
        return assign.targets[0].target.value, statement

    def _fix_across(self, ctor: cst.Call, external: frozenset) -> Optional[Fix]:
        """The helper, a function of this module, is called only from the forward methods
        of one layer of another module: the weight goes to that layer's `build` (edited
        when the engine has that module at hand) and is passed in."""
        context, scope = self.context, self.context.scope
        analysis = context.analysis
        owners = {(module, symbol.rsplit(".", 1)[0]) for module, symbol, _ in external}
        if len(owners) != 1 or scope.symbol not in analysis.functions or analysis.project is None:
            return None
        (caller_module, class_name), = owners
        sites = analysis.project.call_sites(analysis.module_name, scope.symbol)
        if not sites or any((m, s) not in {(m2, s2) for m2, s2, _ in external} for m, s in sites):
            return None  # another caller would not pass the weight
        found = self._local_variable(ctor)
        if found is None:
            return None
        local, statement = found
        statements = weight_statements(ctor, context.imports, local, statement)
        if not statements:
            return None
        codes = tuple(cst.Module(body=[]).code_for_node(s.with_changes(leading_lines=[])) for s in statements)
        heads = {name for s in statements for name in names_in(s)}
        imports = tuple(sorted((full, alias) for alias, full in context.imports.bindings.items()
                               if alias in heads and "." not in full))
        helper = scope.node
        positional = tuple(p.name.value for p in helper.params.params)
        remove = without(helper, statement, None)
        caller_edit = functools.partial(
            hoist_into_caller, class_name, f"{analysis.module_name}.{scope.symbol}", local, codes, imports, positional)
        return Fix("Create the weight once, in the calling layer's `build` (in its module)",
                   (Edit(helper, lambda updated: _with_keyword_parameter(remove(updated), local)),),
                   elsewhere=(FileEdit(caller_module, caller_edit),))

    def _fix(self, cls, ctor: cst.Call, callers) -> Optional[Fix]:
        context = self.context
        helper = context.scope.node
        found = self._local_variable(ctor)
        if found is None:
            return None
        local, statement = found
        inputs = input_parameters([p.name.value for p in helper.params.params], callers)
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


def input_parameters(positional: list[str], callers) -> set[str]:
    """Helper parameters (by its positional names) that receive the layer's input at
    every call site: (calling forward method's scope, call)."""
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


def hoist_into_caller(class_name: str, helper: str, local: str, codes: tuple[str, ...],
                      imports: tuple[tuple[str, str], ...], positional: tuple[str, ...],
                      analysis: ModuleAnalysis) -> Optional[Fix]:
    """The calling module's part of TGF201's fix across modules: the weight statements in
    the layer's `build`, and `<local>=self.<attr>` at each of its calls of the helper."""
    cls = next((c for c in analysis.keras_classes.values() if c.name == class_name), None)
    project = analysis.project
    if cls is None or project is None:
        return None
    callers = []
    for scope in analysis.scopes.values():
        if scope.keras_class is cls and scope.is_forward_entry:
            for node in _walk_scope(scope.body):
                if isinstance(node, cst.Call):
                    dotted = dotted_name(node.func)
                    target = project.resolve(analysis.module_name, dotted) if dotted else None
                    if target is not None and target.qualified == helper:
                        callers.append((scope, node))
    if not callers:
        return None
    attr = free_attribute(cls, local)
    statements = [cst.parse_statement(code) for code in codes]
    if attr != local:
        statements = [s.visit(_SelfAttribute(local, attr)) for s in statements]
    known = copy.copy(analysis.imports)
    known.bindings = {**analysis.imports.bindings, **{alias: full for full, alias in imports}}
    statements = buildable(statements, input_parameters(list(positional), callers), known, build_input_name(cls))
    if statements is None:
        return None
    build_node, build_edit = add_to_build(cls, statements)
    edits = [Edit(build_node, build_edit)]
    for _, call in callers:
        edits.append(Edit(call, lambda updated: updated.with_changes(args=[
            *_with_comma(updated.args), keyword_arg(local, cst.Attribute(cst.Name("self"), cst.Name(attr)))])))
    return Fix(f"Create `self.{attr}` in `build` and pass it to the helper", tuple(edits), imports=imports)


class _SelfAttribute(cst.CSTTransformer):
    """`self.<old>` -> `self.<new>`."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__()
        self.old, self.new = old, new

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if (isinstance(updated_node.value, cst.Name) and updated_node.value.value == "self"
                and updated_node.attr.value == self.old):
            return updated_node.with_changes(attr=cst.Name(self.new))
        return updated_node


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
