"""A progress line on stderr for long runs: files done / total, findings so far, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Short runs finish before the bar would help; after this, it appears.
DELAY_S = 1.0
REFRESH_S = 0.2


class Progress:
    def __init__(self, total: int, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.total, self.enabled, self.stream = total, enabled and total > 0, stream
        self.done = self.findings = 0
        self.started = self._drawn_at = time.monotonic()
        self._shown = False

    def advance(self, findings: int) -> None:
        self.done += 1
        self.findings += findings
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < DELAY_S or (now - self._drawn_at < REFRESH_S and self.done < self.total):
            return
        self._drawn_at = now
        elapsed = now - self.started
        eta = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = width * self.done // self.total
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files, "
                          f"{self.findings} findings, ETA {eta:4.0f} s ")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()
            self._shown = False
