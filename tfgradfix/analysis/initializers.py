"""Weights made by calling an initializer: `self.W = init((n, m))`.

An initializer returns a tensor, not a variable: `tf.keras.initializers.GlorotUniform()((n, m))`
is a constant with the right distribution, which Keras does not track and no tape records.
A layer that multiplies its input by it computes the same thing every step and never trains.
This module finds those attributes and the evidence that the code means them as weights:

- made by calling a Keras or TF initializer (`init((n, m))` with `init = GlorotUniform()`, an
  initializer stored on `self`, `initializers.get(name)(shape)`, `tf.random_normal_initializer()(s)`),
  or drawn with `tf.random.normal/uniform/truncated_normal` under a weight's name (`W`, `kernel`);
- assigned in a method that is not a forward method (`__init__`, `build`, a helper of theirs);
- read by a forward method of the class as an operand of a product, a `matmul`, a
  convolution or (for an initializer's value) a bias addition with a value that carries a
  gradient (the layer's input);
- and nothing in the module makes it a variable: no other assignment of the attribute, no
  `tf.Variable(self.W)`, `add_weight(..., initializer=...self.W...)`, `.assign` or
  `tape.watch` of it.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import libcst as cst

from tfgradfix.analysis.dataflow import walk_scope
from tfgradfix.analysis.keras import FORWARD_METHODS, KerasClass, self_attribute
from tfgradfix.analysis.vocabulary import KERAS_PACKAGES
from tfgradfix.analysis.tree import descendants

if TYPE_CHECKING:
    from tfgradfix.analysis.scopes import ModuleAnalysis

_RANDOM_DRAWS = {
    "tensorflow.random.normal": "normal",
    "tensorflow.random.uniform": "uniform",
    "tensorflow.random.truncated_normal": "truncated_normal",
}
# A weight's name, for a random draw (random features kept fixed on purpose have other names).
_WEIGHT_NAME = re.compile(r"^_?(w|W|W_\w+|w_\w+|W\d+|w\d+|kernel|\w+_kernel|weight|weights|\w+_weight|\w+_weights)$")
# Operations that use a weight: products and convolutions; a bias addition for an initializer's value.
_PRODUCTS = frozenset({"matmul", "dot", "tensordot", "einsum", "multiply", "conv1d", "conv2d", "conv3d",
                       "conv2d_transpose", "conv1d_transpose", "conv3d_transpose", "depthwise_conv2d",
                       "separable_conv2d", "convolution", "batch_dot", "linear", "embedding_lookup", "gather"})
_ADDITIONS = frozenset({"bias_add", "add"})
_MULTIPLY = frozenset({"tensorflow.multiply", "tensorflow.math.multiply"})
# Uses that make or keep it a variable.
_VARIABLE_MAKERS = frozenset({"Variable", "add_weight", "constant_initializer", "Constant", "assign",
                              "assign_add", "assign_sub", "watch", "variable"})


@dataclass
class InitializerWeight:
    attr: str
    assign: cst.Assign
    value: cst.Call
    # "initializer": an initializer's call; "random": a tf.random draw.
    made_by: str
    # The initializer expression to hand to `add_weight` (`init`, `GlorotUniform()`), when known.
    initializer: Optional[cst.BaseExpression]
    method: cst.FunctionDef


def initializer_weights(analysis: "ModuleAnalysis", cls: KerasClass) -> list[InitializerWeight]:
    """The attributes of `cls` made by an initializer (or a random draw under a weight's name)
    that a forward method uses as a weight and nothing makes a variable."""
    found = []
    assignments = _attribute_assignments(cls)
    for method in cls.methods.values():
        if method.name.value in FORWARD_METHODS:
            continue
        scope = analysis.scopes.get(method)
        if scope is None:
            continue
        for node in walk_scope(scope.body):
            if not (isinstance(node, cst.Assign) and len(node.targets) == 1):
                continue
            attr = self_attribute(node.targets[0].target)
            if attr is None:
                continue
            made = _made_by(analysis, scope, cls, node.value)
            if made is None:
                continue
            made_by, initializer, call = made
            if made_by == "random" and (not _WEIGHT_NAME.match(attr) or _scales_a_weight(analysis, cls, attr)):
                continue
            if len(assignments.get(attr, [])) != 1 or _made_variable(analysis, attr):
                continue
            if not _used_as_weight(analysis, cls, attr, additions=made_by == "initializer"):
                continue
            found.append(InitializerWeight(attr, node, call, made_by, initializer, method))
    return found


def _made_by(analysis, scope, cls: KerasClass, value: cst.BaseExpression, depth: int = 0):
    """("initializer" | "random", the initializer expression or None, the call) for a value
    made by calling an initializer or drawing at random; None otherwise."""
    if isinstance(value, cst.Name):
        bound = scope.local_definitions().get(value.value, [])
        if len(bound) != 1 or not isinstance(bound[0], cst.Call):
            return None
        value = bound[0]
    if not isinstance(value, cst.Call):
        return None
    qualified = analysis.imports.resolve(value.func) or ""
    if qualified in _RANDOM_DRAWS:
        return "random", None, value
    if _initializer_expression(analysis, scope, cls, value.func, 0):
        return "initializer", value.func, value
    helper = analysis.callee_scope(scope, value)  # `glorot(shape)`: a helper returning an initializer's value
    if helper is not None and helper is not scope and depth < 2:
        returns = [n.value for n in walk_scope(helper.body) if isinstance(n, cst.Return) and n.value is not None]
        made = [_made_by(analysis, helper, cls, r, depth + 1) for r in returns]
        if made and all(m is not None and m[0] == "initializer" for m in made):
            return "initializer", None, value
    if helper is None:  # `from .inits import glorot`: a helper of another project module
        info = analysis.external_function(scope, value)
        if info is not None and info.returns_initialized:
            return "initializer", None, value
    return None


def _initializer_expression(analysis, scope, cls: KerasClass, expr: cst.BaseExpression, depth: int) -> bool:
    """`expr` evaluates to an initializer object: a constructor call (`GlorotUniform()`,
    `initializers.get("he_normal")`, `tf.random_normal_initializer(0, 0.1)`), or a name or
    `self.<attr>` bound to one."""
    if depth > 4:
        return False
    if isinstance(expr, cst.Call):
        return is_initializer_constructor(analysis.imports.resolve(expr.func) or "")
    if isinstance(expr, cst.Name):
        bound = scope.local_definitions().get(expr.value, [])
        if not bound and not isinstance(scope.node, cst.Module):
            bound = analysis.scopes[analysis.module].local_definitions().get(expr.value, [])
        return len(bound) == 1 and isinstance(bound[0], cst.BaseExpression) and _initializer_expression(
            analysis, scope, cls, bound[0], depth + 1)
    attr = self_attribute(expr)
    if attr is not None:
        values = _attribute_assignments(cls).get(attr, [])
        return len(values) == 1 and _initializer_expression(analysis, scope, cls, values[0], depth + 1)
    return False


def is_initializer_constructor(qualified: str) -> bool:
    """`keras.initializers.GlorotUniform`, `keras.initializers.get`, `tf.random_normal_initializer`..."""
    if not qualified:
        return False
    parts = qualified.split(".")
    if parts[0] not in ("tensorflow", "keras", "tf_keras"):
        return False
    if "initializers" in parts[:-1]:
        return parts[-1][:1].isupper() or parts[-1] in ("get", "glorot_uniform", "glorot_normal", "he_normal",
                                                        "he_uniform", "lecun_normal", "lecun_uniform",
                                                        "orthogonal", "random_normal", "random_uniform",
                                                        "truncated_normal", "variance_scaling")
    return parts[-1].endswith("_initializer") and parts[-1] not in ("constant_initializer", "zeros_initializer",
                                                                     "ones_initializer")


def _attribute_assignments(cls: KerasClass) -> dict[str, list[cst.BaseExpression]]:
    found: dict[str, list[cst.BaseExpression]] = {}
    for owner in cls.lineage():
        for method in owner.methods.values():
            for node in descendants(method):
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        attr = self_attribute(target.target)
                        if attr is not None:
                            found.setdefault(attr, []).append(node.value)
                elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
                    attr = self_attribute(node.target)
                    if attr is not None and node.value is not None:
                        found.setdefault(attr, []).append(node.value)
    return found


def _made_variable(analysis, attr: str) -> bool:
    """`.<attr>` handed to a variable's constructor, assigned, or watched anywhere in the module."""
    for node in descendants(analysis.module):
        if not isinstance(node, cst.Call):
            continue
        callee = node.func
        name = callee.attr.value if isinstance(callee, cst.Attribute) else getattr(callee, "value", None)
        if name not in _VARIABLE_MAKERS:
            continue
        if isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Attribute) and (
                callee.value.attr.value == attr):
            return True  # `self.W.assign(...)`
        if any(isinstance(n, cst.Attribute) and n.attr.value == attr for a in node.args for n in descendants(a)):
            return True
    return False


def _scales_a_weight(analysis, cls: KerasClass, attr: str) -> bool:
    """A forward method multiplies `self.<attr>` by a trained weight of the class (`self.w_sigma *
    self.w_epsilon`): the noise of a learned distribution (a noisy net, Bayes by backprop's
    `mu + sigma * eps`), drawn to scale that weight, not a weight itself."""
    for scope in analysis.scopes.values():
        keras_class = scope.keras_class
        if not scope.forward or keras_class is None or cls not in keras_class.lineage():
            continue
        for node in walk_scope(scope.body):
            if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
                operands = [node.left, node.right]
            elif isinstance(node, cst.Call) and (analysis.imports.resolve(node.func) or "") in _MULTIPLY:
                operands = [a.value for a in node.args]
            else:
                continue
            attrs = [self_attribute(o) for o in operands]
            if attr in attrs and any(a is not None and a != attr and keras_class.is_weight(a) for a in attrs):
                return True
    return False


def _used_as_weight(analysis, cls: KerasClass, attr: str, additions: bool) -> bool:
    """A forward method of the class (or what it reaches) uses `self.<attr>` with a value that
    carries a gradient in a product, a matmul, a convolution (or, with `additions`, a sum)."""
    for scope in analysis.scopes.values():
        keras_class = scope.keras_class
        if not scope.forward or keras_class is None or cls not in keras_class.lineage():
            continue
        flow = scope.analyse()
        aliases = {b.name for b in flow.bindings if _mentions(b.value, attr, set())}
        for node in walk_scope(scope.body):
            operands: list[cst.BaseExpression] = []
            if isinstance(node, cst.BinaryOperation):
                operators = (cst.MatrixMultiply, cst.Multiply) + ((cst.Add, cst.Subtract) if additions else ())
                if isinstance(node.operator, operators):
                    operands = [node.left, node.right]
            elif isinstance(node, cst.Call):
                qualified = analysis.imports.resolve(node.func) or ""
                last = qualified.rsplit(".", 1)[-1]
                if qualified.startswith(("tensorflow.", *KERAS_PACKAGES)) and (
                        last in _PRODUCTS or (additions and last in _ADDITIONS)):
                    operands = [a.value for a in node.args]
            if len(operands) < 2:
                continue
            weight = [o for o in operands if _mentions(o, attr, aliases)]
            others = [o for o in operands if o not in weight]
            if weight and any(flow.is_tainted(o) for o in others):
                return True
    return False


def _mentions(expr: cst.BaseExpression, attr: str, aliases: set[str]) -> bool:
    if self_attribute(expr) == attr or (isinstance(expr, cst.Name) and expr.value in aliases):
        return True
    return any(self_attribute(n) == attr or (isinstance(n, cst.Name) and n.value in aliases)
               for n in descendants(expr) if isinstance(n, (cst.Attribute, cst.Name)))
