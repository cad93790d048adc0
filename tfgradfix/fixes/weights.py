"""A `tf.Variable(...)` as the `self.add_weight(...)` that Keras tracks.

The initial value becomes an initializer with the same distribution and the
shape becomes `shape=`: `tf.random.normal((a, b), mean, stddev)` ->
`shape=(a, b), initializer=RandomNormal(mean=..., stddev=...)` (Keras's
defaults differ from `tf.random`'s, so every parameter is spelled out),
`tf.zeros`/`tf.ones` -> "zeros"/"ones", `tf.fill`/`tf.constant(v, shape=)`, `tf.ones(s) * c`
and literals -> `Constant(v)`, `init(shape, dtype)` of an initializer -> that initializer
(`w_init = tf.random_normal_initializer()` ... `w_init(shape=s)` -> `initializer=w_init`;
`tf.zeros_initializer()(s)` -> "zeros"). A value whose shape the code does not say (a
NumPy array, a tensor from elsewhere) is converted once and named:
`initial = tf.convert_to_tensor(v)`, `shape=initial.shape, initializer=Constant(initial)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap, dotted_name
from tfgradfix.fixes.edits import keyword_arg
from tfgradfix.fixes.literals import as_floats, is_integer_literal, is_numeric_literal, literal_int
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


# Initializer objects whose Keras name is a string: `tf.zeros_initializer()(shape)` -> "zeros".
_NAMED_INITIALIZERS = {"zeros_initializer": "zeros", "ones_initializer": "ones", "Zeros": "zeros", "Ones": "ones"}


class WeightTranslator:
    """`values` maps names bound exactly once to their value: the locals of the variable's
    function (`w_init` -> `tf.random_normal_initializer()`) and the layer's attributes
    (`self.init` -> `initializers.get(init)`). With `portable`, the weight moves to another
    function (`build`), so it may not refer to those locals: an initializer held by a local
    is written out instead of named (an attribute is still there)."""

    def __init__(self, imports: ImportMap, values: Optional[Mapping[str, cst.BaseExpression]] = None,
                 portable: bool = False) -> None:
        self.imports = imports
        self.values = values or {}
        self.portable = portable
        keras = imports.alias_of("keras")
        tf = imports.alias_of("tensorflow") or "tf"
        self.initializers = f"{keras}.initializers" if keras else f"{tf}.keras.initializers"

    def _initializer(self, name: str, **values: cst.BaseExpression) -> cst.Call:
        return cst.Call(func=cst.parse_expression(f"{self.initializers}.{name}"),
                        args=[keyword_arg(k, v) for k, v in values.items()])

    def from_variable(self, call: cst.Call, initial: Optional[str] = None) -> Optional[Weight]:
        """The add_weight arguments equivalent to `tf.Variable(...)`, or None. With `initial`
        (a free local name), an initial value of unknown shape is converted once into
        `initial` by a prelude statement, and the weight is `Constant(initial)` of its shape."""
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
            if dtype is None and self._is_tensor_op(value):
                convert = value  # already a tensor: its shape and dtype are there
            else:
                tf = self.imports.alias_of("tensorflow") or "tf"
                convert = cst.Call(cst.parse_expression(f"{tf}.convert_to_tensor"),
                                   [cst.Arg(value), *([keyword_arg("dtype", dtype)] if dtype is not None else [])])
            prelude = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(initial))], convert)])
            return Weight(
                shape=cst.parse_expression(f"{initial}.shape"),
                initializer=self._initializer("Constant", value=cst.Name(initial)),
                dtype=cst.parse_expression(f"{initial}.dtype"), trainable=b.get("trainable"),
                name=b.get("name"), prelude=prelude)
        shape, initializer, value_dtype = shaped
        if dtype is not None and is_integer_literal(value) and self.imports.dtype_name(dtype).startswith(
                ("float", "bfloat", "half", "double")):
            # the dtype casts the literal: `tf.Variable(0, dtype=tf.float32)` is 0.0
            initializer = (cst.SimpleString('"zeros"') if literal_int(value) == 0
                           else self._initializer("Constant", value=as_floats(value)))
        if dtype is None:
            dtype = value_dtype
        if dtype is None and is_integer_literal(value):
            dtype = cst.SimpleString('"int32"')  # tf.Variable(3) is int32; add_weight's default is float
        return Weight(shape, initializer, dtype, b.get("trainable"), b.get("name"))

    def _shape_and_initializer(self, value: cst.BaseExpression):
        """(shape, initializer, dtype or None) of an initial value, or None."""
        shape = _literal_shape(value)
        if shape is not None:
            return shape, self._initializer("Constant", value=value), None
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Multiply) and not value.lpar:
            return self._scaled(value)
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
                    **({"seed": b["seed"]} if "seed" in b else {})), None
        if last in ("zeros", "ones") and qualified.count(".") == 1:
            b = bind(value.args, ["shape", "dtype", "name"])
            if b and "shape" in b and "dtype" not in b:
                return b["shape"], cst.SimpleString(f'"{last}"'), None
        if last == "fill" and qualified.count(".") == 1:
            b = bind(value.args, ["dims", "value", "name"])
            if b and "dims" in b and "value" in b and is_numeric_literal(b["value"]):
                return b["dims"], self._initializer("Constant", value=b["value"]), None
        if last == "constant" and qualified.count(".") == 1:
            b = bind(value.args, ["value", "dtype", "shape", "name"])
            if b and "value" in b and "dtype" not in b and is_numeric_literal(b["value"]):
                shape = b.get("shape") or _literal_shape(b["value"])
                if shape is not None:
                    return shape, self._initializer("Constant", value=b["value"]), None
        initializer = self._initializer_object(value.func)
        if initializer is not None:
            b = bind(value.args, ["shape", "dtype"])
            if b and "shape" in b:
                return b["shape"], initializer, b.get("dtype")
        return None

    def _scaled(self, product: cst.BinaryOperation):
        """`tf.ones(s) * c` -> Constant(c), `tf.zeros(s) * c` -> "zeros",
        `tf.random.normal(s) * c` (mean 0, stddev 1) -> RandomNormal(stddev=c)."""
        for factor, other in ((product.right, product.left), (product.left, product.right)):
            if not (isinstance(factor, (cst.Integer, cst.Float)) and is_numeric_literal(factor)):
                continue
            shaped = self._shape_and_initializer(other)
            if shaped is None or shaped[2] is not None:
                return None
            shape, initializer, _ = shaped
            if isinstance(initializer, cst.SimpleString):
                if initializer.value == '"zeros"':
                    return shape, initializer, None
                return shape, self._initializer("Constant", value=factor), None
            if not (isinstance(other, cst.Call) and isinstance(initializer, cst.Call)):
                return None
            name = (dotted_name(initializer.func) or "").rsplit(".", 1)[-1]
            given = bind(other.args, ["shape", "mean", "stddev", "dtype", "seed", "name"]) or {}
            if name in ("RandomNormal", "TruncatedNormal") and not {"mean", "stddev"} & set(given):
                return shape, self._initializer(name, mean=_float("0.0"), stddev=factor,
                                                **({"seed": given["seed"]} if "seed" in given else {})), None
            return None
        return None

    def _initializer_object(self, func: cst.BaseExpression) -> Optional[cst.BaseExpression]:
        """The initializer that `func(shape)` calls, as add_weight takes it, or None."""
        name = dotted_name(func)
        held = self.values.get(name) if name is not None else None
        constructor = held if held is not None else func
        if not (isinstance(constructor, cst.Call) and self._is_initializer(constructor)):
            return None
        if held is not None and (not self.portable or name.startswith("self.")):
            return func  # the author's name for it
        qualified = self.imports.resolve(constructor.func) or ""
        named = _NAMED_INITIALIZERS.get(qualified.rsplit(".", 1)[-1])
        if named is not None and not constructor.args:
            return cst.SimpleString(f'"{named}"')
        return constructor

    def _is_tensor_op(self, value: cst.BaseExpression) -> bool:
        """`tf.cast(...)`, `tf.linalg.eye(...)`: a TF op, whose result is a tensor."""
        if not isinstance(value, cst.Call):
            return False
        qualified = self.imports.resolve(value.func) or ""
        last = qualified.rsplit(".", 1)[-1]
        return (qualified.startswith("tensorflow.") and last[:1].islower() and ".keras." not in qualified
                and not last.endswith("_initializer"))

    def _is_initializer(self, call: cst.Call) -> bool:
        qualified = self.imports.resolve(call.func) or ""
        return ".initializers." in qualified or qualified.endswith("_initializer")
