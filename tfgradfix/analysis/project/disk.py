"""Every read of the disk the project index makes: files' text, folder listings, the
files and folders that make a file's module name, the files of a package.

The rest of the index is computed from what these return, so a question about a module
never opens a file behind the index's back, and the index stays plain data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Union


def read_text(path: str) -> str:
    from tfgradfix.files import read_source  # files.py is above analysis/; only its reader is needed

    return read_source(path).text


def key(path: str) -> str:
    """The index's key for a file: one for every spelling of its path (links, case)."""
    return os.path.normcase(os.path.realpath(path))


def is_file(path: Union[str, Path]) -> bool:
    return os.path.isfile(path)


def resolved(path: str) -> Path:
    return Path(path).resolve()


def list_modules(root: str) -> set[str]:
    """The module names a folder holds (files and packages)."""
    try:
        entries = os.listdir(root)
    except OSError:
        entries = []
    return {e[:-3] for e in entries if e.endswith(".py")} | {e for e in entries if "." not in e}


def project_files(roots: dict[str, Optional[set[str]]], listing: Callable[[str], set[str]]) -> list[str]:
    """The Python files of the project's packages (recursively) and of its folders of
    scripts (not recursively), in a stable order. `roots`: folder -> its top-level packages
    of the project (None: every module there); `listing`: `list_modules`, cached."""
    from tfgradfix.files import SKIPPED_DIRECTORIES  # the folders discovery skips

    found: list[str] = []
    for root, tops in list(roots.items()):
        if tops is None:
            found.extend(str(Path(root) / f"{n}.py") for n in sorted(listing(root))
                         if (Path(root) / f"{n}.py").is_file())
            continue
        for top in sorted(tops):
            for folder, folders, files in os.walk(Path(root) / top):
                folders[:] = sorted(f for f in folders if f not in SKIPPED_DIRECTORIES
                                    and (Path(folder) / f / "__init__.py").is_file())
                found.extend(str(Path(folder) / f) for f in sorted(files) if f.endswith(".py"))
    return found


def search_folder(path: str, folder: str) -> Optional[str]:
    """The folder a script's `sys.path.append(folder)` names: relative to where it is run from,
    which is the script's own folder or one above it (a repository's root); the nearest that
    exists. None: none does."""
    start = Path(path).resolve().parent
    for base in [start, *list(start.parents)[:3]]:
        candidate = (base / folder).resolve()
        if candidate.is_dir() and candidate != start:
            return str(candidate)
    return None


def importable_package(folder: Path) -> bool:
    """A folder an import can name as a package. One whose name no import can spell (`my-repo/`
    holding a stray `__init__.py`) is not: it is what is on `sys.path`, and the packages below it
    are the top ones."""
    return (folder / "__init__.py").is_file() and folder.parent != folder and folder.name.isidentifier()


def module_names(path: str) -> list[str]:
    """The dotted names a file is imported as: from its package (`__init__.py`
    folders upwards), else its stem; plus its path from a `pyproject.toml` folder."""
    file = Path(path).resolve()
    if file.suffix == ".ipynb":
        # It imports project modules and is imported by none: a name no import can spell.
        return [f"<notebook {str(file).replace('.', '_')}>"]
    parts = [] if file.name == "__init__.py" else [file.stem]
    folder = file.parent
    while importable_package(folder):
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts or not all(p.isidentifier() for p in parts):
        return []
    names = [".".join(parts)]
    if len(parts) == 1 or file.name == "__init__.py" and len(parts) == 1:
        root = _pyproject_root(file.parent)
        if root:
            relative = file.relative_to(root[0]).with_suffix("").parts
            alias = ".".join(relative)
            if all(p.isidentifier() for p in relative) and alias != names[0]:
                names.append(alias)
    return names


def _pyproject_root(folder: Path) -> Optional[list[Path]]:
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / "setup.py").is_file():
            return [candidate]
        if (candidate / ".git").exists():
            return None
    return None

