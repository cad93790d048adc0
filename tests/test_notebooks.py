"""Notebooks: cells read the way IPython reads them, restored byte for byte, and
findings, errors, `# noqa` and reports that point at the right cell and line."""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml

from conftest import ROOT
from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.notebooks import Notebook, NotebookError, registered_cell_magics
from tfgradfix.rules import ALL_RULES

LAYER = [
    "class Scale(tf.keras.layers.Layer):\n",
    "    def build(self, input_shape):\n",
    "        self.w = self.add_weight(shape=(input_shape[-1],), initializer='ones')\n",
    "\n",
    "    def call(self, inputs):\n",
    "        return np.tanh(inputs * self.w)\n",
]
IMPORTS = ["import numpy as np\n", "import tensorflow as tf\n"]

# Valid IPython that plain Python rejects (or, for the first, that a line-based reading
# gets wrong): each form, and the line of the cell that holds `after = 1`, after it.
IPYTHON_FORMS = {
    "modulo-continuation": ("print('%d items of %s'\n      % (n, kind))\nafter = 1\n", 3),
    "shell-continued": ("!saved_model_cli run --dir model \\\n  --tag_set serve\nafter = 1\n", 3),
    "shell-assign": ("files = !ls {folder}\nafter = 1\n", 2),
    "shell-assign-capture": ("out = !!ls\nafter = 1\n", 2),
    "magic-assign": ("elapsed = %time model.fit(x)\nafter = 1\n", 2),
    "annotated-magic-assign": ("files: list = !ls\nafter = 1\n", 2),
    "help": ("tf.keras.Input?\nafter = 1\n", 2),
    "help-detail": ("model.fit??\nafter = 1\n", 2),
    "help-before": ("?tf.GradientTape\nafter = 1\n", 2),
    "line-magic": ("%matplotlib inline\nafter = 1\n", 2),
    "magic-in-block": ("if not found:\n    !wget {url}\n    %time load()\nafter = 1\n", 4),
    "autocall": ("/print a b\nafter = 1\n", 2),
    "cell-magic": ("%%bash\necho { not python\nafter = 1 (\n", None),
    "python-cell-magic": ("%%time\nfor i in range(3):\n    step(i)\nafter = 1\n", 4),
    "shared-indent": ("  for x in batches:\n    step(x)\n\n  after = 1\n", 4),
    "classic-prompt": (">>> total = 0\n>>> for x in xs:\n...     total += x\n>>> after = 1\n", 4),
    "ipython-prompt": ("In [3]: value = f(2)\nIn [4]: after = 1\n", 2),
    "automagic": ("ls ./data/train/\n", None),
}


def _notebook(*cells, indent=1) -> str:
    document = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": source} for source in cells],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=indent) + "\n"


def _module(source: str) -> tuple[Notebook, str]:
    notebook = Notebook.parse(_notebook(source))
    return notebook, notebook.to_python()


@pytest.mark.parametrize("name", IPYTHON_FORMS)
def test_ipython_forms_read_as_python_line_for_line(name):
    source, after = IPYTHON_FORMS[name]
    notebook, module = _module(source)
    ast.parse(module)
    assert module.count("\n") == 1 + source.count("\n"), "a cell keeps its number of lines"
    if after is not None:
        line = module.splitlines().index("after = 1") + 1
        assert notebook.where(line) == (1, after)
    assert notebook.from_python(module) == _notebook(source)


@pytest.mark.parametrize("name", IPYTHON_FORMS)
def test_ipython_agrees_the_forms_are_valid(name):
    """IPython's own input transformer is the reference for what a cell means."""
    inputtransformer2 = pytest.importorskip("IPython.core.inputtransformer2")
    source, _ = IPYTHON_FORMS[name]
    if name == "automagic":  # IPython's shell applies automagic after the transformer
        source = "%" + source
    compile(inputtransformer2.TransformerManager().transform_cell(source), "cell", "exec")


@pytest.mark.parametrize("source", [
    "f(x)?\n",  # help takes a name, not a call
    "a = b = %ls\n",  # only the first `=` may take a magic
    "x == !ls\n",
    "batch_size =\n",
    "ls = \n",  # a magic's name that is not used as one
])
def test_invalid_cells_stay_syntax_errors(source):
    _, module = _module(source)
    with pytest.raises(SyntaxError):
        ast.parse(module)
    inputtransformer2 = pytest.importorskip("IPython.core.inputtransformer2")
    with pytest.raises(SyntaxError):
        compile(inputtransformer2.TransformerManager().transform_cell(source), "cell", "exec")


@pytest.mark.parametrize("source", [
    "x = '%s' % y\n",
    "print('a?')\n",
    "s = '''\n!not a shell line\n%not a magic\n'''\n",
    "d = {\n    'a': 1,\n}  # ?\n",
    "value = compute(a,\n                b) % 7\n",
])
def test_python_is_left_as_it_is(source):
    notebook, module = _module(source)
    assert module.split("\n", 1)[1] == source and not notebook.masks


def _process(tmp_path, *cells, fix=False, name="nb.ipynb"):
    path = tmp_path / name
    path.write_text(_notebook(*cells), encoding="utf-8")
    return Engine(ALL_RULES, fix=fix).process(read_source(str(path)))


def test_syntax_error_names_the_cell_and_its_line(tmp_path, cli, monkeypatch):
    cells = [IMPORTS, LAYER, ["x = 1\n", "y = (2,\n", "z = 3\n"]]
    result = _process(tmp_path, *cells)
    assert result.problems == ["cell 3, line 2: syntax error at column 5: '(' was never closed (the cell is not checked)"]
    monkeypatch.chdir(tmp_path)
    assert "error: nb.ipynb: cell 3, line 2: syntax error at column 5" in cli("nb.ipynb").output


def test_finding_after_ipython_lines_has_its_cell_line(tmp_path):
    cell = ["!pip install \\\n", "    tensorflow\n", "files = !ls\n", "tf.keras.Input?\n", *LAYER]
    result = _process(tmp_path, IMPORTS, cell)
    assert [(f.code, f.cell, f.line, f.column) for f in result.findings] == [("TGF101", 2, 10, 16)]


@pytest.mark.parametrize("use", [
    ["%timeit np.sum(np.ones(3))\n"],
    ["%%time\n", "print(np.pi)\n"],
    ["%%timeit -n 3 data = np.ones(3)\n", "data.sum()\n"],
    ["!echo {np.pi}\n"],
    ["ratio = %time np.mean([1, 2])\n"],
])
def test_names_used_in_magics_keep_their_import(tmp_path, use):
    fixed = _process(tmp_path, IMPORTS, LAYER, use, fix=True)
    assert fixed.error is None and fixed.applied
    notebook = json.loads(fixed.source.encode(fixed.new_text))
    assert notebook["cells"][0]["source"] == IMPORTS
    assert notebook["cells"][1]["source"][-1] == "        return tf.tanh(inputs * self.w)\n"
    assert notebook["cells"][2]["source"] == use


def test_import_no_magic_uses_is_still_removed(tmp_path):
    """The words of a shell command or of a magic that takes words are not Python names."""
    fixed = _process(tmp_path, IMPORTS, LAYER, ["!pip install np\n", "%pip install np\n", "%ls\n"], fix=True)
    notebook = json.loads(fixed.source.encode(fixed.new_text))
    assert notebook["cells"][0]["source"] == ["import tensorflow as tf\n"]


def test_fix_in_a_cell_with_shared_indent_and_magics_keeps_both(tmp_path):
    cell = ["  %load_ext autoreload\n", *("  " + line if line.strip() else line for line in LAYER)]
    fixed = _process(tmp_path, IMPORTS, cell, fix=True)
    source = json.loads(fixed.source.encode(fixed.new_text))["cells"][1]["source"]
    assert source == [*cell[:-1], "          return tf.tanh(inputs * self.w)\n"]


def test_fix_in_a_cell_with_prompts_is_refused(tmp_path):
    cell = [">>> " + LAYER[0], *("... " + line for line in LAYER[1:])]
    checked = _process(tmp_path, IMPORTS, cell)
    assert [(f.cell, f.line) for f in checked.findings] == [(2, 6)]
    fixed = _process(tmp_path, IMPORTS, cell, fix=True)
    assert fixed.error == "cell 2 is written with prompts (`>>>`, `In [1]:`); fix not applied"
    assert fixed.new_text is None and not fixed.applied
    assert [(f.code, f.cell, f.line) for f in fixed.findings] == [("TGF101", 2, 6)]


def test_a_changed_ipython_line_is_refused():
    notebook, module = _module("%time step(x)\nafter = 1\n")
    with pytest.raises(NotebookError, match="IPython line in cell 1"):
        notebook.from_python(module.replace("step, x", "step, y"))
    with pytest.raises(NotebookError, match="IPython line in cell 1"):
        notebook.from_python(module.replace(notebook.masks[0], "pass"))


def test_add_noqa_suppresses_the_findings(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(["%matplotlib inline\n", *IMPORTS], ["!nvidia-smi\n", *LAYER]))
    assert "nb.ipynb:cell 2:7:16: TGF101" in cli("nb.ipynb").output
    assert "Added 1 noqa directive" in cli("--add-noqa", "nb.ipynb").output
    source = json.loads((tmp_path / "nb.ipynb").read_text())["cells"][1]["source"]
    assert source[6] == "        return np.tanh(inputs * self.w)  # noqa: TGF101\n"
    assert source[:6] == ["!nvidia-smi\n", *LAYER[:5]]
    again = cli("nb.ipynb")
    assert again.exit_code == 0 and "TGF101" not in again.output


def _file_line(tmp_path, text: str) -> int:
    lines = (tmp_path / "nb.ipynb").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_sarif_points_into_the_notebook_file_and_names_the_cell(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(IMPORTS, ["%time x = 1\n", *LAYER]))
    result = json.loads(cli("--output-format", "sarif", "nb.ipynb").output)["runs"][0]["results"][0]
    location = result["locations"][0]["physicalLocation"]
    line = _file_line(tmp_path, "return np.tanh")
    assert location == {"artifactLocation": {"uri": "nb.ipynb", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": line, "endLine": line}}
    assert result["message"]["text"].startswith("cell 2, line 7: `np.tanh`")
    assert {k: result["properties"][k] for k in ("cell", "cellLine", "cellColumn")} == {
        "cell": 2, "cellLine": 7, "cellColumn": 16}


def test_github_annotation_points_into_the_notebook_file(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(IMPORTS, LAYER, indent=2))
    line = _file_line(tmp_path, "return np.tanh")
    assert cli("--output-format", "github", "nb.ipynb").output.startswith(
        f"::warning title=TGF101 numpy-call-on-tensor,file=nb.ipynb,line={line},endLine={line}"
        "::TGF101 cell 2, line 6: `np.tanh`")


def test_file_lines_of_a_source_held_as_one_string():
    text = json.dumps({"cells": [{"cell_type": "markdown", "source": "# a\n"},
                                 {"cell_type": "code", "source": "x = 1\ny = 2"}]}, indent=1)
    notebook = Notebook.parse(text)
    line = text.splitlines().index('   "source": "x = 1\\ny = 2"') + 1
    assert notebook.file_lines_of(2, 2, 2) == (line, line)


def _selects(hook: dict, tags: set[str]) -> bool:
    """pre-commit's file selection: all of `types`, any of `types_or`, none of `exclude_types`."""
    return (set(hook.get("types", ["file"])) <= tags
            and (not hook.get("types_or") or bool(set(hook["types_or"]) & tags))
            and not set(hook.get("exclude_types", [])) & tags)


def test_pre_commit_hooks_see_notebooks():
    identify = pytest.importorskip("identify.identify")
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["tfgradfix", "tfgradfix-fix"]
    for hook in hooks:
        for name, wanted in (("train.ipynb", True), ("model.py", True), ("stubs.pyi", True),
                             ("README.md", False), ("setup.cfg", False)):
            assert _selects(hook, {"file", *identify.tags_from_filename(name)}) is wanted, (hook["id"], name)


def test_fixes_apply_next_to_what_only_ipython_allows(tmp_path):
    """A `from __future__` after a magic and a top-level `await` run in IPython; the joined
    module is only checked for syntax."""
    first = ["%matplotlib inline\n", "from __future__ import print_function\n", *IMPORTS]
    fixed = _process(tmp_path, first, LAYER, ["await asyncio.sleep(0)\n"], fix=True)
    assert fixed.error is None and fixed.applied
    notebook = json.loads(fixed.source.encode(fixed.new_text))
    assert notebook["cells"][0]["source"] == [*first[:2], IMPORTS[1]]
    assert notebook["cells"][1]["source"][-1] == "        return tf.tanh(inputs * self.w)\n"


# Real Python full of `%`, `!`, `?` and `=` in strings, comments and expressions.
_PYTHON_FILES = sorted([*(ROOT / "tfgradfix").rglob("*.py"), *(ROOT / "fixtures").rglob("*.py")])


@pytest.mark.parametrize("indent", ["", "  ", "\t"])
def test_python_cells_are_never_reinterpreted(indent):
    """Python files as cells, as they are or indented as a whole: nothing is masked, the
    module holds the code itself, and the cell comes back byte for byte."""
    for path in _PYTHON_FILES:
        code = path.read_text(encoding="utf-8")
        source = "".join(indent + line if line.strip() else line for line in code.splitlines(keepends=True))
        notebook, module = _module(source)
        assert not notebook.masks, path
        body = module.split("\n", 1)[1]
        if indent:
            ast.parse(body)
        else:
            assert body == code, path
        cell = notebook.cells[0]
        assert notebook._restore(cell, cell.code) == source, path


def test_the_body_of_a_time_cell_is_checked(tmp_path):
    result = _process(tmp_path, IMPORTS, ["%%time\n", *LAYER], ["%%bash\n", *LAYER])
    assert [(f.code, f.cell, f.line) for f in result.findings] == [("TGF101", 2, 7)]


def test_findings_left_after_a_fix_count_lines_of_the_fixed_cells(tmp_path, cli, monkeypatch):
    """The fix in cell 2 adds `tape.watch(x)`; cell 3's finding stays on its line 3."""
    saliency = ["def saliency(model, x):\n", "    x = tf.constant(x)\n", "    with tf.GradientTape() as tape:\n",
                "        y = model(x)\n", "    return tape.gradient(y, x)\n"]
    rescale = ["class Rescale(tf.keras.layers.Layer):\n", "    def call(self, inputs):\n",
               "        peak = float(tf.reduce_max(inputs))\n", "        return inputs / peak\n"]
    fixed = _process(tmp_path, ["import tensorflow as tf\n"], saliency, rescale, fix=True)
    assert [(f.code, f.cell, f.line) for f in fixed.original_findings] == [("TGF403", 2, 5), ("TGF104", 3, 3)]
    assert [(f.code, f.cell, f.line) for f in fixed.findings] == [("TGF104", 3, 3)]
    monkeypatch.chdir(tmp_path)
    assert "nb.ipynb:cell 3:3:16: TGF104" in cli("--fix", "-i", "nb.ipynb", input="y\n").output


# How real notebooks are written: Jupyter (indent 1, UTF-8), `json.dump` with its default
# `ensure_ascii` (indent 2, no final newline), and writers that escape `/` and write `\u00E9`.
def _jupyter(document: dict) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def _json_dump(document: dict) -> str:
    return json.dumps(document, indent=2)


def _escaping_writer(document: dict) -> str:
    text = json.dumps(document, indent=1).replace("/", "\\/")
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), text) + "\r\n"


_WRITERS = {"jupyter": _jupyter, "json.dump": _json_dump, "escaping": _escaping_writer}


def _unusual_document(source_as_string: bool = False) -> dict:
    """Cells no fix touches with non-ASCII text, `/`, `\\r\\n` and keys in an order of their own,
    and a cell whose `np.tanh` line a fix rewrites, next to a non-ASCII comment."""
    untouched = ["strip_chars = string.punctuation + \"\u00bf\"  # caf\u00e9 / na\u00efve\n",
                 "url = 'https://example.org/data.csv'\r\n", "x = np.ones(3)\r\n", "total = x.sum()"]
    layer = [LAYER[0], "    # \u00e9chelle \u2192 tanh\n", *LAYER[1:]]

    def cell(source, **extra):
        value = "".join(source) if source_as_string else source
        return {"source": value, "cell_type": "code", "outputs": [], "metadata": {"z": 1, "a": "\u00e9/"},
                "execution_count": None, **extra}

    return {"nbformat_minor": 5, "cells": [
        cell([*IMPORTS, "import string\n"]),
        {"cell_type": "markdown", "metadata": {}, "source": ["# R\u00e9sum\u00e9 \u2014 a/b\n"]},
        cell(untouched), cell(layer, id="fix-me")], "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4}


@pytest.mark.parametrize("as_string", [False, True], ids=["line-lists", "one-string"])
@pytest.mark.parametrize("writer", sorted(_WRITERS))
def test_a_fix_changes_no_byte_outside_the_fixed_line(tmp_path, writer, as_string):
    """Only the fixed line's JSON string changes, written as the file writes strings; every
    other byte (escapes of untouched cells, key order, indentation, `\\r\\n`, the end of
    the file) stays."""
    write = _WRITERS[writer]
    document = _unusual_document(as_string)
    original = write(document)
    path = tmp_path / "nb.ipynb"
    path.write_bytes(original.encode("utf-8"))
    result = Engine(ALL_RULES, fix=True).process(read_source(str(path)))
    assert result.error is None and len(result.applied) == 1
    written = result.source.encode(result.new_text).decode("utf-8")
    fixed_line = "        return tf.tanh(inputs * self.w)\n"
    old_source, new_source = document["cells"][3]["source"], None
    if as_string:
        new_source = old_source.replace("np.tanh", "tf.tanh")
    else:
        new_source = [fixed_line if line == LAYER[-1] else line for line in old_source]
    expected = dict(document, cells=[*document["cells"][:3], {**document["cells"][3], "source": new_source}])
    assert written == write(expected)
    assert json.loads(written)["cells"][2] == document["cells"][2]


def test_a_notebook_nothing_changes_comes_back_as_read():
    text = _json_dump(_unusual_document())
    notebook = Notebook.parse(text)
    assert notebook.from_python(notebook.to_python()) == text


def test_a_line_written_into_an_empty_cell_takes_the_layout_of_the_cells():
    text = _jupyter({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": []},
                               {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["x = 1"]}],
                     "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    notebook = Notebook.parse(text)
    module = notebook.to_python()
    written = notebook.from_python(module.replace("cell 0\n", "cell 0\nimport tensorflow as tf\n", 1))
    assert written == text.replace('"source": []', '"source": [\n    "import tensorflow as tf"\n   ]')


# A Colab section run in an R runtime, in a python3-kernel notebook, and a cell pasted from a
# book with a no-break space in its indentation: neither is Python.
R_CELL = ["%load_ext rpy2.ipython\n", "library(lme4)\n", "fit <- lmer(radon ~ floor + (1 | county), data = df)\n",
          "summary(fit)"]
NBSP_CELL = ["for batch in dataset:\n", "\u00a0   step(np.asarray(batch))\n"]


def test_cells_that_are_not_python_are_reported_and_the_others_checked_and_fixed(tmp_path, cli, monkeypatch):
    cells = [IMPORTS, R_CELL, LAYER, NBSP_CELL]
    checked = _process(tmp_path, *cells)
    assert checked.error is None
    assert checked.problems == [
        "cell 2, line 3: syntax error at column 13: invalid syntax. Perhaps you forgot a comma? "
        "(the cell is not checked)",
        "cell 4, line 2: syntax error at column 1: invalid non-printable character U+00A0 (the cell is not checked)"]
    assert [(f.code, f.cell, f.line) for f in checked.findings] == [("TGF101", 3, 6)]
    original = (tmp_path / "nb.ipynb").read_text()
    monkeypatch.chdir(tmp_path)
    fixed = cli("--fix", "nb.ipynb")
    assert fixed.exit_code == 2  # a file that could not all be parsed, as for any other file
    assert "error: nb.ipynb: cell 2, line 3: syntax error at column 13" in fixed.output
    assert "Fixed 1 finding" in fixed.output
    written = (tmp_path / "nb.ipynb").read_text()  # `np` stays imported: the set-aside cell names it
    assert written == original.replace("return np.tanh", "return tf.tanh")
    again = cli("nb.ipynb")
    assert again.exit_code == 2 and "TGF" not in again.output


MIXED_TABS = ["def step(model, x):\n", "    for i in range(2):\n", "\t    x = x + 1\n",
              "    with tf.GradientTape() as tape:\n", "        y = model(x)\n", "    return tape.gradient(y, x)\n"]


def test_a_cell_only_libcst_rejects_is_told_as_such(tmp_path):
    checked = _process(tmp_path, IMPORTS, MIXED_TABS, LAYER)
    assert checked.problems == [
        "cell 2: not analysed: Python accepts this cell, but LibCST (the parser tfgradfix rewrites code with) "
        "cannot parse it: line 3 indents with tabs and spaces mixed (the cell is not checked)"]
    assert [(f.code, f.cell) for f in checked.findings] == [("TGF101", 3)]


# A book's notebooks run one code base on several Keras backends: a magic the notebook
# defines runs a cell only on the backend it names.
BACKEND_MAGIC = ["import os\n", "from IPython.core.magic import register_cell_magic\n", "\n",
                 "@register_cell_magic\n", "def backend(line, cell):\n",
                 "    if os.environ.get('KERAS_BACKEND') == line.split()[-1]:\n",
                 "        get_ipython().run_cell(cell)\n", "    else:\n", "        print('skipped')\n"]
REGISTERED_MAGIC = ["def only_on_gpu(line, cell=None):\n", "    if gpus:\n", "        exec(cell, globals())\n",
                    "\n", "get_ipython().register_magic_function(only_on_gpu, 'cell', 'gpu')\n"]
WRITING_MAGIC = ["@register_cell_magic('save')\n", "def save_cell(line, cell):\n",
                 "    open(line.strip(), 'w').write(cell)\n"]


def test_cell_magics_the_notebook_registers_to_run_python_are_checked_and_fixed(tmp_path):
    cells = [BACKEND_MAGIC, REGISTERED_MAGIC, WRITING_MAGIC, IMPORTS, ["%%backend tensorflow\n", *LAYER],
             ["%%gpu\n", *LAYER], ["%%save layer.py\n", *LAYER], ["%%backend jax\n", "import jax\n"]]
    checked = _process(tmp_path, *cells)
    assert [(f.code, f.cell, f.line) for f in checked.findings] == [("TGF101", 5, 7), ("TGF101", 6, 7)]
    fixed = _process(tmp_path, *cells, fix=True)
    sources = [cell["source"] for cell in json.loads(fixed.source.encode(fixed.new_text))["cells"]]
    assert sources[4] == ["%%backend tensorflow\n", *LAYER[:-1], "        return tf.tanh(inputs * self.w)\n"]
    assert sources[5][0] == "%%gpu\n" and sources[5][-1] == "        return tf.tanh(inputs * self.w)\n"
    assert sources[6] == ["%%save layer.py\n", *LAYER]  # its body is text the magic writes to a file


def test_what_registers_a_python_cell_magic():
    assert registered_cell_magics(["".join(BACKEND_MAGIC), "".join(REGISTERED_MAGIC), "".join(WRITING_MAGIC)]) == {
        "backend", "gpu"}
    methods = ("@magics_class\nclass Runner(Magics):\n    @cell_magic\n    def run_here(self, line, cell):\n"
               "        self.shell.run_cell(cell)\n")
    assert registered_cell_magics([methods]) == {"run_here"}
    assert registered_cell_magics(["@register_line_magic\ndef backend(line, cell):\n    exec(cell)\n"]) == set()


def test_a_fix_that_drops_the_first_line_of_a_later_cell_keeps_the_cells(tmp_path):
    """`import numpy as np` opening the second cell goes when the fix leaves it unused; the
    cell stays (its marker was a comment above the import)."""
    fixed = _process(tmp_path, ["%env KERAS_BACKEND=tensorflow\n"], IMPORTS, LAYER, fix=True)
    assert fixed.error is None and len(fixed.applied) == 1
    sources = [cell["source"] for cell in json.loads(fixed.source.encode(fixed.new_text))["cells"]]
    assert sources[:2] == [["%env KERAS_BACKEND=tensorflow\n"], ["import tensorflow as tf\n"]]
