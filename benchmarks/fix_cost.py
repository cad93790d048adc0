"""What `--fix` costs next to `check` on one large file, as a ratio (and both as
multiples of LibCST's parse of the same file), in one run.

    python benchmarks/fix_cost.py [--lines 50000]

The file is the seed layer of fixtures/TGF101 repeated under new names: five
findings per layer, all fixable, two of them only after a first fix (so `--fix`
needs two passes and three checks). Three checks and two re-parses make about 3x
the floor; more means a fix step that scales worse than the file (LibCST's
RemoveImportsVisitor, whose scope analysis of the whole module made it 6x).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import libcst as cst

from tfgradfix.engine import Engine
from tfgradfix.files import SourceFile
from tfgradfix.rules import ALL_RULES

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "TGF101" / "seed_dense.py"


def large_module(lines: int) -> str:
    head, layer = SEED.read_text().split("\n\n\n", 1)
    per_layer = layer.count("\n") + 3
    copies = max(1, lines // per_layer)
    return "\n\n\n".join([head] + [layer.replace("IncorrectLayer", f"Layer{i}").replace("def example", f"def example{i}")
                                   for i in range(copies)])


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    text = large_module(args.lines)
    source = SourceFile(path="large.py", text=text, encoding="utf-8", bom=False)
    parse = _seconds(lambda: cst.parse_module(text))
    check = _seconds(lambda: Engine(ALL_RULES).process(source))
    fixed = []
    fix = _seconds(lambda: fixed.append(Engine(ALL_RULES, fix=True).process(source)))
    result = fixed[0]
    assert result.error is None and result.applied and not result.findings, result.error
    print(f"{text.count(chr(10)):,} lines, {len(result.applied):,} fixes")
    print(f"parse {parse:7.2f} s   check {check:7.2f} s ({check / parse:.1f}x parse)   "
          f"fix {fix:7.2f} s ({fix / parse:.1f}x parse)")
    print(f"fix / check: {fix / check:.2f}")


if __name__ == "__main__":
    main()
