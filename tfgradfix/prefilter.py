"""The prefilter: which files may hold a gradient path, from their text and the project
index's `ast` reading, before any LibCST parse (docs/architecture.md, "Prefilter and slices")."""

from __future__ import annotations

import re
from typing import Optional

from tfgradfix.analysis.project import ProjectIndex, index_module
from tfgradfix.files import SourceFile

# Only files that mention TensorFlow or Keras can hold a gradient path.
_FRAMEWORK_MARKERS = ("tensorflow", "keras")
_KERAS_CLASS_MARKERS = ("Layer", "Model", "Sequential", "layers.")
# A `# noqa` naming one of this tool's codes (TGF901 judges it in every file).
STALE_NOQA = re.compile(r"#\s*noqa\s*:[^\n]*TGF[0-9]", re.IGNORECASE)
# Functions handed to Keras to run on tensors: `Lambda(fn)`, `compile(loss=fn)`,
# `opt.minimize(loss_fn, var_list)`.
_HANDED_FUNCTION_MARKERS = ("Lambda(", "loss=", ".minimize(")


def may_have_path(source: SourceFile, project: Optional[ProjectIndex], module_name: Optional[str],
                  triggers: tuple[str, ...]) -> bool:
    """The prefilter. With the project index: a module the gradient path of another
    module calls into, or with a Keras class (through bases in other modules) defining
    a forward method, or that passes the `ast` gate of the index's parse (taken once,
    in the index)."""
    text = source.text
    if module_name is None or project is None:
        return may_match(text, triggers) and ast_gate(text)
    if project.entries_of(module_name):
        return any(t in text for t in triggers)
    info = project.module_info(module_name)
    if info is None or source.from_stdin or not info.parsed:
        return may_match(text, triggers) and ast_gate(text)
    has_path = (has_markers(text) and project.gate(module_name)) or project.defines_keras_forward(module_name)
    # A path that calls into other project modules matters to them, whatever this file mentions.
    return has_path and (any(t in text for t in triggers) or project.calls_marked(module_name))


def may_match(text: str, triggers: tuple[str, ...]) -> bool:
    """A gradient path needs TensorFlow or Keras, and a tape or a Keras class."""
    return has_markers(text) and any(t in text for t in triggers)


def has_markers(text: str) -> bool:
    """TensorFlow or Keras, and a tape, a function handed to Keras/TF, or a Keras class."""
    return any(m in text for m in _FRAMEWORK_MARKERS) and (
        "GradientTape" in text or any(m in text for m in _HANDED_FUNCTION_MARKERS)
        or ("class " in text and any(m in text for m in _KERAS_CLASS_MARKERS)))


def ast_gate(text: str) -> bool:
    """The second, cheap tier of the prefilter for a file read alone (Python's `ast` costs a
    tenth of LibCST's parse): the project index's gate for this one module, with no project
    to resolve its bases: a tape, a Lambda layer, a loss function handed to `compile`, or a
    class with a Keras-looking base (a subclass of a Keras class of this module needs that
    class), in code rather than in a docstring or comment. A file `ast` cannot parse goes on to LibCST, which names the error."""
    info = index_module("<gate>", "<gate>", text)
    if not info.parsed:
        # Only Lambda(...) or loss=... in a file even `ast` cannot read: not worth an error.
        return "GradientTape" in text or "class " in text
    return info.starts_path or bool(info.keras_looking)
