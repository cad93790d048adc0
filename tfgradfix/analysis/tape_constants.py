"""Values a tape's block reads as constants: those computed before it opened.

A tape records only the operations run inside its `with` block. An advantage computed
from the critic before the actor's tape opens, then read in it (`log_pi * np.array(advantages)`),
carries no gradient to that tape, whatever model it came from: NumPy on it loses nothing.

Reading a variable in the block does record it (a trainable one by itself), so a name that
may hold a variable is never a constant: an alias of a weight (`w = self.kernel`), a list of
variables (`params = model.trainable_variables`), a `tf.Variable`, what a helper returns
where that may be one. Nor is a name the block watches, a parameter (a caller's tape may be
recording), or a name also bound inside the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import libcst as cst

from tfgradfix.analysis.dataflow import NOT_TENSOR_NAMESPACES, PYTHON_VALUE_BUILTINS, argument_for, walk_scope
from tfgradfix.analysis.tapes import TapeBlock, find_tape_blocks
from tfgradfix.analysis.tree import contains
from tfgradfix.analysis.vocabulary import VARIABLE_CONSTRUCTORS

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import Scope

# Modules whose calls return new tensors or arrays, never a variable they are given (but for
# dataflow's NOT_TENSOR_NAMESPACES: structures of what they are given, layers, models).
_VALUE_MODULES = ("tensorflow.", "numpy.", "keras.ops.")
# Method names that may hand out variables (`model.get_variables()`, `self.params()`).
_VARIABLE_WORDS = ("variable", "weight", "param", "trainable")
_DEPTH = 3


def computed_before(scope: "Scope", blocks: Iterable[TapeBlock]) -> frozenset[str]:
    """The names of `scope` that are constants in every one of `blocks`: bound only outside
    all of them, never to something that may hold a variable, not watched, not parameters."""
    blocks = list(blocks)
    if not blocks:
        return frozenset()
    flow = scope.flow or scope.analyse()
    watched = {name for block in blocks for name in block.watched}
    bindings: dict[str, list] = {}
    for binding in flow.bindings:
        bindings.setdefault(binding.name, []).append(binding)
    constants = set()
    for name, bound in bindings.items():
        if name in watched or name in scope.parameter_names:
            continue
        if any(contains(block.node, b.statement) or b.statement is block.node for block in blocks for b in bound):
            continue
        if any(may_hold_variable(scope, b.value) for b in bound):
            continue
        constants.add(name)
    return frozenset(constants)


def parameters_constant_to_callers(scope: "Scope") -> frozenset[str]:
    """The parameters of a helper that every call in the module passes, from inside the
    caller's tape blocks, a name computed before those blocks opened (`self.actor_loss(states,
    values)` after `values = self.compute_values(...)` outside the tape): constants to every
    tape that runs the helper. None of them where a call is outside any tape (its own caller's
    tape may be recording) or passes anything else."""
    if not isinstance(scope.node, cst.FunctionDef) or not scope.parameter_names or scope.external_callers:
        return frozenset()
    cache = (scope.flow or scope.analyse()).value_cache
    if "constant parameters" not in cache:
        cache["constant parameters"] = _constant_parameters(scope, scope.node)
    return cache["constant parameters"]


def _constant_parameters(scope: "Scope", function: cst.FunctionDef) -> frozenset[str]:
    calls = scope.module.callers_of(scope)
    common: set[str] = set(scope.parameter_names) - {"self"}
    for caller, call in calls:
        blocks = [b for b in find_tape_blocks(caller, caller.module.imports) if contains(b.node, call)]
        if not blocks:
            return frozenset()
        constants = computed_before(caller, blocks)
        common = {name for name in common if isinstance(arg := argument_for(function, call, name), cst.Name)
                  and arg.value in constants}
    return frozenset(common) if calls else frozenset()


def may_hold_variable(scope: "Scope", value: cst.BaseExpression, depth: int = 0) -> bool:
    """Whether `value` may be a variable or hold one (reading it in a tape records it)."""
    if isinstance(value, (cst.BinaryOperation, cst.UnaryOperation, cst.Comparison, cst.BooleanOperation,
                          cst.SimpleString, cst.Integer, cst.Float, cst.FormattedString, cst.ConcatenatedString)):
        return False  # arithmetic on a variable is a tensor
    if isinstance(value, (cst.Tuple, cst.List, cst.Set)):
        return any(may_hold_variable(scope, e.value, depth) for e in value.elements)
    if isinstance(value, cst.IfExp):
        return may_hold_variable(scope, value.body, depth) or may_hold_variable(scope, value.orelse, depth)
    if isinstance(value, cst.Call):
        return _call_may_return_variable(scope, value, depth)
    if isinstance(value, cst.Subscript):
        # `advantages, values = self.compute(...)`: each name's stand-in item of what the call returns
        stand_in = (scope.flow or scope.analyse()).returned_items.get(value)
        if stand_in is not None:
            return _call_may_return_variable(scope, stand_in[0], depth)
    if isinstance(value, cst.Name) and value.value not in scope.parameter_names and depth < _DEPTH:
        # What the name is bound to in the scope (`advantages = rewards - values; return advantages`).
        flow = scope.flow or scope.analyse()
        bound = [b.value for b in flow.bindings if b.name == value.value]
        return not bound or any(may_hold_variable(scope, b, depth + 1) for b in bound)
    return True  # an alias, an attribute, an item of a list, a comprehension: may be a weight


def _call_may_return_variable(scope: "Scope", call: cst.Call, depth: int) -> bool:
    qualified = scope.module.imports.resolve(call.func)
    if qualified is not None:
        if qualified in VARIABLE_CONSTRUCTORS or qualified.startswith(NOT_TENSOR_NAMESPACES):
            return True
        return not qualified.startswith(_VALUE_MODULES)
    callee = call.func
    if isinstance(callee, cst.Name) and callee.value in PYTHON_VALUE_BUILTINS and callee.value != "getattr":
        return False
    helper = scope.module.callee_scope(scope, call)
    if helper is not None:
        if depth >= _DEPTH:
            return True
        returns = [n.value for n in walk_scope(helper.body) if isinstance(n, cst.Return) and n.value is not None]
        return any(may_hold_variable(helper, r, depth + 1) for r in returns)
    if isinstance(callee, cst.Name):
        return True  # `list(model.variables)`, a function of another module
    name = callee.attr.value.lower() if isinstance(callee, cst.Attribute) else ""
    # A sub-layer or model call returns a new tensor; a getter of variables does not.
    return any(word in name for word in _VARIABLE_WORDS)
