"""Nothing crashes, nothing invalid is written, a second --fix changes nothing:
over real TensorFlow/Keras source and over generated programs.

CI runs a sample of the installed `keras` and `tensorflow` packages; the whole of
them: `TFGRADFIX_ROBUSTNESS=full python -m pytest -m slow tests/test_robustness.py`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, assume, given, settings

from conftest import FIXTURES, tfgradfix
from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.rules import ALL_RULES

pytestmark = pytest.mark.slow  # a corpus each: the engine over hundreds of files, twice

FULL = os.environ.get("TFGRADFIX_ROBUSTNESS") == "full"
SAMPLE_EVERY = 1 if FULL else 15


def _package_files(name: str, under: str = "") -> list[Path]:
    spec = importlib.util.find_spec(name)  # locates without importing
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / under
    return sorted(root.rglob("*.py"))


def _corpus() -> list[Path]:
    """A sample of real code, and every fixture (code that does get fixed)."""
    chosen = []
    for name, under in (("keras", "src"), ("tensorflow", "python")):
        chosen += _package_files(name, under)[::SAMPLE_EVERY]
    return chosen + sorted(FIXTURES.rglob("*.py"))


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*.py"))}


def test_fix_on_real_code_is_safe_and_idempotent(tmp_path):
    corpus = _corpus()
    assert len(corpus) > 100
    for index, path in enumerate(corpus):
        target = tmp_path / f"{index:05}_{path.name}"
        shutil.copyfile(path, target)
    before = _snapshot(tmp_path)
    command = ["--fix", "--unsafe-fixes", "--exit-zero", "--no-progress", "."]
    first = tfgradfix(*command, cwd=tmp_path)
    assert "internal error" not in first.stderr, first.stderr[-3000:]
    after = _snapshot(tmp_path)
    changed = [p for p in after if after[p] != before[p]]
    assert changed, "the corpus should include code that gets fixed"
    for path in changed:
        compile(after[path], str(path), "exec")
    second = tfgradfix(*command, cwd=tmp_path)
    assert "internal error" not in second.stderr
    assert _snapshot(tmp_path) == after, "a second --fix changed something"


_HEADER = "import numpy as np\nimport tensorflow as tf\n\n"
_PROBE = ("\n\nclass _Probe(tf.keras.layers.Layer):\n"
          "    def call(self, x):\n"
          "        with tf.GradientTape() as tape:\n"
          "            y = np.tanh(x.numpy())\n"
          "        return tf.convert_to_tensor(y)\n")


def _check_generated(code: str) -> None:
    assume("__future__" not in code)
    text = _HEADER + code + _PROBE
    try:
        compile(text, "generated.py", "exec")
    except (SyntaxError, ValueError):
        assume(False)
    result = Engine(ALL_RULES, fix=True, unsafe_fixes=True).process(SourceFile("generated.py", text, "utf-8", False))
    assert result.error is None or not result.error.startswith("internal error"), result.error
    if result.new_text is not None and result.new_text != text:
        compile(result.new_text, "generated.py", "exec")
        again = Engine(ALL_RULES, fix=True, unsafe_fixes=True).process(
            SourceFile("generated.py", result.new_text, "utf-8", False))
        assert again.new_text == result.new_text


# CI runs a fixed sample (derandomized, so a landing never depends on luck); the full run explores.
_SETTINGS = settings(max_examples=300 if FULL else 40, deadline=None, derandomize=not FULL, database=None,
                     suppress_health_check=list(HealthCheck))


@_SETTINGS
@given(hypothesmith.from_grammar())
def test_generated_programs_from_the_grammar(code):
    _check_generated(code)


@_SETTINGS
@given(hypothesmith.from_node())
def test_generated_programs_from_libcst_nodes(code):
    _check_generated(code)
