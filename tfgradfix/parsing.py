"""Parsing a file for the engine: LibCST's tree, Python's own message for a syntax error,
code Python accepts that LibCST cannot parse, and a notebook's cells that are not Python
(set aside, each with its error)."""

from __future__ import annotations

import ast
import io
import tokenize
from typing import TYPE_CHECKING, Optional

import libcst as cst

from tfgradfix.files import SourceError, SourceFile

if TYPE_CHECKING:
    from tfgradfix.result import FileResult


class SyntaxProblem(SourceError):
    """Code that does not parse, and where."""

    def __init__(self, line: int, column: int, reason: str) -> None:
        super().__init__(f"syntax error at {line}:{column}: {reason}")
        self.line, self.column, self.reason = line, column, reason

    def in_cell(self, cell: int) -> str:
        """The problem of a notebook cell parsed alone, told by its number."""
        return f"cell {cell}, line {self.line}: syntax error at column {self.column}: {self.reason}"


class UnparsableSyntax(SyntaxProblem):
    """Code Python accepts that LibCST, the parser fixes are written with, cannot parse:
    the file is not analysed, and the message says why without calling it invalid."""

    def __init__(self, line: int, column: int, reason: str, mixed_indent: Optional[int]) -> None:
        super().__init__(line, column, reason)
        self.mixed_indent = mixed_indent
        self.args = (self._told("this file"),)

    def _told(self, what: str) -> str:
        cause = (f"line {self.mixed_indent} indents with tabs and spaces mixed" if self.mixed_indent is not None
                 else f"{self.reason} at {self.line}:{self.column}")
        return (f"not analysed: Python accepts {what}, but LibCST (the parser tfgradfix rewrites code with) "
                f"cannot parse it: {cause}")

    def in_cell(self, cell: int) -> str:
        return f"cell {cell}: {self._told('this cell')}"


def parse_source(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        # Python's own message ("'(' was never closed") is the one users know.
        try:
            ast.parse(text)
        except SyntaxError as python_error:
            raise SyntaxProblem(python_error.lineno or 0, python_error.offset or 0, python_error.msg) from error
        except (ValueError, RecursionError, MemoryError):
            raise SyntaxProblem(error.editor_line, error.editor_column, error.message) from error
        # No parser option of LibCST reads these (its tokenizer rejects them whatever the version).
        raise UnparsableSyntax(error.editor_line, error.editor_column, error.message, _mixed_indent(text)) from error
    except (RecursionError, MemoryError) as error:
        raise SourceError(f"cannot parse: {type(error).__name__}") from error


def python_accepts(text: str, ast_parsed: Optional[bool]) -> None:
    """SyntaxProblem when Python rejects code LibCST parsed (900 nested parentheses: Python's
    parser stops at 200). Python's `ast` is asked only when the project index's `ast` read of
    the file failed, or the index does not know it (standard input)."""
    if ast_parsed:
        return
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise SyntaxProblem(error.lineno or 0, error.offset or 0, error.msg) from error
    except (ValueError, RecursionError, MemoryError):
        return


def _mixed_indent(text: str) -> Optional[int]:
    """The first line whose indentation mixes tabs and spaces, within itself or against the
    lines indented before it, which Python allows where its two ways of counting tabs agree."""
    seen: set[str] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.INDENT:
                seen.update(token.string)
                if len(seen) > 1:
                    return token.start[0]
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def cells_parse_alone(source: SourceFile) -> bool:
    """Whether each code cell of the notebook is Python by itself (Python's `ast`, a tenth
    of LibCST's cost, judges; what it cannot judge, LibCST will)."""
    assert source.notebook is not None
    for cell in source.notebook.cells:
        try:
            ast.parse(cell.code)
        except SyntaxError:
            return False
        except (ValueError, RecursionError, MemoryError):
            continue
    return True


def without_broken_cells(source: SourceFile, result: FileResult) -> Optional[cst.Module]:
    """A notebook some of whose cells are not Python (an R cell, a stray no-break space), as
    Ruff reads one: each such cell gets its error in `result.problems` and is set aside,
    coming back as it is, and the others are checked and fixed. None when no cell alone
    fails (or setting them aside does not help)."""
    notebook = source.notebook
    assert notebook is not None
    broken: dict[int, SyntaxProblem] = {}
    for cell in notebook.cells:
        try:
            parse_source(cell.code)
            python_accepts(cell.code, None)  # (900 nested parentheses LibCST reads)
        except SyntaxProblem as problem:
            broken[cell.index] = problem
        except SourceError:
            return None
    if not broken:
        return None
    text = notebook.set_aside(broken)
    try:
        module = parse_source(text)
    except SourceError:
        notebook.set_aside(())  # the notebook as read, for the error the whole module gets
        return None
    source.text = text
    result.problems = [f"{problem.in_cell(index + 1)} (the cell is not checked)" for index, problem in broken.items()]
    return module
