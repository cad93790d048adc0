"""--verify runs each changed layer or training step before and after its fixes, with TensorFlow.

The tests marked `slow` run TensorFlow. What each of them gives `verify_files` (a "run",
built by a function marked `@_batched`) is verified apart, as `verify_files` would, but all
the runs share one child process (`verify_runs`): TensorFlow is imported once, not once a test."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from conftest import FIXTURES, fixture_cases, tfgradfix
from tfgradfix.verify import runner
from tfgradfix.verify.runner import describe, verify_files, verify_runs
from tfgradfix.verify.units import Unit, changed_units

Items = list[tuple[str, str, str]]
_RUNS: list[Callable[[Path], Items]] = []


def _batched(build: Callable[[Path], Items]) -> Callable[[Path], Items]:
    """`build(folder)` gives the items of one `verify_files` run (files it needs go in
    `folder`); the `verified` fixture holds its verdicts."""
    _RUNS.append(build)
    return build


@pytest.fixture(scope="session")
def verified(tmp_path_factory) -> dict[Callable[[Path], Items], list[dict[str, dict]]]:
    """The verdicts of every `@_batched` run, by its function: one child process for all.
    Under pytest-xdist, the first worker to ask runs it and leaves the verdicts (JSON) in the
    session's shared folder; the others wait for them there."""

    def run() -> list:
        runs = [build(tmp_path_factory.mktemp(build.__name__.strip("_"))) for build in _RUNS]
        return json.loads(json.dumps(verify_runs(runs, timeout=1800)))

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return dict(zip(_RUNS, run()))
    shared = tmp_path_factory.getbasetemp().parent / "verified.json"
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shared.exists():
            shared.write_text(json.dumps(run()))
        return dict(zip(_RUNS, json.loads(shared.read_text())))


@_batched
def _goldens(folder: Path) -> Items:
    return [(str(p), p.read_text(), p.with_name(p.stem + ".fixed.py").read_text()) for p in fixture_cases("fixed")]


@pytest.mark.slow
def test_every_golden_fix_verifies(verified):
    items, verdicts = _goldens(Path()), verified[_goldens]
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


@_batched
def _output_changed(folder: Path) -> Items:
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    wrong = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w)) * 2.0") + "\nSquash(3)\n"
    return [("layer.py", original, wrong)]


@pytest.mark.slow
def test_a_fix_that_changes_the_output_fails(verified):
    (units,) = verified[_output_changed]
    assert units["Squash"]["verdict"] == "failed"
    assert units["Squash"]["reason"].startswith("outputs differ: max|Δ|")


@_batched
def _unbuildable(folder: Path) -> Items:
    # A constructor argument no annotation, default or call in the project gives a value for.
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)")
    fixed = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)")
    return [("layer.py", original, fixed)]


@pytest.mark.slow
def test_a_layer_that_cannot_be_built_is_inconclusive(verified, tmp_path):
    ((_, original, fixed),) = _unbuildable(tmp_path)
    assert changed_units(original, fixed) == [Unit("layer", "Squash")]
    (units,) = verified[_unbuildable]
    assert units["Squash"]["verdict"] == "inconclusive"
    assert "a module-level example() returning (Squash(...), inputs)" in units["Squash"]["reason"]


@_batched
def _download_in_init(folder: Path) -> Items:
    # A constructor that fetches pretrained weights: `.invalid` never resolves, network or not.
    fetch = ('super().__init__()\n'
             '        tf.keras.utils.get_file("w.h5", "https://weights.invalid/w.h5")')
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("super().__init__()", fetch)
    fixed = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace("super().__init__()", fetch)
    return [("layer.py", original, fixed)]


@pytest.mark.slow
def test_a_constructor_whose_download_fails_says_so_not_that_keras_refuses_it(verified):
    (units,) = verified[_download_in_init]
    reason = units["Squash"]["reason"]
    assert units["Squash"]["verdict"] == "inconclusive", units
    assert reason.startswith("building Squash downloads a file, and the download failed"), reason
    assert "verify where the network reaches it" in reason and "Keras refuses" not in reason, reason


@_batched
def _arguments_in_the_module(folder: Path) -> Items:
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nlayer = Squash(units=3)\n"
    fixed = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))") + "\nlayer = Squash(units=3)\n"
    return [("layer.py", original, fixed)]


@pytest.mark.slow
def test_constructor_arguments_are_read_from_the_module(verified):
    (units,) = verified[_arguments_in_the_module]
    assert units["Squash"]["verdict"] == "verified", units


@_batched
def _crash(folder: Path) -> Items:
    broken = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace(
        "    def __init__(self, units):", "    def __init__(self, units):\n        raise RuntimeError('boom')")
    return [("a.py", _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n", broken + "\nSquash(3)\n")]


@pytest.mark.slow
def test_a_crash_in_user_code_fails_that_unit_only(verified):
    (units,) = verified[_crash]
    assert units["Squash"]["verdict"] == "failed"
    assert units["Squash"]["reason"] == "the fixed Squash cannot be built: RuntimeError: boom"


@pytest.mark.slow
def test_fix_verify_writes_only_verified_files(tmp_path):
    shutil.copy(FIXTURES / "TGF101" / "seed_dense.py", tmp_path / "good.py")
    (tmp_path / "unbuildable.py").write_text(
        _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)"))
    result = tfgradfix("--fix", "--verify", "--output-format", "json", ".", cwd=tmp_path)
    assert (tmp_path / "good.py").read_text() == (FIXTURES / "TGF101" / "seed_dense.fixed.py").read_text()
    assert "np.tanh" in (tmp_path / "unbuildable.py").read_text()
    assert "unbuildable.py: fixes not written: Squash inconclusive" in result.stderr
    document = json.loads(result.stdout)
    remaining = [f for f in document["findings"] if f["path"] == "unbuildable.py"]
    assert remaining and remaining[0]["verification"]["verdict"] == "inconclusive"
    assert result.returncode == 1


@pytest.mark.slow
def test_check_verify_reports_verdicts_and_writes_nothing(tmp_path):
    shutil.copy(FIXTURES / "TGF101" / "seed_dense.py", tmp_path / "layer.py")
    result = tfgradfix("--verify", "layer.py", cwd=tmp_path)
    assert (tmp_path / "layer.py").read_text() == (FIXTURES / "TGF101" / "seed_dense.py").read_text()
    assert "layer.py:17:13: TGF102 [*]" in result.stdout
    line = next(out for out in result.stdout.splitlines() if out.startswith("layer.py: verified"))
    assert "IncorrectLayer: grads 2 None→ok" in line and "fd rel err" in line
    # np.dot and tf.tensordot sum float32 products in different orders: the outputs agree to
    # float32 precision (a few ulps of outputs of order 1), not necessarily bit for bit.
    delta = float(re.search(r"max\|Δ\| ([-+0-9.e]+|inf|nan);", line).group(1))
    assert 0.0 <= delta < 1e-5, line


@pytest.mark.slow
def test_diff_verify_prints_the_patch_on_stdout_and_the_verdicts_on_stderr(tmp_path):
    shutil.copy(FIXTURES / "TGF101" / "seed_dense.py", tmp_path / "layer.py")
    result = tfgradfix("--diff", "--verify", "layer.py", cwd=tmp_path)
    assert result.stdout.startswith("--- a/layer.py\n") and "verified" not in result.stdout
    assert "layer.py: verified CPU IncorrectLayer" in result.stderr
    assert (tmp_path / "layer.py").read_text() == (FIXTURES / "TGF101" / "seed_dense.py").read_text()


@_batched
def _fixed_raises(folder: Path) -> Items:
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    crashing = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w)) + undefined_name") + "\nSquash(3)\n"
    return [("layer.py", original, crashing)]


@pytest.mark.slow
def test_a_fixed_layer_that_raises_fails(verified):
    (units,) = verified[_fixed_raises]
    assert units["Squash"]["verdict"] == "failed"
    assert units["Squash"]["reason"].startswith("the fixed layer raises NameError")


def _hanging(path: str = "layer.py") -> Items:
    original = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    hanging = _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))").replace(
        "    def __init__(self, units):", "    def __init__(self, units):\n        import time\n        time.sleep(600)")
    return [(path, original, hanging)]


@pytest.mark.slow
def test_a_hanging_unit_is_killed_and_inconclusive(tmp_path):
    (units,) = verify_files(_hanging(), timeout=20)  # a child of its own: the hang kills it
    assert units["Squash"]["verdict"] == "inconclusive", units
    assert "ran past the time limit (20 s" in units["Squash"]["reason"], units


def test_a_child_that_never_answers_is_killed_at_the_time_limit(tmp_path, monkeypatch):
    """The parent's side of a hang before any unit, without TensorFlow: a child that reads the
    job and sleeps. Nothing says the fix held it: inconclusive, not failed."""
    child = tmp_path / "sleeping_child.py"
    child.write_text("import sys\nimport time\n\nsys.stdin.read()\ntime.sleep(600)\n")
    monkeypatch.setattr(runner, "CHILD", str(child))
    (units,) = verify_files(_hanging(str(tmp_path / "layer.py")), timeout=1)  # a project of one file: quick to plan
    assert units["Squash"]["verdict"] == "inconclusive", units
    assert "ran past the time limit (1 s" in units["Squash"]["reason"], units


def test_a_unit_that_hangs_costs_that_unit_only(tmp_path, monkeypatch):
    """DESIGN §4: a hang is reported against its unit and never stops the run. A child that
    finishes the first unit and hangs in the second: the first keeps its verdict, the second is
    inconclusive, and a new child runs the third; the limit is per unit, so three units of 0.6 s
    each under a 1 s limit all finish."""
    child = tmp_path / "hanging_child.py"
    child.write_text(
        "import json, sys, time\n"
        "job = json.loads(sys.stdin.read())\n"
        "for position, file in enumerate(job['files']):\n"
        "    for unit in file['units']:\n"
        f"        print({runner.STARTED!r} + json.dumps([position, unit['label']]), flush=True)\n"
        "        time.sleep(600 if unit['label'] == 'Second' else 0.6)\n"
        "        verdict = {'verdict': 'verified', 'reason': 'ran'}\n"
        f"        print({runner.FINISHED!r} + json.dumps([position, unit['label'], verdict]), flush=True)\n"
        f"print({runner.MARKER!r} + json.dumps({{'device': 'CPU', 'files': []}}), flush=True)\n")
    monkeypatch.setattr(runner, "CHILD", str(child))
    original = "\n\n".join(_LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("Squash", name)
                           for name in ("First", "Second", "Third"))
    fixed = original.replace("np.tanh", "tf.tanh")
    (units,) = verify_files([(str(tmp_path / "layer.py"), original, fixed)], timeout=1)
    assert units["First"]["verdict"] == "verified" and units["Third"]["verdict"] == "verified", units
    assert units["Second"]["verdict"] == "inconclusive", units
    assert units["Second"]["reason"].startswith("ran past the time limit (1 s"), units


def test_a_child_that_dies_in_a_unit_leaves_it_inconclusive(tmp_path, monkeypatch):
    """The parent's side of TensorFlow aborting the process (an NCHW convolution on a CPU:
    `Check failed`, SIGABRT): the unit it was running is inconclusive, not failed, since nothing says
    which side died; a restarted child would run the units after it (stylegan2-tf-2.x, set 21)."""
    child = tmp_path / "dying_child.py"
    child.write_text(
        "import json, os, sys\n"
        "job = json.loads(sys.stdin.read())\n"
        "unit = job['files'][0]['units'][0]\n"
        f"print({runner.STARTED!r} + json.dumps([0, unit['label']]), flush=True)\n"
        "sys.stderr.write('F0000 tensor_format.h:428] Check failed: index >= 0\\n*** Check failure stack trace ***\\n')\n"
        "sys.stderr.flush()\n"
        "os._exit(134)\n")
    monkeypatch.setattr(runner, "CHILD", str(child))
    (units,) = verify_files(_hanging(str(tmp_path / "layer.py")), timeout=60)
    assert units["Squash"]["verdict"] == "inconclusive", units
    assert units["Squash"]["reason"].startswith(
        "the verifier's child process died while running it (exit status 134; F0000"), units
    assert "Check failed" in units["Squash"]["reason"], units


def test_an_input_tensorflow_aborts_on_is_skipped_by_the_next_child(tmp_path, monkeypatch):
    """The parent's side: a child says which input it calls the layer on, and TensorFlow aborts on
    the first; the next child is told to skip it, tries another, and its verdict stands. An input
    that aborts again and again leaves the unit inconclusive, as before."""
    child = tmp_path / "aborting_child.py"
    child.write_text(
        "import json, os, sys\n"
        "job = json.loads(sys.stdin.read())\n"
        "unit = job['files'][0]['units'][0]\n"
        f"print({runner.STARTED!r} + json.dumps([0, unit['label']]), flush=True)\n"
        "shapes = [s for s in ([2, 8, 8, 1], [2, 8, 1], [2, 1], [2, 4, 4, 4, 1], [2, 4]) "
        "if s not in unit.get('avoid_shapes', [])]\n"
        f"print({runner.TRYING!r} + json.dumps(shapes[0]), flush=True)\n"
        "if len(shapes[0]) != int(os.environ['GOOD_RANK']):\n"
        "    os._exit(134)\n"
        "verdict = {'verdict': 'verified', 'reason': '', 'input': str(shapes[0])}\n"
        f"print({runner.FINISHED!r} + json.dumps([0, unit['label'], verdict]), flush=True)\n"
        f"print({runner.MARKER!r} + json.dumps({{'device': 'CPU', 'files': []}}), flush=True)\n")
    monkeypatch.setattr(runner, "CHILD", str(child))
    monkeypatch.setenv("GOOD_RANK", "3")
    (units,) = verify_files(_hanging(str(tmp_path / "layer.py")), timeout=60)
    assert units["Squash"] == {"verdict": "verified", "reason": "", "input": "[2, 8, 1]"}, units
    monkeypatch.setenv("GOOD_RANK", "6")  # every input aborts
    (units,) = verify_files(_hanging(str(tmp_path / "layer.py")), timeout=60)
    assert units["Squash"]["verdict"] == "inconclusive", units
    assert "died while running it (exit status 134" in units["Squash"]["reason"], units


_SINC = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    class SincConv(tf.keras.layers.Layer):
        def __init__(self, filters=4, kernel_size=9, **kwargs):
            super().__init__(**kwargs)
            self.filters = filters
            self.kernel_size = kernel_size
            self.low = self.add_weight(name="low", shape=(filters,), initializer="ones")
            self.window = {window}

        def call(self, x):
            t = tf.range(self.kernel_size, dtype=tf.float32) - self.kernel_size // 2
            bank = tf.sin(self.low[:, None] * t[None, :]) * self.window
            filters = tf.reshape(tf.transpose(bank), (self.kernel_size, 1, self.filters))
            return tf.nn.conv1d(x, filters, 1, "SAME")
""")


@pytest.mark.slow
def test_a_convolution_that_aborts_tensorflow_on_one_rank_is_tried_on_others(tmp_path):
    """A sinc filter bank convolving its input with `tf.nn.conv1d`: called on a batch of images
    first, TensorFlow aborts the process (`Check failed`, SIGABRT) instead of raising. The next
    child skips that input; on a batch of sequences the fix verifies (a speaker-recognition
    repository's SincConv, set 199)."""
    original = _SINC.format(window="tf.Variable(np.hamming(kernel_size).astype(np.float32))")
    fixed = _SINC.format(window='self.add_weight(name="window", shape=(kernel_size,), '
                                'initializer=tf.keras.initializers.Constant(np.hamming(kernel_size)))')
    (units,) = verify_files([(str(tmp_path / "sinc.py"), original, fixed)], timeout=120)
    assert units["SincConv"]["verdict"] == "verified", units


_FACTORISATION = textwrap.dedent("""
    import tensorflow as tf


    class MF(tf.keras.Model):
        def __init__(self, n_users, n_items, d, use_bias=False):
            super().__init__()
            self.U = tf.keras.layers.Embedding(n_users, d)
            self.V = tf.keras.layers.Embedding(n_items, d)
            self.use_bias = use_bias
            if use_bias:
                self.ub = tf.keras.layers.Embedding(n_users, 1)
                self.gb = {bias}

        def call(self, inputs):
            u, i = inputs
            s = tf.reduce_sum(self.U(u) * self.V(i), axis=1)
            if self.use_bias:
                s = s + tf.squeeze(self.ub(u), axis=1) + self.gb
            return s
""")


@pytest.mark.slow
def test_ids_a_model_unpacks_from_one_tuple_are_tried_one_per_example(tmp_path):
    """A matrix factorisation whose global bias (the fix) sits behind `use_bias=False` and whose
    `call` unpacks `(users, items)`, one id per example: the verifier turns the option on and
    tries a batch of single ids for each, where the bias's squeeze fits (a cross-domain
    recommender's MF, set 193: "the code the fix changed never ran")."""
    original = _FACTORISATION.format(bias="tf.Variable(0.0, trainable=True)")
    fixed = _FACTORISATION.format(bias='self.add_weight(name="gb", shape=(), initializer="zeros")')
    (units,) = verify_files([(str(tmp_path / "mf.py"), original, fixed)], timeout=120)
    assert units["MF"]["verdict"] == "verified", units
    assert units["MF"]["options"] == "use_bias=True" and units["MF"]["input"] == "[int32 (2,), int32 (2,)]", units


@pytest.mark.slow
def test_an_example_in_pyproject_builds_the_layer(tmp_path):
    (tmp_path / "layer.py").write_text(_LAYER.format(body="np.tanh(tf.matmul(x, self.w))"))
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.tfgradfix.verify.examples]
        "layer:Squash" = {args = [3], input_shape = [2, 5]}
    """))
    result = tfgradfix("--fix", "--verify", "layer.py", cwd=tmp_path)
    assert "layer.py: verified" in result.stdout, result.stdout + result.stderr
    assert "tf.tanh" in (tmp_path / "layer.py").read_text()


@pytest.mark.slow
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
    result = tfgradfix("--verify", "mypkg/layer.py", cwd=tmp_path)
    assert "mypkg/layer.py: verified" in result.stdout, result.stdout + result.stderr


# -- real-shaped projects: what is loaded, how units are built, what is written -------------

PROJECT = FIXTURES / "projects" / "legacy_regressor"


def _project_copy(tmp_path):
    target = tmp_path / "legacy_regressor"
    shutil.copytree(PROJECT, target)
    return target


def test_a_name_imported_again_later_keeps_the_import_a_class_between_them_needs():
    """A notebook imports `tf` in its first cell and again in a later one; a class defined
    between them is built from `tf` when it is defined, so the first import stays too."""
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable(textwrap.dedent("""
        import tensorflow as tf
        class Block(tf.keras.layers.Layer):
            pass
        import tensorflow as tf
        class Model(tf.keras.Model):
            def __init__(self):
                super().__init__()
                self.block = Block()
    """))
    code = table.slice(["Model"]).code
    assert code.index("import tensorflow as tf") < code.index("class Block") < code.index("class Model"), code


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


def test_the_slice_keeps_the_framework_settings_the_module_makes_when_it_loads():
    """A float64 model sets the float type at the top of its module: its layers run after that call,
    so the slice keeps it (before the class). A seed read from the command line is data: dropped."""
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable(textwrap.dedent("""
        import argparse
        import tensorflow as tf
        from tensorflow.keras import backend as K
        K.set_floatx("float64")
        args = argparse.ArgumentParser().parse_args()
        tf.random.set_seed(args.seed)
        class Layer(tf.keras.layers.Layer):
            def call(self, x):
                return x * 2.0
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
    """))
    code = table.slice(["Layer"]).code
    assert code.index("K.set_floatx('float64')") < code.index("class Layer"), code
    assert "set_global_policy('mixed_float16')" in code
    assert "parse_args" not in code and "set_seed" not in code


@pytest.mark.slow
def test_a_package_builds_layers_as_its_model_does_and_trains_with_synthetic_data(tmp_path):
    root = _project_copy(tmp_path)
    result = tfgradfix("--verify", "--output-format", "json", ".", cwd=root)
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


@_batched
def _missing_module(folder: Path) -> Items:
    (folder / "layer.py").write_text(_LAYER.format(body="np.tanh(tf.matmul(x, self.w)) * not_installed_lib.k")
                                     .replace("import numpy as np", "import numpy as np\nimport not_installed_lib")
                                     + "\nimport unused_missing_lib\nSquash(3)\n")
    text = (folder / "layer.py").read_text()
    return [(str(folder / "layer.py"), text, text.replace("np.tanh", "tf.tanh"))]


@pytest.mark.slow
def test_a_needed_module_that_is_missing_is_named(verified):
    (units,) = verified[_missing_module]
    assert units["Squash"] == {"verdict": "inconclusive", "device": units["Squash"]["device"],
                               "reason": "needs not_installed_lib, which is not installed"}


@_batched
def _size_from_the_error(folder: Path) -> Items:
    layer = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace(
        "shape=(input_shape[-1], self.units)", "shape=(7, self.units)")
    return [(str(folder / "layer.py"), layer + "\nSquash(3)\n", layer.replace("np.tanh", "tf.tanh") + "\nSquash(3)\n")]


@pytest.mark.slow
def test_input_size_comes_from_the_shape_error_of_a_first_call(verified):
    (units,) = verified[_size_from_the_error]
    assert units["Squash"]["verdict"] == "verified", units


def _wrong_fix(folder: Path, wrong: str) -> Items:
    layers = (PROJECT / "regressor" / "layers.py").read_text()
    path = str(_project_copy(folder) / "regressor" / "layers.py")
    lost = layers.replace('self.b = tf.Variable(tf.zeros((units,)), name="b")', "self.b = tf.zeros((units,))").replace(
        'self.w = tf.Variable(tf.random.normal((input_dim, units), stddev=0.1), name="w")',
        'self.w = self.add_weight(name="w", shape=(input_dim, units), initializer="random_normal")').replace(
        "np.tanh", "tf.tanh")
    changed = layers.replace("np.maximum(tf.matmul(inputs, self.kernel), 0.0)", "tf.nn.relu6(tf.matmul(inputs, self.kernel) * 9)")
    return [(path, layers, {"lost": lost, "changed": changed}[wrong])]


@_batched
def _lost_variable(folder: Path) -> Items:
    return _wrong_fix(folder, "lost")


@_batched
def _changed_output(folder: Path) -> Items:
    return _wrong_fix(folder, "changed")


@pytest.mark.slow
def test_wrong_fixes_fail_with_their_reason(verified):
    (first,), (second,) = verified[_lost_variable], verified[_changed_output]
    assert first["ScaledDense"]["verdict"] == "failed" and "lost 1 trainable variable" in first["ScaledDense"]["reason"]
    assert second["Residual"]["verdict"] == "failed" and second["Residual"]["reason"].startswith("outputs differ")


@_batched
def _gradients_still_none(folder: Path) -> Items:
    path = str(_project_copy(folder) / "regressor" / "train.py")
    train = (PROJECT / "regressor" / "train.py").read_text()
    wrong = train.replace("np.square(prediction - y)", "tf.square(tf.stop_gradient(prediction) - y)")
    return [(path, train, wrong)]


@pytest.mark.slow
def test_a_training_function_whose_fix_leaves_none_gradients_fails(verified):
    (units,) = verified[_gradients_still_none]
    assert units["train"]["verdict"] == "failed" and "gradients still None" in units["train"]["reason"]


@_batched
def _unknown_training_argument(folder: Path) -> Items:
    path = str(_project_copy(folder) / "regressor" / "train.py")
    train = (PROJECT / "regressor" / "train.py").read_text().replace(
        "def train(model, x, y,", "def train(model, x, y, sample_weighting,").replace(
        "np.square(prediction - y)", "np.square(prediction - y) * sample_weighting")
    return [(path, train, train.replace("np.square(", "tf.square("))]


@pytest.mark.slow
def test_a_training_argument_no_value_can_be_made_for_says_what_to_add(verified):
    (units,) = verified[_unknown_training_argument]
    reason = units["train"]["reason"]
    assert units["train"]["verdict"] == "inconclusive", units
    assert "no argument can be made for parameter `sample_weighting` of train()" in reason, reason
    assert "a train_step_example()" in reason, reason


@pytest.mark.slow
def test_fix_verify_writes_the_verified_units_of_a_file_and_keeps_the_rest(tmp_path):
    good = (FIXTURES / "TGF101" / "seed_dense.py").read_text()
    unbuildable = _LAYER.format(body="np.tanh(tf.matmul(x, self.w))").replace("(self, units)", "(self, units: dict)")
    body = unbuildable.split("class Squash", 1)[1]
    (tmp_path / "both.py").write_text(good + "\n\nclass Squash" + body)
    result = tfgradfix("--fix", "--verify", "both.py", cwd=tmp_path)
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


@_batched
def _new_weights_per_call(folder: Path) -> Items:
    original = (FIXTURES / "TGF209" / "dense_in_call.py").read_text()
    fixed = (FIXTURES / "TGF209" / "dense_in_call.fixed.py").read_text()
    half_fixed = fixed.replace("return self.dense_1(hidden)", "return tf.keras.layers.Dense(1)(hidden)")
    path = str(folder / "dense_in_call.py")
    return [(path, original, fixed), (path, original, half_fixed)]


@pytest.mark.slow
def test_an_original_that_draws_new_weights_per_call_is_not_compared_by_value(verified):
    """Layers made in call (TGF209) give new random outputs each call: the fix verifies
    when the fixed layer is deterministic, and fails when it still rebuilds state."""
    good, bad = verified[_new_weights_per_call]
    assert good["Head"]["verdict"] == "verified"
    assert "outputs not compared" in good["Head"]["reason"]
    # Half fixed, one Dense still made per call: fewer than before, so it cannot say whether the
    # rest is another finding's; never verified.
    assert bad["Head"]["verdict"] == "inconclusive", bad
    assert "right if what is left is another finding's" in bad["Head"]["reason"], bad


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


@_batched
def _partial_fix(folder: Path) -> Items:
    original = _PARTIAL.format(w="tf.Variable(tf.random.uniform((3, 4)), dtype=tf.float32)")
    fixed = _PARTIAL.format(w='self.add_weight(shape=(3, 4), initializer="random_uniform", dtype=tf.float32)')
    return [("affine.py", original, fixed)]


@pytest.mark.slow
def test_a_partial_fix_that_leaves_one_variable_untracked_still_verifies(verified):
    """`b` is a finding left open: untracked before and after, so nothing was lost."""
    (units,) = verified[_partial_fix]
    assert units["Affine"]["verdict"] == "verified", units


_FLOAT64 = textwrap.dedent("""
    import tensorflow as tf


    class Features(tf.keras.layers.Layer):
        def build(self, input_shape):
            self.frequencies = {w}

        def call(self, x):
            return tf.sin(tf.matmul(x, self.frequencies))


    Features()
""")


@_batched
def _float64_set_by_the_script(folder: Path) -> Items:
    """A float64 layer whose training script, not its module, sets `set_floatx("float64")`; the
    golden TGF203/float64_model_set_by_the_module has the setting in the module itself."""
    original = _FLOAT64.format(w="tf.Variable(tf.random.normal((int(input_shape[-1]), 4), dtype=tf.float64))")
    fixed = _FLOAT64.format(w='self.add_weight(shape=(int(input_shape[-1]), 4), initializer="random_normal", '
                              'dtype=tf.float64)')
    wrong = _FLOAT64.format(w='self.add_weight(shape=(int(input_shape[-1]), 4), initializer="random_normal", '
                              'dtype=tf.float64, trainable=False)')
    return [("features.py", original, fixed), ("features.py", original, wrong)]


@pytest.mark.slow
def test_a_float64_layer_is_run_as_its_script_sets_it(verified):
    """float32 inputs meet float64 weights on both sides: both sides run again with floatx float64,
    and the verdict says so; a fix that freezes the weight still fails there."""
    good, bad = verified[_float64_set_by_the_script]
    assert good["Features"]["verdict"] == "verified", good
    assert "floatx float64" in good["Features"]["reason"]
    assert bad["Features"]["verdict"] == "failed", bad


_POSITIONAL_FLAG = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    class Scaled(tf.keras.layers.Layer):
        def call(self, x, training, mask=None):
            return x * 2.0


    class Head(tf.keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.scaled = Scaled()
            self.dense = tf.keras.layers.Dense(3)

        def call(self, x, training):
            return {body}


    Head()
""")


@_batched
def _flag_passed_positionally(folder: Path) -> Items:
    """A layer that calls its sub-layer with `training` positionally, as Keras 2 allowed."""
    original = _POSITIONAL_FLAG.format(body="np.tanh(self.dense(self.scaled(x, training)))")
    fixed = _POSITIONAL_FLAG.format(body="tf.tanh(self.dense(self.scaled(x, training)))")
    return [("head.py", original, fixed)]


@pytest.mark.slow
def test_a_layer_called_with_a_positional_flag_is_verified_under_keras_2(verified):
    """Keras 3 refuses `self.scaled(x, training)` on both sides, so no made-up argument helps; Keras 2,
    which the code was written for, takes it: the unit runs again there (tf_keras is installed), and
    the verdict says so and why."""
    (units,) = verified[_flag_passed_positionally]
    verdict = units["Head"]
    assert verdict["verdict"] == "verified" and verdict["keras"] == "2", verdict
    assert verdict["reason"].startswith("run under Keras 2 (tf_keras, TF_USE_LEGACY_KERAS=1), as Keras 3 refused")
    assert "non-tensor positional argument" in verdict["reason"] and "training=training" in verdict["reason"]
    assert "keras_2_retry" not in verdict


# -- units the project builds elsewhere; token ids; several inputs -------------------------------

def _verify_project(tmp_path, name, *flags):
    root = tmp_path / name
    shutil.copytree(FIXTURES / "projects" / name, root)
    result = tfgradfix("--verify", *flags, ".", cwd=root)
    return root, result


def _verify_project_json(tmp_path, name, *flags):
    """The verdicts of a `--verify` check (nothing written), by (path, symbol) of each finding."""
    root, result = _verify_project(tmp_path, name, "--output-format", "json", *flags)
    document = json.loads(result.stdout)
    return root, document, {(f["path"], f["symbol"]): f["verification"] for f in document["findings"]}


@pytest.mark.slow
def test_a_helper_module_is_verified_through_the_blocks_and_models_of_other_modules(tmp_path):
    """vision: `ops.py` has no layer of its own; `blocks.py`'s base class reaches it through
    `from . import ops`. Each fix is run through the project's classes that call it, and written."""
    root, result = _verify_project(tmp_path, "vision", "--fix")
    assert "Verification: 3 verified, 0 failed, 0 inconclusive, 0 not runnable." in result.stdout, result.stdout
    assert "visionkit/ops.py: verified " in result.stdout and " visionkit.blocks.ResidualBlock: " in result.stdout
    assert " visionkit.models.TinyResNet: " in result.stdout
    assert "np." not in (root / "visionkit" / "ops.py").read_text().split("def same_padding")[0]  # written
    assert "self.add_weight" in (root / "visionkit" / "blocks.py").read_text()


@pytest.mark.slow
def test_a_sequence_package_runs_token_ids_through_its_model_its_attention_and_its_training_step(tmp_path):
    """seq2seq: the loss factory runs through `train_step(model, optimizer, tokens, target)`
    on the project's `Seq2Seq(vocab_size=50)` fed token ids; the NumPy softmax through the
    weightless `LuongAttention(query, keys)` (one batch for each), judged by its input gradients."""
    root, document, verdicts = _verify_project_json(tmp_path, "seq2seq", "--unsafe-fixes")
    assert document["summary"]["verification"] == {"verified": 3, "failed": 0, "inconclusive": 0,
                                                    "not_runnable": 0}, verdicts
    step = verdicts[("seqlib/losses.py", "masked_loss.loss")]
    assert step["model"] == "Seq2Seq" and step["none_before"] > 0 and step["input"] == "int32 (2, 5) ids < 50"
    attention = verdicts[("seqlib/utils/np_ops.py", "softmax")]
    assert attention["inputs_none_before"] == [1] and attention["inputs_none_after"] == []
    assert attention["input"] == "float32 (2, 4) + float32 (2, 4)" and attention["covers"] == ["softmax"]


_TAGGER = textwrap.dedent('''
    import tensorflow as tf

    VOCAB = 120


    class TokenTable(tf.keras.layers.Layer):
        def __init__(self, vocab, dim):
            super().__init__()
            self.table = {table}

        def call(self, ids):
            return tf.nn.embedding_lookup(self.table, ids)


    class Tagger(tf.keras.Model):
        def __init__(self, vocab=VOCAB):
            super().__init__()
            self.lookup = TokenTable(vocab, 8)
            self.rnn = tf.keras.layers.GRU(8)
            self.head = tf.keras.layers.Dense(3)
            self.bias = {bias}

        def call(self, ids):
            return self.head(self.rnn(self.lookup(ids))) + self.bias


    inputs = tf.keras.Input(shape=(7,), dtype="int32")
''')


@_batched
def _token_ids(folder: Path) -> Items:
    original = _TAGGER.format(table="tf.Variable(tf.random.normal((vocab, dim)))", bias="tf.Variable(tf.zeros((3,)))")
    fixed = _TAGGER.format(table='self.add_weight(shape=(vocab, dim), initializer="random_normal")',
                           bias='self.add_weight(shape=(3,), initializer="zeros")')
    return [("tagger.py", original, fixed)]


@pytest.mark.slow
def test_an_embedding_lookup_and_rnn_model_is_fed_token_ids_in_range(verified):
    """Float inputs make `embedding_lookup` raise; the ids come from the table's rows (in
    the layer, and in the GRU model that holds it) and the shape from the integer `keras.Input`."""
    (units,) = verified[_token_ids]
    table, tagger = units["TokenTable"], units["Tagger"]
    assert table["verdict"] == "verified" and table["input"] == "int32 (2, 7) ids < 120", table
    assert table["untracked_before"] == 1 and table["fd_rel_error"] is None  # no gradient for ids
    assert tagger["verdict"] == "verified" and tagger["input"] == "int32 (2, 7) ids < 120", tagger


def test_a_helper_is_accepted_when_every_unit_that_runs_it_verified():
    from tfgradfix.verify.units import accepts, verdict_for, verified_names

    units = {"pkg.blocks.Block": {"verdict": "verified", "covers": ["scale", "mix"]},
             "pkg.models.Net": {"verdict": "failed", "covers": ["mix"]}, "Local": {"verdict": "verified"}}
    assert verdict_for(units, "scale")["verdict"] == "verified" and accepts(units, "scale")
    assert verdict_for(units, "mix")["verdict"] == "failed" and not accepts(units, "mix")
    assert verified_names(units) == {"Local", "scale"}


_WHILE_SCRIPT = textwrap.dedent('''
    import numpy as np
    import tensorflow as tf

    w = tf.Variable([[0.5], [0.1]])
    x_train = np.random.rand(8, 2).astype("float32")
    history = np.load("history.npy")
    loss_value, step = 1.0, 0
    while loss_value > 1e-6:
        with tf.GradientTape() as tape:
            loss = {loss}
        grads = tape.gradient(loss, [w])
        w.assign_sub(0.1 * grads[0])
        loss_value = float(loss)
        step += 1
    else:
        print("converged", step)
''')


@_batched
def _while_loop(folder: Path) -> Items:
    return [("while_train.py", _WHILE_SCRIPT.format(loss="np.mean(tf.matmul(x_train, w) ** 2)"),
             _WHILE_SCRIPT.format(loss="tf.reduce_mean(tf.matmul(x_train, w) ** 2)"))]


@pytest.mark.slow
def test_a_top_level_while_loop_is_lifted_and_bounded(verified, tmp_path):
    """A `while` training loop runs at most two steps, with the names bound before it;
    its `else` (the end a bounded run never reaches) is dropped."""
    from tfgradfix.verify.slicer import ModuleTable, lift_blocks

    ((_, original, _),) = _while_loop(tmp_path)
    (block,) = lift_blocks(ModuleTable(original))
    assert block.parameters == [] and "history" not in block.statement.uses
    assert {"w", "x_train", "loss_value", "step"} <= block.statement.uses
    (units,) = verified[_while_loop]
    (verdict,) = units.values()
    assert verdict["verdict"] == "verified", verdict
    assert verdict["none_before"] == 1 and verdict["none_after"] == 0 and verdict["gradient_calls"] == 2


@_batched
def _two_models(folder: Path) -> Items:
    path = FIXTURES / "projects" / "model_zoo" / "train.py"
    train = path.read_text()
    return [(str(path), train, train.replace("student.predict(x)", "student(x, training=False)"))]


@pytest.mark.slow
def test_a_function_taking_two_models_gets_two(verified):
    """`distill(student, teacher, x, optimizer)`: one model as both would let the teacher's
    path carry the gradient the fix is about."""
    (units,) = verified[_two_models]
    assert units["distill"]["verdict"] == "verified" and units["distill"]["none_before"] > 0, units


@pytest.mark.slow
def test_a_helper_run_by_a_plain_agents_method_is_verified_through_it(tmp_path):
    """actor_critic: `entropy` (NumPy in the tape) is called only by `Agent.learn(states,
    actions, rewards)`, a method of a plain class holding its Keras model."""
    root, document, verdicts = _verify_project_json(tmp_path, "actor_critic")
    assert document["summary"]["verification"] == {"verified": 1, "failed": 0, "inconclusive": 0,
                                                    "not_runnable": 0}, verdicts
    learn = verdicts[("rl_utils.py", "entropy")]
    assert learn["model"] == "ActorCritic" and learn["covers"] == ["entropy"] and learn["gradient_calls"] == 1


def test_a_changed_file_with_nothing_to_run_says_what_to_add(tmp_path):
    from tfgradfix.analysis.project import ProjectIndex
    from tfgradfix.verify.units import nothing_runs

    (tmp_path / "helpers.py").write_text("import numpy as np\n\n\ndef squash(t):\n    return np.tanh(t)\n")
    (tmp_path / "report.py").write_text("from helpers import squash\n\n\ndef show(t):\n    print(squash(t))\n")
    index = ProjectIndex.build([str(tmp_path / "helpers.py"), str(tmp_path / "report.py")])
    original = (tmp_path / "helpers.py").read_text()
    why = nothing_runs(index, str(tmp_path / "helpers.py"), original, original.replace("np.tanh", "tf.tanh"))
    assert "nothing that runs `squash` is a layer or a function holding a tape (it is called from report.show)" in why
    assert "add a function that holds the `tf.GradientTape`" in why


def test_a_class_a_notebook_defines_twice_is_a_unit_only_where_a_fix_changed_it():
    cell = "class Stack(tf.Module):\n    def __init__(self):\n        self.layers = [{layer}]\n\n\n"
    original = "import tensorflow as tf\n\n\n" + cell.format(layer="1") + cell.format(layer="2") + \
        "class Scale(tf.keras.layers.Layer):\n    def call(self, x):\n        return x * 2.0\n"
    fixed = original.replace("return x * 2.0", "return x * 3.0")
    assert changed_units(original, fixed) == [Unit("layer", "Scale")]


_REDEFINED = textwrap.dedent('''
    import tensorflow as tf


    class Linear(tf.keras.Model):
        def __init__(self, input_dim, output_dim):
            super().__init__()
            self.w = {w}

        def call(self, x):
            return tf.matmul(x, self.w)


    model = Linear(input_dim=5, output_dim=1)


    class Linear(tf.keras.Model):
        def __init__(self, units):
            super().__init__()
            self.dense = tf.keras.layers.Dense(units)

        def call(self, x):
            return self.dense(x)
''')


@_batched
def _redefined(folder: Path) -> Items:
    original = _REDEFINED.format(w="tf.Variable(tf.random.uniform((input_dim, output_dim)))")
    fixed = _REDEFINED.format(w='self.add_weight(shape=(input_dim, output_dim), initializer="random_uniform")')
    return [("notebook_like.py", original, fixed)]


@pytest.mark.slow
def test_a_changed_definition_that_a_notebook_redefines_later_is_run_as_it_stood(verified, tmp_path):
    """The fix is in the first `Linear`; the last one (another class of that name) is not it."""
    ((_, original, fixed),) = _redefined(tmp_path)
    assert changed_units(original, fixed) == [Unit("layer", "Linear", label="Linear (definition 1 of 2)",
                                                   occurrence=1)]
    (units,) = verified[_redefined]
    verdict = units["Linear (definition 1 of 2)"]
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict


# The first block's TGF403 fix (watch `x1`) cannot help: `x1` reaches `y0` only through
# `tf.stop_gradient`. (Until main's 04ed11d it was `y0 = x0 ** 2`, which no longer gets that fix.)
_TWO_BLOCKS = textwrap.dedent('''
    import numpy as np
    import tensorflow as tf

    x0 = tf.Variable(3.0)
    x1 = tf.constant(2.0)
    with tf.GradientTape() as tape:
        y0 = x0 ** 2 + tf.stop_gradient(x1)
    print(tape.gradient(y0, [x0, x1]))

    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = np.mean(x ** 2)
    print(tape.gradient(y, x))
''')


@pytest.mark.slow
def test_top_level_findings_take_the_verdict_of_their_own_block(tmp_path):
    """Watching `x1` does not give `y0` a gradient for it (that block fails); the NumPy
    block's fix verifies and is written alone."""
    (tmp_path / "script.py").write_text(_TWO_BLOCKS)
    result = tfgradfix("--fix", "--verify", "script.py", cwd=tmp_path)
    written = (tmp_path / "script.py").read_text()
    assert any(f"failed {device} top-level tape block 1" in result.stdout for device in ("CPU", "GPU:0"))
    assert "(written for _tfgradfix_block_2)" in result.stderr, result.stderr
    assert "tf.reduce_mean(x ** 2)" in written and "tape.watch" not in written


def test_a_finding_of_top_level_code_is_judged_by_the_block_holding_its_line():
    from tfgradfix.verify.units import accepts, verdict_for

    units = {"_tfgradfix_block_1": {"verdict": "failed", "lines": [6, 9]},
             "_tfgradfix_block_2": {"verdict": "verified", "lines": [11, 14]}}
    assert accepts(units, "<module>", 13) and not accepts(units, "<module>", 7)
    # In no block that ran (a cell no fix changed): no verdict of its own, and its fix (if any) is
    # written only when every unit of the file verified.
    assert verdict_for(units, "<module>", 30) is None and not accepts(units, "<module>", 30)
    assert accepts({k: {**v, "verdict": "verified"} for k, v in units.items()}, "<module>", 30)


def test_a_class_defined_again_in_a_later_cell_is_not_a_changed_unit():
    """Notebooks redefine classes; only the definition a fix touched is run."""
    metric = ("class Score(keras.metrics.Metric):\n    def update_state(self, y, p):\n        pass\n\n\n"
              "class Score(keras.metrics.Mean):\n    pass\n\n\n")
    original = "from tensorflow import keras\n" + metric + _LAYER.format(body="np.tanh(tf.matmul(x, self.w))")
    fixed = "from tensorflow import keras\n" + metric + _LAYER.format(body="tf.tanh(tf.matmul(x, self.w))")
    assert changed_units(original, fixed) == [Unit("layer", "Squash")]


_TD = textwrap.dedent("""
    import tensorflow as tf
    from tensorflow import keras


    def build_model():
        return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])


    def train_step(model, x, y, optimizer):
    {body}
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
""")
_SEMI_GRADIENT = """\
    target = y + 0.9 * tf.reduce_max(model(x), axis=1, keepdims=True)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(target - model(x)))"""
_RESIDUAL_GRADIENT = """\
    with tf.GradientTape() as tape:
        target = y + 0.9 * tf.reduce_max(model(x), axis=1, keepdims=True)
        loss = tf.reduce_mean(tf.square(target - model(x)))"""


@_batched
def _target_moved_into_the_tape(folder: Path) -> Items:
    """A semi-gradient TD target moved into the tape: no gradient was None before or after,
    the first loss is the same, and every gradient changed."""
    return [("agent.py", _TD.format(body=_SEMI_GRADIENT), _TD.format(body=_RESIDUAL_GRADIENT))]


@pytest.mark.slow
def test_a_fix_that_changes_gradients_that_came_back_fails(verified):
    (units,) = verified[_target_moved_into_the_tape]
    result = units["train_step"]
    assert result["verdict"] == "failed", result
    assert result["reason"].startswith("gradients that came back before differ after the fix"), result


@_batched
def _gradient_scaled(folder: Path) -> Items:
    """Same output, other gradient: `h + stop_gradient(h)` is 2h forward, 1h backward."""
    original = _LAYER.format(body="2.0 * tf.matmul(x, self.w)") + "\nSquash(3)\n"
    wrong = _LAYER.format(body="tf.matmul(x, self.w) + tf.stop_gradient(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    return [("layer.py", original, wrong)]


@pytest.mark.slow
def test_a_layer_fix_that_changes_input_gradients_fails(verified):
    (units,) = verified[_gradient_scaled]
    assert units["Squash"]["verdict"] == "failed", units
    assert "disagrees with finite differences" in units["Squash"]["reason"], units


@_batched
def _partial_path_restored(folder: Path) -> Items:
    """NumPy on one of two paths: the weight's gradient came back before (through the other),
    and the fix rightly changes it. The original's disagrees with finite differences; the
    fixed one agrees."""
    original = _LAYER.format(body="tf.matmul(x, self.w) + np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    fixed = _LAYER.format(body="tf.matmul(x, self.w) + tf.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n"
    return [("layer.py", original, fixed)]


@pytest.mark.slow
def test_a_fix_that_restores_part_of_a_gradient_verifies(verified):
    (units,) = verified[_partial_path_restored]
    assert units["Squash"]["verdict"] == "verified", units


@_batched
def _untraceable_both_sides(folder: Path) -> Items:
    """A layer whose Python `if` on a tensor does not trace, before or after: the fix is judged
    on what it changed (NumPy out), not on what it left as it was."""
    body = "np.tanh(tf.matmul(x, self.w)) if float(tf.reduce_sum(x)) > -1e9 else x"
    original = _LAYER.format(body=body) + "\nSquash(3)\n"
    fixed = _LAYER.format(body=body.replace("np.tanh", "tf.tanh")) + "\nSquash(3)\n"
    return [("layer.py", original, fixed)]


@pytest.mark.slow
def test_a_check_that_fails_on_both_sides_does_not_fail_the_fix(verified):
    (units,) = verified[_untraceable_both_sides]
    assert units["Squash"]["verdict"] != "failed" or "tf.function" not in units["Squash"]["reason"], units


# -- shapes of unseen code (issue 20): fixtures/projects/verify_shapes ---------------------------

SHAPES = FIXTURES / "projects" / "verify_shapes"


@_batched
def _shapes(folder: Path) -> Items:
    """Each module of verify_shapes with what `--fix --unsafe-fixes` makes of it."""
    original, fixed = folder / "original", folder / "fixed"
    shutil.copytree(SHAPES, original)
    shutil.copytree(SHAPES, fixed)
    tfgradfix("--fix", "--unsafe-fixes", ".", cwd=fixed)
    return [(str(path), path.read_text(), (fixed / path.name).read_text()) for path in sorted(original.glob("*.py"))]


def _shape_verdicts(verified) -> dict[str, dict[str, dict]]:
    """{module stem: {unit: verdict}}."""
    items = sorted(p.stem for p in SHAPES.glob("*.py"))
    return dict(zip(items, verified[_shapes]))


@pytest.mark.slow
def test_verify_shapes_a_layer_named_like_tf_variable_gets_its_own_verdict(verified):
    (verdict,) = _shape_verdicts(verified)["names"].values()
    assert verdict["verdict"] == "verified" and verdict["through"] == "Encoder", verdict
    assert verdict["none_before"], verdict  # its own weight came back, not CountedScale's gain


@pytest.mark.slow
def test_verify_shapes_module_level_if_else_unused_import_and_steps_load(verified):
    (verdict,) = _shape_verdicts(verified)["conditional"].values()
    assert verdict["verdict"] == "verified" and verdict["through"] == "Stack", verdict


@pytest.mark.slow
def test_verify_shapes_weights_only_another_method_reads_are_unread_on_both_sides(verified):
    """Held-out CM3: "gradients still None" failed a correct fix, counting the critic's Keras 3
    `Dense` weights (private attributes) as read before the fix."""
    (verdict,) = _shape_verdicts(verified)["critic_branch"].values()
    assert verdict["verdict"] == "inconclusive", verdict
    assert "does not read them" in verdict["reason"] and "critic_out" in verdict["reason"], verdict
    assert "actor_out" not in verdict["none_after"], verdict


@pytest.mark.slow
def test_verify_shapes_the_projects_own_error_on_every_input_is_named(verified):
    """Held-out SwitchNorm: its own misspelt attribute failed every input, and the reason asked
    for constructor arguments it did not need."""
    verdicts = _shape_verdicts(verified)["own_typo"].values()
    assert verdicts and all(v["verdict"] == "inconclusive" for v in verdicts), verdicts
    assert all("raises AttributeError" in v["reason"] and "every input tried, before any fix" in v["reason"]
               and "literal arguments" not in v["reason"] for v in verdicts), verdicts


@pytest.mark.slow
@pytest.mark.parametrize("module", [
    "gathered",  # an input gradient that comes back as IndexedSlices, compared dense
    "indexed_sizes",  # a required argument indexed as layer sizes gets a tuple of sizes
    "recurrent_state",  # a required initial state gets None
    "rebound_class",  # a class rebound to its instance, and a convolution kernel's channels
    "reduced_channels",  # a size made from too few channels is zero: more channels are tried
    "four_inputs",  # a call on four tensors gets four batches
    "exits",  # `exit()` in the project's code fails that input, not the verifier
    "none_size",  # a size left to None by default (`n_actions=None`) gets a guessed size
])
def test_verify_shapes_verified_with_their_one_untracked_weight(verified, module):
    (verdict,) = _shape_verdicts(verified)[module].values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict


@pytest.mark.slow
def test_verify_shapes_a_plain_agent_runs_its_method(verified):
    units = _shape_verdicts(verified)["agent"]
    assert list(units) == ["Agent.learn"], units
    verdict = units["Agent.learn"]
    assert verdict["verdict"] == "verified" and verdict["none_before"] == 2 and verdict["none_after"] == 0, verdict
    assert verdict["model"] == "Sequential", verdict


@pytest.mark.slow
def test_verify_shapes_training_add_loss_structures(verified):
    shapes = _shape_verdicts(verified)
    assert shapes["training"]["NoisyDense"]["verdict"] == "verified", shapes["training"]
    vq = shapes["vq"]["VectorQuantizer"]
    # The codebook trains only through the added loss: counted, its gradient comes back.
    assert vq["verdict"] == "verified" and vq["variables"] == ["embeddings"] and not vq["none_after"], vq
    gate, fusion = shapes["structured"]["Gate"], shapes["structured"]["Fusion"]
    assert gate["verdict"] == "verified" and gate["input"] == "[float32 (2, 4), float32 (2, 4)]", gate
    assert fusion["verdict"] == "verified" and fusion["input"] == "{'image': float32 (2, 4), 'text': float32 (2, 4)}"


@pytest.mark.slow
def test_verify_shapes_nested_classes(verified):
    nested = _shape_verdicts(verified)["nested"]
    assert nested["Squash"]["verdict"] == "verified" and nested["Squash"]["through"] == "build_model", nested
    assert nested["Shift"]["verdict"] == "inconclusive", nested
    assert "Shift is defined inside main" in nested["Shift"]["reason"]
    assert "move Shift to the module's top level" in nested["Shift"]["reason"]


@pytest.mark.slow
def test_verify_shapes_sizes_divided_to_zero_and_settings_objects(verified):
    settings = _shape_verdicts(verified)["settings"]
    # `Dense(ch // 8)` with a made-up ch of 4 has 0 units: a larger size is tried, and it runs.
    assert settings["SelfGate"]["verdict"] == "verified", settings
    head = settings["SettingsHead"]
    assert head["verdict"] == "inconclusive", head
    assert "uses `config.units`, and `config` is a value only the project's configuration gives" in head["reason"]
    # A required `name` joined to its sub-layers' names gets a string, not a made-up number.
    assert settings["NamedBlock"]["verdict"] == "verified", settings["NamedBlock"]


@pytest.mark.slow
def test_verify_shapes_a_fix_behind_an_option_off_by_default_runs_with_it_on(verified):
    (verdict,) = _shape_verdicts(verified)["option"].values()
    assert verdict["verdict"] == "verified" and verdict["options"] == "learned_slope=True", verdict
    assert verdict["untracked_before"] == 1 and not verdict["none_after"], verdict


@pytest.mark.slow
def test_verify_shapes_a_fix_in_two_branches_is_verified_only_where_both_ran(verified):
    """Held-out bilinear decoders: one unit's fixes in `if self.diagonal:` and `else:`; "verified"
    came from the `else` alone. The option off by default is turned on for the other branch; a
    branch no option reaches leaves that part unchecked, and the verdict says so."""
    units = _shape_verdicts(verified)["branches"]
    assert units["Bilinear"]["verdict"] == "verified" and units["Bilinear"]["options"] == "diagonal=True", units
    mixer = units["Mixer"]
    assert mixer["verdict"] == "inconclusive" and "part of the fix never ran" in mixer["reason"], mixer
    assert "w_sparse" in mixer["reason"], mixer


@pytest.mark.slow
def test_verify_shapes_the_projects_own_call_failing_is_named(verified):
    (verdict,) = _shape_verdicts(verified)["own_call"].values()
    assert verdict["verdict"] == "inconclusive", verdict
    assert "the project's own BinnedScale(bins=8) raises AttributeError" in verdict["reason"], verdict
    assert "before any fix" in verdict["reason"], verdict


@pytest.mark.slow
def test_verify_shapes_a_later_bug_both_sides_raise_is_no_difference_the_fix_made(verified):
    (verdict,) = _shape_verdicts(verified)["later_bug"].values()
    assert verdict["verdict"] == "verified" and verdict["none_before"] == 2 and not verdict["none_after"], verdict
    assert "both runs raise after their gradients" in verdict["reason"], verdict
    assert "No gradients provided" in verdict["reason"] and "Incompatible shapes" in verdict["reason"], verdict


@pytest.mark.slow
def test_verify_shapes_a_fix_that_takes_out_one_of_two_layers_made_per_call(verified):
    (verdict,) = _shape_verdicts(verified)["partial"].values()
    assert verdict["verdict"] == "inconclusive", verdict
    assert "still makes 2 variable(s) on every call, where the original made 4" in verdict["reason"], verdict


@_batched
def _keras2(folder: Path) -> Items:
    """fixtures/projects/verify_keras2, alone: its only model is one Keras 3 refuses."""
    original, fixed = folder / "original", folder / "fixed"
    shutil.copytree(FIXTURES / "projects" / "verify_keras2", original)
    shutil.copytree(FIXTURES / "projects" / "verify_keras2", fixed)
    tfgradfix("--fix", "--unsafe-fixes", ".", cwd=fixed)
    return [(str(original / "numpy_sizes.py"), (original / "numpy_sizes.py").read_text(),
             (fixed / "numpy_sizes.py").read_text())]


@pytest.mark.slow
def test_a_model_the_installed_keras_refuses_is_said_to_be_the_projects_and_runs_under_keras_2(verified):
    (units,) = verified[_keras2]
    (verdict,) = units.values()
    assert verdict["verdict"] == "verified" and verdict["keras"] == "2", verdict
    assert "as Keras 3 refused the original: the project's own generate_net(8, 2) raises ValueError" \
        in verdict["reason"], verdict
    assert "before any fix, under TensorFlow" in verdict["reason"] and "--python" in verdict["reason"], verdict


def test_only_an_error_tensorflow_or_keras_raises_is_the_librarys_refusal():
    from tfgradfix.verify.child import _library_refuses

    def project_code():
        raise ValueError("the project's own check")

    with pytest.raises(ValueError) as caught:
        project_code()
    assert not _library_refuses(caught.value)
    with pytest.raises(NameError) as missing:
        exec(compile("undefined_name", "/site-packages/keras/src/fake.py", "exec"))
    assert not _library_refuses(missing.value)  # a name the slice left out is the verifier's
    with pytest.raises(ValueError) as refused:
        exec(compile("raise ValueError('units')", "/site-packages/keras/src/layers/core/dense.py", "exec"))
    assert _library_refuses(refused.value)


def test_a_guessed_number_used_as_a_settings_object_is_named_from_the_failing_line():
    from tfgradfix.verify.child import guessed_use, settings_hint

    def build(network_settings, units):
        hidden = units * 2
        return hidden, network_settings["hidden_units"]

    with pytest.raises(TypeError) as caught:
        build(4, 4)
    assert guessed_use(caught.value, {"network_settings", "units"}) == 'network_settings["hidden_units"]'
    # Not a guessed argument's use, or not a number's failure: nothing to name.
    assert guessed_use(caught.value, {"units"}) == ""
    assert guessed_use(ValueError("'int' object"), {"network_settings"}) == ""

    def sized(var_names, depth):
        return int(len(var_names)) * depth

    with pytest.raises(TypeError) as unsized:
        sized(4, 4)
    assert guessed_use(unsized.value, {"var_names", "depth"}) == "len(var_names)"
    assert settings_hint("len(var_names)", {"var_names", "depth"}).startswith(
        "its constructor uses `len(var_names)`, and `var_names` is a value only the project's configuration")


def test_a_size_a_constructor_derives_as_zero_is_tried_larger_only_for_that_error():
    from tfgradfix.verify.child import LARGER_SIZE_GUESS, SIZE_GUESS, _larger_sizes

    def make(ch, depth, name="block"):
        return ch, depth, name

    zero = ValueError("Received an invalid value for `units`, expected a positive integer. Received: units=0")
    guessed = {"ch": SIZE_GUESS, "depth": SIZE_GUESS, "name": "block"}
    assert _larger_sizes(make, guessed, zero) == {"ch": LARGER_SIZE_GUESS, "depth": LARGER_SIZE_GUESS,
                                                  "name": "block"}
    assert _larger_sizes(make, guessed, ValueError("Dimensions must be equal")) is None
    assert _larger_sizes(make, {"ch": 3, "depth": 2}, zero) is None  # the project's own values: kept


def test_a_finding_in_a_nested_class_or_a_plain_class_method_takes_its_units_verdict():
    from tfgradfix.verify.units import verdict_for

    units = {"Squash": {"verdict": "verified"}, "Agent.learn": {"verdict": "failed"},
             "Agent.act": {"verdict": "verified"}}
    assert verdict_for(units, "build_model.Squash.call")["verdict"] == "verified"
    assert verdict_for(units, "Agent.learn")["verdict"] == "failed"
    assert verdict_for(units, "Agent._discount")["verdict"] == "failed"  # a helper method: the worst


def test_a_changed_loss_helper_runs_through_its_training_function_and_takes_its_verdict():
    """A REINFORCE loss helper that turns the log-probabilities into NumPy, called inside the
    training function's tape: the training function runs it, and the helper's findings report
    that run's verdict (they were `null` in the JSON)."""
    from tfgradfix.verify.units import verdict_for

    original = textwrap.dedent("""
        import numpy as np
        import tensorflow as tf

        model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])

        def compute_loss(log_probs, returns):
            return -np.sum(np.array(log_probs) * returns)

        def train_step(state, action, returns):
            with tf.GradientTape() as tape:
                log_probs = tf.math.log(tf.nn.softmax(model(state))[0, action])
                loss = compute_loss(log_probs, returns)
            return tape.gradient(loss, model.trainable_variables)
    """)
    fixed = original.replace("-np.sum(np.array(log_probs) * returns)", "-tf.reduce_sum(log_probs * returns)")
    assert changed_units(original, fixed) == [Unit("function", "train_step", covers=("compute_loss",))]
    units = {"train_step": {"verdict": "inconclusive", "covers": ["compute_loss"]}}
    assert verdict_for(units, "compute_loss")["verdict"] == "inconclusive"


def test_a_loss_helper_of_a_loss_helper_runs_through_the_training_function():
    """A VAE's KL term in NumPy, in a helper the total loss calls inside the training step's tape
    (held-out round G's course lab): its findings had `verification: null` in the JSON."""
    from tfgradfix.verify.units import verdict_for

    original = textwrap.dedent("""
        import numpy as np
        import tensorflow as tf

        model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(4)])

        def kl_loss(mu, logsigma):
            return 0.5 * np.sum(np.exp(logsigma) + np.square(mu) - 1 - logsigma)

        def total_loss(x, mu, logsigma):
            return tf.reduce_mean(tf.abs(x - mu)) + kl_loss(mu, logsigma)

        def train_step(x):
            with tf.GradientTape() as tape:
                mu = model(x)
                loss = total_loss(x, mu, mu)
            return tape.gradient(loss, model.trainable_variables)
    """)
    fixed = original.replace("np.sum(np.exp(logsigma) + np.square(mu) - 1 - logsigma)",
                             "tf.reduce_sum(tf.exp(logsigma) + tf.square(mu) - 1 - logsigma)")
    assert changed_units(original, fixed) == [Unit("function", "train_step", covers=("kl_loss",))]
    units = {"train_step": {"verdict": "verified", "covers": ["kl_loss"]}}
    assert verdict_for(units, "kl_loss")["verdict"] == "verified"


def test_a_fixed_attribute_only_a_loss_method_reads_runs_through_the_training_step():
    original = (FIXTURES / "TGF203" / "loss_weights_outside_call.py").read_text()
    fixed = (FIXTURES / "TGF203" / "loss_weights_outside_call.fixed.py").read_text()
    assert changed_units(original, fixed) == [Unit("function", "train_step_example", covers=("MultiTask",))]
    # The same fix of an attribute `call` reads is run by calling the layer.
    read = original.replace("return self.out(self.hidden(x))", "return self.out(self.hidden(x)) - self.log_vars")
    read_fixed = fixed.replace("return self.out(self.hidden(x))", "return self.out(self.hidden(x)) - self.log_vars")
    assert changed_units(read, read_fixed) == [Unit("layer", "MultiTask")]


def test_a_plain_class_with_a_tape_is_run_by_its_method_not_built_as_a_layer():
    original = (SHAPES / "agent.py").read_text()
    fixed = original.replace("np.mean(", "tf.reduce_mean(")
    assert changed_units(original, fixed) == [Unit("function", "Agent.learn")]


def test_calls_are_matched_to_a_class_by_their_imports_not_their_last_word(tmp_path):
    from tfgradfix.analysis.project import ProjectIndex
    from tfgradfix.verify import plan

    shutil.copy(SHAPES / "names.py", tmp_path / "names.py")
    (tmp_path / "use.py").write_text("import names\nimport tensorflow as tf\n\n"
                                     "a = names.Variable({'units': 2})\nb = tf.Variable(1.0)\n")
    paths = [str(tmp_path / "names.py"), str(tmp_path / "use.py")]
    project = plan.Project(tmp_path, ProjectIndex.build(paths))
    sites = plan.call_sites(project, "Variable", (tmp_path / "names.py").resolve())
    # Encoder's `Variable(...)` and use.py's `names.Variable(...)`; no `tf.Variable(...)`.
    assert sorted((s.path.name, s.owner) for s in sites) == [("names.py", ("class", "Encoder")), ("use.py", None)]


def test_the_slice_keeps_conditional_classes_values_built_in_steps_and_guards_unused_imports():
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable((SHAPES / "conditional.py").read_text() + "\nCONFIG = {}\nCONFIG['units'] = 3\n"
                        "class Uses(tf.keras.layers.Layer):\n    units = CONFIG['units']\n")
    code = table.slice(["Stack"]).code
    assert "class Projection(tf.keras.layers.Layer)" in code and "else:" in code
    assert code.index("WIDTHS = [4]") < code.index("WIDTHS = WIDTHS + [3]")
    assert "plt = _tfgradfix_absent(" in code  # `show` reaches plt; the unit need not
    namespace: dict = {}
    exec(table.slice(["CONFIG"]).code, namespace)
    assert namespace["CONFIG"] == {"units": 3}
    assert not table.slice(["Stack"]).missing


def test_a_name_bound_afresh_drops_what_it_held_before():
    """A notebook re-binds `x` cell after cell: the lifted block needs the last `x` only, not
    an earlier `x = np.array(12)` written before the import the slice keeps for `np`."""
    from tfgradfix.verify.slicer import ModuleTable, lift_blocks

    table = ModuleTable("import numpy as np\nx = np.array(12)\nimport numpy as np\nx = np.zeros(3)\n"
                        "import tensorflow as tf\nx = tf.zeros(())\nwith tf.GradientTape() as tape:\n"
                        "    y = 2 * x\ngrad = tape.gradient(y, x)\n")
    (block,) = lift_blocks(table)
    code = table.slice({block.name}, [block.statement], block.index).code
    assert "np.array(12)" not in code and "np.zeros(3)" not in code and "x = tf.zeros(())" in code
    compile(code, "slice.py", "exec")


def test_a_name_only_a_star_import_can_bind_keeps_it():
    """`kernel_size: int | Tuple` with `from typing import *`: the annotation runs when the
    class is defined, so the slice keeps the star import (it said `NameError: Tuple`)."""
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable("from typing import *\nimport os\n\n\nclass Conv:\n"
                        "    def __init__(self, kernel_size: int | Tuple = 1):\n        self.k = kernel_size\n")
    code = table.slice(["Conv"]).code
    assert "from typing import *" in code and "import os" not in code
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["Conv"](3).k == 3


def test_a_script_guard_and_a_conditional_with_effects_are_never_kept():
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable("import tensorflow as tf\nif __name__ == '__main__':\n    A = 1\n"
                        "if tf.config.list_physical_devices('GPU'):\n    B = 1\nelse:\n    print('cpu')\n    B = 2\n")
    assert "A = 1" not in table.slice(["A"]).code and "A" in table.slice(["A"]).missing
    assert "B" in table.slice(["B"]).missing  # its else prints


def test_list_and_dict_inputs_are_read_from_call(tmp_path):
    from tfgradfix.analysis.project import ProjectIndex
    from tfgradfix.verify import plan

    path = (SHAPES / "structured.py").resolve()
    project = plan.Project(SHAPES, ProjectIndex.build([str(path)]))
    assert plan.input_structure(project, path, "Gate") == {"kind": "list", "size": 2}
    assert plan.input_structure(project, path, "Fusion") == {"kind": "dict", "keys": ["image", "text"]}
    other = (SHAPES / "training.py").resolve()
    assert plan.input_structure(project, other, "NoisyDense") is None


# -- the project's own tests, before and after (issue 20) ----------------------------------------

TESTED = FIXTURES / "projects" / "verify_tests"


@_batched
def _project_with_tests(folder: Path) -> Items:
    root, fixed = folder / "verify_tests", folder / "fixed"
    shutil.copytree(TESTED, root)
    shutil.copytree(TESTED, fixed)
    tfgradfix("--fix", "--unsafe-fixes", ".", cwd=fixed)
    path = root / "tinynet" / "layers.py"
    return [(str(path), path.read_text(), (fixed / "tinynet" / "layers.py").read_text())]


@pytest.mark.slow
def test_the_projects_own_tests_fail_the_fix_that_breaks_them(verified):
    (units,) = verified[_project_with_tests]
    scale, squash = units["Scale"], units["Squash"]
    assert scale["verdict"] == "failed", scale
    assert scale["reason"] == ("the project's tests that passed before fail after the fixes: "
                               "tests.test_layers::test_scale_weight_shape")
    assert squash["verdict"] == "verified", squash  # the broken test does not name Squash
    assert squash["tests"]["tests"] == ["tests/test_layers.py"] and squash["tests"]["ran"] == 2
    assert "project tests tests/test_layers.py: 2 ran, 1 broken by another unit's fix" in describe("Squash", squash)


def test_the_tests_of_a_module_are_the_test_files_that_import_it():
    from tfgradfix.analysis.project import ProjectIndex
    from tfgradfix.verify import plan, project_tests

    layers = (TESTED / "tinynet" / "layers.py").resolve()
    project = plan.Project(TESTED.resolve(), ProjectIndex.build([str(layers)]))
    assert project_tests.tests_for(project, layers) == [(TESTED / "tests" / "test_layers.py").resolve()]
    assert project_tests.tests_for(project, (TESTED / "tinynet" / "__init__.py").resolve()) == []


def test_a_broken_test_fails_the_units_it_names_or_all_when_it_names_none():
    from tfgradfix.verify.project_tests import apply

    outcome = {"tests": ["tests/test_a.py"], "ran": 3, "broken": ["tests.test_a::test_scale", "tests.test_a::test_x"],
               "reads": {"tests.test_a::test_scale": ["Scale", "get_shape"], "tests.test_a::test_x": ["helper"]}}
    verdicts = {"Scale": {"verdict": "verified"}, "Squash": {"verdict": "verified"}}
    apply(verdicts, outcome)
    assert verdicts["Scale"]["verdict"] == "failed" and "test_scale" in verdicts["Scale"]["reason"]
    # test_x names no unit: it counts against every unit of the file.
    assert verdicts["Squash"]["verdict"] == "failed" and "test_scale" not in verdicts["Squash"]["reason"]
    assert "reads" not in verdicts["Squash"]["tests"]
    clean = {"Scale": {"verdict": "verified"}, "Squash": {"verdict": "verified"}}
    apply(clean, {**outcome, "broken": ["tests.test_a::test_scale"]})
    assert clean["Squash"]["verdict"] == "verified" and clean["Squash"]["tests"]["ran"] == 3
    assert clean["Scale"]["verdict"] == "failed"


@_batched
def _numpy_term_restored(folder: Path) -> Items:
    """quickstart_scripts: `loss + 0.01 * np.sum(np.square(predictions))` in the tape. No gradient
    was None (the cross-entropy reaches every weight), but the NumPy term had none: the fix
    restores it, and every gradient changes, as it should. Same loss, same numbers as the TD
    target moved into the tape, which fails: there the fix took no NumPy call out."""
    root, fixed = folder / "quickstart", folder / "fixed"
    shutil.copytree(FIXTURES / "projects" / "quickstart_scripts", root)
    shutil.copytree(FIXTURES / "projects" / "quickstart_scripts", fixed)
    tfgradfix("--fix", ".", cwd=fixed)
    return [(str(root / name), (root / name).read_text(), (fixed / name).read_text()) for name in ("model.py", "train.py")]


@pytest.mark.slow
def test_a_fix_that_takes_a_numpy_term_out_of_the_loss_may_change_the_gradients(verified):
    model, train = verified[_numpy_term_restored]
    assert model["Normalize"]["verdict"] == "verified", model
    step = train["train_step"]
    assert step["verdict"] == "verified" and step["none_before"] == 0 and step["max_gradient_change"] > 1e-3, step
    assert "NumPy call(s) out of what runs" in step["reason"]


def test_numpy_calls_in_a_slice_are_counted():
    from tfgradfix.verify.slicer import numpy_calls

    code = ("try:\n    import numpy as np\nexcept ModuleNotFoundError:\n    pass\nfrom numpy import tanh\n"
            "def f(x, t):\n    return np.sum(np.square(x)) + tanh(t.numpy()) + x.shape[0]\n")
    assert numpy_calls(code) == 4 and numpy_calls("import tensorflow as tf\ntf.reduce_sum(1)\n") == 0


@_batched
def _own_model_sized_by_its_error(folder: Path) -> Items:
    """frozen_backbone's `fit_scaled(x, y, optimizer)` makes its own `ScaledLinear` (3 inputs):
    the first batch, (2, 4), fails its matmul; the size the error asks for is tried next."""
    root, fixed = folder / "frozen_backbone", folder / "fixed"
    shutil.copytree(FIXTURES / "projects" / "frozen_backbone", root)
    shutil.copytree(FIXTURES / "projects" / "frozen_backbone", fixed)
    tfgradfix("--fix", ".", cwd=fixed)
    return [(str(root / "train.py"), (root / "train.py").read_text(), (fixed / "train.py").read_text())]


@pytest.mark.slow
def test_a_function_that_makes_its_own_model_gets_the_input_size_its_error_asks_for(verified):
    (units,) = verified[_own_model_sized_by_its_error]
    assert units["fit_scaled"]["verdict"] == "verified", units["fit_scaled"]
    assert all(v["verdict"] == "verified" for v in units.values()), units


def test_a_finding_in_a_class_a_notebook_defines_again_takes_its_definitions_verdict():
    from tfgradfix.verify.runner import _definition_lines
    from tfgradfix.verify.units import verdict_for

    original = _REDEFINED.format(w="tf.Variable(tf.random.uniform((input_dim, output_dim)))")
    first = _definition_lines(original, "Linear", 1)
    assert first == [5, 11] and _definition_lines(original, "Linear", 2)[0] == 17
    units = {"Linear (definition 1 of 2)": {"verdict": "verified", "lines": first},
             "Linear (definition 3 of 3)": {"verdict": "failed", "lines": [30, 40]}}
    assert verdict_for(units, "Linear.__init__", 8)["verdict"] == "verified"
    assert verdict_for(units, "Linear.__init__", 35)["verdict"] == "failed"


def test_a_plain_class_given_its_model_runs_through_the_function_that_makes_one():
    """`Trainer(model, history)` needs a model; `train_step_example()` makes a subclass with one."""
    path = FIXTURES / "TGF102" / "abstract_compute_loss.py"
    original = path.read_text()
    fixed = path.with_name("abstract_compute_loss.fixed.py").read_text()
    assert changed_units(original, fixed) == [Unit("function", "train_step_example", covers=("Trainer",))]


_NOISY = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    {noise}

    class Regressor(keras.Model):
        def __init__(self):
            super().__init__()
            self.gain = {gain}
            self.body = keras.layers.Dense(8, activation="tanh")
            self.dropout = keras.layers.Dropout(0.3)
            self.head = keras.layers.Dense(1)

        def call(self, x, training=False):
            return self.head(self.dropout(self.body(x), training=training)) * self.gain{extra}


    def build_model():
        return Regressor()


    def train_step(model, x, y, optimizer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean({square}(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
""")
_UNTRACKED_GAIN = "tf.Variable(1.0)"
# The fix's weight: its initializer, made without a seed, takes one from Python's `random`, so
# the Dropout made after it gets another seed than in the original.
_TRACKED_GAIN = 'self.add_weight(shape=(), initializer=keras.initializers.RandomUniform(1.0, 1.0))'


@_batched
def _dropout_after_a_constructor_fix(folder: Path) -> Items:
    """A right fix in both the model (its gain made a weight) and the training step (NumPy out of
    the loss); the step runs the model with dropout on. The fixed model's Dropout gets another seed
    unless the verifier gives it the original's: then the first loss differed."""
    original = _NOISY.format(noise="", gain=_UNTRACKED_GAIN, extra="", square="np.square")
    fixed = _NOISY.format(noise="", gain=_TRACKED_GAIN, extra="", square="tf.square")
    return [("noisy.py", original, fixed)]


@pytest.mark.slow
def test_a_right_fix_of_a_step_with_dropout_verifies_with_the_same_first_loss(verified):
    (units,) = verified[_dropout_after_a_constructor_fix]
    result = units["train_step"]
    assert result["verdict"] == "verified", result
    assert result["max_abs_diff"] <= 1e-4, result
    assert units["Regressor"]["verdict"] == "verified", units


@_batched
def _noise_nothing_seeds(folder: Path) -> Items:
    """The model adds noise from a generator seeded by the operating system: no two runs of the
    original have the same first loss, so the fixed one's differing says nothing."""
    noise = "\nNOISE = tf.random.Generator.from_non_deterministic_state()\n"
    extra = " + 0.1 * NOISE.normal((1,))"
    original = _NOISY.format(noise=noise, gain=_UNTRACKED_GAIN, extra=extra, square="np.square")
    fixed = _NOISY.format(noise=noise, gain=_UNTRACKED_GAIN, extra=extra, square="tf.square")
    return [("noisy.py", original, fixed)]


@pytest.mark.slow
def test_a_random_first_loss_is_inconclusive_and_says_what_differed(verified):
    (units,) = verified[_noise_nothing_seeds]
    result = units["train_step"]
    assert result["verdict"] == "inconclusive", result
    assert re.match(r"the first loss differs: [-\d.e]+ before, [-\d.e]+ after \(max\|Δ\| ", result["reason"]), result
    assert "the loss is random: the original run again the same way gives another first loss" in result["reason"], result
    assert result["random_spread"] > 0 and len(result["first_loss"]) == 2, result


@_batched
def _keras_2_api(folder: Path) -> Items:
    """A layer written for Keras 2 (`layers.experimental`): under Keras 3 it cannot be built, and
    the verdict says how to run it where Keras 2 is."""
    body = _LAYER.replace("        super().__init__()\n",
                          "        super().__init__()\n"
                          "        self.rescale = tf.keras.layers.experimental.preprocessing.Rescaling(1.0)\n")
    return [("legacy.py", body.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n",
             body.format(body="tf.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n")]


@pytest.mark.slow
def test_a_keras_2_api_is_verified_under_keras_2(verified):
    (units,) = verified[_keras_2_api]
    result = units["Squash"]
    assert result["verdict"] == "verified" and result["keras"] == "2", result
    assert "`experimental` is a Keras 2 API" in result["reason"], result


@_batched
def _keras_2_name(folder: Path) -> Items:
    """A layer named as Keras 2 allowed (`block/squash`), which Keras 3 refuses in its own code."""
    body = _LAYER.replace("        super().__init__()\n", "        super().__init__(name='block/squash')\n")
    return [("named.py", body.format(body="np.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n",
             body.format(body="tf.tanh(tf.matmul(x, self.w))") + "\nSquash(3)\n")]


@pytest.mark.slow
def test_a_name_keras_3_refuses_is_verified_under_keras_2(verified):
    (units,) = verified[_keras_2_name]
    result = units["Squash"]
    assert result["verdict"] == "verified" and result["keras"] == "2", result
    assert result["none_before"] and not result["none_after"], result
    assert "cannot contain character `/`" in result["reason"], result


_UNDER_3 = "Keras 3 refuses it (last error: ValueError: a Keras 3 error)"


def _refused_by_keras_3() -> tuple[list, dict]:
    files = [{"units": [{"label": "Squash"}, {"label": "Other"}]}]
    answer = {"device": "CPU", "files": [{
        "Squash": {"verdict": "inconclusive", "reason": _UNDER_3, "keras_2_retry": True},
        "Other": {"verdict": "inconclusive", "reason": "needs einops, which is not installed"}}]}
    return files, answer


def test_a_unit_keras_3_refused_stays_inconclusive_without_keras_2(monkeypatch):
    monkeypatch.setattr(runner, "has_keras_2", lambda python: False)
    monkeypatch.setattr(runner, "_answer", lambda *a, **k: pytest.fail("nothing to run under Keras 2"))
    files, answer = _refused_by_keras_3()
    found = runner._under_keras_2(files, answer, None, "auto", 60, "")["files"][0]
    assert found["Squash"] == {"verdict": "inconclusive", "reason": _UNDER_3}


@pytest.mark.parametrize("under_2", [
    {"verdict": "verified", "max_abs_diff": 0.0},
    {"verdict": "failed", "reason": "outputs differ"},
    {"verdict": "inconclusive", "reason": "could not build Squash"},
    {"verdict": "inconclusive", "reason": "Keras 3 refuses it (last error: TypeError: a Keras 2 error)"}])
def test_only_what_keras_3_refused_runs_again_under_keras_2(monkeypatch, under_2):
    """Only the unit Keras 3 refused goes to the Keras 2 child, with TF_USE_LEGACY_KERAS=1; its
    verdict there replaces "inconclusive" and names Keras 2, unless it is inconclusive too."""
    asked = []

    def answer(files, python, device, timeout, folder, env=None):
        asked.append(([u["label"] for u in files[0]["units"]], env))
        return {"device": "CPU", "files": [{"Squash": dict(under_2)}]}

    monkeypatch.setattr(runner, "has_keras_2", lambda python: True)
    monkeypatch.setattr(runner, "_answer", answer)
    files, before = _refused_by_keras_3()
    found = runner._under_keras_2(files, before, None, "auto", 60, "")["files"][0]
    assert asked == [(["Squash"], {"TF_USE_LEGACY_KERAS": "1"})]
    assert found["Other"]["reason"] == "needs einops, which is not installed"
    if under_2.get("reason") == "could not build Squash":
        assert found["Squash"] == {"verdict": "inconclusive", "reason": (
            f"{_UNDER_3}; under Keras 2 (tf_keras) as well: could not build Squash")}
    elif under_2["verdict"] == "inconclusive":  # the same advice: only the error Keras 2 ended with
        assert found["Squash"]["reason"].endswith("as well: last error: TypeError: a Keras 2 error"), found
    else:
        assert found["Squash"]["verdict"] == under_2["verdict"] and found["Squash"]["keras"] == "2"
        assert f"as Keras 3 refused the original: {_UNDER_3}" in found["Squash"]["reason"]


def test_the_keras_2_hint_names_the_attribute_only_under_keras_3(monkeypatch):
    import types

    from tfgradfix.verify.child import _keras_2

    reason = "its definitions do not load: AttributeError: module 'keras.utils' has no attribute 'track_tf1_style_variables'"
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(__version__="3.15.1"))
    assert "`track_tf1_style_variables` is a Keras 2 API that Keras 3.15.1 does not have" in _keras_2(None, reason)
    other = "AttributeError: module 'tensorflow.keras.layers' has no attribute 'experimental'"
    assert "`experimental` is a Keras 2 API" in _keras_2(None, other)
    assert _keras_2(None, "AttributeError: 'Foo' object has no attribute 'bar'").endswith("'bar'")
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(__version__="2.15.0"))
    assert _keras_2(None, reason) == reason


_OFFSET = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    class LearnedOffset(tf.keras.layers.Layer):
        def __init__(self, start):
            super().__init__()
            assert start.ndim == 1
            self.start = start

        def build(self, input_shape):
            {make}

        def call(self, x):
            return x + tf.broadcast_to(self.offset, tf.shape(x))


    class Head(tf.keras.Model):
        def __init__(self, config):
            super().__init__()
            self.offset = LearnedOffset(tf.zeros(config.width))
""")


@_batched
def _initial_value_argument(folder: Path) -> Items:
    """A layer made from a tensor (its variable's start) that the project computes at run time:
    no literal call, and the enclosing model needs a config object. The constructor gets a float
    vector for a parameter named as a value, once a size does not do."""
    original = _OFFSET.format(make="self.offset = tf.Variable(self.start)")
    fixed = _OFFSET.format(make="self.offset = self.add_weight(shape=self.start.shape, "
                                "initializer=tf.keras.initializers.Constant(self.start))")
    return [("offset.py", original, fixed)]


@pytest.mark.slow
def test_a_layer_made_from_an_initial_value_is_built_with_a_vector(verified):
    (units,) = verified[_initial_value_argument]
    assert units["LearnedOffset"]["verdict"] == "verified", units


_SWITCHED = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    class Resampled(tf.keras.layers.Layer):
        def __init__(self, units, up, down):
            super().__init__()
            assert not (up and down)
            self.units = units

        def build(self, input_shape):
            self.w = tf.Variable(tf.ones((input_shape[-1], self.units)))

        def call(self, x):
            return {body}


    class Net(tf.keras.Model):
        def __init__(self, config):
            super().__init__()
            self.block = Resampled(units=config.width, up=False, down=False)
""")


@_batched
def _call_with_run_time_arguments(folder: Path) -> Items:
    """The project's only call gives `up` and `down` (literals) and `units` from a config known at
    run time; sizes guessed for all three trip the constructor's check. The call's literals, with
    the size guessed, build it."""
    return [("switched.py", _SWITCHED.format(body="tf.matmul(x, self.w)"),
             _SWITCHED.format(body="tf.matmul(x, self.w)").replace(
                 "self.w = tf.Variable(tf.ones((input_shape[-1], self.units)))",
                 'self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")'))]


@pytest.mark.slow
def test_a_call_known_only_in_part_builds_with_its_literal_arguments(verified):
    (units,) = verified[_call_with_run_time_arguments]
    assert units["Resampled"]["verdict"] == "verified", units


@_batched
def _channels_first(folder: Path) -> Items:
    """A convolution in NCHW, which TensorFlow runs only on a GPU."""
    layer = textwrap.dedent("""
        import numpy as np
        import tensorflow as tf


        class ChannelsFirst(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.w = {make}

            def call(self, x):
                return tf.nn.conv2d(x, self.w, strides=1, padding="SAME", data_format="NCHW")


        ChannelsFirst()(tf.zeros((2, 3, 8, 8)))
    """)
    return [("nchw.py", layer.format(make="tf.Variable(tf.ones((3, 3, 3, 4)))"),
             layer.format(make='self.add_weight(shape=(3, 3, 3, 4), initializer="ones")'))]


@pytest.mark.slow
def test_an_op_only_a_gpu_runs_is_inconclusive_on_the_cpu_saying_so(verified):
    (units,) = verified[_channels_first]
    result = units["ChannelsFirst"]
    # TensorFlow builds with oneDNN run NCHW convolutions on CPUs that support it (AVX-512):
    # there the op runs and the fix verifies, as on a GPU.
    if result["device"] == "CPU" and result["verdict"] != "verified":
        assert result["verdict"] == "inconclusive", result
        assert result["reason"].startswith("needs a GPU: The Conv2D op currently only supports"), result
    else:
        assert result["verdict"] == "verified", result


def test_the_reason_of_an_error_keras_wrapped_is_its_cause():
    from tfgradfix.verify.child import Inconclusive, _first_line, _needs

    error = RuntimeError("Exception encountered when calling Block.call().\n\n\x1b[1m{{function_node __wrapped__Conv2D_"
                         "device_/job:localhost/replica:0/task:0/device:CPU:0}} The Conv2D op currently only supports "
                         "the NHWC tensor format on the CPU. [Op:Conv2D]\x1b[0m\n\nArguments received by Block.call():")
    assert _first_line(error).startswith("The Conv2D op currently only supports the NHWC tensor format on the CPU.")
    with pytest.raises(Inconclusive, match="^needs a GPU: The Conv2D op"):
        _needs(error)
    _needs(ValueError("Exception encountered when calling Block.call().\n\nshapes (2, 3) and (4, 5) differ"))
    traced = TypeError('in user code:\n\n    File "nb.py", line 9, in call  *\n        r, f = tf.unstack(y)\n\n'
                       '    ValueError: Cannot infer argument `num` from shape (2, 4)\n')
    assert _first_line(traced) == "ValueError: Cannot infer argument `num` from shape (2, 4)"


def test_a_function_that_returns_the_model_it_makes_is_a_model_factory_whatever_its_name():
    import ast

    from tfgradfix.verify.plan import _returns_a_model

    made = ast.parse("def generate_PINN(n, L):\n    net = tf.keras.Sequential()\n    net.add(Dense(n))\n    return net\n")
    direct = ast.parse("def make_layers(n):\n    return keras.Model(inputs, outputs)\n")
    data = ast.parse("def trainingdata(n):\n    x = np.ones(n)\n    return x\n")
    assert _returns_a_model(made.body[0]) and _returns_a_model(direct.body[0])
    assert not _returns_a_model(data.body[0])


@pytest.mark.slow
def test_findings_left_after_a_partial_fix_keep_their_verdicts(tmp_path):
    """The block whose fix failed keeps its finding, and the JSON says why it was not written."""
    (tmp_path / "script.py").write_text(_TWO_BLOCKS)
    result = tfgradfix("--fix", "--verify", "--output-format", "json", "script.py", cwd=tmp_path)
    (left,) = json.loads(result.stdout)["findings"]
    assert left["verification"]["verdict"] == "failed", left


@_batched
def _wrong_fix_under_dropout(folder: Path) -> Items:
    """A fix that scales the loss, in a step with dropout on: the original run again the same way
    gives its loss back (its masks are seeded), so the difference is the fix's."""
    original = _NOISY.format(noise="", gain=_UNTRACKED_GAIN, extra="", square="np.square")
    wrong = _NOISY.format(noise="", gain=_UNTRACKED_GAIN, extra="", square="1.1 * tf.square")
    return [("noisy.py", original, wrong)]


@pytest.mark.slow
def test_a_wrong_fix_of_a_step_with_dropout_still_fails(verified):
    (units,) = verified[_wrong_fix_under_dropout]
    result = units["train_step"]
    assert result["verdict"] == "failed", result
    assert result["reason"].startswith("the first loss differs:") and "random" not in result["reason"], result


_BRANCHED = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    class Head(tf.keras.layers.Layer):
        def __init__(self, units, scale="none"):
            super().__init__()
            self.dense = tf.keras.layers.Dense(units)
            if scale == "learned":
                self.scale = {scale}
            else:
                self.scale = None

        def call(self, x):
            y = self.dense(x)
            return y if self.scale is None else y * self.scale


    Head(3)
""")


@_batched
def _fix_on_a_branch_not_taken(folder: Path) -> Items:
    """The fix is on a branch the project's call (and so the verifier) never takes: outputs and
    gradients agree because nothing of the fix ran, which is no evidence for it. (Behind an option
    off by default, `learned_scale=False`, the verifier would turn it on: verify_shapes/option.py.)"""
    return [("branched.py", _BRANCHED.format(scale="tf.Variable(1.0)"),
             _BRANCHED.format(scale='self.add_weight(shape=(), initializer="ones")'))]


@pytest.mark.slow
def test_a_fix_that_never_ran_is_inconclusive(verified):
    (units,) = verified[_fix_on_a_branch_not_taken]
    result = units["Head"]
    assert result["verdict"] == "inconclusive", result
    assert result["reason"].startswith("the code the fix changed never ran (`self.scale = self.add_weight(shape=(), "
                                       "initializer='ones')` in branched.py)"), result


def test_a_fix_only_in_a_method_calling_the_layer_never_runs_is_run_through_its_training_function():
    """`Actor.sample` (NumPy in the model's own sampling method) is not reached by calling the
    layer; `train_step_example()` runs it."""
    path = FIXTURES / "TGF101" / "model_method.py"
    fixed = path.with_name("model_method.fixed.py").read_text()
    assert changed_units(path.read_text(), fixed) == [Unit("function", "train_step_example", covers=("Actor",))]



@pytest.mark.slow
def test_a_fix_in_a_namespace_package_is_run_through_the_layer_that_imports_it(tmp_path):
    """`networks/` has no `__init__.py` (PEP 420): `from networks.ops import squash` still
    names the project's file, so the fix is run through `Head` instead of the unit needing
    'networks, which is not installed'."""
    _, _, verdicts = _verify_project_json(tmp_path, "namespace_packages")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["covers"] == ["squash"], verdict
    assert verdict["none_before"] == ["kernel"] and not verdict["none_after"], verdict


@pytest.mark.slow
def test_a_training_function_in_a_namespace_folder_is_handed_a_model_of_a_sibling_folder(tmp_path):
    """verify_sibling_models: `utils/train.py` takes a model; the only one is `models/classifier.py`,
    which `main.py` at the root imports beside `utils.train`. The project's root is that folder, not
    `utils/`, so the model is found (the unit was "the project has no model the verifier can build")."""
    _, _, verdicts = _verify_project_json(tmp_path, "verify_sibling_models")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["model"] == "Classifier", verdict


@pytest.mark.slow
def test_a_module_importing_the_projects_packages_from_a_subfolder_loads(tmp_path):
    """setup_root: `algorithms/gas/gas.py` imports `layers.layers` by its path from the `setup.py`
    root; the verifier wrote it under its own stem and the unit "needed layers.layers"."""
    _, _, verdicts = _verify_project_json(tmp_path, "setup_root")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict


_TWO_HEADS = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf


    def make_scaler():
        class Head(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.scale = tf.Variable(tf.ones((int(input_shape[-1]),)))

            def call(self, x):
                return x * self.scale

        return tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(4), Head()])


    def make_squasher():
        class Head(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(int(input_shape[-1]), 2))

            def call(self, x):
                return np.tanh(tf.matmul(x, self.kernel))

        return tf.keras.Sequential([tf.keras.Input((4,)), Head()])
""")


@pytest.mark.slow
def test_two_classes_of_one_name_in_two_factories_are_two_units(tmp_path):
    """Names, not identities: each factory's `Head` is its own unit, built only through its own
    factory (the squasher's finding took the scaler's verdict: "verified through make_scaler")."""
    (tmp_path / "heads.py").write_text(_TWO_HEADS)
    result = tfgradfix("--verify", "--unsafe-fixes", "--output-format", "json", "heads.py", cwd=tmp_path)
    verdicts = {f["symbol"]: f["verification"] for f in json.loads(result.stdout)["findings"]}
    assert verdicts["make_scaler.Head.build"]["through"] == "make_scaler", verdicts
    assert verdicts["make_squasher.Head.call"]["through"] == "make_squasher", verdicts
    assert all(v["verdict"] == "verified" for v in verdicts.values()), verdicts


@pytest.mark.slow
def test_a_file_given_alone_is_reached_as_its_importers_spell_it(tmp_path):
    """verify_single_file: `models/transform.py` given alone; `models/network.py` imports it as
    `models.transform`, so the project runs from the folder above `models/`, where `utils` is too
    (the unit "needed utils, which is not installed")."""
    root = tmp_path / "verify_single_file"
    shutil.copytree(FIXTURES / "projects" / "verify_single_file", root)
    result = tfgradfix("--verify", "--output-format", "json", "models/transform.py", cwd=root)
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["verification"]["verdict"] == "verified", finding["verification"]


@pytest.mark.slow
def test_a_module_importing_folders_by_their_path_from_the_working_folder_loads(tmp_path):
    """run_from_root: `models/blocks/block.py` imports `models.blocks.helpers`, which only running
    from the repository root finds (no setup.py, no `__init__.py`); the unit "needed models"."""
    _, _, verdicts = _verify_project_json(tmp_path, "run_from_root")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["none_before"], verdict


@pytest.mark.slow
def test_a_subclass_of_another_modules_plain_trainer_runs_through_its_example(tmp_path):
    """verify_plain_trainer: `Fitter(Trainer)`, Trainer a plain class of base.py; the changed
    step is a function a method returns. It runs through `train_step_example()`."""
    _, _, verdicts = _verify_project_json(tmp_path, "verify_plain_trainer")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["covers"] == ["Fitter"], verdict
    assert verdict["none_before"] == 2 and verdict["none_after"] == 0, verdict


@pytest.mark.slow
def test_a_package_reexporting_its_functions_keeps_those_imports_in_its_init(tmp_path):
    """verify_package: `ttnet/nn.py` reads `ttnet.glorot` through the package's `__init__`; its
    slice keeps that import (it kept none: "module 'ttnet' has no attribute 'glorot'")."""
    _, _, verdicts = _verify_project_json(tmp_path, "verify_package")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict


@pytest.mark.slow
def test_a_project_folder_named_tensorflow_leaves_the_installed_one_loaded(tmp_path):
    """verify_shadowing_folder: the repository keeps its examples in `tensorflow/` (a package);
    unloading the original side's tree unloaded the real TensorFlow, and the fixed side failed
    with "module 'tensorflow' has no attribute 'random'"."""
    _, _, verdicts = _verify_project_json(tmp_path, "verify_shadowing_folder")
    (verdict,) = verdicts.values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict


@pytest.mark.slow
def test_a_plain_class_without_a_runner_says_what_to_add(tmp_path):
    root = tmp_path / "plain"
    shutil.copytree(FIXTURES / "projects" / "verify_plain_trainer", root)
    train = root / "train.py"
    train.write_text(train.read_text().split("\n\ndef train_step_example")[0] + "\n")
    document = json.loads(tfgradfix("--verify", "--output-format", "json", ".", cwd=root).stdout)
    (finding,) = document["findings"]
    verdict = finding["verification"]
    assert verdict["verdict"] == "inconclusive", verdict
    assert verdict["reason"].startswith("Fitter is a plain class (bases: Trainer)"), verdict
    assert "train_step_example()" in verdict["reason"], verdict


@pytest.mark.slow
def test_verify_shapes_arguments_forwarded_to_a_project_base(verified):
    forwarded = _shape_verdicts(verified)["forwarded"]
    # `ScaledSolver(*args, **kwargs)` is built with Solver's `lower` and `upper` guessed.
    assert forwarded["ScaledSolver"]["verdict"] == "verified", forwarded
    assert forwarded["ScaledSolver"]["untracked_before"] == 1, forwarded
    # Its coefficient is read by no call of the model, before the fix or after: not a failure.
    identified = forwarded["IdentifiedSolver"]
    assert identified["verdict"] == "inconclusive", identified
    assert "IdentifiedSolver's call does not read it, or reads it through a `stop_gradient`, before the fix or after" \
        in identified["reason"], identified


@pytest.mark.slow
def test_verify_shapes_a_base_argument_the_installed_keras_refuses_is_named_and_runs_under_keras_2(verified):
    (verdict,) = _shape_verdicts(verified)["positional_name"].values()
    assert verdict["verdict"] == "verified" and verdict["keras"] == "2", verdict
    assert ("as Keras 3 refused the original: GaussianPolicy's own __init__ makes a call the installed "
            "Keras refuses (TypeError") in verdict["reason"], verdict
    assert "--python" in verdict["reason"], verdict


@pytest.mark.slow
def test_verify_shapes_definitions_the_installed_keras_refuses_say_so_and_run_under_keras_2(verified):
    (verdict,) = _shape_verdicts(verified)["keras2_optimizer"].values()
    assert verdict["verdict"] == "verified" and verdict["keras"] == "2", verdict
    assert "its definitions do not load: ValueError" in verdict["reason"], verdict
    assert "before any fix" in verdict["reason"] and "--python" in verdict["reason"], verdict


@pytest.mark.slow
def test_verify_shapes_a_stem_that_needs_larger_images(verified):
    (verdict,) = _shape_verdicts(verified)["deep_stem"].values()
    assert verdict["verdict"] == "verified", verdict
    assert "12 variables (kernel, bias)" in describe("Stem", verdict), describe("Stem", verdict)


def test_the_trees_namespace_packages_are_unloaded_without_error(tmp_path, monkeypatch):
    """A namespace package (no `__init__.py`) recomputes its `__path__` from its parent's entry in
    sys.modules: unloading `models` before `models.inception` raised KeyError: 'models', and the
    unit's verdict was that KeyError (LinRenHong's Custom-models, held-out set 26)."""
    from tfgradfix.verify import child

    (tmp_path / "models" / "inception").mkdir(parents=True)
    (tmp_path / "models" / "inception" / "net.py").write_text("SIZE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.import_module("models.inception.net")
    child._purge(str(tmp_path))
    assert not [name for name in sys.modules if name == "models" or name.startswith("models.")]


def test_the_slice_keeps_a_definition_its_name_is_rebound_from():
    """`Net = Net()` (a lesson makes its model under the class's name) and `f = wrap(f)` read the
    definition they rebind: it is kept, before them (set 24's QiuHongHao123/tensorflow2.0_GAN:
    'NameError: name Mynetwork is not defined')."""
    from tfgradfix.verify.slicer import ModuleTable

    table = ModuleTable("def wrap(g):\n    return g\n\n\nclass Net:\n    pass\n\n\nNet = Net()\n\n\n"
                        "def f():\n    return 1\n\n\nf = wrap(f)\n")
    namespace: dict = {}
    exec(table.slice(["Net", "f"]).code, namespace)
    assert type(namespace["Net"]).__name__ == "Net" and namespace["f"]() == 1


@pytest.mark.slow
def test_verify_shapes_a_constructor_that_writes_to_home_and_reads_a_file_beside_it(verified):
    (verdict,) = _shape_verdicts(verified)["home_folder"].values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict
    assert not Path("~/tmp/tfgradfix_runner").expanduser().exists()


def test_the_tree_takes_small_configuration_files_beside_a_module(tmp_path):
    from tfgradfix.analysis.project import ProjectIndex
    from tfgradfix.verify import plan

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    module = tmp_path / "pkg" / "model.py"
    module.write_text("import os\nSETTINGS = os.path.join(os.path.dirname(__file__), 'conf.yaml')\n")
    (tmp_path / "pkg" / "conf.yaml").write_text("units: 3\n")
    (tmp_path / "pkg" / "weights.bin").write_bytes(b"\0" * 10)
    project = plan.Project(tmp_path, ProjectIndex.build([str(module)]))
    files = plan.build_tree(project, [(module, {"SETTINGS"})]).files
    assert files["pkg/conf.yaml"] == "units: 3\n" and "pkg/weights.bin" not in files, files


@pytest.mark.slow
def test_verify_shapes_a_holder_of_variables_without_call(verified):
    (verdict,) = _shape_verdicts(verified)["holder"].values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 1, verdict
    assert verdict["reason"].startswith("no call to run"), verdict


@_batched
def _holder_changed(folder: Path) -> Items:
    """verify_shapes/holder with a wrong fix: the weight is tracked, but starts at 0, not 0.5."""
    original = (SHAPES / "holder.py").read_text()
    wrong = original.replace('tf.Variable(kwargs.get("initial", 0.5), dtype=tf.float32)',
                             'self.add_weight(name="log_alpha", shape=(), initializer="zeros")')
    assert wrong != original
    return [(str(folder / "holder.py"), original, wrong)]


@pytest.mark.slow
def test_a_holder_whose_fix_changes_the_value_fails(verified):
    (units,) = verified[_holder_changed]
    (verdict,) = units.values()
    assert verdict["verdict"] == "failed" and "no tracked variable of its shape and value" in verdict["reason"], verdict


@_batched
def _holder_partly_fixed(folder: Path) -> Items:
    """A holder of two untracked weights whose fix migrates only one (held-out DN_PINN: three loss
    weights, two reported): the other stays untracked, which the fix did not change."""
    original = (SHAPES / "holder.py").read_text().replace(
        "        self.log_alpha =", "        self.scale = tf.Variable(2.0)\n        self.log_alpha =")
    fixed = original.replace('tf.Variable(kwargs.get("initial", 0.5), dtype=tf.float32)',
                             'self.add_weight(name="log_alpha", shape=(), initializer=tf.keras.initializers.Constant(0.5))')
    assert "self.scale" in original and fixed != original
    return [(str(folder / "holder.py"), original, fixed)]


@pytest.mark.slow
def test_a_holder_fixed_in_part_is_compared_like_for_like(verified):
    (units,) = verified[_holder_partly_fixed]
    (verdict,) = units.values()
    assert verdict["verdict"] == "verified" and verdict["untracked_before"] == 2, verdict
    assert "1 of the 2" in verdict["reason"] and "1 the fix did not touch stay untracked" in verdict["reason"], verdict


_COMPILED_LOSS = '''import numpy as np
import tensorflow as tf


def masked_rmse(y_true, y_pred):
    return {body}


model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(3)])
model.compile(optimizer="adam", loss=masked_rmse)
'''


@_batched
def _compiled_loss(folder: Path) -> Items:
    original = _COMPILED_LOSS.format(body="np.sqrt(np.sum(np.square(y_true - y_pred.numpy())) / y_pred.shape[1])")
    right = _COMPILED_LOSS.format(body="tf.sqrt(tf.reduce_sum(tf.square(y_true - y_pred)) / y_pred.shape[1])")
    scaled = _COMPILED_LOSS.format(body="tf.sqrt(tf.reduce_sum(tf.square(y_true - y_pred)) / 2.0)")
    # `y_true.numpy()` stays: the loss raises under tf.function before and after the fix.
    eager_only = _COMPILED_LOSS.format(body="np.sum(np.square(y_true.numpy() - y_pred.numpy()))")
    eager_fixed = _COMPILED_LOSS.format(body="tf.reduce_sum(tf.square(y_true.numpy() - y_pred))")
    return [("right.py", original, right), ("scaled.py", original, scaled), ("eager.py", eager_only, eager_fixed)]


@pytest.mark.slow
def test_a_loss_handed_to_compile_is_run_on_synthetic_targets_and_predictions(verified):
    """A loss given to `compile(loss=...)` is a unit of its own: the same value, a gradient for
    the predictions where the original had None, and it traces as `model.fit` runs it; a check
    the original fails the same way (traced) is said, not failed."""
    right, scaled, eager = verified[_compiled_loss]
    assert right["masked_rmse"]["verdict"] == "verified", right
    assert right["masked_rmse"]["none_gradients"] == [1, 0]
    assert scaled["masked_rmse"]["verdict"] == "failed" and "the loss changed" in scaled["masked_rmse"]["reason"]
    assert eager["masked_rmse"]["verdict"] == "verified", eager
    assert "raises before" in eager["masked_rmse"]["reason"] and "only its eager run" in eager["masked_rmse"]["reason"]


@_batched
def _fraction_and_capital_arguments(folder: Path) -> Items:
    layer = ('import numpy as np\nimport tensorflow as tf\n\n\nclass Block(tf.keras.layers.Layer):\n'
             '    def __init__(self, units, dropout):\n        super().__init__()\n'
             '        self.dense = tf.keras.layers.Dense(units)\n        self.rate = dropout\n\n'
             '    def call(self, x):\n        return {body}\n')
    return [("block.py", layer.format(body="tf.keras.layers.Dropout(rate=self.rate)(self.dense(x))"),
             layer.format(body="self.dense(x)").replace("self.rate = dropout",
                                                         "self.rate = dropout\n        self.drop = tf.keras.layers.Dropout(rate=dropout)")
             .replace("return self.dense(x)", "return self.drop(self.dense(x))"))]


@pytest.mark.slow
def test_a_required_dropout_argument_gets_a_rate_below_one(verified):
    (units,) = verified[_fraction_and_capital_arguments]
    assert units["Block"]["verdict"] == "verified", units


def test_a_finding_in_a_file_whose_change_runs_nowhere_takes_that_reason():
    """No `verification: null` in the JSON: a finding of a file no unit runs says why."""
    from tfgradfix.verify.units import NOTHING, verdict_for

    why = {"verdict": "not_runnable", "reason": "nothing that runs `squash` ...", "to_add": "add a function"}
    assert verdict_for({NOTHING: why}, "squash", 5) is why
    assert verdict_for({NOTHING: why}, "", 12) is why


_SAMPLER = '''import tensorflow as tf


class Sampler(tf.keras.layers.Layer):
    """Draws from a learned Gaussian on every call."""

    def __init__(self, units):
        super().__init__()
        self.mean = {mean}
        self.log_std = {log_std}

    def call(self, x):
        noise = tf.random.normal(tf.shape(x)[:1])
        return x * self.mean + tf.exp(self.log_std) * noise[:, None]


Sampler(4)
'''


@_batched
def _sampling_layer(folder: Path) -> Items:
    original = _SAMPLER.format(mean="tf.Variable(tf.ones((units,)))", log_std="tf.Variable(tf.zeros((units,)))")
    fixed = _SAMPLER.format(mean='self.add_weight(shape=(units,), initializer="ones")',
                            log_std='self.add_weight(shape=(units,), initializer="zeros")')
    scaled = fixed.replace("x * self.mean +", "2.0 * x * self.mean +")
    return [("right.py", original, fixed), ("wrong.py", original, scaled)]


@pytest.mark.slow
def test_a_layer_that_samples_on_every_call_is_compared_under_one_seed(verified):
    """A layer that draws random numbers on every call, before and after its fix, makes no
    variable per call: its outputs are compared after seeding both runs alike (the right fix
    verifies, a fix that changes the output fails), not taken for a layer still made per call."""
    right, wrong = verified[_sampling_layer]
    assert right["Sampler"]["verdict"] == "verified", right
    assert "under one seed" in right["Sampler"]["reason"]
    assert wrong["Sampler"]["verdict"] == "failed" and "outputs differ under one seed" in wrong["Sampler"]["reason"]


@pytest.mark.slow
def test_a_layer_taking_the_parsed_options_is_built_with_the_projects_defaults(tmp_path):
    """verify_settings: `ScaledHead(config)` reads `config.device`, `.hidden_units`, `.heads` and
    `.no_bias`, which argparse (`--hidden-units`, a string default converted by `type=int`) and absl
    flags define: built with those defaults, it verifies, and says so. `Projector(args)` reads an
    option no definition gives: inconclusive, naming it. `Trainer(args)` raises under the defaults
    (its `--cell` default is a cell its table lacks): inconclusive, naming that error, not a made-up build's."""
    root, document, verdicts = _verify_project_json(tmp_path, "verify_settings")
    head = verdicts[("gan/layers.py", "ScaledHead.__init__")]
    assert head["verdict"] == "verified", head
    assert head["options"] == ("the project's option defaults device='CPU', hidden_units=8, heads=2, "
                               "no_bias=False"), head
    projector = verdicts[("gan/layers.py", "Projector.__init__")]
    assert projector["verdict"] == "inconclusive", projector
    assert "uses `args.projection_dim`" in projector["reason"]
    assert "the defaults of the project's options and flags were tried, and none is `projection_dim`" in \
        projector["reason"]
    trainer = verdicts[("gan/trainer.py", "Trainer.train_batch")]
    assert trainer["verdict"] == "inconclusive", trainer
    assert trainer["reason"] == ("could not build Trainer with the defaults of the project's options and flags: "
                                 "KeyError: 'lstm'"), trainer


def test_the_projects_option_defaults_are_read_from_argparse_and_absl_definitions(tmp_path):
    from tfgradfix.analysis.project import ProjectIndex
    from tfgradfix.verify.plan import Project, settings

    (tmp_path / "cli.py").write_text(
        "import argparse\np = argparse.ArgumentParser()\n"
        "p.add_argument('--lr', type=float, default='0.5')\n"
        "p.add_argument('-u', '--n-units', dest='units', default=UNITS)\n"
        "p.add_argument('--verbose', action='store_true')\n"
        "p.add_argument('--fast', action='store_false')\n"
        "p.add_argument('--path')\n", encoding="utf-8")
    (tmp_path / "flags_def.py").write_text(
        "from absl import flags\nflags.DEFINE_integer('lr', 9, 'a second definition: the first wins')\n"
        "flags.DEFINE_enum(name='mode', default='a', enum_values=['a', 'b'], help='')\n", encoding="utf-8")
    found = settings(Project(tmp_path, ProjectIndex.build([str(tmp_path)])))
    assert found == {"lr": 0.5, "verbose": False, "fast": True, "path": None, "mode": "a"}, found


@pytest.mark.slow
def test_a_repository_root_with_a_stray_init_under_a_dashed_name_is_no_package(tmp_path):
    """stray_root_init cloned as `my-repo/`: `corelib.layers` imports `corelib.ops` absolutely, as it
    runs from the root; the root's own `__init__.py` does not make `my-repo` a package to import."""
    root = tmp_path / "my-repo"
    shutil.copytree(FIXTURES / "projects" / "stray_root_init", root)
    result = tfgradfix("--verify", "--output-format", "json", ".", cwd=root)
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["code"] == "TGF203" and finding["verification"]["verdict"] == "verified", finding


@pytest.mark.slow
def test_a_relative_import_in_a_namespace_package_counts_from_the_imported_name(tmp_path):
    """`pkg/` has no `__init__.py` (PEP 420) and `main.py` imports `pkg.layer`, whose `from .utils import *`
    is `pkg.utils`: the verifier's slice holds it, and the layer runs."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "utils.py").write_text("import tensorflow as tf\n\n\ndef act(x):\n    return tf.nn.relu(x)\n")
    (tmp_path / "pkg" / "layer.py").write_text(
        "import tensorflow as tf\nfrom .utils import *\n\n\nclass Gain(tf.keras.layers.Layer):\n"
        "    def __init__(self, **kwargs):\n        super().__init__(**kwargs)\n        self.g = tf.Variable(1.0)\n\n"
        "    def call(self, x):\n        return act(x) * self.g\n")
    (tmp_path / "main.py").write_text("from pkg.layer import Gain\n")
    result = tfgradfix("--verify", "--output-format", "json", ".", cwd=tmp_path)
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["verification"]["verdict"] == "verified", finding


@pytest.mark.slow
def test_verify_shapes_a_weight_that_scales_the_input_element_by_element(verified):
    """PositionNorm's weights are `(steps, features)` and multiply the input: a batch of that shape."""
    (verdict,) = _shape_verdicts(verified)["position_scale"].values()
    assert verdict["verdict"] == "verified" and verdict["input"] == "float32 (2, 4, 4)", verdict


@pytest.mark.slow
def test_verify_shapes_a_weight_that_broadcasts_over_the_batch_and_time(verified):
    """ChannelNorm's weights are `(1, channels, 1)` (held-out round G's Conv-TasNet norms): a batch
    with the channels on axis 1."""
    (verdict,) = _shape_verdicts(verified)["channel_scale"].values()
    assert verdict["verdict"] == "verified" and verdict["input"] == "float32 (2, 4, 8)", verdict


@pytest.mark.slow
def test_verify_shapes_a_wrapped_layer_argument_is_stood_for_by_a_function(verified):
    """LayerScale(dim, fn, depth) calls the `fn` it wraps (held-out round H's CaiT): 'int' object is not
    callable, then a function that returns its input."""
    (verdict,) = _shape_verdicts(verified)["wrapper"].values()
    assert verdict["verdict"] == "verified", verdict


@pytest.mark.slow
def test_verify_shapes_a_shape_argument_is_tried_as_a_tuple_of_sizes(verified):
    """AffineTransform(shape) hands its argument to `tf.random.normal` (held-out round F's ALAE): a made-up
    number is no shape, then a tuple of sizes is."""
    (verdict,) = _shape_verdicts(verified)["shape_argument"].values()
    assert verdict["verdict"] == "verified", verdict


@pytest.mark.slow
@pytest.mark.parametrize("module", [
    "initializer_argument",  # ResBlock(dim, k_init) hands k_init to kernel_initializer= (held-out CycleGAN)
    "activation_argument",  # self.activation(...) of activation=None, which every caller gives (a course)
    "eighth_of_filters",  # SelfAttention(filters) reshaping to channels // 8 (held-out SAGAN-style)
    "filled_settings",  # FMModel(parameters) of a dict filled key by key (held-out round J's DeepFM)
    "asserted_size",  # build() asserting the size its message names, on three tensors (round J's Conformer)
    "iterated_sizes",  # `for units in hidden_units:` in the constructor: a tuple of sizes
])
def test_verify_shapes_arguments_guessed_wrong_by_the_call_are_guessed_again(verified, module):
    """A made-up argument or input the call refuses (no initializer, None called, zero-sized projections,
    a size an assertion names, a settings dict read as `{}`) is replaced by what the call asked for or the
    project gave: inconclusive before, now verified."""
    verdicts = list(_shape_verdicts(verified)[module].values())
    assert verdicts and all(v["verdict"] == "verified" for v in verdicts), verdicts


@pytest.mark.slow
def test_verify_shapes_a_gradient_none_before_and_after_is_not_the_fixs_failure(verified):
    """tape.gradient(y, [weight, frozen, scale]) with `scale` unwatched (held-out round J's lesson): the fix
    brings `scale`'s gradient back; `frozen`'s stays None as before, which fails nothing."""
    (verdict,) = _shape_verdicts(verified)["several_sources"].values()
    assert verdict["verdict"] == "verified" and verdict["none_before"] == 2 and verdict["none_after"] == 1, verdict
    assert "stay None as before" in verdict["reason"], verdict


@pytest.mark.slow
def test_verify_shapes_two_inputs_of_token_ids_are_both_ids(verified):
    """Seq2Seq.call(encoder_input, decoder_input) looks both up in one `tf.Variable` table (held-out round
    I's poetry model): ids for both inputs, where floats could not be looked up."""
    (verdict,) = _shape_verdicts(verified)["two_id_inputs"].values()
    assert verdict["verdict"] == "verified" and verdict["input"].startswith("int32"), verdict


def test_a_gradient_the_fix_turns_none_fails_it_and_one_none_on_both_sides_does_not():
    """Matched by position in one `tape.gradient` call: a source None before and after is not the fix's
    (verified, said); a source that had a gradient and lost it fails the fix, whatever else came back."""
    import numpy as np

    from tfgradfix.verify import child

    def call(*values):
        return {"sources": len(values), "none": sum(v is None for v in values), "target": 1.0,
                "values": [None if v is None else np.full((2,), v) for v in values]}

    kept = child._compare_runs(np, [call(1.0, None, None)], [call(1.0, None, 4.0)], None, None, None)
    assert kept["verdict"] == "verified" and "stay None as before" in kept["reason"], kept
    lost = child._compare_runs(np, [call(1.0, None, None)], [call(None, 2.0, 4.0)], None, None, None)
    assert lost["verdict"] == "failed" and "None after the fix" in lost["reason"], lost
    unchanged = child._compare_runs(np, [call(1.0, None)], [call(1.0, None)], None, None, None)
    assert unchanged["verdict"] == "failed" and "still None" in unchanged["reason"], unchanged
