"""TF 1.x modules track variable attributes as Keras 2 does (analysis/tf_version.py); TF 2 code
with a TF 1.x shim is TF 2 code."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.tf_version import tf1_api
from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import ALL_RULES

from conftest import FIXTURES

TF1_MODEL = FIXTURES / "TGF203" / "ok_tf1_eager_model.py"


def _codes(path: Path) -> list[str]:
    result = Engine(list(ALL_RULES), fix=False).process(read_source(str(path)))
    assert result.error is None
    return [f.code for f in result.findings]


def _tf1(text: str):
    module = cst.parse_module(text)
    return tf1_api(module, ImportMap(module), text)


def test_the_same_model_written_for_tf2_is_reported(tmp_path):
    """ok_tf1_eager_model is silent because it is TF 1.x code: with TF 2's spellings, Keras 3
    does not track its variables and the finding is true."""
    text = TF1_MODEL.read_text(encoding="utf-8")
    text = text.replace("tf.contrib.eager.Variable", "tf.Variable").replace("tf.random_normal", "tf.random.normal")
    text = text.replace("tf.train.AdamOptimizer", "tf.keras.optimizers.Adam").replace("_with_logits_v2", "_with_logits")
    path = tmp_path / "model.py"
    path.write_text(text, encoding="utf-8")
    assert _codes(path).count("TGF203") == 2


@pytest.mark.parametrize("text, found", [
    ("import tensorflow as tf\nx = tf.placeholder(tf.float32)\n", "tensorflow.placeholder"),
    ("import tensorflow.contrib.eager as tfe\n", "tensorflow.contrib.eager."),
    ("from tensorflow.contrib import layers\n", "tensorflow.contrib."),
    ("import tensorflow.compat.v1 as tf\ntf.disable_v2_behavior()\n", "tensorflow.compat.v1.disable_v2_behavior"),
    ("import tensorflow as tf\nopt = tf.train.GradientDescentOptimizer(0.1)\n",
     "tensorflow.train.GradientDescentOptimizer"),
    # TF 2 code: the compat spellings, Keras optimizers, a TF 1.x import guarded for TF 2.
    ("import tensorflow as tf\nopt = tf.keras.optimizers.Adam()\ns = tf.compat.v1.Session\n", None),
    ("try:\n    import tensorflow.contrib.eager as tfe\nexcept ImportError:\n    tfe = None\n", None),
    ("import tensorflow as tf\nif tf.__version__.startswith('1.'):\n    opt = tf.train.AdamOptimizer()\n", None),
    ("import tensorflow as tf\nsession_length = tf.math.log(2.0)\n", None),
    # Names generated from TensorFlow (analysis/tf1_names.py): TF 2 moved them under tf.math.
    ("import tensorflow as tf\ny = tf.real(tf.complex(a, b))\n", "tensorflow.real"),
    ("import tensorflow as tf\ny = tf.layers.dense(x, 4)\n", "tensorflow.layers.dense"),
    ("import tensorflow as tf\ny = tf.math.real(tf.complex(a, b))\nz = tf.keras.layers.Dense(4)\n", None),
    # Multi-backend Keras (<= 2.3), graph mode whatever TensorFlow it ran on; Keras 3 has its own
    # `keras.legacy.saving`, and Keras 2.4+ its `keras.engine.base_layer`.
    ("from keras import backend as K\nfrom keras.legacy import interfaces\n", "keras.legacy.interfaces."),
    ("from keras.engine.topology import Layer\n", "keras.engine.topology."),
    ("import keras.backend.tensorflow_backend as KTF\n", "keras.backend.tensorflow_backend."),
    ("from keras.legacy import saving\nfrom keras.engine.base_layer import Layer\n", None),
    ("from keras.legacy.saving import legacy_h5_format\n", None),
])
def test_tf1_only_names(text, found):
    assert _tf1(text) == found


@pytest.mark.slow
def test_the_generated_list_is_what_tensorflow_removed():
    """analysis/tf1_names.py is what tools/tf1_names.py reads from the installed TensorFlow."""
    tf = pytest.importorskip("tensorflow")
    import importlib.util

    from tfgradfix.analysis.tf1_names import TF1_ONLY

    tool_path = Path(__file__).resolve().parent.parent / "tools" / "tf1_names.py"
    spec = importlib.util.spec_from_file_location("tf1_names_tool", tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert set(tool.removed_names()) == TF1_ONLY, tf.__version__
