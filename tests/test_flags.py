"""Flags as a user combines them: stdin always comes back, flags that promise not to
write do not, and the Ruff flags a Ruff user reaches for behave as in Ruff."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, tfgradfix

SEED = FIXTURES / "TGF101" / "seed_dense.py"
GOLDEN = SEED.with_name("seed_dense.fixed.py")
FLAG_ONLY = (
    "import tensorflow as tf\n\n\n"
    "class Scalar(tf.keras.layers.Layer):\n"
    "    def call(self, x):\n"
    "        return x * float(tf.reduce_sum(x))\n"
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy(SEED, tmp_path / "layers.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tool(*args: str, data: bytes, cwd=None) -> subprocess.CompletedProcess:
    return tfgradfix(*args, input=data, cwd=cwd, text=False)


@pytest.mark.parametrize("text", [
    SEED.read_text(),  # fixable: comes back fixed
    GOLDEN.read_text(),  # nothing to fix
    FLAG_ONLY,  # only findings without a fix
    "print('no tensorflow here')\n",  # skipped by the prefilter
    "import tensorflow as tf\nclass A(tf.keras.layers.Layer):\n    def call(self, x:\n",  # syntax error
])
def test_fix_on_stdin_always_gives_the_whole_file_back(text):
    expected = GOLDEN.read_text() if text == SEED.read_text() else text
    fixed = _tool("--fix", "-", data=text.encode())
    assert fixed.stdout.decode() == expected, fixed.stderr.decode()
    noqa = _tool("--add-noqa", "-", data=text.encode())
    assert re.sub(r"  # noqa: [A-Z0-9, ]+", "", noqa.stdout.decode()) == text
    if text == FLAG_ONLY:
        assert "float(tf.reduce_sum(x))  # noqa: TGF104" in noqa.stdout.decode()


def test_fix_on_stdin_that_cannot_be_decoded_comes_back_byte_for_byte():
    data = b"# -*- coding: utf-8 -*-\nx = '\xff\xfe'\n"
    result = _tool("--fix", "-", data=data)
    assert result.stdout == data
    assert result.returncode == 2 and b"cannot decode" in result.stderr


def test_fix_diff_on_stdin_prints_only_the_diff():
    assert _tool("--fix", "--diff", "-", data=GOLDEN.read_bytes()).stdout == b""
    diff = _tool("--fix", "--diff", "-", data=SEED.read_bytes()).stdout.decode()
    assert diff.startswith("--- a/-\n+++ b/-\n") and "+        x = inputs\n" in diff


def test_stdin_filename_ipynb_reads_a_notebook_and_gives_it_back():
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": SEED.read_text().splitlines(keepends=True)}
    notebook = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"
    checked = _tool("--stdin-filename", "train.ipynb", data=notebook.encode())
    assert b"train.ipynb:cell 1:17:13: TGF102" in checked.stdout, checked.stderr
    fixed = _tool("--fix", "--stdin-filename", "train.ipynb", "-", data=notebook.encode())
    cells = json.loads(fixed.stdout)["cells"]
    assert "".join(cells[0]["source"]) == GOLDEN.read_text()


def test_stdin_filename_without_dash_reads_stdin_as_ruff_does(cli, project):
    result = cli("--stdin-filename", "src/model.py", "layers.py", input=SEED.read_text())
    assert "src/model.py:17:13: TGF102" in result.stdout
    assert "warning: ignoring layers.py: --stdin-filename reads standard input" in result.stderr


def test_add_noqa_does_not_go_with_fix_or_diff(cli, project):
    for flags in (("--fix", "--diff"), ("--diff",), ("--fix",)):
        result = cli(*flags, "--add-noqa", "layers.py")
        assert result.exit_code == 2 and "--add-noqa" in result.output
    assert (project / "layers.py").read_text() == SEED.read_text()


@pytest.mark.slow
def test_check_verify_without_fix_claims_no_fix(cli, project):
    result = tfgradfix("--verify", "--output-format", "json", "layers.py")
    assert json.loads(result.stdout)["summary"]["fixed"] == 0, result.stderr
    text = tfgradfix("--verify", "layers.py")
    assert "fixed" not in text.stderr.splitlines()[-1] and "Fixed" not in text.stdout
    assert (project / "layers.py").read_text() == SEED.read_text()


@pytest.mark.parametrize("python", ["/nonexistent/python3", "no-tf"])
def test_verify_without_tensorflow_is_one_clear_line(cli, project, python, tmp_path):
    if python == "no-tf":  # a real Python without TensorFlow: a bare virtual environment
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
        python = str(tmp_path / "bare" / "bin" / "python")
    result = cli("--verify", "--python", python, "layers.py")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --verify ") and "pass --python" in line
    if "bare" in python:
        assert "needs TensorFlow" in line and "install tfgradfix[verify]" in line


def test_output_file_quiet_and_exit_codes_for_fix(cli, project):
    report = project / "report.txt"
    result = cli("--output-file", str(report), "layers.py")
    assert result.exit_code == 1 and result.stdout == ""
    assert "layers.py:17:13: TGF102" in report.read_text()
    quiet = cli("-q", "layers.py")
    assert quiet.stderr == "" and all(": TGF" in line for line in quiet.stdout.splitlines())
    (project / "flag.py").write_text(FLAG_ONLY)
    assert cli("--fix-only", "flag.py").exit_code == 0
    assert cli("--fix-only", "flag.py").stdout == ""
    shutil.copy(SEED, project / "again.py")
    assert cli("--fix", "again.py").exit_code == 0
    shutil.copy(SEED, project / "again.py")
    assert cli("--fix", "--exit-non-zero-on-fix", "again.py").exit_code == 1
    assert cli("--fix", "--exit-non-zero-on-fix", "again.py").exit_code == 0, "nothing left to fix"


def test_show_fixes_lists_them_per_file_and_rule(cli, project):
    result = cli("--fix", "--show-fixes", "layers.py")
    assert result.stdout.splitlines() == [
        "Fixed 5 findings:", "- layers.py:", "    3 × TGF102 (tensor-to-numpy)",
        "    1 × TGF101 (numpy-call-on-tensor)", "    1 × TGF103 (numpy-roundtrip)"]


def test_config_names_a_file_and_isolated_reads_none(cli, project):
    (project / "pyproject.toml").write_text('[tool.tfgradfix]\nselect = ["TGF103"]\n')
    (project / "strict.toml").write_text('select = ["TGF102"]\n')
    def codes(*args):
        return {line.split()[1] for line in cli(*args, "layers.py").stdout.splitlines() if ": TGF" in line}
    assert codes() == {"TGF103"}
    assert codes("--config", "strict.toml") == {"TGF102"}
    assert codes("--isolated") == {"TGF101", "TGF102", "TGF103"}
    missing = cli("--config", "nope.toml", "layers.py")
    assert missing.exit_code == 2 and "nope.toml: no such config file" in missing.output


def test_extend_exclude_adds_to_the_config(cli, project):
    (project / "gen.py").write_text(SEED.read_text())
    (project / "old.py").write_text(SEED.read_text())
    (project / "pyproject.toml").write_text(textwrap.dedent('[tool.tfgradfix]\nexclude = ["gen.py"]\n'))
    paths = {line.split(":")[0] for line in cli("--extend-exclude", "old.py", ".").stdout.splitlines() if ": TGF" in line}
    assert paths == {"layers.py"}
    paths = {line.split(":")[0] for line in cli("--exclude", "old.py", ".").stdout.splitlines() if ": TGF" in line}
    assert paths == {"layers.py", "gen.py"}, "--exclude replaces the config's list"


def test_help_says_check_is_the_default(cli):
    assert "`check` is the default command" in cli("--help").output


def test_unused_noqa_judges_only_codes_of_rules_that_ran(cli, project):
    (project / "layers.py").write_text(SEED.read_text().replace(
        "x = inputs.numpy()", "x = inputs.numpy()  # noqa: TGF102, TGF203").replace(
        "return tf.convert_to_tensor(y)", "return tf.convert_to_tensor(y)  # noqa: TGF101"))
    everything = [line for line in cli("layers.py").stdout.splitlines() if "TGF901" in line]
    assert everything == [
        "layers.py:17:29: TGF901 [?] unused `noqa` directive: TGF203 suppresses nothing on this line",
        "layers.py:19:41: TGF901 [?] unused `noqa` directive: TGF101 suppresses nothing on this line"]
    some = [line for line in cli("--select", "TGF1,TGF901", "layers.py").stdout.splitlines() if "TGF901" in line]
    assert [line.split(": ")[-1] for line in some] == ["TGF101 suppresses nothing on this line"]
    assert "TGF901" not in cli("--ignore", "TGF901", "layers.py").stdout
    before = (project / "layers.py").read_text()
    cli("--add-noqa", "layers.py")
    assert "TGF901" not in (project / "layers.py").read_text(), "--add-noqa must not silence TGF901"
    (project / "layers.py").write_text(before)
    assert cli("--fix", "layers.py").exit_code == 1, "the fix waits for --unsafe-fixes"
    assert "# noqa: TGF102, TGF203" in (project / "layers.py").read_text()
    cli("--fix", "--unsafe-fixes", "layers.py")
    text = (project / "layers.py").read_text()
    assert "x = inputs.numpy()  # noqa: TGF102\n" in text and "# noqa: TGF101" not in text


def test_diff_of_an_absolute_path_names_it_once(tmp_path):
    target = tmp_path / "layers.py"
    target.write_bytes(SEED.read_bytes())
    diff = _tool("--diff", str(target), data=b"").stdout.decode()
    relative = str(target).lstrip("/")
    assert diff.startswith(f"--- a/{relative}\n+++ b/{relative}\n")


def test_show_fixes_lists_only_the_fixes_written(cli, project, monkeypatch):
    """--fix --verify --show-fixes: of two files, the one whose fixes did not verify is not
    written, and not listed as fixed (the verifier is stubbed: this tier runs no TensorFlow)."""
    import tfgradfix.cli as command

    shutil.copy(SEED, project / "verified.py")
    monkeypatch.setattr(command, "check_python", lambda python=None: None)
    monkeypatch.setattr(command, "verify_files", lambda items, *args: [
        {"Dense": {"verdict": "verified" if path.endswith("verified.py") else "failed", "reason": ""}}
        for path, _, _ in items])
    before = (project / "layers.py").read_text()
    result = cli("--fix", "--verify", "--show-fixes", "layers.py", "verified.py")
    assert (project / "layers.py").read_text() == before
    assert (project / "verified.py").read_text() == GOLDEN.read_text()
    assert "layers.py: fixes not written: Dense failed" in result.stderr
    found = [line for line in result.stdout.splitlines() if line.startswith("layers.py:") and ": TGF" in line]
    assert len(found) == 5, "its findings as they were before the fixes"
    assert "Fixed 5 findings, 5 remaining:\n- verified.py:\n" in result.stdout
    assert "- layers.py:" not in result.stdout
