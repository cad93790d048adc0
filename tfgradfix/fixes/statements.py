"""Moving statements without leaving their comments behind, or taking their neighbours' gaps.

A statement's comments (the lines above it and the one on its line) belong to it and go
where it goes. The blank lines above it separate it from what came before: they stay
where it was, handed to the statement that takes its place.
"""

from __future__ import annotations

from typing import Sequence, TypeVar, cast

import libcst as cst

from tfgradfix.analysis.tapes import Container
from tfgradfix.fixes.edits import Edit

Statement = TypeVar("Statement", bound=cst.CSTNode)


def moved(statement: Statement) -> Statement:
    """The statement as it goes elsewhere: with its comments, without its blank lines."""
    lines = getattr(statement, "leading_lines", None)
    if not lines:
        return statement
    return statement.with_changes(leading_lines=[line for line in lines if line.comment is not None])


def without(body: Sequence[Statement], removed: set[int]) -> list[Statement]:
    """`body` without the statements at `removed`; the first statement after a removed
    run gets the run's blank lines when it has no leading lines of its own."""
    kept: list[Statement] = []
    gap: list[cst.EmptyLine] = []
    for index, statement in enumerate(body):
        if index in removed:
            if not gap:
                gap = [line for line in getattr(statement, "leading_lines", ()) if line.comment is None]
            continue
        if gap and not getattr(statement, "leading_lines", None):
            statement = statement.with_changes(leading_lines=gap)
        gap = []
        kept.append(statement)
    return kept


def move_into_block(container: Container, with_node: cst.With, moving: list[cst.CSTNode], at_end: bool) -> Edit:
    """A container edit: the statements `moving` leave their place and join the block's body."""
    body: list[cst.CSTNode] = list(container.body)
    with_index = body.index(with_node)
    moved_indices = [body.index(m) for m in moving]

    def build(updated: Container) -> Container:
        statements = list(updated.body)
        taken: list[cst.CSTNode] = [moved(statements[i]) for i in moved_indices]
        block = cast(cst.With, statements[with_index])
        inner: list[cst.CSTNode] = list(block.body.body)
        inner = inner + taken if at_end else taken + inner
        statements[with_index] = block.with_changes(body=block.body.with_changes(body=inner))
        return updated.with_changes(body=without(statements, set(moved_indices)))

    return Edit(container, build)
