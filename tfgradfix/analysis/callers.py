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

from tfgradfix.analysis.dataflow import argument_for, is_certainly_tensor, target_names, walk_scope
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.rebinding import rebinding_of
from tfgradfix.analysis.sources import block_objects, enclosing_blocks, related
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
                    related(passed, o) for objects in known for o in objects):
                return True
            continue
        if caller.is_keras_forward:
            return True
        if caller.forward and result_trained(caller, _caller_receiver(scope, call, receiver), _depth + 1):
            return True
    return False


def _passed_object(scope: "Scope", call: cst.Call, receiver: Optional[cst.BaseExpression]) -> Optional[str]:
    """The dotted name of what `call` passes for the parameter `receiver` names, or the
    model itself where it is an attribute of the instance (`self.target` in a method the
    caller runs on `self`)."""
    name = dotted_name(receiver) if receiver is not None else None
    if name is not None and name.startswith("self.") and isinstance(call.func, cst.Attribute) \
            and dotted_name(call.func.value) == "self":
        return name
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


def _live(caller: "Scope", call: cst.Call) -> bool:
    """The value of `call` flows into what `caller` returns (when it is on the path as a
    function) or differentiates."""
    flow = caller.flow or caller.analyse()
    if any(sink is call or contains(sink, call) for sink in flow.sink_expressions):
        return True
    statement = rebinding_of(caller).statement_of(call) if isinstance(caller.node, cst.FunctionDef) else None
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


def forwarded_model(caller: "Scope", call: cst.Call) -> Optional[str]:
    """The model a helper of the module runs and returns, in the caller's terms: `self.model`
    for `self._forward_pass(x)` whose every return is `self.model(x, training=True)` (or a
    name bound once to such a call), `net` for `forward(net, x)` returning `model(x)` of its
    parameter `model`. None when a return is anything else: a helper that post-processes the
    output, predicts, or returns something of its own is not the forward pass moved."""
    helper = caller.module.callee_scope(caller, call)
    if helper is None or not isinstance(helper.node, cst.FunctionDef):
        return None
    returned = [n.value for n in walk_scope(helper.body) if isinstance(n, cst.Return)]
    if not returned or any(value is None for value in returned):
        return None
    single = helper.local_definitions()
    models = set()
    for value in returned:
        if isinstance(value, cst.Name) and len(single.get(value.value, ())) == 1:
            value = single[value.value][0]
        if not isinstance(value, cst.Call):
            return None
        called = dotted_name(value.func)
        if called is None:
            return None
        head, _, rest = called.partition(".")
        if head == "self":
            # a method of the same class, called on `self`
            if not (helper.owner is not None and helper.owner is caller.owner and isinstance(call.func, cst.Attribute)
                    and dotted_name(call.func.value) == "self"):
                return None
            models.add(called)
        elif head in helper.parameter_names:
            passed = argument_for(helper.node, call, head, bound=helper.owner is not None)
            owner = dotted_name(passed) if passed is not None else None
            if owner is None:
                return None
            models.add(f"{owner}.{rest}" if rest else owner)
        else:
            return None
    return models.pop() if len(models) == 1 else None


def passes_tensor(scope: "Scope", name: str) -> bool:
    """Every call of the function or method `scope` in the module (at least one) passes a
    certain tensor for its parameter `name`: a TF op's result (`tf.convert_to_tensor(batch)`,
    `tf.constant(...)`), never a variable, never something unknown."""
    if not isinstance(scope.node, cst.FunctionDef) or scope.is_forward_entry:
        return False
    calls = [(caller, call) for caller, call in _calls_of(scope) if caller is not scope]
    if not calls:
        return False
    for caller, call in calls:
        value = argument_for(scope.node, call, name, bound=scope.owner is not None)
        if value is None or (isinstance(value, cst.Name) and value.value in caller.parameter_names):
            return False
        if not _certain_tensor(caller, value):
            return False
    return True


def _certain_tensor(scope: "Scope", value: cst.BaseExpression, _depth: int = 0) -> bool:
    """`is_certainly_tensor`, also through a name bound once and a helper of the module every
    return of which is one (`images = preprocess(batch)`, `preprocess` returning
    `tf.convert_to_tensor(...)`)."""
    if is_certainly_tensor(scope.flow or scope.analyse(), value):
        return True
    if _depth > 2:
        return False
    if isinstance(value, cst.Name) and value.value not in scope.parameter_names:
        bound = scope.local_definitions().get(value.value, [])
        return len(bound) == 1 and isinstance(bound[0], cst.BaseExpression) and _certain_tensor(
            scope, bound[0], _depth + 1)
    if isinstance(value, cst.Call):
        helper = scope.module.callee_scope(scope, value)
        if helper is None or helper is scope:
            return False
        returned = [n.value for n in walk_scope(helper.body) if isinstance(n, cst.Return)]
        return bool(returned) and all(r is not None and _certain_tensor(helper, r, _depth + 1) for r in returned)
    return False


def _calls_of(scope: "Scope") -> list[tuple["Scope", cst.Call]]:
    """Where the module calls `scope`: what `callers_of` finds, and for a method of a plain
    class, `obj.method(...)` on a name every binding of which constructs that class
    (`sal = Saliency(model); sal.gradients(images)`)."""
    analysis = scope.module
    found = list(analysis.callers_of(scope))
    owner = scope.owner
    if owner is None or scope.keras_class is not None or not isinstance(scope.node, cst.FunctionDef):
        return found
    method = scope.node.name.value
    for caller in list(analysis.scopes.values()):
        for node in walk_scope(caller.body):
            if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                    and node.func.attr.value == method and isinstance(node.func.value, cst.Name)
                    and node.func.value.value != "self"
                    and analysis._instance_class(caller, node.func.value, 0) == owner.name.value
                    and analysis.class_nodes.get(owner.name.value) is owner):
                found.append((caller, node))
    return found
