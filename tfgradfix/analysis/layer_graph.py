"""Where a layer sits in a model, from the code that builds the model.

A function handed to `keras.layers.Lambda` runs on the gradient path, but whether an op
there with no gradient loses one the code wants depends on the model around it: rounding
the raw inputs before the first layer (`Sequential([Lambda(tf.round), Dense(1)])`) is
preprocessing, and an `argmax` after the last layer of an inference model is its
prediction. Between a layer with trainable weights and another layer
(`Sequential([Dense(8), Lambda(lambda x: tf.round(x)), Dense(1)])`, or
`Dense(1)(Lambda(f)(Dense(8)(inputs)))` in the functional API), it cuts the weights before
it off from the loss: that is the evidence `between_layers` looks for, in the code that
builds the model. The same reading says when a weightless layer class of the module only
ever sees a model's raw inputs (`applied_to_raw_inputs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import parameters, target_names, walk_scope
from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.keras import SEEDED_LAYERS, STATELESS_LAYERS, KerasClass, constructed_layer, keras_layer_name
from tfgradfix.analysis.tree import Parents, descendants
from tfgradfix.analysis.vocabulary import KERAS_PACKAGES

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import ModuleAnalysis, Scope

# Built-in layers whose variables are all non-trainable, or that hold none worth a gradient.
_UNTRAINED_LAYERS = frozenset({
    "Normalization", "TextVectorization", "StringLookup", "IntegerLookup", "Discretization", "Hashing",
    "CategoryEncoding", "InputLayer", "Input",
})
_DEPTH = 6
_INPUTS = ("Input", "InputLayer")


def between_layers(analysis: "ModuleAnalysis", scope: "Scope", layer: cst.Call) -> bool:
    """Whether the `Lambda(...)` construction `layer`, in `scope`, sits after a layer with
    trainable weights and before another layer: in a `Sequential([...])` list, a run of
    `model.add(...)`, or a functional graph (`Lambda(f)(h)` with `h` from such a layer and
    the result given to another layer)."""
    parents = _parents(analysis, scope)
    parent = parents(layer)
    if isinstance(parent, cst.Element):
        return _in_sequential(analysis, parents, parent)
    if isinstance(parent, cst.Arg):
        return _in_added_run(analysis, scope, parents, parent)
    if isinstance(parent, cst.Call) and parent.func is layer:
        return _in_functional_graph(analysis, scope, parents, parent)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
        name = parent.targets[0].target.value  # `quantize = Lambda(f)`, then `quantize(h)`
        return any(_in_functional_graph(analysis, scope, parents, call) for call in _calls_of(scope, name))
    return False


def _in_sequential(analysis, parents, element: cst.Element) -> bool:
    container = parents(element)
    call = parents(parents(container)) if isinstance(container, (cst.List, cst.Tuple)) else None
    if not (isinstance(call, cst.Call) and _is_keras(analysis, call.func, "Sequential")):
        return False
    items = [e.value for e in container.elements]
    index = next(i for i, e in enumerate(container.elements) if e is element)
    return (any(_trains(analysis, item) for item in items[:index])
            and any(isinstance(item, (cst.Call, cst.Name, cst.Attribute)) for item in items[index + 1:]))


def raw_input_names(analysis: "ModuleAnalysis", function: "Scope") -> frozenset[str]:
    """Names a `Lambda` function unpacks from its argument (`real, fake = pair`) where every
    construction applies the layer to a list that holds a model's raw input at that place
    (`Lambda(loss_terms)([truth, generated])`, `truth = Input(...)`): data no weight reaches,
    however the function's parameter as a whole is taken."""
    node = function.node
    if not function.lambda_sites or not isinstance(node, cst.FunctionDef) or not node.params.params:
        return frozenset()
    first = node.params.params[0].name.value
    unpacked = []
    for line in node.body.body:
        assign = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
        if (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, (cst.Tuple, cst.List))
                and isinstance(assign.value, cst.Name) and assign.value.value == first):
            unpacked.append([e.value.value if isinstance(e.value, cst.Name) else None
                             for e in assign.targets[0].target.elements])
    if len(unpacked) != 1:
        return frozenset()
    raw: Optional[set[int]] = None
    for scope, layer in function.lambda_sites:
        applied = _parents(analysis, scope)(layer)
        if not (isinstance(applied, cst.Call) and applied.func is layer and applied.args
                and isinstance(applied.args[0].value, (cst.List, cst.Tuple))):
            return frozenset()
        elements = applied.args[0].value.elements
        here = {i for i, e in enumerate(elements) if _raw_input(analysis, scope, e.value)}
        raw = here if raw is None else raw & here
    return frozenset(name for i, name in enumerate(unpacked[0]) if i in (raw or ()) and name is not None)


def _raw_input(analysis, scope, expr: cst.BaseExpression) -> bool:
    """A name bound once to `keras.Input(...)` in `scope`."""
    if not isinstance(expr, cst.Name):
        return False
    values = scope.local_definitions().get(expr.value, [])
    return len(values) == 1 and isinstance(values[0], cst.Call) and any(
        _is_keras(analysis, values[0].func, name) for name in _INPUTS)


def _in_added_run(analysis, scope, parents, arg: cst.Arg) -> bool:
    """`model.add(Lambda(f))` between `model.add(Dense(...))` and another `model.add(...)`."""
    call = parents(arg)
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "add"
            and isinstance(call.func.value, cst.Name)):
        return False
    model = call.func.value.value
    added = [c for c in _calls(scope) if isinstance(c.func, cst.Attribute) and c.func.attr.value == "add"
             and isinstance(c.func.value, cst.Name) and c.func.value.value == model and c.args]
    if call not in added:
        return False
    index = added.index(call)
    return (any(_trains(analysis, c.args[0].value) for c in added[:index])
            and bool(added[index + 1:]))


def _in_functional_graph(analysis, scope, parents, applied: cst.Call) -> bool:
    """`Lambda(f)(h)`: `h` comes from a layer with trainable weights, and the result goes into
    another layer (directly, or through the name it is bound to)."""
    inputs = [a.value for a in applied.args if a.keyword is None]
    if not inputs or not _from_trained_layer(analysis, scope, inputs[0], 0):
        return False
    parent = parents(applied)
    if isinstance(parent, cst.Arg) and isinstance(parents(parent), cst.Call):
        return _is_layer_call(analysis, scope, parents(parent))
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
        name = parent.targets[0].target.value
        return any(_is_layer_call(analysis, scope, call) and any(
            isinstance(a.value, cst.Name) and a.value.value == name for a in call.args) for call in _calls(scope))
    return False


def _from_trained_layer(analysis, scope, expr: cst.BaseExpression, depth: int) -> bool:
    if depth > _DEPTH:
        return False
    if isinstance(expr, cst.Name):
        values = scope.local_definitions().get(expr.value, [])
        return len(values) == 1 and isinstance(values[0], cst.BaseExpression) and _from_trained_layer(
            analysis, scope, values[0], depth + 1)
    if not (isinstance(expr, cst.Call) and expr.args):
        return False
    layer = _layer_of(analysis, scope, expr.func)
    if layer is None:
        return False
    if _trains(analysis, layer):
        return True
    inputs = [a.value for a in expr.args if a.keyword is None]
    return bool(inputs) and _from_trained_layer(analysis, scope, inputs[0], depth + 1)


def _layer_of(analysis, scope, func: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The layer construction a call applies: `Dense(8)(x)`, or `dense(x)` with `dense = Dense(8)`."""
    if isinstance(func, cst.Call) and constructed_or_lambda(analysis, func):
        return func
    if isinstance(func, cst.Name):
        values = scope.local_definitions().get(func.value, [])
        if len(values) == 1 and isinstance(values[0], cst.Call) and constructed_or_lambda(analysis, values[0]):
            return values[0]
    return None


def constructed_or_lambda(analysis, call: cst.Call) -> bool:
    qualified = analysis.imports.resolve(call.func) or ""
    return keras_layer_name(qualified) is not None or (
        isinstance(call.func, cst.Name) and call.func.value in analysis.class_names
        and analysis.keras_classes.get(analysis.class_nodes[call.func.value]) is not None)


def _is_layer_call(analysis, scope, call: cst.Call) -> bool:
    return _layer_of(analysis, scope, call.func) is not None


def _trains(analysis, item: cst.BaseExpression) -> bool:
    """A construction of a layer with trainable weights (`Dense(8)`, a layer class of the
    module that creates weights)."""
    if not isinstance(item, cst.Call):
        return False
    qualified = analysis.imports.resolve(item.func) or ""
    name = keras_layer_name(qualified)
    if name is not None and name in _UNTRAINED_LAYERS:
        return False
    module_classes = {c.name: c for c in analysis.keras_classes.values()}
    found = constructed_layer(item, analysis.imports, module_classes)
    return found is not None and found[1] == "weights"


def _is_keras(analysis, func: cst.BaseExpression, name: str) -> bool:
    qualified = analysis.imports.resolve(func) or ""
    return qualified.rsplit(".", 1)[-1] == name and qualified.startswith(KERAS_PACKAGES)


def _calls(scope) -> list[cst.Call]:
    return [n for n in walk_scope(scope.body) if isinstance(n, cst.Call)]


def _calls_of(scope, name: str) -> list[cst.Call]:
    return [c for c in _calls(scope) if isinstance(c.func, cst.Name) and c.func.value == name]


def _parents(analysis, scope) -> Parents:
    cache = analysis.__dict__.setdefault("_layer_graph_parents", {})
    found = cache.get(id(scope.node))
    if found is None:
        found = cache[id(scope.node)] = Parents(scope.node)
    return found


def inherits_weights(cls, imports) -> bool:
    """Whether the Keras class `cls` derives from a built-in layer with trainable weights
    (`class Encoder(layers.Dense)`): `super().call(inputs)` runs that layer's kernel."""
    names = [imports.resolve(base.value) or "" for c in cls.lineage() for base in c.node.bases]
    names += [base for c in cls.external_lineage() for base in c.bases]
    return any(_weighted_builtin(name) for name in names)


def _weighted_builtin(qualified: str) -> bool:
    name = keras_layer_name(qualified)
    return (name is not None and name[:1].isupper() and name not in STATELESS_LAYERS and name not in SEEDED_LAYERS
            and name not in _UNTRAINED_LAYERS and name not in ("Layer", "Wrapper") and not name.startswith("Random"))


def applied_to_raw_inputs(module: cst.Module, imports: ImportMap, cls: KerasClass) -> bool:
    """Whether the layer class `cls`, weightless and holding no sub-layers, is used in `module`
    only on a model's raw inputs: `Augment(...)(x)` where `x` is `keras.Input(...)`, or comes from
    it through weightless layers only (`Dropout`, `Lambda`, this class again), or first in a
    `Sequential([...])` after such layers. Nothing upstream trains, so its `call` has no
    gradient to lose (a data augmentation layer). At least one use; any other use of the
    class name outside its own body (handed on, subclassed, stored) is not followed."""
    if any(c.weights for c in cls.lineage()) or cls.external or _holds_layers(cls.node, imports):
        return False
    parents = Parents(module)
    constructions = _constructions(module, parents, cls.node)
    if not constructions:
        return False
    for construction in constructions:
        applied_call = parents(construction)
        if isinstance(applied_call, cst.Call) and applied_call.func is construction:
            inputs = [a.value for a in applied_call.args if a.keyword is None]
            if not inputs or not _raw(imports, parents, cls.name, inputs[0], set()):
                return False
        elif not _first_in_sequential(imports, parents, cls.name, construction):
            return False
    return True


def _constructions(module: cst.Module, parents: Parents, cls: cst.ClassDef) -> Optional[list[cst.Call]]:
    """Every `Cls(...)` of the module outside the class's own body; None when the name is
    also used otherwise (handed on, subclassed, stored), which is not followed."""
    own = {id(n) for n in descendants(cls)}
    found = []
    for node in descendants(module):
        if isinstance(node, cst.Name) and node.value == cls.name.value and id(node) not in own:
            construction = parents(node)
            if not (isinstance(construction, cst.Call) and construction.func is node):
                return None
            found.append(construction)
    return found


def _holds_layers(node: cst.ClassDef, imports: ImportMap) -> bool:
    """A Keras layer or model stored on `self` anywhere in the class."""
    for child in descendants(node):
        if isinstance(child, cst.Assign) and isinstance(child.value, cst.Call) and any(
                isinstance(t.target, cst.Attribute) for t in child.targets):
            made = imports.resolve(child.value.func) or ""
            if made.startswith(KERAS_PACKAGES) and (".layers." in made or ".models." in made or made.endswith("Model")):
                return True
            if isinstance(child.value.func, cst.Name) and child.value.func.value[:1].isupper():
                return True  # a class of the project: it may hold weights
    return False


def _weightless(imports: ImportMap, construction: cst.BaseExpression, cls_name: str) -> bool:
    if not isinstance(construction, cst.Call):
        return False
    if isinstance(construction.func, cst.Name) and construction.func.value == cls_name:
        return True
    name = keras_layer_name(imports.resolve(construction.func) or "")
    return name is not None and (name in STATELESS_LAYERS or name in SEEDED_LAYERS or name.startswith("Random"))


def _is_input(imports: ImportMap, expr: cst.BaseExpression) -> bool:
    if not isinstance(expr, cst.Call):
        return False
    qualified = imports.resolve(expr.func) or ""
    return qualified.startswith(KERAS_PACKAGES) and qualified.rsplit(".", 1)[-1] in _INPUTS


def _raw(imports: ImportMap, parents: Parents, cls_name: str, expr: cst.BaseExpression,
         seen: set[str]) -> Optional[bool]:
    """Whether `expr` is a model's raw input: True, False, or None for a name already being
    followed (a name rebound through the layers: `x = Augment()(x)`)."""
    if _is_input(imports, expr):
        return True
    if isinstance(expr, cst.Call):
        inputs = [a.value for a in expr.args if a.keyword is None]
        return bool(inputs) and _weightless(imports, expr.func, cls_name) and _raw(
            imports, parents, cls_name, inputs[0], seen) is not False
    if not isinstance(expr, cst.Name) or len(seen) > _DEPTH:
        return False
    if expr.value in seen:
        return None
    scope = parents(expr)
    while scope is not None and not isinstance(scope, (cst.FunctionDef, cst.Module)):
        scope = parents(scope)
    if scope is None or (isinstance(scope, cst.FunctionDef)
                         and any(p.name.value == expr.value for p in parameters(scope))):
        return False
    values = []
    body = scope.body.body if isinstance(scope, cst.FunctionDef) else scope.body
    for node in walk_scope(list(body)):
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            if node.targets[0].target.value == expr.value:
                values.append(node.value)
        elif expr.value in _bound_names(node):
            return False  # bound some other way: a loop, a tuple, `+=`
    verdicts = [_raw(imports, parents, cls_name, v, seen | {expr.value}) for v in values]
    return bool(verdicts) and False not in verdicts and True in verdicts


def _bound_names(node: cst.CSTNode) -> set[str]:
    if isinstance(node, cst.Assign):
        return {n for t in node.targets for n in target_names(t.target)}
    if isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)):
        return set(target_names(node.target))
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return set(target_names(node.asname.name))
    return set()


def _first_in_sequential(imports: ImportMap, parents: Parents, cls_name: str, construction: cst.Call) -> bool:
    element = parents(construction)
    container = parents(element) if isinstance(element, cst.Element) else None
    if not (isinstance(element, cst.Element) and isinstance(container, (cst.List, cst.Tuple))):
        return False
    argument = parents(container)
    call = parents(argument) if argument is not None else None
    if not isinstance(call, cst.Call):
        return False
    qualified = imports.resolve(call.func) or ""
    if not (qualified.startswith(KERAS_PACKAGES) and qualified.endswith("Sequential")):
        return False
    index = next(i for i, e in enumerate(container.elements) if e is element)
    before = [e.value for e in container.elements[:index]]
    return all(_is_input(imports, item) or _weightless(imports, item, cls_name) for item in before)
