"""How to run one changed unit, worked out statically from the project (no import).

For each unit the parent writes two small module trees, original and fixed, holding
only the slices of the project's modules the unit needs (`slicer`), and lists the
ways the project builds it: constructor calls anywhere in the project with their
arguments resolved to values, enclosing models or factory functions that construct
it, the input shapes the project uses, and the models a training function can be
given. The child (`child`) tries them in that order.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from tfgradfix.analysis.project import ProjectIndex, importable_package, module_names
from tfgradfix.notebooks import Notebook, NotebookError
from tfgradfix.verify.slicer import TAKE_CODE, ModuleTable, Statement

ALL = "*"
# Files the project scan reads at most, and folders it never enters.
MAX_PROJECT_FILES = 400
_SKIPPED_FOLDERS = {".git", ".venv", "venv", "env", "node_modules", "site-packages", "__pycache__", "build", "dist",
                    ".tox", ".ipynb_checkpoints"}
# How far up an enclosing model or factory is looked for (a layer in a block in a model).
ENCLOSING_DEPTH = 3


class Project:
    """The files of the project around the changed file, read once, as `ast` tables."""

    def __init__(self, root: Path, index: ProjectIndex, texts: Optional[dict[Path, str]] = None) -> None:
        self.root = root
        self.index = index
        self.texts = dict(texts or {})
        # Tables by (file, text), shared with the variants `with_text` makes.
        self._tables: dict[tuple[Path, str], Optional[ModuleTable]] = {}
        self._files: Optional[list[Path]] = None
        self._settings: Optional[dict] = None  # `settings(self)`, read once

    def with_text(self, path: Path, text: str) -> "Project":
        """The same project with one file's text replaced (the fixed version of it)."""
        return self.with_texts({path: text})

    def with_texts(self, texts: dict[Path, str]) -> "Project":
        other = Project(self.root, self.index, {**self.texts, **texts})
        other._tables = self._tables
        other._files = self.files()
        return other

    def resolve(self, importer: Path, module: str, level: int) -> Optional[Path]:
        """The project file an import in `importer` names (the project index answers), or None.
        An absolute import the index does not know is looked for from the folders above the
        importer, up to the working folder: research code runs its scripts from the repository
        root (`from models.transformer.decoder_layer import ...` in `models/transformer/decoder.py`)."""
        found = self.index.file_of_import(str(importer), module, level)
        if found is not None:
            return Path(found).resolve()
        if level or not module:
            return None
        top = Path.cwd().resolve()
        for folder in importer.resolve().parents:
            if folder != top and top not in folder.parents:
                break
            candidate = folder.joinpath(*module.split("."))
            for file in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if file.is_file():
                    return file
        return None

    def text(self, path: Path) -> Optional[str]:
        if path not in self.texts:
            try:
                raw = path.read_text(encoding="utf-8")
                self.texts[path] = Notebook.parse(raw).to_python() if path.suffix == ".ipynb" else raw
            except (OSError, UnicodeDecodeError, NotebookError):
                self.texts[path] = None
        return self.texts[path]

    def table(self, path: Path) -> Optional[ModuleTable]:
        text = self.text(path)
        if text is None:
            return None
        key = (path, text)
        if key not in self._tables:
            try:
                self._tables[key] = ModuleTable(text)
            except (SyntaxError, ValueError, RecursionError):
                self._tables[key] = None
        return self._tables[key]

    def files(self) -> list[Path]:
        if self._files is None:
            found: list[Path] = []
            for folder, dirs, names in os.walk(self.root):
                dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_FOLDERS and not d.startswith("."))
                found += [Path(folder, n) for n in sorted(names) if n.endswith((".py", ".ipynb"))]
                if len(found) >= MAX_PROJECT_FILES:
                    break
            self._files = found[:MAX_PROJECT_FILES]
        # A file given by its text (stdin, or not saved) is part of the project too.
        return [*(p for p in self.texts if p not in self._files), *self._files]

    def module_name(self, path: Path) -> str:
        """Its name as the project imports it (the index's), or a name no import spells
        (a notebook, a file named like no module)."""
        names = module_names(str(path)) if path.suffix == ".py" else []
        if names:
            return self.index.imported_as(str(path)) or names[0]
        try:
            parts = path.relative_to(self.root).with_suffix("").parts
        except ValueError:
            parts = (path.stem,)
        return "_tfgradfix_" + re.sub(r"\W", "_", "_".join(parts))

    def module_file(self, path: Path, spelled: Optional[str] = None) -> str:
        """Where the module lives in a tree the child imports (under the name its importers
        spell, where that is another of its names)."""
        name = spelled or self.module_name(path)
        if path.name == "__init__.py":
            return name.replace(".", "/") + "/__init__.py"
        return name.replace(".", "/") + ".py"


@dataclass
class Tree:
    files: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def build_tree(project: Project, requests: list[tuple[Path, set[str]]],
               blocks: Optional[dict[Path, tuple[list[Statement], int]]] = None) -> Tree:
    """The slices of the project's modules that `requests` ({file: names}) reach through
    imports, as {path in the tree: code}. Each package on the way gets its `__init__`."""
    wanted: dict[Path, set[str]] = {}
    blocks = blocks or {}
    todo = list(requests)
    for path in blocks:
        todo.append((path, set()))
    tree = Tree()
    done: dict[Path, frozenset] = {}
    # How the project's absolute imports spell a module another name of it also reaches
    # (`from layers.layers import X` from `algorithms/gas/gas.py`, under a `setup.py` root): the
    # tree writes it there, where the import looks.
    spelled: dict[Path, str] = {}
    requested = {p for p, _ in requests}
    while todo:
        path, names = todo.pop()
        wanted.setdefault(path, set()).update(names)
        if done.get(path) == frozenset(wanted[path]):
            continue
        done[path] = frozenset(wanted[path])
        folder = path.parent
        while importable_package(folder):
            todo.append((folder / "__init__.py", set()))
            folder = folder.parent
        table = project.table(path)
        if table is None:
            continue
        names = wanted[path]
        if ALL in names:
            names = (names - {ALL}) | {n for s in table.statements if s.runnable and s.imported is None for n in s.binds}
        extra, before = blocks.get(path, ([], None))
        piece = table.slice(names, extra, before)
        code = (TAKE_CODE + piece.code) if extra else piece.code
        # (a requested module keeps its own name: the child imports it by that name)
        module_file = project.module_file(path, None if path in requested else spelled.get(path))
        tree.files[module_file] = code
        _data_beside(path, module_file, tree)
        if path in requested:
            tree.missing.update(piece.missing)
        for imported in piece.imports:
            # `from . import ops` / `from pkg import ops`: a submodule, when there is one by that name.
            submodule = project.resolve(path, f"{imported.module}.{imported.name}".strip("."), imported.level) \
                if imported.name and imported.name != "*" else None
            if submodule is not None:
                todo.append((submodule, {ALL}))
                continue
            target = project.resolve(path, imported.module, imported.level)
            if target is not None and not imported.level and target.name != "__init__.py" \
                    and imported.module != project.module_name(target) \
                    and target.with_suffix("").parts[-len(imported.module.split(".")):] == tuple(imported.module.split(".")):
                spelled[target] = imported.module
            if target is not None:
                if imported.name and imported.name != "*":
                    todo.append((target, {imported.name}))
                else:  # `import pkg`: also what its `__init__` imports for `pkg.glorot` to find
                    todo.append((target, {ALL, *_attributes_read(piece.code, imported.bound)}))
    return tree


# Files a module may read from its own folder (`open(os.path.join(os.path.dirname(__file__),
# "logging_conf.yaml"))`): small text, copied beside it into the tree.
_DATA_SUFFIXES = frozenset({".yaml", ".yml", ".json", ".txt", ".cfg", ".ini", ".toml"})
_DATA_LIMIT = 256 * 1024


def _data_beside(path: Path, module_file: str, tree: Tree) -> None:
    """Copy the small configuration files in `path`'s folder beside its module in `tree`."""
    try:
        found = [f for f in path.parent.iterdir() if f.suffix in _DATA_SUFFIXES and f.is_file()
                 and f.stat().st_size <= _DATA_LIMIT]
    except OSError:
        return
    for data in found:
        try:
            text = data.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        tree.files.setdefault(str(Path(module_file).parent / data.name), text)


def _attributes_read(code: str, bound: str) -> set[str]:
    """The attributes `code` reads from the name `bound` (`glorot` of `pkg.glorot(...)`)."""
    return {node.attr for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == bound}


# -- how the project builds things --------------------------------------------------------

@dataclass
class Builder:
    """`module.name(*args, **kwargs)`; `via` names the enclosing model or factory the unit is built inside."""
    module: str
    name: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    via: str = ""
    path: Optional[Path] = None
    # Every argument of the project's call resolved to a value: the call as the project makes it.
    complete: bool = False

    def as_json(self) -> dict:
        return {"module": self.module, "name": self.name, "args": self.args, "kwargs": self.kwargs, "via": self.via,
                "complete": self.complete}


class _Unresolved(Exception):
    pass


def _value(node: ast.AST, env: dict):
    """A literal, a name bound to one, or arithmetic on them."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_value(e, env) for e in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {_value(k, env): _value(v, env) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _value(node.operand, env)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Div)):
        left, right = _value(node.left, env), _value(node.right, env)
        operations = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                      ast.FloorDiv: lambda a, b: a // b, ast.Div: lambda a, b: a / b}
        try:
            return operations[type(node.op)](left, right)
        except Exception as error:
            raise _Unresolved() from error
    key = ast.unparse(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
    if key is not None and key in env:
        return env[key]
    raise _Unresolved()


def _constants(tree: ast.Module) -> dict:
    env: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                env[node.targets[0].id] = _value(node.value, env)
            except _Unresolved:
                env.pop(node.targets[0].id, None)
        elif isinstance(node, ast.Assign):
            _set_item(node, env)
    return env


def _set_item(node: ast.Assign, env: dict) -> None:
    """`params["units"] = 32` on a dict bound to a literal (`params = {}`, filled key by key before the
    project's `Model(params)`): the dict with that item; an item that does not resolve drops the dict."""
    if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Subscript):
        return
    target = node.targets[0]
    name = ast.unparse(target.value) if isinstance(target.value, (ast.Name, ast.Attribute)) else None
    if name is None or not isinstance(env.get(name), dict):
        return
    try:
        env[name] = {**env[name], _value(target.slice, env): _value(node.value, env)}
    except (_Unresolved, TypeError):
        env.pop(name)


def _function_env(function: ast.FunctionDef, env: dict, before: int) -> dict:
    """Parameters with their defaults, then literal assignments before line `before`
    (`self.units = units` included)."""
    env = dict(env)
    positional = [*function.args.posonlyargs, *function.args.args]
    for param, default in zip(positional[len(positional) - len(function.args.defaults):], function.args.defaults):
        try:
            env[param.arg] = _value(default, env)
        except _Unresolved:
            pass
    for param, default in zip(function.args.kwonlyargs, function.args.kw_defaults):
        if default is not None:
            try:
                env[param.arg] = _value(default, env)
            except _Unresolved:
                pass
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and node.lineno < before and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Subscript):
                _set_item(node, env)
                continue
            try:
                env[ast.unparse(node.targets[0])] = _value(node.value, env)
            except _Unresolved:
                pass
    return env


def _required(function: ast.FunctionDef, method: bool) -> list[str]:
    positional = [*function.args.posonlyargs, *function.args.args][1 if method else 0:]
    without = positional[:len(positional) - len(function.args.defaults)]
    return [p.arg for p in without] + [p.arg for p, d in zip(function.args.kwonlyargs, function.args.kw_defaults)
                                       if d is None]


_FACTORY = re.compile(r"^_?(build|create|make|get|define|new|init)_?\w*$", re.IGNORECASE)


@dataclass
class Site:
    path: Path
    args: Optional[list]  # None: an argument does not resolve to a value
    kwargs: dict
    owner: Optional[tuple[str, str]]  # ("class" or "function", name) of the top-level definition around it
    owner_ready: bool  # that owner can be made without arguments of its own
    complete: bool = False  # every argument resolved to a value


def _sees(project: Project, path: Path, table: ModuleTable, name: str, defined_in: Path, hops: int = 2) -> bool:
    """Whether `name` in `path` is the one `defined_in` defines: the same file, an import
    from it, or from a module that re-exports it (a package `__init__`)."""
    if path == defined_in:
        return True
    for statement in table.statements:
        imported = statement.imported
        if imported is None:
            continue
        if imported.name and imported.name not in (name, "*"):
            # `from pkg import nn`, then `nn.KerasDense(...)`: the module itself
            if project.resolve(path, f"{imported.module}.{imported.name}".strip("."), imported.level) == defined_in:
                return True
            continue
        target = project.resolve(path, imported.module, imported.level)
        if target == defined_in:
            return True
        other = project.table(target) if target is not None and hops else None
        if other is not None and _sees(project, target, other, name, defined_in, hops - 1):
            return True
    return False


def call_sites(project: Project, name: str, defined_in: Path) -> list[Site]:
    """Every `name(...)` / `x.name(...)` call in the project, where that name is the
    definition in `defined_in`, with its arguments resolved to values where they can be."""
    sites = []
    for path in project.files():
        text = project.text(path)
        if text is None or name not in text:
            continue
        table = project.table(path)
        if table is None or not _sees(project, path, table, name, defined_in):
            continue
        env = _constants(table.tree)
        for top in table.tree.body:
            for call, function in _calls_in(top, name):
                if not _means(project, path, table, call.func, name, defined_in):
                    continue  # `tf.Variable(...)` is not the project's class `Variable`
                scope = _function_env(function, env, call.lineno) if function is not None else env
                try:
                    args = [_value(a, scope) for a in call.args if not isinstance(a, ast.Starred)]
                except _Unresolved:
                    args = None  # not a way to build it directly; the owner still builds it
                kwargs = {}
                complete = args is not None and not any(isinstance(a, ast.Starred) for a in call.args)
                for keyword in call.keywords:
                    if keyword.arg is None:
                        complete = False
                        continue
                    try:
                        kwargs[keyword.arg] = _value(keyword.value, scope)
                    except _Unresolved:
                        complete = False  # its default is the next best guess
                owner, ready = None, False
                if isinstance(top, ast.ClassDef):
                    init = next((s for s in top.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
                    owner, ready = ("class", top.name), init is None or not _required(init, True)
                elif isinstance(top, ast.FunctionDef):
                    # Only a factory is called to get the unit; `main()` and the like never run.
                    owner, ready = ("function", top.name), bool(_FACTORY.match(top.name)) and not _required(top, False)
                sites.append(Site(path, args, kwargs, owner, ready, complete))
    return sites


def _means(project: Project, path: Path, table: ModuleTable, callee: ast.expr, name: str, defined_in: Path) -> bool:
    """Whether a call's callee may be the definition of `name` in `defined_in`, by what its
    names are bound to, not by its last word: `Variable(...)` in a file that sees it, and
    `mod.Variable(...)` where `mod` is an import of that module (or of one that re-exports
    it); never `tf.Variable(...)`, whose `tf` is a package outside the project. A callee
    whose head is no import (`self.block`, a local) cannot be told apart and counts."""
    parts: list[str] = []
    node = callee
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or not parts:
        return True
    head = node.id
    imported = [s.imported for s in table.bindings(head) if s.imported is not None]
    if not imported or head in {n for s in table.bindings(head) if s.imported is None for n in s.binds}:
        return True
    found = imported[-1]
    middle = parts[:-1]
    if found.name:  # `from pkg import layers [as l]`: pkg.layers
        module = ".".join(p for p in (found.module, found.name, *middle) if p)
    elif found.bound != found.module.split(".")[0]:  # `import pkg.layers as layers`: pkg.layers
        module = ".".join([found.module, *middle])
    else:  # `import pkg.layers` binds `pkg`
        module = ".".join([found.bound, *middle])
    target = project.resolve(path, module, found.level)
    if target is None:
        return False
    if target == defined_in:
        return True
    other = project.table(target)
    return other is not None and _sees(project, target, other, name, defined_in, 1)


def _calls_in(top: ast.stmt, name: str):
    """(call, innermost enclosing function) for each call of `name` under `top`."""
    stack: list[tuple[ast.AST, Optional[ast.FunctionDef]]] = [(top, None)]
    while stack:
        node, function = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node
        if isinstance(node, ast.Call):
            callee = node.func
            if (isinstance(callee, ast.Name) and callee.id == name) or \
                    (isinstance(callee, ast.Attribute) and callee.attr == name):
                yield node, function
        stack.extend((child, function) for child in ast.iter_child_nodes(node))


def builders(project: Project, path: Path, name: str, depth: int = 0) -> list[Builder]:
    """The ways the project makes `name` (a class or function of `path`), most direct first:
    its own resolved calls, then the enclosing models and factories that make it."""
    module = project.module_name(path)
    direct, enclosing = [], []
    for site in call_sites(project, name, path):
        if site.owner is not None and site.owner[1] in (name, "example"):
            continue  # recursion, `super().__init__` in itself, or the example() read on its own
        if site.args is not None and (site.owner is None or site.owner[0] == "function" or site.args or site.kwargs):
            direct.append(Builder(module, name, site.args, site.kwargs, path=path, complete=site.complete))
        if site.owner is not None and depth < ENCLOSING_DEPTH:
            owner_module = project.module_name(site.path)
            found = builders(project, site.path, site.owner[1], depth + 1) if site.owner[1] != name else []
            if site.owner_ready:
                found.append(Builder(owner_module, site.owner[1], path=site.path))
            if site.owner[0] == "function" and not _FACTORY.match(site.owner[1]):
                found = []
            enclosing += [Builder(b.module, b.name, b.args, b.kwargs, b.via or b.name, b.path) for b in found]
    unique: dict[str, Builder] = {}
    for builder in [*direct, *enclosing]:
        unique.setdefault(repr(builder.as_json()), builder)
    return list(unique.values())


_SHAPE_CALLS = {"Input": True, "InputLayer": True, "normal": False, "uniform": False, "ones": False,
                "zeros": False, "rand": False, "randn": False, "truncated_normal": False, "random": False}


def _project_calls(project: Project, first: Path) -> Iterator[tuple[ast.Call, dict]]:
    """Every call in the project's files, `first`'s own first, with its module's constants."""
    for path in [first, *(p for p in project.files() if p != first)]:
        table = project.table(path)
        if table is None:
            continue
        env = _constants(table.tree)
        for node in ast.walk(table.tree):
            if isinstance(node, ast.Call):
                yield node, env


def input_shapes(project: Project, first: Path) -> list[list[int]]:
    """Input shapes the project uses: `keras.Input(shape=(5,))` (batch 2 added),
    `tf.random.normal((2, 5))`, `np.random.rand(2, 5)`, `input_shape=(5,)`; `first`'s own first."""
    shapes: list[tuple] = []
    for node, env in _project_calls(project, first):
        callee = _callee(node)
        keyword = {k.arg: k.value for k in node.keywords}
        if "input_shape" in keyword:
            shapes.append(_shape(keyword["input_shape"], env, batch=True))
        if callee not in _SHAPE_CALLS:
            continue
        if callee in ("rand", "randn"):
            shapes.append(_shape(ast.Tuple(node.args, ast.Load()), env, batch=False))
            continue
        value = keyword.get("shape", keyword.get("size", node.args[0] if node.args else None))
        if value is not None:
            shapes.append(_shape(value, env, batch=_SHAPE_CALLS[callee]))
    return [list(s) for s in dict.fromkeys(s for s in shapes if s and 2 <= len(s) <= 5)]


# absl's and TF 1.x's flag definitions: `flags.DEFINE_integer("units", 64, "...")`.
_FLAG_DEFINITION = re.compile(r"^DEFINE_(string|integer|float|bool|boolean|enum|list)$")
_CONVERSIONS = {"int": int, "float": float}


def settings(project: Project) -> dict:
    """The defaults of the project's own settings, by name: its command-line options
    (`parser.add_argument("--n-units", type=int, default=64)` gives `n_units`: 64) and absl
    flags (`flags.DEFINE_integer("units", 64, ...)`). A constructor that takes the parsed
    options (`Model(args)`, `Attention(ch, config)`) reads them as attributes; the first
    definition of a name wins."""
    if project._settings is not None:
        return project._settings
    found: dict = {}
    files = project.files()
    for node, env in _project_calls(project, files[0]) if files else ():
        callee = _callee(node)
        keyword = {k.arg: k.value for k in node.keywords if k.arg is not None}
        try:
            if callee == "add_argument" and node.args:
                options = [_value(a, env) for a in node.args]
                long = next((o for o in options if isinstance(o, str) and o.startswith("--")), options[0])
                name = _value(keyword["dest"], env) if "dest" in keyword else str(long).lstrip("-").replace("-", "_")
                action = _value(keyword["action"], env) if "action" in keyword else None
                default = _value(keyword["default"], env) if "default" in keyword else \
                    {"store_true": False, "store_false": True}.get(action)
                convert = _CONVERSIONS.get(ast.unparse(keyword["type"])) if "type" in keyword else None
                if isinstance(default, str) and convert is not None:
                    default = convert(default)
            elif _FLAG_DEFINITION.match(callee) and (node.args or "name" in keyword):
                name = _value(node.args[0] if node.args else keyword["name"], env)
                default = _value(node.args[1] if len(node.args) > 1 else keyword["default"], env)
            else:
                continue
        except (_Unresolved, KeyError, ValueError):
            continue
        if isinstance(name, str) and name.isidentifier():
            found.setdefault(name, default)
    project._settings = found
    return found


def _shape(node: ast.AST, env: dict, batch: bool) -> Optional[tuple]:
    try:
        value = _value(node, env)
    except _Unresolved:
        return None
    if isinstance(value, int):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        return None
    dims = [2 if d is None and batch else d for d in value]
    if not all(isinstance(d, int) and 0 < d <= 4096 for d in dims):
        return None
    return (2, *dims) if batch else tuple(dims)


# A sequence of token ids whose length the project leaves open (`Input(shape=(None,))`).
TIME_STEPS = 5
_INTEGER_DTYPE = re.compile(r"^(tf\.|np\.|tensorflow\.|numpy\.)?u?int(8|16|32|64)$")


def integer_shapes(project: Project, first: Path) -> list[list[int]]:
    """Shapes of the project's integer inputs, `keras.Input(shape=(None,), dtype="int32")`
    (batch 2, an open length TIME_STEPS); `first`'s own first."""
    shapes: list[tuple] = []
    for node, env in _project_calls(project, first):
        if _callee(node) not in ("Input", "InputLayer"):
            continue
        keyword = {k.arg: k.value for k in node.keywords}
        dtype = keyword.get("dtype")
        text = dtype.value if isinstance(dtype, ast.Constant) and isinstance(dtype.value, str) else \
            ast.unparse(dtype) if dtype is not None else ""
        shape = keyword.get("shape", node.args[0] if node.args else None)
        if not _INTEGER_DTYPE.match(text) or shape is None:
            continue
        try:
            value = _value(shape, env)
        except _Unresolved:
            continue
        dims = [TIME_STEPS if d is None else d for d in (value if isinstance(value, (tuple, list)) else [value])]
        if dims and all(isinstance(d, int) and 0 < d <= 4096 for d in dims):
            shapes.append((2, *dims))
    return [list(s) for s in dict.fromkeys(shapes)]


def integer_inputs(project: Project, first: Path) -> dict[str, dict]:
    """The project's classes whose `call` looks its first input up as ids, by name, with
    where the number of ids is: `tf.nn.embedding_lookup(self.table, ids)` / `tf.gather(self.table,
    ids)` (the rows of that weight: {"attr": "table"}), `tf.one_hot(ids, depth)` (the depth:
    {"bound": 10}, or {"attr": "depth"} for `self.depth`). `Embedding` layers the child finds itself."""
    found: dict[str, dict] = {}
    for path in [first, *(p for p in project.files() if p != first)]:
        table = project.table(path)
        if table is None or not any(word in (project.text(path) or "") for word in ("embedding_lookup", "gather",
                                                                                    "one_hot")):
            continue
        env = _constants(table.tree)
        for cls in (n for n in ast.walk(table.tree) if isinstance(n, ast.ClassDef)):
            call = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "call"), None)
            if call is not None and len(call.args.args) >= 2:
                hint = _lookup(call, call.args.args[1].arg, env)
                if hint is not None:
                    found.setdefault(cls.name, hint)
    return found


def _lookup(call: ast.FunctionDef, ids: str, env: dict) -> Optional[dict]:
    for node in ast.walk(call):
        if not isinstance(node, ast.Call):
            continue
        arguments = {**dict(enumerate(node.args)), **{k.arg: k.value for k in node.keywords}}
        callee = _callee(node)
        if callee in ("embedding_lookup", "gather"):
            given, source = arguments.get(1, arguments.get("ids", arguments.get("indices"))), \
                arguments.get(0, arguments.get("params"))
        elif callee == "one_hot":
            given, source = arguments.get(0, arguments.get("indices")), arguments.get(1, arguments.get("depth"))
        else:
            continue
        if not (isinstance(given, ast.Name) and given.id == ids) or source is None:
            continue
        if isinstance(source, ast.Attribute) and isinstance(source.value, ast.Name) and source.value.id == "self":
            return {"attr": source.attr}
        try:
            bound = _value(source, env)
        except _Unresolved:
            return {}
        return {"bound": bound} if isinstance(bound, int) else {}
    return None


def _callee(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


_MODEL_BASE = re.compile(r"(Model|Sequential|Module|Network|Net)$")
_MODEL_FACTORY = re.compile(r"^(build|create|get|make|define)_?\w*(model|net|network|classifier|regressor)\w*$",
                            re.IGNORECASE)


def _returns_a_model(function: ast.FunctionDef) -> bool:
    """Whether a function returns a Keras model it makes (`PINN = tf.keras.Sequential()` ...
    `return PINN`), whatever its name (`generate_PINN(n, L)`)."""
    made = {t.id for n in ast.walk(function) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
            and _callee(n.value) in ("Sequential", "Model") for t in n.targets if isinstance(t, ast.Name)}
    return any(isinstance(n, ast.Return) and n.value is not None
               and ((isinstance(n.value, ast.Name) and n.value.id in made)
                    or (isinstance(n.value, ast.Call) and _callee(n.value) in ("Sequential", "Model")))
               for n in ast.walk(function))


def models(project: Project, first: Path) -> list[Builder]:
    """Models a training function can be handed: the project's Keras models and model
    factories that build without arguments (or with arguments its calls give)."""
    found: list[Builder] = []
    for path in [first, *(p for p in project.files() if p != first)]:
        table = project.table(path)
        if table is None:
            continue
        for node in table.tree.body:
            if isinstance(node, ast.ClassDef) and any(_MODEL_BASE.search(ast.unparse(b)) for b in node.bases):
                init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
                ready = init is None or not _required(init, True)
                made = [b for b in builders(project, path, node.name, ENCLOSING_DEPTH) if not b.via]
                found += made + ([Builder(project.module_name(path), node.name, path=path)] if ready else [])
            elif isinstance(node, ast.FunctionDef) and (_MODEL_FACTORY.match(node.name) or _returns_a_model(node)):
                ready = not _required(node, False)
                made = [b for b in builders(project, path, node.name, ENCLOSING_DEPTH) if not b.via]
                found += made + ([Builder(project.module_name(path), node.name, path=path)] if ready else [])
    unique: dict[str, Builder] = {}
    for builder in found:
        unique.setdefault(repr(builder.as_json()), builder)
    return list(unique.values())[:8]


def _class_def(table: ModuleTable, name: str) -> tuple[Optional[ast.ClassDef], str]:
    """The class `name` of a module (its last top-level definition, else one nested in a
    function or class), and the top-level definition it is nested in ("" at the top level)."""
    top = [n for n in table.tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    if top:
        return top[-1], ""
    for node in table.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = next((n for n in ast.walk(node) if isinstance(n, ast.ClassDef) and n.name == name), None)
            if inner is not None:
                return inner, node.name
    return None, ""


def nested_in(project: Project, path: Path, name: str) -> str:
    """The top-level function or class the class `name` is defined in; "" when it is at the top."""
    table = project.table(path)
    return _class_def(table, name)[1] if table is not None else ""


def input_structure(project: Project, path: Path, name: str) -> Optional[dict]:
    """What the class's `call` takes as its input when the code says it is a list or a dict:
    {"kind": "list", "size": n} from `a, b = inputs`, `inputs[1]`, `isinstance(inputs, (list,
    tuple))`, `len(inputs)`; {"kind": "dict", "keys": [...]} from `inputs["image"]` (with
    `isinstance(inputs, dict)` or `.items()`). None: a tensor, or the code does not say."""
    table = project.table(path)
    cls = _class_def(table, name)[0] if table is not None else None
    call = next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name in ("call", "__call__")), None) if cls is not None else None
    if call is None or len(call.args.args) < 2:
        return None
    given = call.args.args[1].arg
    sequence, mapping, size, keys = False, False, 0, []

    def is_input(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == given

    for node in ast.walk(call):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance" and len(node.args) == 2 \
                and is_input(node.args[0]):
            kinds = {getattr(k, "id", getattr(k, "attr", "")) for k in
                     (node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]])}
            sequence |= bool(kinds & {"list", "tuple", "Sequence"})
            mapping |= bool(kinds & {"dict", "Mapping"})
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "len" and node.args \
                and is_input(node.args[0]):
            sequence = True
        elif isinstance(node, ast.Subscript) and is_input(node.value) and isinstance(node.slice, ast.Constant):
            if isinstance(node.slice.value, bool):
                continue
            if isinstance(node.slice.value, int) and node.slice.value >= 0:
                sequence, size = True, max(size, node.slice.value + 1)
            elif isinstance(node.slice.value, str):
                keys.append(node.slice.value)
        elif isinstance(node, ast.Assign) and is_input(node.value) and len(node.targets) == 1 \
                and isinstance(node.targets[0], (ast.Tuple, ast.List)) \
                and not any(isinstance(e, ast.Starred) for e in node.targets[0].elts):
            sequence, size = True, max(size, len(node.targets[0].elts))
        elif isinstance(node, ast.Attribute) and is_input(node.value) and node.attr in ("items", "keys", "values"):
            mapping = True
    if keys:
        return {"kind": "dict", "keys": list(dict.fromkeys(keys))}
    if sequence and not mapping:
        return {"kind": "list", "size": max(size, 2)}
    return None

