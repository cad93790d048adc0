"""TGF901: a `# noqa: TGF...` that suppresses nothing (Ruff's RUF100)."""

from __future__ import annotations

from typing import Iterable, Mapping, Union

import libcst as cst

from tfgradfix.fixes.edits import Applicability, Fix
from tfgradfix.noqa import directive
from tfgradfix.rules.base import Finding, Rule

_Holder = Union[cst.TrailingWhitespace, cst.EmptyLine]


class UnusedNoqa(Rule):
    code = "TGF901"
    summary = "a `# noqa: TGF...` code that suppresses no finding"
    name = "unused-noqa"
    message = "unused `noqa` directive: {codes} {verb} nothing on this line"
    # A TGF code no rule has (a typo, a code never released), as Ruff's RUF100 names unknown codes.
    unknown_message = "unused `noqa` directive: unknown code{s} {codes} (no tfgradfix rule)"
    triggers = ("noqa",)
    what = (
        "Finds the codes of a `# noqa: TGF...` comment for which no finding of that rule is "
        "reported on the line (or, for a line inside a multi-line string or a backslash "
        "continuation, on the lines the comment closes), in every file: in one without a "
        "gradient path, or that the prefilter skips, every such code is stale. Only a real "
        "comment counts, never `# noqa` text in a string. Only codes of rules that ran are "
        "judged: codes of other tools (`# noqa: E501`), rules turned off by `select`/`ignore`, "
        "and bare `# noqa` comments (which other linters read too) are left alone. A `TGF` code "
        "that no rule has (`# noqa: TGF999`, a typo of a code) is reported as unknown, as Ruff's "
        "RUF100 reports unknown codes."
    )
    evidence = (
        "A real `# noqa` comment (not text in a string) with a `TGF` code of a rule that ran and no finding "
        "of that rule on the lines the comment covers; codes of other tools and rules turned off are left "
        "alone."
    )
    why = (
        "It breaks nothing by itself, but a stale `noqa` hides the next real finding on that "
        "line: the code was fixed or moved, and a gradient problem reintroduced there later "
        "would go unreported. The engine applies it after every other rule, as it needs their "
        "findings."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Dense(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.kernel)  # noqa: TGF101\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Dense(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.kernel)\n"
    )
    fix_safety = (
        "Unsafe: removing a comment never changes what the code does, but whether a directive "
        "is used can depend on what the run sees: a finding that needs another module of the "
        "project, or another `select`, may appear in a wider run. So `--fix` removes the unused "
        "codes (the whole directive when none is left, keeping any comment before it) only with "
        "`--unsafe-fixes`."
    )

    def __init__(self, context, report) -> None:
        super().__init__(context, report)
        # Comments with a noqa naming TGF codes: (the node holding the comment, its codes).
        self.directives: list[tuple[_Holder, list[str]]] = []

    def visit_TrailingWhitespace(self, node: cst.TrailingWhitespace) -> None:
        self._collect(node)

    def visit_EmptyLine(self, node: cst.EmptyLine) -> None:
        self._collect(node)

    def _collect(self, node: _Holder) -> None:
        if node.comment is None or "noqa" not in node.comment.value.lower():
            return
        found = directive(node.comment.value)
        if found is not None and found[2] is not None and any(c.startswith("TGF") for c in found[2]):
            self.directives.append((node, found[2]))

    def unused(self, lines: Mapping[cst.CSTNode, int], used: set[tuple[int, str]],
               enabled: Iterable[str]) -> list[Finding]:
        """Findings for the directives' codes of `enabled` rules that suppressed nothing;
        `lines`: each directive's comment -> its line; `used`: (line, code) suppressed."""
        from tfgradfix.rules import RULES_BY_CODE  # (this module is one of them)

        enabled = set(enabled) - {self.code}
        findings = []
        for holder, codes in self.directives:
            assert holder.comment is not None
            line = lines[holder.comment]
            stale = [c for c in codes if c in enabled and (line, c) not in used]
            unknown = [c for c in codes if c.startswith("TGF") and c not in RULES_BY_CODE]
            if not stale and not unknown:
                continue
            told = []
            if stale:
                told.append(self.message.format(codes=", ".join(stale),
                                                verb="suppresses" if len(stale) == 1 else "suppress"))
            if unknown:
                told.append(self.unknown_message.format(codes=", ".join(unknown), s="s" if len(unknown) > 1 else ""))
            message = told[0] if len(told) == 1 else f"{told[0]}; {told[1].split(': ', 1)[1]}"
            findings.append(Finding(code=self.code, name=self.name, node=holder.comment,
                                    fix=self._fix(holder, codes, stale + unknown), message=message))
        return findings

    @staticmethod
    def _fix(holder: _Holder, codes: list[str], stale: list[str]) -> Fix:
        assert holder.comment is not None
        text = holder.comment.value
        start, end, _ = directive(text)  # type: ignore[misc]
        kept = [c for c in codes if c not in stale]
        before, after = text[:start].rstrip(), text[end:].strip()
        if kept:
            new = text[:start] + f"# noqa: {', '.join(kept)}" + text[end:]
        else:  # keep what the comment says around the directive
            new = " ".join(part for part in (before, after) if part)
            if new and not new.startswith("#"):
                new = "# " + new
        comment = cst.Comment(new) if new else None
        if isinstance(holder, cst.TrailingWhitespace):
            replacement = holder.with_changes(comment=comment, whitespace=holder.whitespace if comment
                                              else cst.SimpleWhitespace(""))
        else:
            replacement = holder.with_changes(comment=comment)
        return Fix.replace(holder, replacement, f"Remove unused `noqa` code{'s' if len(stale) > 1 else ''} "
                           f"{', '.join(stale)}", applicability=Applicability.UNSAFE)
