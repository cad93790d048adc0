"""What else a `tf.Variable` -> `self.add_weight` fix (TGF203) must prove or rewrite.

A Keras 3 weight is a `keras.Variable`, not a `tf.Variable`: it lacks part of that API
(measured with TF 2.21 / Keras 3, TensorFlow backend: `get_shape`, `read_value`, `ref`,
`device`, `scatter_*`, ... raise AttributeError; `.value` is a property, so `.value()`
raises TypeError; `.dtype` is a string, so `.dtype.is_floating` raises; `assign` takes
no `read_value=`/`use_locking=`; `isinstance(w, tf.Variable)` turns False). So the fix
rewrites, in the same fix, each use of the attribute that has an exact equivalent on both
(`uses`), and is not offered when one has none. Uses are read in the module: `self.<attr>`
in the class, its parents and subclasses there, `<obj>.<attr>` anywhere (the same name on
another object gets the same rewrite, which is exact on a `tf.Variable` too), and names
bound to it (`w = self.w`, `for w in self.ws`).

And the weight must be the only one: a subclass that creates the attribute again after
its parent did would keep the parent's weight in its `trainable_variables`, a second weight
nothing reads (`recreation`).
"""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import argument_for, parameters, target_names
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.values import Origin, origin_of
from tfgradfix.analysis.vocabulary import OWN_GRADIENT_DECORATORS, TRACING_DECORATORS, VARIABLE_CONSTRUCTORS
from tfgradfix.fixes.edits import Edit

# tf.Variable methods with an exact spelling on both variables: name -> (argument names, how).
_METHODS = {
    "get_shape": ((), "shape"),  # `w.get_shape()` -> `w.shape` (a TensorShape on both)
    "read_value": ((), "tf.identity"),  # a tensor that holds the value read now
    "value": ((), "tf.identity"),
    "sparse_read": (("indices", "name"), "tf.gather"),
    "gather_nd": (("indices", "name"), "tf.gather_nd"),
}
_ASSIGNS = ("assign", "assign_add", "assign_sub")
# tf.Variable API a Keras weight lacks, with no rewrite: the fix is not offered.
NO_EQUIVALENT = frozenset({
    "ref", "experimental_ref", "device", "op", "graph", "initializer", "initial_value", "initialized_value",
    "is_initialized", "eval", "load", "set_shape", "count_up_to", "to_proto", "from_proto", "SaveSliceInfo",
    "create", "read_value_no_copy", "batch_scatter_update", "scatter_add", "scatter_sub", "scatter_mul",
    "scatter_div", "scatter_min", "scatter_max", "scatter_update", "scatter_nd_add", "scatter_nd_sub",
    "scatter_nd_update", "scatter_nd_max", "scatter_nd_min",
})
# Calls that take a dtype as a string as well as a tf.DType (Keras's `dtype` is a string).
_TAKES_DTYPE = ("tensorflow.", "keras.", "numpy.")


class NoFix(Exception):
    """A use of the variable that a Keras weight does not support, and why."""


def uses(context, classes, attr: str, tf: Optional[str]) -> tuple[list[Edit], list[str]]:
    """The edits that make every use of `attr` in the module work on a Keras weight, and
    the uses it cannot prove keep their value (the fix is then unsafe); NoFix (with the
    reason) when one cannot work. `classes`: the ClassDef nodes where `self` is the layer
    (the class, its parents and subclasses in the module). `tf`: TensorFlow's alias where it
    is certain (for `tf.identity`, `tf.gather`, `tf.as_dtype`)."""
    edits: list[Edit] = []
    risks: list[str] = []
    own_gradient = _decorated(context, OWN_GRADIENT_DECORATORS)
    traced = _decorated(context, TRACING_DECORATORS, classes)
    for node in _variable_expressions(context, classes, attr):
        _check_argument(context, node, own_gradient, traced)
        edits += _rewrite(context, node, attr, tf)
        risk = _operand_risk(context, node)
        if risk is not None and risk not in risks:
            risks.append(risk)
    return edits, risks


def _decorated(context, decorators, classes=()) -> set[str]:
    """The module's functions, and the methods of `classes` (as `self.<name>`), with one of
    `decorators` (`@tf.custom_gradient`, `@tf.function` or `@tf.function(...)`)."""
    def marked(node: cst.CSTNode) -> bool:
        return isinstance(node, cst.FunctionDef) and any(
            context.imports.resolve(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
            in decorators for d in node.decorators)
    found = {node.name.value for node in context.analysis.module.body if marked(node)}
    return found | {f"self.{node.name.value}" for cls in classes for node in cls.body.body if marked(node)}


def _receiving_call(context, expr: cst.BaseExpression) -> Optional[cst.Call]:
    """The call `expr` is an argument of, if any."""
    argument = context.parent(expr)
    call = context.parent(argument) if isinstance(argument, cst.Arg) else None
    return call if isinstance(call, cst.Call) else None


def _check_argument(context, expr: cst.BaseExpression, own_gradient: set[str], traced: set[str]) -> None:
    """NoFix where the variable is an argument of a function a Keras weight cannot be handed to:
    - a `@tf.custom_gradient` function: a `tf.Variable` argument is an input to it, a Keras weight a
      variable it reads, and then its gradient function must take `variables=` (measured: TypeError
      otherwise);
    - a `@tf.function`: traced (by `fit`, or by an outer `tf.function`), it cannot take a Keras 3
      variable as an argument (measured with TF 2.21: the trace asks the variable for a NumPy value
      and raises `NotImplementedError`), where a `tf.Variable` works."""
    call = _receiving_call(context, expr)
    callee = dotted_name(call.func) if call is not None else None
    if callee in own_gradient:
        raise NoFix(f"`{callee}` is a `@tf.custom_gradient` function: given a Keras weight it reads a "
                    f"variable, and its gradient function must then take `variables=`")
    if callee in traced:
        raise NoFix(f"`{callee}` is a `tf.function`: traced, it cannot take a Keras 3 weight as an argument "
                    "(it raises `NotImplementedError`), where it takes a `tf.Variable`")


def _operand_risk(context, expr: cst.BaseExpression) -> Optional[str]:
    """Arithmetic between the weight and a NumPy value: NumPy turns a Keras weight into an
    array (`np.float64 * w` is an ndarray with no gradient, measured), and on the weight's
    left side promotes the result to float64, where a `tf.Variable` gave a float32 tensor
    either way. NoFix when the operand is NumPy; the reason when the fix cannot tell."""
    parent = context.parent(expr)
    if not isinstance(parent, cst.BinaryOperation):
        return None
    on_right = parent.right is expr
    other = parent.left if on_right else parent.right
    shown = cst.Module([]).code_for_node(parent)
    flow = _flow_at(context, parent)
    origin = origin_of(flow, other) if flow is not None else None
    if origin is Origin.NUMPY:
        if on_right:
            raise NoFix(f"NumPy would make `{shown}` an array with no gradient on a Keras weight")
        return f"`{shown}` would be float64 on a Keras weight, where it was float32 on a `tf.Variable`"
    if origin is None and on_right and (flow is None or not flow.is_tainted(other)):
        # A value on the gradient path is a tensor: were it NumPy, TGF101 would say so.
        return (f"`{shown}` would be a NumPy array with no gradient on a Keras weight if "
                f"`{cst.Module([]).code_for_node(other)}` were a NumPy value, which the fix cannot rule out")
    return None


def _scope_of(context, node: cst.CSTNode):
    """The scope (function, lambda or module) `node` is in."""
    function = context.parent(node)
    while function is not None and not isinstance(function, (cst.FunctionDef, cst.Lambda, cst.Module)):
        function = context.parent(function)
    return context.analysis.scopes.get(function) if function is not None else None


def _flow_at(context, node: cst.CSTNode):
    scope = _scope_of(context, node)
    return scope.analyse() if scope is not None else None


def _variable_expressions(context, classes, attr: str) -> Iterator[cst.BaseExpression]:
    """`self.<attr>` in `classes`, `<obj>.<attr>` anywhere, each with its subscripts
    (`self.ws[0]`), and the names bound to one of them."""
    parent_of = context.parent
    for node in descendants(context.analysis.module):
        if not (isinstance(node, cst.Attribute) and node.attr.value == attr):
            continue
        if isinstance(parent_of(node), cst.AssignTarget) or _is_target(parent_of, node):
            continue
        if self_attribute(node) == attr and _enclosing_class(parent_of, node) not in classes:
            continue  # another class's own attribute of that name
        expr: cst.BaseExpression = node
        while isinstance(parent_of(expr), cst.Subscript) and parent_of(expr).value is expr:
            expr = parent_of(expr)
        yield expr
        yield from _names_bound_to(context, expr)
        yield from _parameter_reads(context, expr)


def _parameter_reads(context, expr: cst.BaseExpression) -> Iterator[cst.Name]:
    """Where the variable is handed to a method of the class (`self.batch_mat_mult(n, self.W)`) or a
    function of the module, the attribute reads of the parameter that receives it there
    (`B.get_shape()`), when the callee never rebinds it: a Keras weight meets them too."""
    parent_of = context.parent
    call = _receiving_call(context, expr)
    if call is None:
        return
    scope = _scope_of(context, call)
    found = context.analysis.callee_scope(scope, call) if scope is not None else None
    if found is None:
        return
    callee = found.node
    names = [p.name.value for p in parameters(callee)
             if argument_for(callee, call, p.name.value, bound=isinstance(call.func, cst.Attribute)) is expr]
    bound = {n for node in descendants(callee.body) if isinstance(node, cst.AssignTarget)
             for n in target_names(node.target)}
    for name in names:
        if name in bound:
            continue
        for node in descendants(callee.body):
            if isinstance(node, cst.Name) and node.value == name:
                parent = parent_of(node)
                if isinstance(parent, cst.Attribute) and parent.value is node:
                    yield node


def _is_target(parent_of, node: cst.CSTNode) -> bool:
    parent = parent_of(node)
    return isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is node


def _enclosing_class(parent_of, node: cst.CSTNode) -> Optional[cst.ClassDef]:
    current = parent_of(node)
    while current is not None and not isinstance(current, cst.ClassDef):
        current = parent_of(current)
    return current


def _names_bound_to(context, expr: cst.BaseExpression) -> Iterator[cst.Name]:
    """Reads of the names that `w = <expr>` or `for w in <... expr ...>` binds, in the same
    function (every name a loop over it binds: `for g, o in zip(self.gains, self.offsets)`)."""
    parent_of = context.parent
    names: set[str] = set()
    child, current = expr, parent_of(expr)
    while current is not None and not isinstance(current, (cst.FunctionDef, cst.Module)):
        if isinstance(current, cst.Assign) and current.value is child:
            names |= {n for t in current.targets for n in target_names(t.target)}
        if isinstance(current, (cst.For, cst.CompFor)) and current.iter is child:
            names |= set(target_names(current.target))
        if isinstance(current, cst.BaseSmallStatement) or isinstance(current, cst.For):
            break
        child, current = current, parent_of(current)
    scope = current
    while scope is not None and not isinstance(scope, (cst.FunctionDef, cst.Module)):
        scope = parent_of(scope)
    if not names or scope is None:
        return
    for node in descendants(scope):
        if isinstance(node, cst.Name) and node.value in names:
            parent = parent_of(node)
            if isinstance(parent, cst.Attribute) and parent.value is node:
                yield node


def _other_library(context, call) -> Optional[str]:
    """The dotted name of a call of an imported library other than TensorFlow, Keras and
    NumPy (NumPy is `_operand_risk`'s), or None."""
    if not isinstance(call, cst.Call):
        return None
    qualified = context.imports.resolve(call.func)
    if qualified is None or qualified.split(".")[0] in _OWN_LIBRARIES:
        return None
    project = context.analysis.project
    if project is not None and project.module_info(qualified.rsplit(".", 1)[0]) is not None:
        return None  # the project's own code
    return cst.Module([]).code_for_node(call.func)


# What the fix writes with, and NumPy (whose conversions `_operand_risk` judges).
_OWN_LIBRARIES = frozenset({"tensorflow", "keras", "tf_keras", "numpy"})


def type_tested(context, attr: str) -> Optional[str]:
    """A module of the project that tests the type of an attribute named `attr` (`type(layer.a)`
    in a course's grader): a Keras weight is a `keras.Variable`, and that answer changes."""
    project = context.analysis.project
    return project.type_tested_in(attr) if project is not None else None


def _rewrite(context, expr: cst.BaseExpression, attr: str, tf: Optional[str]) -> list[Edit]:
    parent_of = context.parent
    shown = cst.Module([]).code_for_node(expr)
    parent = parent_of(expr)
    if isinstance(parent, cst.Arg) and _is_variable_test(context, parent):
        raise NoFix(f"`isinstance({shown}, tf.Variable)` would be False for a Keras weight")
    if isinstance(parent, cst.Arg):
        library = _other_library(context, parent_of(parent))
        if library is not None:
            # TensorFlow Probability reads a Keras weight as a constant (measured: no gradient).
            raise NoFix(f"`{library}` receives `{shown}`, and a library outside TensorFlow and Keras may need "
                        "a `tf.Variable` there")
    if not (isinstance(parent, cst.Attribute) and parent.value is expr):
        return []
    name = parent.attr.value
    call = parent_of(parent)
    called = isinstance(call, cst.Call) and call.func is parent
    if name in NO_EQUIVALENT:
        raise NoFix(f"`{shown}.{name}` has no equivalent on a Keras weight")
    if name == "dtype":
        return _dtype(context, parent, shown, tf)
    if name in _ASSIGNS and called:
        return _assign(context, call, shown, name)
    if name not in _METHODS or not called:
        return []
    params, how = _METHODS[name]
    args = [a for a in call.args]
    if any(a.star for a in args) or len(args) > len(params) or (
            any(a.keyword is not None and a.keyword.value not in params for a in args)):
        raise NoFix(f"`{shown}.{name}(...)` takes arguments the fix does not rewrite")
    if not params and args:
        raise NoFix(f"`{shown}.{name}(...)` takes arguments the fix does not rewrite")
    if how == "shape":
        return [Edit(call, lambda u: cst.Attribute(value=u.func.value, attr=cst.Name("shape")))]
    if tf is None:
        raise NoFix(f"`{shown}.{name}()` needs `tf` to be rewritten, and `tf` is not certainly TensorFlow here")
    function = how.replace("tf.", f"{tf}.", 1)
    # `w.sparse_read(i, name=...)` -> `tf.gather(w, i)`: the op's name is no value
    kept = [i for i, a in enumerate(args) if a.keyword is None or a.keyword.value == "indices"][:1]
    return [Edit(call, lambda u: cst.Call(cst.parse_expression(function), [
        cst.Arg(u.func.value), *[cst.Arg(u.args[i].value) for i in kept]]))]


def _is_variable_test(context, arg: cst.Arg) -> bool:
    call = context.parent(arg)
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "isinstance"
            and len(call.args) == 2 and call.args[0] is arg):
        return False
    types = call.args[1].value
    elements = [e.value for e in types.elements] if isinstance(types, cst.Tuple) else [types]
    return any((context.imports.resolve(e) or "") in ("tensorflow.Variable", "tensorflow.Tensor") for e in elements) \
        and not any((context.imports.resolve(e) or "") == "keras.Variable" for e in elements)


def _dtype(context, attribute: cst.Attribute, shown: str, tf: Optional[str]) -> list[Edit]:
    """`w.dtype` is a string on a Keras weight: where it is used as a `tf.DType` (an
    attribute of it, `str()` of it, a key), `tf.as_dtype(w.dtype)`. Passed to a TF, Keras or
    NumPy call, or compared with `==`, a string is the same dtype: kept."""
    parent_of = context.parent
    parent = parent_of(attribute)
    if isinstance(parent, cst.Arg):
        call = parent_of(parent)
        qualified = context.imports.resolve(call.func) if isinstance(call, cst.Call) else None
        if (qualified or "").startswith(_TAKES_DTYPE) or (parent.keyword is not None and parent.keyword.value == "dtype"):
            return []
    comparison = parent_of(parent) if isinstance(parent, cst.ComparisonTarget) else parent
    if isinstance(comparison, cst.Comparison) and all(isinstance(c.operator, (cst.Equal, cst.NotEqual))
                                                      for c in comparison.comparisons):
        return []
    if tf is None:
        raise NoFix(f"`{shown}.dtype` is a string on a Keras weight, and `tf` is not certainly TensorFlow here "
                    "to write `tf.as_dtype`")
    function = f"{tf}.as_dtype"
    return [Edit(attribute, lambda u: cst.Call(cst.parse_expression(function), [cst.Arg(u)]))]


def _assign(context, call: cst.Call, shown: str, name: str) -> list[Edit]:
    """`w.assign(v, read_value=False)`: a Keras weight's `assign*` takes the value only. The
    extra arguments go where the result is not used (a statement); else no fix."""
    if len(call.args) == 1 and call.args[0].keyword is None:
        return []
    statement = context.parent(call)
    value = call.args[0] if call.args and call.args[0].keyword is None else next(
        (a for a in call.args if a.keyword is not None and a.keyword.value == "value"), None)
    if value is None or any(a.star for a in call.args) or not isinstance(statement, cst.Expr):
        raise NoFix(f"`{shown}.{name}(...)` passes arguments a Keras weight's `{name}` does not take")
    index = next(i for i, a in enumerate(call.args) if a is value)
    return [Edit(call, lambda u: u.with_changes(args=[cst.Arg(u.args[index].value)]))]


# -- one weight per attribute -------------------------------------------------------


def recreation(context, cls, attr: str, node: cst.Call) -> Optional[str]:
    """Why a weight made by `node` (`self.<attr> = tf.Variable(...)` in a method of `cls`)
    would not be the only one of its layer, or None. A subclass that creates `self.<attr>`
    again after this method ran keeps this weight in its `trainable_variables`, a second
    weight nothing reads; this one must itself run after a parent's creation of it."""
    method = _method_of(context, node)
    for other in context.analysis.keras_classes.values():
        if other is cls or cls not in list(other.lineage()):
            continue
        if _creates(context, other, attr) and (method is None or _inherited(other, cls, method)):
            return (f"`{other.name}` creates `self.{attr}` again: this weight would stay in its "
                    "`trainable_variables`, a second weight nothing reads")
    for parent in list(cls.lineage())[1:]:
        for parent_method in _creates(context, parent, attr):
            if not _inherited(cls, parent, parent_method):
                continue
            if method is None or not _runs_after(context, cls, method, node, parent_method):
                return (f"`{parent.name}.{parent_method}` also creates `self.{attr}`, and this one does not "
                        "certainly run after it: one of the two weights would be overwritten and stay dead")
    return None


def _method_of(context, node: cst.CSTNode) -> Optional[str]:
    function = context.scope.node
    return function.name.value if isinstance(function, cst.FunctionDef) else None


def _creates(context, cls, attr: str) -> list[str]:
    """The methods of `cls` itself that assign `self.<attr>` a variable or weight."""
    found = []
    for name, method in cls.methods.items():
        for node in descendants(method):
            if isinstance(node, cst.Assign) and any(self_attribute(t.target) == attr for t in node.targets) \
                    and _makes_variable(context, node.value):
                found.append(name)
                break
    return found


def _makes_variable(context, value: cst.BaseExpression) -> bool:
    if not isinstance(value, cst.Call):
        return False
    if (context.imports.resolve(value.func) or "") in VARIABLE_CONSTRUCTORS:
        return True
    return isinstance(value.func, cst.Attribute) and value.func.attr.value == "add_weight"


def _inherited(cls, ancestor, method: str) -> bool:
    """Whether `ancestor.<method>` runs for an instance of `cls`: every override between
    them calls `super().<method>(...)`."""
    for c in cls.lineage():
        if c is ancestor:
            return True
        override = c.methods.get(method)
        if override is not None and not _calls_super(override, method):
            return False
    return False


def _calls_super(function: cst.FunctionDef, method: str) -> bool:
    return _super_call(function, method) is not None


def _super_call(function: cst.FunctionDef, method: str) -> Optional[cst.Call]:
    for node in descendants(function):
        if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == method
                and isinstance(node.func.value, (cst.Call, cst.Name))):
            owner = node.func.value
            if isinstance(owner, cst.Call) and isinstance(owner.func, cst.Name) and owner.func.value == "super":
                return node
            if isinstance(owner, cst.Name) and node.args and isinstance(node.args[0].value, cst.Name) \
                    and node.args[0].value.value == "self":
                return node
    return None


_ORDER = ("__init__", "build")


def _runs_after(context, cls, method: str, node: cst.CSTNode, parent_method: str) -> bool:
    """`node` (in `cls.<method>`) runs after the parent's `<parent_method>` has."""
    if method != parent_method:
        return method in _ORDER and parent_method in _ORDER and _ORDER.index(method) > _ORDER.index(parent_method)
    function = cls.methods.get(method)
    call = _super_call(function, method) if function is not None else None
    if call is None:
        return False
    return _statement_index(context, function, call) < _statement_index(context, function, node)


def _statement_index(context, function: cst.FunctionDef, node: cst.CSTNode) -> int:
    body = list(function.body.body)
    current: Optional[cst.CSTNode] = node
    while current is not None and current not in body:
        current = context.parent(current)
    return body.index(current) if current is not None else len(body)


def rewrite_uses(context, cls, attr: str, tf: Optional[str]) -> tuple[tuple[list[Edit], list[str]], Optional[str]]:
    """The edits for the uses of `attr` and what makes them unsafe, or (([], []), why there
    is no fix)."""
    classes = {c.node for c in cls.lineage()} | {
        c.node for c in context.analysis.keras_classes.values() if cls in list(c.lineage())}
    try:
        return uses(context, classes, attr, tf), None
    except NoFix as why:
        return ([], []), str(why)

