"""`# noqa` comments: reading them (suppression) and writing them (`--add-noqa`)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Optional

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


def suppressed(line: str, code: str) -> bool:
    """Whether `line` carries a `# noqa` that covers `code` (a bare one covers all)."""
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in re.split(r"[\s,]+", codes.upper())


def add_noqa(text: str, findings: Iterable[tuple[int, str]]) -> tuple[str, int]:
    """`text` with `# noqa: CODE` added for each (line, code); existing directives are
    extended, bare ones left alone. Returns the text and how many lines changed."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for line, code in findings:
        wanted[line].add(code)
    lines = text.splitlines(keepends=True)
    changed = 0
    for number, codes in sorted(wanted.items()):
        if not 0 < number <= len(lines):
            continue
        line = lines[number - 1]
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        match = _NOQA.search(body)
        if match is not None and match.group("codes") is None:
            continue  # a bare noqa covers everything already
        if match is not None:
            present = set(re.split(r"[\s,]+", match.group("codes").upper()))
            missing = sorted(codes - present)
            if not missing:
                continue
            merged = ", ".join(sorted(present | codes))
            body = body[:match.start()] + f"# noqa: {merged}" + body[match.end():]
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
