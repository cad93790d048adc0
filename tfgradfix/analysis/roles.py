"""What a variable is for: a weight the optimizer trains, or state the code writes.

A layer's `tf.Variable` attributes are not all weights. An augmentation probability
(`trainable=False`), a step counter (`tf.Variable(0, dtype=tf.int64)`), a queue, loss
accumulators, power-iteration vectors: the code sets them with `.assign*()` and nothing
trains them, so "it never trains" is no bug there. A variable is state when its
constructor says so (`trainable=False`, a `tf.Variable` of an integer or boolean dtype, a
shape left open by `validate_shape=False` or `shape=[None, ...]`),
when the forward pass writes it with `.assign*()` (a counter, an accumulator, a moving
average), or when some method writes it and the forward pass never reads it. A weight set once at construction (`self.kernel.assign(initial)` in `build`) is
still a weight, and so is one that another method sets and the forward pass multiplies by
(`mutate(v)` then `x * self.v`): nothing says it is not meant to train. Anything else made
by `tf.Variable`/`add_weight` is taken for a weight.
"""

from __future__ import annotations

import ast
from typing import Iterable, Mapping, Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap, is_integer_dtype
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.vocabulary import MODEL_VARIABLE_LISTS, VARIABLE_CONSTRUCTORS

ASSIGNS = ("assign", "assign_add", "assign_sub", "scatter_update", "scatter_add", "scatter_sub", "scatter_nd_update",
           "scatter_nd_add", "scatter_nd_sub")
# Methods that run once per object: writing a variable there initialises it.
_CONSTRUCTION = frozenset({"__init__", "build"})


def holds_state(constructor: cst.Call, imports: ImportMap, function: Optional[cst.FunctionDef] = None,
                given: frozenset[str] = frozenset()) -> bool:
    """State by declaration: `trainable=False` (or `trainable=learn_bias`, a parameter of the
    enclosing `function` that defaults to False and that no construction in `given` passes), a
    `tf.Variable` whose constructor names an
    integer or boolean dtype (`tf.Variable(0, dtype=tf.int32)`: a counter, written as one), or
    one whose shape is left open."""
    for arg in constructor.args:
        if arg.keyword is None:
            continue
        if arg.keyword.value == "trainable" and (
                (isinstance(arg.value, cst.Name) and arg.value.value == "False") or _defaults_to_false(function, arg.value, given)):
            return True
        # A shape left open (`validate_shape=False`, `shape=[None, None]`): a buffer whose value
        # `.assign()` replaces whole (a few-shot support set); no weight is made that way.
        if arg.keyword.value == "validate_shape" and isinstance(arg.value, cst.Name) and arg.value.value == "False":
            return True
        if arg.keyword.value == "shape" and any(
                isinstance(node, cst.Name) and node.value == "None" for node in descendants(arg.value)):
            return True
        if arg.keyword.value == "dtype" and imports.resolve(constructor.func) in VARIABLE_CONSTRUCTORS:
            dtype = imports.dtype_name(arg.value)
            if is_integer_dtype(dtype) or dtype == "bool":
                return True
    return False


def _defaults_to_false(function: Optional[cst.FunctionDef], value: cst.BaseExpression,
                       given: frozenset[str] = frozenset()) -> bool:
    """`value` reads a parameter of `function` whose default makes it False, and that no construction
    passes (`given`: the parameters some construction of the class passes): `learn_bias=False`, or an
    item of a literal default (`alpha={'Trainable': False, ...}`, then `alpha['Trainable']`; a list of
    such dicts read at any place, where every one says False)."""
    keys: list[cst.BaseSlice] = []
    while isinstance(value, cst.Subscript) and len(value.slice) == 1:
        keys.insert(0, value.slice[0].slice)
        value = value.value
    if function is None or not isinstance(value, cst.Name) or value.value in given:
        return False
    params = [*function.params.params, *function.params.kwonly_params]
    default = next((p.default for p in params if p.name.value == value.value), None)
    found = [default] if default is not None else []
    for key in keys:
        index = key.value if isinstance(key, cst.Index) else None
        items: list = []
        for node in found:
            if isinstance(node, cst.Dict) and isinstance(index, cst.SimpleString):
                items += [e.value for e in node.elements if isinstance(e, cst.DictElement)
                          and isinstance(e.key, cst.SimpleString) and e.key.evaluated_value == index.evaluated_value]
            elif isinstance(node, (cst.List, cst.Tuple)) and index is not None and not isinstance(index, cst.SimpleString):
                elements = [e.value for e in node.elements if isinstance(e, cst.Element)]
                at = int(index.value) if isinstance(index, cst.Integer) else None
                items += elements if at is None else elements[at:at + 1]
            else:
                return False
        found = items
    return bool(found) and all(isinstance(node, cst.Name) and node.value == "False" for node in found)


# The whole-variable writes of ASSIGNS (a scatter writes positions, not a step).
_STEPS = frozenset(name for name in ASSIGNS if not name.startswith("scatter"))


def stepped_counters(nodes: Iterable[cst.CSTNode], imports: ImportMap) -> frozenset[str]:
    """Names the code steps by a constant, `n.assign_add(1)` or `tf.compat.v1.assign_add(n, 1.0)`:
    counters, state rather than weights. (A weight updated by hand, `w.assign_sub(lr * dw)`, is
    written with a value, not a constant.)"""
    stepped = set()
    for node in nodes:
        if not isinstance(node, cst.Call):
            continue
        func, args = node.func, [a.value for a in node.args]
        if isinstance(func, cst.Attribute) and func.attr.value in _STEPS and isinstance(func.value, cst.Name):
            target, value = func.value, args[0] if args else None
        elif (imports.resolve(func) or "").rsplit(".", 1)[-1] in _STEPS and len(args) >= 2 \
                and isinstance(args[0], cst.Name):
            target, value = args[0], args[1]
        else:
            continue
        if isinstance(value, (cst.Integer, cst.Float)):
            stepped.add(target.value)
    return frozenset(stepped)


def state_attributes(methods: Mapping[str, cst.FunctionDef], forward: Iterable[str]) -> set[str]:
    """`self.<attr>` that the code writes with `.assign*()`: in a `forward` method, or after
    construction where no forward method reads it."""
    forward = set(forward)
    written_forward: set[str] = set()
    written_later: set[str] = set()
    read_forward: set[str] = set()
    for name, method in methods.items():
        if name in _CONSTRUCTION:
            continue
        written, read = _uses(method)
        (written_forward if name in forward else written_later).update(written)
        if name in forward:
            read_forward.update(read)
    return written_forward | (written_later - read_forward)


def _uses(method: cst.FunctionDef) -> tuple[set[str], set[str]]:
    """The `self.<attr>` a method writes with `.assign*()`, and those it reads otherwise."""
    written: set[str] = set()
    receivers: set[int] = set()
    # `centers = self.centers` ... `tf.compat.v1.scatter_sub(centers, labels, diff)`: the function
    # form writes its first argument, here through a local name for the attribute.
    aliases = {node.targets[0].target.value: _self_attribute(node.value) for node in descendants(method)
               if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
               and _self_attribute(node.value) is not None}
    for node in descendants(method):
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in ASSIGNS):
            continue
        if _self_attribute(node.func.value) is not None:
            written.add(node.func.value.attr.value)
            receivers.add(id(node.func.value))
        elif node.args:
            ref = node.args[0].value
            attr = _self_attribute(ref) or (aliases.get(ref.value) if isinstance(ref, cst.Name) else None)
            if attr is not None:
                written.add(attr)
                receivers.add(id(ref))
    # A read compared with something (`tf.math.less(coin, self.level)`, `x < self.level`) asks
    # for no gradient: a threshold the code moves with `.assign` is state, not a weight.
    compared = {id(operand) for node in descendants(method) for operand in _compared(node)}
    read = {node.attr.value for node in descendants(method)
            if _self_attribute(node) is not None and id(node) not in receivers and id(node) not in compared}
    return written, read


_COMPARISONS = frozenset({"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"})


def _compared(node: cst.CSTNode) -> list[cst.BaseExpression]:
    if isinstance(node, cst.Comparison):
        return [node.left, *(target.comparator for target in node.comparisons)]
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _COMPARISONS:
        return [arg.value for arg in node.args]
    return []


def _self_attribute(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return node.attr.value
    return None


def state_attributes_of(cls: ast.ClassDef, forward: Iterable[str], resolve) -> frozenset[str]:
    """The same reading of a class from the project index's `ast` (other modules' classes):
    its variables that are state by their constructor or by how its methods write them."""
    forward = set(forward)
    declared: set[str] = set()
    written_forward: set[str] = set()
    written_later: set[str] = set()
    read_forward: set[str] = set()
    for method in cls.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        receivers: set[int] = set()
        aliases = {node.targets[0].id: node.value.attr for node in ast.walk(method)
                   if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                   and _ast_self_attribute(node.value)}
        for node in ast.walk(method):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _declares_state(node.value, resolve):
                declared.update(t.attr for t in node.targets if _ast_self_attribute(t))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ASSIGNS
                  and method.name not in _CONSTRUCTION):
                written = written_forward if method.name in forward else written_later
                ref = node.args[0] if node.args else None
                if _ast_self_attribute(node.func.value):  # `self.n.assign_add(1)`
                    written.add(node.func.value.attr)
                    receivers.add(id(node.func.value))
                elif ref is not None and _ast_self_attribute(ref):  # `tf.compat.v1.assign_add(self.n, 1)`
                    written.add(ref.attr)
                    receivers.add(id(ref))
                elif isinstance(ref, ast.Name) and ref.id in aliases:  # `tf.compat.v1.scatter_sub(centers, ...)`
                    written.add(aliases[ref.id])
        if method.name in forward:
            read_forward.update(n.attr for n in ast.walk(method) if _ast_self_attribute(n) and id(n) not in receivers)
    return frozenset(declared | written_forward | (written_later - read_forward))


def _declares_state(call: ast.Call, resolve) -> bool:
    for keyword in call.keywords:
        if keyword.arg == "trainable" and isinstance(keyword.value, ast.Constant) and keyword.value.value is False:
            return True
        if keyword.arg == "dtype" and resolve(call.func) in VARIABLE_CONSTRUCTORS:
            value = keyword.value
            dtype = value.value if isinstance(value, ast.Constant) else (resolve(value) or "").rsplit(".", 1)[-1]
            if isinstance(dtype, str) and (is_integer_dtype(dtype) or dtype == "bool"):
                return True
    return False


def _ast_self_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


_SOURCE_METHODS = ("gradient", "jacobian", "batch_jacobian")


def trained_by_name(tree: ast.Module) -> frozenset[tuple[Optional[str], str]]:
    """The variables training code lists by name, as (class, attribute): in the sources of
    `tape.gradient(loss, [self.log_alpha])`, in `apply_gradients(zip(grads, [self.w]))`, in
    `optimizer.minimize(loss, var_list=[self.w])`, also through a name bound to that list.
    Such a variable trains whether or not Keras tracks it. The class is the one whose method
    says `self.w`, or the one `model = Class(...)` makes for `model.w`; None when the code
    does not say (`f = make_problem()` then `[f.a, f.b]`)."""
    finder = _NamedSources()
    finder.visit(tree)
    found: set[tuple[Optional[str], str]] = set()
    seen: set[str] = set()
    work = finder.sources
    while work:
        owner_class, expr = work.pop()
        if isinstance(expr, ast.Name):
            if expr.id not in seen:
                seen.add(expr.id)
                work.extend((owner_class, value) for value in finder.lists.get(expr.id, ()))
            continue
        for node in ast.walk(expr):
            if isinstance(node, ast.Attribute) and node.attr not in MODEL_VARIABLE_LISTS:
                found.add((finder.owner(node.value, owner_class), node.attr))
    return frozenset(found)


class _NamedSources(ast.NodeVisitor):
    def __init__(self) -> None:
        self.classes: list[str] = []
        self.lists: dict[str, list[ast.expr]] = {}
        self.made: dict[str, set[str]] = {}  # name -> the classes `name = Class(...)` makes ("" unknown)
        self.sources: list[tuple[Optional[str], ast.expr]] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.lists.setdefault(target.id, []).append(node.value)
                made = node.value.func if isinstance(node.value, ast.Call) else None
                name = made.id if isinstance(made, ast.Name) else made.attr if isinstance(made, ast.Attribute) else ""
                self.made.setdefault(target.id, set()).add(name if name[:1].isupper() else "")
            else:
                for inner in ast.walk(target):
                    if isinstance(inner, ast.Name):
                        self.made.setdefault(inner.id, set()).add("")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            owner = self.classes[-1] if self.classes else None
            method = node.func.attr
            if method in _SOURCE_METHODS and len(node.args) >= 2:
                self.sources.append((owner, node.args[1]))
            elif method == "minimize":
                self.sources.extend((owner, a) for a in node.args[1:])
                self.sources.extend((owner, k.value) for k in node.keywords if k.arg == "var_list")
            elif method == "apply_gradients" and node.args:
                pairs = node.args[0]
                if isinstance(pairs, ast.Call) and isinstance(pairs.func, ast.Name) and pairs.func.id == "zip":
                    self.sources.extend((owner, a) for a in pairs.args[1:])
        self.generic_visit(node)

    def owner(self, base: ast.expr, enclosing: Optional[str]) -> Optional[str]:
        if isinstance(base, ast.Name):
            if base.id == "self":
                return enclosing
            made = self.made.get(base.id, set())
            if len(made) == 1 and "" not in made:
                return next(iter(made))
        return None


def passed_parameters(function: cst.FunctionDef, constructions: Iterable[cst.Call]) -> frozenset[str]:
    """The parameters of a class's `__init__` (`function`) that some of its `constructions` pass, by
    keyword or by place (a `**kwargs` or `*args` passes any)."""
    names = [p.name.value for p in function.params.params][1:]  # after `self`
    passed: set[str] = set()
    for call in constructions:
        positional = [a for a in call.args if a.keyword is None]
        if any(a.star for a in call.args):
            return frozenset(names) | frozenset(p.name.value for p in function.params.kwonly_params)
        passed.update(names[:len(positional)])
        passed.update(a.keyword.value for a in call.args if a.keyword is not None)
    return frozenset(passed)
