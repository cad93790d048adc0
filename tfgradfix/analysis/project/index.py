"""`ProjectIndex`: the modules of the project, read when a question first needs them, and
the cross-module questions the analysis asks of them (see the package's docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

from tfgradfix.analysis.keras import HeldState, is_keras_loss, state_made_by
from tfgradfix.analysis.project.disk import (
    importable_package, is_file, key, list_modules, module_names, project_files, read_text, resolved, search_folder,
)
from tfgradfix.analysis.project.indexer import absolute_module, index_module
from tfgradfix.analysis.project.model import (
    ClassInfo, Definition, FunctionInfo, Kind, ModuleInfo, PathEntry, gives_any, library_kind,
)
from tfgradfix.analysis.tf_version import keras2_only
from tfgradfix.analysis.vocabulary import LEGACY_KERAS_PACKAGES

# Modules read in all, given or imported (a bound for a huge tree imported from one file).
MAX_MODULES = 20000


class ProjectIndex:
    """All modules of the project; see the module docstring. Plain data: pickled to workers."""

    def __init__(self) -> None:
        self.modules: dict[str, ModuleInfo] = {}
        self._by_path: dict[str, str] = {}
        self._aliases: dict[str, str] = {}  # another name of a module (pyproject-relative)
        self._kinds: dict[str, Kind] = {}
        self._reaches: dict[str, bool] = {}
        self._states: dict[tuple[str, Optional[frozenset[str]]], HeldState] = {}
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
        self._imported_as: dict[str, str] = {}  # file -> its name through a namespace package
        self._imports_resolved: set[str] = set()  # modules whose imports `reached_as` has resolved
        self._module_of: dict[str, Optional[tuple[str, str]]] = {}
        self._lookups: dict[str, Optional[Definition]] = {}
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
            if names and key(path) not in index._by_path:
                index._load(path, names)
        return index

    def _load(self, path: str, names: list[str]) -> Optional[ModuleInfo]:
        try:
            text = read_text(path)
        except Exception:  # the engine reports unreadable files; the index just lacks them
            return None
        if names[0] in self.modules or names[0] in self._ambiguous:
            # Two files with one name (`train.py` in every example folder): which one an
            # import means depends on how it is run, so neither is resolved by name.
            self._ambiguous.add(names[0])
            self._by_path[key(path)] = names[0]
            self._module_of.clear()
            self._lookups.clear()
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
        self._by_path[key(path)] = info.name
        self._module_of.clear()  # a name that named nothing may name this module now
        self._lookups.clear()
        for alias in names[1:]:
            self._aliases.setdefault(alias, names[0])
        root, packaged = self._add_roots(path, names)
        for folder in info.search_paths:
            searched = search_folder(path, folder)
            if searched is not None:
                self._add_root(searched, None)
        if not packaged:
            # The siblings a script imports are read now: one of the same name elsewhere
            # (read before or after) then shows as ambiguous instead of standing in for it.
            listing = self._listing(str(root))
            for full in [*info.imports.values(), *info.star_imports]:
                sibling = full.split(".")[0]
                if sibling in listing and sibling != names[0]:
                    for found in (root / f"{sibling}.py", root / sibling / "__init__.py"):
                        if is_file(found) and key(str(found)) not in self._by_path:
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
        root = resolved(path).parent
        for _ in range(names[0].count(".") + (1 if Path(path).name == "__init__.py" else 0)):
            root = root.parent
        self._add_root(str(root), top if packaged else None)
        for alias in names[1:]:
            self._add_root(str(resolved(path).parents[alias.count(".")]), None)
        return root, packaged

    def _listing(self, root: str) -> set[str]:
        """The module names a folder holds (files and packages), read once."""
        names = self._listings.get(root)
        if names is None:
            names = self._listings[root] = list_modules(root)
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
        roots = list(self._roots.items())
        # A script folder that is itself the namespace package an import names (`models/` holding
        # `pointnet.py`, which imports `models.transform_net` as the project runs from above it).
        roots += [(str(Path(root).parent), {parts[0]}) for root, _ in roots
                  if len(parts) > 1 and Path(root).name == parts[0] and not importable_package(Path(root))]
        if len(self._by_path) < MAX_MODULES:
            for root, tops in roots:
                if (tops is not None and parts[0] not in tops) or parts[0] not in self._listing(root):
                    continue
                base = Path(root).joinpath(*parts)
                for found in (base.with_suffix(".py"), base / "__init__.py"):
                    if is_file(found) and key(str(found)) not in self._by_path:
                        names = module_names(str(found))
                        if names and self._load(str(found), names) is not None:
                            if name in self.modules or self._aliases.get(name) in self.modules:
                                return True
                    if is_file(found) and self._namespace_module(name, str(found)):
                        if root not in self._roots:  # the folder the project runs from: its siblings too
                            self._add_root(root, None)
                            self._missing.clear()
                        return True
        self._missing.add(name)
        return False

    def _namespace_module(self, name: str, path: str) -> bool:
        """Read `path` as module `name` of a namespace package (PEP 420: `Utility/model.py`
        imported as `Utility.model` although `Utility` has no `__init__.py`, as research code
        run from its root does). The file's own name is its stem (`model`), which other folders'
        files may share; the dotted name the import spells is unique, so it is the one kept."""
        names = module_names(path)
        if len(name.split(".")) < 2 or not names or names[0] == name or "." in names[0]:
            return False
        known = self._by_path.get(key(path))
        if known is not None and known in self.modules and known not in self._ambiguous:
            self._aliases.setdefault(name, known)
        elif self._load(path, [name]) is None:
            return False
        self._imported_as.setdefault(key(path), name)
        return True

    def imported_as(self, path: str) -> Optional[str]:
        """The dotted name an import of the project reached the file by through a namespace
        package (None: none did, and it is imported by its own name)."""
        return self._imported_as.get(key(path))

    def reached_as(self, path: str) -> Optional[str]:
        """`imported_as` once every import of the modules read so far is resolved: a notebook's
        `from utils.train import *` names `utils/train.py` as `utils.train` only when resolved. The
        project's files that name the module (`from models.transform_net import ...` in a sibling
        not given) are read first: given alone, a file is reached as its importers spell it."""
        if key(path) not in self._imported_as:
            self._read_callers(Path(path).stem)
            for name in list(self.modules):
                if name not in self._imports_resolved:  # (asked per verified file: each module once)
                    self._imports_resolved.add(name)
                    self.imports_of(name)
        return self.imported_as(path)

    # -- modules ---------------------------------------------------------------

    def module_for_path(self, path: str) -> Optional[str]:
        """The module name of a file of the project (None: not in it, or its name is
        ambiguous, and then it is analysed alone)."""
        name = self._by_path.get(key(path))
        return None if name in self._ambiguous else name

    def file_of_import(self, importer: str, module: str, level: int = 0) -> Optional[str]:
        """The file of the project module that an import in file `importer` names
        (`from ..utils import x`: "utils" at level 2; `import pkg.ops`: "pkg.ops"); None for
        a library module, a name two files share, or a name that is no module. The importer
        counts as part of the project (a script's siblings resolve as when it runs), even
        when it is only a text (standard input, a file not saved)."""
        # A relative import counts from the name an import reached the importer by (`pkg.layer` of
        # a namespace package), not from its stem.
        name = (level and self._imported_as.get(key(importer))) or self._by_path.get(key(importer))
        if name is None:
            names = module_names(importer)
            if not names:
                return None
            if not (is_file(importer) and self._load(importer, names) is not None):
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
            target = self._beside_the_script(info, target)
            project = self._project_module_of(target)
            if project is not None:
                found.add(project[0])
        return found

    def importers_of(self, module: str) -> set[str]:
        return {name for name in list(self.modules) if module in self.imports_of(name)}

    def reads_attribute(self, attr: str, other_than: str) -> bool:
        """Whether a module of the project other than `other_than` reads `.<attr>` of something."""
        return any(attr in info.attribute_reads for info in list(self.modules.values()) if info.name != other_than)

    def used_elsewhere(self, module: str, name: str) -> bool:
        """Whether another module of the project may use `name` of `module`: it imports that
        name, star-imports the module, or imports the module itself."""
        qualified = f"{module}.{name}"
        for info in list(self.modules.values()):
            if info.name != module and (module in info.star_imports or any(
                    target in (qualified, module) for target in info.imports.values())):
                return True
        return False

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
        """Where the project calls function `name` of `module` (or constructs class `name`):
        (module, enclosing symbol) for each call, in every module of the project, given or not
        (see `_read_callers`)."""
        self._read_callers(name.rsplit(".", 1)[-1])
        if self._call_sites is None:
            self._call_sites = {}
            for info in list(self.modules.values()):
                for dotted, symbol in info.calls:
                    definition = self.resolve(info.name, dotted)
                    if definition is not None and definition.kind in ("function", "class"):
                        self._call_sites.setdefault(definition.qualified, []).append((info.name, symbol))
        return self._call_sites.get(f"{module}.{name}", [])

    def type_tested_in(self, attr: str) -> Optional[str]:
        """A module of the project that tests the type of an attribute of that name
        (`type(layer.a)`): where a fix changing that type would change the answer."""
        self._read_callers(attr)  # a test or a grader may be a file not given
        return next((info.name for info in list(self.modules.values()) if attr in info.type_tested), None)

    def run_by_hand(self, module: str, name: str) -> bool:
        """Every construction of class `name` of `module` in the project runs the object's
        `call` at once by hand (`Block(...).call(net)` in a functional model's builder, or an
        object used only through its own such builder, `esmm.build_graph()`): Keras never calls
        it, and what its `call` makes is made where that code runs."""
        sites = self.call_sites(module, name)
        qualified = f"{module}.{name}"
        return bool(sites) and module in self.modules and uses_by_hand(
            list(self.modules.values()), self.modules[module], name,
            lambda info, dotted: (d := self.resolve(info.name, dotted)) is not None and d.qualified == qualified,
        ) >= len(sites)

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
            if key(path) in self._by_path or len(self._by_path) >= MAX_MODULES:
                continue
            try:
                text = read_text(path)
            except Exception:
                continue
            names = module_names(path) if word in text else []
            if names and self._load(path, names) is not None:
                read = True
        if read:
            self._call_sites = None
            self._handed = None

    def _project_files(self) -> list[str]:
        """The Python files of the project's packages and folders of scripts (`disk.project_files`)."""
        return project_files(self._roots, self._listing)

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
        if full is not None:
            full = self._beside_the_script(info, full)
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

    def _beside_the_script(self, info: ModuleInfo, full: str) -> str:
        """`from boxes import get_boxes` in `detector/train.py`, where `detector/boxes.py` is: a script
        run from its own folder (`python train.py`) has that folder first on `sys.path`, package or not,
        so the module beside it is the one it imports. A top-level module of that name counts only where
        it lies at the root the package is imported from, not in another folder of scripts. A module
        outside a package imports its siblings by their own names already."""
        if "." not in info.name:
            return full
        top, _, rest = full.partition(".")
        sibling = f"{info.name.rsplit('.', 1)[0]}.{top}"
        if sibling == info.name or (sibling not in self.modules and not self._import_module(sibling)):
            return full
        other = self.modules.get(top)
        root = Path(info.path).parents[info.name.count(".")]
        if other is not None and Path(other.path).parents[1 if Path(other.path).name == "__init__.py" else 0] == root:
            return full
        return f"{sibling}.{rest}" if rest else sibling

    def resolve(self, module: str, dotted: str) -> Optional[Definition]:
        """The project definition `dotted` names in `module` (re-exports followed), or
        None when it is not defined in the project (a library name, a local variable)."""
        full = self.qualified(module, dotted)
        return self.lookup(full) if full is not None else None

    def lookup(self, qualified: str, _depth: int = 0) -> Optional[Definition]:
        """The project definition of an absolute dotted name. Answers are kept, as the modules'
        are (a package's five star imports were once tried at each of ten levels)."""
        if qualified in self._lookups:
            return self._lookups[qualified]
        self._lookups[qualified] = None  # a cycle of re-exports defines nothing
        found = self._lookup(qualified, _depth)
        self._lookups[qualified] = found
        return found

    def _lookup(self, qualified: str, _depth: int) -> Optional[Definition]:
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
            star_module = self._project_module_of(star)
            if star_module is None or star_module[1]:
                continue  # `from .roller import *` naming no module of the project: its names are not ours
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

    def is_loss_class(self, module: str, name: str) -> bool:
        """Class `name` of `module` is a Keras loss: `keras.losses.Loss` among its bases, through the
        project's classes."""
        return any(is_keras_loss(base) for cls in self.lineage(module, name) for base in cls.bases)

    def holds_state(self, qualified: str, given: Optional[frozenset[str]] = None) -> HeldState:
        """Which lists of instances of the project class with this absolute name show
        non-trainable variables, on evidence in its body or its project bases' (across
        modules), in the project classes they construct (sub-layers, sub-models,
        transitively), or in a library base that is a stateful layer. `given`: the arguments
        of the construction (`model.given_arguments`; None, unknown), which decide whether a
        seeded layer made with a rate parameter that defaults to zero has a seed."""
        key = (qualified, given)
        cached = self._states.get(key)
        if cached is not None:
            return cached
        self._states[key] = HeldState.NONE  # a cycle of parts adds nothing
        definition = self.lookup(qualified)
        found = HeldState.NONE
        if definition is not None and definition.kind == "class":
            for depth, cls in enumerate(self.lineage(definition.module, definition.name)):
                # A base's `__init__` takes what the subclass hands on: unknown, as far as its parameters go.
                seeded = gives_any(given if depth == 0 else None, cls.seed_rates)
                part_arguments = dict(cls.part_arguments)
                found = max([found, cls.holds_state, HeldState.VARIABLES if seeded else HeldState.NONE,
                             *(state_made_by(base) for base in cls.bases),
                             *(self.holds_state(part, part_arguments.get(part)) for part in cls.parts)])
        self._states[key] = found
        return found

    def method(self, module: str, class_name: str, method: str) -> Optional[FunctionInfo]:
        """`method` of the class or of its nearest project base that defines it."""
        for cls in self.lineage(module, class_name):
            if method in cls.methods:
                return self.function(cls.module, f"{cls.name}.{method}")
        return None

    def keras2_through_package(self, module: str) -> Optional[str]:
        """The Keras 2-only name (`tensorflow.keras.layers.DenseFeatures`) that importing `module`
        needs first: Python runs the `__init__` of each package above a module before it, and one
        that imports a project module importing that name fails on Keras 3, so `module` runs on
        Keras 2 alone."""
        parts = module.split(".")
        for depth in range(1, len(parts)):
            package = self._project_module_of(".".join(parts[:depth]))
            if package is None or package[1]:
                continue
            info = self.modules[package[0]]
            for target in [*info.imports.values(), *info.star_imports]:
                found = self._project_module_of(target)
                if found is None or found[0] == package[0]:
                    continue
                imported = self.modules[found[0]].imports.values()
                name = next((n for n in imported if keras2_only(n)), None)
                if name is not None:
                    return name
        return None

    def is_legacy_keras(self, qualified: str) -> bool:
        """Whether a Keras class is based on Keras 2 (`tf_keras`), which tracks variables."""
        definition = self.lookup(qualified)
        if definition is None:
            return qualified.startswith(tuple(f"{p}." for p in LEGACY_KERAS_PACKAGES))
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


def uses_by_hand(infos: list[ModuleInfo], home: ModuleInfo, name: str,
                 names_it: Callable[[ModuleInfo, str], bool]) -> int:
    """How many uses of class `name` of module `home`, in the modules `infos`, run its `call`
    by hand: `Cls(...).call(x)`, or an object only used through methods of its own that build
    `Model(inputs, self.call(inputs))`. `names_it(info, dotted)`: whether a dotted name read in
    `info` is that class."""
    cls = home.classes.get(name)
    builders = frozenset(m for m in (cls.methods if cls is not None else ())
                         if (f := home.functions.get(f"{name}.{m}")) is not None and f.runs_own_call)
    count = 0
    for info in infos:
        count += sum(1 for dotted in info.called_by_hand if names_it(info, dotted))
        if builders:
            count += sum(1 for dotted, methods in info.used_through if methods <= builders and names_it(info, dotted))
    return count
