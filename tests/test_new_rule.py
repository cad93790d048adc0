"""tools/new_rule.py stamps a rule that imports, is registered in code order, has its docs
page and README row, and passes the fixture and docs tests: run into a copy of the parts
of the repository those need, never into this tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT
from tfgradfix.rules import RULES_BY_CODE

# What the stamp edits and the tests it must pass read.
_COPIED = ["tfgradfix", "tools/new_rule.py", "tests/conftest.py", "tests/test_fixtures.py", "tests/test_docs.py",
           "tests/test_examples.py", "docs/rules", "README.md", "pyproject.toml"]


def _free(family: str, start: int) -> str:
    return next(f"{family}{n:02d}" for n in range(start, 100) if f"{family}{n:02d}" not in RULES_BY_CODE)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repository")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in _COPIED:
        source, target = ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    for folder in sorted((ROOT / "fixtures").glob("TGF*")):
        shutil.copytree(folder, root / "fixtures" / folder.name, ignore=ignore)
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    # The copy's own tfgradfix, ahead of the installed (editable) one.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_a_stamped_rule_is_registered_documented_and_passes_its_tests(copy):
    in_package = _free("TGF2", 10)  # a family with a package of its own: rules/variables/
    new_family = _free("TGF5", 1)  # no rule of that family yet: a module of rules/
    stamped = _run(copy, "tools/new_rule.py", in_package, "stamped-in-package", "--summary", "a stamped rule")
    assert stamped.returncode == 0, stamped.stderr
    assert "tfgradfix/rules/variables/stamped_in_package.py" in stamped.stdout.splitlines()
    stamped = _run(copy, "tools/new_rule.py", new_family, "stamped-new-family")
    assert stamped.returncode == 0, stamped.stderr
    assert "tfgradfix/rules/stamped_new_family.py" in stamped.stdout.splitlines()

    check = _run(copy, "-c", textwrap.dedent(f"""\
        import pathlib, tfgradfix
        from tfgradfix.rules import ALL_RULES, RULES_BY_CODE
        from tfgradfix.rules.variables import StampedInPackage
        assert pathlib.Path(tfgradfix.__file__).resolve().parents[1] == pathlib.Path.cwd().resolve()
        assert RULES_BY_CODE[{in_package!r}] is StampedInPackage
        assert RULES_BY_CODE[{new_family!r}].__module__ == "tfgradfix.rules.stamped_new_family"
        codes = [rule.code for rule in ALL_RULES]
        assert codes == sorted(codes), codes
        """))
    assert check.returncode == 0, check.stderr
    readme = (copy / "README.md").read_text(encoding="utf-8")
    assert f"| {in_package} | stamped-in-package | a stamped rule | none (flag) |" in readme

    tests = _run(copy, "-m", "pytest", "-v", "-n", "0", "-p", "no:cacheprovider", "tests/test_fixtures.py",
                 "tests/test_docs.py", "tests/test_examples.py",
                 "-k", f"{in_package} or {new_family} or every_rule or docs_are_generated or readme_lists_every_rule "
                       "or without_a_fix or fix_kind_in_the_docs")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    for code, module in ((in_package, "stamped_in_package"), (new_family, "stamped_new_family")):
        for case in (f"test_correct_code_is_not_reported[{code}/ok_{module}]",
                     f"test_flag_only_cases_are_reported_and_left_alone[{code}/flag_{module}]",
                     f"test_reported_findings_match_the_snapshot[{code}/flag_{module}]",
                     f"test_example_is_reported_by_its_rule[{code}]", f"test_suggested_change_is_valid_code[{code}]"):
            assert f"{case} PASSED" in tests.stdout, case
    # Nothing of it reached this tree.
    assert not (ROOT / "fixtures" / in_package).exists() and not (ROOT / "docs" / "rules" / f"{new_family}.md").exists()


def test_a_taken_code_or_name_writes_nothing(copy):
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    refused = _run(copy, "-c", textwrap.dedent(f"""\
        import runpy
        main = runpy.run_path("tools/new_rule.py")["main"]
        print([main(["TGF101", "some-new-name"]), main([{_free("TGF2", 50)!r}, "numpy-call-on-tensor"]),
               main(["TGF01", "another-name"])])
        """))
    assert refused.stdout.strip() == "[2, 2, 2]", refused.stderr
    assert "TGF101 is taken" in refused.stderr and "numpy-call-on-tensor is taken" in refused.stderr
    after = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert after == before
