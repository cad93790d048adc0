"""`# noqa` comments: reading them (suppression) and writing them (`--add-noqa`).

Only real comments count: the text is tokenized, so `"# noqa"` inside a string
suppresses nothing. As in Ruff, the directive of a line that cannot end with a comment
(one that opens or sits inside a multi-line string, or ends in a backslash continuation)
is on the first line after it that can: where its string or continuation ends."""

from __future__ import annotations

import io
import re
import tokenize
from collections import defaultdict
from typing import Iterable, Optional

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
# Tokens that end a physical line outside any string or continuation.
_LINE_ENDS = (tokenize.NEWLINE, tokenize.NL)


def suppressed(line: str, code: str) -> bool:
    """Whether the comment `line` carries a `# noqa` that covers `code` (a bare one covers all)."""
    found = directive(line)
    return found is not None and (found[2] is None or code in found[2])


class NoqaLines:
    """The comments of a text by line, and the line whose comment holds each line's `noqa`."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        # line -> (column, the comment's text) of the comment that ends the line.
        self.comments: dict[int, tuple[int, str]] = {}
        # Lines that end outside strings and continuations (where a comment can go).
        self.ends: set[int] = set()
        # Lines past this one were not tokenized (a text tokenize rejects): read as they are.
        self.known = 0
        try:
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.COMMENT:
                    self.comments[token.start[0]] = (token.start[1], token.string)
                elif token.type in _LINE_ENDS:
                    self.ends.add(token.start[0])
                self.known = token.start[0] - 1  # the lines before the last token are complete
        except (tokenize.TokenError, SyntaxError):
            self._fall_back()
            return
        self.known = len(self.lines)

    def _fall_back(self) -> None:
        """After the tokenized part, each line holds its own directive, read from its text."""
        for number in range(self.known + 1, len(self.lines) + 1):
            self.comments.pop(number, None)
            body = self.lines[number - 1].rstrip("\r\n")
            match = _NOQA.search(body)
            if match is not None:
                self.comments[number] = (match.start(), body[match.start():])
            self.ends.add(number)

    def line_for(self, line: int) -> int:
        """The line whose comment is the `noqa` of `line`: itself, or where the string or
        the backslash continuation it is part of ends."""
        last = len(self.lines)
        while line < last and line not in self.ends:
            line += 1
        return line

    def directive(self, line: int) -> Optional[tuple[int, int, Optional[list[str]]]]:
        """The `noqa` that covers `line`, as `directive` reads it, or None."""
        comment = self.comments.get(self.line_for(line))
        return None if comment is None else directive(comment[1])

    def suppressed(self, line: int, code: str) -> bool:
        found = self.directive(line)
        return found is not None and (found[2] is None or code in found[2])


# `# tfgradfix: noqa` (the whole file) or `# tfgradfix: noqa: TGF101, TGF2` (those codes in all of
# it), Ruff's `# ruff: noqa`, on a line of its own or after code.
_FILE_NOQA = re.compile(r"#\s*tfgradfix\s*:\s*noqa(?P<sep>\s*:\s*(?P<codes>[A-Z]+[0-9]*(?:[\s,]+[A-Z]+[0-9]*)*))?",
                        re.IGNORECASE)
EVERY_CODE = ""  # the prefix every code starts with: a file exempt from all rules


def file_exemptions(text: str) -> list[str]:
    """The code prefixes the file's `# tfgradfix: noqa` comments exempt it from (`EVERY_CODE`
    for a bare one); only real comments count, never the text in a string."""
    if _FILE_NOQA.search(text) is None:
        return []
    found: list[str] = []
    for _, comment in NoqaLines(text).comments.values():
        match = _FILE_NOQA.search(comment)
        if match is None:
            continue
        if match.group("codes") is None:
            return [EVERY_CODE]
        found.extend(re.split(r"[\s,]+", match.group("codes").upper()))
    return found


def add_noqa(text: str, findings: Iterable[tuple[int, str]]) -> tuple[str, int]:
    """`text` with `# noqa: CODE` added for each (line, code), at the end of the line that
    holds that line's directive (never inside a string); existing directives are extended,
    bare ones left alone. Returns the text and how many lines changed."""
    noqa = NoqaLines(text)
    wanted: dict[int, set[str]] = defaultdict(set)
    lines = noqa.lines
    for line, code in findings:
        if 0 < line <= len(lines):
            wanted[noqa.line_for(line)].add(code)
    changed = 0
    for number, codes in sorted(wanted.items()):
        source = lines[number - 1]
        body = source.rstrip("\r\n")
        ending = source[len(body):]
        comment = noqa.comments.get(number)
        found = directive(comment[1]) if comment is not None else None
        if found is not None and found[2] is None:
            continue  # a bare noqa covers everything already
        if found is not None and comment is not None:
            present = set(found[2] or ())
            if not codes - present:
                continue
            merged = ", ".join(sorted(present | codes))
            start, end = comment[0] + found[0], comment[0] + found[1]
            body = body[:start] + f"# noqa: {merged}" + body[end:]
        else:
            body = f"{body}  # noqa: {', '.join(sorted(codes))}"
        lines[number - 1] = body + ending
        changed += 1
    return "".join(lines), changed


def directive(comment: str) -> Optional[tuple[int, int, Optional[list[str]]]]:
    """The `# noqa` in a comment: (start, end, its codes, None for a bare one), or None."""
    match = _NOQA.search(comment)
    if match is None:
        return None
    codes = match.group("codes")
    return match.start(), match.end(), None if codes is None else re.split(r"[\s,]+", codes.upper())
