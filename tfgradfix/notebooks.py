"""Jupyter notebooks as one Python module, and back.

The code cells are joined, each after a marker line, so that an import in the
first cell resolves in the fifth. Each cell is read the way IPython reads it
(`IPython.core.inputtransformer2`, the reference for what follows): a leading
indent that the cell's lines share and `>>>` / `In [1]:` prompts are removed;
line magics (`%time f()`), shell lines (`!ls`, continued with a backslash),
`x = %time f()`, `files = !ls`, help (`obj?`, `??obj`) and cell magics (`%%bash`)
are not Python, and each becomes a mask of as many lines: a call that names
the Python names it uses, so that `np` in `%timeit np.sum(x)` keeps its import.
The bodies of `%%time`, `%%timeit`, `%%capture` and `%%prun` are Python and are
checked, and so are those of the cell magics the notebook registers to run their
cell (`run_cell(cell)`, `exec(cell)`). What IPython reads the same as Python is
never touched: every form masked here is a syntax error in plain Python. A cell
that is not Python at all (R code, a stray no-break space) can be set aside:
masked whole, like a `%%bash` cell.

Coming back, the masks become the original text again, byte for byte, and a
fix that would change one is refused. The file is written back as it was read
but for the `source` of the fixed cells, and in those, the JSON strings of the
lines that did not change: whatever wrote the notebook (Jupyter's UTF-8, or
`json.dump`'s `\u00e9` escapes, key order, indentation), every other byte
stays, and a new line is escaped as the file escapes its strings. A notebook
that nothing changes is never rewritten.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import json
import keyword
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

_MARKER = "# tfgradfix: cell {}\n"
_MARKER_PATTERN = re.compile(r"^# tfgradfix: cell (\d+)\n", re.MULTILINE)
_MASK_NAME = "__tfgradfix_magic__"
_MASK_PATTERN = re.compile(_MASK_NAME + r"\((\d+)[^)]*\)")

# Cell magics whose body IPython runs as Python code of the notebook.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
# Line magics whose arguments are Python code (`%timeit np.sum(x)`, `%debug f(x)`, `obj` for
# the `%pinfo` family); other magics take words (`%pip install numpy`).
PYTHON_LINE_MAGICS = frozenset({"time", "timeit", "prun", "debug", "capture", "pinfo", "pinfo2", "pdef",
                                "pdoc", "psource", "pfile", "pprint"})

# IPython's own line magics and shell aliases (IPython 9), which it runs without their `%`
# when a one-line cell is not Python (`automagic`, on by default).
AUTOMAGICS = frozenset("""
    alias alias_magic autoawait autocall automagic bookmark cat cd code_wrap colors conda config cp debug
    dhist dirs doctest_mode ed edit env gui hist history killbgscripts ldir lf lk ll load load_ext loadpy
    logoff logon logstart logstate logstop ls lsmagic lx macro magic mamba matplotlib micromamba mkdir mv
    notebook page pastebin pdb pdef pdoc pfile pinfo pinfo2 pip popd pprint precision prun psearch psource
    pushd pwd pycat pylab quickref recall rehashx reload_ext rep rerun reset reset_selective rm rmdir run
    save sc set_env sx system tb time timeit unalias unload_ext uv who who_ls whos xdel xmode
""".split())

# IPython's cleanup transforms: `leading_indent`, `classic_prompt`, `ipython_prompt`.
_INDENT = re.compile(r"[ \t]+")
_CLASSIC_PROMPT = re.compile(r"(>>>|\.\.\.)( |$)")
_CLASSIC_INITIAL = re.compile(r">>>( |$)")
_IPYTHON_PROMPT = re.compile(r"((\[nav\]|\[ins\])? )?In \[\d+\]: |\s*\.{3,}: ?")
# A logical line that starts with one of these is an IPython escape (`!ls`, `%time`, `?obj`,
# and the autocall forms `,f a`, `;f a`, `/f a`); none can start Python code.
_ESCAPES = "!%?,;/"
# `obj?`, `obj.attr??`, `%magic?`, `a[0]?` (IPython's `_help_end_re`, the whole line).
_HELP_END = re.compile(r"%{0,2}(?!\d)[\w*]+(\.(?!\d)[\w*]+|\[-?[0-9]+\])*\?\??")
_IDENTIFIER = re.compile(r"(?<![\w.])(?!\d)\w+")
_STRING = re.compile(r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""")
_SIGNIFICANT = re.compile(r"""["'#()\[\]{}=]""")
_STRING_END = {quote: re.compile(r"\\.|" + quote) for quote in ("'", '"', "'''", '"""')}
# A cell without these holds no IPython syntax (other than a one-line automagic).
_MAYBE_IPYTHON = re.compile(r"[!%?]|^[ \t]*[,;/]", re.MULTILINE)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_STRINGS = re.compile(r'\[\s*(?:{0}\s*(?:,\s*{0}\s*)*)?\]'.format(_JSON_STRING.pattern))
# What IPython expands in a shell command: `$name`, `${expr}`, `{expr}`.
_SHELL_EXPANSION = re.compile(r"\$\{([^}]*)\}|\$(\w+)|\{([^{}]*)\}")


class NotebookError(Exception):
    pass


@dataclass
class _Cell:
    index: int  # in the document's cells
    source: str  # as the notebook holds it
    code: str  # as the module holds it
    first_line: int  # of `code` in the module
    indent: str = ""  # the shared leading indent removed from the lines that had it
    prompts: bool = False  # whether prompts were removed
    prefixes: list[str] = field(default_factory=list)  # what was removed from each line
    masks: list[int] = field(default_factory=list)


@dataclass
class _Span:
    """Where a code cell's `source` lies in the .ipynb text: the value, and each of its strings."""
    start: int
    end: int
    strings: list[tuple[int, int]]


@dataclass(frozen=True)
class _Escapes:
    """How the file writes strings: `json.dump`'s default escapes every non-ASCII character
    (`\\u00e9`), Jupyter writes UTF-8; some writers escape `/` or write `\\u00E9`."""
    ascii: bool = False
    slash: bool = False
    upper: bool = False

    @classmethod
    def of(cls, text: str) -> "_Escapes":
        # Outside strings JSON has no backslash, so escapes pair up read from the start.
        escapes = [m.group(1) for m in re.finditer(r"\\(u[0-9a-fA-F]{4}|.)", text)]
        hexes = [e[1:] for e in escapes if e[0] == "u"]
        wide = any(int(h, 16) > 0x7F for h in hexes)
        letters = "".join(c for h in hexes for c in h if c.isalpha())
        return cls(ascii=text.isascii() and wide, slash="/" in escapes,
                   upper=bool(letters) and letters.isupper())

    def dumps(self, value: str) -> str:
        out = json.dumps(value, ensure_ascii=self.ascii)
        if not (self.slash or self.upper):
            return out

        def escape(match: re.Match) -> str:
            found = match.group(0)
            if found == "/":
                return "\\/" if self.slash else found
            return "\\u" + found[2:].upper() if self.upper and found[1] == "u" else found

        return re.sub(r"\\(u[0-9a-f]{4}|.)|/", escape, out)


_CELL_KEYS = {"code": ("metadata", "source", "outputs", "execution_count"),
              "markdown": ("metadata", "source"), "raw": ("metadata", "source")}


def nbformat_problem(document: object) -> Optional[str]:
    """What makes a parsed `.ipynb` document no valid nbformat 4 notebook (the keys and types
    its schema requires), told in one line; None when it is one."""
    if not isinstance(document, dict):
        return f"not a notebook: the JSON holds a {type(document).__name__}, not an object"
    version = document.get("nbformat")
    if "cells" not in document and isinstance(document.get("worksheets"), list) or (
            isinstance(version, int) and not isinstance(version, bool) and version < 4):
        return (f"nbformat {version if isinstance(version, int) else 3} notebook: only nbformat 4 is read "
                "(convert it: jupyter nbconvert --to notebook --nbformat 4 FILE.ipynb)")
    for key, expected, told in (("nbformat", int, "an integer"), ("nbformat_minor", int, "an integer"),
                            ("metadata", dict, "an object"), ("cells", list, "a list")):
        if key not in document:
            return f"not valid nbformat 4: no `{key}` key"
        if not isinstance(document[key], expected) or isinstance(document[key], bool):
            return f"not valid nbformat 4: `{key}` is {_json_type(document[key])}, not {told}"
    if document["nbformat"] > 4:  # checked above: an int
        return f"nbformat {version} notebook: only nbformat 4 is read"
    for number, cell in enumerate(document["cells"], 1):
        if not isinstance(cell, dict):
            return f"not valid nbformat 4: cell {number} is {_json_type(cell)}, not an object"
        kind = cell.get("cell_type")
        if kind not in _CELL_KEYS:
            return (f"not valid nbformat 4: cell {number} has " + ("no `cell_type`" if kind is None else
                    f"`cell_type` {json.dumps(kind)[:40]}") + " (code, markdown or raw)")
        missing = [key for key in _CELL_KEYS[kind] if key not in cell]
        if missing:
            return f"not valid nbformat 4: {kind} cell {number} has no `{'`, `'.join(missing)}`"
        if not isinstance(cell["metadata"], dict):
            return f"not valid nbformat 4: cell {number}: `metadata` is {_json_type(cell['metadata'])}, not an object"
        if kind == "code" and not isinstance(cell["outputs"], list):
            return f"not valid nbformat 4: cell {number}: `outputs` is {_json_type(cell['outputs'])}, not a list"
        count = cell.get("execution_count")
        if kind == "code" and count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            return f"not valid nbformat 4: cell {number}: `execution_count` is {_json_type(count)}, not an integer or null"
    return None


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@dataclass
class Notebook:
    document: dict
    indent: Optional[int]
    trailing_newline: bool
    # Line in the .ipynb file of each line of each code cell's source, by cell index.
    file_lines: dict[int, list[int]] = field(default_factory=dict)
    text: str = ""  # the file as read: what a fix writes back, but the fixed cells' sources
    spans: dict[int, _Span] = field(default_factory=dict)
    cells: list[_Cell] = field(default_factory=list)
    originals: list[str] = field(default_factory=list)  # IPython text behind each mask
    masks: list[str] = field(default_factory=list)
    aside: frozenset[int] = frozenset()  # cells that are not Python, by index: masked whole
    # Cell magics whose body runs as Python: IPython's, and those the notebook registers.
    python_magics: frozenset[str] = PYTHON_CELL_MAGICS

    @classmethod
    def parse(cls, text: str) -> "Notebook":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise NotebookError(f"not a notebook: invalid JSON ({error})") from error
        if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
            raise NotebookError("not a notebook: no cells")
        for number, cell in enumerate(document["cells"], 1):
            if not isinstance(cell, dict):
                raise NotebookError(f"cell {number} is a {type(cell).__name__}, not an object")
            source = cell.get("source", "")
            if cell.get("cell_type") == "code" and not (isinstance(source, str) or (
                    isinstance(source, list) and all(isinstance(line, str) for line in source))):
                bad = source if not isinstance(source, list) else next(x for x in source if not isinstance(x, str))
                raise NotebookError(f"cell {number}: `source` holds {type(bad).__name__} {json.dumps(bad)[:40]}, "
                                    "not text (nbformat: a string or a list of strings)")
        match = re.search(r'^\{\s*\n( *)"', text)
        indent = len(match.group(1)) if match else None
        spans = _source_spans(text)
        return cls(document, indent, text.endswith("\n"), _source_lines(text, document, spans), text, spans)

    @property
    def language(self) -> str:
        """The kernel's language, as the metadata names it (`language_info.name`, else the
        kernelspec's `language`); a notebook that names none is Python."""
        metadata = self.document.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        for key, field_name in (("language_info", "name"), ("kernelspec", "language")):
            table = metadata.get(key)
            if isinstance(table, dict) and isinstance(table.get(field_name), str) and table[field_name].strip():
                return table[field_name].strip()
        return "python"

    @property
    def code_cells(self) -> list[int]:
        return [cell.index for cell in self.cells]

    def to_python(self) -> str:
        parts: list[str] = []
        line = 1
        self.cells, self.originals, self.masks = [], [], []
        self.python_magics = PYTHON_CELL_MAGICS | registered_cell_magics(
            _text(cell.get("source", "")) for cell in self.document["cells"]
            if isinstance(cell, dict) and cell.get("cell_type") == "code")
        for index, cell in enumerate(self.document["cells"]):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            source = _text(cell.get("source", ""))
            entry = _Cell(index, source, "", line + 1)
            entry.code = self._read(source, entry)
            if entry.code and not entry.code.endswith("\n"):
                entry.code += "\n"
            self.cells.append(entry)
            parts.append(_MARKER.format(index))
            parts.append(entry.code)
            line += 1 + entry.code.count("\n")
        return "".join(parts)

    def set_aside(self, indexes: Iterable[int]) -> str:
        """The module again, with the cells at `indexes`, which are not Python, masked whole
        as a `%%bash` cell is: they are not checked, and come back as they are."""
        self.aside = frozenset(indexes)
        return self.to_python()

    def _read(self, source: str, cell: _Cell) -> str:
        lines = _split(source)
        if cell.index in self.aside:
            return _masked(source, 0, _python_names(source), self._masker(cell)) if source.strip() else source
        lines, cell.prefixes, cell.indent, cell.prompts = _cleanup(lines)
        return "".join(_mask_cell(lines, self._masker(cell), self.python_magics))

    def _masker(self, cell: _Cell) -> Callable[[str, list[str]], str]:
        def mask(original: str, names: list[str]) -> str:
            number = len(self.masks)
            breaks = "\n" * original.count("\n")  # the mask keeps the construct's lines
            text = f"{_MASK_NAME}({', '.join([str(number), *names])}{breaks})"
            self.originals.append(original)
            self.masks.append(text)
            cell.masks.append(number)
            return text

        return mask

    def where(self, line: int, text: Optional[str] = None) -> tuple[Optional[int], int]:
        """(cell number, line in the cell) of a line of the module, or of `text`, the
        module after fixes that may have added or removed lines."""
        starts = [(c.first_line, c.index) for c in self.cells] if text is None else [
            (text.count("\n", 0, m.end()) + 1, int(m.group(1))) for m in _MARKER_PATTERN.finditer(text)]
        cell, first = None, 1
        for start, index in starts:
            if start <= line:
                cell, first = index + 1, start
        return cell, line - first + 1

    def place(self, findings, text: str) -> None:
        """Give findings on `text` (the module, maybe fixed) their cell, and lines counted
        within it."""
        for finding in findings:
            start = finding.line
            finding.cell, finding.line = self.where(start, text)
            finding.end_line = finding.line + (finding.end_line - start)

    def syntax_error(self, line: int, column: int, reason: str) -> str:
        """A syntax error at `line`, `column` of the module, told by cell and line."""
        cell, line = self.where(line)
        return f"cell {cell}, line {line}: syntax error at column {column}: {reason}"

    def module_line(self, cell: int, line: int) -> int:
        """The line of the module that is `line` of cell number `cell` (`where`'s inverse)."""
        entry = next(c for c in self.cells if c.index + 1 == cell)
        return entry.first_line + line - 1

    def file_lines_of(self, cell: int, first: int, last: int) -> Optional[tuple[int, int]]:
        """The lines of the .ipynb file that hold lines `first`..`last` of cell number
        `cell` (for reports that point into the file), if the layout is known."""
        lines = self.file_lines.get(cell - 1, [])
        if not lines:
            return None
        return lines[min(first, len(lines)) - 1], lines[min(last, len(lines)) - 1]

    def readable(self, text: str) -> str:
        """The module as a person reads it in a diff: IPython lines back, cells numbered from 1."""
        text = _MASK_PATTERN.sub(lambda m: self.originals[int(m.group(1))], text)
        return _MARKER_PATTERN.sub(lambda m: f"# %% cell {int(m.group(1)) + 1}\n", text)

    def from_python(self, text: str) -> str:
        """The notebook with its code cells replaced by the fixed module's."""
        pieces = _MARKER_PATTERN.split(text)
        indexes = [int(i) for i in pieces[1::2]]
        if indexes != self.code_cells or pieces[0].strip():
            raise NotebookError("a fix would move code across cells; not applied")
        cells = list(self.document["cells"])
        changed: list[int] = []
        for cell, code in zip(self.cells, pieces[2::2]):
            if code == cell.code:
                continue
            source = self._restore(cell, code)
            if source != cell.source:
                entry = cells[cell.index]
                cells[cell.index] = {**entry, "source": _split(source) if isinstance(entry.get("source"), list)
                                     else source}
                changed.append(cell.index)
        if not changed:
            return self.text
        document = {**self.document, "cells": cells}
        escapes = _Escapes.of(self.text)
        if all(index in self.spans for index in changed):
            out = self._splice(changed, cells, escapes)
        else:  # a layout the reader could not follow: the whole file written in its style
            out = json.dumps(document, indent=self.indent, ensure_ascii=escapes.ascii)
            out += "\n" if self.trailing_newline else ""
        if json.loads(out) != document:
            raise NotebookError("the notebook could not be written back in its own layout; fix not applied")
        return out

    def _splice(self, changed: list[int], cells: list, escapes: _Escapes) -> str:
        """The file as read, but the `source` of the changed cells: every other byte stays,
        and so do the JSON strings of the lines of a changed cell that are unchanged."""
        text = self.text
        pieces: list[str] = []
        position = 0
        for index in sorted(changed):
            span = self.spans[index]
            pieces.append(text[position:span.start])
            source = cells[index]["source"]
            if isinstance(source, str):
                pieces.append(escapes.dumps(source))
            else:
                pieces.append(self._source_list(span, source, escapes))
            position = span.end
        pieces.append(text[position:])
        return "".join(pieces)

    def _source_list(self, span: _Span, lines: list[str], escapes: _Escapes) -> str:
        text = self.text
        tokens = [text[start:end] for start, end in span.strings]
        written: list[str] = []
        matcher = difflib.SequenceMatcher(a=[json.loads(t) for t in tokens], b=lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            written.extend(tokens[i1:i2] if tag == "equal" else map(escapes.dumps, lines[j1:j2]))
        if not written:
            return "[]"
        if tokens:
            opening = text[span.start + 1:span.strings[0][0]]
            closing = text[span.strings[-1][1]:span.end - 1]
            separator = text[span.strings[0][1]:span.strings[1][0]] if len(tokens) > 1 else "," + opening
        else:  # `[]` before: laid out as Jupyter does, under the `"source"` key
            line_start = text.rfind("\n", 0, span.start) + 1
            key_indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
            newline = "\r\n" if "\r\n" in text else "\n"
            closing = newline + key_indent
            opening = closing + " " * (self.indent or 1)
            separator = "," + opening
        return "[" + opening + separator.join(written) + closing + "]"

    def _restore(self, cell: _Cell, code: str) -> str:
        number = cell.index + 1
        seen: list[int] = []

        def original(match: re.Match) -> str:
            mask = int(match.group(1))
            if mask not in cell.masks or match.group(0) != self.masks[mask]:
                raise NotebookError(f"a fix would change an IPython line in cell {number}; not applied")
            seen.append(mask)
            return self.originals[mask]

        code = _MASK_PATTERN.sub(original, code)
        if sorted(seen) != cell.masks:
            raise NotebookError(f"a fix would change an IPython line in cell {number}; not applied")
        if not cell.source.endswith("\n") and code.endswith("\n"):
            code = code[:-1]
        if cell.prompts:
            raise NotebookError(f"cell {number} is written with prompts (`>>>`, `In [1]:`); fix not applied")
        if not cell.indent:
            return code
        # Unchanged lines come back as they were; new ones take the cell's shared indent.
        before = _split(cell.source)
        cleaned = [line[len(prefix):] for line, prefix in zip(before, cell.prefixes)]
        after = _split(code)
        lines: list[str] = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=cleaned, b=after, autojunk=False).get_opcodes():
            if tag == "equal":
                lines.extend(before[i1:i2])
            else:
                lines.extend(cell.indent + line if line.strip() else line for line in after[j1:j2])
        return "".join(lines)


def _cleanup(lines: list[str]) -> tuple[list[str], list[str], str, bool]:
    """IPython's cleanup transforms: the lines without a shared leading indent or prompts,
    what was removed from each line, the indent and whether prompts were removed.

    The indent is the first line's, removed from the lines that start with it, as older
    IPython does (Colab's among them); IPython 9 removes the indent common to all lines,
    which reads every cell it accepts the same way."""
    prefixes = [""] * len(lines)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return lines, prefixes, "", False
    indent = ""
    match = _INDENT.match(lines[first])
    if match:
        indent = match.group(0)
        prefixes = [indent if line.startswith(indent) else "" for line in lines]
    stripped = [line[len(p):] for line, p in zip(lines, prefixes)]
    prompts = False
    for prompt, initial in ((_CLASSIC_PROMPT, _CLASSIC_INITIAL), (_IPYTHON_PROMPT, _IPYTHON_PROMPT)):
        rest = stripped[first:]
        if initial.match(rest[0]) or (len(rest) > 1 and prompt.match(rest[1])):
            prompts = True
            for i in range(first, len(stripped)):
                match = prompt.match(stripped[i])
                if match:
                    prefixes[i] += match.group(0)
                    stripped[i] = stripped[i][match.end():]
    return stripped, prefixes, indent, prompts


def _mask_cell(lines: list[str], mask: Callable[[str, list[str]], str], python_magics: frozenset[str]) -> list[str]:
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%") and not re.match(r"%%\w+\?", lines[first]):
        name, _, arguments = lines[first][2:].rstrip().partition(" ")
        if name not in python_magics:
            return lines[:first] + [_masked("".join(lines[first:]), 0, _shell_names(arguments), mask)]
        # IPython's take Python (`%%timeit x = f()`); a notebook's own magic gets its line as words.
        names = _python_names(arguments) if name in PYTHON_CELL_MAGICS else _shell_names(arguments)
        lines = [*lines[:first], _masked(lines[first], 0, names, mask), *lines[first + 1:]]
        first += 1
    elif first is not None and _automagic(lines, first):
        names = _names("%" + lines[first].strip(), "magic")
        return [*lines[:first], _masked(lines[first], 0, names, mask), *lines[first + 1:]]
    if first is None or not _MAYBE_IPYTHON.search("".join(lines)):
        return lines
    return _mask_lines(lines, first, mask)


def registered_cell_magics(sources: Iterable[str]) -> frozenset[str]:
    """The cell magics code cells register whose body is Python: the function behind the
    magic hands its cell to `run_cell` or `exec` (`@register_cell_magic def backend(line,
    cell): ... get_ipython().run_cell(cell)`, or `register_magic_function(f, "cell")`)."""
    found: set[str] = set()
    for source in sources:
        if "register_" not in source and "cell_magic" not in source:
            continue
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        for function in functions.values():
            for decorator in function.decorator_list:
                name = _magic_decorator(decorator, function.name)
                if name is not None and _runs_its_cell(function):
                    found.add(name)
        for call in ast.walk(tree):
            registered = _registered_function(call)
            if registered is not None and registered[1] in functions and _runs_its_cell(functions[registered[1]]):
                found.add(registered[0])
    return frozenset(found)


_CELL_MAGIC_DECORATORS = frozenset({"register_cell_magic", "register_line_cell_magic", "cell_magic",
                                    "line_cell_magic"})


def _last_name(node: ast.expr) -> Optional[str]:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None


def _magic_decorator(decorator: ast.expr, function: str) -> Optional[str]:
    """The magic's name when `decorator` makes a cell magic: `@register_cell_magic`, or
    `@register_cell_magic("name")`."""
    call = decorator if isinstance(decorator, ast.Call) else None
    if _last_name(call.func if call else decorator) not in _CELL_MAGIC_DECORATORS:
        return None
    if call and call.args:
        given = call.args[0]
        return given.value if isinstance(given, ast.Constant) and isinstance(given.value, str) else None
    return function


def _registered_function(node: ast.AST) -> Optional[tuple[str, str]]:
    """(magic name, function name) of `ip.register_magic_function(f, "cell", "name")`."""
    if not isinstance(node, ast.Call) or _last_name(node.func) != "register_magic_function" or not node.args:
        return None
    arguments = dict(zip(("func", "magic_kind", "magic_name"), node.args))
    arguments.update((k.arg, k.value) for k in node.keywords if k.arg)
    constants = {k: v.value for k, v in arguments.items() if isinstance(v, ast.Constant)}
    function = arguments.get("func")
    if constants.get("magic_kind") not in ("cell", "line_cell") or not isinstance(function, ast.Name):
        return None
    name = constants.get("magic_name", function.id)
    return (name, function.id) if isinstance(name, str) else None


def _runs_its_cell(function: ast.FunctionDef) -> bool:
    """Whether the magic's function runs its `cell` argument as it is: `run_cell(cell)`,
    `exec(cell)`."""
    positional = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if positional[:1] == ["self"]:
        positional = positional[1:]
    if len(positional) < 2:
        return False
    cell = positional[1]
    return any(isinstance(node, ast.Call) and _last_name(node.func) in ("run_cell", "exec") and node.args
               and isinstance(node.args[0], ast.Name) and node.args[0].id == cell for node in ast.walk(function))


def _automagic(lines: list[str], first: int) -> bool:
    """A one-line cell such as `ls ./data` or `pip install x`: IPython runs a magic named
    by its first word when the line is not Python (`ls = 3` is, `ls =` is an error)."""
    if len(lines) != first + 1:
        return False
    word = re.match(r"[ \t]*(\w+)[ \t]*([=,]?)", lines[first])
    if word is None or word.group(1) not in AUTOMAGICS or word.group(2):
        return False
    try:
        ast.parse(lines[first])
    except SyntaxError:
        return True
    return False


def _mask_lines(lines: list[str], start: int, mask: Callable[[str, list[str]], str]) -> list[str]:
    out = lines[:start]
    scanner = _Scanner()
    i = start
    while i < len(lines):
        construct = _construct(lines[i]) if scanner.at_start else None
        if construct is None:
            scanner.feed(lines[i])
            out.append(lines[i])
            i += 1
            continue
        end = i
        while end + 1 < len(lines) and lines[end].rstrip("\r\n").endswith("\\"):
            end += 1
        column, kind = construct
        text = "".join(lines[i:end + 1])
        body = text[column:]
        out.append(_masked(text, column, _names(body, kind), mask))
        i = end + 1
    return out


def _masked(text: str, column: int, names: list[str], mask: Callable[[str, list[str]], str]) -> str:
    """`text` with what starts at `column` (up to its final line break) masked."""
    body = text[column:]
    ending = body[len(body.rstrip("\r\n")):]
    return text[:column] + mask(body[:len(body) - len(ending)], names) + ending


def _construct(line: str) -> Optional[tuple[int, str]]:
    """Where an IPython construct starts on the first line of a logical line, and its kind
    (`shell`, `magic` or `help`), or None for Python."""
    code = line.rstrip("\r\n")
    stripped = code.lstrip(" \t")
    if not stripped:
        return None
    column = len(code) - len(stripped)
    if stripped[0] in _ESCAPES:
        return column, {"!": "shell", "?": "help", "%": "magic"}.get(stripped[0], "autocall")
    if _HELP_END.fullmatch(stripped.rstrip()):
        return column, "help"
    equals = _assignment(code)
    if equals is not None:
        rest = code[equals + 1:]
        value = equals + 1 + len(rest) - len(rest.lstrip(" \t"))
        if code.startswith("!", value):
            return value, "shell"
        if re.match(r"%(?!\d)\w", code[value:]):
            return value, "magic"
    return None


def _assignment(code: str) -> Optional[int]:
    """The column of the first `=` outside brackets and strings (not `==`, `+=`, `<=`...)."""
    scanner = _Scanner()
    for column, char in scanner.code_characters(code):
        if (char == "=" and scanner.depth == 0 and code[column + 1:column + 2] != "="
                and (column == 0 or code[column - 1] not in "=<>!+-*/%&|^:@~")):
            return column
    return None


def _names(body: str, kind: str) -> list[str]:
    """The Python names a construct reads: the target of `obj?`, every name of an autocall
    (`/f a b` is `f(a, b)`) and of the arguments of a magic that runs Python (`%timeit
    np.sum(x)`); in a shell command or another magic's arguments, only what IPython
    expands (`!echo {x}`, `%cd $folder`)."""
    if kind == "help":
        target = body.strip().strip("?")
        return [] if target.startswith("%") else _python_names(target)
    if kind == "autocall":
        return _python_names(body.lstrip(",;/"))
    if kind == "magic":
        name, arguments = re.match(r"%*(\w*)(.*)", body, re.DOTALL).groups()  # type: ignore[union-attr]
        return _python_names(arguments) if name in PYTHON_LINE_MAGICS else _shell_names(arguments)
    return _shell_names(body)


def _python_names(text: str) -> list[str]:
    """The names Python code in `text` reads (strings left out), first seen first."""
    text = _STRING.sub("", text)
    names = [n for n in _IDENTIFIER.findall(text) if not keyword.iskeyword(n)]
    return list(dict.fromkeys(names))


def _shell_names(text: str) -> list[str]:
    """The names a shell command takes from Python: `$name`, `${expr}`, `{expr}`."""
    found: list[str] = []
    for match in _SHELL_EXPANSION.finditer(text.replace("$$", "")):
        found.extend(_python_names(next(g for g in match.groups() if g is not None)))
    return list(dict.fromkeys(found))


class _Scanner:
    """Where each physical line stands in Python's tokenization: inside brackets, a
    string, or after a backslash, the next line continues the logical line."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: Optional[str] = None
        self.continued = False

    @property
    def at_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        code = line.rstrip("\r\n")
        commented = any(char == "#" for _, char in self.code_characters(code))
        ends_in_backslash = code.endswith("\\") and not commented
        if self.quote is not None and len(self.quote) == 1 and not ends_in_backslash:
            self.quote = None  # an unterminated string: Python reports it
        self.continued = ends_in_backslash and self.quote is None

    def code_characters(self, code: str):
        """(column, character) of the brackets, `=`, and `#` outside strings, tracking
        brackets and strings."""
        column = 0
        while column < len(code):
            if self.quote is not None:
                closing = _STRING_END[self.quote].search(code, column)
                while closing is not None and closing.group(0) != self.quote:
                    closing = _STRING_END[self.quote].search(code, closing.end())
                if closing is None:
                    return  # the string goes on past this line
                column, self.quote = closing.end(), None
                continue
            found = _SIGNIFICANT.search(code, column)
            if found is None:
                return
            column, char = found.start(), found.group(0)
            if char in "\"'":
                self.quote = char * 3 if code.startswith(char * 3, column) else char
                column += len(self.quote)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            yield column, char
            if char == "#":
                return
            column += 1


def _source_lines(text: str, document: dict, spans: dict[int, _Span]) -> dict[int, list[int]]:
    """For each code cell (by index), the line of the file that holds each line of its
    source: a cell's `source` is a list of line strings (one a line of the file, as
    Jupyter writes it) or one string (on one line of the file)."""
    found: dict[int, list[int]] = {}
    newlines = 0
    position = 0
    for index, span in sorted(spans.items()):
        starts = [start for start, _ in span.strings]
        cell = document["cells"][index]
        source = cell.get("source") if isinstance(cell, dict) and cell.get("cell_type") == "code" else None
        pieces = source if isinstance(source, list) else [source]
        if not isinstance(source, (list, str)) or len(pieces) != len(starts):
            continue
        lines: list[int] = []
        at_line_start = True
        for piece, start in zip(pieces, starts):
            newlines += text.count("\n", position, start)
            position = start
            for line in _split(str(piece)):  # a line of the cell starts in this string
                if at_line_start:
                    lines.append(newlines + 1)
                at_line_start = line.endswith("\n")
        found[index] = lines
    return found


def _source_spans(text: str) -> dict[int, _Span]:
    """Where each cell's `source` and its strings lie in `text`, by cell index (values
    other than sources are skipped with the C decoder). Empty when the layout cannot be
    followed."""
    try:
        return _read_spans(text)
    except (ValueError, IndexError, json.JSONDecodeError):
        return {}


def _read_spans(text: str) -> dict[int, _Span]:
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\n\r]*")

    def skip(position: int) -> int:
        return space.match(text, position).end()  # type: ignore[union-attr]

    def value(position: int) -> int:
        return decoder.raw_decode(text, position)[1]

    def members(position: int, member: Callable[[str, int], int]) -> int:
        """Walk the object at `position`: `member(key, offset of value)` returns the value's end."""
        position = skip(position + 1)
        while text[position] != "}":
            key, position = json.decoder.scanstring(text, position + 1)  # type: ignore[attr-defined]
            position = skip(position)
            if text[position] != ":":
                raise ValueError("expected ':'")
            position = skip(member(key, skip(position + 1)))
            if text[position] == ",":
                position = skip(position + 1)
            elif text[position] != "}":
                raise ValueError("expected ',' or '}'")
        return position + 1

    def elements(position: int, element: Callable[[int], int]) -> int:
        position = skip(position + 1)
        while text[position] != "]":
            position = skip(element(position))
            if text[position] == ",":
                position = skip(position + 1)
            elif text[position] != "]":
                raise ValueError("expected ',' or ']'")
        return position + 1

    offsets: dict[int, _Span] = {}
    cells = itertools.count()

    def cell(position: int) -> int:
        index = next(cells)

        def member(key: str, start: int) -> int:
            if key != "source":
                return value(start)
            if text[start] == '"':
                end = value(start)
                offsets[index] = _Span(start, end, [(start, end)])
                return end
            strings = _JSON_STRINGS.match(text, start)
            if strings is None:
                offsets.pop(index, None)  # a later `source` key is the one json.loads keeps
                return value(start)
            offsets[index] = _Span(start, strings.end(), [m.span() for m in _JSON_STRING.finditer(
                text, start, strings.end())])
            return strings.end()

        return members(position, member) if text[position] == "{" else value(position)

    def top(key: str, start: int) -> int:
        return elements(start, cell) if key == "cells" and text[start] == "[" else value(start)

    start = skip(0)
    if text[start] != "{":
        raise ValueError("not an object")
    members(start, top)
    return offsets


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _split(text: str) -> list[str]:
    """Lines with their endings, split only where Python ends a line."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)
