"""Jupyter notebooks as one Python module, and back.

The code cells are joined, each after a marker line, so that an import in the
first cell resolves in the fifth. IPython magics and shell lines (`%`, `!`,
and whole `%%` cells) become comment lines that keep their place, and come back
as they were. Outputs, metadata and the JSON layout are kept; a notebook that
nothing changes is never rewritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Optional

_MARKER = "# tfgradfix: cell {}\n"
_MARKER_PATTERN = re.compile(r"^# tfgradfix: cell (\d+)\n", re.MULTILINE)
_MAGIC = "# tfgradfix: magic {}"
_MAGIC_PATTERN = re.compile(r"^([ \t]*)# tfgradfix: magic (\d+)$", re.MULTILINE)


class NotebookError(Exception):
    pass


@dataclass
class Notebook:
    document: dict
    indent: Optional[int]
    trailing_newline: bool
    code_cells: list[int] = field(default_factory=list)  # indexes of the cells in the module, in order
    magics: list[str] = field(default_factory=list)
    # (first line of the cell's code in the module, cell number shown to users), in order
    starts: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "Notebook":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise NotebookError(f"not a notebook: invalid JSON ({error})") from error
        if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
            raise NotebookError("not a notebook: no cells")
        match = re.search(r'^\{\s*\n( *)"', text)
        indent = len(match.group(1)) if match else None
        return cls(document, indent, text.endswith("\n"))

    def to_python(self) -> str:
        parts: list[str] = []
        line = 1
        self.code_cells, self.magics, self.starts = [], [], []
        for index, cell in enumerate(self.document["cells"]):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            source = _text(cell.get("source", ""))
            if source.lstrip().startswith("%%"):
                continue  # a cell magic: not Python
            code = self._mask(source)
            if code and not code.endswith("\n"):
                code += "\n"
            self.code_cells.append(index)
            parts.append(_MARKER.format(index))
            self.starts.append((line + 1, index + 1))
            parts.append(code)
            line += 1 + code.count("\n")
        return "".join(parts)

    def _mask(self, source: str) -> str:
        lines = source.split("\n")
        for i, text in enumerate(lines):
            stripped = text.lstrip()
            if stripped.startswith(("%", "!")):
                self.magics.append(text)
                lines[i] = text[: len(text) - len(stripped)] + _MAGIC.format(len(self.magics) - 1)
        return "\n".join(lines)

    def where(self, line: int) -> tuple[Optional[int], int]:
        """(cell number, line in the cell) of a line of the module."""
        cell, first = None, 1
        for start, number in self.starts:
            if start <= line:
                cell, first = number, start
        return cell, line - first + 1

    def readable(self, text: str) -> str:
        """The module as a person reads it in a diff: magics back, cells numbered from 1."""
        text = _MAGIC_PATTERN.sub(lambda m: self.magics[int(m.group(2))], text)
        return _MARKER_PATTERN.sub(lambda m: f"# %% cell {int(m.group(1)) + 1}\n", text)

    def from_python(self, text: str) -> str:
        """The notebook with its code cells replaced by the fixed module's."""
        pieces = _MARKER_PATTERN.split(text)
        indexes = [int(i) for i in pieces[1::2]]
        if indexes != self.code_cells or pieces[0].strip():
            raise NotebookError("a fix would move code across cells; not applied")
        document = json.loads(json.dumps(self.document))
        for index, code in zip(indexes, pieces[2::2]):
            cell = document["cells"][index]
            original = _text(cell.get("source", ""))
            code = _MAGIC_PATTERN.sub(lambda m: self.magics[int(m.group(2))], code)
            if not original.endswith("\n") and code.endswith("\n"):
                code = code[:-1]
            if code != original:
                cell["source"] = _lines(code) if isinstance(cell.get("source"), list) else code
        out = json.dumps(document, indent=self.indent, ensure_ascii=False)
        return out + ("\n" if self.trailing_newline else "")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _lines(code: str) -> list[str]:
    return code.splitlines(keepends=True)
