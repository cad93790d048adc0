"""Whether what a helper computes is differentiated: some caller runs it in a tape (or a
layer's forward pass) and its result reaches that caller's loss or output.

A helper is on the gradient path as soon as a tape's body calls it, whatever the tape does
with its result; a rule that reports what the helper's result loses (`model.predict` in
`residual(model, x, y)`) needs the stronger fact that the result is trained through: the
call's value flows into the caller's loss (or, in turn, into what a caller of the caller
differentiates), and the model it runs is one the tape differentiates when the tape says
which (a DQN helper predicting with the target network loses nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import argument_for, target_names
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.rebinding import _rebinding
from tfgradfix.analysis.sources import block_objects, enclosing_blocks
from tfgradfix.analysis.tapes import find_tape_blocks
from tfgradfix.analysis.tree import contains

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import Scope

_DEPTH = 3


def result_trained(scope: "Scope", receiver: Optional[cst.BaseExpression] = None, _depth: int = 0) -> bool:
    """Whether a caller of the helper `scope` runs it in a tape, a Keras forward method or a
    helper that is itself so used, and its result reaches that caller's loss or output. With
    `receiver` (a model the helper runs, `model` in `model.predict(x)`): when it is a
    parameter, the object a caller passes for it must be one the caller's tape differentiates,
    where the tape says which."""
    if _depth > _DEPTH or not isinstance(scope.node, cst.FunctionDef):
        return False
    for caller, call in scope.module.callers_of(scope):
        if caller is scope or not caller.on_path or not _live(caller, call):
            continue
        passed = _passed_object(scope, call, receiver)
        blocks = enclosing_blocks(caller, call) if caller.tape_blocks else []
        if blocks:
            known = [block_objects(caller, b) for b in blocks]
            if passed is None or any(objects is None for objects in known) or any(
                    _related(passed, o) for objects in known for o in objects):
                return True
            continue
        if caller.is_keras_forward:
            return True
        if caller.forward and result_trained(caller, _caller_receiver(scope, call, receiver), _depth + 1):
            return True
    return False


def _passed_object(scope: "Scope", call: cst.Call, receiver: Optional[cst.BaseExpression]) -> Optional[str]:
    """The dotted name of what `call` passes for the parameter `receiver` names."""
    if not isinstance(receiver, cst.Name) or receiver.value not in scope.parameter_names:
        return None
    assert isinstance(scope.node, cst.FunctionDef)
    value = argument_for(scope.node, call, receiver.value, bound=scope.owner is not None)
    return dotted_name(value) if value is not None else None


def _caller_receiver(scope: "Scope", call: cst.Call, receiver: Optional[cst.BaseExpression]):
    if not isinstance(receiver, cst.Name) or receiver.value not in scope.parameter_names:
        return None
    assert isinstance(scope.node, cst.FunctionDef)
    return argument_for(scope.node, call, receiver.value, bound=scope.owner is not None)


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _live(caller: "Scope", call: cst.Call) -> bool:
    """The value of `call` flows into what `caller` returns (when it is on the path as a
    function) or differentiates."""
    flow = caller.flow or caller.analyse()
    if any(sink is call or contains(sink, call) for sink in flow.sink_expressions):
        return True
    statement = _rebinding(caller).statement_of(call) if isinstance(caller.node, cst.FunctionDef) else None
    if statement is None:
        statement = _module_statement(caller, call)
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.Assign) and contains(small.value, call):
            if any(name in flow.live for t in small.targets for name in target_names(t.target)):
                return True
        elif isinstance(small, (cst.AnnAssign, cst.AugAssign)) and small.value is not None and contains(
                small.value, call):
            if any(name in flow.live for name in target_names(small.target)):
                return True
        elif isinstance(small, cst.Return) and small.value is not None and contains(small.value, call):
            return caller.forward
    return False


def _module_statement(caller: "Scope", call: cst.Call) -> Optional[cst.CSTNode]:
    """For a tape at the top of a module: the statement of a tape block holding `call`."""
    for block in find_tape_blocks(caller, caller.module.imports):
        if not contains(block.node, call):
            continue
        for statement in block.node.body.body if isinstance(block.node.body, cst.IndentedBlock) else ():
            if statement is call or contains(statement, call):
                return statement
    return None
