"""TGF402: the forward pass (or a value from the variables) runs before the tape block."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from tfgradfix.analysis.callers import forwarded_model
from tfgradfix.analysis.dataflow import DataFlow, names_in
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.layer_state import declared_untrainable
from tfgradfix.analysis.sources import gradient_objects
from tfgradfix.analysis.tapes import (
    TapeBlock, can_reorder, find_tape_blocks, names_bound, reaching_value, statement_reads,
)
from tfgradfix.analysis.tree import descendants
from tfgradfix.analysis.vocabulary import MODEL_VARIABLE_LISTS, TF_VARIABLE
from tfgradfix.fixes.edits import Fix
from tfgradfix.fixes.statements import move_into_block
from tfgradfix.rules.tape.base import TapeRule, simple_assignments


class ForwardOutsideTape(TapeRule):
    code = "TGF402"
    name = "forward-outside-tape"
    summary = "the model call that feeds the target runs before the `with` block"
    message = "`{call}(...)` runs before the `with tf.GradientTape()` block: the tape did not record the forward pass, so the gradients for `{sources}` are None"
    what = (
        "Finds `outputs = model(x)` before a `with tf.GradientTape() as tape:` block whose "
        "`tape.gradient(..., model.trainable_variables)` asks for that same model's weights, "
        "when the block reads `outputs`, also through a helper of the module that returns that "
        "model's call (`out = self._forward_pass(x)` whose every return is `self.model(x, ...)`; "
        "a helper that post-processes, stops the gradient or predicts is not the forward pass). "
        "Also a value computed with TF ops or arithmetic from "
        "variables among the sources before the block (`w = tf.concat([a, b], 0)` then "
        "`tape.gradient(loss, [a, b])`; `kernel = self.k1 + self.k2` with "
        "`self.trainable_variables`), when the block reads it and not those variables "
        "themselves, also when it was computed once before a loop around the block, in several "
        "steps (`w = tf.matmul(l, r)`, `w2 = w * 0.5`: the gradients of `l` and `r`), or read "
        "through a lambda or nested function the block calls (`predict = lambda x: "
        "tf.matmul(x, w2)`, `predict(x)` in the block). A model "
        "that the block calls itself as well is not reported: the call before the block is a "
        "target on purpose (semi-gradient TD: `next_q = q(next_states)` before the tape, "
        "`q(states)` inside it). A model "
        "called before the block whose weights are not among the sources (a frozen encoder), "
        "shapes of variables, and snapshots whose variable the block also reads (`anchor = "
        "tf.identity(w)`) are fine and not reported."
    )
    evidence = (
        "The model called before the block is one whose weights the block's `tape.gradient` asks for, the "
        "block reads that output and not the variables themselves, and the block does not call the same model"
        " (which makes the call before it a target on purpose)."
    )
    why = (
        "The tape records only what runs inside the block. The forward pass ran before it, so "
        "the loss computed in the block starts from a constant: every gradient is `None`."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "logits = model(x, training=True)\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = loss_fn(y, logits)\n"
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
        "Safe: the forward call (or the computation from the variables, with the steps before it "
        "that it reads) moves, with its comments, to the top of the block; it computes the same "
        "values, now recorded. A lambda defined in between may stay where it is when nothing "
        "calls it before the block: it reads the names when it runs. When a "
        "statement in between reads its result or rebinds its inputs, or the value is computed "
        "outside a loop around the block (moving it would run it every step), or another tape "
        "block reads it too (a tape nested in this block does not count), the finding has no fix."
    )

    _DERIVED = ("`{name}` is computed from {variables} before the `with tf.GradientTape()` block: the tape did "
                "not record it, so the gradients for {variables} are None")

    _PARTIAL = ("`{name}` is computed from {variables} before the `with tf.GradientTape()` block: the tape did "
                "not record it, so what it adds to the loss adds nothing to the gradients for {variables}")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._reported: set[cst.CSTNode] = set()

    def check(self, block: TapeBlock) -> None:
        self._derived_before(block)
        roots = {root for g in block.gradients for root in _source_owners(g.sources)}
        if not roots:
            return
        read_in_block = {name for statement in block.body for name in names_in(statement)}
        body = list(block.container.body)
        start = body.index(block.node)
        candidates: list[tuple[cst.CSTNode, cst.Call, str, str]] = []
        for statement in reversed(body[:start]):
            if not simple_assignments(statement):
                break
            for small in statement.body:
                value = getattr(small, "value", None)
                if isinstance(small, cst.Assign) and isinstance(value, cst.Call):
                    callee = dotted_name(value.func)
                    model = callee
                    if callee is not None and callee not in roots:
                        # `out = self._forward_pass(x)`: a helper that returns the model's call
                        model = forwarded_model(self.context.scope, value)
                    if callee is not None and model in roots and names_bound(statement) & read_in_block:
                        candidates.insert(0, (statement, value, callee, model))
        called_in_block = {dotted_name(node.func) for statement in block.body for node in descendants(statement)
                           if isinstance(node, cst.Call)}
        for statement, call, callee, model in candidates:
            if callee in called_in_block or model in called_in_block:
                # The block runs the model itself: the call before it is a target on purpose
                # (a semi-gradient TD bootstrap, `r + gamma * max Q(s')`), not a forward pass
                # that the tape missed. Moving it in would change the gradients.
                continue
            others = body[body.index(statement) + 1:start]
            others = [s for s in others if s not in {c[0] for c in candidates}]
            fix = None
            if len(statement.body) == 1 and can_reorder([statement], others):
                fix = Fix("Move the forward pass into the tape block",
                          (move_into_block(block.container, block.node, [statement], at_end=False),))
            self.report(call, self.message.format(call=callee, sources=f"{model}.trainable_variables"), fix)


    def _derived_before(self, block: TapeBlock) -> None:
        """`w = tf.concat([a, b], 0)` before the block, `w` read in it, `a` and `b` among the
        sources and not read in the block themselves: the block sees a constant. Also in
        several steps (`w = tf.concat(...)`, `w2 = w * 2.0`), and read through a lambda or a
        nested function the block calls (`predict = lambda x: tf.matmul(x, w2)`)."""
        variables = {name for g in block.gradients for name in self._source_variables(g.sources)}
        if not variables:
            return
        asked = {id(n) for g in block.gradients for n in descendants(g.call)}  # `tape.gradient(loss, [a, b])`
        read_in_block = {dotted_name(n) for n in descendants(block.node.body)
                         if isinstance(n, (cst.Name, cst.Attribute)) and id(n) not in asked}
        read_in_block |= self._read_by_closures(block, read_in_block)
        bound_in_block = names_bound(block.node.body)
        scope_flow = self.context.flow
        derived = self._derived(variables, scope_flow.bindings if scope_flow is not None else [])
        for name in sorted(set(derived) & read_in_block - bound_in_block - variables):
            value = reaching_value(block.node, name, self.context.parent)
            if value is None or value in self._reported or not self._computed(value):
                continue
            cut = sorted(derived[name] - read_in_block)
            if not cut:
                continue
            shown = ", ".join(f"`{v}`" for v in cut)
            self._reported.add(value)  # once, for the first block that reads it
            # `model_params = model.trainable_variables` with `model(x)` run in the block: the variables
            # still get gradients from the rest of the loss; this part of it adds none.
            owners = [gradient_objects(self.context.scope, cst.Name(v)) for v in cut]
            partial = all(found is not None and found <= read_in_block for found in owners)
            self.report(value, (self._PARTIAL if partial else self._DERIVED).format(name=name, variables=shown),
                        self._move(block, value, name, derived))

    def _derived(self, variables: set[str], bindings) -> dict[str, set[str]]:
        """The names bound to a value computed from the variables, directly or through other such
        names, each with the variables it comes from. Differentiable in them: `tf.shape(a)[0]` or
        `a.shape` is not."""
        roots = {v.split(".", 1)[0] for v in variables} - {"self"}  # `layer.kernel`: taint follows `layer`
        derived: dict[str, set[str]] = {}
        for _ in range(4):
            flow = DataFlow(scope=self.context.scope, imports=self.context.imports, tainted=roots | set(derived))
            changed = False
            for binding in bindings:
                mentioned = {dotted_name(n) for n in descendants(binding.value)}
                comes_from = (mentioned & variables).union(*(derived[m] for m in mentioned if m in derived))
                if not comes_from or comes_from <= derived.get(binding.name, set()):
                    continue
                if binding.name not in derived and not (mentioned & variables) and not (
                        self._computed(binding.value) and flow.is_tainted(binding.value)):
                    continue  # a step on the way must itself be a differentiable computation
                if mentioned & variables and not flow.is_tainted(binding.value):
                    continue
                derived.setdefault(binding.name, set()).update(comes_from)
                changed = True
            if not changed:
                break
        return derived

    def _read_by_closures(self, block: TapeBlock, read: set[Optional[str]]) -> set[Optional[str]]:
        """The names that the lambdas and nested functions the block calls read when they run."""
        local = self.context.scope.local_definitions()
        found: set[Optional[str]] = set()
        for name in read:
            definitions = local.get(name, []) if name is not None else []
            if len(definitions) == 1 and isinstance(definitions[0], (cst.Lambda, cst.FunctionDef)):
                found.update(dotted_name(n) for n in descendants(definitions[0])
                             if isinstance(n, (cst.Name, cst.Attribute)))
        return found

    def _source_variables(self, sources: Optional[cst.BaseExpression]) -> Iterator[str]:
        """Variables named among the sources (`[a, b]`, `self.kernel`); a Keras class's own
        trainable weights for `self.trainable_variables`."""
        values = [e.value for e in sources.elements] if isinstance(sources, (cst.List, cst.Tuple)) else [sources]
        for value in values:
            name = dotted_name(value) if isinstance(value, (cst.Name, cst.Attribute)) else None
            if name is not None and "trainable_" not in name:
                yield name
        cls = self.context.scope.keras_class
        if cls is not None and "self" in set(_source_owners(sources)):
            yield from (f"self.{w}" for owner in cls.lineage() for w in owner.weights
                        if not declared_untrainable(cls, w, self.context.imports))

    def _computed(self, value: cst.BaseExpression) -> bool:
        """A new tensor from TF ops or arithmetic, not the variable itself or a call of
        unknown code."""
        if isinstance(value, (cst.BinaryOperation, cst.UnaryOperation, cst.Subscript)):
            return True
        if isinstance(value, cst.Call):
            qualified = self.context.imports.resolve(value.func) or ""
            if qualified.startswith("tensorflow.") and qualified not in TF_VARIABLE:
                return True
            return isinstance(value.func, cst.Attribute) and value.func.attr.value in ("read_value", "value")
        return False

    def _move(self, block: TapeBlock, value: cst.BaseExpression, name: str,
              derived: dict[str, set[str]]) -> Optional[Fix]:
        """Move the statement computing `name`, with those computing the derived names it reads
        (`w = tf.concat(...)` before `w2 = w * 2.0`), to the top of the block."""
        body = list(block.container.body)
        chain: list[cst.CSTNode] = []
        pending, seen = [(name, value)], set()
        while pending:
            current, current_value = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            statement = self.context.parent(self.context.parent(current_value))
            if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                    and statement in body and body.index(statement) < block.index):
                return None  # computed in an enclosing block, once for a whole loop: moving it changes what runs
            chain.append(statement)
            for node in descendants(current_value):
                step = dotted_name(node)
                if step in derived and step not in seen:
                    step_value = reaching_value(statement, step, self.context.parent)
                    if step_value is None:
                        return None
                    pending.append((step, step_value))
        chain.sort(key=body.index)
        tapes = find_tape_blocks(self.context.scope, self.context.imports)
        moved_names = {n for statement in chain for n in names_bound(statement)}
        inside = {id(n) for n in descendants(block.node.body)}  # a nested tape is served by the same move
        if any(moved_names & set(names_in(b.node.body)) for b in tapes if b is not block and id(b.node) not in inside):
            return None  # another tape reads it too: one move cannot serve both
        others = [s for s in body[body.index(chain[0]) + 1:block.index] if s not in chain]
        # `predict = lambda x: tf.matmul(x, w2)` reads `w2` when it is called, not where it is
        # defined: the definition may stay before the moved statements if nothing else calls it there.
        closures = [s for s in others if _defines_closure(s)]
        read_between = {n for s in others if s not in closures for n in statement_reads(s)}
        others = [s for s in others if s not in closures or names_bound(s) & read_between]
        if not can_reorder(chain, others):
            return None
        return Fix("Compute it inside the tape block",
                   (move_into_block(block.container, block.node, chain, at_end=False),))


def _defines_closure(statement: cst.CSTNode) -> bool:
    """`name = lambda ...: ...` whose defaults read nothing."""
    if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1):
        return False
    small = statement.body[0]
    return (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.Lambda)
            and all(p.default is None for p in small.value.params.params))


def _source_owners(sources: Optional[cst.BaseExpression]) -> Iterator[str]:
    """`model` for `model.trainable_variables`, also inside lists and sums."""
    if isinstance(sources, cst.Attribute) and sources.attr.value in MODEL_VARIABLE_LISTS:
        owner = dotted_name(sources.value)
        if owner is not None:
            yield owner
    elif isinstance(sources, (cst.List, cst.Tuple)):
        for element in sources.elements:
            yield from _source_owners(element.value)
    elif isinstance(sources, cst.BinaryOperation):
        yield from _source_owners(sources.left)
        yield from _source_owners(sources.right)
