"""What a fix changed that can be run: Keras classes, functions holding a tape, and
top-level tape blocks of scripts and notebooks."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, replace
from typing import Optional

import libcst as cst
import libcst.matchers as m

from tfgradfix.analysis.project import ProjectIndex
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.tree import descendants
from tfgradfix.verify.slicer import BLOCK_PREFIX, ModuleTable, lift_blocks

# The unit of findings outside any function or class (the `<module>` symbol: docs/architecture.md
# "Findings and fixes").
MODULE = "<module>"
# The verdict of a changed file with nothing to run.
NOTHING = "<nothing to run>"
ENTRY_POINTS = frozenset({"main", "run", "cli", "train", "fit", "app"})


@dataclass(frozen=True)
class Unit:
    kind: str  # "layer", "function", "loss" (a function handed to `compile(loss=...)`) or "block"
    name: str
    # A unit of another module of the project that runs the changed helpers `covers`.
    path: str = ""
    covers: tuple[str, ...] = ()
    label: str = ""  # its name in the verdicts: `module.Class` for a unit of another module
    # Which top-level definition of `name` (from 1) when a notebook defines it again later; 0: the last.
    occurrence: int = 0
    # The top-level function holding this class, where another class of the module has its name
    # (a `Head` in each factory): the unit is built only through that function.
    nested_in: str = ""

    @property
    def key(self) -> str:
        return self.label or self.name


def _outer_definitions(module: cst.Module) -> dict[int, str]:
    """For each class nested in a top-level function or class, the name of that definition."""
    found: dict[int, str] = {}
    for statement in module.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            for node in descendants(statement.body):
                if isinstance(node, cst.ClassDef):
                    found[id(node)] = statement.name.value
    return found


def _code(module: cst.Module, node: cst.CSTNode) -> str:
    return module.code_for_node(node)


def _codes(module: cst.Module, named) -> dict[str, list[str]]:
    """Each name's definitions' code: a notebook often defines a class again in a later cell."""
    codes: dict[str, list[str]] = {}
    for name, node in named:
        codes.setdefault(name, []).append(_code(module, node))
    return codes


def changed_units(original: str, fixed: str) -> list[Unit]:
    before, after = cst.parse_module(original), cst.parse_module(fixed)
    old, new = ModuleAnalysis(before), ModuleAnalysis(after)
    units: list[Unit] = []
    old_classes = _codes(before, ((c.name, c.node) for c in old.keras_classes.values()))
    top = [s.name.value for s in after.body if isinstance(s, cst.ClassDef)]
    outers = _outer_definitions(after)
    names = Counter(cls.name for cls in new.keras_classes.values())
    for cls in new.keras_classes.values():
        # A name defined more than once is matched definition by definition, below.
        if _code(after, cls.node) not in old_classes.get(cls.name, ()) and top.count(cls.name) < 2:
            runner = _method_runner(original, fixed, cls.name)
            # Two classes of one name nested in two functions (a `Head` in each factory) are two
            # units: each keyed by the function that holds it, and built only through that function.
            outer = outers.get(id(cls.node), "") if names[cls.name] > 1 else ""
            units.append(Unit("function", runner, covers=(cls.name,)) if runner else Unit(
                "layer", cls.name, label=f"{outer}.{cls.name}" if outer else "", nested_in=outer))
    for name, function in new.functions.items():
        old_function = old.functions.get(name)
        scope = new.scopes[function]
        if old_function is not None and _code(before, old_function) == _code(after, function):
            continue
        # A changed helper is run through the layers that call it or hand it to Keras (`Lambda(fn)`).
        for caller, _ in new.callers_of(scope):
            if caller.keras_class is not None:
                units.append(Unit("layer", caller.keras_class.name))
        units += [Unit("layer", cls.name) for cls in new.keras_classes.values() if _names(cls.node, name)]
        if not scope.tape_blocks:
            # A changed helper of a training function (a loss factory) runs through that function;
            # a changed caller that passes it its tensors runs itself, when it needs no arguments.
            trainers = _trainers(new, scope)
            if not trainers and scope.handed == "loss" and len(_required_parameters(function)) == 2:
                units.append(Unit("loss", name))  # `compile(loss=fn)`: run on (y_true, y_pred) itself
                continue
            if not trainers:
                if not _required_parameters(function) and any(
                        s.tape_blocks and any(c is scope for c, _ in new.callers_of(s)) for s in new.scopes.values()):
                    units.append(Unit("function", name))
                continue
            # Its findings take the verdict of the training function that runs it.
            covers = (name,)
            scope, function, name = trainers[0], trainers[0].node, trainers[0].node.name.value
        else:
            covers = ()
        # A caller of the module that needs no arguments runs it as the module does, unless
        # it is the script's entry point (`main()`, `run()`), which is never run.
        if _required_parameters(function):
            caller = next((c for c, _ in new.callers_of(scope)
                           if isinstance(c.node, cst.FunctionDef) and not _required_parameters(c.node)
                           and c.node.name.value not in ENTRY_POINTS), None)
            if caller is not None:
                units.append(Unit("function", caller.node.name.value, covers=covers))
                continue
        units.append(Unit("function", name, covers=covers))
    # A changed class whose Keras base lives in another project module (the child checks it is a layer).
    # Each changed definition of a name a notebook defines again in a later cell is run as it
    # stood (not as the last one of that name).
    old_code = _codes(before, ((s.name.value, s) for s in before.body if isinstance(s, cst.ClassDef)))
    classes = [s for s in after.body if isinstance(s, cst.ClassDef)]
    plain = _plain_classes(fixed)
    for s in classes:
        if _code(after, s) not in old_code.get(s.name.value, ()):
            if s.name.value in plain:
                # A plain class (an agent holding its model) is no layer: its methods holding a
                # tape run, on an instance built as the project builds it; one whose constructor
                # needs arguments (a trainer given its model) through a function of the module
                # that needs none and makes one (`train_step_example()`), when there is one.
                runner = _no_argument_runner(fixed, s.name.value) if plain[s.name.value] else None
                units += [Unit("function", runner, covers=(s.name.value,))] if runner else \
                    [Unit("function", f"{s.name.value}.{method}") for method in plain[s.name.value]]
                continue
            same = [c for c in classes if c.name.value == s.name.value]
            runner = _method_runner(original, fixed, s.name.value) if len(same) == 1 else ""
            if runner:
                # Run through the function that calls its changed method (above, for a class the
                # module knows is Keras; here for one whose base is another module's, perhaps a
                # plain trainer holding its model).
                if not any(s.name.value in u.covers for u in units):
                    units.append(Unit("function", runner, covers=(s.name.value,)))
                continue
            k = next(i for i, c in enumerate(same, 1) if c is s)
            units.append(Unit("layer", s.name.value) if k == len(same) else
                         Unit("layer", s.name.value, label=f"{s.name.value} (definition {k} of {len(same)})",
                              occurrence=k))
    units += [Unit("block", name) for name in changed_blocks(original, fixed)]
    units += _through_slices(before, after, new, units)
    return _merged(units)


def _merged(units: list[Unit]) -> list[Unit]:
    """Each unit once, in order, with the helpers every mention of it covers."""
    merged: dict[Unit, Unit] = {}
    for unit in units:
        bare = replace(unit, covers=())
        known = merged.get(bare)
        merged[bare] = unit if known is None else replace(
            known, covers=tuple(dict.fromkeys((*known.covers, *unit.covers))))
    return list(merged.values())


def _plain_classes(text: str) -> dict[str, list[str]]:
    """The module's top-level classes that are certainly no Keras class (no base, `object`,
    or another such class of the module), each with its methods that hold a
    `tf.GradientTape`."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    plain: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.keywords and all(
                (isinstance(b, ast.Name) and (b.id == "object" or b.id in plain)) for b in node.bases):
            plain[node.name] = [f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                                and any(isinstance(w, ast.withitem) and isinstance(w.context_expr, ast.Call)
                                        and _callee_word(w.context_expr) == "GradientTape" for w in ast.walk(f))]
    return plain


def _no_argument_runner(text: str, name: str) -> str:
    """A top-level function needing no arguments (no entry point) that reaches the class
    `name`, when the class's constructor needs arguments; "" otherwise."""
    try:
        table = ModuleTable(text)
    except (SyntaxError, ValueError, RecursionError):
        return ""
    cls = next((s.node for s in table.bindings(name) if isinstance(s.node, ast.ClassDef)), None)
    init = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None) \
        if cls is not None else None
    if init is None or len(init.args.args) - 1 <= len(init.args.defaults):
        return ""
    for statement in table.statements:
        node = statement.node
        if isinstance(node, ast.FunctionDef) and node.name not in ENTRY_POINTS \
                and len(node.args.args) == len(node.args.defaults) and not node.args.kwonlyargs \
                and name in table.slice([node.name]).names:
            return node.name
    return ""


# The methods Keras runs when a layer is built and called: a fix elsewhere (a `sample` or
# `second_derivative` the model's own `call` never reaches) is not run by calling the layer.
_FORWARD = frozenset({"__init__", "build", "call", "__call__", "get_config"})


def _method_runner(original: str, fixed: str, name: str) -> str:
    """For a Keras class whose fix changed only methods that calling the layer never runs: a
    top-level function needing no arguments (no entry point) that reaches the class and holds a
    tape, to run them (`train_step_example()`); "" otherwise."""
    try:
        old, table = ast.parse(original), ModuleTable(fixed)
    except (SyntaxError, ValueError, RecursionError):
        return ""

    def methods(tree) -> dict[str, str]:
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
        return {f.name: ast.dump(f) for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))} \
            if cls is not None else {}

    before, after = methods(old), methods(table.tree)
    changed = {m for m in set(before) | set(after) if before.get(m) != after.get(m)}
    if not changed or (changed & _FORWARD and not _set_for_other_methods(old, table.tree, name, changed)):
        return ""
    for statement in table.statements:
        node = statement.node
        if isinstance(node, ast.FunctionDef) and node.name not in ENTRY_POINTS \
                and len(node.args.args) == len(node.args.defaults) and not node.args.kwonlyargs:
            reached = table.slice([node.name])
            if name in reached.names and "GradientTape" in reached.code:
                return node.name
    return ""


def _set_for_other_methods(old: ast.Module, new: ast.Module, name: str, changed: set[str]) -> bool:
    """Whether the fix changed only what `__init__`/`build` assign to attributes that calling the
    layer never reads and another method does (loss weights read by the model's own loss
    method): calling the layer cannot show such a fix at work, its training step can."""
    if not changed <= {"__init__", "build"}:
        return False

    def cls_of(tree: ast.Module) -> Optional[ast.ClassDef]:
        return next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)

    def assigned(cls: Optional[ast.ClassDef]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for f in (cls.body if cls is not None else []):
            if isinstance(f, ast.FunctionDef) and f.name in changed:
                for node in ast.walk(f):
                    if isinstance(node, (ast.Assign, ast.AnnAssign)):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for t in targets:
                            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                                found.setdefault(t.attr, []).append(ast.dump(node.value))
        return found

    old_cls, new_cls = cls_of(old), cls_of(new)
    if new_cls is None:
        return False
    was, now = assigned(old_cls), assigned(new_cls)
    fixed = {a for a in set(was) | set(now) if was.get(a) != now.get(a)}
    if not fixed:
        return False
    bodies = {f.name: f for f in new_cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def reads(function) -> set[str]:
        return {n.attr for n in ast.walk(function) if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name) and n.value.id == "self"}

    # What calling the layer runs: `call`, and the methods (and properties) it reaches on self.
    todo, on_call = [m for m in ("call", "__call__") if m in bodies], set()
    while todo:
        method = todo.pop()
        if method in on_call:
            continue
        on_call.add(method)
        todo += [r for r in reads(bodies[method]) if r in bodies]
    read_on_call = set().union(*(reads(bodies[m]) for m in on_call)) if on_call else set()
    if not on_call or fixed & read_on_call:
        return False
    others = [f for m, f in bodies.items() if m not in on_call and m not in _FORWARD]
    return all(any(a in reads(f) for f in others) for a in fixed)


def _callee_word(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _through_slices(before: cst.Module, after: cst.Module, new: ModuleAnalysis, units: list[Unit]) -> list[Unit]:
    """A changed top-level function no unit covers (a loss factory whose closure a training
    step calls through a module variable) runs through the tape functions that reach it."""
    old_code = _codes(before, ((s.name.value, s) for s in before.body if isinstance(s, cst.FunctionDef)))
    changed = {s.name.value for s in after.body if isinstance(s, cst.FunctionDef)
               and _code(after, s) not in old_code.get(s.name.value, ())} - {u.name for u in units}
    # A module variable a fix changed (`b = tf.Variable(0)` made a float) runs through its users too.
    old_assigns = {_code(before, s) for s in before.body if m.matches(s, m.SimpleStatementLine([m.Assign()]))}
    changed |= {t.target.value for s in after.body if m.matches(s, m.SimpleStatementLine([m.Assign()]))
                and _code(after, s) not in old_assigns for t in s.body[0].targets if isinstance(t.target, cst.Name)}
    if not changed:
        return []
    try:
        table = ModuleTable(after.code)
    except (SyntaxError, ValueError, RecursionError):
        return []
    found = []
    for name, function in new.functions.items():
        if new.scopes[function].tape_blocks and name not in changed and table.slice([name]).names & changed:
            caller = next((c for c, _ in new.callers_of(new.scopes[function])
                           if isinstance(c.node, cst.FunctionDef) and not _required_parameters(c.node)
                           and c.node.name.value not in ENTRY_POINTS), None)
            found.append(Unit("function", caller.node.name.value if caller is not None else name))
    if not found:
        # A tape nested in an entry point (`main()` returning its `train_step`) runs through a
        # top-level function that needs no arguments and reaches both (`train_step_example()`).
        found = [Unit("function", s.name.value) for s in after.body
                 if isinstance(s, cst.FunctionDef) and s.name.value not in changed | ENTRY_POINTS
                 and not _required_parameters(s) and table.slice([s.name.value]).names & changed
                 and "GradientTape" in table.slice([s.name.value]).code]
    return found


# How far up the project's call graph a changed helper's runner is looked for.
CALLER_DEPTH = 3


def units_elsewhere(index: ProjectIndex, path: str, original: str, fixed: str, units: list[Unit]) -> list[Unit]:
    """The units of other project modules that run this file's changed top-level functions
    when no unit of its own does (a helper module: `ops.py`, a loss factory): the Keras
    classes whose methods call them and the functions holding a tape that do, through up
    to CALLER_DEPTH plain helpers, as the project index's call graph says."""
    found: dict[tuple[str, str, str], set[str]] = {}
    for helper, caller, kind, name in _runners(index, path, original, fixed, units):
        if kind in ("layer", "function"):
            found.setdefault((caller, kind, name), set()).add(helper)
    return [Unit(kind, name, index.path_for_module(caller) or "", tuple(sorted(helpers)), f"{caller}.{name}")
            for (caller, kind, name), helpers in sorted(found.items())]


def nothing_runs(index: ProjectIndex, path: str, original: str, fixed: str) -> str:
    """Why a changed file has no unit to run, and what to add."""
    changed = _changed_functions(original, fixed)
    others = sorted({f"{caller}.{name}" for _, caller, kind, name in _runners(index, path, original, fixed, [])
                     if kind == "other"})
    what = f"nothing that runs {', '.join(f'`{n}`' for n in changed) or 'the change'}"
    if others:
        what += f" is a layer or a function holding a tape (it is called from {', '.join(others)})"
    else:
        what += " is a layer or a function holding a tape in the project"
    return (f"{what}; add a function that holds the `tf.GradientTape` and calls it (its model and batches are "
            "made up), or a Keras layer whose `call` does")


def _changed_functions(original: str, fixed: str) -> list[str]:
    try:
        old, new = ast.parse(original), ast.parse(fixed)
    except (SyntaxError, ValueError, RecursionError):
        return []
    before = {s.name: ast.dump(s) for s in old.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return [s.name for s in new.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and before.get(s.name) != ast.dump(s)]


def _runners(index: ProjectIndex, path: str, original: str, fixed: str, units: list[Unit]):
    """(helper, caller module, "layer" | "function" | "other", name) for each caller of each
    changed function no unit of the file reaches."""
    module = index.module_for_path(path)
    try:
        table = ModuleTable(fixed)
    except (SyntaxError, ValueError, RecursionError):
        return
    if module is None:
        return
    covered = table.slice([u.name for u in units if u.kind != "block"]).names
    covered |= {n for b in lift_blocks(table) if b.name in {u.name for u in units} for n in b.statement.uses}
    for helper in _changed_functions(original, fixed):
        if helper in covered:
            continue
        todo, seen = [(module, helper, 0)], set()
        while todo:
            where, name, depth = todo.pop()
            if (where, name) in seen:
                continue
            seen.add((where, name))
            for caller, symbol in index.call_sites(where, name):
                head = symbol.split(".")[0]
                info = index.module_info(caller)
                if info is None or caller == module:
                    continue
                if head in info.classes and index.kind_of(f"{caller}.{head}").is_keras:
                    yield helper, caller, "layer", head
                elif head in info.functions and info.functions[head].holds_tape and head not in ENTRY_POINTS:
                    yield helper, caller, "function", head
                elif head in info.classes and symbol.count(".") == 1 and symbol in info.functions \
                        and info.functions[symbol].holds_tape:
                    yield helper, caller, "function", symbol  # a plain class's method: an agent's `learn`
                else:
                    if head in info.functions and depth < CALLER_DEPTH and head not in ENTRY_POINTS:
                        todo.append((caller, head, depth + 1))  # a plain helper: who runs it?
                    yield helper, caller, "other", symbol


def changed_blocks(original: str, fixed: str) -> list[str]:
    """Names of the lifted top-level tape blocks whose code a fix changed."""
    try:
        old = {b.name: ast.dump(b.statement.node) for b in lift_blocks(ModuleTable(original))}
        new = {b.name: ast.dump(b.statement.node) for b in lift_blocks(ModuleTable(fixed))}
    except (SyntaxError, ValueError, RecursionError):
        return []
    return [name for name, code in new.items() if old.get(name) != code]


def unit_of(symbol: str) -> str:
    """The unit a finding's symbol (`Class.method`, `function`, `<module>`) belongs to."""
    return symbol.split(".")[0] if symbol else MODULE


def verdict_for(units: dict, symbol: str, line: int = 0):
    """The verdict of the unit a finding is in: the longest start of its symbol that names a
    unit (`Agent.learn` before `Agent`), else a class it is nested in (`make_model.Head.call`:
    `Head`); for top-level code, the block whose lines (of the original module) hold `line`,
    else the worst of its blocks; for a helper that units of other modules run, the worst of
    those; for a file whose change no unit runs, why not."""
    if NOTHING in units:
        return units[NOTHING]  # the file's change runs nowhere: every finding takes that reason
    name = unit_of(symbol)
    parts = symbol.split(".") if symbol else []
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in units:
            return units[".".join(parts[:end])]
    for part in parts[1:]:
        if part in units and part != MODULE:
            return units[part]
    order = {"failed": 0, "inconclusive": 1, "verified": 2}
    # A class a notebook defines again: the definition holding the finding's line.
    defined = [v for k, v in units.items() if parts and k.startswith(parts[0] + " (definition ")]
    if defined:
        return next((v for v in defined if v.get("lines") and v["lines"][0] <= line <= v["lines"][1]),
                    min(defined, key=lambda v: order.get(v["verdict"], 0)))
    methods = [v for k, v in units.items() if parts and k.startswith(parts[0] + ".")]
    if methods:  # a helper method of a plain class: the worst of its methods that ran
        return min(methods, key=lambda v: order.get(v["verdict"], 0))
    if name != MODULE:
        runners = [v for v in units.values() if name in v.get("covers", ())]
    else:
        runners = [v for k, v in units.items() if k.startswith(BLOCK_PREFIX)]
        # A finding outside every block that ran (a cell no fix changed) belongs to none of them.
        runners = [v for v in runners if v.get("lines") and v["lines"][0] <= line <= v["lines"][1]] or \
            ([] if line and any(v.get("lines") for v in runners) else runners)
    return min(runners, key=lambda v: order.get(v["verdict"], 0)) if runners else None


def _trainers(analysis, scope, depth: int = 3) -> list:
    """The module's training functions (holding a tape) that run `scope`, directly or through helpers
    of theirs (`vae_loss` called by `total_loss` called in the train step), nearest first."""
    seen, frontier = {scope}, [scope]
    for _ in range(depth):
        callers = [c for s in frontier for c, _ in analysis.callers_of(s) if c not in seen]
        seen.update(callers)
        found = [c for c in dict.fromkeys(callers) if c.tape_blocks and c.node in analysis.functions.values()]
        if found:
            return found
        frontier = [c for c in dict.fromkeys(callers) if isinstance(c.node, cst.FunctionDef)]
    return []


def _names(node: cst.CSTNode, name: str) -> bool:
    """Whether `node` reads the module's `name`: a bare name, not the last word of another
    object's attribute (`tf.Variable` does not name a helper `Variable` of the module)."""
    attributes = {id(n.attr) for n in descendants(node) if isinstance(n, cst.Attribute)}
    return any(isinstance(n, cst.Name) and n.value == name and id(n) not in attributes for n in descendants(node))


def _required_parameters(function: cst.FunctionDef) -> list[str]:
    params = function.params
    return [p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]
            if p.default is None]


def verified_units(units: dict) -> set[str]:
    return {name for name, verdict in units.items() if verdict["verdict"] == "verified"}


def verified_names(units: dict) -> set[str]:
    """The names of this module whose fixes ran as verified: its own verified units, and
    the helpers that every unit of another module running them verified."""
    own = {name for name, verdict in units.items() if verdict["verdict"] == "verified" and not verdict.get("covers")}
    helpers = {h for verdict in units.values() for h in verdict.get("covers", ())}
    return own | {h for h in helpers if verdict_for(units, h)["verdict"] == "verified"}


def accepts(units: dict, symbol: str, line: int = 0) -> bool:
    """Whether a finding's fix may be written: its unit verified. A finding outside every
    unit (a helper run only through the layers that call it) waits for all of them."""
    verdict = verdict_for(units, symbol, line)
    if verdict is None:
        return bool(units) and verified_units(units) == set(units)
    return verdict["verdict"] == "verified"


def runs_as_verified(fixed: str, partial: str, names: set[str]) -> bool:
    """Whether each verified unit, with everything it needs from its module, is the same in
    the partially fixed text as in the fully fixed one that was run."""
    try:
        whole, part = ModuleTable(fixed), ModuleTable(partial)
    except (SyntaxError, ValueError, RecursionError):
        return False
    blocks = {b.name: b for b in lift_blocks(whole)}
    part_blocks = {b.name: b for b in lift_blocks(part)}
    for name in names:
        if name in blocks:
            if name not in part_blocks or whole.slice([], [blocks[name].statement], blocks[name].index).code \
                    != part.slice([], [part_blocks[name].statement], part_blocks[name].index).code:
                return False
        elif whole.slice(_top_level(whole, name)).code != part.slice(_top_level(part, name)).code:
            return False
    return True


def _top_level(table: ModuleTable, name: str) -> list[str]:
    """The top-level names whose definitions hold `name`: itself, the class of a method
    (`Agent.learn`: `Agent`), or the function a class is nested in (`make_model` for its `Head`)."""
    head = name.split(".")[0]
    if table.bindings(head):
        return [head]
    return [n for s in table.statements if isinstance(s.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and any(isinstance(d, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and d.name == head
                    for d in ast.walk(s.node)) for n in s.binds] or [head]
