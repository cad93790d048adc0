"""Which top-level statements of a module a unit needs, and nothing else.

`--verify` never runs a module as a script: it keeps the imports, constants, helper
functions and classes a unit reaches (transitively), and drops the rest — training
loops, downloads, plots, `main()`, argparse, the `if __name__ == "__main__":` block,
and every masked magic or shell line of a notebook. An import that nothing kept uses
is not executed, so a plot library the notebook imports need not be installed.

A name the unit needs that only a dropped statement binds (`x_train = load_data()`)
is *data*: the verifier passes a synthetic batch in its place, or says what is missing.
This module reads source with `ast` only; it imports nothing of the project.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Iterable, Optional

BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__"}

# What a slice binds an import of a package that is not installed to (`Import.guarded_code`).
ABSENT = "_tfgradfix_absent"
ABSENT_CODE = f"""class {ABSENT}:
    def __init__(self, name):
        self._tfgradfix_name = name

    def __getattr__(self, attr):
        raise ModuleNotFoundError(f"No module named {{self._tfgradfix_name!r}}", name=self._tfgradfix_name)

    def __call__(self, *args, **kwargs):
        raise ModuleNotFoundError(f"No module named {{self._tfgradfix_name!r}}", name=self._tfgradfix_name)
"""

# A call with one of these names reads files or the network, trains, plots or talks to
# the system: a top-level assignment that makes one is data, never executed.
_SIDE_EFFECT_CALLS = frozenset({
    "load_data", "get_file", "read_csv", "read_json", "read_excel", "read_parquet", "read_table", "loadtxt",
    "genfromtxt", "load", "load_model", "load_weights", "urlopen", "urlretrieve", "download", "open", "imread",
    "input", "fit", "fit_generator", "evaluate", "predict", "train", "train_on_batch", "run", "main",
    "parse_args", "show", "savefig", "figure", "subplots", "plot", "imshow", "system", "popen", "listdir",
    "glob", "read_file", "TFRecordDataset", "TextLineDataset", "image_dataset_from_directory",
    "text_dataset_from_directory", "ImageDataGenerator", "flow_from_directory", "restore", "save",
    "from_generator", "list_files", "sleep", "exit",
    "__tfgradfix_magic__",  # a notebook's magic or shell line, masked as a call (notebooks.py)
})
# Module-level calls that set how the framework computes (`tf.keras.backend.set_floatx("float64")`,
# a mixed-precision policy, seeds): every unit of the module was written to run after them, so a
# slice keeps them, before the definitions (a float64 model's weights meet float32 inputs without).
_SETTING_CALLS = frozenset({
    "set_floatx", "set_global_policy", "set_policy", "set_epsilon", "set_image_data_format", "set_seed",
    "set_random_seed", "enable_tensor_float_32_execution", "enable_numpy_behavior",
})
# Modules whose calls are never run at import time by the verifier (plots, I/O, processes).
_SIDE_EFFECT_MODULES = ("matplotlib", "seaborn", "IPython", "PIL", "cv2", "requests", "urllib", "subprocess",
                        "shutil", "wget", "gdown", "tensorflow_datasets", "pandas", "tqdm", "argparse", "sys")


@dataclass
class Import:
    """One imported name: `from <module> import <name> as <bound>` (level dots), or
    `import <module> as <bound>` (name empty)."""
    module: str
    name: str
    level: int
    bound: str

    def code(self) -> str:
        if self.name:
            alias = f" as {self.bound}" if self.bound != self.name else ""
            return f"from {'.' * self.level}{self.module} import {self.name}{alias}"
        if self.bound == self.module.split(".")[0]:
            return f"import {self.module}"
        return f"import {self.module} as {self.bound}"

    @property
    def guarded(self) -> bool:
        """Whether a missing module is bound to a stand-in (ABSENT_CODE) rather than fail the load:
        an absolute import of another package (a relative one is the project's own)."""
        return not self.level and self.module.split(".")[0] not in ("", "__future__") and self.name != "*"

    def guarded_code(self) -> str:
        """The import; where its package is not installed, the name is bound to a stand-in that
        raises ModuleNotFoundError when used: an import no code that runs uses (a plot library a
        module imports for another function) does not stop the unit from loading."""
        top = self.module.split(".")[0]
        return (f"try:\n    {self.code()}\nexcept ModuleNotFoundError as {ABSENT}_error:\n"
                f"    if ({ABSENT}_error.name or {top!r}).split('.')[0] != {top!r}:\n        raise\n"
                f"    {self.bound} = {ABSENT}({ABSENT}_error.name or {top!r})")


@dataclass
class Statement:
    index: int
    node: ast.stmt
    binds: set[str]
    uses: set[str]
    runnable: bool  # safe to run on import: a definition, an import, or a side-effect-free value
    imported: Optional[Import] = None
    setting: bool = False  # a framework setting (_SETTING_CALLS) that every slice keeps

    def code(self) -> str:
        if self.imported is not None:
            return self.imported.guarded_code() if self.imported.guarded else self.imported.code()
        return ast.unparse(self.node)


@dataclass
class Slice:
    code: str
    # Imports kept, for the caller to follow into the project's other modules.
    imports: list[Import] = field(default_factory=list)
    # Needed names no kept statement binds: (name, why), e.g. data made by a dropped statement.
    missing: dict[str, str] = field(default_factory=dict)
    # Every name the slice reaches, transitively.
    names: set[str] = field(default_factory=set)


def free_names(node: ast.AST) -> set[str]:
    """Names `node` reads that it does not bind itself: the globals it needs when it runs.
    Bindings anywhere inside (parameters, assignments, imports, nested definitions,
    loop and comprehension targets) count as local; that errs toward keeping less."""
    loads, stores = set(), set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            (loads if isinstance(inner.ctx, ast.Load) else stores).add(inner.id)
        elif isinstance(inner, ast.arg):
            stores.add(inner.arg)
        elif isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and inner is not node:
            stores.add(inner.name)
        elif isinstance(inner, (ast.Import, ast.ImportFrom)):
            stores.update((a.asname or a.name).split(".")[0] for a in inner.names)
        elif isinstance(inner, ast.ExceptHandler) and inner.name:
            stores.add(inner.name)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # Decorators, defaults and bases run in the module scope, before the body binds anything.
        outer = [*node.decorator_list, *getattr(node, "bases", []), *getattr(node, "keywords", [])]
        if not isinstance(node, ast.ClassDef):
            outer += [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]
        for expression in outer:
            loads |= {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)}
            stores -= {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)}
    return (loads - stores) - BUILTINS


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _call_root(call: ast.Call) -> str:
    func = call.func
    while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
        func = func.func if isinstance(func, ast.Call) else func.value
    return func.id if isinstance(func, ast.Name) else ""


class ModuleTable:
    """The top-level statements of one module: what each binds and uses, and whether it
    may run when the verifier loads the module."""

    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)
        self.statements: list[Statement] = []
        side_effect_roots: set[str] = set()
        for node in self.tree.body:
            for imported in _imports(node):
                if imported.module.split(".")[0] in _SIDE_EFFECT_MODULES:
                    side_effect_roots.add(imported.bound)
        self.side_effect_roots = side_effect_roots
        data: set[str] = set()  # names bound by a dropped statement: what they feed is data too
        made: set[str] = set()  # names bound so far by the module's own statements (not imports)
        for index, node in enumerate(self.tree.body):
            imports = _imports(node)
            if imports:
                for imported in imports:
                    self.statements.append(Statement(index, node, {imported.bound}, set(), True, imported))
                continue
            # A top-level value changed in place (`CONFIG["units"] = 3`) is a step of that value,
            # when the module made it (not an imported module's attribute: `os.environ[...] = ...`).
            binds = _binds(node, made)
            made |= binds
            uses = free_names(node)
            setting = _is_setting(node)
            runnable = setting or self._runnable(node, uses, data)
            if not runnable:
                data |= binds
            self.statements.append(Statement(index, node, binds, uses, runnable, setting=setting))

    def _runnable(self, node: ast.stmt, uses: set[str], data: set[str]) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                             ast.Pass)):
            return True
        if isinstance(node, ast.Expr):  # a docstring, or `...`
            return isinstance(node.value, ast.Constant)
        if isinstance(node, ast.Try):
            return all(self._runnable(s, free_names(s), data)
                       for s in [*node.body, *node.orelse, *node.finalbody, *(s for h in node.handlers for s in h.body)])
        if isinstance(node, ast.If):
            # Definitions chosen by a condition (`if tf.__version__ ...: class A... else: class A...`);
            # never the script's `if __name__ == "__main__":`.
            names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            return "__name__" not in names and not (names & data) and not self._effects(node.test) \
                and all(self._runnable(s, free_names(s), data) for s in [*node.body, *node.orelse])
        if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or node.value is None:
            return False
        if uses & data or (isinstance(node, ast.AugAssign) and _root(node.target) in data):
            return False
        return not self._effects(node.value)

    def _effects(self, node: ast.AST) -> bool:
        """Whether `node` calls something that reads files, trains, plots or talks to the system."""
        return any(isinstance(call, ast.Call) and (_call_name(call) in _SIDE_EFFECT_CALLS
                                                   or _call_root(call) in self.side_effect_roots)
                   for call in ast.walk(node))

    def bindings(self, name: str) -> list[Statement]:
        return [s for s in self.statements if name in s.binds]

    def has_star_import(self) -> bool:
        return any(s.imported is not None and s.imported.name == "*" for s in self.statements)

    def slice(self, names: Iterable[str], extra: Iterable[Statement] = (), before: Optional[int] = None) -> Slice:
        """The statements that bind `names` and what they need, in source order;
        `extra` statements (a lifted block) are appended after them. With `before` (the
        block's place), a name means what it held there, as a notebook re-binds `x`."""
        kept: dict[int, Statement] = {}
        missing: dict[str, str] = {}
        star_needed = False  # a name no statement binds, which a `from m import *` may
        # A name with the index of the statement that needs it: a notebook imports `tf` in its
        # first cell and again in a later one, and a class between them needs the first.
        todo: list[tuple[str, Optional[int]]] = [(n, None) for n in names] + [(n, None) for s in extra for n in s.uses]
        for setting in self.statements:
            if setting.setting and (before is None or setting.index < before):
                kept[id(setting)] = setting
                todo.extend((use, setting.index) for use in setting.uses)
        seen: set[str] = set()
        while todo:
            name, needed_at = todo.pop()
            if name in BUILTINS:
                continue
            if name in seen:
                self._keep_earlier_import(name, needed_at, kept, todo)
                continue
            seen.add(name)
            candidates = self.bindings(name)
            runnable = [s for s in candidates if s.runnable]
            if not runnable:
                if candidates:
                    missing[name] = f"`{name}` is made by top-level code the verifier does not run " \
                                    f"(line {candidates[-1].node.lineno})"
                elif not self.has_star_import():
                    missing[name] = f"`{name}` is not defined at the top level of the module"
                else:
                    star_needed = True
                continue
            earlier = [s for s in runnable if before is not None and s.index < before]
            chosen = (earlier or runnable)[-1]  # what the name holds there, or once the module has run
            kept[id(chosen)] = chosen
            todo.extend((use, chosen.index) for use in chosen.uses)
            self._keep_earlier_import(name, needed_at, kept, todo)
            if not isinstance(chosen.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # A value built in steps (`SIZES = [4]`, `SIZES += [8]`, `CONFIG["units"] = 3`) keeps
                # the steps before it, in order, back to the one that bound it afresh: a notebook's
                # earlier `x = np.array(12)` is another value, and it needs what that one needed.
                # A definition rebound from itself (`Net = Net()`, `f = wrap(f)`) is such a step too.
                if not _replaces(chosen, name):
                    for step in sorted(runnable, key=lambda r: r.index, reverse=True):
                        if step.index >= chosen.index or step.imported is not None:
                            continue
                        kept[id(step)] = step
                        todo.extend((use, step.index) for use in step.uses)
                        if _replaces(step, name) or isinstance(
                                step.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                            break
        if star_needed:
            for statement in self.statements:
                if statement.imported is not None and statement.imported.name == "*":
                    kept[id(statement)] = statement
        chosen = sorted(kept.values(), key=lambda s: (s.index, s.code()))
        future = [s for s in self.statements if s.imported is not None and s.imported.module == "__future__"]
        lines = [s.code() for s in [*future, *(s for s in chosen if s not in future), *extra]]
        if any(s.imported is not None and s.imported.guarded for s in chosen):
            lines.insert(len(future), ABSENT_CODE)
        return Slice("\n".join(lines) + "\n", [s.imported for s in chosen if s.imported is not None], missing, seen)

    def _keep_earlier_import(self, name: str, needed_at: Optional[int], kept: dict, todo: list) -> None:
        """Where the statement that needs `name` comes before the binding kept for it, keep
        the import of `name` that precedes that statement too."""
        if needed_at is None:
            return
        if any(s.index < needed_at and name in s.binds for s in kept.values()):
            return
        earlier = [s for s in self.bindings(name) if s.runnable and s.index < needed_at]
        if earlier and earlier[-1].imported is not None:
            kept[id(earlier[-1])] = earlier[-1]
            todo.extend((use, earlier[-1].index) for use in earlier[-1].uses)


def _is_setting(node: ast.stmt) -> bool:
    """`tf.keras.backend.set_floatx("float64")` at the top level: a call of a framework setting whose
    arguments are literals (a seed read from argparse is data, not a setting)."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    call = node.value
    return _call_name(call) in _SETTING_CALLS and all(
        isinstance(arg, ast.Constant) for arg in [*call.args, *(k.value for k in call.keywords)])


def _replaces(statement: Statement, name: str) -> bool:
    """The statement binds `name` afresh (`x = ...` not reading `x`): what came before is gone."""
    node = statement.node
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    value = getattr(node, "value", None)
    reads = value is not None and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(value))
    return any(isinstance(t, ast.Name) and t.id == name for t in targets) and not reads


def _imports(node: ast.stmt) -> list[Import]:
    if isinstance(node, ast.Import):
        return [Import(a.name, "", 0, a.asname or a.name.split(".")[0]) for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [Import(node.module or "", a.name, node.level, a.asname or a.name) for a in node.names]
    return []


def _binds(node: ast.stmt, mutated: Optional[set[str]] = None) -> set[str]:
    """The module-level names `node` binds (not the locals of the functions it defines), and
    the names `mutated` holds whose value it changes in place (`CONFIG["units"] = 3`)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names = set()
    todo: list[ast.AST] = [node]
    while todo:
        inner = todo.pop()
        if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
            names.add(inner.id)
        elif isinstance(inner, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in inner.names)
        elif isinstance(inner, (ast.Subscript, ast.Attribute)) and isinstance(inner.ctx, ast.Store) \
                and mutated and _root(inner) in mutated:
            names.add(_root(inner))
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and inner is not node:
            names.add(inner.name)
            continue
        if isinstance(inner, ast.Lambda) or isinstance(inner, (ast.ListComp, ast.SetComp, ast.DictComp,
                                                               ast.GeneratorExp)):
            continue
        todo.extend(ast.iter_child_nodes(inner))
    return names


def _root(node: ast.AST) -> str:
    """The name an attribute or subscript chain starts from (`CONFIG` of `CONFIG["a"].b`)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


# Loops of a lifted block run this many times: enough for a step and the next one.
LIFTED_STEPS = 2
TAKE = "_tfgradfix_take"
STEP = "_tfgradfix_step"
BLOCK_PREFIX = "_tfgradfix_block_"
TAKE_CODE = f"def {TAKE}(items):\n    import itertools\n    return itertools.islice(items, {LIFTED_STEPS})\n"


@dataclass
class Block:
    """A top-level tape block of a script or notebook, lifted into a function whose
    parameters are the data it reads (bound to synthetic batches when it runs)."""
    name: str
    line: int
    statement: Statement
    parameters: list[str]
    index: int  # of its first statement in the module
    end_line: int = 0  # of its last statement


def lift_blocks(table: ModuleTable) -> list[Block]:
    """Each top-level statement holding a `GradientTape`, with the statements right after
    it that use what it bound (`tape.gradient(...)` after a bare `with`), as a function.
    Its loops, `for` and `while`, run at most LIFTED_STEPS times; prints and plots inside
    are dropped."""
    blocks = []
    body = table.tree.body
    taken: set[int] = set()
    for index, node in enumerate(body):
        if index in taken or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if not _has_tape(node):
            continue
        group = [node]
        for follower in body[index + 1:index + 6]:
            if isinstance(follower, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)) \
                    or not (free_names(follower) & _binds(node) or _uses_tape(follower, node)):
                break
            group.append(follower)
            taken.add(body.index(follower))
        lifted = _Quiet(table.side_effect_roots).visit(ast.Module([ast.parse(ast.unparse(g)).body[0] for g in group],
                                                                  type_ignores=[]))
        statements = [s for s in lifted.body if s is not None] or [ast.Pass()]
        function = ast.parse(f"def {BLOCK_PREFIX}{len(blocks) + 1}(): pass").body[0]
        # A name the block updates (`step += 1`, `loss_value = float(loss)`) starts from what the
        # module bound before it; the function's writes stay its own, so each run starts alike.
        names = [n for statement in statements for n in ast.walk(statement) if isinstance(n, ast.Name)]
        read = {n.id for n in names if isinstance(n.ctx, ast.Load)} | {
            n.target.id for statement in statements for n in ast.walk(statement)
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
        updated = {n.id for n in names if isinstance(n.ctx, ast.Store)} & read
        carried = sorted(n for n in updated if any(s.runnable and s.index < index for s in table.bindings(n)))
        prelude = [ast.parse(f"{name} = globals()[{name!r}]").body[0] for name in carried]
        function.body = prelude + statements + [ast.Return(ast.Constant(None))]
        needs = free_names(function) - {TAKE}
        runnable = {n for n in needs if any(s.runnable and s.index < index for s in table.bindings(n))}
        runnable |= set(carried)
        parameters = sorted(n for n in needs - runnable if table.bindings(n))
        function.args.args = [ast.arg(p) for p in parameters]
        ast.fix_missing_locations(function)
        statement = Statement(len(body) + index, function, {function.name}, runnable, True)
        blocks.append(Block(function.name, node.lineno, statement, parameters, index,
                            group[-1].end_lineno or group[-1].lineno))
    return blocks


def _has_tape(node: ast.AST) -> bool:
    return any(isinstance(n, ast.withitem) and isinstance(n.context_expr, ast.Call)
               and _call_name(n.context_expr) == "GradientTape" for n in ast.walk(node))


def _uses_tape(follower: ast.stmt, block: ast.stmt) -> bool:
    tapes = {item.optional_vars.id for n in ast.walk(block) if isinstance(n, ast.With) for item in n.items
             if isinstance(item.optional_vars, ast.Name)}
    return bool(tapes & {n.id for n in ast.walk(follower) if isinstance(n, ast.Name)})


class _Quiet(ast.NodeTransformer):
    """Loops over `_tfgradfix_take(...)`; no prints, plots or progress bars."""

    def __init__(self, side_effect_roots: set[str]) -> None:
        self.roots = side_effect_roots | {"print", "display"}

    def visit_For(self, node: ast.For):
        self.generic_visit(node)
        node.iter = ast.Call(ast.Name(TAKE, ast.Load()), [node.iter], [])
        return node

    def visit_While(self, node: ast.While):
        """`while cond: body` as `for _ in take(forever): if not cond: break; body` (its
        `else` dropped: a bounded run never reaches the end the condition would)."""
        self.generic_visit(node)
        forever = ast.Call(ast.Name("iter", ast.Load()), [ast.Name("int", ast.Load()), ast.Constant(1)], [])
        stop = ast.If(ast.UnaryOp(ast.Not(), node.test), [ast.Break()], [])
        loop = ast.For(ast.Name(STEP, ast.Store()), ast.Call(ast.Name(TAKE, ast.Load()), [forever], []),
                       [stop, *node.body], [])
        return ast.copy_location(loop, node)

    def visit_Expr(self, node: ast.Expr):
        if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) \
                and node.value.func.id == "print" and node.value.args:
            # `print(tape.gradient(y, x))`: the values are computed, not printed.
            node.value = ast.Tuple(node.value.args, ast.Load())
            return node
        if isinstance(node.value, ast.Call) and (_call_root(node.value) in self.roots
                                                 or _call_name(node.value) in _SIDE_EFFECT_CALLS):
            return None
        return node

    def generic_visit(self, node):
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body:  # `if step % 100 == 0: print(...)`
            node.body = [ast.Pass()]
        return node


def numpy_calls(code: str) -> int:
    """How many NumPy calls a slice holds: calls through a name bound to NumPy (`np.mean(...)`,
    `from numpy import tanh`) and `.numpy()` conversions. A fix that takes some out restores a
    computation that left TensorFlow, whose gradients may then change."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return 0
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] == "numpy"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy" and not node.level:
            names |= {a.asname or a.name for a in node.names}
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        _call_root(node) in names or (isinstance(node.func, ast.Attribute) and node.func.attr == "numpy"
                                      and not node.args)))

