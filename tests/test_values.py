"""The value model (analysis/values.py, frequency.py, roles.py): each fact a rule asks for,
checked on the code shapes it decides, by what the user sees (a finding or none)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from conftest import FIXTURES
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.imports import ImportMap
from tfgradfix.analysis.values import Kind, Origin, kind_of, origin_of, tensor_test_subject
from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.rules import ALL_RULES

_HEADER = "import numpy as np\nimport tensorflow as tf\nfrom tensorflow import keras\n\n\n"


def _codes(code: str) -> list[str]:
    source = SourceFile(path="snippet.py", text=_HEADER + textwrap.dedent(code), encoding="utf-8", bom=False)
    result = Engine(ALL_RULES).process(source)
    assert result.error is None
    return [f"{f.line - 5}:{f.code}" for f in result.findings]


def _silent_fixture(rule: str, name: str) -> str:
    """The text of an `ok_` fixture, checked silent: its true variants are edits of it."""
    text = (FIXTURES / rule / name).read_text(encoding="utf-8")
    assert _codes(text) == []
    return text


def _reported(code: str, rule: str) -> bool:
    return any(found.endswith(rule) for found in _codes(code))


def _layer(call_body: str, init: str = "self.proj = keras.layers.Dense(4)") -> str:
    return (f"class L(keras.layers.Layer):\n    def __init__(self):\n        super().__init__()\n        {init}\n\n"
            f"    def call(self, inputs, length=None):\n" + textwrap.indent(textwrap.dedent(call_body), " " * 8))


@pytest.mark.parametrize("expression, kind", [
    ("tf.cast(inputs, tf.int32)", Kind.INTEGER),
    ("inputs.numpy().astype(np.uint8)", Kind.INTEGER),
    ("tf.zeros((2, 3), dtype=tf.int64)", Kind.INTEGER),
    ("tf.argmax(inputs, axis=-1)", Kind.INTEGER),
    ("inputs > 0", Kind.INTEGER),
    ("inputs.shape[1]", Kind.METADATA),
    ("tf.shape(inputs)[0] * 2", Kind.METADATA),
    ("int(length)", Kind.NUMBER),
    ("len(inputs)", Kind.NUMBER),
    ("f'P{length}'", Kind.STRING),
    ("[inputs, inputs]", Kind.SEQUENCE),
    ("tf.cast(inputs, tf.float32)", Kind.FLOAT),
    ("self.proj(inputs)", Kind.UNKNOWN),
    ("inputs", Kind.UNKNOWN),
])
def test_kind_of_an_expression(expression, kind):
    module = cst.parse_module(_HEADER + _layer(f"value = {expression}\nreturn value\n"))
    analysis = ModuleAnalysis(module)
    scope = next(s for s in analysis.scopes.values() if s.symbol == "L.call")
    flow = scope.analyse()
    value = next(b.value for b in flow.bindings if b.name == "value")
    assert kind_of(flow, value) is kind


@pytest.mark.parametrize("init, expression, origin", [
    ("self.coef = self.gain / np.sqrt(4)", "self.coef", Origin.NUMPY),
    ("self.coef = np.float32(0.5)", "self.coef * 2.0", Origin.NUMPY),
    ("self.coef = 0.5", "self.coef", Origin.PYTHON),
    ("self.coef = float(np.sqrt(4))", "self.coef", Origin.PYTHON),
    ("self.coef = tf.sqrt(4.0)", "self.coef", Origin.TENSOR),
    ("self.coef = tf.sqrt(4.0)", "self.coef * np.sqrt(2.0)", None),
    ("_, self.coef = helper()", "self.coef", None),
    ("self.coef = 0.5", "inputs", Origin.TENSOR),
    ("self.coef = 0.5", "length", None),
])
def test_which_library_made_a_value(init, expression, origin):
    """What a Keras 3 weight's arithmetic depends on (`np.float64 * w` is an ndarray)."""
    code = _layer(f"value = {expression}\nreturn value\n", init=f"self.gain = 2.0\n        {init}")
    module = cst.parse_module(_HEADER + code)
    scope = next(s for s in ModuleAnalysis(module).scopes.values() if s.symbol == "L.call")
    flow = scope.analyse()
    value = next(b.value for b in flow.bindings if b.name == "value")
    assert origin_of(flow, value) is origin


@pytest.mark.parametrize("call, names", [
    ("to_array(rows)", {"int32"}),
    ("to_array(rows, dtype='bool')", {"bool"}),
    ("to_array(rows, dtype=tf.float32)", {"float32"}),
])
def test_a_dtype_or_a_fallback_names_every_dtype_it_can_be(call, names):
    code = ("def to_array(values, dtype=None):\n    return np.array(values, dtype=dtype or 'int32')\n\n\n"
            f"def pack(rows):\n    return {call}\n")
    module = cst.parse_module(_HEADER + code)
    scope = next(s for s in ModuleAnalysis(module).scopes.values() if s.symbol == "to_array")
    conversion = next(n for n in scope.node.body.body[0].body[0].value.args if n.keyword is not None).value
    assert scope.dtype_names(conversion) == names


def test_keys_iterated_from_a_dict_input_are_strings():
    module = cst.parse_module(_HEADER + _layer("levels = [key for key in inputs]\nreturn inputs['P3']\n"))
    scope = next(s for s in ModuleAnalysis(module).scopes.values() if s.symbol == "L.call")
    flow = scope.analyse()
    key = next(b for b in flow.bindings if b.name == "key")
    assert kind_of(flow, cst.Name("key")) is Kind.STRING, key


@pytest.mark.parametrize("branch, reported", [
    ("if isinstance(inputs, (list, tuple)):\n    inputs = np.array(inputs)\n", False),
    ("if isinstance(inputs, np.ndarray):\n    inputs = np.asarray(inputs, dtype='float32')\n", False),
    ("if not tf.is_tensor(inputs):\n    inputs = np.array(inputs)\n", False),
    ("if tf.is_tensor(inputs):\n    pass\nelse:\n    inputs = np.array(inputs)\n", False),
    ("if isinstance(inputs, list) and inputs:\n    inputs = np.stack([np.asarray(i) for i in inputs])\n", False),
    # A tensor branch, and no branch at all: the input may be a tensor with a gradient.
    ("if isinstance(inputs, tf.Tensor):\n    inputs = np.array(inputs)\n", True),
    ("inputs = np.array(inputs)\n", True),
    ("if isinstance(inputs, list) or length:\n    inputs = np.array(inputs)\n", True),
])
def test_isinstance_branches_say_what_the_input_is(branch, reported):
    codes = _codes(_layer(branch + "return self.proj(inputs)\n"))
    assert any(c.endswith("TGF102") or c.endswith("TGF101") for c in codes) is reported, codes


@pytest.mark.parametrize("call_body, reported", [
    ("return inputs / float(tf.reduce_max(self.proj(inputs)))\n", True),
    ("n = int(length)\nreturn self.proj(inputs)[:, :n]\n", False),
    ("n = int(tf.shape(inputs)[1])\nreturn self.proj(inputs)[:, :n]\n", False),
    ("ids = tf.cast(self.proj(inputs), tf.int32)\nreturn tf.cast(np.array(ids), tf.float32)\n", False),
])
def test_python_scalars_need_a_float_tensor(call_body, reported):
    codes = _codes(_layer(call_body))
    assert any(c.endswith(("TGF104", "TGF102")) for c in codes) is reported, codes


@pytest.mark.parametrize("guard, reported", [
    ("if self.extra is None:", False),
    ("if not hasattr(self, 'extra'):", False),
    ("if not self.built:", False),
    ("if self._needs_init():", False),
    ("if 'extra' not in self.__dict__:", False),
    ("if self.extra is not None:", True),
    ("if length:", True),
])
def test_creation_under_a_guard_that_it_closes_runs_once(guard, reported):
    code = (
        "class L(keras.layers.Layer):\n"
        "    def __init__(self):\n        super().__init__()\n        self.extra = None\n\n"
        "    def _needs_init(self):\n        return self.extra is None\n\n"
        "    def call(self, inputs, length=None):\n"
        f"        {guard}\n"
        "            self.extra = keras.layers.Dense(4)\n"
        "        return self.extra(inputs)\n")
    assert _reported(code, "TGF209") is reported


@pytest.mark.parametrize("call, reported", [
    ("if not self.built:\n            self.build(inputs.shape)", False),
    ("try:\n            self.inner.units\n        except AttributeError:\n            self.build(inputs.shape)", False),
    ("try:\n            assert self.inner is not None\n        except:\n            self.build(inputs.shape)", False),
    ("self.build(inputs.shape)", True),
    ("try:\n            n = int(inputs.shape[-1])\n        except TypeError:\n            self.build(inputs.shape)", True),
    ("try:\n            self.inner.units\n        except KeyError:\n            self.build(inputs.shape)", True),
])
def test_a_helper_runs_once_when_every_call_of_it_is_guarded(call, reported):
    code = (
        "class L(keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.inner = keras.layers.Dense(4)\n"
        "        self.built = True\n\n"
        "    def call(self, inputs):\n"
        f"        {call}\n"
        "        return self.inner(inputs)\n")
    assert _reported(code, "TGF209") is reported


@pytest.mark.parametrize("variable, use, reported", [
    ("tf.Variable(1.0)", "return inputs * self.v", True),
    ("tf.Variable(1.0, trainable=False)", "return inputs * self.v", False),
    ("tf.Variable(0.0)", "self.v.assign_add(tf.reduce_sum(inputs))\n        return inputs", False),
    ("tf.Variable(0)", "self.v.assign_add(1)\n        return inputs * tf.cast(self.v, tf.float32)", False),
])
def test_state_variables_are_not_weights(variable, use, reported):
    code = (
        "class L(keras.layers.Layer):\n"
        "    def __init__(self):\n        super().__init__()\n"
        f"        self.v = {variable}\n\n"
        "    def call(self, inputs):\n"
        f"        {use}\n")
    codes = _codes(code)
    assert any(c.endswith(("TGF203", "TGF206")) for c in codes) is reported, codes


@pytest.mark.parametrize("loss, reported", [
    ("-tf.reduce_mean(self.log_alpha * tf.stop_gradient(logp + 1.0))", False),
    ("-tf.reduce_mean(tf.stop_gradient(self.log_alpha) * (logp + 1.0))", True),
])
def test_a_cut_counts_for_the_variables_a_tape_asks_for(loss, reported):
    """`tape.gradient(loss, [self.log_alpha])` asks for the temperature alone: a stop_gradient on
    the log-probabilities loses nothing; one on the temperature loses its only gradient."""
    code = (
        "class Agent(keras.Model):\n"
        "    def __init__(self, actor):\n        super().__init__()\n        self.actor = actor\n"
        "        self.log_alpha = tf.Variable(0.0)\n        self.opt = keras.optimizers.Adam()\n\n"
        "    def call(self, states):\n        return self.actor(states)\n\n"
        "    def update(self, states):\n"
        "        with tf.GradientTape() as tape:\n"
        "            logp = self.actor(states)\n"
        f"            loss = {loss}\n"
        "        grads = tape.gradient(loss, [self.log_alpha])\n"
        "        self.opt.apply_gradients(zip(grads, [self.log_alpha]))\n")
    assert _reported(code, "TGF301") is reported
    # the same temperature made with Keras 2's `backend.variable` (stable-baselines-tf2's SAC)
    legacy = code.replace("self.log_alpha = tf.Variable(0.0)", "self.log_alpha = tf.keras.backend.variable(0.0)")
    assert _reported(legacy, "TGF301") is reported


def test_a_type_table_without_tensorflows_tensor_types_narrows_nothing():
    """ok_type_table_dispatch is silent because its table's TF entry returns tensors and
    variables early: with only a sparse type there, a dense tensor reaches `np.asarray`."""
    text = _silent_fixture("TGF102", "ok_type_table_dispatch.py")
    assert _codes(text.replace('"tf": (tf.Tensor, tf.Variable)', '"tf": (tf.SparseTensor,)')) == ["18:TGF102"]


def test_a_processor_that_holds_a_layer_is_a_model_whatever_its_inputs():
    """ok_image_processor_layer is silent because it is weightless and takes paths, PIL images and
    arrays; give it a Dense layer its `call` applies and the NumPy on its input is reported."""
    text = _silent_fixture("TGF102", "ok_image_processor_layer.py")
    held = text.replace("        self.size = size\n", "        self.size = size\n        self.proj = keras.layers.Dense(3)\n")
    held = held.replace("return keras.ops.convert_to_tensor(batch)", "return self.proj(np.asarray(self.proj(images)))")
    assert "TGF102" in " ".join(_codes(held))


def test_unique_values_used_as_values_are_reported():
    """ok_unique_ids_for_lookup is silent because `np.unique`'s results are only lookup ids and
    gather indices; multiply by them and the NumPy call is on the gradient's way."""
    text = _silent_fixture("TGF101", "ok_unique_ids_for_lookup.py")
    used = text.replace("return self.score(tf.concat([users, items], axis=1))",
                        "return self.score(tf.concat([users, items], axis=1)) * tf.reduce_mean(user_rows)")
    assert _reported(used, "TGF101")


@pytest.mark.parametrize("signature, test, reported", [
    ("training=True", "training == False", False),
    ("training", "not training", False),
    ("training=True", "training is not True", False),
    ("training=None", "training == False", True),  # `model(x)` in a tape runs it with training=None
    ("training=False", "not training", True),
    ("training=True", "training", True),  # the training branch
    ("training=True", "not training or self.threshold", True),
])
def test_a_branch_taken_only_at_inference_is_off_the_path(signature, test, reported):
    """ok_early_exit_at_inference is silent because its NumPy entropy runs only when the training
    flag, which nothing leaves false while training, is false."""
    text = _silent_fixture("TGF101", "ok_early_exit_at_inference.py")
    text = text.replace("def call(self, inputs, training=True)", f"def call(self, inputs, {signature})")
    text = text.replace("if training == False:", f"if {test}:")
    assert _reported(text, "TGF101") is reported


def test_call_is_on_the_path_once_train_step_runs_the_model():
    """ok_call_not_run_by_train_step is silent because its `train_step` never runs `call`; let it
    call `self(x)` and the `.numpy()` in `call` is under the tape."""
    text = _silent_fixture("TGF102", "ok_call_not_run_by_train_step.py")
    runs = text.replace("predictions = self.dense(x - last, training=True) + last",
                        "predictions = self(x, training=True)")
    assert _reported(runs, "TGF102")


def test_a_cut_of_the_loss_itself_is_reported_beside_sampled_indicators():
    """ok_sampling_boolean_indicators is silent because its sampling works on boolean indicators
    and integer counts; threshold the losses themselves and that comparison is the cut."""
    text = _silent_fixture("TGF302", "ok_sampling_boolean_indicators.py")
    cut = text.replace("tf.reduce_sum(losses * chosen)", "tf.reduce_sum(tf.cast(losses > 0.5, losses.dtype) * chosen)")
    assert _reported(cut, "TGF302")


def test_positions_regrouped_by_a_comprehension_are_no_values():
    """ok_argsort_positions_in_comprehension is silent because the argsort result only builds
    `gather_nd` indices; sort the magnitudes themselves with NumPy and the values lose their gradient."""
    text = _silent_fixture("TGF101", "ok_argsort_positions_in_comprehension.py")
    valued = text.replace("loss = tf.reduce_sum(tf.gather_nd(magnitude, [[i] for i in smallest]))",
                          "loss = tf.reduce_sum(np.sort(magnitude)[:-3])")
    assert _reported(valued, "TGF101")


def test_the_same_numpy_is_recorded_once_the_tape_is_not_paused():
    """ok_paused_tape is silent because the NumPy scoring runs under `tape.stop_recording()`;
    score outside the pause and the `.numpy()` is on the recorded path to the loss."""
    text = _silent_fixture("TGF102", "ok_paused_tape.py")
    recorded = text.replace("            with tape.stop_recording():\n                reward", "            reward")
    assert _reported(recorded, "TGF102")


def test_a_model_without_its_own_fit_is_trained_through_call():
    """ok_model_with_its_own_fit is silent because the model replaces `fit` and opens no tape;
    keep Keras's `fit` (the method renamed) and the NumPy readout in `call` is on the path."""
    text = _silent_fixture("TGF106", "ok_model_with_its_own_fit.py")
    kept = text.replace("def fit(self, x, y, **kwargs):", "def fit_readout(self, x, y, **kwargs):")
    assert _reported(kept, "TGF106")


@pytest.mark.parametrize("loss, reported", [
    ("-tf.reduce_mean(self.log_alpha * tf.stop_gradient(logp + 1.0))", False),
    ("-tf.reduce_mean(tf.stop_gradient(self.log_alpha) * (logp + 1.0))", True),
])
def test_sources_listed_in_a_local_name_are_what_the_tape_asks_for(loss, reported):
    """stable-baselines-tf2's SAC: a plain agent class, `variables = [self.log_alpha]` above
    `tape.gradient(alpha_loss, variables)`; the stop_gradient on the log-probabilities is the
    standard temperature loss."""
    code = (
        "class Agent(keras.Model):\n"
        "    def __init__(self, actor):\n        super().__init__()\n        self.actor = actor\n"
        "        self.log_alpha = tf.Variable(0.0)\n        self.opt = keras.optimizers.Adam()\n\n"
        "    def train(self, states):\n"
        "        with tf.GradientTape() as tape:\n"
        "            logp = self.actor.call(states)\n"
        "            actor_loss = tf.reduce_mean(tf.exp(self.log_alpha) * logp)\n"
        "        grads = tape.gradient(actor_loss, self.actor.trainable_variables)\n"
        "        with tf.GradientTape() as tape_alpha:\n"
        f"            alpha_loss = {loss}\n"
        "        variables = [self.log_alpha]\n"
        "        grads = tape_alpha.gradient(alpha_loss, variables)\n"
        "        self.opt.apply_gradients(zip(grads, variables))\n")
    assert _reported(code, "TGF301") is reported
    if not reported:  # the agent as a plain class, as SAC's is
        plain = code.replace("class Agent(keras.Model):", "class Agent:").replace("        super().__init__()\n", "")
        assert _codes(plain) == []


def test_a_product_scaling_values_is_reported_where_one_making_a_shape_is_not():
    """ok_numpy_product_of_a_shape is silent because `np.prod` makes a size `tf.reshape` takes;
    scale the output by the same NumPy product of the values and it is on the path."""
    text = _silent_fixture("TGF101", "ok_numpy_product_of_a_shape.py")
    scaled = text.replace("return tf.reshape(x, dims[:-2] + [np.prod(dims[-2:])])",
                          "return tf.reshape(x, dims[:-2] + [np.prod(dims[-2:])]) * np.prod(x)")
    assert _reported(scaled, "TGF101")


def test_a_conversion_of_a_tensor_made_from_numpy_is_still_a_leftover():
    """ok_conversion_of_a_sublayer_result is silent because what a sub-layer, a method or a held
    function returns may be no tensor; convert a TensorFlow op's result on a value NumPy made
    and it is reported (a leftover of the round trip)."""
    text = _silent_fixture("TGF103", "ok_conversion_of_a_sublayer_result.py")
    op = text.replace("inputs = tf.convert_to_tensor(self.scale(inputs))",
                      "scaled = tf.constant(np.tanh(inputs))\n        inputs = tf.convert_to_tensor(tf.tanh(scaled))")
    op = op.replace("import tensorflow as tf", "import numpy as np\nimport tensorflow as tf")
    assert _reported(op, "TGF103")


def test_a_conversion_of_a_tensor_that_never_left_tensorflow_is_silent_until_numpy_made_it():
    """ok_conversion_of_a_tensor is silent: it converts TF ops' results, an identity. Let NumPy
    compute the same value first and the conversion is a round trip."""
    text = _silent_fixture("TGF103", "ok_conversion_of_a_tensor.py")
    numpy = text.replace("(1.0 - tf.math.exp(peclet * x))", "(1.0 - np.exp(peclet * x))").replace(
        "import tensorflow as tf", "import numpy as np\nimport tensorflow as tf")
    assert _reported(numpy, "TGF103")


def test_a_numpy_function_returning_floats_is_reported_where_one_returning_indices_is_not():
    """ok_integer_outputs is silent because its `tf.numpy_function` declares integer outputs;
    declare the same call's outputs float and what it returns could have carried a gradient."""
    text = _silent_fixture("TGF105", "ok_integer_outputs.py")
    floats = text.replace("[tf.int32, tf.int32])", "[tf.float32, tf.float32])")
    assert _reported(floats, "TGF105")


def test_a_trainable_flag_on_by_default_makes_weights():
    """ok_trainable_flag_off_by_default is silent because `trainable=learn_bias` defaults to
    False; default it to True and the variables are weights Keras 3 does not track."""
    text = _silent_fixture("TGF203", "ok_trainable_flag_off_by_default.py")
    learned = text.replace("learn_bias=False):", "learn_bias=True):")
    assert [c for c in _codes(learned) if c.endswith("TGF203")], _codes(learned)


def test_each_item_a_helper_returns_keeps_its_own_gradient():
    """ok_gumbel_action_and_environment_returns is silent because the helper's action is an
    argmax and the rewards come from the environment for it; return the log-probabilities
    through NumPy beside it, or take a log with NumPy in the loss, and each is reported."""
    text = _silent_fixture("TGF101", "ok_gumbel_action_and_environment_returns.py")
    assert _reported(text.replace("return action, probs, value", "return action, np.exp(np.log(probs)), value"),
                     "TGF101")
    assert _reported(text.replace("tf.math.log(chosen)", "np.log(chosen)"), "TGF101")
    # What the sample feeds besides the argmax is on the path again.
    assert _reported(text.replace("action = self.sample(probs[0])",
                                  "action = self.sample(probs[0])\n        probs = probs * np.log(probs)"),
                     "TGF101")


def test_what_the_own_call_returns_beside_the_output_keeps_its_own_gradient():
    """ok_sampled_fractions_returned_beside_the_output is silent because `self(states)` returns
    NumPy-drawn fractions beside the quantiles; convert the quantiles with NumPy in the loss instead
    and they lose the gradient."""
    text = _silent_fixture("TGF102", "ok_sampled_fractions_returned_beside_the_output.py")
    assert _reported(text.replace("error = target[:, None] - quantiles",
                                  "error = target[:, None] - np.array(quantiles)"), "TGF102")
    assert _reported(text.replace("return tf.squeeze(self.head(h), -1), tau",
                                  "return tf.squeeze(self.head(h), -1), h"), "TGF102")


def test_a_value_computed_inside_the_tape_still_carries_its_gradient():
    """ok_advantage_computed_before_the_tape is silent because the advantages are computed before
    the tape opens; compute them inside it and NumPy on them detaches what the tape recorded."""
    text = _silent_fixture("TGF102", "ok_advantage_computed_before_the_tape.py")
    before = ("        advantages = self.advantages_of(states, returns)\n"
              "        scaled = np.array(advantages) / (np.std(advantages) + 1e-8)\n")
    inside = text.replace(before, "").replace(
        "            probs, _ = self.model(states)\n",
        "            probs, _ = self.model(states)\n" + textwrap.indent(before, "    "))
    assert inside != text
    assert _reported(inside, "TGF102")


def test_returns_bootstrapped_from_the_only_critic_call_lose_its_gradient():
    """ok_returns_bootstrapped_from_the_critic is silent because the critic is also called
    undetached for the values; with the bootstrap its only call, the conversion cuts the critic off."""
    text = _silent_fixture("TGF103", "ok_returns_bootstrapped_from_the_critic.py")
    assert _reported(text.replace("values = self.critic(states)", "values = tf.zeros_like(returns)"), "TGF103")


def test_a_model_returning_8_bit_pixels_is_off_the_path_where_one_casting_back_is_not():
    """ok_uint8_sampler is silent because its `call` ends by turning the sample into 8-bit pixels
    (through `tf.reverse`, bound to a name before the return); cast the pixels back to floats and
    the integer cast cuts the denoiser off a float output."""
    text = _silent_fixture("TGF302", "ok_uint8_sampler.py")
    cast = "tf.cast(127.5 * (sample + 1.0), dtype=tf.uint8)"
    assert _reported(text.replace(cast, f"tf.cast({cast}, tf.float32)"), "TGF302")


@pytest.mark.parametrize("made, reported", [
    ("rows = tf.Variable(range(4))", False),
    ("rows = tf.Variable([0, 1, 2, 3])", False),
    ("rows = tf.Variable(tf.zeros(4, dtype=tf.int32))", False),
    ("rows = tf.Variable(range(4))\n        rows.assign_add(tf.ones(4, tf.int32))", True),
    ("rows = tf.Variable([0.0, 1.0, 2.0, 3.0])", True),
    ("rows = tf.Variable(tf.range(4.0))", True),
])
def test_an_integer_variable_nothing_writes_is_a_constant_not_a_weight(made, reported):
    """Made in `call`, it is an index tensor; a written one is state that starts over, a float one a weight."""
    code = (
        "class L(keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        f"        {made}\n"
        "        return tf.gather(inputs, rows, axis=1)\n")
    assert _reported(code, "TGF202") is reported


@pytest.mark.parametrize("stored, reported", [
    ("tf.reduce_mean(tf.matmul(inputs, self.w), axis=0)", True),
    ("tf.reduce_mean(tf.cast(inputs > 0.5, tf.float32), axis=0)", False),
])
def test_the_function_form_of_assign_names_the_variable_in_its_first_argument(stored, reported):
    """`tf.compat.v1.assign(ref, value)` stores `value` in `ref` (not in `tf`): reported where the
    value carries a gradient and the output reads `ref` after it."""
    code = (
        "class L(keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.state = self.add_weight(shape=(4,), initializer='zeros', trainable=False)\n\n"
        "    def call(self, inputs):\n"
        f"        tf.compat.v1.assign(self.state, {stored})\n"
        "        return self.state * 2.0\n")
    source = SourceFile(path="snippet.py", text=_HEADER + code, encoding="utf-8", bom=False)
    messages = [f.message for f in Engine(ALL_RULES).process(source).findings if f.code == "TGF208"]
    assert bool(messages) is reported
    assert all("`self.state`" in message for message in messages), messages


@pytest.mark.parametrize("derived, reported", [
    ("tf.zeros(shape=self.kernel.shape)", False),
    ("tf.ones(tf.shape(self.kernel)) * float(len(self.kernel))", False),
    ("tf.zeros(shape=self.kernel.shape) + self.kernel", True),
    ("tf.nn.softplus(self.kernel)", True),
])
def test_a_tensor_built_from_a_weight_s_shape_is_no_snapshot_of_the_weight(derived, reported):
    """ok_mask_from_weight_shape is silent because only the weight's shape is read in `build`;
    read its value there and `call` uses a snapshot of it."""
    code = (
        "class L(keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], 4))\n"
        f"        self.derived = {derived}\n\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.derived)\n")
    assert _reported(code, "TGF205") is reported


@pytest.mark.parametrize("edit", [
    ("self.kernel = (self.embeddings)", "self.kernel = tf.identity(self.embeddings)"),
    ("self.embeddings if self.tie else self.own", "self.embeddings if self.tie else self.own * 2.0"),
])
def test_a_second_name_for_a_weight_is_the_weight_and_a_tensor_computed_from_it_is_not(edit):
    """ok_alias_of_a_weight is silent because `self.kernel = self.embeddings` binds the variable
    itself; `tf.identity` of it, or scaling one branch, computes a tensor once in `build`."""
    text = _silent_fixture("TGF205", "ok_alias_of_a_weight.py")
    assert _reported(text.replace(*edit), "TGF205")


def test_a_lambda_reads_the_weights_when_it_is_called_not_when_it_is_made():
    """ok_lambda_of_weights is silent because the constructor's `lambda` reads the weights on each
    call; a scale computed from them there is a snapshot (TGF205), and a `tf.Variable` the lambda
    reads is read on every call, so Keras 3's tracking loss is reported (TGF203)."""
    text = _silent_fixture("TGF205", "ok_lambda_of_weights.py")
    computed = text.replace("self.transform = lambda x: x * self.gamma + self.beta",
                            "self.scale = self.gamma * 2.0\n            self.transform = lambda x: x + self.beta")
    computed = computed.replace("return self.transform(", "return self.scale * self.transform(")
    assert computed != text and _reported(computed, "TGF205")
    untracked = text.replace('self.gamma = self.add_weight(shape=(), initializer="ones")',
                             "self.gamma = tf.Variable(1.0)")
    assert untracked != text and _reported(untracked, "TGF203")


def test_a_weightless_layer_fitted_by_adapt_is_preprocessing():
    """ok_layer_fitted_by_adapt is silent because its layers define `adapt` and hold no weight: they
    are applied to raw features. Without `adapt` they are layers of the model and NumPy cuts them off."""
    text = _silent_fixture("TGF101", "ok_layer_fitted_by_adapt.py")
    plain = text.replace("    def adapt(self, data):\n        pass\n\n", "")
    assert plain != text and _reported(plain, "TGF101")


def test_positions_are_host_data_and_values_are_not():
    """ok_indices_of_a_sparse_matrix is silent because `nonzero()` gives integer positions, also once
    the name is rebound from itself; the values of the layer's input stacked by NumPy lose the gradient."""
    text = _silent_fixture("TGF101", "ok_indices_of_a_sparse_matrix.py")
    values = text.replace("indices = x.nonzero()", "indices = tf.unstack(x)")
    assert values != text and _reported(values, "TGF101")


def test_the_else_of_an_iterable_test_holds_no_tensor_but_that_of_a_list_test_may():
    """ok_else_of_an_iterable_test is silent because a tensor is iterable; tested against `list` and
    `tuple` only, a tensor reaches `float(x)`."""
    text = _silent_fixture("TGF104", "ok_else_of_an_iterable_test.py")
    listed = text.replace("isinstance(x, Iterable)", "isinstance(x, (list, tuple))")
    assert listed != text and _reported(listed, "TGF104")


def test_a_comprehension_s_own_index_is_not_computed_after_the_tape():
    """ok_gradient_per_loss_term_in_comprehensions is silent because each `i` is bound by its own
    comprehension; a term computed after the tape is reported."""
    text = _silent_fixture("TGF401", "ok_gradient_per_loss_term_in_comprehensions.py")
    late = text.replace("        int_grads = [tape.gradient(self.int_terms[i],",
                        "        scaled = [t * 2.0 for t in self.int_terms]\n"
                        "        int_grads = [tape.gradient(scaled[i],")
    assert late != text and _reported(late, "TGF401")


def test_a_module_using_a_layer_only_keras_2_has_is_keras_2_code():
    """ok_keras2_feature_columns is silent because `DenseFeatures` exists only in Keras 2, which tracks
    the variable; with a layer Keras 3 has, the untracked variable is reported."""
    text = _silent_fixture("TGF203", "ok_keras2_feature_columns.py")
    keras3 = text.replace("from tensorflow.keras.layers import DenseFeatures\n", "").replace(
        "DenseFeatures(feature_columns)", "tf.keras.layers.Dense(1)")
    assert keras3 != text and _reported(keras3, "TGF203")


def test_a_helper_the_constructor_calls_runs_once_unless_call_calls_it_too():
    """ok_layer_made_by_a_helper_of_the_constructor is silent because `__init__` and a guarded `build`
    are the helper's only callers; called from `call` as well, it makes a layer on every call."""
    text = _silent_fixture("TGF209", "ok_layer_made_by_a_helper_of_the_constructor.py")
    every = text.replace("        return self.lookup(inputs)", "        self.set_kind(\"string\")\n        return self.lookup(inputs)")
    assert every != text and _reported(every, "TGF209")


def test_a_distribution_s_event_shape_is_metadata_and_its_mean_is_not():
    """ok_size_of_a_distribution_event is silent because `event_shape` is a shape; NumPy of the
    distribution's mean is NumPy of a tensor."""
    text = _silent_fixture("TGF101", "ok_size_of_a_distribution_event.py")
    values = text.replace("np.prod(q.event_shape)", "np.prod(q.mean())")
    assert values != text and _reported(values, "TGF101")


def test_a_model_whose_own_fit_never_runs_it_is_not_trained_through_call():
    """ok_model_trained_by_its_own_fit is silent because the tape of its `fit` differentiates only the
    centroids; a tape that runs the model itself trains through `call`, where `predict` cuts it."""
    text = _silent_fixture("TGF106", "ok_model_trained_by_its_own_fit.py")
    runs = text.replace("loss = tf.reduce_sum(tf.reduce_min(self._distances(codes), axis=1))",
                        "loss = tf.reduce_sum(tf.reduce_min(self._distances(codes), axis=1)) + tf.reduce_sum("
                        "tf.cast(self(x), tf.float32))")
    assert runs != text and _reported(runs, "TGF106")


def test_a_model_that_trains_itself_without_running_call_is_not_trained_through_call():
    """ok_model_that_trains_itself is silent because the tape of `step`, which applies the model's own
    optimizer, never runs the model; a `step` whose tape runs `self(...)` trains through `call`."""
    text = _silent_fixture("TGF102", "ok_model_that_trains_itself.py")
    runs = text.replace("            x = self._transform(z)\n", "            x = self._transform(z) + 0.0 * self(2)[1]\n")
    assert runs != text and _reported(runs, "TGF102")


def test_a_layer_only_a_loss_holds_trains_nothing_and_one_a_model_holds_does():
    """ok_layer_held_by_a_loss is silent because only the `Loss` subclass constructs `InputScaling`;
    a model that builds one too trains it, and there Keras 3 loses both variables."""
    text = _silent_fixture("TGF203", "ok_layer_held_by_a_loss.py")
    model = text + textwrap.dedent("""

        class Colouriser(tf.keras.Model):
            def __init__(self):
                super().__init__()
                self.scaling = InputScaling()

            def call(self, images):
                return self.scaling(images)
    """)
    assert [c for c in _codes(model) if c.endswith("TGF203")] == ["10:TGF203", "11:TGF203"]


def test_an_array_handed_to_scipy_is_what_scipy_needs_and_one_kept_for_tf_ops_is_not():
    """ok_numpy_for_a_scipy_routine is silent because `.numpy()` goes straight into SciPy; the same
    copy kept and read back by TF ops detaches the loss from the adjacency."""
    text = _silent_fixture("TGF102", "ok_numpy_for_a_scipy_routine.py")
    kept = text.replace("        log_m = tf.math.log(tf.maximum(transition, 1.0))\n",
                        "        log_m = tf.math.log(tf.maximum(transition, 1.0)).numpy()\n")
    kept = kept.replace("sp.csr_matrix(log_m.numpy())", "sp.csr_matrix(log_m)")
    assert kept != text and _reported(kept, "TGF102")


def test_a_converted_watched_tensor_is_that_tensor_and_a_copy_is_not():
    """ok_converted_alias_of_a_watched_tensor is silent because `tf.convert_to_tensor` of the watched
    tensor is that tensor; a copy made another way (`t * 1.0`) is a new tensor the tape never watches."""
    text = _silent_fixture("TGF403", "ok_converted_alias_of_a_watched_tensor.py")
    copied = text.replace("t_colloc = tf.convert_to_tensor(t)", "t_colloc = tf.convert_to_tensor(t * 1.0)")
    assert copied != text and _reported(copied, "TGF403")


def test_a_field_picked_by_getattr_after_the_tape_is_the_recorded_tensor():
    """ok_field_picked_by_getattr is silent because `getattr` only picks the field the tape recorded;
    scaling it after the tape computes there."""
    text = _silent_fixture("TGF401", "ok_field_picked_by_getattr.py")
    scaled = text.replace("output = getattr(output_graph, field)", "output = getattr(output_graph, field) * 2.0")
    assert scaled != text and _reported(scaled, "TGF401")


def test_a_list_of_weights_is_the_weights_and_a_list_of_values_made_from_them_is_not():
    """ok_list_of_weights is silent because the list holds the variables themselves; a list of
    tensors computed from them in `build` is computed once."""
    text = _silent_fixture("TGF205", "ok_list_of_weights.py")
    computed = text.replace("self.initial_state = [self.forward_state, self.backward_state]",
                            "self.initial_state = [tf.tanh(self.forward_state), tf.tanh(self.backward_state)]")
    assert computed != text and _reported(computed, "TGF205")


def test_a_layer_name_keras_does_not_define_is_not_taken_for_weights():
    """ok_name_keras_does_not_define is silent because `RELU` is no Keras layer; a `PReLU`, which
    Keras defines with a weight, made in `call` is reported."""
    text = _silent_fixture("TGF209", "ok_name_keras_does_not_define.py")
    real = text.replace("RELU", "PReLU")
    assert real != text and _reported(real, "TGF209")


def test_a_counter_nothing_reads_is_silent_and_one_the_model_reads_is_state_keras_3_loses():
    """ok_counter_nothing_reads is silent because nothing reads or steps `self.k`; a model that counts
    reads it keeps state that Keras 3 leaves out of its variables (the state message)."""
    text = _silent_fixture("TGF203", "ok_counter_nothing_reads.py")
    read = text + "\n    def iterations(self):\n        return int(self.k)\n"
    assert any(c.endswith("TGF203") for c in _codes(read))


def test_a_helper_that_only_arranges_recorded_outputs_computes_nothing_after_the_tape():
    """ok_outputs_arranged_by_a_helper is silent because `named_outputs` only zips names with the
    tensors the tape recorded; one that scales them computes after the tape, reported once for the
    statement however many `tape.gradient` calls read it."""
    text = _silent_fixture("TGF401", "ok_outputs_arranged_by_a_helper.py")
    scaling = text.replace("{name: value for name, value in", "{name: value * 2.0 for name, value in")
    assert scaling != text and [c for c in _codes(scaling) if c.endswith("TGF401")] == ["22:TGF401"]


@pytest.mark.parametrize("ratio, reported", [
    ("self.ratio = tf.exp(self.log_probs - old_log_probs)", False),
    ("self.ratio = tf.stop_gradient(tf.exp(self.log_probs - old_log_probs))", True),
])
def test_a_value_kept_on_self_in_a_step_carries_what_it_was_computed_from(ratio, reported):
    """ok_ppo_ratio_kept_on_self is silent because the actor reaches the loss through
    `self.ratio`; stop that ratio and no path is left."""
    text = _silent_fixture("TGF301", "ok_ppo_ratio_kept_on_self.py")
    edited = text.replace("self.ratio = tf.exp(self.log_probs - old_log_probs)", ratio)
    assert _reported(edited, "TGF301") is reported


@pytest.mark.parametrize("edit, reported", [
    ("", False),
    ("step = self.img_size / float(np.max(x))", True),
])
def test_keras_2_s_static_shape_is_metadata_where_the_tensor_s_values_are_not(edit, reported):
    """ok_anchor_grid_from_keras_shape is silent because its grid comes from `x._keras_shape`;
    compute the step from the tensor's values and NumPy takes them off the tape."""
    text = _silent_fixture("TGF101", "ok_anchor_grid_from_keras_shape.py")
    edited = text.replace("step = self.img_size / height", edit) if edit else text
    assert _reported(edited, "TGF101") is reported


@pytest.mark.parametrize("annotation, reported", [("tf.int32", False), ("np.int64", False), ("tf.float32", True)])
def test_a_parameter_annotated_with_an_integer_dtype_carries_no_gradient(annotation, reported):
    """`lengths: tf.int32`, as sequence models annotate lengths: what NumPy makes of them is a mask."""
    code = (
        "class L(keras.layers.Layer):\n"
        "    def __init__(self):\n        super().__init__()\n        self.proj = keras.layers.Dense(4)\n\n"
        "    def make_mask(self, lengths):\n"
        "        return (np.arange(8)[None, :] < lengths[:, None]).astype(np.float32)\n\n"
        f"    def call(self, x, lengths: {annotation}):\n"
        "        mask = tf.numpy_function(self.make_mask, [lengths], tf.float32)\n"
        "        return self.proj(x) * mask\n")
    assert _reported(code, "TGF105") is reported


@pytest.mark.parametrize("returned, reported", [
    ("reconstruction + perceptual, terms", False),
    ("reconstruction + terms['perceptual'], terms", True),
])
def test_loss_terms_logged_as_numpy_lose_nothing_until_the_loss_reads_them(returned, reported):
    """ok_logged_loss_terms is silent because the NumPy copies are only logged; add one back
    into the loss and that term's gradient is lost."""
    text = _silent_fixture("TGF102", "ok_logged_loss_terms.py")
    assert _reported(text.replace("reconstruction + perceptual, terms", returned), "TGF102") is reported


@pytest.mark.parametrize("edit, rule", [
    (("if not index_is_tensor:\n        edge_index = ", "if index_is_tensor:\n        edge_index = "), "TGF102"),
    (("if tf.is_tensor(edge_attrs[i]):", "if not tf.is_tensor(edge_attrs[i]):"), "TGF101"),
])
def test_numpy_given_back_only_for_numpy_input(edit, rule):
    """ok_numpy_back_for_numpy_input is silent because the NumPy conversions run only where the
    input was not a tensor; turn the test round and they run on the tensors."""
    text = _silent_fixture("TGF102", "ok_numpy_back_for_numpy_input.py")
    assert edit[0] in text
    assert _reported(text.replace(edit[0], edit[1]), rule)


@pytest.mark.parametrize("edit, reported", [
    (("", ""), False),
    # the helper handed the embeddings instead of the ids: its `np.asarray` detaches them
    (("positions = block_positions(ids)", "positions = block_positions(self.embed(ids))"), True),
])
def test_host_tables_from_ids_and_grid_sizes_detach_nothing(edit, reported):
    """ok_host_tables_from_ids_and_grid is silent because every NumPy call there takes NumPy copies
    of token ids, integer masks, or arrays made from sizes; hand it a layer's output and the
    conversion detaches it."""
    text = _silent_fixture("TGF101", "ok_host_tables_from_ids_and_grid.py")
    assert edit[0] in text
    codes = _codes(text.replace(edit[0], edit[1]) if edit[0] else text)
    assert any(c.endswith(("TGF101", "TGF102")) for c in codes) is reported


@pytest.mark.parametrize("override, reported", [(True, False), (False, True)])
def test_a_weightless_layer_that_overrides_call_takes_python_inputs(override, reported):
    """ok_processor_layer_overriding_call is silent because its base bypasses Keras's `__call__`
    (which refuses Python inputs) and holds no weights: a preprocessor. Without the override it
    is a layer Keras calls on tensors, and its NumPy detaches them."""
    text = _silent_fixture("TGF102", "ok_processor_layer_overriding_call.py")
    if not override:
        text = text.replace("    def __call__(self, *args, **kwargs):\n        return self.call(*args, **kwargs)\n\n", "")
    assert _reported(text, "TGF102") is reported


@pytest.mark.parametrize("listed, reported", [("[self.W, self.B]", False), ("[self.W]", True)])
def test_a_class_listing_its_own_trainable_variables_trains_what_it_lists(listed, reported):
    """ok_own_trainable_variables is silent because the class's own `trainable_variables()` lists
    both variables and the loop trains what it returns; leave one out and that one never trains."""
    text = _silent_fixture("TGF203", "ok_own_trainable_variables.py")
    assert _reported(text.replace("return [self.W, self.B]", f"return {listed}"), "TGF203") is reported


@pytest.mark.parametrize("guarded, reported", [(True, False), (False, True)])
def test_a_layer_filled_into_an_empty_slot_once_is_made_once(guarded, reported):
    """ok_lazy_layer_filled_once is silent because `if not self.head:` guards a slot `__init__`
    leaves None and only `call` fills: made on the first call. Unguarded, it is made every call."""
    text = _silent_fixture("TGF209", "ok_lazy_layer_filled_once.py")
    if not guarded:
        text = text.replace("        if not self.head:\n            self.head = ", "        self.head = ")
    assert _reported(text, "TGF209") is reported


@pytest.mark.parametrize("keras_model, reported", [(False, False), (True, True)])
def test_predict_of_a_project_layer_in_a_list_is_its_own(keras_model, reported):
    """ok_own_predict_of_list_items is silent because the items of the list are the project's
    layers, whose own `predict` returns tensors; a Keras model's `predict` there returns NumPy."""
    text = _silent_fixture("TGF106", "ok_own_predict_of_list_items.py")
    if keras_model:
        text = (text.replace("            m, v = layer.predict(m, v)", "            m, v = self.head.predict(m), v")
                .replace("        self.layers = []\n", "        self.layers = []\n"
                         "        self.head = tf.keras.Sequential([tf.keras.layers.Dense(1)])\n"))
    assert _reported(text, "TGF106") is reported


@pytest.mark.parametrize("frozen, reported", [(True, False), (False, True)])
def test_a_layer_frozen_in_its_init_trains_none_of_its_variables(frozen, reported):
    """ok_frozen_anchor_layer is silent because the layer sets `self.trainable = False` in
    `__init__`: its variable never trained, by design. Unfrozen, Keras 3 loses a weight."""
    text = _silent_fixture("TGF203", "ok_frozen_anchor_layer.py")
    if not frozen:
        text = text.replace("        self.trainable = False\n", "")
    assert _reported(text, "TGF203") is reported


@pytest.mark.parametrize("tf2, reported", [(False, False), (True, True)])
def test_dropout_holds_a_variable_only_in_keras_3(tf2, reported):
    """ok_dropout_variables_tf1 is silent because TF 1.x's Dropout holds no variable; the same
    loop on TF 2 (Keras 3) has the seed generator's state in `model.variables`."""
    text = _silent_fixture("TGF405", "ok_dropout_variables_tf1.py")
    if tf2:
        for tf1, now in [("tf.enable_eager_execution()\n", ""), ("tf.layers.", "tf.keras.layers."),
                         ("tf.train.AdamOptimizer(learning_rate=1e-4)", "tf.keras.optimizers.Adam(1e-4)"),
                         ("tf.losses.sparse_softmax_cross_entropy(labels=targets, logits=logits)",
                          "tf.keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)")]:
            assert tf1 in text
            text = text.replace(tf1, now)
    assert _reported(text, "TGF405") is reported


@pytest.mark.parametrize("returned, reported", [
    ("return loss, metrics", False),
    ("return loss + metrics[\"content\"], metrics", True),
])
def test_floats_logged_in_an_annotated_record_lose_nothing_until_the_loss_reads_them(returned, reported):
    """ok_metrics_in_annotated_record (`metrics: dict = {}`) is silent because the floats are
    only returned to be printed; add one back into the loss and that term is a constant."""
    text = _silent_fixture("TGF104", "ok_metrics_in_annotated_record.py")
    assert _reported(text.replace("return loss, metrics", returned), "TGF104") is reported


@pytest.mark.parametrize("loss, reported", [
    ("tf.reduce_mean((q_target - q) ** 2)", False),
    ("tf.reduce_mean(q_target ** 2)", True),
])
def test_a_numpy_copy_filled_with_targets_is_a_target_only_beside_the_original(loss, reported):
    """ok_numpy_copy_as_td_target is silent because the loss compares the copy with the live
    Q-values; a loss of the copy alone has lost every gradient."""
    text = _silent_fixture("TGF102", "ok_numpy_copy_as_td_target.py")
    assert _reported(text.replace("tf.reduce_mean((q_target - q) ** 2)", loss), "TGF102") is reported


@pytest.mark.parametrize("returned, reported", [
    ("return q, tau", False),
    ("return q, tf.reduce_mean(q, axis=-1)", True),
])
def test_each_item_a_model_returns_carries_what_its_call_computed_it_from(returned, reported):
    """ok_model_returns_sampled_fractions is silent because the model's second output is its
    NumPy draw; return something computed from its weights there and NumPy loses its gradient."""
    text = _silent_fixture("TGF102", "ok_model_returns_sampled_fractions.py")
    assert _reported(text.replace("return q, tau", returned), "TGF102") is reported


@pytest.mark.parametrize("tf1, reported", [(True, False), (False, True)])
def test_a_tensor_derived_in_build_is_a_snapshot_only_outside_a_graph(tf1, reported):
    """ok_graph_mode_mask is silent because its module is TF 1.x graph code (`tf.placeholder`),
    where `build`'s expression is re-evaluated on every run; written for TF 2 it is computed once."""
    text = _silent_fixture("TGF205", "ok_graph_mode_mask.py")
    if not tf1:
        text = text.replace('return tf.placeholder(tf.float32, shape=(None, None, n_in), name="inputs")',
                            "return tf.keras.Input(shape=(None, n_in))").replace(
            "from tensorflow.python.keras.engine.base_layer import Layer", "from tensorflow.keras.layers import Layer")
    assert _reported(text, "TGF205") is reported


@pytest.mark.parametrize("legacy_import, reported", [
    ("from keras.legacy import interfaces", False),
    ("from keras.engine.topology import Layer", False),
    ("from keras.engine import InputSpec", False),  # only multi-backend Keras's `keras.engine` exported names
    ("from keras.legacy.saving import legacy_h5_format as interfaces", True),  # Keras 3's own keras.legacy
    ("from keras.engine.input_spec import InputSpec", True),  # Keras 2.6-2.15's module
])
def test_a_cell_written_for_multi_backend_keras_slices_its_kernel_in_a_graph(legacy_import, reported):
    """ok_multi_backend_keras_cell is silent because only multi-backend Keras had `keras.legacy.interfaces`:
    graph-mode code. With Keras 3's imports the slices are taken once, outside every tape."""
    text = _silent_fixture("TGF205", "ok_multi_backend_keras_cell.py")
    text = text.replace("from keras.legacy import interfaces", legacy_import)
    if reported:
        text = text.replace("    @interfaces.legacy_recurrent_support\n", "")
    assert _reported(text, "TGF205") is reported


@pytest.mark.parametrize("decorator, reported", [
    ("@function.Defun(grad_func=spike_grad)", False),
    ("@function.Defun()", True),
])
def test_a_function_handed_its_gradient_by_defun_defines_its_own(decorator, reported):
    """ok_defun_pseudo_derivative is silent because `Defun(grad_func=...)` gives the step its
    pseudo-derivative; without one, `tf.greater` cuts every path."""
    text = _silent_fixture("TGF302", "ok_defun_pseudo_derivative.py")
    assert _reported(text.replace("@function.Defun(grad_func=spike_grad)", decorator), "TGF302") is reported


@pytest.mark.parametrize("sources, reported", [
    ("self.parameters()", False),
    ("self.state_net(graph), self.output_net(graph)", True),
])
def test_a_closure_s_self_is_its_enclosing_method_s(sources, reported):
    """ok_closure_reads_own_method is silent because the step nested in `fit` calls a method
    of the class (lists of variables); what the class's networks return there is a tensor
    the tape never watched."""
    text = _silent_fixture("TGF403", "ok_closure_reads_own_method.py")
    assert _reported(text.replace("self.parameters()", sources), "TGF403") is reported


@pytest.mark.parametrize("returned, reported", [
    ("return tf.reshape(x, ", False),
    ("return tf.reshape(x + np.ones_like(x), ", True),
])
def test_numpy_that_reads_a_shape_fails_when_traced_only_if_it_converts(returned, reported):
    """ok_shape_of_traced_tensor is silent because `np.shape`/`np.ndim` return the tensor's own
    `.shape`/`.ndim`; `np.ones_like` converts the tensor, which a traced one refuses."""
    text = _silent_fixture("TGF101", "ok_shape_of_traced_tensor.py")
    assert _reported(text.replace("return tf.reshape(x, ", returned), "TGF101") is reported


_AFTER_A_DENSE = ('x = tf.keras.layers.Dense(8, activation="relu")(inputs)\n    x = Jitter()(x)')


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    (lambda text: text.replace('x = Jitter()(inputs)\n    x = tf.keras.layers.Dropout(0.1)(x)\n'
                               '    x = tf.keras.layers.Dense(8, activation="relu")(x)', _AFTER_A_DENSE), True),
    (lambda text: text.replace("tf.keras.Input((length,)), Jitter(),",
                               "tf.keras.Input((length,)), tf.keras.layers.Dense(4), Jitter(),"), True),
    (lambda text: text + "\n\ndef custom(x):\n    return Jitter()(x)\n", True),
])
def test_a_weightless_layer_on_a_model_s_raw_inputs_has_no_gradient_to_lose(edit, reported):
    """ok_numpy_augmentation_on_inputs is silent because the module applies its NumPy layer only
    to `keras.Input` (through Dropout) and first in a Sequential; after a Dense layer, or on a
    value the module does not show, the weights before it lose their gradient."""
    text = _silent_fixture("TGF105", "ok_numpy_augmentation_on_inputs.py")
    assert _reported(edit(text), "TGF105") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    (lambda text: text.replace("tf.Variable(self.kept_scores, trainable=False)",
                               "tf.Variable(tf.zeros_like(self.kept_scores), trainable=False)\n"
                               "            self.kept_scores.assign_add(logits[0])"), True),
    (lambda text: text.replace("tf.Variable(self.kept_scores, trainable=False)", "tf.Variable(0.0, trainable=False)"),
     True),
])
def test_a_variable_that_holds_a_call_s_result_keeps_no_state(edit, reported):
    """ok_snapshot_of_call_result is silent because the non-trainable variable made in `call`
    holds what that call computed and nothing writes it; one the code steps with `.assign_add`,
    or a constant that would count, starts over on every call."""
    text = _silent_fixture("TGF202", "ok_snapshot_of_call_result.py")
    assert _reported(edit(text), "TGF202") is reported


@pytest.mark.parametrize("edit, codes", [
    (lambda text: text, ["TGF208"]),
    # Read as a kernel rather than filled: a variable made on every call, which never trains.
    (lambda text: text.replace("out[:, i, j, m].assign(tf.reduce_sum(patch * w[m], axis=(1, 2, 3)))",
                               "pass").replace("return out", "return tf.nn.conv2d(x, out, 1, 'VALID')"), ["TGF201"]),
])
def test_a_variable_filled_slice_by_slice_is_an_output_buffer(edit, codes):
    """flag_sliced_output_buffer's variable is the output, filled with `assign`: the finding is
    the gradient `assign` cuts (TGF208), not a weight that never trains (TGF201)."""
    text = (FIXTURES / "TGF208" / "flag_sliced_output_buffer.py").read_text(encoding="utf-8")
    assert sorted({c.split(":")[-1] for c in _codes(edit(text))}) == codes


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    # (the accuracy fed into the logits, so that what it returns is on the gradient's way)
    (lambda text: text.replace("tf.equal(pred, y), tf.float32", "tf.nn.softmax(forward(x)), tf.float32").replace(
        "update(tape, forward(x), y)", "update(tape, forward(x) * accuracy(batches)[0], y)"), True),
])
def test_comparisons_and_counts_carry_no_gradient(edit, reported):
    """ok_accuracy_in_tape is silent because its floats come from `tf.equal` and
    `tf.math.count_nonzero` (TensorFlow registers no gradient for either); a float of the
    model's probabilities, inside the tape, is a gradient turned into a constant."""
    text = _silent_fixture("TGF104", "ok_accuracy_in_tape.py")
    assert _reported(edit(text), "TGF104") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    # trained here: called in training mode
    (lambda text: text.replace("self.teacher(samples, training=False)", "self.teacher(samples)"), True),
    # its own sub-layer, not a network it is handed
    (lambda text: text.replace("self.teacher = teacher", "self.teacher = tf.keras.layers.Dense(4)"), True),
])
def test_a_handed_in_network_run_in_inference_mode_is_a_teacher(edit, reported):
    """ok_teacher_targets is silent because the layer stops the outputs of a network it is
    handed and runs with `training=False`: targets from a teacher. Its own sub-layer, or one
    it runs in training mode, is a part the stop cuts off."""
    text = _silent_fixture("TGF301", "ok_teacher_targets.py")
    assert _reported(edit(text), "TGF301") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    (lambda text: text.replace("self.kernel", "self.weight_v"), True),
    (lambda text: text.replace("tf.keras.layers.Conv1D", "tf.keras.layers.Conv1DTranspose"), True),
])
def test_a_read_only_kernel_of_a_builtin_base_is_no_silent_loss(edit, reported):
    """ok_read_only_builtin_kernel is silent because Keras 3's convolutions make `kernel` a
    read-only property (the assignment raises); under another name, or on a base whose
    `kernel` is a plain attribute, the variable is silently untracked."""
    text = _silent_fixture("TGF203", "ok_read_only_builtin_kernel.py")
    assert _reported(edit(text), "TGF203") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    (lambda text: text.replace("(tf.keras.layers.Conv1D)", "(tf.keras.layers.Layer)"), True),
])
def test_a_weight_of_a_builtin_layer_subclass_is_read_by_the_builtin(edit, reported):
    """ok_weight_read_by_builtin_base is silent because the built-in convolution's `call`
    reads `self.bias`; a plain layer that never reads it leaves it without a gradient."""
    text = _silent_fixture("TGF207", "ok_weight_read_by_builtin_base.py")
    assert _reported(edit(text), "TGF207") is reported


def _as_keras_call(text: str) -> str:
    """The fixture's `__call__` override (a graph builder, whose helpers' layers are silent
    anyway) as the `call` Keras runs on every batch."""
    return text.replace("def __call__(self, inputs):", "def call(self, inputs):")


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    (_as_keras_call, False),
    # reset on every call: the guard never closes
    (lambda text: _as_keras_call(text).replace("        return self.conv(",
                                               "        self.is_built = False\n        return self.conv("), True),
    # set to something other than True: not a one-way flag
    (lambda text: _as_keras_call(text).replace("self.is_built = True", "self.is_built = x.shape[-1] > 4"), True),
])
def test_a_flag_only_build_sets_guards_a_lazy_build(edit, reported):
    """ok_flag_guarded_build is silent because `self.is_built` is set only to True, by
    `build`: the guarded `build` runs once. Reset, or set from data, it guards nothing."""
    text = _silent_fixture("TGF209", "ok_flag_guarded_build.py")
    assert _reported(edit(text), "TGF209") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    # the decorator only reads it: nothing says it is state
    (lambda text: text.replace("        self._saved_kernel.assign(self.kernel)\n", "")
     .replace("self.kernel.assign(self._saved_kernel)", "self.kernel.assign(self._saved_kernel * 1.0)"), True),
])
def test_a_variable_a_call_decorator_writes_is_state(edit, reported):
    """ok_state_written_by_call_decorator is silent because the module function decorating
    `call` writes the variable with `.assign`: state, not a weight."""
    text = _silent_fixture("TGF203", "ok_state_written_by_call_decorator.py")
    assert _reported(edit(text), "TGF203") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    # the subclass itself is run too: its call makes new heads on every call
    (lambda text: text + "subclassed = Encoder(3)\n", True),
    # the method only summarises: it does not return the functional model
    (lambda text: text.replace("return tf.keras.Model(inputs=[x], outputs=self.call(x))",
                               "tf.keras.Model(inputs=[x], outputs=self.call(x)).summary()"), True),
])
def test_a_subclass_used_only_to_write_a_functional_model_runs_call_once(edit, reported):
    """ok_subclass_built_as_functional is silent because the module only uses `Encoder` through
    `model()`, which runs `call` once on a symbolic input and returns the functional model."""
    text = _silent_fixture("TGF209", "ok_subclass_built_as_functional.py")
    assert _reported(edit(text), "TGF209") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    # the getter computes: the op runs after the block, unrecorded
    (lambda text: text.replace("return self.loss, self.metrics", "return self.loss * 2.0, self.metrics"), True),
])
def test_a_getter_after_the_tape_reads_what_the_tape_recorded(edit, reported):
    """ok_loss_read_through_getter is silent because `get_losses()` only returns attributes the
    step stored inside the tape; a getter that computes runs its op after the block."""
    text = _silent_fixture("TGF401", "ok_loss_read_through_getter.py")
    assert _reported(edit(text), "TGF401") is reported


@pytest.mark.parametrize("edit, reported", [
    (lambda text: text, False),
    (lambda text: text.replace("w = tf.Variable(w - lr * grads[0])", "w = w - lr * grads[0]"), True),
])
def test_a_variable_rebuilt_from_its_update_is_still_a_variable(edit, reported):
    """ok_rewrapped_in_a_new_variable is silent because `w = tf.Variable(w - lr * g)` binds a new
    variable, which the next tape watches; `w = w - lr * g` binds a plain tensor."""
    text = _silent_fixture("TGF204", "ok_rewrapped_in_a_new_variable.py")
    assert _reported(edit(text), "TGF204") is reported


@pytest.mark.parametrize("sources, reported", [("model.params", False), ("model.trainable_variables", True)])
def test_a_variable_trained_through_a_list_attribute_trains_untracked(sources, reported):
    """ok_trained_through_a_list_attribute is silent because the loop differentiates `model.params`,
    the list that holds `self.k`; differentiating `trainable_variables` instead, `k` never trains."""
    text = _silent_fixture("TGF203", "ok_trained_through_a_list_attribute.py")
    assert _reported(text.replace("model.params", sources), "TGF203") is reported


@pytest.mark.parametrize("stored, reported", [(True, False), (False, True)])
def test_a_layer_made_on_a_cache_miss_is_made_once_per_key(stored, reported):
    """ok_layer_cached_by_name is silent because each miss stores the new layer in the dict it
    looked in; without storing it, every call makes a new one."""
    text = _silent_fixture("TGF209", "ok_layer_cached_by_name.py")
    if not stored:
        text = text.replace("            self.sub_layers[name] = layer\n", "")
    assert _reported(text, "TGF209") is reported


@pytest.mark.parametrize("keras3, reported", [(False, False), (True, True)])
def test_a_dropout_made_in_call_holds_a_variable_only_in_keras_3(keras3, reported):
    """ok_keras2_dropout_in_call is silent because multi-backend Keras's `Dropout` holds no variable;
    Keras 3's holds a seed variable, which `model.fit`'s `tf.function` refuses to see made per call."""
    text = _silent_fixture("TGF209", "ok_keras2_dropout_in_call.py")
    if keras3:
        text = text.replace("from keras.engine.topology import Layer", "from keras.layers import Layer")
    assert _reported(text, "TGF209") is reported


@pytest.mark.parametrize("returned, reported", [("model", False), ("model(tf.ones((1, 7)))", True)])
def test_a_call_that_returns_the_model_it_builds_is_a_factory(returned, reported):
    """ok_call_returns_a_model is silent because `call()` returns the `Sequential` that holds its layers;
    returning what that model computes instead, the layers are made on every call and kept by nothing."""
    text = _silent_fixture("TGF209", "ok_call_returns_a_model.py")
    if reported:  # run through Keras's `__call__`: by hand (`.call()`) it would run once
        text = text.replace("ModelDesign().call()", "ModelDesign()()")
    assert _reported(text.replace("        return model\n", f"        return {returned}\n"), "TGF209") is reported


@pytest.mark.parametrize("converted, reported", [("np.array(a.todense())", False), ("np.array(a)", True)])
def test_what_a_sparse_matrix_method_returns_is_data(converted, reported):
    """ok_sparse_matrix_beside_the_features is silent because `.todense()` is a SciPy sparse matrix's
    method, which no tensor has; `np.array` of the input item itself would detach a tensor."""
    text = _silent_fixture("TGF102", "ok_sparse_matrix_beside_the_features.py")
    assert _reported(text.replace("np.array(a.todense())", converted), "TGF102") is reported


@pytest.mark.parametrize("rebound, reported", [(True, False), (False, True)])
def test_a_sources_name_bound_for_each_update_means_what_reaches_the_gradient(rebound, reported):
    """ok_sources_name_bound_per_update is silent because the multiplier's loss is differentiated
    with respect to `variables = [self.log_alpha]`, the binding that reaches that call; asked of the
    policy's variables instead, its `stop_gradient` cuts their only path."""
    text = _silent_fixture("TGF301", "ok_sources_name_bound_per_update.py")
    if not rebound:
        text = text.replace("        variables = [self.log_alpha]\n", "")
    assert _reported(text, "TGF301") is reported


@pytest.mark.parametrize("updated, reported", [(True, False), (False, True)])
def test_centres_moved_by_a_function_form_scatter_are_state(updated, reported):
    """ok_centers_updated_by_scatter is silent because `tf.compat.v1.scatter_sub(centers, ...)` writes
    `self.centers` through its local name: state; without that update, the centres are a weight."""
    text = _silent_fixture("TGF203", "ok_centers_updated_by_scatter.py")
    if not updated:
        text = text.replace("        update = tf.compat.v1.scatter_sub(centers, labels, diff)\n", "        update = diff\n")
    assert _reported(text, "TGF203") is reported


@pytest.mark.parametrize("returned, reported", [("Model(inputs=self.input_tensor, outputs=features)", False),
                                                ("features", True)])
def test_a_helper_only_a_model_factory_calls_builds_that_model(returned, reported):
    """ok_helper_of_a_functional_build is silent because the only caller of `channel_attention` is a
    method that returns the functional model it wires; a `call` that returns the features is no factory."""
    text = _silent_fixture("TGF209", "ok_helper_of_a_functional_build.py")
    text = text.replace("return Model(inputs=self.input_tensor, outputs=features)", f"return {returned}")
    text = text.replace("    def functional(self):", "    def call(self, inputs):") if reported else text
    assert _reported(text, "TGF209") is reported


@pytest.mark.parametrize("sources, reported", [("self._params", False), ("self.trainable_variables", True)])
def test_a_model_that_trains_its_own_list_decides_what_trains(sources, reported):
    """ok_model_trains_its_own_list is silent because the model differentiates `self._params`, a list
    of its own making: `gamma_bc` never trained, on any Keras. Differentiating `trainable_variables`,
    Keras 3's tracking decides, and `gamma_bc` is one of the variables it leaves out."""
    text = _silent_fixture("TGF203", "ok_model_trains_its_own_list.py")
    assert _reported(text.replace("self._params)", f"{sources})"), "TGF203") is reported


@pytest.mark.parametrize("loss, reported", [("q_target - q", False), ("q_target", True)])
def test_a_td_target_copy_that_takes_the_tensors_own_name(loss, reported):
    """ok_numpy_copy_as_td_target written as `q_target = self.model(states)` then `q_target =
    np.array(q_target)`: the copy, filled with TD targets, is regressed on by the model's output
    computed again (`q_target - q`): detached on purpose. A loss of the copy alone has no gradient."""
    text = _silent_fixture("TGF102", "ok_numpy_copy_as_td_target.py")
    text = text.replace("            q = self.model(states)\n            q_target = q.numpy()\n",
                        "            q_target = self.model(states)\n            q_target = np.array(q_target)\n")
    text = text.replace("            loss = tf.reduce_mean((q_target - q) ** 2)\n",
                        f"            q = self.model(states)\n            loss = tf.reduce_mean(({loss}) ** 2)\n")
    assert _reported(text, "TGF102") is reported


def test_a_class_whose_constructor_raises_only_on_some_paths_is_still_checked():
    """ok_class_whose_init_always_raises is silent because no instance can exist; raise only
    under a condition and the class can be built: its untracked weight is reported."""
    text = _silent_fixture("TGF203", "ok_class_whose_init_always_raises.py")
    conditional = text.replace("        raise NotImplementedError", "        if rho < 0:\n            raise NotImplementedError")
    assert _reported(conditional, "TGF203")


def test_a_sparse_tensor_the_layer_computes_from_its_weights_still_carries_a_gradient():
    """ok_sparse_adjacency_handed_in is silent because the SparseTensor it densifies is handed in
    (graph structure); densify one the layer makes from its kernel and the NumPy copy loses a gradient."""
    text = _silent_fixture("TGF102", "ok_sparse_adjacency_handed_in.py")
    computed = text.replace("tf.sparse.reorder(mat)", "tf.sparse.reorder(tf.sparse.from_dense(tf.matmul(x, self.kernel)))")
    assert computed != text and _reported(computed, "TGF102")


@pytest.mark.parametrize("rule, case, symbol", [
    ("TGF207", "flag_unused_bias.py", ".build"),
    ("TGF207", "flag_unused_in_build_helper.py", "."),
])
def test_a_finding_judged_from_the_class_names_the_method_it_is_in(rule, case, symbol):
    """TGF207 and TGF208 judge a whole class: their JSON `symbol` is still the method that makes
    the weight (held-out GCN layers printed `<module>`)."""
    path = FIXTURES / rule / case
    source = SourceFile(path=str(path), text=path.read_text(encoding="utf-8"), encoding="utf-8", bom=False)
    findings = [f for f in Engine(ALL_RULES).process(source).findings if f.code == rule]
    assert findings and all(symbol in f.symbol and f.symbol != "<module>" for f in findings), \
        [f.symbol for f in findings]


def test_values_handed_to_the_loss_from_inside_the_tape_still_carry_a_gradient():
    """ok_advantages_computed_before_the_tape is silent because the critic's values are computed
    before the tape opens; compute them inside it and the tape records them again."""
    text = _silent_fixture("TGF102", "ok_advantages_computed_before_the_tape.py")
    inside = text.replace(
        "        values, next_values = self.values_of(states, next_states)\n        with tf.GradientTape() as tape:\n",
        "        with tf.GradientTape() as tape:\n            values, next_values = self.values_of(states, next_states)\n")
    assert inside != text and _reported(inside, "TGF102")


def test_a_conversion_of_what_a_numpy_round_trip_made_is_a_leftover_beside_a_data_buffer():
    """ok_conversion_of_a_data_buffer is silent because its only NumPy is a buffer of replay
    data; let the actor's output make a NumPy round trip and the conversion is its leftover."""
    text = _silent_fixture("TGF103", "ok_conversion_of_a_data_buffer.py")
    trip = text.replace("actions = self.actor(tf.convert_to_tensor(states, dtype=tf.float32))",
                        "actions = tf.constant(self.actor(tf.convert_to_tensor(states, dtype=tf.float32)).numpy())")
    assert trip != text and _reported(trip, "TGF103")


def test_helpers_of_a_keras_call_still_make_layers_per_call():
    """ok_helpers_of_a_graph_building_call is silent because its helpers are reached only from
    a `__call__` that builds a functional graph; rename it `call` (Keras runs it on every batch)
    and the layers its helpers make are new on every call."""
    text = _silent_fixture("TGF209", "ok_helpers_of_a_graph_building_call.py")
    keras_call = text.replace("def __call__(self, inputs):", "def call(self, inputs):")
    assert keras_call != text and _reported(keras_call, "TGF209")


def test_inputs_of_a_keras_model_are_symbolic():
    """ok_inputs_of_a_plain_class is silent because its `self.inputs` is the tensor it was given;
    in a Keras model that does not set it, `self.inputs` is the model's symbolic input."""
    text = _silent_fixture("TGF403", "ok_inputs_of_a_plain_class.py")
    model = text.replace("class GuidedBackprop:", "class GuidedBackprop(tf.keras.Model):").replace(
        "        self.model = model\n        self.inputs = tf.convert_to_tensor(images)",
        "        super().__init__()\n        self.model = model\n        self.images = tf.convert_to_tensor(images)")
    assert model != text and _reported(model, "TGF403")


def test_a_learned_dropout_of_tf_keras_computes_its_rate_once():
    """ok_multi_backend_engine_exports is silent because only multi-backend Keras's `keras.engine`
    exported `InputSpec` (graph mode); import it from TF 2's Keras and `self.p` is a constant."""
    text = _silent_fixture("TGF205", "ok_multi_backend_engine_exports.py")
    eager = text.replace("import keras.backend as K\nfrom keras import initializers\nfrom keras.engine import InputSpec\n"
                         "from keras.layers import Layer",
                         "import tensorflow.keras.backend as K\nfrom tensorflow.keras import initializers\n"
                         "from tensorflow.keras.layers import InputSpec, Layer")
    assert eager != text and _reported(eager, "TGF205")



def test_a_helper_taped_with_its_training_flag_off_runs_its_inference_branch_under_the_tape():
    """ok_predict_in_an_inference_branch_of_a_helper is silent because the taped call leaves
    `train` at its default (true); pass `train=False` there and `model.predict` runs in the tape."""
    text = _silent_fixture("TGF106", "ok_predict_in_an_inference_branch_of_a_helper.py")
    taped_off = text.replace("colours = render(self.field, rays)", "colours = render(self.field, rays, train=False)")
    assert taped_off != text and _reported(taped_off, "TGF106")


def test_a_numpy_reduction_of_the_only_call_of_a_model_is_reported_not_a_bootstrap_target():
    """ok_semi_gradient_numpy_target is silent because the same network is also called
    undetached in the loss; with that call gone, `np.max` cuts the network's only path."""
    text = _silent_fixture("TGF101", "ok_semi_gradient_numpy_target.py")
    one_call = text.replace("values = self.net(tf.convert_to_tensor(state[None, :], dtype=tf.float32))",
                            "values = tf.zeros([1, 2])")
    assert one_call != text and _reported(one_call, "TGF101")


@pytest.mark.parametrize("change", [
    # Without the `try`, `fit` fails on the conversion when it traces the model.
    ("        try:\n            view = np.asarray(images)\n        except Exception:\n            return None\n",
     "        view = np.asarray(images)\n"),
    # The array fed into the output: its gradient is lost, caught or not.
    ("return self.inner(images, training=training)",
     "return self.inner(images, training=training) * self._channel_count(images)"),
])
def test_an_array_probed_for_its_shape_is_reported_untried_or_feeding_the_output(change):
    text = _silent_fixture("TGF102", "ok_array_read_for_its_shape.py")
    changed = text.replace(*change)
    if "self._channel_count(images)" in change[1]:
        changed = changed.replace("return int(view.shape[-1])", "return view")
    assert changed != text and _reported(changed, "TGF102")


def test_a_numpy_wrapper_on_the_generated_element_of_a_lambda_list_is_reported():
    """ok_numpy_function_on_the_target_input is silent because `real` is a model `Input`; the
    generated image, from a convolution, loses its gradient in the same wrapper."""
    text = _silent_fixture("TGF105", "ok_numpy_function_on_the_target_input.py")
    on_fake = text.replace("tf.numpy_function(finite_difference, [real], tf.float32)",
                           "tf.numpy_function(finite_difference, [fake], tf.float32)")
    assert on_fake != text and _reported(on_fake, "TGF105")


_GATE_CHAIN = '''
import tensorflow as tf


def hard(x):
    return tf.cast(tf.greater(x, 0.0), tf.float32)


def gate(h):
    return hard(h) * 2.0


class Gated(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = tf.keras.layers.Dense(4)

    def call(self, x):
        return {returned}
'''


@pytest.mark.parametrize("returned, reported", [
    ("gate(self.dense(x))", True),  # the weights reach the comparison through two helpers
    ("self.dense(x) * gate(x)", False),  # a mask of the model's own input: no weight's path is cut
])
def test_a_cut_in_a_helper_of_a_helper_counts_where_the_weights_reach_it(returned, reported):
    """fixtures/projects/token_masks: the same chain, called from another module with token ids."""
    assert _reported(_GATE_CHAIN.format(returned=returned), "TGF302") is reported


def test_a_helpers_result_counts_where_a_caller_uses_it():
    """ok_score_helper_only_logged is silent because the scores are only appended to logs; add
    one to the loss and the NumPy in the helper is reported."""
    text = _silent_fixture("TGF101", "ok_score_helper_only_logged.py")
    used = text.replace("+ bce(tf.zeros_like(fake_out), fake_out)\n            fake_score, real_score = scores(",
                        "\n            fake_score, real_score = scores(")
    used = used.replace("            fake_log.append(fake_score)\n",
                        "            loss = loss + bce(tf.zeros_like(fake_out), fake_out) + real_score\n"
                        "            fake_log.append(fake_score)\n")
    assert _reported(used, "TGF101")


def test_a_copy_regressed_on_something_else_is_no_target():
    """ok_dqn_target_copy_into_loss is silent because the copy filled with TD targets is compared
    with the Q-values it copies; compare it with a stopped copy instead and the `.numpy()` counts."""
    text = _silent_fixture("TGF102", "ok_dqn_target_copy_into_loss.py")
    other = text.replace("loss = self.loss_fn(q_target, q)",
                         "loss = self.loss_fn(q_target, tf.stop_gradient(q)) + tf.reduce_mean(q)")
    assert _codes(other) == ["20:TGF102", "27:TGF103"]


def test_a_tape_asked_for_a_gradient_records_its_block():
    """ok_tape_never_asked is silent because its tape is never asked for a gradient; ask it and
    the beam search's NumPy is on the path."""
    text = _silent_fixture("TGF102", "ok_tape_never_asked.py")
    asked = text.replace("    return hypotheses[0][0]", "    tape.gradient(hypotheses[0][1], state)\n"
                                                         "    return hypotheses[0][0]")
    assert _reported(asked, "TGF102")


def test_a_source_rebound_after_the_tape_is_judged_by_what_reaches_the_gradient():
    """ok_watched_variables_by_name is silent because the list the gradient asks for is rebound to
    watched variables after the block; rebind it to a tensor and it is reported."""
    text = _silent_fixture("TGF403", "ok_watched_variables_by_name.py")
    tensor = text.replace('variables = [v for v in tape.watched_variables() if "encoder" in v.name]',
                          "variables = tf.constant(model.trainable_variables[0])")
    assert _reported(tensor, "TGF403")


def test_a_gradient_target_depends_on_the_binding_that_reaches_the_call():
    """ok_epoch_mean_under_the_loss_name is silent because the name of the loss is bound to the
    epoch's mean only after the loop; fold that mean into the loss the tape differentiates and
    the logged copies are on the gradient's way."""
    text = _silent_fixture("TGF102", "ok_epoch_mean_under_the_loss_name.py")
    folded = text.replace("                losses.append(loss.numpy())\n",
                          "                losses.append(loss.numpy())\n                loss = loss + np.mean(losses)\n")
    assert _reported(folded, "TGF102")


def test_a_model_that_runs_eagerly_may_test_its_tensors_with_numpy():
    """ok_nan_check_in_an_eager_model is silent because its own `compile` makes Keras run it eagerly;
    let it be traced and the NumPy NaN check fails there, which the finding says (no gradient is lost)."""
    text = _silent_fixture("TGF101", "ok_nan_check_in_an_eager_model.py")
    traced = text.replace("run_eagerly=True, **kwargs", "run_eagerly=False, **kwargs")
    source = SourceFile(path="snippet.py", text=traced, encoding="utf-8", bom=False)
    (finding,) = Engine(ALL_RULES).process(source).findings
    assert finding.code == "TGF101" and "in a condition fails when" in finding.message
    assert _reported(text.replace("def compile(self, optimizer, run_eagerly=True, **kwargs):\n"
                                  "        super().compile(optimizer=optimizer, run_eagerly=run_eagerly, **kwargs)\n",
                                  "def build_model(self):\n        return self\n"), "TGF101")


def test_what_pytorch_returns_is_no_tensorflow_value():
    """ok_torch_model_in_a_layer is silent because `.cpu()` marks a PyTorch tensor (TensorFlow's have
    no such method); convert a sub-layer's own output instead and the `.numpy()` is reported."""
    text = _silent_fixture("TGF102", "ok_torch_model_in_a_layer.py")
    own = text.replace("        self.torch_model = torch_model.eval()\n",
                       "        self.torch_model = torch_model.eval()\n        self.proj = tf.keras.layers.Dense(3)\n")
    own = own.replace("return logits.cpu().numpy().astype(np.float32)",
                      "return self.proj(tf.cast(ids.numpy(), tf.float32)).numpy().astype(np.float32)")
    assert _reported(own, "TGF102")


def test_a_builtin_layer_without_weights_carries_no_weight_of_its_own():
    """ok_weightless_layer_before_a_frozen_selection is silent because `Reshape` adds no weight and the
    keys are `trainable=False`; make the keys trainable, or the reshape a `Dense`, and the selection
    cuts a weight off."""
    text = _silent_fixture("TGF302", "ok_weightless_layer_before_a_frozen_selection.py")
    trained_keys = text.replace('initializer="random_uniform",\n                                    trainable=False, name="keys"',
                                'initializer="random_uniform", name="keys"')
    assert trained_keys != text and _reported(trained_keys, "TGF302")
    dense = text.replace("tf.keras.layers.Reshape((key_dims,))", "tf.keras.layers.Dense(key_dims)")
    assert _reported(dense, "TGF302")


def test_code_under_a_flag_the_class_hard_codes_off_never_runs():
    """ok_weight_under_a_flag_hard_coded_off and ok_variable_under_a_flag_hard_coded_off are silent because
    the flag is only ever set to False; take it from the constructor (a user can turn it on) and the
    weight is reported."""
    for code, name, flag in (("TGF207", "ok_weight_under_a_flag_hard_coded_off.py", "use_bias"),
                             ("TGF203", "ok_variable_under_a_flag_hard_coded_off.py", "learn_scale")):
        text = _silent_fixture(code, name)
        option = text.replace("def __init__(self, channels, **kwargs):", f"def __init__(self, channels, {flag}=False, **kwargs):")
        option = option.replace("def __init__(self, units, **kwargs):", f"def __init__(self, units, {flag}=False, **kwargs):")
        option = option.replace(f"self.{flag} = False", f"self.{flag} = {flag}")
        assert option != text and _reported(option, code), code


def test_a_flag_a_subclass_turns_on_is_not_switched_off():
    """A base that hard-codes `self.use_bias = False` and makes its bias in `build` under `if self.use_bias:`
    is silent alone; a subclass in the module that sets it True runs that code on its instances, so the
    unread bias is reported (for the base's code and for the subclass's own)."""
    base = (
        "import tensorflow as tf\n\n\n"
        "class Projection(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.units = units\n"
        "        self.use_bias = False\n\n"
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name=\"kernel\")\n"
        "        if self.use_bias:\n"
        "            self.bias = self.add_weight(shape=(self.units,), name=\"bias\")\n\n"
        "    def call(self, x):\n"
        "        return tf.matmul(x, self.kernel)\n"
    )
    assert not _reported(base, "TGF207")
    subclass = base + (
        "\n\nclass BiasedProjection(Projection):\n"
        "    def __init__(self, units, **kwargs):\n"
        "        super().__init__(units, **kwargs)\n"
        "        self.use_bias = True\n"
    )
    assert _reported(subclass, "TGF207")


def _reported_by_only(rule: str, text: str) -> bool:
    return {code.split(":")[-1] for code in _codes(text)} == {rule}


def test_a_variable_replaced_by_the_next_statement_is_not_what_the_attribute_holds():
    """In flag_memory_tiled_in_constructor the next statement rebinds the attribute to a tensor computed
    once from the variable: TGF205 reports that, not TGF203. Keep the variable and tile it in `call`,
    and the untracked variable is reported (TGF203)."""
    text = (FIXTURES / "TGF205" / "flag_memory_tiled_in_constructor.py").read_text(encoding="utf-8")
    assert _reported_by_only("TGF205", text)
    kept = text.replace("        self.value_memory = tf.tile(tf.expand_dims(self.value_memory, 0), [batch_size, 1, 1])\n", "")
    assert kept != text and _reported_by_only("TGF203", kept)


def test_a_variable_read_only_where_it_is_made_is_not_a_tracking_loss():
    """In flag_table_concatenated_in_constructor `__init__` alone reads the table (into a one-off
    concatenation, which TGF205 reports); read it in `call` as well and the untracked variable is reported."""
    text = (FIXTURES / "TGF205" / "flag_table_concatenated_in_constructor.py").read_text(encoding="utf-8")
    assert _reported_by_only("TGF205", text)
    read = text.replace("return tf.nn.embedding_lookup(self.lookup, ids)",
                        "return tf.nn.embedding_lookup(self.lookup, ids) + tf.reduce_mean(self.relation_table)")
    assert read != text and _reported(read, "TGF203")


def test_a_module_that_needs_keras_2_on_every_path_is_judged_as_keras_2():
    """ok_keras2_only_api is silent because its `tf.compat.v1.keras` layer exists only with Keras 2, where a
    Dropout holds no variable; where that layer is one option of an `if` (the other branch runs on
    Keras 3), the Dropout's seed state is reported."""
    text = _silent_fixture("TGF405", "ok_keras2_only_api.py")
    optional = text.replace("    def __init__(self, features, units, classes):\n",
                            "    def __init__(self, features, units, classes, cell=\"GRU\"):\n")
    optional = optional.replace(
        "        hidden = tf.keras.layers.Bidirectional(\n"
        "            tf.compat.v1.keras.layers.CuDNNLSTM(units, return_sequences=True))(inputs)\n",
        "        if cell == \"LSTM\":\n"
        "            layer = tf.compat.v1.keras.layers.CuDNNLSTM\n"
        "        else:\n"
        "            layer = tf.keras.layers.GRU\n"
        "        hidden = tf.keras.layers.Bidirectional(layer(units, return_sequences=True))(inputs)\n")
    assert optional != text and _reported(optional, "TGF405")


def test_a_random_draw_that_scales_a_weight_is_noise():
    """ok_noise_scaled_by_a_weight is silent because `call` multiplies the draw by the learned `w_sigma`;
    use the draw as the kernel itself and it is reported as a weight that never trains."""
    text = _silent_fixture("TGF210", "ok_noise_scaled_by_a_weight.py")
    kernel = text.replace("kernel = self.w_mu + self.w_sigma * self.w_epsilon", "kernel = self.w_epsilon")
    assert kernel != text and _reported(kernel, "TGF210")


def test_a_variable_nothing_reads_is_not_a_tracking_loss():
    """ok_variable_nothing_reads is silent because nothing reads `self.w`; use it in `call` and the
    untracked variable is reported."""
    text = _silent_fixture("TGF203", "ok_variable_nothing_reads.py")
    used = text.replace("+ tf.matmul(inputs, self.b)", "+ tf.matmul(inputs, self.b + self.w)")
    assert used != text and _reported(used, "TGF203")


def test_a_tensor_type_test_is_read_through_the_imports():
    """`isinstance(x, tf.Tensor)` and `tf.is_tensor(x)` say `x` is a TF tensor; `isinstance(x, torch.Tensor)`
    only shares the attribute's name, and a helper's branch under it is not taken for TF tensors."""
    module = cst.parse_module("import tensorflow as tf\nimport torch\n")
    imports = ImportMap(module)
    subjects = [tensor_test_subject(cst.parse_expression(test), imports)
                for test in ("isinstance(x, tf.Tensor)", "tf.is_tensor(x)", "isinstance(x, torch.Tensor)",
                             "isinstance(x, (tf.Tensor, list))")]
    assert subjects == ["x", "x", None, None]


def test_a_train_step_is_differentiated_only_in_its_own_tapes():
    text = _silent_fixture("TGF101", "ok_step_that_drives_other_steps.py")
    taped = text.replace(
        "        score = self.generator((users, np.arange(self.n_items)))\n"
        "        weights = np.exp(score / self.temperature)\n",
        "        with tf.GradientTape() as tape:\n"
        "            score = self.generator((users, np.arange(self.n_items)))\n"
        "            weights = np.exp(score / self.temperature)\n"
        "            loss = -tf.reduce_mean(tf.math.log(weights))\n"
        "        tape.gradient(loss, self.generator.trainable_variables)\n")
    assert taped != text
    assert _reported(taped, "TGF101")


def test_a_perturbation_computed_by_differentiating_is_no_weight():
    text = _silent_fixture("TGF201", "ok_adversarial_perturbation.py")
    drawn = text.replace("        grad = tf.stop_gradient(tape.gradient(loss, self.delta))\n", "")
    drawn = drawn.replace("tf.Variable(tf.nn.l2_normalize(grad, 1) * self.eps)",
                          "tf.Variable(tf.random.normal((4, 6)) * self.eps)")
    assert drawn != text and "tape.gradient(loss, self.delta)" not in drawn
    assert _reported(drawn, "TGF201")


def test_a_method_that_gives_back_what_it_was_given_computes_nothing_after_the_tape():
    text = _silent_fixture("TGF401", "ok_total_popped_by_a_method.py")
    scaled = text.replace('total = losses.pop("loss")', 'total = losses.pop("loss") * 2.0')
    assert scaled != text
    assert _reported(scaled, "TGF401")


def test_what_a_host_array_library_returns_is_numpy():
    text = _silent_fixture("TGF101", "ok_median_of_host_distances.py")
    on_tensors = text.replace("np.median(pairwise_distances(particles))",
                              "np.median(tf.norm(particles[:, None] - particles[None], axis=-1))")
    assert on_tensors != text
    assert _reported(on_tensors, "TGF101")


def test_an_inherited_method_of_another_module_returns_no_known_tensor():
    text = _silent_fixture("TGF403", "ok_variables_from_an_inherited_method.py")
    features = text.replace("        variables = self.trainable_variables()\n        grads = tape.gradient(loss, variables)",
                            "        variables = self.net(upsampled)\n        grads = tape.gradient(loss, variables)")
    assert features != text
    assert _reported(features, "TGF403")


def test_a_method_of_the_differentiated_model_may_run_its_weights():
    text = _silent_fixture("TGF301", "ok_advantage_stopped_beside_a_policy_method.py")
    stopped = text.replace("loss = -tf.reduce_mean(weights * log_probs)",
                           "loss = -tf.reduce_mean(tf.stop_gradient(weights * self.actor(observations)))")
    assert stopped != text
    assert _reported(stopped, "TGF301")


def test_a_layer_made_untrainable_by_a_default_holds_state():
    text = _silent_fixture("TGF203", "ok_filter_bank_trainable_if_asked.py")
    asked = text.replace("trainable=False):", "trainable=True):")
    assert asked != text
    assert _reported(asked, "TGF203")


def test_a_keras_backend_cast_to_8_bit_ends_an_inference_layer():
    text = _silent_fixture("TGF302", "ok_uint8_embedding_postprocessor.py")
    floats = text.replace('return K.cast(x, "uint8")', 'return K.cast(K.cast(x, "uint8"), "float32")')
    assert floats != text
    assert _reported(floats, "TGF302")


@pytest.mark.parametrize("comment, reported", [
    ("  # a copy, to stop recording the border", False),
    ("  # detached on purpose: the border is a constant", False),
    ("  # why is there no gradient here? stop recording?", True),  # a question says nothing is meant
    ("  # a copy of the border", True),
    ("", True),
])
def test_a_comment_that_says_the_cut_is_meant_is_the_authors_word(comment, reported):
    text = _silent_fixture("TGF102", "ok_cut_the_comment_says_is_meant.py")
    edited = text.replace("  # a copy, to stop recording the border", comment)
    assert _reported(edited, "TGF102") is reported


def test_a_parameter_rebound_by_a_computation_is_not_given_back():
    """`split_losses` gives back `losses` in its `else`: once the method scales it first, what it
    returns is computed after the tape."""
    text = _silent_fixture("TGF401", "ok_total_popped_by_a_method.py")
    scaled = text.replace("        else:\n            total = losses\n",
                          "        else:\n            losses = losses * 2.0\n            total = losses\n")
    assert scaled != text
    assert _reported(scaled, "TGF401")


def test_the_branch_a_flag_hard_coded_on_never_takes_never_runs():
    """ok_layer_in_a_branch_a_hard_coded_flag_never_takes is silent because `self.use_norm` is only ever
    set to True, in `__init__`; take it from the constructor, test `not self.use_norm`, or turn it off
    in a subclass, and the `Dropout` made per call is reported."""
    text = _silent_fixture("TGF209", "ok_layer_in_a_branch_a_hard_coded_flag_never_takes.py")
    option = text.replace("def __init__(self, width=64, **kwargs):", "def __init__(self, width=64, use_norm=True, **kwargs):")
    option = option.replace("self.use_norm = True", "self.use_norm = use_norm")
    assert option != text and _reported(option, "TGF209")
    negated = text.replace("if self.use_norm:", "if not self.use_norm:")
    assert negated != text and _reported(negated, "TGF209")
    subclass = text + ("\n\nclass PlainEncoder(Encoder):\n    def __init__(self, **kwargs):\n"
                       "        super().__init__(**kwargs)\n        self.use_norm = False\n")
    assert _reported(subclass, "TGF209")


def test_layers_made_in_call_of_tf2_or_eager_code_are_reported():
    """ok_layers_made_in_call_of_graph_mode_code is silent because the module is TF 1.x graph-mode code
    (`tf.train.AdamOptimizer`); with TF 2's optimizer, or with TF 1.x's eager execution switched on,
    `call` runs per step and each layer it makes is reported."""
    text = _silent_fixture("TGF209", "ok_layers_made_in_call_of_graph_mode_code.py")
    tf2 = text.replace("tf.train.AdamOptimizer(1e-3).minimize(loss, global_step=tf.train.get_global_step())",
                       "tf.keras.optimizers.Adam(1e-3)")
    assert tf2 != text and _reported(tf2, "TGF209")
    eager = text.replace("import tensorflow as tf\n", "import tensorflow as tf\n\ntf.enable_eager_execution()\n", 1)
    assert eager != text and _reported(eager, "TGF209")


@pytest.mark.parametrize("header, reported", [
    ("        # Binarizes the attention for the duration targets.\n", True),
    ('        """Binarizes the attention for the duration targets, which no longer get a gradient."""\n', False),
    ("        # Bug: the duration targets no longer receive a gradient.\n", True),
    ("        # Binarizes the attention for the duration targets.\n"
     "        # Why do these no longer receive a gradient?\n", True),
])
def test_a_cut_the_function_says_is_meant_is_silent(header, reported):
    """ok_hard_alignment_the_function_says_has_no_gradient is silent because the comments above the
    method's first line say its result receives no gradient; a docstring saying so is the same word,
    and without it, or as a question, the `.numpy()` is reported."""
    text = _silent_fixture("TGF102", "ok_hard_alignment_the_function_says_has_no_gradient.py")
    said = ("        # Binarizes the attention for the duration targets.\n"
            "        # These will no longer receive a gradient.\n")
    assert said in text
    assert _reported(text.replace(said, header), "TGF102") is reported


def test_numpy_function_on_scores_not_stopped_is_reported():
    """ok_alignment_search_on_stopped_scores is silent because the scores are stopped before
    `tf.numpy_function`; without the `tf.stop_gradient`, the gradient through them is lost."""
    text = _silent_fixture("TGF105", "ok_alignment_search_on_stopped_scores.py")
    live = text.replace("logp = tf.stop_gradient(-tf.square(means[:, :, None, :] - mel[:, None, :, :]))",
                        "logp = -tf.square(means[:, :, None, :] - mel[:, None, :, :])")
    assert live != text and _reported(live, "TGF105")


def test_py_func_without_a_registered_gradient_is_reported():
    """ok_py_func_with_a_registered_gradient is silent because the op's gradient is registered and
    mapped onto it, and the lambda's NumPy runs inside `tf.py_func`; without the override the op has no
    gradient, and a wrapper that calls the function itself runs the NumPy on the tensor."""
    text = _silent_fixture("TGF105", "ok_py_func_with_a_registered_gradient.py")
    plain = text.replace('    with tf.get_default_graph().gradient_override_map({"PyFunc": name}):\n'
                         '        return tf.py_func(func, inp, Tout)\n', "    return tf.py_func(func, inp, Tout)\n")
    assert plain != text and _reported(plain, "TGF105")
    direct = text.replace("        return tf.py_func(func, inp, Tout)\n", "        return func(*inp)\n")
    assert direct != text and _reported(direct, "TGF101")


def test_a_draw_that_carries_a_gradient_copied_to_the_host_is_reported():
    """ok_sampled_action_copied_to_the_host is silent because a Categorical's sample is whole numbers;
    a Normal's sample is reparameterised and carries the gradient, and the log-probability does too."""
    text = _silent_fixture("TGF102", "ok_sampled_action_copied_to_the_host.py")
    normal = text.replace("dist = tfp.distributions.Categorical(probs=self.probs(self.hidden(state)))",
                          "dist = tfp.distributions.Normal(self.probs(self.hidden(state)), 1.0)")
    assert normal != text and _reported(normal, "TGF102")
    log_pi = text.replace("return action.numpy(), log_pi", "return action, log_pi.numpy()")
    assert log_pi != text and _reported(log_pi, "TGF102")


def test_a_recurrent_layer_of_keras_3_puts_a_seed_state_in_variables():
    """ok_stateful_recurrent_layer_keras2 is silent because Keras 2 keeps neither a stateful LSTM's
    states nor a seed generator in `variables`; the same model on Keras 3's `tf.keras` has a seed
    generator in every recurrent layer, stateful or not (measured on Keras 3.15)."""
    text = _silent_fixture("TGF405", "ok_stateful_recurrent_layer_keras2.py")
    keras3 = text.replace("import tf_keras as keras\n", "from tensorflow import keras\n")
    assert keras3 != text and _reported(keras3, "TGF405")
    assert _reported(keras3.replace("LSTM(8, stateful=True)", "LSTM(8)"), "TGF405")


def test_a_variable_an_option_makes_trainable_is_reported_where_it_is_on():
    """ok_variable_trainable_by_an_option_off_by_default is silent because `alpha["trainable"]`
    defaults to False and no construction passes `alpha`; a default that says True, or a
    construction that passes its own `alpha`, makes the variable a weight Keras 3 does not track."""
    text = _silent_fixture("TGF203", "ok_variable_trainable_by_an_option_off_by_default.py")
    on = text.replace('"trainable": False', '"trainable": True')
    assert on != text and _reported(on, "TGF203")
    passed = text.replace("HardConstraint(init_value=2.0)",
                          'HardConstraint(init_value=2.0, alpha={"value": 0.5, "trainable": True, "low": 0.0, "high": 1.0})')
    assert passed != text and _reported(passed, "TGF203")
