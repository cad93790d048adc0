"""Cost and reach of `--verify`: seconds per unit, and the share of changed units that
verified, on the golden fixtures and on the multi-module projects in fixtures/projects/
(each fixed by tfgradfix itself, then verified as `--fix --verify` would).

    python benchmarks/verify_cost.py [--unsafe-fixes]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from tfgradfix.analysis.project import ProjectIndex
from tfgradfix.engine import Engine
from tfgradfix.files import discover
from tfgradfix.parallel import process_files
from tfgradfix.rules import ALL_RULES
from tfgradfix.verify.runner import verify_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _fixture_pairs() -> list[tuple[str, str, str]]:
    return [(str(p), p.read_text(), p.with_name(p.stem + ".fixed.py").read_text())
            for p in sorted(FIXTURES.glob("TGF*/*.py"))
            if not p.name.endswith(".fixed.py") and p.with_name(p.stem + ".fixed.py").exists()]


def _project_pairs(project: Path, unsafe: bool) -> tuple[list[tuple[str, str, str]], ProjectIndex]:
    """The project fixed as the command line fixes it (the index, then the project rounds)."""
    files, _ = discover([str(project)])
    index = ProjectIndex.build(files, tuple({t for rule in ALL_RULES for t in rule.triggers}))
    engine = Engine(ALL_RULES, fix=True, unsafe_fixes=unsafe, project=index)
    results = list(process_files(engine, files, 1))
    return [(r.path, r.source.text, r.new_text) for r in results if r.changed and not r.error], index


def _measure(name: str, pairs: list[tuple[str, str, str]], index: ProjectIndex | None = None) -> None:
    start = time.perf_counter()
    verdicts = verify_files(pairs, index=index)
    seconds = time.perf_counter() - start
    counts = Counter(r["verdict"] for v in verdicts for r in v.values())
    units = sum(counts.values())
    device = next((r.get("device") for v in verdicts for r in v.values()), "-")
    share = counts["verified"] / units if units else 0.0
    print(f"{name}: {len(pairs)} changed files ({sum(not v for v in verdicts)} with nothing to run), {units} units: "
          f"{counts['verified']} verified, {counts['failed']} failed, {counts['inconclusive']} inconclusive "
          f"({share:.0%} verified); {seconds:.1f} s on {device}, {seconds / max(1, units):.2f} s per unit "
          "(TensorFlow imported once)")
    for (path, _, _), units_of in zip(pairs, verdicts):
        for unit, result in units_of.items():
            if result["verdict"] != "verified":
                print(f"    {Path(path).relative_to(FIXTURES)}:{unit}: {result['verdict']}: {result['reason']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unsafe-fixes", action="store_true", help="fix the projects with unsafe fixes too")
    options = parser.parse_args()
    start = time.perf_counter()
    verify_files(_fixture_pairs()[:1])
    print(f"one unit alone (start-up, TensorFlow import): {time.perf_counter() - start:.1f} s")
    _measure("fixtures", _fixture_pairs())
    for project in sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir()):
        _measure(f"projects/{project.name}", *_project_pairs(project, options.unsafe_fixes))


if __name__ == "__main__":
    main()
