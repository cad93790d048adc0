"""The parent side of `--verify`: one child process per batch of files, with a time limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from tfgradfix.verify.child import MARKER
from tfgradfix.verify.units import Unit, changed_units

CHILD = str(Path(__file__).with_name("child.py"))


# Files per child process: TensorFlow's import (~2 s) is paid once per batch, and a
# hang or crash costs one batch, not the run.
BATCH = 25


class VerifyUnavailable(Exception):
    """The Python that would run the verification cannot: missing, or without TensorFlow."""


def check_python(python: Optional[str] = None) -> None:
    """Raise VerifyUnavailable, with one line saying what to do, unless `python` (default:
    this one) runs and can import TensorFlow and NumPy (looked up, not imported: fast)."""
    executable = python or sys.executable
    probe = ("import importlib.util, sys; "
             "print(' '.join(m for m in ('tensorflow', 'numpy') if importlib.util.find_spec(m) is None))")
    try:
        done = subprocess.run([executable, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise VerifyUnavailable(f"--verify cannot run {executable}: {getattr(error, 'strerror', None) or error}; "
                                "pass --python with a Python that has TensorFlow") from error
    missing = done.stdout.split() if done.returncode == 0 else ["a working Python"]
    if missing:
        raise VerifyUnavailable(f"--verify needs TensorFlow ({executable} lacks {', '.join(missing)}): "
                                "install tfgradfix[verify] or pass --python")


def verify_files(items: list[tuple[str, str, str]], python: Optional[str] = None, device: str = "auto",
                 timeout: float = 300.0, examples: Optional[dict] = None) -> list[dict[str, dict]]:
    """For each (path, original text, fixed text): {unit name: verdict}, one child process
    per batch of files, each with `timeout` seconds.
    `examples`: {"Class" or "module.path:Class": {"args", "kwargs", "input_shape"}}."""
    verdicts: list[dict[str, dict]] = []
    for start in range(0, len(items), BATCH):
        verdicts += _verify_batch(items[start:start + BATCH], python, device, timeout, examples or {})
    return verdicts


def _verify_batch(items: list[tuple[str, str, str]], python: Optional[str], device: str, timeout: float,
                  examples: dict) -> list[dict[str, dict]]:
    plans = [changed_units(original, fixed) for _, original, fixed in items]
    if not any(plans):
        return [{} for _ in items]
    with tempfile.TemporaryDirectory(prefix="tfgradfix-verify-") as folder:
        files = []
        for index, ((path, original, fixed), units) in enumerate(zip(items, plans)):
            before, after = Path(folder, f"original_{index}.py"), Path(folder, f"fixed_{index}.py")
            before.write_text(original, encoding="utf-8")
            after.write_text(fixed, encoding="utf-8")
            root, package = _package_of(path)
            files.append({"original": str(before), "fixed": str(after), "units": [[u.kind, u.name] for u in units],
                          "folder": root, "package": package, "examples": _examples_for(path, units, examples)})
        job = json.dumps({"files": files, "device": device})
        try:
            done = subprocess.run([python or sys.executable, CHILD], input=job, capture_output=True, text=True,
                                  timeout=timeout, cwd=folder)
        except subprocess.TimeoutExpired:
            return _all(plans, "failed", f"timed out after {timeout:.0f} s; the child was killed")
    line = next((l for l in reversed(done.stdout.splitlines()) if l.startswith(MARKER)), None)
    if line is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        verdict = "inconclusive" if "No module named 'tensorflow'" in done.stderr else "failed"
        return _all(plans, verdict, f"the verifier stopped: {last}")
    return json.loads(line[len(MARKER):])["files"]


def _package_of(path: str) -> tuple[str, str]:
    """The folder to put on sys.path and the dotted package of the file, so that its
    sibling and relative imports resolve as in the project."""
    folder = Path(os.path.abspath(path)).parent
    parts: list[str] = []
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return str(folder), ".".join(parts)


def _examples_for(path: str, units: list[Unit], examples: dict) -> dict:
    """The examples that name these units: by class name, or `module.path:Class` ending in this file."""
    module = Path(path).with_suffix("").as_posix().replace("/", ".")
    found = {}
    for key, example in examples.items():
        where, _, name = key.rpartition(":")
        if any(u.name == name for u in units) and (not where or module.endswith(where)):
            found[name] = example
    return found


def _all(plans: list[list[Unit]], verdict: str, reason: str) -> list[dict[str, dict]]:
    return [{u.name: {"verdict": verdict, "reason": reason} for u in units} for units in plans]


def describe(name: str, result: dict) -> str:
    """`verified CPU Linear: grads None→ok for w, b; max|Δ| 0; fd rel err 3e-04`."""
    parts = []
    if result.get("variables"):
        lost = result.get("none_before") or []
        untracked = result.get("untracked_before") or 0
        before = f"{len(lost)} None" + (f", {untracked} untracked" if untracked else "")
        parts.append(f"grads {before}→{'ok' if not result.get('none_after') else 'None'} for "
                     f"{', '.join(result['variables'])}")
    elif "none_before" in result:
        parts.append(f"None gradients {result['none_before']}→{result.get('none_after', '?')}")
    if result.get("max_abs_diff") is not None:
        parts.append(f"max|Δ| {result['max_abs_diff']:.3g}")
    if result.get("fd_rel_error") is not None:
        parts.append(f"fd rel err {result['fd_rel_error']:.1e}")
    if result.get("reason"):
        parts.append(result["reason"])
    return f"{result['verdict']} {result.get('device', '-')} {name}: {'; '.join(parts)}"
