"""What a tape differentiates (analysis/sources.py), and what the rules make of it: a model
whose variables are not among a tape's sources is a constant to it."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from tfgradfix.analysis.dataflow import DEFAULT_BLOCKING
from tfgradfix.analysis.scopes import ModuleAnalysis
from tfgradfix.analysis.sources import gradient_objects, restricted
from tfgradfix.analysis.tapes import find_tape_blocks
from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import RULES_BY_CODE

from conftest import FIXTURES


def _tape_scope(source: str):
    text = textwrap.dedent(source)
    analysis = ModuleAnalysis(cst.parse_module(text), text)
    scope = next(s for s in analysis.scopes.values() if s.tape_blocks)
    return scope, find_tape_blocks(scope, analysis.imports)


def _objects(sources: str, before: str = "") -> object:
    scope, blocks = _tape_scope(f"""
        import tensorflow as tf
        def step(self, model, x):
            {before}
            with tf.GradientTape() as tape:
                loss = model(x)
            return tape.gradient(loss, {sources})
    """)
    found = gradient_objects(scope, blocks[0].gradients[0].sources)
    return None if found is None else sorted(found)


@pytest.mark.parametrize("sources, before, expected", [
    ("self.model.trainable_variables", "", ["self.model"]),
    ("model.trainable_weights", "", ["model"]),
    ("self.actor.trainable_variables + self.critic.trainable_variables", "", ["self.actor", "self.critic"]),
    ("[*self.a.variables, *self.b.weights]", "", ["self.a", "self.b"]),
    ("params", "params = self.model.trainable_variables", ["self.model"]),
    # Unknown: nothing is restricted.
    ("tape.watched_variables()", "", None),
    ("variables", "", None),
    ("[w, b]", "", None),
    ("model.get_variables()", "", None),
])
def test_sources_as_objects(sources, before, expected):
    assert _objects(sources, before) == expected


def _others(source: str):
    scope, blocks = _tape_scope(source)
    blocking = restricted(scope, blocks, DEFAULT_BLOCKING, blocks[0].node)
    return None if blocking is None else sorted(blocking.excluded)


AGENT = """
    import tensorflow as tf
    class Agent:
        def __init__(self, online, make):
            self.model = online
            self.target_model = {target}
        def learn(self, s, s2):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(self.model(s) - self.target_model(s2))
            return tape.gradient(loss, self.model.trainable_variables)
"""


def test_a_target_network_made_apart_is_another_model():
    assert _others(AGENT.format(target="make()")) == ["self.target_model"]
    assert _others(AGENT.format(target="tf.keras.models.clone_model(online)")) == ["self.target_model"]


def test_an_alias_of_the_source_is_not_another_model():
    assert _others(AGENT.format(target="self.model")) is None
    assert _others(AGENT.format(target="online")) is None


def _findings(path: Path, code: str):
    result = Engine([RULES_BY_CODE[code]], fix=False).process(read_source(str(path)))
    assert result.error is None
    return [f for f in result.findings if f.code == code]


def _variant(tmp_path, fixture: str, old: str, new: str) -> Path:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "variant.py"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_target_network_numpy_is_reported_when_the_tape_differentiates_it(tmp_path):
    """ok_target_network is silent because of its sources: asking for every watched variable
    (unknown objects) or for the target's variables too, the same NumPy is reported."""
    for sources in ("tape.watched_variables()", "model_params + self.target_model.trainable_variables"):
        path = _variant(tmp_path, "TGF101/ok_target_network.py", "grads = tape.gradient(loss, model_params)",
                        f"grads = tape.gradient(loss, {sources})")
        assert [f.line for f in _findings(path, "TGF101")] == [35]


def test_the_actor_stop_gradient_is_silent_when_the_critic_is_a_source(tmp_path):
    path = _variant(tmp_path, "TGF301/stop_actor_output.py", "tape.gradient(loss, actor.trainable_variables)",
                    "tape.gradient(loss, actor.trainable_variables + critic.trainable_variables)")
    assert _findings(path, "TGF301") == []


def test_an_auxiliary_head_left_untouched_elsewhere_is_named(tmp_path):
    findings = _findings(FIXTURES / "TGF301" / "second_head.py", "TGF301")
    assert len(findings) == 1 and "`self.aux_output`" in findings[0].message
    # Without the code that copies the target encoder, BYOL's stopped target is reported too.
    path = _variant(tmp_path, "TGF301/ok_stopped_outputs.py",
                    "    for online, target in zip(model.online.weights, model.target.weights):\n"
                    "        target.assign(tau * target + (1 - tau) * online)\n", "    pass\n")
    assert ["`self.target`" in f.message for f in _findings(path, "TGF301")] == [True]


def test_a_bootstrap_value_that_is_the_prediction_itself_stays_reported(tmp_path):
    """ok_bootstrap_target is silent because the value only goes into a NumPy array of
    returns; the same `.numpy()` returned directly as the loss's input is reported."""
    path = _variant(tmp_path, "TGF102/ok_bootstrap_target.py", "            discounted[t] = running_add\n",
                    "            discounted = running_add\n")
    assert [f.line for f in _findings(path, "TGF102")] == [21]


def test_a_model_method_of_another_module_called_from_a_tape_is_on_the_path(tmp_path):
    """SAC's `self.actor.sample_normal(states)`, the actor class in networks.py: NumPy on the
    model's own output there is reported in networks.py."""
    import subprocess
    import sys

    (tmp_path / "networks.py").write_text(textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf


        class ActorNetwork(tf.keras.Model):
            def __init__(self):
                super().__init__()
                self.mu = tf.keras.layers.Dense(2)

            def call(self, state):
                return self.mu(state)

            def sample_normal(self, state, reparameterize=True):
                mu = self.call(state)
                return np.sum(mu, axis=1, keepdims=True)
    """), encoding="utf-8")
    (tmp_path / "sac.py").write_text(textwrap.dedent("""\
        import tensorflow as tf
        from networks import ActorNetwork


        class Agent:
            def __init__(self):
                self.actor = ActorNetwork()

            def learn(self, states):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(self.actor.sample_normal(states, reparameterize=True))
                return tape.gradient(loss, self.actor.trainable_variables)
    """), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tfgradfix", "check", "-q", "--no-progress", "."], cwd=tmp_path,
                         capture_output=True, text=True)
    assert [line.split(" ")[0:2] for line in run.stdout.splitlines()] == [["networks.py:15:16:", "TGF101"]]


def test_a_loss_closure_of_main_is_followed_into_the_nested_training_step():
    """`main()` makes the loss with a factory; the `train_step` nested in it calls it in its tape."""
    text = textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf


        def make_loss():
            def loss(y_true, y_pred):
                return tf.reduce_mean(np.abs(y_pred - y_true))
            return loss


        def main():
            model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
            loss_fn = make_loss()

            def train_step(x, y):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                return tape.gradient(loss, model.trainable_variables)
            return train_step
    """)
    result = Engine([RULES_BY_CODE["TGF101"]], fix=False).process(
        read_source("-", stdin=io.BytesIO(text.encode()), name="train.py"))
    assert [(f.line, f.code) for f in result.findings] == [(7, "TGF101")]


MODULE_VARIABLES = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf

    X = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
    Y = 3.0 * X + 2.0
    W = tf.Variable(1.0)
    b = tf.Variable(0)


    def run_optimization():
        with tf.GradientTape() as g:
            loss = tf.reduce_mean(tf.square(W * X + tf.cast(b, tf.float32) - Y))
        return g.gradient(loss, [W, b])
""")


def _run(text: str, fix: bool):
    return Engine([RULES_BY_CODE["TGF404"]], fix=fix, unsafe_fixes=fix).process(
        read_source("-", stdin=io.BytesIO(text.encode()), name="regression.py"))


def test_a_module_variable_differentiated_in_a_function_is_an_integer_source():
    """A from-scratch regression script: the variables at the top, the tape in a function.
    The fixed script gives a gradient for both (TensorFlow: the original's `b` gets None)."""
    assert [(f.line, f.code) for f in _run(MODULE_VARIABLES, fix=False).findings] == [(13, "TGF404")]
    fixed = _run(MODULE_VARIABLES, fix=True).new_text
    assert fixed == MODULE_VARIABLES.replace("b = tf.Variable(0)", "b = tf.Variable(0.0)")
    # Rebound by a function through `global`: the module's binding is not what reaches the tape.
    rebound = MODULE_VARIABLES + "\n\ndef reset():\n    global b\n    b = tf.Variable(0.5)\n"
    assert _run(rebound, fix=False).findings == []


@pytest.mark.slow
def test_the_integer_module_variable_has_no_gradient_until_fixed():
    """The test above, run with TensorFlow: the original's `b` gets None, the fixed one a gradient."""
    pytest.importorskip("tensorflow")
    fixed = _run(MODULE_VARIABLES, fix=True).new_text
    for text, none_expected in ((MODULE_VARIABLES, True), (fixed, False)):
        namespace: dict = {}
        exec(compile(text, "regression.py", "exec"), namespace)
        grads = namespace["run_optimization"]()
        assert (grads[1] is None) is none_expected and grads[0] is not None


def test_a_helper_under_two_tapes_counts_the_tape_its_result_reaches(tmp_path):
    """ok_advantage_detached_for_the_actor_tape is silent because the detached advantage is the
    critic's; detaching the actor's own probabilities there is still reported, and so is the
    advantage when the actor loss is also differentiated for the critic."""
    text = (FIXTURES / "TGF102" / "ok_advantage_detached_for_the_actor_tape.py").read_text(encoding="utf-8")

    def codes(changed: str) -> list[str]:
        path = tmp_path / "agent.py"
        path.write_text(changed, encoding="utf-8")
        return [f"{f.line}:{f.code}" for f in Engine([RULES_BY_CODE["TGF102"]]).process(read_source(str(path))).findings]

    assert codes(text) == []
    assert codes(text.replace("td = td.numpy()", "probs = probs.numpy()")) == ["16:TGF102"]
    both = text.replace("critic_loss = 0.5 * tf.reduce_mean(td ** 2)",
                        "critic_loss = 0.5 * tf.reduce_mean(td ** 2) + actor_loss")
    assert codes(both) == ["16:TGF102"]
