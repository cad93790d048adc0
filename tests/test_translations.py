"""Every NumPy -> TF translation, executed: the fixed expression must give NumPy's
values and shape on rank-2 and rank-3 inputs, and a gradient for the input.

The NumPy expression sits in a Keras layer's `call`, the tool fixes the module,
and both versions run eagerly on the same tensor (NumPy accepts eager tensors).
"""

from __future__ import annotations

import textwrap

import pytest

from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.rules import ALL_RULES

tf = np = None  # imported by the tests that run TensorFlow (marked slow), not when they are collected


@pytest.fixture
def tensorflow():
    global tf, np
    tf, np = pytest.importorskip("tensorflow"), pytest.importorskip("numpy")

LAYER = textwrap.dedent('''
    import numpy as np
    import tensorflow as tf


    class Probe(tf.keras.layers.Layer):
        def build(self, input_shape):
            self.w1 = self.add_weight(shape=(4,), initializer="random_normal", name="w1")
            self.w2 = self.add_weight(shape=(4, 3), initializer="random_normal", name="w2")
            self.m = self.add_weight(shape=(4, 4), initializer="random_normal", name="m")

        def call(self, x):
            return {expression}
''')

# (expression, input ranks it is valid for, expected TF spelling in the fix)
CASES = [
    ("np.exp(x)", (2, 3), "tf.exp("),
    ("np.log1p(np.abs(x))", (2, 3), "tf.math.log1p("),
    ("np.sqrt(np.square(x) + 1.0)", (2, 3), "tf.sqrt("),
    ("np.tanh(x) * np.sign(x)", (2, 3), "tf.sign("),
    ("np.sum(x)", (2, 3), "tf.reduce_sum(x)"),
    ("np.sum(x, axis=-1, keepdims=True)", (2, 3), "keepdims=True"),
    ("np.mean(x, 0)", (2, 3), "tf.reduce_mean(x, axis=0)"),
    ("np.max(x, axis=(0, 1))", (2, 3), "tf.reduce_max("),
    ("np.amin(x)", (2, 3), "tf.reduce_min("),
    ("np.prod(x, axis=-1)", (2, 3), "tf.reduce_prod("),
    ("np.std(x, axis=0)", (2, 3), "tf.math.reduce_std("),
    ("np.var(x, ddof=0)", (2, 3), "tf.math.reduce_variance("),
    ("np.maximum(0, x)", (2, 3), "tf.maximum(0.0, x)"),
    ("np.minimum(x, 0.25)", (2, 3), "tf.minimum("),
    ("np.add(x, 1) * np.multiply(2, x) - np.subtract(x, 3)", (2, 3), "(x + 1)"),
    ("np.divide(x, 2.0) + np.power(x, 2)", (2, 3), "x ** 2"),
    ("np.dot(x, self.w2)", (2, 3), "tf.tensordot(x, self.w2, axes=1)"),
    ("np.dot(x, self.w1)", (2, 3), "tf.tensordot(x, self.w1, axes=1)"),
    ("np.dot(self.w2.numpy().T, self.w1) * np.sum(x)", (2, 3), "tf.tensordot(tf.transpose(self.w2), self.w1, axes=1)"),
    ("np.matmul(x, self.m)", (2, 3), "matmul(x, self.m)"),
    ("np.tensordot(x, self.m, axes=1)", (2, 3), "tf.tensordot(x, self.m, axes=1)"),
    ("np.tensordot(x[0:4, 0:4], self.m)", (2,), "axes=2"),
    ("np.einsum('...i,ij->...j', x, self.w2)", (2, 3), "tf.einsum("),
    ("np.inner(x, self.w1)", (2, 3), "tf.tensordot(x, self.w1, axes=[[-1], [-1]])"),
    ("np.outer(x, self.w1)", (2, 3), "tf.tensordot(tf.reshape(x, [-1]), self.w1, axes=0)"),
    ("np.concatenate([x, x * 2])", (2, 3), "tf.concat([x, x * 2], axis=0)"),
    ("np.concatenate([x, x], axis=-1)", (2, 3), "axis=-1"),
    ("np.stack([x, x], axis=1)", (2, 3), "tf.stack("),
    ("np.reshape(x, (-1, 2))", (2, 3), "tf.reshape(x, (-1, 2))"),
    ("np.transpose(x)", (2, 3), "tf.transpose(x)"),
    ("np.transpose(x, (1, 0))", (2,), "perm=[1, 0]"),
    ("np.transpose(x, (0, -1, 1))", (3,), "perm=[0, 2, 1]"),
    ("np.expand_dims(x, 1)", (2, 3), "tf.expand_dims(x, axis=1)"),
    ("np.expand_dims(x, (0, 2))", (2, 3), "tf.expand_dims(tf.expand_dims(x, axis=0), axis=2)"),
    ("np.squeeze(np.expand_dims(x, 0), axis=0)", (2, 3), "tf.squeeze("),
    ("np.zeros_like(x) + np.ones_like(x) * x", (2, 3), "tf.zeros_like(x)"),
    ("np.where(x > 0, x, 0.1 * x)", (2, 3), "tf.where(x > 0, x, 0.1 * x)"),
    ("np.clip(x, -0.5, 0.5)", (2, 3), "tf.minimum(tf.maximum(x, -0.5), 0.5)"),
    ("np.clip(x, 0.5, -0.5)", (2, 3), "tf.minimum(tf.maximum(x, 0.5), -0.5)"),
    ("np.clip(x, None, 0.5)", (2, 3), "tf.minimum(x, 0.5)"),
    ("np.tile(self.w1, 2) * np.sum(x)", (2, 3), "tf.tile(self.w1, [2])"),
    ("np.tile(self.w2, (2, 1)) * np.sum(x)", (2, 3), "tf.tile(self.w2, [2, 1])"),
    ("np.tile(x, 2)", (2, 3), "tile(x, 2)"),
    ("np.cumsum(x)", (2, 3), "tf.math.cumsum(tf.reshape(x, [-1]), axis=0)"),
    ("np.cumsum(x, axis=-1)", (2, 3), "tf.math.cumsum(x, axis=-1)"),
    ("tf.gather(tf.reshape(x, [-1]), np.argmax(x))", (2, 3), "tf.argmax(tf.reshape(x, [-1]), axis=0)"),
    ("tf.gather(x, np.argmin(x, axis=-1), axis=-1, batch_dims=x.shape.rank - 1)", (2, 3), "tf.argmin(x, axis=-1)"),
    ("np.linalg.norm(x)", (2, 3), "tf.norm(x)"),
    ("np.linalg.norm(x, axis=-1, keepdims=True)", (2, 3), "tf.norm(x, axis=-1, keepdims=True)"),
    ("np.round(x * 10) + np.floor(x) + np.ceil(x) + x", (2, 3), "tf.math.ceil("),
    ("np.round(x, 2) + x", (2, 3), "tf.round(x * 1e2) / 1e2"),
    ("np.float32(x) * 2", (2, 3), "tf.cast(x, tf.float32)"),
    # The conversions are safe on what is certainly a tensor (a layer's argument is not: test_preconditions)
    ("np.asarray(x * self.w1, dtype=np.float32) + np.array(tf.nn.relu(x))", (2, 3),
     "tf.cast(x * self.w1, tf.float32) + tf.nn.relu(x)"),
    ("x.numpy().T.sum(axis=0)", (2, 3), "tf.reduce_sum(tf.transpose(x), axis=0)"),
    ("x.numpy().reshape(-1, 2).mean(axis=1)", (2, 3), "tf.reduce_mean(tf.reshape(x, (-1, 2)), axis=1)"),
    ("x.numpy().astype(np.float64).max()", (2, 3), "tf.cast(x, tf.float64)"),
    ("x.numpy().ravel().clip(-1.0, 1.0)", (2, 3), "tf.reshape(x, [-1])"),
    ("x.numpy().transpose(1, 0) @ self.m.numpy().copy()", (2,), "tf.transpose(x, perm=[1, 0])"),
    ("x.numpy() @ self.m.numpy()", (2, 3), "matmul(x, self.m)"),
    ("x.numpy().std(axis=-1).var()", (2, 3), "tf.math.reduce_variance(tf.math.reduce_std(x, axis=-1))"),
    ("x.numpy().dot(self.w2.numpy())", (2, 3), "tf.tensordot(x, self.w2, axes=1)"),
    ("x[..., :1] + x.numpy().cumsum(axis=-1)", (2, 3), "tf.math.cumsum(x, axis=-1)"),
    ("x.numpy().round(1) + x", (2, 3), "tf.round("),
    ("x.numpy().reshape(-1)", (2, 3), "tf.reshape(x, [-1])"),
    ("x.numpy().transpose()", (2, 3), "tf.transpose(x)"),
]

SHAPES = {2: (4, 4), 3: (2, 4, 4)}


def _fixed_source(expression: str) -> tuple[str, str]:
    source = LAYER.format(expression=expression)
    result = Engine(ALL_RULES, fix=True).process(SourceFile("probe.py", source, "utf-8", False))
    assert result.error is None, result.error
    return source, result.new_text


def _run(source: str, x):
    namespace: dict = {}
    exec(compile(source, "probe.py", "exec"), namespace)
    tf.keras.utils.set_random_seed(3)
    layer = namespace["Probe"]()
    layer.build(x.shape)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x)
        total = tf.reduce_sum(tf.cast(tf.convert_to_tensor(out), tf.float32))
    return out, tape.gradient(total, x)


@pytest.mark.parametrize("expression,ranks,spelling", CASES, ids=[c[0] for c in CASES])
def test_translation_is_written_in_tensorflow(expression, ranks, spelling):
    """What `test_translation_matches_numpy` runs, read only (no TensorFlow)."""
    _, fixed = _fixed_source(expression)
    assert "np." not in fixed.split("def call")[1], f"NumPy left in:\n{fixed}"
    assert spelling in fixed, fixed


@pytest.mark.slow
@pytest.mark.parametrize("expression,ranks,spelling", CASES, ids=[c[0] for c in CASES])
def test_translation_matches_numpy(expression, ranks, spelling, tensorflow):
    original, fixed = _fixed_source(expression)
    assert "np." not in fixed.split("def call")[1], f"NumPy left in:\n{fixed}"
    assert spelling in fixed, fixed
    for rank in ranks:
        x = tf.random.stateless_normal(SHAPES[rank], seed=(rank, 7))
        expected, _ = _run(original, x)
        actual, grad_after = _run(fixed, x)
        expected = np.asarray(expected)
        assert tuple(actual.shape) == expected.shape, f"rank {rank}: shape {actual.shape} != {expected.shape}"
        np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected.astype(np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=f"rank {rank}")
        assert grad_after is not None, f"rank {rank}: still no gradient"


UNFIXABLE = [
    "np.std(x, ddof=1)",
    "np.sum(x, dtype=np.float64)",
    "np.einsum(x, [0, 1], self.m, [1, 2])",
    "np.where(x, x, 0.0)",
    "np.linalg.norm(x, ord=2)",
    "np.concatenate([x, x], axis=None)",
    "np.reshape(x, (2, -1), order='F')",
    "np.transpose(x, axes)",
    "np.linalg.svd(x)",
    "x.numpy().tolist()",
    "x.numpy()[[0, 2]]",
    # NumPy's int64 index mixes with float tensors; TF's int64 tensor would raise
    "x * np.argmax(x)",
    "x * x.numpy().argmin(axis=-1)[..., None]",
]


@pytest.mark.parametrize("expression", UNFIXABLE)
def test_no_exact_translation_means_no_fix(expression):
    source = LAYER.format(expression=expression).replace("def call(self, x):", "def call(self, x, axes=None):")
    result = Engine(ALL_RULES, fix=True).process(SourceFile("probe.py", source, "utf-8", False))
    assert result.new_text == source
    assert result.findings and all(f.fix is None for f in result.findings if f.code in ("TGF101", "TGF102"))


@pytest.mark.slow
def test_numpy_functions_taken_as_tensor_preserving_keep_the_gradient(tensorflow):
    """TGF101 leaves `np.flip` and `np.trim_zeros` alone: they index their argument, so a
    tensor stays a tensor and keeps its gradient (any other NumPy call converts it)."""
    from tfgradfix.rules.numpy.base import TENSOR_PRESERVING

    x = tf.Variable([[0.0, 2.0], [3.0, 0.0]])
    for name in sorted(TENSOR_PRESERVING):
        with tf.GradientTape() as tape:
            y = getattr(np, name)(tf.reshape(x, (-1,)) * 2.0)
            total = tf.reduce_sum(y * tf.range(1.0, 1.0 + tf.cast(tf.size(y), tf.float32)))
        assert isinstance(y, tf.Tensor), name
        assert tape.gradient(total, x) is not None, name
    with tf.GradientTape() as tape:
        y = np.tanh(x * 2.0)
    assert not isinstance(y, tf.Tensor)


# Keras 3 code that does not import TensorFlow (fixes/backend.py): the same translations,
# written in `keras.ops` (`Target.name` maps each TF op the translations write).
KERAS_LAYER = LAYER.replace("import tensorflow as tf\n", "import keras\n").replace(
    "tf.keras.layers.Layer", "keras.layers.Layer")
KERAS_CASES = [case for case in CASES if "tf." not in case[0] and case[0] != "np.linalg.norm(x)"]


def test_keras_norm_without_axis_has_no_fix():
    """`keras.ops.norm(x)` of a rank-3 `x` raises (an axis-less norm there is no vector
    norm of all elements, as NumPy's is): reported without a fix."""
    source = KERAS_LAYER.format(expression="np.linalg.norm(x)")
    result = Engine(ALL_RULES, fix=True).process(SourceFile("probe.py", source, "utf-8", False))
    assert result.new_text == source
    assert [f.fix for f in result.findings if f.code == "TGF101"] == [None]


def _fixed_keras_source(expression: str) -> tuple[str, str]:
    source = KERAS_LAYER.format(expression=expression)
    result = Engine(ALL_RULES, fix=True).process(SourceFile("probe.py", source, "utf-8", False))
    assert result.error is None, result.error
    return source, result.new_text


@pytest.mark.parametrize("expression", [c[0] for c in KERAS_CASES])
def test_keras_translation_is_written_in_keras_ops(expression):
    _, fixed = _fixed_keras_source(expression)
    body = fixed.split("def call")[1]
    assert "np." not in body, f"NumPy left in:\n{fixed}"
    assert "tf." not in fixed and "tensorflow" not in fixed, fixed


@pytest.mark.slow
@pytest.mark.parametrize("expression", [c[0] for c in KERAS_CASES])
def test_keras_translation_matches_numpy(expression, tensorflow):
    original, fixed = _fixed_keras_source(expression)
    for rank in next(c[1] for c in KERAS_CASES if c[0] == expression):
        x = tf.random.stateless_normal(SHAPES[rank], seed=(rank, 7))
        expected, _ = _run(original, x)
        actual, grad_after = _run(fixed, x)
        expected = np.asarray(expected)
        assert tuple(actual.shape) == expected.shape, f"rank {rank}: shape {actual.shape} != {expected.shape}"
        np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected.astype(np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=f"rank {rank}")
        assert grad_after is not None, f"rank {rank}: still no gradient"
