"""The imports of fixed code: those the fixes read (added), and the NumPy imports they left
unused (dropped)."""

from __future__ import annotations

from typing import Optional

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from tfgradfix.analysis.imports import ImportMap, dotted_name
from tfgradfix.analysis.tree import child_nodes
from tfgradfix.fixes.edits import Fix


def update_imports(before: cst.Module, after: cst.Module, applied: list[Fix]) -> cst.Module:
    """Add the imports the fixes refer to (those the fixed code reads: a fix lists the import
    it may need, and one that wrote no `tf.` needs none); drop NumPy imports they left unused."""
    context = CodemodContext()
    needed = {(module_name, alias) for fix in applied for module_name, alias in fix.imports
              if _reads(after, alias)}
    for module_name, alias in sorted(needed):
        AddImportsVisitor.add_needed_import(context, module_name, asname=alias if alias != module_name else None)
    if needed:
        after = AddImportsVisitor(context).transform_module(after)
    imports = ImportMap(before)
    unused = [
        (local, full) for local, full in imports.bindings.items()
        if (full == "numpy" or full.startswith("numpy.")) and _references(before, local) and not _references(after, local)
    ]
    return after.visit(_DropImports(set(unused))) if unused else after


class _DropImports(cst.CSTTransformer):
    """Remove the import names binding these (local, dotted) pairs, which `_references`
    found unused: RemoveImportsVisitor's edit without its scope analysis of the whole
    module, which made --fix on a large file cost many times `check`."""

    def __init__(self, unused: set[tuple[str, str]]) -> None:
        super().__init__()
        self.unused = unused
        # Statement lines left without an import (LibCST removes them), and their comment lines.
        self.emptied: dict[int, list[cst.EmptyLine]] = {}

    # Imports are statements: expressions, and statement lines without an import, are not entered.
    def on_visit(self, node: cst.CSTNode) -> bool:
        return not isinstance(node, cst.BaseExpression) and super().on_visit(node)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in node.body)

    visit_SimpleStatementSuite = visit_SimpleStatementLine  # type: ignore[assignment]

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if not updated.body:
            self.emptied[id(original)] = [line for line in updated.leading_lines if line.comment is not None]
        return updated

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        """The comments above a removed top-level import stay where they were, on the next
        statement: one of them may be a notebook's cell marker."""
        if not any(self.emptied.get(id(statement)) for statement in original.body):
            return updated
        body: list[cst.BaseStatement] = []
        comments: list[cst.EmptyLine] = []
        kept = iter(updated.body)
        for statement in original.body:
            if id(statement) in self.emptied:
                comments.extend(self.emptied[id(statement)])
                continue
            node = next(kept)
            if comments:
                node = node.with_changes(leading_lines=[*comments, *node.leading_lines])
                comments = []
            body.append(node)
        return updated.with_changes(body=body, footer=[*comments, *updated.footer])

    def leave_Import(self, original: cst.Import, updated: cst.Import):
        return self._keep(updated, [a for a in updated.names if _binding(a, None) not in self.unused])

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if isinstance(updated.names, cst.ImportStar) or updated.relative or updated.module is None:
            return updated
        base = dotted_name(updated.module)
        return self._keep(updated, [a for a in updated.names if _binding(a, base) not in self.unused])

    @staticmethod
    def _keep(node, names: list[cst.ImportAlias]):
        if len(names) == len(node.names):
            return node
        if not names:
            return cst.RemoveFromParent()
        return node.with_changes(names=[*names[:-1], names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)])


def _binding(alias: cst.ImportAlias, base: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(local name, dotted name) that `import x as y` / `from base import x as y` binds."""
    name = dotted_name(alias.name)
    if name is None:
        return None, None
    full = f"{base}.{name}" if base else name
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value, full
    return (name, full) if base else (name.split(".")[0], name.split(".")[0])


def _reads(module: cst.Module, local: str) -> bool:
    """Whether code of the module reads the name `local` (not an attribute, keyword or
    parameter spelled so): a fix's import is added only then."""
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if isinstance(node, cst.Name):
            if node.value == local:
                return True
            continue
        if isinstance(node, cst.Attribute):
            stack.append(node.value)
            continue
        if isinstance(node, cst.Arg):
            stack.append(node.value)
            continue
        if isinstance(node, cst.Param):
            if node.default is not None:
                stack.append(node.default)
            if node.annotation is not None:
                stack.append(node.annotation)
            continue
        stack.extend(child_nodes(node))
    return False


def _references(module: cst.Module, local: str) -> int:
    count = 0
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if isinstance(node, cst.Name) and node.value == local:
            count += 1
        stack.extend(child_nodes(node))
    return count
