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
