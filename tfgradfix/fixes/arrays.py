"""Turning a NumPy value back into a tensor, and everything that used it as an array.

Replacing `x.numpy()` by `x` (or `np.dot(a, b)` by a TF op) is only half a fix:
the array methods that follow (`.sum(axis=1)`, `.T`, `.reshape(2, -1)`,
`.astype(np.float32)`, `@`) do not exist on a tensor or mean something else.
This module climbs from the replaced node through those uses, in the same
expression and through the names it is bound to, and rewrites each one. When
a use cannot be rewritten exactly (`.tolist()`, fancy indexing, item
assignment, a helper of this module that receives the array) there is no fix.
"""

from __future__ import annotations

from typing import Optional, Sequence, cast

import libcst as cst

from tfgradfix.analysis.context import TraversalContext
from tfgradfix.analysis.keras import FORWARD_METHODS
from tfgradfix.analysis.scopes import Scope
from tfgradfix.analysis.dataflow import DataFlow, walk_scope, is_certainly_tensor, name_nodes, target_name_nodes
from tfgradfix.analysis.values import Kind, kind_of
from tfgradfix.fixes.backend import backend_of
from tfgradfix.fixes.edits import Applicability, Edit, Fix, Replacement
from tfgradfix.fixes.numpy_to_tf import (
    ARRAY_METHODS, INTEGER_RESULTS, SHARED_ATTRIBUTES, VARARGS_METHODS, NoSpelling, Target, Translator, bind, call,
    int_list, literal_int,
    tf_dtype,
)

_ARITHMETIC = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)


class _CannotFix(Exception):
    pass


# Kinds of value that are certainly not a tensor: NumPy makes an array of them.
_DATA_KINDS = frozenset({Kind.SEQUENCE, Kind.NUMBER, Kind.STRING, Kind.MAPPING, Kind.METADATA})
# What a fix may write where the module may not write TensorFlow (fixes/backend.py): no op.
_NOTHING = Target(tf=None, fallback="")


def conversion_keeps_dtype(flow: DataFlow, value: cst.BaseExpression, function: str, dtype_given: bool
                           ) -> tuple[bool, Optional[str]]:
    """The precondition of dropping `np.array(value)` / `np.asarray(value[, dtype])`:
    (offered, why unsafe or not offered). Safe only when `value` is certainly a tensor
    (`is_certainly_tensor`, a weight, or a float cast): NumPy gives a Python list or
    number NumPy's dtype (int64, float64; a list of uint8 images stays uint8), where TF
    makes int32/float32 of it, and `tf.cast` of a list of Python floats rounds them to
    float32 first. A value certainly not a tensor (a list, a number) gets no fix: dropping
    the conversion leaves a list where an array was."""
    shown = cst.Module([]).code_for_node(value)
    kind = kind_of(flow, value)
    if kind in _DATA_KINDS:
        return False, f"`{shown}` is a {kind.value}, not a tensor: without `np.{function}` it is no array at all"
    if kind is Kind.FLOAT or is_certainly_tensor(flow, value, weights=True):
        return True, None
    if dtype_given:
        return True, (f"`{shown}` is not certainly a tensor: if it is a Python list, `tf.cast` converts it "
                      "to int32/float32 before the cast, where NumPy converted it to the dtype directly")
    return True, (f"`{shown}` is not certainly a tensor: if it is a Python list or NumPy array, dropping "
                  f"`np.{function}` changes its dtype (NumPy's int64/float64, a list of uint8 images "
                  "uint8, where TF makes int32/float32)")


class ArrayToTensor:
    """Builds the fixes of TGF101/TGF102/TGF104 for one traversal. What they may write
    comes from the module (fixes/backend.py): `tf` where it is certainly TensorFlow,
    `keras.ops` in Keras 3 code without it, nothing where neither is certain (then only
    fixes that write no op are offered, and `reason` says why the others are not)."""

    def __init__(self, context: TraversalContext, scope: Optional[Scope] = None) -> None:
        self.context = context
        backend = backend_of(context.analysis)
        self.imports: tuple[tuple[str, str], ...] = backend.imports
        self.target = backend.target or _NOTHING
        self.reason = backend.reason
        # Captured now: the edits run after the traversal has left this scope.
        self.scope = scope or context.scope
        self.flow = self.scope.flow or self.scope.analyse()
        self.translator = Translator(self.target, self.flow.rank_of, self.numpy_name)

    def spelled(self, function: str) -> bool:
        """Whether the target can write this TF op (checked before an edit that writes it)."""
        try:
            self.target.name(function)
        except NoSpelling:
            return False
        return True

    def numpy_name(self, expr: cst.BaseExpression) -> Optional[str]:
        qualified = self.context.imports.resolve(expr)
        if qualified is not None and qualified.startswith("numpy."):
            return qualified[len("numpy."):]
        return None

    def fix(self, node: cst.CSTNode, replacement: Replacement, description: str,
            integer_result: bool = False, unsafe: Optional[str] = None) -> Optional[Fix]:
        """A fix that replaces the NumPy value `node` and rewrites its array uses.
        `integer_result`: the TF op returns an int64 tensor where NumPy gave an
        int64 array, which mixes with float tensors; TF's does not. `unsafe`: why a
        precondition is not proven (the fix is then unsafe, and its description says so)."""
        try:
            if integer_result:
                self._check_integer_use(node)
            edits = [Edit(node, replacement), *self._follow(node, set())]
        except _CannotFix:
            return None
        if unsafe is not None:
            return Fix(f"{description} (unsafe: {unsafe})", tuple(edits), Applicability.UNSAFE, self.imports)
        return Fix(description, tuple(edits), Applicability.SAFE, self.imports)

    # -- climbing --------------------------------------------------------------

    def _follow(self, node: cst.CSTNode, seen: set) -> list[Edit]:
        edits, top = self._climb(node)
        return edits + self._follow_binding(top, seen)

    def _climb(self, node: cst.CSTNode) -> tuple[list[Edit], cst.CSTNode]:
        """Edits for the array operations applied to `node`, and the whole
        expression that is still an array (to follow into the name it is
        assigned to). Arithmetic and basic indexing mean the same on a tensor
        and need no edit."""
        parent_of = self.context.parent
        edits: list[Edit] = []
        while True:
            parent = parent_of(node)
            if isinstance(parent, cst.Attribute) and parent.value is node:
                attr = parent.attr.value
                if attr in SHARED_ATTRIBUTES:
                    break
                if attr == "T":
                    if not self.spelled("tf.transpose"):
                        raise _CannotFix
                    edits.append(Edit(parent, lambda updated: call(self.target, "tf.transpose", updated.value)))
                    node = parent
                    continue
                method_call = parent_of(parent)
                if not (isinstance(method_call, cst.Call) and method_call.func is parent):
                    raise _CannotFix
                if self._method(attr, node, method_call.args) is None:
                    raise _CannotFix
                if attr in INTEGER_RESULTS:
                    self._check_integer_use(method_call)
                edits.append(Edit(method_call, cast(Replacement, lambda updated, attr=attr: self._method(
                    attr, updated.func.value, updated.args))))
                node = method_call
                continue
            if isinstance(parent, cst.Subscript) and parent.value is node:
                if self._fancy(parent):
                    raise _CannotFix
                node = parent
                continue
            if isinstance(parent, cst.BinaryOperation) and (parent.left is node or parent.right is node):
                if isinstance(parent.operator, cst.MatrixMultiply):
                    ranks = [self.flow.rank_of(parent.left), self.flow.rank_of(parent.right)]
                    other = parent.right if parent.left is node else parent.left
                    # With a tensor on the other side, `@` already was the tensor's matmul.
                    tensor = self.flow.is_tainted(other) and not self.flow.is_ndarray(other)
                    if not all(r is not None and r >= 2 for r in ranks) and not tensor:
                        # `@` on tensors is tf.matmul, which raises on 1-D operands.
                        if not self.target.fallback:
                            raise _CannotFix
                        edits.append(Edit(parent, lambda updated: call(
                            self.target, f"{self.target.fallback}.matmul", updated.left, updated.right)))
                    node = parent
                    continue
                if isinstance(parent.operator, _ARITHMETIC):
                    node = parent
                    continue
                break
            if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, (cst.Minus, cst.Plus)):
                node = parent
                continue
            if isinstance(parent, cst.IfExp) and parent.test is not node:
                node = parent  # `t.numpy() if hasattr(t, "numpy") else t`: the uses of either are the array's
                continue
            if isinstance(parent, cst.Comparison) and len(parent.comparisons) == 1 and isinstance(
                    parent.comparisons[0].operator, (cst.Equal, cst.NotEqual, cst.LessThan, cst.LessThanEqual,
                                                     cst.GreaterThan, cst.GreaterThanEqual)):
                node = parent  # elementwise on a tensor too: its array uses (`.astype`) follow
                continue
            break
        self._check_consumer(node)
        return edits, node

    def _check_integer_use(self, node: cst.CSTNode) -> None:
        """An index used in arithmetic or kept in a name: `x * tf.argmax(x)` raises."""
        parent_of = self.context.parent
        parent = parent_of(node)
        while isinstance(parent, cst.Subscript) and parent.value is node:
            node, parent = parent, parent_of(parent)
        if isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation, cst.Assign, cst.AugAssign,
                               cst.AnnAssign, cst.NamedExpr)):
            raise _CannotFix

    def _check_consumer(self, node: cst.CSTNode) -> None:
        """A function of this module that receives the array may use it as one."""
        arg = self.context.parent(node)
        if not isinstance(arg, cst.Arg):
            return
        consumer = self.context.parent(arg)
        if not isinstance(consumer, cst.Call):
            return
        callee = consumer.func
        scope = self.scope
        if isinstance(callee, cst.Name) and scope.module_function(callee.value):
            raise _CannotFix
        if (isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Name)
                and callee.value.value == "self" and scope.has_method(callee.attr.value)):
            raise _CannotFix

    def _follow_binding(self, expr: cst.CSTNode, seen: set) -> list[Edit]:
        statement = self.context.parent(expr)
        if isinstance(statement, cst.Return) and statement.value is expr:
            return self._follow_return(seen)
        if isinstance(statement, cst.Assign) and statement.value is expr:
            targets: list[cst.BaseExpression] = [t.target for t in statement.targets]
        elif isinstance(statement, (cst.AnnAssign, cst.NamedExpr)) and statement.value is expr:
            targets = [statement.target]
        else:
            return []
        edits: list[Edit] = []
        for target in targets:
            if not isinstance(target, cst.Name):
                raise _CannotFix  # unpacking or attribute: uses cannot be followed
            edits += self._follow_name(target.value, seen)
        return edits

    def _follow_return(self, seen: set) -> list[Edit]:
        """A helper that now returns a tensor: its callers may use the result as an array."""
        function = self.scope.node
        if not isinstance(function, cst.FunctionDef) or (
                self.scope.is_keras_forward and function.name.value in FORWARD_METHODS):
            return []  # Keras receives a forward method's output: a tensor is what it wants
        if ("return", function) in seen:
            return []
        seen.add(("return", function))
        edits: list[Edit] = []
        for caller, site in self.context.analysis.callers_of(self.scope):
            edits += ArrayToTensor(self.context, caller)._follow(site, seen)
        return edits

    def _follow_name(self, name: str, seen: set) -> list[Edit]:
        key = (self.scope.node, name)
        if key in seen:
            return []
        seen.add(key)
        if name in self.flow.item_assigned:
            raise _CannotFix
        edits: list[Edit] = []
        for use in self._uses(name):
            edits += self._follow(use, seen)
        return edits

    def _uses(self, name: str):
        bound: set[int] = set()
        reads: list[cst.Name] = []
        for node in walk_scope(self.scope.body):
            if isinstance(node, cst.AssignTarget):
                bound.update(id(n) for n in target_name_nodes(node.target))
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)):
                bound.update(id(n) for n in target_name_nodes(node.target))
            elif isinstance(node, cst.Name) and node.value == name:
                reads.append(node)
        readable = {id(n) for stmt in self.scope.body for n in name_nodes(stmt)}
        return [n for n in reads if id(n) not in bound and id(n) in readable]

    def _fancy(self, subscript: cst.Subscript) -> bool:
        """An index a tensor may not take: NumPy's advanced indexing with arrays, lists or
        calls. A tensor takes integers, slices, `None` and `...`; with more than one index,
        a name that is not certainly a Python number (`x[batch_indices, pointer_index]`)
        may be an array, and TensorFlow refuses it."""
        indices = [element.slice.value for element in subscript.slice if isinstance(element.slice, cst.Index)]
        for value in indices:
            if isinstance(value, (cst.List, cst.Call, cst.ListComp)):
                return True
            if isinstance(value, cst.Name) and value.value in self.flow.ndarray_names:
                return True
            if (len(subscript.slice) > 1 and isinstance(value, cst.Name) and value.value not in ("None", "Ellipsis")
                    and kind_of(self.flow, value) not in (Kind.NUMBER, Kind.METADATA)):
                return True
        return False

    # -- ndarray methods ---------------------------------------------------------

    def _method(self, method: str, receiver: cst.BaseExpression, args: Sequence[cst.Arg]
                ) -> Optional[cst.BaseExpression]:
        translator = self.translator
        if method in ARRAY_METHODS:
            return translator.translate(method, [cst.Arg(receiver), *args])
        if method in VARARGS_METHODS:
            if any(a.keyword is not None or a.star for a in args):
                return None
            if len(args) == 0:
                packed: list[cst.Arg] = []
            elif len(args) == 1 and literal_int(args[0].value) is not None:
                packed = [cst.Arg(cst.List([cst.Element(args[0].value)]))]  # TF wants a 1-D shape
            elif len(args) == 1:
                packed = [cst.Arg(args[0].value)]
            else:
                packed = [cst.Arg(cst.Tuple([cst.Element(a.value) for a in args]))]
            if method == "reshape" and not packed:
                return None
            return translator.translate(method, [cst.Arg(receiver), *packed])
        if method == "astype":
            b = bind(args, ["dtype"])
            if not b or "dtype" not in b or not self.spelled("tf.cast"):
                return None
            return call(self.target, "tf.cast", receiver, tf_dtype(b["dtype"], self.numpy_name, self.target))
        if method in ("flatten", "ravel") and not args:
            return call(self.target, "tf.reshape", receiver, int_list([-1])) if self.spelled("tf.reshape") else None
        if method == "copy" and not args:
            return receiver
        return None
