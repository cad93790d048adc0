"""tf.Variable initial values as the add_weight initializer of the same distribution."""

from __future__ import annotations

import libcst as cst
import pytest

from tfgradfix.analysis.imports import ImportMap
from tfgradfix.fixes.weights import WeightTranslator

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
    assert "initializer=lambda shape, dtype=None: initial_w" in cst.Module([]).code_for_node(kept.add_weight())
