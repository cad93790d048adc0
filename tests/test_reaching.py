"""`reaching_value`: the binding of a name that certainly reaches a tape block (TGF402, TGF403)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from tfgradfix.analysis.tree import Parents
from tfgradfix.analysis.tapes import reaching_value
from tfgradfix.analysis.tree import descendants


def _reaching(source: str, name: str = "x"):
    module = cst.parse_module(textwrap.dedent(source))
    block = next(n for n in descendants(module) if isinstance(n, cst.With))
    value = reaching_value(block, name, Parents(module))
    return None if value is None else module.code_for_node(value)


def test_a_parameter_rebound_before_the_block():
    assert _reaching("""
        def f(x):
            x = tf.convert_to_tensor(x)
            with tape:
                y = x
    """) == "tf.convert_to_tensor(x)"


def test_the_last_binding_wins():
    assert _reaching("""
        x = tf.constant(1.0)
        x = tf.Variable(x)
        with tape:
            y = x
    """) == "tf.Variable(x)"


def test_through_enclosing_statements():
    assert _reaching("""
        def f(x, c):
            x = tf.cast(x, tf.float32)
            if c:
                for _ in range(3):
                    with tape:
                        y = x
    """) == "tf.cast(x, tf.float32)"


@pytest.mark.parametrize("source", [
    """
    def f(x):
        with tape:
            y = x
    """,
    """
    def f(x, c):
        if c:
            x = tf.convert_to_tensor(x)
        with tape:
            y = x
    """,
    """
    def f(x, n):
        x = tf.convert_to_tensor(x)
        for _ in range(n):
            with tape:
                y = x
            x = tf.Variable(x)
    """,
    """
    def f(x, xs):
        x = tf.convert_to_tensor(x)
        for x in xs:
            with tape:
                y = x
    """,
    """
    def f(x):
        x, y = tf.unstack(x)
        with tape:
            z = x
    """,
])
def test_no_certain_binding(source):
    assert _reaching(source) is None
