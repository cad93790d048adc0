"""Finding files, reading them as they are, and writing them back atomically.

Source is read as bytes and decoded with the file's declared encoding (PEP 263
cookie or BOM), without newline translation, so LibCST sees and reproduces CRLF
and the writer restores the BOM. Writes go to a temporary file in the same
folder, keep the file's mode, and are skipped when the file changed since it
was read.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

from tfgradfix.notebooks import Notebook, NotebookError

SKIPPED_DIRECTORIES = frozenset({
    ".git", ".hg", ".svn", "__pycache__", "build", "dist", ".venv", "venv", "env", ".env",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", "node_modules",
    ".eggs",
})
MAX_FILE_BYTES = 10 * 1024 * 1024
STDIN = "-"


class SourceError(Exception):
    """A file that cannot be read, decoded or parsed; the message names the problem."""


@dataclass
class SourceFile:
    path: str  # as shown to the user
    text: str
    encoding: str
    bom: bool
    mtime_ns: int = 0
    size: int = 0
    from_stdin: bool = False
    # For a .ipynb file: the notebook, whose code cells `text` holds as one module.
    notebook: Optional[Notebook] = None

    def encode(self, text: str) -> bytes:
        if self.notebook is not None:
            try:
                text = self.notebook.from_python(text)
            except NotebookError as error:
                raise SourceError(str(error)) from error
        data = text.encode(self.encoding)
        return (b"\xef\xbb\xbf" + data) if self.bom else data


def discover(paths: Iterable[str], exclude: Iterable[str] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    """Python files under `paths`, sorted and deduplicated, and (path, problem)
    for each path that does not exist."""
    excluded = [e.rstrip("/") for e in exclude]
    found: list[str] = []
    errors: list[tuple[str, str]] = []
    for raw in paths:
        if raw == STDIN:
            found.append(STDIN)
            continue
        path = Path(raw)
        if not path.exists():
            errors.append((raw, "no such file or directory"))
        elif path.is_dir():
            found.extend(_walk(path, excluded))
        elif not _is_excluded(path, excluded):
            found.append(str(path))
    unique = sorted(set(found), key=lambda p: (p != STDIN, p))
    return unique, errors


def _walk(root: Path, excluded: list[str]) -> Iterator[str]:
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIPPED_DIRECTORIES and not d.endswith(".egg-info")
            and not _is_excluded(Path(folder, d), excluded)
            and not Path(folder, d, "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if name.endswith((".py", ".pyi", ".ipynb")) and not _is_excluded(Path(folder, name), excluded):
                yield str(Path(folder, name))


def _is_excluded(path: Path, excluded: list[str]) -> bool:
    text = path.as_posix()
    return any(
        path.match(pattern) or text == pattern or text.startswith(pattern + "/") or path.name == pattern
        for pattern in excluded
    )


def read_source(path: str, stdin: io.BufferedReader | None = None) -> SourceFile:
    try:
        if path == STDIN:
            data = (stdin or _stdin_buffer()).read()
            mtime_ns = size = 0
        else:
            info = os.stat(path)
            if info.st_size > MAX_FILE_BYTES:
                raise SourceError(f"file is too large ({info.st_size} bytes)")
            with open(path, "rb") as handle:
                data = handle.read()
            mtime_ns, size = info.st_mtime_ns, info.st_size
    except OSError as error:
        raise SourceError(error.strerror or str(error)) from error
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise SourceError(f"bad encoding declaration: {error}") from error
    bom = encoding == "utf-8-sig"
    if bom:
        encoding = "utf-8"
        data = data[3:]
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise SourceError(f"cannot decode as {encoding}: {error}") from error
    notebook = None
    if path.endswith(".ipynb"):
        try:
            notebook = Notebook.parse(text)
        except NotebookError as error:
            raise SourceError(f"broken notebook: {error}") from error
        text = notebook.to_python()
    return SourceFile(path=path, text=text, encoding=encoding, bom=bom, mtime_ns=mtime_ns, size=size,
                      from_stdin=path == STDIN, notebook=notebook)


def _stdin_buffer():
    import sys

    return sys.stdin.buffer


def write_source(source: SourceFile, text: str) -> None:
    """Replace the file's content atomically, keeping mode, encoding and BOM (for a
    notebook: `text` is its code cells as one module)."""
    path = source.path
    data = source.encode(text)
    info = os.stat(path)
    if info.st_mtime_ns != source.mtime_ns or info.st_size != source.size:
        raise SourceError("file changed while it was being fixed; not written")
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".tfgradfix-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        os.replace(temporary, os.path.realpath(path))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
