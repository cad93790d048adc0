"""Run TensorFlow on every golden pair: the original really loses its gradients,
the fixed fixture builds under Keras 3, gives a gradient for every trainable
variable (eagerly, under tf.function and through a functional model) and
computes the same values as the original."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from conftest import case_id, fixture_cases

pytestmark = pytest.mark.slow  # TensorFlow runs every test here

# Imported when the first of these tests runs, not when they are collected: the default
# run (`-m "not slow"`) collects them too, and must not pay TensorFlow's import.
tf = keras = np = None


@pytest.fixture(autouse=True)
def _tensorflow():
    global tf, keras, np
    tf, keras, np = (pytest.importorskip(name) for name in ("tensorflow", "keras", "numpy"))
    # A fixture module may set the float type when it loads (`set_floatx("float64")`): each test
    # starts from a fresh process's settings, as each unit of `--verify` does.
    from tfgradfix.verify.child import default_settings

    default_settings(tf)
    yield
    default_settings(tf)

TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def _load(path: Path):
    name = "fixture_" + "_".join(path.with_suffix("").parts[-2:]).replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pairs():
    # TGF9 rules are about the tool's own directives: their fixes change comments only.
    return [(p, p.with_name(p.stem + ".fixed.py")) for p in fixture_cases("fixed") if not p.parent.name.startswith("TGF9")]


def _ids(pair):
    return case_id(pair[0])


def _values(out):
    """A layer's output as one array; a model with several outputs gives them all, flattened."""
    return np.concatenate([np.ravel(np.asarray(o)) for o in tf.nest.flatten(out)])


def _layer_gradients(layer, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x)
        loss = tf.add_n([tf.reduce_sum(tf.cast(tf.convert_to_tensor(o), tf.float32) ** 2)
                         for o in tf.nest.flatten(out)])
    return out, tape.gradient(loss, [*layer.trainable_variables, x])


@pytest.mark.parametrize("pair", _pairs(), ids=_ids)
def test_fixed_fixture_trains(pair):
    original, fixed = (_load(p) for p in pair)
    if hasattr(original, "example"):
        _check_layer(original, fixed)
    elif hasattr(original, "train_step_example"):
        _check_training_step(original, fixed)
    else:
        pytest.fail(f"{pair[0]} defines neither example() nor train_step_example()")


def _copy_by_attribute(before, after):
    """Give the fixed layer the original's values, attribute by attribute: the original's
    untracked tf.Variables are not in get_weights()."""
    for name, value in vars(after).items():
        if name.startswith("_"):
            continue  # Keras's own bookkeeping (`_trainable_variables`): its order is not the attributes'
        if not hasattr(before, name):
            continue  # created per call in the original: its initial value is the reference
        if isinstance(value, tf.Variable) or hasattr(value, "assign"):
            value.assign(tf.cast(getattr(before, name), value.dtype))
        elif isinstance(value, (list, tuple)):
            for mine, theirs in zip(value, getattr(before, name)):
                if hasattr(mine, "assign"):
                    mine.assign(tf.cast(theirs, mine.dtype))


def _check_layer(original, fixed):
    tf.keras.utils.set_random_seed(1)
    before, x = original.example()
    after, _ = fixed.example()
    before(x)  # built outside any tape, as model.build() or the first fit step does
    out_before, grads_before = _layer_gradients(before, x)
    after(x)
    assert after.trainable_variables, "the fixed layer has no trainable variables"
    if len(before.trainable_variables) == len(after.trainable_variables):
        after.set_weights(before.get_weights())
        assert any(g is None for g in grads_before), "the original already had every gradient"
    else:  # the fix made Keras track variables the original hid from it
        _copy_by_attribute(before, after)
        assert len(before.trainable_variables) < len(after.trainable_variables)
    out_after, grads_after = _layer_gradients(after, x)
    missing = [v.name for v, g in zip([*after.trainable_variables, "input"], grads_after) if g is None]
    assert not missing, f"gradients still None for {missing}"
    if _fresh_weights_per_call(before, x, out_before):
        # Layers made in call (TGF209): the original draws new weights on every call, so
        # there is no value to compare with; the fixed one must compute the same twice.
        assert len(before.trainable_variables) < len(after.trainable_variables)
    else:
        np.testing.assert_allclose(_values(out_before), _values(out_after), **TOLERANCE)

    np.testing.assert_allclose(_values(after(x)), _values(out_after), **TOLERANCE)  # variables made once
    traced = tf.function(lambda t: after(t))(tf.convert_to_tensor(x))
    np.testing.assert_allclose(_values(traced), _values(out_after), **TOLERANCE)

    inputs = tf.keras.Input(shape=tuple(x.shape[1:]))
    model = tf.keras.Model(inputs, after(inputs))
    np.testing.assert_allclose(_values(model(x)), _values(out_after), **TOLERANCE)


def _fresh_weights_per_call(layer, x, out) -> bool:
    return not np.allclose(_values(layer(x)), _values(out), **TOLERANCE)


def _example_model(layer, x):
    inputs = tf.keras.Input(shape=tuple(x.shape[1:]))
    return tf.keras.Model(inputs, layer(inputs))


def _config_round_trips(layer) -> bool:
    try:
        type(layer).from_config(layer.get_config())
    except Exception:  # noqa: BLE001 - the original's own config does not rebuild it
        return False
    return True


def _defines_example(path: Path) -> bool:
    """Whether the module defines `example()` at its top level, read with `ast` (loading it
    would import TensorFlow while the tests are collected)."""
    return any(isinstance(node, ast.FunctionDef) and node.name == "example" for node in ast.parse(path.read_text()).body)


_LAYER_PAIRS = [p for p in _pairs() if _defines_example(p[0])]


def test_the_layer_pairs_are_the_pairs_whose_original_has_an_example():
    assert _LAYER_PAIRS == [p for p in _pairs() if hasattr(_load(p[0]), "example")]


@pytest.mark.parametrize("pair", [p for p in _LAYER_PAIRS if p[0].parent.name.startswith("TGF2")], ids=_ids)
def test_fixed_layer_saves_and_loads(pair, tmp_path):
    """A `.keras` file of the fixed layer loads back with its weights, wherever the
    original's config can rebuild the original."""
    original, fixed = (_load(p) for p in pair)
    tf.keras.utils.set_random_seed(2)
    before, x = original.example()
    if not _config_round_trips(before):
        pytest.skip(f"{type(before).__name__}'s own config does not rebuild it")
    layer, x = fixed.example()
    model = _example_model(layer, x)
    expected = model(x).numpy()
    path = tmp_path / "fixed.keras"
    keras.saving.save_model(model, path)
    loaded = keras.saving.load_model(path, custom_objects={type(layer).__name__: type(layer)})
    assert len(loaded.trainable_variables) == len(model.trainable_variables)
    np.testing.assert_allclose(loaded(x).numpy(), expected, **TOLERANCE)


_LAYER_IN_CALL = [p for p in _pairs() if p[0].parent.name == "TGF209"]


@pytest.mark.parametrize("pair", _LAYER_IN_CALL, ids=_ids)
def test_layers_made_in_call_train_after_the_fix(pair):
    """The original cannot run under `model.fit` (a new layer, with new variables, per
    trace); the fixed layer trains: the loss falls and every weight moves."""
    original, fixed = (_load(p) for p in pair)
    tf.keras.utils.set_random_seed(3)
    before, x = original.example()
    with pytest.raises(ValueError, match="singleton tf.Variables"):
        tf.function(lambda t: before(t, training=True))(x)
    layer, x = fixed.example()
    model = _example_model(layer, x)
    target = tf.random.normal(model(x).shape)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
    initial = [v.numpy().copy() for v in model.trainable_variables]
    loss_before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=10, verbose=0)
    assert model.evaluate(x, target, verbose=0) < loss_before
    assert all(not np.allclose(a, v.numpy()) for a, v in zip(initial, model.trainable_variables))


def _check_training_step(original, fixed):
    """`train_step_example(history)` returns the gradients and appends the loss."""
    history_before, history_after = [], []
    try:
        grads_before = original.train_step_example(history_before)
    except (AttributeError, TypeError, ValueError, RuntimeError):
        # tape.gradient rejects a NumPy target outright; TF refuses `variable -= value` on a
        # tf.Variable (RuntimeError: use assign_sub), after the step's loss is recorded.
        grads_before = [None]
    grads_after = fixed.train_step_example(history_after)
    assert any(g is None for g in grads_before), "the original already had every gradient"
    assert grads_after and all(g is not None for g in grads_after)
    # Where the original broke down mid-loop, its steps so far must match.
    assert history_before, "the original computed nothing to compare"
    steps = len(history_before)
    np.testing.assert_allclose(np.asarray(history_before), np.asarray(history_after[:steps]), **TOLERANCE)


def test_a_model_that_overrides_dunder_call_keeps_its_saved_model_signature(tmp_path):
    """Keras 3 does not track `tf.Variable`s even in a model used as a TF module (its own
    `__call__`, no `call`): the fix makes the weight trainable, and `tf.saved_model` still
    exports it with the `tf.function` signature that assigns it."""
    case = Path(__file__).resolve().parent.parent / "fixtures" / "TGF203" / "model_overrides_call_dunder.py"
    original, fixed = _load(case), _load(case.with_name(case.stem + ".fixed.py"))
    assert not original.CustomSignatureModel().trainable_variables
    model = fixed.CustomSignatureModel()
    assert len(model.trainable_variables) == 1
    model.mutate(tf.constant(3.0))
    tf.saved_model.save(model, str(tmp_path / "model"))
    restored = tf.saved_model.load(str(tmp_path / "model"))
    assert float(restored.v) == 3.0
    restored.mutate(tf.constant(4.0))
    assert float(restored.v) == 4.0
