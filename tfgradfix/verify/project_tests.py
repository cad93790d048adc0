"""The project's own tests, before and after the fixes (`--verify`).

Where a changed module has pytest tests in the project (files named `test_*.py` or
`*_test.py` that import it, at the top or inside a test), those test files are run on a copy
of the project as it was and on a copy with every fixed file of the batch written in, each by
pytest in a child process of `--python`'s interpreter with a time limit. A test that passed
before and fails after fails the units of every changed module its file imports; the verdicts
say which tests ran. Bounded: at most MAX_TEST_FILES test files per batch, TESTS_TIMEOUT
seconds a side, a project of at most MAX_COPY_BYTES. Nothing of the project is imported here.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Optional

from tfgradfix.verify import plan

# Test files run per batch of changed files, the seconds each side may take, and the size of
# project (bytes of files copied) beyond which no copy is made.
MAX_TEST_FILES = 5
TESTS_TIMEOUT = 180.0
MAX_COPY_BYTES = 64 * 1024 * 1024
# What a test run never copies: data folders are read where they are, by no test of ours.
_SKIPPED = plan._SKIPPED_FOLDERS | {".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}


def is_test_file(path: Path) -> bool:
    return path.suffix == ".py" and (path.name.startswith("test_") or path.stem.endswith("_test"))


def tests_for(project: plan.Project, path: Path) -> list[Path]:
    """The project's test files that import the module at `path` (`import pkg.mod`, `from pkg
    import mod`, `from pkg.mod import X`, relative forms; anywhere in the file)."""
    found = []
    for candidate in project.files():
        if not is_test_file(candidate) or candidate == path:
            continue
        table = project.table(candidate)
        if table is None:
            continue
        for node in ast.walk(table.tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, 0) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [(node.module or "", node.level)]
                targets += [(f"{node.module}.{a.name}" if node.module else a.name, node.level) for a in node.names]
            else:
                continue
            if any(project.resolve(candidate, module, level) == path for module, level in targets):
                found.append(candidate)
                break
    return found


def _copy(root: Path, target: Path) -> bool:
    """The project's files under `root` into `target`, without caches, virtualenvs and VCS
    folders; False (nothing usable) when it is larger than MAX_COPY_BYTES."""
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED and not d.startswith(".")]
        for name in names:
            source = Path(folder, name)
            try:
                total += source.stat().st_size
            except OSError:
                continue
            if total > MAX_COPY_BYTES:
                return False
            destination = target / source.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(source, destination)
            except OSError:
                continue
    return True


def _outcomes(report: Path) -> dict[str, str]:
    """{test id: "passed" | "failed" | "skipped"} from pytest's JUnit XML."""
    try:
        tree = ElementTree.parse(report)
    except (OSError, ElementTree.ParseError):
        return {}
    outcomes = {}
    for case in tree.iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[test] = "failed"
        elif case.find("skipped") is not None:
            outcomes[test] = "skipped"
        else:
            outcomes[test] = "passed"
    return outcomes


def _pytest(python: str, folder: Path, tests: list[str], timeout: float) -> tuple[dict[str, str], str]:
    """Run pytest on `tests` (paths relative to `folder`) there; (outcomes, why not) ."""
    report = folder.parent / f"{folder.name}.xml"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
                   "PYTHONDONTWRITEBYTECODE": "1"}
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--junitxml", str(report),
               *tests]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout, env=environment)
    except subprocess.TimeoutExpired:
        return {}, f"they ran past {timeout:.0f} s"
    except OSError as error:
        return {}, f"{python} cannot run: {error.strerror or error}"
    if "No module named pytest" in done.stderr:
        return {}, f"pytest is not installed in {python}"
    outcomes = _outcomes(report)
    if not outcomes:
        last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["no output"])[-1]
        return {}, f"pytest ran no test ({last[:200]})"
    return outcomes, ""


def check(root: Path, changed: dict[Path, str], project: plan.Project, python: Optional[str],
          timeout: float = TESTS_TIMEOUT) -> dict[Path, dict]:
    """For each changed file (resolved path -> fixed text) that has tests: {"tests": [test
    files], "ran": n, "broken": [ids that passed before and fail after]} or {"tests": [...],
    "not_run": why}."""
    wanted: dict[Path, list[Path]] = {}
    for path in changed:
        found = tests_for(project, path)
        if found:
            wanted[path] = found
    files = list(dict.fromkeys(t for found in wanted.values() for t in found))[:MAX_TEST_FILES]
    if not files:
        return {}
    relative = [str(t.relative_to(root)) for t in files if t.is_relative_to(root)]
    results: dict[Path, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tfgradfix-tests-") as scratch:
        before, after = Path(scratch, "original"), Path(scratch, "fixed")
        if not _copy(root, before) or not _copy(root, after):
            why = f"the project is larger than {MAX_COPY_BYTES // 2 ** 20} MiB"
            return {p: {"tests": _names(root, found), "not_run": why} for p, found in wanted.items()}
        for path, text in changed.items():
            if path.is_relative_to(root) and path.suffix == ".py":
                (after / path.relative_to(root)).write_text(text, encoding="utf-8")
        executable = python or sys.executable
        outcomes_before, why = _pytest(executable, before, relative, timeout)
        outcomes_after, why_after = _pytest(executable, after, relative, timeout) if not why else ({}, "")
    why = why or why_after
    for path, found in wanted.items():
        mine = [t for t in found if t in files]
        if not mine:
            results[path] = {"tests": _names(root, found), "not_run": f"more than {MAX_TEST_FILES} test files"}
            continue
        if why:
            results[path] = {"tests": _names(root, mine), "not_run": why}
            continue
        ids = [t for t in outcomes_before if _in_files(t, root, mine)]
        broken = [t for t in ids if outcomes_before[t] == "passed" and outcomes_after.get(t) != "passed"]
        results[path] = {"tests": _names(root, mine), "ran": len(ids), "broken": broken,
                         "reads": {t: _reads(project, root, mine, t) for t in broken}}
    return results


def _reads(project: plan.Project, root: Path, files: list[Path], test: str) -> Optional[list[str]]:
    """The names a test function reads (`Scale`, `get_shape`), to tell which unit it tests;
    None when it is not found."""
    name = test.split("::")[-1].split("[")[0]
    for path in files:
        table = project.table(path)
        if table is None or not _in_files(test, root, [path]):
            continue
        for node in ast.walk(table.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                              | {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)})
    return None


def _names(root: Path, files: list[Path]) -> list[str]:
    return [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files]


def _in_files(test: str, root: Path, files: list[Path]) -> bool:
    """Whether a JUnit test id (`tests.test_layers::test_x`) is of one of these files."""
    module = test.split("::")[0]
    return any(module == ".".join(f.relative_to(root).with_suffix("").parts) or module == f.stem
               for f in files if f.is_relative_to(root))


def apply(verdicts: dict[str, dict], outcome: dict) -> None:
    """Put a file's test outcome into each of its verdicts: a test broken by the fixes fails
    the units it names (`Scale(4)` in the test), or every unit of the file when it names none
    of them; tests that did not run say why."""
    units = {key: key.split(".")[-1] for key in verdicts}
    reads = outcome.get("reads", {})
    for key, verdict in verdicts.items():
        if verdict.get("verdict") == "not_runnable":
            continue
        verdict["tests"] = {k: v for k, v in outcome.items() if k != "reads"}
        mine = [t for t in outcome.get("broken", []) if reads.get(t) is None
                or units[key] in reads[t] or key.split(".")[0] in reads[t]
                or not any(u in reads[t] or k.split(".")[0] in reads[t] for k, u in units.items())]
        if mine and verdict["verdict"] != "failed":
            shown = ", ".join(mine[:3]) + (" ..." if len(mine) > 3 else "")
            verdict.update(verdict="failed", reason=f"the project's tests that passed before fail after the fixes: "
                                                    f"{shown}")
