"""Which framework a fix may write in a module: a precondition proven from its imports.

A fix that writes `tf.cast(...)` is only as good as the `tf` it names. The module decides:

- `tf` is *certainly TensorFlow* when an `import tensorflow as tf` runs on every path the
  module runs (a statement of the module's body, or of a `try` whose every handler
  raises) and nothing else at module level binds that name. `try: import tensorflow as tf /
  except ImportError: tf = None` is not certain: the module is written to run without
  TensorFlow, and a fix that adds `tf.*` breaks that path.
- Keras 3 code whose `tf` is not certain (it does not import TensorFlow, or only on some
  paths) and that certainly imports `keras` (or `keras.ops`) gets `keras.ops`, spelled as the
  module spells it (`ops.sum`, `keras.ops.sum`): no new `import tensorflow as tf`.
- A module that binds neither may get `import tensorflow as tf`, added only when a fix
  writes `tf.` (the engine adds a fix's imports only where the fixed code reads them); not
  when the module binds the name `tf`, or TensorFlow or Keras, on some paths only, nor when
  it imports TensorFlow only inside functions (it is written to load without it).

`Backend.target` is then the `Target` the NumPy translations write with, or None with the
reason (`Backend.reason`) why no fix may write TensorFlow here.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Iterator, Optional

import libcst as cst

from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.tree import child_nodes
from tfgradfix.fixes.numpy_to_tf import Target

_FRAMEWORKS = ("tensorflow", "keras")


@dataclass(frozen=True)
class Backend:
    target: Optional[Target]
    # Imports a fix written with `target` may need: (module, alias); added only where used.
    imports: tuple[tuple[str, str], ...] = ()
    # Why `target` is None: no framework can be written here with certainty.
    reason: Optional[str] = None


def module_bindings(module: cst.Module) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Names bound at module level: (certain, conditional), each name -> what binds it
    (the dotted name an import binds it to, or "" for any other binding). A name is certain
    only through imports that run on every path: statements of the module's body, or of a
    `try` body whose handlers all raise."""
    certain: dict[str, set[str]] = {}
    conditional: dict[str, set[str]] = {}
    for name, full, unconditional in _bindings(module.body, True):
        (certain if unconditional else conditional).setdefault(name, set()).add(full)
    return certain, conditional


def _bindings(statements, unconditional: bool) -> Iterator[tuple[str, str, bool]]:
    for statement in statements:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            yield statement.name.value, "", unconditional
            continue
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                yield from _small_bindings(small, unconditional)
            continue
        if isinstance(statement, cst.Try):
            raising = all(_raises(handler.body) for handler in statement.handlers) and statement.handlers
            yield from _bindings(_body(statement.body), unconditional and bool(raising))
            for handler in statement.handlers:
                if handler.name is not None and isinstance(handler.name.name, cst.Name):
                    yield handler.name.name.value, "", False
                yield from _bindings(_body(handler.body), False)
            for block in (statement.orelse, statement.finalbody):
                if block is not None:
                    yield from _bindings(_body(block.body), unconditional and bool(raising))
            continue
        if isinstance(statement, cst.With):
            for item in statement.items:
                if item.asname is not None:
                    for name in _target_names(item.asname.name):
                        yield name, "", False
            yield from _bindings(_body(statement.body), unconditional)
            continue
        if isinstance(statement, (cst.For, cst.While)):
            if isinstance(statement, cst.For):
                for name in _target_names(statement.target):
                    yield name, "", False
        for child in child_nodes(statement):
            if isinstance(child, (cst.IndentedBlock, cst.SimpleStatementSuite)):
                yield from _bindings(_body(child), False)
            elif isinstance(child, (cst.If, cst.Else)):
                yield from _bindings([child], False)


def _body(block) -> list:
    return list(block.body) if isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)) else []


def _raises(block) -> bool:
    statements = _body(block)
    if not statements:
        return False
    last = statements[-1]
    return isinstance(last, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in last.body)


def _small_bindings(small: cst.BaseSmallStatement, unconditional: bool) -> Iterator[tuple[str, str, bool]]:
    if isinstance(small, cst.Import):
        for alias in small.names:
            full = dotted_name(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield alias.asname.name.value, full, unconditional
            else:
                head = full.split(".")[0]
                yield head, head, unconditional
    elif isinstance(small, cst.ImportFrom):
        if isinstance(small.names, cst.ImportStar):
            yield "*", "", False
            return
        base = "" if small.relative or small.module is None else dotted_name(small.module) or ""
        for alias in small.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Name):
                name = dotted_name(alias.name) or ""
                yield local.value, f"{base}.{name}" if base else "", unconditional
    elif isinstance(small, cst.Assign):
        for target in small.targets:
            for name in _target_names(target.target):
                yield name, "", unconditional
    elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
        for name in _target_names(small.target):
            yield name, "", unconditional
    elif isinstance(small, cst.Del):
        for name in _target_names(small.target):
            yield name, "", False
    elif isinstance(small, cst.Global):
        pass


def _target_names(target) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


def _imported_in_functions(module: cst.Module, package: str) -> bool:
    """Whether a function (or method) of the module imports `package`."""
    stack: list[cst.CSTNode] = [node for statement in module.body for node in _functions(statement)]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BaseExpression):
            continue
        if isinstance(node, cst.Import) and any((dotted_name(a.name) or "").split(".")[0] == package
                                                for a in node.names):
            return True
        if isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative and (
                (dotted_name(node.module) or "").split(".")[0] == package):
            return True
        stack.extend(child_nodes(node))
    return False


def _functions(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    if isinstance(node, cst.FunctionDef):
        yield node.body
    elif not isinstance(node, cst.BaseExpression):
        for child in child_nodes(node):
            yield from _functions(child)


def _certain_alias(certain: dict[str, set[str]], conditional: dict[str, set[str]], full: str) -> Optional[str]:
    """A local name every path binds to `full` and nothing else."""
    for name, values in sorted(certain.items()):
        if values == {full} and name not in conditional:
            return name
    return None


_CACHE: "weakref.WeakKeyDictionary[object, Backend]" = weakref.WeakKeyDictionary()


def backend_of(analysis) -> Backend:
    """What a fix may write in the module of `analysis` (a ModuleAnalysis; computed once each)."""
    found = _CACHE.get(analysis)
    if found is None:
        found = _CACHE[analysis] = decide(analysis.module)
    return found


def decide(module: cst.Module) -> Backend:
    certain, conditional = module_bindings(module)
    keras_ops = _certain_alias(certain, conditional, "keras.ops")
    keras = _certain_alias(certain, conditional, "keras")
    ops = keras_ops or (f"{keras}.ops" if keras else None)
    tf = _certain_alias(certain, conditional, "tensorflow")
    if tf is not None:
        return Backend(Target(tf=tf, fallback=ops or f"{tf}.experimental.numpy"))
    if ops is not None:
        return Backend(Target(tf=None, fallback=ops))
    # `from keras import layers` on every path: Keras 3 is there, and `import keras` adds nothing new.
    if "keras" not in certain and "keras" not in conditional and any(
            values == {v} and v.startswith("keras.") and name not in conditional
            for name, values in certain.items() for v in values):
        return Backend(Target(tf=None, fallback="keras.ops"), imports=(("keras", "keras"),))
    framework_on_some_paths = sorted(
        name for name, values in conditional.items()
        if any(v.split(".")[0] in _FRAMEWORKS for v in values))
    if framework_on_some_paths:
        return Backend(None, reason=(
            f"`{framework_on_some_paths[0]}` is bound on some paths only here (by a `try` or `if`), so "
            "TensorFlow is not certain where the fix would write it"))
    if "tf" in certain or "tf" in conditional or "*" in conditional:
        return Backend(None, reason="`tf` is bound to something other than TensorFlow in this module")
    if _imported_in_functions(module, "tensorflow"):
        return Backend(None, reason=(
            "the module imports TensorFlow only inside functions (it is written to load without it), "
            "and the fix would need `tf` elsewhere"))
    return Backend(Target(tf="tf", fallback="tf.experimental.numpy"), imports=(("tensorflow", "tf"),))
