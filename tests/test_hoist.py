"""Moving a helper's variable into `build`: call-site arguments, and statements that
keep their comments."""

from __future__ import annotations

import libcst as cst

from tfgradfix.analysis.imports import ImportMap
from tfgradfix.fixes.hoist import call_site, hoist_weight
from tfgradfix.fixes.statements import moved, without

_MODULE = cst.parse_module(
    "import tensorflow as tf\n"
    "\n"
    "def mix(x, out_dim, scale=0.5):\n"
    "    # the helper's own matrix\n"
    "    m = tf.Variable(tf.ones((x.shape[-1], out_dim)) * scale)\n"
    "    return tf.matmul(x, m)\n"
)
_IMPORTS = ImportMap(_MODULE)
_HELPER = _MODULE.body[1]
_STATEMENT = _HELPER.body.body[0]
_CTOR = _STATEMENT.body[0].value


def _code(node) -> str:
    return cst.Module([]).code_for_node(node)


def _hoist(call: str):
    site = call_site(_HELPER, cst.parse_expression(call))
    return hoist_weight(_CTOR, _STATEMENT, "m", _IMPORTS, inputs={"inputs"}, input_shape="input_shape", site=site)


def test_call_site_arguments_take_the_parameters_places():
    hoisted = _hoist("mix(inputs, self.units * 2)")
    assert hoisted.reason is None
    assert "".join(_code(s) for s in hoisted.statements) == (
        "# the helper's own matrix\n"
        'self.m = self.add_weight(name="m", shape=(input_shape[-1], self.units * 2), '
        "initializer=tf.keras.initializers.Constant(value=0.5))\n")


def test_a_keyword_argument_overrides_the_default():
    hoisted = _hoist("mix(x=inputs, out_dim=3, scale=2.0)")
    assert "shape=(input_shape[-1], 3), initializer=tf.keras.initializers.Constant(value=2.0)" in _code(
        hoisted.statements[0])


def test_values_only_call_has_are_named_in_the_reason():
    assert _hoist("mix(hidden, 4)").reason == "its shape or initial value needs `hidden`, which `build` does not have"
    assert _hoist("mix(inputs, n)").statements is None
    assert _hoist("mix(*parts)").reason == "`mix` is called with `*parts`: its arguments are not known"
    assert "**kwargs" in _hoist("mix(inputs, 2, bias=True)").reason


def test_arithmetic_arguments_are_parenthesised_where_they_need_it():
    module = cst.parse_module("import tensorflow as tf\n\ndef f(x, k):\n    w = tf.Variable(tf.zeros((k * 2,)))\n")
    helper = module.body[1]
    statement = helper.body.body[0]
    site = call_site(helper, cst.parse_expression("f(inputs, self.a + 1)"))
    hoisted = hoist_weight(statement.body[0].value, statement, "w", ImportMap(module), inputs={"inputs"},
                           input_shape="input_shape", site=site)
    assert "shape=((self.a + 1) * 2,)" in _code(hoisted.statements[0])


def test_moved_statements_take_their_comments_and_leave_their_blank_lines():
    body = cst.parse_module("a = 1\n\n# about b\nb = 2  # b's own\nc = 3\n").body
    assert _code(moved(body[1])) == "# about b\nb = 2  # b's own\n"
    rest = without(body, {1})
    assert cst.Module(rest).code == "a = 1\n\nc = 3\n"
