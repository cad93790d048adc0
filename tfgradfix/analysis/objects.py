"""What an object is: a Keras model or layer, a `tf.Module`, or a plain object.

Rules ask before they report or fix anything about `x.variables`, `x.weights`,
`x.predict(...)` or `x(...)`: a from-scratch model written as a plain class has
its own `weights` list and `predict` method, and a `tf.Module`'s variables are
all trainable unless it says otherwise.

An expression is followed to where its value comes from, inside the module:
the assignments of a name in its scope (or the module's), the arguments the
module's callers pass for a parameter, `self.attr = ...` in the class's methods,
what a module function returns. A parameter nobody in the module passes is
judged by how it is used (`.fit`, `.compile`, an annotation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import DataFlow, walk_scope, argument_for, names_in
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.keras import SEEDED_LAYERS, HeldState, own_weights, self_attribute, state_made_by
from tfgradfix.analysis.project import Kind, library_kind
from tfgradfix.analysis.project.model import gives_any
from tfgradfix.analysis.tree import descendants

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import ModuleAnalysis, Scope


@dataclass(frozen=True)
class ObjectInfo:
    kind: Kind
    # Which of `variables`/`weights` hold non-trainable ones, on evidence: a stateful layer
    # (BatchNormalization in both, Keras 3's Dropout seed state in `variables` only), a
    # `trainable=False` weight, a part frozen with `.trainable = False`. NONE means no such
    # evidence was found.
    non_trainable: HeldState = HeldState.NONE
    # Methods its own class defines (a local `predict` returns whatever it returns).
    methods: frozenset[str] = field(default_factory=frozenset)
    # The classes of this module it is certainly an instance of (one, unless joined from several).
    classes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_keras(self) -> bool:
        return self.kind.is_keras


UNKNOWN = ObjectInfo(Kind.UNKNOWN)

# Calling these on a parameter says it is a Keras model.
_MODEL_METHODS = frozenset({"fit", "compile", "fit_generator", "train_on_batch", "evaluate", "summary"})
_DEPTH = 8


def describe(scope: "Scope", expr: cst.BaseExpression) -> ObjectInfo:
    """What `expr`, evaluated in `scope`, is."""
    return _Describer(scope.module).expression(scope, expr, 0)


def class_kind(analysis: "ModuleAnalysis", callee: cst.BaseExpression) -> tuple[Kind, Optional[cst.ClassDef]]:
    """What instances of the class `callee` names are, and its definition when it is
    a class of this module. Every lookup of a class goes through here: classes of this
    module by their bases, others through the project index (classes of other project
    modules, through any chain of bases), else by the library name they were imported as."""
    if isinstance(callee, cst.Name):
        node = analysis.class_nodes.get(callee.value)
        if node is not None:
            return _local_class_kind(analysis, node, set()), node
    dotted = dotted_name(callee)
    if analysis.project is not None and analysis.module_name is not None and dotted is not None:
        return analysis.project.class_kind(analysis.module_name, dotted), None
    qualified = analysis.imports.resolve(callee)
    return (library_kind(qualified) if qualified is not None else Kind.UNKNOWN), None


def _project_methods(analysis: "ModuleAnalysis", callee: cst.BaseExpression) -> frozenset[str]:
    """The methods a class of another project module defines, with its project bases'."""
    dotted = dotted_name(callee)
    if analysis.project is None or analysis.module_name is None or dotted is None:
        return frozenset()
    definition = analysis.project.resolve(analysis.module_name, dotted)
    if definition is None or definition.kind != "class":
        return frozenset()
    return frozenset(m for cls in analysis.project.lineage(definition.module, definition.name) for m in cls.methods)


def _state_of_class(analysis: "ModuleAnalysis", callee: cst.BaseExpression,
                    call: Optional[cst.Call] = None) -> HeldState:
    """Whether `callee` names a stateful Keras layer, or a class of another project module
    whose instances hold non-trainable variables (the index knows its body, its bases and
    the classes it constructs, across modules); `call`, the construction, where known."""
    dotted = dotted_name(callee)
    if analysis.project is None or analysis.module_name is None or dotted is None:
        return HeldState.NONE
    qualified = analysis.project.qualified(analysis.module_name, dotted)
    if qualified is None:
        return HeldState.NONE
    given = _given(call) if call is not None else None
    held = max(state_made_by(qualified), analysis.project.holds_state(qualified, given))
    # A module on Keras 2 or TF 1.x runs the classes it uses there: no seed generator state.
    return HeldState.NONE if held is HeldState.VARIABLES and analysis.legacy_keras else held


def _given(call: cst.Call) -> frozenset[str]:
    """As `project.model.given_arguments`, of a LibCST call."""
    given, position = set(), 0
    for arg in call.args:
        if arg.star == "**":
            given.add("**")
        elif arg.star == "*":
            given.add("*")
        elif arg.keyword is not None:
            given.add(arg.keyword.value)
        else:
            given.add(f"#{position}")
            position += 1
    return frozenset(given)


def _unset_seed_rates(analysis: "ModuleAnalysis", name: str, constructions: list[cst.Call]) -> frozenset[str]:
    """The rate parameters defaulting to zero (`ClassInfo.seed_rates`) of the module's class `name`
    that none of its `constructions` gives: the seeded layers made with them have no seed."""
    if not constructions or analysis.project is None or analysis.module_name is None:
        return frozenset()
    info = analysis.project.class_info(analysis.module_name, name)
    if info is None:
        return frozenset()
    return frozenset(rate for rate, position in info.seed_rates
                     if not any(gives_any(_given(c), ((rate, position),)) for c in constructions))


def _seedless(call: cst.Call, unset: frozenset[str]) -> bool:
    """A seeded layer made with a rate of zero, literally or through a parameter left to its zero default."""
    rate = call.args[0] if call.args and call.args[0].keyword is None and not call.args[0].star else next(
        (a for a in call.args if a.keyword is not None and a.keyword.value in ("rate", "stddev")), None)
    if rate is None:
        return False
    value = rate.value
    if isinstance(value, cst.Name):
        return value.value in unset
    return isinstance(value, (cst.Integer, cst.Float)) and float(value.value) == 0


def _local_class_kind(analysis: "ModuleAnalysis", node: cst.ClassDef, seen: set[str]) -> Kind:
    kinds = {_base_kind(analysis, base.value, seen | {node.name.value})
             for base in node.bases if base.keyword is None}
    for kind in (Kind.KERAS_MODEL, Kind.KERAS_LAYER, Kind.TF_MODULE, Kind.UNKNOWN):
        if kind in kinds:
            return kind
    return Kind.PLAIN


def _base_kind(analysis: "ModuleAnalysis", base: cst.BaseExpression, seen: set[str]) -> Kind:
    if isinstance(base, cst.Name):
        if base.value == "object":
            return Kind.PLAIN
        node = analysis.class_nodes.get(base.value)
        if node is not None:
            return Kind.UNKNOWN if base.value in seen else _local_class_kind(analysis, node, seen)
    return class_kind(analysis, base)[0]


def _join(infos: Iterable[ObjectInfo]) -> ObjectInfo:
    infos = list(infos)
    if not infos:
        return UNKNOWN
    kinds = {i.kind for i in infos}
    kind = kinds.pop() if len(kinds) == 1 else Kind.UNKNOWN
    methods = frozenset.intersection(*(i.methods for i in infos))
    classes = frozenset.union(*(i.classes for i in infos)) if all(i.classes for i in infos) else frozenset()
    return ObjectInfo(kind, max(i.non_trainable for i in infos), methods, classes)


class _Describer:
    def __init__(self, analysis: "ModuleAnalysis") -> None:
        self.analysis = analysis
        self._seen: set[tuple[int, str]] = set()
        self._bindings: dict[int, DataFlow] = {}

    def bindings(self, scope: "Scope", name: str) -> list[cst.BaseExpression]:
        flow = scope.flow or self._bindings.get(id(scope))
        if flow is None:  # a scope off the gradient path: its assignments only, no taint
            flow = self._bindings[id(scope)] = DataFlow(scope=scope, imports=self.analysis.imports)
            flow.collect(scope.body)
        return [b.value for b in flow.bindings if b.name == name]

    def expression(self, scope: "Scope", expr: cst.BaseExpression, depth: int,
                   bound_to: Optional[str] = None) -> ObjectInfo:
        """`bound_to`: the name `expr` is assigned to, whose later `.add(...)` are its parts."""
        if depth > _DEPTH:
            return UNKNOWN
        if isinstance(expr, cst.Name):
            if expr.value == "self" and scope.owner is not None:
                return self.instance(scope.owner, [])
            return self.name(scope, expr.value, depth)
        attr = self_attribute(expr)
        if attr is not None and scope.owner is not None:
            return self.attribute(scope.owner, attr, depth)
        if isinstance(expr, cst.Call):
            return self.call(scope, expr, depth, bound_to)
        if isinstance(expr, (cst.List, cst.Tuple)):  # `for model in [a, b]`
            return _join(self.expression(scope, e.value, depth + 1) for e in expr.elements)
        if isinstance(expr, cst.Subscript):  # `models[0]`
            return self.expression(scope, expr.value, depth + 1)
        return UNKNOWN

    def name(self, scope: "Scope", name: str, depth: int) -> ObjectInfo:
        key = (id(scope), name)
        if key in self._seen:
            return UNKNOWN
        self._seen.add(key)
        try:
            values = self.bindings(scope, name)
            if values:
                return _join(self.expression(scope, v, depth + 1, name) for v in values)
            if name in scope.parameter_names:
                return self.parameter(scope, name, depth)
            if scope.enclosing is not None:
                # a closure reads the enclosing function's names: the model a factory was given
                return self.name(scope.enclosing, name, depth + 1)
            module_scope = self.analysis.scopes[self.analysis.module]
            if scope is not module_scope:
                return self.name(module_scope, name, depth + 1)
            return UNKNOWN
        finally:
            self._seen.discard(key)

    def parameter(self, scope: "Scope", name: str, depth: int) -> ObjectInfo:
        assert isinstance(scope.node, (cst.FunctionDef, cst.Lambda))
        passed = []
        for caller, call in self.analysis.callers_of(scope):
            value = argument_for(scope.node, call, name)
            if value is None:
                return self._by_use(scope, name)
            passed.append(self.expression(caller, value, depth + 1))
        return _join(passed) if passed else self._by_use(scope, name)

    def _by_use(self, scope: "Scope", name: str) -> ObjectInfo:
        """A parameter the module never passes: its annotation, the methods called on it,
        or a call with Keras's `training=` argument."""
        assert isinstance(scope.node, (cst.FunctionDef, cst.Lambda))
        for param in scope.node.params.params + scope.node.params.kwonly_params:
            if param.name.value == name and param.annotation is not None:
                kind, node = class_kind(self.analysis, param.annotation.annotation)
                if kind is not Kind.UNKNOWN:
                    return self.instance(node, []) if node is not None else ObjectInfo(kind)
        for node in walk_scope(scope.body):
            if not isinstance(node, cst.Call):
                continue
            callee = node.func
            if (isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Name)
                    and callee.value.value == name and callee.attr.value in _MODEL_METHODS):
                return ObjectInfo(Kind.KERAS_MODEL)
            if (isinstance(callee, cst.Name) and callee.value == name
                    and any(a.keyword is not None and a.keyword.value == "training" for a in node.args)):
                return ObjectInfo(Kind.KERAS_MODEL)  # `model(x, training=True)`: Keras's own argument
        return UNKNOWN

    def attribute(self, owner: cst.ClassDef, attr: str, depth: int) -> ObjectInfo:
        values = []
        for method in _methods(self.analysis, owner):
            method_scope = self.analysis.scopes.get(method)
            if method_scope is None:
                continue
            for node in walk_scope(method_scope.body):
                if isinstance(node, cst.Assign) and any(self_attribute(t.target) == attr for t in node.targets):
                    values.append(self.expression(method_scope, node.value, depth + 1))
        return _join(values)

    def call(self, scope: "Scope", call: cst.Call, depth: int, bound_to: Optional[str] = None) -> ObjectInfo:
        callee = call.func
        if isinstance(callee, cst.Name) and callee.value in self.analysis.functions:
            function = self.analysis.scopes[self.analysis.functions[callee.value]]
            returns = [n.value for n in walk_scope(function.body) if isinstance(n, cst.Return) and n.value is not None]
            return _join(self.expression(function, r, depth + 1) for r in returns)
        kind, node = class_kind(self.analysis, callee)
        if node is not None:
            return self.instance(node, [call])
        if kind.is_keras:
            return ObjectInfo(kind, max(self._holds_non_trainable(self._parts(scope, call, bound_to), set()),
                                        state_made_by(self.analysis.imports.resolve(callee) or ""),
                                        _state_of_class(self.analysis, callee, call)),
                              _project_methods(self.analysis, callee))
        state = _state_of_class(self.analysis, callee, call) if kind is Kind.TF_MODULE else HeldState.NONE
        return ObjectInfo(kind, state, _project_methods(self.analysis, callee))

    def _parts(self, scope: "Scope", call: cst.Call, bound_to: Optional[str]) -> list[cst.CSTNode]:
        """What a model put together in `scope` is made of: the call, the values of the
        names it reads (`Model(inputs, outputs)` with `outputs = BatchNormalization()(h)`,
        a backbone), what is `.add`ed to it, and `.trainable = False` on any of those."""
        nodes = list(descendants(call))
        names: set[str] = set()
        work = list(names_in(call)) + ([bound_to] if bound_to else [])
        statements = list(walk_scope(scope.body))
        while work:
            name = work.pop()
            if name in names:
                continue
            names.add(name)
            for value in self.bindings(scope, name):
                if value is not call:
                    nodes.extend(descendants(value))
                    work.extend(names_in(value))
            for node in statements:
                if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                        and node.func.attr.value == "add" and isinstance(node.func.value, cst.Name)
                        and node.func.value.value == name):
                    nodes.extend(descendants(node))
                    work.extend(names_in(node))
                elif isinstance(node, cst.Assign) and any(
                        isinstance(t.target, cst.Attribute) and name in names_in(t.target.value)
                        for t in node.targets):
                    nodes.append(node)
        return nodes

    def instance(self, node: cst.ClassDef, constructions: list[cst.Call]) -> ObjectInfo:
        kind = _local_class_kind(self.analysis, node, set())
        methods = frozenset(m.name.value for m in _methods(self.analysis, node))
        classes = frozenset({node.name.value})
        if kind is Kind.PLAIN or kind is Kind.UNKNOWN:
            return ObjectInfo(kind, HeldState.NONE, methods, classes)
        lineage = list(_lineage(self.analysis, node))
        parts = [n for root in [*constructions, *lineage] for n in descendants(root)]
        bases = [base.value for cls in lineage for base in cls.bases
                 if base.keyword is None and not (isinstance(base.value, cst.Name)
                                                  and base.value.value in self.analysis.class_nodes)]
        unset = _unset_seed_rates(self.analysis, node.name.value, constructions)
        return ObjectInfo(kind, max([self._holds_non_trainable(parts, {node.name.value}, unset),
                                     *(_state_of_class(self.analysis, base) for base in bases)]), methods, classes)

    def _holds_non_trainable(self, nodes: Iterable[cst.CSTNode], classes: set[str],
                             unset: frozenset[str] = frozenset()) -> HeldState:
        """Which lists show the non-trainable variables that `nodes` make: a stateful layer,
        a non-trainable weight, a frozen part; classes of the module made there count with
        their own bodies. `unset`: rate parameters its constructions leave to zero."""
        imports = self.analysis.imports
        held = HeldState.NONE
        for node in nodes:
            if isinstance(node, cst.Call):
                if any(_is_keyword(a, "trainable", "False") for a in node.args):
                    return HeldState.WEIGHTS
                qualified = imports.resolve(node.func) or ""
                if qualified.startswith(("tensorflow.", "keras", "tf_keras")):
                    made = state_made_by(qualified)
                    if qualified.rsplit(".", 1)[-1] in SEEDED_LAYERS and _seedless(node, unset):
                        continue  # `Dropout(0.)`: Keras 3 makes no seed generator
                    if not (made is HeldState.VARIABLES and self.analysis.legacy_keras):
                        held = max(held, made)  # Keras 2's and TF 1.x's noise layers hold no variable
                elif isinstance(node.func, cst.Name) and node.func.value in self.analysis.class_nodes:
                    local = self.analysis.class_nodes[node.func.value]
                    if node.func.value not in classes:
                        held = max(held, self._holds_non_trainable(
                            (n for c in _lineage(self.analysis, local) for n in descendants(c)),
                            classes | {node.func.value}, _unset_seed_rates(self.analysis, node.func.value, [node])))
                else:
                    held = max(held, _state_of_class(self.analysis, node.func, node))
            elif isinstance(node, cst.Assign) and _false(node.value):
                if any(isinstance(t.target, cst.Attribute) and t.target.attr.value == "trainable"
                       for t in node.targets):
                    return HeldState.WEIGHTS
            if held is HeldState.WEIGHTS:
                return held
        return held


def _is_keyword(arg: cst.Arg, keyword: str, value: str) -> bool:
    return (arg.keyword is not None and arg.keyword.value == keyword
            and isinstance(arg.value, cst.Name) and arg.value.value == value)


def _false(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Name) and value.value == "False"


def _lineage(analysis: "ModuleAnalysis", node: cst.ClassDef) -> Iterable[cst.ClassDef]:
    """The class and its bases defined in this module."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.name.value in seen:
            continue
        seen.add(current.name.value)
        yield current
        for base in current.bases:
            if isinstance(base.value, cst.Name) and base.value.value in analysis.class_nodes:
                stack.append(analysis.class_nodes[base.value.value])


def _methods(analysis: "ModuleAnalysis", node: cst.ClassDef) -> Iterable[cst.FunctionDef]:
    for cls in _lineage(analysis, node):
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef):
                yield stmt


def module_weights(analysis: "ModuleAnalysis", callee: cst.BaseExpression) -> tuple[str, ...]:
    """The trainable `tf.Variable` attributes an instance of the `tf.Module` class `callee`
    names makes for itself (not state: `trainable=False`, integer, open-shaped, moved by
    `.assign`), from its body here or, for a class of another project module, from the
    index. Keras 3 does not track them when a Keras layer holds the instance."""
    kind, node = class_kind(analysis, callee)
    if kind is not Kind.TF_MODULE:
        return ()
    if node is not None:
        return tuple(sorted(set().union(*(own_weights(cls, analysis.imports) for cls in _lineage(analysis, node)))))
    dotted = dotted_name(callee)
    if analysis.project is None or analysis.module_name is None or dotted is None:
        return ()
    definition = analysis.project.resolve(analysis.module_name, dotted)
    if definition is None or definition.kind != "class":
        return ()
    return tuple(sorted({w for cls in analysis.project.lineage(definition.module, definition.name)
                         for w in cls.weights - cls.state}))
