"""`with tf.GradientTape() as tape:` blocks and the `tape.gradient` calls that belong to them.

A `tape.gradient` call belongs to the last block bound to that name before it
in source order, so two consecutive `with tf.GradientTape() as tape:` blocks
each keep their own calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import libcst as cst

from tfgradfix.analysis.dataflow import names_in, target_names
from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.scopes import TAPE_CONSTRUCTORS, Scope
from tfgradfix.analysis.tree import child_nodes, descendants

Container = Union[cst.Module, cst.IndentedBlock]
_GRADIENT_METHODS = ("gradient", "jacobian", "batch_jacobian")


@dataclass(eq=False)
class GradientCall:
    call: cst.Call
    target: cst.BaseExpression
    sources: Optional[cst.BaseExpression]
    statement: cst.CSTNode  # the statement of `container` that holds the call
    container: Container


@dataclass(eq=False)
class TapeBlock:
    node: cst.With
    name: str
    container: Container  # the statement list the `with` is in
    persistent: bool
    gradients: list[GradientCall] = field(default_factory=list)
    watched: set[str] = field(default_factory=set)

    @property
    def body(self) -> list[cst.BaseStatement]:
        return list(self.node.body.body) if isinstance(self.node.body, cst.IndentedBlock) else []

    @property
    def index(self) -> int:
        return list(self.container.body).index(self.node)


def find_tape_blocks(scope: Scope, imports: ImportMap) -> list[TapeBlock]:
    """The scope's tape blocks, computed once."""
    if scope.tape_cache is None:
        blocks: list[TapeBlock] = []
        container = scope.node if isinstance(scope.node, cst.Module) else scope.node.body
        if scope.tape_blocks and isinstance(container, (cst.Module, cst.IndentedBlock)):
            _walk(container, {}, blocks, imports)
        scope.tape_cache = blocks
    return scope.tape_cache


def tape_block(scope: Scope, imports: ImportMap, node: cst.With) -> Optional[TapeBlock]:
    return next((b for b in find_tape_blocks(scope, imports) if b.node is node), None)


def _walk(container: Container, current: dict[str, TapeBlock], blocks: list[TapeBlock], imports: ImportMap) -> None:
    for statement in container.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(statement, cst.With):
            for item in statement.items:
                block = _tape_block(item, statement, container, imports)
                if block is not None:
                    blocks.append(block)
                    current[block.name] = block
        for node in _expressions(statement):
            _bind_call(node, statement, container, current)
        for inner in _statement_lists(statement):
            _walk(inner, current, blocks, imports)


def _tape_block(item: cst.WithItem, statement: cst.With, container: Container,
                imports: ImportMap) -> Optional[TapeBlock]:
    call = item.item
    if not isinstance(call, cst.Call) or imports.resolve(call.func) not in TAPE_CONSTRUCTORS:
        return None
    if item.asname is None or not isinstance(item.asname.name, cst.Name):
        return None
    persistent = any(
        a.keyword is not None and a.keyword.value == "persistent"
        and isinstance(a.value, cst.Name) and a.value.value == "True"
        for a in call.args
    )
    return TapeBlock(statement, item.asname.name.value, container, persistent)


def watched_names(watch: cst.Call) -> set[str]:
    """The names a `tape.watch(...)` call watches: `x`, and the names in `[x, y]` / `(x, y)`."""
    found: set[str] = set()
    stack = [arg.value for arg in watch.args]
    while stack:
        value = stack.pop()
        if isinstance(value, cst.Name):
            found.add(value.value)
        elif isinstance(value, (cst.List, cst.Tuple)):
            stack.extend(e.value for e in value.elements)
    return found


def _bind_call(node: cst.CSTNode, statement: cst.CSTNode, container: Container,
               current: dict[str, TapeBlock]) -> None:
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)):
        return
    block = current.get(node.func.value.value)
    if block is None:
        return
    method = node.func.attr.value
    if method == "watch":
        block.watched.update(watched_names(node))
    elif method in _GRADIENT_METHODS and node.args:
        positional = [a for a in node.args if a.keyword is None]
        keyword = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        target = positional[0].value if positional else keyword.get("target")
        sources = positional[1].value if len(positional) > 1 else keyword.get("sources")
        if target is not None:
            block.gradients.append(GradientCall(node, target, sources, statement, container))


def _expressions(statement: cst.CSTNode):
    """Nodes of a statement outside its nested statement lists."""
    stack = list(child_nodes(statement))
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.IndentedBlock, cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        yield node
        stack.extend(child_nodes(node))


def _statement_lists(statement: cst.CSTNode):
    """The statement lists directly inside a compound statement: bodies, else,
    except, finally and match-case blocks."""
    parts = [statement]
    while parts:
        node = parts.pop()
        body = getattr(node, "body", None)
        if isinstance(body, cst.IndentedBlock):
            yield body
        for attribute in ("orelse", "finalbody"):
            value = getattr(node, attribute, None)
            if isinstance(value, cst.CSTNode):
                parts.append(value)
        parts.extend(getattr(node, "handlers", ()))
        parts.extend(getattr(node, "cases", ()))


def names_bound(statement: cst.CSTNode) -> set[str]:
    """Names a statement (or statement list) binds, at any depth."""
    bound: set[str] = set()
    for node in descendants(statement):
        if isinstance(node, cst.AssignTarget):
            bound.update(target_names(node.target))
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For, cst.CompFor)):
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


def reaching_value(statement: cst.CSTNode, name: str, parent_of) -> Optional[cst.BaseExpression]:
    """The value of the `name = value` that is the last binding of `name` before `statement` on
    every path to it: in the statements before it, or before the compound statements around it.
    None when no binding precedes it in its function (a parameter, a global), or when the one
    that reaches it is not certain: bound in an `if` or a loop, by a tuple or an augmented
    assignment, or rebound inside a loop that runs `statement` again."""
    loops: list[cst.CSTNode] = []
    node = statement
    while True:
        container = parent_of(node)
        if not isinstance(container, (cst.IndentedBlock, cst.Module)):
            return None
        body = list(container.body)
        for earlier in reversed(body[:body.index(node)]):
            if name not in names_bound(earlier):
                continue
            small = earlier.body[0] if isinstance(earlier, cst.SimpleStatementLine) and len(earlier.body) == 1 else None
            if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == name):
                return None
            if any(name in names_bound(loop) for loop in loops):
                return None
            return small.value
        if isinstance(container, cst.Module):
            return None
        node = parent_of(container)  # the compound statement around it (through `else:` and the like)
        while node is not None and not isinstance(parent_of(node), (cst.IndentedBlock, cst.Module)):
            node = parent_of(node)
        if node is None or isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            return None
        if isinstance(node, (cst.For, cst.While)):
            loops.append(node)


def statement_reads(statement: cst.CSTNode) -> set[str]:
    """Names a statement reads (its assignment targets excluded); for a compound
    statement (`if`, `for`, `try`, ...), every name in it."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return set(names_in(statement))
    read: set[str] = set()
    for small in statement.body:
        if isinstance(small, cst.Assign):
            read.update(names_in(small.value))
            for target in small.targets:
                if not isinstance(target.target, cst.Name):
                    read.update(names_in(target.target))
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            read.update(names_in(small.target))
            if small.value is not None:
                read.update(names_in(small.value))
        else:
            read.update(names_in(small))
    return read


def can_reorder(moved: list[cst.CSTNode], others: list[cst.CSTNode]) -> bool:
    """Moving `moved` past `others` changes nothing they read or bind."""
    for statement in moved:
        bound, read = names_bound(statement), statement_reads(statement)
        for other in others:
            if names_bound(other) & (read | bound) or statement_reads(other) & bound:
                return False
    return True
