"""The child side of `--verify`: imports TensorFlow once and runs each unit.

Reads a job as JSON on stdin and writes one JSON line, after the marker, on stdout.
It needs only the standard library, NumPy and TensorFlow, so it runs in the
project's own environment too (`--python`). Nothing here is imported by the static
passes.

Each unit comes with two module trees (original and fixed) that hold only the
definitions it needs (the parent sliced them), and with the ways the project builds
it (`plan`): a layer is built by the project's own calls, or inside the model that
constructs it, and called on inputs shaped as the project, its weights, its
constructor arguments or the error of a first failed call say; a training function
or a lifted top-level block is called with synthetic arguments, and every
`tape.gradient` it makes is recorded.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import json
import os
import re
import sys
import tempfile
from typing import Optional, TypedDict

MARKER = "TFGRADFIX-VERIFY "
STARTED, FINISHED = "TFGRADFIX-UNIT-STARTED ", "TFGRADFIX-UNIT-FINISHED "
# Each input a layer is called on, just before: where TensorFlow aborts the process on it (a
# convolution given an input of another rank, on a CPU), the next child skips it.
TRYING = "TFGRADFIX-UNIT-TRYING "
# Image sides to try when a network's downsampling leaves no pixels.
_LARGER_SIDES = (75, 128, 299)
_MORE_CHANNELS = (32, 64)
# The most tensors a synthetic call passes (a recommender's user, item, history, length...).
_MOST_INPUTS = 6
SHAPES = [(2, 4), (2, 8), (2, 3, 4), (2, 16), (2, 5, 8), (2, 28, 28), (2, 32, 32, 3), (2, 28, 28, 1)]
TOLERANCE = 1e-4
# Gradients are compared relative to their scale; float32 sums reorder within about 1e-6.
GRADIENT_TOLERANCE = 1e-3
# A central difference in float32 with a step of 1e-2 agrees within about 1e-3 on smooth layers.
FD_TOLERANCE = 5e-2
SEED = 0
# Retries after a failed first call, each with a size read from the error message.
SHAPE_RETRIES = 3
INPUT_SIZE = re.compile(r"^(input_dim|in_dim|in_features|input_size|in_channels|n_in|num_inputs|in_units|"
                        r"input_features|d_in|input_units|n_inputs|input_shape|num_features|n_features)$")
STEP_COUNT = re.compile(r"(^|_)(steps?|epochs?|iterations?|iters?|n_iter|updates)$")
MODEL_PARAM = re.compile(r"(model|net|network|classifier|regressor|encoder|decoder|generator|discriminator|layer|"
                         r"module|student|teacher|actor|critic|policy|backbone)$")
X_PARAM = re.compile(r"^(x|xs|inputs?|images?|features|batch|samples|tokens?|ids|src|sources?|sequences?|states?|"
                     r"observations?|obs|grid|points|coords|coordinates|collocation\w*|"
                     r"x_\w+|\w+_x|\w+_inputs?|\w+_images?|\w+_ids|\w+_tokens|\w+_states|\w+_points)$",
                     re.IGNORECASE)  # `X`, `X_batch`: the statistics convention
# What a reinforcement-learning update takes with its states: the actions taken (ids below the
# model's first output size) and the rewards got (Python floats, as an environment gives them).
ACTION_PARAM = re.compile(r"^(actions?|\w+_actions?)$")
REWARD_PARAM = re.compile(r"^(rewards?|\w+_rewards?)$")
Y_PARAM = re.compile(r"^(y|ys|labels?|targets?|tgt|y_\w+|\w+_y|\w+_labels?|\w+_targets?)$", re.IGNORECASE)
DATA_PARAM = re.compile(r"(dataset|^ds$|_ds$|^data$|_data$|loader|batches)")
OPTIMIZER_PARAM = re.compile(r"^(opt|optimi[sz]er|\w+_optimi[sz]er)$")
LOSS_PARAM = re.compile(r"^(loss_fn|loss_object|loss_func|criterion|loss)$")
SCALAR_PARAMS = {"lr": 0.01, "learning_rate": 0.01, "batch_size": 2, "seed": 0, "verbose": 0}


# -- the message --------------------------------------------------------------------------------
# The parent (`runner.py`) writes a `Job` as JSON on this child's stdin; the child answers one
# `Answer` as JSON after MARKER. Both sides spell the keys from these types.

class _UnitRequired(TypedDict):
    kind: str  # "layer", "function" (a training function, or a method of a plain class), "loss" or "block"
    name: str  # the class, function, `Class.method`, or lifted top-level block
    label: str  # the key of its verdict in the answer
    entry: str  # the module that defines it


class UnitJob(_UnitRequired, total=False):
    """One unit to run before and after its fixes (`runner.plan_unit`); `original` and
    `fixed` are always given, the others where the plan found them."""
    original: str  # the folder of the module tree as it was
    fixed: str  # and as the fixes leave it
    example: Optional[dict]  # the configuration's or `example()`'s {"args", "kwargs", "input_shape"}
    flags: dict  # constructor options off by default, turned on where the fix ran under none
    shapes: list  # input shapes the project uses (`plan.input_shapes`)
    integer_shapes: list  # shapes of integer inputs (token ids)
    integer_inputs: dict  # {parameter: {"bound", "attr"}}: where an integer input's bound comes from
    nested_in: str  # the model that builds this layer, if any
    input_structure: Optional[dict]  # {"kind": "list", "size"} or {"kind": "dict", "keys"}
    parameters: list  # a lifted block's parameters (bound to synthetic batches)
    objects: list  # the module-level objects the unit uses (a script's model)
    missing: dict  # name -> why it was not loaded
    numpy_calls: list  # NumPy calls in the original and the fixed tree
    modules: list  # other modules to import (where the builders are)
    builders: list  # a layer's or a method's: `plan.Builder.as_json()` of each way to build it
    settings: dict  # the defaults of the project's command-line options and flags (`plan.settings`)
    models: list  # a function's: the same, of each model it can be given
    avoid_shapes: list  # inputs on which TensorFlow aborted an earlier child: not tried again


class FileJob(TypedDict):
    units: list  # of UnitJob


class Job(TypedDict):
    files: list  # of FileJob
    device: str  # "auto", "cpu" or "gpu"


class Answer(TypedDict):
    device: str  # what ran the units: "GPU:0" or "CPU"
    files: list  # for each FileJob: {unit label: verdict}


def choose_device(requested: str, gpus: list) -> str:
    """`GPU:0` when TensorFlow lists a GPU and the user did not ask for the CPU."""
    return "GPU:0" if requested != "cpu" and gpus else "CPU"


class Inconclusive(Exception):
    pass


# Keras wraps an error raised in `call` in a first line that says only where; the cause follows.
_KERAS_WRAPPER = re.compile(r"^Exception encountered when calling [\w.]+\(\)\.?$")
_ESCAPES = re.compile(r"\x1b\[[0-9;]*m|\{\{function_node [^}]*\}\}\s*")


def _first_line(error: BaseException) -> str:
    """The first line of the message that says what went wrong (under Keras's "Exception
    encountered when calling X.call()", the cause)."""
    lines = [line.strip() for line in _ESCAPES.sub("", str(error)).splitlines() if line.strip()]
    if len(lines) > 1 and _KERAS_WRAPPER.match(lines[0]):
        lines = lines[1:]
    if len(lines) > 1 and lines[0] == "in user code:":
        # tf.function's: the frames of the traced code, then the error raised there.
        lines = [next((line for line in reversed(lines) if re.match(r"^\w+(Error|Exception|Exit)\b", line)),
                      lines[-1])]
    return lines[0][:300] if lines else ""


def _describe(error: BaseException) -> str:
    if _KERAS_3_FILE.search(_last_file(error)):
        _keras_3_refused.append(_first_line(error))
    return f"{type(error).__name__}: {_first_line(error)}"


# What Keras 3 itself raised, or refused of the project's own code, while the current unit ran
# (`verify_unit` empties it): a unit left inconclusive for that is run again under Keras 2 where
# the Python has tf_keras (`runner`), as code written for Keras 2 (a `/` in a layer's name, a
# flag passed positionally, a NumPy integer as a size) runs there.
_keras_3_refused: list[str] = []
_KERAS_3_FILE = re.compile(r"[/\\]keras[/\\]src[/\\]")


def _last_file(error: BaseException) -> str:
    """The file of the innermost frame that raised `error`."""
    trace, last = error.__traceback__, ""
    while trace is not None:
        last, trace = trace.tb_frame.f_code.co_filename, trace.tb_next
    return last


def _needs(error: BaseException) -> None:
    """Raise Inconclusive when running the original needed a module that is not installed (an
    import the slice bound to a stand-in, used after all): no other way of running it helps."""
    name = _missing_module(error)
    if name:
        raise Inconclusive(f"needs {name}, which is not installed") from error
    if _CPU_LIMIT.search(str(error)):
        raise Inconclusive(f"needs a GPU: {_first_line(error)}; run --verify where TensorFlow lists a GPU "
                           "(--verify-device gpu)") from error


# An op TensorFlow runs only on a GPU (StyleGAN's NCHW convolutions): no input the CPU takes helps.
_CPU_LIMIT = re.compile(r"only supports? (the )?\w+ (tensor )?format on (the )?CPU|not supported on (the )?CPU|"
                        r"only (supported|available|implemented) on (the )?GPU")


def _missing_module(error: BaseException) -> str:
    """The module a ModuleNotFoundError names (Keras re-raises one from `call` without its
    `name`, the message keeping it)."""
    if not isinstance(error, ModuleNotFoundError):
        return ""
    found = re.search(r"No module named '([\w.]+)'", str(error))
    return error.name or (found.group(1) if found else "")


# -- loading a tree -----------------------------------------------------------------------

def _purge(root: str) -> None:
    """Drop the tree's modules from sys.modules. Only those loaded from the tree: a project
    folder named like an installed package (a research repository's `tensorflow/` of
    examples) must not unload the real one, which a second import would leave half-built."""
    tops = {name[:-3] if name.endswith(".py") else name for name in os.listdir(root)}
    inside = os.path.realpath(root) + os.sep
    # Every module is placed before any is dropped: a namespace package's `__path__` is
    # recomputed from its parent's entry in sys.modules (`models.inception` without an
    # `__init__.py` looks up `models`), which would be gone.
    drop = [name for name, module in list(sys.modules.items())
            if name.split(".")[0] in tops and any(os.path.realpath(place).startswith(inside)
                                                    for place in _places(module) if place)]
    for name in drop:
        sys.modules.pop(name, None)


def _places(module) -> list[str]:
    """Where a module was loaded from: its file, or a package's folders."""
    try:
        folders = list(getattr(module, "__path__", None) or [])
    except KeyError:  # a namespace package whose parent is no longer loaded
        folders = []
    return [getattr(module, "__file__", None) or "", *folders]


def load_tree(tf, root: str, modules: list[str]) -> dict:
    """Import `modules` from the tree at `root` (the entry first); the tree's modules are
    dropped from sys.modules afterwards, so the other tree can load under the same names.
    The entry failing raises Inconclusive; a later module failing is left out."""
    _purge(root)
    _fresh_home()
    sys.path.insert(0, root)
    loaded = {}
    try:
        for index, name in enumerate(modules):
            tf.keras.utils.set_random_seed(SEED)
            try:
                loaded[name] = importlib.import_module(name)
            except ModuleNotFoundError as error:
                missing = (error.name or "").split(".")[0]
                if index == 0 and not os.path.exists(os.path.join(root, missing)) \
                        and not os.path.exists(os.path.join(root, missing + ".py")):
                    raise Inconclusive(f"needs {error.name}, which is not installed") from error
                if index == 0:
                    raise Inconclusive(f"its definitions do not load: {_describe(error)}") from error
            except Exception as error:
                if index == 0:
                    refused = f", raised by TensorFlow or Keras {_written_for(tf)}" if _library_refuses(error) else ""
                    raise Inconclusive(f"its definitions do not load: {_describe(error)}{refused}") from error
    finally:
        sys.path.remove(root)
        _purge(root)
    return loaded


# -- building layers ------------------------------------------------------------------------

def _flat(tf, value):
    """One float32 vector of every tensor in a (nested) output."""
    parts = [tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tf.nest.flatten(value)
             if hasattr(t, "dtype") or isinstance(t, (int, float))]
    return tf.concat(parts, 0) if parts else tf.zeros([0])


def _variables(tf, obj, seen=None) -> list:
    """Every tf.Variable reachable from the object's attributes (tracked or not), by identity."""
    seen = set() if seen is None else seen
    found = []
    if id(obj) in seen:
        return found
    seen.add(id(obj))
    if isinstance(obj, tf.Variable):
        return [obj]
    if isinstance(obj, (list, tuple)):
        items = obj
    elif isinstance(obj, dict):
        items = obj.values()
    elif isinstance(obj, (tf.Module, tf.keras.layers.Layer)):
        items = [v for k, v in vars(obj).items() if not k.startswith("_") or k in ("_layers",)]
    else:
        return found
    for item in items:
        found += _variables(tf, item, seen)
    return found


def _trainable(tf, obj) -> list:
    return list(getattr(obj, "trainable_variables", None) or [])


def _can_train(tf, variable) -> bool:
    """Trainable and of a float (or complex) dtype: the tape never watches an integer
    variable, so a `tf.Variable(0)` counter made a non-trainable weight loses nothing."""
    dtype = tf.as_dtype(getattr(variable, "dtype", "float32"))
    return bool(getattr(variable, "trainable", False)) and (dtype.is_floating or dtype.is_complex)


def _constructor_signature(cls) -> inspect.Signature:
    """The constructor's signature; for one that only passes `*args, **kwargs` on (a subclass
    that adds a variable to a project base), the signature of the nearest project base that
    names its parameters (`PINN(lb, ub, ...)`), so the guesses fill those in."""
    signature = inspect.signature(cls)
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if not signature.parameters or any(p.kind not in variadic for p in signature.parameters.values()):
        return signature
    for base in cls.__mro__[1:]:
        if (getattr(base, "__module__", "") or "").split(".")[0] in _LIBRARIES:
            break
        try:
            inherited = inspect.signature(base)
        except (TypeError, ValueError):
            continue
        if any(p.kind not in variadic for p in inherited.parameters.values()):
            return inherited
    return signature


# Top-level packages whose classes end the search for a project base's parameters.
_LIBRARIES = frozenset({"keras", "tensorflow", "tf_keras", "builtins", "abc", "typing"})


def _sizes_from_arguments(cls, args, kwargs) -> list[tuple]:
    """An input shape from constructor arguments that name the input size (`input_dim=8`)."""
    try:
        bound = _constructor_signature(cls).bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = dict(kwargs)
    shapes = []
    for name, value in bound.items():
        if INPUT_SIZE.match(name):
            if isinstance(value, int) and value > 0:
                # features last: a batch of vectors, of sequences, of feature maps
                shapes += [(2, value), (2, 8, value), (2, 8, 8, value)]
            elif isinstance(value, (list, tuple)) and all(isinstance(d, int) for d in value):
                shapes.append((2, *value))
    return shapes


def _sizes_from_weights(tf, obj) -> list[tuple]:
    """Inputs that fit weights made before the first call: a `(in, out)` kernel, a convolution's
    `(k, in, out)` or `(kh, kw, in, out)` kernel (channels last, as `tf.nn.conv1d`/`conv2d` default
    to), and last a batch of the weight's own shape, for a weight that scales the input element by
    element (a per-position `gamma` of `(steps, features)`), or that broadcasts over the batch and
    its axes of size 1 (a channel-wise `gamma` of `(1, channels, 1)`). A convolution given an input
    of another rank aborts TensorFlow on a CPU rather than raise, so its own shape comes first."""
    shapes, broadcast = [], []
    for v in _variables(tf, obj):
        dims = [int(d) for d in v.shape]
        if len(dims) == 2:
            shapes += [(2, dims[0]), (2, *dims)]
        elif len(dims) in (3, 4):
            spatial = max(8, 2 * max(dims[:-2]))
            shapes.insert(0, (2, *[spatial] * (len(dims) - 2), dims[-2]))
            if dims[0] == 1 and 1 in dims[1:]:
                broadcast.append((2, *[8 if d == 1 else d for d in dims[1:]]))
    return list(dict.fromkeys(shapes + broadcast))


def _sizes_from_error(error: BaseException, shape: tuple) -> list[tuple]:
    """Last dimensions an error message asks for: `expected axis -1 ... value 7`,
    `In[1]: [7,3]`, `Dimensions must be equal, but are 4 and 7`."""
    text = str(error)
    sizes = []
    for pattern in (r"axis -1 of input shape to have value (\d+)", r"In\[1\]: \[(\d+),", r"but are \d+ and (\d+)",
                    r"last dimension of the input\D{0,40}?(\d+)",
                    r"expected (?:shape|input).*?(\d+)\)?", r"size-incompatible: In\[0\]: \[\d+,\d+\], In\[1\]: \[(\d+)"):
        sizes += [int(m) for m in re.findall(pattern, text)]
    found = [(*shape[:-1], size) for size in dict.fromkeys(sizes) if 0 < size <= 4096 and size != shape[-1]]
    if len(shape) >= 3 and re.search(r"strictly positive value\. Received \w+=0\b|requested shape has 0\b", text):
        # A size made from the input's channels came out zero (`channels // 8` filters): more channels.
        found += [(*shape[:-1], channels) for channels in _MORE_CHANNELS if channels > shape[-1]]
    if len(shape) >= 3 and re.search(r"would be zero or negative|Negative dimension size", text):
        # Downsampling ran out of pixels (an Inception stem needs 75): larger images, same channels.
        found += [(shape[0], *[side] * (len(shape) - 2), shape[-1]) for side in _LARGER_SIDES if side > max(shape[1:-1])]
    return found


def _signature_arguments(cls) -> list[tuple[list, dict]]:
    """Arguments from the constructor's annotations and defaults: sizes for required
    int-like parameters, defaults for the rest."""
    try:
        parameters = list(_constructor_signature(cls).parameters.values())
    except (TypeError, ValueError):
        return []
    kwargs = {}
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        annotation = "" if p.annotation is p.empty else \
            p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "?")
        if annotation == "str" or (not annotation and NAME_LIKE.search(p.name)):
            kwargs[p.name] = p.name
        elif annotation == "float" or FRACTION_LIKE.search(p.name):
            kwargs[p.name] = 0.5
        elif annotation == "bool":
            kwargs[p.name] = False
        elif annotation in ("int", ""):
            kwargs[p.name] = SIZE_GUESS
        else:
            return []
    found = [([], kwargs)] if kwargs else []
    # A size left to None (`n_actions=None`, filled in by the caller from the environment): the
    # constructor makes `tf.zeros([1, n_actions])` of it, which TensorFlow refuses with None in it.
    sizes = {p.name: SIZE_GUESS for p in parameters if p.default is None and p.kind not in (
        p.VAR_POSITIONAL, p.VAR_KEYWORD) and SIZE_LIKE.search(p.name)}
    if sizes:
        found.append(([], {**kwargs, **sizes}))
    # A parameter that holds an initial value (`init_value`, `initial_state`, `value`: the layer makes
    # a variable of it, or reads its `.ndim`): then a float vector of that size instead of a size.
    values = {name: _initial_value(size) for name, size in kwargs.items()
              if isinstance(size, int) and not isinstance(size, bool) and INITIAL_VALUE.search(name)}
    if values:
        found.append(([], {**kwargs, **values}))
    return found


# Required parameters that take a float, often a fraction (`dropout`, a Dropout layer's rate, must
# be below 1): 0.5 is valid for all of them.
FRACTION_LIKE = re.compile(r"(rate|scale|alpha|beta|eps|epsilon|gamma|temperature|dropout|drop|prob|probability"
                           r"|momentum|ratio|fraction)$")

# Parameters named as counts or sizes (`n_actions`, `num_classes`, `action_dim`, `units`).
SIZE_LIKE = re.compile(r"^(n|num|number)_|(^|_)(dim|dims|size|units|actions|classes|features|channels|outputs|"
                       r"inputs|heads|layers|filters|hidden|length|len)$")

# Required parameters that take a string: a layer's `name` or `scope`, which constructors join
# to sub-layers' names (`name + "_conv"`), so a made-up number fails where its own name works.
NAME_LIKE = re.compile(r"(^|_)(name|scope|prefix|suffix|tag|label)$")

# The size guessed for a required argument, and the larger one tried where a constructor
# rejects the size it derives from it (`ch // 8` filters: 0).
SIZE_GUESS, LARGER_SIZE_GUESS = 4, 32
_NOT_POSITIVE = re.compile(r"strictly positive|expected a positive integer|must be (a )?positive|"
                           r"Received:? \w+=0\b|by zero|requested shape has 0\b")


def _required_names(cls) -> set[str]:
    """The constructor parameters without a default: those the verifier guesses."""
    return _named_parameters(cls, inspect.Parameter.empty)


def _named_parameters(cls, default) -> set[str]:
    """The constructor's named parameters (not `*args`, `**kwargs`) whose default is `default`."""
    try:
        parameters = _constructor_signature(cls).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in parameters if p.default is default and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _larger_sizes(cls, kwargs: dict, error: BaseException) -> Optional[dict]:
    """The same arguments with every guessed size made larger, where the build failed on a
    size it derived from them being zero; None where that is not why it failed."""
    if not (isinstance(error, ZeroDivisionError) or _NOT_POSITIVE.search(str(error))):
        return None
    guessed = _required_names(cls)
    larger = {k: LARGER_SIZE_GUESS if k in guessed and type(v) is int and v == SIZE_GUESS else v
              for k, v in kwargs.items()}
    return larger if larger != kwargs else None


def _sizes_indexed(cls, kwargs: dict, error: BaseException) -> Optional[dict]:
    """The same arguments with a guessed size the constructor indexes, measures or iterates
    (`hidden_shape[i]`, `len(units)`, `for units in hidden_units`: 'int' object is not subscriptable,
    has no len, is not iterable) made a tuple of sizes; None where that is not why it failed."""
    guessed = {k for k in _required_names(cls) if type(kwargs.get(k)) is int}
    use = guessed_use(error, guessed)
    if not use or not re.search(r"not subscriptable|has no len|is not iterable", str(error)) or re.search(
            r"\[\s*['\"]", use):
        return None  # `settings['units']` is a mapping the project's configuration gives, not sizes
    name = next((n for n in re.findall(r"\w+", use) if n in guessed), None)
    return None if name is None else {**kwargs, name: (SIZE_GUESS, SIZE_GUESS)}


def _failing_lines(error: BaseException) -> list[str]:
    """The source lines of an error's traceback, the failing line first, then its callers."""
    import linecache

    trace, lines = error.__traceback__, []
    while trace is not None:
        lines.append(linecache.getline(trace.tb_frame.f_code.co_filename, trace.tb_lineno))
        trace = trace.tb_next
    return lines[::-1]


def _shape_asked(cls, kwargs: dict, error: BaseException) -> Optional[dict]:
    """The same arguments with a guessed size that a TF op took as a shape (`tf.random.normal(self.shape)`:
    shape must be a vector, got shape []) made a tuple of sizes; None where that is not why it failed."""
    if not re.search(r"must be a vector|got shape \[\]", str(error)):
        return None
    guessed = {k for k in _required_names(cls) if type(kwargs.get(k)) is int}
    for line in _failing_lines(error):
        named = [n for n in dict.fromkeys(re.findall(r"\w+", line)) if n in guessed]
        if len(named) == 1:
            return {**kwargs, named[0]: (SIZE_GUESS, SIZE_GUESS)}
    return None


def _wrapped(x, *args, **kwargs):
    """Stands for a layer or function a constructor wraps (`LayerScale(dim, fn, depth)`): the input."""
    return x


def _callable_asked(cls, kwargs: dict, error: BaseException) -> Optional[dict]:
    """The same arguments with one the layer calls made a function that returns its input: a guessed
    size (`self.fn(x, training=training)`: 'int' object is not callable), or an optional one left to
    its default None (`self.activation(...)` of `activation=None`, which the project's every call
    gives); None where that is not why it failed."""
    called_kind = re.search(r"'(int|float|NoneType)' object is not callable", str(error))
    if not (isinstance(error, TypeError) and called_kind):
        return None
    if called_kind.group(1) == "NoneType":
        candidates = {k for k in _named_parameters(cls, None) if kwargs.get(k) is None}
    else:
        candidates = {k for k in _required_names(cls) if type(kwargs.get(k)) in (int, float)}
    for line in _failing_lines(error):
        called = next((n for n in re.findall(r"(?:\bself\.)?\b(\w+)\s*\(", line) if n in candidates), None)
        if called is not None:
            return {**kwargs, called: _wrapped}
    return None


# What stands for a required argument the layer hands to a Keras keyword that takes an
# initializer or an activation (`kernel_initializer=self.k_init`), where a made-up number or
# vector is refused: Keras's own defaults. (error pattern, parameter name pattern, value)
_KERAS_ROLES = (
    (re.compile(r"initializer", re.I), re.compile(r"init", re.I), "glorot_uniform"),
    (re.compile(r"activation", re.I), re.compile(r"act", re.I), "linear"),
)


def _role_asked(cls, kwargs: dict, error: BaseException) -> Optional[dict]:
    """The same arguments with a guessed one that Keras refused as an initializer or an activation
    (`Could not interpret initializer identifier: 4`, `Expected shape ... for direct tensor as
    initializer`) made Keras's default of that kind; None where that is not why it failed."""
    if not isinstance(error, (ValueError, TypeError)):
        return None
    guessed = _required_names(cls)
    for message, name, value in _KERAS_ROLES:
        if message.search(str(error)):
            named = {k: value for k in guessed if name.search(k) and k in kwargs and kwargs[k] is not value}
            if named:
                return {**kwargs, **named}
    return None


def _keyword_asked(cls, kwargs: dict, error: BaseException) -> Optional[dict]:
    """The same arguments and the keyword a constructor taking `**kwargs` read and did not get
    (`kwargs['name']`: a KeyError raised in its own `__init__`): a string for a name, a size
    otherwise; None where that is not why it failed."""
    key = error.args[0] if isinstance(error, KeyError) and error.args else None
    if not isinstance(key, str) or key in kwargs or not key.isidentifier():
        return None
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    if trace is None or trace.tb_frame.f_code.co_name != "__init__" or _LIBRARY_FILE.search(
            trace.tb_frame.f_code.co_filename):
        return None
    try:
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in _constructor_signature(cls).parameters.values())
    except (TypeError, ValueError):
        return None
    if not takes_any:
        return None
    return {**kwargs, key: key if "name" in key or "scope" in key else SIZE_GUESS}


def guessed_use(error: BaseException, guessed: set[str]) -> str:
    """`config.device`, `settings['units']` or `len(var_names)`: how the project's code used a
    required argument the verifier made up as a number, where that use is what failed ('int'
    object has no attribute, is not subscriptable; object of type 'int' has no len()). Empty
    where the error is another."""
    if not guessed or not isinstance(error, (TypeError, AttributeError)) or \
            not re.search(r"'(int|float|bool)' object|object of type '(int|float|bool)'", str(error)):
        return ""
    names = "|".join(sorted(map(re.escape, guessed)))
    use = re.compile(rf"\b(?:{names})\s*(?:\[[^\]\n]*\]|\.\w+|\.get\([^)\n]*\))|\blen\(\s*(?:{names})\s*\)|"
                     rf"\bin\s+(?:{names})\b")
    for line in _failing_lines(error):
        found = use.search(line)
        if found:
            return found.group(0).strip()
    return ""


def settings_hint(use: str, guessed: set[str], options: Optional[dict] = None) -> str:
    """What to say of a made-up number the project's code used as something else: no input
    helps, only the project's own values (its configuration). `options`: the defaults of the
    project's option definitions, which were tried and lack what it reads."""
    argument = next((name for name in re.findall(r"\w+", use) if name in guessed), use)
    read = re.findall(r"\.(\w+)$|\[['\"](\w+)['\"]\]$", use)
    missing = next((a or b for a, b in read), "")
    tried = (f"; the defaults of the project's options and flags were tried, and none is `{missing}`"
             if options and missing and missing not in options and SETTINGS_LIKE.search(argument) else "")
    return (f"its constructor uses `{use}`, and `{argument}` is a value only the project's configuration "
            f"gives (a settings object, names, data; the verifier makes up numbers for required arguments){tried}")


# Required parameters that hold the parsed command line or a configuration (`Model(args)`).
SETTINGS_LIKE = re.compile(r"^(config|configs|cfg|conf|args|opt|opts|options|hparams|hps|params|flags|settings|"
                           r"hyperparams|hyper_params|FLAGS)$")


class ProjectSettings:
    """The parsed options a project's constructor reads (`config.device`, `args["units"]`),
    as the defaults of its own option and flag definitions give them. What the unit being
    built read is kept in `OPTIONS_READ`, for its verdict to say."""

    def __init__(self, values: dict) -> None:
        object.__setattr__(self, "_tfgradfix_values", dict(values))

    def __getattr__(self, name: str):
        values = object.__getattribute__(self, "_tfgradfix_values")
        if name not in values:
            raise AttributeError(f"the project's options and flags define no default for `{name}`")
        OPTIONS_READ[name] = values[name]
        return values[name]

    def __getitem__(self, name: str):
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in object.__getattribute__(self, "_tfgradfix_values")

    def get(self, name: str, default=None):
        return getattr(self, name) if name in self else default


OPTIONS_READ: dict = {}


INITIAL_VALUE = re.compile(r"(^|_)(init|initial|start|value|values|tensor|array|constant)(_\w+)?$")


def _initial_value(size: int):
    import tensorflow as tf

    return tf.zeros((size,), tf.float32)


def _class_candidates(modules, unit: UnitJob) -> list[tuple[str, str, list, dict, str]]:
    """(module, name, args, kwargs, via): the unit's own builders, then the enclosing ones."""
    entry, name = unit["entry"], unit["name"]
    found = []
    example = unit.get("example")
    if example:
        found.append((entry, name, list(example.get("args", [])), dict(example.get("kwargs", {})), ""))
    cls = getattr(modules.get(entry), name, None)
    guesses = _signature_arguments(cls) if cls is not None else []
    if unit.get("settings"):
        # Parameters that take the parsed options (`config`, `args`): the project's defaults, before numbers.
        options = ProjectSettings(unit["settings"])
        guesses = [*((a, {p: options if SETTINGS_LIKE.search(p) else v for p, v in k.items()})
                     for a, k in guesses if any(SETTINGS_LIKE.search(p) for p in k)), *guesses]
    for b in unit.get("builders", []):
        found.append((b["module"], b["name"], b["args"], b["kwargs"], b["via"]))
    # The project's own calls whose other arguments are values only known at run time
    # (`Block(in_res=res, kernel=3, up=False)`): their literal arguments, the rest guessed as below.
    for b in unit.get("builders", []):
        if b["name"] == name and not b["via"] and cls is not None:
            found += [(b["module"], name, b["args"], {**k, **b["kwargs"]}, "")
                      for k in (_missing_arguments(cls, b["args"], b["kwargs"], g) for _, g in guesses) if k]
    found.append((entry, name, [], {}, ""))
    found += [(entry, name, a, k, "") for a, k in guesses]
    flags = unit.get("flags")
    if flags:
        # On every way of building it, over the project's own values too: those are mostly its
        # defaults passed down (`FFModule(..., adaptive_scale=adaptive_scale)`), and the fix runs
        # only with the option on.
        found = [(m, n, a, {**k, **flags} if n == name else k, via) for m, n, a, k, via in found]
    return found


def _false_flags(cls) -> dict:
    """The constructor's options that are off by default (`use_attention=False`), all turned on."""
    try:
        parameters = _constructor_signature(cls).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: True for p in parameters if p.default is False}


def _missing_arguments(cls, args: list, kwargs: dict, guessed: dict) -> dict:
    """The guessed values of the required parameters a call leaves out."""
    try:
        bound = _constructor_signature(cls).bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in guessed.items() if k not in bound}


# Integer inputs (token ids) are (batch, time) batches of this many steps, unless the project says.
TIME_STEPS = 5
# `call` parameters that are never tensors to synthesise.
_CALL_OPTIONS = {"training", "mask", "initial_state", "return_state", "kwargs"}


def _sublayers(tf, obj, seen=None) -> list:
    """The object and every Keras layer reachable from its attributes."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        return [layer for item in obj for layer in _sublayers(tf, item, seen)]
    if isinstance(obj, dict):
        return [layer for item in obj.values() for layer in _sublayers(tf, item, seen)]
    if not isinstance(obj, (tf.Module, tf.keras.layers.Layer)):
        return []
    found = [obj]
    for key, value in vars(obj).items():
        if not key.startswith("_") or key == "_layers":
            found += _sublayers(tf, value, seen)
    return found


def integer_bound(tf, obj, hints: dict) -> int | None:
    """The exclusive upper bound of the token ids `obj` takes, or None for float inputs: the
    smallest `input_dim` of its Embedding layers, or of the project's layers it holds that look
    ids up (`hints`, by class, from the parent: the rows of the weight `embedding_lookup` or
    `gather` reads, the depth of `one_hot`)."""
    bounds = []
    for layer in _sublayers(tf, obj):
        if isinstance(layer, tf.keras.layers.Embedding):
            bounds.append(int(layer.input_dim))
        elif type(layer).__name__ in hints:
            bounds.append(_hinted_bound(tf, layer, hints[type(layer).__name__]))
    return min(bounds) if bounds else None


def _hinted_bound(tf, layer, hint: dict) -> int:
    if hint.get("bound"):
        return int(hint["bound"])
    attr = hint.get("attr")
    if attr and getattr(layer, attr, None) is None:
        try:  # the table is made in build(): built on ids that are always in range
            _call(layer, tf.zeros((2, TIME_STEPS), tf.int32))
        except Exception:
            pass
    value = getattr(layer, attr, None) if attr else None
    if isinstance(value, int) and value > 0:
        return value
    if hasattr(value, "shape") and len(value.shape) >= 1 and value.shape[0]:
        return int(value.shape[0])
    return 1  # id 0 is in range of any table


def _arity(obj) -> int:
    """How many tensors `call` takes before its options (`mask`, `training`)."""
    try:
        parameters = inspect.signature(getattr(obj, "call", obj)).parameters.values()
    except (TypeError, ValueError):
        return 1
    required = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is p.empty and p.name not in _CALL_OPTIONS]
    return max(1, min(len(required), _MOST_INPUTS))


def _input(tf, shape, bound=None):
    """A batch: token ids in [0, bound) when `bound` is given, else floats; a tuple of
    shapes gives a tuple of batches (a layer called on several tensors)."""
    if shape and isinstance(shape[0], tuple):
        return tuple(_input(tf, s, bound) for s in shape)
    if bound is not None:
        return tf.random.stateless_uniform(shape, seed=(1, 2), minval=0, maxval=max(1, bound), dtype=tf.int32)
    return tf.random.stateless_normal(shape, seed=(1, 2))


def describe_input(x, bound=None) -> str:
    """`float32 (2, 4)`, `int32 (2, 5) ids < 50`, `float32 (2, 4) + float32 (2, 3, 4)`, a list
    `[float32 (2, 4), float32 (2, 4)]`, a dict `{'a': float32 (2, 4)}`."""
    if isinstance(x, tuple):
        return " + ".join(describe_input(t) for t in x)
    if isinstance(x, list):
        return "[" + ", ".join(describe_input(t) for t in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {describe_input(t)}" for k, t in x.items()) + "}"
    text = f"{x.dtype.name} {tuple(int(d) for d in x.shape)}"
    return f"{text} ids < {bound}" if bound is not None else text


# What a required `call` option gets: inference mode (deterministic: no dropout draws), no mask.
# A required `initial_state` (a recurrent model's `call(self, inputs, initial_state)`) gets None:
# Keras's recurrent layers then start from zeros, as a project's first call does.
_OPTION_VALUES = {"training": False, "mask": None, "initial_state": None}


def _options(layer) -> dict:
    """The options its `call` requires (`call(self, x, training)`): Keras passes none it is not
    given, so the call would raise before running anything of the layer."""
    try:
        parameters = inspect.signature(getattr(layer, "call", layer)).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: _OPTION_VALUES[p.name] for p in parameters if p.name in _OPTION_VALUES
            and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _call(layer, x):
    """The layer on `x`: a tuple is several tensors (`call(self, query, keys)`); a list or a dict
    is one input of that structure."""
    return layer(*x, **_options(layer)) if isinstance(x, tuple) else layer(x, **_options(layer))


def _several(shapes: list[tuple], arity: int) -> list[tuple]:
    """Shapes for a call on `arity` tensors: each pair of the usual ranks that share the batch
    and the last size (a query `(2, d)` and keys `(2, t, d)`), all the same shape first."""
    found = []
    for shape in shapes:
        size = shape[-1]
        flat, sequence = (shape[0], size), (shape[0], 3, size)
        found += [(shape,) * arity, (flat,) + (sequence,) * (arity - 1), (sequence,) + (flat,) * (arity - 1)]
    return list(dict.fromkeys(found))


def _instances(tf, original, fixed, unit: UnitJob):
    """(before, after, input, via) to try, most specific first."""
    entry, name = unit["entry"], unit["name"]
    example = unit.get("example")
    if not example and callable(getattr(original.get(entry), "example", None)) \
            and callable(getattr(fixed.get(entry), "example", None)):
        tf.keras.utils.set_random_seed(SEED)
        before, inputs = original[entry].example()
        tf.keras.utils.set_random_seed(SEED)
        after, _ = fixed[entry].example()
        if type(before).__name__ == name:
            yield before, after, tf.convert_to_tensor(inputs), "", None
    plan_shapes = [tuple(s) for s in unit.get("shapes", [])]
    if example and example.get("input_shape"):
        plan_shapes.insert(0, tuple(example["input_shape"]))
    queue = _class_candidates(original, unit)
    # The unit built directly as the project (or its example) builds it: its error says more
    # than one of a guessed build.
    whole = [True] * bool(example) + [bool(b.get("complete")) for b in unit.get("builders", [])]
    own = {id(c) for c, made in zip(queue, whole) if made and not c[4] and c[1] == name}
    while queue:
        candidate = queue.pop(0)
        module, target, args, kwargs, via = candidate
        make_before, make_after = getattr(original.get(module), target, None), getattr(fixed.get(module), target, None)
        if make_before is None or make_after is None:
            continue
        OPTIONS_READ.clear()
        try:
            probe = _build(tf, make_before, args, kwargs)
        except Exception as error:
            _needs(error)
            if id(candidate) in own:
                error.tfgradfix_call = _call_text(target, args, kwargs)  # type: ignore[attr-defined]
            retried = (_larger_sizes(make_before, kwargs, error) or _sizes_indexed(make_before, kwargs, error)
                       or _shape_asked(make_before, kwargs, error) or _keyword_asked(make_before, kwargs, error)
                       or _callable_asked(make_before, kwargs, error) or _role_asked(make_before, kwargs, error))
            if retried is not None:
                queue.insert(0, (module, target, args, retried, via))
                error.tfgradfix_retried = True  # type: ignore[attr-defined]  # its hint is answered by the retry
            yield None, None, error, via, None  # why it could not be built: the verdict's last error
            continue
        if not isinstance(probe, (tf.keras.layers.Layer, tf.Module)):
            continue
        if _holds_only(tf, probe):
            yield _build(tf, make_before, args, kwargs), _build(tf, make_after, args, kwargs), HOLDER, via, None
            return
        shapes = [*_sizes_from_arguments(make_before, args, kwargs), *_sizes_from_weights(tf, probe),
                  *plan_shapes, *SHAPES]
        arity = _arity(probe)
        # A `call` that takes a list or a dict (the parent read it from the code) gets one; a
        # model built around the layer takes what the model takes.
        structure = unit.get("input_structure") if not via else None
        # How many tensors each input is: the items of a list or dict `call` takes, or its arguments.
        several = (structure.get("size") or len(structure.get("keys", [])) or 2) if structure else arity
        if structure:
            arity = 1
        if structure or several > 1:
            shapes = _several(shapes, several)
        bound = integer_bound(tf, probe, unit.get("integer_inputs", {}))
        # Token ids first when the layer looks them up (for each of several inputs: an encoder's and a
        # decoder's, a recommender's user and item it unpacks from one tuple); floats after, in case it does not.
        id_shapes = [s if several == 1 else (s,) * several
                     for s in (integer_shapes(unit) if bound is not None else [])]
        candidates = [(s, bound) for s in id_shapes] + [(s, None) for s in shapes]
        tried, retries = set(), 0
        aborted = {json.dumps(s) for s in unit.get("avoid_shapes", [])}
        while candidates:
            shape, ids = candidates.pop(0)
            if (shape, ids) in tried or json.dumps(shape) in aborted:
                continue
            tried.add((shape, ids))
            x = _structured(_input(tf, shape, ids), structure)
            try:
                before = _build(tf, make_before, args, kwargs)
                print(TRYING + json.dumps(shape), flush=True)
                _call(before, x)  # built outside any tape, as fit() builds it
            except Exception as error:
                _needs(error)
                # Arguments the call shows were guessed wrong (a size that made a zero-sized
                # projection, an initializer or a function it calls): the whole build again.
                rebuilt = (_callable_asked(make_before, kwargs, error) or _role_asked(make_before, kwargs, error)
                           or _larger_sizes(make_before, kwargs, error))
                if rebuilt is not None:
                    queue.insert(0, (module, target, args, rebuilt, via))
                    error.tfgradfix_retried = True  # type: ignore[attr-defined]
                    yield None, None, error, via, None
                    break
                if retries < SHAPE_RETRIES and ids is None and not structure:
                    # Several tensors (`call(self, query, key, value, pos)`) share the size asked for.
                    asked = [(s, None) for s in (_sizes_from_error(error, shape) if arity == 1 else
                                                 _several(_sizes_from_error(error, shape[0]), arity))]
                    retries += bool(asked)
                    candidates[:0] = asked
                yield None, None, error, via, None
                continue
            try:
                after = _build(tf, make_after, args, kwargs)
            except Exception as error:
                raise AssertionError(f"the fixed {target} cannot be built: {_describe(error)}") from error
            yield before, after, x, via, ids
            break


def _call_text(name: str, args: list, kwargs: dict) -> str:
    shown = [*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]
    return f"{name}({', '.join(shown)})"


def _structured(x, structure: dict | None):
    """Several batches as the one input a `call` on a list or dict takes."""
    if not structure:
        return x
    if structure.get("kind") == "dict":
        return dict(zip(structure["keys"], x))
    return list(x)


def integer_shapes(unit: UnitJob) -> list[tuple]:
    """Shapes of token-id batches: the project's integer `keras.Input`s, then (batch, time), then (batch,)."""
    found = [tuple(s) for s in unit.get("integer_shapes", [])]
    # last, a batch of single ids (a recommender's user and item: `u, i = inputs`, each `(batch,)`)
    return list(dict.fromkeys([*found, (2, TIME_STEPS), (2,)]))


# Stands for the input of a layer or model with no `call`: a holder of variables (SAC's `log_alpha`
# in a `Model`) that other code reads.
HOLDER = object()


def _holds_only(tf, obj) -> bool:
    """A Keras layer or model whose class defines no `call` (Keras's own raises) but holds
    variables: nothing to run, only what it tracks to compare."""
    if not isinstance(obj, tf.keras.layers.Layer):
        return False
    return type(obj).call in (tf.keras.layers.Layer.call, tf.keras.Model.call) and bool(_variables(tf, obj))


def _compare_holders(tf, np, before, after) -> dict:
    """For a holder of variables, like for like: every trainable variable it tracked is still
    tracked with its value, and those it held untracked are tracked after the fix with the
    original's value, or stay untracked where the fix did not touch them (at least one must be
    tracked now). A Keras variable's backing `tf.Variable` counts as tracked."""
    tracked_before = {id(v) for v in _trainable(tf, before)}
    held_before = [v for v in _variables(tf, before) if _can_train(tf, v)]
    untracked_before = sum(id(v) not in tracked_before for v in held_before)
    tracked_after = _trainable(tf, after)
    backing = {id(w) for v in tracked_after for w in (v, getattr(v, "_value", None)) if w is not None}
    untracked_after = [v for v in _variables(tf, after) if _can_train(tf, v) and id(v) not in backing]

    def same_value(variable, pool: list):
        value = np.asarray(variable)
        return next((v for v in pool if tuple(v.shape) == value.shape and np.allclose(np.asarray(v), value)), None)

    def failed(reason: str) -> dict:
        return {"verdict": "failed", "untracked_before": untracked_before, "reason": f"no call to run; {reason}"}

    newly_tracked = 0
    # Tracked ones first: each claims its own counterpart before an untracked one of equal value can.
    for variable in sorted(held_before, key=lambda v: id(v) not in tracked_before):
        was_tracked = id(variable) in tracked_before
        if (match := same_value(variable, tracked_after)) is not None:
            tracked_after.remove(match)
            newly_tracked += not was_tracked
        elif not was_tracked and (match := same_value(variable, untracked_after)) is not None:
            untracked_after.remove(match)
        else:
            return failed(f"the original's {variable.name} has no tracked variable of its shape and value after the fix")
    if tracked_after:
        return failed(f"the fixed one tracks {tracked_after[0].name}, which has no variable of its shape and value "
                      "in the original")
    if untracked_before and not newly_tracked:
        still = [v.name for v in held_before if id(v) not in tracked_before]
        return failed(f"still untracked after the fix: {', '.join(still)}")
    left = untracked_before - newly_tracked
    return {"verdict": "verified", "untracked_before": untracked_before, "reason": (
        f"no call to run (it holds variables that other code reads): {newly_tracked} of the {untracked_before} "
        "untracked trainable variables it holds are tracked after the fix, with the original's value"
        + (f"; {left} the fix did not touch stay untracked" if left else "")
        + ", and every variable it tracked still is")}


def _build(tf, make, args, kwargs):
    tf.keras.utils.set_random_seed(SEED)
    _fresh_home()
    return make(*args, **kwargs)


def _fresh_home() -> None:
    """Give what runs next a home folder of its own, inside the verifier's temporary folder (the
    child's working folder): a constructor that makes `~/tmp/<model>` and refuses one that exists
    (LFADS) builds on both sides, and nothing is left in the user's home."""
    os.environ["HOME"] = tempfile.mkdtemp(prefix="home-", dir=os.getcwd())


def _copy_values(tf, before, after, seen=None) -> None:
    """Give the fixed object the original's values: all weights at once when they line
    up, else attribute by attribute, into sub-layers (a tf.Variable became a weight); and
    the states of its random seeds (dropout masks, noise)."""
    if seen is None:
        _copy_seeds(before, after)
        if len(_trainable(tf, before)) == len(_trainable(tf, after)) and getattr(before, "weights", None):
            try:
                after.set_weights(before.get_weights())
                return
            except Exception:
                pass
        seen = set()
    if id(after) in seen:
        return
    seen.add(id(after))
    for attr, value in vars(after).items():
        theirs = getattr(before, attr, None)
        if theirs is None:
            continue
        pairs = zip(value, theirs) if isinstance(value, (list, tuple)) and isinstance(theirs, (list, tuple)) \
            else [(value, theirs)]
        for mine, other in pairs:
            if hasattr(mine, "assign") and hasattr(other, "shape") and tuple(mine.shape) == tuple(other.shape):
                mine.assign(tf.cast(other, mine.dtype))
            elif isinstance(mine, (tf.keras.layers.Layer, tf.Module)) and type(mine).__name__ == type(other).__name__:
                _copy_values(tf, other, mine, seen)


def _seed_generators(obj) -> list:
    """The Keras seed generators of an object and its layers (a Dropout's, a GaussianNoise's), in
    the order Keras lists its layers. Each draws its seed from Python's `random` when it is made,
    so a fix that changes what the constructor draws (an initializer made with no seed takes one
    too) would give the fixed model other dropout masks: a first loss that differs for no fault
    of the fix."""
    flatten = getattr(obj, "_flatten_layers", None)
    try:
        layers = list(flatten(include_self=True, recursive=True)) if callable(flatten) else [obj]
    except Exception:
        layers = [obj]
    found, seen = [], set()
    for layer in layers:
        for generator in getattr(layer, "_seed_generators", None) or []:
            if id(generator) not in seen and hasattr(getattr(generator, "state", None), "assign"):
                seen.add(id(generator))
                found.append(generator)
    return found


def _copy_seeds(before, after) -> None:
    """The fixed object's seed generators start where the original's are, when they line up."""
    mine, theirs = _seed_generators(after), _seed_generators(before)
    if len(mine) != len(theirs):
        return
    for generator, other in zip(mine, theirs):
        try:
            if tuple(generator.state.shape) == tuple(other.state.shape):
                generator.state.assign(other.state)
        except Exception:
            pass


def _floats(x) -> list:
    """The float tensors of an input (token ids have no gradient), in `tf.nest` order."""
    import tensorflow as tf

    return [t for t in tf.nest.flatten(x) if t.dtype.is_floating]


def _objective(tf, layer, x, direction):
    """The layer's output, and what is differentiated: the output along a fixed random
    direction plus the losses its call added (`self.add_loss`: a VQ-VAE's codebook and
    commitment terms, which train weights the output's gradient never reaches)."""
    out = _flat(tf, _call(layer, x))
    value = tf.reduce_sum(out * direction(out))
    added = [tf.reduce_sum(tf.cast(loss, tf.float32)) for loss in (getattr(layer, "losses", None) or [])]
    return out, value + tf.add_n(added) if added else value


def _unread(tf, layer, x, direction, variables) -> list[bool]:
    """For each of `variables` (tracked or not), whether the layer's output gets no gradient from
    it (it does not read it, or reads it through a `stop_gradient`)."""
    if not variables:
        return []
    # A Keras 3 weight is watched through the `tf.Variable` backing it.
    variables = [v if getattr(v, "_value", None) is None else v._value for v in variables]
    with tf.GradientTape() as tape:
        for variable in variables:
            tape.watch(variable)
        _, loss = _objective(tf, layer, x, direction)
    return [g is None for g in tape.gradient(loss, variables)]


def _gradients(tf, layer, x, direction):
    """The output, the loss, and the gradients of the trainable variables, then of each float input."""
    inputs = _floats(x)
    with tf.GradientTape() as tape:
        for t in inputs:
            tape.watch(t)
        out, loss = _objective(tf, layer, x, direction)
    grads = tape.gradient(loss, [*_trainable(tf, layer), *inputs])
    # An embedding's or a gathered weight's gradient comes back as `IndexedSlices`: compared dense.
    return out, loss, [g if g is None or not isinstance(g, tf.IndexedSlices) else tf.convert_to_tensor(g)
                       for g in grads]


def verify_layer(tf, np, unit: UnitJob, original: dict, fixed: dict) -> dict:
    errors = []
    refused_init: list = []  # the installed Keras refused the class's own `super().__init__(...)`
    downloads: list = []  # building it, a `get_file` (pretrained weights) could not reach its URL
    own_error = ""  # the project's own way of building it failed: what a user fixes first
    name = unit["name"]
    uses = []  # `config.device`: a guessed argument the project's code used as an object
    cls = getattr(original.get(unit["entry"]), name, None)
    guessed = _required_names(cls) if inspect.isclass(cls) else set()
    if inspect.isclass(cls) and not issubclass(cls, (tf.keras.layers.Layer, tf.Module)):
        # Its Keras-looking base was another module's plain class (a trainer holding its model).
        bases = ", ".join(b.__name__ for b in cls.__mro__[1:-1]) or "object"
        raise Inconclusive(
            f"{name} is a plain class (bases: {bases}), not a Keras layer or tf.Module, and the changed code is "
            f"in none of its methods that holds a tape the verifier can call (a function a method returns is not "
            f"called); add a module-level function without arguments that builds a {name} and runs the changed "
            f"code (a train_step_example()), or check it with the project's own training")
    try:
        for before, after, x, via, bound in _instances(tf, original, fixed, unit):
            if before is None:
                errors.append(_describe(x))
                if isinstance(x, BaseException) and _download_failed(x):
                    downloads.append(x)
                elif isinstance(x, BaseException) and _refused_in_own_init(x):
                    refused_init.append(x)
                if getattr(x, "tfgradfix_call", None) and not own_error:
                    own_error = f"the project's own {x.tfgradfix_call} raises {_describe(x)}"
                if not via and not getattr(x, "tfgradfix_retried", False):
                    uses.append(guessed_use(x, guessed))
                continue
            if x is HOLDER:
                result = _compare_holders(tf, np, before, after)
                if via:
                    result["through"] = via
                return result
            rng = np.random.default_rng(0)
            directions = {}

            def direction(out):
                key = tuple(out.shape)
                if key not in directions:
                    directions[key] = tf.constant(rng.standard_normal(key), dtype=tf.float32)
                return directions[key]

            try:
                out_before, _, grads_before = _gradients(tf, before, x, direction)
                # Variables or layers made per call draw new random values each time: then there
                # is no original output to compare with.
                fresh = not np.allclose(np.asarray(_flat(tf, _call(before, x))), np.asarray(out_before), rtol=1e-5,
                                        atol=1e-6)
            except Exception as error:  # this way of running the original does not work; try the next
                _needs(error)
                errors.append(_describe(error))
                continue
            reachable = [v for v in _variables(tf, before) if _can_train(tf, v)]
            held = {id(v) for v in reachable}
            # Keras 3 keeps a sub-layer's weights in private attributes: for a fix that tracks
            # variables, its tracked ones that the call does not read count too (a NumPy fix is
            # there to give the layer's own tracked weights their gradient: None on both sides fails it).
            unread_flags = _unread(tf, before, x, direction,
                                   [*reachable, *(v for v in _trainable(tf, before) if id(v) not in held)])
            unread, unread_tracked = sum(unread_flags[:len(reachable)]), sum(unread_flags)
            try:
                _call(after, x)
                _copy_values(tf, before, after)
                out_after, _, grads_after = _gradients(tf, after, x, direction)
            except Exception as error:  # the original ran this way: the fixed layer must too
                return {"verdict": "failed", "reason": f"the fixed {via or 'layer'} raises {_describe(error)}",
                        "through": via}
            result = _compare(tf, np, before, after, x, out_before, out_after, grads_before, grads_after, direction,
                              fresh, _fewer_numpy_calls(unit))
            result["input"] = describe_input(x, bound)
            if OPTIONS_READ:
                result["options"] = "the project's option defaults " + ", ".join(
                    f"{k}={v!r}" for k, v in OPTIONS_READ.items())
            # Like for like: a variable a fix left untracked (a finding still open) is still there.
            kept = {id(v) for v in [*_variables(tf, after), *_trainable(tf, after)] if _can_train(tf, v)}
            lost = len({id(v) for v in [*reachable, *_trainable(tf, before)] if _can_train(tf, v)}) - len(kept)
            if result["verdict"] == "verified" and lost > 0:
                result.update(verdict="failed", reason=f"the fixed layer lost {lost} trainable variable(s)")
            none_after = result.get("none_after") or []
            if (result["verdict"] == "failed" and result["reason"].startswith("gradients still None")
                    and len(none_after) <= (unread_tracked if result.get("untracked_before") else unread)
                    and result["max_abs_diff"] == 0):
                # One-sided otherwise: the original's call never read these either (None although
                # watched); what reads them (a loss, another method) is not what ran here.
                result.update(verdict="inconclusive", reason=(
                    f"{', '.join(none_after)}: {name}'s call does not read {'it' if len(none_after) == 1 else 'them'}, "
                    f"or reads {'it' if len(none_after) == 1 else 'them'} through a `stop_gradient`, "
                    f"before the fix or after (its gradient is None on both sides); the code that reads "
                    f"{'it' if len(none_after) == 1 else 'them'} (a loss, another method) did not run here"))
            if via:
                result["through"] = via
                if result["verdict"] == "verified" and not _contains(after, name, unit["entry"]):
                    result.update(verdict="inconclusive", reason=f"{via} was built but holds no {name}")
            return result
    except AssertionError as error:
        return {"verdict": "failed", "reason": str(error)}
    hint = (f"add a call {name}(...) with literal arguments, a module-level example() returning ({name}(...), "
            f"inputs), or an entry in [tool.tfgradfix.verify.examples] in pyproject.toml")
    outer = unit.get("nested_in")
    if outer and any(b["name"] == outer for b in unit.get("builders", [])):
        hint = (f"{name} is defined inside {outer}(), and the model {outer}() returns did not run on any input "
                f"tried; add a module-level example() returning ({outer}(), inputs)")
    elif outer:
        # Only the module's top level can be loaded, and only factories (`build_*()`, `make_*()`...
        # without arguments) are run to reach a class defined inside a function.
        hint = (f"{name} is defined inside {outer}, which the verifier does not run (it runs only factories "
                f"without arguments, named like build_model, make_*, create_*, get_*); move {name} to the "
                f"module's top level, or return a model holding it from such a factory")
    use = next((u for u in reversed(uses) if u), "")
    if use and not outer:
        hint = f"{settings_hint(use, guessed, unit.get('settings'))}; {hint}"
    absent = _absent_modules(original.get(unit["entry"]))
    if absent:  # what it does not find may be what makes it: say so first
        hint = f"install {', '.join(absent)} (its module imports it), or " + hint
    if downloads:
        reason = (f"building {name} downloads a file, and the download failed ({_describe(downloads[-1])}): "
                  f"verify where the network reaches it, or with the file already in Keras's cache ({_keras_home()})")
        return {"verdict": "inconclusive", "reason": reason, "to_add": reason}
    if refused_init and len(refused_init) == len(errors):
        reason = (f"{name}'s own __init__ makes a call the installed Keras refuses "
                  f"({_describe(refused_init[-1])}) {_written_for(tf)}")
        return {"verdict": "inconclusive", "reason": reason, "to_add": reason}
    if own_error:
        return {"verdict": "inconclusive", "reason": f"could not build {name} and call it: {own_error}, before any "
                f"fix (with made-up arguments: {errors[-1]})", "to_add": f"{own_error} (fix that first)"}
    if not guessed and len(errors) > 1 and len(set(errors)) == 1 and errors[0].startswith(("AttributeError", "NameError")):
        # Nothing was made up for its constructor, and every input fails alike: the project's own code.
        said = f"{name} raises {errors[0]} on every input tried, before any fix"
        return {"verdict": "inconclusive", "reason": f"could not build {name} and call it: {said}",
                "to_add": f"{said} (fix that first)"}
    return {"verdict": "inconclusive",
            "reason": f"could not build {name} and call it; {hint}" + (f" (last error: {errors[-1]})" if errors else ""),
            "to_add": hint}


def _made_per_call(tf, layer, x) -> int:
    """How many variables a further call of an already-called layer creates (layers or
    `tf.Variable`s made inside `call`)."""
    made = []

    def count(next_creator, **kwargs):
        made.append(kwargs.get("name"))
        return next_creator(**kwargs)

    try:
        with tf.variable_creator_scope(count):
            _call(layer, x)
    except Exception:  # noqa: BLE001 - user code: the count is what ran before it raised
        pass
    return len(made)


def _absent_modules(module) -> list[str]:
    """The packages a loaded module imports that are not installed (bound to the slice's stand-in)."""
    found = [getattr(v, "_tfgradfix_name", None) for v in vars(module).values()
             if type(v).__name__ == "_tfgradfix_absent"] if module is not None else []
    return sorted({str(n).split(".")[0] for n in found if n})


def _fewer_numpy_calls(unit: UnitJob) -> bool:
    """Whether the fix took NumPy calls out of the code the unit runs (the parent counted them)."""
    before, after = unit.get("numpy_calls", (0, 0))
    return before > after


def _contains(obj, name: str, module: str, seen=None) -> bool:
    """Whether `obj` holds an instance of the class `name` of `module`: the class itself, not
    another of that name (Keras 3's weights are `Variable`s: a project layer `Variable` is not one)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if type(obj).__name__ == name and type(obj).__module__ == module:
        return True
    children = []
    if isinstance(obj, (list, tuple)):
        children = list(obj)
    elif isinstance(obj, dict):
        children = list(obj.values())
    elif hasattr(obj, "__dict__") and hasattr(obj, "trainable_variables"):
        children = list(vars(obj).values())
    return any(_contains(c, name, module, seen) for c in children)


def _traces(tf, np, layer, x, out) -> bool:
    try:
        traced = _flat(tf, tf.function(lambda t: _call(layer, t))(x))
        return bool(np.allclose(np.asarray(traced), np.asarray(out), rtol=1e-4, atol=1e-5))
    except Exception:
        return False


def _changed_gradients(np, grads_before, grads_after, count_after: int) -> float:
    """How much the gradients that came back before changed: the input gradients, and the
    variables' where before and after hold the same variables (same count and shapes, in order)."""
    count_before = len(grads_before) - (len(grads_after) - count_after)
    values_before = [None if g is None else np.asarray(g) for g in grads_before]
    values_after = [None if g is None else np.asarray(g) for g in grads_after]
    inputs = gradients_differ(np, values_before[count_before:], values_after[count_after:])
    if count_before != count_after:
        return inputs
    return max(inputs, gradients_differ(np, values_before[:count_before], values_after[:count_after]))


def _finite_difference_error(tf, layer, x, input_grads, out, direction):
    """The relative error of the layer's input gradient against a central finite difference
    of its output; None when an input has no gradient."""
    if not input_grads or any(g is None for g in input_grads):
        return None
    # Along a random direction of every float input at once.
    steps = [tf.random.stateless_normal(t.shape, seed=(3, 4 + i), dtype=t.dtype) for i, t in enumerate(_floats(x))]
    eps = 1e-2

    def moved(sign):
        it = iter(steps)
        return tf.nest.pack_sequence_as(x, [t + sign * eps * next(it) if t.dtype.is_floating else t
                                            for t in tf.nest.flatten(x)])

    plus = _objective(tf, layer, moved(1.0), direction)[1]
    minus = _objective(tf, layer, moved(-1.0), direction)[1]
    numeric = float((plus - minus) / (2 * eps))
    analytic = float(sum(tf.reduce_sum(g * d) for g, d in zip(input_grads, steps)))
    return abs(numeric - analytic) / max(1e-6, abs(numeric), abs(analytic))


def _compare(tf, np, before, after, x, out_before, out_after, grads_before, grads_after, direction,
             fresh: bool = False, fewer_numpy_calls: bool = False) -> dict:
    names = [v.name for v in _trainable(tf, after)]
    none_before = [v.name for v, g in zip(_trainable(tf, before), grads_before) if g is None]
    untracked_before = max(0, len(_trainable(tf, after)) - len(_trainable(tf, before)))
    none_after = [n for n, g in zip(names, grads_after) if g is None]
    delta = float(np.max(np.abs(np.asarray(out_before, dtype=np.float64) - np.asarray(out_after, dtype=np.float64)))) \
        if tuple(out_before.shape) == tuple(out_after.shape) and np.size(out_before) else \
        (0.0 if tuple(out_before.shape) == tuple(out_after.shape) else float("inf"))
    graph_ok = _traces(tf, np, after, x, out_after)
    # A check fails a fix only on a difference: an original that does not trace either (on
    # this synthetic input) says nothing about the fix.
    graph_ok_before = graph_ok or _traces(tf, np, before, x, out_before)
    input_grads = grads_after[len(names):]
    fd_error = _finite_difference_error(tf, after, x, input_grads, out_after, direction)
    count_before = len(grads_before) - len(input_grads)
    # The original's own, where it has input gradients: a check fails a fix only on a difference
    # (a straight-through estimator disagrees with finite differences on both sides), and it
    # says whether the original's gradients were the derivative of its output already.
    fd_before = _finite_difference_error(tf, before, x, grads_before[count_before:], out_before, direction)
    changed = _changed_gradients(np, grads_before, grads_after, len(names))
    scale = max(1.0, float(np.max(np.abs(np.asarray(out_before, dtype=np.float64))))) if np.size(out_before) else 1.0
    result = {"variables": names, "none_before": none_before, "untracked_before": untracked_before,
              "none_after": none_after, "max_abs_diff": delta, "tf_function": graph_ok, "fd_rel_error": fd_error,
              "fresh_per_call": fresh}
    # A layer without weights (attention, a custom activation) passes its gradient to its inputs.
    inputs_none = [i + 1 for i, g in enumerate(input_grads) if g is None]
    inputs_none_before = [i + 1 for i, g in enumerate(grads_before[len(_trainable(tf, before)):]) if g is None]
    if not names:
        result.update(inputs_none_before=inputs_none_before, inputs_none_after=inputs_none)
    if none_after:
        result.update(verdict="failed", reason=f"gradients still None for {', '.join(none_after)}")
    elif not names and (inputs_none or not input_grads):
        result.update(verdict="failed", reason="the fixed layer has no trainable variables and no gradient reaches "
                      + (f"input {', '.join(map(str, inputs_none))}" if inputs_none else "its inputs"))
    elif not graph_ok and graph_ok_before:
        result.update(verdict="failed", reason="the fixed layer does not run under tf.function")
    elif fresh and not np.allclose(np.asarray(_flat(tf, _call(after, x))), np.asarray(out_after), rtol=1e-5, atol=1e-6):
        made_before, made_after = _made_per_call(tf, before, x), _made_per_call(tf, after, x)
        if made_after < made_before:
            # Fewer: this fix took its part out. Whether what is left is another finding's (one
            # with no fix) or a part this fix should have taken too, the child cannot tell.
            result.update(verdict="inconclusive", reason=f"the fixed layer still makes {made_after} variable(s) on "
                          f"every call, where the original made {made_before}: right if what is left is another "
                          "finding's (a layer or variable made in `call` that has no fix), not otherwise; outputs "
                          "not compared")
        elif made_before == 0:
            # Nothing is made per call: the layer draws random numbers by design (sampling), on
            # both sides. Under one seed the draws repeat, and the outputs can be compared.
            result.update(_seeded_outputs(tf, np, before, after, x, scale))
        else:
            result.update(verdict="failed", reason="the fixed layer still computes something new on every call")
    elif fresh:
        result.update(verdict="verified", reason="the original draws new weights on every call: outputs not compared")
    elif delta > TOLERANCE * scale:
        result.update(verdict="failed", reason=f"outputs differ: max|Δ| {delta:.3g}")
    elif fd_error is not None and fd_error > FD_TOLERANCE and not (fd_before is not None and fd_before > FD_TOLERANCE):
        result.update(verdict="failed", reason=f"the fixed layer's input gradient disagrees with finite "
                                               f"differences of its output: relative error {fd_error:.3g}")
    elif changed > GRADIENT_TOLERANCE and fd_before is not None and fd_before <= FD_TOLERANCE \
            and not fewer_numpy_calls:
        # (Where the fix took NumPy calls out, the part of the gradient lost there may be below
        # what a float32 finite difference resolves: restored, it changes the gradient.)
        # Only a lost gradient may change: where the original's gradients already were the
        # derivative of its output (finite differences agree), the fix has no path to restore.
        result.update(verdict="failed", max_gradient_change=changed,
                      reason=f"gradients that came back before differ after the fix: max relative Δ {changed:.3g}")
    else:
        result.update(verdict="verified", reason="")
    return result


def _seeded_outputs(tf, np, before, after, x, scale: float) -> dict:
    """The verdict for a layer whose every call draws random numbers (before and after the
    fix): its outputs, each computed right after seeding TensorFlow's generators the same way."""
    outputs = []
    for layer in (before, after):
        tf.keras.utils.set_random_seed(SEED)
        outputs.append(np.asarray(_flat(tf, _call(layer, x)), dtype=np.float64))
    if outputs[0].shape != outputs[1].shape:
        return {"verdict": "failed", "reason": "the fixed layer's output has another shape"}
    delta = float(np.max(np.abs(outputs[0] - outputs[1]))) if outputs[0].size else 0.0
    tf.keras.utils.set_random_seed(SEED)
    again = np.asarray(_flat(tf, _call(before, x)), dtype=np.float64)
    if not np.allclose(again, outputs[0], rtol=1e-5, atol=1e-6):
        return {"verdict": "inconclusive", "reason": "the layer draws new random numbers on every call, before "
                "and after the fix, and a seed does not repeat them: outputs not compared"}
    if delta > TOLERANCE * scale:
        return {"verdict": "failed", "max_abs_diff": delta,
                "reason": f"outputs differ under one seed (the layer samples on every call): max|Δ| {delta:.3g}"}
    return {"verdict": "verified", "max_abs_diff": delta,
            "reason": "the layer samples on every call: outputs compared under one seed"}


# -- training functions and lifted blocks -----------------------------------------------------

class Recorder:
    """Every `tape.gradient(target, sources)` while it is on: how many sources, how many None, the target."""

    def __init__(self, tf) -> None:
        self.tf = tf
        self.calls: list[dict] = []
        self._original = tf.GradientTape.gradient

    def __enter__(self):
        recorder, original = self, self._original

        def gradient(tape, target, sources, *args, **kwargs):
            try:
                result = original(tape, target, sources, *args, **kwargs)
            except Exception:  # a NumPy target: the tape never saw it, which is what the fix is about
                count = len(recorder.tf.nest.flatten(sources))
                recorder.calls.append({"sources": count, "none": count, "target": None})
                raise
            flat = recorder.tf.nest.flatten(result, expand_composites=False) if result is not None else [None]
            value = None
            try:
                value = float(recorder.tf.reduce_sum(_flat(recorder.tf, target)))
            except Exception:  # a symbolic tensor in a traced function
                pass
            recorder.calls.append({"sources": len(flat), "none": sum(g is None for g in flat), "target": value,
                                   "values": [_value(recorder.tf, g) for g in flat]})
            return result

        self.tf.GradientTape.gradient = gradient
        return self

    def __exit__(self, *exc):
        self.tf.GradientTape.gradient = self._original
        return False


def _value(tf, gradient):
    """A gradient as an array, to compare before and after; None when there is none or it is
    symbolic (a traced function)."""
    if gradient is None:
        return None
    try:
        return tf.convert_to_tensor(gradient).numpy()
    except Exception:
        return None


def _none_changes(calls_before: list, calls_after: list) -> tuple[int, int]:
    """(restored, lost): gradients None before and a value after, and the other way round, matched by
    position in calls of the same sources; (0, 0) where the calls cannot be matched."""
    restored = lost = 0
    if len(calls_before) != len(calls_after):
        return 0, 0
    for before, after in zip(calls_before, calls_after):
        old, new = before.get("values"), after.get("values")
        if old is None or new is None or len(old) != len(new):
            return 0, 0
        restored += sum(o is None and n is not None for o, n in zip(old, new))
        lost += sum(o is not None and n is None for o, n in zip(old, new))
    return restored, lost


def gradients_differ(np, before: list, after: list) -> float:
    """The largest change, relative to its scale, of a gradient that came back before and after
    (matched by position, where the two lists have the same length and shapes); 0 when none."""
    if len(before) != len(after):
        return 0.0
    worst = 0.0
    for old, new in zip(before, after):
        if old is None or new is None or np.shape(old) != np.shape(new) or not np.size(old):
            continue
        old, new = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
        delta = float(np.max(np.abs(old - new))) / max(1.0, float(np.max(np.abs(old))))
        worst = max(worst, delta)
    return worst


def _nones(value) -> int:
    if value is None:
        return 1
    if isinstance(value, (list, tuple)):
        return sum(_nones(v) for v in value)
    if isinstance(value, dict):
        return sum(_nones(v) for v in value.values())
    return 0


def _model_for(tf, modules: dict, unit: UnitJob, builder: dict | None, entry):
    """The model a function is handed (built from the project), else the first Keras
    object the module holds at the top level (what a lifted block trains)."""
    if builder is not None:
        make = getattr(modules.get(builder["module"]), builder["name"], None)
        if make is None:
            return None
        return _build(tf, make, builder["args"], builder["kwargs"])
    for name in unit.get("objects", []):
        value = getattr(entry, name, None)
        if isinstance(value, (tf.keras.layers.Layer, tf.Module)):
            return value
    return None


def _first_output(tf, model, candidates: list[tuple]) -> tuple:
    """((input shape, id bound or None), output) of the first input the model accepts."""
    if model is None:
        return candidates[0], None
    queue, tried, retries = list(candidates), set(), 0
    while queue:
        spec = queue.pop(0)
        if spec in tried:
            continue
        tried.add(spec)
        try:
            return spec, _call(model, _input(tf, *spec))
        except Exception as error:
            _needs(error)
            if retries < SHAPE_RETRIES and spec[1] is None:
                retries += 1
                queue[:0] = [(s, None) for s in _sizes_from_error(error, spec[0])]
    raise Inconclusive("no input shape the model accepts was found")


def _model_inputs(tf, model, unit: UnitJob, shapes: list[tuple]) -> list[tuple]:
    """(shape, id bound) to feed a model: token ids first when it looks them up."""
    bound = integer_bound(tf, model, unit.get("integer_inputs", {})) if model is not None else None
    return [*((s, bound) for s in (integer_shapes(unit) if bound is not None else [])), *((s, None) for s in shapes)]


def _another(tf, unit: UnitJob, builder: dict | None, original: dict, fixed: dict, x_spec, side: str):
    """A maker of a second model for a function that takes two (`distill(student, teacher)`):
    built as the first one, its fixed version holding the original's starting values."""
    if builder is None:
        return None
    entry = unit["entry"]

    def make():
        first = _model_for(tf, original, unit, builder, original[entry])
        _call(first, _input(tf, *x_spec))
        if side == "original":
            return first
        made = _model_for(tf, fixed, unit, builder, fixed[entry])
        _call(made, _input(tf, *x_spec))
        _copy_values(tf, first, made)
        return made
    return make


def _arguments(tf, function, model, x_spec, output, labels: str, parameters: list[str] | None, another=None):
    """Keyword arguments for a training function: the model, a batch shaped for it (token
    ids when it looks them up), labels shaped as its output (floats, or class indices), a
    2-batch dataset, 2 steps, an optimizer and a loss."""
    batch = x_spec[0][0]
    x = _input(tf, *x_spec)
    if output is not None and labels == "int":
        classes = int(tf.nest.flatten(output)[0].shape[-1] or 2)
        y = tf.random.stateless_uniform((batch,), seed=(5, 6), maxval=classes, dtype=tf.int32)
    elif output is not None:
        y = tf.random.stateless_normal(tuple(tf.nest.flatten(output)[0].shape), seed=(5, 6))
    else:
        y = tf.random.stateless_normal((batch, 1), seed=(5, 6))
    kwargs = {}
    signature = inspect.signature(function)
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        name = p.name
        if STEP_COUNT.search(name):
            if p.default is p.empty or (isinstance(p.default, int) and p.default > 2):
                kwargs[name] = 2
        elif p.default is not p.empty and parameters is None:
            continue
        elif MODEL_PARAM.search(name) and model is not None:
            given = any(value is model for value in kwargs.values())
            kwargs[name] = another() if given and another is not None else model
        elif Y_PARAM.match(name):
            kwargs[name] = y
        elif ACTION_PARAM.match(name) and output is not None:
            kwargs[name] = tf.random.stateless_uniform((batch,), seed=(7, 8), dtype=tf.int32,
                                                       maxval=int(tf.nest.flatten(output)[0].shape[-1] or 2))
        elif REWARD_PARAM.match(name):
            kwargs[name] = [float(r) for r in tf.random.stateless_uniform((batch,), seed=(9, 10))]
        elif DATA_PARAM.search(name):
            kwargs[name] = tf.data.Dataset.from_tensor_slices((tf.concat([x, x], 0), tf.concat([y, y], 0))).batch(batch)
        elif X_PARAM.match(name):
            kwargs[name] = x
        elif OPTIMIZER_PARAM.match(name):
            kwargs[name] = tf.keras.optimizers.SGD(learning_rate=0.01)
        elif LOSS_PARAM.match(name):
            kwargs[name] = (tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True) if labels == "int"
                            else tf.keras.losses.MeanSquaredError())
        elif name in SCALAR_PARAMS:
            kwargs[name] = SCALAR_PARAMS[name]
        elif p.default is p.empty:
            raise Inconclusive(f"no argument can be made for parameter `{name}` of {function.__name__}(); add a "
                               f"module-level function without arguments that calls {function.__name__}() with real "
                               f"values (a train_step_example()), or check it with the project's own training")
    return kwargs


def _run(tf, function, kwargs, eager: bool):
    tf.config.run_functions_eagerly(eager)
    try:
        with Recorder(tf) as recorder:
            try:
                returned, error = function(**kwargs), None
            except Exception as raised:
                returned, error = None, raised
        return recorder.calls, returned, error
    finally:
        tf.config.run_functions_eagerly(False)


def verify_function(tf, np, unit: UnitJob, original: dict, fixed: dict) -> dict:
    """Run a training function (or a lifted block) before and after with the same
    synthetic arguments; every gradient it asks for must come back, over as many
    variables, at the same first loss, and the fixed one must also trace."""
    entry, name = unit["entry"], unit["name"]
    before, after = getattr(original[entry], name, None), getattr(fixed[entry], name, None)
    if before is None or after is None:
        raise Inconclusive(f"{name} is not defined after loading")
    takes_model = any(MODEL_PARAM.search(p) for p in inspect.signature(before).parameters)
    choices = unit.get("models", []) if takes_model else []
    if takes_model and not choices:
        raise Inconclusive(f"{name}() takes a model and the project has no model the verifier can build; "
                           "add a model factory without arguments or an example() in the module")
    shapes = [tuple(s) for s in unit.get("shapes", [])] + SHAPES
    errors, refused = [], []
    for builder in choices or [None]:
        try:
            model_before = _model_for(tf, original, unit, builder, original[entry])
        except Inconclusive as error:
            errors.append(str(error))
            continue
        except Exception as error:
            _needs(error)
            errors.append(_describe(error))
            if builder is not None and _library_refuses(error):
                refused.append(_refused(tf, builder, error))
            continue
        try:
            x_spec, output = _first_output(tf, model_before, _model_inputs(tf, model_before, unit, shapes))
        except Inconclusive as error:
            errors.append(str(error))
            continue
        except Exception as error:
            _needs(error)
            errors.append(_describe(error))
            continue
        # A function that makes its own model (`fit(x, y, optimizer)`) takes the input size a
        # first failed call's shape error asks for.
        specs = [x_spec]
        for x_spec in specs:
            for labels in ("float", "int"):
                try:
                    tf.keras.utils.set_random_seed(SEED)
                    kwargs_before = _arguments(tf, before, model_before, x_spec, output, labels, unit.get("parameters"),
                                               _another(tf, unit, builder, original, fixed, x_spec, "original"))
                except Inconclusive:
                    raise  # a parameter nothing can be made for: no other labels help
                except Exception as error:
                    errors.append(_describe(error))
                    continue
                # The module's own model is trained in place: keep its start to give the fixed one.
                start = [v.numpy() for v in model_before.weights] if builder is None and model_before is not None \
                    and hasattr(model_before, "weights") else None
                start_seeds = _seed_states(model_before) if start is not None else []
                calls_before, returned_before, error_before = _run(tf, before, kwargs_before, eager=True)
                if not calls_before and error_before is not None:
                    _needs(error_before)
                    errors.append(_describe(error_before))
                    if model_before is None and len(specs) <= SHAPE_RETRIES:
                        specs += [(size, None) for size in _sizes_from_error(error_before, x_spec[0])
                                  if (size, None) not in specs]
                    model_before = _model_for(tf, original, unit, builder, original[entry])
                    _first_output(tf, model_before, [x_spec])
                    continue
                model_after = _model_for(tf, fixed, unit, builder, fixed[entry])
                if model_after is not None:
                    _call(model_after, _input(tf, *x_spec))
                    if builder is not None:
                        fresh = _model_for(tf, original, unit, builder, original[entry])
                        _call(fresh, _input(tf, *x_spec))
                        _copy_values(tf, fresh, model_after)
                    elif start is not None and [tuple(w.shape) for w in start] == [tuple(v.shape) for v in model_after.weights]:
                        model_after.set_weights(start)
                        _set_seed_states(model_after, start_seeds)
                tf.keras.utils.set_random_seed(SEED)
                kwargs_after = _arguments(tf, after, model_after, x_spec, output, labels, unit.get("parameters"),
                                          _another(tf, unit, builder, original, fixed, x_spec, "fixed"))
                calls_after, returned_after, error_after = _run(tf, after, kwargs_after, eager=True)
                result = _compare_runs(np, calls_before, calls_after, returned_before, returned_after, error_after,
                                       unit.get("numpy_calls", (0, 0)), error_before)

                def rerun_original():
                    """The original's first loss, run again exactly as it was run."""
                    again = _model_for(tf, original, unit, builder, original[entry])
                    if again is not None and builder is None and start is not None:
                        again.set_weights(start)
                        _set_seed_states(again, start_seeds)
                    elif again is not None:
                        _call(again, _input(tf, *x_spec))
                    tf.keras.utils.set_random_seed(SEED)
                    kwargs = _arguments(tf, before, again, x_spec, output, labels, unit.get("parameters"),
                                        _another(tf, unit, builder, original, fixed, x_spec, "original"))
                    calls, _, _ = _run(tf, before, kwargs, eager=True)
                    return calls[0]["target"] if calls else None

                result = _if_random(result, calls_before, rerun_original)
                result["model"] = builder["name"] if builder else ""
                fed = next((k for k in kwargs_before if X_PARAM.match(k)), None)
                result["input"] = describe_input(kwargs_before[fed], x_spec[1]) if fed else ""
                if result["verdict"] == "verified":
                    model_graph = _model_for(tf, fixed, unit, builder, fixed[entry])
                    tf.keras.utils.set_random_seed(SEED)
                    kwargs_graph = _arguments(tf, after, model_graph, x_spec, output, labels, unit.get("parameters"),
                                              _another(tf, unit, builder, original, fixed, x_spec, "fixed"))
                    graph_calls, _, graph_error = _run(tf, after, kwargs_graph, eager=False)

                    def original_traced():
                        again = _model_for(tf, original, unit, builder, original[entry])
                        tf.keras.utils.set_random_seed(SEED)
                        kwargs = _arguments(tf, before, again, x_spec, output, labels, unit.get("parameters"),
                                            _another(tf, unit, builder, original, fixed, x_spec, "original"))
                        return _run(tf, before, kwargs, eager=False)

                    _traced(result, graph_calls, graph_error, original_traced, "function")
                return result
    if refused and len(refused) == len(choices):
        raise Inconclusive(refused[-1])
    raise Inconclusive(f"could not call {name}() with synthetic arguments"
                       + (f" (last error: {errors[-1]})" if errors else ""))


# Shapes tried for a loss's (y_true, y_pred): a batch of vectors, of sequences, of images.
LOSS_SHAPES = [(4, 3), (4, 5, 3), (4, 6, 6, 3)]


def _loss_run(tf, loss, y_true, y_pred, traced: bool):
    """The loss's value and its gradient with respect to `y_pred` (None where none comes back)."""
    function = tf.function(loss) if traced else loss
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = function(y_true, y_pred)
        floating = tf.is_tensor(value) and value.dtype.is_floating
        total = tf.reduce_sum(tf.cast(value, tf.float32)) if floating else None
    return value, (tape.gradient(total, y_pred) if total is not None else None)


def verify_loss(tf, np, unit: UnitJob, original: dict, fixed: dict) -> dict:
    """A function handed to `compile(loss=...)`, run on the same synthetic (y_true, y_pred) before
    and after: the same value, and the gradient with respect to the predictions the original had
    (or one where it had None); the fixed loss must also trace, as `model.fit` runs it."""
    entry, name = unit["entry"], unit["name"]
    before, after = getattr(original[entry], name, None), getattr(fixed[entry], name, None)
    if before is None or after is None:
        raise Inconclusive(f"{name} is not defined after loading")
    errors = []
    for shape in [tuple(s) for s in unit.get("shapes", [])] + LOSS_SHAPES:
        y_true = tf.random.stateless_uniform(shape, seed=(1, 2))
        y_pred = tf.random.stateless_uniform(shape, seed=(3, 4))
        try:
            value_before, grad_before = _loss_run(tf, before, y_true, y_pred, traced=False)
        except Exception as error:
            _needs(error)
            errors.append(_describe(error))
            continue
        try:
            value_after, grad_after = _loss_run(tf, after, y_true, y_pred, traced=False)
        except Exception as error:
            return {"verdict": "failed", "reason": f"the fixed loss raises where the original ran ({_describe(error)})",
                    "input": f"y_true, y_pred of shape {shape}"}
        result = {"input": f"y_true, y_pred of shape {shape}", "gradient_calls": 1,
                  "none_gradients": [int(grad_before is None), int(grad_after is None)]}
        difference = float(np.max(np.abs(np.asarray(value_before, np.float64) - np.asarray(value_after, np.float64))))
        if np.shape(value_before) != np.shape(value_after) or not difference <= max(1e-5, 1e-4 * float(
                np.max(np.abs(np.asarray(value_before, np.float64))))):
            return {**result, "verdict": "failed", "reason": f"the loss changed (max|Δ| {difference:.3g})"}
        if grad_after is None:
            return {**result, "verdict": "failed", "reason": "the fixed loss gives no gradient for the predictions"}
        if grad_before is not None:
            changed = gradients_differ(np, [grad_before], [grad_after])
            if changed:
                return {**result, "verdict": "failed",
                        "reason": f"the gradient for the predictions changed (max|Δ| {changed:.3g})"}
        result = {**result, "verdict": "verified", "max_change": difference}
        try:
            _loss_run(tf, after, y_true, y_pred, traced=True)
        except Exception as error:
            try:
                _loss_run(tf, before, y_true, y_pred, traced=True)
            except Exception as error_before:  # no difference the fix made: said, not failed
                result["reason"] = (f"under tf.function, as model.fit runs it, the loss raises before "
                                    f"({_describe(error_before)}) and after ({_describe(error)}): only its eager "
                                    "run was compared")
                return result
            return {**result, "verdict": "failed",
                    "reason": f"the fixed loss does not run under tf.function, as model.fit runs it ({_describe(error)})"}
        return result
    raise Inconclusive(f"could not call {name}(y_true, y_pred) with synthetic tensors"
                       + (f" (last error: {errors[-1]})" if errors else ""))


# A file of the libraries themselves, as a traceback names it.
_LIBRARY_FILE = re.compile(r"[/\\](keras|tensorflow|tf_keras)[/\\]")


def _library_refuses(error: BaseException) -> bool:
    """Whether TensorFlow or Keras itself raised it (a value it does not take), not the project's
    code or a name the slice left out."""
    if isinstance(error, (NameError, ImportError, AssertionError)):
        return False
    return bool(_LIBRARY_FILE.search(_last_file(error)))


def _refused_in_own_init(error: BaseException) -> bool:
    """Keras itself raised it, called from the `__init__` of a project class (`super().__init__(
    'policy')`, a Keras 2 positional name): however the class is called, it cannot be built here."""
    if not _library_refuses(error):
        return False
    trace = error.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_name == "__init__" and not _LIBRARY_FILE.search(code.co_filename):
            return True
        trace = trace.tb_next
    return False


def _refused(tf, builder: dict, error: BaseException) -> str:
    """Every model the project makes with its own arguments is refused by this TensorFlow or
    Keras before any fix: no synthetic input helps; the versions the project is written for do."""
    shown = ", ".join([*map(repr, builder["args"]), *(f"{k}={v!r}" for k, v in builder["kwargs"].items())])
    return f"the project's own {builder['name']}({shown}) raises {_describe(error)} {_written_for(tf)}"


def _download_failed(error: BaseException) -> bool:
    """Keras's `get_file` (pretrained weights, a dataset) could not reach its URL: no refusal of
    the project's code, and no other TensorFlow or Keras would build it either."""
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)) or type(current).__name__ in ("URLError", "HTTPError") \
                or "URL fetch failure" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _keras_home() -> str:
    config = sys.modules.get("keras.src.backend.config")
    return str(getattr(config, "keras_home", lambda: "~/.keras")())


def _keras_version(tf) -> str:
    """The version of the Keras that `tf.keras` is: tf_keras (Keras 2) under TF_USE_LEGACY_KERAS=1,
    else Keras 3."""
    legacy = getattr(getattr(tf, "keras", None), "__name__", "").startswith("tf_keras")
    return str(getattr(sys.modules.get("tf_keras" if legacy else "keras"), "__version__", "?"))


def _written_for(tf) -> str:
    """What to do where the installed TensorFlow or Keras refuses the project's own code."""
    keras = _keras_version(tf)
    if keras.startswith("3"):
        _keras_3_refused.append(f"refused by Keras {keras}")
    return (f"before any fix, under TensorFlow {tf.__version__} and Keras {keras}: verify with the TensorFlow and "
            f"Keras the project is written for (tfgradfix --verify --python PYTHON)")


def _held_model(tf, obj):
    """The object if it is a Keras layer or tf.Module, else the first one its attributes hold."""
    if isinstance(obj, (tf.keras.layers.Layer, tf.Module)):
        return obj
    return next((v for v in vars(obj).values() if isinstance(v, (tf.keras.layers.Layer, tf.Module))), None) \
        if hasattr(obj, "__dict__") else None


def verify_method(tf, np, unit: UnitJob, original: dict, fixed: dict) -> dict:
    """A method holding a tape of a plain class (an agent that holds its model): the object
    built as the project builds it (else from its constructor's defaults), the model it holds
    fed to find its input, the method called before and after with the same synthetic
    arguments, the fixed object's model starting from the original's values."""
    owner, method = unit["name"].split(".", 1)
    errors, uses = [], []
    settings_error = ""  # how the object built with the project's option defaults failed, where it did
    cls = getattr(original.get(unit["entry"]), owner, None)
    guessed = _required_names(cls) if inspect.isclass(cls) else set()
    for module, target, args, kwargs, via in _class_candidates(original, {**unit, "name": owner}):
        make_before, make_after = getattr(original.get(module), target, None), getattr(fixed.get(module), target, None)
        if make_before is None or make_after is None:
            continue
        shapes = [tuple(s) for s in unit.get("shapes", [])] + SHAPES
        try:
            model = _held_model(tf, _build(tf, make_before, args, kwargs))
            x_spec, output = _first_output(tf, model, _model_inputs(tf, model, unit, shapes))
        except Exception as error:
            _needs(error)
            errors.append(_describe(error))
            uses.append(guessed_use(error, guessed) if target == owner else "")
            if not settings_error and any(isinstance(v, ProjectSettings) for v in kwargs.values()) and \
                    "define no default" not in str(error):
                settings_error = _describe(error)
            continue

        def instance(make, start=None):
            made = _build(tf, make, args, kwargs)
            held = _held_model(tf, made)
            if held is not None:
                _call(held, _input(tf, *x_spec))
                if start is not None:
                    _copy_values(tf, _held_model(tf, start), held)
            return made

        for labels in ("float", "int"):
            before = instance(make_before)
            tf.keras.utils.set_random_seed(SEED)
            kwargs_before = _arguments(tf, getattr(before, method), _held_model(tf, before), x_spec, output, labels,
                                       None)
            calls_before, returned_before, error_before = _run(tf, getattr(before, method), kwargs_before, eager=True)
            if not calls_before and error_before is not None:
                _needs(error_before)
                errors.append(_describe(error_before))
                continue
            after = instance(make_after, instance(make_before))
            tf.keras.utils.set_random_seed(SEED)
            kwargs_after = _arguments(tf, getattr(after, method), _held_model(tf, after), x_spec, output, labels, None)
            calls_after, returned_after, error_after = _run(tf, getattr(after, method), kwargs_after, eager=True)
            result = _compare_runs(np, calls_before, calls_after, returned_before, returned_after, error_after,
                                   unit.get("numpy_calls", (0, 0)), error_before)

            def rerun_original():
                """The original's first loss, run again exactly as it was run."""
                again = instance(make_before)
                tf.keras.utils.set_random_seed(SEED)
                kwargs = _arguments(tf, getattr(again, method), _held_model(tf, again), x_spec, output, labels, None)
                calls, _, _ = _run(tf, getattr(again, method), kwargs, eager=True)
                return calls[0]["target"] if calls else None

            result = _if_random(result, calls_before, rerun_original)
            result.update(model=type(_held_model(tf, before)).__name__ if _held_model(tf, before) is not None else "",
                          through=target if via else "")
            if result["verdict"] == "verified":
                traced = instance(make_after, instance(make_before))
                tf.keras.utils.set_random_seed(SEED)
                kwargs_graph = _arguments(tf, getattr(traced, method), _held_model(tf, traced), x_spec, output, labels,
                                          None)
                graph_calls, _, graph_error = _run(tf, getattr(traced, method), kwargs_graph, eager=False)

                def original_traced():
                    again = instance(make_before)
                    tf.keras.utils.set_random_seed(SEED)
                    kwargs = _arguments(tf, getattr(again, method), _held_model(tf, again), x_spec, output, labels,
                                        None)
                    return _run(tf, getattr(again, method), kwargs, eager=False)

                _traced(result, graph_calls, graph_error, original_traced, "method")
            return result
    if settings_error:
        # Built as the project builds it, from its own option defaults: that error says more than a made-up build's.
        raise Inconclusive(f"could not build {owner} with the defaults of the project's options and flags: "
                           f"{settings_error}")
    use = next((u for u in reversed(uses) if u), "")
    settings = (f"; {settings_hint(use, guessed, unit.get('settings'))}: add a module-level example() returning ({owner}(...), inputs) "
                f"or an entry in [tool.tfgradfix.verify.examples]") if use else ""
    raise Inconclusive(f"could not build {owner} and call {unit['name']}() with synthetic arguments{settings}"
                       + (f" (last error: {errors[-1]})" if errors else ""))


def _traced(result: dict, calls: list, error, original_traced, what: str) -> None:
    """Fail a verified fix whose code does not trace under tf.function. Where the traced fix gets
    every gradient and raises only after them, and the original raises traced too, that is no
    difference the fix made (a bug later in the function): said, not failed."""
    # Gradients None eagerly after the fix as before it (sources the fix did not change) may be None traced.
    allowed = result.get("none_after", 0)
    if error is None and sum(c["none"] for c in calls) <= allowed:
        return
    if error is not None and calls and sum(c["none"] for c in calls) <= allowed:
        _, _, error_before = original_traced()
        if error_before is not None:
            note = (f"traced, its gradients came back and then it raises {_describe(error)}, as the original "
                    f"raises ({_describe(error_before)}): the rest was not checked under tf.function")
            result["reason"] = "; ".join(r for r in (result.get("reason"), note) if r)
            return
    problem = _describe(error) if error is not None else "gradients None when traced"
    result.update(verdict="failed", reason=f"the fixed {what} does not run under tf.function: {problem}")


def _compare_runs(np, calls_before, calls_after, returned_before, returned_after, error_after,
                  numpy_calls=(0, 0), error_before=None) -> dict:
    """`numpy_calls`: NumPy calls in the code the unit runs, before and after the fix (the parent counts).
    An error of the fixed run fails the fix only where the original ran through: where the
    original raised too, the comparison goes on with the gradients both computed first."""
    none_before = sum(c["none"] for c in calls_before) + (_nones(returned_before) if not calls_before else 0)
    result = {"none_before": none_before, "gradient_calls": len(calls_after),
              "sources_before": calls_before[0]["sources"] if calls_before else 0,
              "sources_after": calls_after[0]["sources"] if calls_after else 0}
    none_after = sum(c["none"] for c in calls_after) + (_nones(returned_after) if not calls_after else 0)
    result["none_after"] = none_after
    shared = ""
    if none_after:
        then = f", then it raises {_describe(error_after)}" if error_after is not None else ""
        restored, lost = _none_changes(calls_before, calls_after)
        if lost:
            return {**result, "verdict": "failed", "reason": f"{lost} gradients that came back before are None after "
                                                             f"the fix{then}"}
        if not restored:
            return {**result, "verdict": "failed", "reason": f"{none_after} gradients still None{then}"}
        # A lesson asking for several sources, one of them the fix's (`tape.gradient(y, [x0, x1, x2, x3])`
        # with `x3` unwatched): those None before and after are not what the fix changed.
        shared = (f"; {restored} gradient(s) came back, {none_after} stay None as before the fix (sources it did "
                  "not change)")
    if error_after is not None and error_before is None:
        return {**result, "verdict": "failed", "reason": f"the fixed function raises {_describe(error_after)}"}
    if error_after is not None:
        shared += (f"; both runs raise after their gradients, the original {_describe(error_before)}, the fixed "
                  f"{_describe(error_after)}: no difference the fix made, and the rest of the function was not checked")
    if not calls_after and not calls_before:
        return {**result, "verdict": "inconclusive", "reason": "it computed no gradient with synthetic arguments"}
    if not calls_after:
        return {**result, "verdict": "failed", "reason": "the fixed function computes no gradient"}
    # Variables that got a gradient before must still get one (None before is what the fix is for).
    got_before = calls_before[0]["sources"] - calls_before[0]["none"] if calls_before else 0
    if calls_after[0]["sources"] < got_before:
        lost = got_before - calls_after[0]["sources"]
        return {**result, "verdict": "failed", "reason": f"the fixed function differentiates {lost} fewer variable(s)"}
    first_before = calls_before[0]["target"] if calls_before else None
    first_after = calls_after[0]["target"]
    if first_before is not None and first_after is not None:
        delta = abs(first_before - first_after)
        result["max_abs_diff"] = delta
        if delta > TOLERANCE * max(1.0, abs(first_before)):
            return {**result, "verdict": "failed", "first_loss": [first_before, first_after],
                    "reason": f"the first loss differs: {first_before:.6g} before, {first_after:.6g} after "
                              f"(max|Δ| {delta:.3g})"}
    # Only a None gradient may change (to a value): where none was None, the fix has no path to
    # restore, and a gradient that came back must come back the same (a TD target moved into
    # the tape changes them all while the loss stays).
    for call_before, call_after in zip(calls_before, calls_after) if not none_before else ():
        change = gradients_differ(np, call_before.get("values", []), call_after.get("values", []))
        if change > GRADIENT_TOLERANCE:
            result["max_gradient_change"] = change
            if numpy_calls[0] > numpy_calls[1]:
                # A term computed in NumPy (`loss + np.sum(...)`) had no gradient: restored, it changes them.
                return {**result, "verdict": "verified",
                        "reason": f"the fix took {numpy_calls[0] - numpy_calls[1]} NumPy call(s) out of what runs: "
                                  f"the gradients of the terms it restored change them by max relative Δ {change:.3g}"}
            return {**result, "verdict": "failed",
                    "reason": f"gradients that came back before differ after the fix: max relative Δ {change:.3g} "
                              "(no NumPy call was taken out: the fix changed what is differentiated)"}
    return {**result, "verdict": "verified", "reason": shared.lstrip("; ")}


def _seed_states(obj) -> list:
    """The states of an object's seed generators, to start another run from."""
    states = []
    for generator in _seed_generators(obj) if obj is not None else []:
        try:
            states.append(generator.state.numpy())
        except Exception:
            return []
    return states


def _set_seed_states(obj, states: list) -> None:
    generators = _seed_generators(obj) if obj is not None else []
    if states and len(generators) == len(states):
        for generator, state in zip(generators, states):
            try:
                generator.state.assign(state)
            except Exception:
                pass


def _if_random(result: dict, calls_before: list, rerun_original) -> dict:
    """A first loss or gradients that differ after the fix, where the original run again exactly as
    it was (same weights, seeds and seed states) does not give its own first loss back (noise from
    a generator seeded by the system, draws nothing here seeds): the difference is no evidence for
    or against the fix, whatever its size, so the verdict is inconclusive, saying what differed and
    by how much the original's own loss moved. Where the original does give its loss back, its
    draws are the ones the fixed side got, and the difference is the fix's."""
    reason = result.get("reason", "")
    if result.get("verdict") != "failed" or not calls_before or calls_before[0].get("target") is None or not (
            reason.startswith("the first loss differs") or reason.startswith("gradients that came back before differ")):
        return result
    try:
        again = rerun_original()
    except Exception:
        return result
    first = calls_before[0]["target"]
    if again is None or abs(again - first) <= TOLERANCE * max(1.0, abs(first)):
        return result  # the original's loss is reproducible: the difference is the fix's
    spread = abs(again - first)
    result = {**result, "random_spread": spread}
    draws = f"the original run again the same way gives another first loss ({first:.6g} -> {again:.6g}, " \
        f"max|Δ| {spread:.3g}): it draws random numbers nothing here seeds"
    return {**result, "verdict": "inconclusive",
            "reason": f"{reason}; the loss is random: {draws}, so the difference says nothing of the fix (seed the "
                      "random draws the training step makes, e.g. tf.random.normal(..., seed=...) or a seeded "
                      "tf.random.Generator, to have it compared)"}


# -- the job ------------------------------------------------------------------------------------

def default_settings(tf) -> None:
    """The framework's global settings as a fresh process has them. A module that sets
    `set_floatx("float64")` when it loads (the slice keeps that call) must not change the units
    that the same child runs after it; and Keras 3 fixes its default dtype policy from `floatx`
    the first time a layer asks, so that cache goes too, or the module's own `set_floatx` would
    not reach the layers it builds."""
    backend = tf.keras.backend
    backend.set_floatx("float32")
    backend.set_epsilon(1e-7)
    backend.set_image_data_format("channels_last")
    if not _keras_version(tf).startswith("3"):  # Keras 2: the policy is its own setting, not derived from floatx
        tf.keras.mixed_precision.set_global_policy("float32")
        return
    from keras.src.backend.common import global_state
    global_state.set_global_attribute("dtype_policy", None)


# A float64 weight meeting float32 inputs, or the other way round, in TF's words.
_FLOAT_MISMATCH = re.compile(r"(float|double) tensor but is a (double|float) tensor"
                             r"|requested dtype float(64|32) for Tensor with dtype float(32|64)")


def verify_unit(tf, np, unit: UnitJob) -> dict:
    default_settings(tf)
    _keras_3_refused.clear()
    try:
        result = _verify_unit(tf, np, unit)
        if result.get("verdict") == "inconclusive" and _keras_3_refused and _keras_version(tf).startswith("3"):
            result["keras_2_retry"] = True
        if result.get("verdict") == "inconclusive" and _FLOAT_MISMATCH.search(str(result.get("reason", ""))):
            # A float64 model whose script sets `set_floatx("float64")` elsewhere (a training script
            # the slice does not hold): run both sides again as that script would have them.
            default_settings(tf)
            tf.keras.backend.set_floatx("float64")
            again = _verify_unit(tf, np, unit)
            if again.get("verdict") != "inconclusive":
                note = "run with floatx float64 (float32 inputs met float64 weights; the module does not set it)"
                return {**again, "floatx": "float64",
                        "reason": f"{again['reason']}; {note}" if again.get("reason") else note}
        return result
    finally:
        default_settings(tf)


def _verify_unit(tf, np, unit: UnitJob) -> dict:
    modules = [unit["entry"], *unit.get("modules", [])]
    try:
        original = load_tree(tf, unit["original"], modules)
        with _Lines(changed_statements(unit["original"], unit["fixed"])) as lines:
            try:
                fixed = load_tree(tf, unit["fixed"], modules)
            except Inconclusive as error:
                return {"verdict": "failed", "reason": f"the fixed module does not load ({error})"}
            if unit["kind"] == "layer":
                result = verify_layer(tf, np, unit, original, fixed)
                flags = _false_flags(getattr(original.get(unit["entry"]), unit["name"], None))
                if flags and result.get("verdict") == "verified" and lines.wanted and (
                        (not lines.ran and not _acted(result)) or _unreached(unit, lines)):
                    # The fix, or part of it, sits behind an option off by default (`use_elsa=False`,
                    # `diagonal=False`): run it on too.
                    flagged = verify_layer(tf, np, {**unit, "flags": flags}, original, fixed)
                    if flagged.get("verdict") == "failed" or (flagged.get("verdict") == "verified" and lines.ran):
                        result = {**flagged, "options": ", ".join(f"{k}=True" for k in flags)}
            elif unit["kind"] == "loss":
                result = verify_loss(tf, np, unit, original, fixed)
            elif "." in unit["name"]:
                result = verify_method(tf, np, unit, original, fixed)
            else:
                result = verify_function(tf, np, unit, original, fixed)
        if result.get("verdict") == "verified" and lines.wanted and not lines.ran and not _acted(result):
            # Nothing of the fix ran (a branch the inputs tried never take) and nothing shows it did
            # (code traced by tf.function or map_fn runs where the trace does not see it, but then a
            # gradient that came back or a variable now tracked says so): nothing was checked.
            where = "; ".join(f"`{code}` in {os.path.relpath(path, unit['fixed'])}"
                              for path, found in sorted(lines.wanted.items()) for code in _statements(path, found)[:2])
            result.update(verdict="inconclusive", reason=f"the code the fix changed never ran ({where}) with the "
                          "arguments and inputs tried, and nothing it does showed (no gradient came back, no variable "
                          "is tracked that was not), so nothing of the fix was checked; add a module-level example() "
                          "(or a [tool.tfgradfix.verify.examples] entry) whose arguments reach it")
        missing = _unreached(unit, lines) if result.get("verdict") == "verified" and lines.ran else {}
        if missing:
            # Part of the fix ran and checked out; the rest (another branch: `if self.diagonal:`) never
            # ran, so its verdict would be the other part's.
            where = "; ".join(f"`{code}` in {os.path.relpath(path, unit['fixed'])}"
                              for path, found in sorted(missing.items()) for code in _statements(path, found)[:2])
            result.update(verdict="inconclusive", reason=f"part of the fix never ran ({where}) with the arguments "
                          "and inputs tried, so it was not checked (the rest of the fix ran and checked out); add a "
                          "module-level example() (or a [tool.tfgradfix.verify.examples] entry) whose arguments reach it")
        if result.get("verdict") == "inconclusive":
            result["reason"] = _keras_2(tf, str(result.get("reason", "")))
        return result
    except Inconclusive as error:
        return {"verdict": "inconclusive", "reason": _keras_2(tf, _missing_reason(unit, str(error)))}
    except Exception as error:  # user code: reported against this unit, the run goes on
        if _missing_module(error):
            return {"verdict": "inconclusive", "reason": f"needs {_missing_module(error)}, which is not installed"}
        return {"verdict": "inconclusive", "reason": _keras_2(tf, _missing_reason(unit, _describe(error)))}


def changed_statements(original_root: str, fixed_root: str) -> dict[str, set[int]]:
    """For each module of the fixed tree that differs from the original tree: the first lines of
    the innermost statements holding the lines the fix wrote (a line the fix only removed has none
    to hold it and is left out)."""
    import ast
    import difflib

    found: dict[str, set[int]] = {}
    for folder, _, names in os.walk(fixed_root):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            other = os.path.join(original_root, os.path.relpath(path, fixed_root))
            try:
                with open(path, encoding="utf-8") as handle:
                    new = handle.read()
                old = ""
                if os.path.exists(other):
                    with open(other, encoding="utf-8") as handle:
                        old = handle.read()
                tree = ast.parse(new)
            except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
                continue
            if old == new:
                continue
            written = set()
            for tag, _, _, first, last in difflib.SequenceMatcher(
                    None, old.splitlines(), new.splitlines(), autojunk=False).get_opcodes():
                if tag in ("replace", "insert"):
                    written |= set(range(first + 1, last + 1))
            statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
            starts = set()
            for line in written:
                holding = [n for n in statements if n.lineno <= line <= (n.end_lineno or n.lineno)]
                if holding:
                    starts.add(min(holding, key=lambda n: (n.end_lineno or n.lineno) - n.lineno).lineno)
            if starts:
                found[path] = starts
    return found


def _unreached(unit: UnitJob, lines: "_Lines") -> dict[str, set[int]]:
    """The statements of the fix in the unit's own definition (its class or function in its
    module) that no run reached: the tree's other changes are other units' fixes. Left out:
    those in a function a decorator traces (`@tf.function`: AutoGraph runs a converted copy,
    whose lines the trace does not see), and the slice's own guard around an import the fix
    added (`except ImportError as _tfgradfix_absent_error:`), which runs only where the module
    is absent."""
    import ast

    path = os.path.join(unit["fixed"], *unit["entry"].split("."))
    path = path + ".py" if os.path.isfile(path + ".py") else os.path.join(path, "__init__.py")
    left = {n for n in lines.wanted.get(path, ()) if (path, n) not in lines.ran}
    if not left:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    name = unit["name"].split(".")[0]
    own = [(d.lineno, d.end_lineno or d.lineno) for d in tree.body
           if isinstance(d, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and d.name == name]
    skipped = [(f.lineno, f.end_lineno or f.lineno) for f in ast.walk(tree)
               if (isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                   "function" in ast.unparse(d) for d in f.decorator_list))
               or (isinstance(f, ast.ExceptHandler) and (f.name or "").startswith("_tfgradfix"))]
    left = {n for n in left if any(first <= n <= last for first, last in own)
            and not any(first <= n <= last for first, last in skipped)}
    return {path: left} if left else {}


def _acted(result: dict) -> bool:
    """Whether the run shows the fix at work: a gradient that was None came back, a variable Keras
    did not track now is, or more variables are differentiated."""
    return bool(result.get("none_before") or result.get("untracked_before")
                or result.get("sources_after", 0) > result.get("sources_before", 0)
                or result.get("inputs_none_before"))


def _statements(path: str, starts: set[int]) -> list[str]:
    """The first line of each of these statements, as written (the tree's line numbers are the
    slice's, not the user's)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().splitlines()
    except OSError:
        return []
    return [text[n - 1].strip()[:80] for n in sorted(starts) if 0 < n <= len(text)]


class _Lines:
    """Which of the wanted lines (by file) run while it is on: the trace looks into frames of those
    files only."""

    def __init__(self, wanted: dict[str, set[int]]) -> None:
        self.wanted = wanted
        self.ran: set[tuple[str, int]] = set()
        self._previous = None

    def __enter__(self):
        if self.wanted:
            self._previous = sys.gettrace()
            sys.settrace(self._call)
        return self

    def __exit__(self, *exc) -> bool:
        if self.wanted:
            sys.settrace(self._previous)
        return False

    def _call(self, frame, event, arg):
        if frame.f_code.co_filename in self.wanted:
            return self._line
        return None

    def _line(self, frame, event, arg):
        if event == "line" and frame.f_lineno in self.wanted[frame.f_code.co_filename]:
            self.ran.add((frame.f_code.co_filename, frame.f_lineno))
        return self._line


# An attribute Keras 3 lacks, as TensorFlow words it: `module 'keras.utils' has no attribute
# 'track_tf1_style_variables'`, `module 'keras._tf_keras.keras.layers' (or 'tensorflow.keras.layers') has no
# attribute 'experimental'`.
_KERAS_ATTRIBUTE = re.compile(r"module '([\w.]*keras[\w.]*)' has no attribute '(\w+)'")


# A TensorFlow 1.x name TensorFlow 2 lacks: `module 'tensorflow' has no attribute 'contrib'`.
_TENSORFLOW_ATTRIBUTE = re.compile(r"module 'tensorflow' has no attribute '(\w+)'")


# Keras 3's words for a layer called with a flag or a number in a tensor's place.
_POSITIONAL_OPTION = "Only input tensors may be passed as positional arguments"


def _keras_2(tf, reason: str) -> str:
    """Say how to run code written for Keras 2 (`tf.compat.v1.keras.utils.track_tf1_style_variables`,
    `layers.experimental`) when it fails under Keras 3 for an API Keras 3 does not have, and that code
    written for TensorFlow 1.x (`tf.contrib`, `tf.enable_eager_execution()`) needs the TensorFlow it
    was written for."""
    tf1 = _TENSORFLOW_ATTRIBUTE.search(reason)
    if tf1 and (tf1.group(1) == "contrib" or hasattr(tf.compat.v1, tf1.group(1))):
        return (f"{reason}; `tf.{tf1.group(1)}` is a TensorFlow 1.x API that TensorFlow {tf.__version__} does not "
                "have: verify this unit with the TensorFlow it was written for (`tfgradfix --verify --python PYTHON`)")
    version = _keras_version(tf)
    if not version.startswith("3"):
        return reason
    match = _KERAS_ATTRIBUTE.search(reason)
    if _POSITIONAL_OPTION in reason or match:
        _keras_3_refused.append(reason)  # what Keras 2 may run (`runner._under_keras_2`)
    if _POSITIONAL_OPTION in reason:
        # `self.attention(q, k, v, training, mask)`: Keras 2 took a flag positionally, Keras 3 refuses it,
        # in the original as in the fix, so no argument the verifier makes up can help.
        return (f"{reason}; the project's own code calls a layer with a non-tensor positional argument, which "
                f"Keras {version} refuses and Keras 2 took: pass it by keyword (`training=training`), or verify "
                "this unit under Keras 2 (install tf_keras and run `TF_USE_LEGACY_KERAS=1 tfgradfix --verify "
                "--python PYTHON`)")
    if not match:
        return reason
    return (f"{reason}; `{match.group(2)}` is a Keras 2 API that Keras {version} does not have: to verify this "
            "unit, install tf_keras in the Python that runs it and set TF_USE_LEGACY_KERAS=1 (`TF_USE_LEGACY_KERAS=1 "
            "tfgradfix --verify --python PYTHON`)")


def _missing_reason(unit: UnitJob, reason: str) -> str:
    """Name the data a NameError is about when the parent knew it was not loaded."""
    match = re.search(r"name '(\w+)' is not defined", reason)
    if match and match.group(1) in unit.get("missing", {}):
        return f"needs {match.group(1)}: {unit['missing'][match.group(1)]}"
    return reason


class ProjectExit(Exception):
    """The project's code called `exit()`: an error of that way of running it, not the end of the child."""


def _refuse_exit(code=None):
    raise ProjectExit(f"the project's code called exit({'' if code is None else repr(code)})")


def main() -> None:
    """Reads a `Job`, writes an `Answer`; a unit as `runner.plan_unit` plans it."""
    job: Job = json.loads(sys.stdin.read())
    # A script's `exit()` on input it does not expect would end the child with no verdict.
    builtins.exit = builtins.quit = sys.exit = _refuse_exit  # type: ignore[assignment]
    import numpy as np
    import tensorflow as tf

    device = choose_device(job.get("device", "auto"), tf.config.list_physical_devices("GPU"))
    report = []
    for position, item in enumerate(job["files"]):
        results: dict = {}
        with tf.device("/GPU:0" if device == "GPU:0" else "/CPU:0"):
            for unit in item["units"]:
                # Each verdict as it comes: where TensorFlow aborts the process on a later unit,
                # the parent keeps these and knows which unit was running.
                print(STARTED + json.dumps([position, unit["label"]]), flush=True)
                results[unit["label"]] = verify_unit(tf, np, unit)
                results[unit["label"]]["device"] = device
                print(FINISHED + json.dumps([position, unit["label"], results[unit["label"]]], default=str),
                      flush=True)
        report.append(results)
    answer: Answer = {"device": device, "files": report}
    print(MARKER + json.dumps(answer, default=str), flush=True)


if __name__ == "__main__":
    main()
