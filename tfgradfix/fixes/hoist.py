"""Moving a variable created on the forward pass into `build()` as `self.add_weight(...)`.

Shared by TGF201 (created in a helper) and TGF202 (created in `call`). The
weight's arguments may only use what `build` knows: constants, imports, `self`
attributes, and the input's static shape (`inputs.shape[-1]` becomes
`input_shape[-1]`).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import names_in
from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.keras import KerasClass, self_attribute
from tfgradfix.analysis.tree import descendants
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


def weight_statements(ctor: cst.Call, imports: ImportMap, attr: str,
                      like: cst.SimpleStatementLine) -> Optional[list[cst.SimpleStatementLine]]:
    """`self.<attr> = self.add_weight(...)` equivalent to the constructor (a `tf.Variable`
    translated, or an `add_weight` call as it is), after its prelude if it needs one."""
    if isinstance(ctor.func, cst.Attribute) and ctor.func.attr.value == "add_weight":
        return [assignment(attr, ctor, like)]
    weight = WeightTranslator(imports).from_variable(ctor, initial=f"initial_{attr.lstrip('_')}")
    if weight is None:
        return None
    if weight.prelude is None:
        return [assignment(attr, weight.add_weight(), like)]
    return [weight.prelude.with_changes(leading_lines=like.leading_lines), assignment(attr, weight.add_weight())]


def buildable(statements: list[cst.SimpleStatementLine], inputs: set[str], imports: ImportMap,
              input_shape: str) -> Optional[list[cst.SimpleStatementLine]]:
    """The statements rewritten for `build`, or None when they need values only `call` has."""
    rewritten = [s.visit(_Shapes(inputs, input_shape)) for s in statements]
    bound = {name for s in rewritten for small in s.body if isinstance(small, cst.Assign)
             for t in small.targets if isinstance(t.target, cst.Name) for name in [t.target.value]}
    values = [small.value for s in rewritten for small in s.body if isinstance(small, cst.Assign)]
    lambda_parameters = {"shape", "dtype"}
    unknown = {n for v in values for n in names_in(v)} - _KNOWN_NAMES - set(imports.bindings) - {input_shape} \
        - bound - lambda_parameters
    return None if unknown else rewritten


def build_input_name(cls: KerasClass) -> str:
    build = cls.methods.get("build")
    if build is not None and len(build.params.params) >= 2:
        return build.params.params[1].name.value
    return "input_shape"


def free_attribute(cls: KerasClass, wanted: str) -> str:
    """`wanted`, or a variant no method of the class already uses as `self.<attr>`."""
    used = {self_attribute(n) for m in cls.methods.values() for n in descendants(m)} - {None}
    name = wanted
    while name in used:
        name += "_weight" if not name.endswith("_weight") else "_"
    return name


def add_to_build(cls: KerasClass, statements: list[cst.BaseStatement]) -> tuple[cst.CSTNode, object]:
    """An edit that puts `statements` at the end of `build` (before a closing
    `super().build(...)`), creating `build(self, input_shape)` when the class has none."""
    build = cls.methods.get("build")
    if build is not None and isinstance(build.body, cst.IndentedBlock):
        def extend(updated: cst.FunctionDef) -> cst.FunctionDef:
            body = list(updated.body.body)
            at = len(body) - 1 if body and _is_super_build(body[-1]) else len(body)
            return updated.with_changes(body=updated.body.with_changes(body=body[:at] + statements + body[at:]))

        return build, extend

    # A base class's own `build` (in this module or another) must still run.
    inherited = cls.method("build") is not None or cls.has_external_method("build")
    first = [cst.parse_statement("super().build(input_shape)")] if inherited else []

    def create(updated: cst.ClassDef) -> cst.ClassDef:
        method = cst.FunctionDef(
            name=cst.Name("build"),
            params=cst.Parameters([cst.Param(cst.Name("self")), cst.Param(cst.Name("input_shape"))]),
            body=cst.IndentedBlock([*first, *statements]),
            leading_lines=[cst.EmptyLine(indent=False)],
        )
        body = list(updated.body.body)
        at = next((i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef) and s.name.value == "call"),
                  len(body))
        return updated.with_changes(body=updated.body.with_changes(body=body[:at] + [method] + body[at:]))

    return cls.node, create


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


def without(original: cst.FunctionDef, statement: cst.CSTNode, rename: Optional[RenameReads]):
    """A builder: the function without `statement` (found by position: the updated
    function holds copies), its reads renamed."""
    index = list(original.body.body).index(statement)
    return lambda updated: _without(updated, index, rename)


def _without(body_owner: cst.FunctionDef, index: int, rename: Optional[RenameReads]) -> cst.FunctionDef:
    body = [s for i, s in enumerate(body_owner.body.body) if i != index]
    if not body:
        body = [cst.SimpleStatementLine([cst.Pass()])]
    updated = body_owner.with_changes(body=body_owner.body.with_changes(body=body))
    if rename is not None:
        updated = updated.with_changes(body=updated.body.visit(rename))
    return updated

