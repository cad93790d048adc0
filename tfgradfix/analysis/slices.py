"""The part of a module its gradient path can depend on, as a text of the same lines with
the rest blanked out, so that LibCST parses and the analysis walks only that part.

A large module is mostly code no gradient path reaches: a test module's hundreds of test
methods around the one that opens a tape, or the hundreds of ops of `ops/numpy.py` around
the few that another module's layers call. The analysis follows names, so what it can
reach from where a path starts is found by names alone (the units' places from the `ast`
the project index parses anyway, the names from their code's text):

- units: each top-level function and class; the methods of a class the caller calls
  plain (a test case, a Keras `Operation` when Keras is the project) are units of their
  own, the rest of that class's body goes with its header;
- a unit is kept when it may start a path (a tape, a function handed to Keras or TF, a
  class defined inside a function, a function other modules' paths call, a class that is
  not plain), when kept code names it, or when it names kept code: its callers decide
  what the analysis knows of a kept function's arguments (their kinds and dtypes);
- every other top-level statement is kept (imports, assignments, `if`/`try` blocks).

Blanked lines stay as empty lines, so every kept node has the line and column it has in
the file. The engine checks the slice; only when that finds something does it check
the whole module again (fixes, positions and the callers across modules need the real
tree), so a slice can only make a finding vanish if it blanked code the analysis reads,
which `tests/test_slices.py` compares on every fixture and project.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Callable, Collection, Optional

# Names whose mention may start a gradient path: a tape, functions handed to Keras or TF.
PATH_MARKERS = frozenset({
    "GradientTape", "Lambda", "compile", "map_fn", "vectorized_map", "numpy_function", "py_function",
    "py_func", "custom_gradient", "minimize",
})
# Below this share of lines blanked, the whole module is parsed (a slice is not worth it).
_MIN_BLANKED = 0.2
# A module other modules' paths call into is analysed again in each project round that
# adds an entry: its whole tree is kept between rounds, but each new slice is parsed anew,
# so from its second analysis on it is sliced only when most of it goes.
_MIN_BLANKED_AGAIN = 0.5
# A unit's names are read from its text without its comments and strings (f-strings
# stay: they hold code), as a name not after a dot (what a top-level name is used as) or
# after one (an attribute, what a method is called by): ten times faster than walking
# its `ast`. Words of an f-string count too, which can only keep more.
_NOT_CODE = re.compile(
    r"#[^\n]*|([rRbBuUfF]{0,2})"
    r"(\"\"\"[\s\S]*?\"\"\"|'\'\'[\s\S]*?'\'\'|\"(?:[^\"\\\n]|\\[\s\S])*\"|'(?:[^'\\\n]|\\[\s\S])*')")
_NAME = re.compile(r"(?<![.\w])\s*([A-Za-z_]\w*)")
_ATTRIBUTE = re.compile(r"\.\s*([A-Za-z_]\w*)")
_NESTED_CLASS = re.compile(r"\n[ \t]+class[ \t]")
# `self.x` read, and `self.x` bound (`=`, augmented, annotated, or a target in a tuple; a
# call's argument `f(self.x, y)` counts as bound too, which can only keep more).
_SELF_ATTRIBUTE = re.compile(r"\bself\.([A-Za-z_][A-Za-z0-9_]*)")
_SELF_BOUND = re.compile(r"\bself\.([A-Za-z_][A-Za-z0-9_]*)\s*(?:,|:|(?:[-+*/@%&|^]|//|\*\*|>>|<<)?=(?!=))")


def _code(text: str) -> str:
    return _NOT_CODE.sub(_blank_literal, text)


def _blank_literal(match: re.Match) -> str:
    prefix, literal = match.group(1), match.group(2)
    if prefix is not None and "f" in prefix.lower():
        return f" {literal.strip(chr(34) + chr(39))} "  # an f-string's fields are code
    return " "


# A module's outline, from the `ast` the project index parses anyway: for each top-level
# function and class, (name, first line, last line, is a class, its methods as
# (name, first line, last line): empty for a function, or a class that cannot be split).
Span = tuple[str, int, int]
Outline = tuple[tuple[str, int, int, bool, tuple[Span, ...]], ...]


def outline(tree: ast.Module) -> Outline:
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            methods: tuple[Span, ...] = ()
            if isinstance(node, ast.ClassDef):
                defs = [s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if all(d.lineno > node.lineno for d in defs):  # not `class A: def f(self): ...`
                    methods = tuple((d.name, _first_line(d), d.end_lineno or d.lineno) for d in defs)
            found.append((node.name, _first_line(node), node.end_lineno or node.lineno,
                          isinstance(node, ast.ClassDef), methods))
    return tuple(found)


def _first_line(node: ast.stmt) -> int:
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


@dataclass(eq=False)
class _Unit:
    start: int  # first line (of its first decorator), 1-based
    end: int  # last line
    defines: str
    names: frozenset[str]  # names it uses (not after a dot)
    attributes: frozenset[str]  # names it uses after a dot
    starts_path: bool  # it mentions a path marker, or defines a class inside a function
    is_class: bool
    # A method: its class. A class: its methods (none when it is not split), and the
    # names of its other lines (header, statements between methods) in `names`.
    owner: Optional["_Unit"] = None
    methods: list["_Unit"] = field(default_factory=list)
    # A method's `self.x` attributes: those it reads, and those it binds.
    reads: frozenset[str] = frozenset()
    binds: frozenset[str] = frozenset()


class ModuleSlices:
    """A module's top-level functions and classes, and the methods of its classes, with
    the names each uses, read from the text along the index's outline of it."""

    def __init__(self, text: str, spans: Outline) -> None:
        self._lines = text.splitlines(keepends=True)
        self._units: list[_Unit] = []
        covered: list[tuple[int, int]] = []
        for name, start, end, is_class, methods in spans:
            if methods:
                code = self._code_outside(start, end, [(first, last) for _, first, last in methods])
                unit = self._unit(name, start, end, True, code=code)
                unit.methods = [self._unit(*method, is_class=False, owner=unit) for method in methods]
            else:
                unit = self._unit(name, start, end, is_class)
            self._units.append(unit)
            covered.append((start, end))
        self._module_names = frozenset(_NAME.findall(self._code_outside(1, len(self._lines), covered)))
        # Name -> the units that use it (a kept unit's callers).
        self._users: dict[str, list[_Unit]] = {}
        for unit in self._units:
            for user in [unit, *unit.methods]:
                for used in user.names:
                    self._users.setdefault(used, []).append(user)

    def _unit(self, name: str, start: int, end: int, is_class: bool, owner: Optional[_Unit] = None,
              code: Optional[str] = None) -> _Unit:
        if code is None:
            code = _code("".join(self._lines[start - 1:end]))
        names, attributes = frozenset(_NAME.findall(code)), frozenset(_ATTRIBUTE.findall(code))
        nested_class = not is_class and _NESTED_CLASS.search(code) is not None
        unit = _Unit(start, end, name, names, attributes,
                     bool((names | attributes) & PATH_MARKERS) or nested_class, is_class, owner)
        if owner is not None:
            unit.reads = frozenset(_SELF_ATTRIBUTE.findall(code))
            unit.binds = frozenset(_SELF_BOUND.findall(code))
        return unit

    def _code_outside(self, start: int, end: int, spans: list[tuple[int, int]]) -> str:
        """The code of lines `start`..`end` outside `spans` (sorted line ranges)."""
        parts = []
        for first, last in [*spans, (end + 1, end + 1)]:
            parts.append("".join(self._lines[start - 1:first - 1]))
            start = max(start, last + 1)
        return _code("".join(parts))

    def text(self, plain_class: Callable[[str], bool], entries: Collection[str] = (),
             again: bool = False) -> Optional[str]:
        """The text with the lines no gradient path can depend on blanked; None when too little
        would be. `plain_class(name)`: a top-level class whose instances are neither Keras nor
        `tf.Module` objects (only those are split into methods); `entries`: the symbols
        ("f", "C.m") other modules' gradient paths call; `again`: the module was analysed
        before in this run."""
        kept = self._kept(plain_class, {symbol.split(".", 1)[0] for symbol in entries} | set(entries))
        blanked: list[tuple[int, int]] = []
        for unit in self._units:
            if unit in kept:
                continue
            if any(m in kept for m in unit.methods):
                blanked += [(m.start, m.end) for m in unit.methods if m not in kept]
            else:
                blanked.append((unit.start, unit.end))
        least = _MIN_BLANKED_AGAIN if again else _MIN_BLANKED
        if sum(end - start + 1 for start, end in blanked) < least * len(self._lines):
            return None
        lines = list(self._lines)
        for start, end in blanked:
            for number in range(start - 1, min(end, len(lines))):
                line = lines[number]
                lines[number] = line[len(line.rstrip("\r\n")):]
        return "".join(lines)

    def _kept(self, plain_class: Callable[[str], bool], entries: set[str]) -> set[_Unit]:
        """What is connected to where a path may start, or to the module's own statements,
        through names either way (a kept function's callers say what its arguments are): a
        top-level name from everywhere, a method's only from its class (`self.m()`, and
        methods that bind a `self.x` the other reads), and a kept method keeps the code that
        constructs its class (its arguments reach `__init__`). A class that is not plain, or
        that kept code names, is kept whole; a kept method keeps what its class's other
        lines name."""
        top = {u.defines: u for u in self._units}
        everything = [*self._units, *(m for u in self._units for m in u.methods)]

        def symbol(unit: _Unit) -> str:
            return unit.defines if unit.owner is None else f"{unit.owner.defines}.{unit.defines}"

        pending = [u for u in everything if u.starts_path or symbol(u) in entries or (u.owner is None and (
            u.defines in self._module_names or (u.is_class and not plain_class(u.defines))))]
        kept: set[_Unit] = set()
        while pending:
            unit = pending.pop()
            if unit in kept:
                continue
            kept.add(unit)
            pending.extend(unit.methods)
            names = unit.names | (unit.owner.names if unit.owner is not None else frozenset())
            pending.extend(u for name in names if (u := top.get(name)) is not None and u is not unit.owner)
            # Callers: of a function or class, and, for a method, its class's constructions.
            called = unit.defines if unit.owner is None else unit.owner.defines
            pending.extend(u for u in self._users.get(called, ()) if u is not unit and u is not unit.owner)
            if unit.owner is not None:
                pending.extend(m for m in unit.owner.methods if m.defines in unit.attributes
                               or unit.defines in m.attributes or unit.reads & m.binds or m.reads & unit.binds)
        return kept
