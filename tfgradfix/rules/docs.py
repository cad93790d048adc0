"""Rule documentation, rendered from the rule classes.

`docs/rules/<CODE>.md` is generated from here (`python -m tfgradfix.rules.docs
docs/rules`), so `tfgradfix rule CODE` and the docs never disagree; a test
checks that the committed files are current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfgradfix.rules import ALL_RULES
from tfgradfix.rules.base import Rule


def fix_kind(rule: type[Rule]) -> str:
    safety = rule.fix_safety.split(":")[0].split(".")[0].strip().lower()
    if safety.startswith("no automatic fix"):
        return "none"
    return "unsafe" if safety.startswith("unsafe") else "safe"


def render(rule: type[Rule]) -> str:
    # A rule without an automatic fix shows what a person could write instead, never as
    # what the tool would make of the example.
    after = "Becomes:" if fix_kind(rule) != "none" else "Suggested change (not applied automatically):"
    return (
        f"# {rule.code} {rule.name}\n\n"
        f"{rule.summary[0].upper()}{rule.summary[1:]}. Fix: {fix_kind(rule)}.\n\n"
        f"## What it finds\n\n{rule.what}\n\n"
        f"## Evidence it needs\n\n{rule.evidence}\n\n"
        f"## Why it breaks gradients\n\n{rule.why}\n\n"
        f"## Example\n\n```python\n{rule.example}```\n\n"
        f"{after}\n\n```python\n{rule.fixed_example}```\n\n"
        f"## Fix safety\n\n{rule.fix_safety}\n\n"
        f"Suppress one line with `# noqa: {rule.code}`; turn the rule off with "
        f"`--ignore {rule.code}`.\n"
    )


def write_all(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for rule in ALL_RULES:
        (folder / f"{rule.code}.md").write_text(render(rule), encoding="utf-8")


if __name__ == "__main__":
    write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules"))
