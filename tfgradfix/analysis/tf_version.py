"""Whether a module is TensorFlow 1.x code.

A module that uses an API TF 2 removed (`tf.contrib`, `tf.Session`, `tf.placeholder`,
`tf.train.AdamOptimizer`) or switches TF 2 off (`tf.compat.v1.disable_v2_behavior()`) runs on
TF 1.x, whose Keras tracks the `tf.Variable`s (`tfe.Variable`s) a layer holds as attributes, as
Keras 2 does: what Keras 3 would not track trains there (`ModuleAnalysis.legacy_keras`).

Multi-backend Keras (the `keras` package up to 2.3) builds graphs the same way: a module that
imports what only it had (`keras.legacy.interfaces`, `keras.engine.topology`, the names its
`keras.engine` package exported, its TensorFlow backend module) is graph-mode code written for
it, whatever `keras` is installed today.

A use guarded for TF 2 (under a `try` that catches ImportError or AttributeError, or an `if`
that tests the version), and the names such a guard imports, are a TF 2 module's shim, not
TF 1.x code.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap, dotted_name
from tfgradfix.analysis.tf1_names import TF1_ONLY
from tfgradfix.analysis.tree import child_nodes

# Names TF 2's `tensorflow` namespace no longer has (they live on only under `tf.compat.v1`):
# the top-level ones generated from TensorFlow (`tf1_names.py`: `tf.Session`, `tf.real`,
# `tf.layers`), and these members of namespaces TF 2 kept.
_REMOVED = frozenset({
    "tensorflow.Session", "tensorflow.InteractiveSession", "tensorflow.placeholder",
    "tensorflow.get_variable", "tensorflow.variable_scope", "tensorflow.global_variables_initializer",
    "tensorflow.random_normal", "tensorflow.random_uniform", "tensorflow.truncated_normal",
    "tensorflow.to_float", "tensorflow.to_int32", "tensorflow.log", "tensorflow.train.Saver",
    "tensorflow.compat.v1.disable_v2_behavior", "tensorflow.compat.v1.disable_eager_execution",
})
_REMOVED_PACKAGES = ("tensorflow.contrib.",)
# Modules only multi-backend Keras (<= 2.3) had: `keras` 2.4 became tf.keras and dropped them.
# (Keras 3 has a `keras.legacy` of its own, for saving.)
_MULTI_BACKEND_KERAS = ("keras.legacy.interfaces.", "keras.legacy.layers.", "keras.engine.topology.",
                        "keras.backend.tensorflow_backend.")
# What only its `keras.engine` package exported (`from keras.engine import InputSpec`): the package
# of Keras 2.6 to 2.15 exports nothing, and Keras 3 has none.
_MULTI_BACKEND_ENGINE = ("Input", "InputLayer", "InputSpec", "Layer", "Model", "get_source_inputs")
_MULTI_BACKEND_KERAS += tuple(f"keras.engine.{name}." for name in _MULTI_BACKEND_ENGINE)
_MULTI_BACKEND_MARKER = re.compile(r"\bkeras\.(?:legacy|engine\.topology|backend\.tensorflow_backend|engine\s+import"
                                   r"|engine\.(?:" + "|".join(_MULTI_BACKEND_ENGINE) + r")\b)")
# `tf.train.AdamOptimizer`: TF 2's optimizers are Keras's.
_TF1_OPTIMIZER = re.compile(r"^tensorflow\.train\.\w+Optimizer$")
# Words one of the names above contains: a module without any is not read further.
_MARKERS = re.compile(r"contrib|Saver|Optimizer|disable_v2_behavior|disable_eager_execution|\.(?:"
                      + "|".join(sorted(map(re.escape, TF1_ONLY), key=len, reverse=True)) + r")\b")
_GUARD_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError", "Exception"})
_VERSION_TEST = re.compile(r"__version__|VERSION|version|tf2|TF2|v2")


def tf1_api(module: cst.Module, imports: ImportMap, text: str) -> Optional[str]:
    """The first TF 1.x-only name the module uses outside a TF 2 guard (`tf.contrib.eager.Variable`),
    or None for TF 2 code."""
    if not (_MULTI_BACKEND_MARKER.search(text)
            or "tensorflow" in text and _MARKERS.search(text)):  # the other names are imported from `tensorflow`
        return None
    return _first_unguarded(module, imports, _removed)


# TF 2's own copy of Keras 2's TF 1.x API (`tf.compat.v1.keras.layers.CuDNNLSTM`): gone with Keras 3, where
# `tf.compat.v1.keras` has no such layers. A module that uses it unguarded runs on Keras 2 only.
_KERAS2_ONLY = ("tensorflow.compat.v1.keras.",)
# So is what `tf.keras` had only in Keras 2 (measured: none of these exists in TF 2.21's `tf.keras`): the
# feature-column layers (`DenseFeatures`), the `experimental` namespaces, the CuDNN layers, estimators.
# Imported at the top of a module, the module fails to import on Keras 3; read in a function, only the
# code that calls it needs Keras 2, and the module's other classes may run on Keras 3.
_KERAS2_ONLY_IMPORTED = ("tensorflow.keras.layers.DenseFeatures.", "tensorflow.keras.experimental.",
                         "tensorflow.keras.layers.experimental.", "tensorflow.keras.layers.CuDNNLSTM.",
                         "tensorflow.keras.layers.CuDNNGRU.", "tensorflow.keras.estimator.",
                         "tensorflow.keras.premade.", "tensorflow.keras.feature_column.")
_KERAS2_MARKER = re.compile(r"compat\.v1(?:\.| import )keras|DenseFeatures|experimental|CuDNN|estimator|premade"
                            r"|feature_column")


# TF 1.x's eager mode, switched on by the module (`tf.enable_eager_execution()`, `tf.contrib.eager`):
# its layers run per call, as TF 2's do.
_EAGER = re.compile(r"enable_eager_execution|contrib\.eager|contrib import eager")


def graph_mode(tf1: Optional[str], text: str) -> bool:
    """TF 1.x code (`tf1`: the first TF 1.x-only name it uses) that builds a graph: a layer's `call`
    runs once, on placeholders or an estimator's features, and what it makes there are graph nodes
    whose variables TF 1.x's optimizers train (`tf.trainable_variables()`)."""
    return tf1 is not None and not _EAGER.search(text)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    """`name`, as read (`a.b`) or as imported (`a.b.`), is one of `prefixes` (`"a.b."`) or inside one."""
    return f"{name.rstrip('.')}.".startswith(prefixes)


def keras2_only(name: str) -> bool:
    """`name` (dotted, as imported) exists only in Keras 2."""
    return _under(name, _KERAS2_ONLY + _KERAS2_ONLY_IMPORTED)


def keras2_api(module: cst.Module, imports: ImportMap, text: str) -> Optional[str]:
    """The first Keras 2-only name a TF 2 module uses on every path (outside any guard or `if`: under
    `if args.cell == "LSTM":` the other branch still runs on Keras 3), or None: `tf.compat.v1.keras`
    anywhere, the names only Keras 2's `tf.keras` had where the module imports them at its top."""
    if not _KERAS2_MARKER.search(text):
        return None
    found = _first_unguarded(module, imports, lambda name: _under(name, _KERAS2_ONLY), branches=True)
    if found is not None:
        return found
    guarded = _guarded_nodes(module)
    for statement in module.body:
        for node in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
            if isinstance(node, (cst.Import, cst.ImportFrom)) and id(statement) not in guarded:
                name = _imported(node, keras2_only)
                if name is not None:
                    return name
    return None


def _first_unguarded(module: cst.Module, imports: ImportMap, wanted: Callable[[str], bool],
                     branches: bool = False) -> Optional[str]:
    """The first name the module imports or reads outside a TF 2 guard (with `branches`, outside any
    `if` too) that `wanted` accepts."""
    guarded = _guarded_nodes(module)
    if branches:
        guarded |= {id(node) for node in _all_statements(module) if isinstance(node, cst.If)}
    shims = _names_imported_under(module, guarded)
    for node in _unguarded(module, guarded):
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            name = _imported(node, wanted)
        elif isinstance(node, cst.Attribute):
            name = _raw_resolve(node, imports, shims)
        else:
            continue
        if name is not None and wanted(name):
            return name
    return None


def _removed(name: str) -> bool:
    head, _, rest = name.partition(".")
    # `keras.engine.InputSpec` as read (an attribute) or as imported (`keras.engine.InputSpec.`)
    multi_backend = _under(name, _MULTI_BACKEND_KERAS)
    return (name in _REMOVED or name.startswith(_REMOVED_PACKAGES) or multi_backend
            or bool(_TF1_OPTIMIZER.match(name))
            or (head == "tensorflow" and rest.split(".", 1)[0] in TF1_ONLY))


def _raw_resolve(node: cst.Attribute, imports: ImportMap, shims: set[str]) -> Optional[str]:
    """The imported dotted name, before `imports.canonical` folds `tfe.Variable` into `tf.Variable`;
    None for a name a guarded import binds (`tfe`, which the guard rebinds on TF 2)."""
    name = dotted_name(node)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    full = None if head in shims else imports.bindings.get(head)
    return None if full is None else f"{full}.{rest}"


def _imported(node: cst.Import | cst.ImportFrom, wanted: Callable[[str], bool]) -> Optional[str]:
    if isinstance(node, cst.Import):
        names = [dotted_name(alias.name) for alias in node.names]
        return next((f"{n}." for n in names if n is not None and wanted(f"{n}.")), None)
    if node.relative or node.module is None:
        return None
    base = dotted_name(node.module)
    if base is None:
        return None
    names = [] if isinstance(node.names, cst.ImportStar) else [dotted_name(alias.name) for alias in node.names]
    candidates = [f"{base}.", *(f"{base}.{name}." for name in names if name is not None)]
    return next((name for name in candidates if wanted(name)), None)


def _guarded_nodes(module: cst.Module) -> set[int]:
    """ids of the statements TF 2 code guards: `try` bodies that catch a missing module or
    attribute, `if` statements that test the version."""
    guarded: set[int] = set()
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Try) and any(_catches_missing(h) for h in node.handlers):
            guarded.add(id(node))
        elif isinstance(node, cst.If) and _VERSION_TEST.search(cst.Module([]).code_for_node(node.test)):
            guarded.add(id(node))
        elif isinstance(node, (cst.BaseCompoundStatement, cst.Module, cst.IndentedBlock, cst.Else)):
            stack.extend(child_nodes(node))
    return guarded


def _names_imported_under(module: cst.Module, guarded: set[int]) -> set[str]:
    """The local names import statements under a TF 2 guard bind."""
    names: set[str] = set()
    for guard in (n for n in _all_statements(module) if id(n) in guarded):
        for node in _all_statements(guard):
            if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
                for alias in node.names:
                    bound = alias.asname.name if alias.asname is not None else alias.name
                    name = dotted_name(bound) if isinstance(bound, (cst.Name, cst.Attribute)) else None
                    if name is not None:
                        names.add(name.split(".")[0])
    return names


def _all_statements(root: cst.CSTNode):
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, cst.BaseExpression):
            stack.extend(child_nodes(node))


def _catches_missing(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
    return any((dotted_name(t.value if isinstance(t, cst.Element) else t) or "").rsplit(".", 1)[-1]
               in _GUARD_ERRORS for t in types)


def _unguarded(module: cst.Module, guarded: set[int]):
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if id(node) in guarded:
            continue
        yield node
        stack.extend(child_nodes(node))
