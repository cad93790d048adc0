"""Stamp a new rule into the repository, as Ruff's `scripts/add_rule.py` does.

    python tools/new_rule.py TGF210 initializer-as-weight \\
        --summary "a weight made by calling an initializer"

writes or edits every place a rule touches (CONTRIBUTING.md, "Adding a rule"):

- `tfgradfix/rules/<family>/<module>.py` (or `tfgradfix/rules/<module>.py` for a family
  without a package, such as TGF3 or a new TGF5): the class, with `code`, `name`,
  `summary`, `message`, `triggers`, `what`, `evidence`, `why`, `example`, `fixed_example`, `fix_safety`
  and a working placeholder check;
- its registration: the family package's `__init__.py` (import and `__all__`) and
  `tfgradfix/rules/__init__.py` (import and `ALL_RULES`, in code order);
- `fixtures/<CODE>/ok_<module>.py` (must not be reported) and `flag_<module>.py` (reported,
  no fix), with the flag case's snapshot `flag_<module>.expected` (what it reports);
- `docs/rules/<CODE>.md`, rendered from the new class (`tfgradfix.rules.docs.render`);
- the README's rule table row.

The stamped rule works from the start: it reports calls of a placeholder function,
`todo_<module>(...)`, on the gradient path, on a value that carries a gradient, where the
result reaches the output or the loss. The fixtures exercise exactly that, so the fixture
and docs tests pass; replace the placeholder check, the texts and the fixtures with the
real rule, then run `python -m tfgradfix.rules.docs docs/rules`.

`--root` names the repository to stamp (default: the one holding this script). Its own
`tfgradfix` is imported (in a child process), never an installed one.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

CODE = re.compile(r"^TGF[1-9][0-9]{2}$")
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_LINE = 120


class StampError(Exception):
    """Why the rule cannot be stamped; nothing is left written."""


def _python(root: Path, code: str) -> str:
    """Run `code` with the root's own tfgradfix first on the path; its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise StampError(f"running the repository's tfgradfix failed:\n{done.stderr.strip()}")
    return done.stdout


def _catalogue(root: Path) -> list[dict]:
    """The registered rules of `root`, in ALL_RULES order: code, name, class, module."""
    out = _python(root, textwrap.dedent("""\
        import json, pathlib, sys
        import tfgradfix
        from tfgradfix.rules import ALL_RULES
        if pathlib.Path(tfgradfix.__file__).resolve().parents[1] != pathlib.Path.cwd().resolve():
            sys.exit(f"imported {tfgradfix.__file__}, not the repository's own tfgradfix")
        print(json.dumps([{"code": r.code, "name": r.name, "cls": r.__name__, "module": r.__module__}
                          for r in ALL_RULES]))
        """))
    return json.loads(out)


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _family_package(rules: list[dict], code: str) -> str | None:
    """`tfgradfix.rules.<package>` when the rules of the code's family (`TGF2` of `TGF210`)
    live in a package of their own; None for a family of single modules or a new family."""
    packages = {r["module"].rsplit(".", 1)[0] for r in rules if r["code"][:4] == code[:4]}
    packages.discard("tfgradfix.rules")
    return packages.pop() if len(packages) == 1 else None


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _offset(lines: list[str], line: int, column: int) -> int:
    """The index in the joined text of (1-based line, 0-based UTF-8 column) as ast gives them."""
    before = "".join(lines[:line - 1])
    return len(before) + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8"))


def _insert_element(text: str, elements: list[ast.expr], key, new: str) -> str:
    """`text` with `new` added to a list, tuple or import list whose `elements` are in the
    order `key` gives (each element's key; the new one goes after the last smaller one)."""
    if not elements:
        raise StampError("an empty list to add to")
    lines = _lines(text)
    new_key = key(None)
    before = [e for e in elements if key(e) < new_key]
    anchor = before[-1] if before else elements[0]
    line = lines[anchor.end_lineno - 1 if before else anchor.lineno - 1]
    # A line that would grow past the project's 120 columns breaks after the comma.
    indent = line[:len(line) - len(line.lstrip())] or "    "
    gap = " " if len(line.rstrip("\r\n")) + len(new) + 2 <= MAX_LINE else "\n" + indent
    if before:
        at = _offset(lines, anchor.end_lineno, anchor.end_col_offset)
        return text[:at] + "," + gap + new + text[at:]
    at = _offset(lines, anchor.lineno, anchor.col_offset)
    return text[:at] + new + "," + gap + text[at:]


def _register_in_package(init: Path, module: str, cls: str, package: str) -> None:
    """The family package's `__init__.py`: `from <package>.<module> import <cls>`, among
    its sorted imports, and `cls` in `__all__`."""
    text = init.read_text(encoding="utf-8")
    tree = ast.parse(text)
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(package + ".")]
    if not imports:
        raise StampError(f"{init}: no `from {package}.<module> import ...` to add to")
    line = f"from {package}.{module} import {cls}\n"
    later = [n for n in imports if n.module > f"{package}.{module}"]
    lines = _lines(text)
    at = (later[0].lineno - 1) if later else imports[-1].end_lineno
    lines.insert(at, line)
    text = "".join(lines)
    tree = ast.parse(text)
    exported = next((n.value for n in tree.body if isinstance(n, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)), None)
    if isinstance(exported, (ast.List, ast.Tuple)):
        names = exported.elts
        text = _insert_element(text, names, lambda e: cls if e is None else e.value, f'"{cls}"')
    init.write_text(text, encoding="utf-8")


def _register_in_catalogue(init: Path, rules: list[dict], code: str, cls: str, module: str,
                           package: str | None) -> None:
    """`tfgradfix/rules/__init__.py`: the import, and `cls` in ALL_RULES after the rule of
    the largest smaller code."""
    text = init.read_text(encoding="utf-8")
    tree = ast.parse(text)
    if package is not None:
        statement = next((n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == package), None)
        if statement is None:
            raise StampError(f"{init}: no `from {package} import ...`")
        text = _insert_element(text, statement.names, lambda a: cls if a is None else a.name, cls)
    else:
        imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("tfgradfix.rules.")]
        lines = _lines(text)
        lines.insert(imports[-1].end_lineno, f"from tfgradfix.rules.{module} import {cls}\n")
        text = "".join(lines)
    tree = ast.parse(text)
    catalogue = next((n.value for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                      and any(isinstance(t, ast.Name) and t.id == "ALL_RULES"
                              for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))), None)
    if not isinstance(catalogue, (ast.Tuple, ast.List)):
        raise StampError(f"{init}: ALL_RULES is not a literal tuple or list")
    codes = {r["cls"]: r["code"] for r in rules}
    text = _insert_element(text, catalogue.elts, lambda e: code if e is None else codes[e.id], cls)
    init.write_text(text, encoding="utf-8")


def _readme_row(readme: Path, rules: list[dict], code: str, name: str, summary: str) -> None:
    """The rule table's row, after the row of the largest smaller code."""
    lines = _lines(readme.read_text(encoding="utf-8"))
    rows = [i for i, line in enumerate(lines) if re.match(r"^\| TGF[0-9]{3} \| ", line)]
    if not rows:
        raise StampError(f"{readme}: no rule table (rows start `| TGF101 | `)")
    before = [i for i in rows if lines[i][2:8] < code]
    at = before[-1] + 1 if before else rows[0]
    lines.insert(at, f"| {code} | {name} | {summary} | none (flag) |\n")
    readme.write_text("".join(lines), encoding="utf-8")


def _py_string(text: str, indent: str) -> str:
    """A multi-line string as the rules write their examples: one literal per line."""
    return "".join(f"{indent}{line!r}\n" for line in _lines(text))


def rule_module(code: str, name: str, cls: str, summary: str, placeholder: str) -> str:
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Scaled(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        f"        return {placeholder}(tf.matmul(inputs, self.w))\n"
    )
    fixed = example.replace(f"{placeholder}(tf.matmul(inputs, self.w))", "tf.matmul(inputs, self.w)")
    return f'''"""{code}: {summary}."""

from __future__ import annotations

import libcst as cst

from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.values import carries_no_gradient
from tfgradfix.rules.base import Rule

# TODO({code}): what the rule looks for. The stamp reports calls of this placeholder, so that
# its fixtures and the docs pass from the start; replace it, the texts below and the
# fixtures in fixtures/{code}/ with the real rule (CONTRIBUTING.md, "Adding a rule").
_CALLS = frozenset({{"{placeholder}"}})


class {cls}(Rule):
    code = "{code}"
    name = "{name}"
    summary = {json.dumps(summary)}
    message = "TODO: what is wrong here, true of every case it is printed for"
    # The prefilter: a file containing none of these strings is never parsed for this rule.
    triggers = ("{placeholder}(",)
    what = (
        "TODO: what the rule finds."
    )
    evidence = (
        "TODO: what must be seen before a finding: a gradient source upstream (a trainable "
        "weight, a layer input, a watched tensor), a float value between, the output or the loss "
        "downstream. Unknown means silent."
    )
    why = (
        "TODO: why it breaks gradients, and what the user sees (None gradients, an error "
        "under `model.fit`, a model that silently does not train)."
    )
    example = (
{_py_string(example, "        ")}    )
    fixed_example = (
{_py_string(fixed, "        ")}    )
    # Its first words are the fix kind the docs show: "No automatic fix" (none), "Unsafe"
    # (unsafe), anything else (safe). A rule with a fix passes `fix=Fix.replace(...)` to
    # `self.report` (tfgradfix/fixes/edits.py) and needs a golden case pair in fixtures/.
    fix_safety = "No automatic fix: TODO: why the tool cannot write the change."

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        # Where: on the gradient path (a Keras forward method, a tape, what they reach), in a
        # statement whose value reaches the output or the loss.
        if not context.on_gradient_path or not context.reaches_output(node):
            return
        # What: TODO({code}).
        if dotted_name(node.func) not in _CALLS:
            return
        # Evidence: an argument carries a gradient, and nothing says it is not a float tensor
        # (analysis/values.py; unknown is no evidence either way).
        flow = context.flow
        if flow is None or not any(flow.is_tainted(arg.value) and not carries_no_gradient(flow, arg.value)
                                   for arg in node.args):
            return
        self.report(node)
'''


def fixtures(code: str, placeholder: str) -> dict[str, str]:
    header = (
        "import tensorflow as tf\n"
        "from tensorflow import keras\n"
        "\n"
        "\n"
        f"def {placeholder}(x):\n"
        "    return x\n"
        "\n"
        "\n"
    )
    flag = (
        f'"""TODO({code}): a case the rule must report, written as users write it (flag_: reported,\n'
        'no fix; a case with a fix is a pair, case.py and case.fixed.py)."""\n'
        + header +
        "class Scaled(keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4))\n"
        "\n"
        "    def call(self, inputs):\n"
        f"        return {placeholder}(tf.matmul(inputs, self.w))\n"
    )
    ok = (
        f'"""TODO({code}): code that looks like the bug and is correct: nothing may be reported\n'
        '(off the gradient path, on a value without a gradient)."""\n'
        + header +
        "class Scaled(keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        f"        self.units = {placeholder}(input_shape[-1])\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], self.units))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        h = tf.matmul(inputs, self.w)\n"
        f"        width = {placeholder}(tf.shape(h)[-1])\n"
        "        return tf.reshape(h, (-1, width))\n"
    )
    return {"flag": flag, "ok": ok}


def stamp(root: Path, code: str, name: str, summary: str) -> list[Path]:
    """Stamp the rule into `root`; the paths written or changed."""
    if not CODE.match(code):
        raise StampError(f"{code}: a code is TGF and three digits, the first not 0 (TGF210)")
    if not NAME.match(name):
        raise StampError(f"{name}: a name is lowercase words joined by hyphens (initializer-as-weight)")
    summary = summary.strip().rstrip(".")
    if not summary or "|" in summary or "\n" in summary:
        raise StampError("--summary: one line, no `|` (it is a README table cell)")
    rules = _catalogue(root)
    cls, module = _class_name(name), name.replace("-", "_")
    if any(r["code"] == code for r in rules):
        raise StampError(f"{code} is taken (codes are never reused)")
    if any(r["name"] == name or r["cls"] == cls for r in rules):
        raise StampError(f"{name} is taken")
    package = _family_package(rules, code)
    rules_dir = root / "tfgradfix" / "rules"
    folder = rules_dir / package.rsplit(".", 1)[1] if package is not None else rules_dir
    target = folder / f"{module}.py"
    case_folder = root / "fixtures" / code
    page = root / "docs" / "rules" / f"{code}.md"
    for path in (target, case_folder, page):
        if path.exists():
            raise StampError(f"{path} exists")
    placeholder = f"todo_{module}"

    # Every file as it was (None: new), to take everything back if a step fails.
    before: dict[Path, str | None] = {}

    def keep(path: Path) -> Path:
        before.setdefault(path, path.read_text(encoding="utf-8") if path.exists() else None)
        return path

    try:
        keep(target).write_text(rule_module(code, name, cls, summary, placeholder), encoding="utf-8")
        if package is not None:
            _register_in_package(keep(folder / "__init__.py"), module, cls, package)
        _register_in_catalogue(keep(rules_dir / "__init__.py"), rules, code, cls, module, package)
        case_folder.mkdir(parents=True)
        for kind, text in fixtures(code, placeholder).items():
            keep(case_folder / f"{kind}_{module}.py").write_text(text, encoding="utf-8")
        _readme_row(keep(root / "README.md"), rules, code, name, summary)
        keep(page)
        _python(root, textwrap.dedent(f"""\
            import pathlib
            from tfgradfix.rules import RULES_BY_CODE
            from tfgradfix.rules.docs import render
            pathlib.Path({str(page)!r}).write_text(render(RULES_BY_CODE[{code!r}]), encoding="utf-8")
            """))
        # The flag case's snapshot, as `pytest tests/test_fixtures.py --update-snapshots` writes it.
        flag = case_folder / f"flag_{module}.py"
        keep(flag.with_suffix(".expected"))
        _python(root, textwrap.dedent(f"""\
            import pathlib
            from tfgradfix.engine import Engine
            from tfgradfix.files import read_source
            from tfgradfix.rules import ALL_RULES
            from tfgradfix.fixes.edits import Applicability
            marks = {{Applicability.SAFE: "[*] ", Applicability.UNSAFE: "[?] "}}
            result = Engine(ALL_RULES, unsafe_fixes=True).process(read_source({str(flag)!r}))
            assert result.error is None, result.error
            pathlib.Path({str(flag.with_suffix(".expected"))!r}).write_text(
                "".join(f"{{f.line}}:{{f.column}}: {{f.code}} {{marks.get(f.fix_applicability, '')}}{{f.message}}\\n"
                        for f in result.findings), encoding="utf-8")
            """))
    except BaseException:
        for path, text in before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        if case_folder.is_dir() and not any(case_folder.iterdir()):
            case_folder.rmdir()
        raise
    return list(before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("code", help="the new rule's code, e.g. TGF210")
    parser.add_argument("name", help="the new rule's name, lowercase words joined by hyphens")
    parser.add_argument("--summary", default="TODO: what it finds",
                        help="one line: what it finds (the README row, `tfgradfix rules`)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository to stamp (default: the one holding this script)")
    args = parser.parse_args(argv)
    try:
        changed = stamp(args.root.resolve(), args.code.upper(), args.name, args.summary)
    except StampError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in changed:
        print(path.relative_to(args.root.resolve()))
    print(f"\n{args.code.upper()} stamped. Next: CONTRIBUTING.md, \"Adding a rule\".", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
