"""The child side of `--verify`: imports TensorFlow once and runs each unit.

Reads a job as JSON on stdin and writes one JSON line, after the marker, on stdout.
It needs only the standard library, NumPy and TensorFlow, so it runs in the
project's own environment too (`--python`).

A layer is built the way its module shows: a module-level `example()` returning
`(layer, inputs)`, else the first `Name(<literal args>)` call in the module, else no
arguments; inputs are tried in common shapes. Nothing here is imported by the
static passes.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys

MARKER = "TFGRADFIX-VERIFY "
SHAPES = [(2, 4), (2, 8), (2, 3, 4), (2, 16), (2, 5, 8)]
TOLERANCE = 1e-4


def _load(path: str, name: str, package: str = ""):
    """Import the file as a module of `package`, so its relative imports resolve."""
    if package:
        importlib.import_module(package)
        name = f"{package}.{name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # runs as an import, never as __main__
    return module


def _literal_calls(source: str, name: str):
    """Argument lists of `name(...)` calls with literal arguments, in source order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            try:
                args = [ast.literal_eval(a) for a in node.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
            except ValueError:
                continue
            found.append((args, kwargs))
    return found


def _shapes_in(source: str) -> list[tuple]:
    """Input shapes the module itself uses: `keras.Input(shape=(5,))` (a batch of 2 is
    added), `tf.random.normal((2, 5))`, `tf.ones(...)`, `tf.zeros(...)`."""
    shapes = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        value = next((k.value for k in node.keywords if k.arg == "shape"), node.args[0] if node.args else None)
        try:
            shape = ast.literal_eval(value) if value is not None else None
        except ValueError:
            continue
        if not isinstance(shape, (tuple, list)) or not all(isinstance(d, int) and d > 0 for d in shape):
            continue
        if callee == "Input":
            shapes.append((2, *shape))
        elif callee in ("normal", "uniform", "ones", "zeros") and len(shape) >= 2:
            shapes.append(tuple(shape))
    return shapes


def _candidates(tf, original, fixed, name: str, source: str, example: dict | None = None):
    """(original layer, fixed layer, input) triples to try, most specific first: the
    project's example from pyproject.toml, the module's `example()`, its own calls."""
    if example:
        shape = tuple(example.get("input_shape") or SHAPES[0])
        args, kwargs = example.get("args", []), example.get("kwargs", {})
        yield (getattr(original, name)(*args, **kwargs), getattr(fixed, name)(*args, **kwargs),
               tf.random.stateless_normal(shape, seed=(1, 2)))
    if callable(getattr(original, "example", None)) and callable(getattr(fixed, "example", None)):
        tf.keras.utils.set_random_seed(0)
        before, inputs = original.example()
        tf.keras.utils.set_random_seed(0)
        after, _ = fixed.example()
        if type(before).__name__ == name:
            yield before, after, tf.convert_to_tensor(inputs)
    shapes = [*_shapes_in(source), *SHAPES]
    for args, kwargs in [*_literal_calls(source, name), ([], {})]:
        for shape in dict.fromkeys(shapes):
            try:
                before = getattr(original, name)(*args, **kwargs)
                after = getattr(fixed, name)(*args, **kwargs)
            except Exception:
                break
            yield before, after, tf.random.stateless_normal(shape, seed=(1, 2))


def _copy_values(tf, before, after) -> None:
    if len(before.trainable_variables) == len(after.trainable_variables) and before.weights:
        after.set_weights(before.get_weights())
        return
    for attr, value in vars(after).items():
        theirs = getattr(before, attr, None)
        if theirs is None:
            continue
        pairs = zip(value, theirs) if isinstance(value, (list, tuple)) else [(value, theirs)]
        for mine, other in pairs:
            if hasattr(mine, "assign") and hasattr(other, "shape") and tuple(mine.shape) == tuple(other.shape):
                mine.assign(tf.cast(other, mine.dtype))


def _gradients(tf, layer, x, direction):
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.convert_to_tensor(layer(x))
        loss = tf.reduce_sum(tf.cast(out, tf.float32) * tf.cast(direction(out), tf.float32))
    grads = tape.gradient(loss, [*layer.trainable_variables, x])
    return out, loss, grads


def verify_layer(tf, np, original, fixed, name: str, source: str, example: dict | None = None) -> dict:
    errors = []
    for before, after, x in _candidates(tf, original, fixed, name, source, example):
        rng = np.random.default_rng(0)
        directions = {}

        def direction(out):
            key = tuple(out.shape)
            if key not in directions:
                directions[key] = tf.constant(rng.standard_normal(key), dtype=tf.float32)
            return directions[key]

        try:
            before(x)  # built outside any tape, as fit() builds it
            out_before, _, grads_before = _gradients(tf, before, x, direction)
            # Variables or layers made per call draw new random values each time: then there
            # is no original output to compare with.
            fresh = not np.allclose(np.asarray(before(x)), np.asarray(out_before), rtol=1e-5, atol=1e-6)
        except Exception as error:  # this way of building the original does not work; try the next
            errors.append(f"{type(error).__name__}: {_first_line(error)}")
            continue
        try:
            after(x)
            _copy_values(tf, before, after)
            out_after, _, grads_after = _gradients(tf, after, x, direction)
        except Exception as error:  # the original ran this way: the fixed layer must too
            return {"verdict": "failed", "reason": f"the fixed layer raises {type(error).__name__}: "
                                                   f"{_first_line(error)}"}
        return _compare(tf, np, before, after, x, out_before, out_after, grads_before, grads_after, direction,
                        fresh)
    return {"verdict": "inconclusive",
            "reason": f"could not build {name} and call it; define a module-level example() returning "
                      f"({name}(...), inputs), or add it to [tool.tfgradfix.verify.examples] in pyproject.toml"
                      + (f" (last error: {errors[-1]})" if errors else "")}


def _compare(tf, np, before, after, x, out_before, out_after, grads_before, grads_after, direction,
             fresh: bool = False) -> dict:
    names = [v.name for v in after.trainable_variables]
    none_before = [v.name for v, g in zip(before.trainable_variables, grads_before) if g is None]
    untracked_before = max(0, len(after.trainable_variables) - len(before.trainable_variables))
    none_after = [n for n, g in zip(names, grads_after) if g is None]
    delta = float(np.max(np.abs(np.asarray(out_before, dtype=np.float64) - np.asarray(out_after, dtype=np.float64)))) \
        if tuple(np.shape(out_before)) == tuple(out_after.shape) else float("inf")
    try:
        traced = tf.function(lambda t: after(t))(x)
        graph_ok = bool(np.allclose(np.asarray(traced), np.asarray(out_after), rtol=1e-4, atol=1e-5))
    except Exception:
        graph_ok = False
    fd_error = None
    if grads_after[-1] is not None and x.dtype.is_floating:
        d = tf.random.stateless_normal(x.shape, seed=(3, 4), dtype=x.dtype)
        eps = 1e-2
        plus = tf.reduce_sum(tf.cast(after(x + eps * d), tf.float32) * direction(out_after))
        minus = tf.reduce_sum(tf.cast(after(x - eps * d), tf.float32) * direction(out_after))
        numeric = float((plus - minus) / (2 * eps))
        analytic = float(tf.reduce_sum(grads_after[-1] * d))
        fd_error = abs(numeric - analytic) / max(1e-6, abs(numeric), abs(analytic))
    scale = max(1.0, float(np.max(np.abs(np.asarray(out_before, dtype=np.float64))))) if np.size(out_before) else 1.0
    result = {"variables": names, "none_before": none_before, "untracked_before": untracked_before,
              "none_after": none_after, "max_abs_diff": delta, "tf_function": graph_ok, "fd_rel_error": fd_error,
              "fresh_per_call": fresh}
    if none_after:
        result.update(verdict="failed", reason=f"gradients still None for {', '.join(none_after)}")
    elif not names:
        result.update(verdict="failed", reason="the fixed layer has no trainable variables")
    elif not graph_ok:
        result.update(verdict="failed", reason="the fixed layer does not run under tf.function")
    elif fresh and not np.allclose(np.asarray(after(x)), np.asarray(out_after), rtol=1e-5, atol=1e-6):
        result.update(verdict="failed", reason="the fixed layer still computes something new on every call")
    elif fresh:
        result.update(verdict="verified", reason="the original draws new weights on every call: outputs not compared")
    elif delta > TOLERANCE * scale:
        result.update(verdict="failed", reason=f"outputs differ: max|Δ| {delta:.3g}")
    else:
        result.update(verdict="verified", reason="")
    return result


def verify_function(np, original, fixed, name: str) -> dict:
    def nones(value) -> int:
        if value is None:
            return 1
        if isinstance(value, (list, tuple)):
            return sum(nones(v) for v in value)
        if isinstance(value, dict):
            return sum(nones(v) for v in value.values())
        return 0

    import inspect

    function = getattr(fixed, name)
    if any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
           for p in inspect.signature(function).parameters.values()):
        return {"verdict": "inconclusive", "reason": f"{name}() needs arguments; verify it through a caller "
                                                     "without parameters"}
    try:
        before = nones(getattr(original, name)())
    except Exception as error:
        before = f"raised {type(error).__name__}"
    after = nones(function())
    if after:
        return {"verdict": "failed", "reason": f"{after} gradients still None", "none_before": before}
    return {"verdict": "verified", "reason": "", "none_before": before, "none_after": 0}


def main() -> None:
    """Job: {"files": [{"original", "fixed", "folder", "units": [[kind, name], ...]}], "device"}."""
    job = json.loads(sys.stdin.read())
    import numpy as np
    import tensorflow as tf

    use_gpu = job.get("device", "auto") != "cpu" and bool(tf.config.list_physical_devices("GPU"))
    device = "GPU:0" if use_gpu else "CPU"
    report = []
    for index, item in enumerate(job["files"]):
        sys.path.insert(0, item["folder"])
        results: dict = {}
        try:
            original = _load(item["original"], f"_tfgradfix_original_{index}", item.get("package", ""))
            fixed = _load(item["fixed"], f"_tfgradfix_fixed_{index}", item.get("package", ""))
        except Exception as error:
            reason = f"the module does not import: {type(error).__name__}: {_first_line(error)}"
            results = {name: {"verdict": "inconclusive", "reason": reason} for _, name in item["units"]}
        else:
            source = open(item["original"], encoding="utf-8").read()
            with tf.device("/GPU:0" if use_gpu else "/CPU:0"):
                for kind, name in item["units"]:
                    try:
                        if kind == "layer":
                            results[name] = verify_layer(tf, np, original, fixed, name, source,
                                                         item.get("examples", {}).get(name))
                        else:
                            results[name] = verify_function(np, original, fixed, name)
                    except Exception as error:  # user code: reported against this unit, the run goes on
                        results[name] = {"verdict": "failed", "reason": f"{type(error).__name__}: {_first_line(error)}"}
        for result in results.values():
            result["device"] = device
        report.append(results)
        sys.path.remove(item["folder"])
    print(MARKER + json.dumps({"device": device, "files": report}), flush=True)


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else ""


if __name__ == "__main__":
    main()
