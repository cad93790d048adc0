"""A fix is a set of edits plus an applicability; applying it is a LibCST transform."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable, Optional, Union

import libcst as cst

from tfgradfix.analysis.tree import child_nodes


class Applicability(str, Enum):
    SAFE = "safe"  # semantics preserved
    UNSAFE = "unsafe"  # changes behaviour or intent: only with --unsafe-fixes


# A replacement is a node, or a function of the node as updated by the edits
# nested inside it: `x.numpy().T` is two edits, and the outer `.T -> tf.transpose`
# must wrap whatever the inner one made of `x.numpy()`. The function receives a node of
# the edited node's own type (a `Call` for a call), hence `Any`.
Replacement = Union[cst.CSTNode, Callable[[Any], cst.CSTNode]]


@dataclass(frozen=True)
class Edit:
    node: cst.CSTNode  # a node of the module as parsed
    replacement: Replacement


@dataclass(frozen=True)
class FileEdit:
    """The part of a fix in another module of the project. `edit(analysis)` gives the fix
    to make there, derived from that module's `ModuleAnalysis` when the engine has both
    files at hand; None when it cannot be made there, and then the whole fix is not made."""

    module: str
    edit: Callable[[Any], Optional["Fix"]]


@dataclass(frozen=True)
class Fix:
    description: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE
    # Modules the replacement refers to by the alias the fix used: (module, alias).
    imports: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # Edits in other modules that belong to this fix: all are made, or none.
    elsewhere: tuple[FileEdit, ...] = ()

    @classmethod
    def replace(cls, node: cst.CSTNode, replacement: Replacement, description: str,
                imports: Iterable[tuple[str, str]] = (), applicability: Applicability = Applicability.SAFE) -> "Fix":
        return cls(description, (Edit(node, replacement),), applicability, tuple(imports))


# Contexts where an expression never needs parentheses.
_BARE_VALUE_PARENTS = (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Return, cst.Arg,
                       cst.Element, cst.Expr, cst.Index, cst.DictElement)


# Expressions that bind looser than a call, an attribute or a subscript.
_LOOSE = (cst.BinaryOperation, cst.BooleanOperation, cst.Comparison, cst.UnaryOperation, cst.IfExp, cst.Lambda,
          cst.NamedExpr, cst.Await)


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    """`name=value`, written as PEP 8 writes keyword arguments."""
    return cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))


def parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


class _ApplyEdits(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.CSTNode, Replacement]) -> None:
        super().__init__()
        self.replacements = replacements
        self.inserted: set[int] = set()

    def on_leave(self, original_node, updated_node):
        replacement = self.replacements.get(original_node)
        if replacement is not None:
            new = replacement(updated_node) if callable(replacement) else replacement
            if (isinstance(new, _LOOSE) and not new.lpar and not isinstance(original_node, _LOOSE)
                    and isinstance(original_node, cst.BaseExpression)):
                # `a * tf.stop_gradient(b + c)` must not become `a * b + c`: an operation put where
                # an atom was keeps its grouping (dropped again below where nothing binds tighter).
                new = parenthesized(new)
            self.inserted.add(id(new))
            return new
        if isinstance(updated_node, _BARE_VALUE_PARENTS):
            value = getattr(updated_node, "value", None)
            if value is not None and id(value) in self.inserted and getattr(value, "lpar", None):
                return updated_node.with_changes(value=value.with_changes(lpar=[], rpar=[]))
        return updated_node


def _subtree(node: cst.CSTNode) -> set[int]:
    found = set()
    stack = [node]
    while stack:
        current = stack.pop()
        found.add(id(current))
        stack.extend(child_nodes(current))
    return found


def apply_fixes(module: cst.Module, fixes: list[Fix]) -> tuple[cst.Module, list[Fix]]:
    """Apply the fixes that do not overlap an earlier one; the rest wait for the
    next pass. Edits of one fix may nest. Returns the new module and the fixes applied."""
    taken: set[int] = set()
    replacements: dict[cst.CSTNode, Replacement] = {}
    applied: list[Fix] = []
    for fix in fixes:
        span: set[int] = set()
        for edit in fix.edits:
            span |= _subtree(edit.node)
        if span & taken:
            continue
        taken |= span
        for edit in fix.edits:
            replacements.setdefault(edit.node, edit.replacement)
        applied.append(fix)
    if not applied:
        return module, []
    return module.visit(_ApplyEdits(replacements)), applied
