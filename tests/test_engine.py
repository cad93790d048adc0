"""Engine and file handling guarantees: nothing is lost, nothing invalid is written."""

from __future__ import annotations

import libcst as cst
import pytest

from conftest import FIXTURES
from tfgradfix.engine import Engine
from tfgradfix.files import SourceError, read_source, write_source
from tfgradfix.fixes.edits import Fix
from tfgradfix.rules import ALL_RULES
from tfgradfix.rules.base import Rule

SEED = FIXTURES / "TGF101" / "seed_dense.py"


def test_file_changed_since_read_is_not_overwritten(tmp_path):
    path = tmp_path / "layer.py"
    path.write_text(SEED.read_text())
    source = read_source(str(path))
    path.write_text(SEED.read_text() + "\n# edited meanwhile\n")
    with pytest.raises(SourceError, match="changed"):
        write_source(source, "x = 1\n")
    assert path.read_text().endswith("# edited meanwhile\n")
    assert [p.name for p in tmp_path.iterdir()] == ["layer.py"], "temporary file left behind"


class _Crashes(Rule):
    code, name, message, summary, triggers = "TGF999", "crashes", "boom", "crashes", ("numpy",)

    def visit_Call(self, node: cst.Call) -> None:
        raise RuntimeError("rule bug")


def test_a_crashing_rule_is_one_error_and_the_file_is_kept():
    result = Engine([_Crashes], fix=True).process_path(str(SEED))
    assert result.error.startswith("internal error, file left unchanged: RuntimeError: rule bug")
    assert result.new_text is None


class _BreaksSyntax(Rule):
    """A fix that would write code that does not parse."""

    code, name, message, summary, triggers = "TGF998", "breaks", "bad fix", "breaks", ("numpy",)

    def visit_Return(self, node: cst.Return) -> None:
        if self.context.on_gradient_path:
            self.report(node, fix=Fix.replace(node, cst.Return(value=cst.Name("class")), "invalid"))


def test_a_fix_that_does_not_compile_is_never_applied():
    result = Engine([_BreaksSyntax], fix=True).process_path(str(SEED))
    assert "does not parse" in result.error
    assert result.new_text == SEED.read_text()


def test_files_without_framework_or_triggers_are_not_parsed(tmp_path):
    plain = tmp_path / "plain.py"
    plain.write_text("import numpy as np\nx = np.ones(3)\n")
    assert not Engine(ALL_RULES).process_path(str(plain)).parsed
    assert Engine(ALL_RULES).process_path(str(SEED)).parsed


def test_unreadable_path_is_one_clear_error(tmp_path):
    folder = tmp_path / "looks_like_a_file.py"
    folder.mkdir()
    assert Engine(ALL_RULES).process_path(str(folder)).error == "Is a directory"


def test_an_integer_literal_with_a_float_dtype_is_fixed_as_a_float_weight():
    """`tf.Variable(0, dtype=tf.float32)` trains once tracked: TGF203 fixes it (TGF206's int case does not apply)."""
    from tfgradfix.engine import Engine
    from tfgradfix.files import read_source
    from tfgradfix.rules import RULES_BY_CODE
    import os
    import tempfile
    text = ("import tensorflow as tf\n\n\nclass M(tf.keras.Model):\n    def __init__(self):\n"
            "        super().__init__()\n        self.b = tf.Variable(0, dtype=tf.float32)\n\n"
            "    def call(self, x):\n        return x + self.b\n")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        result = Engine([RULES_BY_CODE["TGF203"]], fix=True).process(read_source(path))
    assert 'self.b = self.add_weight(name="b", shape=(), initializer="zeros", dtype=tf.float32)' in result.new_text
