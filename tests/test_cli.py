"""The command-line contract of README "Usage", "Exit codes" and "JSON": output, exit codes, JSON, bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, tfgradfix

SEED = FIXTURES / "TGF101" / "seed_dense.py"
CLEAN = FIXTURES / "TGF101" / "ok_constants_and_shapes.py"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of some fixtures in a temporary folder, which is the current folder."""
    shutil.copy(SEED, tmp_path / "layers.py")
    shutil.copy(CLEAN, tmp_path / "clean.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_reports_findings_and_exits_1(cli, project):
    result = cli("layers.py", "clean.py")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "layers.py:17:13: TGF102 [*] `.numpy()` detaches the tensor from the gradient tape" in lines
    assert any(line.startswith("layers.py:18:13: TGF101 [*] `np.dot`") for line in lines)
    assert "Found 5 findings." in lines
    assert not any(line.startswith("clean.py") for line in lines)


def test_check_is_the_default_command(cli, project):
    assert cli("check", "layers.py").stdout == cli("layers.py").stdout


def test_clean_code_exits_0(cli, project):
    result = cli("clean.py")
    assert result.exit_code == 0
    assert "All checks passed!" in result.output


def test_exit_zero(cli, project):
    assert cli("--exit-zero", "layers.py").exit_code == 0


def test_folders_are_searched_and_excludes_respected(cli, project):
    (project / "pkg").mkdir()
    shutil.copy(SEED, project / "pkg" / "model.py")
    for skipped in (".git", "build", "__pycache__", "venv"):
        (project / skipped).mkdir()
        shutil.copy(SEED, project / skipped / "copy.py")
    (project / "env2").mkdir()
    (project / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    shutil.copy(SEED, project / "env2" / "lib.py")
    result = cli(".", "--exclude", "layers.py")
    paths = {line.split(":")[0] for line in result.output.splitlines() if ": TGF" in line}
    assert paths == {os.path.join("pkg", "model.py")}


def test_select_and_ignore(cli, project):
    only_102 = cli("--select", "TGF102", "layers.py").output
    assert "TGF102" in only_102 and "TGF101" not in only_102
    without_10 = cli("--ignore", "TGF101,TGF102,TGF103", "layers.py")
    assert without_10.exit_code == 0
    # The summary line holds the elapsed time, which differs from run to run.
    timing = re.compile(r" in \d+\.\d s")
    assert timing.sub("", cli("--select", "TGF1", "layers.py").output) == timing.sub("", cli("layers.py").output)
    unknown = cli("--select", "XYZ9", "layers.py")
    assert unknown.exit_code == 2
    assert "unknown rule code" in unknown.output


def test_json_output(cli, project):
    result = cli("--output-format", "json", "layers.py")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert set(document) >= {"version", "findings", "errors", "summary"}
    first = document["findings"][0]
    assert first == {
        "path": "layers.py", "line": 17, "column": 13, "end_line": 17, "end_column": 27,
        "code": "TGF102", "name": "tensor-to-numpy",
        "message": "`.numpy()` detaches the tensor from the gradient tape",
        "symbol": "IncorrectLayer.call",
        "fix": {"applicability": "safe", "description": "Drop `.numpy()`"},
        "verification": None,
    }
    assert document["summary"] == {"files": 1, "findings": 5, "fixed": 0}
    assert document["errors"] == []


def test_diff_writes_nothing_and_exits_1(cli, project):
    before = (project / "layers.py").read_bytes()
    result = cli("--diff", "layers.py")
    assert result.exit_code == 1
    assert "--- a/layers.py" in result.output
    assert "+        y = tf.tensordot(x, self.kernel, axes=1) + self.bias  # numpy dot" in result.output
    assert (project / "layers.py").read_bytes() == before
    assert cli("--diff", "clean.py").exit_code == 0


def test_fix_writes_the_golden_output_and_is_idempotent(cli, project):
    result = cli("--fix", "layers.py")
    assert result.exit_code == 0, result.output
    assert "Fixed 5 findings." in result.output
    golden = SEED.with_name("seed_dense.fixed.py").read_text()
    assert (project / "layers.py").read_text() == golden
    again = cli("--fix", "layers.py")
    assert again.exit_code == 0
    assert (project / "layers.py").read_text() == golden


def test_fix_with_findings_left_exits_1(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(FIXTURES / "TGF105" / "flag_numpy_function.py", "ops.py")
    result = cli("--fix", "ops.py")
    assert result.exit_code == 1
    assert "TGF105" in result.output


def test_crlf_bom_encoding_and_mode_are_kept(cli, project):
    text = SEED.read_text().replace("\n", "\r\n")
    path = project / "windows.py"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    path.chmod(0o754)
    latin = project / "latin.py"
    latin.write_bytes(("# -*- coding: latin-1 -*-\n# Gr\u00fc\u00dfe\n" + SEED.read_text()).encode("latin-1"))
    assert cli("--fix", "windows.py", "latin.py").exit_code == 0
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == data.count(b"\n")
    assert b"tf.tensordot(x, self.kernel, axes=1)" in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o754
    assert latin.read_bytes().decode("latin-1").startswith("# -*- coding: latin-1 -*-\n# Gr\u00fc\u00dfe\n")
    assert "tf.tensordot" in latin.read_bytes().decode("latin-1")


def test_bad_files_get_one_line_and_the_run_goes_on(cli, project):
    (project / "broken.py").write_text(
        "import numpy as np\nimport tensorflow as tf\nclass L(tf.keras.layers.Layer):\n    def call(:\n        pass\n")
    (project / "binary.py").write_bytes(b"import tensorflow\x00\xff")
    (project / "undecodable.py").write_bytes(b"import tensorflow as tf\nx = '\xff\xfe'\n")
    result = tfgradfix("broken.py", "binary.py", "undecodable.py", "missing.py", "layers.py", cwd=project)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert any(e.startswith("error: broken.py: syntax error at 4:") for e in errors), errors
    assert "error: binary.py: binary file (contains NUL bytes)" in errors
    assert any(e.startswith("error: undecodable.py: cannot decode as utf-8") for e in errors)
    assert "error: missing.py: no such file or directory" in errors
    assert len(errors) == 4
    assert result.stderr.splitlines()[-1].startswith("Checked 4 files in ")
    assert "layers.py:17:13: TGF102" in result.stdout


def test_modern_syntax_is_parsed(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = SEED.read_text() + (
        "\n\ndef describe(x):\n"
        "    match x:\n"
        "        case [a, *rest] if (n := len(rest)) > 0:\n"
        "            return f\"{a=} {n=}\"\n"
        "        case _:\n"
        "            return None\n"
    )
    (tmp_path / "modern.py").write_text(source)
    result = cli("--fix", "modern.py")
    assert result.exit_code == 0, result.output
    assert "case [a, *rest] if (n := len(rest)) > 0:" in (tmp_path / "modern.py").read_text()


def test_stdin(cli):
    text = SEED.read_text()
    checked = cli("-", input=text)
    assert checked.exit_code == 1
    assert "-:17:13: TGF102" in checked.output
    fixed = tfgradfix("--fix", "-", input=text)
    assert fixed.stdout == SEED.with_name("seed_dense.fixed.py").read_text()


def test_rule_and_rules_commands(cli):
    explained = cli("rule", "TGF101")
    assert explained.exit_code == 0
    assert explained.output == (ROOT / "docs" / "rules" / "TGF101.md").read_text()
    assert "## Fix safety" in explained.output
    listing = cli("rules").output.splitlines()
    from tfgradfix.rules import RULES_BY_CODE

    assert [line.split()[0] for line in listing] == list(RULES_BY_CODE)
    assert listing[0].split()[:2] == ["TGF101", "numpy-call-on-tensor"]
    assert cli("rule", "TGF999").exit_code == 2


def test_version(cli):
    from tfgradfix import __version__

    assert __version__ in cli("--version").output


def test_noqa_suppresses_the_named_rule_only(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = SEED.read_text().replace(
        "x = inputs.numpy()", "x = inputs.numpy()  # noqa: TGF102").replace(
        "# numpy dot", "# noqa")
    (tmp_path / "quiet.py").write_text(text)
    codes = [line.split()[1] for line in cli("quiet.py").output.splitlines() if ": TGF" in line]
    assert codes == ["TGF103"]


def test_check_never_imports_tensorflow_keras_or_numpy():
    script = (
        "import sys\n"
        "from tfgradfix.cli import main\n"
        "try:\n"
        f"    main([{str(FIXTURES)!r}, '--diff'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 1, exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'numpy', 'tf_keras'))\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_unsafe_fixes_wait_for_the_flag(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = FIXTURES / "TGF301" / "stop_output.py"
    shutil.copy(case, "layer.py")
    reported = cli("layer.py")
    assert "TGF301 [?]" in reported.output
    assert "[?] 1 more fixable with `--fix --unsafe-fixes`." in reported.output
    assert cli("--fix", "layer.py").exit_code == 1
    assert (tmp_path / "layer.py").read_text() == case.read_text()
    assert cli("--fix", "--unsafe-fixes", "layer.py").exit_code == 0
    assert (tmp_path / "layer.py").read_text() == case.with_name("stop_output.fixed.py").read_text()


def test_jobs_give_the_same_results_in_path_order(cli, project):
    for name in ("a.py", "b.py", "c.py"):
        shutil.copy(SEED, project / name)
    one = tfgradfix("-j1", ".", cwd=project)
    two = tfgradfix("-j2", ".", cwd=project)
    assert one.stdout == two.stdout
    paths = [line.split(":")[0] for line in two.stdout.splitlines() if ": TGF" in line]
    assert paths == sorted(paths) and set(paths) == {"a.py", "b.py", "c.py", "clean.py", "layers.py"} - {"clean.py"}
    fixed = tfgradfix("-j2", "--fix", ".", cwd=project)
    assert fixed.returncode == 0, fixed.stderr
    golden = SEED.with_name("seed_dense.fixed.py").read_text()
    assert all((project / name).read_text() == golden for name in ("a.py", "b.py", "c.py", "layers.py"))


def test_zero_files_and_statistics(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    empty = cli(".")
    assert empty.exit_code == 0 and "All checks passed!" in empty.output
    shutil.copy(SEED, tmp_path / "layers.py")
    stats = cli("--statistics", "layers.py")
    lines = [line.split() for line in stats.stdout.splitlines()]
    assert lines[0] == ["3", "TGF102", "[*]", "tensor-to-numpy"]
    assert ["1", "TGF103", "numpy-roundtrip"] in lines
    assert "Checked 1 file in " in stats.stderr and "1 with findings" in stats.stderr


def _workers_left(folder) -> list[int]:
    """Processes (the run's workers) still running in `folder`."""
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(folder):
                left.append(int(entry.name))
        except OSError:
            continue
    return left


@pytest.mark.parametrize("jobs,presses", [(1, 1), (2, 1), (2, 2)])
def test_ctrl_c_stops_within_seconds_and_leaves_each_file_original_or_fully_fixed(tmp_path, jobs, presses):
    """A real Ctrl-C (SIGINT to the whole process group, as a terminal sends it): exit
    130 at once, workers gone, no file half-fixed, no internal error reported. A second
    Ctrl-C during the shutdown must not hang or break it."""
    import signal
    import time

    original = SEED.read_text()
    golden = SEED.with_name("seed_dense.fixed.py").read_text()
    for index in range(400):
        (tmp_path / f"layer_{index:03}.py").write_text(original)
    process = subprocess.Popen([sys.executable, "-m", "tfgradfix", f"-j{jobs}", "--fix", "."], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.read_text() == golden for p in tmp_path.glob("*.py")):
        time.sleep(0.05)
    pressed = time.monotonic()
    for _ in range(presses):
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.1)
    _, stderr = process.communicate(timeout=60)
    waited = time.monotonic() - pressed
    assert process.returncode == 130, stderr
    assert waited < 5, f"took {waited:.1f} s to stop"
    assert "Interrupted:" in stderr and "every other file is unchanged" in stderr
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    assert not _workers_left(tmp_path)
    texts = [p.read_text() for p in tmp_path.glob("*.py")]
    assert all(text in (original, golden) for text in texts)
    assert 0 < sum(text == golden for text in texts) < 400
    assert not list(tmp_path.glob(".tfgradfix-*")), "temporary files left behind"


def test_a_ctrl_c_that_libcst_turns_into_another_error_still_stops_the_run():
    """LibCST can catch the KeyboardInterrupt and raise a KeyError instead: that is an
    interrupt, not an internal error to report before going on with the next file."""
    import signal
    import time

    import libcst as cst

    from tfgradfix import interrupts
    from tfgradfix.engine import Engine
    from tfgradfix.rules.base import Rule

    class InterruptedInsideLibcst(Rule):
        code, name, message, summary, triggers = "TGF999", "interrupted", "-", "-", ("numpy",)

        def visit_Call(self, node: cst.Call) -> None:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                raise KeyError("ctx") from None

    previous = signal.getsignal(signal.SIGINT)
    try:
        with interrupts.handled(), pytest.raises(KeyboardInterrupt):
            Engine([InterruptedInsideLibcst], fix=True).process_path(str(SEED))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not interrupts.interrupted(), "the next command in this process starts afresh"


def test_progress_line_for_long_runs(monkeypatch):
    import io

    from tfgradfix.report import progress

    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(progress, "REFRESH_S", 0.0)
    stream = io.StringIO()
    bar = progress.Progress(4, enabled=True, stream=stream)
    for findings in (0, 2, 0, 1):
        bar.advance(findings)
    assert "4/4 files, 3 findings, ETA" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r" + " " * 79 + "\r")
    quiet = io.StringIO()
    progress.Progress(4, enabled=False, stream=quiet).advance(1)
    assert quiet.getvalue() == ""


def test_ctrl_c_while_verifying_exits_130_without_a_traceback(tmp_path):
    import signal
    import time

    shutil.copy(SEED, tmp_path / "layers.py")
    process = subprocess.Popen([sys.executable, "-m", "tfgradfix", "--fix", "--verify", "layers.py"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def verifier_running() -> bool:
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and b"child.py" in (entry / "cmdline").read_bytes() and \
                        (entry / "stat").read_text().split()[3] == str(process.pid):
                    return True
            except OSError:
                continue
        return False

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not verifier_running():
        time.sleep(0.05)
    assert verifier_running(), "the verifier never started"
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Interrupted: each file is either as it was or fully fixed." in stderr
    assert (tmp_path / "layers.py").read_text() == SEED.read_text()
