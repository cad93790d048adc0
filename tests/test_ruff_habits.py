"""Ruff's habits (issue 21): `--config KEY=VALUE`, `# tfgradfix: noqa` for a file,
`--ignore-noqa`, `--fixable`/`--unfixable`, `--per-file-ignores`, `rule --all` and `rule
NAME`, the `concise`/`full`/`junit`/`gitlab` output formats, unknown codes in `# noqa`."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

HEADER = "import numpy as np\nimport tensorflow as tf\n\n\nclass L(tf.keras.layers.Layer):\n    def call(self, x):\n"
NUMPY = HEADER + "        return np.sum(x)\n"  # TGF101 at 7:16, fixable
LINE = "a.py:7:16: TGF101 [*] `np.sum` on a tensor leaves TensorFlow: its gradient is None"


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(NUMPY)
    return tmp_path


# --- --config KEY=VALUE ---------------------------------------------------------------------------

def test_config_overrides_a_key_of_the_pyproject(cli, here):
    (here / "pyproject.toml").write_text('[tool.tfgradfix]\nselect = ["TGF2"]\n')
    assert "TGF101" not in cli("a.py").output
    result = cli("--config", 'select = ["TGF1"]', "a.py")
    assert result.exit_code == 1 and LINE in result.output
    # repeated, and the last word on a key wins; with --isolated the overrides still apply
    result = cli("--isolated", "--config", 'select = ["TGF1"]', "--config", 'ignore = ["TGF101"]', "a.py")
    assert result.exit_code == 0 and "TGF101" not in result.output


def test_config_overrides_are_checked_like_the_file(cli, here):
    for value, told in [('selct = ["TGF1"]', "unknown key: selct (did you mean select?)"),
                        ('ignore = ["TGF99"]', "ignore: unknown rule code or prefix: TGF99"),
                        ("unsafe-fixes = 1", "unsafe-fixes: expected true or false, got 1"),
                        ("select = [", "not a TOML `KEY = VALUE`")]:
        result = cli("--config", value, "a.py")
        assert result.exit_code == 2 and f"--config {value!r}: " in result.output and told in result.output, \
            result.output
    assert "np.sum" in (here / "a.py").read_text()


def test_config_still_names_a_file(cli, here):
    (here / "settings.toml").write_text('ignore = ["TGF1"]\n')
    assert cli("--config", "settings.toml", "a.py").exit_code == 0
    result = cli("--config", "settings.toml", "--config", "unsafe-fixes = true", "--config", "b.toml", "a.py")
    assert result.exit_code == 2  # b.toml: no such file, and a second file anyway


# --- file-level noqa and --ignore-noqa ----------------------------------------------------------

@pytest.mark.parametrize("comment, reported", [
    ("# tfgradfix: noqa", False),
    ("# TfGradFix: NoQA: TGF101", False),
    ("# tfgradfix: noqa: TGF2", True),  # other codes only
])
def test_a_file_level_noqa_exempts_the_file_or_its_codes(cli, here, comment, reported):
    (here / "a.py").write_text(f"{comment}\n{NUMPY}")
    result = cli("--isolated", "a.py")
    assert ("TGF101" in result.output) == reported and result.exit_code == int(reported), result.output
    assert ("TGF101" in cli("--isolated", "--ignore-noqa", "a.py").output)
    fixed = cli("--isolated", "--fix", "a.py")
    assert ("np.sum" in (here / "a.py").read_text()) != reported, fixed.output  # exempt: not fixed either


def test_file_level_noqa_in_a_string_exempts_nothing(cli, here):
    (here / "a.py").write_text('DOC = "# tfgradfix: noqa"\n' + NUMPY)
    assert "TGF101" in cli("--isolated", "a.py").output


def test_ignore_noqa_reports_what_noqa_comments_hide_and_judges_none(cli, here):
    (here / "a.py").write_text(HEADER + "        y = np.sum(x)  # noqa: TGF101\n        return y  # noqa: TGF102\n")
    assert cli("--isolated", "a.py").output.count("TGF901") == 1  # the TGF102 one is stale
    result = cli("--isolated", "--ignore-noqa", "a.py")
    assert "a.py:7:13: TGF101" in result.output and "TGF901" not in result.output and result.exit_code == 1


# --- --fixable / --unfixable ----------------------------------------------------------------------

def test_unfixable_codes_are_reported_without_a_fix_and_not_fixed(cli, here):
    result = cli("--isolated", "--unfixable", "TGF1", "a.py")
    assert "a.py:7:16: TGF101 `np.sum`" in result.output and "[*]" not in result.output
    assert cli("--isolated", "--unfixable", "TGF101", "--fix", "a.py").exit_code == 1
    assert "np.sum" in (here / "a.py").read_text()
    assert cli("--isolated", "--fixable", "TGF2", "--fix", "a.py").exit_code == 1  # only TGF2 may be fixed
    assert "np.sum" in (here / "a.py").read_text()
    (here / "pyproject.toml").write_text('[tool.tfgradfix]\nunfixable = ["TGF101"]\n')
    assert "[*]" not in cli("a.py").output
    assert cli("--fixable", "TGF101", "--unfixable", "TGF4", "--fix", "a.py").exit_code == 0  # the command line's word
    assert "np.sum" not in (here / "a.py").read_text()


def test_fixable_takes_only_known_codes(cli, here):
    result = cli("--isolated", "--fixable", "TGF777", "a.py")
    assert result.exit_code == 2 and "--fixable: unknown rule code or prefix: TGF777" in result.output


# --- --per-file-ignores ---------------------------------------------------------------------------

def test_per_file_ignores_on_the_command_line_join_the_configuration(cli, here):
    (here / "tests").mkdir()
    (here / "tests" / "t.py").write_text(NUMPY)
    (here / "pyproject.toml").write_text('[tool.tfgradfix]\nper-file-ignores = { "tests/*" = ["TGF1"] }\n')
    assert "tests/t.py" not in cli(".").output and LINE in cli(".").output
    result = cli("--per-file-ignores", "a.py:TGF101,TGF4", ".")
    assert result.exit_code == 0 and "TGF101" not in result.output  # both files: the config's and the option's
    result = cli("--per-file-ignores", "a.py", ".")
    assert result.exit_code == 2 and "expected PATTERN:CODES" in result.output
    assert cli("--per-file-ignores", "a.py:TGF000", ".").exit_code == 2


# --- rule --all, rule NAME ------------------------------------------------------------------------

def test_rule_by_name_and_all_rules(cli):
    from tfgradfix.rules import ALL_RULES

    by_code = cli("rule", "TGF102").output
    assert by_code.startswith("# TGF102 tensor-to-numpy")
    assert cli("rule", "tensor-to-numpy").output == by_code == cli("rule", "tensor_to_numpy").output
    wrong = cli("rule", "tensor-to-nump")
    assert wrong.exit_code == 2 and "did you mean tensor-to-numpy?" in wrong.output
    every = cli("rule", "--all").output
    assert [line.split()[1] for line in every.splitlines() if line.startswith("# TGF")] == \
        [rule.code for rule in ALL_RULES]
    assert cli("rule").exit_code == 2 and cli("rule", "--all", "TGF101").exit_code == 2


# --- output formats -------------------------------------------------------------------------------

def test_concise_is_text_and_full_shows_the_source(cli, here):
    assert cli("--isolated", "--output-format", "concise", "a.py").output == cli("--isolated", "a.py").output
    full = cli("--isolated", "--output-format", "full", "a.py").stdout
    assert full.startswith(LINE + "\n") and textwrap.dedent("""\
          |
        5 | class L(tf.keras.layers.Layer):
        6 |     def call(self, x):
        7 |         return np.sum(x)
          |                ^^^^^^^^^ TGF101
          |
          = help: """) in full, full


def test_junit_xml(cli, here):
    (here / "broken.py").write_text("import tensorflow as tf\nclass A(tf.keras.layers.Layer):\n    def call(self, x:\n")
    result = cli("--isolated", "--output-format", "junit", ".")
    root = ET.fromstring(result.stdout.split("\n", 1)[1])
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == ("testsuites", "2", "1", "1")
    suites = {suite.get("name"): suite for suite in root}
    case = suites["a.py"].find("testcase")
    assert (case.get("name"), case.get("classname"), case.get("line"), case.get("column")) == \
        ("tfgradfix.TGF101", "a", "7", "16")
    assert case.find("failure").text.startswith("line 7, col 16, `np.sum`")
    assert "'(' was never closed" in suites["broken.py"].find("testcase/error").get("message")
    (here / "a.py").write_text("x = 1\n")
    (here / "broken.py").unlink()
    clean = ET.fromstring(cli("--isolated", "--output-format", "junit", ".").stdout.split("\n", 1)[1])
    assert clean.find("testsuite/testcase").get("name") == "No errors found"


def test_gitlab_code_quality(cli, here, monkeypatch):
    (here / "b.py").write_text(NUMPY + NUMPY.split("\n\n\n")[1].replace("class L", "class M"))
    report = json.loads(cli("--isolated", "--output-format", "gitlab", ".").stdout)
    assert [(e["check_name"], e["location"]["path"], e["location"]["lines"]["begin"], e["severity"])
            for e in report] == [("TGF101", "a.py", 7, "major"), ("TGF101", "b.py", 7, "major"),
                                 ("TGF101", "b.py", 10, "major")]
    assert report[0]["description"].startswith("TGF101 `np.sum` on a tensor")
    assert len({e["fingerprint"] for e in report}) == 3
    (here / "b.py").write_text("\n\n" + (here / "b.py").read_text())  # moved lines keep their fingerprints
    moved = json.loads(cli("--isolated", "--output-format", "gitlab", ".").stdout)
    assert [e["fingerprint"] for e in moved] == [e["fingerprint"] for e in report]
    monkeypatch.setenv("CI_PROJECT_DIR", str(here.parent))
    assert json.loads(cli("--isolated", "--output-format", "gitlab", "a.py").stdout)[0]["location"]["path"] == \
        f"{here.name}/a.py"


# --- unknown codes in noqa ------------------------------------------------------------------------

def test_unknown_codes_in_noqa_are_reported_and_removed(cli, here):
    (here / "a.py").write_text(HEADER + "        return np.sum(x)  # noqa: TGF101, TGF999, E501\n")
    result = cli("--isolated", "a.py")
    assert "a.py:7:27: TGF901 [?] unused `noqa` directive: unknown code TGF999 (no tfgradfix rule)" in result.output
    assert cli("--isolated", "--fix", "--unsafe-fixes", "a.py").exit_code == 0
    assert (here / "a.py").read_text().endswith("return np.sum(x)  # noqa: TGF101, E501\n")


def test_a_file_level_noqa_in_any_notebook_cell_exempts_the_notebook(cli, here):
    def notebook(*cells):
        return json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                      "source": source} for source in cells],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)

    layer = NUMPY.split("\n\n\n")[1]
    (here / "n.ipynb").write_text(notebook("import numpy as np\nimport tensorflow as tf\n", layer))
    assert "n.ipynb:cell 2:3:16: TGF101" in cli("--isolated", "n.ipynb").stdout
    (here / "n.ipynb").write_text(notebook("import numpy as np\nimport tensorflow as tf\n", layer,
                                           "# tfgradfix: noqa: TGF1\n"))
    result = cli("--isolated", "n.ipynb")
    assert result.exit_code == 0 and "TGF101" not in result.stdout, result.output
