"""Bootstrap targets: a model's output the code detaches on purpose.

A semi-gradient TD method (A2C/A3C, DQN without a target network) bootstraps its return
with the value of the next state, `model(s_next)[-1].numpy()[0]`, and differentiates the
same model's value of the current state, `model(states)`, in the same loss. SimSiam and
BYOL detach one of two branches of the same encoder. The detached call is a target: its
output is data, whatever model produced it, and NumPy on it loses nothing the code wants.

A call is a bootstrap target when its output is detached right away (`.numpy()`,
`.item()`, `float(...)`, any NumPy function: `np.array(...)`, `np.max(...)`; through
indexing), or reaches the loss only through such a detaching call later (n-step returns
bootstrapped from the critic's value, accumulated in a list, then `np.array(returns)`), and
the same object is called elsewhere in the scope without being detached. With one call, the detached output is the model's only path to the loss, and
losing it is the bug.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap, dotted_name

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import Scope

_DETACHING_METHODS = frozenset({"numpy", "item"})
_DETACHING_BUILTINS = frozenset({"float"})


def bootstrap_calls(scope: "Scope", nodes: list[cst.CSTNode], imports: ImportMap,
                    detached_later: Optional[Callable[[cst.Call], bool]] = None) -> frozenset[cst.Call]:
    """The calls among `nodes` whose output is a bootstrap target; `detached_later` says whether
    a call's output reaches the scope's output only through a detaching call."""
    calls: dict[str, list[cst.Call]] = {}
    detached: set[cst.Call] = set()
    for node in nodes:
        if not isinstance(node, cst.Call):
            continue
        key = _object_key(scope, node, imports)
        if key is not None:
            calls.setdefault(key, []).append(node)
        inner = _detached_call(node, imports)
        if inner is not None:
            detached.add(inner)
    for group in calls.values():
        if len(group) > 1 and detached_later is not None:
            detached.update(c for c in group if c not in detached and detached_later(c))
    return frozenset(
        call for group in calls.values() if len(group) > 1 and any(c not in detached for c in group)
        for call in group if call in detached)


def detached_value(node: cst.CSTNode, imports: ImportMap) -> Optional[cst.BaseExpression]:
    """What a detaching call (`x.numpy()`, `np.array(x)`, `float(x)`, and any NumPy function:
    `np.max(next_q, axis=-1)`) detaches; None for any other node."""
    if not isinstance(node, cst.Call):
        return None
    callee = node.func
    if isinstance(callee, cst.Attribute) and callee.attr.value in _DETACHING_METHODS and not node.args:
        return callee.value
    if node.args and ((imports.resolve(callee) or "").startswith("numpy.")
                      or isinstance(callee, cst.Name) and callee.value in _DETACHING_BUILTINS):
        return node.args[0].value
    return None


def _object_key(scope: "Scope", call: cst.Call, imports: ImportMap):
    """The dotted name of the object a call runs (`self.model`, `model`): not an imported
    function, a function or class of the module, nor a method of the scope's class."""
    callee = call.func
    if isinstance(callee, cst.Attribute) and callee.attr.value in ("call", "__call__"):
        callee = callee.value
    key = dotted_name(callee)
    if key is None or key == "self" or imports.resolve(callee) is not None:
        return None
    if "." not in key and (scope.module_function(key) or scope.module_class(key)):
        return None
    if key.startswith("self.") and key.count(".") == 1 and scope.has_method(key[len("self."):]):
        return None
    return key


def _detached_call(node: cst.Call, imports: ImportMap):
    """The call whose output `node` detaches: `m(x)[-1].numpy()`, `np.array(m(x))`, also after TF
    ops on that output alone (`tf.reduce_max(m(x)).numpy()`, the best next Q-value)."""
    inner = detached_value(node, imports)
    while inner is not None:
        if isinstance(inner, cst.Subscript):
            inner = inner.value
        elif (isinstance(inner, cst.Call) and inner.args and inner.args[0].keyword is None and not inner.args[0].star
              and (imports.resolve(inner.func) or "").startswith(("tensorflow.", "keras.ops."))):
            inner = inner.args[0].value
        else:
            break
    return inner if isinstance(inner, cst.Call) else None
