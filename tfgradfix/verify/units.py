"""What a fix changed that can be run: Keras classes, and tape functions without parameters."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.tree import descendants


@dataclass(frozen=True)
class Unit:
    kind: str  # "layer" or "function"
    name: str


def _code(module: cst.Module, node: cst.CSTNode) -> str:
    return module.code_for_node(node)


def changed_units(original: str, fixed: str) -> list[Unit]:
    before, after = cst.parse_module(original), cst.parse_module(fixed)
    old, new = ModuleAnalysis(before), ModuleAnalysis(after)
    units: list[Unit] = []
    old_classes = {c.name: _code(before, c.node) for c in old.keras_classes.values()}
    for cls in new.keras_classes.values():
        if old_classes.get(cls.name) != _code(after, cls.node):
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
        if not _required_parameters(function):
            units.append(Unit("function", name))
            continue
        # Run it through a caller of the module that needs no arguments, if there is one.
        for caller, _ in new.callers_of(scope):
            if isinstance(caller.node, cst.FunctionDef) and not _required_parameters(caller.node):
                units.append(Unit("function", caller.node.name.value))
                break
        else:
            units.append(Unit("function", name))
    return list(dict.fromkeys(units))


def _required_parameters(function: cst.FunctionDef) -> list[str]:
    params = function.params
    return [p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]
            if p.default is None]
