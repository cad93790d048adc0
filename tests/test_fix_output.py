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
