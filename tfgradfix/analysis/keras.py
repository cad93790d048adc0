"""Which classes are Keras layers or models."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap, dotted_name
from tfgradfix.analysis.literals import is_false, is_true
from tfgradfix.analysis.roles import holds_state, state_attributes
from tfgradfix.analysis.tree import child_nodes, contains, descendants, statements
from tfgradfix.analysis.vocabulary import (
    KERAS_LAYER_NAMES, KERAS_PACKAGES, LEGACY_KERAS_PACKAGES, MODEL_VARIABLE_LISTS, VARIABLE_CONSTRUCTORS,
)

if TYPE_CHECKING:
    from tfgradfix.analysis.project import ClassInfo, ProjectIndex

_KERAS_BASE_PARTS = {"layers", "models"}
_KERAS_BASE_NAMES = {"Layer", "Model", "Sequential"}

# Methods Keras runs between the weights and the loss.
FORWARD_METHODS = ("call", "__call__", "train_step")

_RAISES_ASSERTIONS = ("assertRaises", "assertRaisesRegex", "assertRaisesRegexp", "raises")


class HeldState(IntEnum):
    """Which lists of a Keras object show non-trainable variables (Keras 3.15, measured):
    none known; `variables` only (the seed generator state of dropout, noise and random
    augmentation layers and of every recurrent layer); `weights` too (moving statistics,
    `trainable=False` weights, parts frozen with `.trainable = False`). Ordered: the
    larger holds the smaller."""

    NONE = 0
    VARIABLES = 1
    WEIGHTS = 2


# Layers whose `weights` include non-trainable ones (moving statistics, a power-iteration vector).
_WEIGHT_STATE_LAYERS = frozenset({
    "BatchNormalization", "SyncBatchNormalization", "Normalization", "SpectralNormalization",
})
# Weightless, but they create a random-seed variable when constructed: one per call
# raises under `tf.function` ("only supports singleton tf.Variables").
SEEDED_LAYERS = frozenset({
    "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D",
})
# Layers with a seed generator: its state is in `variables`, not in `weights`. Keras 3 gives every
# recurrent layer and cell one, whatever its dropout (measured on Keras 3.15: `LSTM(4).variables` ends
# with `seed_generator_state`); a `stateful=True` layer's states are in neither list, in Keras 3 as
# in Keras 2.
_SEED_STATE_LAYERS = SEEDED_LAYERS | {
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomCrop",
    "RandomBrightness",
    "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
}
# `keras.applications` families built with BatchNormalization (VGG has none).
_BATCH_NORM_APPLICATIONS = ("resnet", "mobilenet", "densenet", "inception", "xception",
                            "efficientnet", "nasnet", "regnet", "convnext")


def state_made_by(qualified: str) -> HeldState:
    """The non-trainable variables the TensorFlow/Keras class or constructor with this
    absolute name makes: a stateful layer's, a BatchNormalization application's."""
    if not qualified.startswith(("tensorflow.", "keras", "tf_keras")):
        return HeldState.NONE
    name = qualified.rsplit(".", 1)[-1]
    if name in _WEIGHT_STATE_LAYERS or batch_norm_application(qualified):
        return HeldState.WEIGHTS
    return HeldState.VARIABLES if name in _SEED_STATE_LAYERS else HeldState.NONE


def batch_norm_application(qualified: str) -> bool:
    if ".applications." not in qualified:
        return False
    return any(family in qualified.lower() for family in _BATCH_NORM_APPLICATIONS)


def is_keras_loss(qualified: str) -> bool:
    """`keras.losses.Loss` in any spelling: `tf.keras.losses.Loss`, Keras 3's own module path."""
    parts = qualified.split(".")
    return parts[-1] == "Loss" and "losses" in parts and qualified.startswith(
        tuple(package + "." for package in KERAS_PACKAGES))


def is_keras_base(qualified: str) -> bool:
    for package in KERAS_PACKAGES:
        if not qualified.startswith(package + "."):
            continue
        rest = qualified[len(package) + 1 :].split(".")
        return rest[0] in _KERAS_BASE_PARTS or rest[-1] in _KERAS_BASE_NAMES
    return False


@dataclass(eq=False)
class KerasClass:
    node: cst.ClassDef
    name: str
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    # Attributes assigned from add_weight / tf.Variable anywhere in the class.
    weights: set[str] = field(default_factory=set)
    # Those of them that hold state, not trained weights (see `analysis/roles.py`).
    state: set[str] = field(default_factory=set)
    # Literal shape tuples of those weights, where declared: attr -> rank.
    weight_ranks: dict[str, int] = field(default_factory=dict)
    parent: Optional["KerasClass"] = None
    # Based on Keras 2 (`tf_keras.layers.Layer`, ...) rather than Keras 3.
    legacy: bool = False
    # A weightless layer that handles strings or vocabularies, or that its module applies only
    # to a model's raw inputs (`analysis/layer_graph.py`): its inputs carry no gradient.
    preprocessing: bool = False
    # Its Keras bases in other modules of the project (from the project index), nearest first.
    external: tuple["ClassInfo", ...] = ()
    # Its `__init__` raises on every path (`raise NotImplementedError` in a stub): no instance
    # exists, so nothing it holds or runs can lose a gradient.
    never_built: bool = False
    # Attributes that only ever hold a built-in layer without weights (`self.reshape =
    # layers.Reshape(...)`): calling one passes on what its input carries and adds no weight.
    weightless_parts: set[str] = field(default_factory=set)
    # Flags it, its bases and subclasses only ever set to one literal (`self.use_bias = False`,
    # `self.bn = True`, hard-coded), with that value: `if self.use_bias:` never runs, nor the `else`
    # of `if self.bn:`.
    hard_coded: dict[str, bool] = field(default_factory=dict)

    def lineage(self) -> Iterator["KerasClass"]:
        """This class, then its Keras parents defined in the same module."""
        cls: Optional[KerasClass] = self
        while cls is not None:
            yield cls
            cls = cls.parent

    @property
    def frozen(self) -> bool:
        """Its `__init__` (or a parent's) sets `self.trainable = False`, or to a parameter that defaults
        to False (`trainable=False` of a wavelet filter bank "trainable if desired"): nothing of it
        trains, by design (a YOLO anchor layer holding its boxes in a variable)."""
        for cls in self.lineage():
            init = cls.methods.get("__init__")
            if init is None or not isinstance(init.body, cst.IndentedBlock):
                continue
            off = {p.name.value for p in [*init.params.params, *init.params.kwonly_params]
                   if p.default is not None and is_false(p.default)}
            if any(isinstance(small, cst.Assign) and len(small.targets) == 1
                   and self_attribute(small.targets[0].target) == "trainable"
                   and (is_false(small.value) or isinstance(small.value, cst.Name) and small.value.value in off)
                   for statement in init.body.body if isinstance(statement, cst.SimpleStatementLine)
                   for small in statement.body):
                return True
        return False

    @functools.cached_property
    def runs_eagerly(self) -> bool:
        """The class (or a parent) makes Keras run it eagerly: `self.run_eagerly = True`, or its own
        `compile` passes `run_eagerly=True` (or a parameter that defaults to True) to Keras's. `fit`
        never traces it, so NumPy in it fails nowhere; what matters is only the gradient it loses."""
        for cls in self.lineage():
            for method in cls.methods.values():
                defaults = {p.name.value: p.default for p in method.params.params + method.params.kwonly_params}
                for node in descendants(method):
                    if (isinstance(node, cst.Assign) and len(node.targets) == 1
                            and self_attribute(node.targets[0].target) == "run_eagerly" and is_true(node.value)):
                        return True
                    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                            and node.func.attr.value == "compile" and isinstance(node.func.value, cst.Call)
                            and isinstance(node.func.value.func, cst.Name) and node.func.value.func.value == "super"):
                        given = next((a.value for a in node.args if a.keyword is not None
                                      and a.keyword.value == "run_eagerly"), None)
                        if given is not None and (is_true(given) or (
                                isinstance(given, cst.Name) and is_true(defaults.get(given.value)))):
                            return True
        return False

    def lists_own_variables(self, attr: str) -> bool:
        """The class (or a parent) defines `trainable_variables` / `trainable_weights` itself, as a
        method or property that reads `self.<attr>`: its training code asks the class what trains."""
        for cls in self.lineage():
            for name in ("trainable_variables", "trainable_weights"):
                method = cls.methods.get(name)
                if method is not None and any(self_attribute(n) == attr for n in descendants(method)):
                    return True
        return False

    def method(self, name: str) -> Optional[cst.FunctionDef]:
        return next((c.methods[name] for c in self.lineage() if name in c.methods), None)

    def is_weight(self, attr: str, _depth: int = 0) -> bool:
        """A variable the optimizer trains (not state the code writes), or a property of the
        class that returns one (`@property def embeddings(self): return self._w`)."""
        if self.is_state(attr):
            return False
        if any(attr in c.weights for c in self.lineage()) or any(attr in c.weights for c in self.external_lineage()):
            return True
        returned = next((r for c in self.lineage() for r in [property_returns(c, attr)] if r is not None), None)
        return returned is not None and returned != attr and _depth < 3 and self.is_weight(returned, _depth + 1)

    def is_state(self, attr: str) -> bool:
        return any(attr in c.state for c in self.lineage()) or any(
            attr in c.state for c in self.external_lineage())

    def external_lineage(self) -> Iterator["ClassInfo"]:
        """The bases from other modules of this class and of its parents in this module."""
        for cls in self.lineage():
            yield from cls.external

    def has_external_method(self, name: str) -> bool:
        return any(name in c.methods for c in self.external_lineage())

    def weight_rank(self, attr: str) -> Optional[int]:
        return next((c.weight_ranks[attr] for c in self.lineage() if attr in c.weight_ranks), None)


def find_keras_classes(module: cst.Module, imports: ImportMap, project: Optional["ProjectIndex"] = None,
                       module_name: Optional[str] = None) -> dict[cst.ClassDef, KerasClass]:
    """Keras classes of the module, keyed by node. A class counts when a base
    resolves to a Keras layer/model, to a Keras class of this module, or (with the
    project index) to a Keras class of another module of the project."""
    candidates = _classes(module)
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    hard_coded = _hard_coded(candidates, _set_through_objects(module)) if candidates else {}
    by_name: dict[str, KerasClass] = {}
    found: dict[cst.ClassDef, KerasClass] = {}
    changed = True
    while changed:
        changed = False
        for cls in candidates:
            if cls in found:
                continue
            for base in cls.bases:
                parent = None
                external: tuple[ClassInfo, ...] = ()
                qualified = imports.resolve(base.value)
                legacy = qualified is not None and qualified.startswith(LEGACY_KERAS_PACKAGES)
                if qualified is not None and is_keras_base(qualified):
                    pass
                elif isinstance(base.value, cst.Name) and base.value.value in by_name:
                    parent = by_name[base.value.value]
                else:
                    external = _project_base(base.value, project, module_name)
                    if not external:
                        continue
                    legacy = project.is_legacy_keras(f"{external[0].module}.{external[0].name}")
                info = _describe(cls, imports, parent, functions, hard_coded.get(cls, {}))
                info.external = external
                info.preprocessing = (info.preprocessing and not any(c.weights for c in external)) or _python_layer(
                    info, external, imports, project)
                info.legacy = legacy or (parent is not None and parent.legacy)
                found[cls] = info
                by_name[info.name] = info
                changed = True
                break
    return found


def _project_base(base: cst.BaseExpression, project: Optional["ProjectIndex"],
                  module_name: Optional[str]) -> tuple["ClassInfo", ...]:
    """A Keras class of another project module that `base` names, with its project bases."""
    dotted = dotted_name(base)
    if project is None or module_name is None or dotted is None:
        return ()
    definition = project.resolve(module_name, dotted)
    if definition is None or definition.kind != "class" or definition.module == module_name:
        return ()
    if not project.kind_of(definition.qualified).is_keras:
        return ()
    return tuple(project.lineage(definition.module, definition.name))


def _classes(module: cst.Module) -> list[cst.ClassDef]:
    """ClassDefs of the module, except deliberately broken layers in tests (docs/architecture.md
    "What is not a gradient path"):
    those defined inside a function that asserts an error, and those used only there."""
    found: list[cst.ClassDef] = []
    asserting: list[cst.FunctionDef] = []
    stack: list[cst.CSTNode] = list(module.body)
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BaseExpression):
            continue
        if isinstance(node, cst.ClassDef):
            found.append(node)
        elif isinstance(node, cst.FunctionDef) and _asserts_an_error(node):
            asserting.append(node)
            continue
        stack.extend(child_nodes(node))
    if not asserting:
        return found
    used_in_tests = {n.value for f in asserting for n in descendants(f) if isinstance(n, cst.Name)}
    used_elsewhere = _names_outside(module, set(asserting), {c.name for c in found})
    return [c for c in found if c.name.value not in used_in_tests or c.name.value in used_elsewhere]


def _names_outside(module: cst.Module, skipped: set[cst.FunctionDef], definitions: set[cst.Name]) -> set[str]:
    """Names read in the module outside the `skipped` functions."""
    names: set[str] = set()
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if node in skipped:
            continue
        if isinstance(node, cst.Name) and node not in definitions:
            names.add(node.value)
        stack.extend(child_nodes(node))
    return names


def _asserts_an_error(func: cst.FunctionDef) -> bool:
    for node in statements([func.body]):
        if isinstance(node, cst.With):
            for item in node.items:
                call = item.item
                if isinstance(call, cst.Call):
                    callee = call.func
                    name = callee.attr.value if isinstance(callee, cst.Attribute) else getattr(callee, "value", None)
                    if name in _RAISES_ASSERTIONS:
                        return True
    return False


def _describe(cls: cst.ClassDef, imports: ImportMap, parent: Optional[KerasClass],
              functions: Optional[dict[str, cst.FunctionDef]] = None,
              hard_coded: Optional[dict[str, bool]] = None) -> KerasClass:
    """`functions`: the module's functions, for the decorators of the class's methods;
    `hard_coded`: the flags its instances keep at one value (`_hard_coded`)."""
    info = KerasClass(node=cls, name=cls.name.value, parent=parent, hard_coded=hard_coded or {})
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef):
            info.methods[stmt.name.value] = stmt
    # A module function decorating a method (`@spike_call def call(self, x)`) runs with its
    # `self`: what it writes with `.assign*()` is written by the class.
    wrappers = {f"{name}@{d.decorator.value}": functions[d.decorator.value]
                for name, method in info.methods.items() for d in method.decorators
                if functions and isinstance(d.decorator, cst.Name) and d.decorator.value in functions}
    state = state_attributes({**info.methods, **wrappers}, FORWARD_METHODS)
    made: dict[str, list[bool]] = {}
    for method in info.methods.values():
        for target, value in _self_attribute_assignments(method, info.hard_coded):
            made.setdefault(target, []).append(_weightless_layer(value, imports))
            if is_weight_constructor(value, imports):
                info.weights.add(target)
                if holds_state(value, imports) or target in state:
                    info.state.add(target)
                rank = declared_rank(value, imports)
                if rank is not None:
                    info.weight_ranks[target] = rank
    info.weightless_parts = {target for target, kinds in made.items() if all(kinds)}
    info.preprocessing = not any(c.weights for c in info.lineage()) and (
        _handles_strings(cls) or _takes_data(cls, imports) or _fitted_to_data(cls, imports))
    info.never_built = _always_raises(info.methods.get("__init__"))
    return info


def build_shape_parameter(build: Optional[cst.FunctionDef]) -> Optional[str]:
    """The name of `build`'s shape parameter (Keras passes the input's shape), if it has one."""
    if build is None or len(build.params.params) < 2:
        return None
    return build.params.params[1].name.value


def build_input_shape(method: cst.CSTNode) -> frozenset[str]:
    """The name of `build`'s shape parameter, unless the method rebinds it: the names that
    certainly hold a shape there."""
    if not isinstance(method, cst.FunctionDef) or method.name.value != "build":
        return frozenset()
    name = build_shape_parameter(method)
    if name is None:
        return frozenset()
    rebound = any(isinstance(n, cst.AssignTarget) and isinstance(n.target, cst.Name) and n.target.value == name
                  for n in descendants(method.body))
    return frozenset() if rebound else frozenset({name})


def initialised_before(method: cst.FunctionDef, node: cst.CSTNode) -> bool:
    """A `super().__init__(...)` or `Base.__init__(self, ...)` call runs among the method's
    top-level statements before the one that holds `node`: Keras 3 lets a layer `add_weight`
    only after that."""
    if not isinstance(method.body, cst.IndentedBlock):
        return False
    for statement in method.body.body:
        if contains(statement, node):
            return False
        for found in descendants(statement):
            if (isinstance(found, cst.Call) and isinstance(found.func, cst.Attribute)
                    and found.func.attr.value == "__init__"):
                return True
    return False


def _always_raises(function: Optional[cst.FunctionDef]) -> bool:
    """A `raise` among the function's top-level statements: every call of it raises."""
    return function is not None and isinstance(function.body, cst.IndentedBlock) and any(
        isinstance(line, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in line.body)
        for line in function.body.body)


def own_weights(cls: cst.ClassDef, imports: ImportMap) -> set[str]:
    """The attributes a class's own methods assign a trainable weight, state left out (as a
    Keras class's `weights - state`): for a `tf.Module` a layer holds, what Keras 3 misses."""
    info = _describe(cls, imports, None)
    return info.weights - info.state


# Signs that a layer works on strings or vocabularies (lookup, hashing,
# vectorization): docs/architecture.md "What is not a gradient path" lists these as correct
# users of NumPy.
_STRING_MARKERS = ("tf.string", '"string"', "'string'", "tf.strings.", "np.char.", "np.strings.",
                   "np.bytes_", "vocabulary", "hashing", ".decode(")


def _handles_strings(cls: cst.ClassDef) -> bool:
    text = cst.Module(body=[]).code_for_node(cls).lower()
    return any(marker in text for marker in _STRING_MARKERS)


_CONFIGURING = frozenset({"__init__", "build", "get_config", "from_config", "compute_output_shape"})
# Types of inputs that are data, never tensors: file paths, raw bytes, NumPy arrays, PIL images.
_DATA_INPUT_TYPES = frozenset({"str", "bytes", "numpy.ndarray", "PIL.Image.Image", "PIL.Image"})


def _fitted_to_data(cls: cst.ClassDef, imports: ImportMap) -> bool:
    """A class without Keras sub-layers that defines `adapt`, the protocol of Keras's preprocessing
    layers (`Normalization.adapt(data)`): it is fitted to the dataset and applied to raw features
    before the model, so NumPy in its `call` loses no gradient."""
    return (any(isinstance(s, cst.FunctionDef) and s.name.value == "adapt" for s in cls.body.body)
            and not _holds_keras_layers(cls, imports))


def _takes_data(cls: cst.ClassDef, imports: ImportMap) -> bool:
    """A class without Keras sub-layers whose methods take data, not tensors: a parameter
    annotated as a path, bytes, a NumPy array or a PIL image (also inside `Union`/`Optional`/
    `List`), or an `isinstance` test against one of those, outside its constructor and config.
    An image processor or an audio feature extractor subclasses `Layer` to be saved with a model;
    it loads and reshapes inputs."""
    if _holds_keras_layers(cls, imports):
        return False  # a model, whatever its inputs are
    stack: list[cst.CSTNode] = [cls.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef) and node.name.value in _CONFIGURING:
            continue  # (`name: str` of a constructor says nothing about the inputs)
        if isinstance(node, cst.Param) and node.annotation is not None \
                and _names_data_type(node.annotation.annotation, imports):
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "isinstance" \
                and len(node.args) == 2 and _names_data_type(node.args[1].value, imports):
            return True
        stack.extend(child_nodes(node))
    return False


def _holds_keras_layers(cls: cst.ClassDef, imports: ImportMap) -> bool:
    for node in descendants(cls):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call) and any(
                self_attribute(t.target) is not None for t in node.targets):
            made = imports.resolve(node.value.func) or ""
            if made.startswith(KERAS_PACKAGES) and (".layers." in made or ".models." in made):
                return True
    return False


def _python_layer(info: "KerasClass", external: tuple[ClassInfo, ...], imports: ImportMap,
                  project: Optional["ProjectIndex"]) -> bool:
    """A weightless layer (its project bases too) that holds no layers and overrides `__call__`,
    bypassing Keras's, which refuses inputs that are not tensors: a preprocessor of Python
    inputs (file paths, images, chat messages) subclassing `Layer` to be saved with a model."""
    if any(c.weights for c in info.lineage()) or any(c.weights for c in external):
        return False
    if project is not None and any(project.kind_of(part).is_keras for c in external for part in c.parts):
        return False
    if any(_holds_keras_layers(c.node, imports) for c in info.lineage()):
        return False
    return any("__call__" in c.methods for c in info.lineage()) or any("__call__" in c.methods for c in external)


def _names_data_type(expr: cst.BaseExpression, imports: ImportMap) -> bool:
    """Whether a type expression names one of _DATA_INPUT_TYPES, anywhere inside it."""
    for node in (expr, *descendants(expr)):
        if isinstance(node, cst.SimpleString) and "Image" in node.value:
            return True  # a quoted forward reference: "Image.Image"
        if isinstance(node, (cst.Name, cst.Attribute)):
            name = imports.resolve(node) or dotted_name(node) or ""
            if name in _DATA_INPUT_TYPES:
                return True
    return False


def _self_attribute_assignments(func: cst.FunctionDef, hard_coded: Optional[dict[str, bool]] = None):
    """`(attr, value)` of each `self.<attr> = value` in the function, but those in a branch that a
    `hard_coded` flag never takes: that code never runs."""
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.If) and hard_coded:
            taken = flag_value(node.test, hard_coded)
            if taken is not None:
                branch = node.body if taken else node.orelse
                if branch is not None:
                    stack.append(branch)
                continue
        if isinstance(node, cst.Assign):
            for target in node.targets:
                attr = self_attribute(target.target)
                if attr is not None:
                    yield attr, node.value
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            attr = self_attribute(node.target)
            if attr is not None:
                yield attr, node.value
        if not isinstance(node, cst.BaseExpression):
            stack.extend(child_nodes(node))


def _hard_coded(classes: list[cst.ClassDef], set_from_outside: frozenset[str]) -> dict[cst.ClassDef, dict[str, bool]]:
    """For each class, the flags that it, its bases and its subclasses in the module only ever set to
    one literal (`self.use_bias = False`, `self.bn = True`, hard-coded), with that value, and that the
    module sets on no other object: an `if self.use_bias:` body never runs on its instances, nor the
    `else` of `if self.bn:` (a subclass setting the other value would run it)."""
    by_name = {c.name.value: c for c in classes}
    bases = {c: [by_name[b.value.value] for b in c.bases if isinstance(b.value, cst.Name) and b.value.value in by_name]
             for c in classes}

    def ancestors(cls: cst.ClassDef, seen: set) -> set:
        for base in bases[cls]:
            if base not in seen:
                seen.add(base)
                ancestors(base, seen)
        return seen

    up = {c: ancestors(c, set()) for c in classes}
    values: dict[cst.ClassDef, dict[str, list[cst.BaseExpression]]] = {}
    for cls in classes:
        for statement in cls.body.body:
            if isinstance(statement, cst.FunctionDef):
                for target, value in _self_attribute_assignments(statement):
                    values.setdefault(cls, {}).setdefault(target, []).append((statement.name.value, value))
    found = {}
    for cls in classes:
        related = {cls} | up[cls] | {c for c in classes if cls in up[c]}
        assigned: dict[str, list[tuple[str, cst.BaseExpression]]] = {}
        for relative in related:
            for attr, made in values.get(relative, {}).items():
                assigned.setdefault(attr, []).extend(made)
        found[cls] = {attr: value for attr, made in assigned.items()
                      if attr not in set_from_outside and (value := _one_value(attr, made)) is not None}
    return found


# Flags Keras itself sets or starts (`built` is False until `build` sets it True).
_KERAS_FLAGS = frozenset({"built", "_built", "trainable", "stateful", "dynamic", "supports_masking"})


def _one_value(attr: str, made: list[tuple[str, cst.BaseExpression]]) -> Optional[bool]:
    """False where every assignment of the flag is a literal False; True where every one is a
    literal True in `__init__` (set once, before anything runs; a True set later in `build` starts
    out unset); else None."""
    if all(is_false(value) for _, value in made):
        return False
    if attr not in _KERAS_FLAGS and all(is_true(value) and method == "__init__" for method, value in made):
        return True
    return None


def never_runs(cls: KerasClass, node: cst.CSTNode, parent: Callable[[cst.CSTNode], Optional[cst.CSTNode]]) -> bool:
    """`node` is in a branch that a flag the class hard-codes never takes: the body of `if
    self.use_bias:` where it is always False, the `else` of `if self.bn:` where it is always True."""
    flags = cls.hard_coded
    child, current = node, parent(node) if flags else None
    while current is not None and not isinstance(current, (cst.FunctionDef, cst.ClassDef)):
        if isinstance(current, cst.If) and child in (current.body, current.orelse):
            taken = flag_value(current.test, flags)
            if taken is not None and child is not (current.body if taken else current.orelse):
                return True
        child, current = current, parent(current)
    return False


def flag_value(test: cst.BaseExpression, flags: dict[str, bool]) -> Optional[bool]:
    """The value of `self.<flag>` or `not self.<flag>` where the flag is one of `flags`; else None."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = flag_value(test.expression, flags)
        return None if inner is None else not inner
    attr = self_attribute(test)
    return flags.get(attr) if attr is not None else None


def _set_through_objects(module: cst.Module) -> frozenset[str]:
    """Attributes the module assigns on objects other than `self` (`layer.use_bias = True`)."""
    found = set()
    for node in descendants(module):
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else \
            [node.target] if isinstance(node, (cst.AnnAssign, cst.AugAssign)) else []
        for target in targets:
            if isinstance(target, cst.Attribute) and self_attribute(target) is None:
                found.add(target.attr.value)
    return frozenset(found)


def self_attribute(node: cst.CSTNode) -> Optional[str]:
    if (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    ):
        return node.attr.value
    return None


def is_weight_constructor(value: cst.BaseExpression, imports: ImportMap) -> bool:
    if not isinstance(value, cst.Call):
        return False
    callee = value.func
    if isinstance(callee, cst.Attribute) and callee.attr.value == "add_weight":
        return True
    qualified = imports.resolve(callee)
    return qualified in VARIABLE_CONSTRUCTORS


_SHAPED_INITIALISERS = {
    "tensorflow.zeros", "tensorflow.ones", "tensorflow.random.normal", "tensorflow.random.uniform",
    "tensorflow.random.truncated_normal", "tensorflow.fill",
}


def declared_rank(value: cst.Call, imports: ImportMap) -> Optional[int]:
    """Rank of a weight from a literal shape: `add_weight(shape=(a, b))`,
    `tf.Variable(tf.zeros((a, b)))`, `tf.Variable(init(shape=(a, b)))`."""
    shape = call_argument(value, "shape", 0 if _callee_attr(value) == "add_weight" else None)
    if shape is None and _callee_attr(value) != "add_weight" and value.args:
        initial = value.args[0].value
        if isinstance(initial, cst.Call):
            qualified = imports.resolve(initial.func)
            if qualified in _SHAPED_INITIALISERS:
                shape = call_argument(initial, "shape", 0)
            elif isinstance(initial.func, cst.Call):  # initializer()(shape)
                shape = call_argument(initial, "shape", 0)
    if isinstance(shape, (cst.Tuple, cst.List)):
        if all(isinstance(el, cst.Element) for el in shape.elements):
            return len(shape.elements)
    return None


def _callee_attr(call: cst.Call) -> Optional[str]:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def call_argument(call: cst.Call, keyword: str, position: Optional[int]) -> Optional[cst.BaseExpression]:
    """The argument `call` passes as `keyword=`, or at positional index `position`."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    if position is not None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if len(positional) > position:
            return positional[position].value
    return None


# Keras layers that hold no variables: constructing one per call costs a little and
# changes nothing (checked against Keras 3.15: built on an input, `layer.variables` is
# empty, and a fresh one per call runs under `tf.function`).
STATELESS_LAYERS = frozenset({
    "Activation", "ActivityRegularization", "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum",
    "Multiply", "Subtract", "ELU", "LeakyReLU", "ReLU", "Softmax", "ThresholdedReLU", "Flatten", "Identity",
    "Lambda", "Masking", "Permute", "RepeatVector", "Reshape", "Rescaling", "Resizing", "CenterCrop",
    "CategoryEncoding", "Discretization", "Hashing", "HashedCrossing", "UnitNormalization",
    *(f"{kind}{n}D" for kind in ("Cropping", "ZeroPadding", "UpSampling", "MaxPooling", "MaxPool", "AveragePooling",
                                  "AvgPool", "GlobalMaxPooling", "GlobalMaxPool", "GlobalAveragePooling",
                                  "GlobalAvgPool", "AdaptiveMaxPooling", "AdaptiveAveragePooling")
      for n in (1, 2, 3)),
})


def keras_layer_name(qualified: str) -> Optional[str]:
    """`Dense` for `keras.layers.Dense` (or a class of any Keras `layers` package); None otherwise."""
    name = qualified.rsplit(".", 1)[-1]
    package = qualified[: -len(name) - 1]
    if any(package == f"{p}.layers" or package.startswith(f"{p}.layers.") for p in KERAS_PACKAGES):
        return name
    return None


def _weightless_layer(value: cst.BaseExpression, imports: ImportMap) -> bool:
    """A built-in layer that makes no weight (`Reshape`, `ReLU`, a pooling), not a `Lambda`,
    whose function may read any weight of the class."""
    if not isinstance(value, cst.Call):
        return False
    name = keras_layer_name(imports.resolve(value.func) or "")
    return name in STATELESS_LAYERS and name != "Lambda"


# Layers that wrap another and own no weights: the argument that names it.
_SHARING_WRAPPERS = {"TimeDistributed": "layer", "RNN": "cell"}


def constructed_layer(call: cst.Call, imports: ImportMap,
                      module_classes: dict[str, KerasClass]) -> Optional[tuple[str, str]]:
    """(class name, "weights" | "seed") when `call` constructs a Keras layer that holds
    variables: a class of a Keras `layers` package (not a stateless one), a `Sequential`,
    or a layer class of this module that creates weights. None otherwise."""
    qualified = imports.resolve(call.func) or ""
    name = qualified.rsplit(".", 1)[-1]
    package = qualified[: -len(name) - 1]
    if name == "Sequential" and any(package in (p, f"{p}.models") for p in KERAS_PACKAGES):
        return name, "weights"
    if keras_layer_name(qualified) is not None:
        if not name[:1].isupper() or name in STATELESS_LAYERS or name in ("Layer", "InputLayer", "Input"):
            return None
        if name not in KERAS_LAYER_NAMES:
            return None  # no layer Keras defines (a misspelt `RELU`, which raises on import): nothing known of it
        if name == "Attention" and not any(a.keyword is not None and a.keyword.value == "use_scale" for a in call.args):
            return None  # dot-product attention has a weight only with use_scale=True
        if name in SEEDED_LAYERS or name.startswith("Random"):
            return name, "seed"
        if name in _SHARING_WRAPPERS:
            # It holds what it wraps and nothing of its own: nothing new for `TimeDistributed(ReLU())`,
            # nor for `RNN(cell=self.cell)`, whose cell is a layer made once (Bidirectional is not
            # here: it copies the layer it wraps for the backward pass).
            wrapped = call_argument(call, _SHARING_WRAPPERS[name], 0)
            if isinstance(wrapped, cst.Call):
                inner = constructed_layer(wrapped, imports, module_classes)
                return (name, inner[1]) if inner is not None else None
            if wrapped is not None and self_attribute(wrapped) is not None:
                return None
        return name, "weights"
    if isinstance(call.func, cst.Name) and call.func.value in module_classes:
        cls = module_classes[call.func.value]
        if any(c.weights for c in cls.lineage()):
            return cls.name, "weights"
    return None


def property_returns(cls: KerasClass, attr: str) -> Optional[str]:
    """The attribute a read-only property of the class returns as it is (`return self._w`,
    `return self._w.read_value()`); None when `attr` is no such property."""
    if not defines_property(cls, attr):
        return None
    method = next((s for s in cls.node.body.body if isinstance(s, cst.FunctionDef) and s.name.value == attr
                   and s.decorators), None)
    body = list(method.body.body) if method is not None and isinstance(method.body, cst.IndentedBlock) else []
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return None
    statement = body[0].body[0]
    value = statement.value if isinstance(statement, cst.Return) else None
    if isinstance(value, cst.Call) and not value.args and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in ("read_value", "value"):
        value = value.func.value
    return self_attribute(value) if value is not None else None


def hands_out(cls: KerasClass, attr: str) -> bool:
    """The class overrides `__call__` to return `self.<attr>` itself (a holder of a generated
    image, a learned input): the caller gets the variable object, and trains it by name."""
    method = cls.method("__call__")
    returns = [n.value for n in descendants(method) if isinstance(n, cst.Return)] if method is not None else []
    return bool(returns) and all(r is not None and self_attribute(r) == attr for r in returns)


_MODEL_CONSTRUCTORS = frozenset({"Sequential", "Model", "Functional"})


def returns_own_model(function: cst.FunctionDef, imports: ImportMap) -> bool:
    """The method returns a Keras model it constructs itself (`model = Sequential()` ...
    `return model`, `return Model(inputs, outputs)`): a model factory, whatever its name (a
    `call(self)` that builds and compiles one, a `build` that wires `keras.Input`s). The layers
    it makes go into that model, which tracks and trains them."""
    def constructs_model(value: Optional[cst.BaseExpression]) -> bool:
        qualified = (imports.resolve(value.func) or "") if isinstance(value, cst.Call) else ""
        return qualified.startswith(tuple(f"{p}." for p in KERAS_PACKAGES)) and \
            qualified.rsplit(".", 1)[-1] in _MODEL_CONSTRUCTORS

    made = {node.targets[0].target.value for node in descendants(function)
            if isinstance(node, cst.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name) and constructs_model(node.value)}
    returns = [node.value for node in descendants(function) if isinstance(node, cst.Return)]
    return bool(returns) and all(isinstance(r, cst.Name) and r.value in made or constructs_model(r) for r in returns)


def dynamic_attributes(cls: KerasClass) -> list["re.Pattern[str]"]:
    """The attribute names the class sets or reads by a computed name (`vars(self)[f"conv_{i}"]`,
    `setattr(self, f"block{i}", ...)`, `getattr(self, "head")`), as patterns: `conv_.*`, `block.*`,
    `head`. A name the class does not spell as `self.<attr>` may still be one of its attributes."""
    found = []
    for c in cls.lineage():
        for method in c.methods.values():
            for node in descendants(method):
                name = None
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and \
                        node.func.value in ("setattr", "getattr", "hasattr", "delattr") and len(node.args) >= 2 \
                        and _is_self(node.args[0].value):
                    name = node.args[1].value
                elif isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
                        and (_is_self_dict(node.value)):
                    name = node.slice[0].slice.value
                pattern = _name_pattern(name) if name is not None else None
                if pattern is not None:
                    found.append(pattern)
    return found


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _is_self_dict(node: cst.BaseExpression) -> bool:
    """`vars(self)` or `self.__dict__`."""
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "vars"
            and len(node.args) == 1 and _is_self(node.args[0].value)) or self_attribute(node) == "__dict__"


def _name_pattern(name: cst.BaseExpression) -> Optional["re.Pattern[str]"]:
    """`"head"` -> `head`, `f"conv_{i}"` -> `conv_.*`; None for a name computed otherwise."""
    if isinstance(name, cst.SimpleString):
        return re.compile(re.escape(str(name.evaluated_value)))
    if isinstance(name, cst.FormattedString):
        return re.compile("".join(re.escape(part.value) if isinstance(part, cst.FormattedStringText) else ".*"
                                  for part in name.parts))
    return None


# What a model tracks for it: a collection built from these is no list of the class's own choosing.
_TRACKED_LISTS = re.compile(r"\b(" + "|".join(sorted(MODEL_VARIABLE_LISTS | {"non_trainable_variables"})) + r")\b")


def kept_collection(cls: KerasClass, attr: str) -> bool:
    """The class assigns `self.<attr>` (also by unpacking: `self.weights, self.params = self.init()`),
    and never from what Keras tracks (`self.trainable_variables`): a collection of its own making."""
    values = [node.value for c in cls.lineage() for method in c.methods.values() for node in descendants(method)
              if isinstance(node, cst.Assign) and any(
                  self_attribute(t) == attr for target in node.targets
                  for t in ([e.value for e in target.target.elements]
                            if isinstance(target.target, (cst.Tuple, cst.List)) else [target.target]))]
    code = cst.Module([]).code_for_node
    return bool(values) and not any(_TRACKED_LISTS.search(code(v)) for v in values)


def lists_holding(cls: KerasClass, attr: str) -> set[str]:
    """The attributes the class assigns a list or tuple holding `self.<attr>` (`self.params =
    [self.k]`): training code that differentiates `model.params` trains `k` by name."""
    return {name for c in cls.lineage() for method in c.methods.values()
            for name, value in _self_attribute_assignments(method)
            if isinstance(value, (cst.List, cst.Tuple)) and any(self_attribute(e.value) == attr for e in value.elements)}


# Keras 3.15's built-in layers whose weight attribute is a read-only property (measured):
# `self.kernel = ...` in a subclass raises AttributeError there, whatever is assigned.
_READ_ONLY_WEIGHTS = {
    "Conv1D": "kernel", "Conv2D": "kernel", "Conv3D": "kernel", "Convolution1D": "kernel",
    "Convolution2D": "kernel", "Convolution3D": "kernel", "Dense": "kernel", "EinsumDense": "kernel",
    "Embedding": "embeddings",
}


def builtin_read_only(cls: KerasClass, attr: str, imports: ImportMap) -> bool:
    """Whether a built-in Keras 3 layer the class derives from makes `attr` a read-only
    property (`class WeightNorm(layers.Conv1D)` assigning `self.kernel`)."""
    for owner in cls.lineage():
        for base in owner.node.bases:
            qualified = imports.resolve(base.value) or ""
            name = qualified.rsplit(".", 1)[-1]
            if qualified.startswith(KERAS_PACKAGES) and _READ_ONLY_WEIGHTS.get(name) == attr:
                return True
    return any(_READ_ONLY_WEIGHTS.get(base.rsplit(".", 1)[-1]) == attr and base.startswith(KERAS_PACKAGES)
               for info in cls.external_lineage() for base in info.bases)


def defines_property(cls: KerasClass, attr: str) -> bool:
    """Whether the class itself makes `attr` a property (`@property def attr`, `@attr.setter`)."""
    for statement in cls.node.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == attr:
            for decorator in statement.decorators:
                name = decorator.decorator
                if (isinstance(name, cst.Name) and name.value in ("property", "cached_property")) or (
                        isinstance(name, cst.Attribute) and name.attr.value in ("setter", "getter")):
                    return True
    return False
