"""`[tool.tfgradfix]` in the nearest pyproject.toml that has one (or the file `--config` names).

    [tool.tfgradfix]
    select = ["TGF1", "TGF4"]          # default: ALL
    extend-select = ["TGF203"]
    ignore = ["TGF207"]
    exclude = ["experiments/", "*_pb2.py"]
    unsafe-fixes = false
    per-file-ignores = { "tests/*" = ["TGF2"] }
    unfixable = ["TGF301"]             # reported, never fixed (fixable: default ALL)

    [tool.tfgradfix.verify.examples]   # how --verify builds a layer it cannot build by itself
    "pkg.layers:Attention" = {args = [64], kwargs = {heads = 4}, input_shape = [2, 10, 64]}

Patterns (`exclude`, `per-file-ignores`) are relative to the config file's folder,
wherever the tool runs from. Rule choices combine with the command line's as in
Ruff (`RuleSelection`). Unknown keys (with a "did you mean") and bad values are an
error that names the file and the key. `--config KEY=VALUE` overrides a key of every
file's table, checked the same way (`ConfigOverrides`).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from tfgradfix.rules import RULES_BY_CODE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

_CODE_KEYS = ("select", "extend-select", "ignore", "fixable", "unfixable")
_KNOWN_KEYS = (*_CODE_KEYS, "exclude", "unsafe-fixes", "per-file-ignores", "verify")
_VERIFY_KEYS = ("examples",)
_EXAMPLE_KEYS = ("args", "kwargs", "input_shape")


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and key."""


def check_codes(codes: Iterable[str], origin: str) -> list[str]:
    """`codes` (rule codes or prefixes, or ALL), or ConfigError naming `origin`."""
    codes = list(codes)
    for prefix in codes:
        if prefix != "ALL" and not any(code.startswith(prefix) for code in RULES_BY_CODE):
            close = difflib.get_close_matches(prefix, RULES_BY_CODE, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{origin}: unknown rule code or prefix: {prefix}{hint}")
    return codes


@dataclass
class RuleSelection:
    """One layer of rule choices: the config file's, then the command line's."""

    select: Optional[list[str]] = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)


def resolve_rules(layers: Iterable[RuleSelection]) -> list[str]:
    """The enabled codes, as Ruff resolves them: every rule to start with; a layer's
    `select` replaces what the layers before it chose, its `extend-select` and `ignore`
    change it; within a layer the more specific prefix wins (`select = ["TGF1"]` with
    `ignore = ["TGF101"]` drops TGF101, `select = ["TGF101"]` with `ignore = ["TGF1"]`
    keeps it), and at equal specificity `ignore` does."""
    enabled = set(RULES_BY_CODE)
    for layer in layers:
        updates: dict[str, bool] = {}
        selectors = [(p, True) for p in [*(layer.select or []), *layer.extend_select]] + [(p, False) for p in layer.ignore]
        for prefix, on in sorted(selectors, key=lambda s: (_specificity(s[0]), not s[1])):
            updates.update((code, on) for code in RULES_BY_CODE if prefix == "ALL" or code.startswith(prefix))
        if layer.select is not None:
            enabled = {code for code, on in updates.items() if on}
        else:
            enabled = (enabled | {c for c, on in updates.items() if on}) - {c for c, on in updates.items() if not on}
    return [code for code in RULES_BY_CODE if code in enabled]


def _specificity(prefix: str) -> int:
    return 0 if prefix == "ALL" else len(prefix)


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
    fixable: Optional[list[str]] = None  # None: every rule
    unfixable: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        """What patterns are relative to: the config file's folder (else the current one)."""
        return Path(os.path.realpath(self.path.parent if self.path is not None else "."))

    @property
    def rule_selection(self) -> RuleSelection:
        return RuleSelection(self.select, self.extend_select, self.ignore)

    def ignored_for(self, path: str) -> list[str]:
        """Codes that `per-file-ignores` turns off for `path` (relative to the config's folder)."""
        return per_file_codes(self.per_file_ignores, self.folder, path)


def per_file_codes(patterns: list[tuple[str, list[str]]], folder: Path, path: str) -> list[str]:
    """The code prefixes of the (glob, codes) pairs whose glob matches `path`, relative to
    `folder`, or its name ("" for ALL)."""
    if not patterns:
        return []
    try:
        relative = Path(os.path.realpath(path)).relative_to(folder).as_posix()
    except ValueError:
        relative = Path(path).as_posix()
    name = Path(path).name
    return ["" if code == "ALL" else code for pattern, codes in patterns
            if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern) for code in codes]


def parse_per_file_ignores(values: Iterable[str], option: str = "--per-file-ignores") -> list[tuple[str, list[str]]]:
    """`PATTERN:CODE,CODE` (repeatable), as Ruff's command line writes them; ConfigError
    naming the value when one is not of that shape or names an unknown code."""
    pairs = []
    for value in values:
        pattern, colon, codes = value.rpartition(":")
        listed = [code.strip().upper() for code in codes.split(",") if code.strip()]
        if not colon or not pattern.strip() or not listed:
            raise ConfigError(f"{option} {value!r}: expected PATTERN:CODES (`tests/*:TGF2,TGF101`)")
        pairs.append((pattern.strip(), check_codes(listed, f"{option} {value!r}")))
    return pairs


class ConfigOverrides:
    """`--config KEY=VALUE` (repeatable): TOML `KEY = VALUE` lines that replace those keys of
    every file's `[tool.tfgradfix]` table (and of the defaults), as Ruff's `--config`
    overrides do. Each is checked as a key of the table is (unknown keys, codes, types),
    the error naming the option."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.table: dict = {}
        for value in values:
            try:
                parsed = tomllib.loads(value)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"--config {value!r}: not a TOML `KEY = VALUE` ({error})") from error
            _parse(Path("--config"), parsed, "", origin=f"--config {value!r}: ")
            self.table.update(parsed)

    def __bool__(self) -> bool:
        return bool(self.table)

    def apply(self, table: dict) -> dict:
        return {**table, **self.table}


def is_override(value: str) -> bool:
    """Whether a `--config` value is `KEY=VALUE` rather than the path of a file (Ruff's rule:
    a file that exists is a path)."""
    return "=" in value and not os.path.isfile(value)


def find_pyproject(start: Path, cache: Optional[dict[str, Optional[Path]]] = None) -> Optional[Path]:
    """The nearest pyproject.toml, from `start` upwards, with a `[tool.tfgradfix]` table
    (as Ruff skips a pyproject.toml without `[tool.ruff]`); `cache` remembers folders."""
    folder = Path(os.path.abspath(start if os.path.isdir(start) else start.parent))
    seen: list[str] = []
    found: Optional[Path] = None
    for candidate in [folder, *folder.parents]:
        key = str(candidate)
        if cache is not None and key in cache:
            found = cache[key]
            break
        seen.append(key)
        pyproject = candidate / "pyproject.toml"
        if _is_file(pyproject) and "tfgradfix" in _read(pyproject).get("tool", {}):
            found = pyproject
            break
    if cache is not None:
        cache.update((key, found) for key in seen)
    return found


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a folder that cannot be searched
        return False


class Configs:
    """Each file's settings, as Ruff's hierarchical configuration gives them: the nearest
    pyproject.toml with `[tool.tfgradfix]` above the file (else the one above the current
    folder, else the defaults); the file `explicit` names for every file; none with
    `isolated`. The command line's rule choices and `unsafe` (None: the file's) apply on
    top of each. Files and folders are read once."""

    def __init__(self, explicit: Optional[Path] = None, isolated: bool = False,
                 command_line: Optional[RuleSelection] = None, unsafe: Optional[bool] = None,
                 overrides: Optional[ConfigOverrides] = None, fixable: Optional[RuleSelection] = None,
                 per_file_ignores: Optional[list[tuple[str, list[str]]]] = None) -> None:
        self.explicit, self.isolated = explicit, isolated
        self.command_line = command_line or RuleSelection()
        self.unsafe = unsafe
        self.overrides = overrides or ConfigOverrides()
        # --fixable / --unfixable: on top of each file's `fixable` / `unfixable` (select / ignore).
        self.command_line_fixable = fixable or RuleSelection()
        # --per-file-ignores: patterns relative to the current folder, with each file's own.
        self.per_file_ignores = per_file_ignores or []
        self._cwd = Path(os.path.realpath("."))
        self._fixable: dict[Optional[Path], frozenset[str]] = {}
        self._by_folder: dict[str, Optional[Path]] = {}
        self._parsed: dict[Optional[Path], Config] = {}
        self._enabled: dict[Optional[Path], frozenset[str]] = {}
        nearest = None if isolated or explicit is not None else find_pyproject(Path("."), self._by_folder)
        self.fallback = self._load(nearest)

    def _load(self, path: Optional[Path]) -> Config:
        if path not in self._parsed:
            overrides = self.overrides
            if self.isolated or (self.explicit is None and path is None):
                self._parsed[path] = _parse(None, overrides.table, "") if overrides else Config()
            elif self.explicit is not None:
                self._parsed[path] = load_config(Path("."), self.explicit, overrides=overrides)
            else:
                assert path is not None  # None took the first branch
                self._parsed[path] = _parse(path, overrides.apply(_read(path)["tool"]["tfgradfix"]),
                                            "[tool.tfgradfix] ")
        return self._parsed[path]

    def for_path(self, path: str | Path) -> Config:
        """The settings of the file (or folder's entry) at `path`: found from its folder up.
        ConfigError when that file is not a valid configuration."""
        if self.isolated or self.explicit is not None:
            return self.fallback
        found = find_pyproject(Path(path).parent, self._by_folder)
        return self.fallback if found is None else self._load(found)

    @property
    def loaded(self) -> list[Config]:
        return list(self._parsed.values())

    def enabled(self, config: Config) -> frozenset[str]:
        if config.path not in self._enabled:
            self._enabled[config.path] = frozenset(resolve_rules([config.rule_selection, self.command_line]))
        return self._enabled[config.path]

    def union(self) -> list[str]:
        """The codes some loaded configuration enables, in the rules' order: the rules a run runs."""
        enabled = {code for config in self.loaded for code in self.enabled(config)}
        return [code for code in RULES_BY_CODE if code in enabled]

    def ignored_for(self, path: str) -> list[str]:
        """Code prefixes whose findings the file drops: what its configuration does not enable
        (the run runs the rules any file's does), and its `per-file-ignores`."""
        config = self.for_path(path)
        enabled = self.enabled(config)
        return [*config.ignored_for(path), *per_file_codes(self.per_file_ignores, self._cwd, path),
                *(code for code in self.union() if code not in enabled)]

    def fixable_for(self, path: str) -> frozenset[str]:
        """The codes whose fixes the file's run may apply (or show as fixable): its
        configuration's `fixable` less `unfixable`, then the command line's, as Ruff combines them."""
        config = self.for_path(path)
        if config.path not in self._fixable:
            self._fixable[config.path] = frozenset(resolve_rules([
                RuleSelection(config.fixable, [], config.unfixable), self.command_line_fixable]))
        return self._fixable[config.path]

    def unsafe_for(self, path: str) -> bool:
        return self.for_path(path).unsafe_fixes if self.unsafe is None else self.unsafe


def load_config(start: Path, explicit: Optional[Path] = None, isolated: bool = False,
                overrides: Optional[ConfigOverrides] = None) -> Config:
    """The settings for a run on `start`: from the file `explicit` names (its
    `[tool.tfgradfix]` table, or for a file other than pyproject.toml its top level),
    else from the nearest pyproject.toml with `[tool.tfgradfix]`; none with `isolated`."""
    overrides = overrides or ConfigOverrides()
    if isolated:
        return _parse(None, overrides.table, "") if overrides else Config()
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such config file")
        document = _read(explicit)
        table = document.get("tool", {}).get("tfgradfix")
        if table is None:
            table = {} if explicit.name == "pyproject.toml" else document
        return _parse(explicit, overrides.apply(table),
                      "[tool.tfgradfix] " if "tfgradfix" in document.get("tool", {}) else "")
    path = find_pyproject(start)
    if path is None:
        return _parse(None, overrides.table, "") if overrides else Config()
    return _parse(path, overrides.apply(_read(path)["tool"]["tfgradfix"]), "[tool.tfgradfix] ")


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from error


def _unknown(origin: str, table: dict, known: Iterable[str]) -> None:
    """`origin`: what the error names first (`path: [tool.tfgradfix] `)."""
    known = list(known)
    for key in sorted(set(table) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
        raise ConfigError(f"{origin}unknown key: {key}{hint}")


def _parse(path: Optional[Path], table: dict, where: str, origin: Optional[str] = None) -> Config:
    """The Config of `table`; errors name `origin` (default: the file and `where` in it)."""
    head = origin if origin is not None else f"{path}: "  # what names the file (or the option)
    origin = origin if origin is not None else f"{path}: {where}"

    def bad(key: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"{origin}{key}: expected {expected}, got {value!r}")

    def strings(key: str) -> list[str]:
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(key, "a list of strings", value)
        return list(value)

    _unknown(origin, table, _KNOWN_KEYS)
    config = Config(path=path)
    for key in _CODE_KEYS:
        if key in table:
            setattr(config, key.replace("-", "_"), check_codes(strings(key), f"{origin}{key}"))
    if "exclude" in table:
        config.exclude = strings("exclude")
    if "unsafe-fixes" in table:
        if not isinstance(table["unsafe-fixes"], bool):
            raise bad("unsafe-fixes", "true or false", table["unsafe-fixes"])
        config.unsafe_fixes = table["unsafe-fixes"]
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()):
            raise bad("per-file-ignores", 'a table of glob = ["CODE", ...]', value)
        config.per_file_ignores = [
            (pattern, check_codes(codes, f"{origin}per-file-ignores {pattern!r}"))
            for pattern, codes in value.items()]
    if "verify" in table:
        config.verify = _parse_verify(head, table["verify"],
                                      f"[{where.strip()[1:-1] + '.' if where else ''}verify] ")
    return config


def _parse_verify(head: str, table: object, where: str) -> dict:
    """`head`: what names the file (`path: `) or the option."""
    if not isinstance(table, dict):
        raise ConfigError(f"{head}{where}expected a table, got {table!r}")
    _unknown(head + where, table, _VERIFY_KEYS)
    examples = table.get("examples", {})
    if not isinstance(examples, dict):
        raise ConfigError(f"{head}{where}examples: expected a table, got {examples!r}")
    for name, example in examples.items():
        spot = f"{where[:-2]}.examples] {name!r}"
        if not isinstance(example, dict):
            raise ConfigError(f"{head}{spot}: expected a table like {{args = [...], input_shape = [...]}}, "
                              f"got {example!r}")
        _unknown(head + spot + " ", example, _EXAMPLE_KEYS)
        for key, kind, expected in (("args", list, "a list"), ("kwargs", dict, "a table"),
                                    ("input_shape", list, "a list of integers")):
            if key in example and not isinstance(example[key], kind):
                raise ConfigError(f"{head}{spot} {key}: expected {expected}, got {example[key]!r}")
    return dict(table)
