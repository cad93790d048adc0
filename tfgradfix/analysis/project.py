"""The project index: every module of the project, what it defines and imports.

Built once per run from Python's `ast` (a tenth of LibCST's parse), before any
file is analysed, and handed to the per-file analysis and to worker processes
(it is plain, picklable data). It answers what a name of a module refers to
across the project's own modules: which classes are Keras layers or models
through any chain of local bases, which functions create variables, call NumPy,
hold a tape or return a closure.

The project is the files given plus the modules of their packages that those
files import (transitively). A package is found upwards from each file: the
folders holding an `__init__.py`; a file outside any package is a top-level
module of its folder (scripts importing their siblings), and, under a folder
with `pyproject.toml`, also a module named by its path from that folder.
"""

from __future__ import annotations

import ast
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

from tfgradfix.analysis.imports import canonical
from tfgradfix.analysis.initializers import is_initializer_constructor
from tfgradfix.analysis.keras import FORWARD_METHODS, KERAS_PACKAGES, is_keras_base, makes_state
from tfgradfix.analysis.slices import Outline, outline
from tfgradfix.analysis.roles import state_attributes_of, trained_by_name

# Modules read in all, given or imported (a bound for a huge tree imported from one file).
MAX_MODULES = 20000
_TAPE_CONSTRUCTORS = ("tensorflow.GradientTape", "tensorflow.autodiff.GradientTape")
_VARIABLE_CONSTRUCTORS = ("tensorflow.Variable", "keras.Variable")
_OWN_GRADIENT = ("tensorflow.custom_gradient", "tensorflow.RegisterGradient")
_TF_MODULES = ("tensorflow.Module", "tensorflow.experimental.dtensor.Module")
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
    holds_tape: bool = False
    # Qualified names (in this module) of the nested functions it returns: a factory.
    returns_closures: tuple[str, ...] = ()
    returns_numpy: bool = False  # some `return np.*(...)`
    # Every return calls an initializer object (`return GlorotUniform()(shape)`, `init = ...;
    # return init(shape)`): a constant tensor, not a variable (analysis/initializers.py).
    returns_initialized: bool = False
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
    # Evidence in its own body that its variables include non-trainable ones: a stateful
    # Keras layer or BatchNormalization application made there, `trainable=False`,
    # `stateful=True`, a part frozen with `.trainable = False`.
    holds_state: bool = False
    # Absolute names of the classes its body constructs that may be project classes
    # (sub-layers, sub-models): their state is its state.
    parts: tuple[str, ...] = ()


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
    # Its text holds one of the markers the index was built with (what some rule looks for).
    marked: bool = False
    # Calls of names it imports or defines: (dotted callee as written, enclosing function or "<module>").
    calls: tuple[tuple[str, str], ...] = ()
    # Functions it hands to a call as arguments (`train_step(model, opt, weighted_mse, x, y)`):
    # (dotted callee as written, position or keyword, dotted argument as written).
    handed: tuple[tuple[str, str, str], ...] = ()
    # Where its functions and classes are, for the engine's slices (`analysis/slices`), and
    # a checksum of the text it was read from (a slice is cut only from the same text).
    outline: Outline = ()
    checksum: int = 0


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

    def merged(self, other: "PathEntry") -> "PathEntry":
        return PathEntry(self.tainted | other.tainted, self.model_calls or other.model_calls,
                         self.callers | other.callers, self.handed or other.handed,
                         self.between_layers or other.between_layers)


class ProjectIndex:
    """All modules of the project; see the module docstring. Plain data: pickled to workers."""

    def __init__(self) -> None:
        self.modules: dict[str, ModuleInfo] = {}
        self._by_path: dict[str, str] = {}
        self._aliases: dict[str, str] = {}  # another name of a module (pyproject-relative)
        self._kinds: dict[str, Kind] = {}
        self._reaches: dict[str, bool] = {}
        self._states: dict[str, bool] = {}
        self._call_sites: Optional[dict[str, list[tuple[str, str]]]] = None
        self._handed: Optional[dict[str, list[tuple[str, Definition]]]] = None
        self._unread: Optional[list[str]] = None  # the project's files, for callers not given
        self._scanned: set[str] = set()  # function names whose callers were looked for
        self._markers: tuple[str, ...] = ()
        # Folders module names are relative to -> the top-level packages of the project
        # there (None: every module there is the project's, as in a folder of scripts).
        self._roots: dict[str, Optional[set[str]]] = {}
        self._missing: set[str] = set()  # names no root has a file for
        self._listings: dict[str, set[str]] = {}
        self._ambiguous: set[str] = set()  # module names more than one file has
        self._module_of: dict[str, Optional[tuple[str, str]]] = {}
        # Filled by the engine between rounds: module -> function name -> entry.
        self.entries: dict[str, dict[str, PathEntry]] = {}

    # -- building ------------------------------------------------------------

    @classmethod
    def build(cls, paths: Iterable[str], markers: Sequence[str] = ()) -> "ProjectIndex":
        """The index of `paths` (files). The project modules they import are read when a
        question first needs them (a single file in a large package stays cheap).
        `markers`: strings whose presence a module's `marked` records (the rules' triggers)."""
        index = cls()
        index._markers = tuple(markers)
        for path in paths:
            if path == "-" or not path.endswith((".py", ".pyi", ".ipynb")):
                continue
            names = module_names(path)
            if names and _key(path) not in index._by_path:
                index._load(path, names)
        return index

    def _load(self, path: str, names: list[str]) -> Optional[ModuleInfo]:
        try:
            text = _read_text(path)
        except Exception:  # the engine reports unreadable files; the index just lacks them
            return None
        if names[0] in self.modules or names[0] in self._ambiguous:
            # Two files with one name (`train.py` in every example folder): which one an
            # import means depends on how it is run, so neither is resolved by name.
            self._ambiguous.add(names[0])
            self._by_path[_key(path)] = names[0]
            self._module_of.clear()
            return None
        info = index_module(names[0], path, text)
        info.marked = any(m in text for m in self._markers)
        if info.marked:
            lines = text.splitlines()
            for function in info.functions.values():
                segment = "\n".join(lines[function.line - 1:function.end_line])
                # NumPy under an alias (`np.exp`) is no marker of its own text.
                function.marked = function.calls_numpy or function.creates_variables or any(
                    m in segment for m in self._markers)
        self.modules.setdefault(info.name, info)
        self._by_path[_key(path)] = info.name
        self._module_of.clear()  # a name that named nothing may name this module now
        for alias in names[1:]:
            self._aliases.setdefault(alias, names[0])
        root, packaged = self._add_roots(path, names)
        if not packaged:
            # The siblings a script imports are read now: one of the same name elsewhere
            # (read before or after) then shows as ambiguous instead of standing in for it.
            listing = self._listing(str(root))
            for full in [*info.imports.values(), *info.star_imports]:
                sibling = full.split(".")[0]
                if sibling in listing and sibling != names[0]:
                    for found in (root / f"{sibling}.py", root / sibling / "__init__.py"):
                        if found.is_file() and _key(str(found)) not in self._by_path:
                            found_names = module_names(str(found))
                            if found_names:
                                self._load(str(found), found_names)
        return info

    def _add_roots(self, path: str, names: list[str]) -> tuple[Path, bool]:
        """Where the siblings of the file `names` name are found: (the folder its top-level
        name is in, whether it is in a package). A package's root holds other packages too (a
        site-packages folder): only this package is the project there."""
        top = names[0].split(".")[0]
        packaged = "." in names[0] or Path(path).name == "__init__.py"
        root = Path(path).resolve().parent
        for _ in range(names[0].count(".") + (1 if Path(path).name == "__init__.py" else 0)):
            root = root.parent
        self._add_root(str(root), top if packaged else None)
        for alias in names[1:]:
            self._add_root(str(Path(path).resolve().parents[alias.count(".")]), None)
        return root, packaged

    def _listing(self, root: str) -> set[str]:
        """The module names a folder holds (files and packages), read once."""
        names = self._listings.get(root)
        if names is None:
            try:
                entries = os.listdir(root)
            except OSError:
                entries = []
            names = {e[:-3] for e in entries if e.endswith(".py")} | {e for e in entries if "." not in e}
            self._listings[root] = names
        return names

    def _add_root(self, root: str, top: Optional[str]) -> None:
        """`top`: the one top-level package this root holds for the project; None: any module."""
        tops = self._roots.setdefault(root, set())
        if tops is not None:
            if top is None:
                self._roots[root] = None
            else:
                tops.add(top)

    def _import_module(self, name: str) -> bool:
        """Read project module `name` from the project's roots, once; whether it exists."""
        if name in self._missing or not all(part.isidentifier() for part in name.split(".")):
            return False
        parts = name.split(".")
        if len(self._by_path) < MAX_MODULES:
            for root, tops in list(self._roots.items()):
                if (tops is not None and parts[0] not in tops) or parts[0] not in self._listing(root):
                    continue
                base = Path(root).joinpath(*parts)
                for found in (base.with_suffix(".py"), base / "__init__.py"):
                    if found.is_file() and _key(str(found)) not in self._by_path:
                        names = module_names(str(found))
                        if names and self._load(str(found), names) is not None:
                            if name in self.modules or self._aliases.get(name) in self.modules:
                                return True
        self._missing.add(name)
        return False

    # -- modules ---------------------------------------------------------------

    def module_for_path(self, path: str) -> Optional[str]:
        """The module name of a file of the project (None: not in it, or its name is
        ambiguous, and then it is analysed alone)."""
        name = self._by_path.get(_key(path))
        return None if name in self._ambiguous else name

    def file_of_import(self, importer: str, module: str, level: int = 0) -> Optional[str]:
        """The file of the project module that an import in file `importer` names
        (`from ..utils import x`: "utils" at level 2; `import pkg.ops`: "pkg.ops"); None for
        a library module, a name two files share, or a name that is no module. The importer
        counts as part of the project (a script's siblings resolve as when it runs), even
        when it is only a text (standard input, a file not saved)."""
        name = self._by_path.get(_key(importer))
        if name is None:
            names = module_names(importer)
            if not names:
                return None
            if not (os.path.isfile(importer) and self._load(importer, names) is not None):
                self._add_roots(importer, names)
            name = names[0]
        if level and name.startswith("<notebook"):
            return None
        absolute = absolute_module(name, Path(importer).name == "__init__.py", module, level)
        found = self._project_module_of(absolute) if absolute else None
        return self.modules[found[0]].path if found is not None and not found[1] else None

    def path_for_module(self, module: str) -> Optional[str]:
        info = self.module_info(module)
        return info.path if info is not None else None

    def module_info(self, module: str) -> Optional[ModuleInfo]:
        return self.modules.get(module) or self.modules.get(self._aliases.get(module, ""))

    def imports_of(self, module: str) -> set[str]:
        """The project modules `module` imports."""
        info = self.module_info(module)
        if info is None:
            return set()
        found = set()
        for target in [*info.imports.values(), *info.star_imports]:
            project = self._project_module_of(target)
            if project is not None:
                found.add(project[0])
        return found

    def importers_of(self, module: str) -> set[str]:
        return {name for name in list(self.modules) if module in self.imports_of(name)}

    def gate(self, module: str) -> bool:
        """The engine's `ast` gate: a tape, a Lambda layer or a compiled loss function, or a
        class with a forward method and a Keras-looking base that the project does not know
        to be something else (Keras's own `Operation` subclasses, when Keras is the project,
        are plain classes)."""
        info = self.module_info(module)
        if info is None:
            return False
        return info.starts_path or any(self._may_be_keras(f"{module}.{name}", set())
                                       for name in info.keras_looking if name in info.forward_classes)

    def defines_keras_forward(self, module: str) -> bool:
        """A Keras class of the module (through bases across modules) defines its own
        forward method: the analysis starts a gradient path there."""
        info = self.module_info(module)
        return info is not None and any(self.kind_of(f"{module}.{name}").is_keras for name in info.forward_classes)

    def _may_be_keras(self, qualified: str, seen: set[str]) -> bool:
        kind = self.kind_of(qualified)
        if kind is not Kind.UNKNOWN or qualified in seen:
            return kind.is_keras
        seen.add(qualified)
        definition = self.lookup(qualified)
        if definition is None or definition.kind != "class":
            return True  # a library class we do not model
        cls = self.modules[definition.module].classes[definition.name]
        return any(self._may_be_keras(base, seen) for base in cls.bases)

    def calls_marked(self, module: str) -> bool:
        """Whether `module` calls a function of another project module that holds, or
        calls (directly or not), what some rule looks for (a marker): only then can its
        gradient path matter to another module."""
        info = self.module_info(module)
        return info is not None and any(
            self._reaches_marked(definition.module, definition.name)
            for definition in self._callees(info, None) if definition.module != info.name)

    def _callees(self, info: ModuleInfo, symbol: Optional[str]) -> Iterator[Definition]:
        """The project functions the module's calls (in `symbol` only, unless None) name."""
        for dotted, where in info.calls:
            if symbol is not None and where != symbol:
                continue
            if dotted.startswith("self.") and "." in where:
                method = self.method(info.name, where.rsplit(".", 1)[0], dotted[5:])
                if method is not None:
                    yield Definition(method.module, method.name, "function")
                continue
            definition = self.resolve(info.name, dotted)
            if definition is not None and definition.kind == "function":
                yield definition

    def _reaches_marked(self, module: str, name: str) -> bool:
        key = f"{module}.{name}"
        cached = self._reaches.get(key)
        if cached is None:
            self._reaches[key] = False  # a cycle of calls adds nothing
            function = self.function(module, name)
            info = self.modules[module]
            cached = function is not None and (function.marked or any(
                self._reaches_marked(d.module, d.name) for d in self._callees(info, name)))
            self._reaches[key] = cached
        return cached

    def call_sites(self, module: str, name: str) -> list[tuple[str, str]]:
        """Where the project calls function `name` of `module`: (module, enclosing symbol)
        for each call, in every module of the project, given or not (see `_read_callers`)."""
        self._read_callers(name.rsplit(".", 1)[-1])
        if self._call_sites is None:
            self._call_sites = {}
            for info in list(self.modules.values()):
                for dotted, symbol in info.calls:
                    definition = self.resolve(info.name, dotted)
                    if definition is not None and definition.kind == "function":
                        self._call_sites.setdefault(definition.qualified, []).append((info.name, symbol))
        return self._call_sites.get(f"{module}.{name}", [])

    def handed_to(self, module: str, name: str, parameter: str) -> list[Definition]:
        """The project functions that callers of function `name` of `module` pass for its
        parameter `parameter` (by position or keyword), in every module of the project:
        what `loss_fn(y, pred)` runs in `def train_step(model, opt, loss_fn, x, y)`."""
        function = self.function(module, name)
        if function is None or function.is_method:
            return []
        self._read_callers(name.rsplit(".", 1)[-1])
        if self._handed is None:
            self._handed = {}
            for info in list(self.modules.values()):
                for callee, slot, argument in info.handed:
                    target = self.resolve(info.name, callee)
                    passed = self.resolve(info.name, argument)
                    if (target is not None and target.kind == "function" and passed is not None
                            and passed.kind == "function"):
                        self._handed.setdefault(target.qualified, []).append((slot, passed))
        slots = {parameter}
        if parameter in function.positional:
            slots.add(str(function.positional.index(parameter)))
        return [passed for slot, passed in self._handed.get(f"{module}.{name}", []) if slot in slots]

    def _read_callers(self, word: str) -> None:
        """Read the project's modules that were neither given nor imported and whose text
        names `word`: the callers a fix of a function named so must know (pre-commit
        passes one file of a package whose other modules call its helpers). The files of
        each package (and the scripts beside a script) are listed once; a file is parsed
        only when its text holds the name. These modules are never analysed or reported."""
        if word in self._scanned:
            return
        self._scanned.add(word)
        if self._unread is None:
            self._unread = self._project_files()
        read = False
        for path in self._unread:
            if _key(path) in self._by_path or len(self._by_path) >= MAX_MODULES:
                continue
            try:
                text = _read_text(path)
            except Exception:
                continue
            names = module_names(path) if word in text else []
            if names and self._load(path, names) is not None:
                read = True
        if read:
            self._call_sites = None
            self._handed = None

    def _project_files(self) -> list[str]:
        """The Python files of the project's packages (recursively) and of its folders of
        scripts (not recursively), in a stable order."""
        from tfgradfix.files import SKIPPED_DIRECTORIES  # the folders discovery skips

        found: list[str] = []
        for root, tops in list(self._roots.items()):
            if tops is None:
                found.extend(str(Path(root) / f"{n}.py") for n in sorted(self._listing(root))
                             if (Path(root) / f"{n}.py").is_file())
                continue
            for top in sorted(tops):
                for folder, folders, files in os.walk(Path(root) / top):
                    folders[:] = sorted(f for f in folders if f not in SKIPPED_DIRECTORIES
                                        and (Path(folder) / f / "__init__.py").is_file())
                    found.extend(str(Path(folder) / f) for f in sorted(files) if f.endswith(".py"))
        return found

    def imported(self) -> set[str]:
        """The modules some other project module imports: only their functions can be
        called from another module's gradient path."""
        return {target for name in list(self.modules) for target in self.imports_of(name) if target != name}

    # -- names -------------------------------------------------------------------

    def qualified(self, module: str, dotted: str) -> Optional[str]:
        """The absolute dotted name `dotted` stands for in `module`: through its imports
        (`np.sum` -> `numpy.sum`, `ops.gelu` -> `pkg.ops.gelu`), or the module's own
        definition (`helper` -> `pkg.layers.helper`); None for an unknown local."""
        info = self.module_info(module)
        if info is None:
            return None
        head, _, rest = dotted.partition(".")
        full = info.imports.get(head)
        if full is None:
            if head in info.functions or head in info.classes or head in info.names:
                full = f"{info.name}.{head}"
            else:
                for star in info.star_imports:
                    found = self.resolve(star, head)
                    if found is not None:
                        full = found.qualified
                        break
        if full is None:
            return None
        return f"{full}.{rest}" if rest else full

    def resolve(self, module: str, dotted: str) -> Optional[Definition]:
        """The project definition `dotted` names in `module` (re-exports followed), or
        None when it is not defined in the project (a library name, a local variable)."""
        full = self.qualified(module, dotted)
        return self.lookup(full) if full is not None else None

    def lookup(self, qualified: str, _depth: int = 0) -> Optional[Definition]:
        """The project definition of an absolute dotted name."""
        found = self._project_module_of(qualified)
        if found is None or _depth > 10:
            return None
        module, rest = found
        info = self.modules[module]
        if not rest:
            return Definition(module, "", "module")
        if rest in info.functions:
            return Definition(module, rest, "function")
        if rest in info.classes:
            return Definition(module, rest, "class")
        head, _, tail = rest.partition(".")
        if head in info.classes and tail:
            # `Class.method` through the class's bases.
            method = self.method(module, head, tail)
            return Definition(method.module, method.name, "function") if method is not None else None
        if head in info.imports:  # a re-export: `from .ops import gelu` in __init__.py
            target = info.imports[head] + (f".{tail}" if tail else "")
            return self.lookup(target, _depth + 1)
        for star in info.star_imports:
            found_star = self.lookup(f"{star}.{rest}", _depth + 1)
            if found_star is not None:
                return found_star
        if head in info.names and not tail:
            return Definition(module, head, "name")
        return None

    def _project_module_of(self, qualified: str) -> Optional[tuple[str, str]]:
        """(project module, rest) for the longest prefix of `qualified` that is a module.
        Asked for every call on a gradient path: answers are kept (a module read later
        is one no answer named, or it was ambiguous and the answer stays None)."""
        if qualified in self._module_of:
            return self._module_of[qualified]
        found = self._find_module_of(qualified)
        self._module_of[qualified] = found
        return found

    def _find_module_of(self, qualified: str) -> Optional[tuple[str, str]]:
        parts = qualified.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self._ambiguous:
                return None
            name = prefix if prefix in self.modules else self._aliases.get(prefix)
            if (name is not None and name in self.modules) or self._import_module(prefix):
                name = prefix if prefix in self.modules else self._aliases[prefix]
                return name, ".".join(parts[cut:])
        return None

    # -- definitions ---------------------------------------------------------------

    def function(self, module: str, name: str) -> Optional[FunctionInfo]:
        """A function (or `Class.method`, or `factory.closure`) of a project module by its
        qualified name there."""
        info = self.module_info(module)
        return info.functions.get(name) if info is not None else None

    def class_info(self, module: str, name: str) -> Optional[ClassInfo]:
        info = self.module_info(module)
        return info.classes.get(name) if info is not None else None

    def class_kind(self, module: str, dotted: str) -> Kind:
        """What instances of the class `dotted` (as written in `module`) are."""
        full = self.qualified(module, dotted)
        return self.kind_of(full) if full is not None else Kind.UNKNOWN

    def kind_of(self, qualified: str) -> Kind:
        """What instances of the class with this absolute dotted name are: a project class
        through its bases across modules, or a library base."""
        cached = self._kinds.get(qualified)
        if cached is not None:
            return cached
        self._kinds[qualified] = Kind.UNKNOWN  # a cycle of bases is not a Keras class
        kind = self._kind(qualified)
        self._kinds[qualified] = kind
        return kind

    def _kind(self, qualified: str) -> Kind:
        library = library_kind(qualified)
        if library.is_keras:  # Keras's own classes, even when Keras itself is the project
            return library
        definition = self.lookup(qualified)
        if definition is None:
            return library
        if definition.kind != "class":
            return Kind.UNKNOWN
        cls = self.modules[definition.module].classes[definition.name]
        kinds = [self.kind_of(base) for base in cls.bases]
        for kind in (Kind.KERAS_MODEL, Kind.KERAS_LAYER, Kind.TF_MODULE, Kind.UNKNOWN):
            if kind in kinds:
                return kind
        return Kind.PLAIN

    def lineage(self, module: str, name: str) -> Iterator[ClassInfo]:
        """The class, then its project bases (depth first, each once), across modules."""
        seen: set[tuple[str, str]] = set()
        stack = [(module, name)]
        while stack:
            current = stack.pop(0)
            if current in seen:
                continue
            seen.add(current)
            cls = self.class_info(*current)
            if cls is None:
                continue
            yield cls
            for base in cls.bases:
                definition = self.lookup(base)
                if definition is not None and definition.kind == "class":
                    stack.append((definition.module, definition.name))

    def derives_from(self, module: str, name: str, base: str) -> bool:
        """Whether class `name` of `module` has the class `base` (absolute) among its project
        bases, directly or through other classes of the project."""
        return any(f"{cls.module}.{cls.name}" == base for cls in self.lineage(module, name)
                   if (cls.module, cls.name) != (module, name))

    def holds_state(self, qualified: str) -> bool:
        """Whether instances of the project class with this absolute name hold non-trainable
        variables, on evidence in its body or its project bases' (across modules), in the
        project classes they construct (sub-layers, sub-models, transitively), or in a
        library base that is a stateful layer."""
        cached = self._states.get(qualified)
        if cached is not None:
            return cached
        self._states[qualified] = False  # a cycle of parts adds nothing
        definition = self.lookup(qualified)
        found = definition is not None and definition.kind == "class" and any(
            cls.holds_state or any(makes_state(base) for base in cls.bases)
            or any(self.holds_state(part) for part in cls.parts)
            for cls in self.lineage(definition.module, definition.name))
        self._states[qualified] = found
        return found

    def method(self, module: str, class_name: str, method: str) -> Optional[FunctionInfo]:
        """`method` of the class or of its nearest project base that defines it."""
        for cls in self.lineage(module, class_name):
            if method in cls.methods:
                return self.function(cls.module, f"{cls.name}.{method}")
        return None

    def is_legacy_keras(self, qualified: str) -> bool:
        """Whether a Keras class is based on Keras 2 (`tf_keras`), which tracks variables."""
        definition = self.lookup(qualified)
        if definition is None:
            return qualified.startswith(("tf_keras.", "tensorflow.python.keras."))
        if definition.kind != "class":
            return False
        return any(self.is_legacy_keras(b) for b in self.modules[definition.module].classes[definition.name].bases)

    # -- the gradient path across modules ----------------------------------------------

    def entries_of(self, module: str) -> dict[str, PathEntry]:
        """Functions of `module` that other modules' gradient paths call."""
        return self.entries.get(module, {})

    def add_entries(self, calls: Iterable[tuple[str, str, PathEntry]]) -> set[str]:
        """Record (module, function, entry) calls; the modules whose entries grew."""
        grown: set[str] = set()
        for module, name, entry in calls:
            entries = self.entries.setdefault(module, {})
            old = entries.get(name)
            new = entry if old is None else old.merged(entry)
            if new != old:
                entries[name] = new
                grown.add(module)
        return grown


# -- module names ---------------------------------------------------------------------


def module_names(path: str) -> list[str]:
    """The dotted names a file is imported as: from its package (`__init__.py`
    folders upwards), else its stem; plus its path from a `pyproject.toml` folder."""
    file = Path(path).resolve()
    if file.suffix == ".ipynb":
        # It imports project modules and is imported by none: a name no import can spell.
        return [f"<notebook {str(file).replace('.', '_')}>"]
    parts = [] if file.name == "__init__.py" else [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts or not all(p.isidentifier() for p in parts):
        return []
    names = [".".join(parts)]
    if len(parts) == 1 or file.name == "__init__.py" and len(parts) == 1:
        root = _pyproject_root(file.parent)
        if root:
            relative = file.relative_to(root[0]).with_suffix("").parts
            alias = ".".join(relative)
            if all(p.isidentifier() for p in relative) and alias != names[0]:
                names.append(alias)
    return names


def absolute_module(importer: str, is_package: bool, module: Optional[str], level: int) -> Optional[str]:
    """The absolute name of `from <level dots><module> import ...` in module `importer`
    (None when the dots climb above its top-level package)."""
    if level == 0:
        return module
    package = importer.split(".")
    if not is_package:
        package = package[:-1]
    if level - 1 > len(package) or (level - 1 == len(package) and not module):
        return None
    package = package[: len(package) - (level - 1)]
    return ".".join([*package, *([module] if module else [])])


def _pyproject_root(folder: Path) -> Optional[list[Path]]:
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / "setup.py").is_file():
            return [candidate]
        if (candidate / ".git").exists():
            return None
    return None


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _read_text(path: str) -> str:
    from tfgradfix.files import read_source  # files.py is above analysis/; only its reader is needed

    return read_source(path).text


def library_kind(qualified: str) -> Kind:
    """What instances of a library class (or what a library constructor returns) are:
    `keras.layers.Dense`, `keras.Sequential`, `keras.applications.ResNet50`, `tf.Module`."""
    if is_keras_base(qualified):
        last = qualified.rsplit(".", 1)[-1]
        return Kind.KERAS_MODEL if last in _KERAS_MODEL_NAMES or ".models." in qualified else Kind.KERAS_LAYER
    if any(qualified.startswith(f"{package}.applications.") for package in KERAS_PACKAGES):
        return Kind.KERAS_MODEL
    if qualified in _TF_MODULES or qualified.startswith("tensorflow.Module"):
        return Kind.TF_MODULE
    if qualified in ("object", "builtins.object") or "." not in qualified and qualified in _BUILTIN_BASES:
        return Kind.PLAIN
    if qualified in _PLAIN_LIBRARY_BASES or qualified.startswith(_PLAIN_LIBRARY_PACKAGES):
        return Kind.PLAIN
    return Kind.UNKNOWN


# Bases that say nothing about what instances hold: they stay plain objects.
_PLAIN_LIBRARY_BASES = frozenset({"abc.ABC", "typing.Generic", "typing.NamedTuple", "typing.Protocol",
                                  "tensorflow.test.TestCase"})
_PLAIN_LIBRARY_PACKAGES = ("typing.", "enum.", "collections.", "unittest.", "absl.testing.")
_BUILTIN_BASES = frozenset({"object", "dict", "list", "tuple", "set", "str", "int", "float", "Exception",
                            "ValueError", "TypeError", "RuntimeError", "NamedTuple", "Enum"})


# -- one module ---------------------------------------------------------------------------


def index_module(name: str, path: str, text: str) -> ModuleInfo:
    """What one module defines and imports, from `ast`."""
    info = ModuleInfo(name=name, path=path, is_package=Path(path).name == "__init__.py")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        info.parsed = False
        info.starts_path = True  # LibCST names the error
        return info
    _Indexer(info).run(tree)
    if "gradient(" in text or "minimize(" in text:
        info.trained_by_name = trained_by_name(tree)
    info.outline, info.checksum = outline(tree), checksum(text)
    return info


def checksum(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


# Names whose use in code can start a gradient path outside a Keras class.
_PATH_STARTS = frozenset({"GradientTape", "Lambda"})


def _hands_loss(call: ast.Call) -> bool:
    """`model.compile(loss=fn)`: a loss function of the module runs on the model's outputs;
    `opt.minimize(loss_fn, var_list)`: the optimizer runs `loss_fn()` under its own tape."""
    if not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr == "minimize":
        loss = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "loss"), None)
        return isinstance(loss, (ast.Name, ast.Attribute, ast.Lambda, ast.Call)) and (
            len(call.args) > 1 or any(k.arg == "var_list" for k in call.keywords))
    return (call.func.attr == "compile"
            and any(k.arg == "loss" and not isinstance(k.value, ast.Constant) for k in call.keywords))


_Scope = Union[ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]


class _Indexer:
    """One walk over the module: each node is visited once, in source order (imports
    before the code that uses them), nested definitions with their own prefix."""

    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.stars: list[str] = []
        self.starts_path = False
        self.keras_names = {"Layer", "Model", "Sequential"}
        self.class_nodes: list[tuple[str, ast.ClassDef]] = []
        self.calls: list[tuple[str, str]] = []
        self.handed: list[tuple[str, str, str]] = []
        self._makes_initializer: dict[str, bool] = {}  # functions that construct an initializer
        self._weights: dict[str, set[str]] = {}  # class -> weights its methods assign
        self._classes: list[tuple[ClassInfo, set[str]]] = []  # classes being indexed, and their parts
        self._bound_once: set[str] = set()  # module-level names bound by one statement

    def run(self, tree: ast.Module) -> None:
        bound = Counter(name for stmt in tree.body for name in _assigned_names(stmt))
        names = set(bound)
        self._bound_once = {name for name, count in bound.items() if count == 1}
        self._body(tree.body, "", None, None)
        self.info.star_imports = tuple(self.stars)
        self.info.names = frozenset(names)
        known = set(self.info.imports) | set(self.info.functions) | set(self.info.classes)
        self.info.calls = tuple(
            (dotted, symbol) for dotted, symbol in self.calls
            if dotted.split(".")[0] in known or (self.stars and "." not in dotted))
        self.info.handed = tuple(
            h for h in self.handed if h[0].split(".")[0] in known and h[2].split(".")[0] in known)
        self.info.starts_path = self.starts_path
        self.info.forward_classes = tuple(
            name for name, _ in self.class_nodes
            if any(method in self.info.classes[name].methods for method in FORWARD_METHODS))
        self.info.keras_looking = tuple(
            name for name, node in self.class_nodes
            if any((n.attr if isinstance(n, ast.Attribute) else n.id) in self.keras_names
                   for base in node.bases for n in ast.walk(base) if isinstance(n, (ast.Attribute, ast.Name))))

    def _body(self, body: list[ast.stmt], prefix: str, owner: Optional[ast.ClassDef],
              function: Optional[FunctionInfo], weights: Optional[set[str]] = None) -> dict[str, str]:
        """Index the nodes of a body (a module's, a class's or a function's); returns the
        nested definitions it holds: name -> qualified name."""
        nested: dict[str, str] = {}
        symbol = function.name if function is not None else "<module>"
        # Node kinds compared by type (`ast` classes have no subclasses): this loop sees
        # every node of every module, most of them names and attributes.
        for node in _own_nodes(body):
            kind = type(node)
            if kind is ast.Name:
                if node.id in _PATH_STARTS:
                    self.starts_path = True
            elif kind is ast.Attribute:
                if node.attr in _PATH_STARTS:
                    self.starts_path = True
            elif kind is ast.Call:
                dotted = _dotted(node.func)
                if dotted is not None:
                    self.calls.append((dotted, symbol))
                    self._handed_arguments(node, dotted)
                if function is not None:
                    self._call(node, function)
                if self._classes:
                    self._state_call(node, dotted)
                self.starts_path = self.starts_path or _hands_loss(node)
            elif kind is ast.Import:
                self._import(node)
            elif kind is ast.ImportFrom:
                self._import_from(node)
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                nested[node.name] = f"{prefix}{node.name}"
                self._function(node, prefix, owner if function is None else None)
            elif kind is ast.ClassDef:
                nested[node.name] = f"{prefix}{node.name}"
                self._class(node, prefix)
            elif self._classes and kind is ast.Assign and _is_constant(node.value, False) and any(
                    isinstance(t, ast.Attribute) and t.attr == "trainable" for t in node.targets):
                self._classes[-1][0].holds_state = True  # `part.trainable = False`
            elif function is None:
                if not prefix and kind is ast.Assign:
                    self._alias(node)
                continue
            elif kind is ast.With or kind is ast.AsyncWith:
                for item in node.items:
                    expr = item.context_expr
                    if isinstance(expr, ast.Call) and self._resolve(expr.func) in _TAPE_CONSTRUCTORS:
                        function.holds_tape = True
            elif isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
                function.returns_numpy = function.returns_numpy or (
                    self._resolve(node.value.func) or "").startswith("numpy.")
            elif weights is not None and isinstance(node, (ast.Assign, ast.AnnAssign)):
                weights.update(self._weight_targets(node))
        return nested

    # imports

    def _import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.info.imports[alias.asname] = alias.name
            else:
                # `import a.b` binds `a`; `a.b.f` then resolves through it.
                head = alias.name.split(".")[0]
                self.info.imports.setdefault(head, head)

    def _import_from(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node.module, node.level)
        if base is None:
            return
        if node.module and "keras" in node.module:
            self.keras_names.update(a.asname or a.name for a in node.names)
        for alias in node.names:
            if alias.name == "*":
                self.stars.append(base)
                continue
            self.info.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name

    def _absolute(self, module: Optional[str], level: int) -> Optional[str]:
        return absolute_module(self.info.name, self.info.is_package, module, level)

    def _alias(self, node: ast.Assign) -> None:
        """`keras = tf.keras`, `Layer = keras.layers.Layer`: a module-level name bound once to
        what an imported name refers to is that name (as `analysis/imports.py` reads it)."""
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        name = node.targets[0].id
        if name in self.info.imports or name not in self._bound_once or _dotted(node.value) is None:
            return
        full = self._resolve(node.value)
        if full is not None:
            self.info.imports[name] = full

    def _resolve(self, node: ast.expr) -> Optional[str]:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        full = self.info.imports.get(head)
        if full is None:
            return None
        return canonical(f"{full}.{rest}") if rest else canonical(full)

    # definitions

    def _class(self, node: ast.ClassDef, prefix: str) -> None:
        name = f"{prefix}{node.name}"
        self.class_nodes.append((name, node))
        bases = []
        for base in node.bases:
            dotted = _dotted(base)
            if dotted is None:
                continue
            full = self._resolve(base)
            if full is None and dotted not in _BUILTIN_BASES:
                # Defined in this module (maybe further down) or brought in by `import *`.
                full = f"{self.info.name}.{dotted}"
            bases.append(full if full is not None else dotted)
        weights: set[str] = set()
        cls = ClassInfo(self.info.name, name, node.lineno, tuple(bases))
        self.info.classes[name] = cls
        parts: set[str] = set()
        self._classes.append((cls, parts))
        methods = self._body(node.body, f"{name}.", node, None, weights)
        self._classes.pop()
        cls.parts = tuple(sorted(parts - {f"{self.info.name}.{name}"}))
        cls.methods = tuple(m for m in methods if f"{name}.{m}" in self.info.functions)
        cls.weights = frozenset(self._weights.pop(name, ())) | frozenset(weights)
        cls.state = state_attributes_of(node, FORWARD_METHODS, self._resolve) & cls.weights

    def _function(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef], prefix: str,
                  owner: Optional[ast.ClassDef]) -> None:
        name = f"{prefix}{node.name}"
        args = node.args
        info = FunctionInfo(
            module=self.info.name, name=name, line=node.lineno, end_line=node.end_lineno or node.lineno,
            positional=tuple(a.arg for a in [*args.posonlyargs, *args.args]),
            keyword_only=tuple(a.arg for a in args.kwonlyargs),
            star_arg=args.vararg.arg if args.vararg else None,
            star_kwarg=args.kwarg.arg if args.kwarg else None,
            is_method=owner is not None,
            own_gradient=any(self._resolve(d.func if isinstance(d, ast.Call) else d) in _OWN_GRADIENT
                             for d in node.decorator_list),
        )
        self.info.functions[name] = info
        weights: Optional[set[str]] = set() if owner is not None else None
        nested = self._body(node.body, f"{name}.", None, info, weights)
        if weights:
            self._weights.setdefault(prefix[:-1], set()).update(weights)
        if self._makes_initializer.pop(name, False):
            info.returns_initialized = _returns_initialized(node, self._resolve)
        info.returns_closures = tuple(
            nested[n.value.id] for n in _own_nodes(node.body)
            if isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id in nested
        ) if nested else ()

    def _handed_arguments(self, call: ast.Call, dotted: str) -> None:
        """Names passed as arguments that may be functions (resolved when asked: `run()` keeps
        those naming what the module defines or imports)."""
        for index, arg in enumerate(call.args):
            if type(arg) is ast.Starred:
                break
            passed = _dotted(arg) if type(arg) in (ast.Name, ast.Attribute) else None
            if passed is not None:
                self.handed.append((dotted, str(index), passed))
        for keyword in call.keywords:
            value = keyword.value
            passed = _dotted(value) if keyword.arg is not None and type(value) in (ast.Name, ast.Attribute) else None
            if passed is not None:
                assert keyword.arg is not None
                self.handed.append((dotted, keyword.arg, passed))

    def _call(self, call: ast.Call, info: FunctionInfo) -> None:
        func = call.func
        resolved = self._resolve(func) or ""
        if "nitializer" in resolved and is_initializer_constructor(resolved):
            self._makes_initializer[info.name] = True
        if resolved in _VARIABLE_CONSTRUCTORS or (isinstance(func, ast.Attribute) and func.attr == "add_weight"):
            info.creates_variables = True
        if resolved.startswith("numpy.") or (
                isinstance(func, ast.Attribute) and func.attr == "numpy" and not call.args):
            info.calls_numpy = True

    def _state_call(self, call: ast.Call, dotted: Optional[str]) -> None:
        """What a call in the body of the class being indexed says about its state."""
        cls, parts = self._classes[-1]
        if cls.holds_state:
            return
        if any((k.arg == "trainable" and _is_constant(k.value, False))
               or (k.arg == "stateful" and _is_constant(k.value, True)) for k in call.keywords):
            cls.holds_state = True
            return
        if dotted is None or not dotted.rsplit(".", 1)[-1][:1].isupper():
            return  # classes, by convention, are capitalised: functions are not followed
        resolved = self._resolve(call.func)
        if resolved is None:
            if "." not in dotted:
                parts.add(f"{self.info.name}.{dotted}")  # a class of this module
        elif makes_state(resolved):
            cls.holds_state = True
        elif not resolved.startswith(("tensorflow.", "keras.", "tf_keras.", "numpy.")):
            parts.add(resolved)

    def _weight_targets(self, node: Union[ast.Assign, ast.AnnAssign]) -> Iterator[str]:
        """`self.x` assigned from add_weight / tf.Variable."""
        if not isinstance(node.value, ast.Call):
            return
        func = node.value.func
        if not ((isinstance(func, ast.Attribute) and func.attr == "add_weight")
                or self._resolve(func) in _VARIABLE_CONSTRUCTORS):
            return
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                yield target.attr


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_AST_FIELDS: dict[type, tuple[str, ...]] = {}


# Nodes the index never looks at and that hold nothing it does (a third of all nodes).
_LEAVES = frozenset({ast.Constant, *(c for base in (ast.operator, ast.cmpop, ast.unaryop, ast.boolop,
                                                     ast.expr_context) for c in base.__subclasses__())})


def _own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Nodes of a body in source order, nested definitions yielded but not entered
    (and without constants, operators and `ctx` markers)."""
    stack: list[ast.AST] = list(reversed(body))
    leaves = _LEAVES
    while stack:
        node = stack.pop()
        yield node
        kind = type(node)
        fields = _AST_FIELDS.get(kind)
        if fields is None:
            fields = _AST_FIELDS[kind] = () if issubclass(kind, _DEFINITIONS) else tuple(
                f for f in kind._fields if f != "ctx")
        children: list[ast.AST] = []
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                children.extend(v for v in value if isinstance(v, ast.AST) and type(v) not in leaves)
            elif value is not None and type(value) not in leaves and isinstance(value, ast.AST):
                children.append(value)
        if children:
            children.reverse()
            stack.extend(children)


def _returns_initialized(node: Union[ast.FunctionDef, ast.AsyncFunctionDef], resolve) -> bool:
    """Every `return` of the function calls an initializer object: `return init(shape)` with
    `init = GlorotUniform()` bound once, or `return GlorotUniform()(shape)`."""
    bound: dict[str, list[ast.expr]] = {}
    returns: list[Optional[ast.expr]] = []
    for child in _own_nodes(node.body):
        if isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
            bound.setdefault(child.targets[0].id, []).append(child.value)
        elif isinstance(child, ast.Return):
            returns.append(child.value)

    def initializer(expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            values = bound.get(expr.id, [])
            return len(values) == 1 and initializer(values[0])
        return isinstance(expr, ast.Call) and is_initializer_constructor(resolve(expr.func) or "")

    return bool(returns) and all(isinstance(r, ast.Call) and initializer(r.func) for r in returns)


def _assigned_names(stmt: ast.stmt) -> Iterator[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.If, ast.Try)):
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                yield from _assigned_names(child)
        for handler in getattr(stmt, "handlers", []):
            for child in handler.body:
                yield from _assigned_names(child)
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                yield node.id


def _is_constant(node: ast.expr, value: bool) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _dotted(node: ast.expr) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
