"""Finding files, reading them as they are, and writing them back atomically.

Source is read as bytes and decoded with the file's declared encoding (PEP 263
cookie or BOM), without newline translation, so LibCST sees and reproduces CRLF
and the writer restores the BOM. Writes keep the file's mode, owner and hard
links, and are skipped when the file changed since it was read or is read-only.
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import io
import json
import os
import stat
import subprocess
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Optional, Protocol

from tfgradfix import interrupts
from tfgradfix.notebooks import Notebook, NotebookError, nbformat_problem

SKIPPED_DIRECTORIES = frozenset({
    ".git", ".hg", ".svn", "__pycache__", "build", "dist", ".venv", "venv", "env", ".env",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", "node_modules",
    ".eggs", ".ipynb_checkpoints",
})
MAX_FILE_BYTES = 10 * 1024 * 1024
STDIN = "-"


class SourceError(Exception):
    """A file that cannot be read, decoded or parsed; the message names the problem."""


class NotPython(SourceError):
    """A file that is not Python, skipped with a note (no error): a notebook whose kernel
    runs another language, as Ruff skips it."""


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


class Excludes(Protocol):
    """What `discover` skips: `Exclusions`, or the CLI's per-configuration ones."""

    def matches(self, path: Path) -> bool: ...


class Exclusions:
    """`exclude` patterns, each relative to its own folder (the config's, or the current
    one for the command line), as Ruff reads them: a pattern without a `/` matches a file
    or folder of that name anywhere (`experiments`, `*_pb2.py`); one with a `/` matches
    the path from its folder (`src/legacy/`, `tests/*.py`)."""

    def __init__(self, patterns: Iterable[tuple[str, Optional[Path]]] = ()) -> None:
        self.patterns = [(p.rstrip("/").removeprefix("./"), Path(os.path.realpath(base or "."))) for p, base in patterns
                         if p.rstrip("/")]

    def matches(self, path: Path) -> bool:
        if not self.patterns:
            return False
        # The folder resolved as the bases are (a symlinked /tmp, say), the name as written.
        absolute = Path(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))
        for pattern, base in self.patterns:
            if os.path.isabs(pattern):
                parts = absolute.parts
            else:
                try:
                    parts = absolute.relative_to(base).parts
                except ValueError:
                    parts = Path(os.path.normpath(path)).parts
            if "/" not in pattern:
                if any(fnmatch.fnmatchcase(part, pattern) for part in parts):
                    return True
            elif any(fnmatch.fnmatchcase(Path(*parts[:end]).as_posix(), pattern) for end in range(1, len(parts) + 1)):
                return True
        return False


def discover(paths: Iterable[str], exclude: Excludes = Exclusions(),
             respect_gitignore: bool = True) -> tuple[list[str], list[tuple[str, str]]]:
    """Python files under `paths`, sorted, each file once however many paths reach it
    (symlinks), and (path, problem) for each path that does not exist."""
    found: list[str] = []
    errors: list[tuple[str, str]] = []
    for raw in paths:
        if raw == STDIN:
            found.append(STDIN)
            continue
        path = Path(raw)
        try:
            info = os.stat(path)
        except OSError as error:
            if not os.path.lexists(path):
                errors.append((raw, "no such file or directory"))
            elif os.path.islink(path) and error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                errors.append((raw, "broken symbolic link"))
            else:
                errors.append((raw, _reason(error)))
            continue
        if stat.S_ISDIR(info.st_mode):
            found.extend(_walk(path, exclude, respect_gitignore, errors))
        elif not exclude.matches(path):
            found.append(str(path))
    unique: list[str] = []
    seen: set[str] = set()
    for name in sorted(set(found), key=lambda p: (p != STDIN, p)):
        real = name if name == STDIN else os.path.realpath(name)
        if real not in seen:
            seen.add(real)
            unique.append(name)
    return unique, errors


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _walk(root: Path, exclude: Excludes, respect_gitignore: bool,
          errors: list[tuple[str, str]]) -> Iterator[str]:
    """The Python files under `root`; a folder that cannot be read (no permission) is one
    (path, problem) in `errors`, and the rest is searched."""
    seen: set[tuple[int, int]] = set()
    ignored = _git_ignored(root) if respect_gitignore else frozenset()

    def unreadable(error: OSError) -> None:
        errors.append((os.path.normpath(error.filename if error.filename is not None else root),
                       f"cannot read folder: {_reason(error)}"))

    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError as error:
            unreadable(error)
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIPPED_DIRECTORIES and not d.endswith(".egg-info")
            and not exclude.matches(Path(folder, d))
            and os.path.abspath(os.path.join(folder, d)) not in ignored
            and not _is_virtualenv(Path(folder, d))
        )
        for name in sorted(files):
            if (name.endswith((".py", ".pyi", ".ipynb")) and not exclude.matches(Path(folder, name))
                    and os.path.abspath(os.path.join(folder, name)) not in ignored):
                yield str(Path(folder, name))


def _is_virtualenv(folder: Path) -> bool:
    try:
        return (folder / "pyvenv.cfg").exists()
    except OSError:  # a folder that cannot be searched: os.walk says so when it gets there
        return False


def _git_ignored(root: Path) -> frozenset[str]:
    """Absolute paths of the files and folders under `root` that git ignores
    (`.gitignore` files, `.git/info/exclude`, the global excludes); none outside a
    git work tree or without git. Tracked files are never ignored, as in git."""
    real = os.path.realpath(root)

    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", real, *args], capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.decode("utf-8", "surrogateescape") if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # Listed from the top of the work tree: from a subfolder some git versions fail.
    listed = top and git("-C", top.strip(), "ls-files", "-z", "--others", "--ignored", "--exclude-standard",
                         "--directory", "--", os.path.relpath(real, top.strip()))
    if not listed:
        return frozenset()
    assert top is not None  # git listed something: the work tree's top was found
    return frozenset(
        os.path.abspath(os.path.join(root, os.path.relpath(os.path.join(top.strip(), name.rstrip("/")), real)))
        for name in listed.split("\0") if name)


def read_source(path: str, stdin: Optional[BinaryIO] = None, name: Optional[str] = None) -> SourceFile:
    """The file at `path` (or stdin for `-`; `name` is what stdin stands for: a name
    ending in `.ipynb` reads it as a notebook)."""
    try:
        if path == STDIN:
            data = (stdin or _stdin_buffer()).read()
            mtime_ns = size = 0
        else:
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                raise SourceError("Is a directory")
            if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block the run or never end
                raise SourceError("not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise SourceError(f"file is too large ({info.st_size} bytes)")
            with open(path, "rb") as handle:
                data = handle.read()
            mtime_ns, size = info.st_mtime_ns, info.st_size
    except OSError as error:
        raise SourceError(error.strerror or str(error)) from error
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes)")
    notebook_file = (name or path).endswith(".ipynb")
    try:
        # A notebook is JSON, always UTF-8 (RFC 8259): no coding cookie applies to it.
        encoding = "utf-8-sig" if notebook_file and data.startswith(codecs.BOM_UTF8) else "utf-8" if notebook_file \
            else tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError as error:
        raise SourceError(f"bad encoding declaration: {error}") from error
    bom = encoding == "utf-8-sig"
    if bom:
        encoding = "utf-8"
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        if notebook_file:
            raise SourceError(f"broken notebook: {_not_utf8(data, error)}") from error
        raise SourceError(f"cannot decode as {encoding}: {error}") from error
    except LookupError as error:
        raise SourceError(f"cannot decode as {encoding}: {error}") from error
    notebook = None
    if notebook_file:
        try:
            notebook = Notebook.parse(text)
        except NotebookError as error:
            raise SourceError(f"broken notebook: {_nbformat_told(text) or error}") from error
        problem = nbformat_problem(notebook.document)
        if problem is not None:
            raise SourceError(f"broken notebook: {problem}")
        if not notebook.language.lower().startswith(("python", "ipython")):
            raise NotPython(f"skipped: the notebook's kernel runs {notebook.language}, not Python")
        text = notebook.to_python()
    return SourceFile(path=name or path, text=text, encoding=encoding, bom=bom, mtime_ns=mtime_ns, size=size,
                      from_stdin=path == STDIN, notebook=notebook)


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    """Where a notebook stops being UTF-8, and what the byte reads as in the usual culprit."""
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    byte = data[error.start]
    guess = bytes([byte]).decode("cp1252", "replace")
    return (f"not UTF-8, which a notebook (JSON) must be: byte 0x{byte:02x} at line {line}, column {column} "
            f"(Latin-1/cp1252 {guess!r}?); save the file as UTF-8")


def _nbformat_told(text: str) -> Optional[str]:
    """nbformat's own account of a notebook `Notebook.parse` refused (an nbformat 3 notebook
    has `worksheets`, not `cells`), when its JSON reads."""
    try:
        return nbformat_problem(json.loads(text))
    except (ValueError, RecursionError):
        return None


def _stdin_buffer():
    import sys

    return sys.stdin.buffer


def write_source(source: SourceFile, text: str) -> None:
    """Replace the file's content, keeping encoding and BOM (for a notebook: `text`
    is its code cells as one module), mode, owner and hard links; a read-only file is
    refused. The new content goes to a temporary file renamed over the original, or,
    where a rename would lose the owner or a hard link, is written into the file
    itself; a Ctrl-C waits until the file is complete."""
    real, data, info = _writable(source, text)
    with interrupts.deferred():
        _put(real, data, info)


def write_sources(changes: list[tuple[SourceFile, str]]) -> None:
    """Write several files as one change (a fix that spans files): every file is
    checked first (its new text encodes, it is unchanged since read, it is writable),
    and when one write still fails, the files already written get their old bytes back.
    A Ctrl-C waits until all are written. SourceError/OSError: nothing changed."""
    checked = [(source, *_writable(source, text)) for source, text in changes]
    written: list[tuple[SourceFile, str]] = []
    with interrupts.deferred():
        try:
            for source, real, data, info in checked:
                _put(real, data, info)
                written.append((source, real))
        except BaseException:
            for source, real in written:
                _put(real, source.encode(source.text), os.stat(real))
            raise


def _writable(source: SourceFile, text: str) -> tuple[str, bytes, os.stat_result]:
    data = source.encode(text)
    real = os.path.realpath(source.path)
    info = os.stat(real)
    if info.st_mtime_ns != source.mtime_ns or info.st_size != source.size:
        raise SourceError("file changed while it was being fixed")
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(real, os.W_OK):
        raise SourceError("read-only file (make it writable to apply the fixes)")
    return real, data, info


def _put(real: str, data: bytes, info: os.stat_result) -> None:
    if info.st_nlink > 1 or not _replace(real, data, info):
        _overwrite(real, data, info.st_size)


def _replace(real: str, data: bytes, info: os.stat_result) -> bool:
    """Write `data` next to `real` and rename it over; False, with nothing changed,
    where that would not keep the owner and group, or the folder takes no new file."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=".tfgradfix-", suffix=".tmp", dir=os.path.dirname(real))
    except OSError:
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        created = os.stat(temporary)
        if (created.st_uid, created.st_gid) != (info.st_uid, info.st_gid):
            try:
                os.chown(temporary, info.st_uid, info.st_gid)
            except OSError:
                os.unlink(temporary)
                return False
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        os.replace(temporary, real)
        return True
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _overwrite(real: str, data: bytes, size: int) -> None:
    """Write `data` into the file itself. Space for a longer content is reserved
    first, so a full disk leaves the file as it was."""
    with open(real, "r+b") as out:
        if len(data) > size and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(out.fileno(), 0, len(data))
            except OSError:
                out.truncate(size)
                raise
        out.write(data)
        out.truncate()
        out.flush()
        os.fsync(out.fileno())
