"""What a tape differentiates: the objects whose variables are its `tape.gradient` sources,
and the other models called under it, whose outputs are constants to those sources.

`tape.gradient(loss, self.model.trainable_variables)` asks for the gradient with respect
to `self.model`'s variables only. A DQN's `self.target_model(next_states)` under the same
tape carries a gradient to the target network's variables, which nobody asks for: NumPy
on it, or a `stop_gradient` around it, loses nothing. An object is named by its dotted
name (`self.model`, `target`); one object is part of another when its name extends the
other's (`self.model.encoder` is part of `self.model`).

When the sources are not known (a parameter no caller of the module says the value of,
`tape.watched_variables()`, variables listed one by one, anything not spelled as a model's
variables), nothing is restricted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Iterable, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import Blocking, DataFlow, argument_for, names_in, tainted_parameters, walk_scope
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.tape_constants import computed_before
from tfgradfix.analysis.rebinding import rebinding_of
from tfgradfix.analysis.tapes import TapeBlock, find_tape_blocks, reaching_value
from tfgradfix.analysis.tree import contains
from tfgradfix.analysis.vocabulary import MODEL_VARIABLE_LISTS

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import Scope

# Methods that run an object's forward pass.
_FORWARD_ATTRIBUTES = frozenset({"call", "__call__"})
_DEPTH = 6
# How many helpers deep a helper's callers are followed up to the tape that runs them.
_CALLER_DEPTH = 5


def gradient_objects(scope: "Scope", sources: Optional[cst.BaseExpression],
                     start: int = 0) -> Optional[frozenset[str]]:
    """The objects whose variables `sources` lists: `m.trainable_variables`, lists and sums of
    those, a name bound once to one of those, a parameter every caller passes one of those
    for; None when that is not what it is."""
    flow = _flow(scope)
    found: set[str] = set()
    work: list[tuple[Optional[cst.BaseExpression], int]] = [(sources, start)]
    while work:
        expr, depth = work.pop()
        if expr is None or depth > _DEPTH:
            return None
        if isinstance(expr, cst.Attribute) and expr.attr.value in MODEL_VARIABLE_LISTS:
            key = dotted_name(expr.value)
            if key is None:
                return None
            found.add(key)
        elif isinstance(expr, (cst.List, cst.Tuple)) and expr.elements:
            work.extend((e.value, depth + 1) for e in expr.elements)
        elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            work.extend([(expr.left, depth + 1), (expr.right, depth + 1)])
        elif isinstance(expr, cst.Name) and expr.value in scope.parameter_names:
            passed = _passed_sources(scope, expr.value, depth)
            if passed is None:
                return None
            found |= passed
        elif isinstance(expr, cst.Name):
            value = bound_value(scope, flow, expr)
            if value is None:
                return None
            work.append((value, depth + 1))
        else:
            return None
    return frozenset(found) or None


def bound_value(scope: "Scope", flow: DataFlow, name: cst.Name) -> Optional[cst.BaseExpression]:
    """The one value `name` holds where it is read: its only binding, or, where it is bound
    again for another update (`variables = actor_vars` ... `variables = [self.log_alpha]`), the
    binding that reaches the read on every path (`rebinding.reaching`); None when the code does
    not say which."""
    values = [b.value for b in flow.bindings if b.name == name.value]
    if len(values) == 1:
        return values[0]
    rebinding = rebinding_of(scope)
    statement = rebinding.statement_of(name) if values else None
    return reaching_value(statement, name.value, rebinding.parent_of) if statement is not None else None


def _passed_sources(scope: "Scope", parameter: str, depth: int) -> Optional[frozenset[str]]:
    """Sources given as a parameter (`def grad(self, batch, trainables)`): the objects every
    caller in the module passes the variables of (`self.grad(batch, self.mlp.trainable_weights)`),
    where the objects of a method's caller are named as the method names them (`self.` is the
    same instance). None when a caller is unknown or passes something else."""
    node = scope.node
    if depth >= _DEPTH or not isinstance(node, cst.FunctionDef):
        return None
    callers = scope.module.callers_of(scope)
    if not callers:
        return None
    found: set[str] = set()
    for caller, call in callers:
        if caller is scope:
            return None
        argument = argument_for(node, call, parameter)
        objects = gradient_objects(caller, argument, depth + 1) if argument is not None else None
        if objects is None or _other_self(caller, scope, objects):
            return None
        found |= objects
    return frozenset(found)


def block_objects(scope: "Scope", block: TapeBlock) -> Optional[frozenset[str]]:
    """The objects every `tape.gradient` of the block differentiates; None when one is unknown."""
    if not block.gradients:
        return None
    found: set[str] = set()
    for gradient in block.gradients:
        objects = gradient_objects(scope, gradient.sources)
        if objects is None:
            return None
        found |= objects
    return frozenset(found)


def caller_tape_objects(scope: "Scope", depth: int = 0) -> Optional[frozenset[str]]:
    """For a helper that every caller of the module runs under a tape (or from a helper so run):
    the objects those tapes differentiate, named as the helper names them (`self.` is the same
    instance only in a method of the same class). None when a caller is unknown (another module's,
    a Keras forward pass) or one of those tapes' sources is."""
    if depth > _CALLER_DEPTH or not isinstance(scope.node, cst.FunctionDef) or scope.is_keras_forward \
            or scope.external_callers:
        return None
    found: set[str] = set()
    for caller, call in scope.module.callers_of(scope):
        if caller is scope:
            return None
        blocks = enclosing_blocks(caller, call) if caller.tape_blocks else []
        if not blocks and not caller.forward:
            continue  # a call off every path (a validation loop): it differentiates nothing
        objects: Optional[frozenset[str]] = None
        if blocks:
            objects = node_objects(caller, call, blocks)
        else:
            objects = caller_tape_objects(caller, depth + 1)
        if objects is None or _other_self(caller, scope, objects):
            return None
        found |= objects
    return frozenset(found) or None


def _other_self(caller: "Scope", scope: "Scope", objects: Iterable[str]) -> bool:
    """`self.x` named by a caller means another object in `scope`: `self` is another instance."""
    return _instance_class(caller) is not _instance_class(scope) and any(o.split(".")[0] == "self" for o in objects)


def _instance_class(scope: "Scope") -> Optional[cst.ClassDef]:
    """The class whose `self` the scope reads: its own, or its enclosing method's (a helper
    nested in a method closes over `self`)."""
    current: Optional["Scope"] = scope
    while current is not None and current.owner is None:
        current = current.enclosing
    return current.owner if current is not None else None


def helper_restricted(scope: "Scope", blocking: Blocking, depth: int = 0) -> Optional[Blocking]:
    """`blocking` for a helper the tapes of its callers run: what each caller passes carries a
    gradient only as that caller's tape sees it (not what it computed before the tape opened),
    and where those tapes' sources are known, the models none of them differentiates carry no
    gradient, here and in what each caller passes (a frozen depth network's output handed down
    through helpers is data); None when nothing narrows it or a caller is unknown."""
    if depth > _CALLER_DEPTH or not isinstance(scope.node, cst.FunctionDef) or scope.is_keras_forward \
            or scope.external_callers:
        return None
    objects = caller_tape_objects(scope)
    kept: set[str] = set()
    passed: set[str] = set()  # what the callers pass, as their whole scope sees it
    for caller, call in scope.module.callers_of(scope):
        if caller is scope:
            return None
        blocks = enclosing_blocks(caller, call) if caller.tape_blocks else []
        if not blocks and not caller.forward:
            continue
        narrowed = restricted(caller, blocks, blocking, call) if blocks else \
            helper_restricted(caller, blocking, depth + 1)
        whole = caller.flow or caller.analyse()
        kept |= tainted_parameters(scope.node, call, caller.analyse(narrowed) if narrowed is not None else whole)
        passed |= tainted_parameters(scope.node, call, whole)
    if objects:
        narrowed = excluding_others(scope, objects, blocking) or blocking
        return replace(narrowed, parameters_kept=frozenset(kept), only_sources=frozenset(objects))
    # Only where these callers are all that put the parameters on the path (not a function
    # handed to `Lambda` or `tf.map_fn`).
    if scope.tainted_params <= passed and scope.tainted_params - kept:
        return replace(blocking, parameters_kept=frozenset(kept))
    return None


def node_objects(scope: "Scope", node: cst.CSTNode, blocks: Iterable[TapeBlock]) -> Optional[frozenset[str]]:
    """The objects the blocks' `tape.gradient` calls differentiate, of those whose target `node`'s
    value reaches (`with tape1, tape2:` around an actor loss and a critic loss: the actor loss
    helper's result reaches only tape1's gradient); of all of them where it visibly reaches none.
    None when one of those sources is unknown, or a block has no gradient."""
    blocks = list(blocks)
    if not blocks or any(not b.gradients for b in blocks):
        return None
    gradients = [g for b in blocks for g in b.gradients]
    used = _gradients_reached(scope, node, gradients) or gradients
    found: set[str] = set()
    for gradient in used:
        objects = gradient_objects(scope, gradient.sources)
        if objects is None:
            return None
        found |= objects
    return frozenset(found)


def _gradients_reached(scope: "Scope", node: cst.CSTNode, gradients: list) -> list:
    """The gradients whose target reads `node`'s value: in the target itself, or through the
    names the scope binds from it (and from those, on)."""
    flow = scope.flow or scope.analyse()
    dependent: set[str] = set()
    holders = [b for b in flow.bindings if contains(b.value, node)]
    dependent.update(b.name for b in holders)
    changed = bool(dependent)
    while changed:
        changed = False
        for binding in flow.bindings:
            if binding.name not in dependent and not dependent.isdisjoint(names_in(binding.value)):
                dependent.add(binding.name)
                changed = True
    return [g for g in gradients if contains(g.target, node) or not dependent.isdisjoint(names_in(g.target))]


def enclosing_blocks(scope: "Scope", node: cst.CSTNode) -> list[TapeBlock]:
    return [b for b in find_tape_blocks(scope, scope.module.imports) if contains(b.node, node)]


def restricted(scope: "Scope", blocks: Iterable[TapeBlock], blocking: Blocking,
               node: cst.CSTNode) -> Optional[Blocking]:
    """`blocking`, where the models called in `scope` that are none of the sources of the blocks'
    gradients `node` reaches carry no gradient (but what their arguments carry), and what was
    computed before the blocks opened is a constant; None when neither narrows it."""
    blocks = list(blocks)
    constants = computed_before(scope, blocks)
    if constants:
        blocking = replace(blocking, constants=blocking.constants | constants)
    sources = node_objects(scope, node, blocks)
    if sources is not None:
        narrowed = excluding_others(scope, sources, blocking)
        if narrowed is not None:
            return replace(narrowed, only_sources=frozenset(sources))
    return blocking if constants else None


def excluding_others(scope: "Scope", sources: Iterable[str], blocking: Blocking) -> Optional[Blocking]:
    """`blocking`, where the models called in `scope` that are none of `sources` (nor part of
    one, nor possibly the same object) carry no gradient; None when there are none."""
    sources = set(sources)
    others = frozenset(k for k in called_objects(scope) if _distinct(scope, k, sources))
    return blocking.excluding(others) if others else None


def object_called(scope: "Scope", call: cst.Call) -> Optional[str]:
    """The dotted name of the object `call` runs: `self.target_model(x)`, `target.call(x)`;
    None for a function, a method of the scope's class, an imported name."""
    callee = call.func
    if isinstance(callee, cst.Attribute) and callee.attr.value in _FORWARD_ATTRIBUTES:
        callee = callee.value
    key = dotted_name(callee)
    if key is None or key == "self" or scope.module.imports.resolve(callee) is not None:
        return None
    if "." not in key and (scope.module_function(key) or scope.module_class(key)
                           or key in scope.local_definitions() and _defines_function(scope, key)):
        return None
    if key.startswith("self.") and key.count(".") == 1 and scope.has_method(key[len("self."):]):
        return None
    return key


def called_objects(scope: "Scope") -> set[str]:
    return {key for node in walk_scope(scope.body) if isinstance(node, cst.Call)
            for key in [object_called(scope, node)] if key is not None}


def _defines_function(scope: "Scope", name: str) -> bool:
    return any(isinstance(v, (cst.FunctionDef, cst.Lambda)) for v in scope.local_definitions().get(name, []))


def related(a: str, b: str) -> bool:
    """One object is the other or a part of it (`self.model.encoder` of `self.model`)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _distinct(scope: "Scope", key: str, sources: set[str]) -> bool:
    """`key` is an object of its own, none of `sources` nor a part of one: each is bound,
    and no value bound to one is bound to another (`self.target = self.model` aliases)."""
    if any(related(key, s) for s in sources):
        return False
    mine = _bound_values(scope, key)
    if mine is None:
        return False
    for source in sources:
        theirs = _bound_values(scope, source)
        if theirs is None or mine & theirs:
            return False
        if any(related(v, source) for v in mine) or any(related(v, key) for v in theirs):
            return False
    return True


def _bound_values(scope: "Scope", key: str) -> Optional[set[str]]:
    """What `key` is bound to, where that could be another name's object: the names and
    attributes assigned to it (`self.x = ...` in the class's methods, a name's assignments in
    the scope or the module; a parameter is itself). A call makes an object of its own and
    adds nothing. None when `key` is never bound."""
    code = scope.module.module.code_for_node
    head, _, rest = key.partition(".")
    if head == "self" and rest and "." not in rest and scope.owner is not None:
        values: list[cst.BaseExpression] = []
        for method in (s for s in scope.owner.body.body if isinstance(s, cst.FunctionDef)):
            for node in walk_scope(list(method.body.body) if isinstance(method.body, cst.IndentedBlock) else []):
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        values.extend(_assigned(target.target, node.value, rest))
        return _aliases(values, code) if values else None
    if "." in key:
        return None
    if key in scope.parameter_names:
        return {key}
    values = [b.value for b in _flow(scope).bindings if b.name == key]
    module_scope = scope.module.scopes[scope.module.module]
    if not values and module_scope is not scope:
        values = [b.value for b in _flow(module_scope).bindings if b.name == key]
    return _aliases(values, code) if values else None


def _aliases(values: list[cst.BaseExpression], code) -> set[str]:
    return {code(v) for v in values if not isinstance(v, cst.Call)}


def _assigned(target: cst.BaseExpression, value: cst.BaseExpression, attr: str) -> list[cst.BaseExpression]:
    """The values `target = value` gives `self.<attr>` (`self.a, self.b = a, b` too)."""
    if self_attribute(target) == attr:
        return [value]
    if isinstance(target, (cst.Tuple, cst.List)):
        pairs = (zip(target.elements, value.elements)
                 if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements)
                 else [(e, None) for e in target.elements])
        found = []
        for element, part in pairs:
            if self_attribute(element.value) == attr:
                found.append(part.value if part is not None else value)
        return found
    return []


def _flow(scope: "Scope") -> DataFlow:
    if scope.flow is not None:
        return scope.flow
    return scope.analyse()


def handed_inference_models(scope: "Scope") -> frozenset[str]:
    """The `self.<attr>` models of the scope's class that it is handed (every assignment to
    the attribute takes a parameter of the method, or None) and that every call of them in
    the class runs in inference mode (`training=False`): a teacher or a target network it
    uses and does not train. Empty outside a class."""
    owner = scope.owner
    while owner is None and scope.enclosing is not None:
        scope = scope.enclosing
        owner = scope.owner
    if owner is None:
        return frozenset()
    methods = [s for s in owner.body.body if isinstance(s, cst.FunctionDef)]
    handed: dict[str, bool] = {}
    for method in methods:
        parameters = {p.name.value for p in method.params.params}
        for node in walk_scope(list(method.body.body)):
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    attr = self_attribute(target.target)
                    if attr is not None:
                        value = node.value
                        handed[attr] = handed.get(attr, True) and isinstance(value, cst.Name) and (
                            value.value in parameters or value.value == "None")
    inference: dict[str, bool] = {}
    for method in methods:
        for node in walk_scope(list(method.body.body)):
            if isinstance(node, cst.Call):
                callee = node.func.value if (isinstance(node.func, cst.Attribute)
                                             and node.func.attr.value in _FORWARD_ATTRIBUTES) else node.func
                attr = self_attribute(callee)
                if attr is not None and handed.get(attr):
                    inference[attr] = inference.get(attr, True) and any(
                        a.keyword is not None and a.keyword.value == "training"
                        and isinstance(a.value, cst.Name) and a.value.value == "False" for a in node.args)
    return frozenset(f"self.{attr}" for attr, only in inference.items() if only)
