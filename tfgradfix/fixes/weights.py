"""A `tf.Variable(...)` as the `self.add_weight(...)` that Keras tracks.

The initial value becomes an initializer with the same distribution and the
shape becomes `shape=`: `tf.random.normal((a, b), mean, stddev)` ->
`shape=(a, b), initializer=RandomNormal(mean=..., stddev=...)` (Keras's
defaults differ from `tf.random`'s, so every parameter is spelled out),
`tf.zeros`/`tf.ones` -> "zeros"/"ones", `tf.fill`/`tf.constant(v, shape=)`, `tf.ones(s) * c`
and literals -> `Constant(v)`, `init(shape, dtype)` of an initializer -> that initializer
(`w_init = tf.random_normal_initializer()` ... `w_init(shape=s)` -> `initializer=w_init`;
`tf.zeros_initializer()(s)` -> "zeros"). NumPy's `np.zeros`/`np.ones`/`np.full` ->
"zeros"/"ones"/`Constant(c)` with NumPy's dtype kept: float64 unless the call says
otherwise (`tf.Variable(np.zeros(n))` is a float64 variable, and so is the weight). A shape
given as a length (`np.zeros(n)`, `tf.zeros(3)`) becomes `(n,)` when `n` is certainly an
int. A value whose shape the code does not say (a NumPy array, a tensor from elsewhere, a
length that may be a shape) is converted once and named:
`initial = tf.convert_to_tensor(v)`, `shape=initial.shape, initializer=Constant(initial)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, cast

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
    # Why the prelude form, when a shorter one was close (for the fix's description).
    note: Optional[str] = None

    def add_weight(self, owner: str = "self") -> cst.Call:
        name = self.name
        if name is not None:
            renamed = name.visit(_NoScopeSeparator())
            name = renamed if isinstance(renamed, cst.BaseExpression) else name
            if not _literal_text(name):
                # `name + "kernel"`, `f"{prefix}_beta"`: a `/` may come from the value at run time
                name = cst.Call(func=cst.Attribute(value=_parenthesized(name), attr=cst.Name("replace")),
                                args=[cst.Arg(cst.SimpleString('"/"')), cst.Arg(cst.SimpleString('"_"'))])
        keywords = [("name", name), ("shape", self.shape), ("initializer", self.initializer),
                    ("trainable", self.trainable), ("dtype", self.dtype)]
        return cst.Call(
            func=cst.parse_expression(f"{owner}.add_weight"),
            args=[keyword_arg(k, v) for k, v in keywords if v is not None],
        )


def _literal_text(expr: cst.BaseExpression) -> bool:
    """Text written out in full: a string literal, or literals side by side."""
    if isinstance(expr, cst.ConcatenatedString):
        return _literal_text(expr.left) and _literal_text(expr.right)
    return isinstance(expr, cst.SimpleString)


def _parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.FormattedString)) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


class _NoScopeSeparator(cst.CSTTransformer):
    """`"elsa/alpha"` as `"elsa_alpha"`: a TF 1.x-style scoped variable name, which Keras 3's
    `add_weight` refuses (`name` cannot contain `/`); the variable was untracked, so no
    checkpoint holds the old name. A name computed at run time is also replaced there."""

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        return updated.with_changes(value=updated.value.replace("/", "_"))

    def leave_FormattedStringText(self, original: cst.FormattedStringText,
                                  updated: cst.FormattedStringText) -> cst.FormattedStringText:
        return updated.with_changes(value=updated.value.replace("/", "_"))


def _float(text: str) -> cst.Float:
    return cst.Float(text)


def _literal_shape(expr: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    if isinstance(expr, (cst.Integer, cst.Float)) or (
            isinstance(expr, cst.UnaryOperation) and is_numeric_literal(expr)):
        return cst.Tuple([])
    if isinstance(expr, (cst.List, cst.Tuple)) and is_numeric_literal(expr):
        dims = []
        level: cst.BaseExpression = expr
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


# NumPy's float dtype names, as add_weight takes them; `float` is NumPy's float64.
_NUMPY_FLOATS = {"float16": "float16", "half": "float16", "float32": "float32", "single": "float32",
                 "float64": "float64", "double": "float64", "float_": "float64", "float": "float64"}
_TF_FLOATS = ("float16", "float32", "float64", "bfloat16", "half", "double")
# Operators that keep ints ints (`/` makes a float; `*` of a tuple repeats it, so both sides
# must be ints).
_INT_OPERATORS = (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo, cst.Power)


# What TensorFlow makes of dtype spellings Keras 3 refuses (`"float"`) or reads otherwise (`int`
# is int32 to `tf.as_dtype`, int64 to Keras).
_TF_DTYPE_SPELLINGS = {"float": "float32", "double": "float64", "half": "float16"}
_TF_BUILTIN_DTYPES = {"float": "float32", "int": "int32", "bool": "bool", "complex": "complex128"}


def _keras_dtype(dtype: Optional[cst.BaseExpression]) -> Optional[cst.BaseExpression]:
    """`dtype` as `add_weight` takes it, meaning what it meant to `tf.Variable` or a TF initializer."""
    if isinstance(dtype, cst.SimpleString) and dtype.evaluated_value in _TF_DTYPE_SPELLINGS:
        return cst.SimpleString(f'"{_TF_DTYPE_SPELLINGS[str(dtype.evaluated_value)]}"')
    if isinstance(dtype, cst.Name) and dtype.value in _TF_BUILTIN_DTYPES:
        return cst.SimpleString(f'"{_TF_BUILTIN_DTYPES[dtype.value]}"')
    return dtype


class _Unnamed(Exception):
    """The weight needs `tf.` or `keras.` and the module has no name for either."""


# dtypes by their names in `tf`/`np` (`tf.float32`, `np.int64`): a `trainable` that is one is a slip.
_DTYPE_NAMES = frozenset({"float16", "float32", "float64", "bfloat16", "half", "double", "int8", "int16", "int32",
                          "int64", "uint8", "uint16", "uint32", "uint64", "bool", "bool_", "complex64",
                          "complex128", "string", "float_", "int_"})


# Initializer objects whose Keras name is a string: `tf.zeros_initializer()(shape)` -> "zeros".
_NAMED_INITIALIZERS = {"zeros_initializer": "zeros", "ones_initializer": "ones", "Zeros": "zeros", "Ones": "ones"}


class WeightTranslator:
    """`values` maps names bound exactly once to their value: the locals of the variable's
    function (`w_init` -> `tf.random_normal_initializer()`) and the layer's attributes
    (`self.init` -> `initializers.get(init)`). With `portable`, the weight moves to another
    function (`build`), so it may not refer to those locals: an initializer held by a local
    is written out instead of named (an attribute is still there)."""

    def __init__(self, imports: ImportMap, values: Optional[Mapping[str, cst.BaseExpression]] = None,
                 portable: bool = False, integers: frozenset[str] = frozenset(),
                 shapes: frozenset[str] = frozenset()) -> None:
        self.imports = imports
        self.values = values or {}
        self.portable = portable
        self.integers = integers  # names known to hold an int (see layer_state.integer_names)
        self.shapes = shapes  # names known to hold a shape (`build`'s `input_shape`)
        self._note: Optional[str] = None
        self.reason: Optional[str] = None  # why the last `from_variable` gave None
        # A positional argument of the last `from_variable` that looks like a slip, and what TF made of it.
        self.slip: Optional[str] = None
        self.keras = imports.alias_of("keras")
        self.tf: Optional[str] = imports.alias_of("tensorflow")

    @property
    def initializers(self) -> str:
        if self.keras:
            return f"{self.keras}.initializers"
        if self.tf is None:
            raise _Unnamed
        return f"{self.tf}.keras.initializers"

    def _initializer(self, name: str, **values: cst.BaseExpression) -> cst.Call:
        return cst.Call(func=cst.parse_expression(f"{self.initializers}.{name}"),
                        args=[keyword_arg(k, v) for k, v in values.items()])

    def from_variable(self, call: cst.Call, initial: Optional[str] = None) -> Optional[Weight]:
        """The add_weight arguments equivalent to `tf.Variable(...)`, or None (and `reason`)."""
        # What the fix writes TensorFlow with: the `tf` that `tf.Variable` ran with, there.
        head = (dotted_name(call.func) or "").split(".")
        if len(head) > 1 and self.imports.bindings.get(head[0]) == "tensorflow":
            self.tf = head[0]
        self.slip = None
        try:
            return self._from_variable(call, initial)
        except _Unnamed:
            self.reason = ("TensorFlow and Keras have no name in this module (`tf.Variable` was imported by its own "
                           "name) to write the initializer with")
            return None

    def _from_variable(self, call: cst.Call, initial: Optional[str] = None) -> Optional[Weight]:
        """The add_weight arguments equivalent to `tf.Variable(...)`, or None. With `initial`
        (a free local name), an initial value of unknown shape is converted once into
        `initial` by a prelude statement, and the weight is `Constant(initial)` of its shape.
        Positional arguments are read as `tf.Variable` reads them: `tf.Variable(v, tf.float32)`
        is `trainable=tf.float32` (truthy: trainable, the dtype is the value's), which looks like
        a slip for `dtype=`; the weight keeps what TF made of it, and `slip` says so."""
        b = bind(call.args, ["initial_value", "trainable", "validate_shape", "caching_device", "name",
                             "variable_def", "dtype", "import_scope", "constraint", "synchronization",
                             "aggregation", "shape", "experimental_enable_variable_lifting"])
        self.reason = None
        if not b or "initial_value" not in b:
            self.reason = "its arguments cannot be read (`*args`, `**kwargs` or no initial value)"
            return None
        positional = [a for a in call.args if a.keyword is None]
        if len(positional) >= 2 and self._slip(positional[1].value):
            shown = cst.Module([]).code_for_node(positional[1].value)
            self.slip = (f"`{shown}` as `tf.Variable`'s second positional argument is `trainable`, not "
                         "`dtype`: it looks like a slip. The weight keeps what TF made of it: trainable, "
                         "of the initial value's dtype")
            del b["trainable"]
        extra = sorted(set(b) - {"initial_value", "trainable", "name", "dtype"})
        if extra:
            shown = ", ".join(f"`{k}=`" for k in extra)
            self.reason = f"`tf.Variable` takes {shown}, which the fix does not carry over to `add_weight`"
            return None
        value = b["initial_value"]
        dtype = b.get("dtype")
        self._note = None
        shaped = self._shape_and_initializer(value)
        if shaped is None:
            if initial is None:
                self.reason = ("the initial value's shape is not in the code, and the variable is not "
                               "assigned on its own line where it could be computed first")
                return None
            if dtype is None and self._is_tensor_op(value):
                convert = value  # already a tensor: its shape and dtype are there
            else:
                if self.tf is None:
                    raise _Unnamed
                convert = cst.Call(cst.parse_expression(f"{self.tf}.convert_to_tensor"),
                                   [cst.Arg(value), *([keyword_arg("dtype", dtype)] if dtype is not None else [])])
            prelude = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(initial))], convert)])
            return Weight(
                shape=cst.parse_expression(f"{initial}.shape"),
                initializer=self._initializer("Constant", value=cst.Name(initial)),
                dtype=cst.parse_expression(f"{initial}.dtype"), trainable=b.get("trainable"),
                name=b.get("name"), prelude=prelude, note=self._note)
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
        if literal_int(value) == 0 or (isinstance(value, cst.Float) and value.evaluated_value == 0.0):
            initializer = cst.SimpleString('"zeros"')
        return Weight(shape, initializer, _keras_dtype(dtype), b.get("trainable"), b.get("name"))

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
        if qualified in ("numpy.zeros", "numpy.ones", "numpy.full"):
            return self._numpy_filled(qualified[len("numpy."):], value)
        last = qualified.rsplit(".", 1)[-1] if qualified.startswith("tensorflow.") else ""
        tail = qualified[len("tensorflow."):] if qualified.startswith("tensorflow.") else ""
        distribution = next((d for key, d in _DISTRIBUTIONS.items() if tail == key or tail.endswith("." + key)), None)
        if distribution is not None:
            initializer, low, high = distribution
            b = bind(value.args, ["shape", low, high, "dtype", "seed", "name"])
            if b and "shape" in b and "dtype" not in b:
                shape = b["shape"]
                if isinstance(shape, cst.List):
                    shape = self._shape(shape, tensorflow=True)
                return shape, self._initializer(
                    initializer, **{low: b.get(low, _float("0.0")), high: b.get(high, _float("1.0"))},
                    **({"seed": b["seed"]} if "seed" in b else {})), None
        if last in ("zeros", "ones") and qualified.count(".") == 1:
            b = bind(value.args, ["shape", "dtype", "name"])
            dtype = b.get("dtype") if b else None
            if b and "shape" in b and (dtype is None or self.imports.dtype_name(dtype) in _TF_FLOATS):
                shape = self._shape(b["shape"], tensorflow=True)
                return (shape, cst.SimpleString(f'"{last}"'), dtype) if shape is not None else None
        if last == "fill" and qualified.count(".") == 1:
            b = bind(value.args, ["dims", "value", "name"])
            if b and "dims" in b and "value" in b and is_numeric_literal(b["value"]):
                shape = self._shape(b["dims"], tensorflow=True)
                if shape is None:
                    return None
                # `tf.fill(s, 2)` is int32, as `tf.constant(2)` is
                dtype = cst.SimpleString('"int32"') if is_integer_literal(b["value"]) else None
                return shape, self._initializer("Constant", value=b["value"]), dtype
        if last == "constant" and qualified.count(".") == 1:
            b = bind(value.args, ["value", "dtype", "shape", "name"])
            if b and "value" in b and "dtype" not in b and is_numeric_literal(b["value"]):
                shape = b.get("shape") or _literal_shape(b["value"])
                if shape is not None:
                    return shape, self._initializer("Constant", value=b["value"]), None
        made = self._initializer_object(value.func)
        if made is not None:
            b = bind(value.args, ["shape", "dtype"])
            # An initializer takes a length for a shape (`b_init(shape=(self.units))`); `add_weight` does not.
            shape = self._shape(b["shape"], tensorflow=True) if b and "shape" in b else None
            if b and shape is not None:
                return shape, made, b.get("dtype")
        return None

    def _numpy_filled(self, function: str, value: cst.Call):
        """`np.zeros(s)`, `np.ones(s, dtype)`, `np.full(s, c)`: (shape, initializer, dtype)
        with NumPy's float dtype spelled out, or None (other dtypes, a shape that may be
        either a length or a tuple)."""
        names = ["shape", "fill_value", "dtype", "order"] if function == "full" else ["shape", "dtype", "order"]
        b = bind(value.args, names)
        if not b or "shape" not in b or set(b) - {"shape", "fill_value", "dtype"}:
            return None
        fill = b.get("fill_value")
        scalar = fill is not None and is_numeric_literal(fill) and not isinstance(fill, (cst.List, cst.Tuple))
        if function == "full" and not scalar:
            return None
        if "dtype" in b:
            given = b["dtype"]
            builtin = isinstance(given, cst.Name) and self.imports.resolve(given) is None
            dtype = _NUMPY_FLOATS.get(cast(cst.Name, given).value if builtin else self.imports.dtype_name(given))
        else:  # NumPy's default: float64, and for `full` the fill value's own type
            dtype = "float64" if fill is None or not is_integer_literal(fill) else None
        if dtype is None:
            return None  # an integer or bool array: not a weight the fix can make trainable as it was
        shape = self._shape(b["shape"], tensorflow=False)
        if shape is None:
            return None
        if fill is None:
            initializer: cst.BaseExpression = cst.SimpleString(f'"{function}"')
        else:
            initializer = self._initializer("Constant", value=as_floats(fill))
        return shape, initializer, cst.SimpleString(f'"{dtype}"')

    def _shape(self, expr: cst.BaseExpression, tensorflow: bool) -> Optional[cst.BaseExpression]:
        """The `shape=` for a shape argument: a tuple as written, a list as a tuple, a length
        `n` as `(n,)`, a name known to hold a shape (assigned a tuple, or `build`'s input
        shape) as written. A name that may hold either a length or a shape gives None, with a
        note: its name is no evidence (`tf.zeros(input_shape)` with an int `input_shape` is a
        vector, and `add_weight(shape=input_shape)` refuses an int)."""
        if isinstance(expr, cst.Tuple):
            return expr
        if isinstance(expr, cst.List):
            elements = list(expr.elements)
            if len(elements) == 1:
                elements = [elements[0].with_changes(comma=cst.Comma())]
            return cst.Tuple(elements, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        if self._is_int(expr):  # `(n)` is the same length as `n`: `(n,)`, not `((n),)`
            return cst.Tuple([cst.Element(expr.with_changes(lpar=[], rpar=[]), comma=cst.Comma())])
        name = dotted_name(expr)
        held = self.values.get(name) if name is not None else None
        if isinstance(held, (cst.Tuple, cst.List)) or (tensorflow and name is not None and name in self.shapes):
            return expr
        if name is not None:
            self._note = (f"`{name}` may be a length or a shape, so the shape is taken from the value; "
                          f"write `shape=({name},)` if it is a length")
        return None

    def _is_int(self, expr: cst.BaseExpression, depth: int = 0) -> bool:
        """Whether `expr` is certainly a Python int (or a static dimension)."""
        if depth > 4:
            return False
        if isinstance(expr, cst.Integer) or (isinstance(expr, cst.UnaryOperation)
                                             and isinstance(expr.operator, cst.Minus)):
            return isinstance(expr, cst.Integer) or self._is_int(expr.expression, depth + 1)
        if isinstance(expr, cst.BinaryOperation):
            return isinstance(expr.operator, _INT_OPERATORS) and self._is_int(expr.left, depth + 1) \
                and self._is_int(expr.right, depth + 1)
        if isinstance(expr, cst.Call):
            return (isinstance(expr.func, cst.Name) and expr.func.value in ("len", "int")
                    and self.imports.resolve(expr.func) is None)
        if isinstance(expr, cst.Subscript):  # `x.shape[-1]`, `input_shape[1]`: one dimension
            index = expr.slice[0].slice if len(expr.slice) == 1 else None
            shape = dotted_name(expr.value)
            return isinstance(index, cst.Index) and shape is not None and "shape" in shape.rsplit(".", 1)[-1]
        name = dotted_name(expr)
        if name is None:
            return False
        if name in self.values:
            return self._is_int(self.values[name], depth + 1)
        return name in self.integers

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
        if held is not None and (not self.portable or cast(str, name).startswith("self.")):
            return func  # the author's name for it
        qualified = self.imports.resolve(constructor.func) or ""
        named = _NAMED_INITIALIZERS.get(qualified.rsplit(".", 1)[-1])
        if named is not None and not constructor.args:
            return cst.SimpleString(f'"{named}"')
        return constructor

    def _slip(self, value: cst.BaseExpression) -> bool:
        """A `trainable` argument that names a dtype (`tf.float32`, `np.float64`, `float`,
        `"float32"`) or is a non-empty string (a name): truthy, and surely not meant as a flag."""
        if isinstance(value, cst.SimpleString):
            return bool(value.evaluated_value)
        if isinstance(value, cst.Name) and value.value in ("float", "int", "bool", "complex") \
                and self.imports.resolve(value) is None:
            return True
        qualified = self.imports.resolve(value) or ""
        package, _, name = qualified.partition(".")
        return package in ("tensorflow", "numpy") and (name in _DTYPE_NAMES or name.startswith("dtypes."))

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
