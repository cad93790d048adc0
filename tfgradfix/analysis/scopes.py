"""The gradient path of a module: which code runs between the weights and the loss.

- the forward methods (`call`, `__call__`, `train_step`) of Keras classes, except a
  `call` that returns 8-bit pixels (an inference-only decoder) and a `train_step` that opens
  its own tape (then only that tape's body, below, is on the path: not its inputs before it
  nor its metrics after it);
- the bodies of `with tf.GradientTape() as tape:` blocks;
- everything those call in the same module (methods via `self.m(...)`,
  module functions by name, functions nested in the caller, closures that a
  factory returns: `loss_fn = make_loss(3); loss_fn(y, p)`, also bound in an
  enclosing function and read by a nested one; any method of a Keras class of the
  project called on an instance, `self.actor.sample_normal(s)`), with the
  arguments' taint carried into the callee's parameters;
- functions handed to Keras or TF to run on tensors: `keras.layers.Lambda(fn)`,
  `model.compile(loss=fn)` (`fn(y_true, y_pred)`), and `tf.map_fn(fn, elems)` /
  `tf.vectorized_map(fn, elems)` where they run on the path.

Not on it: functions that define their own gradient (`@tf.custom_gradient`,
`tf.custom_gradient(fn)`), and the bodies of functions handed to
`tf.numpy_function`/`tf.py_function`, which are NumPy by contract (the wrapper
call is what TGF105 reports).
- with the project index: functions of this module that other modules' gradient
  paths call (the index's entries), and, going out, the calls this module's path
  makes into other project modules (`outgoing`, which the engine turns into the
  callee module's entries).
"""

from __future__ import annotations

import ast
import functools
import re

from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

import libcst as cst

from tfgradfix.analysis.dataflow import (
    DEFAULT_BLOCKING, Blocking, DataFlow, walk_scope, argument_for, is_certainly_tensor, mutates_live, parameters,
    tainted_arguments, tainted_parameters, target_names,
)
from tfgradfix.analysis.imports import ImportMap, dotted_name
from tfgradfix.analysis.layer_graph import applied_to_raw_inputs, between_layers, inherits_weights
from tfgradfix.analysis.project import FunctionInfo, ModuleInfo, PathEntry, ProjectIndex, index_module, uses_by_hand
from tfgradfix.analysis.rebinding import tainted_at
from tfgradfix.analysis.tree import Parents, child_nodes, contains, descendants, statements
from tfgradfix.analysis.roles import trained_by_name
from tfgradfix.analysis.tf_version import graph_mode, keras2_api, tf1_api
from tfgradfix.analysis.values import KEEPS_FIRST_OPERAND_DTYPE
from tfgradfix.analysis.training_mode import (
    boolean_defaults, inference_only, tensor_tests, training_flags, trains_without_call, untaken_blocks,
)
from tfgradfix.analysis.keras import (
    FORWARD_METHODS, KerasClass, call_argument, find_keras_classes, is_keras_loss, is_weight_constructor,
    kept_collection, lists_holding, self_attribute,
)
from tfgradfix.analysis.vocabulary import (
    GRADIENT_METHODS, KERAS_PACKAGES, LEGACY_KERAS_PACKAGES, NUMPY_WRAPPERS, OWN_GRADIENT_DECORATORS,
    OWN_GRADIENT_KEYWORDS,
    TAPE_CONSTRUCTORS, TENSOR_MAPS,
)

# A lambda is a scope of its own when it is handed to Keras as a layer's or a loss's function.
ScopeNode = Union[cst.Module, cst.FunctionDef, cst.Lambda]

# Parameters of a forward method that carry no gradient.
NON_TENSOR_PARAMETERS = frozenset({"self", "training", "mask"})
_IMAGE_CASTS = ("tensorflow.cast", "tensorflow.saturate_cast", "tensorflow.dtypes.cast",
                "tensorflow.dtypes.saturate_cast", "tensorflow.image.convert_image_dtype", "keras.ops.cast",
                "keras.backend.cast", "tensorflow.keras.backend.cast")
# Words whose absence from a module means no function is handed to Keras or TF.
_HANDING_MARKERS = ("Lambda", "compile", "numpy_function", "py_function", "py_func", "custom_gradient", "minimize")


@dataclass(eq=False)
class Scope:
    node: ScopeNode
    symbol: str
    module: "ModuleAnalysis"
    keras_class: Optional[KerasClass] = None
    owner: Optional[cst.ClassDef] = None  # the class of a method, Keras or not
    owner_methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    # The whole body is on the gradient path.
    forward: bool = False
    # Calls of local values (`model(x)`, `loss_fn(y, p)`) are forward passes:
    # in tape blocks, `train_step`, and what they reach.
    model_calls: bool = False
    # Never on the path: it defines its own gradient, or runs as NumPy under tf.numpy_function.
    exempt: bool = False
    tape_blocks: list[cst.With] = field(default_factory=list)
    tape_names: set[str] = field(default_factory=set)
    tainted_params: set[str] = field(default_factory=set)
    flow: Optional[DataFlow] = None
    _variants: dict = field(default_factory=dict, repr=False)
    tape_cache: Optional[list] = field(default=None, repr=False)
    _summaries: dict = field(default_factory=dict, repr=False)
    # Where other modules of the project call it from their gradient path:
    # (module, caller symbol, whether the caller is a Keras forward method).
    external_callers: frozenset = frozenset()
    _local_names: Optional[dict] = field(default=None, repr=False)
    # The function this one is nested in: its names are this one's closure.
    enclosing: Optional["Scope"] = field(default=None, repr=False)
    _lambda_return: Optional[cst.Return] = field(default=None, repr=False)
    # Handed to Keras to run on the path: "layer" (`Lambda(fn)`), "loss" (`compile(loss=fn)`).
    handed: str = ""
    # A `Lambda` function whose layer sits after a layer with trainable weights and before
    # another layer (`analysis/layer_graph.py`): what it cuts, the weights before it lose.
    between_layers: bool = False
    # The `Lambda(fn)` constructions that hand it to Keras, with the scope each is in.
    lambda_sites: list[tuple["Scope", cst.Call]] = field(default_factory=list, repr=False)
    # What other modules' path calls pass for its parameters (`PathEntry.flags`); None: not known.
    external_flags: Optional[frozenset[tuple[str, str]]] = frozenset()
    # A helper on the path whose every call site drops what it returns (a score only logged).
    result_unused: bool = False
    # Whether a path call of another module uses what it returns (`PathEntry.result_used`).
    external_result_used: bool = True

    def local_definitions(self) -> dict[str, list[cst.CSTNode]]:
        """What each name of the scope is bound to: nested `def`s and plain `name = value`."""
        if self._local_names is None:
            found: dict[str, list[cst.CSTNode]] = {}
            for node in statements(self.body):
                if isinstance(node, cst.FunctionDef):
                    found.setdefault(node.name.value, []).append(node)
                elif isinstance(node, cst.Assign):
                    for target in node.targets:
                        for name in target_names(target.target):
                            found.setdefault(name, []).append(node.value)
            self._local_names = found
        return self._local_names

    @property
    def body(self) -> list[cst.CSTNode]:
        if isinstance(self.node, cst.Module):
            return list(self.node.body)
        if isinstance(self.node, cst.Lambda):
            return [self.lambda_statement]
        return list(self.node.body.body) if isinstance(self.node.body, cst.IndentedBlock) else [self.node.body]

    @property
    def lambda_statement(self) -> cst.Return:
        """A lambda's body as the statement that returns it (made once, so it keeps its identity)."""
        assert isinstance(self.node, cst.Lambda)
        if self._lambda_return is None:
            self._lambda_return = cst.Return(value=self.node.body)
        return self._lambda_return

    @property
    def parameter_names(self) -> set[str]:
        if isinstance(self.node, (cst.FunctionDef, cst.Lambda)):
            return {p.name.value for p in parameters(self.node)}
        return set()

    @property
    def on_path(self) -> bool:
        return self.forward or bool(self.tape_blocks)

    @property
    def is_keras_forward(self) -> bool:
        return self.forward and self.keras_class is not None

    @property
    def runs_eagerly(self) -> bool:
        """Of a Keras class that makes Keras run it eagerly (`run_eagerly=True` in its own `compile`)."""
        return self.keras_class is not None and self.keras_class.runs_eagerly

    @property
    def is_forward_entry(self) -> bool:
        """`call`/`__call__`/`train_step` of a Keras class itself, not a helper it reaches."""
        return (self.keras_class is not None and isinstance(self.node, cst.FunctionDef)
                and self.node.name.value in FORWARD_METHODS)

    @property
    def is_preprocessing(self) -> bool:
        return self.keras_class is not None and self.keras_class.preprocessing

    def is_weight(self, attr: str) -> bool:
        return self.keras_class is not None and self.keras_class.is_weight(attr)

    def is_weightless_part(self, attr: str) -> bool:
        return self.keras_class is not None and any(attr in c.weightless_parts for c in self.keras_class.lineage())

    @functools.cached_property
    def inherits_weights(self) -> bool:
        """A method of a subclass of a built-in layer with weights: `super().call(x)` runs them."""
        return self.keras_class is not None and inherits_weights(self.keras_class, self.module.imports)

    def weight_rank(self, attr: str) -> Optional[int]:
        return self.keras_class.weight_rank(attr) if self.keras_class is not None else None

    def has_method(self, name: str) -> bool:
        if self.keras_class is not None:
            return self.keras_class.method(name) is not None or self.keras_class.has_external_method(name)
        if self.owner is None and self.enclosing is not None:
            return self.enclosing.has_method(name)  # a closure's `self` is its enclosing method's
        return name in self.owner_methods

    def module_function(self, name: str) -> bool:
        return name in self.module.functions

    def module_class(self, name: str) -> bool:
        return name in self.module.class_names

    def module_variable(self, name: str) -> bool:
        return name in self.module.variables

    def reads_module_variable(self, name: str) -> bool:
        """`name` here is the module's `tf.Variable`, not a local or a closure's of that name."""
        return name in self.module.variables and not _binds(self, name)

    def dtype_name(self, expr: cst.BaseExpression) -> str:
        """The dtype `expr` names ("int32" for `tf.int32`) when it can name only one; "" when
        unknown or not agreed."""
        names = self.dtype_names(expr)
        return next(iter(names)) if len(names) == 1 and "None" not in names else ""

    def dtype_names(self, expr: cst.BaseExpression, _depth: int = 0) -> frozenset[str]:
        """Every dtype `expr` can name on some path, following a name bound once in the scope or
        the module, a parameter to what each caller in the module passes (a default counts for
        callers that pass nothing), `dtype or "int32"` to both sides; "None" for `None`, and ""
        among them when one is unknown."""
        if isinstance(expr, cst.Name) and expr.value == "None":
            return frozenset({"None"})
        if (isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or)
                and _depth <= 4):
            left = self.dtype_names(expr.left, _depth + 1)
            if not left & {"None", ""}:
                return left  # a dtype is truthy: the fallback is never taken
            return (left - {"None"}) | self.dtype_names(expr.right, _depth + 1)
        attr = self_attribute(expr)
        if attr is not None and self.owner is not None and _depth <= 4:
            return self._attribute_dtype_names(attr, _depth)
        if not isinstance(expr, cst.Name) or _depth > 4:
            return frozenset({self.module.imports.dtype_name(expr)})
        local = self.local_definitions().get(expr.value, [])
        if len(local) == 1 and isinstance(local[0], cst.BaseExpression):
            return self.dtype_names(local[0], _depth + 1)
        if local:
            return frozenset({""})
        if expr.value in self.parameter_names:
            assert isinstance(self.node, (cst.FunctionDef, cst.Lambda))
            names: set[str] = set()
            for caller, call in self._callers_with_constructions():
                value = argument_for(self.node, call, expr.value, bound=self.owner is not None)
                names |= caller.dtype_names(value, _depth + 1) if value is not None else {""}
            return frozenset(names or {""})
        module_scope = self.module.scopes[self.module.module]
        return module_scope.dtype_names(expr, _depth + 1) if module_scope is not self else frozenset({""})

    def _attribute_dtype_names(self, attr: str, depth: int) -> frozenset[str]:
        """`self.weight_dtype`: what the class's methods assign to it."""
        names: set[str] = set()
        for scope, node in self.attribute_assignments(attr):
            if isinstance(node, cst.Assign) and any(self_attribute(t.target) == attr for t in node.targets):
                names |= scope.dtype_names(node.value, depth + 1)
        return frozenset(names or {""})

    def attribute_assignments(self, attr: str) -> Iterator[tuple["Scope", cst.CSTNode]]:
        """The statements of the class's methods that assign `self.<attr>` (alone, unpacked
        from a tuple, augmented or annotated), each with its method's scope."""
        owner = self.owner
        for method in (s for s in owner.body.body if isinstance(s, cst.FunctionDef)) if owner is not None else ():
            scope = self.module.scopes.get(method)
            for node in walk_scope(scope.body) if scope is not None else ():
                if isinstance(node, cst.Assign) and any(attr in _assigned_attributes(t.target) for t in node.targets):
                    yield scope, node
                elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and self_attribute(node.target) == attr:
                    yield scope, node

    def _callers_with_constructions(self) -> list[tuple["Scope", cst.Call]]:
        """The module's calls of this function; for `__init__`, also `Class(...)`."""
        callers = list(self.module.callers_of(self))
        if self.owner is not None and isinstance(self.node, cst.FunctionDef) and self.node.name.value == "__init__":
            name = self.owner.name.value
            for scope in self.module.scopes.values():
                callers.extend((scope, node) for node in walk_scope(scope.body)
                               if isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
                               and node.func.value == name)
        return callers

    def returns_tainted(self, parameters: set[str], blocking: Blocking, item: Optional[int] = None) -> bool:
        """Whether the function's return value (its `item`-th item, where it returns tuples)
        carries a gradient when `parameters` do: a summary, computed once per argument pattern."""
        key = (frozenset(parameters), blocking, item)
        if key in self._summaries:
            return self._summaries[key]
        self._summaries[key] = bool(parameters)  # a recursive call assumes the simple answer
        if self.owner is not None and is_abstract(self.node):
            # The base raises NotImplementedError: what `self.compute_loss(...)` returns is what
            # the subclasses' methods return; one only another module defines is not seen, and
            # counts as a sub-layer's call does.
            result = self._overrides_return_tainted(parameters, blocking)
            self._summaries[key] = result
            return result
        if blocking.only_sources and self.owner is not None:
            # The same instance's other models (`self.depth`) are not the tape's sources here either.
            from tfgradfix.analysis.sources import excluding_others  # it reads scopes: imported when asked
            blocking = excluding_others(self, blocking.only_sources, blocking) or blocking
        flow = DataFlow(scope=self, imports=self.module.imports, blocking=blocking)
        flow.collect(self.body)
        flow.solve(set(parameters))
        returns = [_item(n.value, item) for n in walk_scope(self.body) if isinstance(n, cst.Return) and n.value is not None]
        # Read flow-sensitively: `x = tf.round(x); return x` returns what the round leaves.
        result = any(tainted_at(flow, value, set(parameters)) for value in returns)
        self._summaries[key] = result
        return result

    def _overrides_return_tainted(self, parameters: set[str], blocking: Blocking) -> bool:
        assert isinstance(self.node, cst.FunctionDef) and self.owner is not None
        overrides = self.module.overrides(self.owner, self.node.name.value)
        own = _positional_names(self.node)
        tainted_at_index = {own.index(p) for p in parameters if p in own}
        if overrides:
            for override in overrides:
                theirs = _positional_names(override.node) if isinstance(override.node, cst.FunctionDef) else []
                mapped = {theirs[i] for i in tainted_at_index if i < len(theirs)}
                if override.returns_tainted(mapped, blocking):
                    return True
            return False
        if self.module.overridden_elsewhere(self.owner, self.node.name.value):
            return bool(parameters) or blocking.all_sources
        return bool(parameters)

    def analyse(self, blocking: Blocking = DEFAULT_BLOCKING) -> DataFlow:
        """The scope's data flow under `blocking`, computed once; the default
        one is also `self.flow`."""
        flow = self._variants.get(blocking) if blocking != DEFAULT_BLOCKING else None
        if flow is not None:
            return flow
        flow = DataFlow(scope=self, imports=self.module.imports, blocking=blocking)
        flow.collect(self.body)
        # `parameters=False` drops a forward method's own inputs; a helper's
        # parameters carry what its callers pass.
        sources = self.tainted_params if blocking.parameters or not self.is_forward_entry else set()
        if blocking.parameters_kept is not None:
            sources = sources & blocking.parameters_kept
        flow.solve(sources)
        if blocking == DEFAULT_BLOCKING:
            self.flow = flow
        else:
            self._variants[blocking] = flow
        return flow


@dataclass(frozen=True)
class AttributeUses:
    """A module's attribute names: those it reads (`x.w` not assigned to), those it reaches off an
    object other than `self` (read or set: `layer.table`), those it assigns on `self` (`self.net =
    ...`), and its strings that may name one (`getattr(layer, "bias")`; not a docstring nor a
    `name=` argument)."""

    reads: frozenset[str]
    off_objects: frozenset[str]
    on_self: frozenset[str]
    strings: tuple[str, ...]


# Statements that bind, return or evaluate one thing: where a call's result goes.
_SMALL_STATEMENTS = (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Return, cst.Expr)


def _assigned_attributes(target: cst.BaseExpression) -> set[str]:
    """The `self.<attr>` an assignment target binds, also inside `self.a, self.b = ...`."""
    if isinstance(target, (cst.Tuple, cst.List)):
        return {a for e in target.elements for a in _assigned_attributes(e.value)}
    attr = self_attribute(target)
    return {attr} if attr is not None else set()


def _binds(scope: Optional[Scope], name: str) -> bool:
    """Whether `name` is the function's own, or an enclosing function's (a closure)."""
    while scope is not None and not isinstance(scope.node, cst.Module):
        if name in scope.local_definitions() or name in scope.parameter_names:
            return True
        scope = scope.enclosing
    return False


class ModuleAnalysis:
    """Everything rules need to know about one module, computed once."""

    def __init__(self, module: cst.Module, text: str = "", project: Optional[ProjectIndex] = None,
                 module_name: Optional[str] = None, numpy_fixed: frozenset[str] = frozenset()) -> None:
        self.module = module
        # Functions (by symbol) where an earlier fix pass of this run replaced NumPy: a conversion
        # of a tensor there is what is left of the round trip.
        self.numpy_fixed = numpy_fixed
        self.text = text
        self._alone: Optional[ModuleInfo] = None  # this module indexed alone, where no project holds it
        self._mention_counts: Optional[tuple[dict[str, int], dict[str, int]]] = None
        self.imports = ImportMap(module)
        # The project this module belongs to, and its name there (None: analysed alone).
        self.project = project if module_name is not None else None
        self.module_name = module_name
        self.entries = project.entries_of(module_name) if self.project is not None else {}
        # Calls of this module's gradient path into other project modules: (module, function) -> entry.
        self.outgoing: dict[tuple[str, str], PathEntry] = {}
        # A module on Keras 2 (`tf_keras`, TF_USE_LEGACY_KERAS=1, or TF's private Keras 2 copy
        # `tensorflow.python.keras`, which only Keras 2 code imports) tracks tf.Variable attributes,
        # as TF 1.x's Keras does (a module that uses `tf.contrib` or `tf.Session` is TF 1.x code).
        # The first TF 1.x-only name the module uses (`tf.placeholder`): graph-mode code, None for TF 2.
        self.tf1_api = tf1_api(module, self.imports, text)
        self.graph_mode = graph_mode(self.tf1_api, text)
        self.legacy_keras = "TF_USE_LEGACY_KERAS" in text or any(
            full.startswith(LEGACY_KERAS_PACKAGES) for full in self.imports.bindings.values()
        ) or self.tf1_api is not None or keras2_api(module, self.imports, text) is not None or (
            self.project is not None and module_name is not None
            and self.project.keras2_through_package(module_name) is not None)
        self.keras_classes = find_keras_classes(module, self.imports, self.project, module_name)
        for keras_class in self.keras_classes.values():
            if not keras_class.preprocessing and not (  # a layer another module may apply is not followed
                    self.project is not None and module_name is not None
                    and self.project.used_elsewhere(module_name, keras_class.name)):
                keras_class.preprocessing = applied_to_raw_inputs(module, self.imports, keras_class)
        self.functions: dict[str, cst.FunctionDef] = {
            s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)
        }
        self.class_nodes: dict[str, cst.ClassDef] = {
            s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)
        }
        self.class_names = set(self.class_nodes)
        self.variables = {
            name
            for stmt in module.body
            if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body
            if isinstance(small, cst.Assign) and is_weight_constructor(small.value, self.imports)
            for target in small.targets
            if isinstance(target.target, cst.Name)
            for name in [target.target.value]
        }
        self.scopes: dict[ScopeNode, Scope] = {}
        self._callers: Optional[dict[Scope, list[tuple[Scope, cst.Call]]]] = None
        self._global_reads: dict[str, bool] = {}
        # Functions of the module called through a parameter (`loss_fn(y, pred)`): their calls.
        self._handed_calls: dict[Scope, list[tuple[Scope, cst.Call]]] = {}
        self.tape_blocks: set[cst.With] = set()
        # Statements of tape blocks after their tape's last `gradient` (drawing, metrics): on no path.
        self.unrecorded: set[cst.CSTNode] = set()
        # Branches of Keras forward methods taken only when the training flag is false: on no path.
        self.inference_only: set[cst.CSTNode] = set()
        self._untaken_blocks: dict[Scope, set[cst.CSTNode]] = {}
        self._calls_by_name: Optional[dict[str, list[cst.Call]]] = None
        # Lambdas handed to tf.numpy_function / tf.py_function: NumPy by contract.
        self.numpy_lambdas: set[cst.Lambda] = set()
        self._sealed = False  # no new scopes once built
        self._stale = False  # a summary was taken before its function's place on the path was known
        self._build_scopes()
        if not text or any(marker in text for marker in _HANDING_MARKERS):
            self._find_handed_functions()
        self._propagate()
        self._find_unused_results()
        if self.project is not None and ".compile(" in text:
            self._compiled_losses()
        self._sealed = True

    # -- public --------------------------------------------------------------

    @functools.cached_property
    def attribute_uses(self) -> "AttributeUses":
        """What the module does with attribute names, in one walk (see `AttributeUses`)."""
        assigned: set[int] = set()
        reads: set[str] = set()
        off_objects: set[str] = set()
        on_self: set[str] = set()
        strings: list[str] = []
        for node in descendants(self.module):  # a node comes before its children: targets are marked first
            if isinstance(node, cst.Assign):
                assigned.update(id(t.target) for t in node.targets)
                on_self.update(a for t in node.targets for a in _assigned_attributes(t.target))
            elif isinstance(node, cst.AnnAssign):
                on_self.update(_assigned_attributes(node.target))
            elif isinstance(node, cst.Attribute):
                if id(node) not in assigned:
                    reads.add(node.attr.value)
                if self_attribute(node) is None:
                    off_objects.add(node.attr.value)
            if isinstance(node, cst.Expr) or (isinstance(node, cst.Arg) and node.keyword is not None
                                              and node.keyword.value == "name"):
                continue  # a docstring, a weight's own `name="bias"`: names no attribute it reads
            strings += [n.value for n in child_nodes(node) if isinstance(n, cst.SimpleString)]
        return AttributeUses(frozenset(reads), frozenset(off_objects), frozenset(on_self), tuple(strings))

    def reads_attribute(self, attr: str) -> bool:
        """Whether the module reads `.<attr>` anywhere, or names it as a word in a string, or another
        module of the project reads `.<attr>` (`layer_final.weight_temperature` handed to a loss)."""
        uses = self.attribute_uses
        word = re.compile(rf"(?<!\w){re.escape(attr)}(?!\w)")
        return attr in uses.reads or any(word.search(text) for text in uses.strings) or self._read_elsewhere(attr)

    def uses_off_an_object(self, attr: str) -> bool:
        """Whether code reaches `.<attr>` of an object other than `self`: read or set in this module
        (`layer.table`), or read in another module of the project."""
        return attr in self.attribute_uses.off_objects or self._read_elsewhere(attr)

    def _read_elsewhere(self, attr: str) -> bool:
        return self.project is not None and self.module_name is not None and self.project.reads_attribute(
            attr, self.module_name)

    @functools.cached_property
    def trained_by_name(self) -> frozenset[tuple[Optional[str], str]]:
        """Variables that the training code of this module, or of another module of the
        project, lists by name: (class or None, attribute) (`roles.py`)."""
        if self.project is None:
            code = self.module.code
            return trained_by_name(ast.parse(code)) if "gradient(" in code or "minimize(" in code else frozenset()
        return frozenset().union(*(info.trained_by_name for info in list(self.project.modules.values())))

    def is_trained_by_name(self, cls: KerasClass, attr: str) -> bool:
        """Whether code lists `attr` of `cls` (or of a subclass, or of an object whose class it
        does not say) in the variables it differentiates, itself or in a list attribute of
        the class that holds it (`self.params = [self.k]`, then `tape.gradient(loss, model.params)`)."""
        names = {None, *self._names_of(cls)}
        held = {attr, *lists_holding(cls, attr)}
        return any((owner, name) in self.trained_by_name for owner in names for name in held)

    def held_only_by_losses(self, cls: KerasClass) -> bool:
        """Every construction of `cls` in the project is in a method of a Keras `Loss` subclass (the
        input scaling layer of a perceptual loss): no optimizer is given a loss object's variables,
        in Keras 2 or 3, so whether Keras tracks them changes nothing."""
        if self.project is not None and self.module_name is not None:
            sites = self.project.call_sites(self.module_name, cls.name)
            return bool(sites) and all("." in symbol and self.project.is_loss_class(module, symbol.rsplit(".", 1)[0])
                                       for module, symbol in sites)
        owners = [scope.owner for scope in self.scopes.values() for node in walk_scope(scope.body)
                  if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == cls.name]
        return bool(owners) and all(owner is not None and any(
            is_keras_loss(self.imports.resolve(base.value) or "") for base in owner.bases) for owner in owners)

    def trains_its_own_list(self, cls: KerasClass) -> bool:
        """Training code differentiates a collection the class keeps of its own choosing
        (`tp.gradient(loss, self._params)`, `self._params` built from its weights and biases): the
        class says what trains, so Keras's tracking decides nothing for its variables."""
        names = self._names_of(cls)
        return any(owner in names and not cls.is_weight(attr) and kept_collection(cls, attr)
                   for owner, attr in self.trained_by_name)

    def _names_of(self, cls: KerasClass) -> set[Optional[str]]:
        """The names code may call an instance of `cls` by: its own, its parents' and its subclasses'."""
        return {*(c.name for c in cls.lineage()), *(c.name for c in self.keras_classes.values() if cls in c.lineage())}

    def run_by_hand(self, cls: KerasClass) -> bool:
        """Every construction of this module's class in the project runs its `call` at once by
        hand (`Block(...).call(net)`, `Net(...).build_graph()`): no Keras `__call__` runs it per
        step (the project index; a module analysed alone, standard input, answers for itself)."""
        if self.project is not None and self.module_name is not None:
            return self.project.run_by_hand(self.module_name, cls.name)
        if self._alone is None:
            self._alone = index_module("__main__", "", self.text)
        alone, name = self._alone, cls.name
        sites = sum(1 for dotted, _ in alone.calls if dotted == name)
        return bool(sites) and uses_by_hand([alone], alone, name, lambda _, dotted: dotted == name) >= sites

    @property
    def has_gradient_path(self) -> bool:
        return any(scope.on_path for scope in self.scopes.values())

    # -- construction ----------------------------------------------------------

    def _build_scopes(self) -> None:
        module_scope = Scope(node=self.module, symbol="<module>", module=self)
        self.scopes[self.module] = module_scope
        self._find_tapes(module_scope)
        stack: list[tuple[cst.CSTNode, str, Optional[cst.ClassDef], Optional[Scope]]] = [
            (stmt, "", None, None) for stmt in self.module.body
        ]
        while stack:
            node, prefix, owner, enclosing = stack.pop()
            if isinstance(node, cst.ClassDef):
                for stmt in node.body.body:
                    stack.append((stmt, f"{prefix}{node.name.value}.", node, None))
            elif isinstance(node, cst.FunctionDef):
                scope = self._add_function(node, prefix, owner)
                scope.enclosing = enclosing
                for inner in statements(child_nodes(node.body)):
                    if isinstance(inner, (cst.FunctionDef, cst.ClassDef)):
                        stack.append((inner, f"{prefix}{node.name.value}.", None,
                                      scope if isinstance(inner, cst.FunctionDef) else None))
            elif not isinstance(node, cst.BaseExpression):
                for inner in statements(child_nodes(node)):
                    if isinstance(inner, (cst.FunctionDef, cst.ClassDef)):
                        stack.append((inner, prefix, owner, enclosing))

    def _add_function(self, node: cst.FunctionDef, prefix: str, owner: Optional[cst.ClassDef]) -> Scope:
        keras_class = self.keras_classes.get(owner) if owner is not None else None
        scope = Scope(node=node, symbol=f"{prefix}{node.name.value}", module=self, keras_class=keras_class,
                      owner=owner)
        if owner is not None:
            scope.owner_methods = {
                s.name.value: s for s in owner.body.body if isinstance(s, cst.FunctionDef)
            }
        self.scopes[node] = scope
        self._find_tapes(scope)
        if self._exempt_by_decorator(node):
            scope.exempt = True
            return scope
        entry = self.entries.get(scope.symbol)
        if entry is not None:
            scope.forward = True
            scope.model_calls = entry.model_calls
            scope.tainted_params = set(entry.tainted)
            scope.external_callers = entry.callers
            scope.external_flags = entry.flags
            scope.external_result_used = entry.result_used
            scope.handed = entry.handed
            scope.between_layers = entry.between_layers
        name = node.name.value
        # `fit` runs `train_step` outside any tape: it is differentiated only in tapes of its own
        # (what it runs before them, inputs and bootstrap targets, or after them, metrics, is not on
        # the path), and one that opens none only drives others' steps (`super().train_step`, a GAN's
        # two `train_step`s, host-side sampling between them).
        if (keras_class is not None and name in FORWARD_METHODS and name != "train_step" and not self._returns_images(scope)
                and not (name == "call" and owner is not None and trains_without_call(owner, self._opens_tape))):
            scope.forward = True
            self.inference_only |= inference_only(node)
            if not scope.is_preprocessing:
                # `**kwargs` of a forward method carries options (training, mask), not inputs.
                scope.tainted_params = {
                    p.name.value
                    for p in parameters(node)
                    if p.name.value not in NON_TENSOR_PARAMETERS and not _has_literal_default(p)
                    and p is not node.params.star_kwarg
                }
        return scope

    def _returns_images(self, scope: Scope) -> bool:
        """Every return is cast to 8-bit pixels: an inference-only decoder or sampler, whose
        output nothing differentiates (a loss needs floats)."""
        blocks = [n.body for n in statements(scope.body) if isinstance(n, cst.IndentedBlock)]
        blocks.append(list(scope.body))
        returns = [(line, block[:index]) for block in blocks for index, line in enumerate(block)
                   if isinstance(line, cst.SimpleStatementLine) and isinstance(line.body[0], cst.Return)]
        return bool(returns) and all(self._casts_to_pixels(line.body[0].value, before)
                                     for line, before in returns)

    def _casts_to_pixels(self, value: Optional[cst.BaseExpression], before: list) -> bool:
        """`tf.cast(x, tf.uint8)`, `x.astype(np.uint8)`, `np.uint8(x)`, an op that keeps its
        operand's dtype around one (`tf.reverse(tf.cast(...), axis=[-1])`), or a name the
        statements `before` the return last bound to one of those, unconditionally."""
        if isinstance(value, cst.Name):
            return self._casts_to_pixels(_last_straight_binding(value.value, before), [])
        if not isinstance(value, cst.Call):
            return False
        qualified = self.imports.resolve(value.func)
        if qualified in _IMAGE_CASTS:
            return any(self.imports.dtype_name(a.value) == "uint8" for a in value.args[1:])
        if qualified in KEEPS_FIRST_OPERAND_DTYPE and value.args and value.args[0].keyword is None:
            return self._casts_to_pixels(value.args[0].value, before)
        if isinstance(value.func, cst.Attribute) and value.func.attr.value == "astype":
            return any(self.imports.dtype_name(a.value) == "uint8" for a in value.args[:1])
        return qualified == "numpy.uint8"

    def _exempt_by_decorator(self, node: cst.FunctionDef) -> bool:
        """Decorated to define its own gradient, or to run as NumPy (`@tf.numpy_function(Tout=...)`)."""
        for decorator in node.decorators:
            target = decorator.decorator
            keywords = set()
            if isinstance(target, cst.Call):
                keywords = {a.keyword.value for a in target.args if a.keyword is not None}
                target = target.func
            qualified = self.imports.resolve(target)
            if qualified in OWN_GRADIENT_DECORATORS or qualified in NUMPY_WRAPPERS:
                return True
            if (qualified or "").startswith("tensorflow.") and keywords & set(OWN_GRADIENT_KEYWORDS):
                return True
        return False

    def _opens_tape(self, node: cst.With) -> bool:
        """`with tf.GradientTape() as tape:`, or the class itself (`with tf.GradientTape as tape:`,
        a slip that raises, written where the tape was meant)."""
        return any(self.imports.resolve(item.item.func if isinstance(item.item, cst.Call) else item.item)
                   in TAPE_CONSTRUCTORS for item in node.items)

    def _find_tapes(self, scope: Scope) -> None:
        for node in statements(scope.body):
            if not isinstance(node, cst.With):
                continue
            for item in node.items:
                call = item.item
                if isinstance(call, cst.Call) and self.imports.resolve(call.func) in TAPE_CONSTRUCTORS:
                    scope.tape_blocks.append(node)
                    self.tape_blocks.add(node)
                    if item.asname is not None and isinstance(item.asname.name, cst.Name):
                        scope.tape_names.add(item.asname.name.value)
                        self.unrecorded.update(_after_last_gradient(node, item.asname.name.value, scope.body))
                        self.unrecorded.update(_paused(node, item.asname.name.value))
        if scope.tape_blocks:
            scope.model_calls = True

    def _find_unused_results(self) -> None:
        """Mark the helpers on the path whose results no caller uses toward its output (a score
        helper called in the tape, its results only appended to logs): what they return is no sink,
        and their flows are analysed again. Unknown callers (other modules, Keras, the function
        passed as a value) count as using it."""
        for _ in range(3):
            unused = [s for s in list(self.scopes.values()) if s.forward and not s.result_unused and s.flow is not None
                      and not self._result_used(s, frozenset())]
            if not unused:
                return
            for scope in unused:
                scope.result_unused = True
                scope._variants.clear()
                scope.analyse()

    def _result_used(self, scope: Scope, seen: frozenset) -> bool:
        node = scope.node
        if scope.external_callers and not scope.external_result_used and not self.callers_of(scope) \
                and not (scope.is_keras_forward or scope.handed or scope.lambda_sites):
            return False  # called only from other modules, each dropping what it returns
        # (in a Keras layer's helpers NumPy on a tensor fails when `fit` traces it, whatever it feeds)
        if (not isinstance(node, cst.FunctionDef) or scope.is_keras_forward or scope.external_callers
                or scope.handed or scope.lambda_sites or scope.tape_blocks or scope in seen):
            return True
        sites = self.callers_of(scope)
        if not sites or len(sites) != self._mentions(node.name.value, scope.owner is not None):
            return True
        return any(self._call_used(caller, site, seen | {scope}) for caller, site in sites)

    def _mentions(self, name: str, method: bool) -> int:
        """How often the module mentions a function (`name` read) or a method (`.name`), called or not."""
        if self._mention_counts is None:
            names: dict[str, int] = {}
            attributes: dict[str, int] = {}
            stack: list[cst.CSTNode] = [self.module]
            while stack:
                node = stack.pop()
                stack.extend(child_nodes(node))
                if isinstance(node, cst.Attribute):
                    attributes[node.attr.value] = attributes.get(node.attr.value, 0) + 1
                elif isinstance(node, cst.Name):
                    names[node.value] = names.get(node.value, 0) + 1
            self._mention_counts = (names, attributes)
        names, attributes = self._mention_counts
        # (the `def` name, and each attribute's name, are Name nodes too)
        return attributes.get(name, 0) if method else names.get(name, 0) - 1 - attributes.get(name, 0)

    def _call_used(self, caller: Scope, site: cst.Call, seen: frozenset) -> bool:
        """Whether the statement holding `site` feeds the caller's output (a test or an iterable
        is not followed: it counts as used)."""
        flow = caller.flow
        if not caller.on_path or flow is None:
            return False
        if not flow.sink_expressions:
            return True  # what the caller differentiates is not in it (its tape handed to a helper)
        statement = next((n for n in walk_scope(caller.body) if isinstance(n, _SMALL_STATEMENTS) and contains(n, site)),
                         None)
        if statement is None or any(contains(expr, site) for expr in flow.sink_expressions):
            return True  # (`update(tape, logits * accuracy(x))`: handed to what takes the gradient)
        if isinstance(statement, cst.Return):
            return caller.forward and self._result_used(caller, seen)
        if isinstance(statement, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            targets = statement.targets if isinstance(statement, cst.Assign) else [statement]
            return any(name in flow.live for t in targets for name in target_names(t.target))
        return mutates_live(statement.value, flow)

    def _propagate(self) -> None:
        """Analyse the scopes on the path; carry taint into the helpers they call,
        until nothing changes. A helper whose return value was summarised before a caller
        put it on the path with more (its model calls, more tainted parameters) made those
        summaries stale, and the flows of the scopes that read them: they are dropped and the
        path is followed once more with what is now known."""
        for _ in range(3):
            self._stale = False
            self._propagate_once()
            if not self._stale:
                return
            for scope in self.scopes.values():
                scope._summaries.clear()
                scope._variants.clear()

    def _propagate_once(self) -> None:
        pending = [s for s in self.scopes.values() if s.on_path]
        rounds = 0
        while pending and rounds < 20:
            rounds += 1
            next_round: list[Scope] = []
            for scope in pending:
                flow = scope.analyse()
                for call, _in_tape in self._calls_on_path(scope):
                    mapped = self._mapped_function(scope, call, flow)
                    if mapped is not None:
                        callee, newly = mapped
                    else:
                        callee = self.callee_scope(scope, call)
                        if callee is None:
                            self._call_out(scope, call, flow)
                            for target, parameters_ in self._handed_callables(scope, call, flow):
                                if self._enter(target, parameters_, scope.model_calls) and target not in next_round:
                                    next_round.append(target)
                            continue
                        if callee.exempt:
                            continue
                        assert isinstance(callee.node, cst.FunctionDef)
                        newly = tainted_parameters(callee.node, call, flow)
                    entered = [(callee, newly), *self._implementations(callee, newly)]
                    if _in_tape:
                        self._external_implementations(scope, callee, newly)
                    for target, parameters_ in entered:
                        summarised = bool(target._summaries)
                        if self._enter(target, parameters_, scope.model_calls):
                            self._stale = self._stale or summarised
                            if target not in next_round:
                                next_round.append(target)
            pending = next_round

    def _handed_callables(self, scope: Scope, call: cst.Call, flow: DataFlow) -> list[tuple[Scope, set[str]]]:
        """`loss_fn(y, pred)` where `loss_fn` is a parameter of the function on the path: what
        its callers pass for it runs there, with the parameters `call` taints. Functions of
        this module come back to be entered; those of other project modules (passed here or
        by a caller there, through the project index) are recorded as entries of theirs."""
        name = call.func.value if isinstance(call.func, cst.Name) else None
        if (name is None or not isinstance(scope.node, cst.FunctionDef) or name not in scope.parameter_names
                or scope.local_definitions().get(name)):
            return []
        found: list[tuple[Scope, set[str]]] = []
        external: list[FunctionInfo] = []
        # Called in the function's own tape, `loss_fn` runs on the path whoever calls the
        # function; elsewhere (a utility such as `map_structure(func, x)` that a caller put on
        # the path) only what the callers on the path pass does.
        in_own_tape = any(node is call for block in scope.tape_blocks for node in descendants(block.body))
        for caller, site in self.callers_of(scope):
            if not in_own_tape and (not caller.on_path or all(site is not c for c, _ in self._calls_on_path(caller))):
                continue
            passed = argument_for(scope.node, site, name, bound=scope.owner is not None)
            if passed is None:
                continue
            target = self.function_of(caller, passed)
            if target is not None:
                if not target.exempt:
                    found.append((target, _tainted_by(target, call, flow)))
                continue
            if isinstance(passed, (cst.Name, cst.Attribute)):
                info = self.external_function(caller, cst.Call(func=passed))
                if info is not None:
                    external.append(info)
        if self.project is not None and self.module_name is not None and scope.owner is None and in_own_tape:
            for definition in self.project.handed_to(self.module_name, scope.symbol, name):
                if definition.module == self.module_name:
                    target = next((s for s in self.scopes.values() if s.symbol == definition.name
                                   and isinstance(s.node, cst.FunctionDef)), None)
                    if target is not None and not target.exempt:
                        found.append((target, _tainted_by(target, call, flow)))
                    continue
                info = self.project.function(definition.module, definition.name)
                if info is not None:
                    external.append(info)
        for target, _ in found:
            sites = self._handed_calls.setdefault(target, [])
            if (scope, call) not in sites:
                sites.append((scope, call))
        for info in external:
            if info.own_gradient:
                continue
            tainted = tainted_arguments(list(info.positional), set(info.parameters), info.star_arg, call, flow)
            self._record(info, PathEntry(frozenset(tainted), scope.model_calls,
                                         frozenset({(self.module_name, scope.symbol, scope.is_forward_entry)})))
        return found

    def _implementations(self, callee: Scope, tainted: set[str]) -> list[tuple[Scope, set[str]]]:
        """For an abstract method, the subclasses' methods that run in its place, each with the
        parameters at the positions of `tainted`."""
        if callee.owner is None or not is_abstract(callee.node):
            return []
        assert isinstance(callee.node, cst.FunctionDef)
        own = _positional_names(callee.node)
        indices = {own.index(p) for p in tainted if p in own}
        found = []
        for override in self.overrides(callee.owner, callee.node.name.value):
            assert isinstance(override.node, cst.FunctionDef)
            theirs = _positional_names(override.node)
            found.append((override, {theirs[i] for i in indices if i < len(theirs)}))
        return found

    def _external_implementations(self, scope: Scope, callee: Scope, tainted: set[str]) -> None:
        """For an abstract method a tape's body calls, the subclasses' methods that other
        project modules define run in its place: recorded as entries of those modules, with the parameters at the
        positions of `tainted` and the caller's model calls (`self.model(x)` in a
        `compute_loss` the tape of the base calls is a forward pass)."""
        if self.project is None or self.module_name is None or callee.owner is None or not is_abstract(callee.node):
            return
        assert isinstance(callee.node, cst.FunctionDef)
        name = callee.node.name.value
        own = _positional_names(callee.node)
        indices = {own.index(p) for p in tainted if p in own}
        qualified = f"{self.module_name}.{callee.owner.name.value}"
        for module in list(self.project.modules.values()):
            if module.name == self.module_name:
                continue
            for cls in module.classes.values():
                if name not in cls.methods or not self.project.derives_from(module.name, cls.name, qualified):
                    continue
                info = self.project.function(module.name, f"{cls.name}.{name}")
                if info is None or info.own_gradient:
                    continue
                theirs = [p for p in info.positional if p not in ("self", "cls")]
                self._record(info, PathEntry(frozenset(theirs[i] for i in indices if i < len(theirs)),
                                             scope.model_calls,
                                             frozenset({(self.module_name, scope.symbol, scope.is_forward_entry)})))

    @staticmethod
    def _enter(callee: Scope, tainted: set[str], model_calls: bool) -> bool:
        """Put `callee` on the path with `tainted` parameters; whether that changed anything."""
        if callee.exempt:
            return False
        if callee.forward and (callee.model_calls or not model_calls) and tainted <= callee.tainted_params:
            return False
        callee.forward = True
        callee.model_calls = callee.model_calls or model_calls
        callee.tainted_params |= tainted
        return True

    def _numpy_wrappers(self) -> dict[str, tuple[str, int]]:
        """The module's functions that hand one of their parameters on to a NumPy wrapper as its
        function (`def py_func(func, inp, Tout, grad=None): ... tf.py_func(func, inp, Tout)`), with
        that parameter's name and place: what a call hands them there runs as NumPy too."""
        found = {}
        for name, function in self.functions.items():
            positional = [p.name.value for p in function.params.params]
            for node in descendants(function.body):
                if isinstance(node, cst.Call) and (self.imports.resolve(node.func) or "") in NUMPY_WRAPPERS:
                    handed = call_argument(node, "func", 0)
                    if isinstance(handed, cst.Name) and handed.value in positional:
                        found[name] = (handed.value, positional.index(handed.value))
        return found

    def _mapped_function(self, scope: Scope, call: cst.Call, flow: DataFlow) -> Optional[tuple[Scope, set[str]]]:
        """`tf.map_fn(fn, elems)`: `fn`, with its first parameter carrying what `elems` carries."""
        if self.imports.resolve(call.func) not in TENSOR_MAPS:
            return None
        function, elements = call_argument(call, "fn", 0), call_argument(call, "elems", 1)
        callee = self.function_of(scope, function) if function is not None else None
        if callee is None:
            return None
        first = _parameter_at(callee, 0)
        return callee, (first if elements is not None and flow.is_tainted(elements) else set())

    def _find_handed_functions(self) -> None:
        """Functions the module hands to Keras or TF: Lambda layers and compiled losses
        run on the path; numpy_function bodies and custom gradients never do, nor what the module's
        own wrappers of `tf.py_func` hand on to it."""
        wrappers = self._numpy_wrappers()
        for scope in list(self.scopes.values()):
            for node in walk_scope(scope.body):
                if not isinstance(node, cst.Call):
                    continue
                qualified = self.imports.resolve(node.func) or ""
                handed: Optional[cst.BaseExpression] = None
                wrapper = wrappers.get(node.func.value) if isinstance(node.func, cst.Name) else None
                numpy = qualified in NUMPY_WRAPPERS or wrapper is not None
                if numpy or qualified == "tensorflow.custom_gradient":
                    keyword, position = wrapper or ("func" if numpy else "f", 0)
                    handed = call_argument(node, keyword, position)
                    if isinstance(handed, cst.Lambda):
                        if numpy:
                            self.numpy_lambdas.add(handed)
                        continue
                    function = self.function_of(scope, handed) if handed is not None else None
                    if function is not None:
                        function.exempt = True
                        function.forward = False
                        function.tainted_params = set()
                elif _is_keras_layer(qualified, "Lambda"):
                    handed = call_argument(node, "function", 0)
                    function = self._hand(scope, handed, 0, "layer")
                    if function is not None:
                        function.lambda_sites.append((scope, node))
                    if function is not None and not function.between_layers:
                        function.between_layers = between_layers(self, scope, node)
                    elif function is None and handed is not None and self.project is not None:
                        # a function of another project module: its module runs it as a layer
                        info = self.external_function(scope, cst.Call(func=handed))
                        if info is not None and info.positional and not info.own_gradient:
                            self._record(info, PathEntry(
                                frozenset({info.positional[0]}), False,
                                frozenset({(self.module_name, scope.symbol, False)}), "layer",
                                between_layers(self, scope, node)))
                elif isinstance(node.func, cst.Attribute) and node.func.attr.value == "minimize":
                    # `opt.minimize(loss_fn, var_list)`: the optimizer runs `loss_fn()` under its
                    # own tape, as a tape block runs its body (its calls are forward passes)
                    handed = call_argument(node, "loss", 0)
                    function = self.function_of(scope, handed) if handed is not None else None
                    if (function is not None and not function.parameter_names
                            and call_argument(node, "var_list", 1) is not None and self._enter(function, set(), True)):
                        function.handed = function.handed or "minimize"
                elif isinstance(node.func, cst.Attribute) and node.func.attr.value == "compile":
                    handed = call_argument(node, "loss", None)
                    values = handed.elements if isinstance(handed, (cst.List, cst.Tuple, cst.Dict)) else []
                    for value in [getattr(v, "value", None) for v in values] or [handed]:
                        self._hand(scope, value, 1, "loss")  # loss(y_true, y_pred)

    def _hand(self, scope: Scope, handed: Optional[cst.BaseExpression], tensor: int, how: str) -> Optional[Scope]:
        """`handed` runs on the path, its parameter at position `tensor` carrying a gradient."""
        function = self.function_of(scope, handed) if handed is not None else None
        if function is not None:
            self._enter(function, _parameter_at(function, tensor), False)
            function.handed = function.handed or how
        return function

    def function_of(self, scope: Scope, expr: cst.BaseExpression, _depth: int = 0) -> Optional[Scope]:
        """The function of this module that `expr` evaluates to in `scope`: a nested
        `def`, a module function, a method (`self.m`), the closure a factory returns
        (`make_loss(3)`), or a name bound to one of those."""
        if _depth > 4:
            return None
        if isinstance(expr, cst.Lambda):
            return self._lambda_scope(scope, expr)
        if isinstance(expr, cst.Name):
            local = scope.local_definitions().get(expr.value, [])
            if len(local) == 1:
                found = local[0]
                if isinstance(found, cst.FunctionDef):
                    return self.scopes.get(found)
                return self.function_of(scope, found, _depth + 1)
            if local or isinstance(scope.node, cst.Module):
                return None
            if expr.value in scope.parameter_names:
                return None
            outer = scope.enclosing or self.scopes[self.module]  # a closure reads the enclosing function's names
            return self.function_of(outer, expr, _depth + 1)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
            method = None
            if scope.keras_class is not None:
                method = scope.keras_class.method(expr.attr.value)
            elif expr.attr.value in scope.owner_methods:
                method = scope.owner_methods[expr.attr.value]
            return self.scopes.get(method) if method is not None else None
        if isinstance(expr, cst.Attribute):
            # `actor.sample_normal(s)`: another method of a Keras model of this module runs its forward pass
            keras_class = self.keras_classes.get(self.class_nodes.get(self._instance_class(scope, expr.value, _depth)))
            method = keras_class.method(expr.attr.value) if keras_class is not None else None
            return self.scopes.get(method) if method is not None else None
        if isinstance(expr, cst.Call):
            factory = self.function_of(scope, expr.func, _depth + 1)
            if factory is None or not isinstance(factory.node, cst.FunctionDef):
                return None
            returned = [n.value for n in walk_scope(factory.body) if isinstance(n, cst.Return) and n.value is not None]
            closures = {self.function_of(factory, r, _depth + 1) for r in returned}
            if len(closures) == 1:
                return closures.pop()
        return None

    def _instance_class(self, scope: Scope, expr: cst.BaseExpression, depth: int) -> Optional[str]:
        """The name of the class that every binding of `expr` (a name, `self.attr`) constructs."""
        if depth > 4:
            return None
        values: list[cst.CSTNode] = []
        if isinstance(expr, cst.Name):
            while scope is not None and not values:
                values = scope.local_definitions().get(expr.value, [])
                if values or expr.value in scope.parameter_names or isinstance(scope.node, cst.Module):
                    break
                scope = scope.enclosing or self.scopes[self.module]
        elif self_attribute(expr) is not None and scope.owner is not None:
            attr = self_attribute(expr)
            for method in (s for s in scope.owner.body.body if isinstance(s, cst.FunctionDef)):
                for node in walk_scope(list(child_nodes(method.body))):
                    if isinstance(node, cst.Assign) and any(self_attribute(t.target) == attr for t in node.targets):
                        values.append(node.value)
        classes = {self._constructed_class(scope, v, depth) for v in values}
        return classes.pop() if len(classes) == 1 else None

    def _constructed_class(self, scope: Scope, value: cst.CSTNode, depth: int) -> Optional[str]:
        """`Network(...)`, or a factory of this module that returns one (`self.create_model()`
        whose body ends `net = Network(...)`, `return net`)."""
        if not isinstance(value, cst.Call):
            return None
        if isinstance(value.func, cst.Name) and (value.func.value in self.class_nodes
                                                  or self.function_of(scope, value.func, depth + 1) is None):
            return value.func.value  # a class of this module, or one imported (the project index's)
        factory = self.function_of(scope, value.func, depth + 1)
        if factory is None or not isinstance(factory.node, cst.FunctionDef):
            return None
        returned = [n.value for n in walk_scope(factory.body) if isinstance(n, cst.Return) and n.value is not None]
        classes = {self._constructed_class(factory, r, depth + 1) if isinstance(r, cst.Call)
                   else self._instance_class(factory, r, depth + 1) for r in returned}
        return classes.pop() if len(classes) == 1 else None

    def instance_call_scope(self, scope: Scope, call: cst.Call) -> Optional[Scope]:
        """The `call` of the Keras class of this module whose instance `call` calls
        (`self.model(states)`, the model `self.create_model()` made)."""
        keras_class = self.keras_classes.get(self.class_nodes.get(self._instance_class(scope, call.func, 0)))
        method = keras_class.method("call") if keras_class is not None else None
        found = self.scopes.get(method) if method is not None else None
        return found if found is not None and isinstance(found.node, cst.FunctionDef) else None

    def _lambda_scope(self, enclosing: Scope, node: cst.Lambda) -> Optional[Scope]:
        """A lambda's scope, made while the analysis is built (a lambda first met once
        rules run has no scope: the traversal would enter it unbalanced)."""
        scope = self.scopes.get(node)
        if scope is None and not self._sealed:
            prefix = "" if isinstance(enclosing.node, cst.Module) else f"{enclosing.symbol}."
            scope = Scope(node=node, symbol=f"{prefix}<lambda>", module=self,
                          keras_class=enclosing.keras_class, owner=enclosing.owner,
                          owner_methods=enclosing.owner_methods)
            self.scopes[node] = scope
        return scope

    def _call_out(self, scope: Scope, call: cst.Call, flow: DataFlow) -> None:
        """Record a call of a function of another project module from the gradient path
        (a closure that a factory there returned, too: `loss_fn = losses.make(2)`)."""
        info = self.external_function(scope, call) or self._external_closure(scope, call, flow)
        if info is None or info.own_gradient:
            return
        tainted = tainted_arguments(list(info.positional), set(info.parameters), info.star_arg, call, flow)
        self._record(info, PathEntry(frozenset(tainted), scope.model_calls,
                                     frozenset({(self.module_name, scope.symbol, scope.is_forward_entry)}),
                                     flags=_passed_flags(info, call, flow, frozenset(tainted)),
                                     result_used=self._call_used(scope, call, frozenset())))

    def _record(self, info: FunctionInfo, entry: PathEntry) -> None:
        key = (info.module, info.name)
        old = self.outgoing.get(key)
        self.outgoing[key] = entry if old is None else old.merged(entry)

    def _external_closure(self, scope: Scope, call: cst.Call, flow: DataFlow) -> Optional[FunctionInfo]:
        if not isinstance(call.func, cst.Name):
            return None
        values = [b.value for b in flow.bindings if b.name == call.func.value]
        if len(values) != 1 or not isinstance(values[0], cst.Call):
            return None
        return self._returned_closure(scope, values[0])

    def _returned_closure(self, scope: Scope, factory_call: cst.Call) -> Optional[FunctionInfo]:
        """The one nested function that a factory of another project module returns."""
        factory = self.external_function(scope, factory_call)
        if factory is None or len(factory.returns_closures) != 1 or self.project is None:
            return None
        return self.project.function(factory.module, factory.returns_closures[0])

    def _compiled_losses(self) -> None:
        """`model.compile(loss=...)` with a loss function (or a factory's closure) of another
        project module: Keras calls it with `(y_true, y_pred)`, the prediction carrying the
        gradient."""
        for scope in self.scopes.values():
            for node in walk_scope(scope.body):
                if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                        and node.func.attr.value == "compile"):
                    continue
                for arg in node.args:
                    if arg.keyword is None or arg.keyword.value != "loss":
                        continue
                    value = arg.value
                    info = (self._returned_closure(scope, value) if isinstance(value, cst.Call)
                            else self.external_function(scope, cst.Call(func=value)))
                    if info is not None and len(info.positional) >= 2 and not info.own_gradient:
                        self._record(info, PathEntry(frozenset({info.positional[1]}), False,
                                                     frozenset({(self.module_name, scope.symbol, False)}), "loss"))

    def external_function(self, scope: Scope, call: cst.Call) -> Optional[FunctionInfo]:
        """The function of another project module that `call` calls: an imported helper
        (`ops.gelu(x)`, `gelu(x)`), or `self.m(...)` defined by a base class there."""
        if self.project is None or self.module_name is None:
            return None
        callee = call.func
        if (isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Name)
                and callee.value.value == "self"):
            if "." not in scope.symbol:
                return None
            owner = scope.symbol.rsplit(".", 1)[0]
            info = self.project.method(self.module_name, owner, callee.attr.value)
        else:
            dotted = dotted_name(callee)
            definition = self.project.resolve(self.module_name, dotted) if dotted is not None else None
            if definition is None and isinstance(callee, cst.Attribute):
                return self._external_method(scope, callee)
            if definition is None or definition.kind != "function":
                return None
            info = self.project.function(definition.module, definition.name)
        if info is None or info.module == self.module_name:
            return None
        return info

    def _external_method(self, scope: Scope, callee: cst.Attribute) -> Optional[FunctionInfo]:
        """`self.actor.sample_normal(s)` where `self.actor` is made from a Keras class of another
        project module: that method."""
        assert self.project is not None and self.module_name is not None
        name = self._instance_class(scope, callee.value, 0)
        definition = self.project.resolve(self.module_name, name) if name is not None else None
        if definition is None or definition.kind != "class" or not self.project.class_kind(
                self.module_name, name).is_keras:
            return None
        info = self.project.method(definition.module, definition.name, callee.attr.value)
        return info if info is not None and info.module != self.module_name else None

    def _calls_on_path(self, scope: Scope) -> Iterator[tuple[cst.Call, bool]]:
        regions = scope.body if scope.forward else [
            statement for block in scope.tape_blocks
            for statement in (block.body.body if isinstance(block.body, cst.IndentedBlock) else [block.body])
            if statement not in self.unrecorded]
        stack: list[cst.CSTNode] = list(reversed(regions))
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)) or node in self.numpy_lambdas:
                continue  # what a numpy_function lambda calls runs as NumPy too
            if node in self.inference_only or node in self.unrecorded:
                continue  # `if not training:` in a forward method, `tape.stop_recording()`: never recorded
            if isinstance(node, cst.Lambda) and node in self.scopes and node is not scope.node:
                continue  # a scope of its own
            stack.extend(reversed(list(child_nodes(node))))
            if isinstance(node, cst.Call):
                yield node, not scope.forward

    def overrides(self, owner: cst.ClassDef, name: str) -> list[Scope]:
        """The scopes of method `name` in this module's subclasses of `owner`, nearest first."""
        found: list[Scope] = []
        for node in self.class_nodes.values():
            if node is owner or not self._inherits(node, owner.name.value, 0):
                continue
            method = next((s for s in node.body.body if isinstance(s, cst.FunctionDef) and s.name.value == name),
                          None)
            scope = self.scopes.get(method) if method is not None else None
            if scope is not None and not is_abstract(method):
                found.append(scope)
        return found

    def _inherits(self, node: cst.ClassDef, ancestor: str, depth: int) -> bool:
        if depth > 8:
            return False
        for base in node.bases:
            if isinstance(base.value, cst.Name):
                if base.value.value == ancestor:
                    return True
                parent = self.class_nodes.get(base.value.value)
                if parent is not None and parent is not node and self._inherits(parent, ancestor, depth + 1):
                    return True
        return False

    def overridden_elsewhere(self, owner: cst.ClassDef, name: str) -> bool:
        """Whether a class of another project module derives from `owner` (directly or through
        other project classes) and defines `name`."""
        if self.project is None or self.module_name is None:
            return False
        qualified = f"{self.module_name}.{owner.name.value}"
        for info in list(self.project.modules.values()):
            if info.name == self.module_name:
                continue
            for cls in info.classes.values():
                if name in cls.methods and self.project.derives_from(info.name, cls.name, qualified):
                    return True
        return False

    def constructions_of(self, name: str) -> list[cst.Call]:
        """Every `name(...)` call of the module (a class of the module constructed here). Cached."""
        if self._calls_by_name is None:
            self._calls_by_name = {}
            for node in descendants(self.module):
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
                    self._calls_by_name.setdefault(node.func.value, []).append(node)
        return self._calls_by_name.get(name, [])

    def read_elsewhere(self, name: str) -> bool:
        """Whether a function or class body of the module reads module-level `name` (it is
        neither bound there nor a parameter): a global other code may differentiate."""
        if name not in self._global_reads:
            self._global_reads[name] = any(
                scope.node is not self.module and not _binds(scope, name)
                and any(isinstance(node, cst.Name) and node.value == name for node in walk_scope(scope.body))
                for scope in self.scopes.values())
        return self._global_reads[name]

    def helper_untaken_blocks(self, scope: Scope) -> set[cst.CSTNode]:
        """For a function that is no Keras forward method, the blocks that no call a tape
        records (in a tape block, in a forward method, or from another module's path) runs: under
        its training flag, left at its default or passed `True` (`render(model, rays,
        train=True)`: the inference branch), or under an option every such call gives the same
        literal (`predict(x, to_numpy=False)`: the `if to_numpy:` branch). Cached."""
        if scope in self._untaken_blocks:
            return self._untaken_blocks[scope]
        found: set[cst.CSTNode] = set()
        function = scope.node
        if isinstance(function, cst.FunctionDef) and scope.external_flags is not None:
            recorded_by = [(caller, call) for caller, call in self.callers_of(scope)
                           if caller.forward or any(contains(block, call) for block in caller.tape_blocks)]
            recorded = [call for _, call in recorded_by]
            known = {flag: True for flag in training_flags(function)
                     if _passed_values(function, flag, True, recorded, scope.external_flags) <= {True}}
            for option, default in boolean_defaults(function).items():
                values = _passed_values(function, option, default, recorded, scope.external_flags)
                if option not in known and len(values) == 1 and None not in values:
                    known[option] = values.pop()
            # `input_is_tensor = isinstance(x, tf.Tensor)`, then `if not input_is_tensor:` (NumPy in,
            # NumPy back out): not taken where every such call that passes a gradient for `x` passes a
            # TF op's result (a call passing data takes it, and loses nothing there).
            for parameter, names in tensor_tests(function, self.imports).items():
                here = [(caller, argument_for(function, call, parameter, bound=scope.owner is not None))
                        for caller, call in recorded_by]
                there = [passed for name, passed in scope.external_flags if name == parameter]
                if (here or there) and all(passed in ("tensor", "data") for passed in there) and all(
                        argument is not None and is_certainly_tensor(caller.flow or caller.analyse(), argument)
                        for caller, argument in here):
                    known.update(dict.fromkeys(names, True))
            found = untaken_blocks(function, known)
        self._untaken_blocks[scope] = found
        return found

    def callers_of(self, callee: Scope) -> list[tuple[Scope, cst.Call]]:
        """Where the module calls a function or method (`f(...)`, `self.m(...)`, and through a
        parameter the path's callers pass it for: `loss_fn(y, pred)`)."""
        if self._callers is None:
            self._callers = {}
            for scope in list(self.scopes.values()):
                for node in walk_scope(scope.body):
                    if isinstance(node, cst.Call):
                        target = self.callee_scope(scope, node)
                        if target is not None:
                            self._callers.setdefault(target, []).append((scope, node))
        return self._callers.get(callee, []) + self._handed_calls.get(callee, [])

    def callee_scope(self, scope: Scope, call: cst.Call) -> Optional[Scope]:
        """The scope of a function or method of the module that `call` calls, if any."""
        if isinstance(call.func, (cst.Name, cst.Attribute)):
            found = self.function_of(scope, call.func)
            return found if found is not None and isinstance(found.node, cst.FunctionDef) else None
        return None


def _passed_values(function: cst.FunctionDef, flag: str, default: bool, calls: list[cst.Call],
                   external: frozenset[tuple[str, str]]) -> set[Optional[bool]]:
    """The values the calls (here and in other modules) give `flag`; None for one not a literal."""
    values: set[Optional[bool]] = set()
    for call in calls:
        argument = argument_for(function, call, flag)
        values.add(default if argument is None else
                   argument.value == "True" if isinstance(argument, cst.Name) and argument.value in ("True", "False")
                   else None)
    for name, passed in external:
        if name == flag:
            values.add(default if passed == "default" else passed == "True" if passed in ("True", "False") else None)
    return values


def _passed_flags(info: FunctionInfo, call: cst.Call, flow: Optional[DataFlow] = None,
                  tainted: frozenset[str] = frozenset()) -> frozenset[tuple[str, str]]:
    """What `call` passes for each parameter of `info`: a literal `True`/`False`, nothing (its
    default), a value that is certainly a tensor (a TF op's result: "tensor"), one that carries no
    gradient (not in `tainted`: "data"), or anything else."""
    positional = list(info.positional)
    if isinstance(call.func, cst.Attribute) and positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    passed = dict.fromkeys([*positional, *info.keyword_only], "default")
    index = 0
    for arg in call.args:
        if arg.star:
            return frozenset((name, "other") for name in passed)
        name = arg.keyword.value if arg.keyword is not None else positional[index] if index < len(positional) else None
        index += arg.keyword is None
        if name in passed:
            value = arg.value
            passed[name] = value.value if isinstance(value, cst.Name) and value.value in ("True", "False") else \
                "tensor" if flow is not None and is_certainly_tensor(flow, value) else \
                "other" if flow is None or name in tainted else "data"
    return frozenset(passed.items())


def _last_straight_binding(name: str, before: list) -> Optional[cst.BaseExpression]:
    """The value of the last `name = ...` among the statements `before` a return, when no
    compound statement after it rebinds `name` (a loop or branch would make it one of several)."""
    for line in reversed(before):
        if isinstance(line, cst.SimpleStatementLine):
            for small in reversed(line.body):
                if isinstance(small, cst.Assign) and any(name in target_names(t.target) for t in small.targets):
                    return small.value if len(small.targets) == 1 and isinstance(small.targets[0].target,
                                                                                   cst.Name) else None
                if isinstance(small, (cst.AugAssign, cst.AnnAssign)) and name in target_names(small.target):
                    return None
        elif any(name in target_names(target) for target in _bound_targets(line)):
            return None  # rebound in a loop or branch: one of several values
    return None


def _bound_targets(statement: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    for node in descendants(statement):
        if isinstance(node, cst.AssignTarget):
            yield node.target
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)):
            yield node.target
        elif isinstance(node, cst.AsName):
            yield node.name


def is_abstract(node: ScopeNode) -> bool:
    """A method whose body (after its docstring) only raises `NotImplementedError`, or an
    `@abstractmethod` whose body does nothing."""
    if not isinstance(node, cst.FunctionDef) or not isinstance(node.body, cst.IndentedBlock):
        return False
    body = list(node.body.body)
    if body and isinstance(body[0], cst.SimpleStatementLine) and len(body[0].body) == 1 and isinstance(
            body[0].body[0], cst.Expr) and isinstance(body[0].body[0].value, (cst.SimpleString,
                                                                               cst.ConcatenatedString)):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return not body and _decorated_abstract(node)
    small = body[0].body[0]
    if isinstance(small, cst.Raise) and small.exc is not None:
        exc = small.exc.func if isinstance(small.exc, cst.Call) else small.exc
        return isinstance(exc, cst.Name) and exc.value == "NotImplementedError"
    if isinstance(small, cst.Pass) or (isinstance(small, cst.Expr) and isinstance(small.value, cst.Ellipsis)):
        return _decorated_abstract(node)
    return False


def _decorated_abstract(node: cst.FunctionDef) -> bool:
    return any((isinstance(d.decorator, cst.Name) and d.decorator.value == "abstractmethod")
               or (isinstance(d.decorator, cst.Attribute) and d.decorator.attr.value == "abstractmethod")
               for d in node.decorators)


def _tainted_by(target: Scope, call: cst.Call, flow: DataFlow) -> set[str]:
    """The parameters of a function or lambda that `call` passes a gradient-carrying value."""
    if isinstance(target.node, cst.FunctionDef):
        return tainted_parameters(target.node, call, flow)
    if isinstance(target.node, cst.Lambda):
        params = target.node.params
        star = params.star_arg.name.value if isinstance(params.star_arg, cst.Param) else None
        positional = [p.name.value for p in list(params.posonly_params) + list(params.params)]
        return tainted_arguments(positional, target.parameter_names, star, call, flow)
    return set()


def _item(value: cst.BaseExpression, index: Optional[int]) -> cst.BaseExpression:
    """The `index`-th item of a returned literal tuple (`return action, probs`); the whole value
    where it is not one."""
    if (index is not None and isinstance(value, (cst.Tuple, cst.List)) and index < len(value.elements)
            and all(isinstance(e, cst.Element) for e in value.elements)):
        return value.elements[index].value
    return value


def _positional_names(node: cst.FunctionDef) -> list[str]:
    names = [p.name.value for p in list(node.params.posonly_params) + list(node.params.params)]
    return names[1:] if names and names[0] in ("self", "cls") else names


def _has_literal_default(param: cst.Param) -> bool:
    default = param.default
    if default is None:
        return False
    if isinstance(default, cst.Name):
        return default.value in ("True", "False")
    return isinstance(default, (cst.Integer, cst.Float, cst.SimpleString))


def _parameter_at(scope: Scope, index: int) -> set[str]:
    """The name of the positional parameter at `index` (after `self`), if any."""
    if not isinstance(scope.node, (cst.FunctionDef, cst.Lambda)):
        return set()
    positional = list(scope.node.params.posonly_params) + list(scope.node.params.params)
    if scope.owner is not None and positional and positional[0].name.value == "self":
        positional = positional[1:]
    return {positional[index].name.value} if len(positional) > index else set()


def _is_keras_layer(qualified: str, name: str) -> bool:
    return qualified.endswith(f".layers.{name}") and qualified.startswith(KERAS_PACKAGES)


def _paused(block: cst.With, tape: str) -> list[cst.CSTNode]:
    """The `with tape.stop_recording():` blocks inside a tape's block: the tape records nothing
    there (sampled architectures handed to an environment), so nothing there is on its path."""
    return [node for node in descendants(block.body) if isinstance(node, cst.With) and any(
        isinstance(item.item, cst.Call) and isinstance(item.item.func, cst.Attribute)
        and item.item.func.attr.value == "stop_recording" and isinstance(item.item.func.value, cst.Name)
        and item.item.func.value.value == tape for item in node.items)]


def _after_last_gradient(block: cst.With, tape: str, scope_body) -> list[cst.CSTNode]:
    """The statements of a tape block that follow the last `tape.gradient(...)` inside it, when
    no call of that tape's gradient follows the block: what they compute (boxes drawn, metrics
    logged after `apply_gradients`) is recorded for no gradient."""
    if not isinstance(block.body, cst.IndentedBlock):
        return []

    def asked(node: cst.CSTNode) -> bool:
        return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                and node.func.attr.value in GRADIENT_METHODS and isinstance(node.func.value, cst.Name)
                and node.func.value.value == tape)

    body = list(block.body.body)
    inside = {id(n) for n in descendants(block)}
    if any(asked(n) for n in walk_scope(scope_body) if id(n) not in inside):
        return []
    last = max((i for i, statement in enumerate(body) if any(asked(n) for n in descendants(statement))),
               default=None)
    if last is None:
        # A tape never asked for a gradient and never handed on (returned, passed, stored): a
        # validation step written with the training step's `with`, recording for nothing.
        return [] if _tape_handed_on(tape, scope_body) else body
    return body[last + 1:]


_TAPE_CONTROLS = frozenset({"watch", "reset", "stop_recording", "watched_variables"})


def _tape_handed_on(tape: str, scope_body) -> bool:
    """Whether the function reads `tape` other than to control it (`tape.watch(x)`), nested
    functions included."""
    for statement in scope_body:
        parent_of = Parents(statement)
        for node in descendants(statement):
            if not (isinstance(node, cst.Name) and node.value == tape):
                continue
            parent = parent_of(node)
            if isinstance(parent, cst.AsName):
                continue
            if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in _TAPE_CONTROLS:
                continue
            return True
    return False
