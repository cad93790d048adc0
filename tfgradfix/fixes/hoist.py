"""Moving state created on the forward pass to where Keras creates it once.

Variables go to `build()` as `self.add_weight(...)` (TGF201 from a helper, TGF202 from
`call`), layers to `__init__` or `build` (TGF209). What moves may only use what its new
place knows: constants, imports, `self` attributes, the input's static shape
(`inputs.shape[-1]` becomes `input_shape[-1]`) and, for a helper, the arguments of its
call site (`hoist_weight(..., site=call_site(helper, call))`), which take the places of
the helper's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Optional, cast

import libcst as cst

from tfgradfix.analysis.dataflow import names_in
from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.keras import KerasClass, build_shape_parameter, dynamic_attributes, self_attribute
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.statements import moved, without as without_statements
from tfgradfix.fixes.edits import parenthesized
from tfgradfix.fixes.weights import WeightTranslator

_KNOWN_NAMES = frozenset({"self", "True", "False", "None", "int", "float", "len", "min", "max"})


class _Shapes(cst.CSTTransformer):
    """`<input>.shape` -> `<input_shape>`."""

    def __init__(self, inputs: set[str], input_shape: str) -> None:
        super().__init__()
        self.inputs, self.input_shape = inputs, input_shape

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if (original_node.attr.value == "shape" and isinstance(original_node.value, cst.Name)
                and original_node.value.value in self.inputs):
            return cst.Name(self.input_shape)
        return updated_node


def weight_statements(ctor: cst.Call, imports: ImportMap, attr: str, like: cst.SimpleStatementLine,
                      values: Optional[Mapping[str, cst.BaseExpression]] = None,
                      integers: frozenset[str] = frozenset()) -> Optional[list[cst.SimpleStatementLine]]:
    """`self.<attr> = self.add_weight(...)` equivalent to the constructor (a `tf.Variable`
    translated, or an `add_weight` call as it is), after its prelude if it needs one.
    `values` are what the initial value may name (see WeightTranslator); the statements go
    to another function, so they never name its locals."""
    like = moved(like)
    if isinstance(ctor.func, cst.Attribute) and ctor.func.attr.value == "add_weight":
        return [assignment(attr, ctor, like)]
    translator = WeightTranslator(imports, values, portable=True, integers=integers)
    weight = translator.from_variable(ctor, initial=f"initial_{attr.lstrip('_')}")
    if weight is None:
        return None
    if weight.name is None:  # named after its attribute, not Keras's `variable_<n>`
        weight = replace(weight, name=cst.SimpleString(f'"{attr}"'))
    if weight.prelude is None:
        return [assignment(attr, weight.add_weight(), like)]
    return [weight.prelude.with_changes(leading_lines=like.leading_lines), assignment(attr, weight.add_weight())]


def unavailable(statements: list[cst.SimpleStatementLine], inputs: set[str], imports: ImportMap,
                input_shape: str) -> tuple[list[cst.SimpleStatementLine], list[str]]:
    """The statements rewritten for `build`, and the names they read that `build` does not
    have (sorted; empty when they can move)."""
    rewritten = [cast(cst.SimpleStatementLine, s.visit(_Shapes(inputs, input_shape))) for s in statements]
    bound = {name for s in rewritten for small in s.body if isinstance(small, cst.Assign)
             for t in small.targets if isinstance(t.target, cst.Name) for name in [t.target.value]}
    values = [small.value for s in rewritten for small in s.body if isinstance(small, cst.Assign)]
    unknown = {n for v in values for n in names_in(v)} - _KNOWN_NAMES - set(imports.bindings) - {input_shape} \
        - bound
    return rewritten, sorted(unknown)


@dataclass(frozen=True)
class CallSite:
    """A helper's parameters at one call site, as the caller spells them (`out_dim` ->
    `self.out_dim`, `x` -> `inputs`); `reason` says why they cannot be read, if so."""

    arguments: dict[str, cst.BaseExpression]
    reason: Optional[str] = None


def call_site(helper: cst.FunctionDef, call: cst.Call) -> CallSite:
    """Bind `call`'s arguments to `helper`'s parameters (a method's `self` excluded);
    parameters the call leaves out take their defaults."""
    params = helper.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    is_method = bool(positional) and positional[0] == "self" and isinstance(call.func, cst.Attribute)
    if is_method:
        positional = positional[1:]
    names = positional + [p.name.value for p in params.kwonly_params]
    arguments: dict[str, cst.BaseExpression] = {}
    index = 0
    for arg in call.args:
        if arg.star:
            return CallSite({}, f"`{_code(call.func)}` is called with `{arg.star}{_code(arg.value)}`: its arguments are not known")
        if arg.keyword is None:
            if index >= len(positional):
                return CallSite({}, f"`{_code(call.func)}` takes its extra arguments as `*args`")
            arguments[positional[index]] = arg.value
            index += 1
        elif arg.keyword.value in names:
            arguments[arg.keyword.value] = arg.value
        else:
            return CallSite({}, f"`{_code(call.func)}` takes `{arg.keyword.value}=` through `**kwargs`")
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        name = param.name.value
        if name not in arguments and param.default is not None and not (is_method and name == "self"):
            arguments[name] = param.default
    return CallSite(arguments)


class _Substitute(cst.CSTTransformer):
    """Reads of parameters -> the arguments, parenthesised unless they stand alone."""

    _ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.SimpleString,
              cst.Tuple, cst.List)

    def __init__(self, arguments: Mapping[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.arguments = arguments
        self.inserted: set[int] = set()

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        value = self.arguments.get(original_node.value)
        if value is None:
            return updated_node
        if not isinstance(value, self._ATOMS) and not value.lpar:
            value = parenthesized(value)
            self.inserted.add(id(value))
        return value

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword, value=self._bare(updated_node.value))

    def leave_Element(self, original_node: cst.Element, updated_node: cst.Element) -> cst.Element:
        return updated_node.with_changes(value=self._bare(updated_node.value))

    def _bare(self, value: cst.BaseExpression) -> cst.BaseExpression:
        return value.with_changes(lpar=[], rpar=[]) if id(value) in self.inserted else value


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


@dataclass(frozen=True)
class Hoisted:
    """The statements that create a weight in `build`, or why there are none."""

    statements: Optional[list[cst.SimpleStatementLine]]
    reason: Optional[str] = None


def hoist_weight(ctor: cst.Call, statement: cst.SimpleStatementLine, attr: str, imports: ImportMap, *,
                 inputs: set[str], input_shape: str, values: Optional[Mapping[str, cst.BaseExpression]] = None,
                 site: Optional[CallSite] = None, integers: frozenset[str] = frozenset()) -> Hoisted:
    """The variable that `statement` creates with `ctor`, as `self.<attr> = self.add_weight(...)`
    statements for `build`. `inputs` are the names of the layer's input whose static shape
    becomes `input_shape`; for a helper, `site` gives its parameters at the call site (so
    `inputs` holds `call`'s own input parameter)."""
    if site is not None and site.reason is not None:
        return Hoisted(None, site.reason)
    if site is not None:  # before translating: `tf.ones(s) * scale` with `scale=0.5` is a Constant
        ctor = cast(cst.Call, ctor.visit(_Substitute(site.arguments)))
        values = {k: cast(cst.BaseExpression, v.visit(_Substitute(site.arguments))) for k, v in (values or {}).items()}
    statements = weight_statements(ctor, imports, attr, statement, values, integers)
    if statements is None:
        return Hoisted(None, "the `tf.Variable` takes arguments `add_weight` does not (`shape=`, "
                             "`constraint=`, ...)")
    rewritten, unknown = unavailable(statements, inputs, imports, input_shape)
    if unknown:
        names = ", ".join(f"`{n}`" for n in unknown)
        return Hoisted(None, f"its shape or initial value needs {names}, which `build` does not have")
    return Hoisted(rewritten)


def build_input_name(cls: KerasClass) -> str:
    return build_shape_parameter(cls.methods.get("build")) or "input_shape"


# Why a hoist has no fix where every candidate name may be one the class computes.
COMPUTED_NAMES = ("the class sets attributes by computed names (`setattr`, `vars(self)[...]`), so no new "
                  "attribute name is certainly free")


def free_attribute(cls: KerasClass, wanted: str, numbered: bool = False) -> Optional[str]:
    """`wanted`, or a variant no method of the class already uses as `self.<attr>` or by a
    computed name (`vars(self)[f"conv2D_{i}"]` may hold `conv2D_0`): `w_weight` (a weight next
    to a local of the same name), or with `numbered` `dense_1`, `dense_2` (as Keras numbers its
    layers), then `own_dense`...; None where the computed names may be any name."""
    used = {self_attribute(n) for c in cls.lineage() for m in c.methods.values()
            for n in descendants(m)} - {None}
    computed = dynamic_attributes(cls)
    for stem in (wanted, f"own_{wanted}"):
        name, number = stem, 0
        for _ in range(20):
            if name not in used and not any(pattern.fullmatch(name) for pattern in computed):
                return name
            if numbered:
                number += 1
                name = f"{stem}_{number}"
            else:
                name += "_weight" if not name.endswith("_weight") else "_"
    return None


def add_to_init(cls: KerasClass, statements: list[cst.BaseStatement]) -> tuple[cst.CSTNode, object]:
    """An edit that puts `statements` at the end of the class's `__init__`, creating
    `__init__(self, **kwargs)` (passing everything to `super().__init__`) when it has none.
    Not for a class that inherits an `__init__` of its module: the new one would hide its
    signature (and `*args` defeats Keras's automatic `get_config`)."""
    init = cls.methods.get("__init__")
    if init is not None and isinstance(init.body, cst.IndentedBlock):
        def extend(updated: cst.FunctionDef) -> cst.FunctionDef:
            return updated.with_changes(body=updated.body.with_changes(body=[*updated.body.body, *statements]))

        return init, extend

    def create(updated: cst.ClassDef) -> cst.ClassDef:
        method = cast(cst.FunctionDef, cst.parse_statement("def __init__(self, **kwargs):\n    super().__init__(**kwargs)\n"))
        method = method.with_changes(body=method.body.with_changes(body=[*method.body.body, *statements]))
        return _insert_method(updated, method, before=lambda s: True)

    return cls.node, create


def add_to_build(cls: KerasClass, statements: list[cst.BaseStatement]) -> tuple[cst.CSTNode, object]:
    """An edit that puts `statements` at the end of `build` (before a closing
    `super().build(...)`), creating `build(self, input_shape)` when the class has none
    (calling the parent's `build` first when a parent of this module has one)."""
    build = cls.methods.get("build")
    if build is not None and isinstance(build.body, cst.IndentedBlock):
        def extend(updated: cst.FunctionDef) -> cst.FunctionDef:
            body = list(updated.body.body)
            at = len(body) - 1 if body and _is_super_build(body[-1]) else len(body)
            return updated.with_changes(body=updated.body.with_changes(body=body[:at] + statements + body[at:]))

        return build, extend

    # A parent's `build` (of this module or another) makes its own weights: the new one calls it first.
    inherited = [cst.parse_statement("super().build(input_shape)\n")] if (
        cls.method("build") is not None or cls.has_external_method("build")) else []

    def create(updated: cst.ClassDef) -> cst.ClassDef:
        method = cst.FunctionDef(
            name=cst.Name("build"),
            params=cst.Parameters([cst.Param(cst.Name("self")), cst.Param(cst.Name("input_shape"))]),
            body=cst.IndentedBlock([*inherited, *statements]),
        )
        return _insert_method(updated, method, before=lambda s: s.name.value == "call")

    return cls.node, create


def _insert_method(cls: cst.ClassDef, method: cst.FunctionDef, before) -> cst.ClassDef:
    """`cls` with `method` before the first method that `before` accepts (else last); the
    new method takes over that method's leading lines, which gets one blank line."""
    body = list(cls.body.body)
    at = next((i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef) and before(s)), len(body))
    if at < len(body):
        method = method.with_changes(leading_lines=cast(cst.FunctionDef, body[at]).leading_lines)
        body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    else:
        method = method.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    return cls.with_changes(body=cls.body.with_changes(body=body[:at] + [method] + body[at:]))


def _is_super_build(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, cst.Call)
            and isinstance(statement.body[0].value.func, cst.Attribute)
            and statement.body[0].value.func.attr.value == "build")


def assignment(attr: str, value: cst.BaseExpression, like: Optional[cst.SimpleStatementLine] = None
               ) -> cst.SimpleStatementLine:
    assign = cst.Assign([cst.AssignTarget(cst.Attribute(cst.Name("self"), cst.Name(attr)))], value)
    if like is not None:
        return like.with_changes(body=[assign])
    return cst.SimpleStatementLine([assign])


class RenameReads(cst.CSTTransformer):
    """Reads of the local `name` become `replacement` (attribute names and keywords untouched)."""

    def __init__(self, name: str, replacement: cst.BaseExpression) -> None:
        super().__init__()
        self.name, self.replacement = name, replacement

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.replacement if original_node.value == self.name else updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)


def without(original: cst.FunctionDef, statement: cst.CSTNode, rename: Optional[RenameReads],
            imports: Optional[ImportMap] = None):
    """A builder: the function without `statement` (found by position: the updated
    function holds copies), its reads renamed. With `imports`, also without the initializer
    objects only `statement` used (`w_init = tf.random_normal_initializer()`): the weight
    in `build` spells them out, and they have no effect of their own."""
    body = list(original.body.body)
    index = body.index(statement)
    dead = {index} | (set(initializers_only_for(body, index, imports)) if imports is not None else set())
    return lambda updated: _without(updated, dead, rename)


def _without(body_owner: cst.FunctionDef, indices: set[int], rename: Optional[RenameReads]) -> cst.FunctionDef:
    body = without_statements(body_owner.body.body, indices)
    if not body:
        body = [cst.SimpleStatementLine([cst.Pass()])]
    updated = body_owner.with_changes(body=body_owner.body.with_changes(body=body))
    if rename is not None:
        updated = updated.with_changes(body=updated.body.visit(rename))
    return updated


def initializers_only_for(body: list[cst.CSTNode], index: int, imports: ImportMap) -> list[int]:
    """Positions of `name = <initializer constructor>` statements before `body[index]` whose
    name only `body[index]` reads and no other statement binds."""
    found = []
    read = set(names_in(body[index]))
    for position, statement in enumerate(body[:index]):
        alone = isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
        small = cast(cst.SimpleStatementLine, statement).body[0] if alone else None
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and isinstance(small.value, cst.Call) and _is_initializer_constructor(small.value, imports)):
            continue
        name = small.targets[0].target.value
        others = [s for i, s in enumerate(body) if i not in (position, index)]
        if name in read and not any(name in names_in(s) for s in others):
            found.append(position)
    return found


def _is_initializer_constructor(call: cst.Call, imports: ImportMap) -> bool:
    """`tf.random_normal_initializer(stddev=0.1)`, `keras.initializers.GlorotUniform(seed=1)`:
    a constructor of TF's or Keras's, with arguments that run no code."""
    qualified = imports.resolve(call.func) or ""
    if not qualified.startswith(("tensorflow.", "keras.")) or not (
            ".initializers." in qualified or qualified.endswith("_initializer")):
        return False
    return not any(_runs_code(arg.value) for arg in call.args)


def _runs_code(expr: cst.BaseExpression) -> bool:
    return any(isinstance(n, (cst.Call, cst.Lambda, cst.NamedExpr, cst.Await, cst.Yield))
               for n in (expr, *descendants(expr)))


def parameters_only_for(helper: cst.FunctionDef, statements: list[cst.CSTNode]) -> list[str]:
    """The helper's parameters that only `statements` read (`out_dim` of `mix(x, out_dim)`
    when it only sizes the variable): once they move to `build`, nothing needs them. Not
    `self`, nor `*args`/`**kwargs`."""
    params = helper.params
    named = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    rest = [s for s in helper.body.body if not any(s is m for m in statements)]
    read = {n for s in statements for n in names_in(s)}
    defaults = {n for p in (*params.posonly_params, *params.params, *params.kwonly_params)
                if p.default is not None for n in names_in(p.default)}
    return [name for name in named if name != "self" and name in read and name not in defaults
            and not any(name in names_in(s) for s in rest)]


def without_parameters(function: cst.FunctionDef, names: set[str]) -> cst.FunctionDef:
    params = function.params

    def keep(group):
        kept = [p for p in group if p.name.value not in names]
        if kept and group and kept[-1] is not group[-1]:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return kept

    return function.with_changes(params=params.with_changes(
        posonly_params=keep(params.posonly_params), params=keep(params.params),
        kwonly_params=keep(params.kwonly_params)))


def dropping(positions: list[int]):
    """A call-site edit: the call without the arguments at `positions`."""
    def build(updated: cst.Call) -> cst.Call:
        args = [a for i, a in enumerate(updated.args) if i not in positions]
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(args=args)

    return build


def arguments_without(helper: cst.FunctionDef, call: cst.Call, names: set[str]) -> Optional[list[int]]:
    """Positions of `call`'s arguments bound to the parameters `names`, or None when one
    of them runs code (dropping it would drop its effect) or cannot be told."""
    params = helper.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    if positional and positional[0] == "self" and isinstance(call.func, cst.Attribute):
        positional = positional[1:]
    dropped = []
    index = 0
    for position, arg in enumerate(call.args):
        if arg.star:
            return None
        if arg.keyword is not None:
            name: Optional[str] = arg.keyword.value
        else:
            name = positional[index] if index < len(positional) else None
            index += 1
        if name in names:
            if _runs_code(arg.value):
                return None
            dropped.append(position)
    return dropped
