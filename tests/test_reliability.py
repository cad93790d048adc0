"""What a new user broke (issue 21): `--add-noqa` never writes into a string, a
directive is a comment, each file takes its nearest config, one bad file is one
error line and the run goes on, and the reports point where they say they do."""

from __future__ import annotations

import json
import textwrap

import pytest

from tfgradfix.result import TOO_DEEP
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


# --- one file's failure is one error line; the run goes on -------------------------------------

def _deep_files(folder) -> None:
    (folder / "ok.py").write_text(_layer("return np.sum(x)\n"))
    (folder / "plus900.py").write_text(_layer("y = " + " + ".join(["x"] * 900) + "\nreturn np.sum(y)\n"))
    (folder / "nested150.py").write_text(_layer("y = " + "f(" * 150 + "x" + ")" * 150 + "\nreturn np.sum(y)\n"))


@pytest.mark.parametrize("args", [(), ("--fix",), ("--diff",), ("--output-format", "sarif"), ("--add-noqa",),
                                  ("-j", "1"), ("-j", "2")])
def test_code_nested_too_deeply_is_one_error_line(cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    _deep_files(tmp_path)
    result = cli("--isolated", *args, ".")
    assert "Traceback" not in result.output and "please report" not in result.output, result.output[-3000:]
    assert len(result.stderr.splitlines()) < 10
    for name in ("plus900.py", "nested150.py"):  # analysed, or one line that says why not
        errors = [line for line in result.output.splitlines() if line.startswith(f"error: {name}")]
        assert errors in ([], [f"error: {name}: {TOO_DEEP}"]), result.output
    assert "ok.py" in {"--fix": (tmp_path / "ok.py").read_text().replace("tf.reduce_sum", "ok.py"),
                       "--add-noqa": (tmp_path / "ok.py").read_text().replace("# noqa: TGF101", "ok.py")
                       }.get(args[0] if args else "", result.output)  # the other file is checked (and fixed)


def test_a_review_goes_on_past_a_file_it_cannot_analyse(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _deep_files(tmp_path)
    result = cli("--isolated", "--fix", "-i", ".", input="y\ny\ny\n")
    assert "Traceback" not in result.output
    assert "tf.reduce_sum(x)" in (tmp_path / "ok.py").read_text()


def test_an_error_in_a_worker_or_after_the_rounds_is_that_file_s_error(cli, tmp_path, monkeypatch):
    from tfgradfix.engine import Engine

    monkeypatch.chdir(tmp_path)
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text(_layer("return np.sum(x)\n"))
    process_path = Engine.process_path

    def failing(self, path):
        if path.endswith("b.py"):
            raise ValueError("boom")
        return process_path(self, path)

    monkeypatch.setattr(Engine, "process_path", failing)  # the workers are forked with it
    result = cli("--isolated", "-j", "2", ".")
    assert result.exit_code == 2 and "error: b.py: internal error" in result.output and "boom" in result.output
    assert "a.py:7:16: TGF101" in result.output and "c.py:7:16: TGF101" in result.output

    def raising(self, *args):
        raise RecursionError

    monkeypatch.setattr(Engine, "process_path", process_path)
    monkeypatch.setattr("tfgradfix.across._fix_one", raising)
    monkeypatch.setattr(Engine, "apply", raising)  # each fix as text edits, for SARIF
    (tmp_path / "__init__.py").write_text("")  # a package: the fixes across files are tried
    result = cli("--isolated", "--output-format", "sarif", ".")
    assert json.loads(result.stdout)["runs"][0]["results"]  # reported, without fixes


# --- notebooks that are not Python, or not nbformat ---------------------------------------------

def test_a_notebook_of_another_kernel_language_is_skipped_with_a_note(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r_kernel = {"kernelspec": {"language": "R", "name": "ir"}, "language_info": {"name": "R"}}
    (tmp_path / "r.ipynb").write_text(_notebook(NB_IMPORTS + NB_LAYER, metadata=r_kernel))
    (tmp_path / "py.ipynb").write_text(_notebook(NB_IMPORTS + NB_LAYER, metadata={
        "kernelspec": {"language": "python", "name": "python3"}, "language_info": {"name": "python"}}))
    result = cli("--isolated", ".")
    assert result.exit_code == 1, result.output  # a note, not an error
    assert "warning: r.ipynb: skipped: the notebook's kernel runs R, not Python" in result.output
    assert "py.ipynb:cell 1:5:16: TGF101" in result.output and "r.ipynb:cell" not in result.output
    assert "warning" not in cli("--isolated", "-q", ".").output
    stdin = cli("--isolated", "--fix", "--stdin-filename", "r.ipynb", "-", input=(tmp_path / "r.ipynb").read_text())
    assert stdin.stdout == (tmp_path / "r.ipynb").read_text()  # comes back as it came


@pytest.mark.parametrize("source", [["x = 1\n", 3], ["x = 1\n", None], 7, {"a": 1}])
def test_a_cell_source_that_is_not_text_is_one_error_line(cli, tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.ipynb").write_text(_notebook(NB_IMPORTS + NB_LAYER, source))
    (tmp_path / "good.ipynb").write_text(_notebook(NB_IMPORTS + NB_LAYER))
    for jobs in ("1", "2"):
        result = cli("--isolated", "-j", jobs, ".")
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "error: bad.ipynb: broken notebook: cell 2: `source` holds" in result.output
        assert "good.ipynb:cell 1:5:16: TGF101" in result.output


# --- folders that cannot be read ---------------------------------------------------------------

def _locked_tree(root):
    (root / "open").mkdir()
    (root / "locked").mkdir()
    (root / "open" / "a.py").write_text(_layer("return np.sum(x)\n"))
    (root / "locked" / "b.py").write_text(_layer("return np.sum(x)\n"))


def test_an_unreadable_folder_is_one_error_line(cli, tmp_path, monkeypatch):
    """As root, chmod 000 stops nothing: the folder is made unreadable to os.scandir."""
    import os

    monkeypatch.chdir(tmp_path)
    _locked_tree(tmp_path)
    scandir = os.scandir

    def refusing(path="."):
        if os.path.basename(os.path.normpath(os.fspath(path))) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    for args in ((".",), ("locked", "open")):
        result = cli("--isolated", *args)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "error: locked: cannot read folder: Permission denied" in result.output, result.output
        assert "open/a.py:7:16: TGF101" in result.output
    result = cli("--isolated", "locked")  # the only path: nothing checked
    assert result.exit_code == 2 and "error: locked: cannot read folder: Permission denied" in result.output


def test_unreadable_folders_and_files_as_a_user_without_rights():
    """The real thing: chmod 000, as a user that is not root (`nobody` through setpriv when
    the tests run as root, in a folder of /tmp that user can reach)."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        _run_without_rights(Path(folder), os, shutil, subprocess, sys)


def _run_without_rights(tmp_path, os, shutil, subprocess, sys):
    _locked_tree(tmp_path)
    (tmp_path / "open" / "c.py").write_text(_layer("return np.sum(x)\n"))
    command = [sys.executable, "-m", "tfgradfix", "--isolated", "-j", "1", ".", "locked"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root, without setpriv to drop to another user")
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        os.chmod(tmp_path, 0o777)
        for folder in (tmp_path / "open", tmp_path / "locked"):
            os.chmod(folder, 0o777)
    os.chmod(tmp_path / "open" / "c.py", 0)
    os.chmod(tmp_path / "locked", 0)
    try:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    finally:
        os.chmod(tmp_path / "locked", 0o755)
        os.chmod(tmp_path / "open" / "c.py", 0o644)
    if "No module named tfgradfix" in done.stderr or "Permission denied: '/" in done.stderr:
        pytest.skip(f"the other user cannot run this Python: {done.stderr[-200:]}")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "error: locked: cannot read folder: Permission denied" in done.stderr
    assert "error: open/c.py: Permission denied" in done.stderr
    assert "open/a.py:7:16: TGF101" in done.stdout


def test_a_project_index_that_cannot_be_built_leaves_each_file_checked_alone(cli, tmp_path, monkeypatch):
    from tfgradfix.analysis.project import ProjectIndex

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(_layer("return np.sum(x)\n"))

    def refusing(cls, *args, **kwargs):
        raise PermissionError(13, "Permission denied", "/somewhere/__init__.py")

    monkeypatch.setattr(ProjectIndex, "build", classmethod(refusing))
    result = cli("--isolated", ".")
    assert result.exit_code == 1 and "a.py:7:16: TGF101" in result.output
    assert "warning: the project index could not be built (PermissionError" in result.output


# --- flags and annotations ---------------------------------------------------------------------

def test_exit_zero_with_exit_non_zero_on_fix_is_a_usage_error(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(_layer("return np.sum(x)\n"))
    result = cli("--exit-zero", "--fix", "--exit-non-zero-on-fix", "a.py")
    assert result.exit_code == 2 and "cannot be used together" in result.output
    assert "np.sum" in (tmp_path / "a.py").read_text()  # nothing ran


def test_github_errors_have_a_line(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "syn.py").write_text("import tensorflow as tf\nclass A(tf.keras.layers.Layer):\n    def call(self, x:\n")
    (tmp_path / "bad.ipynb").write_text(_notebook(NB_IMPORTS, ["x = 1\n", 3]))
    (tmp_path / "cells.ipynb").write_text(_notebook(NB_IMPORTS, ["x = (1,\n"], NB_LAYER))
    lines = [line for line in cli("--isolated", "--output-format", "github", ".").stdout.splitlines()
             if line.startswith("::error")]
    cell_line = next(n for n, text in enumerate((tmp_path / "cells.ipynb").read_text().splitlines(), 1)
                     if "x = (1," in text)
    assert lines == [
        "::error file=bad.ipynb,line=1::broken notebook: cell 2: `source` holds int 3, not text "
        "(nbformat: a string or a list of strings)",
        f"::error file=cells.ipynb,line={cell_line}::cell 2, line 1: syntax error at column 5: "
        "'(' was never closed (the cell is not checked)",
        "::error file=syn.py,line=3::syntax error at 3:13: '(' was never closed"], lines


# --- notebooks that are not nbformat 4, or not UTF-8 --------------------------------------------

def _cell(source, **changes):
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    cell.update(changes)
    return {key: value for key, value in cell.items() if value is not _DROP}


_DROP = object()


@pytest.mark.parametrize("document, told", [
    ({"cells": [_cell(NB_IMPORTS, outputs=_DROP)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     "not valid nbformat 4: code cell 1 has no `outputs`"),
    ({"cells": [_cell(NB_IMPORTS)], "metadata": [], "nbformat": 4, "nbformat_minor": 5},
     "not valid nbformat 4: `metadata` is a list, not an object"),
    ({"cells": [_cell(NB_IMPORTS)], "metadata": {}, "nbformat_minor": 5},
     "not valid nbformat 4: no `nbformat` key"),
    ({"cells": [_cell(NB_IMPORTS, cell_type="kode")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     'not valid nbformat 4: cell 1 has `cell_type` "kode" (code, markdown or raw)'),
    ({"cells": [_cell(NB_IMPORTS, execution_count="1")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     "not valid nbformat 4: cell 1: `execution_count` is a string, not an integer or null"),
    ({"metadata": {}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [
        {"cells": [{"cell_type": "code", "input": NB_IMPORTS, "language": "python", "outputs": []}]}]},
     "nbformat 3 notebook: only nbformat 4 is read (convert it: jupyter nbconvert --to notebook --nbformat 4 "
     "FILE.ipynb)"),
])
def test_a_notebook_that_is_not_nbformat_4_is_one_clear_error_line(cli, tmp_path, monkeypatch, document, told):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.ipynb").write_text(json.dumps(document, indent=1))
    (tmp_path / "good.ipynb").write_text(_notebook(NB_IMPORTS + NB_LAYER))
    result = cli("--isolated", ".")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: bad.ipynb: broken notebook: {told}"], result.output
    assert result.exit_code == 2 and "good.ipynb:cell 1:5:16: TGF101" in result.stdout


def test_a_latin_1_notebook_is_told_as_not_utf_8(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    document = json.loads(_notebook(NB_IMPORTS + NB_LAYER))
    document["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": ["Caf\u00e9 au lait\n"]})
    text = json.dumps(document, indent=1, ensure_ascii=False)
    (tmp_path / "latin.ipynb").write_bytes(text.encode("latin-1"))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "Caf" in row)
    column = text.splitlines()[line - 1].index("\u00e9") + 1
    result = cli("--isolated", "latin.ipynb")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: latin.ipynb: broken notebook: not UTF-8, which a notebook (JSON) must be: byte 0xe9 at line {line}, "
        f"column {column} (Latin-1/cp1252 '\u00e9'?); save the file as UTF-8")
    (tmp_path / "utf8.ipynb").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # a BOM is read
    assert "utf8.ipynb:cell 2:5:16: TGF101" in cli("--isolated", "utf8.ipynb").stdout


# --- code Python rejects though LibCST reads it --------------------------------------------------

DEEP = "(" * 900 + "1" + ")" * 900


def test_900_nested_parentheses_are_rejected_as_python_rejects_them(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _layer(f"return np.sum(x) + {DEEP}\n")
    with pytest.raises(SyntaxError) as python:
        compile(text, "deep.py", "exec")
    assert python.value.msg == "too many nested parentheses"
    (tmp_path / "deep.py").write_text(text)
    (tmp_path / "ok.py").write_text(_layer("return np.sum(x)\n"))
    result = cli("--isolated", ".")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: deep.py: syntax error at 7:{python.value.offset}: too many nested parentheses"]
    assert result.exit_code == 2 and "ok.py:7:16: TGF101" in result.stdout and "deep.py:" not in result.stdout
    assert cli("--isolated", "--fix", ".").exit_code == 2 and (tmp_path / "deep.py").read_text() == text
    stdin = cli("--isolated", "-", input=text)
    assert stdin.exit_code == 2 and "too many nested parentheses" in stdin.stderr
    (tmp_path / "deep.ipynb").write_text(_notebook(NB_IMPORTS + NB_LAYER, [f"y = {DEEP}\n"]))
    cells = cli("--isolated", "deep.ipynb")
    assert "error: deep.ipynb: cell 2, line 1: syntax error at column" in cells.stderr
    assert "too many nested parentheses" in cells.stderr and "deep.ipynb:cell 1:5:16: TGF101" in cells.stdout


# --- Ctrl-C during a run that writes nothing ------------------------------------------------------

@pytest.mark.parametrize("args, told", [
    ((), "Interrupted after 1 of 2 files; nothing was written."),
    (("--diff",), "Interrupted after 1 of 2 files; nothing was written."),
    (("--fix",), "Interrupted: 1 file written with every fix; every other file is unchanged."),
])
def test_an_interrupted_check_does_not_talk_about_files_written(cli, tmp_path, monkeypatch, args, told):
    import tfgradfix.cli

    monkeypatch.chdir(tmp_path)
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(_layer("return np.sum(x)\n"))

    def interrupted(engine, files, jobs):
        yield engine.process_path(files[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(tfgradfix.cli, "process_files", interrupted)
    result = cli("--isolated", *args, ".")
    assert result.exit_code == 130 and result.stderr.strip().splitlines()[-1] == told, result.stderr
    assert ("files written" not in result.stderr and "every fix" not in result.stderr) or "--fix" in args
