"""What the TGF1 rules share: which calls are NumPy, and when one is on the gradient path."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import DEFAULT_BLOCKING, names_in
from tfgradfix.analysis.layer_graph import raw_input_names
from tfgradfix.analysis.tape_constants import parameters_constant_to_callers
from tfgradfix.analysis.values import (NUMPY_FRESH_ARRAYS, carries_no_gradient, holds_no_tensor, names_narrowed_at,
                                       narrowed_to_data)
from tfgradfix.rules.base import Rule


CONVERSIONS = ("array", "asarray", "asanyarray")
# NumPy functions that index what they are given instead of converting it (`m[::-1]`): on a
# tensor they return a tensor that keeps its gradient (measured, tests/test_translations.py).
TENSOR_PRESERVING = frozenset({"flip", "trim_zeros"})
# NumPy functions that read only a tensor's shape and dtype (`np.zeros_like(logits)` for a
# padding mask): their result never had a gradient to lose, but they convert the tensor to an
# array, which a traced (symbolic) tensor refuses.
SHAPE_ONLY = frozenset({"zeros_like", "ones_like", "empty_like", "full_like", "size"})
# NumPy functions that make a new array of the sizes they are given (`np.arange(n)`, `np.zeros((h,
# w))`): whatever computed the sizes, the result never had a gradient; given a traced tensor, they
# fail as the shape readers do.
SIZES_ONLY = NUMPY_FRESH_ARRAYS - SHAPE_ONLY
# `np.shape` and `np.ndim` return the tensor's own `.shape` / `.ndim` without converting it:
# they work on eager, traced and Keras symbolic tensors alike (measured on TF 2.21).
SHAPE_ATTRIBUTES = frozenset({"shape", "ndim"})


def numpy_function(rule: Rule, call_node: cst.Call) -> Optional[str]:
    qualified = rule.context.imports.resolve(call_node.func)
    if qualified is not None and qualified.startswith("numpy."):
        return qualified[len("numpy."):]
    return None


# Values that have no gradient on purpose: a target under stop_gradient.
_DETACHED = DEFAULT_BLOCKING.extended("stop_gradient")


def on_path_with_tensor(rule: Rule, node: cst.Call, values, runs_in_graphs: bool = False) -> bool:
    """Whether `node`, taking `values`, loses a gradient the code wants. `runs_in_graphs`: the call
    runs where `fit` traces the layer too (`tf.numpy_function`), so only the gradient decides."""
    context = rule.context
    if not (context.on_gradient_path and any(gradient_value(context, v) for v in values)
            and context.reaches_output(node)):
        return False
    if context.said_on_purpose(node):
        return False  # `# to stop recording`: the author's word that the cut is meant
    if context.feeds_only_indices(node):
        return False  # ids and positions (`np.unique(user_ids, return_inverse=True)`): no gradient to lose
    if context.feeds_only_records(node):
        return False  # `logs["loss"] = loss.numpy()`: a value to print beside the loss
    if context.copied_as_target(node):
        return False  # `q_backup = q.numpy()` filled with TD targets, then `(q_backup - q) ** 2`
    if context.scope.is_keras_forward and not context.scope.runs_eagerly and not runs_in_graphs:
        # In a Keras layer, NumPy on a tensor fails when `fit` traces it, whatever it feeds; but
        # a probe that catches that failure and feeds no gradient (a shape read) loses nothing.
        return not (context.probed_in_try(node) and context.feeds_no_gradient(node))
    # Eagerly, in a tape, NumPy loses nothing on a value that has no gradient anyway: a
    # sampled action, a DQN target under stop_gradient or from the target network, a
    # bootstrapped return written into a NumPy array of returns.
    if context.feeds_no_gradient(node) or context.feeds_only_numpy_buffers():
        return False
    values = [_reaching(context, v) for v in values]
    detached = _DETACHED
    constant = (parameters_constant_to_callers(context.scope) | raw_input_names(context.analysis, context.scope)
                | names_narrowed_at(context.parent, context.imports, node))
    if constant:  # advantages the callers computed before their tapes opened; a Lambda's raw inputs;
        # inputs a branch says are not tensors (NumPy in, NumPy back out)
        detached = replace(detached, constants=detached.constants | constant)
    if not any(context.scope.analyse(detached).is_tainted(v) for v in values):
        return False
    # Nor on the output of a model whose variables the tape does not differentiate.
    to_sources = context.to_sources(node, _DETACHED)
    return to_sources is None or any(context.scope.analyse(to_sources).is_tainted(v) for v in values)


def gradient_value(context, value: cst.BaseExpression) -> bool:
    """`value` depends on a gradient source, and nothing says it is not a float tensor: not
    an integer, a Python number or string, shape metadata, nor data in an `isinstance` branch."""
    flow = context.flow_at(value)
    if flow is None or not flow.is_tainted(value) or carries_no_gradient(flow, value):
        return False
    if holds_no_tensor(flow, value):
        return False  # already NumPy (`model.predict(x)`, a list of arrays): what detached it is reported there
    tainted = {name for name in names_in(value) if name in flow.tainted}
    return not narrowed_to_data(context.parent, context.imports, value, tainted)


def _reaching(context, value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(value, cst.Name):
        return context.value_at(value) or value
    return value
