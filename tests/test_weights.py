"""tf.Variable initial values as the add_weight initializer of the same distribution."""

from __future__ import annotations

import libcst as cst
import pytest

from tfgradfix.analysis.imports import ImportMap
from tfgradfix.fixes.weights import WeightTranslator

from conftest import FIXTURES

_IMPORTS = ImportMap(cst.parse_module("import tensorflow as tf\nimport numpy as np\n"))


@pytest.mark.parametrize("variable,weight", [
    ("tf.Variable(tf.random.normal((2, 3), 0.5, 2.0, seed=1))",
     "self.add_weight(shape=(2, 3), initializer=tf.keras.initializers.RandomNormal(mean=0.5, stddev=2.0, seed=1))"),
    ("tf.Variable(tf.random.uniform((2,)))",
     "self.add_weight(shape=(2,), initializer=tf.keras.initializers.RandomUniform(minval=0.0, maxval=1.0))"),
    ("tf.Variable(tf.random.truncated_normal((4,), stddev=0.1), trainable=False)",
     "self.add_weight(shape=(4,), initializer=tf.keras.initializers.TruncatedNormal(mean=0.0, stddev=0.1), "
     "trainable=False)"),
    ("tf.Variable(tf.zeros((3,)), name='b')", "self.add_weight(name='b', shape=(3,), initializer=\"zeros\")"),
    ("tf.Variable(tf.fill((2, 2), 0.5))", "self.add_weight(shape=(2, 2), initializer=tf.keras.initializers.Constant(value=0.5))"),
    ("tf.Variable(3)", "self.add_weight(shape=(), initializer=tf.keras.initializers.Constant(value=3), dtype=\"int32\")"),
    # the dtype casts an integer literal (a tensorflow2_model_zoo notebook's `tf.Variable(0, dtype=tf.float32)`)
    ("tf.Variable(0, dtype=tf.float32)", "self.add_weight(shape=(), initializer=\"zeros\", dtype=tf.float32)"),
    ("tf.Variable([1, 2], dtype='float32')",
     "self.add_weight(shape=(2,), initializer=tf.keras.initializers.Constant(value=[1.0, 2.0]), dtype='float32')"),
    ("tf.Variable(tf.keras.initializers.GlorotUniform()((4, 2)))",
     "self.add_weight(shape=(4, 2), initializer=tf.keras.initializers.GlorotUniform())"),
])
def test_initial_values_map_to_initializers(variable, weight):
    translated = WeightTranslator(_IMPORTS).from_variable(cst.parse_expression(variable))
    assert cst.Module([]).code_for_node(translated.add_weight()) == weight


def test_unknown_shapes_need_a_free_name_for_the_initial_value():
    variable = cst.parse_expression("tf.Variable(np.random.normal(size=(2,)))")
    assert WeightTranslator(_IMPORTS).from_variable(variable) is None
    kept = WeightTranslator(_IMPORTS).from_variable(variable, initial="initial_w")
    assert cst.Module([]).code_for_node(kept.prelude) == "initial_w = tf.convert_to_tensor(np.random.normal(size=(2,)))\n"
    assert cst.Module([]).code_for_node(kept.add_weight()) == (
        "self.add_weight(shape=initial_w.shape, initializer=tf.keras.initializers.Constant(value=initial_w), "
        "dtype=initial_w.dtype)")


@pytest.mark.parametrize("variable,weight", [
    ("tf.Variable(tf.zeros_initializer()(shape=(3,)))", 'self.add_weight(shape=(3,), initializer="zeros")'),
    ("tf.Variable(tf.ones_initializer()((3,), dtype='float64'))",
     "self.add_weight(shape=(3,), initializer=\"ones\", dtype='float64')"),
    ("tf.Variable(tf.random_normal_initializer(stddev=0.1)(shape=(2, 3), dtype='float32'))",
     "self.add_weight(shape=(2, 3), initializer=tf.random_normal_initializer(stddev=0.1), dtype='float32')"),
    ("tf.Variable(tf.ones((2, 3)) * 0.5)",
     "self.add_weight(shape=(2, 3), initializer=tf.keras.initializers.Constant(value=0.5))"),
    ("tf.Variable(0.01 * tf.random.normal((2, 3)))",
     "self.add_weight(shape=(2, 3), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.01))"),
    ("tf.Variable(tf.zeros((3,)) * 2)", 'self.add_weight(shape=(3,), initializer="zeros")'),
])
def test_initializer_objects_and_scaled_values(variable, weight):
    translated = WeightTranslator(_IMPORTS).from_variable(cst.parse_expression(variable))
    assert cst.Module([]).code_for_node(translated.add_weight()) == weight


def test_an_initializer_held_by_a_local_keeps_its_name_unless_the_weight_moves():
    variable = cst.parse_expression("tf.Variable(initial_value=w_init(shape=(4, 2), dtype='float32'), trainable=True)")
    values = {"w_init": cst.parse_expression("tf.random_normal_initializer()"),
              "b_init": cst.parse_expression("tf.zeros_initializer()")}
    here = WeightTranslator(_IMPORTS, values).from_variable(variable)
    assert cst.Module([]).code_for_node(here.add_weight()) == (
        "self.add_weight(shape=(4, 2), initializer=w_init, trainable=True, dtype='float32')")
    moved = WeightTranslator(_IMPORTS, values, portable=True).from_variable(variable)
    assert "initializer=tf.random_normal_initializer()" in cst.Module([]).code_for_node(moved.add_weight())
    zeros = cst.parse_expression("tf.Variable(b_init(shape=(2,)))")
    assert 'initializer="zeros"' in cst.Module([]).code_for_node(
        WeightTranslator(_IMPORTS, values, portable=True).from_variable(zeros).add_weight())


def test_values_that_are_not_initializers_are_not_taken_for_one():
    values = {"make": cst.parse_expression("build_matrix()")}
    variable = cst.parse_expression("tf.Variable(make((2, 2)))")
    assert WeightTranslator(_IMPORTS, values).from_variable(variable) is None
    scaled_random = cst.parse_expression("tf.Variable(tf.random.normal((2,), stddev=2.0) * 0.5)")
    assert WeightTranslator(_IMPORTS).from_variable(scaled_random) is None


def test_a_tensor_of_unknown_shape_is_named_as_it_is():
    variable = cst.parse_expression("tf.Variable(tf.cast(steps, tf.float32), name='log_step')")
    kept = WeightTranslator(_IMPORTS).from_variable(variable, initial="initial_log_step")
    assert cst.Module([]).code_for_node(kept.prelude) == "initial_log_step = tf.cast(steps, tf.float32)\n"


# NumPy initial values (NumPy's default dtype is float64: the weight keeps it) and lengths
# that become one-element shapes.
_NUMPY_CASES = [
    ("tf.Variable(np.zeros(3))", 'self.add_weight(shape=(3,), initializer="zeros", dtype="float64")'),
    ("tf.Variable(np.zeros(2 * 2, dtype=np.float32))",
     'self.add_weight(shape=(2 * 2,), initializer="zeros", dtype="float32")'),
    ("tf.Variable(np.ones((2, 3)), trainable=False)",
     'self.add_weight(shape=(2, 3), initializer="ones", trainable=False, dtype="float64")'),
    ("tf.Variable(np.ones([2, 3], float))", 'self.add_weight(shape=(2, 3), initializer="ones", dtype="float64")'),
    ("tf.Variable(np.full((2,), 2, dtype='float32'))",
     'self.add_weight(shape=(2,), initializer=tf.keras.initializers.Constant(value=2.0), dtype="float32")'),
    ("tf.Variable(np.full([3], 0.5))",
     'self.add_weight(shape=(3,), initializer=tf.keras.initializers.Constant(value=0.5), dtype="float64")'),
    ("tf.Variable(np.zeros(3), dtype=tf.float32)", 'self.add_weight(shape=(3,), initializer="zeros", dtype=tf.float32)'),
    ("tf.Variable(tf.zeros((2, 2), dtype=tf.float64))",
     'self.add_weight(shape=(2, 2), initializer="zeros", dtype=tf.float64)'),
    ("tf.Variable(tf.ones([4], tf.float16))", 'self.add_weight(shape=(4,), initializer="ones", dtype=tf.float16)'),
    ("tf.Variable(tf.zeros(3))", 'self.add_weight(shape=(3,), initializer="zeros")'),
    ("tf.Variable(tf.fill([2], 2))",
     'self.add_weight(shape=(2,), initializer=tf.keras.initializers.Constant(value=2), dtype="int32")'),
]


@pytest.mark.parametrize("variable,weight", _NUMPY_CASES)
def test_numpy_and_tf_constructors_become_named_initializers(variable, weight):
    translated = WeightTranslator(_IMPORTS).from_variable(cst.parse_expression(variable))
    assert cst.Module([]).code_for_node(translated.add_weight()) == weight


@pytest.mark.slow
@pytest.mark.parametrize("variable,weight", _NUMPY_CASES)
def test_the_weight_equals_the_variable_under_tensorflow(variable, weight):
    """Same shape, dtype and values as the `tf.Variable` it replaces."""
    tf = pytest.importorskip("tensorflow")
    np = pytest.importorskip("numpy")
    layer = tf.keras.layers.Layer()
    names = {"tf": tf, "np": np, "self": layer}
    before, after = eval(variable, names), eval(weight, names)  # noqa: S307 - the test's own literals
    assert (tuple(after.shape), after.dtype) == (tuple(before.shape), before.dtype)
    np.testing.assert_array_equal(np.asarray(after), before.numpy())


def test_a_name_that_may_be_a_length_or_a_shape_keeps_the_value_and_says_why():
    variable = cst.parse_expression("tf.Variable(np.zeros(self.size))")
    weight = WeightTranslator(_IMPORTS).from_variable(variable, initial="initial_w")
    assert weight.prelude is not None and "`self.size` may be a length or a shape" in weight.note
    # with evidence that it is an int (`size=4` in the constructor), it is a length
    values = {"self.size": cst.Name("size")}
    weight = WeightTranslator(_IMPORTS, values, integers=frozenset({"size"})).from_variable(variable, initial="w")
    assert cst.Module([]).code_for_node(weight.add_weight()) == (
        'self.add_weight(shape=(self.size,), initializer="zeros", dtype="float64")')


def test_integer_numpy_arrays_are_not_turned_into_float_weights():
    variable = cst.parse_expression("tf.Variable(np.zeros(3, dtype=np.int32))")
    assert WeightTranslator(_IMPORTS).from_variable(variable) is None


@pytest.mark.parametrize("variable,weight", [
    ("tf.Variable(0.0)", 'self.add_weight(shape=(), initializer="zeros")'),
    ("tf.Variable(tf.random.normal([2, 3]))",
     "self.add_weight(shape=(2, 3), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))"),
])
def test_what_a_reviewer_would_write(variable, weight):
    translated = WeightTranslator(_IMPORTS).from_variable(cst.parse_expression(variable))
    assert cst.Module([]).code_for_node(translated.add_weight()) == weight


def test_backup_copies_declared_trainable_are_reported_and_integers_are_state(tmp_path):
    """ok_backup_copies is silent because the copies are `trainable=False`; declared trainable
    they are reported. An integer variable is reported as untracked state, never as a weight
    that "never trains"."""
    from tfgradfix.engine import Engine
    from tfgradfix.files import read_source
    from tfgradfix.rules import RULES_BY_CODE

    def messages(text: str) -> list[str]:
        path = tmp_path / "model.py"
        path.write_text(text, encoding="utf-8")
        return [f.message for f in Engine([RULES_BY_CODE["TGF203"]]).process(read_source(str(path))).findings]

    text = (FIXTURES / "TGF203" / "ok_backup_copies.py").read_text(encoding="utf-8")
    assert messages(text) == []
    (trainable,) = messages(text.replace("trainable=False", "trainable=True"))
    assert trainable.startswith("`self.backups` holds a `tf.Variable`") and "never trains" in trainable
    # (read by a method: a counter nothing reads is state no one keeps, and is silent)
    counter = text.replace("        self.head = tf.keras.layers.Dense(4)\n",
                           "        self.head = tf.keras.layers.Dense(4)\n        self.next_loss = tf.Variable(0)\n")
    counter += "\n    def pending(self):\n        return int(self.next_loss)\n"
    assert messages(counter.replace("int(self.next_loss)", "0")) == []
    (state,) = messages(counter)
    assert state.startswith("`self.next_loss` holds an integer `tf.Variable` (state, not a weight)")
    assert "never trains" not in state
