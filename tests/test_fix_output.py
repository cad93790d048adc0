"""What whole fixes write, run through the engine on small sources: the order and
placement a reviewer reads in the diff."""

from __future__ import annotations

import textwrap

from tfgradfix.engine import Engine
from tfgradfix.rules import ALL_RULES


def fixed(tmp_path, source: str, unsafe: bool = False) -> str:
    path = tmp_path / "case.py"
    path.write_text(textwrap.dedent(source))
    result = Engine(list(ALL_RULES), fix=True, unsafe_fixes=unsafe).process_path(str(path))
    assert result.error is None, result.error
    return result.new_text


def test_watches_come_in_the_sources_order(tmp_path):
    text = fixed(tmp_path, """\
        import tensorflow as tf


        def saliency(model):
            x = tf.constant([[1.0, 2.0]])
            y = tf.constant([[3.0]])
            z = tf.constant([[0.5]])
            with tf.GradientTape() as tape:
                out = model(x) * y + z
            return tape.gradient(out, [x, y, z])
    """)
    assert "        tape.watch(x)\n        tape.watch(y)\n        tape.watch(z)\n        out = model(x)" in text


def findings(tmp_path, source: str, code: str):
    path = tmp_path / "case.py"
    path.write_text(textwrap.dedent(source))
    return [f for f in Engine(list(ALL_RULES)).process_path(str(path)).findings if f.code == code]


def test_every_tgf203_finding_without_a_fix_says_why(tmp_path):
    reported = findings(tmp_path, """\
        import tensorflow as tf


        class Layer(tf.keras.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.calls = tf.Variable(0)
                self.gain = tf.Variable(2)
                self.clipped = tf.Variable(tf.ones((2,)), constraint=lambda w: w)
                self.parts = [tf.Variable(tf.convert_to_tensor(p)) for p in kwargs.pop("parts", [])]

            def call(self, inputs):
                self.calls.assign_add(1)
                return inputs * tf.cast(self.gain, inputs.dtype) + self.clipped + sum(self.parts)
    """, "TGF203")
    by_attr = {f.message.split("`")[1]: f for f in reported}
    assert "self.calls" not in by_attr  # a counter the forward pass steps is state, not a weight
    for attr, why in [("self.gain", "TGF206"), ("self.clipped", "`constraint=`"), ("self.parts", "not in the code")]:
        assert by_attr[attr].fix is None
        assert "(no fix: " in by_attr[attr].message and why in by_attr[attr].message, by_attr[attr].message


def test_an_integer_counter_is_state_and_left_alone(tmp_path):
    """Nothing trains a step counter, tracked or not: no finding, no rewrite (issue 18)."""
    code = """\
        import tensorflow as tf


        class Layer(tf.keras.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.steps = tf.Variable(0, dtype=tf.int64)

            def call(self, inputs):
                self.steps.assign_add(1)
                return inputs
    """
    assert findings(tmp_path, code, "TGF203") == []
    assert fixed(tmp_path, code) == textwrap.dedent(code)


def test_an_initializer_used_elsewhere_stays_and_one_used_only_by_the_variable_goes(tmp_path):
    text = fixed(tmp_path, """\
        import tensorflow as tf


        class Dense(tf.keras.layers.Layer):
            def call(self, inputs):
                w_init = tf.random_normal_initializer(stddev=0.1)
                b_init = tf.zeros_initializer()
                w = tf.Variable(w_init(shape=(inputs.shape[-1], 4)))
                tf.print(b_init)
                return tf.matmul(inputs, w)
    """)
    assert "w_init" not in text
    assert "b_init = tf.zeros_initializer()" in text


def test_a_parameter_only_the_shape_used_leaves_the_helper_and_its_calls(tmp_path):
    text = fixed(tmp_path, """\
        import tensorflow as tf


        def mix(x, out_dim, scale):
            m = tf.Variable(tf.random.normal((x.shape[-1], out_dim)))
            return tf.matmul(x, m) * scale


        class Mixer(tf.keras.layers.Layer):
            def call(self, inputs):
                return mix(inputs, 3, scale=0.5)
    """)
    assert "def mix(x, scale, *, m):" in text
    assert "mix(inputs, scale=0.5, m=self.m)" in text


def test_a_parameter_whose_argument_runs_code_stays_and_the_fix_says_so(tmp_path):
    source = """\
        import tensorflow as tf


        def mix(x, out_dim):
            m = tf.Variable(tf.random.normal((x.shape[-1], out_dim)))
            return tf.matmul(x, m)


        class Mixer(tf.keras.layers.Layer):
            def call(self, inputs):
                return mix(inputs, int(3))
    """
    text = fixed(tmp_path, source)
    assert "def mix(x, out_dim, *, m):" in text and "mix(inputs, int(3), m=self.m)" in text
    finding, = findings(tmp_path, source, "TGF201")
    assert "`out_dim` is now unused" in finding.fix.description


def test_an_operation_put_where_a_call_was_keeps_its_grouping(tmp_path):
    """`3.0 * np.array(h + 1.0)` is `3.0 * (h + 1.0)`, never `3.0 * h + 1.0` (seen in tf2rl's
    SAC temperature loss, where a removed stop_gradient changed the loss); where nothing binds
    tighter (an assignment, an argument) no parentheses are added."""
    text = fixed(tmp_path, """\
        import numpy as np
        import tensorflow as tf


        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], 2))

            def call(self, inputs):
                h = tf.matmul(inputs, self.w)
                y = 3.0 * np.array(h + 1.0)
                z = np.array(h - 1.0)
                return 2.0 * tf.stop_gradient(y + z)
    """, unsafe=True)
    assert "y = 3.0 * (h + 1.0)\n" in text
    assert "z = h - 1.0\n" in text
    assert "return 2.0 * (y + z)\n" in text
