"""`with tf.GradientTape() as tape:` blocks and the `tape.gradient` calls that belong to them.

A `tape.gradient` call belongs to the last block bound to that name before it
in source order, so two consecutive `with tf.GradientTape() as tape:` blocks
each keep their own calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import libcst as cst

from tfgradfix.analysis.dataflow import names_in
from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.rebinding import names_bound, reaching
from tfgradfix.analysis.scopes import Scope
from tfgradfix.analysis.vocabulary import GRADIENT_METHODS, TAPE_CONSTRUCTORS
from tfgradfix.analysis.tree import child_nodes

Container = Union[cst.Module, cst.IndentedBlock]


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
    elif method in GRADIENT_METHODS and node.args:
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


def reaching_value(statement: cst.CSTNode, name: str, parent_of) -> Optional[cst.BaseExpression]:
    """The value of the `name = value` that is the last binding of `name` before `statement` on
    every path to it (`rebinding.reaching`); None when no binding precedes it in its function (a
    parameter, a global), or when the one that reaches it is not certain."""
    how, value, _ = reaching(statement, name, parent_of)
    return value if how == "value" else None


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
