"""Cheap walking of LibCST trees.

`CSTNode.children` runs a visitor on every access, which made the analysis
cost ten times the parse. Reading the dataclass fields directly, and skipping
the fields that only hold whitespace and punctuation, is what the analysis
needs and costs a fraction of that.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import libcst as cst

_PUNCTUATION_FIELDS = frozenset({
    "lpar", "rpar", "comma", "semicolon", "header", "footer", "leading_lines", "trailing_whitespace",
    "lines_after_decorators", "dot", "equal", "colon", "newline", "whitespace", "first_line",
    "empty_lines", "lbracket", "rbracket", "lbrace", "rbrace", "asynchronous", "star",
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


def child_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The syntax children of a node, in source order, without whitespace nodes."""
    for name in _fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The node and everything under it."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child_nodes(current))


def contains(haystack: cst.CSTNode, needle: cst.CSTNode) -> bool:
    return any(node is needle for node in descendants(haystack))


def statements(nodes) -> Iterator[cst.CSTNode]:
    """Statement-level nodes under `nodes` (expressions are not entered), not
    descending into nested functions and classes, which are yielded."""
    stack = list(reversed(list(nodes)))
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.BaseExpression, cst.Arg, cst.Param, cst.Parameters, cst.Decorator)):
            continue
        yield node
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            continue
        stack.extend(reversed(list(child_nodes(node))))


_HOOKS: dict[type, tuple[str, ...]] = {}


class BatchableVisitor(cst.BatchableCSTVisitor):
    """LibCST's batchable visitor, finding its hooks once per class: the stock
    `get_visitors` runs `inspect.getmembers` on every instance, for every file."""

    def get_visitors(self):  # type: ignore[override]
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
