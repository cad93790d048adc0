"""The facts issue 23 added to the analysis, each checked on its own and by the finding it
decides: a rebound name read where it is used (analysis/rebinding.py), where a `Lambda`
sits (analysis/layer_graph.py), whether a helper's result is trained through
(analysis/callers.py), abstract methods, `super().call` of a built-in layer, and weights
made by calling an initializer (analysis/initializers.py)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from tfgradfix.analysis.rebinding import tainted_at
from tfgradfix.analysis.scopes import ModuleAnalysis, is_abstract
from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.rules import ALL_RULES

_HEADER = "import tensorflow as tf\nfrom tensorflow import keras\nfrom tensorflow.keras import layers\n\n\n"


def _codes(code: str) -> list[str]:
    source = SourceFile(path="snippet.py", text=_HEADER + textwrap.dedent(code), encoding="utf-8", bom=False)
    result = Engine(ALL_RULES).process(source)
    assert result.error is None
    return [f"{f.line - 5}:{f.code}" for f in result.findings]


def _returned_tainted(body: str, params: set[str]) -> bool:
    """Whether `f`'s return value carries a gradient when `params` do, read where it is returned."""
    module = cst.parse_module("import tensorflow as tf\n" + textwrap.dedent(body))
    analysis = ModuleAnalysis(module)
    scope = next(s for s in analysis.scopes.values() if s.symbol == "f")
    return scope.returns_tainted(params, scope.analyse().blocking.extended("floor", "round"))


@pytest.mark.parametrize("body, tainted", [
    # the last binding is the floor's result: nothing of `x` reaches the return
    ("def f(x, k):\n    x = tf.floor(x * k)\n    return x / k\n", False),
    ("def f(x):\n    y = x * 2.0\n    y = tf.round(y)\n    return y\n", False),
    # a binding in a branch is not certain: every binding counts
    ("def f(x, c):\n    if c:\n        x = tf.floor(x)\n    return x\n", True),
    # rebound in a loop that runs the return's statement again is not certain either
    ("def f(x):\n    for _ in range(3):\n        y = x\n        x = tf.floor(x)\n    return y\n", True),
    # a list filled in place keeps what was appended
    ("def f(x):\n    h = []\n    h.append(x)\n    h = h\n    return tf.stack(h)\n", True),
    # the parameter itself, read before any binding, still carries it
    ("def f(x):\n    y = x\n    x = tf.floor(x)\n    return y + x\n", True),
])
def test_a_rebound_name_is_read_where_it_is_used(body, tainted):
    assert _returned_tainted(body, {"x"}) is tainted


def test_tainted_at_is_never_more_tainted_than_the_flow():
    module = cst.parse_module("import tensorflow as tf\ndef f(x):\n    x = tf.abs(x)\n    return x\n")
    analysis = ModuleAnalysis(module)
    scope = next(s for s in analysis.scopes.values() if s.symbol == "f")
    scope.tainted_params = {"x"}
    flow = scope.analyse()
    returned = next(n.value for n in cst.ensure_type(module.body[1], cst.FunctionDef).body.body[1].body
                    if isinstance(n, cst.Return))
    assert flow.is_tainted(returned) and tainted_at(flow, returned, {"x"})  # abs keeps the gradient
    assert not tainted_at(flow, returned, set())  # the parameter, not watched, carries nothing


@pytest.mark.parametrize("code, expected", [
    # between two Dense layers: the first never trains
    ("m = keras.Sequential([layers.Dense(8), layers.Lambda(lambda x: tf.round(x)), layers.Dense(1)])\n", ["1:TGF302"]),
    # on the raw inputs, before any weight: preprocessing
    ("m = keras.Sequential([layers.Lambda(lambda x: tf.round(x)), layers.Dense(1)])\n", []),
    # after the last layer: an inference model's output
    ("m = keras.Sequential([layers.Dense(8), layers.Lambda(lambda x: tf.argmax(x, -1))])\n", []),
    # model.add(...) runs
    ("m = keras.Sequential()\nm.add(layers.Dense(8))\nm.add(layers.Lambda(lambda x: tf.round(x)))\n"
     "m.add(layers.Dense(1))\n", ["3:TGF302"]),
    # functional, through names
    ("i = keras.Input((4,))\nh = layers.Dense(8)(i)\nq = layers.Lambda(lambda t: tf.sign(t))(h)\n"
     "o = layers.Dense(1)(q)\n", ["3:TGF302"]),
    # functional, nothing after it
    ("i = keras.Input((4,))\nh = layers.Dense(8)(i)\nq = layers.Lambda(lambda t: tf.sign(t))(h)\n"
     "m = keras.Model(i, q)\n", []),
])
def test_a_lambda_cuts_only_between_layers(code, expected):
    assert _codes(code) == expected


def test_a_compiled_loss_ends_the_path():
    code = ("def loss(y_true, y_pred):\n    return tf.reduce_mean(tf.abs(y_true - tf.round(y_pred)))\n\n\n"
            "m = keras.Sequential([layers.Dense(1)])\nm.compile(optimizer='sgd', loss=loss)\n")
    assert _codes(code) == ["2:TGF302"]


@pytest.mark.parametrize("code, expected", [
    # the helper's result is the loss, and the tape differentiates the model it predicts with
    ("def r(model, x):\n    return model.predict(x, verbose=0)\n\n\n"
     "def step(model, x):\n    with tf.GradientTape() as tape:\n        loss = tf.reduce_mean(r(model, x))\n"
     "    return tape.gradient(loss, model.trainable_variables)\n", ["2:TGF106"]),
    # the tape differentiates another model: a target network's prediction is a constant on purpose
    ("def r(target, x):\n    return target.predict(x, verbose=0)\n\n\n"
     "def step(model, target, x):\n    with tf.GradientTape() as tape:\n"
     "        loss = tf.reduce_mean(model(x) - r(target, x))\n"
     "    return tape.gradient(loss, model.trainable_variables)\n", []),
    # the helper's result is only printed
    ("def r(model, x):\n    return model.predict(x, verbose=0)\n\n\n"
     "def step(model, x):\n    with tf.GradientTape() as tape:\n        loss = tf.reduce_mean(model(x))\n"
     "        shown = r(model, x)\n    print(shown)\n    return tape.gradient(loss, model.trainable_variables)\n", []),
])
def test_predict_in_a_helper_counts_where_its_result_is_trained(code, expected):
    assert _codes(code) == expected


@pytest.mark.parametrize("body, abstract", [
    ("def f(self):\n    raise NotImplementedError\n", True),
    ("def f(self):\n    '''Doc.'''\n    raise NotImplementedError('subclasses')\n", True),
    ("import abc\n@abc.abstractmethod\ndef f(self):\n    pass\n", True),
    ("def f(self):\n    pass\n", False),
    ("def f(self):\n    raise ValueError\n", False),
])
def test_abstract_methods(body, abstract):
    module = cst.parse_module(body)
    node = next(n for n in module.body if isinstance(n, cst.FunctionDef))
    assert is_abstract(node) is abstract


def test_an_abstract_loss_returns_what_its_subclasses_return():
    base = ("class T:\n    def __init__(self, model):\n        self.model = model\n\n"
            "    def loss(self, x):\n        raise NotImplementedError\n\n"
            "    def step(self, x):\n        with tf.GradientTape() as tape:\n"
            "            value = self.loss(x).numpy()\n"
            "        return tape.gradient(value, self.model.trainable_variables)\n")
    assert _codes(base) == []  # no implementation seen: unknown is silent
    sub = "\n\nclass M(T):\n    def loss(self, x):\n        return tf.reduce_mean(self.model(x))\n"
    assert _codes(base + sub) == ["10:TGF102"]


@pytest.mark.parametrize("base, expected", [
    ("layers.Dense", ["4:TGF301"]),
    ("layers.Conv2D", ["4:TGF301"]),
    ("layers.Dropout", []),  # no weights: nothing to cut
    ("layers.Layer", []),
])
def test_super_call_of_a_built_in_layer_runs_its_weights(base, expected):
    code = f"class E({base}):\n    def call(self, inputs):\n        h = super().call(inputs)\n        return tf.stop_gradient(h)\n"
    assert _codes(code) == expected


@pytest.mark.parametrize("build, expected", [
    ("self.w = keras.initializers.GlorotUniform()((input_shape[-1], 2))", ["6:TGF210"]),
    ("init = keras.initializers.HeNormal()\n        self.w = init((input_shape[-1], 2))", ["7:TGF210"]),
    ("self.w = tf.random.normal((input_shape[-1], 2))", ["6:TGF210"]),
    # a random draw under another name: random features, constant on purpose
    ("self.omega = tf.random.normal((input_shape[-1], 2))\n        self.w = self.omega", []),
    # handed to a variable: right
    ("self.w = self.add_weight(shape=(input_shape[-1], 2), initializer=keras.initializers.GlorotUniform())", []),
])
def test_weights_made_by_an_initializer(build, expected):
    code = ("class L(keras.layers.Layer):\n    def build(self, input_shape):\n"
            f"        {build}\n\n    def call(self, inputs):\n        return tf.matmul(inputs, self.w)\n")
    assert _codes(code) == [e.replace("6:", "3:").replace("7:", "4:") for e in expected]


# -- issue 23, second part: forward helpers, method parameters, callables, aliases, projects


@pytest.mark.parametrize("helper, expected", [
    # the helper returns the model's call: the forward pass moved before the tape
    ("return self.model(x, training=True)", ["10:TGF402"]),
    ("out = self.model(x)\n        return out", ["11:TGF402"]),
    # it returns something of its own (a stop_gradient'ed target, a prediction): not the forward pass
    ("return tf.stop_gradient(self.model(x))", []),
    ("return self.model.predict(x)", []),
])
def test_the_forward_pass_moved_before_the_tape_through_a_helper(helper, expected):
    code = ("class T:\n    def __init__(self, model):\n        self.model = model\n\n"
            f"    def _forward(self, x):\n        {helper}\n\n"
            "    def step(self, x, y):\n        out = self._forward(x)\n        with tf.GradientTape() as tape:\n"
            "            loss = tf.reduce_mean((out - y) ** 2)\n"
            "        return tape.gradient(loss, self.model.trainable_variables)\n")
    found = _codes(code)
    assert [f for f in found if f.endswith("TGF402")] == [e.replace("10:", f"{9 + helper.count(chr(10))}:")
                                                          .replace("11:", f"{9 + helper.count(chr(10))}:")
                                                          for e in expected]


@pytest.mark.parametrize("passed, expected", [
    ("tf.convert_to_tensor(batch)", ["8:TGF403"]),
    ("prep(batch)", ["8:TGF403"]),  # a helper of the module that returns a TF op's result
    ("tf.Variable(batch)", []),  # a variable: the tape watches it
    ("batch", []),  # unknown: a caller may pass a variable
])
def test_a_method_parameter_is_a_tensor_when_every_caller_passes_one(passed, expected):
    code = ("class S:\n    def __init__(self, model):\n        self.model = model\n\n"
            "    def grads(self, x):\n        with tf.GradientTape() as tape:\n            y = self.model(x)\n"
            "        return tape.gradient(y, x)\n\n\n"
            "def prep(b):\n    return tf.convert_to_tensor(b / 255.0)\n\n\n"
            f"def run(model, batch):\n    s = S(model)\n    return s.grads({passed})\n")
    assert _codes(code) == expected


def test_a_parameter_another_tape_watches_is_a_tensor():
    code = ("def second(model, x):\n    with tf.GradientTape() as outer:\n        with tf.GradientTape() as inner:\n"
            "            inner.watch(x)\n            u = model(x)\n        u_x = inner.gradient(u, x)\n"
            "    return outer.gradient(u_x, x)\n")
    assert _codes(code) == ["7:TGF403"]
    watched = code.replace("    with tf.GradientTape() as outer:\n", "    with tf.GradientTape() as outer:\n        outer.watch(x)\n")
    assert _codes(watched) == []


@pytest.mark.parametrize("call, expected", [
    ("opt.minimize(loss_fn, var_list=[reg.w])", ["7:TGF102"]),
    ("opt.minimize(loss_fn, [reg.w])", ["7:TGF102"]),
    ("opt.minimize(make(), var_list=[reg.w])", ["7:TGF102"]),  # a factory's closure
    ("print(loss_fn())", []),  # not handed to an optimizer: off the path
])
def test_a_loss_handed_to_minimize_runs_on_the_path(call, expected):
    code = ("def fit(reg, x, y):\n    opt = keras.optimizers.SGD(0.1)\n\n    def make():\n        return loss_fn\n\n"
            "    def loss_fn():\n        pred = reg(x).numpy()\n        return tf.reduce_mean((pred - y) ** 2)\n\n"
            f"    {call}\n")
    assert _codes(code) == [e.replace("7:", "8:") for e in expected]


@pytest.mark.parametrize("constructor", ["tf.compat.v1.Variable", "tfe.Variable", "tf.Variable"])
def test_variable_aliases_are_variable_constructors(constructor):
    code = ("import tensorflow.contrib.eager as tfe\n\n\nclass L(layers.Layer):\n    def call(self, x):\n"
            f"        self.s = {constructor}(tf.ones((4,)))\n        return x * self.s\n")
    assert _codes(code) == ["6:TGF202"]


def test_confusion_matrix_is_not_differentiable():
    from tfgradfix.analysis.no_gradient_ops import NO_GRADIENT
    assert "tensorflow.math.confusion_matrix" in NO_GRADIENT
    code = ("def step(model, x, y):\n    with tf.GradientTape() as tape:\n        p = model(x)\n"
            "        cm = tf.math.confusion_matrix(y, p[:, 0], num_classes=3, dtype=tf.float32)\n"
            "        loss = -tf.linalg.trace(cm)\n    return tape.gradient(loss, model.trainable_variables)\n")
    assert _codes(code) == ["4:TGF302"]


_LOOP = ("def train_step(model, opt, loss_fn, x, y):\n    with tf.GradientTape() as tape:\n"
         "        loss = loss_fn(y, model(x, training=True))\n"
         "    return tape.gradient(loss, model.trainable_variables)\n\n\n")


@pytest.mark.parametrize("loss, call, expected", [
    # what the caller passes for `loss_fn` runs in the tape
    ("def numpy_loss(t, p):\n    return tf.reduce_mean((p.numpy() - t) ** 2)\n", "numpy_loss", ["11:TGF102"]),
    ("", "lambda t, p: tf.reduce_mean(np.abs(p - t))", ["13:TGF101"]),
    # a TensorFlow loss, or a loss object the analysis cannot see into: silent
    ("def tf_loss(t, p):\n    return tf.reduce_mean((p - t) ** 2)\n", "tf_loss", []),
    ("", "keras.losses.MeanSquaredError()", []),
])
def test_a_loss_passed_for_a_parameter_runs_in_the_tape(loss, call, expected):
    code = ("import numpy as np\n\n\n" + _LOOP + loss + "\n\ndef fit(model, opt, x, y):\n"
            f"    return train_step(model, opt, {call}, x, y)\n")
    assert _codes(code) == expected


def test_a_metric_passed_to_a_function_without_a_tape_stays_silent():
    code = ("import numpy as np\n\n\ndef evaluate(model, metric_fn, x, y):\n    return metric_fn(y, model(x))\n\n\n"
            "def rmse(t, p):\n    return float(np.sqrt(np.mean((p.numpy() - t) ** 2)))\n\n\n"
            "def report(model, x, y):\n    return evaluate(model, rmse, x, y)\n")
    assert _codes(code) == []


def test_predict_in_a_loss_passed_for_a_parameter():
    """`loss_fn(model, x, y)` in the tape, and the loss predicts with the model the tape differentiates."""
    code = ("def mse_loss(model, x, y):\n    return tf.reduce_mean((model.predict(x, verbose=0) - y) ** 2)\n\n\n"
            "def train_step(model, opt, loss_fn, x, y):\n    with tf.GradientTape() as tape:\n"
            "        loss = loss_fn(model, x, y)\n    return tape.gradient(loss, model.trainable_variables)\n\n\n"
            "def fit(x, y):\n    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])\n"
            "    return train_step(model, keras.optimizers.SGD(0.1), mse_loss, x, y)\n")
    assert _codes(code) == ["2:TGF106"]


def _fixture_module(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_integer_sources_of_the_tgf404_fixtures_get_no_gradient():
    """What flag_saliency_uint8 and flag_integer_variable_from_zeros report, checked with
    TensorFlow; their look-alikes in ok_float_pixels get gradients."""
    tf = pytest.importorskip("tensorflow")
    np = pytest.importorskip("numpy")
    from conftest import FIXTURES

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)])
    flagged = _fixture_module(FIXTURES / "TGF404" / "flag_saliency_uint8.py")
    assert flagged.explain(model, ["a", "b"]) is None  # uint8 images: no gradient
    assert flagged.explain_batches(model, [tf.random.uniform((2, 8, 8, 3))])[0] is not None
    offsets = _fixture_module(FIXTURES / "TGF404" / "flag_integer_variable_from_zeros.py")
    x, y = tf.random.normal((4, 3)), tf.random.normal((4, 3))
    assert offsets.fit_offsets(x, y)[1] is None
    assert offsets.fit_offsets_inline(x, y)[1] is None
    ok = _fixture_module(FIXTURES / "TGF404" / "ok_float_pixels.py")
    pixels = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3)).astype(np.uint8)
    assert ok.explain(model, pixels)[0] is not None
    assert ok.cast_before_the_tape(model, pixels) is not None
    assert all(g is not None for g in ok.fit_offsets(x, y)[1])


def test_a_utility_runs_only_what_callers_on_the_path_pass():
    """`apply(func, x)` is on the path because the tape calls it with `tf.square`; what an
    off-path caller passes it (a NumPy conversion) never runs on the path. Passed from the tape,
    the same conversion does."""
    utility = ("import numpy as np\n\n\ndef apply(func, x):\n    return func(x)\n\n\n"
               "def to_numpy(t):\n    return np.array(t)\n\n\n"
               "def export(x):\n    return apply(to_numpy, x)\n\n\n"
               "def step(model, x):\n    with tf.GradientTape() as tape:\n"
               "        loss = tf.reduce_sum(apply({fn}, model(x)))\n"
               "    return tape.gradient(loss, model.trainable_variables)\n")
    assert _codes(utility.format(fn="tf.square")) == []
    assert _codes(utility.format(fn="to_numpy")) == ["9:TGF102"]
