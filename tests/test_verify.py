"""--verify runs each changed layer or training step before and after its fixes, with TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

from conftest import FIXTURES, fixture_cases
from tfgradfix.verify.runner import describe, verify_files
from tfgradfix.verify.units import Unit, changed_units


def test_every_golden_fix_verifies():
    items = [(str(p), p.read_text(), p.with_name(p.stem + ".fixed.py").read_text()) for p in fixture_cases("fixed")]
    verdicts = verify_files(items)  # one child process, TensorFlow imported once
    for (path, _, _), units in zip(items, verdicts):
        assert units, f"nothing to run in {path}"
        for name, result in units.items():
            assert result["verdict"] == "verified", f"{path}: {describe(name, result)}"
            assert result["device"] in ("CPU", "GPU:0")


_LAYER = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    class Squash(tf.keras.layers.Layer):
        def __init__(self, units):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

        def call(self, x):
            return {body}
""")


def test_a_fix_that_changes_the_output_fails():
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    wrong = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w)) * 2.0") + "\nSquash(3)\n"
    (units,) = verify_files([("layer.py", original, wrong)])
    assert units["Squash"]["verdict"] == "failed"
    assert units["Squash"]["reason"].startswith("outputs differ: max|Δ|")


def test_a_layer_that_cannot_be_built_is_inconclusive():
    # A constructor argument no annotation, default or call in the project gives a value for.
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)")
    fixed = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)")
    assert changed_units(original, fixed) == [Unit("layer", "Squash")]
    (units,) = verify_files([("layer.py", original, fixed)])
    assert units["Squash"]["verdict"] == "inconclusive"
    assert "a module-level example() returning (Squash(...), inputs)" in units["Squash"]["reason"]


def test_constructor_arguments_are_read_from_the_module():
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nlayer = Squash(units=3)\n"
    fixed = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))") + "\nlayer = Squash(units=3)\n"
    (units,) = verify_files([("layer.py", original, fixed)])
    assert units["Squash"]["verdict"] == "verified", units


def test_a_crash_in_user_code_fails_that_unit_only():
    broken = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace(
        "    def __init__(self, units):", "    def __init__(self, units):\n        raise RuntimeError('boom')")
    items = [("a.py", _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n", broken + "\nSquash(3)\n")]
    (units,) = verify_files(items)
    assert units["Squash"]["verdict"] == "failed"
    assert units["Squash"]["reason"] == "the fixed Squash cannot be built: RuntimeError: boom"


def test_fix_verify_writes_only_verified_files(tmp_path):
    shutil.copy(FIXTURES / "TGF101" / "seed_dense.py", tmp_path / "good.py")
    (tmp_path / "unbuildable.py").write_text(
        _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)"))
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--fix", "--verify", "--output-format", "json", "."],
                            capture_output=True, text=True, cwd=tmp_path)
    assert (tmp_path / "good.py").read_text() == (FIXTURES / "TGF101" / "seed_dense.fixed.py").read_text()
    assert "np.tanh" in (tmp_path / "unbuildable.py").read_text()
    assert "unbuildable.py: fixes not written: Squash inconclusive" in result.stderr
    document = json.loads(result.stdout)
    remaining = [f for f in document["findings"] if f["path"] == "unbuildable.py"]
    assert remaining and remaining[0]["verification"]["verdict"] == "inconclusive"
    assert result.returncode == 1


def test_check_verify_reports_verdicts_and_writes_nothing(tmp_path):
    shutil.copy(FIXTURES / "TGF101" / "seed_dense.py", tmp_path / "layer.py")
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--verify", "layer.py"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert (tmp_path / "layer.py").read_text() == (FIXTURES / "TGF101" / "seed_dense.py").read_text()
    assert "layer.py:17:13: TGF102 [*]" in result.stdout
    line = next(l for l in result.stdout.splitlines() if l.startswith("layer.py: verified"))
    assert "IncorrectLayer: grads 2 None→ok" in line and "max|Δ| 0" in line and "fd rel err" in line


def test_a_fixed_layer_that_raises_fails():
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    crashing = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w)) + undefined_name") + "\nSquash(3)\n"
    (units,) = verify_files([("layer.py", original, crashing)])
    assert units["Squash"]["verdict"] == "failed"
    assert units["Squash"]["reason"].startswith("the fixed layer raises NameError")


def test_a_hanging_child_is_killed_and_fails(tmp_path):
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    hanging = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace(
        "    def __init__(self, units):", "    def __init__(self, units):\n        import time\n        time.sleep(600)")
    (units,) = verify_files([("layer.py", original, hanging)], timeout=20)
    assert units["Squash"]["verdict"] == "failed" and "timed out after 20 s" in units["Squash"]["reason"]


def test_an_example_in_pyproject_builds_the_layer(tmp_path):
    (tmp_path / "layer.py").write_text(_LAYER.format(body="np.tanh(tf.matmul(x, self.w))"))
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.tfgradfix.verify.examples]
        "layer:Squash" = {args = [3], input_shape = [2, 5]}
    """))
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--fix", "--verify", "layer.py"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert "layer.py: verified" in result.stdout, result.stdout + result.stderr
    assert "tf.tanh" in (tmp_path / "layer.py").read_text()


def test_package_relative_imports_arguments_and_input_shape_come_from_the_project(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "scale.py").write_text("def gain():\n    return 2.0\n")
    (package / "layer.py").write_text(textwrap.dedent("""
        import numpy as np
        import tensorflow as tf

        from .scale import gain


        class Gained(tf.keras.layers.Layer):
            def __init__(self, units):
                super().__init__()
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(shape=(7, self.units), initializer="ones")

            def call(self, x):
                return np.tanh(tf.matmul(x, self.w)) * gain()


        def make():
            inputs = tf.keras.Input(shape=(7,))
            return tf.keras.Model(inputs, Gained(3)(inputs))
    """))
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--verify", "mypkg/layer.py"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert "mypkg/layer.py: verified" in result.stdout, result.stdout + result.stderr
