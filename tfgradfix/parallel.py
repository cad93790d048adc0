"""Files processed by worker processes, results in path order whatever the scheduling."""

from __future__ import annotations

import multiprocessing
import os
from typing import Iterator, Optional

from tfgradfix import interrupts
from tfgradfix.engine import Engine, FileResult

_ENGINE: Optional[Engine] = None
# Files per task: large enough to amortise the round trip, small enough to balance.
CHUNK = 8


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _start(engine: Engine) -> None:
    global _ENGINE
    _ENGINE = engine
    interrupts.ignore()


def _process(path: str) -> FileResult:
    assert _ENGINE is not None
    return _ENGINE.process_path(path).detached()


def process_files(engine: Engine, paths: list[str], jobs: int) -> Iterator[FileResult]:
    """Each file's result, in the order of `paths`. One job runs in this process;
    more use a pool of worker processes that each build the engine once. However the
    iteration ends (Ctrl-C included), the workers are stopped at once."""
    if jobs <= 1 or len(paths) <= 1:
        for path in paths:
            yield engine.process_path(path)
        return
    with interrupts.held():
        pool = multiprocessing.Pool(min(jobs, len(paths)), initializer=_start, initargs=(engine,))
    try:
        yield from pool.imap(_process, paths, chunksize=CHUNK)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
