"""Files processed by worker processes, results in path order whatever the scheduling."""

from __future__ import annotations

import multiprocessing
import os
from typing import Generator, Iterator, Optional

from tfgradfix import interrupts
from tfgradfix.across import fix_across, preview_across
from tfgradfix.engine import Engine
from tfgradfix.result import FileResult, failure

_ENGINE: Optional[Engine] = None
# Files per task: large enough to amortise the round trip, small enough to balance.
CHUNK = 8
# Rounds of the project phase: each carries the gradient path one more module away
# from the modules that hold the layers and tapes (an import chain this deep).
MAX_ROUNDS = 6


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _start(engine: Engine) -> None:
    global _ENGINE
    _ENGINE = engine
    interrupts.ignore()


def _process(task) -> FileResult:
    assert _ENGINE is not None
    path, entries = task
    if _ENGINE.project is not None and entries is not None:
        # The worker's copy of the index predates this round's entries.
        module = _ENGINE.project.module_for_path(path)
        if module is not None:
            _ENGINE.project.entries[module] = entries
    try:
        return _ENGINE.process_path(path).detached()
    except Exception as error:  # one file's failure is its error line, never the end of the run
        return FileResult(path=path, error=failure(error))


def process_files(engine: Engine, paths: list[str], jobs: int) -> Generator[FileResult, None, None]:
    """Each file's result, in the order of `paths`. One job runs in this process;
    more use one pool of worker processes, which each receive the engine once and
    serve every round. However the iteration ends (Ctrl-C included), the workers are
    stopped at once.

    With a project index, a module whose functions another module's gradient path
    calls is analysed again with those calls as entries, until no module gains one.
    Modules no other module imports cannot gain any: their results come as they are
    ready (unless a fix across modules may edit them); the others once all rounds,
    and the fixes that span modules, are done."""
    pool = None
    if jobs > 1 and len(paths) > 1:
        with interrupts.held():
            pool = multiprocessing.Pool(min(jobs, len(paths)), initializer=_start, initargs=(engine,))
    try:
        yield from _rounds(engine, paths, pool)
        if pool is not None:
            pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _rounds(engine: Engine, paths: list[str], pool) -> Iterator[FileResult]:
    if engine.project is None:
        yield from _map(engine, paths, pool)
        return
    project = engine.project
    # Results of modules no other module imports are final after the first round: they stream.
    imported = project.imported()
    final = [project.module_for_path(path) not in imported for path in paths]
    results: dict[str, FileResult] = {}
    calls: list = []
    cursor = 0
    for path, result in zip(paths, _map(engine, paths, pool)):
        results[path] = result
        calls.extend(result.calls_out)
        while (cursor < len(paths) and final[cursor] and paths[cursor] in results
               and not results[paths[cursor]].calls_out):  # a fix across modules may edit it
            yield results.pop(paths[cursor])
            cursor += 1
    rest = paths[cursor:]
    for _ in range(MAX_ROUNDS):
        grown = project.add_entries(calls)
        again = [path for path in rest if project.module_for_path(path) in grown]
        if not again:
            break
        redone = list(_map(engine, again, pool))
        results.update(zip(again, redone))
        calls = [call for result in redone for call in result.calls_out]
    if engine.fix:
        fix_across(engine, results)
    if engine.previews:
        preview_across(engine, list(results.values()))
    for path in rest:
        yield results[path]


def _map(engine: Engine, paths: list[str], pool) -> Iterator[FileResult]:
    if pool is None or len(paths) <= 1:
        for path in paths:
            yield engine.process_path(path)
        return
    project = engine.project
    tasks = [(path, project.entries_of(project.module_for_path(path) or "") if project is not None else None)
             for path in paths]
    yield from pool.imap(_process, tasks, chunksize=CHUNK)
