"""What a fix changed that can be run: Keras classes, functions holding a tape, and
top-level tape blocks of scripts and notebooks."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.tree import descendants
from tfgradfix.verify.slicer import BLOCK_PREFIX, ModuleTable, lift_blocks

# The unit of findings outside any function or class (DESIGN's `<module>` symbol).
MODULE = "<module>"
ENTRY_POINTS = frozenset({"main", "run", "cli", "train", "fit", "app"})


@dataclass(frozen=True)
class Unit:
    kind: str  # "layer", "function" or "block"
    name: str


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
    for cls in new.keras_classes.values():
        if _code(after, cls.node) not in old_classes.get(cls.name, ()):
            units.append(Unit("layer", cls.name))
    for name, function in new.functions.items():
        old_function = old.functions.get(name)
        scope = new.scopes[function]
        if old_function is not None and _code(before, old_function) == _code(after, function):
            continue
        # A changed helper is run through the layers that call it or hand it to Keras (`Lambda(fn)`).
        for caller, _ in new.callers_of(scope):
            if caller.keras_class is not None:
                units.append(Unit("layer", caller.keras_class.name))
        units += [Unit("layer", cls.name) for cls in new.keras_classes.values()
                  if any(isinstance(n, cst.Name) and n.value == name for n in descendants(cls.node))]
        if not scope.tape_blocks:
            # A changed helper of a training function (a loss factory) runs through that function;
            # a changed caller that passes it its tensors runs itself, when it needs no arguments.
            trainers = [c for c, _ in new.callers_of(scope) if c.tape_blocks and c.node in new.functions.values()]
            if not trainers:
                if not _required_parameters(function) and any(
                        s.tape_blocks and any(c is scope for c, _ in new.callers_of(s)) for s in new.scopes.values()):
                    units.append(Unit("function", name))
                continue
            scope, function, name = trainers[0], trainers[0].node, trainers[0].node.name.value
        # A caller of the module that needs no arguments runs it as the module does, unless
        # it is the script's entry point (`main()`, `run()`), which is never run.
        if _required_parameters(function):
            caller = next((c for c, _ in new.callers_of(scope)
                           if isinstance(c.node, cst.FunctionDef) and not _required_parameters(c.node)
                           and c.node.name.value not in ENTRY_POINTS), None)
            if caller is not None:
                units.append(Unit("function", caller.node.name.value))
                continue
        units.append(Unit("function", name))
    # A changed class whose Keras base lives in another project module (the child checks it is a layer).
    old_code = _codes(before, ((s.name.value, s) for s in before.body if isinstance(s, cst.ClassDef)))
    units += [Unit("layer", s.name.value) for s in after.body
              if isinstance(s, cst.ClassDef) and _code(after, s) not in old_code.get(s.name.value, ())]
    units += [Unit("block", name) for name in changed_blocks(original, fixed)]
    units += _through_slices(before, after, new, units)
    return list(dict.fromkeys(units))


def _through_slices(before: cst.Module, after: cst.Module, new: ModuleAnalysis, units: list[Unit]) -> list[Unit]:
    """A changed top-level function no unit covers (a loss factory whose closure a training
    step calls through a module variable) runs through the tape functions that reach it."""
    old_code = _codes(before, ((s.name.value, s) for s in before.body if isinstance(s, cst.FunctionDef)))
    changed = {s.name.value for s in after.body if isinstance(s, cst.FunctionDef)
               and _code(after, s) not in old_code.get(s.name.value, ())} - {u.name for u in units}
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
    return found


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


def verdict_for(units: dict, symbol: str):
    """The verdict of the unit a finding is in; for top-level code, the worst of its blocks."""
    name = unit_of(symbol)
    if name != MODULE:
        return units.get(name)
    blocks = [v for k, v in units.items() if k.startswith(BLOCK_PREFIX)]
    order = {"failed": 0, "inconclusive": 1, "verified": 2}
    return min(blocks, key=lambda v: order.get(v["verdict"], 0)) if blocks else None


def _required_parameters(function: cst.FunctionDef) -> list[str]:
    params = function.params
    return [p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]
            if p.default is None]


def verified_units(units: dict) -> set[str]:
    return {name for name, verdict in units.items() if verdict["verdict"] == "verified"}


def accepts(units: dict, symbol: str) -> bool:
    """Whether a finding's fix may be written: its unit verified. A finding outside every
    unit (a helper run only through the layers that call it) waits for all of them."""
    verdict = verdict_for(units, symbol)
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
        elif whole.slice([name]).code != part.slice([name]).code:
            return False
    return True
