"""`[tool.tfgradfix]` in the nearest pyproject.toml.

    [tool.tfgradfix]
    select = ["TGF1", "TGF4"]          # default: ALL
    extend-select = ["TGF203"]
    ignore = ["TGF207"]
    exclude = ["experiments/", "*_pb2.py"]
    unsafe-fixes = false
    per-file-ignores = { "tests/*" = ["TGF2"] }

    [tool.tfgradfix.verify.examples]   # how --verify builds a layer it cannot build by itself
    "pkg.layers:Attention" = {args = [64], kwargs = {heads = 4}, input_shape = [2, 10, 64]}

Command-line options win over the file. Unknown keys and bad values are an error
that names the key.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

_LIST_KEYS = ("select", "extend-select", "ignore", "exclude")
_KNOWN_KEYS = frozenset(_LIST_KEYS + ("unsafe-fixes", "per-file-ignores", "verify"))


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and key."""


@dataclass
class Config:
    path: Optional[Path] = None
    select: Optional[list[str]] = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    unsafe_fixes: bool = False
    per_file_ignores: list[tuple[str, list[str]]] = field(default_factory=list)
    verify: dict = field(default_factory=dict)

    def ignored_for(self, path: str) -> list[str]:
        """Codes that `per-file-ignores` turns off for `path` (relative to the config's folder)."""
        if not self.per_file_ignores:
            return []
        base = self.path.parent if self.path is not None else Path.cwd()
        try:
            relative = Path(os.path.abspath(path)).relative_to(base.resolve()).as_posix()
        except ValueError:
            relative = Path(path).as_posix()
        name = Path(path).name
        return ["" if code == "ALL" else code for pattern, codes in self.per_file_ignores
                if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern) for code in codes]


def find_pyproject(start: Path) -> Optional[Path]:
    folder = start if start.is_dir() else start.parent
    for candidate in [folder, *folder.resolve().parents]:
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            return pyproject
    return None


def load_config(start: Path) -> Config:
    """The `[tool.tfgradfix]` table of the pyproject.toml nearest to `start`, or defaults."""
    path = find_pyproject(start)
    if path is None:
        return Config()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from error
    table = document.get("tool", {}).get("tfgradfix")
    if table is None:
        return Config(path=path)
    return _parse(path, table)


def _parse(path: Path, table: dict) -> Config:
    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{path}: [tool.tfgradfix] {key}: expected {expected}, got {table[key]!r}")

    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path}: [tool.tfgradfix] unknown key: {unknown[0]}")
    config = Config(path=path)
    for key in _LIST_KEYS:
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(key, "a list of strings")
            setattr(config, key.replace("-", "_"), list(value))
    if "unsafe-fixes" in table:
        if not isinstance(table["unsafe-fixes"], bool):
            raise bad("unsafe-fixes", "true or false")
        config.unsafe_fixes = table["unsafe-fixes"]
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()):
            raise bad("per-file-ignores", 'a table of glob = ["CODE", ...]')
        config.per_file_ignores = [(pattern, list(codes)) for pattern, codes in value.items()]
    if "verify" in table:
        if not isinstance(table["verify"], dict):
            raise bad("verify", "a table")
        config.verify = dict(table["verify"])
    return config
