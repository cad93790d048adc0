"""What a rebound name holds where it is read: the data flow, one value per statement.

`DataFlow` is flow-insensitive: a name carries a gradient when any of its bindings does.
That is the safe answer for most questions, and the wrong one for a name the code
rebinds through an op with no gradient: in

    def call(self, flows):
        flows = flows * self.scale
        flows = tf.math.floor(flows * self.levels)
        return flows

the returned `flows` is the floor's result, whatever the first binding carried. Here a
read of a rebound name (bound more than once, or a parameter bound again) is replaced by
the value that certainly reaches it in straight-line code (`reaching`), recursively, and
a parameter read before any binding is the parameter itself; where the code does not say
(a binding in a branch or a loop, a name mutated in place, watched, or passed to a closure),
the name is kept and the flow-insensitive answer stands. So `tainted_at` is never more
tainted than `DataFlow.is_tainted`.
"""

from __future__ import annotations

from typing import Optional, cast

import libcst as cst

from tfgradfix.analysis.dataflow import DataFlow, name_nodes, target_names
from tfgradfix.analysis.tree import Parents, child_nodes, descendants

# How deep substitutions nest, and how many one question may make.
_MAX_DEPTH = 8
_MAX_SUBSTITUTIONS = 64
_NONE = cst.Name("None")  # a parameter read before any binding, that carries no gradient here


def names_bound(statement: cst.CSTNode) -> set[str]:
    """Names a statement (or statement list) binds, at any depth; not a comprehension's own
    variables, which Python 3 binds only inside the comprehension."""
    bound: set[str] = set()
    for node in descendants(statement):
        if isinstance(node, cst.AssignTarget):
            bound.update(target_names(node.target))
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For)):
            bound.update(target_names(node.target))
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            bound.update(target_names(node.asname.name))
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            bound.add(node.name.value)
        elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
            bound.update(alias.evaluated_alias or alias.evaluated_name.split(".")[0] for alias in node.names)
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            bound.update(target_names(node.name.name))
    return bound


def reaching(statement: cst.CSTNode, name: str, parent_of) -> tuple[str, Optional[cst.BaseExpression],
                                                                      Optional[cst.CSTNode]]:
    """How `name` is bound where `statement` runs: ("value", value, its statement) for the
    `name = value` that is the last binding before it on every path (in the statements
    before it, or before the compound statements around it); ("entry", None, None) when no
    binding precedes it in its function on any path, nor in a loop around it (a parameter,
    a global); ("unknown", None, None) when the binding that reaches it is not certain: bound
    in an `if` or a loop, by a tuple or an augmented assignment, or rebound inside a loop that
    runs `statement` again."""
    loops: list[cst.CSTNode] = []
    node = statement
    while True:
        container = parent_of(node)
        if not isinstance(container, (cst.IndentedBlock, cst.Module)):
            return "unknown", None, None
        body: list[cst.CSTNode] = list(container.body)
        for earlier in reversed(body[:body.index(node)]):
            if name not in names_bound(earlier):
                continue
            found = _last_assignment(earlier, name)
            if found is None or any(name in names_bound(loop) for loop in loops):
                return "unknown", None, None
            return ("value", *found)
        if isinstance(container, cst.Module):
            return "unknown", None, None
        node = parent_of(container)  # the compound statement around it (through `else:` and the like)
        while (node is not None and not isinstance(node, cst.FunctionDef)
               and not isinstance(parent_of(node), (cst.IndentedBlock, cst.Module))):
            node = parent_of(node)
        if node is None or isinstance(node, cst.ClassDef):
            return "unknown", None, None
        if isinstance(node, cst.FunctionDef):
            return ("unknown", None, None) if any(name in names_bound(loop) for loop in loops) else (
                "entry", None, None)
        if isinstance(node, (cst.For, cst.While)):
            loops.append(node)
        elif isinstance(node, (cst.Try, cst.TryStar)) and name in names_bound(node.body):
            return "unknown", None, None  # a handler or `finally` runs after part of the `try` body


def _last_assignment(statement: cst.CSTNode, name: str) -> Optional[tuple[cst.BaseExpression, cst.CSTNode]]:
    """The `name = value` that `statement` leaves `name` bound to, when it certainly runs last:
    a plain assignment, or the last binding at the top of a `with` body (the body always runs;
    the tape's `loss = loss_fn(y, pred)`)."""
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == name):
            return small.value, statement
        return None
    if isinstance(statement, cst.With) and isinstance(statement.body, cst.IndentedBlock) and not any(
            item.asname is not None and name in target_names(item.asname.name) for item in statement.items):
        inner = next((s for s in reversed(statement.body.body) if name in names_bound(s)), None)
        return _last_assignment(inner, name) if inner is not None else None
    return None


def gradient_target_binding(parent_of: "Parents", call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    """The value of the binding of `name` that reaches `call` (`tape.gradient(name, ...)`) on every
    path, in the function or module `parent_of` maps; None where that is not certain."""
    node: cst.CSTNode = call
    while (parent := parent_of(node)) is not None and not isinstance(parent, (cst.IndentedBlock, cst.Module)):
        node = parent
    if parent is None:
        return None
    how, value, _ = reaching(node, name, parent_of)
    return value if how == "value" else None


class Rebinding:
    """One scope's rebound names and where their values come from."""

    def __init__(self, scope) -> None:
        self.scope = scope
        counts: dict[str, int] = {}
        for node in _walk(scope.body):
            if isinstance(node, cst.AssignTarget):
                for name in target_names(node.target):
                    counts[name] = counts.get(name, 0) + 1
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For, cst.CompFor)):
                for name in target_names(node.target):
                    counts[name] = counts.get(name, 0) + 2  # never certain: keep it out of `single`
        parameters = scope.parameter_names
        if not isinstance(scope.node, cst.FunctionDef):
            counts, parameters = {}, set()
        self.rebound = {name for name, count in counts.items() if count > 1 or name in parameters}
        self.rebound -= _kept(scope.body)
        self._parents: Optional[Parents] = None

    def parent_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        if self._parents is None:
            self._parents = Parents(self.scope.node)
        return self._parents(node)

    def statement_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The statement (an item of an indented block) that holds `node`."""
        current: Optional[cst.CSTNode] = node
        while current is not None:
            parent = self.parent_of(current)
            if isinstance(parent, (cst.IndentedBlock, cst.Module)):
                return current
            if isinstance(current, (cst.FunctionDef, cst.Lambda)) and current is not node:
                return None
            current = parent
        return None

    def value_of(self, expr: cst.BaseExpression, statement: cst.CSTNode, entry: set[str],
                 _depth: int = 0, _budget: Optional[list[int]] = None) -> cst.BaseExpression:
        """`expr`, read in `statement`, with each rebound name replaced by what reaches it."""
        if not self.rebound or isinstance(self.scope.node, cst.Module):
            return expr
        budget = _budget if _budget is not None else [_MAX_SUBSTITUTIONS]
        reads = [n for n in name_nodes(expr) if n.value in self.rebound and not _in_lambda(n, expr, self)]
        if not reads:
            return expr
        replacements: dict[int, cst.BaseExpression] = {}
        for name in reads:
            if budget[0] <= 0 or _depth >= _MAX_DEPTH:
                break
            budget[0] -= 1
            how, value, where = reaching(statement, name.value, self.parent_of)
            if how == "value" and value is not None and where is not None:
                replacements[id(name)] = self.value_of(value, where, entry, _depth + 1, budget)
            elif how == "entry" and name.value in self.scope.parameter_names and name.value not in entry:
                replacements[id(name)] = _NONE
        if not replacements:
            return expr
        if id(expr) in replacements:
            return replacements[id(expr)]
        return cast(cst.BaseExpression, expr.visit(_Replace(replacements)))  # replaces names with expressions


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.BaseExpression]) -> None:
        super().__init__()
        self.replacements = replacements

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.replacements.get(id(original_node), updated_node)


def tainted_at(flow: DataFlow, expr: cst.BaseExpression, entry: set[str]) -> bool:
    """Whether `expr` (a node of `flow`'s scope) carries a gradient where it is evaluated,
    reading each rebound name as the value that reaches it there; `entry` are the
    parameters that carry one when the function starts."""
    rebinding = rebinding_of(flow.scope)
    if not rebinding.rebound or not flow.is_tainted(expr):
        return flow.is_tainted(expr)
    statement = rebinding.statement_of(expr)
    if statement is None:
        return True
    return flow.is_tainted(rebinding.value_of(expr, statement, entry))


def rebinding_of(scope) -> Rebinding:
    """The scope's `Rebinding`, made on first use and kept on the scope."""
    found = scope.__dict__.get("_rebinding")
    if found is None:
        found = Rebinding(scope)
        scope.__dict__["_rebinding"] = found
    return found


def _walk(body):
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(child_nodes(node))


_MUTATING_STATEMENTS = (cst.Del, cst.Global, cst.Nonlocal)


def _kept(body) -> set[str]:
    """Names whose value the code may change without binding them: mutated through an
    attribute, an item or a method (`h.append(x)`, `obj.v = x`, `ta.write(i, x)` as a
    statement), watched by a tape, deleted, declared global or nonlocal, or read by a
    nested function or lambda (a closure sees the last value, not the one here)."""
    kept: set[str] = set()
    for node in _walk(body):
        if isinstance(node, cst.AssignTarget) and isinstance(node.target, (cst.Attribute, cst.Subscript)):
            kept.update(n.value for n in name_nodes(node.target))
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, (cst.Attribute,
                                                                                          cst.Subscript)):
            kept.update(n.value for n in name_nodes(node.target))
        elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
            call = node.value
            if isinstance(call.func, cst.Attribute):
                kept.update(n.value for n in name_nodes(call.func.value))
                if call.func.attr.value == "watch":
                    kept.update(n.value for arg in call.args for n in name_nodes(arg.value))
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in (
                "watch", "append", "extend", "insert", "update", "assign", "assign_add", "assign_sub"):
            kept.update(n.value for n in name_nodes(node.func.value))
            kept.update(n.value for arg in node.args for n in name_nodes(arg.value))
        elif isinstance(node, cst.CompFor):
            kept.update(target_names(node.target))
        elif isinstance(node, _MUTATING_STATEMENTS):
            kept.update(n.value for n in descendants(node) if isinstance(n, cst.Name))
        elif isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            kept.update(n.value for n in descendants(node) if isinstance(n, cst.Name))
    return kept


def _in_lambda(name: cst.Name, root: cst.BaseExpression, rebinding: Rebinding) -> bool:
    current = rebinding.parent_of(name)
    while current is not None and current is not root:
        if isinstance(current, cst.Lambda):
            return True
        current = rebinding.parent_of(current)
    return False
