"""Resolve local names to the dotted names they were imported as.

A cheap pass over the module's import statements, instead of LibCST's
ScopeProvider/QualifiedNameProvider (about 10x the cost of parsing: docs/architecture.md
"Traps", docs/performance.md "Where the time goes").
Imports anywhere in the file count: `import numpy as np` inside a function is
common in research code and rarely shadows anything.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator, Optional

import libcst as cst

from tfgradfix.analysis.tree import child_nodes
from tfgradfix.analysis.vocabulary import SAME_AS


def canonical(name: str) -> str:
    """The name every rule asks about for `name` (`tensorflow.Variable` for `tfe.Variable`)."""
    return SAME_AS.get(name, name)


def dotted_name(node: cst.BaseExpression) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


class ImportMap:
    """Maps a local name (`np`, `tf`, `dot`) to what it was imported as."""

    def __init__(self, module: cst.Module) -> None:
        self.bindings: dict[str, str] = {}
        for node in _import_statements(module):
            self._add(node)
        self._add_aliases(module)

    def _add_aliases(self, module: cst.Module) -> None:
        """`keras = tf.keras`, `layers = keras.layers`, `Layer = layers.Layer`: a module-level
        name bound once, to what an imported name refers to, is that name (tutorials and
        TF 2.x-era repositories write their Keras imports this way)."""
        assignments = list(_module_assignments(module))
        bound = Counter(name for name, _ in assignments)
        for name, value in assignments:
            if value is not None and bound[name] == 1 and name not in self.bindings:
                full = self.resolve(value)
                if full is not None:
                    self.bindings[name] = full

    def _add(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name)
                if full is None:
                    continue
                if alias.asname is not None:
                    bound = alias.asname.name
                    if isinstance(bound, cst.Name):
                        self.bindings[bound.value] = full
                else:
                    # `import a.b` binds `a`.
                    head = full.split(".")[0]
                    self.bindings.setdefault(head, head)
            return
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        base = dotted_name(node.module)
        if base is None:
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = alias.name.value
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings[local] = f"{base}.{alias.name.value}"

    def resolve(self, node: cst.BaseExpression) -> Optional[str]:
        """The imported dotted name an expression refers to, e.g. `np.linalg.norm`
        -> `numpy.linalg.norm`; None when its head is not an imported name."""
        name = dotted_name(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        full = self.bindings.get(head)
        if full is None:
            return None
        return canonical(f"{full}.{rest}") if rest else canonical(full)

    def dtype_name(self, expr: cst.BaseExpression) -> str:
        """The dtype an expression names: "int32" for `tf.int32`, `np.int32` or "int32"."""
        if isinstance(expr, cst.SimpleString):
            return str(expr.evaluated_value)
        return (self.resolve(expr) or "").rsplit(".", 1)[-1]

    def alias_of(self, module: str) -> Optional[str]:
        """The local name bound to `module` itself (`tf` for tensorflow)."""
        for local, full in self.bindings.items():
            if full == module:
                return local
        return None


def is_integer_dtype(name: str) -> bool:
    return name.startswith(("int", "uint"))


def _module_assignments(module: cst.Module) -> Iterator[tuple[str, Optional[cst.BaseExpression]]]:
    """Names bound by module-level code (also under `if`/`try`/`with`), in source order,
    with the value when the statement binds that one name to a dotted name."""
    stack: list[cst.CSTNode] = list(reversed(module.body))
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            yield node.name.value, None
        elif isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                if isinstance(small, cst.Assign):
                    single = len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
                    value = small.value if single and dotted_name(small.value) is not None else None
                    for target in small.targets:
                        for name in _names_in(target.target):
                            yield name, value
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    for name in _names_in(small.target):
                        yield name, None
        elif isinstance(node, (cst.If, cst.Try, cst.With, cst.For, cst.While, cst.IndentedBlock, cst.Else,
                               cst.ExceptHandler, cst.Finally)):
            if isinstance(node, cst.For):
                for name in _names_in(node.target):
                    yield name, None
            stack.extend(reversed([c for c in child_nodes(node) if not isinstance(c, cst.BaseExpression)]))


def _names_in(target: cst.BaseExpression) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _names_in(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _names_in(target.value)


def _import_statements(module: cst.Module):
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            yield node
            continue
        if isinstance(node, cst.BaseExpression):
            continue
        stack.extend(reversed(list(child_nodes(node))))
