"""A `tf.Variable(...)` as the `self.add_weight(...)` that Keras tracks.

The initial value becomes an initializer with the same distribution and the
shape becomes `shape=`: `tf.random.normal((a, b), mean, stddev)` ->
`shape=(a, b), initializer=RandomNormal(mean=..., stddev=...)` (Keras's
defaults differ from `tf.random`'s, so every parameter is spelled out),
`tf.zeros`/`tf.ones` -> "zeros"/"ones", `tf.fill`/`tf.constant(v, shape=)` and
literals -> `Constant(v)`, `init(shape)` of an initializer -> that initializer.
Where the shape cannot be read from the code there is no fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap
from tfgradfix.fixes.edits import keyword_arg
from tfgradfix.fixes.literals import is_integer_literal, is_numeric_literal
from tfgradfix.fixes.numpy_to_tf import bind


@dataclass(frozen=True)
class Weight:
    shape: cst.BaseExpression
    initializer: cst.BaseExpression
    dtype: Optional[cst.BaseExpression]
    trainable: Optional[cst.BaseExpression]
    name: Optional[cst.BaseExpression]
    # `initial = tf.convert_to_tensor(<value>)`, to run before the add_weight when the
    # initializer is the original value itself (its shape is not in the code).
    prelude: Optional[cst.SimpleStatementLine] = None

    def add_weight(self, owner: str = "self") -> cst.Call:
        keywords = [("name", self.name), ("shape", self.shape), ("initializer", self.initializer),
                    ("trainable", self.trainable), ("dtype", self.dtype)]
        return cst.Call(
            func=cst.parse_expression(f"{owner}.add_weight"),
            args=[keyword_arg(k, v) for k, v in keywords if v is not None],
        )


def _float(text: str) -> cst.Float:
    return cst.Float(text)


def _literal_shape(expr: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    if isinstance(expr, (cst.Integer, cst.Float)) or (
            isinstance(expr, cst.UnaryOperation) and is_numeric_literal(expr)):
        return cst.Tuple([])
    if isinstance(expr, (cst.List, cst.Tuple)) and is_numeric_literal(expr):
        dims = []
        level = expr
        while isinstance(level, (cst.List, cst.Tuple)):
            dims.append(len(level.elements))
            level = level.elements[0].value
        return cst.parse_expression("(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")")
    return None


# tf.random.<f>(shape, a, b) -> the Keras initializer with the same distribution. Keras's
# defaults (stddev 0.05, range +-0.05) differ from tf.random's (1.0, [0, 1)), so both
# parameters are always spelled out.
_DISTRIBUTIONS = {
    "random.normal": ("RandomNormal", "mean", "stddev"),
    "random.uniform": ("RandomUniform", "minval", "maxval"),
    "truncated_normal": ("TruncatedNormal", "mean", "stddev"),
}


class WeightTranslator:
    def __init__(self, imports: ImportMap) -> None:
        self.imports = imports
        keras = imports.alias_of("keras")
        tf = imports.alias_of("tensorflow") or "tf"
        self.initializers = f"{keras}.initializers" if keras else f"{tf}.keras.initializers"

    def _initializer(self, name: str, **values: cst.BaseExpression) -> cst.Call:
        return cst.Call(func=cst.parse_expression(f"{self.initializers}.{name}"),
                        args=[keyword_arg(k, v) for k, v in values.items()])

    def from_variable(self, call: cst.Call, initial: Optional[str] = None) -> Optional[Weight]:
        """The add_weight arguments equivalent to `tf.Variable(...)`, or None. With `initial`
        (a free local name), an initial value of unknown shape is kept as it is: computed once
        into `initial` by a prelude statement, which the initializer returns."""
        b = bind(call.args, ["initial_value", "trainable", "validate_shape", "caching_device", "name",
                             "variable_def", "dtype", "import_scope", "constraint", "synchronization",
                             "aggregation", "shape", "experimental_enable_variable_lifting"])
        if not b or "initial_value" not in b or set(b) - {"initial_value", "trainable", "name", "dtype"}:
            return None
        value = b["initial_value"]
        dtype = b.get("dtype")
        shaped = self._shape_and_initializer(value)
        if shaped is None:
            if initial is None:
                return None
            tf = self.imports.alias_of("tensorflow") or "tf"
            convert = cst.Call(cst.parse_expression(f"{tf}.convert_to_tensor"),
                               [cst.Arg(value), *([keyword_arg("dtype", dtype)] if dtype is not None else [])])
            prelude = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(initial))], convert)])
            return Weight(
                shape=cst.parse_expression(f"{initial}.shape"),
                initializer=cst.parse_expression(f"lambda shape, dtype=None: {initial}"),
                dtype=cst.parse_expression(f"{initial}.dtype"), trainable=b.get("trainable"),
                name=b.get("name"), prelude=prelude)
        shape, initializer = shaped
        if dtype is None and is_integer_literal(value):
            dtype = cst.SimpleString('"int32"')  # tf.Variable(3) is int32; add_weight's default is float
        return Weight(shape, initializer, dtype, b.get("trainable"), b.get("name"))

    def _shape_and_initializer(self, value: cst.BaseExpression):
        shape = _literal_shape(value)
        if shape is not None:
            return shape, self._initializer("Constant", value=value)
        if not isinstance(value, cst.Call):
            return None
        qualified = self.imports.resolve(value.func) or ""
        last = qualified.rsplit(".", 1)[-1] if qualified.startswith("tensorflow.") else ""
        tail = qualified[len("tensorflow."):] if qualified.startswith("tensorflow.") else ""
        distribution = next((d for key, d in _DISTRIBUTIONS.items() if tail == key or tail.endswith("." + key)), None)
        if distribution is not None:
            initializer, low, high = distribution
            b = bind(value.args, ["shape", low, high, "dtype", "seed", "name"])
            if b and "shape" in b and "dtype" not in b:
                return b["shape"], self._initializer(
                    initializer, **{low: b.get(low, _float("0.0")), high: b.get(high, _float("1.0"))},
                    **({"seed": b["seed"]} if "seed" in b else {}))
        if last in ("zeros", "ones") and qualified.count(".") == 1:
            b = bind(value.args, ["shape", "dtype", "name"])
            if b and "shape" in b and "dtype" not in b:
                return b["shape"], cst.SimpleString(f'"{last}"')
        if last == "fill" and qualified.count(".") == 1:
            b = bind(value.args, ["dims", "value", "name"])
            if b and "dims" in b and "value" in b and is_numeric_literal(b["value"]):
                return b["dims"], self._initializer("Constant", value=b["value"])
        if last == "constant" and qualified.count(".") == 1:
            b = bind(value.args, ["value", "dtype", "shape", "name"])
            if b and "value" in b and "dtype" not in b and is_numeric_literal(b["value"]):
                shape = b.get("shape") or _literal_shape(b["value"])
                if shape is not None:
                    return shape, self._initializer("Constant", value=b["value"])
        if isinstance(value.func, cst.Call) and self._is_initializer(value.func):
            b = bind(value.args, ["shape", "dtype"])
            if b and "shape" in b and "dtype" not in b:
                return b["shape"], value.func
        return None

    def _is_initializer(self, call: cst.Call) -> bool:
        qualified = self.imports.resolve(call.func) or ""
        return ".initializers." in qualified or qualified.endswith("_initializer")
