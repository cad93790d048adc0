"""TGF201: variables created in helpers that `call` runs."""

from __future__ import annotations

import copy
import functools
from typing import Optional, Union

import libcst as cst

from tfgradfix.analysis.tree import Parents
from tfgradfix.analysis.dataflow import walk_scope, names_in
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.frequency import runs_once
from tfgradfix.analysis.layer_state import (
    attribute_values, creates, integer_constant, integer_names, known_values, perturbation, repeated_in,
    sliced_buffer,
)
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.fixes.edits import Edit, FileEdit, Fix, keyword_arg
from tfgradfix.fixes.hoist import (
    COMPUTED_NAMES, RenameReads, add_to_build, arguments_without, build_input_name, call_site, dropping,
    free_attribute,
    hoist_weight, initializers_only_for, parameters_only_for, without, without_parameters,
)
from tfgradfix.rules.base import Rule

class VariableInHelper(Rule):
    code = "TGF201"
    name = "variable-in-helper"
    summary = "`tf.Variable` created in a function or method that `call` reaches"
    message = ("a `tf.Variable` is created in `{helper}`, which `{runner}` runs: a new, untracked variable on every "
               "{when}, which never trains")
    triggers = ("Variable(",)
    what = (
        "Finds `tf.Variable(...)` (and `self.add_weight(...)`) in a helper function of the module "
        "or a method of the layer that a Keras layer's `call` reaches. Lazy creation guarded by "
        "`if self.v is None:` and the like is not reported."
    )
    evidence = (
        "How often the code runs (`analysis/frequency.py`): the creation is reached from `call` through a "
        "helper on every call. Creation under a test that closes after the first run (`is None`, `not "
        "self.built`, `hasattr`, a predicate method that returns such a test, the handler of a `try` that "
        "reads the attribute: `try: self.w.dtype` / `except AttributeError: self.build(s)`), under "
        "`tf.init_scope()`, or in a helper reached only from such code runs once and is silent. A variable "
        "of integers that nothing writes with `.assign*()` is a constant (indices), not a weight: silent. So is a "
        "perturbation: a variable made from what a gradient computed (`tf.Variable(tf.nn.l2_normalize(grad, 1) * "
        "eps)`), or one the function differentiates against itself (`tape.gradient(loss, self.delta)`)."
    )
    why = (
        "The helper runs on every forward pass, so the variable is created again each time: it "
        "is never in `trainable_variables`, the optimizer never updates it, its gradient is lost "
        "after the step, and under `tf.function` / `model.fit` TensorFlow raises "
        "`tf.function only supports singleton tf.Variables created on the first call`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "def mix(x, out_dim):\n"
        "    m = tf.Variable(tf.random.truncated_normal((x.shape[-1], out_dim), stddev=0.05))\n"
        "    return tf.matmul(x, m)\n"
        "\n"
        "\n"
        "class Mixer(tf.keras.layers.Layer):\n"
        "    def __init__(self, out_dim, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.out_dim = out_dim\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return mix(inputs, self.out_dim) + mix(inputs, 1)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "def mix(x, *, m):\n"
        "    return tf.matmul(x, m)\n"
        "\n"
        "\n"
        "class Mixer(tf.keras.layers.Layer):\n"
        "    def __init__(self, out_dim, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.out_dim = out_dim\n"
        "\n"
        "    def build(self, input_shape):\n"
        '        self.m_1 = self.add_weight(name="m_1", shape=(input_shape[-1], self.out_dim), initializer=tf.keras.initializers.TruncatedNormal(mean=0.0, stddev=0.05))\n'
        '        self.m_2 = self.add_weight(name="m_2", shape=(input_shape[-1], 1), initializer=tf.keras.initializers.TruncatedNormal(mean=0.0, stddev=0.05))\n'
        "\n"
        "    def call(self, inputs):\n"
        "        return mix(inputs, m=self.m_1) + mix(inputs, m=self.m_2)\n"
    )
    fix_safety = (
        "Safe: the variable is created once, in the calling layer's `build`, as `self.add_weight` "
        "(same shape, dtype, trainability, the initializer the code names; see TGF203). The "
        "helper's parameters take the call site's arguments (`out_dim` -> `self.out_dim`, "
        "defaults where the call leaves one out), and the static shape of the layer's input "
        "becomes `build`'s (`x.shape[-1]` -> `input_shape[-1]` when `call` passes its input as "
        "`x`). Each call site gets its own weight (`m_1`, `m_2`), as each created its own "
        "variable. A helper method called once then reads `self.<name>`; otherwise the helper "
        "gets a keyword-only parameter that each call site passes, and the parameters only the "
        "variable used (`out_dim`, sizing it) leave the helper and every call (kept, and the fix "
        "says so, when a call passes an expression that runs code, or for a method whose "
        "callers keep passing them). An initializer object only the variable used (`init = "
        "tf.keras.initializers.GlorotUniform()`) goes too: `build` spells it out. Comments "
        "on the variable's line move with it. No fix, and the finding says "
        "why, when the shape or initial value needs a value only `call` has (a hidden "
        "activation's shape, a local), when the helper runs in a loop or comprehension (one "
        "variable per iteration), when the call passes `*args`/`**kwargs`, or when the "
        "variable is made inside an expression rather than by its own statement. Helpers "
        "reached from several layers, or only through other helpers, are not reported.\n\n"
        "For a helper of another module of the project the fix edits both files (the helper, "
        "and the calling layer's `build` and calls), all or nothing, and only when every call of "
        "the helper in the project is in that one layer. The project's other modules count "
        "even when they are not given (pre-commit passes the changed files only): they are read "
        "for calls of the helper, and a helper that gains a parameter while another module "
        "calls it gets no fix."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if not scope.forward or scope.is_forward_entry or not isinstance(scope.node, cst.FunctionDef):
            return
        if (creates(context, node) is None or runs_once(context, node) or integer_constant(context, node)
                or sliced_buffer(context, node) or perturbation(context, node)):
            return
        callers = context.analysis.callers_of(scope)
        external = scope.external_callers
        if external:
            # Called from layers of other modules of the project.
            if all(forward for _, _, forward in external) and all(c.is_forward_entry for c, _ in callers):
                fix = None if callers else self._fix_across(node, external)
                self.report(node, self._message(scope.symbol, [symbol.rsplit(".", 1)[-1] for _, symbol, _ in external]),
                            fix)
            return
        layers = {c.keras_class for c, _ in callers if c.is_forward_entry}
        if not callers or len(layers) != 1 or not all(c.is_forward_entry for c, _ in callers):
            return  # reached through other helpers, or from tapes: not this rule's fix
        cls = layers.pop()
        message = self._message(scope.symbol, [c.node.name.value for c, _ in callers])
        fix = self._fix(cls, node, callers)
        if isinstance(fix, str):
            message, fix = f"{message} (no fix: {fix})", None
        self.report(node, message, fix)

    def _message(self, helper: str, runners: list[str]) -> str:
        """Named after what runs the helper: `call` (every call), or a `train_step` (every step)."""
        steps = bool(runners) and all(r == "train_step" for r in runners)
        return self.message.format(helper=helper, runner="train_step" if steps else "call",
                                   when="step" if steps else "call")

    def _fix(self, cls, ctor: cst.Call, callers) -> Union[Fix, str]:
        context = self.context
        helper = context.scope.node
        assign = context.parent(ctor)
        statement = context.parent(assign)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in helper.body.body):
            return "the variable is not made by a `name = tf.Variable(...)` statement of the helper's own body"
        name = helper.name.value
        for caller, call in callers:
            if repeated_in(context, call, caller.node):
                return f"`{name}` runs in a loop or comprehension of `call`, a new variable per iteration"
        local = assign.targets[0].target.value
        values = known_values(context, cls)
        input_shape = build_input_name(cls)
        several = len(callers) > 1
        attrs, created = [], []
        for number, (caller, call) in enumerate(callers, 1):
            attr = free_attribute(cls, f"{local}_{number}" if several else local)
            if attr is None:
                return COMPUTED_NAMES
            layer_input = {p.name.value for p in caller.node.params.params[1:2]}
            hoisted = hoist_weight(ctor, statement, attr, context.imports, inputs=layer_input,
                                   input_shape=input_shape, values=values, site=call_site(helper, call),
                                   integers=integer_names(cls))
            if hoisted.statements is None:
                return f"at `{_code(call)}`, {hoisted.reason}" if several else hoisted.reason
            attrs.append(attr)
            created.extend(hoisted.statements)
        reads_attribute = context.scope.owner_methods.get(name) is helper and not several
        elsewhere = [] if reads_attribute else self._callers_elsewhere()
        if elsewhere:
            return (f"`{name}` is also called from {', '.join(elsewhere[:3])}, which would not pass "
                    "the weight it would take")
        build_node, build_edit = add_to_build(cls, created)
        edits = [Edit(build_node, build_edit)]
        description = "Create the weight once, in the layer's `build`" + (", one per call site" if several else "")
        unused = _unused_parameters(helper, statement, context.imports)
        if reads_attribute:
            rename = RenameReads(local, cst.Attribute(cst.Name("self"), cst.Name(attrs[0])))
            edits.append(Edit(helper, without(helper, statement, rename, context.imports)))
            if unused:  # the method's callers are not rewritten: its signature stays
                description += f" ({_listed(unused)} now unused: `{name}`'s callers still pass it)"
        else:
            drops = [arguments_without(helper, call, set(unused)) for _, call in callers]
            if any(d is None for d in drops):
                description += f" ({_listed(unused)} now unused: a call passes it an expression that runs code)"
                unused, drops = [], [[] for _ in callers]
            remove = without(helper, statement, None, context.imports)
            edits.append(Edit(helper, lambda updated: without_parameters(
                _with_keyword_parameter(remove(updated), local), set(unused))))
            for (_, call), attr, drop in zip(callers, attrs, drops):
                edits.append(Edit(call, _composed(_passing(local, attr), dropping(drop))))
        return Fix(description, tuple(edits))

    def _callers_elsewhere(self) -> list[str]:
        """`module:symbol` of the calls of the helper in other modules of the project,
        given or not (the project index reads the package's other modules for them)."""
        analysis = self.context.analysis
        if analysis.project is None or analysis.module_name is None:
            return []
        return sorted({f"{module}:{symbol}" for module, symbol in
                       analysis.project.call_sites(analysis.module_name, self.context.scope.symbol)
                       if module != analysis.module_name})

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
        callers = {(module, symbol) for module, symbol, _ in external}
        sites = analysis.project.call_sites(analysis.module_name, scope.symbol)
        if not sites or any(site not in callers for site in sites):
            return None  # another caller would not pass the weight
        helper = scope.node
        assign = context.parent(ctor)
        statement = context.parent(assign)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in helper.body.body):
            return None
        local = assign.targets[0].target.value
        code = cst.Module([]).code_for_node
        heads = set(names_in(helper))
        imports = tuple(sorted((full, alias) for alias, full in context.imports.bindings.items()
                               if alias in heads and "." not in full))
        values = tuple((name, code(value)) for name, value in scope.analyse().single_values().items())
        remove = without(helper, statement, None, context.imports)
        unused = set(_unused_parameters(helper, statement, context.imports))
        caller_edit = functools.partial(
            hoist_into_caller, class_name, f"{analysis.module_name}.{scope.symbol}", local,
            code(helper.with_changes(decorators=[], leading_lines=[])), list(helper.body.body).index(statement),
            imports, values)
        return Fix("Create the weight once, in the calling layer's `build` (in its module)",
                   (Edit(helper, lambda updated: without_parameters(
                       _with_keyword_parameter(remove(updated), local), unused)),),
                   elsewhere=(FileEdit(caller_module, caller_edit),))


class _Parents:
    """What `repeated_in` asks of a traversal context, for a module analysed outside one."""

    def __init__(self, module: cst.Module) -> None:
        self.parent = Parents(module)


def hoist_into_caller(class_name: str, helper: str, local: str, helper_code: str, index: int,
                      imports: tuple[tuple[str, str], ...], values: tuple[tuple[str, str], ...],
                      analysis: ModuleAnalysis) -> Optional[Fix]:
    """The calling module's part of TGF201's fix across modules: the weight statements in
    the layer's `build` (one weight per call site), and `<local>=self.<attr>` at each call."""
    cls = next((c for c in analysis.keras_classes.values() if c.name == class_name), None)
    project = analysis.project
    if cls is None or project is None:
        return None
    callers = []
    for scope in analysis.scopes.values():
        if scope.keras_class is cls and scope.is_forward_entry:
            for node in walk_scope(scope.body):
                if isinstance(node, cst.Call):
                    dotted = dotted_name(node.func)
                    target = project.resolve(analysis.module_name, dotted) if dotted else None
                    if target is not None and target.qualified == helper:
                        callers.append((scope, node))
    parents = _Parents(analysis.module)
    if not callers or any(repeated_in(parents, call, caller.node) for caller, call in callers):
        return None
    definition = cst.parse_statement(helper_code)
    assert isinstance(definition, cst.FunctionDef)
    statement = definition.body.body[index]
    ctor = statement.body[0].value
    known = copy.copy(analysis.imports)
    known.bindings = {**analysis.imports.bindings, **{alias: full for full, alias in imports}}
    known_values_ = {**attribute_values(cls), **{name: cst.parse_expression(v) for name, v in values}}
    several = len(callers) > 1
    attrs, created = [], []
    for number, (caller, call) in enumerate(callers, 1):
        attr = free_attribute(cls, f"{local}_{number}" if several else local)
        if attr is None:
            return None
        hoisted = hoist_weight(ctor, statement, attr, known, inputs={p.name.value for p in caller.node.params.params[1:2]},
                               input_shape=build_input_name(cls), values=known_values_,
                               site=call_site(definition, call), integers=integer_names(cls))
        if hoisted.statements is None:
            return None
        attrs.append(attr)
        created.extend(hoisted.statements)
    unused = set(_unused_parameters(definition, statement, known))
    drops = [arguments_without(definition, call, unused) for _, call in callers]
    if any(d is None for d in drops):
        return None  # the helper's module drops the parameters: every call must drop its argument
    build_node, build_edit = add_to_build(cls, created)
    edits = [Edit(build_node, build_edit)]
    edits.extend(Edit(call, _composed(_passing(local, attr), dropping(drop)))
                 for (_, call), attr, drop in zip(callers, attrs, drops))
    return Fix(f"Create `self.{attrs[0]}` in `build` and pass it to the helper", tuple(edits), imports=imports)


def _unused_parameters(helper: cst.FunctionDef, statement: cst.CSTNode, imports) -> list[str]:
    """The helper's parameters that only the moved statement (and the initializers only it
    used) read: after the fix nothing reads them."""
    body = list(helper.body.body)
    moving = [statement, *(body[i] for i in initializers_only_for(body, body.index(statement), imports))]
    return parameters_only_for(helper, moving)


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) + (" is" if len(names) == 1 else " are")


def _composed(outer, inner):
    return lambda updated: outer(inner(updated))


def _passing(parameter: str, attr: str):
    """A call-site edit: the call also passes `parameter=self.<attr>`."""
    return lambda updated: updated.with_changes(args=[
        *_with_comma(updated.args), keyword_arg(parameter, cst.Attribute(cst.Name("self"), cst.Name(attr)))])


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


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
