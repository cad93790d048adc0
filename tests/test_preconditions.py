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


# -- TGF203: the Keras weight that replaces a tf.Variable -------------------------------

_VARIABLE_LAYER = """\
    import tensorflow as tf


    class Probe(tf.keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.ones((4, 3)))

        def call(self, inputs):
            {body}
            return tf.matmul(inputs, self.w)

        def shrink(self):  # not on the forward path: the weight is trained, not state
            {elsewhere}
"""


def _layer(body: str) -> str:
    """`body` in `call`, or in `shrink` when it starts with "shrink: "."""
    if body.startswith("shrink: "):
        return _VARIABLE_LAYER.format(body="pass", elsewhere=body[len("shrink: "):])
    return _VARIABLE_LAYER.format(body=body, elsewhere="pass")


def _tgf203(source: str):
    return [f for f in _process(source).findings if f.code == "TGF203"]


@pytest.mark.parametrize("body,rewritten", [
    ("n = self.w.get_shape().as_list()[0]", "n = self.w.shape.as_list()[0]"),
    ("v = self.w.value() * 2", "v = tf.identity(self.w) * 2"),
    ("w = self.w; r = w.read_value()", "r = tf.identity(w)"),
    ("g = self.w.sparse_read([0, 1], name='rows')", "g = tf.gather(self.w, [0, 1])"),
    ("shrink: self.w.assign(self.w * 0.5, read_value=False)", "self.w.assign(self.w * 0.5)"),
    ("ok = self.w.dtype.is_floating", "ok = tf.as_dtype(self.w.dtype).is_floating"),
    ("label = str(self.w.dtype)", "label = str(tf.as_dtype(self.w.dtype))"),
    ("x = tf.cast(inputs, self.w.dtype)", "x = tf.cast(inputs, self.w.dtype)"),
    ("same = self.w.dtype == tf.float32", "same = self.w.dtype == tf.float32"),
])
def test_tf_only_uses_are_rewritten_in_the_same_fix(body, rewritten):
    source = _layer(body)
    [finding] = _tgf203(source)
    assert finding.fix is not None
    fixed = _process(source, fix=True).new_text
    assert "self.w = self.add_weight(" in fixed and rewritten in fixed, fixed


@pytest.mark.parametrize("body,why", [
    ("key = self.w.ref()", "`self.w.ref` has no equivalent"),
    ("shrink: self.w.scatter_update(tf.IndexedSlices(tf.zeros((1, 3)), [0]))",
     "`self.w.scatter_update` has no equivalent"),
    ("assert isinstance(self.w, tf.Variable)", "would be False for a Keras weight"),
    ("shrink: return self.w.assign(self.w * 0.5, read_value=True)",
     "arguments a Keras weight's `assign` does not take"),
    ("for v in [self.w]: print(v.device)", "`v.device` has no equivalent"),
])
def test_a_use_with_no_equivalent_means_no_fix(body, why):
    [finding] = _tgf203(_layer(body))
    assert finding.fix is None and why in finding.message, finding.message


def test_a_positional_dtype_is_read_as_trainable_and_called_a_slip():
    source = _layer("pass").replace("tf.Variable(tf.ones((4, 3)))",
                                                         "tf.Variable(tf.ones((4, 3)), tf.float32)")
    [finding] = _tgf203(source)
    assert "looks like a slip" in finding.message and "looks like a slip" in finding.fix.description
    fixed = _process(source, fix=True).new_text
    assert "trainable=" not in fixed and "dtype=" not in fixed.split("def call")[0]


_PARENT_AND_CHILD = """\
    import tensorflow as tf


    class Base(tf.keras.layers.Layer):
        def {parent_method}(self, *args):
            super().{parent_method}(*args)
            self.k = tf.Variable(tf.ones((4, 3)))

        def call(self, inputs):
            return tf.matmul(inputs, self.k)


    class Child(Base):
        def {child_method}(self, *args):
            {before}
            self.k = tf.Variable(tf.zeros((4, 3)))
            {after}
"""


@pytest.mark.parametrize("parent_method,child_method,before,after,child_fixed", [
    ("__init__", "__init__", "super().__init__(*args)", "pass", True),
    ("__init__", "build", "super().build(*args)", "pass", True),
    # the parent's creation runs after the child's: the child's weight would be overwritten
    ("build", "__init__", "super().__init__(*args)", "pass", False),
    ("build", "build", "pass", "super().build(*args)", False),
])
def test_no_second_dead_weight_when_a_subclass_creates_the_attribute_again(
        parent_method, child_method, before, after, child_fixed):
    source = _PARENT_AND_CHILD.format(parent_method=parent_method, child_method=child_method, before=before,
                                      after=after)
    parent, child = sorted(_tgf203(source), key=lambda f: f.line)
    assert parent.fix is None and "`Child` creates `self.k` again" in parent.message
    assert (child.fix is not None) == child_fixed, child.message


def test_a_subclass_that_does_not_run_the_parents_creation_leaves_its_fix():
    source = _PARENT_AND_CHILD.format(parent_method="build", child_method="build", before="pass", after="pass")
    parent, child = sorted(_tgf203(source), key=lambda f: f.line)
    assert parent.fix is not None and child.fix is not None


@pytest.mark.slow
def test_the_tf_variable_api_a_keras_weight_lacks():
    """The tables of fixes/variable_uses.py, measured: every public name of a `tf.Variable`
    that a Keras 3 weight lacks is rewritten or blocks the fix, and those it rewrites are
    missing (or, `value`, not callable) on the weight."""
    from tfgradfix.fixes.variable_uses import _METHODS, NO_EQUIVALENT

    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    weight = keras.layers.Dense(2)
    weight.build((None, 3))
    kernel = weight.kernel
    variable = tf.Variable(tf.ones((3, 2)))
    lacking = {name for name in dir(variable) if not name.startswith("_") and not hasattr(kernel, name)}
    assert lacking <= NO_EQUIVALENT | set(_METHODS), lacking - NO_EQUIVALENT - set(_METHODS)
    assert all(not hasattr(kernel, name) for name in set(_METHODS) - {"value"})
    with pytest.raises(TypeError):
        kernel.value()
    assert isinstance(kernel.dtype, str) and not isinstance(kernel, tf.Variable)
    with pytest.raises(TypeError):
        kernel.assign(tf.zeros((3, 2)), read_value=False)


def test_tensorflow_imported_by_name_at_module_level_is_no_lazy_import():
    backend = _backend("from tensorflow import keras\n\nclass A:\n    def f(self):\n        return keras\n")
    assert backend.target is not None and backend.imports == (("tensorflow", "tf"),)
