"""What a value is: the kind of thing an expression holds, and where a branch says so.

Taint (`analysis/dataflow.py`) says whether a value *depends* on the trainable weights.
That is not enough to say that a gradient is lost: an integer tensor, a Python number,
a string key or a shape depends on the weights without carrying a gradient, and a
layer's input is a Python list inside `if isinstance(inputs, list):`. Rules ask this
module for positive evidence before they report a value as a gradient that the code
loses; "unknown" is never evidence of a non-float, so it does not silence a finding.

A value's kind comes from what makes it: its constructor and `dtype=` (or, without one, the
dtype of what it is made from: `tf.Variable(tf.zeros(s, dtype=tf.int32))`), a cast
(`tf.cast(x, tf.int32)`, `.astype(np.uint8)`), an op whose result is integer or boolean,
builtins (`int`, `len`, `str`), literals, shape metadata (`x.shape`, `tf.shape(x)`), an
annotation or literal default of a parameter, iteration over a mapping (its keys), and
the `isinstance` test of the branch it is read in.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import METADATA_ATTRIBUTES, walk_scope, argument_for, names_in
from tfgradfix.analysis.imports import dotted_name, is_integer_dtype
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.tree import child_nodes, descendants
from tfgradfix.analysis.literals import is_float_literal, is_integer_literal
from tfgradfix.analysis.no_gradient_ops import NO_GRADIENT
from tfgradfix.analysis.vocabulary import NUMPY_RESULT_LIBRARIES

if TYPE_CHECKING:
    from tfgradfix.analysis.dataflow import DataFlow


class Kind(enum.Enum):
    FLOAT = "float tensor"
    INTEGER = "integer or boolean tensor"
    ARRAY = "NumPy array"
    SEQUENCE = "Python list or tuple"
    MAPPING = "Python dict"
    STRING = "string"
    NUMBER = "Python number"
    METADATA = "shape or size"
    UNKNOWN = "unknown"


# Kinds that carry no gradient, whatever they were computed from.
NO_GRADIENT_KINDS = frozenset({Kind.INTEGER, Kind.STRING, Kind.NUMBER, Kind.METADATA})

_NUMBER_BUILTINS = frozenset({"int", "float", "len", "round", "abs", "hash", "id", "bool", "ord"})
_STRING_BUILTINS = frozenset({"str", "repr", "format", "chr"})
_METADATA_CALLS = frozenset({"tensorflow.shape", "tensorflow.rank", "tensorflow.size", "keras.ops.shape",
                             "tensorflow.shape_n", "numpy.shape", "numpy.ndim"})
_METADATA_METHODS = frozenset({"get_shape", "as_list", "num_elements"})
_ARRAY_METHODS = frozenset({"predict", "predict_on_batch"})
_INDEX_METHODS = frozenset({"nonzero", "argsort", "argmax", "argmin"})
# Methods of PyTorch's tensors that TensorFlow's lack: what they return is host data to TF.
_TORCH_METHODS = frozenset({"cpu", "cuda", "detach"})
_CASTS = frozenset({"tensorflow.cast", "tensorflow.saturate_cast", "keras.ops.cast", "tensorflow.dtypes.cast"})
# Constructors whose tensor has the dtype of their first argument when no `dtype=` says otherwise.
_KEEPS_DTYPE = frozenset({"tensorflow.constant", "tensorflow.Variable", "tensorflow.convert_to_tensor",
                          "tensorflow.identity", "keras.Variable", "keras.ops.convert_to_tensor",
                          "numpy.array", "numpy.asarray"})
_INTEGER_RESULT = frozenset(name for name, (_, why) in NO_GRADIENT.items() if why == "integer or boolean result")
_BOOLEAN_RESULT = frozenset(f"tensorflow.{space}logical_{op}" for space in ("", "math.")
                            for op in ("and", "or", "not", "xor"))
# Ops whose result has their first operand's dtype (reshaping, selecting, shuffling), and those
# whose operands must share one dtype: an integer operand makes an integer result.
KEEPS_FIRST_OPERAND_DTYPE = frozenset(f"tensorflow.{op}" for op in (
    "reshape", "squeeze", "expand_dims", "transpose", "tile", "slice", "gather", "gather_nd", "reverse",
    "random.shuffle", "boolean_mask", "stop_gradient", "sort", "unique", "reduce_sum", "reduce_max", "reduce_min",
    "math.reduce_sum", "math.reduce_max", "math.reduce_min"))
_SHARED_DTYPE = frozenset(f"tensorflow.{op}" for op in ("minimum", "maximum", "math.minimum", "math.maximum"))
_ANNOTATIONS = {"int": Kind.NUMBER, "float": Kind.NUMBER, "bool": Kind.NUMBER, "str": Kind.STRING,
                "list": Kind.SEQUENCE, "tuple": Kind.SEQUENCE, "dict": Kind.MAPPING}

# `isinstance(x, T)`: the types a tensor never is, and the types only a tensor is.
_DATA_TYPES = frozenset({"list", "tuple", "dict", "str", "bytes", "int", "float", "bool", "set",
                         "numpy.ndarray", "numpy.generic", "numpy.number", "numpy.integer", "numpy.floating"})
_TF_TENSOR_TYPES = frozenset({"tensorflow.Tensor", "tensorflow.Variable", "tensorflow.SparseTensor",
                              "tensorflow.RaggedTensor", "keras.KerasTensor", "keras.Variable"})
_TENSOR_TYPES = _TF_TENSOR_TYPES | {
    # TF's tensors and variables define `__iter__`: what is not iterable is none
    "collections.abc.Iterable", "typing.Iterable", "collections.Iterable"}
# NumPy functions that make a new array from sizes or shapes only: whatever they are given,
# their result has no gradient to lose.
NUMPY_FRESH_ARRAYS = frozenset({"arange", "zeros", "ones", "empty", "eye", "identity", "indices", "tri",
                                "zeros_like", "ones_like", "empty_like"})
# NumPy functions whose leading positional arguments are the data, and the rest counts, shapes or
# axes (`np.tile(a, reps)`, `np.repeat(a, n)`, `np.take(a, indices)`): how many lead.
_NUMPY_DATA_ARGUMENTS = {name: 1 for name in (
    "tile", "repeat", "reshape", "broadcast_to", "pad", "roll", "expand_dims", "squeeze", "transpose",
    "swapaxes", "moveaxis", "split", "array_split", "rot90", "take", "flip", "sum", "mean", "max", "min", "prod",
    "cumsum", "cumprod", "argmax", "argmin", "sort", "argsort")}


def numpy_data_arguments(function: str, call: cst.Call) -> list[cst.BaseExpression]:
    """The arguments of a NumPy call that hold data a gradient could flow through: all of
    them, less the counts, shapes and axes of the functions that take some."""
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if function in _NUMPY_DATA_ARGUMENTS:
        return positional[:_NUMPY_DATA_ARGUMENTS[function]]
    return [a.value for a in call.args]


# TensorFlow functions joining a list of tensors, which must share one dtype.
_JOINS = frozenset({"tensorflow.concat", "tensorflow.stack", "keras.ops.concatenate", "keras.ops.stack"})
# NumPy functions whose result is a boolean or integer array, whatever they are given.
_NUMPY_INTEGER_RESULTS = frozenset({
    "isin", "in1d", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_not", "logical_xor", "isnan", "isinf", "isfinite", "argmax", "argmin", "argsort",
    "nonzero", "argwhere", "flatnonzero", "searchsorted", "digitize", "bincount"})
_TO_NUMPY = frozenset({"keras.ops.convert_to_numpy", "keras.src.ops.convert_to_numpy", "keras.ops.core.convert_to_numpy"})
# Kinds of values that hold no gradient: NumPy of them has none to lose.
_HOST_KINDS = frozenset({Kind.ARRAY, Kind.INTEGER, Kind.NUMBER, Kind.STRING, Kind.METADATA})
_TENSOR_TESTS = frozenset({"tensorflow.is_tensor", "keras.ops.is_tensor", "tensorflow.debugging.is_numeric_tensor"})


def value_reads(expr: cst.BaseExpression, imports) -> Iterator[cst.CSTNode]:
    """The nodes of `expr` that it reads for their values when it is evaluated: not what it reads
    only for a shape, a dtype or a size (`self.w.shape`, `tf.shape(self.w)`, `len(self.w)`), which
    the weight's training never changes, nor the body of a `lambda`, read each time it is called."""
    stack: list[cst.CSTNode] = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Lambda):
            continue
        if isinstance(current, cst.Attribute) and current.attr.value in METADATA_ATTRIBUTES and not (
                isinstance(current.value, cst.Name) and current.value.value == "self"):  # `self.size`: its own
            continue
        if isinstance(current, cst.Call) and (
                (imports.resolve(current.func) or "") in _METADATA_CALLS
                or isinstance(current.func, cst.Name) and current.func.value == "len"
                or isinstance(current.func, cst.Attribute) and current.func.attr.value in _METADATA_METHODS):
            continue
        yield current
        stack.extend(child_nodes(current))


def carries_no_gradient(flow: "DataFlow", expr: cst.BaseExpression) -> bool:
    """Positive evidence that `expr` is a value with no gradient: an integer or boolean
    tensor, a Python number or string, shape metadata; or a list or tuple of only such values
    (`[lengths, t]` handed to `tf.numpy_function`)."""
    if isinstance(expr, (cst.List, cst.Tuple)) and expr.elements:
        return all(isinstance(e, cst.Element) and carries_no_gradient(flow, e.value) for e in expr.elements)
    return kind_of(flow, expr) in NO_GRADIENT_KINDS


def kind_of(flow: "DataFlow", expr: cst.BaseExpression, _seen: Optional[frozenset] = None) -> Kind:
    """What `expr` holds, as far as the scope shows it; UNKNOWN when it does not."""
    seen = _seen or frozenset()
    if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary)):
        return Kind.NUMBER
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return Kind.STRING
    if isinstance(expr, (cst.List, cst.Tuple, cst.ListComp)):
        return Kind.SEQUENCE
    if isinstance(expr, (cst.Dict, cst.DictComp)):
        return Kind.MAPPING
    if isinstance(expr, (cst.Comparison,)) or (
            isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not)):
        return Kind.INTEGER  # a boolean
    if isinstance(expr, cst.Attribute):
        if expr.attr.value in METADATA_ATTRIBUTES and expr.attr.value != "name":
            return Kind.METADATA
        return _attribute_kind(flow, expr, seen)
    if isinstance(expr, cst.Subscript):
        inner = kind_of(flow, expr.value, seen)
        return inner if inner in (Kind.METADATA, Kind.STRING, Kind.INTEGER, Kind.ARRAY) else Kind.UNKNOWN
    if isinstance(expr, cst.BinaryOperation):
        left, right = kind_of(flow, expr.left, seen), kind_of(flow, expr.right, seen)
        if left == right:
            return left
        if {left, right} <= {Kind.NUMBER, Kind.METADATA}:
            return Kind.METADATA
        if {left, right} <= {Kind.NUMBER, Kind.INTEGER} and not isinstance(expr.operator, cst.Divide):
            return Kind.INTEGER
        if Kind.ARRAY in (left, right) and {left, right} <= _HOST_KINDS:
            return Kind.ARRAY  # NumPy with NumPy or a number (`idx - previous - 1`)
        return Kind.FLOAT if Kind.FLOAT in (left, right) else Kind.UNKNOWN
    if isinstance(expr, cst.UnaryOperation):
        return kind_of(flow, expr.expression, seen)
    if isinstance(expr, cst.Call):
        return _call_kind(flow, expr, seen)
    if isinstance(expr, cst.Name):
        return _name_kind(flow, expr.value, seen)
    return Kind.UNKNOWN


def _attribute_kind(flow: "DataFlow", expr: cst.Attribute, seen: frozenset) -> Kind:
    """`self.coef`: what the class's methods assign to it, when they agree (a NumPy scalar
    computed in `build`, a Python number kept from `__init__`)."""
    attr = self_attribute(expr)
    if attr is None or ("self." + attr) in seen:
        return Kind.UNKNOWN
    values = _attribute_values(flow, attr)
    kinds = {kind_of(value_flow, value, seen | {"self." + attr}) for value_flow, value in values}
    return kinds.pop() if len(kinds) == 1 else Kind.UNKNOWN


def _call_kind(flow: "DataFlow", call: cst.Call, seen: frozenset) -> Kind:
    imports = flow.imports
    callee = call.func
    if isinstance(callee, cst.Name) and imports.resolve(callee) is None:
        if callee.value in _NUMBER_BUILTINS:
            return Kind.NUMBER
        if callee.value in _STRING_BUILTINS:
            return Kind.STRING
        if callee.value in ("list", "tuple", "sorted"):
            return Kind.SEQUENCE
        if callee.value == "dict":
            return Kind.MAPPING
    qualified = imports.resolve(callee) or ""
    if qualified in _METADATA_CALLS:
        return Kind.METADATA
    if qualified.split(".")[0] in NUMPY_RESULT_LIBRARIES:
        return Kind.ARRAY  # SciPy, scikit-learn, OpenCV...: they compute on host arrays and return them
    if isinstance(callee, cst.Attribute):
        method = callee.attr.value
        if method in _METADATA_METHODS:
            return Kind.METADATA
        if method == "astype" and call.args:
            return Kind.INTEGER if _integer_dtype(flow, call.args[0].value) else Kind.ARRAY
        if method in ("keys",) and not call.args:
            return Kind.SEQUENCE
        if method in _INDEX_METHODS:
            return Kind.INTEGER  # positions (`x.nonzero()` of a SciPy or NumPy matrix; a TF tensor has no such method)
        if method in _ARRAY_METHODS:
            return Kind.ARRAY  # Keras's `predict` returns NumPy, whatever model it runs
        if method in _TORCH_METHODS:
            return Kind.ARRAY  # `logits.cpu()`: a PyTorch tensor (a TF tensor has no such method), no TF gradient
        if method == "sample" and _discrete_distribution(flow, callee.value):
            return Kind.INTEGER  # a draw of a Categorical or a Bernoulli: whole numbers, no reparameterised gradient
        if method == "numpy" and not call.args and kind_of(flow, callee.value, seen) is Kind.INTEGER:
            return Kind.INTEGER  # (of a float tensor, the copy's uses are the fix's to follow: unknown)
        if method not in ("tolist", "item") and kind_of(flow, callee.value, seen) is Kind.ARRAY:
            return Kind.ARRAY  # an ndarray's own methods (`coords.reshape(...).flatten()`)
    if qualified in _CASTS and len(call.args) >= 2:
        return Kind.INTEGER if _integer_dtype(flow, call.args[1].value) else Kind.FLOAT
    if qualified in _INTEGER_RESULT or qualified in _BOOLEAN_RESULT:
        return Kind.INTEGER
    if qualified == "tensorflow.where" and len(call.args) == 1:
        return Kind.INTEGER  # the coordinates of the true elements
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if qualified in KEEPS_FIRST_OPERAND_DTYPE and positional and kind_of(flow, positional[0], seen) is Kind.INTEGER:
        return Kind.INTEGER
    if qualified in _SHARED_DTYPE and any(kind_of(flow, v, seen) is Kind.INTEGER for v in positional[:2]):
        return Kind.INTEGER
    if qualified in _JOINS and positional and isinstance(positional[0], (cst.List, cst.Tuple)) and any(
            isinstance(e, cst.Element) and kind_of(flow, e.value, seen) is Kind.INTEGER for e in positional[0].elements):
        return Kind.INTEGER  # `tf.concat([start_tokens, tf.zeros(n, dtype="int32")], 1)`: one dtype for all
    numpy = qualified[len("numpy."):] if qualified.startswith("numpy.") else None
    if numpy in _NUMPY_INTEGER_RESULTS:
        return Kind.INTEGER  # a mask or positions (`np.isin(ids, special)`, `np.argsort(d)`)
    if qualified in _TO_NUMPY:
        return Kind.ARRAY  # an explicit host copy (`keras.ops.convert_to_numpy(ids)`)
    if numpy is not None and qualified not in _KEEPS_DTYPE and (
            numpy in NUMPY_FRESH_ARRAYS
            or ((data := numpy_data_arguments(numpy, call)) and all(holds_no_tensor(flow, v, seen) for v in data))):
        # A new array from sizes (`np.arange(n)`), or NumPy of what is already NumPy or Python
        # numbers: no tensor goes in, so nothing is detached here.
        return Kind.ARRAY
    dtype = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "dtype"), None)
    if dtype is not None and qualified.startswith(("tensorflow.", "numpy.", "keras.")):
        return Kind.INTEGER if _integer_dtype(flow, dtype) else Kind.UNKNOWN
    if qualified in _KEEPS_DTYPE and call.args and call.args[0].keyword is None:
        # `tf.Variable(tf.zeros(s, dtype=tf.int32))`, `tf.constant(images.astype(np.uint8))`,
        # `tf.Variable(range(n))`, `tf.constant([0, 2])`: Python ints make an int32 tensor
        first = call.args[0].value
        if kind_of(flow, first, seen) == Kind.INTEGER or is_integer_literal(first) or _builtin_range(imports, first):
            return Kind.INTEGER
    if qualified == "tensorflow.range":  # `tf.range(4.0)` counts in floats
        return Kind.FLOAT if any(is_float_literal(v) for v in positional) else Kind.INTEGER
    if qualified.startswith("tensorflow.strings."):
        return Kind.STRING
    return Kind.UNKNOWN


# TensorFlow Probability's distributions over whole numbers: what `sample()` draws is an integer
# tensor (a one-hot one for OneHotCategorical), with no gradient to the parameters.
_DISCRETE_DISTRIBUTIONS = frozenset({"Categorical", "Bernoulli", "OneHotCategorical", "Multinomial", "Binomial",
                                     "Poisson", "Geometric", "NegativeBinomial", "DiscreteUniform"})


def _discrete_distribution(flow: "DataFlow", expr: cst.BaseExpression) -> bool:
    """`expr` is a TFP distribution over whole numbers: made in place, or a name every binding of
    which makes one (`dist = tfp.distributions.Categorical(probs=p)`)."""
    if isinstance(expr, cst.Name):
        bound = [b.value for b in flow.bindings if b.name == expr.value]
        return bool(bound) and all(isinstance(v, cst.Call) and _discrete_distribution(flow, v) for v in bound)
    if not isinstance(expr, cst.Call):
        return False
    qualified = flow.imports.resolve(expr.func) or ""
    return qualified.startswith("tensorflow_probability.") and qualified.rsplit(".", 1)[-1] in _DISCRETE_DISTRIBUTIONS


def makes_an_object(call: cst.Call, imports) -> bool:
    """A call of a class (`tfp.bijectors.Shift(shift=self.shift)`, `tf.linalg.LinearOperatorDiag(d)`):
    an object that keeps the variables it is given and reads them when it is used, not a tensor."""
    qualified = imports.resolve(call.func)
    return qualified is not None and qualified.rsplit(".", 1)[-1][:1].isupper()


def holds_no_tensor(flow: "DataFlow", expr: cst.BaseExpression, seen: frozenset = frozenset()) -> bool:
    """NumPy, Python numbers or strings, shapes, integers: also a list or tuple of them, written
    out (`[ti, hi, wi]`) or a name bound to `[]` and only filled by `.append` of them."""
    if isinstance(expr, (cst.List, cst.Tuple)):
        return all(isinstance(e, cst.Element) and holds_no_tensor(flow, e.value, seen) for e in expr.elements)
    if isinstance(expr, cst.Name) and expr.value not in seen:
        bound = [b for b in flow.bindings if b.name == expr.value]
        if bound and all(isinstance(b.value, cst.List) and not b.value.elements for b in bound):
            appended = [n.args[0].value for n in walk_scope(flow.scope.body) if isinstance(n, cst.Call)
                        and isinstance(n.func, cst.Attribute) and n.func.attr.value == "append"
                        and isinstance(n.func.value, cst.Name) and n.func.value.value == expr.value and len(n.args) == 1]
            return bool(appended) and all(holds_no_tensor(flow, v, seen | {expr.value}) for v in appended)
    return kind_of(flow, expr, seen) in _HOST_KINDS


def _builtin_range(imports, expr: cst.BaseExpression) -> bool:
    return (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "range"
            and imports.resolve(expr.func) is None)


def _integer_dtype(flow: "DataFlow", expr: cst.BaseExpression) -> bool:
    return all(is_integer_dtype(name) or name == "bool" for name in flow.scope.dtype_names(expr))


def _name_kind(flow: "DataFlow", name: str, seen: frozenset) -> Kind:
    if name in seen:
        return Kind.UNKNOWN
    seen = seen | {name}
    key = ("kind", name)
    cache = flow.value_cache
    if key in cache:
        return cache[key]
    cache[key] = Kind.UNKNOWN  # a cycle through this name is unknown
    bindings = [b for b in flow.bindings if b.name == name]
    # `indices = tf.random.shuffle(indices)`: a rebinding from the name itself keeps the kind its
    # other bindings agree on when, assuming that kind, it makes the same one
    rebindings = [b for b in bindings if b.value is not None and name in names_in(b.value)
                  and not isinstance(b.statement, (cst.For, cst.CompFor))]
    kinds = {_bound_kind(flow, b, seen) for b in bindings if b not in rebindings}
    if name in flow.scope.parameter_names:
        kinds.add(_parameter_kind(flow, name))
    result = kinds.pop() if len(kinds) == 1 else Kind.UNKNOWN
    if rebindings and result is not Kind.UNKNOWN:
        cache[key] = result
        rebound = {_bound_kind(flow, b, seen - {name}) for b in rebindings}
        if rebound - {result}:
            # `idx = x.nonzero(); idx = np.vstack(idx)`: host data made from host data stays on the host
            result = Kind.ARRAY if {result, *rebound} <= _HOST_KINDS else Kind.UNKNOWN
    cache[key] = result
    return result


def _bound_kind(flow: "DataFlow", binding, seen: frozenset) -> Kind:
    if isinstance(binding.statement, (cst.For, cst.CompFor)) and binding.value is binding.statement.iter:
        # `for key in inputs`: the items of what is iterated.
        container = binding.value
        if isinstance(container, cst.Name) and is_mapping(flow, container.value):
            return Kind.STRING
        if isinstance(container, cst.Call) and isinstance(container.func, cst.Attribute) \
                and container.func.attr.value == "keys":
            return Kind.STRING
        if isinstance(container, cst.Call) and isinstance(container.func, cst.Name) \
                and container.func.value == "range":
            return Kind.NUMBER
        return Kind.UNKNOWN
    if isinstance(binding.statement, cst.AugAssign):
        return Kind.UNKNOWN
    return kind_of(flow, binding.value, seen)


def _parameter_kind(flow: "DataFlow", name: str) -> Kind:
    node = flow.scope.node
    for param in _params(node):
        if param.name.value != name:
            continue
        annotation = param.annotation.annotation if param.annotation is not None else None
        if isinstance(annotation, cst.Name) and annotation.value in _ANNOTATIONS:
            return _ANNOTATIONS[annotation.value]
        if annotation is not None and (flow.imports.resolve(annotation) or "").startswith(("tensorflow.", "numpy.")):
            dtype = flow.imports.dtype_name(annotation)  # `lengths: tf.int32`, as sequence models write it
            if is_integer_dtype(dtype) or dtype == "bool":
                return Kind.INTEGER
        if param.default is not None and isinstance(param.default, (cst.Integer, cst.Float)):
            return Kind.NUMBER
        if param.default is not None and isinstance(param.default, (cst.SimpleString, cst.ConcatenatedString)):
            return Kind.STRING
        if is_mapping(flow, name):
            return Kind.MAPPING
        return _passed_kind(flow, node, name)
    return Kind.UNKNOWN


def _passed_kind(flow: "DataFlow", function, name: str) -> Kind:
    """What every caller in the module passes for a helper's parameter, when they agree and
    it carries no gradient (`scale(x, int(n))`). A forward method's own inputs come from Keras."""
    scope = flow.scope
    if not isinstance(function, cst.FunctionDef) or scope.is_forward_entry:
        return Kind.UNKNOWN
    kinds = set()
    for caller, call in scope.module.callers_of(scope):
        value = argument_for(function, call, name)
        caller_flow = caller.flow
        if value is None or caller_flow is None or caller is scope:
            return Kind.UNKNOWN
        kinds.add(kind_of(caller_flow, value))
    if len(kinds) == 1 and (kind := kinds.pop()) in NO_GRADIENT_KINDS:
        return kind
    return Kind.UNKNOWN


def _params(node) -> list[cst.Param]:
    if not isinstance(node, (cst.FunctionDef, cst.Lambda)):
        return []
    params = node.params
    return [*params.posonly_params, *params.params, *params.kwonly_params]


def is_mapping(flow: "DataFlow", name: str) -> bool:
    """The scope reads `name` by string keys (`inputs["image"]`, `inputs[f"P{i}"]`): a dict."""
    key = ("mapping", name)
    cache = flow.value_cache
    if key not in cache:
        cache[key] = any(
            isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value == name
            and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
            and isinstance(node.slice[0].slice.value, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString))
            for node in _scope_nodes(flow))
    return cache[key]


def _scope_nodes(flow: "DataFlow"):
    key = ("nodes",)
    if key not in flow.value_cache:
        flow.value_cache[key] = list(walk_scope(flow.scope.body))
    return flow.value_cache[key]


# -- branches -------------------------------------------------------------------


def narrowed_to_data(parent, imports, node: cst.CSTNode, names: set[str]) -> bool:
    """Whether every name of `names` read in `node` is known there not to be a tensor: it
    is read in the branch of an `isinstance(name, list)` (or `dict`, `np.ndarray`...) test,
    in the `else` of `tf.is_tensor(name)`, or is an item iterated from such a name."""
    if not names:
        return False
    return all(_narrowed(parent, imports, node, name) for name in names)


def _narrowed(parent, imports, node: cst.CSTNode, name: str) -> bool:
    tables: Optional[dict[str, cst.Dict]] = None
    flags: Optional[dict[str, cst.Call]] = None
    child: Optional[cst.CSTNode] = None
    current: Optional[cst.CSTNode] = node
    while current is not None and not isinstance(current, (cst.FunctionDef, cst.Lambda, cst.Module)):
        if isinstance(current, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            comp: Optional[cst.CompFor] = current.for_in
            while comp is not None:
                if name in names_in(comp.target) and child is not comp.iter:
                    return narrowed_to_data(parent, imports, current, set(names_in(comp.iter)))
                comp = comp.inner_for_in
        if isinstance(current, cst.If):
            if tables is None or flags is None:  # one function holds every branch around `node`
                tables, flags = _tables(parent, current), _flags(parent, current)
            if child is current.body and _test_says(current.test, name, imports, True, tables, flags):
                return True
            if child is current.orelse and _test_says(current.test, name, imports, False, tables, flags):
                return True
        child, current = current, parent(current)
    return False


def _tables(parent, node: cst.CSTNode) -> dict[str, cst.Dict]:
    """Dict literals the function around `node` binds once at its top level (`kinds = {"tf": tf.Tensor,
    "np": np.ndarray}`): a type test may look its types up there (`isinstance(x, kinds[target])`)."""
    return {k: v for k, v in _bound_once(parent, node).items() if isinstance(v, cst.Dict)}


def _flags(parent, node: cst.CSTNode) -> dict[str, cst.Call]:
    """Calls the function around `node` binds to a name once, anywhere in its body (`index_is_tensor
    = tf.is_tensor(index)`, before the input is converted): a test may read one for the call."""
    return {k: v for k, v in _bound_once(parent, node, everywhere=True).items() if isinstance(v, cst.Call)}


def _bound_once(parent, node: cst.CSTNode, everywhere: bool = False) -> dict[str, cst.BaseExpression]:
    function = node
    while function is not None and not isinstance(function, (cst.FunctionDef, cst.Module)):
        function = parent(function)
    if not isinstance(function, cst.FunctionDef) or not isinstance(function.body, cst.IndentedBlock):
        return {}
    statements = walk_scope(list(function.body.body)) if everywhere else function.body.body
    bound: dict[str, list] = {}
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                        and isinstance(small.targets[0].target, cst.Name):
                    bound.setdefault(small.targets[0].target.value, []).append(small.value)
    return {k: v[0] for k, v in bound.items() if len(v) == 1}


def _tested_types(types: cst.BaseExpression, tables: dict[str, cst.Dict]) -> list[cst.BaseExpression]:
    """The type expressions an `isinstance` test names: a tuple's, or every value of the table a
    subscript looks them up in."""
    if isinstance(types, cst.Subscript) and isinstance(types.value, cst.Name) and types.value.value in tables:
        values = [e.value for e in tables[types.value.value].elements if isinstance(e, cst.DictElement)]
        return [t for v in values for t in _tested_types(v, {})]
    return [e.value for e in types.elements] if isinstance(types, cst.Tuple) else [types]


def _test_says(test: cst.BaseExpression, name: str, imports, data: bool,
               tables: Optional[dict[str, cst.Dict]] = None, flags: Optional[dict[str, cst.Call]] = None) -> bool:
    """Whether `test` being true (`data`) or false (not `data`) means `name` is not a tensor."""
    tables, flags = tables or {}, flags or {}
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _test_says(test.expression, name, imports, not data, tables, flags)
    if isinstance(test, cst.BooleanOperation):
        both = isinstance(test.operator, cst.And) == data
        if both:  # `a and b` true: each is true; `a or b` false: each is false
            return _test_says(test.left, name, imports, data, tables, flags) or \
                _test_says(test.right, name, imports, data, tables, flags)
        return _test_says(test.left, name, imports, data, tables, flags) and \
            _test_says(test.right, name, imports, data, tables, flags)
    if isinstance(test, cst.Name) and test.value in flags:
        test = flags[test.value]
    if not isinstance(test, cst.Call) or not test.args or _subject(test.args[0].value) != name:
        return False
    if isinstance(test.func, cst.Name) and test.func.value == "isinstance" and len(test.args) == 2:
        qualified = [imports.resolve(e) or dotted_name(e) or "" for e in _tested_types(test.args[1].value, tables)]
        if data:
            return all(q in _DATA_TYPES for q in qualified)
        # False: the value is none of the types, so not a tensor when they include TensorFlow's
        # tensor and variable (a table of several libraries' tensor types included).
        return all(q in _TENSOR_TYPES for q in qualified) or {"tensorflow.Tensor", "tensorflow.Variable"} <= set(qualified)
    return not data and (imports.resolve(test.func) or "") in _TENSOR_TESTS


def tensor_test_subject(test: cst.CSTNode, imports) -> Optional[str]:
    """The name that `test` being true says is a TF tensor: `x` of `isinstance(x, tf.Tensor)` (every
    type tested a TF or Keras tensor or variable) or `tf.is_tensor(x)`, resolved through the imports
    (`torch.Tensor` is no such test)."""
    if not isinstance(test, cst.Call) or not test.args or not isinstance(test.args[0].value, cst.Name):
        return None
    if isinstance(test.func, cst.Name) and test.func.value == "isinstance" and len(test.args) == 2:
        qualified = [imports.resolve(e) or "" for e in _tested_types(test.args[1].value, {})]
        return test.args[0].value.value if qualified and all(q in _TF_TENSOR_TYPES for q in qualified) else None
    if len(test.args) == 1 and (imports.resolve(test.func) or "") in _TENSOR_TESTS:
        return test.args[0].value.value
    return None


def names_narrowed_at(parent, imports, node: cst.CSTNode) -> set[str]:
    """The names the branches around `node` say are not tensors there (`if not tf.is_tensor(edges):`,
    also through a flag bound to the test): data handed in, from which no gradient comes."""
    found: set[str] = set()
    tables: Optional[dict[str, cst.Dict]] = None
    flags: Optional[dict[str, cst.Call]] = None
    child: Optional[cst.CSTNode] = None
    current: Optional[cst.CSTNode] = node
    while current is not None and not isinstance(current, (cst.FunctionDef, cst.Lambda, cst.Module)):
        if isinstance(current, cst.If) and child in (current.body, current.orelse):
            if tables is None or flags is None:  # one function holds every branch around `node`
                tables, flags = _tables(parent, current), _flags(parent, current)
            tested = [flags.get(n.value, n) for n in descendants(current.test) if isinstance(n, cst.Name)]
            subjects = {_subject(c.args[0].value) for c in [current.test, *descendants(current.test), *tested]
                        if isinstance(c, cst.Call) and c.args}
            found |= {name for name in subjects if name is not None and _test_says(
                current.test, name, imports, child is current.body, tables, flags)}
        child, current = current, parent(current)
    return found


def _subject(tested: cst.BaseExpression) -> Optional[str]:
    """The name a type test is about: `x`, `self.x`, or the list of `tf.is_tensor(attrs[i])`."""
    if isinstance(tested, cst.Subscript):
        tested = tested.value
    return dotted_name(tested)


# -- which library made a value ----------------------------------------------------


class Origin(enum.Enum):
    NUMPY = "NumPy"
    TENSOR = "TensorFlow or Keras"
    PYTHON = "Python"


def origin_of(flow: "DataFlow", expr: cst.BaseExpression, _seen: frozenset = frozenset()) -> Optional[Origin]:
    """Which library made the value of `expr`, where the code shows it: arithmetic with a Keras 3
    weight differs by it (NumPy on the left turns the weight into an array). None: unknown."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return Origin.PYTHON
    if isinstance(expr, cst.UnaryOperation):
        return origin_of(flow, expr.expression, _seen)
    if isinstance(expr, cst.Subscript):
        return origin_of(flow, expr.value, _seen)
    if isinstance(expr, cst.BinaryOperation):
        sides = {origin_of(flow, expr.left, _seen), origin_of(flow, expr.right, _seen)}
        if Origin.TENSOR in sides:
            return Origin.TENSOR if Origin.NUMPY not in sides else None
        if Origin.NUMPY in sides:
            return Origin.NUMPY if None not in sides else None
        return Origin.PYTHON if sides == {Origin.PYTHON} else None
    if isinstance(expr, cst.Call):
        qualified = flow.imports.resolve(expr.func) or ""
        if qualified.startswith("numpy.") and qualified not in _METADATA_CALLS:
            return Origin.NUMPY
        if qualified.startswith(("tensorflow.", "keras.")):
            return Origin.TENSOR
        if isinstance(expr.func, cst.Name) and not qualified and expr.func.value in ("float", "int"):
            return Origin.PYTHON
        return None
    attr = self_attribute(expr)
    if attr is not None:
        if flow.scope.is_weight(attr):
            return Origin.TENSOR
        return _agreed(flow, _attribute_values(flow, attr), _seen, "self." + attr)
    if isinstance(expr, cst.Name):
        if expr.value in flow.scope.parameter_names:
            kind = _parameter_kind(flow, expr.value)
            if kind == Kind.NUMBER:
                return Origin.PYTHON
            # Keras's `Layer.__call__` converts the inputs of `call` to tensors.
            params = _params(flow.scope.node)
            if flow.scope.is_forward_entry and len(params) > 1 and params[1].name.value == expr.value:
                return Origin.TENSOR
            return None
        values = [(flow, b.value) for b in flow.bindings if b.name == expr.value and isinstance(b.statement, cst.Assign)]
        if len(values) != sum(1 for b in flow.bindings if b.name == expr.value):
            return None
        return _agreed(flow, values, _seen, expr.value)
    return None


def _agreed(flow: "DataFlow", values: list, seen: frozenset, key: str) -> Optional[Origin]:
    if key in seen or not values:
        return None
    origins = {origin_of(value_flow, value, seen | {key}) for value_flow, value in values}
    return origins.pop() if len(origins) == 1 else None


def _attribute_values(flow: "DataFlow", attr: str) -> list:
    """What the class's methods assign to `self.<attr>`, each with its method's flow; [] when
    one assignment is not `self.<attr> = value` alone."""
    found = []
    for scope, node in flow.scope.attribute_assignments(attr):
        if not (isinstance(node, cst.Assign) and any(self_attribute(t.target) == attr for t in node.targets)):
            return []  # augmented, or `self.a, self.b = helper(...)`
        found.append((scope.analyse(), node.value))
    return found
