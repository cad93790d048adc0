"""Speed of `tfgradfix check` as ratios to LibCST's parse and Python's `ast.parse`
on the same files, in the same run.

    python benchmarks/speed.py [PATH ...]     # default: the installed keras package

Single process. The ratios, not the seconds, are comparable across machines.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import resource
import sys
import time

import libcst as cst

from tfgradfix.engine import Engine
from tfgradfix.files import discover, read_source
from tfgradfix.rules import ALL_RULES


def _default_corpus() -> list[str]:
    spec = importlib.util.find_spec("keras")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit("give a path: keras is not installed")
    return list(spec.submodule_search_locations)


def _timed(label: str, function, sources) -> float:
    start = time.perf_counter()
    for source in sources:
        function(source)
    elapsed = time.perf_counter() - start
    print(f"{label:<28} {elapsed:8.2f} s")
    return elapsed


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


def main(paths: list[str]) -> None:
    files, _ = discover(paths)
    sources = []
    for path in files:
        try:
            sources.append(read_source(path))
        except Exception:  # unreadable files are the engine's business, not the benchmark's
            pass
    lines = sum(s.text.count("\n") for s in sources)
    print(f"{len(sources)} files, {lines} lines under {', '.join(paths)}")
    engine = Engine(ALL_RULES)
    check = _timed("tfgradfix check (-j1)", engine.process, sources)
    parse = _timed("libcst parse_module", _parse, sources)
    python = _timed("ast.parse", _ast, sources)
    parsed = sum(engine.process(s).parsed for s in sources)
    print(f"check parsed {parsed} of {len(sources)} files (the rest failed the text prefilter)")
    print(f"ratios to LibCST parse: check {check / parse:.2f}x, ast.parse {python / parse:.2f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:] or _default_corpus())
