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


def test_diff_verify_prints_the_patch_on_stdout_and_the_verdicts_on_stderr(tmp_path):
    shutil.copy(FIXTURES / "TGF101" / "seed_dense.py", tmp_path / "layer.py")
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--diff", "--verify", "layer.py"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.startswith("--- a/layer.py\n") and "verified" not in result.stdout
    assert "layer.py: verified CPU IncorrectLayer" in result.stderr
    assert (tmp_path / "layer.py").read_text() == (FIXTURES / "TGF101" / "seed_dense.py").read_text()


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


# -- real-shaped projects: what is loaded, how units are built, what is written -------------

PROJECT = FIXTURES / "projects" / "legacy_regressor"


def _project_copy(tmp_path):
    target = tmp_path / "legacy_regressor"
    shutil.copytree(PROJECT, target)
    return target


def test_the_slice_keeps_what_a_unit_needs_and_no_script():
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable(textwrap.dedent("""
        import argparse
        import matplotlib.pyplot as plt
        import numpy as np
        import tensorflow as tf
        SCALE = 2.0
        (x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
        def helper(x):
            return np.tanh(x) * SCALE
        class Layer(tf.keras.layers.Layer):
            def call(self, x):
                return helper(x)
        plt.plot([1, 2])
        def main():
            parser = argparse.ArgumentParser()
        if __name__ == "__main__":
            main()
    """))
    code = table.slice(["Layer"]).code
    assert "import numpy as np" in code and "SCALE = 2.0" in code and "def helper" in code
    for never in ("matplotlib", "argparse", "load_data", "plt.plot", "def main", "__main__"):
        assert never not in code
    assert "x_train" in table.slice(["x_train"]).missing


def test_a_package_builds_layers_as_its_model_does_and_trains_with_synthetic_data(tmp_path):
    root = _project_copy(tmp_path)
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--verify", "--output-format", "json", "."],
                            capture_output=True, text=True, cwd=root)
    document = json.loads(result.stdout)
    verdicts = {(f["path"], f["symbol"].split(".")[0]): f["verification"] for f in document["findings"]}
    blend = verdicts[("regressor/layers.py", "Blend")]
    assert blend["verdict"] == "verified" and blend["through"] == "Regressor"  # only the model can build it
    assert verdicts[("regressor/layers.py", "ScaledDense")]["verdict"] == "verified"
    train = verdicts[("regressor/train.py", "train")]
    assert train["verdict"] == "verified" and train["model"] == "Regressor" and train["none_before"] > 0
    notebook = {s: v for (p, s), v in verdicts.items() if p == "notebooks/tutorial.ipynb"}
    assert notebook["Linear"]["verdict"] == "verified" and notebook["Linear"]["untracked_before"] == 2
    # The top-level loop of the notebook (after `!pip`, `!wget`, np.load and plots) ran, lifted.
    assert notebook["<module>"]["verdict"] == "verified" and notebook["<module>"]["sources_after"] == 2
    assert document["summary"]["verification"] == {"verified": 6, "failed": 0, "inconclusive": 0,
                                                    "not_runnable": 0}
    assert not (root / "loss.png").exists() and not (root / "notebooks" / "points.npz").exists()


def test_a_needed_module_that_is_missing_is_named(tmp_path):
    (tmp_path / "layer.py").write_text(_LAYER.format(body="np.tanh(tf.matmul(x, self.w)) * not_installed_lib.k")
                                       .replace("import numpy as np", "import numpy as np\nimport not_installed_lib")
                                       + "\nimport unused_missing_lib\nSquash(3)\n")
    text = (tmp_path / "layer.py").read_text()
    (units,) = verify_files([(str(tmp_path / "layer.py"), text, text.replace("np.tanh", "tf.tanh"))])
    assert units["Squash"] == {"verdict": "inconclusive", "device": units["Squash"]["device"],
                               "reason": "needs not_installed_lib, which is not installed"}


def test_input_size_comes_from_the_shape_error_of_a_first_call(tmp_path):
    layer = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace(
        "shape=(input_shape[-1], self.units)", "shape=(7, self.units)")
    (units,) = verify_files([(str(tmp_path / "layer.py"), layer + "\nSquash(3)\n",
                              layer.replace("np.tanh", "tf.tanh") + "\nSquash(3)\n")])
    assert units["Squash"]["verdict"] == "verified", units


def test_wrong_fixes_fail_with_their_reason(tmp_path):
    layers = (PROJECT / "regressor" / "layers.py").read_text()
    path = str(_project_copy(tmp_path) / "regressor" / "layers.py")
    lost = layers.replace('self.b = tf.Variable(tf.zeros((units,)), name="b")', "self.b = tf.zeros((units,))").replace(
        'self.w = tf.Variable(tf.random.normal((input_dim, units), stddev=0.1), name="w")',
        'self.w = self.add_weight(name="w", shape=(input_dim, units), initializer="random_normal")').replace(
        "np.tanh", "tf.tanh")
    changed = layers.replace("np.maximum(tf.matmul(inputs, self.kernel), 0.0)", "tf.nn.relu6(tf.matmul(inputs, self.kernel) * 9)")
    (first,), (second,) = verify_files([(path, layers, lost)]), verify_files([(path, layers, changed)])
    assert first["ScaledDense"]["verdict"] == "failed" and "lost 1 trainable variable" in first["ScaledDense"]["reason"]
    assert second["Residual"]["verdict"] == "failed" and second["Residual"]["reason"].startswith("outputs differ")


def test_a_training_function_whose_fix_leaves_none_gradients_fails(tmp_path):
    path = str(_project_copy(tmp_path) / "regressor" / "train.py")
    train = (PROJECT / "regressor" / "train.py").read_text()
    wrong = train.replace("np.square(prediction - y)", "tf.square(tf.stop_gradient(prediction) - y)")
    (units,) = verify_files([(path, train, wrong)])
    assert units["train"]["verdict"] == "failed" and "gradients still None" in units["train"]["reason"]


def test_fix_verify_writes_the_verified_units_of_a_file_and_keeps_the_rest(tmp_path):
    good = (FIXTURES / "TGF101" / "seed_dense.py").read_text()
    unbuildable = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)")
    body = unbuildable.split("class Squash", 1)[1]
    (tmp_path / "both.py").write_text(good + "\n\nclass Squash" + body)
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "--fix", "--verify", "both.py"],
                            capture_output=True, text=True, cwd=tmp_path)
    written = (tmp_path / "both.py").read_text()
    assert "both.py: fixes not written: Squash inconclusive (written for IncorrectLayer)" in result.stderr
    assert "return np.tanh(tf.matmul(x, self.w))" in written  # Squash as it was
    fixed_seed = (FIXTURES / "TGF101" / "seed_dense.fixed.py").read_text()
    assert written.startswith(fixed_seed.split("\n\n\n")[0].split("import")[0])
    assert written.count("np.") == 1, written  # only Squash's NumPy call is left


def test_the_gpu_is_used_when_tensorflow_lists_one():
    from tfgradfix.verify.child import choose_device

    gpus = ["PhysicalDevice(name='/physical_device:GPU:0', device_type='GPU')"]
    assert choose_device("auto", gpus) == "GPU:0" and choose_device("gpu", gpus) == "GPU:0"
    assert choose_device("cpu", gpus) == "CPU" and choose_device("auto", []) == "CPU"


def test_an_original_that_draws_new_weights_per_call_is_not_compared_by_value(tmp_path):
    """Layers made in call (TGF209) give new random outputs each call: the fix verifies
    when the fixed layer is deterministic, and fails when it still rebuilds state."""
    original = (FIXTURES / "TGF209" / "dense_in_call.py").read_text()
    fixed = (FIXTURES / "TGF209" / "dense_in_call.fixed.py").read_text()
    half_fixed = fixed.replace("return self.dense_1(hidden)", "return tf.keras.layers.Dense(1)(hidden)")
    path = str(tmp_path / "dense_in_call.py")
    good, bad = verify_files([(path, original, fixed), (path, original, half_fixed)])
    assert good["Head"]["verdict"] == "verified"
    assert "outputs not compared" in good["Head"]["reason"]
    assert bad["Head"]["verdict"] == "failed"


def test_a_top_level_block_is_lifted_with_the_objects_built_before_it():
    from tfgradfix.verify.slicer import ModuleTable, lift_blocks

    table = ModuleTable(textwrap.dedent("""
        import matplotlib.pyplot as plt
        import numpy as np
        import tensorflow as tf
        x = tf.Variable([[1.0, 2.0]])
        x_train = np.load("data.npz")["x"]
        with tf.GradientTape() as tape:
            y = np.mean(x ** 2) + tf.reduce_sum(x_train)
        print(tape.gradient(y, x))
        plt.plot([1])
        x = "rebound later, as notebooks do"
    """))
    (block,) = lift_blocks(table)
    assert block.parameters == ["x_train"]  # data from a file: a synthetic batch takes its place
    code = table.slice([], [block.statement], block.index).code
    assert "x = tf.Variable([[1.0, 2.0]])" in code and "rebound" not in code
    assert "(tape.gradient(y, x),)" in code  # the printed gradient is still computed
    assert "plt" not in code and "np.load" not in code


_PARTIAL = '''import tensorflow as tf


class Affine(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.w = {w}
        self.b = tf.Variable(0, dtype=tf.float32)

    def call(self, x):
        return tf.matmul(x, self.w) + self.b


Affine()(tf.zeros((2, 3)))
'''


def test_a_partial_fix_that_leaves_one_variable_untracked_still_verifies():
    """`b` is a finding left open: untracked before and after, so nothing was lost."""
    original = _PARTIAL.format(w="tf.Variable(tf.random.uniform((3, 4)), dtype=tf.float32)")
    fixed = _PARTIAL.format(w='self.add_weight(shape=(3, 4), initializer="random_uniform", dtype=tf.float32)')
    (units,) = verify_files([("affine.py", original, fixed)])
    assert units["Affine"]["verdict"] == "verified", units


def test_a_class_defined_again_in_a_later_cell_is_not_a_changed_unit():
    """Notebooks redefine classes; only the definition a fix touched is run."""
    metric = ("class Score(keras.metrics.Metric):\n    def update_state(self, y, p):\n        pass\n\n\n"
              "class Score(keras.metrics.Mean):\n    pass\n\n\n")
    original = "from tensorflow import keras\n" + metric + _LAYER.format(body="np.tanh(tf.matmul(x, self.w))")
    fixed = "from tensorflow import keras\n" + metric + _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))")
    assert changed_units(original, fixed) == [Unit("layer", "Squash")]
