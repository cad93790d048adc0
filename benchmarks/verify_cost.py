"""Cost of `--verify`: the child's fixed start-up (TensorFlow import) and the time per
verified unit, measured on the golden fixtures.

    python benchmarks/verify_cost.py
"""

from __future__ import annotations

import time
from pathlib import Path

from tfgradfix.verify.runner import verify_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def main() -> None:
    pairs = [(str(p), p.read_text(), p.with_name(p.stem + ".fixed.py").read_text())
             for p in sorted(FIXTURES.glob("TGF*/*.py"))
             if not p.name.endswith(".fixed.py") and p.with_name(p.stem + ".fixed.py").exists()]
    start = time.perf_counter()
    verify_files(pairs[:1])
    one = time.perf_counter() - start
    start = time.perf_counter()
    verdicts = verify_files(pairs)
    everything = time.perf_counter() - start
    units = sum(len(v) for v in verdicts)
    verified = sum(r["verdict"] == "verified" for v in verdicts for r in v.values())
    device = next((r.get("device") for v in verdicts for r in v.values()), "-")
    per_unit = (everything - one) / max(1, units - 1)
    print(f"{len(pairs)} files, {units} units, {verified} verified, on {device}")
    print(f"one child for all: {everything:.1f} s; one unit alone: {one:.1f} s")
    print(f"fixed start-up ~{one - per_unit:.1f} s, then ~{per_unit:.2f} s per unit")


if __name__ == "__main__":
    main()
