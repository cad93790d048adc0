"""What a rule is: a LibCST visitor with a code, a name, docs and examples.

Rules run together in one batched traversal (`libcst.visit_batched`), after a
`TraversalContext` that tells them where they are. A rule reports a node, a
message and, where it can, a `Fix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional

import libcst as cst

from tfgradfix.analysis.context import TraversalContext
from tfgradfix.analysis.scopes import Scope
from tfgradfix.analysis.tree import BatchableVisitor
from tfgradfix.fixes.edits import Applicability, Fix


@dataclass
class Finding:
    code: str
    name: str
    message: str
    node: cst.CSTNode = field(repr=False)
    symbol: str = ""
    fix: Optional[Fix] = field(default=None, repr=False)
    # Filled in from LibCST's PositionProvider once the traversal is done.
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0
    cell: Optional[int] = None  # in a notebook: the cell (from 1), and lines count within it
    verification: Optional[dict] = None  # from --verify: the verdict of the finding's layer or function

    @property
    def fix_applicability(self) -> Optional[Applicability]:
        return self.fix.applicability if self.fix is not None else None


class Rule(BatchableVisitor):
    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    summary: ClassVar[str]  # one line: what it finds
    # Markdown sections of the rule's documentation.
    what: ClassVar[str]
    why: ClassVar[str]
    # What the rule must see before it reports: a gradient the code wants and loses (upstream,
    # between, downstream); where the analysis cannot tell, it stays silent.
    evidence: ClassVar[str]
    example: ClassVar[str]
    fixed_example: ClassVar[str]
    fix_safety: ClassVar[str]
    # The rule cannot match a file that contains none of these strings.
    triggers: ClassVar[tuple[str, ...]]

    def __init__(self, context: TraversalContext, report: Callable[[Finding], None]) -> None:
        super().__init__()
        self.context = context
        self._report = report

    def report(self, node: cst.CSTNode, message: Optional[str] = None, fix: Optional[Fix] = None,
               scope: Optional[Scope] = None) -> None:
        """`scope`: the function `node` is in, where the traversal is not in it (a rule that
        judges a whole class from `visit_ClassDef`)."""
        scope = scope or self.context.scope
        if scope.keras_class is not None and scope.keras_class.never_built:
            return  # no instance of it exists: what it would lose is lost nowhere
        self._report(Finding(
            code=self.code, name=self.name, message=message or self.message, node=node,
            symbol=scope.symbol, fix=fix,
        ))
