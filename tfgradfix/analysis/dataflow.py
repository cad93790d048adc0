"""Which values in a scope carry a gradient, and which statements reach the output.

Two flow-insensitive analyses over one function (or the module body):

- *taint* (forward): a value carries a gradient when it is derived from a
  gradient source: an argument of a forward method, a weight, the output of a
  sub-layer or model call, a watched tensor, a `tf.Variable`. Shapes, dtypes,
  Python scalars and comparisons do not carry one, so `np.sqrt(self.units)` or
  `np.prod(x.shape[1:])` stay unreported.
- *liveness* (backward): a name is live when the scope's output (its return
  value, `add_loss`, or the target of a `tape.gradient`) depends on it.
  `.numpy()` used only to log or plot is not live.
"""

from __future__ import annotations

import builtins
import functools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap, dotted_name, is_integer_dtype
from tfgradfix.analysis.tree import Parents, child_nodes, contains, descendants
from tfgradfix.analysis.no_gradient_ops import NO_GRADIENT
from tfgradfix.analysis.keras import call_argument, declared_rank, is_weight_constructor, self_attribute
from tfgradfix.analysis.roles import holds_state, stepped_counters
from tfgradfix.analysis.targets import bootstrap_calls, detached_value
from tfgradfix.analysis.vocabulary import TENSOR_MAPS, TF_VARIABLE, VARIABLE_CONSTRUCTORS

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import Scope

# Attributes of a tensor or array that are static metadata, not values.
# `_keras_shape`: the static shape Keras 1 and 2 kept on every tensor (`x._keras_shape`).
METADATA_ATTRIBUTES = frozenset({"shape", "dtype", "ndim", "name", "device", "rank", "size", "_keras_shape",
                                 "event_shape", "batch_shape"})  # (the last two: a distribution's shapes)
# Builtins whose result is never a tensor (they return Python values).
PYTHON_VALUE_BUILTINS = frozenset(
    {"float", "int", "bool", "len", "str", "repr", "print", "isinstance", "range", "type",
     "format", "id", "hash", "callable", "hasattr", "getattr"}
)
# TF/NumPy functions whose result carries no gradient even from a tensor input: by last
# name, and TensorFlow's own (qualified) from its gradient registry (`tf.equal`,
# `tf.math.count_nonzero`, `tf.round`: bool and integer results, gradients registered None).
NON_DIFFERENTIABLE_RESULTS = frozenset(
    {"shape", "shape_n", "size", "rank", "ndim", "argmax", "argmin", "math.argmax",
     "math.argmin", "zeros_like", "ones_like", "is_tensor", "executing_eagerly",
     "categorical", "stateless_categorical", "multinomial"}
) | frozenset(NO_GRADIENT)
# Sampling: a draw carries no gradient from the probabilities it was drawn with.
_SAMPLING_MODULES = ("numpy.random.",)
# Methods of a tensor that return its static metadata (`x.get_shape().as_list()`).
_METADATA_METHODS = frozenset({"get_shape", "as_list", "num_elements", "is_fully_defined"})
# Methods of SciPy's sparse matrices that no tensor has: their receiver is data (a graph's
# Laplacian handed in beside the features), and what they return is a NumPy value.
_SPARSE_MATRIX_METHODS = frozenset({"todense", "toarray", "tocoo", "tocsr", "tocsc", "tolil", "getnnz"})
# TF's views of a whole SparseTensor: one a function is handed (an adjacency, a bag of words)
# is data, since no Keras layer outputs a SparseTensor for a gradient to come back through.
_SPARSE_VIEWS = frozenset({
    "tensorflow.sparse.to_dense", "tensorflow.sparse.reorder", "tensorflow.sparse.reshape",
    "tensorflow.sparse.transpose", "tensorflow.sparse.to_indicator", "tensorflow.sparse.expand_dims",
    "tensorflow.sparse.slice", "tensorflow.sparse_tensor_to_dense", "tensorflow.compat.v1.sparse_tensor_to_dense",
    "tensorflow.sparse_reorder"})
# A backend module's shape functions (`ops.shape(x)`, `K.int_shape(x)`, under whatever name a
# project re-exports keras.ops): metadata, not a value of `x`.
_BACKEND_METADATA_FUNCTIONS = frozenset({"shape", "int_shape", "shape_n", "rank", "ndim"})
# Python's builtins: their result carries a gradient only from their arguments.
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))
# Values named like Keras's `training` / `mask` arguments are flags, whatever they
# were unpacked from (`training_value = kwargs["training"]`).
_FLAGS = frozenset({"training", "mask"})
_FLAG_PREFIXES = ("training_", "mask_")
CONTAINER_MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "write"})
# Callee attributes that are a model's forward pass whatever object holds them.
_MODEL_CALL_ATTRIBUTES = frozenset({"call", "predict", "predict_on_batch", "predict_step"})


def name_nodes(node: cst.CSTNode) -> Iterator[cst.Name]:
    """Name nodes that read a variable (attribute names, keywords, parameters
    and nested function bodies excluded)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            yield current
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)
        elif isinstance(current, cst.Arg):
            stack.append(current.value)
        elif isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Param)):
            continue
        else:
            stack.extend(child_nodes(current))


def names_in(node: cst.CSTNode) -> Iterator[str]:
    """Names read by an expression."""
    return (name.value for name in name_nodes(node))


def target_name_nodes(target: cst.BaseExpression) -> Iterator[cst.Name]:
    """The Name nodes an assignment target binds or mutates (`a`, `a[i]`, `a, *b`)."""
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from target_name_nodes(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from target_name_nodes(target.value)
    elif isinstance(target, cst.Subscript):
        yield from target_name_nodes(target.value)


def target_names(target: cst.BaseExpression) -> Iterator[str]:
    return (name.value for name in target_name_nodes(target))


_FRAMEWORKS = frozenset({"tensorflow", "numpy", "keras", "tf_keras"})


@dataclass(frozen=True)
class Blocking:
    """What stops a gradient, for one taint analysis. Rules that ask "does the
    output still depend on the weights without these ops?" run the same
    analysis twice with different blocking."""

    # last name of a TF/NumPy/Keras function (`argmax`), or a qualified one (`tensorflow.argsort`)
    functions: frozenset = NON_DIFFERENTIABLE_RESULTS
    comparisons: bool = True  # `a > b` is bool: no gradient
    integer_casts: bool = False  # `tf.cast(x, tf.int32)`
    parameters: bool = True  # the forward method's arguments are gradient sources
    # Only this weight or sub-layer (`self.<weight>`) is a source: does the output depend on *it*?
    weight: Optional[str] = None
    # Objects (dotted names: `self.target_model`) whose calls carry no gradient but what
    # their arguments carry: models whose variables a tape does not differentiate.
    excluded: frozenset = frozenset()
    # Names whose `tape.watch` does not count: the question is asked where that tape
    # records nothing (after its `with` block), so the watch made them no source there.
    unwatched: frozenset = frozenset()
    # A method of an object the analysis cannot see into (`self.net.critic(s, a)`) may be a
    # model's forward pass: ask "could anything still carry a gradient here?"
    unknown_calls: bool = False
    # A helper's parameters that still carry a gradient (None: all its callers pass one in):
    # those its callers pass one in when their tapes count only their own sources.
    parameters_kept: Optional[frozenset] = None
    # The objects the tapes of the question differentiate (dotted names, as the tape's scope
    # names them), where they are known: a helper's own calls of other models, asked for its
    # return value, carry no gradient either (a frozen network called two helpers down).
    only_sources: Optional[frozenset] = None
    # Names computed before the tapes of the question opened (`analysis/tape_constants.py`):
    # constants to those tapes, whatever they were computed from.
    constants: frozenset = frozenset()

    def extended(self, *functions: str, integer_casts: Optional[bool] = None) -> "Blocking":
        return replace(self, functions=self.functions | frozenset(functions),
                       integer_casts=self.integer_casts if integer_casts is None else integer_casts)

    def only(self, weight: str) -> "Blocking":
        return replace(self, weight=weight)

    def excluding(self, objects: frozenset) -> "Blocking":
        return replace(self, excluded=self.excluded | objects)

    def excludes(self, call: cst.Call) -> bool:
        if not self.excluded:
            return False
        callee = call.func
        if isinstance(callee, cst.Attribute) and callee.attr.value in ("call", "__call__"):
            callee = callee.value
        return dotted_name(callee) in self.excluded

    @property
    def all_sources(self) -> bool:
        return self.weight is None

    def blocks(self, qualified: str, call: cst.Call, flow: "DataFlow") -> bool:
        root = qualified.split(".", 1)[0]
        if root not in _FRAMEWORKS:
            return False
        last = qualified.rsplit(".", 1)[-1]
        if last in self.functions or qualified in self.functions or qualified.startswith(_SAMPLING_MODULES):
            return True
        if self.integer_casts and last == "cast" and len(call.args) >= 2:
            dtype = flow.imports.dtype_name(call.args[1].value)
            return is_integer_dtype(dtype) or dtype == "bool"
        return False


DEFAULT_BLOCKING = Blocking()


@dataclass
class Binding:
    """One assignment `name = value` (or `for name in value`, `name += value`)."""

    name: str
    value: cst.BaseExpression
    statement: cst.CSTNode


@dataclass
class DataFlow:
    scope: "Scope"
    imports: ImportMap
    bindings: list[Binding] = field(default_factory=list)
    tainted: set[str] = field(default_factory=set)
    # `self.<attr> = value` in this scope (`self.ratio = tf.exp(logp - logp_old)` in a training
    # step, read back a line later), and those of them that carry a gradient.
    attribute_bindings: list[tuple[str, cst.BaseExpression]] = field(default_factory=list)
    tainted_attributes: set[str] = field(default_factory=set)
    live: set[str] = field(default_factory=set)
    # Live without going through the items of a NumPy buffer (`returns[t] = g`); None: no buffer.
    live_directly: Optional[set[str]] = None
    # Names bound to a NumPy result somewhere in the scope (`a = x.numpy()`).
    ndarray_names: set[str] = field(default_factory=set)
    # Names whose items are assigned (`a[0] = 1`): a tensor cannot do that.
    item_assigned: set[str] = field(default_factory=set)
    sink_expressions: list[cst.BaseExpression] = field(default_factory=list)
    # The sinks handed to `self.add_loss`: an output the weights train through, beside the return value.
    added_losses: list[cst.BaseExpression] = field(default_factory=list)
    blocking: Blocking = DEFAULT_BLOCKING
    # Model calls whose output the code detaches on purpose (`analysis/targets.py`).
    targets: frozenset = frozenset()
    # What the scope's `tape.gradient` calls differentiate with respect to, and what leaves it.
    gradient_sources: list[cst.BaseExpression] = field(default_factory=list)
    escaping: list[cst.BaseExpression] = field(default_factory=list)
    one_call_variables: frozenset = frozenset()
    one_call_names: frozenset = frozenset()  # the names bound to them
    # `a, b = self.helper(x)`: the stand-in each name is bound to, and the call and position it
    # reads, with the `call` of the model of this module it runs (`q, tau = self.model(s)`), if so.
    returned_items: dict = field(default_factory=dict)
    # What `analysis/values.py` has worked out about this scope's values.
    value_cache: dict = field(default_factory=dict, repr=False)
    _undetached_live: Optional[set[str]] = field(default=None, repr=False)
    _any_live: set[str] = field(default_factory=set, repr=False)
    # `tape.gradient(loss, ...)` calls, and the binding of `loss` that certainly reaches each
    _named_targets: list[cst.Call] = field(default_factory=list, repr=False)
    _target_bindings: dict[str, list[cst.BaseExpression]] = field(default_factory=dict, repr=False)

    # -- construction -------------------------------------------------------

    def collect(self, statements: list[cst.CSTNode]) -> None:
        nodes = list(walk_scope(statements))
        for node in nodes:
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    self._bind(target.target, node.value, node)
                    if isinstance(target.target, cst.Attribute):
                        self.escaping.append(node.value)
                    if isinstance(target.target, cst.Subscript):
                        self.item_assigned.update(target_names(target.target))
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                self._bind(node.target, node.value, node)
            elif isinstance(node, cst.AugAssign):
                self._bind(node.target, node.value, node)
            elif isinstance(node, (cst.For, cst.CompFor)):
                self._bind(node.target, node.iter, node)
            elif isinstance(node, cst.NamedExpr):
                self._bind(node.target, node.value, node)
            elif isinstance(node, cst.Call):
                self._collect_call(node)
            elif isinstance(node, cst.Return) and node.value is not None:
                self.escaping.append(node.value)
                if self.scope.forward and not self.scope.result_unused:
                    self.sink_expressions.append(node.value)
        self.targets = bootstrap_calls(self.scope, nodes, self.imports, self._detached_later)
        self._reaching_targets()

    def _reaching_targets(self) -> None:
        """A gradient target's name may be bound again where the tape never sees it (`loss =
        np.mean(losses)` after the epoch's loop, for printing): what the target depends on is the
        binding that reaches the `gradient` call, where that is certain."""
        from tfgradfix.analysis.rebinding import gradient_target_binding  # it reads DataFlow: imported when asked

        root = self.scope.node
        if not self._named_targets or not isinstance(root, (cst.FunctionDef, cst.Module)):
            return
        parent_of = Parents(root)
        values: dict[str, list[cst.BaseExpression]] = {}
        uncertain: set[str] = set()
        for call in self._named_targets:
            target = call.args[0].value
            assert isinstance(target, cst.Name)
            value = gradient_target_binding(parent_of, call, target.value)
            if value is None:
                uncertain.add(target.value)
            else:
                values.setdefault(target.value, []).append(value)
        self._target_bindings = {name: found for name, found in values.items() if name not in uncertain}

    def _detached_later(self, call: cst.Call) -> bool:
        """Whether `call`'s output reaches the scope's output, but only through a detaching call
        (`reward_sum = critic(s)`, accumulated into `returns`, then `np.array(returns)`)."""
        names = {b.name for b in self.bindings if b.value is call or contains(b.value, call)}
        if not names:
            return False
        if self._undetached_live is None:
            self._undetached_live = self._live(self._through_detaching_rebindings(), self._undetached_names)
            self._any_live = self._live(self.bindings)
        return bool(names & self._any_live) and not names & self._undetached_live

    def _through_detaching_rebindings(self) -> list[Binding]:
        """The bindings, less those of a list a later statement rebinds to its detached copy
        (`returns = tf.convert_to_tensor(np.array(returns))`, not in a loop): whatever was
        appended before reaches the reads after it only through that copy."""
        rebindings = [b for b in self.bindings if isinstance(b.statement, cst.Assign)
                      and b.name in names_in(b.value) and b.name not in set(self._undetached_names(b.value))]
        if not rebindings:
            return self.bindings
        nodes = list(walk_scope(self.scope.body))
        order = {id(node): index for index, node in enumerate(nodes)}
        loops = [node for node in nodes if isinstance(node, (cst.For, cst.While))]
        # In-place calls on a list (`returns.reverse()`) carry its items nowhere else.
        in_place = {id(n.value.func.value) for n in nodes if isinstance(n, cst.Expr)
                    and isinstance(n.value, cst.Call) and isinstance(n.value.func, cst.Attribute)}
        dropped: set[int] = set()
        for rebinding in rebindings:
            name, statement = rebinding.name, rebinding.statement
            if any(contains(loop, statement) for loop in loops):
                continue
            at = order.get(id(statement), -1)
            earlier = [b for b in self.bindings if b.name == name and b is not rebinding
                       and order.get(id(b.statement), -1) < at]
            reads = [n for n in nodes if isinstance(n, cst.Name) and n.value == name and id(n) not in in_place
                     and not contains(statement, n) and not any(contains(b.statement, n) for b in earlier)]
            if earlier and all(order.get(id(n), -1) > at for n in reads):
                dropped.update(id(b) for b in earlier)
        return [b for b in self.bindings if id(b) not in dropped]

    def _undetached_names(self, expr: cst.BaseExpression) -> Iterator[str]:
        """The names `expr` reads, but not those it reads only inside a detaching call."""
        def followed(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
            if isinstance(node, cst.Attribute):
                return [node.value]
            return () if detached_value(node, self.imports) is not None else child_nodes(node)
        return _names_read(expr, followed)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression, statement: cst.CSTNode) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            parts = _unpacked(value, len(target.elements), self.imports) or self._returned_parts(value, target)
            if parts is not None:  # `for out, y in zip(outs, ys)`: each name gets its own side
                for element, part in zip(target.elements, parts):
                    self._bind(element.value, part, statement)
                return
        attr = self_attribute(target)
        if attr is not None:
            self.attribute_bindings.append((attr, value))
        for name in target_names(target):
            self.bindings.append(Binding(name, value, statement))

    def _returned_parts(self, value: cst.BaseExpression, target: cst.Tuple | cst.List) -> Optional[list]:
        """`action, probs, value = self.act(state)`: each name takes its own item of what the
        helper returns (an action drawn with `np.argmax` carries no gradient, the probabilities
        beside it do). Stand-ins `call[i]` say which item; `is_tainted` reads them."""
        if not isinstance(value, cst.Call) or any(isinstance(e, cst.StarredElement) for e in target.elements):
            return None
        call = value
        if isinstance(value.func, cst.Name) and value.func.value == "self":
            method = next((m for m in ("call", "__call__") if self.scope.has_method(m)), None)
            if method is None:
                return None
            call = value.with_changes(func=cst.Attribute(cst.Name("self"), cst.Name(method)))  # what `self(x)` runs
        helper = self._helper_scope(call)
        model = self.scope.module.instance_call_scope(self.scope, call) if helper is None else None
        if helper is None and model is None:
            return None
        parts: list[cst.BaseExpression] = []
        for index in range(len(target.elements)):
            item = cst.Subscript(value, [cst.SubscriptElement(cst.Index(cst.Integer(str(index))))])
            self.returned_items[item] = (call, index, model)
            parts.append(item)
        return parts

    def _collect_call(self, call: cst.Call) -> None:
        callee = call.func
        if not isinstance(callee, cst.Attribute) or self.imports.resolve(callee) in TENSOR_MAPS:
            self._collect_mapped_lambda(call)
            return
        method = callee.attr.value
        owner = callee.value
        if method in CONTAINER_MUTATORS and isinstance(owner, cst.Name):
            # `outputs.append(h)` makes `outputs` depend on `h`; text (`bar.write(f"loss {loss}")`) holds no tensor.
            for arg in call.args:
                if not isinstance(arg.value, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
                    self.bindings.append(Binding(owner.value, arg.value, call))
        elif (method == "watch" and isinstance(owner, cst.Name) and owner.value in self.scope.tape_names
              and self.blocking.all_sources):
            for arg in call.args:
                for name in target_names(arg.value):
                    if name not in self.blocking.unwatched:
                        self.tainted.add(name)
        elif method == "gradient" and isinstance(owner, cst.Name) and owner.value in self.scope.tape_names:
            if call.args:
                self.sink_expressions.append(call.args[0].value)
                if isinstance(call.args[0].value, cst.Name):
                    self._named_targets.append(call)
            if len(call.args) > 1:
                self.gradient_sources.append(call.args[1].value)
        elif method == "add_loss" and self_attribute(callee) is not None and self.scope.forward:
            self.sink_expressions.extend(arg.value for arg in call.args)
            self.added_losses.extend(arg.value for arg in call.args)

    def _collect_mapped_lambda(self, call: cst.Call) -> None:
        """`tf.map_fn(lambda row: ..., x)`: the lambda's parameter takes slices of `x`."""
        if self.imports.resolve(call.func) not in TENSOR_MAPS:
            return
        function, elements = call_argument(call, "fn", 0), call_argument(call, "elems", 1)
        if isinstance(function, cst.Lambda) and elements is not None:
            params = function.params.params
            if params:
                self.bindings.append(Binding(params[0].name.value, elements, call))

    def solve(self, tainted_params: set[str]) -> None:
        self.tainted |= tainted_params
        if self.blocking.all_sources:
            # A tape records a trainable variable by itself; a `trainable=False` one (the
            # collocation points of a PINN) only when watched.
            # Nor is a variable the code writes (`n = tf.Variable(0.0)`, then `assign_add(n, 1.0)`):
            # a counter, state rather than a weight.
            one_call = [b for b in self.bindings if isinstance(b.value, cst.Call) and (
                self._made_for_one_call(b.name) or (is_weight_constructor(b.value, self.imports)
                                                    and b.name in self._written_names))]
            self.one_call_variables = frozenset(b.value for b in one_call)
            self.one_call_names = frozenset(b.name for b in one_call)
            self.tainted |= {
                b.name for b in self.bindings
                if is_weight_constructor(b.value, self.imports) and not holds_state(b.value, self.imports)
                and b.value not in self.one_call_variables
            }
        changed = True
        while changed:
            changed = False
            for binding in self.bindings:
                if binding.name in _FLAGS or binding.name.startswith(_FLAG_PREFIXES):
                    continue
                if binding.name not in self.tainted and self.is_tainted(binding.value):
                    self.tainted.add(binding.name)
                    changed = True
                if binding.name not in self.ndarray_names and self.is_ndarray(binding.value):
                    self.ndarray_names.add(binding.name)
                    changed = True
            for attr, value in self.attribute_bindings:
                if attr not in self.tainted_attributes and self.is_tainted(value):
                    self.tainted_attributes.add(attr)
                    changed = True
        self.live = self._live(self.bindings)
        buffers = self.numpy_buffers()
        self.live_directly = self._live([b for b in self.bindings if not (
            b.name in buffers and is_item_write(b.statement))]) if buffers else None

    def _made_for_one_call(self, name: str) -> bool:
        """A function's own variable that its tapes do not differentiate and that does not
        leave it (`g = tf.Variable(points)` to slice coordinates from, each call anew): no
        weight trains through it, so it carries no gradient the code wants. A module-level
        one (a notebook's) qualifies when no function of the module reads it either."""
        kept = self._kept_names
        if kept is None:
            return False
        if isinstance(self.scope.node, cst.Module) and self.scope.module.read_elsewhere(name):
            return False
        return name not in kept

    @functools.cached_property
    def _written_names(self) -> frozenset[str]:
        return stepped_counters(walk_scope(self.scope.body), self.imports)

    @functools.cached_property
    def _kept_names(self) -> Optional[frozenset[str]]:
        """The names the scope's tapes differentiate or that leave it; None where no tape
        says what it differentiates."""
        node = self.scope.node
        if isinstance(node, cst.Module):
            differentiated = list(self.gradient_sources)
        elif isinstance(node, cst.FunctionDef):
            # The closures it defines differentiate it too (`def objective(): ... tape.gradient(
            # loss, model.trainable_variables)` reading the factory's `points`).
            nested = [n for n in descendants(node.body) if isinstance(n, cst.FunctionDef)]
            differentiated = [*self.gradient_sources,
                              *(e for function in nested for e in _differentiated_or_returned(function))]
        else:
            return None
        if not differentiated:
            return None
        return frozenset(n for expr in (*differentiated, *self.escaping) for n in names_in(expr))

    @functools.cached_property
    def live_differentiably(self) -> set[str]:
        """The live names whose way to the output passes a gradient: not only through an
        argmax, a draw, a comparison, an index or a shape (`logits = np.log(probs)` feeding only
        `np.argmax(logits + noise)`)."""
        return self._live(self.bindings, self.differentiable_names)

    def differentiable_names(self, expr: cst.BaseExpression) -> Iterator[str]:
        """The names `expr` reads where a gradient could pass from them into its value."""
        def followed(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
            if isinstance(node, cst.Comparison):
                return () if self.blocking.comparisons else child_nodes(node)
            if isinstance(node, cst.Attribute):
                return () if node.attr.value in METADATA_ATTRIBUTES else [node.value]
            if isinstance(node, cst.Subscript):
                return [node.value]
            if isinstance(node, cst.Call):
                qualified = self.imports.resolve(node.func)
                if qualified is not None and self.blocking.blocks(qualified, node, self):
                    return ()
                return [node.func, *(arg.value for arg in node.args)]
            return child_nodes(node)
        return _names_read(expr, followed)

    def _live(self, bindings: list[Binding], names: Callable[[cst.BaseExpression], Iterable[str]] = names_in
              ) -> set[str]:
        depends: dict[str, set[str]] = {}
        for binding in bindings:
            depends.setdefault(binding.name, set()).update(names(binding.value))
        live: set[str] = set()
        work = [name for expr in self.sink_expressions for name in names(expr) if name not in self._target_bindings]
        for name, values in self._target_bindings.items():
            if any(isinstance(e, cst.Name) and e.value == name for e in self.sink_expressions
                   if not any(e is c.args[0].value for c in self._named_targets)):
                work.append(name)  # also a sink by another way (returned): every binding counts
                continue
            live.add(name)
            work.extend(n for value in values for n in names(value))
        expanded: set[str] = set()
        while work:
            name = work.pop()
            if name in expanded:
                continue
            live.add(name)
            expanded.add(name)
            work.extend(depends.get(name, ()))
        return live

    def numpy_buffers(self) -> set[str]:
        """NumPy arrays whose items the scope writes (`returns = np.zeros_like(rewards)`,
        `returns[t] = g`): what is written there becomes NumPy data, gradient or not."""
        return {name for name in self.item_assigned
                if all(self.is_ndarray(b.value) for b in self.bindings
                       if b.name == name and not is_item_write(b.statement))
                and any(b.name == name and not is_item_write(b.statement) for b in self.bindings)}

    # -- queries -------------------------------------------------------------

    def single_values(self) -> dict[str, cst.BaseExpression]:
        """Names the scope binds exactly once, by a plain assignment, and their value."""
        counts: dict[str, int] = {}
        for binding in self.bindings:
            counts[binding.name] = counts.get(binding.name, 0) + 1
        return {b.name: b.value for b in self.bindings
                if counts[b.name] == 1 and isinstance(b.statement, cst.Assign) and len(b.statement.targets) == 1
                and isinstance(b.statement.targets[0].target, cst.Name)}

    def is_tainted(self, expr: cst.BaseExpression) -> bool:
        """Whether `expr` carries a gradient from a trainable source."""
        if isinstance(expr, cst.Name):
            if expr.value in self.blocking.constants:
                return False
            return expr.value in self.tainted or (
                self.blocking.all_sources and self.scope.reads_module_variable(expr.value)
                and expr.value not in self.one_call_names)
        if isinstance(expr, cst.Attribute):
            attr = expr.attr.value
            owner_attr = self_attribute(expr)
            if owner_attr is not None:
                if owner_attr in self.tainted_attributes:
                    return True
                if not self.blocking.all_sources:
                    return owner_attr == self.blocking.weight
                return self.scope.is_weight(owner_attr)
            if attr in METADATA_ATTRIBUTES:
                return False
            if attr in ("trainable_variables", "trainable_weights"):
                # The weights themselves (`w * tf.stop_gradient(g) for w, g in zip(net.trainable_variables,
                # grads)`: a surrogate loss), unless the question excludes the object that holds them.
                return self.blocking.all_sources and dotted_name(expr.value) not in self.blocking.excluded
            if attr == "indices" and isinstance(expr.value, cst.Call):
                qualified = self.imports.resolve(expr.value.func)
                if qualified is not None and self.blocking.blocks(qualified, expr.value, self):
                    return False
            return self.is_tainted(expr.value)
        if isinstance(expr, cst.Call):
            return self._call_is_tainted(expr)
        if isinstance(expr, (cst.BinaryOperation,)):
            return self.is_tainted(expr.left) or self.is_tainted(expr.right)
        if isinstance(expr, cst.UnaryOperation):
            return not isinstance(expr.operator, cst.Not) and self.is_tainted(expr.expression)
        if isinstance(expr, cst.Comparison):
            if is_python_test(expr):
                return False
            operands = [expr.left, *(target.comparator for target in expr.comparisons)]
            return not self.blocking.comparisons and any(self.is_tainted(o) for o in operands)
        if isinstance(expr, cst.BooleanOperation):
            return not self.blocking.comparisons and (self.is_tainted(expr.left) or self.is_tainted(expr.right))
        if isinstance(expr, cst.Subscript):
            if expr in self.returned_items:
                call, index, model = self.returned_items[expr]
                if model is None:
                    return self._helper_result_tainted(call, any(self.is_tainted(a.value) for a in call.args), index)
                # A sub-model's outputs: an item carries no more than the whole call (a model the
                # question leaves out, or the one part it asks about), and no more than what the
                # model's `call` computes it from (`return q, tau` with `tau = np.random.rand(n)`).
                whole = self._call_is_tainted(call)
                if not whole or not self.blocking.all_sources:
                    return whole
                return model.returns_tainted(tainted_parameters(model.node, call, self), self.blocking, index)
            return self.is_tainted(expr.value)
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            return any(self.is_tainted(el.value) for el in expr.elements)
        if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            return self.is_tainted(expr.elt)
        if isinstance(expr, cst.DictComp):
            return self.is_tainted(expr.value)
        if isinstance(expr, cst.IfExp):
            return self.is_tainted(expr.body) or self.is_tainted(expr.orelse)
        if isinstance(expr, (cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary,
                             cst.ConcatenatedString, cst.FormattedString, cst.Lambda)):
            return False
        return any(name in self.tainted for name in names_in(expr))

    def _call_is_tainted(self, call: cst.Call) -> bool:
        callee = call.func
        if call in self.targets:
            return False
        args_tainted = any(self.is_tainted(arg.value) for arg in call.args)
        if self.blocking.excludes(call):
            return args_tainted
        if (isinstance(callee, cst.Attribute) and callee.attr.value in _BACKEND_METADATA_FUNCTIONS
                and isinstance(callee.value, cst.Name) and not self.is_tainted(callee.value)):
            return False
        qualified = self.imports.resolve(callee)
        if qualified is not None:
            if self.blocking.blocks(qualified, call, self):
                return False
            if qualified in _SPARSE_VIEWS and call.args and self._handed_in(call.args[0].value):
                return False
            if args_tainted and not qualified.startswith(("tensorflow.", "keras", "numpy.", "tf_keras")):
                helper = self.scope.module.external_function(self.scope, call)
                if helper is not None and helper.returns_shape:
                    return False  # `shape_list(x)` of another project module: shape metadata
            if qualified in VARIABLE_CONSTRUCTORS:
                return (self.blocking.all_sources and not holds_state(call, self.imports)
                        and call not in self.one_call_variables)
            return args_tainted
        if isinstance(callee, cst.Name):
            name = callee.value
            if name in PYTHON_VALUE_BUILTINS:
                return False
            if name == "self":
                return args_tainted or self.blocking.all_sources
            if self.scope.module_function(name) or self._defined_function(name):
                return self._helper_result_tainted(call, args_tainted)
            if self.scope.module_class(name) or name in _BUILTINS:
                return args_tainted  # `next(batches)` is no forward pass
            return args_tainted or (self.scope.model_calls and self.blocking.all_sources)
        if isinstance(callee, cst.Attribute):
            method = callee.attr.value
            owner = callee.value
            if isinstance(owner, cst.Name) and owner.value == "self":
                if self.scope.has_method(method):
                    return self._helper_result_tainted(call, args_tainted)
                if self.scope.is_preprocessing:
                    return args_tainted
                if self.scope.is_weightless_part(method):
                    return args_tainted  # `self.reshape(x)`: a built-in layer without weights
                return args_tainted or self.blocking.all_sources or method == self.blocking.weight  # a sub-layer
            if _is_super(owner) and method in ("call", "__call__"):
                # `super().call(inputs)` in a subclass of `layers.Dense`: the built-in layer's kernel
                return args_tainted or (self.blocking.all_sources and self.scope.inherits_weights)
            if self.is_tainted(owner):
                return (method not in METADATA_ATTRIBUTES and method not in _METADATA_METHODS
                        and method not in _SPARSE_MATRIX_METHODS)
            if method in _MODEL_CALL_ATTRIBUTES and self.scope.model_calls and self.blocking.all_sources:
                return True
            if (self.blocking.unknown_calls and dotted_name(owner) is not None
                    and method not in METADATA_ATTRIBUTES and method not in _METADATA_METHODS
                    and method not in CONTAINER_MUTATORS and not self.is_ndarray(owner)):
                return True
        return args_tainted

    def _handed_in(self, expr: cst.BaseExpression, _seen: Optional[set[str]] = None) -> bool:
        """`expr` reads only what the function's callers handed it (its parameters, their items,
        what loops over them bind), never `self` nor a value the function computes."""
        seen = set() if _seen is None else _seen
        names = [n for n in names_in(expr) if n in self.scope.parameter_names
                 or (n not in _BUILTINS and n not in self.imports.bindings)]  # not `tf`, `np`, `len`
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            if name == "self":
                return False
            if name in self.scope.parameter_names:
                continue
            values = [b.value for b in self.bindings if b.name == name]
            if not values or not all(self._handed_in(v, seen) for v in values):
                return False
        return bool(names)

    def is_ndarray(self, expr: cst.BaseExpression) -> bool:
        """A NumPy value, or arithmetic and indexing on one."""
        if isinstance(expr, cst.Name):
            return expr.value in self.ndarray_names
        if isinstance(expr, cst.BinaryOperation):
            return self.is_ndarray(expr.left) or self.is_ndarray(expr.right)
        if isinstance(expr, cst.UnaryOperation):
            return self.is_ndarray(expr.expression)
        if isinstance(expr, cst.Subscript):
            return self.is_ndarray(expr.value)
        if isinstance(expr, cst.Attribute) and expr.attr.value == "T":
            return self.is_ndarray(expr.value)
        return self.produces_ndarray(expr)

    def _defined_function(self, name: str) -> bool:
        """`name` is a function this scope or an enclosing one defines with `def` (a helper
        nested in a method): calling it runs that helper, not a model."""
        scope: Optional[Scope] = self.scope
        while scope is not None:
            bound = scope.local_definitions().get(name, [])
            if bound:
                return all(isinstance(b, cst.FunctionDef) for b in bound)
            scope = scope.enclosing
        return False

    def _helper_scope(self, call: cst.Call) -> Optional["Scope"]:
        """The scope of the helper of this module (a method of the class, a function) `call` runs."""
        callee = call.func
        if isinstance(callee, cst.Name):
            helper = self.scope.module_function(callee.value) or self._defined_function(callee.value)
        else:
            helper = (isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Name)
                      and callee.value.value == "self" and self.scope.has_method(callee.attr.value))
        if not helper:
            return None
        scope = self.scope.module.callee_scope(self.scope, call)
        return scope if scope is not None and isinstance(scope.node, cst.FunctionDef) else None

    def _helper_result_tainted(self, call: cst.Call, args_tainted: bool, item: Optional[int] = None) -> bool:
        """A helper of this module returns a gradient-carrying value when its
        return value (or its `item`-th item, where it returns tuples) depends on an argument
        that carries one (or on its own sources), under the same blocking."""
        callee = self.scope.module.callee_scope(self.scope, call)
        if callee is None or not isinstance(callee.node, cst.FunctionDef):
            return args_tainted
        return callee.returns_tainted(tainted_parameters(callee.node, call, self), self.blocking, item)

    def produces_ndarray(self, expr: cst.BaseExpression) -> bool:
        """A NumPy value: `np.*(...)`, `x.numpy()`, `model.predict(x)`."""
        if not isinstance(expr, cst.Call):
            return False
        callee = expr.func
        if isinstance(callee, cst.Attribute):
            if callee.attr.value == "predict" or is_host_copy(expr):
                return True
        qualified = self.imports.resolve(callee)
        return qualified is not None and qualified.startswith("numpy.")

    def went_through_numpy(self, expr: cst.BaseExpression, _seen: Optional[set[str]] = None) -> bool:
        """`expr`, or a value of this scope it reads, was computed by NumPy from a value that
        carries a gradient (`np.tanh(t)`, `t.numpy()`, `model.predict(x)`): a tensor made from
        that is what is left of a round trip. A NumPy buffer of data (`np.zeros(n)` filled from a
        replay memory) is none."""
        seen = set() if _seen is None else _seen
        for node in descendants(expr):
            if isinstance(node, cst.Call) and self.produces_ndarray(node) and self.is_tainted(node):
                return True
            if isinstance(node, cst.Name) and node.value not in seen:
                seen.add(node.value)
                if (node.value in self.ndarray_names and self.is_tainted(node)) or any(
                        self.went_through_numpy(b.value, seen) for b in self.bindings if b.name == node.value):
                    return True
        return False

    def rank_of(self, expr: cst.BaseExpression, _seen: Optional[set[str]] = None) -> Optional[int]:
        """Static rank where it is declared: weights with a literal shape, and
        names, `.numpy()`, `np.asarray` and `.T` of those."""
        attr = self_attribute(expr)
        if attr is not None:
            return self.scope.weight_rank(attr)
        if isinstance(expr, cst.Attribute) and expr.attr.value == "T":
            return self.rank_of(expr.value, _seen)
        if isinstance(expr, cst.Call):
            callee = expr.func
            if isinstance(callee, cst.Attribute) and callee.attr.value in ("numpy", "value", "read_value") and not expr.args:
                return self.rank_of(callee.value, _seen)
            qualified = self.imports.resolve(callee)
            if qualified in ("numpy.asarray", "numpy.array", "tensorflow.convert_to_tensor",
                             "tensorflow.identity") and expr.args:
                return self.rank_of(expr.args[0].value, _seen)
            if qualified in TF_VARIABLE:
                return declared_rank(expr, self.imports)
            return None
        if isinstance(expr, cst.Name):
            seen = _seen or set()
            if expr.value in seen:
                return None
            seen.add(expr.value)
            ranks = {self.rank_of(b.value, seen) for b in self.bindings if b.name == expr.value}
            if len(ranks) == 1:
                return ranks.pop()
        return None


def _is_super(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "super"


def is_python_test(comparison: cst.Comparison) -> bool:
    """`x is None`, `k in table`: identity and membership are Python's, a plain bool whatever the
    operands are; no tensor op runs, so nothing is differentiated or cut there."""
    return all(isinstance(t.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for t in comparison.comparisons)


_INDEX = cst.Integer("0")
# Stands for an integer tensor the analysis does not follow (a comparison is a boolean to
# `analysis/values.py`, and of two literals it is tainted by nothing).
_INTEGER_TENSOR = cst.Comparison(cst.Integer("0"), [cst.ComparisonTarget(cst.Equal(), cst.Integer("0"))])
# Ops returning several tensors, some of them integer: the positions of those.
_INTEGER_OUTPUTS = {
    "tensorflow.math.top_k": (1,), "tensorflow.nn.top_k": (1,), "tensorflow.math.approx_max_k": (1,),
    "tensorflow.math.approx_min_k": (1,), "tensorflow.unique": (1,), "tensorflow.unique_with_counts": (1, 2),
    "tensorflow.nn.max_pool_with_argmax": (1,), "keras.ops.top_k": (1,),
}


def is_item_write(statement: cst.CSTNode) -> bool:
    """`a[i] = v`, `a[i] += v`."""
    if isinstance(statement, cst.Assign):
        return any(isinstance(t.target, cst.Subscript) for t in statement.targets)
    return isinstance(statement, (cst.AugAssign, cst.AnnAssign)) and isinstance(statement.target, cst.Subscript)


def _unpacked(value: cst.BaseExpression, count: int, imports: ImportMap) -> Optional[list[cst.BaseExpression]]:
    """What each of `count` unpacked names takes from `value`, where that is known: the
    items of a literal tuple, the sequences `zip` pairs (an item of each), the index and
    items of `enumerate`, the integer outputs of an op (`_, indices = tf.math.top_k(x, k)`)."""
    if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == count:
        if all(isinstance(e, cst.Element) for e in value.elements):
            return [e.value for e in value.elements]
        return None
    integer_positions = _INTEGER_OUTPUTS.get(imports.resolve(value.func) or "") if isinstance(value, cst.Call) else None
    if integer_positions is not None:
        return [_INTEGER_TENSOR if i in integer_positions else value for i in range(count)]
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Name)):
        return None
    positional = [a for a in value.args if a.keyword is None]
    if any(a.star for a in value.args):
        return None
    if value.func.value == "zip" and len(positional) == count:
        return [a.value for a in positional]
    if value.func.value == "enumerate" and count == 2 and positional:
        return [_INDEX, positional[0].value]
    return None


def _names_read(expr: cst.BaseExpression, followed: Callable[[cst.CSTNode], Iterable[cst.CSTNode]]
                ) -> Iterator[str]:
    """The names `expr` reads, walking into what `followed` gives of each node (not nested
    functions or classes)."""
    stack: list[cst.CSTNode] = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            yield current.value
        elif not isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Param)):
            stack.extend(followed(current))


def walk_scope(statements: list[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Nodes of a scope's body, not descending into nested functions or classes."""
    stack: list[cst.CSTNode] = list(reversed(statements))
    while stack:
        node = stack.pop()
        yield node
        if type(node) is cst.FunctionDef or type(node) is cst.ClassDef:
            continue
        stack.extend(reversed(list(child_nodes(node))))


# TensorFlow functions whose results are structures of what they are given or objects, not
# tensors: `tf.nest.flatten(model.trainable_variables)` is a list of the variables themselves.
NOT_TENSOR_NAMESPACES = ("tensorflow.nest.", "tensorflow.data.", "tensorflow.train.", "tensorflow.saved_model.",
                          "tensorflow.distribute.", "tensorflow.config.", "tensorflow.summary.", "tensorflow.io.gfile.",
                          "tensorflow.keras.layers.", "tensorflow.keras.models.", "tensorflow.keras.optimizers.",
                          "tensorflow.keras.Model", "tensorflow.keras.Sequential", "tensorflow.Module",
                          "tensorflow.GradientTape",
                          # TF 1.x's variable lists and getters: variables, which a tape watches
                          *(f"tensorflow.{space}{name}" for space in ("", "compat.v1.") for name in (
                              "trainable_variables", "global_variables", "local_variables", "model_variables",
                              "get_variable", "get_collection")))


def is_certainly_tensor(flow: DataFlow, expr: cst.BaseExpression, _seen: Optional[set[str]] = None,
                        weights: bool = False, sublayers: bool = True) -> bool:
    """A value that is a `tf.Tensor` whatever the caller passed in: a TF op's
    result, a sub-layer's output, arithmetic on those. Layer arguments are not
    (a user may pass NumPy), nor are variables (converting one reads it). With
    `weights` (the question is what dtype a value has, not what a tape watches), a
    weight of the layer (`self.kernel`) and a `keras.ops` result count: arithmetic
    with a weight makes a tensor of the weight's dtype. Without `sublayers`, only TF ops count:
    what `self.x(...)` returns is not known to be a tensor (a layer that returns a distribution,
    a plain function or a method held in an attribute)."""
    if weights and isinstance(expr, cst.Attribute):
        attr = self_attribute(expr)
        return attr is not None and flow.scope.is_weight(attr)
    if isinstance(expr, cst.Call):
        qualified = flow.imports.resolve(expr.func)
        if qualified is not None:
            if weights and qualified.startswith("keras.ops."):
                return qualified != "keras.ops.convert_to_numpy"
            return qualified.startswith("tensorflow.") and not qualified.startswith(NOT_TENSOR_NAMESPACES) \
                and qualified not in ("tensorflow.Variable", "tensorflow.numpy_function", "tensorflow.py_function")
        callee = expr.func
        # A sub-layer the module stores on `self`: what a class inherits from another module
        # (`self.trainable_variables()`, a method of the project's own base) is not known.
        return (
            sublayers and isinstance(callee, cst.Attribute)
            and self_attribute(callee) is not None
            and not flow.scope.has_method(callee.attr.value)
            and not flow.scope.is_weight(callee.attr.value)
            and callee.attr.value in flow.scope.module.attribute_uses.on_self
        )
    if isinstance(expr, cst.BinaryOperation):
        return (is_certainly_tensor(flow, expr.left, _seen, weights, sublayers)
                or is_certainly_tensor(flow, expr.right, _seen, weights, sublayers))
    if isinstance(expr, cst.UnaryOperation):
        return is_certainly_tensor(flow, expr.expression, _seen, weights, sublayers)
    if isinstance(expr, cst.Subscript):
        return is_certainly_tensor(flow, expr.value, _seen, weights, sublayers)
    if isinstance(expr, cst.Name):
        seen = _seen if _seen is not None else set()
        if expr.value in seen or expr.value in flow.scope.parameter_names:
            return False
        seen.add(expr.value)
        values = [b.value for b in flow.bindings if b.name == expr.value]
        return bool(values) and all(is_certainly_tensor(flow, v, seen, weights, sublayers) for v in values)
    return False


def parameters(node: cst.FunctionDef) -> list[cst.Param]:
    params = node.params
    found = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star)
    return found


def _differentiated_or_returned(function: cst.FunctionDef) -> Iterator[cst.BaseExpression]:
    """What a nested function's `*.gradient(target, sources)` and `*.minimize(...)` calls
    differentiate with respect to, and what it returns."""
    for node in descendants(function.body):
        if isinstance(node, cst.Return) and node.value is not None:
            yield node.value
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            if node.func.attr.value == "gradient" and len(node.args) > 1:
                yield node.args[1].value
            elif node.func.attr.value == "minimize":
                yield from (arg.value for arg in node.args)


def tainted_parameters(func: cst.FunctionDef, call: cst.Call, flow: DataFlow) -> set[str]:
    params = func.params
    star = params.star_arg.name.value if isinstance(params.star_arg, cst.Param) else None
    positional = [p.name.value for p in list(params.posonly_params) + list(params.params)]
    return tainted_arguments(positional, {p.name.value for p in parameters(func)}, star, call, flow)


def tainted_arguments(positional: list[str], names: set[str], star_arg: Optional[str], call: cst.Call,
                      flow: DataFlow) -> set[str]:
    """The parameters of the called function (by its signature: positional names in
    order, all names, the `*args` name) that receive a gradient-carrying argument."""
    if isinstance(call.func, cst.Attribute) and positional and positional[0] == "self":
        positional = positional[1:]
    tainted: set[str] = set()
    index = 0
    for arg in call.args:
        # `f(u.numpy())` hands `f` a host copy: the gradient is lost at `.numpy()`, TGF102's finding
        # where the call is, and what `f` does with NumPy loses nothing more.
        is_tainted = flow.is_tainted(arg.value) and not is_host_copy(arg.value)
        if arg.keyword is not None:
            if is_tainted and arg.keyword.value in names:
                tainted.add(arg.keyword.value)
            continue
        if arg.star:
            if is_tainted:
                tainted.update(positional[index:])
            continue
        if index < len(positional):
            if is_tainted:
                tainted.add(positional[index])
        elif star_arg is not None and is_tainted:
            tainted.add(star_arg)
        index += 1
    return tainted


def is_host_copy(expr: cst.BaseExpression) -> bool:
    """`x.numpy()`: a NumPy copy of a tensor."""
    return (isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value == "numpy")


def argument_for(func: cst.FunctionDef, call: cst.Call, name: str, bound: bool = False) -> Optional[cst.BaseExpression]:
    """The expression `call` passes for parameter `name` of `func` (its default when
    it passes none); None when a `*args`/`**kwargs` hides which one it is. `bound`: `func`
    is a method however it is called (`Class(...)` runs `__init__`)."""
    positional = [p for p in list(func.params.posonly_params) + list(func.params.params)]
    if (bound or isinstance(call.func, cst.Attribute)) and positional and positional[0].name.value == "self":
        positional = positional[1:]
    index = 0
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is not None:
            if arg.keyword.value == name:
                return arg.value
            continue
        if index < len(positional) and positional[index].name.value == name:
            return arg.value
        index += 1
    param = next((p for p in parameters(func) if p.name.value == name), None)
    return param.default if param is not None else None


def mutates_live(expr: cst.BaseExpression, flow: DataFlow) -> bool:
    """Whether `expr` fills a container that feeds the output (`losses.append(l)`)."""
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute):
        return False
    owner = expr.func.value
    return (
        expr.func.attr.value in CONTAINER_MUTATORS
        and isinstance(owner, cst.Name)
        and owner.value in flow.live
    )
