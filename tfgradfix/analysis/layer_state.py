"""Where a Keras layer's variables are created, stored and read: the facts the TGF2
rules share."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import names_in, target_names
from tfgradfix.analysis.keras import FORWARD_METHODS, is_weight_constructor, self_attribute
from tfgradfix.analysis.literals import is_false
from tfgradfix.analysis.tree import contains, descendants
from tfgradfix.analysis.values import Kind, kind_of, value_reads
from tfgradfix.analysis.vocabulary import GRADIENT_METHODS, TF_VARIABLE

ASSIGNS = ("assign", "assign_add", "assign_sub")


def creates(context, node: cst.Call) -> Optional[str]:
    """"variable" for `tf.Variable(...)`, "weight" for `*.add_weight(...)`, else None."""
    if context.imports.resolve(node.func) in TF_VARIABLE:
        return "variable"
    if isinstance(node.func, cst.Attribute) and node.func.attr.value == "add_weight":
        return "weight"
    return None


def integer_constant(context, constructor: cst.Call) -> bool:
    """A `tf.Variable` of integers (`tf.Variable(range(n))`, `dtype=tf.int32`) that no code
    writes with `.assign*()`: a constant tensor (indices, a lookup table), neither a weight
    that could train nor state that a new variable would lose."""
    flow = context.flow
    return flow is not None and kind_of(flow, constructor) is Kind.INTEGER and _never_written(context, constructor)


def snapshot(context, constructor: cst.Call) -> bool:
    """A `tf.Variable` made from a value the enclosing function computed (from its parameters
    or from what it bound or stored on `self` before), that no code writes with `.assign*()`:
    it holds this call's result for code that reads it later (a CRF layer's transition matrix
    kept for decoding), and carries nothing from one call to the next."""
    initial = _initial_value(constructor)
    if initial is None or not _never_written(context, constructor):
        return False
    function = context.scope.node
    bound = {p.name.value for p in function.params.params[1:]}
    stored: set[str] = set()
    for node in descendants(function.body):
        if isinstance(node, cst.Assign) and node.value is not constructor:
            for target in node.targets:
                bound.update(target_names(target.target))
                attr = self_attribute(target.target)
                if attr is not None:
                    stored.add(attr)
                elif isinstance(target.target, cst.Tuple):
                    stored.update(a for e in target.target.elements if (a := self_attribute(e.value)) is not None)
    return any((isinstance(n, cst.Name) and n.value in bound) or self_attribute(n) in stored
               for n in (initial, *descendants(initial)))


def perturbation(context, constructor: cst.Call) -> bool:
    """A `tf.Variable` made from what a gradient computed (`tf.Variable(tf.nn.l2_normalize(grad,
    1) * eps)`), or one the function itself differentiates against (`tape.gradient(loss,
    self.delta)`): an adversarial perturbation, a value the code computes by differentiating,
    not a weight an optimizer trains (a weight starts from a fill of a shape)."""
    function = context.scope.node
    flow = context.flow
    if flow is None:
        return False
    gradients = [n for n in descendants(function.body) if isinstance(n, cst.Call) and _is_gradient(context, n)]
    if not gradients:
        return False
    derived: set[str] = set()
    for binding in flow.bindings:  # in order: a name bound from a gradient, or from such names
        if any(contains(binding.value, g) for g in gradients) or not derived.isdisjoint(names_in(binding.value)):
            derived.add(binding.name)
    initial = _initial_value(constructor)
    if initial is not None and any(isinstance(n, cst.Name) and n.value in derived
                                   for n in value_reads(initial, context.imports)):
        return True
    attr, local = stored_on(context, constructor), _bound_local(context, constructor)
    for gradient in gradients:
        sources = gradient.args[1].value if len(gradient.args) > 1 else None
        for node in (sources, *descendants(sources)) if sources is not None else ():
            if (attr is not None and self_attribute(node) == attr) or (
                    local is not None and isinstance(node, cst.Name) and node.value == local):
                return True
    return False


def _is_gradient(context, call: cst.Call) -> bool:
    return (isinstance(call.func, cst.Attribute) and call.func.attr.value in GRADIENT_METHODS
            or context.imports.resolve(call.func) == "tensorflow.gradients")


def sliced_buffer(context, constructor: cst.Call) -> bool:
    """A `tf.Variable` bound to a local that the function fills slice by slice
    (`y[:, i, j].assign(...)`): an output buffer, neither a weight to train nor state kept
    across calls. (What its `assign` cuts is TGF208's finding.)"""
    local = _bound_local(context, constructor)
    return local is not None and any(_writes(node, lambda receiver: isinstance(receiver, cst.Subscript)
                       and isinstance(receiver.value, cst.Name) and receiver.value.value == local)
               for node in descendants(context.scope.node))


def _never_written(context, constructor: cst.Call) -> bool:
    """No code writes the variable `constructor` makes with `.assign*()`: it is used where it
    is made, or stored on `self.<attr>` or in a local that nothing assigns to."""
    parent = context.parent(constructor)
    if isinstance(parent, cst.Arg):
        return True  # used where it is made: nothing else holds it to write it
    attr = stored_on(context, constructor)
    if attr is not None:
        cls = context.scope.keras_class
        methods = [m for c in cls.lineage() for m in c.methods.values()] if cls is not None else []
        return not any(_writes(node, lambda receiver: self_attribute(receiver) == attr)
                       for method in methods for node in descendants(method))
    local = _bound_local(context, constructor)
    if local is not None:
        return not any(_writes(node, lambda receiver: isinstance(receiver, cst.Name) and receiver.value == local)
                       for node in descendants(context.scope.node))
    return False


def _initial_value(constructor: cst.Call) -> Optional[cst.BaseExpression]:
    """What `tf.Variable(value)` or `tf.Variable(initial_value=value)` starts from."""
    if constructor.args and constructor.args[0].keyword is None:
        return constructor.args[0].value
    return keyword_value(constructor, "initial_value")


def _bound_local(context, constructor: cst.Call) -> Optional[str]:
    """The local `name` of `name = tf.Variable(...)`, if the variable is bound to one by itself."""
    parent = context.parent(constructor)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
        return parent.targets[0].target.value
    return None


def _writes(node: cst.CSTNode, is_receiver) -> bool:
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value.startswith(("assign", "scatter")) and is_receiver(node.func.value))


def stored_on(context, node: cst.CSTNode) -> Optional[str]:
    """The `self.<attr>` that ends up holding `node`: assigned directly, inside a list,
    tuple, dict or comprehension, or appended to `self.<attr>`."""
    parent_of = context.parent
    while True:
        parent = parent_of(node)
        if isinstance(parent, (cst.Element, cst.DictElement, cst.List, cst.Tuple, cst.Dict, cst.ListComp,
                               cst.DictComp, cst.StarredElement)):
            node = parent
            continue
        if isinstance(parent, cst.Arg):
            call = parent_of(parent)
            if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value in ("append", "extend", "insert", "add")):
                return self_attribute(call.func.value)
            return None
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
            for target in targets:
                base = target.value if isinstance(target, cst.Subscript) else target
                attr = self_attribute(base)
                if attr is not None:
                    return attr
        return None


def replaced_next(context, node: cst.CSTNode, attr: str) -> bool:
    """`self.<attr> = node` is followed, in the same block, by another `self.<attr> = ...` (a
    variable made only to compute what the attribute really holds: `self.memory = tf.tile(
    self.memory[None], ...)`): the attribute never holds `node` past that statement."""
    statement: Optional[cst.CSTNode] = node
    while statement is not None and not isinstance(statement, cst.SimpleStatementLine):
        statement = context.parent(statement)
    block = context.parent(statement) if statement is not None else None
    if not isinstance(block, (cst.IndentedBlock, cst.Module)):
        return False
    later = block.body[block.body.index(statement) + 1:]
    return any(isinstance(small, cst.Assign) and any(self_attribute(t.target) == attr for t in small.targets)
               for line in later if isinstance(line, cst.SimpleStatementLine) for small in line.body)


def read_only_where_made(context, cls, attr: str, method: cst.FunctionDef) -> bool:
    """`self.<attr>` is read only by `method`, which made it, and there only by TensorFlow ops or
    arithmetic (no other method of the class, no `.<attr>` of another object anywhere in the module,
    no object handed it): a variable used only to compute other values once (`self.table =
    tf.concat([self.table, self.extra], 0)` in `__init__`), whose fate is that computation's, not
    its own tracking."""
    own = [m for c in cls.lineage() for m in c.methods.values() if m is not method]
    if any(_reads(node, attr) for m in own for node in descendants(m)):
        return False
    if context.analysis.uses_off_an_object(attr):
        return False  # `layer.table`, here or read in another module
    if any(_reads(node, attr) and _runs_later(context, node, method) for node in descendants(method)):
        return False  # `self.affine = lambda x: x * self.gamma`: read on every call of the lambda
    reads = [n for n in descendants(method) if _reads(n, attr)
             and not isinstance(context.parent(n), cst.AssignTarget)]
    return bool(reads) and all(_computed_with(context, read) for read in reads)


def _runs_later(context, node: cst.CSTNode, method: cst.FunctionDef) -> bool:
    """`node` is in a `lambda` or a function defined in `method`: it runs when that is called."""
    parent = context.parent(node)
    while parent is not None and parent is not method:
        if isinstance(parent, (cst.Lambda, cst.FunctionDef)):
            return True
        parent = context.parent(parent)
    return False


def _computed_with(context, read: cst.CSTNode) -> bool:
    """The value is an operand of arithmetic or an argument of a TensorFlow op (`tf.concat`,
    `tf.expand_dims`), not of a constructor that keeps it (`tfp.bijectors.Shift(shift=...)`)."""
    node, parent = read, context.parent(read)
    while parent is not None and not isinstance(parent, cst.BaseSmallStatement):
        if isinstance(parent, cst.BinaryOperation):
            return True
        if isinstance(parent, cst.Call) and node is not parent.func:
            qualified = context.imports.resolve(parent.func) or ""
            last = qualified.rsplit(".", 1)[-1]
            return qualified.startswith("tensorflow.") and last[:1].islower()
        node, parent = parent, context.parent(parent)
    return False


def _reads(node: cst.CSTNode, attr: str) -> bool:
    return isinstance(node, cst.Attribute) and self_attribute(node) == attr


def keyword_value(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def assigned_attributes(module: cst.Module) -> set[str]:
    """Attributes updated by `<owner>.<attr>.assign*(...)` somewhere in the module: those
    variables get their values from code (moving averages, target networks, power
    iteration), not from gradients."""
    found = set()
    for node in descendants(module):
        if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in ASSIGNS
                and isinstance(node.func.value, cst.Attribute)):
            found.add(node.func.value.attr.value)
    return found


def declared_untrainable(cls, attr: str, imports) -> bool:
    """`self.<attr> = self.add_weight(..., trainable=False)` (or `tf.Variable`) in the class or its parents."""
    for owner in cls.lineage():
        for method in owner.methods.values():
            for node in descendants(method):
                if (isinstance(node, cst.Assign) and isinstance(node.value, cst.Call)
                        and any(self_attribute(t.target) == attr for t in node.targets)
                        and is_weight_constructor(node.value, imports)
                        and is_false(keyword_value(node.value, "trainable"))):
                    return True
    return False


def read_by_call(cls, attr: str) -> bool:
    """`self.<attr>` read by the class's own forward methods (`call`, `__call__`,
    `train_step`), the methods they call on `self` and the properties they read: what the
    layer computes with, as opposed to what only a loss or training method reads."""
    pending = list(FORWARD_METHODS)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for method in _definitions(cls, name):
            for node in descendants(method):
                read = self_attribute(node)
                if read == attr:
                    return True
                if read is not None:
                    pending.append(read)  # a method it calls, or a property it reads (`self.kernel`)
    return False


def _definitions(cls, name: str) -> list[cst.FunctionDef]:
    """Every `def <name>` of the nearest class in the lineage that has one (a property's
    getter and its setter share the name)."""
    for owner in cls.lineage():
        found = [s for s in owner.node.body.body if isinstance(s, cst.FunctionDef) and s.name.value == name]
        if found:
            return found
    return []


def read_in_forward(context, cls, attr: str) -> bool:
    """`self.<attr>` read (not only assigned or `.assign*`ed) by a forward-path method."""
    for scope in context.analysis.scopes.values():
        if not scope.forward or scope.keras_class is None or cls not in list(scope.keras_class.lineage()):
            continue
        for node in descendants(scope.node):
            if self_attribute(node) != attr:
                continue
            parent = context.parent(node)
            if isinstance(parent, cst.Attribute) and parent.attr.value in ASSIGNS:
                continue
            if isinstance(parent, cst.AssignTarget):
                continue
            return True
    return False


# Between a statement and its function: what runs once per iteration, or later.
_REPEATS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp, cst.Lambda,
            cst.FunctionDef)


def repeated_in(context, node: cst.CSTNode, function: cst.FunctionDef) -> bool:
    """Whether `node` runs in a loop, comprehension, lambda or nested function of `function`."""
    parent = context.parent(node)
    while parent is not None and parent is not function:
        if isinstance(parent, _REPEATS):
            return True
        parent = context.parent(parent)
    return False


def attribute_values(cls) -> dict[str, cst.BaseExpression]:
    """`"self.<attr>"` -> its value, for the attributes the class (and its module parents)
    assign exactly once."""
    values: dict[str, list[cst.BaseExpression]] = {}
    for c in cls.lineage():
        for method in c.methods.values():
            for node in descendants(method):
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        attr = self_attribute(target.target)
                        if attr is not None:
                            values.setdefault(f"self.{attr}", []).append(node.value)
    return {name: found[0] for name, found in values.items() if len(found) == 1}


def integer_names(cls) -> frozenset[str]:
    """Names that hold a Python int by what the class says: parameters of its methods
    annotated `int` or defaulting to an integer literal (`units=32`), and the `self.<attr>`
    assigned once from one of those or from an integer literal. A shape argument of
    `np.zeros(n)` that is one of these is a length, not a shape."""
    names: set[str] = set()
    for c in cls.lineage():
        for method in c.methods.values():
            params = method.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                annotation = param.annotation.annotation if param.annotation is not None else None
                if (isinstance(annotation, cst.Name) and annotation.value == "int") or (
                        param.default is not None and _integer(param.default)):
                    names.add(param.name.value)
    for attr, value in attribute_values(cls).items():
        if _integer(value) or (isinstance(value, cst.Name) and value.value in names):
            names.add(attr)
    return frozenset(names)


def _integer(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer) or (
        isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus) and _integer(expr.expression))


def known_values(context, cls) -> dict[str, cst.BaseExpression]:
    """What a weight's initial value may name: the function's single-bound locals and the
    layer's single-bound attributes."""
    return {**attribute_values(cls), **context.scope.analyse().single_values()}
