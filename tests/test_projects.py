"""Multi-module projects (fixtures/projects/<name>/): the CLI over a whole project finds
the bugs whose pieces sit in different modules, stays silent on the look-alikes, shows
and applies fixes across files, and the fixed projects train."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, tfgradfix
from tfgradfix.analysis.project import Kind, ProjectIndex

PROJECTS = FIXTURES / "projects"
NAMES = sorted(p.name for p in PROJECTS.iterdir() if (p / "expected.txt").exists())


def _tfgradfix(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return tfgradfix(*args, cwd=cwd)


def _reported(output: str) -> list[str]:
    """`path:line:col: CODE [*]` of each finding line of the text output."""
    lines = []
    for line in output.splitlines():
        head, _, rest = line.partition(": TGF")
        if rest and head.count(":") == 2:
            code, _, message = rest.partition(" ")
            mark = message[:3] if message.startswith(("[*]", "[?]")) else ""
            lines.append(f"{head}: TGF{code} {mark}".rstrip())
    return lines


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_project_findings(name, jobs):
    expected = (PROJECTS / name / "expected.txt").read_text().splitlines()
    run = _tfgradfix(PROJECTS / name, "-j", jobs, ".")
    assert _reported(run.stdout) == expected, run.stdout + run.stderr


def test_each_module_alone_misses_what_crosses_files(tmp_path):
    """The same code, each file checked with no project around it (copied apart), loses
    every cross-module finding: what the index adds is real."""
    alone = []
    for path in sorted((PROJECTS / "vision" / "visionkit").glob("*.py")):
        (tmp_path / path.stem).mkdir()
        shutil.copy(path, tmp_path / path.stem / path.name)
        alone.append(_reported(_tfgradfix(tmp_path / path.stem, path.name).stdout))
    assert alone == [[], [], [], [], []]


def test_a_single_file_resolves_its_imports():
    """pre-commit passes one file: the modules it imports are still read for its bases."""
    run = _tfgradfix(PROJECTS / "vision", "visionkit/blocks.py")
    assert _reported(run.stdout) == ["visionkit/blocks.py:14:22: TGF203 [*]"], run.stdout + run.stderr


def test_diff_spans_files():
    run = _tfgradfix(PROJECTS / "vision", "--diff", ".")
    headers = [line for line in run.stdout.splitlines() if line.startswith("+++ ")]
    assert headers == ["+++ b/visionkit/blocks.py", "+++ b/visionkit/ops.py"], run.stdout
    assert run.returncode == 1


def test_helper_also_called_off_the_path_is_not_fixed_safely(tmp_path):
    project = tmp_path / "seq2seq"
    shutil.copytree(PROJECTS / "seq2seq", project)
    before = (project / "seqlib" / "utils" / "np_ops.py").read_text()
    run = _tfgradfix(project, "--fix", ".")
    assert (project / "seqlib" / "utils" / "np_ops.py").read_text() == before, run.stdout
    assert "self.add_weight" in (project / "seqlib" / "models.py").read_text()
    # Without the off-path caller the same helper is fixed.
    train = project / "train.py"
    train.write_text(train.read_text().split("\n\ndef attention_report")[0] + "\n")
    _tfgradfix(project, "--fix", ".")
    assert "tf.exp(" in (project / "seqlib" / "utils" / "np_ops.py").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_fix_compiles_and_is_stable(tmp_path, name):
    project = tmp_path / name
    shutil.copytree(PROJECTS / name, project)
    _tfgradfix(project, "--fix", ".")
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    again = _tfgradfix(project, "--diff", ".")
    assert again.stdout == "", again.stdout
    left = _reported(_tfgradfix(project, ".").stdout)
    assert all(not line.endswith("[*]") for line in left), left


def test_index_of_the_vision_package():
    paths = [str(p) for p in (PROJECTS / "vision").rglob("*.py")]
    index = ProjectIndex.build(paths)
    assert index.module_for_path(str(PROJECTS / "vision" / "visionkit" / "ops.py")) == "visionkit.ops"
    assert index.class_kind("visionkit.models", "ResidualBlock") is Kind.KERAS_LAYER
    assert index.class_kind("visionkit.models", "TinyResNet") is Kind.KERAS_MODEL
    assert index.class_kind("visionkit.blocks", "RunningMeter") is Kind.PLAIN
    assert index.resolve("train", "TinyResNet").qualified == "visionkit.models.TinyResNet"
    assert index.resolve("visionkit.blocks", "channel_scale").qualified == "visionkit.ops.channel_scale"
    helper = index.function("visionkit.ops", "channel_scale")
    assert helper.creates_variables and not helper.calls_numpy
    assert index.function("visionkit.ops", "gram_matrix").calls_numpy
    method = index.method("visionkit.blocks", "ResidualBlock", "project")
    assert (method.module, method.name) == ("visionkit.base", "BaseBlock.project")
    assert index.imports_of("visionkit.blocks") == {"visionkit.base", "visionkit.ops"}


# -- with TensorFlow: the fixed projects train -------------------------------------------


def _import_fresh(root: Path, *modules: str):
    for name in list(sys.modules):
        if name.split(".")[0] in {m.split(".")[0] for m in modules}:
            del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        return [importlib.import_module(m) for m in modules]
    finally:
        sys.path.remove(str(root))


def _fixed_copy(tmp_path: Path, name: str) -> Path:
    project = tmp_path / name
    shutil.copytree(PROJECTS / name, project)
    run = _tfgradfix(project, "--fix", ".")
    assert run.returncode in (0, 1), run.stderr
    return project


@pytest.mark.slow
def test_fixed_vision_model_trains_every_variable(tmp_path):
    tf = pytest.importorskip("tensorflow")
    original, = _import_fresh(PROJECTS / "vision", "visionkit.models")
    x = tf.random.normal((3, 4))
    before = original.TinyResNet()
    before(x)
    untracked = {"alpha", "gamma"} & {v.name.split("/")[-1].split(":")[0] for v in before.trainable_variables}
    assert not untracked
    fixed, = _import_fresh(_fixed_copy(tmp_path, "vision"), "visionkit.models")
    model = fixed.TinyResNet()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    names = [v.name for v in model.trainable_variables]
    grads = tape.gradient(loss, model.trainable_variables)
    assert any("alpha" in n for n in names) and any("gamma" in n for n in names), names
    assert all(g is not None for g in grads), [n for n, g in zip(names, grads) if g is None]


@pytest.mark.slow
def test_fixed_agent_gets_the_entropy_gradient(tmp_path):
    tf = pytest.importorskip("tensorflow")

    def entropy_gradients(root):
        networks, rl_utils = _import_fresh(root, "networks", "rl_utils")
        tf.random.set_seed(0)
        model = networks.ActorCritic(3)
        states = tf.random.normal((5, 4))
        with tf.GradientTape() as tape:
            probs, _ = model(states)
            bonus = tf.reduce_mean(rl_utils.entropy(probs))
        return model, tape.gradient(bonus, model.trainable_variables)

    _, before = entropy_gradients(PROJECTS / "actor_critic")
    assert all(g is None for g in before)
    model, after = entropy_gradients(_fixed_copy(tmp_path, "actor_critic"))
    critic = {id(v) for v in model.critic.trainable_variables}
    actor = [g for v, g in zip(model.trainable_variables, after) if id(v) not in critic]
    assert actor and all(g is not None for g in actor)


def test_modules_of_one_name_in_two_folders_are_not_confused(tmp_path):
    """`ops.py` in two example folders: the tape of b/train.py calls b's own `ops.scale`,
    never a's (whose NumPy must not be reported for b's call)."""
    for folder, body in (("a", "    return np.tanh(x)\n"), ("b", "    return tf.tanh(x)\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ops.py").write_text(
            "import numpy as np\nimport tensorflow as tf\n\n\ndef scale(x):\n" + body)
    (tmp_path / "b" / "train.py").write_text(
        "import tensorflow as tf\n\nfrom ops import scale\n\n\ndef step(model, x):\n"
        "    with tf.GradientTape() as tape:\n        loss = tf.reduce_sum(scale(model(x)))\n"
        "    return tape.gradient(loss, model.trainable_variables)\n")
    run = _tfgradfix(tmp_path, ".")
    assert _reported(run.stdout) == [], run.stdout
    alone = _tfgradfix(tmp_path, "a", "b/train.py")
    assert _reported(alone.stdout) == [], alone.stdout


def test_a_script_in_a_package_folder_imports_the_module_beside_it(tmp_path):
    """`detector/train.py` runs from its own folder (`python train.py`), so `from boxes import
    get_boxes` is `detector/boxes.py` although `detector/` has an `__init__.py`; `viewer/boxes.py`, in
    another folder of scripts, is not on its path (its NumPy must not be reported for the tape of
    detector's training), while the module beside the script is followed."""
    for folder, body in (("viewer", "    return np.tanh(x)\n"), ("detector", "    return tf.tanh(x)\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "boxes.py").write_text(
            "import numpy as np\nimport tensorflow as tf\n\n\ndef get_boxes(x):\n" + body)
    (tmp_path / "viewer" / "show.py").write_text("from boxes import get_boxes\n\nprint(get_boxes(1.0))\n")
    (tmp_path / "detector" / "__init__.py").write_text("")
    train = ("import tensorflow as tf\n\nfrom boxes import get_boxes\n\n\ndef step(model, x):\n"
             "    with tf.GradientTape() as tape:\n        loss = tf.reduce_sum(get_boxes(model(x)))\n"
             "    return tape.gradient(loss, model.trainable_variables)\n")
    (tmp_path / "detector" / "train.py").write_text(train)
    run = _tfgradfix(tmp_path, ".")
    assert _reported(run.stdout) == [], run.stdout
    (tmp_path / "detector" / "boxes.py").write_text(
        "import numpy as np\nimport tensorflow as tf\n\n\ndef get_boxes(x):\n    return np.tanh(x)\n")
    run = _tfgradfix(tmp_path, ".")
    assert [line.split(":")[0] for line in _reported(run.stdout)] == ["detector/boxes.py"], run.stdout


def test_seed_state_of_a_model_in_another_module_is_in_variables_only(tmp_path):
    """The project index keeps which lists show a class's non-trainable variables: a model
    of another module with Dropout has them in `variables` (reported), not in `weights`, and
    not where the training script runs on TF 1.x."""
    (tmp_path / "nets.py").write_text(
        "import keras\n\n\nclass Head(keras.layers.Layer):\n    def __init__(self):\n"
        "        super().__init__()\n        self.drop = keras.layers.Dropout(0.2)\n"
        "        self.dense = keras.layers.Dense(1)\n\n\nclass Net(keras.Model):\n"
        "    def __init__(self):\n        super().__init__()\n        self.head = Head()\n")
    step = ("import tensorflow as tf\n\nfrom nets import Net\n\nnet = Net()\n\n\ndef step(x, optimizer):\n"
            "    with tf.GradientTape() as tape:\n        loss = tf.reduce_sum(net(x))\n"
            "    grads = tape.gradient(loss, net.{attr})\n    optimizer.apply_gradients(zip(grads, net.{attr}))\n")
    (tmp_path / "train.py").write_text(step.format(attr="variables"))
    assert [line.split()[1] for line in _reported(_tfgradfix(tmp_path, ".").stdout)] == ["TGF405"]
    (tmp_path / "train.py").write_text(step.format(attr="weights"))
    run = _tfgradfix(tmp_path, ".")
    assert _reported(run.stdout) == [], run.stdout
    # A training script on TF 1.x (`tf.contrib`) runs the model there: Keras 2's Dropout holds no seed.
    tf1 = step.format(attr="variables") + "\n\nwriter = tf.contrib.summary.create_file_writer('logs')\n"
    (tmp_path / "train.py").write_text(tf1)
    run = _tfgradfix(tmp_path, ".")
    assert _reported(run.stdout) == [], run.stdout


def test_a_layer_another_module_applies_is_not_taken_for_input_preprocessing(tmp_path):
    """Applied only to `keras.Input` in its own module, the NumPy layer loses nothing; once
    another module imports it (and applies it after a Dense layer), it is reported."""
    fixture = (FIXTURES / "TGF105" / "ok_numpy_augmentation_on_inputs.py").read_text()
    (tmp_path / "augment.py").write_text(fixture)
    assert _reported(_tfgradfix(tmp_path, ".").stdout) == []
    (tmp_path / "model.py").write_text(
        "import tensorflow as tf\n\nfrom augment import Jitter\n\n\ndef head(x):\n"
        "    return Jitter()(tf.keras.layers.Dense(4)(x))\n")
    assert [line.split()[1] for line in _reported(_tfgradfix(tmp_path, ".").stdout)] == ["TGF105"]


_SHAPE_LIST = (
    "import tensorflow as tf\n\n\ndef shape_list(x):\n    x = tf.convert_to_tensor(x)\n"
    "    if x.get_shape().dims is None:\n        return tf.shape(x)\n    static = x.get_shape().as_list()\n"
    "    shape = tf.shape(x)\n    ret = []\n    for i, dim in enumerate(static):\n        if dim is None:\n"
    "            dim = shape[i]\n        ret.append(dim)\n    return ret\n\n\n"
    "def scale(x):\n    return tf.reduce_mean(x) * x\n")
_FAN_IN_LAYER = (
    "import numpy as np\nimport tensorflow as tf\n\nfrom ops import {helper}\n\n\n"
    "class Scaled(tf.keras.layers.Layer):\n    def build(self, input_shape):\n"
    "        self.w = self.add_weight(shape=(input_shape[-1],))\n\n    def call(self, inputs):\n"
    "        x = inputs * self.w\n        fan_in = np.prod({helper}(x)[:-1])\n        return x / np.sqrt(fan_in)\n")


def test_what_a_shape_helper_of_another_module_returns_is_metadata(tmp_path):
    """t2t's `shape_list(x)`, defined in another module, returns shape metadata: NumPy on it
    loses no gradient. A helper of that module returning values computed from `x` does."""
    (tmp_path / "ops.py").write_text(_SHAPE_LIST)
    (tmp_path / "layer.py").write_text(_FAN_IN_LAYER.format(helper="shape_list"))
    assert _reported(_tfgradfix(tmp_path, ".").stdout) == []
    (tmp_path / "layer.py").write_text(_FAN_IN_LAYER.format(helper="scale"))
    assert any(" TGF101" in line for line in _reported(_tfgradfix(tmp_path, ".").stdout))


_SHAPE_HELPERS = {
    # BERT's `get_shape_list`: the static shape, its unknown dimensions replaced item by item
    "get_shape_list": ("def get_shape_list(tensor):\n    shape = tensor.shape.as_list()\n"
                       "    missing = [i for i, dim in enumerate(shape) if dim is None]\n"
                       "    if not missing:\n        return shape\n    dynamic = tf.shape(tensor)\n"
                       "    for index in missing:\n        shape[index] = dynamic[index]\n    return shape\n"),
    # the same as one comprehension
    "shape_of": ("def shape_of(tensor):\n    dynamic = tf.shape(tensor)\n"
                 "    return [dynamic[i] if dim is None else dim for i, dim in enumerate(tensor.shape.as_list())]\n"),
}


@pytest.mark.parametrize("helper", sorted(_SHAPE_HELPERS))
def test_a_shape_helper_filling_in_dimensions_returns_metadata(tmp_path, helper):
    """A shape helper that replaces the unknown dimensions of the static shape one by one
    (`shape[i] = dynamic[i]`), or in a comprehension, returns shape metadata too (BigBird's
    random-attention plan built from sequence lengths, round Z); one that returns `x` scaled does not."""
    (tmp_path / "ops.py").write_text("import tensorflow as tf\n\n\n" + _SHAPE_HELPERS[helper]
                                     + "\n\ndef scale(x):\n    return tf.reduce_mean(x) * x\n")
    (tmp_path / "layer.py").write_text(_FAN_IN_LAYER.format(helper=helper))
    assert _reported(_tfgradfix(tmp_path, ".").stdout) == []
    (tmp_path / "layer.py").write_text(_FAN_IN_LAYER.format(helper="scale"))
    assert any(" TGF101" in line for line in _reported(_tfgradfix(tmp_path, ".").stdout))


@pytest.mark.slow
def test_model_zoo_objects_are_what_their_classes_in_other_modules_make_them(tmp_path):
    """The plain MLP's `predict`/`weights` and the tf.Module's `variables` train as they
    are; the Keras student's `predict` in the tape is the bug, and the fix trains it."""
    tf = pytest.importorskip("tensorflow")

    def run(root):
        train, zoo = _import_fresh(root, "train", "zoo")
        tf.random.set_seed(0)
        x, y = tf.random.normal([8, 4]), tf.ones([8, 1])
        scratch, regressor = zoo.ScratchMLP([4, 8, 1]), zoo.LinearRegressor(4)
        losses = [train.fit_scratch(scratch, x, y), train.fit_regressor(regressor, x, y, tf.keras.optimizers.SGD(0.1))]
        assert all(loss is not None for loss in losses)
        student, teacher = zoo.ConvNet(3), zoo.ConvNet(3)
        student(x)
        before = [v.numpy().copy() for v in student.trainable_variables]
        train.distill(student, teacher, x, tf.keras.optimizers.SGD(0.5))
        return [not (b == a.numpy()).all() for b, a in zip(before, student.trainable_variables)]

    try:
        moved = run(PROJECTS / "model_zoo")
    except (ValueError, TypeError, AttributeError):  # Keras refuses gradients that are all None
        moved = [False]
    assert not any(moved)
    assert all(run(_fixed_copy(tmp_path, "model_zoo")))


def test_an_import_names_the_file_the_index_reads_for_it(tmp_path):
    """The one import-to-file resolution (the verifier asks it too): relative imports,
    `from . import ops` (a submodule), a script's sibling, a library, a text not saved."""
    vision = PROJECTS / "vision"
    index = ProjectIndex.build([str(vision / "visionkit" / "base.py")])
    base = str(vision / "visionkit" / "base.py")
    assert Path(index.file_of_import(base, "ops", 1)) == (vision / "visionkit" / "ops.py").resolve()
    assert Path(index.file_of_import(base, "", 1)) == (vision / "visionkit" / "__init__.py").resolve()
    assert Path(index.file_of_import(base, "visionkit.blocks")) == (vision / "visionkit" / "blocks.py").resolve()
    assert index.file_of_import(base, "tensorflow") is None
    assert index.file_of_import(base, "missing", 1) is None
    assert index.file_of_import(base, "ops", 3) is None  # above the top-level package
    (tmp_path / "model.py").write_text("X = 1\n")
    script = str(tmp_path / "train.py")  # not written: standard input named train.py
    assert Path(ProjectIndex().file_of_import(script, "model")) == (tmp_path / "model.py").resolve()


def _apply_sarif_change(text: str, replacements: list[dict]) -> str:
    """A SARIF replacement of whole lines, applied as a SARIF consumer would."""
    lines = text.splitlines(keepends=True)
    for change in sorted(replacements, key=lambda r: -r["deletedRegion"]["startLine"]):
        region = change["deletedRegion"]
        lines[region["startLine"] - 1:region["endLine"] - 1] = [change["insertedContent"]["text"]]
    return "".join(lines)


def _sarif_path(root: str, location: dict) -> Path:
    """The file an artifactLocation names (its uri resolved against %SRCROOT%)."""
    from urllib.parse import unquote, urljoin, urlparse

    uri = urljoin(root, location["uri"]) if location.get("uriBaseId") == "%SRCROOT%" else location["uri"]
    return Path(unquote(urlparse(uri).path)).resolve()


def test_sarif_fix_across_files_has_one_artifact_change_per_file(tmp_path):
    run = _tfgradfix(PROJECTS / "vision", "--output-format", "sarif", ".")
    results = json.loads(run.stdout)["runs"][0]["results"]
    helper, = [r for r in results if r["ruleId"] == "TGF201"]
    fix, = helper["fixes"]
    # SARIF 2.1.0 §3.55 fix: description (message), artifactChanges (artifactChange[], one per file);
    # §3.56 artifactChange: artifactLocation.uri and replacements (replacement[], each a
    # deletedRegion and its insertedContent).
    assert set(fix) == {"description", "artifactChanges"} and isinstance(fix["description"]["text"], str)
    root = json.loads(run.stdout)["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    paths = [_sarif_path(root, change["artifactLocation"]) for change in fix["artifactChanges"]]
    assert paths == [PROJECTS / "vision" / "visionkit" / "ops.py", PROJECTS / "vision" / "visionkit" / "blocks.py"]
    for change in fix["artifactChanges"]:
        assert set(change) == {"artifactLocation", "replacements"} and change["replacements"]
        for replacement in change["replacements"]:
            region = replacement["deletedRegion"]
            assert set(region) == {"startLine", "startColumn", "endLine", "endColumn"}
            assert 1 <= region["startLine"] <= region["endLine"] and region["startColumn"] == region["endColumn"] == 1
            assert isinstance(replacement["insertedContent"]["text"], str)
    # Applied, the changes are the fix --fix makes (only that rule selected).
    project = tmp_path / "vision"
    shutil.copytree(PROJECTS / "vision", project)
    _tfgradfix(project, "--fix", "--select", "TGF201", ".")
    for change in fix["artifactChanges"]:
        path = _sarif_path(root, change["artifactLocation"]).relative_to(PROJECTS / "vision")
        applied = _apply_sarif_change((PROJECTS / "vision" / path).read_text(), change["replacements"])
        assert applied == (project / path).read_text(), path


@pytest.mark.slow
def test_frozen_backbone_sources_hold_none_gradients_only_where_reported(tmp_path):
    """TGF405 across modules: the six models reported hold non-trainable variables (their
    gradients are None); the fix pairs only trainable ones; the look-alikes have none."""
    tf = pytest.importorskip("tensorflow")

    class Recorder:
        def apply_gradients(self, pairs):
            self.gradients = [g for g, _ in pairs]

    def nones(root):
        train, = _import_fresh(root, "train")
        x, y = tf.random.normal((4, 3)), tf.constant([0, 1, 2, 0])
        counts = {}
        for name in ("fit_classifier", "fit_deep", "fit_encoder", "fit_finetuner", "fit_counter", "fit_scaled",
                     "fit_regressor", "fit_linear", "fit_ensemble"):
            recorder = Recorder()
            getattr(train, name)(x, y if name == "fit_classifier" else tf.zeros((4, 1)), recorder)
            counts[name] = sum(g is None for g in recorder.gradients)
        return counts

    before = nones(PROJECTS / "frozen_backbone")
    assert [name for name, count in before.items() if count] == [
        "fit_classifier", "fit_deep", "fit_encoder", "fit_finetuner", "fit_counter", "fit_scaled"]
    assert not any(nones(_fixed_copy(tmp_path, "frozen_backbone")).values())


def test_index_knows_which_classes_hold_state_across_modules():
    root = PROJECTS / "frozen_backbone"
    index = ProjectIndex.build([str(root / "train.py")])  # the package is read as train.py needs it
    held = {name: index.holds_state(f"netlib.{name}") for name in (
        "models.Classifier", "models.DeepClassifier", "models.Encoder", "models.FineTuner", "models.StepCounter",
        "modules.ScaledLinear", "blocks.ConvBlock", "blocks.Stack",
        "models.Regressor", "modules.Linear", "modules.Ensemble", "blocks.DenseBlock", "base.PlainModel")}
    assert [name for name, state in held.items() if state] == [
        "models.Classifier", "models.DeepClassifier", "models.Encoder", "models.FineTuner", "models.StepCounter",
        "modules.ScaledLinear", "blocks.ConvBlock", "blocks.Stack"]
    single = _tfgradfix(root, "train.py")  # pre-commit: one file, the package behind it
    assert _reported(single.stdout) == (root / "expected.txt").read_text().splitlines()


def test_a_file_given_alone_knows_the_callers_of_its_helpers_in_files_not_given(tmp_path):
    """pre-commit passes `effects/ops.py` alone: `effects/meter.py` (not given, not imported
    by it) calls its helpers off the gradient path. The index reads it for those calls, so
    the fixes are what the whole run makes (none safe) and nothing in meter.py is reported."""
    project = tmp_path / "effects"
    shutil.copytree(PROJECTS / "effects", project)
    alone = _tfgradfix(project, "effects/ops.py")
    assert _reported(alone.stdout) == (PROJECTS / "effects" / "expected.txt").read_text().splitlines()
    assert "(no fix: `gain` is also called from effects.meter:preview" in alone.stdout
    before = (project / "effects" / "ops.py").read_text()
    _tfgradfix(project, "--fix", "effects/ops.py")
    assert (project / "effects" / "ops.py").read_text() == before


@pytest.mark.slow
def test_the_unsafe_fix_of_a_helper_called_off_the_path_does_break_that_caller(tmp_path):
    """Why the NumPy helper's fix is unsafe: applied, the meter's array code fails."""
    pytest.importorskip("tensorflow")
    project = tmp_path / "effects"
    shutil.copytree(PROJECTS / "effects", project)
    frames = [[0.5, -1.0, 0.25, 2.0]]
    meter, = _import_fresh(project, "effects.meter")
    assert meter.level(frames) == pytest.approx(0.21875)
    _tfgradfix(project, "--fix", "--unsafe-fixes", "effects/ops.py")
    assert "tf.reduce_max(" in (project / "effects" / "ops.py").read_text()
    meter, = _import_fresh(project, "effects.meter")
    with pytest.raises(AttributeError):
        meter.level(frames)


def test_a_fix_across_files_knows_a_third_caller_in_a_file_not_given(tmp_path):
    """ops.py and blocks.py are given; preview.py (not given, imported by no one) also
    calls `channel_scale`, which the fix would give a new parameter: no fix."""
    project = tmp_path / "vision"
    shutil.copytree(PROJECTS / "vision", project)
    given = ("visionkit/ops.py", "visionkit/blocks.py")
    assert "+def channel_scale(x, *, gamma):" in _tfgradfix(project, "--diff", *given).stdout
    (project / "visionkit" / "preview.py").write_text(
        "import tensorflow as tf\n\nfrom .ops import channel_scale\n\n\n"
        "def preview(images):\n    return channel_scale(tf.constant(images))\n")
    run = _tfgradfix(project, "--diff", *given)
    assert "channel_scale" not in run.stdout, run.stdout
    assert "visionkit/ops.py:9:13: TGF201" in _tfgradfix(project, *given).stdout


def test_a_script_handing_a_numpy_function_to_lambda_is_checked_in_a_project(tmp_path):
    """No tape and no Keras class of its own: the `Lambda` layer starts the gradient path."""
    (tmp_path / "model.py").write_text(
        "import numpy as np\nimport tensorflow as tf\n\n\ndef squash(x):\n    return np.tanh(x)\n\n\n"
        "model = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.Lambda(squash)])\n")
    run = _tfgradfix(tmp_path, ".")
    assert _reported(run.stdout) == ["model.py:6:12: TGF101 [*]"], run.stdout


def test_classes_named_like_keras_that_the_project_knows_are_plain_are_not_parsed(tmp_path):
    """Keras's own `Operation` subclasses (imported from a `keras` module of the project)
    hold no gradient path; a Keras layer without its own `call` starts none either."""
    from tfgradfix.engine import Engine
    from tfgradfix.rules import ALL_RULES

    package = tmp_path / "mykeras"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "operation.py").write_text("class Operation:\n    def __call__(self, x):\n        return x\n")
    (package / "ops.py").write_text(
        "import tensorflow as tf\nfrom mykeras.operation import Operation\n\n\n"
        "class Relu(Operation):\n    def call(self, x):\n        return tf.nn.relu(tf.Variable(x))\n")
    (package / "dense.py").write_text(
        "import tensorflow as tf\n\n\nclass Base(tf.keras.layers.Layer):\n    def call(self, x):\n        return x\n\n\n"
        "class Wide(Base):\n    def __init__(self):\n        super().__init__()\n        self.n = tf.Variable(1.0)\n")
    paths = [str(p) for p in sorted(package.glob("*.py"))]
    engine = Engine(ALL_RULES, project=ProjectIndex.build(paths, tuple({t for r in ALL_RULES for t in r.triggers})))
    parsed = {Path(p).name: engine.process_path(p).parsed for p in paths}
    assert parsed == {"__init__.py": False, "dense.py": True, "operation.py": False, "ops.py": False}


@pytest.mark.slow
def test_fixed_abstract_task_trains_every_variable(tmp_path):
    """The tape in `tasks/base.py` runs `compute_loss` of a subclass in another module:
    before the fix every gradient is None (NumPy on the prediction), after it none is."""
    tf = pytest.importorskip("tensorflow")
    np = pytest.importorskip("numpy")

    def gradients(root):
        regression, = _import_fresh(root, "tasks.regression")
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4), tf.keras.layers.Dense(1)])
        x = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
        y = np.ones((4, 1), dtype=np.float32)
        task = regression.Regression(model)
        with tf.GradientTape() as tape:
            loss = task.compute_loss(x, y)
        return float(loss), tape.gradient(loss, model.trainable_variables)

    loss_before, before = gradients(PROJECTS / "abstract_tasks")
    assert all(g is None for g in before)
    loss_after, after = gradients(_fixed_copy(tmp_path, "abstract_tasks"))
    assert after and all(g is not None for g in after)
    assert abs(loss_before - loss_after) < 1e-5


@pytest.mark.slow
def test_fixed_loss_callable_of_another_module_trains(tmp_path):
    """`train_step(model, optimizer, losses.log_cosh, x, y)`: the loss the loop runs through its
    `loss_fn` parameter gives no gradient before the fix, every one after it, and the same loss."""
    tf = pytest.importorskip("tensorflow")
    np = pytest.importorskip("numpy")

    def gradients(root):
        run, losses, loop = _import_fresh(root, "fitkit.run", "fitkit.losses", "fitkit.loop")
        tf.keras.utils.set_random_seed(0)
        model = run.make_model()
        x = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
        y = np.ones((4, 1), dtype=np.float32)
        loss, grads = loop.train_step(model, tf.keras.optimizers.SGD(0.0), losses.log_cosh, x, y)
        return float(loss), grads

    with pytest.raises(ValueError, match="No gradients provided"):
        gradients(PROJECTS / "loss_callables")
    loss_after, after = gradients(_fixed_copy(tmp_path, "loss_callables"))
    assert after and all(g is not None for g in after)
    # what the original computed, read without the optimizer step that refuses it
    losses, = _import_fresh(PROJECTS / "loss_callables", "fitkit.losses")
    run, = _import_fresh(PROJECTS / "loss_callables", "fitkit.run")
    tf.keras.utils.set_random_seed(0)
    model = run.make_model()
    x = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
    with tf.GradientTape() as tape:
        loss_before = losses.log_cosh(np.ones((4, 1), dtype=np.float32), model(x, training=True))
    assert all(g is None for g in tape.gradient(loss_before, model.trainable_variables))
    assert abs(float(loss_before) - loss_after) < 1e-5


def test_an_abstract_method_implemented_through_an_intermediate_class(tmp_path):
    """`abstract_trainers` without its direct subclass: `compute_loss` is implemented only by
    a class deriving from the base through an intermediate class of a third module."""
    project = tmp_path / "abstract_trainers"
    shutil.copytree(PROJECTS / "abstract_trainers", project)
    (project / "trainers" / "regression.py").unlink()
    expected = (PROJECTS / "abstract_trainers" / "expected.txt").read_text().splitlines()
    assert _reported(_tfgradfix(project, ".").stdout) == expected
    (project / "trainers" / "classification.py").unlink()
    assert _reported(_tfgradfix(project, ".").stdout) == []  # no implementation seen: silent


@pytest.mark.slow
def test_fixed_abstract_trainer_of_other_modules_trains(tmp_path):
    """The base's tape reduces an abstract `compute_loss` that only other modules implement
    with `np.mean`: no gradient before the fix, every one after it, the same loss."""
    tf = pytest.importorskip("tensorflow")
    np = pytest.importorskip("numpy")

    def gradients(root):
        regression, = _import_fresh(root, "trainers.regression")
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4), tf.keras.layers.Dense(1)])
        trainer = regression.RegressionTrainer(model, learning_rate=0.0)
        x = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
        y = np.ones((4, 1), dtype=np.float32)
        try:
            loss, grads = trainer.train_step(x, y)
        except AttributeError:  # a NumPy target: the tape has nothing recorded for it
            return float(trainer.history[-1]), None
        return float(loss), grads

    loss_before, before = gradients(PROJECTS / "abstract_trainers")
    assert before is None
    loss_after, after = gradients(_fixed_copy(tmp_path, "abstract_trainers"))
    assert after and all(g is not None for g in after)
    assert abs(loss_before - loss_after) < 1e-5


@pytest.mark.slow
def test_gcn_weights_from_an_initializer_helper_never_train():
    """What the TGF210 finding of `gcn` says, checked with TensorFlow: the layer whose weights
    an initializer helper of another module made has no variable and no gradient; the module
    that makes a variable of the same value trains."""
    tf = pytest.importorskip("tensorflow")
    layers, readout = _import_fresh(PROJECTS / "gcn", "gnn.layers", "gnn.readout")
    x, support = tf.random.normal((5, 4)), tf.eye(5)
    layer = layers.GraphConvolution(4, 2)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(layer((x, support)))
    assert not layer.trainable_variables
    assert tape.gradient(out, x) is not None  # the input does get one: only the weights are constants
    head = readout.Readout(4, 2)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(head(x))
    assert all(g is not None for g in tape.gradient(loss, head.trainable_variables))


@pytest.mark.slow
def test_quantized_lambda_and_loss_of_another_module_lose_their_gradients():
    """What the TGF302 findings of `quantized` say, checked with TensorFlow: the first Dense
    layer (before `Lambda(hard_quantize)`) gets no gradient, and `kappa_loss` gives none."""
    tf = pytest.importorskip("tensorflow")
    model_module, ops = _import_fresh(PROJECTS / "quantized", "quantnet.model", "quantnet.ops")
    tf.keras.utils.set_random_seed(0)
    model = model_module.build_classifier(4, 3)
    x = tf.random.uniform((5, 4))
    y = tf.one_hot([0, 1, 2, 1, 0], 3)
    with tf.GradientTape(persistent=True) as tape:
        p = model(x, training=True)
        mse = tf.reduce_mean(tf.square(p - y))
        kappa = ops.kappa_loss(y, p)
    first, last = model.layers[1], model.layers[3]
    assert all(g is None for g in tape.gradient(mse, first.trainable_variables))
    assert all(g is not None for g in tape.gradient(mse, last.trainable_variables))
    assert all(g is None for g in tape.gradient(kappa, model.trainable_variables))



def test_a_folder_a_script_puts_on_sys_path_is_the_projects(tmp_path):
    """`sys.path.append("utils")` at the top of a script run from the repository's root:
    `from helpers import squash` names utils/helpers.py, even when the script is given alone
    (pre-commit, or `--verify`'s slice, which must carry it)."""
    (tmp_path / "utils").mkdir()
    (tmp_path / "burgers").mkdir()
    (tmp_path / "utils" / "helpers.py").write_text(
        "import numpy as np\n\n\ndef squash(x):\n    return np.tanh(x)\n")
    train = tmp_path / "burgers" / "train.py"
    train.write_text(
        "import sys\n\nimport tensorflow as tf\n\nsys.path.append(\"utils\")\nfrom helpers import squash\n\n\n"
        "def step(model, x):\n    with tf.GradientTape() as tape:\n        loss = tf.reduce_sum(squash(model(x)))\n"
        "    return tape.gradient(loss, model.trainable_variables)\n")
    index = ProjectIndex.build([str(train)])
    found = index.file_of_import(str(train), "helpers")
    assert found is not None and Path(found).resolve() == (tmp_path / "utils" / "helpers.py").resolve()
    assert index.file_of_import(str(train), "numpy") is None
    run = _tfgradfix(tmp_path, ".")
    assert _reported(run.stdout) == ["utils/helpers.py:5:12: TGF101 [*]"], run.stdout + run.stderr


def test_star_imports_a_namespace_package_spells_otherwise_stay_bounded(tmp_path, monkeypatch):
    """`algorithms/` has no `__init__`, `algorithms/ppo/` star-imports its five modules. Read as
    `algorithms.ppo` (through the namespace, `ppo` being another repository's module too), its stars spell `algorithms.ppo.models`, which is no
    module of the index (that one is `ppo.models`): following them grew `algorithms.ppo.models.
    models...` names five ways at each of ten levels, and a run over two repositories hung."""
    package = tmp_path / "algorithms" / "ppo"
    package.mkdir(parents=True)
    modules = ["config", "models", "networks", "losses", "roller"]
    (package / "__init__.py").write_text("".join(f"from .{m} import *\n" for m in modules))
    for m in modules:
        (package / f"{m}.py").write_text(f"def {m}_helper(x):\n    return x\n")
    (package / "losses.py").write_text("class PolicyBase:\n    pass\n")
    (tmp_path / "main.py").write_text("from algorithms.ppo import PolicyBase\n")
    # another repository's `ppo.py`: the name `ppo` is ambiguous, so the package is read as `algorithms.ppo`
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "ppo.py").write_text("def update(x):\n    return x\n")
    index = ProjectIndex.build([str(p) for p in tmp_path.rglob("*.py")])
    calls = []
    original = ProjectIndex.lookup

    def counted(self, qualified, _depth=0):
        calls.append(qualified)
        if len(calls) > 1000:  # fail where it used to run for hours
            raise AssertionError(f"{len(calls)} lookups, e.g. {qualified}")
        return original(self, qualified, _depth)

    monkeypatch.setattr(ProjectIndex, "lookup", counted)
    assert index.lookup("algorithms.ppo.Undefined") is None
    assert len(calls) < 50, f"{len(calls)} lookups, e.g. {calls[-1]}"


def test_a_folder_no_import_can_name_is_no_package(tmp_path):
    """A stray `__init__.py` in `my-repo/` does not make it a package: `corelib` is the top one."""
    from tfgradfix.analysis.project import module_names

    root = tmp_path / "my-repo"
    shutil.copytree(FIXTURES / "projects" / "stray_root_init", root)
    assert module_names(str(root / "corelib" / "layers.py")) == ["corelib.layers"]
    named = tmp_path / "my_repo"
    shutil.copytree(FIXTURES / "projects" / "stray_root_init", named)
    assert module_names(str(named / "corelib" / "layers.py")) == ["my_repo.corelib.layers"]


@pytest.mark.parametrize("call, reported", [
    ("self.predict(x, to_numpy=False, training=True)", []),
    # the option left at its default in the tape: the conversion runs there
    ("self.predict(x, training=True)", ["surrogate/network.py:19:17: TGF102"]),
    ("self.predict(x, flag, training=True)", ["surrogate/network.py:19:17: TGF102"]),  # not a literal
])
def test_an_option_every_taped_call_passes_false_keeps_its_branch_off_the_path(tmp_path, call, reported):
    """options: another module's taped calls of `predict` all pass `to_numpy=False`, so its
    `if to_numpy:` branch never runs under a tape; `embed`'s default converts there."""
    shutil.copytree(PROJECTS / "options", tmp_path / "options")
    physics = tmp_path / "options" / "surrogate" / "physics.py"
    text = physics.read_text()
    physics.write_text(text.replace("self.predict(x, to_numpy=False, training=True)", call)
                       .replace("def loss(self, x, y):", "def loss(self, x, y, flag=False):", 1))
    found = _reported(_tfgradfix(tmp_path / "options", ".").stdout)
    assert found == [*reported, "surrogate/network.py:27:17: TGF102"]


@pytest.mark.parametrize("use, reported", [
    ("model = ranker.build_graph()", []),
    # the functional model only summarised, the subclass itself trained: its `call` runs per step
    ("ranker.build_graph().summary()\n    model = ranker",
     ["ranker/model.py:25:20: TGF209", "ranker/model.py:26:20: TGF209", "ranker/model.py:27:16: TGF209"]),
])
def test_a_model_used_only_through_its_functional_builder_makes_its_layers_once(tmp_path, use, reported):
    """graph_builder: another module uses the model only through `build_graph`, which returns
    `Model(inputs, self.call(inputs))`: the layers its `call` makes are made once, on symbolic
    inputs, and tracked by that functional model."""
    shutil.copytree(PROJECTS / "graph_builder", tmp_path / "graph_builder")
    train = tmp_path / "graph_builder" / "ranker" / "train.py"
    train.write_text(train.read_text().replace("model = ranker.build_graph()", use))
    assert _reported(_tfgradfix(tmp_path / "graph_builder", ".").stdout) == reported


def test_a_package_that_imports_a_keras_2_only_module_runs_its_modules_on_keras_2(tmp_path):
    """keras2_package: `recsys/__init__.py` imports the module using `DenseFeatures`, so its sibling
    `attention.py` runs on Keras 2 too (silent). Without that import, the sibling runs on Keras 3 and
    its untracked variables are reported."""
    root = tmp_path / "keras2_package"
    shutil.copytree(PROJECTS / "keras2_package", root)
    init = root / "recsys" / "__init__.py"
    init.write_text(init.read_text().replace("from .interaction import FM\n", ""))
    reported = _reported(_tfgradfix(root, ".").stdout)
    assert "recsys/attention.py:7:22: TGF203 [*]" in reported and "recsys/attention.py:8:20: TGF203 [*]" in reported, reported


@pytest.mark.parametrize("edit, reported", [
    ((), []),
    # the taped call passes the method's own argument: it may be NumPy, and watched it carries a gradient
    (("            x_grad = tf.convert_to_tensor(x)\n            tape.watch(x_grad)\n            x_input",
      "            x_grad = x\n            tape.watch(x_grad)\n            x_input"),
     ["robust/estimator.py:19:21: TGF103", "robust/estimator.py:25:21: TGF102"]),
    # the loss reads what the gradient helper returns: its `.numpy()` cuts that
    (("            loss = loss_fn(y_preprocessed, self.model(x_grad))\n",
      "            loss = loss_fn(y_preprocessed, self.model(x_grad)) + tf.reduce_sum(\n"
      "                self._preprocess_gradient(x_grad, x_grad))\n"),
     ["robust/estimator.py:39:16: TGF102 [*]"]),
])
def test_helpers_of_another_module_are_judged_by_what_their_taped_calls_pass_and_use(tmp_path, edit, reported):
    """estimator_helpers: every taped call of `_preprocess` passes a TF op's result (or data) for `x`, so
    its `if not input_is_tensor:` round trip never runs under a tape; no caller uses what
    `_preprocess_gradient` returns toward what it differentiates."""
    root = tmp_path / "estimator_helpers"
    shutil.copytree(PROJECTS / "estimator_helpers", root)
    classifier = root / "robust" / "classifier.py"
    if edit:
        text = classifier.read_text()
        assert edit[0] in text
        classifier.write_text(text.replace(*edit))
    assert _reported(_tfgradfix(root, ".").stdout) == reported


def test_a_host_copy_handed_to_another_module_is_numpy_there(tmp_path):
    """adjoint_solver: the tape hands the solver `s.numpy()`, so the solver's NumPy calls lose
    nothing; hand it the tensor itself and they are on the gradient's way."""
    root = tmp_path / "adjoint_solver"
    shutil.copytree(PROJECTS / "adjoint_solver", root)
    assert _reported(_tfgradfix(root, ".").stdout) == []
    script = root / "train.py"
    script.write_text(script.read_text().replace("adjoint_gradient(s.numpy(), *args)", "adjoint_gradient(s, *args)"))
    assert any(line.startswith("wave/solver.py:") and line.endswith("TGF101")
               for line in _reported(_tfgradfix(root, ".").stdout))
