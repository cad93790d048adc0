"""Speed of `tfgradfix check` as ratios to LibCST's parse (the floor for a LibCST
tool), Python's `ast.parse` and TensorFlow's `tf_upgrade_v2`, on the same files in the
same run; `check` with one process and with -jN.

    python benchmarks/speed.py [--repeat N] [PATH ...]     # default: the installed keras package

The ratios, not the seconds, are comparable across machines. The in-process runs
(`check -j1`, the parses, `tf_upgrade_v2`) are compared in CPU seconds of this process,
which other jobs on a shared machine do not inflate; `-jN` can only be timed on the wall
clock. `tf_upgrade_v2` is timed after its import (when TensorFlow is installed), per file.
With `--repeat N`, `check -j1` and LibCST's parse run N times each, alternating, and the
least time of each counts (on a shared machine a slow neighbour only ever adds time).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst

from tfgradfix.analysis.project import ProjectIndex
from tfgradfix.engine import Engine
from tfgradfix.files import discover, read_source
from tfgradfix.parallel import default_jobs, process_files
from tfgradfix.rules import ALL_RULES


def _default_corpus() -> list[str]:
    spec = importlib.util.find_spec("keras")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit("give a path: keras is not installed")
    return list(spec.submodule_search_locations)


def _timed(label: str, function, sources) -> float:
    """CPU seconds of this process for `function` over the sources."""
    start, cpu = time.perf_counter(), time.process_time()
    for source in sources:
        function(source)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    print(f"{label:<28} {elapsed:8.2f} s  (CPU {used:.2f} s)")
    return used


def _parse(source) -> None:
    try:
        cst.parse_module(source.text)
    except cst.ParserSyntaxError:
        pass


def _ast(source) -> None:
    try:
        ast.parse(source.text)
    except SyntaxError:
        pass


def main(paths: list[str], repeat: int = 1) -> None:
    files, _ = discover(paths)
    sources = []
    for path in files:
        try:
            sources.append(read_source(path))
        except Exception:  # unreadable files are the engine's business, not the benchmark's
            pass
    lines = sum(s.text.count("\n") for s in sources)
    print(f"{len(sources)} files, {lines} lines under {', '.join(paths)}")
    jobs = max(2, default_jobs())
    paths = [s.path for s in sources]
    check, index = _check(paths, 1)
    parallel, _ = _check(paths, jobs)
    engine = Engine(ALL_RULES, project=ProjectIndex.build(paths, _TRIGGERS))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parse = _timed("libcst parse_module", _parse, sources)
    for _ in range(repeat - 1):
        again, again_index = _check(paths, 1)
        if again < check:
            check, index = again, again_index
        parse = min(parse, _timed("libcst parse_module", _parse, sources))
    python = _timed("ast.parse", _ast, sources)
    upgrade = _tf_upgrade_v2(sources)
    parsed = sum(engine.process(s).parsed for s in sources)
    print(f"check parsed {parsed} of {len(sources)} files (the rest failed the text prefilter)")
    ratios = (f"check -j1 {check / parse:.2f}x (of which the project index {index / parse:.2f}x), "
              f"check -j{jobs} {parallel / parse:.2f}x (wall clock: only on a quiet machine), ast.parse {python / parse:.2f}x")
    if upgrade is not None:
        ratios += f", tf_upgrade_v2 {upgrade / parse:.2f}x"
    print(f"ratios to LibCST parse: {ratios}")
    print(f"-j{jobs} speed-up over -j1: {check / parallel:.2f}x")
    print(f"peak memory of check (this process, before the other tools ran): {peak:.0f} MiB")


_TRIGGERS = tuple({t for rule in ALL_RULES for t in rule.triggers})


def _check(paths: list[str], jobs: int) -> tuple[float, float]:
    """`check` as the command line runs it: the project index, then every file (the
    project rounds included). Seconds in all, and for the index: CPU seconds of this
    process with one job (all the work is here), wall-clock seconds with workers."""
    clock = time.process_time if jobs == 1 else time.perf_counter
    start, wall = clock(), time.perf_counter()
    project = ProjectIndex.build(paths, _TRIGGERS)
    index = clock() - start
    for _ in process_files(Engine(ALL_RULES, project=project), paths, jobs):
        pass
    elapsed = clock() - start
    what = "CPU" if jobs == 1 else "wall"
    print(f"{f'tfgradfix check (-j{jobs})':<28} {time.perf_counter() - wall:8.2f} s  "
          f"({what} {elapsed:.2f} s, project index {index:.2f} s)")
    return elapsed, index


def _tf_upgrade_v2(sources) -> float | None:
    try:
        from tensorflow.tools.compatibility import ast_edits, tf_upgrade_v2
    except ImportError:
        print(f"{'tf_upgrade_v2':<28} (TensorFlow not installed)")
        return None
    upgrader = ast_edits.ASTCodeUpgrader(tf_upgrade_v2.TFAPIChangeSpec())
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
        out = Path(folder, "out.py")
        start = time.process_time()
        logging.disable(logging.CRITICAL)  # it logs every change it makes
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            for source in sources:
                try:
                    upgrader.process_file(source.path, str(out))
                except Exception:  # it gives up on syntax it does not know; that is part of its cost
                    pass
        elapsed = time.process_time() - start
    print(f"{'tf_upgrade_v2':<28} CPU {elapsed:.2f} s")
    return elapsed


if __name__ == "__main__":
    arguments = sys.argv[1:]
    times = 1
    if arguments[:1] == ["--repeat"]:
        times, arguments = int(arguments[1]), arguments[2:]
    main(arguments or _default_corpus(), times)
