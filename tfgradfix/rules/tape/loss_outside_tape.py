"""TGF401: the gradient's target is computed after the tape block."""

from __future__ import annotations

import libcst as cst

from tfgradfix.analysis.dataflow import names_in, parameters, target_names
from tfgradfix.analysis.frequency import method_return
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.tapes import (
    Container, GradientCall, TapeBlock, can_reorder, names_bound, statement_reads,
)
from tfgradfix.fixes.edits import Edit, Fix
from tfgradfix.fixes.statements import move_into_block
from tfgradfix.rules.tape.base import TapeRule, simple_assignments


class LossOutsideTape(TapeRule):
    code = "TGF401"
    name = "loss-outside-tape"
    summary = "the target of `tape.gradient` is computed after the `with` block"
    message = "`{name}` is computed after the `with tf.GradientTape()` block: the tape did not record it, so its gradient is None"
    what = (
        "Finds `tape.gradient(target, ...)` where `target`, or what it is computed from after the "
        "forward pass, is assigned after the `with tf.GradientTape() as tape:` block ends: "
        "`loss = loss_fn(y, logits)` one indentation level too far left, `loss = -loss` or "
        "`loss = loss + reg` after the block. Each `tape.gradient` is matched with the block it "
        "follows, so consecutive blocks reusing the name `tape` are told apart."
    )
    evidence = (
        "The `tape.gradient` target, or what it is computed from after the forward pass, is assigned after "
        "the block that this `tape.gradient` follows (each call matched with its own block), by a "
        "statement that runs an operation (a call or arithmetic): a name, a list or tuple of tensors, "
        "or an item picked out of one (also with `getattr(graph, field)`), or a call of a module function "
        "that only arranges its arguments "
        "(`zip` of names with the recorded outputs into a dict) only collects tensors that already exist, and is "
        "silent (one finding per late statement, however many `tape.gradient` calls read it); a "
        "comprehension's own variable (`[tape.gradient(terms[i], w) for i in range(n)]`) is bound only inside "
        "it, never by the statements after the tape."
    )
    why = (
        "A tape records only the operations run inside its `with` block. A loss computed after "
        "it is a tensor the tape never saw: `tape.gradient` returns `None` for every source, "
        "and `optimizer.apply_gradients` then raises `ValueError: No gradients provided for any "
        "variable`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "with tf.GradientTape() as tape:\n"
        "    logits = model(x, training=True)\n"
        "loss = loss_fn(y, logits)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "with tf.GradientTape() as tape:\n"
        "    logits = model(x, training=True)\n"
        "    loss = loss_fn(y, logits)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fix_safety = (
        "Safe: the statements that compute the target move, in order and with their comments, "
        "to the end of the block; the values are the same, now recorded. When a statement in "
        "between reads or rebinds what would move, or the target is computed inside an `if` or a "
        "loop, the finding has no fix."
    )

    def check(self, block: TapeBlock) -> None:
        reported: set[int] = set()
        for gradient in block.gradients:
            if gradient.container is not block.container:
                continue
            body = list(block.container.body)
            start, end = body.index(block.node), body.index(gradient.statement)
            if end <= start:
                continue
            if self._computes(gradient.target):
                self._computed_in_call(block, gradient)
                continue
            between = body[start + 1:end]
            moved, fixable = self._statements_computing(gradient, between)
            if not moved:
                continue
            others = [s for s in between if s not in moved and between.index(s) < between.index(moved[-1])]
            fix = None
            if fixable and can_reorder(moved, others):
                fix = Fix("Move the computation into the tape block",
                          (move_into_block(block.container, block.node, moved, at_end=True),))
            if id(moved[-1]) in reported:
                continue  # (several `tape.gradient` calls of the same late statement: one finding)
            reported.add(id(moved[-1]))
            target = next(iter(names_in(gradient.target)), "target")
            self.report(moved[-1], self.message.format(name=target), fix)

    def _computes(self, target: cst.BaseExpression) -> bool:
        """A target that runs tensor ops itself (`-loss`, `a + b`, `tf.add_n(losses)`). Not
        `outputs[0]` or `losses.get("total")`: those may only pick a recorded tensor out of a
        Python container."""
        if isinstance(target, (cst.UnaryOperation, cst.BinaryOperation)):
            return True
        if isinstance(target, cst.Call):
            callee = target.func
            if self.context.imports.resolve(callee) is not None:
                return True
            return isinstance(callee, cst.Name) and (
                callee.value in ("sum", "abs") or self.context.scope.module_function(callee.value))
        return False

    def _computed_in_call(self, block: TapeBlock, gradient: GradientCall) -> None:
        """`tape.gradient(-loss, ...)`: the op runs in the call, after the block."""
        expression = cst.Module(body=[]).code_for_node(gradient.target)
        taken = {n for s in self.context.scope.body for n in names_in(s)} | names_bound(block.container)
        name = next(f"target{i or ''}" for i in range(100) if f"target{i or ''}" not in taken)
        assignment = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], gradient.target)])
        body = list(block.container.body)
        with_index = body.index(block.node)

        def build(updated: Container) -> Container:
            statements = list(updated.body)
            with_node = statements[with_index]
            inner = [*with_node.body.body, assignment]
            statements[with_index] = with_node.with_changes(body=with_node.body.with_changes(body=inner))
            return updated.with_changes(body=statements)

        fix = Fix(f"Compute `{expression}` inside the tape block",
                  (Edit(gradient.target, cst.Name(name)), Edit(block.container, build)))
        self.report(gradient.target, self.message.format(name=expression), fix)

    def _statements_computing(self, gradient: GradientCall, between: list[cst.CSTNode]):
        needed = set(names_in(gradient.target))
        moved: list[cst.CSTNode] = []
        fixable = True
        for statement in reversed(between):
            bound = names_bound(statement)
            if not bound & needed:
                continue
            if not simple_assignments(statement):
                fixable = False
                break
            moved.insert(0, statement)
            needed |= statement_reads(statement)
        # `loss2 = loss`, `outputs = []`, `pair = (a, b)`, `first = outs[0]` alias or collect
        # tensors that already exist (recorded, or not, where they were made): nothing to record
        recorded = [s for s in moved if any(_runs_an_op(getattr(x, "value", None), self.context.scope) for x in s.body)]
        return (moved if recorded else []), fixable


def _runs_an_op(value, scope) -> bool:
    """Whether `value` computes something: an operator or a call, except a getter of the class
    (`self.get_loss()` returning `self.loss`, stored while the tape recorded), a builtin that picks
    or arranges (`getattr(output_graph, field)`), a module function that only arranges, or a
    function that returns only what it was given (`self.split_losses(loss)` popping the total
    from a dict of recorded losses)."""
    return value is not None and any(
        (isinstance(n, cst.Call) and not _getter(n, scope) and not _collector(n, scope) and not _arranging(n, scope)
         and not _picker(n, scope))
        or isinstance(n, cst.BinaryOperation)
        or isinstance(n, cst.UnaryOperation) and not isinstance(n.operator, cst.Not) for n in descendants(value))


# Builtins that pick or arrange values without computing on them.
_ARRANGING = frozenset({"zip", "list", "dict", "tuple", "range", "len", "enumerate", "sorted", "isinstance",
                        "iter", "reversed", "getattr"})


def _arranging(call: cst.Call, scope) -> bool:
    """A call of one of the builtins in `_ARRANGING`, not shadowed by an import or a function of the module."""
    func = call.func
    return isinstance(func, cst.Name) and func.value in _ARRANGING and scope.module.imports.resolve(func) is None \
        and not scope.module_function(func.value)


def _collector(call: cst.Call, scope) -> bool:
    """A function of the module that only arranges what it is given (`get_metrics(outputs)` zipping
    names with the recorded outputs into a dict): no operator, and no call but builtins that arrange."""
    if not isinstance(call.func, cst.Name) or not scope.module_function(call.func.value):
        return False
    function = scope.module.functions[call.func.value]
    return all(not isinstance(n, (cst.BinaryOperation, cst.AugAssign)) and not (
        isinstance(n, cst.UnaryOperation) and not isinstance(n.operator, cst.Not)) and not (
        isinstance(n, cst.Call) and not _arranging(n, scope))
        for n in descendants(function.body))


def _picker(call: cst.Call, scope) -> bool:
    """A function of the module or a method of the class whose every `return` gives back what
    it was given: a parameter it never rebinds, an item of one (`losses.pop("loss")`,
    `outputs[0]`, `d.get(k)`), None, or a tuple of those; whatever else it does (trackers,
    checks) computes nothing it returns."""
    callee = scope.module.callee_scope(scope, call)
    if callee is None:
        return False
    function = callee.node
    returns = [n for n in descendants(function.body) if isinstance(n, cst.Return)]
    bindings: dict[str, list[cst.BaseExpression]] = {}
    unpacked: set[str] = set()  # bound by unpacking or an item assignment: not followed
    for node in descendants(function.body):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    bindings.setdefault(target.target.value, []).append(node.value)
                else:
                    unpacked.update(target_names(target.target))
    given = {p.name.value for p in parameters(function)} - {"self"} - set(bindings) - unpacked

    def gives_back(expr, depth=0) -> bool:
        if depth > 8:
            return False
        if isinstance(expr, cst.Tuple):
            return all(gives_back(e.value, depth + 1) for e in expr.elements)
        if isinstance(expr, cst.Name):
            return expr.value == "None" or expr.value in given or (
                expr.value in bindings and expr.value not in unpacked
                and all(gives_back(v, depth + 1) for v in bindings[expr.value]))
        if isinstance(expr, cst.Subscript):
            return gives_back(expr.value, depth + 1)
        return (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("pop", "get") and gives_back(expr.func.value, depth + 1))

    return bool(returns) and all(r.value is not None and gives_back(r.value) for r in returns)


def _getter(call: cst.Call, scope) -> bool:
    """`self.m()` where method `m` only returns attributes of `self` (one, or a tuple of them)."""
    returned = method_return(call, scope) if not call.args else None
    if returned is None:
        return False
    items = [e.value for e in returned.elements] if isinstance(returned, cst.Tuple) else [returned]
    return all(self_attribute(item) is not None for item in items)
