"""What a new user broke (issue 21): `--add-noqa` never writes into a string, a
directive is a comment, each file takes its nearest config, one bad file is one
error line and the run goes on, and the reports point where they say they do."""

from __future__ import annotations

import json
import textwrap

import pytest

from tfgradfix.noqa import NoqaLines, add_noqa

HEADER = "import numpy as np\nimport tensorflow as tf\n\n\nclass L(tf.keras.layers.Layer):\n    def call(self, x):\n"


def _layer(body: str) -> str:
    return HEADER + textwrap.indent(textwrap.dedent(body), " " * 8)


# --- --add-noqa and where a directive lives -------------------------------------------------

MULTILINE = _layer('''\
    y = np.einsum("""
    ij,jk->ik""", x, self.kernel)
    z = np.sum(x) + \\
        1.0
    return y + z
''')


def test_add_noqa_goes_after_the_string_and_the_continuation(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MULTILINE)
    result = cli("--isolated", "--add-noqa", "m.py")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "m.py").read_text()
    assert '"""\n        ij,jk->ik""", x, self.kernel)  # noqa: TGF101\n' in text  # the equation is untouched
    assert "z = np.sum(x) + \\\n            1.0  # noqa: TGF101\n" in text
    assert text.replace("  # noqa: TGF101", "") == MULTILINE
    again = cli("--isolated", "m.py")  # where Ruff puts it, it suppresses, and is used
    assert again.exit_code == 0 and "TGF" not in again.output, again.output


def test_a_directive_after_a_string_covers_the_lines_of_the_string(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _layer('''\
    y = np.einsum("""
    ij,jk->ik""", x, self.kernel)  # noqa: TGF101
    return y
''')
    (tmp_path / "m.py").write_text(text)
    result = cli("--isolated", "m.py")
    assert result.exit_code == 0 and "TGF" not in result.output, result.output


def test_add_noqa_extends_a_directive_after_a_string(cli, tmp_path, monkeypatch):
    text = 's = """a\nb"""  # noqa: TGF104\n'
    assert add_noqa(text, [(1, "TGF101")]) == ('s = """a\nb"""  # noqa: TGF101, TGF104\n', 1)
    assert add_noqa('s = """a # noqa: X1\nb"""\n', [(1, "TGF101")]) == (
        's = """a # noqa: X1\nb"""  # noqa: TGF101\n', 1)


def test_noqa_text_inside_a_string_does_not_suppress(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(_layer('''\
    s = "# noqa: TGF101"; t = np.sum(x)
    u = np.mean(x, axis="# noqa")
    return t + u
'''))
    result = cli("--isolated", "m.py")
    assert "m.py:7:35: TGF101" in result.output and "m.py:8:13: TGF101" in result.output, result.output


def test_noqa_lines_map_and_fall_back():
    lines = NoqaLines('a = """x\ny\nz"""\nb = 1 + \\\n  2  # noqa\nc = "# noqa"\n')
    assert [lines.line_for(n) for n in range(1, 7)] == [3, 3, 3, 5, 5, 6]
    assert lines.suppressed(4, "TGF101") and not lines.suppressed(6, "TGF101")
    broken = NoqaLines("x = (1,\n  2  # noqa: TGF101\n")  # tokenize fails at the end: read as text
    assert broken.suppressed(2, "TGF101")


# --- the nearest configuration per file -----------------------------------------------------

TWO_RULES = _layer('''\
    a = np.sum(x)
    return x * float(tf.reduce_sum(x)) + a
''')  # TGF101 and TGF104


@pytest.fixture
def monorepo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, table in (("a", 'ignore = ["TGF101"]\n'), ("b", 'select = ["TGF101"]\nexclude = ["gen_*.py"]\n')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text(f"[tool.tfgradfix]\n{table}")
        (tmp_path / name / "m.py").write_text(TWO_RULES)
        (tmp_path / name / "gen_m.py").write_text(TWO_RULES)
    (tmp_path / "c").mkdir()  # no configuration: the one above the current folder (none: defaults)
    (tmp_path / "c" / "m.py").write_text(TWO_RULES)
    return tmp_path


def _codes_by_file(output: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        if ": TGF" in line:
            path, rest = line.split(":", 1)
            found.setdefault(path, []).append(rest.split()[1])
    return found


def _findings(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": TGF" in line]


def test_each_file_takes_the_nearest_configuration_whatever_the_order(cli, monorepo):
    first, second = cli("a", "b", "c"), cli("c", "b", "a")
    assert _findings(first.output) == _findings(second.output)
    assert _codes_by_file(first.output) == {
        "a/gen_m.py": ["TGF104"], "a/m.py": ["TGF104"],  # a ignores TGF101
        "b/m.py": ["TGF101"],  # b selects TGF101 only, and excludes gen_*.py (relative to b/)
        "c/m.py": ["TGF101", "TGF104"],
    }, first.output
    assert cli("--select", "TGF104", "b", "a").output.count("TGF101") == 0  # the command line is over each
    assert _codes_by_file(cli("--isolated", "a", "b").output) == {
        p: ["TGF101", "TGF104"] for p in ("a/gen_m.py", "a/m.py", "b/gen_m.py", "b/m.py")}


def test_unsafe_fixes_and_a_bad_configuration_of_a_subfolder(cli, monorepo):
    stale = _layer("return x  # noqa: TGF101\n")  # TGF901's fix is unsafe
    (monorepo / "a" / "pyproject.toml").write_text("[tool.tfgradfix]\nunsafe-fixes = true\n")
    (monorepo / "a" / "n.py").write_text(stale)
    (monorepo / "c" / "n.py").write_text(stale)
    cli("--fix", "c", "a")
    assert "noqa" not in (monorepo / "a" / "n.py").read_text()
    assert "noqa" in (monorepo / "c" / "n.py").read_text()
    (monorepo / "b" / "pyproject.toml").write_text('[tool.tfgradfix]\nselect = ["NOPE"]\n')
    result = cli("a", "b")
    assert result.exit_code == 2 and "b/pyproject.toml" in result.output and "NOPE" in result.output


# --- a stale `# noqa: TGF...` is judged in every file ----------------------------------------

def test_stale_noqa_is_reported_in_files_without_a_gradient_path(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.py").write_text('import os\nx = 1  # noqa: TGF101\ny = "# noqa: TGF102"\n')
    (tmp_path / "nopath.py").write_text("import tensorflow as tf\nx = tf.ones(3)  # noqa: TGF101, E501\n")
    (tmp_path / "other.py").write_text("x = 1  # noqa: E501\n")  # other tools' codes are left alone
    result = cli("--isolated", ".")
    assert _codes_by_file(result.output) == {"nopath.py": ["TGF901"], "plain.py": ["TGF901"]}, result.output
    assert "plain.py:2:8: TGF901" in result.output
    assert cli("--isolated", "--select", "TGF1", ".").exit_code == 0  # TGF901 not run: nothing judged
    assert cli("--isolated", "--fix", "--unsafe-fixes", ".").exit_code == 0
    assert (tmp_path / "plain.py").read_text() == 'import os\nx = 1\ny = "# noqa: TGF102"\n'
    assert (tmp_path / "nopath.py").read_text() == "import tensorflow as tf\nx = tf.ones(3)  # noqa: E501\n"


# --- SARIF locations ---------------------------------------------------------------------------

def test_sarif_uris_are_percent_encoded_and_relative_to_the_repository_root(cli, tmp_path, monkeypatch):
    import subprocess
    from urllib.parse import unquote, urljoin, urlparse

    repo = tmp_path / "my repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "src" / "c:lay é.py").write_text(TWO_RULES)
    (repo / "src" / "broken.py").write_text("import tensorflow as tf\nclass A(tf.keras.layers.Layer):\n  def call(x:\n")
    monkeypatch.chdir(repo / "src")
    run = json.loads(cli("--isolated", "--output-format", "sarif", ".").stdout)["runs"][0]
    root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert root == (repo.resolve().as_uri() + "/")
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    locations += [c["artifactLocation"] for r in run["results"] for f in r.get("fixes", []) for c in f["artifactChanges"]]
    assert locations and all(loc == {"uri": "src/c%3Alay%20%C3%A9.py", "uriBaseId": "%SRCROOT%"} for loc in locations)
    error, = run["invocations"][0]["toolExecutionNotifications"]
    assert error["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "src/broken.py", "uriBaseId": "%SRCROOT%"}
    resolved = unquote(urlparse(urljoin(root, locations[0]["uri"])).path)
    assert resolved == str((repo / "src" / "c:lay é.py").resolve())


# --- notebooks ----------------------------------------------------------------------------------

NB_IMPORTS = ["import numpy as np\n", "import tensorflow as tf\n"]
NB_LAYER = ["class L(tf.keras.layers.Layer):\n", "    def call(self, x):\n", "        return np.tanh(x)\n"]


def _notebook(*cells, metadata=None) -> str:
    document = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": source} for source in cells],
                "metadata": {} if metadata is None else metadata, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1) + "\n"


@pytest.mark.parametrize("first, second", [
    (["s = '''abc\n"], ["def\n", "'''\n"]),  # a string opened in one cell, closed in the next
    (["x = (1,\n"], ["  2)\n"]),  # a bracket
    (["def f():\n"], ["    return 1\n"]),  # a body in the next cell
])
def test_a_construct_split_across_cells_is_an_error_of_those_cells(cli, tmp_path, monkeypatch, first, second):
    monkeypatch.chdir(tmp_path)
    text = _notebook(NB_IMPORTS, first, second, NB_LAYER)
    (tmp_path / "nb.ipynb").write_text(text)
    result = cli("--isolated", "nb.ipynb")
    assert result.exit_code == 2, result.output
    assert "error: nb.ipynb: cell 2, line 1: syntax error" in result.output, result.output
    assert "nb.ipynb:cell 4:3:16: TGF101" in result.output  # the other cells are still checked
    assert cli("--isolated", "--fix", "nb.ipynb").exit_code == 2
    fixed = json.loads((tmp_path / "nb.ipynb").read_text())["cells"]
    assert [c["source"] for c in fixed[1:3]] == [first, second]  # the broken cells come back as they were
    assert "tf.tanh" in "".join(fixed[3]["source"])
