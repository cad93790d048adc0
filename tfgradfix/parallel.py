"""Files processed by worker processes, results in path order whatever the scheduling."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator, Optional

from tfgradfix.engine import Engine, FileResult

_ENGINE: Optional[Engine] = None
# Files per task: large enough to amortise the round trip, small enough to balance.
CHUNK = 8


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _start(engine: Engine) -> None:
    global _ENGINE
    _ENGINE = engine


def _process(path: str) -> FileResult:
    assert _ENGINE is not None
    return _ENGINE.process_path(path).detached()


def process_files(engine: Engine, paths: list[str], jobs: int) -> Iterator[FileResult]:
    """Each file's result, in the order of `paths`. One job runs in this process;
    more use a pool of worker processes that each build the engine once."""
    if jobs <= 1 or len(paths) <= 1:
        for path in paths:
            yield engine.process_path(path)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), initializer=_start, initargs=(engine,)) as pool:
        try:
            yield from pool.map(_process, paths, chunksize=CHUNK)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
