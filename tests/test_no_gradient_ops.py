"""The list of TensorFlow functions without a gradient (analysis/no_gradient_ops.py) is what
the installed TensorFlow says, and each entry really gives a None gradient under a tape."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tfgradfix.analysis.no_gradient_ops import NO_GRADIENT

tf = None  # imported by the tests that need it (marked slow), not when they are collected


@pytest.fixture
def tensorflow():
    global tf
    tf = pytest.importorskip("tensorflow")


GENERATOR = Path(__file__).resolve().parent.parent / "tools" / "no_gradient_ops.py"


def _generator():
    spec = importlib.util.spec_from_file_location("no_gradient_ops_generator", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_data_matches_the_installed_tensorflow(tensorflow):
    assert _generator().generate() == NO_GRADIENT, (
        "TensorFlow changed: run `python tools/no_gradient_ops.py > tfgradfix/analysis/no_gradient_ops.py`")


def test_what_the_rules_rely_on_is_listed():
    for name in ("tensorflow.argsort", "tensorflow.argmax", "tensorflow.math.round", "tensorflow.math.equal",
                 "tensorflow.random.shuffle"):
        assert name in NO_GRADIENT
    for differentiable in ("tensorflow.sort", "tensorflow.where", "tensorflow.nn.relu", "tensorflow.math.sign"):
        assert differentiable not in NO_GRADIENT


def _function(qualified: str):
    value = tf
    for part in qualified.split(".")[1:]:
        value = getattr(value, part)
    return value


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NO_GRADIENT))
def test_each_entry_has_no_gradient_under_a_tape(name, tensorflow):
    function = _function(name)
    matrix = tf.constant([[0.25, 1.5, 2.0, 0.75]] * 4)  # bincount wants no negatives
    # a matrix first, then a vector (`tf.math.confusion_matrix` takes only vectors), as the generator
    for x, arity in ((matrix, 1), (matrix, 2), (matrix[0], 1), (matrix[0], 2)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            try:
                out = function(*([x] * arity))
            except (TypeError, ValueError, tf.errors.InvalidArgumentError):
                continue
            if out.dtype == tf.string:
                out = tf.strings.length(out)
            value = tf.cast(out, tf.float32)
        assert tape.gradient(value, x) is None
        return
    pytest.fail(f"{name} could not be called on a float tensor")
