"""NumPy calls and ndarray methods as TensorFlow ops with the same semantics.

Every translation here gives NumPy's values, shapes, dtypes for float inputs, a
gradient, and works in graph mode (docs/architecture.md, "NumPy to TF translations";
`tests/test_translations.py` runs each). Where identity depends
on a rank or an argument that the source does not show, the translation uses a
rank-generic exact form or the NumPy-compatible fallback namespace
(`keras.ops` in Keras 3 code, else `tf.experimental.numpy`), or gives up:
`None` means "flag, do not fix".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import libcst as cst

from tfgradfix.fixes.edits import keyword_arg, parenthesized
from tfgradfix.fixes.literals import literal_int, literal_int_tuple

RankOf = Callable[[cst.BaseExpression], Optional[int]]

_NO_DEFAULT = object()


class NoSpelling(Exception):
    """The target has no exact spelling of this TF op (`keras.ops` has none for it)."""


# TF ops the translations write, as `keras.ops` spells them (Keras 3 code that does not
# import TensorFlow, see fixes/backend.py): the same values, shapes and gradients for float
# inputs under the TensorFlow backend (tests/test_translations.py runs each one). An op
# missing here has no fix in such a module.
KERAS_OPS = {
    "tf.exp": "exp", "tf.math.log": "log", "tf.math.log1p": "log1p", "tf.math.expm1": "expm1",
    "tf.sqrt": "sqrt", "tf.square": "square", "tf.abs": "abs", "tf.tanh": "tanh", "tf.sin": "sin",
    "tf.cos": "cos", "tf.tan": "tan", "tf.sinh": "sinh", "tf.cosh": "cosh", "tf.atan": "arctan",
    "tf.asin": "arcsin", "tf.acos": "arccos", "tf.sign": "sign", "tf.floor": "floor", "tf.math.ceil": "ceil",
    "tf.negative": "negative", "tf.math.reciprocal": "reciprocal", "tf.math.rint": "round", "tf.round": "round",
    "tf.reduce_sum": "sum", "tf.reduce_mean": "mean", "tf.reduce_max": "max", "tf.reduce_min": "min",
    "tf.reduce_prod": "prod", "tf.math.reduce_std": "std", "tf.math.reduce_variance": "var",
    "tf.maximum": "maximum", "tf.minimum": "minimum", "tf.matmul": "matmul", "tf.tensordot": "tensordot",
    "tf.einsum": "einsum", "tf.norm": "norm", "tf.concat": "concatenate", "tf.stack": "stack",
    "tf.reshape": "reshape", "tf.transpose": "transpose", "tf.expand_dims": "expand_dims",
    "tf.squeeze": "squeeze", "tf.tile": "tile", "tf.zeros_like": "zeros_like", "tf.ones_like": "ones_like",
    "tf.where": "where", "tf.math.cumsum": "cumsum", "tf.argmax": "argmax", "tf.argmin": "argmin",
    "tf.cast": "cast",
}
# Keywords `keras.ops` names differently.
_KERAS_KEYWORDS = {"tf.transpose": {"perm": "axes"}}


@dataclass(frozen=True)
class Target:
    """How the translation spells TensorFlow: `tf` alias and the fallback namespace. With
    `tf` None the module may not write TensorFlow (fixes/backend.py) and `fallback` is its
    `keras.ops`: every op is written there (`KERAS_OPS`), dtypes as strings."""

    tf: Optional[str] = "tf"
    fallback: str = "tf.experimental.numpy"

    def name(self, dotted: str) -> cst.BaseExpression:
        if self.tf is None and not self.fallback:
            raise NoSpelling(dotted)  # the module may write no framework at all
        if not dotted.startswith("tf."):
            return cst.parse_expression(dotted)
        if self.tf is None:
            ops = KERAS_OPS.get(dotted)
            if ops is None:
                raise NoSpelling(dotted)
            return cst.parse_expression(f"{self.fallback}.{ops}")
        return cst.parse_expression(dotted.replace("tf.", f"{self.tf}.", 1))

    def dtype(self, name: str) -> cst.BaseExpression:
        """A dtype by its name (`float32`): `tf.float32`, or `"float32"` for `keras.ops`."""
        return cst.SimpleString(f'"{name}"') if self.tf is None else self.name(f"tf.{name}")

    def keyword(self, function: str, keyword: str) -> str:
        return _KERAS_KEYWORDS.get(function, {}).get(keyword, keyword) if self.tf is None else keyword


def _bare(expr: cst.BaseExpression) -> cst.BaseExpression:
    """An argument needs no parentheses of its own (tuples and generator expressions keep them)."""
    if expr.lpar and not isinstance(expr, (cst.GeneratorExp, cst.Tuple)):
        return expr.with_changes(lpar=[], rpar=[])
    return expr


def call(target: Target, function: str, *args: cst.BaseExpression, **keywords: cst.BaseExpression) -> cst.Call:
    arguments = [cst.Arg(value=_bare(a)) for a in args]
    arguments += [keyword_arg(target.keyword(function, k), _bare(v)) for k, v in keywords.items()]
    return cst.Call(func=target.name(function), args=arguments)


def operand(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`expr` as an operand of a binary operator, parenthesized where needed."""
    if expr.lpar or isinstance(expr, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer,
                                      cst.Float, cst.SimpleString, cst.List, cst.Dict)):
        return expr
    return parenthesized(expr)


def binary(left: cst.BaseExpression, operator: cst.BaseBinaryOp, right: cst.BaseExpression) -> cst.BaseExpression:
    return parenthesized(cst.BinaryOperation(left=operand(left), operator=operator, right=operand(right)))


def is_none(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def int_list(values: Sequence[int]) -> cst.BaseExpression:
    return cst.parse_expression("[" + ", ".join(str(v) for v in values) + "]")


def bind(args: Sequence[cst.Arg], params: Sequence[str], defaults: dict[str, object] | None = None
         ) -> Optional[dict[str, cst.BaseExpression]]:
    """Bind call arguments to NumPy's parameter names; None for anything we do
    not model (unknown keywords, `*args`, too many arguments)."""
    bound: dict[str, cst.BaseExpression] = {}
    positional = 0
    for arg in args:
        if arg.star:
            return None
        if arg.keyword is None:
            if positional >= len(params):
                return None
            bound[params[positional]] = arg.value
            positional += 1
        else:
            name = arg.keyword.value
            if name not in params or name in bound:
                return None
            bound[name] = arg.value
    for name, default in (defaults or {}).items():
        if name in bound and default is None and is_none(bound[name]):
            del bound[name]
    return bound


# NumPy dtypes spelled as TF dtypes (np.float32 -> tf.float32).
NUMPY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64", "bool", "complex64", "complex128", "bfloat16"}
_BUILTIN_DTYPES = {"float": "float64", "int": "int64", "bool": "bool", "complex": "complex128"}


def tf_dtype(expr: cst.BaseExpression, numpy_name: Callable[[cst.BaseExpression], Optional[str]],
             target: Target) -> cst.BaseExpression:
    qualified = numpy_name(expr)
    if qualified in NUMPY_DTYPES:
        return target.dtype(qualified)
    if qualified == "bool_":
        return target.dtype("bool")
    if isinstance(expr, cst.Name) and expr.value in _BUILTIN_DTYPES:
        return target.dtype(_BUILTIN_DTYPES[expr.value])
    return expr


_UNARY = {
    "exp": "tf.exp", "log": "tf.math.log", "log1p": "tf.math.log1p", "expm1": "tf.math.expm1",
    "sqrt": "tf.sqrt", "square": "tf.square", "abs": "tf.abs", "absolute": "tf.abs",
    "tanh": "tf.tanh", "sin": "tf.sin", "cos": "tf.cos", "tan": "tf.tan", "sinh": "tf.sinh",
    "cosh": "tf.cosh", "arctan": "tf.atan", "arcsin": "tf.asin", "arccos": "tf.acos",
    "sign": "tf.sign", "floor": "tf.floor", "ceil": "tf.math.ceil", "negative": "tf.negative",
    "reciprocal": "tf.math.reciprocal", "rint": "tf.math.rint",
}
_REDUCTIONS = {
    "sum": "tf.reduce_sum", "mean": "tf.reduce_mean", "max": "tf.reduce_max", "amax": "tf.reduce_max",
    "min": "tf.reduce_min", "amin": "tf.reduce_min", "prod": "tf.reduce_prod",
}
_MOMENTS = {"std": "tf.math.reduce_std", "var": "tf.math.reduce_variance"}
_OPERATORS: dict[str, Callable[[], cst.BaseBinaryOp]] = {
    "add": cst.Add, "subtract": cst.Subtract, "multiply": cst.Multiply, "divide": cst.Divide,
    "true_divide": cst.Divide, "floor_divide": cst.FloorDivide, "power": cst.Power, "mod": cst.Modulo,
    "remainder": cst.Modulo,
}
_ELEMENTWISE_BINARY = {"maximum": "tf.maximum", "minimum": "tf.minimum"}


class Translator:
    """Translates one NumPy call (by its name inside `numpy`) into TF."""

    def __init__(self, target: Target, rank_of: RankOf,
                 numpy_name: Callable[[cst.BaseExpression], Optional[str]]) -> None:
        self.t = target
        self.rank_of = rank_of
        # The name inside `numpy` that an expression refers to (`np.float32` -> "float32").
        self.numpy_name = numpy_name

    def translate(self, function: str, args: Sequence[cst.Arg]) -> Optional[cst.BaseExpression]:
        try:
            return self._translate(function, args)
        except NoSpelling:
            return None

    def _translate(self, function: str, args: Sequence[cst.Arg]) -> Optional[cst.BaseExpression]:
        t = self.t
        if function in _UNARY:
            b = bind(args, ["x"])
            return call(t, _UNARY[function], b["x"]) if b and "x" in b else None
        if function in _REDUCTIONS:
            b = bind(args, ["a", "axis", "dtype", "out", "keepdims"], {"axis": None, "dtype": None, "out": None})
            if not b or "a" not in b or "dtype" in b or "out" in b:
                return None
            return call(t, _REDUCTIONS[function], b["a"], **_pick(b, "axis", "keepdims"))
        if function in _MOMENTS:
            b = bind(args, ["a", "axis", "dtype", "out", "ddof", "keepdims"],
                     {"axis": None, "dtype": None, "out": None})
            if not b or "a" not in b or "dtype" in b or "out" in b:
                return None
            if "ddof" in b and literal_int(b["ddof"]) != 0:
                return None  # TF has no ddof: flag (docs/architecture.md, "NumPy to TF translations")
            return call(t, _MOMENTS[function], b["a"], **_pick(b, "axis", "keepdims"))
        if function in _OPERATORS:
            b = bind(args, ["x1", "x2"])
            if not b or len(b) != 2:
                return None
            return binary(b["x1"], _OPERATORS[function](), b["x2"])
        if function in _ELEMENTWISE_BINARY:
            b = bind(args, ["x1", "x2"])
            if not b or len(b) != 2:
                return None
            # A Python int first makes the op int32 in graph mode (docs/architecture.md, "NumPy to TF translations").
            first = b["x1"]
            if isinstance(first, cst.Integer):
                first = cst.Float(f"{first.evaluated_value}.0")
            return call(t, _ELEMENTWISE_BINARY[function], first, b["x2"])
        method = getattr(self, "_" + function.replace(".", "_"), None)
        return method(args) if method is not None else None

    # -- linear algebra --------------------------------------------------------

    def _dot(self, args):
        b = bind(args, ["a", "b"])
        if not b or len(b) != 2:
            return None
        ra, rb = self.rank_of(b["a"]), self.rank_of(b["b"])
        if ra == 2 and rb == 2:
            return call(self.t, "tf.matmul", b["a"], b["b"])
        if rb in (1, 2) and ra != 0:
            return call(self.t, "tf.tensordot", b["a"], b["b"], axes=cst.Integer("1"))
        return call(self.t, f"{self.t.fallback}.dot", b["a"], b["b"])

    def _matmul(self, args):
        b = bind(args, ["x1", "x2"])
        if not b or len(b) != 2:
            return None
        ra, rb = self.rank_of(b["x1"]), self.rank_of(b["x2"])
        if ra is not None and rb is not None and ra >= 2 and rb >= 2:
            return call(self.t, "tf.matmul", b["x1"], b["x2"])
        return call(self.t, f"{self.t.fallback}.matmul", b["x1"], b["x2"])

    def _tensordot(self, args):
        b = bind(args, ["a", "b", "axes"])
        if not b or "a" not in b or "b" not in b:
            return None
        return call(self.t, "tf.tensordot", b["a"], b["b"], axes=b.get("axes", cst.Integer("2")))

    def _einsum(self, args):
        if not args or not isinstance(args[0].value, (cst.SimpleString, cst.ConcatenatedString)):
            return None  # the sublist form has no TF spelling
        if any(a.keyword is not None or a.star for a in args):
            return None
        return call(self.t, "tf.einsum", *[a.value for a in args])

    def _inner(self, args):
        b = bind(args, ["a", "b"])
        if not b or len(b) != 2:
            return None
        return call(self.t, "tf.tensordot", b["a"], b["b"], axes=cst.parse_expression("[[-1], [-1]]"))

    def _outer(self, args):
        b = bind(args, ["a", "b"])
        if not b or len(b) != 2:
            return None
        a, c = b["a"], b["b"]
        if self.rank_of(a) != 1:
            a = call(self.t, "tf.reshape", a, int_list([-1]))
        if self.rank_of(c) != 1:
            c = call(self.t, "tf.reshape", c, int_list([-1]))
        return call(self.t, "tf.tensordot", a, c, axes=cst.Integer("0"))

    def _linalg_norm(self, args):
        b = bind(args, ["x", "ord", "axis", "keepdims"], {"ord": None, "axis": None})
        if not b or "x" not in b or "ord" in b:
            return None  # matrix ords differ silently without axis=[-2, -1]
        axis = b.get("axis")
        if axis is not None and literal_int(axis) is None:
            return None  # a 2-tuple axis means a matrix norm
        if axis is None and self.t.tf is None:
            return None  # keras.ops.norm takes a rank-3 input without an axis as a matrix stack: it raises
        return call(self.t, "tf.norm", b["x"], **_pick(b, "axis", "keepdims"))

    # -- shape manipulation ----------------------------------------------------

    def _concatenate(self, args):
        b = bind(args, ["arrays", "axis"])
        if not b or "arrays" not in b:
            return None
        axis = b.get("axis", cst.Integer("0"))
        if is_none(axis):
            return None
        return call(self.t, "tf.concat", b["arrays"], axis=axis)

    def _stack(self, args):
        b = bind(args, ["arrays", "axis"])
        if not b or "arrays" not in b:
            return None
        return call(self.t, "tf.stack", b["arrays"], axis=b.get("axis", cst.Integer("0")))

    def _reshape(self, args):
        b = bind(args, ["a", "shape", "order", "newshape"])
        if not b or "a" not in b:
            return None
        if "order" in b and not (isinstance(b["order"], cst.SimpleString) and b["order"].evaluated_value == "C"):
            return None
        shape = b.get("shape", b.get("newshape"))
        if shape is None:
            return None
        return call(self.t, "tf.reshape", b["a"], shape)

    def _transpose(self, args):
        b = bind(args, ["a", "axes"], {"axes": None})
        if not b or "a" not in b:
            return None
        if "axes" not in b:
            return call(self.t, "tf.transpose", b["a"])
        axes = literal_int_tuple(b["axes"])
        if axes is None:
            return None  # a negative perm breaks the gradient; only literal axes are normalised
        return call(self.t, "tf.transpose", b["a"], perm=int_list([a % len(axes) for a in axes]))

    def _expand_dims(self, args):
        b = bind(args, ["a", "axis"])
        if not b or len(b) != 2:
            return None
        if literal_int(b["axis"]) is not None or isinstance(b["axis"], cst.Name):
            return call(self.t, "tf.expand_dims", b["a"], axis=b["axis"])
        axes = literal_int_tuple(b["axis"])
        if axes is None or any(a < 0 for a in axes):
            return None
        result = b["a"]
        for axis in sorted(axes):
            result = call(self.t, "tf.expand_dims", result, axis=cst.Integer(str(axis)))
        return result

    def _squeeze(self, args):
        b = bind(args, ["a", "axis"], {"axis": None})
        if not b or "a" not in b:
            return None
        return call(self.t, "tf.squeeze", b["a"], **_pick(b, "axis"))

    def _tile(self, args):
        b = bind(args, ["A", "reps"])
        if not b or len(b) != 2:
            return None
        reps = literal_int_tuple(b["reps"])
        if reps is None and literal_int(b["reps"]) is not None:
            reps = [literal_int(b["reps"])]  # type: ignore[list-item]
        rank = self.rank_of(b["A"])
        if reps is not None and rank is not None and len(reps) <= rank:
            return call(self.t, "tf.tile", b["A"], int_list([1] * (rank - len(reps)) + reps))
        return call(self.t, f"{self.t.fallback}.tile", b["A"], b["reps"])

    def _zeros_like(self, args):
        return self._like("tf.zeros_like", args)

    def _ones_like(self, args):
        return self._like("tf.ones_like", args)

    def _like(self, function, args):
        b = bind(args, ["a", "dtype"], {"dtype": None})
        if not b or "a" not in b:
            return None
        extra = {"dtype": tf_dtype(b["dtype"], self.numpy_name, self.t)} if "dtype" in b else {}
        return call(self.t, function, b["a"], **extra)

    # -- selection and accumulation -----------------------------------------

    def _where(self, args):
        b = bind(args, ["condition", "x", "y"])
        if not b or len(b) != 3:
            return None
        condition = b["condition"]
        if not isinstance(condition, cst.Comparison):
            return None  # tf.where needs a bool condition; only comparisons are known bool
        return call(self.t, "tf.where", condition, b["x"], b["y"])

    def _clip(self, args):
        b = bind(args, ["a", "a_min", "a_max"])
        if not b or "a" not in b:
            return None
        # The min/max form is identical to NumPy everywhere, lo > hi included.
        result = b["a"]
        if "a_min" in b and not is_none(b["a_min"]):
            result = call(self.t, "tf.maximum", result, b["a_min"])
        if "a_max" in b and not is_none(b["a_max"]):
            result = call(self.t, "tf.minimum", result, b["a_max"])
        return result if result is not b["a"] else None

    def _cumsum(self, args):
        return self._flattening("tf.math.cumsum", args)

    def _argmax(self, args):
        return self._flattening("tf.argmax", args)

    def _argmin(self, args):
        return self._flattening("tf.argmin", args)

    def _flattening(self, function, args):
        """NumPy's axis=None flattens; TF's default is axis 0: spell both out."""
        b = bind(args, ["a", "axis"], {"axis": None})
        if not b or "a" not in b:
            return None
        if "axis" in b:
            return call(self.t, function, b["a"], axis=b["axis"])
        return call(self.t, function, call(self.t, "tf.reshape", b["a"], int_list([-1])), axis=cst.Integer("0"))

    def _round(self, args):
        b = bind(args, ["a", "decimals"])
        if not b or "a" not in b:
            return None
        decimals = literal_int(b.get("decimals", cst.Integer("0")))
        if decimals is None or decimals < 0:
            return None
        if decimals == 0:
            return call(self.t, "tf.round", b["a"])
        scale = cst.Float(f"1e{decimals}")
        # Same scale / round-half-even / unscale as NumPy (docs/architecture.md, "NumPy to TF translations").
        return binary(call(self.t, "tf.round", binary(b["a"], cst.Multiply(), scale)), cst.Divide(), scale)

    _around = _round

    # -- conversions -----------------------------------------------------------

    def conversion(self, args: Sequence[cst.Arg]) -> Optional[cst.BaseExpression]:
        """`np.array(t)` / `np.asarray(t, dtype)`: the tensor itself, or a cast."""
        b = bind(args, ["a", "dtype"], {"dtype": None})
        if not b or "a" not in b:
            return None
        if "dtype" in b:
            try:
                return call(self.t, "tf.cast", b["a"], tf_dtype(b["dtype"], self.numpy_name, self.t))
            except NoSpelling:
                return None
        return b["a"]

    def scalar_type(self, dtype: str, args: Sequence[cst.Arg]) -> Optional[cst.BaseExpression]:
        """`np.float32(t)` -> `tf.cast(t, tf.float32)`."""
        b = bind(args, ["x"])
        if not b or "x" not in b:
            return None
        try:
            return call(self.t, "tf.cast", b["x"], self.t.dtype(dtype))
        except NoSpelling:
            return None


def _pick(bound: dict[str, cst.BaseExpression], *names: str) -> dict[str, cst.BaseExpression]:
    return {name: bound[name] for name in names if name in bound}


# ndarray methods and the NumPy function each one is (`a.sum(1)` is `np.sum(a, 1)`).
ARRAY_METHODS = {
    "sum", "mean", "max", "min", "prod", "std", "var", "dot", "clip", "argmax", "argmin",
    "cumsum", "squeeze", "round",
}
# Functions whose result is an index: int64 in both, but only NumPy's mixes with floats.
INTEGER_RESULTS = frozenset({"argmax", "argmin"})
# Methods whose arguments NumPy also takes unpacked (`a.reshape(2, 3)`, `a.transpose(1, 0)`).
VARARGS_METHODS = {"reshape": "shape", "transpose": "axes"}
# Attributes that read the same on a tensor as on an array.
SHARED_ATTRIBUTES = {"shape", "dtype", "ndim"}
