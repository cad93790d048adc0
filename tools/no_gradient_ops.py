"""Regenerate `tfgradfix/analysis/no_gradient_ops.py`: the public TensorFlow functions whose
result carries no gradient back to a floating-point input.

Run with the TensorFlow the data should describe:

    python tools/no_gradient_ops.py > tfgradfix/analysis/no_gradient_ops.py

Each public function of the numeric namespaces is built, in a graph (nothing runs), on a
float tensor, `f(x)` and then `f(x, x)`, on a matrix and then (for functions that take only
vectors: `tf.math.confusion_matrix(labels, predictions)`, a composite that casts its
inputs to integers) on a vector; TensorFlow's own gradient machinery
(`tf.gradients`, which reads the registry that `RegisterGradient` and
`ops.NotDifferentiable` fill) says whether the result depends differentiably on `x`. A
function is listed when the answer is "no gradient" (None), with the op that produced its
result and why: the op is registered `NotDifferentiable`, its registered gradient returns
None, or the result is an integer or boolean tensor (indices, counts, comparisons). Ops with
no gradient function at all are not listed: TensorFlow raises on them instead of returning
None. Static analysis only reads the generated data; it never imports TensorFlow.
"""

from __future__ import annotations

import inspect
import sys
import warnings

NAMESPACES = ("", "math", "nn", "linalg", "signal", "image", "random")
# Functions whose gradient depends on how they are called: listed by hand, or not at all.
EXCLUDED = {
    "where": "`tf.where(c)` returns coordinates, `tf.where(c, x, y)` selects values and is differentiable",
    "stop_gradient": "TGF301's business: it exists to stop gradients",
    "cast": "TGF302 handles casts by their dtype",
    "shape": "static metadata, never on a gradient path",
    "shape_n": "static metadata", "size": "static metadata", "rank": "static metadata",
    "zeros_like": "a constant of the input's shape", "ones_like": "a constant of the input's shape",
    "angle": "constant for real inputs, differentiable for complex ones",
    "imag": "zero for real inputs, differentiable for complex ones",
}


def not_differentiable_registrations(ops) -> set[str]:
    return {op_type for op_type, entry in ops._gradient_registry._registry.items() if entry["type"] is None}


def public_functions(tf) -> dict[int, tuple[object, list[str]]]:
    """id -> (function, every public name it has in the namespaces)."""
    found: dict[int, tuple[object, list[str]]] = {}
    for namespace in NAMESPACES:
        module = tf
        for part in filter(None, namespace.split(".")):
            module = getattr(module, part)
        for name in sorted(dir(module)):
            if name.startswith("_") or name in EXCLUDED:
                continue
            function = getattr(module, name)
            if inspect.isfunction(function):
                qualified = ".".join(filter(None, ("tensorflow", namespace, name)))
                found.setdefault(id(function), (function, []))[1].append(qualified)
    return found


def classify(tf, function, registered_none: set[str]):
    """(op type, reason) when `function(x)` or `function(x, x)` has no gradient for x."""
    for shape, arity in (((4, 4), 1), ((4, 4), 2), ((4,), 1), ((4,), 2)):
        with tf.Graph().as_default():
            x = tf.compat.v1.placeholder(tf.float32, shape=shape)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = function(*([x] * arity))
            except Exception:
                continue
            if not isinstance(out, tf.Tensor) or out.op.type == "Placeholder":
                return None
            integer = not (out.dtype.is_floating or out.dtype.is_complex)
            try:
                gradient = tf.gradients(tf.cast(out, tf.float32) if integer else out, x)[0]
            except (LookupError, ValueError, TypeError):
                return None  # no gradient function: TensorFlow raises rather than returning None
            if gradient is not None:
                return None
            op = out.op.type
            if op in registered_none:
                return op, "registered NotDifferentiable"
            if integer:
                return op, "integer or boolean result"
            return op, "gradient registered as None"
    return None


def generate() -> dict[str, tuple[str, str]]:
    """qualified name -> (op type, reason), from the installed TensorFlow."""
    import tensorflow as tf
    from tensorflow.python.framework import ops

    registered_none = not_differentiable_registrations(ops)
    rows = {}
    for function, names in public_functions(tf).values():
        found = classify(tf, function, registered_none)
        if found is not None:
            for name in names:
                rows[name] = found
    return rows


def main() -> None:
    import tensorflow as tf

    rows = generate()
    out = sys.stdout
    out.write('"""Public TensorFlow functions whose result carries no gradient to a float input.\n\n'
              f"Generated by tools/no_gradient_ops.py from TensorFlow {tf.__version__}; do not edit.\n"
              "tests/test_no_gradient_ops.py checks it against the installed TensorFlow.\n"
              '"""\n\n')
    out.write("# qualified name -> (the op that makes the result, why it has no gradient)\n")
    out.write("NO_GRADIENT: dict[str, tuple[str, str]] = {\n")
    for name in sorted(rows):
        op, reason = rows[name]
        out.write(f"    {name!r}: ({op!r}, {reason!r}),\n")
    out.write("}\n")


if __name__ == "__main__":
    main()
