"""What an object is, and what code is on the gradient path, as users see it: which
findings a snippet gets and whether they come with a fix."""

from __future__ import annotations

import textwrap

from conftest import FIXTURES
from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.rules import ALL_RULES


def _findings(code: str, rule: str):
    source = SourceFile(path="snippet.py", text=textwrap.dedent(code), encoding="utf-8", bom=False)
    result = Engine(ALL_RULES, fix=True).process(source)
    assert result.error is None
    return [f for f in result.original_findings if f.code == rule], result.new_text


_TRAIN = """
    def train(model, x, y, optimizer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.variables)
        optimizer.apply_gradients(zip(grads, model.variables))
"""


def _tgf405(setup: str, extra: str = ""):
    return _findings("import tensorflow as tf\nfrom tensorflow import keras\n" + textwrap.dedent(setup)
                     + textwrap.dedent(_TRAIN) + textwrap.dedent(extra), "TGF405")


def test_tgf405_needs_variables_that_can_be_non_trainable():
    stateful = {
        "batch norm in a Sequential": "net = keras.Sequential([keras.layers.Dense(2), keras.layers.BatchNormalization()])\n",
        "Keras 3 dropout seed state": "net = keras.Sequential([keras.layers.Dense(2), keras.layers.Dropout(0.5)])\n",
        "a frozen backbone": ("base = keras.applications.VGG16(include_top=False)\nbase.trainable = False\n"
                              "net = keras.Sequential([base, keras.layers.Dense(2)])\n"),
        "a batch-norm application": "net = keras.applications.ResNet50(weights=None)\n",
        "a trainable=False weight": ("class Layer(keras.layers.Layer):\n    def build(self, shape):\n"
                                     "        self.count = self.add_weight(shape=(), trainable=False)\n"
                                     "net = Layer()\n"),
        "a tf.Module with a step counter": ("class Counted(tf.Module):\n    def __init__(self):\n"
                                            "        self.w = tf.Variable(1.0)\n"
                                            "        self.steps = tf.Variable(0.0, trainable=False)\n"
                                            "net = Counted()\n"),
    }
    all_trainable = {
        "Dense layers only": "net = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1)])\n",
        "a tf.Module": ("class Linear(tf.Module):\n    def __init__(self):\n"
                        "        self.w = tf.Variable(tf.zeros((3, 1)))\nnet = Linear()\n"),
        "a loaded model (unknown)": "net = keras.models.load_model('model.keras')\n",
        "a VGG without batch norm": "net = keras.applications.VGG16(weights=None)\n",
    }
    for case, setup in stateful.items():
        found, _ = _tgf405(setup, "train(net, 1, 2, None)\n")
        assert len(found) == 1 and found[0].fix is not None, case
    for case, setup in all_trainable.items():
        found, _ = _tgf405(setup, "train(net, 1, 2, None)\n")
        assert found == [], case


def test_tgf405_weights_of_a_model_with_only_seed_state_are_all_trainable():
    """Keras 3 keeps Dropout's seed generator and a stateful RNN's states in `variables`,
    not in `weights`: `model.weights` of such a model has no None gradient."""
    seeded = {
        "dropout": "net = keras.Sequential([keras.layers.Dense(2), keras.layers.Dropout(0.5)])\n",
        "noise and augmentation": ("net = keras.Sequential([keras.layers.RandomFlip(), keras.layers.GaussianNoise(0.1),"
                                   " keras.layers.Dense(2)])\n"),
        "a stateful LSTM": "net = keras.Sequential([keras.layers.LSTM(2, stateful=True)])\n",
        "a subclass with dropout": ("class Net(keras.Model):\n    def __init__(self):\n        super().__init__()\n"
                                    "        self.drop = keras.layers.Dropout(0.1)\n"
                                    "        self.out = keras.layers.Dense(1)\n"
                                    "net = Net()\n"),
    }
    for case, setup in seeded.items():
        found, _ = _tgf405(setup, "train(net, 1, 2, None)\n")
        assert len(found) == 1 and "seed generator" in found[0].message, case
        weights, _ = _findings("import tensorflow as tf\nfrom tensorflow import keras\n" + setup
                               + textwrap.dedent(_TRAIN).replace("model.variables", "model.weights")
                               + "train(net, 1, 2, None)\n", "TGF405")
        assert weights == [], case
    # Moving statistics are weights: with them, `model.weights` is reported.
    both = "net = keras.Sequential([keras.layers.Dropout(0.5), keras.layers.BatchNormalization()])\n"
    weights, _ = _findings("import tensorflow as tf\nfrom tensorflow import keras\n" + both
                           + textwrap.dedent(_TRAIN).replace("model.variables", "model.weights")
                           + "train(net, 1, 2, None)\n", "TGF405")
    assert len(weights) == 1 and "frozen or stateful parts" in weights[0].message


def test_tgf405_parameter_judged_by_every_caller():
    setup = ("bn = keras.Sequential([keras.layers.BatchNormalization()])\n"
             "plain = keras.Sequential([keras.layers.Dense(1)])\n")
    found, _ = _tgf405(setup, "train(bn, 1, 2, None)\ntrain(plain, 1, 2, None)\n")
    assert len(found) == 1  # one of the models passed holds moving statistics
    found, _ = _tgf405(setup, "train(plain, 1, 2, None)\n")
    assert found == []


def test_tgf405_fixes_every_paired_list_or_none():
    setup = "net = keras.Sequential([keras.layers.BatchNormalization()])\n"
    found, fixed = _tgf405(setup, "train(net, 1, 2, None)\n")
    assert found[0].fix is not None
    assert "model.variables" not in fixed and fixed.count("model.trainable_variables") == 2
    # A name bound to the list serves the gradients and something else: changing it would change both.
    aliased = """
        import tensorflow as tf
        from tensorflow import keras
        net = keras.Sequential([keras.layers.BatchNormalization()])

        def train(x, optimizer):
            params = net.variables
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(net(x, training=True))
            grads = tape.gradient(loss, params)
            optimizer.apply_gradients(zip(grads, params))
            return len(params)
    """
    found, _ = _findings(aliased, "TGF405")
    assert len(found) == 1 and found[0].fix is None
    found, fixed = _findings(aliased.replace("return len(params)", "return loss"), "TGF405")
    assert found[0].fix is not None and "params = net.trainable_variables" in fixed
    # The gradients go to a helper that pairs them out of sight: reported, not fixed.
    code = """
        import tensorflow as tf
        from tensorflow import keras
        net = keras.Sequential([keras.layers.BatchNormalization()])

        def apply(grads, optimizer):
            optimizer.apply_gradients(zip(grads, net.variables))

        def train(x, optimizer):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(net(x, training=True))
            grads = tape.gradient(loss, net.variables)
            apply(grads, optimizer)
    """
    found, fixed = _findings(code, "TGF405")
    assert len(found) == 1 and found[0].fix is None
    # A caller zips the returned gradients with its own list: changing only the sources would misalign them.
    code = """
        import tensorflow as tf
        from tensorflow import keras
        net = keras.Sequential([keras.layers.BatchNormalization()])

        def gradients(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(net(x, training=True))
            return tape.gradient(loss, net.variables)

        def step(x, optimizer):
            optimizer.apply_gradients(zip(gradients(x), net.variables))
    """
    found, _ = _findings(code, "TGF405")
    assert len(found) == 1 and found[0].fix is None


def test_tgf106_only_calls_a_keras_model():
    keras_model = """
        import tensorflow as tf
        model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.predict(x) - y)
        grads = tape.gradient(loss, model.trainable_variables)
    """
    found, fixed = _findings(keras_model, "TGF106")
    assert len(found) == 1 and "model(x, training=False)" in fixed
    # A model handed in from outside the module: reported, but calling it may not even work.
    unknown = """
        import tensorflow as tf
        def step(model, x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.predict(x) - y)
            return tape.gradient(loss, model.trainable_variables)
    """
    found, fixed = _findings(unknown, "TGF106")
    assert len(found) == 1 and found[0].fix is None
    fitted = textwrap.dedent(unknown) + "    model.fit(x, y)\n"
    found, _ = _findings(fitted, "TGF106")
    assert len(found) == 1 and found[0].fix is not None  # `.fit` says it is a Keras model
    called = unknown.replace("loss = tf.reduce_mean(model.predict(x) - y)",
                             "loss = tf.reduce_mean(model.predict(x) - model(y, training=True))")
    found, _ = _findings(called, "TGF106")
    assert len(found) == 1 and found[0].fix is not None  # so does Keras's `training=` argument


def test_closures_from_factories_are_on_the_path():
    compiled = """
        import numpy as np
        import tensorflow as tf

        def make_loss(alpha):
            def focal(y_true, y_pred):
                return np.mean(alpha * np.square(y_true - y_pred))
            return focal

        model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss=make_loss(0.25))
    """
    found, _ = _findings(compiled, "TGF101")
    assert {f.line for f in found} == {7}
    assert {f.symbol for f in found} == {"make_loss.focal"}
    # y_true alone carries no gradient: NumPy on the labels is fine.
    labels_only = compiled.replace("np.square(y_true - y_pred)", "np.square(y_true)").replace(
        "np.mean(alpha * ", "y_pred * np.mean(alpha * ")
    assert _findings(labels_only, "TGF101")[0] == []


def test_custom_gradient_and_numpy_bodies_are_off_the_path():
    code = """
        import numpy as np
        import tensorflow as tf

        def _round_with_identity(x):
            def grad(dy):
                return dy
            return np.round(x.numpy()), grad

        round_ste = tf.custom_gradient(_round_with_identity)

        def _process(a):
            return np.tanh(a.numpy())

        @tf.numpy_function(Tout=tf.float32)
        def _step(a):
            return np.array(a.numpy() * 2, np.float32)

        class Block(tf.keras.layers.Layer):
            def call(self, x):
                _step(x)
                side = tf.py_function(lambda: _process(x), [], tf.float32)
                clipped = tf.numpy_function(lambda x: np.clip(x, 0, 1), [x], tf.float32)
                return round_ste(x) + tf.stop_gradient(side + clipped)
    """
    for rule in ("TGF101", "TGF102"):
        assert _findings(code, rule)[0] == [], rule
    # The wrapper is what is reported, once.
    assert len(_findings(code, "TGF105")[0]) == 1


def test_nested_functions_and_map_fn_lambdas_run_on_tensors():
    code = """
        import numpy as np
        import tensorflow as tf

        def per_example(e):
            return np.cos(e)

        class Block(tf.keras.layers.Layer):
            def call(self, x):
                def squash(t):
                    return np.tanh(t)
                rows = tf.map_fn(lambda r: np.sin(r), x)
                return squash(x) + rows + tf.vectorized_map(per_example, x)
    """
    found, _ = _findings(code, "TGF101")
    assert sorted(f.line for f in found) == [6, 11, 12]


def test_caller_dtype_reaches_the_variable():
    code = """
        import tensorflow as tf

        def gradient_at(values, dtype):
            x = tf.Variable(values, dtype=dtype)
            with tf.GradientTape() as tape:
                y = x * x
            return tape.gradient(y, x)

        gradient_at([1, 2], tf.int32)
    """
    assert len(_findings(code, "TGF404")[0]) == 1
    assert _findings(code.replace("tf.int32", "tf.float32"), "TGF404")[0] == []
    both = textwrap.dedent(code) + "gradient_at([1.0], tf.float32)\n"
    assert _findings(both, "TGF404")[0] == []  # callers disagree: not known to be integer


def test_layer_weight_dtype_from_its_constructions():
    flagged = (FIXTURES / "TGF206" / "flag_caller_dtype.py").read_text()
    assert len(_findings(flagged, "TGF206")[0]) == 1
    floats = flagged.replace('Bias(weight_dtype="int32")', "Bias()")
    assert _findings(floats, "TGF206")[0] == []
    mixed = flagged + '\n\ndef make_other():\n    return Bias(weight_dtype="float16")\n'
    assert _findings(mixed, "TGF206")[0] == []


def test_lambda_expressions_handed_to_keras_run_on_tensors():
    code = """
        import numpy as np
        from tensorflow import keras

        inputs = keras.Input((3,))
        hidden = keras.layers.Lambda(lambda t: np.tanh(t))(keras.layers.Dense(4)(inputs))
        scaled = keras.layers.Lambda(lambda t: t * np.sqrt(3.0))(hidden)
        model = keras.Model(inputs, scaled)
        model.compile(loss=lambda y, p: np.mean(np.abs(y - p)))
    """
    found, fixed = _findings(code, "TGF101")
    assert sorted((f.line, f.symbol) for f in found) == [(6, "<lambda>"), (9, "<lambda>"), (9, "<lambda>")]
    assert "lambda t: tf.tanh(t)" in fixed and "np.sqrt(3.0)" in fixed


def test_numpy_on_a_detached_target_is_fine_until_the_target_carries_a_gradient():
    code = (FIXTURES / "TGF101" / "ok_dqn_target.py").read_text()
    assert _findings(code, "TGF101")[0] == []
    # Without the stop_gradient, the target network's output is still a constant to the tape's
    # sources (the online network's variables); the online network's own is not, but with the
    # online network also called undetached for `q_values` it is a semi-gradient bootstrap target.
    unstopped = code.replace("            next_q = tf.stop_gradient(next_q)\n", "")
    assert _findings(unstopped, "TGF101")[0] == []
    online = unstopped.replace("self.target(next_states)", "self.online(next_states)")
    assert _findings(online, "TGF101")[0] == []
    found, _ = _findings(online.replace("q_values = self.online(states)", "q_values = tf.zeros([4, 2])"), "TGF101")
    assert [f.line for f in found] == [18]
    # Rebound in a loop after the read: the value at the read is not known, so it counts.
    looped = code.replace("            next_q = tf.stop_gradient(next_q)\n",
                          "            for _ in range(2):\n                next_q = tf.stop_gradient(next_q)\n"
                          "                best_next = np.max(next_q, axis=-1)\n                next_q = next_q * q_values\n")
    assert _findings(looped, "TGF101")[0] != []


def test_static_shapes_batches_and_masks_carry_no_gradient():
    shape = """
        import numpy as np
        import tensorflow as tf

        class Flatten(tf.keras.layers.Layer):
            def call(self, x):
                return tf.reshape(x, (-1, np.prod(x.get_shape().as_list()[1:])))
    """
    assert _findings(shape, "TGF101")[0] == []
    # Labels come from a generator (`next` is no forward pass); the mask is a comparison.
    labels = """
        import numpy as np
        import tensorflow as tf

        def batches():
            while True:
                yield np.ones((2, 3)), np.ones((2, 3))

        def compute_loss(target_masks, pred):
            mask = (np.abs(target_masks) == 1).astype(np.float32)
            return tf.reduce_sum(pred * mask) / np.sum(mask)

        model = tf.keras.Sequential([tf.keras.layers.Dense(3)])
        data = batches()
        for step in range(10):
            x, masks = next(data)
            with tf.GradientTape() as tape:
                loss = compute_loss(masks, model(x))
            grads = tape.gradient(loss, model.trainable_variables)
    """
    assert _findings(labels, "TGF101")[0] == []


def test_array_uses_after_a_comparison_are_rewritten():
    code = """
        import numpy as np
        import tensorflow as tf

        class Gate(tf.keras.layers.Layer):
            def call(self, x):
                mask = (np.abs(x) > 0.5).astype(np.float32)
                return x * mask
    """
    found, fixed = _findings(code, "TGF101")
    assert len(found) == 1 and "mask = tf.cast(tf.abs(x) > 0.5, tf.float32)" in fixed


def test_a_lambda_first_met_after_the_analysis_is_built_is_no_crash():
    # TGF209 asks who calls `helper` while the traversal runs; `get_name()` calls a lambda.
    code = """
        import tensorflow as tf

        def helper(x):
            return tf.keras.layers.Dense(4)(x)

        class Block(tf.keras.layers.Layer):
            def build(self, s):
                get_name = lambda: "c"
                self.d = tf.keras.layers.Dense(4, name=get_name())

            def call(self, x):
                return self.d(helper(x))
    """
    found, _ = _findings(code, "TGF209")  # `_findings` asserts the file had no internal error
    assert [f.line for f in found] == [5]


def test_module_level_aliases_of_imported_names_are_those_names(tmp_path):
    """`keras = tf.keras`; `layers = keras.layers`: the same names as imports, for the rules
    and for the project index; a name bound twice is no alias."""
    import libcst as cst

    from tfgradfix.analysis.imports import ImportMap
    from tfgradfix.analysis.project import Kind, ProjectIndex

    source = textwrap.dedent("""
        import tensorflow as tf
        keras = tf.keras
        layers = keras.layers
        try:
            Base = layers.Layer
        except AttributeError:
            Base = object
        class Gate(layers.Layer):
            def call(self, x):
                return x
        class Maybe(Base):
            def call(self, x):
                return x
    """)
    imports = ImportMap(cst.parse_module(source))
    dense = cst.parse_expression("layers.Dense")
    assert imports.resolve(dense) == "tensorflow.keras.layers.Dense"
    assert imports.resolve(cst.parse_expression("Base")) is None
    path = tmp_path / "gates.py"
    path.write_text(source)
    index = ProjectIndex.build([str(path)], ())
    assert index.kind_of("gates.Gate") is Kind.KERAS_LAYER
    assert not index.kind_of("gates.Maybe").is_keras
