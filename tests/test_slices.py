"""Slices: the engine checks only the part of a module a gradient path can depend on,
and says exactly what it says when it checks all of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import FIXTURES
from tfgradfix.analysis import slices
from tfgradfix.analysis.project import ProjectIndex
from tfgradfix.analysis.slices import ModuleSlices, outline
from tfgradfix.engine import Engine
from tfgradfix.files import discover
from tfgradfix.parallel import process_files
from tfgradfix.rules import ALL_RULES

# A test module in the shape of a large library's: one test opens a tape, the others
# exercise ops with NumPy; one module helper serves the tape test, another the rest.
TEST_MODULE = '''\
import numpy as np
import tensorflow as tf


def make_inputs(n):
    return tf.ones((n, 3))


def reference_sum(x):
    return np.sum(x)


class OpsTest(tf.test.TestCase):
    def setUp(self):
        self.scale = 2.0

    def test_gradient(self):
        x = make_inputs(2)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(x * self.scale)
        self.assertIsNotNone(tape.gradient(y, x))

    def test_sum(self):
        self.assertEqual(reference_sum(np.ones(3)), 3.0)

    def test_mean(self):
        self.assertEqual(np.mean(np.ones(3)), 1.0)
'''


@pytest.fixture(autouse=True)
def _slice_any_share(monkeypatch):
    """Slice however few lines would be blanked (by default a slice must blank a fifth, or half
    of a module analysed again)."""
    monkeypatch.setattr(slices, "_MIN_BLANKED", 0.0)
    monkeypatch.setattr(slices, "_MIN_BLANKED_AGAIN", 0.0)


def _slice(text: str, plain=lambda name: True, entries=()) -> str | None:
    return ModuleSlices(text, outline(ast.parse(text))).text(plain, entries)


def _kept_lines(sliced: str) -> set[str]:
    return {line for line in sliced.splitlines() if line.strip()}


def test_slice_keeps_the_tape_test_and_what_it_names_and_blanks_the_rest():
    sliced = _slice(TEST_MODULE)
    assert sliced is not None
    kept = _kept_lines(sliced)
    assert "    def test_gradient(self):" in kept
    assert "def make_inputs(n):" in kept
    assert "class OpsTest(tf.test.TestCase):" in kept
    assert "    def setUp(self):" in kept  # it sets `self.scale`, which the tape test reads
    for blanked in ("def reference_sum(x):", "    def test_sum(self):", "    def test_mean(self):"):
        assert blanked not in kept


def test_slice_keeps_every_line_where_it_was():
    sliced = _slice(TEST_MODULE.replace("\n", "\r\n"))
    assert sliced is not None
    original = TEST_MODULE.replace("\n", "\r\n").splitlines(keepends=True)
    cut = sliced.splitlines(keepends=True)
    assert len(cut) == len(original)
    for before, after in zip(original, cut):
        assert after in (before, "\r\n")
    ast.parse(sliced)


def test_a_class_that_is_not_plain_is_kept_whole():
    assert _slice(TEST_MODULE, plain=lambda name: False) == TEST_MODULE  # and what its methods call


def test_a_function_that_calls_kept_code_is_kept():
    text = TEST_MODULE + '''

def main():
    x = make_inputs(4)
    print(x)


def unrelated():
    return np.zeros(3)
'''
    kept = _kept_lines(_slice(text) or "")
    assert "def main():" in kept  # it says what `make_inputs` is called with
    assert "def unrelated():" not in kept


def test_a_kept_method_keeps_the_code_that_constructs_its_class():
    agent = """import numpy as np
import tensorflow as tf


class Agent:
    def __init__(self, dtype):
        self.dtype = dtype
        self.w = tf.Variable(tf.ones(3))

    def learn(self, x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(x, self.dtype) * self.w)
        return tape.gradient(loss, [self.w])

    def act(self, p):
        return np.random.choice(3, p=p)


def main():
    agent = Agent(tf.float32)
    agent.learn(tf.ones(3))


def plot(history):
    return np.mean(history)
"""
    kept = _kept_lines(_slice(agent) or "")
    assert {"def main():", "    def learn(self, x):", "    def __init__(self, dtype):"} <= kept
    assert "def plot(history):" not in kept


def test_entries_keep_the_functions_other_modules_call():
    ops = "import numpy as np\n\n\n" + "\n\n".join(
        f"def op{i}(x):\n    return np.abs(x) + {i}\n" for i in range(10))
    sliced = _slice(ops, entries={"op3"})
    assert sliced is not None
    kept = _kept_lines(sliced)
    assert "def op3(x):" in kept and "def op4(x):" not in kept
    assert _slice(ops) is not None and "def op3(x):" not in _kept_lines(_slice(ops) or "")


def _results(paths: list[str], fix: bool) -> dict:
    files, _ = discover(paths)
    engine = Engine(ALL_RULES, fix=fix, unsafe_fixes=fix, project=ProjectIndex.build(files, engine_triggers()))
    return {r.path: ([(f.code, f.line, f.column, f.message) for f in r.original_findings or r.findings],
                     sorted(map(repr, r.calls_out)), r.error, r.new_text)
            for r in process_files(engine, files, 1)}


def engine_triggers() -> tuple[str, ...]:
    return tuple({t for rule in ALL_RULES for t in rule.triggers})


@pytest.mark.slow  # the engine over every fixture and project, four times
@pytest.mark.parametrize("fix", [False, True], ids=["check", "fix"])
def test_every_fixture_reads_the_same_sliced_or_whole(monkeypatch, fix):
    """Every module that can be sliced is (see `_slice_any_share`), and each gets the
    same findings, the same calls into other modules and, fixed, the same text."""
    trees = [str(FIXTURES)] + [str(p) for p in sorted((FIXTURES / "projects").iterdir()) if p.is_dir()]
    sliced = {tree: _results([tree], fix) for tree in trees}
    monkeypatch.setattr(Engine, "_slice", lambda self, source, module_name: None)
    for tree in trees:
        assert sliced[tree] == _results([tree], fix), tree


def test_a_finding_in_a_sliced_module_is_placed_and_fixed_in_the_whole_file(tmp_path):
    buggy = TEST_MODULE.replace("""        x = make_inputs(2)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(x * self.scale)
        self.assertIsNotNone(tape.gradient(y, x))""", """        w = tf.Variable(make_inputs(2))
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(np.square(w))
        self.assertIsNotNone(tape.gradient(y, w))""")
    path = tmp_path / "ops_test.py"
    path.write_text(buggy)
    engine = Engine(ALL_RULES, fix=True, project=ProjectIndex.build([str(path)], engine_triggers()))
    assert engine._slice(engine.process_path(str(path)).source, "ops_test") is not None
    result = engine.process_path(str(path))
    line = next(i for i, text in enumerate(buggy.splitlines(), 1) if "np.square" in text)
    assert [(f.code, f.line) for f in result.original_findings] == [("TGF101", line)]
    assert result.new_text == buggy.replace("np.square(w)", "tf.square(w)")


def test_a_sliced_module_without_findings_is_written_as_it_was(tmp_path):
    path = Path(tmp_path, "ops_test.py")
    path.write_text(TEST_MODULE)
    engine = Engine(ALL_RULES, fix=True, project=ProjectIndex.build([str(path)], engine_triggers()))
    result = engine.process_path(str(path))
    assert result.parsed and not result.findings
    assert result.new_text == TEST_MODULE
