"""TGF4 — tape scope: what the `tf.GradientTape` records, and what it is asked for."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import (
    DataFlow, _walk_scope, argument_for, is_certainly_tensor, name_nodes, names_in, target_names,
)
from tfgradfix.analysis.imports import dotted_name, is_integer_dtype
from tfgradfix.analysis.layer_state import declared_untrainable
from tfgradfix.analysis.objects import Kind, describe
from tfgradfix.analysis.tapes import (
    Container, GradientCall, TapeBlock, find_tape_blocks, names_bound, reaching_value, tape_block,
)
from tfgradfix.analysis.tree import contains, descendants
from tfgradfix.fixes.edits import Applicability, Edit, Fix
from tfgradfix.fixes.literals import as_floats, is_float_literal, is_integer_literal
from tfgradfix.fixes.statements import moved as moved_statement, without as without_statements
from tfgradfix.rules.base import Rule

_TAPE_TRIGGERS = ("GradientTape",)


class _TapeRule(Rule):
    """Runs its check once per `with tf.GradientTape() as tape:` block."""

    triggers = _TAPE_TRIGGERS

    def visit_With(self, node: cst.With) -> None:
        if node not in self.context.analysis.tape_blocks:
            return
        block = tape_block(self.context.scope, self.context.imports, node)
        if block is not None:
            self.check(block)

    def check(self, block: TapeBlock) -> None:
        raise NotImplementedError


def _source_names(sources: Optional[cst.BaseExpression]) -> Iterator[cst.Name]:
    if isinstance(sources, cst.Name):
        yield sources
    elif isinstance(sources, (cst.List, cst.Tuple)):
        for element in sources.elements:
            if isinstance(element.value, cst.Name):
                yield element.value


def _reads(statement: cst.CSTNode) -> set[str]:
    """Names a statement reads (its assignment targets excluded); for a compound
    statement (`if`, `for`, `try`, ...), every name in it."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return set(names_in(statement))
    read: set[str] = set()
    for small in statement.body:
        if isinstance(small, cst.Assign):
            read.update(names_in(small.value))
            for target in small.targets:
                if not isinstance(target.target, cst.Name):
                    read.update(names_in(target.target))
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            read.update(names_in(small.target))
            if small.value is not None:
                read.update(names_in(small.value))
        else:
            read.update(names_in(small))
    return read


def _simple_assignments(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)) for small in statement.body)


def _can_reorder(moved: list[cst.CSTNode], others: list[cst.CSTNode]) -> bool:
    """Moving `moved` past `others` changes nothing they read or bind."""
    for statement in moved:
        bound, read = names_bound(statement), _reads(statement)
        for other in others:
            if names_bound(other) & (read | bound) or _reads(other) & bound:
                return False
    return True


def _move_into_block(container: Container, with_node: cst.With, moved: list[cst.CSTNode], at_end: bool):
    """A container edit: `moved` leave their place and join the block's body."""
    body = list(container.body)
    with_index = body.index(with_node)
    moved_indices = [body.index(m) for m in moved]

    def build(updated: Container) -> Container:
        statements = list(updated.body)
        taken = [moved_statement(statements[i]) for i in moved_indices]
        block = statements[with_index]
        inner = list(block.body.body)
        inner = inner + taken if at_end else taken + inner
        statements[with_index] = block.with_changes(body=block.body.with_changes(body=inner))
        return updated.with_changes(body=without_statements(statements, set(moved_indices)))

    return Edit(container, build)


class LossOutsideTape(_TapeRule):
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
    why = (
        "A tape records only the operations run inside its `with` block. A loss computed after "
        "it is a tensor the tape never saw: `tape.gradient` returns `None` for every source, "
        "and `optimizer.apply_gradients` then raises `ValueError: No gradients provided for any "
        "variable`."
    )
    example = (
        "with tf.GradientTape() as tape:\n"
        "    logits = model(x, training=True)\n"
        "loss = loss_fn(y, logits)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fixed_example = (
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
            if fixable and _can_reorder(moved, others):
                fix = Fix("Move the computation into the tape block",
                          (_move_into_block(block.container, block.node, moved, at_end=True),))
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

    @staticmethod
    def _statements_computing(gradient: GradientCall, between: list[cst.CSTNode]):
        needed = set(names_in(gradient.target))
        moved: list[cst.CSTNode] = []
        fixable = True
        for statement in reversed(between):
            bound = names_bound(statement)
            if not bound & needed:
                continue
            if not _simple_assignments(statement):
                fixable = False
                break
            moved.insert(0, statement)
            needed |= _reads(statement)
        # `loss2 = loss` aliases the recorded tensor: nothing to record
        recorded = [s for s in moved if not all(isinstance(getattr(x, "value", None), cst.Name) for x in s.body)]
        return (moved if recorded else []), fixable


class ForwardOutsideTape(_TapeRule):
    code = "TGF402"
    name = "forward-outside-tape"
    summary = "the model call that feeds the target runs before the `with` block"
    message = "`{call}(...)` runs before the `with tf.GradientTape()` block: the tape did not record the forward pass, so the gradients for `{sources}` are None"
    what = (
        "Finds `outputs = model(x)` before a `with tf.GradientTape() as tape:` block whose "
        "`tape.gradient(..., model.trainable_variables)` asks for that same model's weights, "
        "when the block reads `outputs`. Also a value computed with TF ops or arithmetic from "
        "variables among the sources before the block (`w = tf.concat([a, b], 0)` then "
        "`tape.gradient(loss, [a, b])`; `kernel = self.k1 + self.k2` with "
        "`self.trainable_variables`), when the block reads it and not those variables "
        "themselves, also when it was computed once before a loop around the block. A model "
        "called before the block whose weights are not among the sources (a frozen encoder), "
        "shapes of variables, and snapshots whose variable the block also reads (`anchor = "
        "tf.identity(w)`) are fine and not reported."
    )
    why = (
        "The tape records only what runs inside the block. The forward pass ran before it, so "
        "the loss computed in the block starts from a constant: every gradient is `None`."
    )
    example = (
        "logits = model(x, training=True)\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = loss_fn(y, logits)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fixed_example = (
        "with tf.GradientTape() as tape:\n"
        "    logits = model(x, training=True)\n"
        "    loss = loss_fn(y, logits)\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
    )
    fix_safety = (
        "Safe: the forward call (or the computation from the variables) moves, with its "
        "comments, to the top of the block; it computes the same values, now recorded. When a "
        "statement in between reads its result or rebinds its inputs, or the value is computed "
        "outside a loop around the block (moving it would run it every step), or another tape "
        "block reads it too, the finding has no fix."
    )

    _DERIVED = ("`{name}` is computed from {variables} before the `with tf.GradientTape()` block: the tape did "
                "not record it, so the gradients for {variables} are None")

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
        candidates: list[tuple[cst.CSTNode, cst.Call, str]] = []
        for statement in reversed(body[:start]):
            if not _simple_assignments(statement):
                break
            for small in statement.body:
                value = getattr(small, "value", None)
                if isinstance(small, cst.Assign) and isinstance(value, cst.Call):
                    callee = dotted_name(value.func)
                    if callee in roots and names_bound(statement) & read_in_block:
                        candidates.insert(0, (statement, value, callee))
        for statement, call, callee in candidates:
            others = body[body.index(statement) + 1:start]
            others = [s for s in others if s not in {c[0] for c in candidates}]
            fix = None
            if len(statement.body) == 1 and _can_reorder([statement], others):
                fix = Fix("Move the forward pass into the tape block",
                          (_move_into_block(block.container, block.node, [statement], at_end=False),))
            self.report(call, self.message.format(call=callee, sources=f"{callee}.trainable_variables"), fix)


    def _derived_before(self, block: TapeBlock) -> None:
        """`w = tf.concat([a, b], 0)` before the block, `w` read in it, `a` and `b` among the
        sources and not read in the block themselves: the block sees a constant."""
        variables = {name for g in block.gradients for name in self._source_variables(g.sources)}
        if not variables:
            return
        asked = {id(n) for g in block.gradients for n in descendants(g.call)}  # `tape.gradient(loss, [a, b])`
        read_in_block = {dotted_name(n) for n in descendants(block.node.body)
                         if isinstance(n, (cst.Name, cst.Attribute)) and id(n) not in asked}
        bound_in_block = names_bound(block.node.body)
        # Differentiable in the variables: `tf.shape(a)[0]` or `a.shape` is not.
        roots = {v.split(".", 1)[0] for v in variables} - {"self"}  # `layer.kernel`: taint follows `layer`
        flow = DataFlow(scope=self.context.scope, imports=self.context.imports, tainted=roots)
        scope_flow = self.context.flow
        from_variables = {b.name for b in (scope_flow.bindings if scope_flow is not None else ())
                          if any(dotted_name(n) in variables for n in descendants(b.value))}
        for name in sorted(from_variables & read_in_block - bound_in_block - variables):
            value = reaching_value(block.node, name, self.context.parent)
            if value is None or value in self._reported or not (self._computed(value) and flow.is_tainted(value)):
                continue
            cut = sorted({d for n in descendants(value) if (d := dotted_name(n)) in variables} - read_in_block)
            if not cut:
                continue
            shown = ", ".join(f"`{v}`" for v in cut)
            self._reported.add(value)  # once, for the first block that reads it
            self.report(value, self._DERIVED.format(name=name, variables=shown), self._move(block, value, name))

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
            if qualified.startswith("tensorflow.") and qualified != "tensorflow.Variable":
                return True
            return isinstance(value.func, cst.Attribute) and value.func.attr.value in ("read_value", "value")
        return False

    def _move(self, block: TapeBlock, value: cst.BaseExpression, name: str) -> Optional[Fix]:
        statement = self.context.parent(self.context.parent(value))
        body = list(block.container.body)
        if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 and statement in body):
            return None  # computed in an enclosing block, once for a whole loop: moving it changes what runs
        tapes = find_tape_blocks(self.context.scope, self.context.imports)
        if any(name in names_in(b.node.body) for b in tapes if b is not block):
            return None  # another tape reads it too: one move cannot serve both
        others = body[body.index(statement) + 1:block.index]
        if not _can_reorder([statement], others):
            return None
        return Fix("Compute it inside the tape block",
                   (_move_into_block(block.container, block.node, [statement], at_end=False),))


def _source_owners(sources: Optional[cst.BaseExpression]) -> Iterator[str]:
    """`model` for `model.trainable_variables`, also inside lists and sums."""
    if isinstance(sources, cst.Attribute) and sources.attr.value in (
            "trainable_variables", "trainable_weights", "variables", "weights"):
        owner = dotted_name(sources.value)
        if owner is not None:
            yield owner
    elif isinstance(sources, (cst.List, cst.Tuple)):
        for element in sources.elements:
            yield from _source_owners(element.value)
    elif isinstance(sources, cst.BinaryOperation):
        yield from _source_owners(sources.left)
        yield from _source_owners(sources.right)


class UnwatchedSource(_TapeRule):
    code = "TGF403"
    name = "unwatched-source"
    summary = "`tape.gradient(y, x)` where `x` is a plain tensor the tape never watches"
    message = "`{name}` is a tensor, not a variable, and the tape never watches it: `tape.gradient` returns None for it"
    what = (
        "Finds `tape.gradient(y, x)` where `x` is a tensor created before the block "
        "(`tf.constant`, `tf.convert_to_tensor`, a TF op's result) and the block never calls "
        "`tape.watch(x)`. What counts is the binding that reaches the block: a parameter "
        "rebound as `x = tf.convert_to_tensor(x)` (or `tf.cast`, any TF op) before it is a "
        "tensor. Not reported for `tf.Variable`s, lists of trainable variables, tensors "
        "computed inside the block (the tape records those), parameters that reach it as passed "
        "(a caller may pass a variable), a name rebound only inside an `if` or in a loop "
        "around the block, or when `watch` is already there."
    )
    why = (
        "A tape watches trainable `tf.Variable`s automatically, never plain tensors: unless "
        "`tape.watch(x)` runs inside the block, the operations on `x` are not recorded and the "
        "gradient with respect to it is `None` (input saliency maps, adversarial examples, "
        "physics-informed losses)."
    )
    example = (
        "x = tf.constant([[1.0, 2.0]])\n"
        "with tf.GradientTape() as tape:\n"
        "    y = model(x)\n"
        "saliency = tape.gradient(y, x)\n"
    )
    fixed_example = (
        "x = tf.constant([[1.0, 2.0]])\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = model(x)\n"
        "saliency = tape.gradient(y, x)\n"
    )
    fix_safety = (
        "Safe: `tape.watch(x)` becomes the first statement of the block; no value changes. "
        "Differentiating with respect to `model.inputs` / `model.input` is reported without a "
        "fix: those are the model's symbolic placeholders, never the tensor the tape saw."
    )
    _SYMBOLIC = ("`{owner}` is the model's symbolic input, not the tensor that ran through it: the "
                 "gradient is None; watch and differentiate with respect to the batch itself")

    def check(self, block: TapeBlock) -> None:
        flow = self.context.flow
        if flow is None:
            return
        for gradient in block.gradients:
            sources = gradient.sources
            if isinstance(sources, cst.Attribute) and sources.attr.value in ("input", "inputs"):
                owner = cst.Module(body=[]).code_for_node(sources)
                self.report(sources, self._SYMBOLIC.format(owner=owner))
                continue
            for source in _source_names(sources):
                name = source.value
                if name in block.watched or _integer_bindings(self, name) is not None:
                    continue
                bindings = [b for b in flow.bindings if b.name == name]
                if not bindings or any(contains(block.node, b.statement) for b in bindings):
                    continue
                # The binding that reaches the block decides: `x = tf.convert_to_tensor(x)` makes a
                # tensor of a parameter that could have been anything.
                reaching = reaching_value(block.node, name, self.context.parent)
                if not is_certainly_tensor(flow, source if reaching is None else reaching):
                    continue
                watch = cst.parse_statement(f"{block.name}.watch({name})\n")

                def build(updated: cst.With, watch=watch) -> cst.With:
                    return updated.with_changes(body=updated.body.with_changes(body=[watch, *updated.body.body]))

                fix = Fix(f"Watch `{name}` at the top of the block", (Edit(block.node, build),))
                self.report(source, self.message.format(name=name), fix)


def _integer_bindings(rule: Rule, name: str) -> Optional[list[cst.Call]]:
    """The constructors that bind `name`, when every one makes an integer tensor."""
    if rule.context.flow is None:
        return None
    return _integer_constructors(rule.context.scope, cst.Name(name))


def _integer_constructors(scope, expr: cst.BaseExpression, depth: int = 0) -> Optional[list[cst.Call]]:
    """The constructors `expr` comes from, when every one makes an integer tensor: through
    the names that bind it, and for a parameter, what every caller in the module passes."""
    if isinstance(expr, cst.Call):
        return [expr] if _makes_integer_tensor(scope, expr) else None
    if not isinstance(expr, cst.Name) or depth > 4:
        return None
    if scope.flow is not None:
        values = [b.value for b in scope.flow.bindings if b.name == expr.value]
    else:
        values = [v for v in scope.local_definitions().get(expr.value, []) if isinstance(v, cst.BaseExpression)]
    passed = []
    if not values and expr.value in scope.parameter_names:
        for caller, call in scope.module.callers_of(scope):
            passed.append((caller, argument_for(scope.node, call, expr.value)))
    calls: list[cst.Call] = []
    for where, value in [(scope, v) for v in values] + passed:
        found = _integer_constructors(where, value, depth + 1) if value is not None else None
        if found is None:
            return None
        calls.extend(found)
    return calls or None


def _makes_integer_tensor(scope, value: cst.Call) -> bool:
    imports = scope.module.imports
    qualified = imports.resolve(value.func)
    dtype = next((a.value for a in value.args if a.keyword is not None and a.keyword.value == "dtype"), None)
    if dtype is not None:
        return is_integer_dtype(scope.dtype_name(dtype))
    if qualified in ("tensorflow.constant", "tensorflow.Variable", "tensorflow.convert_to_tensor"):
        return bool(value.args) and is_integer_literal(value.args[0].value)
    return qualified == "tensorflow.range" and not any(
        is_float_literal(a.value) for a in value.args if a.keyword is None)


class IntegerSource(_TapeRule):
    code = "TGF404"
    name = "integer-source"
    summary = "gradient taken with respect to an integer tensor"
    message = "`{name}` is an integer tensor: gradients exist only for floating-point sources, so this one is None"
    what = (
        "Finds `tape.gradient(y, x)` where `x` is an integer tensor: `tf.constant(3)`, "
        "`tf.Variable(2)`, `tf.constant([1, 2])`, `tf.range(5)`, or a constructor with an integer "
        "`dtype`. Both the tensor and its dtype are followed to the module's callers: a helper "
        "`def sensitivity(f, x)` called with `tf.constant([1, 2])`, or `tf.constant(v, "
        "dtype=dtype)` where every caller passes `tf.int32`."
    )
    why = (
        "TensorFlow differentiates only floating-point (and complex) tensors. For an integer "
        "source the tape logs `The dtype of the source tensor must be floating` and returns "
        "`None`; an integer `tf.Variable` is not even watched."
    )
    example = (
        "x = tf.constant(3)\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = x * x\n"
        "dy_dx = tape.gradient(y, x)\n"
    )
    fixed_example = (
        "x = tf.constant(3.0)\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = x * x\n"
        "dy_dx = tape.gradient(y, x)\n"
    )
    fix_safety = (
        "Unsafe (applied with `--unsafe-fixes`): integer literals in the constructor become "
        "floats (`3` -> `3.0`), which changes the tensor's dtype and so the results of integer "
        "arithmetic downstream (`7 // 2`). Constructors with an explicit integer `dtype` are "
        "reported without a fix."
    )

    def check(self, block: TapeBlock) -> None:
        for gradient in block.gradients:
            for source in _source_names(gradient.sources):
                calls = _integer_bindings(self, source.value)
                if calls is None:
                    continue
                fix = None
                literal = all(
                    self.context.imports.resolve(c.func) in ("tensorflow.constant", "tensorflow.Variable")
                    and not any(a.keyword is not None for a in c.args) for c in calls)
                if literal:
                    edits = tuple(Edit(c.args[0].value, as_floats(c.args[0].value)) for c in calls)
                    fix = Fix("Use float literals", edits, Applicability.UNSAFE)
                self.report(source, self.message.format(name=source.value), fix)


class NonTrainableInSources(_TapeRule):
    code = "TGF405"
    name = "non-trainable-in-sources"
    summary = "`tape.gradient(loss, model.variables / .weights)` on a model that holds non-trainable variables"
    message = "`{owner}.{attr}` includes non-trainable variables ({why}): their gradients are None"
    what = (
        "Finds `tape.gradient(loss, model.variables)` and `tape.gradient(loss, model.weights)` "
        "(also through a name bound to them) when `model` is a Keras model or layer, or a "
        "`tf.Module`, that holds non-trainable variables: it is built, in the module, with "
        "BatchNormalization, Normalization or another stateful layer (Keras 3's Dropout, "
        "noise and random augmentation layers keep a seed state variable), a weight made with "
        "`trainable=False`, a part frozen with `.trainable = False`, or a "
        "`keras.applications` network that uses BatchNormalization. What `model` is comes from "
        "where its value is made: an assignment in the function or module, what the module's "
        "callers pass for a parameter, `self.attr = ...` in the class, a module function that "
        "returns it. `tf.Module`s and layers whose variables are all trainable, plain Python "
        "objects with their own `weights`, and objects the module cannot tell are not reported."
    )
    why = (
        "`variables` and `weights` include non-trainable state such as BatchNormalization's "
        "moving mean and variance. The tape returns `None` for those, and "
        "`optimizer.apply_gradients` warns `Gradients do not exist for variables` (or raises "
        "for a list that has only such variables)."
    )
    example = (
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),\n"
        "                          keras.layers.BatchNormalization(), keras.layers.Dense(1)])\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = loss_fn(y, model(x, training=True))\n"
        "grads = tape.gradient(loss, model.variables)\n"
        "optimizer.apply_gradients(zip(grads, model.variables))\n"
    )
    fixed_example = (
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),\n"
        "                          keras.layers.BatchNormalization(), keras.layers.Dense(1)])\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = loss_fn(y, model(x, training=True))\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
        "optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
    )
    fix_safety = (
        "Safe: the sources become `trainable_variables` (`trainable_weights`), and so does every "
        "list the gradients are paired with in the function, so both keep the same order: "
        "`zip(grads, model.variables)` anywhere (inside `apply_gradients(...)`, comprehensions, "
        "after `tf.clip_by_global_norm`), positional calls such as `optimizer.apply(grads, "
        "model.variables)`, and a name bound to `model.variables` that is used for both. When "
        "the gradients go where the pairing cannot be seen (a helper of the module, another "
        "list, a caller that zips the returned gradients), the finding has no fix."
    )
    _TRAINABLE = {"variables": "trainable_variables", "weights": "trainable_weights"}
    # Calls that pair gradients with variables by position.
    _PAIRING_METHODS = ("apply_gradients", "apply", "minimize")

    def check(self, block: TapeBlock) -> None:
        for gradient in block.gradients:
            listed = self._listed(gradient.sources)
            if listed is None:
                continue
            attribute, alias = listed
            owner = dotted_name(attribute.value)
            if owner is None or self.context.imports.resolve(attribute.value) is not None:
                continue
            model = describe(self.context.scope, attribute.value)
            if not ((model.is_keras or model.kind is Kind.TF_MODULE) and model.non_trainable):
                continue
            fix = None
            paired = self._paired(gradient, attribute, alias)
            if paired is not None:
                edits = tuple(
                    Edit(a, a.with_changes(attr=cst.Name(self._TRAINABLE[a.attr.value])))
                    for a in [attribute, *paired])
                fix = Fix(f"Use `{owner}.{self._TRAINABLE[attribute.attr.value]}`", edits)
            why = "frozen or stateful parts" if model.kind is not Kind.TF_MODULE else "`trainable=False`"
            self.report(gradient.sources, self.message.format(owner=owner, attr=attribute.attr.value, why=why), fix)

    def _listed(self, sources: Optional[cst.BaseExpression]) -> Optional[tuple[cst.Attribute, Optional[str]]]:
        """`model.variables` as the sources, directly or through a name bound once to it."""
        if isinstance(sources, cst.Attribute) and sources.attr.value in self._TRAINABLE:
            return sources, None
        flow = self.context.flow
        if isinstance(sources, cst.Name) and flow is not None:
            values = [b.value for b in flow.bindings if b.name == sources.value]
            if (len(values) == 1 and isinstance(values[0], cst.Attribute)
                    and values[0].attr.value in self._TRAINABLE):
                return values[0], sources.value
        return None

    def _paired(self, gradient: GradientCall, attribute: cst.Attribute,
                alias: Optional[str]) -> Optional[list[cst.Attribute]]:
        """Every `owner.variables` the gradients are paired with, or None when some
        pairing cannot be followed."""
        scope = self.context.scope
        flow = self.context.flow
        if flow is None:
            return None
        listed = dotted_name(attribute)
        trainable = f"{dotted_name(attribute.value)}.{self._TRAINABLE[attribute.attr.value]}"
        grads = self._gradient_names(gradient, flow)
        if grads is None:
            return None

        def is_gradients(expr: cst.BaseExpression) -> bool:
            return expr is gradient.call or any(n in grads for n in names_in(expr))

        paired: list[cst.Attribute] = []
        paired_alias = 0
        for node in _walk_scope(scope.body):
            if isinstance(node, cst.Return) and node.value is not None and is_gradients(node.value):
                if not self._callers_keep_apart(scope):
                    return None
            if not isinstance(node, cst.Call) or node is gradient.call:
                continue
            if not any(is_gradients(a.value) for a in node.args):
                continue
            callee = node.func
            pairing = (isinstance(callee, cst.Name) and callee.value == "zip") or (
                isinstance(callee, cst.Attribute) and callee.attr.value in self._PAIRING_METHODS)
            if not pairing:
                qualified = self.context.imports.resolve(callee) or ""
                if qualified.split(".", 1)[0] in ("tensorflow", "keras") or (
                        isinstance(callee, cst.Name) and callee.value in ("len", "print", "list", "tuple",
                                                                          "enumerate", "any", "all")):
                    continue  # an op over the gradients that keeps their order
                return None
            for arg in node.args:
                value = arg.value
                if is_gradients(value):
                    continue
                text = dotted_name(value)
                if text == listed and isinstance(value, cst.Attribute):
                    paired.append(value)
                elif text is not None and text in (alias, trainable):
                    paired_alias += text == alias
                elif arg.keyword is None:
                    return None  # paired with some other list
        if alias is not None and paired_alias + 1 != self._reads_of(alias):
            return None  # the bound list is used apart from the gradients too
        return paired

    def _reads_of(self, name: str) -> int:
        """How many times the scope reads `name` (every mention, less the assignments to it)."""
        flow = self.context.flow
        mentions = sum(1 for statement in self.context.scope.body for n in name_nodes(statement) if n.value == name)
        return mentions - sum(1 for b in flow.bindings if b.name == name) if flow is not None else mentions

    @staticmethod
    def _gradient_names(gradient: GradientCall, flow) -> Optional[set[str]]:
        """The names that hold the gradients, and those computed from them
        (`grads, _ = tf.clip_by_global_norm(grads, 5.0)`)."""
        statement = gradient.statement
        small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else None
        names: set[str] = set()
        if isinstance(small, cst.Assign) and small.value is gradient.call:
            if not all(isinstance(t.target, cst.Name) for t in small.targets):
                return None
            names = {t.target.value for t in small.targets}
        changed = True
        while changed:
            changed = False
            for binding in flow.bindings:
                if binding.name not in names and (
                        binding.value is gradient.call or set(names_in(binding.value)) & names):
                    names.add(binding.name)
                    changed = True
        return names

    def _callers_keep_apart(self, scope) -> bool:
        """Whether no caller in the module zips the gradients this function returns
        with variables of its own."""
        for caller, call in self.context.analysis.callers_of(scope):
            bound = {name for node in _walk_scope(caller.body) if isinstance(node, cst.Assign) and node.value is call
                     for t in node.targets for name in target_names(t.target)}
            for node in _walk_scope(caller.body):
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "zip":
                    if contains(node, call):
                        return False
                    if bound & set(names_in(node)):
                        return False
        return True
