"""How often code runs: once per object, or on every call of the layer.

A variable or a layer created on the forward path is a bug only when its creation runs on
every call. Creation runs once when it is guarded by a test that the creation itself makes
false (`if self.proj is None:`, `if not self.built:`, `if not hasattr(self, "v"):`,
`if "k" not in self.cache:`, `if not self.is_built:` where the class only ever sets that flag
to True, a cache miss `layer = self.cache.get(k)` / `if not layer:` whose branch stores into
`self.cache[k]`), also through a predicate method that returns such a test
(`if self._need_init():`), in the handler of a `try` that reads the object first
(`try: self.w.dtype` / `except AttributeError: self.build(s)`), or under `tf.init_scope()`;
and a helper runs once when every call that reaches it from the forward path runs once
(`if not self.built: self.build(s)`). The `call` of a model class that the module only uses to
write a functional model (`Cls(...).model()`, returning `Model(inputs, self.call(x))`) runs once.
"""

from __future__ import annotations

from typing import Iterator, Optional, Union

import libcst as cst

from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.literals import is_false, is_true
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.vocabulary import INIT_SCOPES

# How many helpers up the call graph a guard may stand.
_DEPTH = 3


def runs_once(context, node: cst.CSTNode) -> bool:
    """Whether `node`, in the scope being visited, runs at most once per object."""
    return (_guarded(context, node, context.scope) or _reached_once(context, context.scope, _DEPTH)
            or _call_of_functional_builder(context, context.scope))


def _call_of_functional_builder(context, scope) -> bool:
    """`call` of a model class used only to write a functional model (`Cls(...).model()` or
    `net = Cls(...)` then `net.build_graph()`, returning `Model(inputs, self.call(x))`): it runs
    once, on symbolic inputs (the project index)."""
    return (scope.keras_class is not None and isinstance(scope.node, cst.FunctionDef)
            and scope.node.name.value == "call" and context.analysis.run_by_hand(scope.keras_class))


def _reached_once(context, scope, depth: int) -> bool:
    """Every call of `scope` from the forward path runs once (or `scope` is one Keras runs once)."""
    if depth <= 0 or scope.external_callers or scope.is_forward_entry:
        return False
    callers = context.analysis.callers_of(scope)
    if not callers:
        return False
    return all(_constructor(caller) or _guarded(context, call, caller) or _reached_once(context, caller, depth - 1)
               for caller, call in callers)


def _constructor(scope) -> bool:
    """`__init__` runs once per object: a helper it calls (`self.set_dtype(dtype)`) runs once there."""
    return isinstance(scope.node, cst.FunctionDef) and scope.node.name.value == "__init__" and scope.owner is not None


def _guarded(context, node: cst.CSTNode, scope) -> bool:
    child: Optional[cst.CSTNode] = node
    current = context.parent(node)
    while current is not None and not isinstance(current, (cst.FunctionDef, cst.Module, cst.Lambda)):
        if isinstance(current, cst.If):
            if child is current.body and (once_test(current.test, scope, True) or _cache_miss(current, scope)):
                return True
            if child is current.orelse and once_test(current.test, scope, False):
                return True
        if isinstance(current, cst.ExceptHandler) and _missing_attribute_handler(current, context.parent(current)):
            return True
        if isinstance(current, cst.With) and any(
                isinstance(item.item, cst.Call) and context.imports.resolve(item.item.func) in INIT_SCOPES
                for item in current.items):
            return True
        child, current = current, context.parent(current)
    return False


def _cache_miss(branch: cst.If, scope) -> bool:
    """`layer = self.cache.get(name)` / `if not layer:` (or `is None`) whose body stores into
    `self.cache[...]`: what it makes is made once per key, and found there afterwards."""
    test = branch.test
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test = test.expression
    elif (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
          and isinstance(test.comparisons[0].operator, cst.Is)
          and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == "None"):
        test = test.left
    if not isinstance(test, cst.Name) or scope is None:
        return False
    caches = {dotted_name(node.value.func.value) for node in descendants(scope.node)
              if isinstance(node, cst.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0].target, cst.Name) and node.targets[0].target.value == test.value
              and isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Attribute)
              and node.value.func.attr.value == "get"}
    caches = {c for c in caches if c is not None and c.startswith("self.") and c.count(".") == 1}
    return any(isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Subscript)
               and dotted_name(node.target.value) in caches for node in descendants(branch.body))


# What a lookup of a missing attribute raises, and the bases that catch it.
_MISSING_ATTRIBUTE = frozenset({"AttributeError", "Exception", "BaseException"})


def _missing_attribute_handler(handler: cst.ExceptHandler, statement) -> bool:
    """A handler that a missing `self.<attr>` in its `try` reaches, so that the creation it
    runs (which sets the attribute) closes it: `try: self.w.dtype` / `except: self.build(s)`."""
    if not isinstance(statement, cst.Try) or not _catches_missing_attribute(handler.type):
        return False
    return any(isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self"
               for node in descendants(statement.body))


def _catches_missing_attribute(caught: Optional[cst.BaseExpression]) -> bool:
    if caught is None:
        return True
    if isinstance(caught, cst.Tuple):
        return any(_catches_missing_attribute(element.value) for element in caught.elements)
    return isinstance(caught, cst.Name) and caught.value in _MISSING_ATTRIBUTE


def once_test(test: cst.BaseExpression, scope, holds: bool, _depth: int = 0) -> bool:
    """Whether the branch taken when `test` is `holds` is one that creating the object
    closes: the object is missing (`is None`, `not hasattr`, `not in`), or not built yet."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return once_test(test.expression, scope, not holds, _depth)
    if isinstance(test, cst.BooleanOperation):
        each_holds = isinstance(test.operator, cst.And) == holds
        left = once_test(test.left, scope, holds, _depth)
        right = once_test(test.right, scope, holds, _depth)
        return (left or right) if each_holds else (left and right)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        operator = test.comparisons[0].operator
        comparator = test.comparisons[0].comparator
        if isinstance(comparator, cst.Name) and comparator.value == "None":
            if isinstance(operator, (cst.Is, cst.Equal)):
                return holds
            if isinstance(operator, (cst.IsNot, cst.NotEqual)):
                return not holds
        if isinstance(operator, cst.NotIn):
            return holds
        if isinstance(operator, cst.In):
            return not holds
        return False
    if isinstance(test, cst.Call):
        if isinstance(test.func, cst.Name) and test.func.value == "hasattr":
            return not holds
        predicate = method_return(test, scope)
        if predicate is not None and _depth < 2:
            return once_test(predicate, scope, holds, _depth + 1)
        return False
    name = dotted_name(test)
    if name is not None and (name.rsplit(".", 1)[-1] == "built" or _set_once(name, scope) or _filled_once(name, scope)):
        return not holds
    return False


def _filled_once(name: str, scope) -> bool:
    """`self.<slot>` that `__init__` sets to None and the other methods only to objects
    they construct (`if not self.dense_3: self.dense_3 = Dense(...)`): falsy until filled,
    then an object, truthy for good, so the code it guards while empty runs once."""
    emptied = filled = False
    for method_name, node in _writes(name, scope):
        value = node.value
        if method_name == "__init__" and isinstance(value, cst.Name) and value.value == "None":
            emptied = True
        elif method_name != "__init__" and isinstance(node, cst.Assign) and isinstance(value, cst.Call):
            filled = True
        else:
            return False  # emptied again, or set to a value that may be falsy
    return emptied and filled


def _set_once(name: str, scope) -> bool:
    """`self.<flag>` that the class only ever sets to `True` outside `__init__` (its lazy
    `build` sets `self.is_built = True`), and to `False` nowhere else: a flag that, once
    true, stays true, so the code it guards while false runs once."""
    set_true = False
    for method_name, node in _writes(name, scope):
        value = node.value
        if isinstance(node, cst.Assign) and is_true(value) and method_name != "__init__":
            set_true = True
        elif not (method_name == "__init__" and is_false(value)):
            return False  # set to something else, or reset: not a one-way flag
    return set_true


def _writes(name: str, scope) -> Iterator[tuple[str, Union[cst.Assign, cst.AnnAssign, cst.AugAssign]]]:
    """Every assignment to `self.<attr>` (`name`) in the methods of the scope's class, with
    the method it is in; none where `name` is not such an attribute."""
    if not name.startswith("self.") or name.count(".") != 1 or scope is None:
        return
    for method_name, method in scope.owner_methods.items():
        for node in descendants(method):
            if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                if any(dotted_name(t) == name for t in targets):
                    yield method_name, node


def method_return(call: cst.Call, scope) -> Optional[cst.BaseExpression]:
    """`self.m()`: what method `m` of the scope's class returns, when its body is that one
    return (`self._need_init()` returning a test, a getter returning `self.loss`)."""
    callee = call.func
    if not (isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Name)
            and callee.value.value == "self"):
        return None
    method = scope.owner_methods.get(callee.attr.value) if scope is not None else None
    if method is None or not isinstance(method.body, cst.IndentedBlock):
        return None
    body = [s for s in method.body.body if not _is_docstring(s)]
    if len(body) == 1 and isinstance(body[0], cst.SimpleStatementLine) and len(body[0].body) == 1:
        statement = body[0].body[0]
        if isinstance(statement, cst.Return) and statement.value is not None:
            return statement.value
    return None


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))
