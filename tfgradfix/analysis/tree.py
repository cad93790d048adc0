"""Cheap walking of LibCST trees.

`CSTNode.children` runs a visitor on every access, which made the analysis
cost ten times the parse. Reading the dataclass fields directly, and skipping
the fields that only hold whitespace and punctuation, is what the analysis
needs and costs a fraction of that.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Callable, Iterator, Optional, Sequence

import libcst as cst

_PUNCTUATION_FIELDS = frozenset({
    "lpar", "rpar", "comma", "semicolon", "header", "footer", "leading_lines", "leading_whitespace", "trailing_whitespace",
    "lines_after_decorators", "dot", "equal", "colon", "newline", "whitespace", "first_line",
    "empty_lines", "lbracket", "rbracket", "lbrace", "rbrace", "asynchronous", "star", "first_colon",
    "second_colon", "relative",
})
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node_type: type) -> tuple[str, ...]:
    names = _FIELDS.get(node_type)
    if names is None:
        names = tuple(
            f.name for f in dataclasses.fields(node_type)
            if f.name not in _PUNCTUATION_FIELDS and not f.name.startswith("whitespace")
        )
        _FIELDS[node_type] = names
    return names


def _kind_check(*classes: type) -> Callable[[type], bool]:
    """`issubclass(t, classes)`, remembered per type. `isinstance` against LibCST's classes
    goes through `ABCMeta.__instancecheck__` whenever the type is not the class itself,
    which made it the largest single cost of the walks below; this is a dictionary lookup."""
    known: dict[type, bool] = {}

    def check(value_type: type) -> bool:
        answer = known.get(value_type)
        if answer is None:
            answer = known[value_type] = issubclass(value_type, classes)
        return answer
    return check


is_node_type = _kind_check(cst.CSTNode)


def child_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The syntax children of a node, in source order, without whitespace nodes."""
    for name in _fields(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is list or value_type is tuple:
            for item in value:
                if is_node_type(type(item)):
                    yield item
        elif is_node_type(value_type):
            yield value


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The node and everything under it."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child_nodes(current))


def contains(haystack: cst.CSTNode, needle: cst.CSTNode) -> bool:
    return any(node is needle for node in descendants(haystack))


class Parents:
    """The parent of each node under `root`, built on first use (many questions never ask)."""

    def __init__(self, root: cst.CSTNode) -> None:
        self._root = root
        self._parents: Optional[dict[int, cst.CSTNode]] = None

    def __call__(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        if self._parents is None:
            self._parents = {}
            stack: list[cst.CSTNode] = [self._root]
            while stack:
                current = stack.pop()
                for child in child_nodes(current):
                    self._parents[id(child)] = current
                    stack.append(child)
        return self._parents.get(id(node))


def statements(nodes) -> Iterator[cst.CSTNode]:
    """Statement-level nodes under `nodes` (expressions are not entered), not
    descending into nested functions and classes, which are yielded."""
    stack = list(reversed(list(nodes)))
    while stack:
        node = stack.pop()
        node_type = type(node)
        if _not_statement(node_type):
            continue
        yield node
        if node_type is cst.FunctionDef or node_type is cst.ClassDef:
            continue
        stack.extend(reversed(list(child_nodes(node))))


_not_statement = _kind_check(cst.BaseExpression, cst.Arg, cst.Param, cst.Parameters, cst.Decorator)


_HOOKS: dict[type, tuple[str, ...]] = {}


class BatchableVisitor(cst.BatchableCSTVisitor):
    """LibCST's batchable visitor, finding its hooks once per class: the stock
    `get_visitors` runs `inspect.getmembers` on every instance, for every file."""

    def get_visitors(self):
        names = _HOOKS.get(type(self))
        if names is None:
            names = tuple(
                name for name in dir(type(self))
                if name.startswith(("visit_", "leave_"))
                and callable(getattr(type(self), name))
                and not getattr(getattr(type(self), name), "_is_no_op", False)
            )
            _HOOKS[type(self)] = names
        return {name: getattr(self, name) for name in names}


# LibCST visits a node's fields in the order its `_visit_and_replace_children`
# calls `visit_*(self, "<field>", ...)`; that order is not the dataclass's.
_VISIT_CALL = re.compile(r'visit_\w+\(\s*self,\s*"(\w+)"')
_VISIT_ORDER: dict[type, tuple[str, ...]] = {}


_SYNTAX_ORDER: dict[type, tuple[str, ...]] = {}


def _syntax_order(node_type: type) -> tuple[str, ...]:
    """LibCST's visiting order without the fields that hold only whitespace, comments and
    punctuation."""
    names = _SYNTAX_ORDER.get(node_type)
    if names is None:
        kept = set(_fields(node_type))
        names = _SYNTAX_ORDER[node_type] = tuple(n for n in _visit_order(node_type) if n in kept)
    return names


def _visit_order(node_type: type) -> tuple[str, ...]:
    names = _VISIT_ORDER.get(node_type)
    if names is None:
        try:
            found = _VISIT_CALL.findall(inspect.getsource(node_type._visit_and_replace_children))  # type: ignore[attr-defined]
        except (OSError, TypeError):  # LibCST installed without sources
            found = []
        fields = [f.name for f in dataclasses.fields(node_type)]
        names = tuple(dict.fromkeys(found)) if found else tuple(fields)
        _VISIT_ORDER[node_type] = names
    return names


def visit_batched(module: cst.Module, visitors: Sequence[cst.BatchableCSTVisitor],
                  syntax_only: bool = False) -> None:
    """`libcst.visit_batched`, without rebuilding the tree.

    LibCST's visit reconstructs every node it passes (a dataclass copy and its
    validation per node), which cost more than the rules' own work. Visitors
    here only read, so a walk over the fields in LibCST's visiting order, calling
    the same `visit_<Node>` / `leave_<Node>` hooks, is the same traversal.
    Attribute hooks (`visit_<Node>_<field>`) need LibCST's own visit.
    `syntax_only`: whitespace, comments and punctuation are not entered (about half
    of the nodes), for visitors that hook none of them."""
    visits: dict[str, list[Callable]] = {}
    leaves: dict[str, list[Callable]] = {}
    for visitor in visitors:
        for name, hook in visitor.get_visitors().items():
            kind, _, node_name = name.partition("_")
            if "_" in node_name:
                cst.visit_batched(module, visitors)
                return
            (visits if kind == "visit" else leaves).setdefault(node_name, []).append(hook)
    order = _syntax_order if syntax_only else _visit_order
    dispatch: dict[type, tuple[list[Callable], list[Callable]]] = {}
    nothing: list[Callable] = []
    stack: list[tuple[cst.CSTNode, bool]] = [(module, True)]
    while stack:
        node, entering = stack.pop()
        node_type = type(node)
        hooks = dispatch.get(node_type)
        if hooks is None:
            hooks = dispatch[node_type] = (visits.get(node_type.__name__, nothing),
                                           leaves.get(node_type.__name__, nothing))
        if not entering:
            for hook in hooks[1]:
                hook(node)
            continue
        for hook in hooks[0]:
            hook(node)
        stack.append((node, False))
        children: list[cst.CSTNode] = []
        for name in order(node_type):
            value = getattr(node, name)
            value_type = type(value)
            if value_type is list or value_type is tuple:
                children.extend(item for item in value if is_node_type(type(item)))
            elif is_node_type(value_type):
                children.append(value)
        stack.extend((child, True) for child in reversed(children))
