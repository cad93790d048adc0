"""What the project index knows of a module, a class, a function, and of a call into a
module from another's gradient path: plain data, pickled to worker processes."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from tfgradfix.analysis.keras import HeldState, is_keras_base
from tfgradfix.analysis.slices import Outline
from tfgradfix.analysis.vocabulary import KERAS_PACKAGES, TF_MODULES

_KERAS_MODEL_NAMES = {"Model", "Sequential", "Functional"}


class Kind(str, Enum):
    """What instances of a class are."""

    KERAS_MODEL = "keras-model"
    KERAS_LAYER = "keras-layer"
    TF_MODULE = "tf-module"
    PLAIN = "plain"  # only builtins or other plain classes of the project as bases
    UNKNOWN = "unknown"  # a base from a library we do not model

    @property
    def is_keras(self) -> bool:
        return self in (Kind.KERAS_MODEL, Kind.KERAS_LAYER)


@dataclass(frozen=True)
class Definition:
    """What a name resolves to: a function, class or module-level name of a project module,
    or a whole project module (`kind == "module"`, `name == ""`)."""

    module: str
    name: str  # qualified inside the module: "helper", "Base", "Base.call", "make_loss.loss"
    kind: str  # "function" | "class" | "name" | "module"

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module


@dataclass
class FunctionInfo:
    module: str
    name: str  # qualified inside the module
    line: int
    positional: tuple[str, ...]  # positional parameters in order, `self` included for methods
    keyword_only: tuple[str, ...] = ()
    star_arg: Optional[str] = None
    star_kwarg: Optional[str] = None
    is_method: bool = False
    # Decorated with tf.custom_gradient / RegisterGradient: it defines its own gradient.
    own_gradient: bool = False
    creates_variables: bool = False  # tf.Variable / add_weight in its own body
    calls_numpy: bool = False  # np.* or `.numpy()` in its own body
    runs_own_call: bool = False  # a method building `Model(inputs, self.call(inputs))`: a functional model's builder
    holds_tape: bool = False
    # Qualified names (in this module) of the nested functions it returns: a factory.
    returns_closures: tuple[str, ...] = ()
    returns_numpy: bool = False  # some `return np.*(...)`
    # Every return calls an initializer object (`return GlorotUniform()(shape)`, `init = ...;
    # return init(shape)`): a constant tensor, not a variable (analysis/initializers.py).
    returns_initialized: bool = False
    # Every return is shape metadata (`x.get_shape().as_list()`, `tf.shape(x)`, their items, a list
    # of those): t2t's `shape_list(x)`; what it returns carries no gradient.
    returns_shape: bool = False
    end_line: int = 0
    # Its source holds one of the markers the index was built with (what some rule looks for).
    marked: bool = False

    @property
    def parameters(self) -> tuple[str, ...]:
        stars = tuple(p for p in (self.star_arg, self.star_kwarg) if p)
        return self.positional + self.keyword_only + stars


@dataclass
class ClassInfo:
    module: str
    name: str  # qualified inside the module
    line: int
    bases: tuple[str, ...]  # absolute dotted names ("keras.layers.Layer", "pkg.base.Base")
    methods: tuple[str, ...] = ()
    # `self.x` attributes assigned from add_weight / tf.Variable in its own methods.
    weights: frozenset[str] = frozenset()
    # Those that hold state the code writes, not trained weights (`analysis/roles.py`).
    state: frozenset[str] = frozenset()
    # Evidence in its own body that its variables include non-trainable ones, and which
    # lists show them: a stateful Keras layer or BatchNormalization application made there,
    # `trainable=False`, a part frozen with `.trainable = False`.
    holds_state: HeldState = HeldState.NONE
    # Absolute names of the classes its body constructs that may be project classes
    # (sub-layers, sub-models): their state is its state.
    parts: tuple[str, ...] = ()
    # The arguments its body gives each part (`given_arguments`), where a part's state depends on them.
    part_arguments: tuple[tuple[str, frozenset[str]], ...] = ()
    # `__init__` parameters defaulting to zero that a seeded layer takes as its rate (`Dropout(dropout)`,
    # with `dropout=0.`), as (name, position after `self`): Keras 3 makes a seed generator only for a
    # rate above zero, so the state is there only where a construction gives one.
    seed_rates: tuple[tuple[str, int], ...] = ()


@dataclass
class ModuleInfo:
    name: str
    path: str
    is_package: bool = False
    # Local name -> absolute dotted name it was imported as (relative imports resolved).
    imports: dict[str, str] = field(default_factory=dict)
    # Project modules whose names `from m import *` brings in.
    star_imports: tuple[str, ...] = ()
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    # Names assigned at module level (constants, instances, aliases).
    names: frozenset[str] = frozenset()
    # Variables its training code lists by name, as (class or None, attribute) (roles.py).
    trained_by_name: frozenset[tuple[Optional[str], str]] = frozenset()
    # For the engine's gate, from this parse: where a gradient path can start without a
    # Keras class (a tape, a `Lambda` layer, a loss function handed to `compile`), the
    # classes that define a forward method, and those with Keras-looking bases
    # (`ProjectIndex.gate` asks the project what they really are).
    starts_path: bool = False
    forward_classes: tuple[str, ...] = ()
    keras_looking: tuple[str, ...] = ()
    parsed: bool = True  # False: `ast` could not parse it (LibCST will say why)
    # The attribute names it reads off objects (`layer.temperature` loaded, not assigned; not `self.x`,
    # its own classes' attributes): what another module's class holds may be read here (a loss built
    # from `layer_final.weight_temperature`).
    attribute_reads: frozenset[str] = frozenset()
    # Its text holds one of the markers the index was built with (what some rule looks for).
    marked: bool = False
    # Calls of names it imports or defines: (dotted callee as written, enclosing function or "<module>").
    calls: tuple[tuple[str, str], ...] = ()
    # Of those, the constructions whose object's `call` is run at once by hand (`Block(...).call(x)`):
    # the dotted callee as written.
    called_by_hand: tuple[str, ...] = ()
    # `model = Cls(...)` then only `model.method(...)`: (what was called to make it, those methods),
    # for each name so bound once in a function or the module's top level.
    used_through: tuple[tuple[str, frozenset[str]], ...] = ()
    # Attributes whose type it tests (`type(layer.a)`, `isinstance(obj.w, ...)`): by name.
    type_tested: tuple[str, ...] = ()
    # Functions it hands to a call as arguments (`train_step(model, opt, weighted_mse, x, y)`):
    # (dotted callee as written, position or keyword, dotted argument as written).
    handed: tuple[tuple[str, str, str], ...] = ()
    # Where its functions and classes are, for the engine's slices (`analysis/slices`), and
    # a checksum of the text it was read from (a slice is cut only from the same text).
    outline: Outline = ()
    checksum: int = 0
    # Folders its top level puts on the import path (`sys.path.append("utils")`), as written.
    search_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathEntry:
    """A function of one module that the gradient path of another module calls:
    which of its parameters carry a gradient, and whether calls of values inside it
    are forward passes (it is reached from a tape or `train_step`)."""

    tainted: frozenset[str] = frozenset()
    model_calls: bool = False
    # (module, caller symbol, whether the caller is a Keras `call`/`__call__`/`train_step`).
    callers: frozenset[tuple[str, str, bool]] = frozenset()
    # Handed to Keras by the calling module (`Scope.handed`): "layer" (`Lambda(fn)`),
    # "loss" (`compile(loss=fn)`); and whether that `Lambda` sits between layers with weights.
    handed: str = ""
    between_layers: bool = False
    # What the calls pass for each parameter: (name, "True" / "False" / "default" / "other");
    # None where some call's arguments are not known (a function handed to Keras).
    flags: Optional[frozenset[tuple[str, str]]] = None
    # Whether some call feeds what it returns into its caller's loss or output (False: every
    # call drops it, or keeps it for something no tape differentiates).
    result_used: bool = True

    def merged(self, other: "PathEntry") -> "PathEntry":
        flags = None if self.flags is None or other.flags is None else self.flags | other.flags
        return PathEntry(self.tainted | other.tainted, self.model_calls or other.model_calls,
                         self.callers | other.callers, self.handed or other.handed,
                         self.between_layers or other.between_layers, flags,
                         self.result_used or other.result_used)


def library_kind(qualified: str) -> Kind:
    """What instances of a library class (or what a library constructor returns) are:
    `keras.layers.Dense`, `keras.Sequential`, `keras.applications.ResNet50`, `tf.Module`."""
    if is_keras_base(qualified):
        last = qualified.rsplit(".", 1)[-1]
        return Kind.KERAS_MODEL if last in _KERAS_MODEL_NAMES or ".models." in qualified else Kind.KERAS_LAYER
    if any(qualified.startswith(f"{package}.applications.") for package in KERAS_PACKAGES):
        return Kind.KERAS_MODEL
    if qualified in TF_MODULES or qualified.startswith("tensorflow.Module"):
        return Kind.TF_MODULE
    if qualified in ("object", "builtins.object") or "." not in qualified and qualified in BUILTIN_BASES:
        return Kind.PLAIN
    if qualified in _PLAIN_LIBRARY_BASES or qualified.startswith(_PLAIN_LIBRARY_PACKAGES):
        return Kind.PLAIN
    return Kind.UNKNOWN


# Bases that say nothing about what instances hold: they stay plain objects.
_PLAIN_LIBRARY_BASES = frozenset({"abc.ABC", "typing.Generic", "typing.NamedTuple", "typing.Protocol",
                                  "tensorflow.test.TestCase"})
_PLAIN_LIBRARY_PACKAGES = ("typing.", "enum.", "collections.", "unittest.", "absl.testing.")
BUILTIN_BASES = frozenset({"object", "dict", "list", "tuple", "set", "str", "int", "float", "Exception",
                            "ValueError", "TypeError", "RuntimeError", "NamedTuple", "Enum"})


def given_arguments(call: ast.Call) -> frozenset[str]:
    """What a construction gives, by parameter: keyword names, `#i` for the i-th positional
    argument, `*`/`**` for unpacked ones (anything)."""
    given = {f"#{i}" if not isinstance(a, ast.Starred) else "*" for i, a in enumerate(call.args)}
    given |= {k.arg if k.arg is not None else "**" for k in call.keywords}
    return frozenset(given)


def gives_any(given: Optional[frozenset[str]], parameters: tuple[tuple[str, int], ...]) -> bool:
    """Whether a construction giving `given` (None: unknown) passes any of `parameters`."""
    if given is None or "*" in given or "**" in given:
        return bool(parameters)
    return any(name in given or f"#{position}" in given for name, position in parameters)
