"""The parent side of `--verify`: plans each changed unit from the project, writes the
sliced module trees, and runs one child process per batch of files, with a time limit."""

from __future__ import annotations

import ast
import functools
import json
import os
import queue
import re
import subprocess
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from tfgradfix.analysis.project import ProjectIndex, importable_package
from tfgradfix.verify import plan, project_tests
from tfgradfix.verify.child import FINISHED, MARKER, STARTED, TRYING, Answer, FileJob, Job, UnitJob
from tfgradfix.verify.slicer import BLOCK_PREFIX, ModuleTable, lift_blocks, numpy_calls
from tfgradfix.verify.units import NOTHING, Unit, changed_units, nothing_runs, units_elsewhere

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
                 timeout: float = 300.0, examples: Optional[dict] = None,
                 index: Optional[ProjectIndex] = None) -> list[dict[str, dict]]:
    """For each (path, original text, fixed text): {unit name: verdict}, one child process
    per batch of files, each with `timeout` seconds.
    `examples`: {"Class" or "module.path:Class": {"args", "kwargs", "input_shape"}}.
    `index`: the run's project index (else one of these files is built)."""
    verdicts: list[dict[str, dict]] = []
    for batch in _batches(items, examples or {}, index):
        (found,) = _run_batches([batch], python, device, timeout)
        verdicts += found
    return verdicts


def verify_runs(runs: list[list[tuple[str, str, str]]], python: Optional[str] = None, device: str = "auto",
                timeout: float = 300.0) -> list[list[dict[str, dict]]]:
    """What `verify_files(items)` gives for each `items` of `runs`, each planned apart (its
    own project index, its own batches), but all run by one child process, which imports
    TensorFlow once (the tests' many small cases). A hang or a crash of that child fails
    every run."""
    batches = [_batches(items, {}, None) for items in runs]
    found = iter(_run_batches([batch for run in batches for batch in run], python, device, timeout))
    return [[verdict for _ in run for verdict in next(found)] for run in batches]


class _NoTensorFlow(Exception):
    """The Python that runs the child has no TensorFlow."""


# A child that dies (TensorFlow aborting the process on an op it cannot run here) is started
# again on the units it had not reached, this many times at most.
RESTARTS = 5
# Inputs of one unit on which TensorFlow may abort the child before the unit is given up.
_AVOIDED_INPUTS = 3
# Seconds a child that has answered (or was killed) gets to exit.
_EXIT_GRACE = 30


def _under_keras_2(files: list[FileJob], answer: Answer, python: Optional[str], device: str, timeout: float,
                   folder: str) -> Answer:
    """Run again under Keras 2 the units that Keras 3 refused before any fix (code written for
    Keras 2: a `/` in a layer's name, a flag passed positionally, a Keras 2 API), where the Python
    that verifies has tf_keras: a verdict there replaces "inconclusive", and says which Keras gave it."""
    refused = [{label for label, verdict in found.items() if verdict.pop("keras_2_retry", False)}
               for found in answer["files"]]
    if not any(refused) or not has_keras_2(python):
        return answer
    again = _answer([{**file, "units": [u for u in file["units"] if u["label"] in labels]}
                     for file, labels in zip(files, refused)],
                    python, device, timeout, folder, env={"TF_USE_LEGACY_KERAS": "1"})
    for found, later in zip(answer["files"], again["files"]):
        for label, verdict in later.items():
            verdict.pop("keras_2_retry", None)
            under_3 = found[label]["reason"]
            if verdict["verdict"] == "inconclusive":
                found[label]["reason"] = f"{under_3}; under Keras 2 (tf_keras) as well: {_news(under_3, verdict['reason'])}"
                continue
            note = f"run under Keras 2 (tf_keras, TF_USE_LEGACY_KERAS=1), as Keras 3 refused the original: {under_3}"
            found[label] = {**verdict, "keras": "2",
                            "reason": f"{verdict['reason']}; {note}" if verdict.get("reason") else note}
    return answer


def _news(said: str, again: str) -> str:
    """What `again` adds to `said`: where both give the same advice and differ in the error that
    ended them (`... (last error: X)`), that error alone."""
    marker = "(last error: "
    if marker in said and marker in again and said.split(marker)[0] == again.split(marker)[0]:
        return "last error: " + again.split(marker, 1)[1].rstrip(")")
    return again


@functools.lru_cache(maxsize=None)
def has_keras_2(python: Optional[str]) -> bool:
    """Whether `python` (default: this one) can import tf_keras, the Keras 2 that TensorFlow runs
    under TF_USE_LEGACY_KERAS=1 (looked up, not imported)."""
    probe = "import importlib.util; print(importlib.util.find_spec('tf_keras') is not None)"
    try:
        done = subprocess.run([python or sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.stdout.strip() == "True"


def _answer(files: list[FileJob], python: Optional[str], device: str, timeout: float, folder: str,
            env: Optional[dict[str, str]] = None) -> Answer:
    """The child's answer for `files`, `timeout` seconds for each unit (and for starting up).
    Where the child dies or runs past the limit in a unit, the units it finished keep their
    verdicts, the one it was running is inconclusive (nothing says whether the original or the
    fixed side killed or held it), and a new child runs the rest. Where it died calling a layer
    on an input it named (`TRYING`), the new child runs that unit again without that input."""
    found: list[dict[str, dict]] = [{} for _ in files]
    answered_device = ""
    restarts = 0
    while restarts <= RESTARTS:  # a restart to skip an input TensorFlow aborted on is not counted
        remaining: list[FileJob] = [{**file, "units": [u for u in file["units"] if u["label"] not in done]}
                                    for file, done in zip(files, found)]
        if not any(file["units"] for file in remaining):
            break
        job: Job = {"files": remaining, "device": device}
        child = _Child([python or sys.executable, CHILD], json.dumps(job), folder, env)
        running, answered, trying = None, False, None
        for out in child.lines(timeout):
            if out.startswith(FINISHED):
                position, label, verdict = json.loads(out[len(FINISHED):])
                found[position][label] = verdict
                answered_device = verdict.get("device", answered_device)
                running = None
            elif out.startswith(STARTED):
                running, trying = tuple(json.loads(out[len(STARTED):])), None
            elif out.startswith(TRYING):
                trying = json.loads(out[len(TRYING):])
            elif out.startswith(MARKER):
                answered_device, answered = json.loads(out[len(MARKER):])["device"], True
                break
        stderr = child.finish()
        if answered:
            break
        if "No module named 'tensorflow'" in stderr:
            raise _NoTensorFlow((stderr.strip().splitlines() or ["no output"])[-1])
        if running is None:  # it stopped outside any unit: nothing to go on with
            stopped = ({"verdict": "inconclusive", "reason": (
                f"not run: the verifier's child process ran past the time limit ({timeout:.0f} s, "
                "`--verify-timeout`) outside any unit, starting TensorFlow or loading the project")}
                if child.timed_out else {"verdict": "failed", "reason": f"the verifier stopped: {_last_words(stderr)}"})
            for position, file in enumerate(remaining):
                for unit in file["units"]:
                    found[position].setdefault(unit["label"], dict(stopped))
            break
        position, label = running
        unit = next(u for u in files[position]["units"] if u["label"] == label)
        avoided = unit.setdefault("avoid_shapes", [])
        if trying is not None and not child.timed_out and len(avoided) < _AVOIDED_INPUTS:
            avoided.append(trying)  # TensorFlow aborted on this input: the next child tries the others
            continue
        restarts += 1
        what = (f"ran past the time limit ({timeout:.0f} s, `--verify-timeout`)" if child.timed_out
                else f"the verifier's child process died while running it "
                     f"({_signal(child.process.returncode)}{_last_words(stderr)})")
        found[position][label] = {"verdict": "inconclusive", "reason": (
            f"{what}, on the original or the fixed side: check it with the project's own run")}
    for position, file in enumerate(files):  # past the restarts
        for unit in file["units"]:
            found[position].setdefault(unit["label"], {
                "verdict": "inconclusive", "reason": "not run: the verifier's child process died too often"})
    return {"device": answered_device, "files": found}


class _Child:
    """The child process, read a line at a time, killed when a unit (or its start) takes longer
    than the limit: a hang in one unit costs that unit only."""

    def __init__(self, command: list[str], job: str, folder: str, env: Optional[dict[str, str]] = None) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=folder,
                                        env={**os.environ, **env} if env else None)
        self.timed_out = False
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader = threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True)
        self._stderr_reader.start()
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(job)
            self.process.stdin.close()
        except BrokenPipeError:  # it died at once: its stderr says why
            pass

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def lines(self, timeout: float):
        """The child's output lines; each unit's start resets the clock."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.timed_out = True
                self.process.kill()
                return
            if line is None:
                return
            if line.startswith(STARTED):
                deadline = time.monotonic() + timeout
            yield line

    def finish(self) -> str:
        """Wait for the child to end (killed where it hangs on its way out); its stderr."""
        try:
            self.process.wait(timeout=_EXIT_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr_reader.join()
        return "".join(self._stderr)


def _signal(returncode: Optional[int]) -> str:
    """How a child that ended without answering was ended, where a signal did it."""
    if returncode is None or returncode == 0:
        return ""
    if returncode > 0:
        return f"exit status {returncode}; "
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}; "
    meaning = {"SIGSEGV": "a crash in native code", "SIGABRT": "TensorFlow aborted",
               "SIGKILL": "killed from outside, often for memory", "SIGBUS": "a crash in native code"}.get(name)
    return f"{name}{f', {meaning}' if meaning else ''}; "


def _last_words(stderr: str) -> str:
    """What TensorFlow said when it aborted (`Check failed: ...`), else the last line."""
    lines = stderr.strip().splitlines() or ["no output"]
    said = [line for line in lines if "Check failed" in line or re.match(r"F\d{4} ", line)]
    return (said or lines)[-1].strip()


class _Batch:
    """Up to BATCH files of one run, with their units to run."""

    def __init__(self, items: list[tuple[str, str, str]], examples: dict, projects: dict,
                 index: ProjectIndex) -> None:
        self.items, self.examples, self.projects, self.index = items, examples, projects, index
        self.plans: list[list[Unit]] = []
        for path, original, fixed in items:
            units = changed_units(original, fixed)
            self.plans.append(units + units_elsewhere(index, path, original, fixed, units))

    def plan(self, folder: str) -> list[FileJob]:
        """The child's job for each file, the trees written under `folder`."""
        files: list[FileJob] = []
        # The fixed tree holds every fixed file of the batch: a training function runs the
        # project's models as the whole fix leaves them, not with another file's old bug.
        fixed_texts = {Path(path).resolve(): fixed for path, _, fixed in self.items}
        for position, ((path, original, fixed), units) in enumerate(zip(self.items, self.plans)):
            changed = Path(path).resolve()
            root = _project_root(path, self.index)
            project = self.projects.setdefault(root, plan.Project(Path(root), self.index))
            before, after = project.with_text(changed, original), project.with_texts({**fixed_texts, changed: fixed})
            planned: list[UnitJob] = []
            for number, unit in enumerate(units):
                where = Path(folder, f"{position}-{number}")
                home = Path(unit.path).resolve() if unit.path else changed
                planned.append(plan_unit(before, after, home, unit,
                                         _examples_for(str(home), [unit], self.examples).get(unit.name), where))
            files.append({"units": planned})
        return files

    def read(self, verdicts: list[dict]) -> list[dict[str, dict]]:
        """The child's verdicts for the files of this batch, completed by the parent."""
        for item, units, found in zip(self.items, self.plans, verdicts):
            blocks = _block_lines(item[1]) if any(u.kind == "block" for u in units) else {}
            for unit in units:
                if unit.covers and unit.key in found:
                    found[unit.key]["covers"] = list(unit.covers)
                if unit.occurrence and unit.key in found:
                    found[unit.key]["lines"] = _definition_lines(item[1], unit.name, unit.occurrence)
                if unit.key in blocks and unit.key in found:
                    found[unit.key]["lines"] = blocks[unit.key]
            if not units:
                found.update(_nothing(self.index, item))
        return verdicts


def _batches(items: list[tuple[str, str, str]], examples: dict, index: Optional[ProjectIndex]) -> list[_Batch]:
    projects: dict[Path, plan.Project] = {}
    if index is None:
        index = ProjectIndex.build([path for path, _, _ in items])
    return [_Batch(items[start:start + BATCH], examples, projects, index) for start in range(0, len(items), BATCH)]


def _run_batches(batches: list[_Batch], python: Optional[str], device: str,
                 timeout: float) -> list[list[dict[str, dict]]]:
    """The verdicts of each batch; the batches with a unit to run are run by one child process."""
    running = [batch for batch in batches if any(batch.plans)]
    if not running:
        return [[_nothing(batch.index, item) for item in batch.items] for batch in batches]
    with tempfile.TemporaryDirectory(prefix="tfgradfix-verify-") as folder:
        files = []
        for number, batch in enumerate(running):
            files += batch.plan(folder if len(running) == 1 else str(Path(folder, f"batch-{number}")))
        try:
            answer = _answer(files, python, device, timeout, folder)
            answer = _under_keras_2(files, answer, python, device, timeout, folder)
        except _NoTensorFlow as error:
            return [_all(batch.plans, "inconclusive", f"the verifier stopped: {error}") if batch in running
                    else [_nothing(batch.index, item) for item in batch.items] for batch in batches]
    verdicts = iter(answer["files"])
    found = [batch.read([next(verdicts) for _ in batch.items]) if batch in running
             else [_nothing(batch.index, item) for item in batch.items] for batch in batches]
    for batch, files in zip(batches, found):
        if batch in running:
            _project_tests(batch, files, python, min(timeout, project_tests.TESTS_TIMEOUT))
    return found


def _project_tests(batch: "_Batch", files: list[dict[str, dict]], python: Optional[str], timeout: float) -> None:
    """Run the project's tests of the batch's changed modules before and after the fixes, and
    put what they say into those modules' verdicts (`project_tests`)."""
    by_root: dict[str, dict[Path, str]] = {}
    for (path, original, fixed), verdicts in zip(batch.items, files):
        if original != fixed and any(v.get("verdict") != "not_runnable" for v in verdicts.values()):
            by_root.setdefault(_project_root(path, batch.index), {})[Path(path).resolve()] = fixed
    outcomes: dict[Path, dict] = {}
    for root, changed in by_root.items():
        project = batch.projects.setdefault(root, plan.Project(Path(root), batch.index))
        outcomes.update(project_tests.check(Path(root).resolve(), changed, project, python, timeout))
    for (path, _, _), verdicts in zip(batch.items, files):
        outcome = outcomes.get(Path(path).resolve())
        if outcome is not None:
            project_tests.apply(verdicts, outcome)


def _block_lines(original: str) -> dict[str, list[int]]:
    """The first and last lines of each top-level tape block in the original text: which
    block a finding of top-level code is in."""
    try:
        return {b.name: [b.line, b.end_line] for b in lift_blocks(ModuleTable(original))}
    except (SyntaxError, ValueError, RecursionError):
        return {}


def _definition_lines(original: str, name: str, occurrence: int) -> list[int]:
    """The first and last lines of the `occurrence`-th top-level class `name` of the original
    text: which definition a finding of a class a notebook defines again is in."""
    try:
        defined = [s for s in ast.parse(original).body if isinstance(s, ast.ClassDef) and s.name == name]
    except (SyntaxError, ValueError, RecursionError):
        return []
    if len(defined) < occurrence:
        return []
    node = defined[occurrence - 1]
    return [min([node.lineno, *(d.lineno for d in node.decorator_list)]), node.end_lineno or node.lineno]


def _nothing(index: ProjectIndex, item: tuple[str, str, str]) -> dict[str, dict]:
    """The verdict of a changed file with no unit to run: what to add."""
    path, original, fixed = item
    if original == fixed:
        return {}
    to_add = nothing_runs(index, path, original, fixed)
    return {NOTHING: {"verdict": "not_runnable", "reason": to_add, "to_add": to_add}}


def plan_unit(before: plan.Project, after: plan.Project, path: Path, unit: Unit, example: Optional[dict],
              folder: Path) -> UnitJob:
    """The job for one unit of file `path`: both trees (the project as it was, and with every
    fix of the batch) written under `folder`, and the ways to build and feed it."""
    entry = before.module_name(path)
    job: UnitJob = {"kind": unit.kind, "name": unit.name, "label": unit.key, "entry": entry, "example": example,
                    "shapes": plan.input_shapes(before, path), "integer_shapes": plan.integer_shapes(before, path),
                    "integer_inputs": plan.integer_inputs(before, path)}
    extra: list[plan.Builder] = []
    blocks_before: dict = {}
    blocks_after: dict = {}
    owner, _, method = unit.name.partition(".")  # `Agent.learn`: a method of a plain class
    if unit.kind == "layer" or method:
        extra = plan.builders(before, path, owner)
        job["nested_in"] = plan.nested_in(before, path, owner)
        if unit.nested_in:  # one of several classes of this name: built only through the function holding it
            extra = [b for b in extra if (b.via or b.name) == unit.nested_in]
            job["nested_in"] = unit.nested_in
        if unit.kind == "layer":
            job["input_structure"] = plan.input_structure(before, path, owner)
        job["settings"] = plan.settings(before)
    else:
        extra = plan.models(before, path)
    if unit.kind == "block":
        old = {b.name: b for b in lift_blocks(before.table(path))}
        new = {b.name: b for b in lift_blocks(after.table(path))}
        if unit.name in old:
            blocks_before[path] = ([old[unit.name].statement], old[unit.name].index)
        blocks_after[path] = ([new[unit.name].statement], new[unit.name].index)
        job["parameters"], job["objects"] = new[unit.name].parameters, sorted(new[unit.name].statement.uses)
        job["label"] = unit.name
    if unit.occurrence:  # the definition of that name that a fix changed, and the names as they stood there
        for side, blocks in ((before, blocks_before), (after, blocks_after)):
            defined = [s for s in side.table(path).bindings(unit.name) if isinstance(s.node, ast.ClassDef)]
            if len(defined) >= unit.occurrence:
                blocks[path] = ([], defined[unit.occurrence - 1].index + 1)
    if unit.kind == "function" and before.table(path) is not None and before.table(path).bindings(unit.name):
        job["objects"] = sorted(before.table(path).bindings(unit.name)[-1].uses)  # the module's model, if it uses one
    names = {owner} if unit.kind != "block" else set()
    if before.table(path) is not None and before.table(path).bindings("example"):
        names.add("example")
    requests = [(path, names), *((b.path, {b.name}) for b in extra if b.path is not None)]
    trees = {"original": plan.build_tree(before, requests, blocks_before),
             "fixed": plan.build_tree(after, requests, blocks_after)}
    for side, tree in trees.items():
        for name, code in tree.files.items():
            target = folder / side / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
        (folder / side).mkdir(parents=True, exist_ok=True)
    job["original"], job["fixed"] = str(folder / "original"), str(folder / "fixed")
    job["missing"] = {**trees["original"].missing, **trees["fixed"].missing}
    job["numpy_calls"] = [sum(numpy_calls(code) for code in trees[side].files.values()) for side in ("original", "fixed")]
    job["modules"] = list(dict.fromkeys(b.module for b in extra if b.module != entry))
    if unit.kind == "layer" or method:
        job["builders"] = [b.as_json() for b in extra]
    else:
        job["models"] = [b.as_json() for b in extra]
    return job


def _project_root(path: str, index: ProjectIndex) -> str:
    """The folder to put on sys.path for the file: above its packages, and above the namespace
    packages an import of the project reaches it through (`from utils.train import train` in a
    notebook beside `utils/` and `models/`, folders without `__init__.py`), so that the project's
    models in sibling folders are part of it."""
    file = Path(path).resolve()
    folder = file.parent
    while importable_package(folder):
        folder = folder.parent
    dotted = index.reached_as(path)
    if dotted is not None and dotted.count(".") < len(file.parents):
        spelled = file.parents[dotted.count(".")]
        if spelled in folder.parents:
            folder = spelled
    return str(folder)


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
    return [{u.key: {"verdict": verdict, "reason": reason, **({"covers": list(u.covers)} if u.covers else {})}
             for u in units} for units in plans]


def _variables_named(names: list[str]) -> str:
    """`w, b`; a whole network's as `188 variables (kernel, beta, bias)`."""
    if len(names) <= 8:
        return ", ".join(names)
    return f"{len(names)} variables ({', '.join(dict.fromkeys(names))})"


def describe(name: str, result: dict) -> str:
    """`verified CPU Linear: grads None→ok for w, b; max|Δ| 0; fd rel err 3e-04`."""
    parts = []
    if result.get("through"):
        parts.append(f"built inside {result['through']}")
    if result.get("options"):
        parts.append(f"with {result['options']}")
    if result.get("model"):
        parts.append(f"run on a {result['model']}")
    if result.get("variables"):
        lost = result.get("none_before") or []
        untracked = result.get("untracked_before") or 0
        before = f"{len(lost)} None" + (f", {untracked} untracked" if untracked else "")
        parts.append(f"grads {before}→{'ok' if not result.get('none_after') else 'None'} for "
                     f"{_variables_named(result['variables'])}")
    elif "inputs_none_before" in result:
        before, after = result["inputs_none_before"], result.get("inputs_none_after") or []
        parts.append(f"no weights; input gradients None for {len(before)}→{len(after)} of the inputs")
    elif "none_before" in result:
        parts.append(f"None gradients {result['none_before']}→{result.get('none_after', '?')}")
        if result.get("sources_before") != result.get("sources_after"):
            parts.append(f"variables differentiated {result.get('sources_before')}→{result.get('sources_after')}")
    if result.get("max_abs_diff") is not None:
        parts.append(f"max|Δ| {result['max_abs_diff']:.3g}")
    if result.get("fd_rel_error") is not None:
        parts.append(f"fd rel err {result['fd_rel_error']:.1e}")
    tests = result.get("tests")
    if tests and "ran" in tests and result["verdict"] != "failed":
        broken = len(tests.get("broken", []))
        parts.append(f"project tests {', '.join(tests['tests'])}: {tests['ran']} ran, "
                     + (f"{broken} broken by another unit's fix" if broken else "none broken"))
    elif tests and "not_run" in tests:
        parts.append(f"project tests {', '.join(tests['tests'])} not run: {tests['not_run']}")
    if result.get("reason"):
        parts.append(result["reason"])
    if name.startswith(BLOCK_PREFIX):
        name = f"top-level tape block {name[len(BLOCK_PREFIX):]}"
    if result["verdict"] == "not_runnable":
        return f"not runnable: {result['reason']}"
    return f"{result['verdict']} {result.get('device', '-')} {name}: {'; '.join(parts)}"


def tally(results) -> dict:
    """How much a run proved: units verified, failed, inconclusive, and changed files
    with no unit that can be run (`summary.verification` in JSON)."""
    counts = {"verified": 0, "failed": 0, "inconclusive": 0, "not_runnable": 0}
    for result in results:
        if result.changed and not result.verification:
            counts["not_runnable"] += 1
        for verdict in result.verification.values():
            counts[verdict["verdict"]] = counts.get(verdict["verdict"], 0) + 1
    return counts


def summary_lines(results, display=str) -> list[str]:
    """The count line, then what to add to make each inconclusive unit runnable."""
    counts = tally(results)
    lines = [f"Verification: {counts['verified']} verified, {counts['failed']} failed, "
             f"{counts['inconclusive']} inconclusive, {counts['not_runnable']} not runnable."]
    for result in results:
        for name, verdict in result.verification.items():
            if verdict["verdict"] in ("inconclusive", "not_runnable"):
                where = display(result.path) + ("" if name == NOTHING else f":{name}")
                lines.append(f"  to run {where}: {verdict.get('to_add') or verdict['reason']}")
    return lines
