"""What the TGF4 rules share: one check per `with tf.GradientTape()` block, and the
sources and bindings they read."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from tfgradfix.analysis.integer_tensors import integer_constructors, integer_from_callers
from tfgradfix.analysis.tapes import TapeBlock, tape_block
from tfgradfix.rules.base import Rule


_TAPE_TRIGGERS = ("GradientTape",)


class TapeRule(Rule):
    """Runs its check once per `with tf.GradientTape() as tape:` block."""

    triggers = _TAPE_TRIGGERS

    def visit_With(self, node: cst.With) -> None:
        if node not in self.context.analysis.tape_blocks:
            return
        block = tape_block(self.context.scope, self.context.imports, node)
        if block is not None:
            self.check(block)

    def check(self, block: TapeBlock) -> None:
        raise NotImplementedError


def source_names(sources: Optional[cst.BaseExpression]) -> Iterator[cst.Name]:
    if isinstance(sources, cst.Name):
        yield sources
    elif isinstance(sources, (cst.List, cst.Tuple)):
        for element in sources.elements:
            if isinstance(element.value, cst.Name):
                yield element.value


def simple_assignments(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)) for small in statement.body)


def integer_bindings(rule: Rule, name: str) -> Optional[list[cst.Call]]:
    """The constructors that bind `name`, when every one makes an integer tensor."""
    if rule.context.flow is None:
        return None
    return integer_constructors(rule.context.scope, cst.Name(name))


def integer_callers(rule: Rule, name: str) -> list[str]:
    """For a parameter: the callers that certainly pass an integer tensor for it, when no other
    caller passes a value known not to be one (`integer_from_callers`)."""
    if rule.context.flow is None:
        return []
    found = integer_from_callers(rule.context.scope, name)
    return sorted({caller.symbol for caller, _ in found})
