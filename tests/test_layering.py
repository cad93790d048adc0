"""Imports never run upward (docs/architecture.md, "Traps", Layering).

The layers, lowest first: `analysis/` (what code means), `fixes/` (what a fix may write),
`rules/` (one rule a class), then the engine and its helpers; `verify/` runs fixed code and
reads the analysis, never the rules or the engine; `report/` and `cli.py` are the top.
Every import in a module counts, at module level or inside a function, under
`TYPE_CHECKING` or not: a deferred import still ties the layers together.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterator

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tfgradfix"

# What each layer may import of tfgradfix (a package name is everything under it, a module
# name that one module). Layers not named here (the engine, the CLI and their helpers)
# may import anything but `cli.py` (below).
ALLOWED = {
    "analysis": {"analysis"},
    "fixes": {"analysis", "fixes"},
    # TGF901 (rules/unused_noqa.py) reads the suppression comments as noqa.py parses them.
    "rules": {"analysis", "fixes", "rules", "noqa"},
    "verify": {"analysis", "verify", "notebooks"},
}
# The one crossing of a layer: the index reads files as the engine does (encoding, BOM,
# notebooks) and skips the folders discovery skips. Keeping it in the index's I/O module
# keeps it one place.
EXCEPTIONS = {
    ("analysis/project/disk.py", "files"),
}
# Only these may import the top: the reporters and the command line.
IMPORTS_REPORT = {"cli", "report"}
IMPORTS_CLI = {"__main__"}
# Static analysis never imports what it analyses: `check` starts fast and works without them.
FRAMEWORKS = {"tensorflow", "keras", "tf_keras", "numpy"}
# Runs by path in the user's Python (no tfgradfix there) and imports TensorFlow in `main`.
CHILD = "verify/child.py"


def layer_of(relative: str) -> str:
    """`analysis` for analysis/..., `engine` for engine.py."""
    first = relative.split("/")[0]
    return first[:-3] if first.endswith(".py") else first


def imported(tree: ast.Module, relative: str) -> Iterator[tuple[int, str, bool]]:
    """(line, absolute module name, at module level) of every import in a module."""
    package = ["tfgradfix", *relative[:-3].split("/")][:-1]
    if relative.endswith("__init__.py"):
        package = ["tfgradfix", *relative.split("/")[:-1]]
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            yield node.lineno, name, id(node) in top_level


def violations(relative: str, source: str) -> Iterator[str]:
    """What in module `relative` (a path under tfgradfix/) breaks the layering."""
    layer = layer_of(relative)
    for line, name, module_level in imported(ast.parse(source), relative):
        where = f"tfgradfix/{relative}:{line} imports {name}"
        root = name.split(".")[0]
        if relative == CHILD:
            if module_level and root not in sys.stdlib_module_names and root != "__future__":
                yield f"{where}: the verifier's child imports only the standard library at import time"
            if root == "tfgradfix":
                yield f"{where}: the verifier's child runs without tfgradfix"
            continue
        if root in FRAMEWORKS:
            yield f"{where}: static analysis never imports TensorFlow, Keras or NumPy"
            continue
        if root != "tfgradfix" or name == "tfgradfix":
            continue
        target = name.split(".")[1]
        if target == layer:
            continue
        if (relative, target) in EXCEPTIONS:
            continue
        if layer in ALLOWED and target not in ALLOWED[layer]:
            yield f"{where}: {layer}/ may import only {', '.join(sorted(ALLOWED[layer]))}"
        elif target == "report" and layer not in IMPORTS_REPORT:
            yield f"{where}: only cli.py imports the reporters"
        elif target == "cli" and layer not in IMPORTS_CLI:
            yield f"{where}: nothing imports the command line"


def modules() -> list[str]:
    return sorted(str(p.relative_to(PACKAGE)).replace("\\", "/") for p in PACKAGE.rglob("*.py"))


def test_the_package_keeps_its_layers():
    found = [v for relative in modules() for v in violations(relative, (PACKAGE / relative).read_text("utf-8"))]
    assert found == []


def test_every_exception_is_still_needed():
    """An exception nobody uses any more is a door left open."""
    used = {(relative, name.split(".")[1])
            for relative in modules()
            for _, name, _ in imported(ast.parse((PACKAGE / relative).read_text("utf-8")), relative)
            if name.startswith("tfgradfix.")}
    assert EXCEPTIONS <= used


@pytest.mark.parametrize("relative, source, expected", [
    ("analysis/scopes.py", "from tfgradfix.rules import ALL_RULES\n", "analysis/ may import only analysis"),
    ("analysis/values.py", "def f():\n    from tfgradfix.engine import Engine\n", "analysis/ may import only"),
    ("analysis/keras.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tfgradfix.fixes.edits import Fix\n",
     "analysis/ may import only"),
    ("analysis/project/index.py", "from tfgradfix.files import read_source\n", "analysis/ may import only"),
    ("analysis/project/index.py", "from ...files import read_source\n", "analysis/ may import only"),
    ("fixes/weights.py", "from tfgradfix.rules.base import Rule\n", "fixes/ may import only"),
    ("rules/blocked.py", "from tfgradfix.verify import runner\n", "rules/ may import only"),
    ("rules/blocked.py", "from tfgradfix.engine import Engine\n", "rules/ may import only"),
    ("verify/plan.py", "from tfgradfix.rules import ALL_RULES\n", "verify/ may import only"),
    ("verify/units.py", "from tfgradfix.engine import Engine\n", "verify/ may import only"),
    ("verify/child.py", "import numpy as np\n", "only the standard library"),
    ("verify/child.py", "def main():\n    from tfgradfix.analysis import tree\n", "runs without tfgradfix"),
    ("engine.py", "from tfgradfix.report.text import render\n", "only cli.py imports the reporters"),
    ("parallel.py", "from tfgradfix.cli import main\n", "nothing imports the command line"),
    ("analysis/values.py", "import numpy as np\n", "never imports TensorFlow"),
    ("rules/blocked.py", "def f():\n    import tensorflow as tf\n", "never imports TensorFlow"),
])
def test_a_violation_is_found(relative, source, expected):
    found = list(violations(relative, source))
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("relative, source", [
    ("analysis/project/disk.py", "def f():\n    from tfgradfix.files import read_source\n"),
    ("analysis/scopes.py", "from tfgradfix.analysis.vocabulary import TAPE_CONSTRUCTORS\n"),
    ("analysis/project/index.py", "from .model import Kind\nfrom ..vocabulary import TF_MODULES\n"),
    ("rules/unused_noqa.py", "from tfgradfix.noqa import directive\n"),
    ("verify/child.py", "import json\ndef main():\n    import tensorflow as tf\n"),
    ("cli.py", "from tfgradfix.report.run import RunReport\n"),
])
def test_what_the_layers_allow_is_not_reported(relative, source):
    assert list(violations(relative, source)) == []
