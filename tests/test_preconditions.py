"""Each fix kind's preconditions, stated in code (issue 19): what a fix may write in a module
(fixes/backend.py), and when dropping a NumPy conversion keeps the dtype (fixes/arrays.py)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.fixes.backend import decide
from tfgradfix.fixes.edits import Applicability
from tfgradfix.rules import ALL_RULES


def _backend(source: str):
    return decide(cst.parse_module(textwrap.dedent(source)))


@pytest.mark.parametrize("source,tf,fallback,imports", [
    ("import tensorflow as tf\n", "tf", "tf.experimental.numpy", ()),
    ("import tensorflow as tf\nimport keras\n", "tf", "keras.ops", ()),
    ("import keras\n", None, "keras.ops", ()),
    ("import keras\nfrom keras import ops\n", None, "ops", ()),
    ("from keras import layers\n", None, "keras.ops", (("keras", "keras"),)),
    ("import numpy as np\n", "tf", "tf.experimental.numpy", (("tensorflow", "tf"),)),
    # a `try` whose handler raises: the import ran on every path that goes on
    ("try:\n    import tensorflow as tf\nexcept ImportError:\n    raise SystemExit('needs TF')\n",
     "tf", "tf.experimental.numpy", ()),
    # TensorFlow optional, Keras certain: keras.ops
    ("import keras\ntry:\n    import tensorflow as tf\nexcept ImportError:\n    tf = None\n", None, "keras.ops", ()),
])
def test_what_a_fix_may_write(source, tf, fallback, imports):
    backend = _backend(source)
    assert backend.target is not None and backend.reason is None
    assert (backend.target.tf, backend.target.fallback, backend.imports) == (tf, fallback, imports)


@pytest.mark.parametrize("source,reason", [
    ("try:\n    import tensorflow as tf\nexcept ImportError:\n    tf = None\n", "some paths only"),
    ("if USE_TF:\n    import tensorflow as tf\n", "some paths only"),
    ("import tensorflow as tf\ntf = None\n", "something other than TensorFlow"),
    ("tf = load_backend()\n", "something other than TensorFlow"),
    ("def step():\n    import tensorflow as tf\n    return tf\n", "only inside functions"),
])
def test_no_framework_is_certain(source, reason):
    backend = _backend(source)
    assert backend.target is None and reason in backend.reason


def _process(source: str, fix: bool = False, unsafe: bool = False):
    text = textwrap.dedent(source)
    return Engine(ALL_RULES, fix=fix, unsafe_fixes=unsafe).process(SourceFile("case.py", text, "utf-8", False))


_LAYER = """\
    import numpy as np
    import tensorflow as tf


    class Probe(tf.keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return {expression}
"""


@pytest.mark.parametrize("expression", [
    "np.array(tf.nn.relu(inputs * self.w))",
    "np.asarray(inputs * self.w, dtype=np.float32)",
    "np.array(self.w) * inputs",
])
def test_dropping_a_conversion_of_a_certain_tensor_is_safe(expression):
    findings = [f for f in _process(_LAYER.format(expression=expression)).findings if f.code == "TGF102"]
    assert findings and all(f.fix is not None and f.fix.applicability is Applicability.SAFE for f in findings)


@pytest.mark.parametrize("expression,dtype", [("np.array(inputs) * self.w", False),
                                              ("np.asarray(inputs, dtype=np.float64) * self.w", True)])
def test_dropping_a_conversion_of_an_argument_is_unsafe_and_says_why(expression, dtype):
    source = _LAYER.format(expression=expression)
    [finding] = [f for f in _process(source).findings if f.code == "TGF102"]
    assert finding.fix is not None and finding.fix.applicability is Applicability.UNSAFE
    assert "`inputs` is not certainly a tensor" in finding.fix.description
    assert ("int32/float32 before the cast" if dtype else "changes its dtype") in finding.fix.description
    assert _process(source, fix=True).new_text == textwrap.dedent(source)  # not without --unsafe-fixes
    assert "np.a" not in _process(source, fix=True, unsafe=True).new_text.split("def call")[1]


def test_a_conversion_of_a_list_has_no_fix():
    source = _LAYER.format(expression="np.array([inputs * self.w, inputs]).sum(axis=0)")
    [finding] = [f for f in _process(source).findings if f.code == "TGF102"]
    assert finding.fix is None and "is a Python list or tuple, not a tensor" in finding.message


def test_a_keras_file_gains_no_tensorflow_import():
    source = """\
        import keras
        import numpy as np


        class Probe(keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

            def call(self, inputs):
                return np.tanh(inputs.numpy() * self.w.numpy()).sum(axis=-1)
    """
    fixed = _process(source, fix=True).new_text
    assert "keras.ops.sum(keras.ops.tanh(inputs * self.w), axis=-1)" in fixed
    assert "tensorflow" not in fixed and "numpy" not in fixed.split("class")[0]


def test_an_optional_tensorflow_gets_no_tf_and_the_message_says_why():
    source = """\
        import numpy as np

        try:
            import tensorflow as tf
        except ImportError:
            tf = None


        def train_step(model, x, y):
            with tf.GradientTape() as tape:
                loss = np.mean(np.square(model(x) - y))
            return tape.gradient(loss, model.trainable_variables)
    """
    result = _process(source, fix=True, unsafe=True)
    assert result.new_text == textwrap.dedent(source)
    findings = [f for f in result.findings if f.code == "TGF101"]
    assert findings and all(f.fix is None and "bound on some paths only" in f.message for f in findings)


@pytest.mark.slow
def test_numpy_and_tensorflow_convert_python_values_to_different_dtypes():
    """Why a conversion of what may be a list is unsafe to drop: the dtypes NumPy and TF
    give the same Python values (measured, TF 2.21)."""
    np = pytest.importorskip("numpy")
    tf = pytest.importorskip("tensorflow")
    floats = [0.1, 0.2]
    images = [np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)]
    assert np.array(floats).dtype == np.float64 and tf.convert_to_tensor(floats).dtype == tf.float32
    assert np.array([1, 2]).dtype == np.int64 and tf.convert_to_tensor([1, 2]).dtype == tf.int32
    assert np.array(images).dtype == np.uint8
    assert tf.convert_to_tensor(np.array(floats)).dtype == tf.float64
    # with a dtype: NumPy converts straight to it, tf.cast rounds through float32 first
    assert np.asarray(floats, dtype=np.float64)[0] == 0.1
    assert tf.cast(floats, tf.float64).numpy()[0] != 0.1
    # on a tensor, both keep the tensor's dtype
    t = tf.constant([1.5, 2.5])
    assert np.array(t).dtype == np.float32 and t.dtype == tf.float32
