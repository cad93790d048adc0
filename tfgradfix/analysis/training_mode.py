"""Which code of a Keras forward method runs only at inference.

`fit` calls a layer with `training=True`, and a training loop that has to pass the flag passes
it true; a branch taken only when the flag is false (an early exit that compares an entropy
computed with `np.log` to a threshold, a beam search) never runs under a tape. The flag counts
only where nothing can leave it false while training: its default is `True`, or it has none
(Keras passes `training` only where the caller or an outer layer sets it, so a `training=None`
or `training=False` default is what `model(x)` in a tape gets), and `call` never rebinds it.

The same reading serves any flag whose value is known where the code is differentiated: a
helper's option (`predict(x, to_numpy=True)`) that every taped call passes as `False` keeps
its `if to_numpy:` branch off the gradient path (`untaken_blocks`).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

import libcst as cst

from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.tree import child_nodes, descendants
from tfgradfix.analysis.values import tensor_test_subject


def inference_only(function: cst.FunctionDef) -> set[cst.CSTNode]:
    """The blocks and statements of `function` that run only when its training flag is false:
    the body of `if not training:`, the `else` of `if training:`, and what follows an
    `if training: ... return` that has no `else`."""
    return untaken_blocks(function, dict.fromkeys(training_flags(function), True))


def training_flags(function: cst.FunctionDef) -> set[str]:
    """The parameters that say whether the function trains (see the module's docstring)."""
    flags = set()
    for param in (*function.params.params, *function.params.kwonly_params):
        name = param.name.value
        if not (name.endswith("training") or name in ("train", "is_train")):
            continue
        if param.default is None or (isinstance(param.default, cst.Name) and param.default.value == "True"):
            flags.add(name)
    return flags - rebound(function)


def boolean_defaults(function: cst.FunctionDef) -> dict[str, bool]:
    """Parameters with a literal `True`/`False` default that `function` never rebinds: options
    (`to_numpy=True`) whose value its callers decide."""
    found = {param.name.value: param.default.value == "True"
             for param in (*function.params.params, *function.params.kwonly_params)
             if isinstance(param.default, cst.Name) and param.default.value in ("True", "False")}
    return {name: value for name, value in found.items() if name not in rebound(function)}


def tensor_tests(function: cst.FunctionDef, imports: ImportMap) -> dict[str, list[str]]:
    """The parameters whose type the function tests, with the keys `untaken_blocks` reads for
    "it is a tensor": `tensor_test_key(test)` for a test written in place (`isinstance(p, tf.Tensor)`,
    `tf.is_tensor(p)`) of a parameter the function never rebinds, and the name of a flag bound once,
    by a statement of the body's top level, to such a test before anything rebinds the parameter
    (`input_is_tensor = isinstance(x, tf.Tensor)`, then `x = tf.convert_to_tensor(x)` under
    `if not input_is_tensor:`)."""
    names = {p.name.value for p in (*function.params.params, *function.params.kwonly_params)}
    rebinds = rebound(function)
    found: dict[str, list[str]] = {}
    for node in descendants(function.body):
        if isinstance(node, (cst.If, cst.While)):
            for test in descendants(node.test):
                tested = tensor_test_subject(test, imports)
                if tested in names and tested not in rebinds:
                    found.setdefault(tested, []).append(tensor_test_key(test))
    bound_once = Counter(_assigned_names(function))
    changed: set[str] = set()  # parameters rebound by the statements so far
    for statement in function.body.body if isinstance(function.body, cst.IndentedBlock) else ():
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 \
                and isinstance(statement.body[0], cst.Assign) and len(statement.body[0].targets) == 1:
            target = statement.body[0].targets[0].target
            tested = tensor_test_subject(statement.body[0].value, imports)
            if isinstance(target, cst.Name) and tested in names - changed and bound_once[target.value] == 1:
                found.setdefault(tested, []).append(target.value)
        changed |= names & set(_assigned_names(statement))
    return found


def tensor_test_key(test: cst.CSTNode) -> str:
    """The key of `untaken_blocks`'s `known` for one tensor test written in place (no name can be it)."""
    return f"<tensor test {id(test)}>"


def _assigned_names(tree: cst.CSTNode) -> list[str]:
    return [node.target.value for node in descendants(tree)
            if isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, cst.Name)]


def rebound(function: cst.FunctionDef) -> set[str]:
    return set(_assigned_names(function.body))


def untaken_blocks(function: cst.FunctionDef, known: dict[str, bool]) -> set[cst.CSTNode]:
    """The blocks and statements of `function` that never run while its flags have the `known`
    values: the body of an `if` whose test is then false, the `else` of one whose test is then
    true, and what follows such an `if` that ends in `return` and has no `else`."""
    found: set[cst.CSTNode] = set()
    if known:
        _visit_block(function.body, known, found)
    return found


def _visit_block(block: cst.BaseSuite, known: dict[str, bool], found: set[cst.CSTNode]) -> None:
    if isinstance(block, cst.IndentedBlock):
        _visit_statements(list(block.body), known, found)


def _visit_statements(body: list[cst.BaseStatement], known: dict[str, bool], found: set[cst.CSTNode]) -> None:
    for index, statement in enumerate(body):
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(statement, cst.If):
            truth = _truth(statement.test, known)
            if truth is False:
                found.add(statement.body)
            elif truth is True:
                if statement.orelse is not None:
                    found.add(statement.orelse)
                elif _leaves(statement.body):
                    found.update(body[index + 1:])
                    _visit_block(statement.body, known, found)
                    return
        for child in child_nodes(statement):
            if isinstance(child, cst.BaseSuite):
                _visit_block(child, known, found)
            elif isinstance(child, cst.If):  # an `elif`
                _visit_statements([child], known, found)
            elif isinstance(child, cst.Else):
                _visit_block(child.body, known, found)


def _truth(test: cst.BaseExpression, known: dict[str, bool]) -> Optional[bool]:
    """The value of `test` where the flags have their `known` values, or None where it can be either."""
    if isinstance(test, cst.Name):
        return known.get(test.value)
    if isinstance(test, cst.Call):
        return known.get(tensor_test_key(test))
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = _truth(test.expression, known)
        return None if inner is None else not inner
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        constant = target.comparator.value if isinstance(target.comparator, cst.Name) else None
        if constant not in ("True", "False") or not isinstance(
                target.operator, (cst.Equal, cst.Is, cst.NotEqual, cst.IsNot)):
            return None
        left = _truth(test.left, known)
        if left is None:
            return None
        # `flag == False` is `not flag`, `flag is not True` too
        return (left == (constant == "True")) != isinstance(target.operator, (cst.NotEqual, cst.IsNot))
    if isinstance(test, cst.BooleanOperation):
        left, right = _truth(test.left, known), _truth(test.right, known)
        decisive = not isinstance(test.operator, cst.And)  # `or` is decided by a true part, `and` by a false one
        if decisive in (left, right):
            return decisive
        return None if None in (left, right) else not decisive
    return None


def _leaves(block: cst.BaseSuite) -> bool:
    """The block ends in `return` or `raise`: what follows its `if` runs only when it is not taken."""
    if not isinstance(block, cst.IndentedBlock) or not block.body:
        return False
    last = block.body[-1]
    return isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Return, cst.Raise))


def trains_without_call(owner: cst.ClassDef, opens_tape) -> bool:
    """The model's own `train_step` differentiates its sub-layers in a tape and never runs the
    model itself (`self(x)`, `self.call(x)`, the base `train_step`): `fit` trains through
    `train_step`, so `call` is what `predict` runs, never under the tape. Or the model replaces
    `fit` itself and no tape of its methods runs the model (a reservoir whose readout is a scikit-learn
    ridge regression; a k-means head whose `fit` differentiates only its centroids): nothing trains
    `call` by gradient. The same holds for a model that trains itself with an optimizer of its
    own (`self.optimizer = Adam(...)` in `__init__`, applied by one of its methods: a planar flow's
    `step`), where no tape of its methods runs the model: `call` only samples."""
    methods = {s.name.value: s for s in owner.body.body if isinstance(s, cst.FunctionDef)}
    if ("fit" in methods or _trains_itself(methods)) and "train_step" not in methods:
        tapes = [node for method in methods.values() for node in descendants(method.body)
                 if isinstance(node, cst.With) and opens_tape(node)]
        if not any(_runs_the_model_in(tape, methods) for tape in tapes):
            return True
    step = methods.get("train_step")
    if step is None:
        return False
    nodes = list(descendants(step.body))
    return (any(isinstance(node, cst.With) and opens_tape(node) for node in nodes)
            and not any(isinstance(node, cst.Call) and _runs_the_model(node.func) for node in nodes))


def _trains_itself(methods: dict[str, cst.FunctionDef]) -> bool:
    """`__init__` keeps an optimizer on the model (`self.optimizer = ...`) and another method
    applies gradients with it (`self.optimizer.apply_gradients(...)`): the class is its own
    training loop, not one that `compile` and `fit` drive."""
    init = methods.get("__init__")
    if init is None:
        return False
    kept = {target.target.attr.value for node in descendants(init.body) if isinstance(node, cst.Assign)
            for target in node.targets if isinstance(target.target, cst.Attribute)
            and isinstance(target.target.value, cst.Name) and target.target.value.value == "self"
            and "optimizer" in target.target.attr.value}
    return any(isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
               and node.func.attr.value in ("apply_gradients", "minimize")
               and isinstance(node.func.value, cst.Attribute) and node.func.value.attr.value in kept
               and isinstance(node.func.value.value, cst.Name) and node.func.value.value.value == "self"
               for name, method in methods.items() if name != "__init__" for node in descendants(method.body))


def _runs_the_model_in(tape: cst.With, methods: dict[str, cst.FunctionDef]) -> bool:
    """The tape's block runs the model: itself, or through a method of the class that does."""
    for node in descendants(tape.body):
        if not isinstance(node, cst.Call):
            continue
        if _runs_the_model(node.func):
            return True
        func = node.func
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"
                and func.attr.value in methods and any(isinstance(inner, cst.Call) and _runs_the_model(inner.func)
                                                       for inner in descendants(methods[func.attr.value].body))):
            return True
    return False


def _runs_the_model(func: cst.BaseExpression) -> bool:
    if isinstance(func, cst.Name):
        return func.value == "self"
    if not isinstance(func, cst.Attribute):
        return False
    receiver = func.value
    if isinstance(receiver, cst.Name) and receiver.value == "self":
        return func.attr.value in ("call", "__call__", "train_step", "compute_loss")
    # `super().train_step(data)` runs `self(x)`
    return isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name) and receiver.func.value == "super"
