"""What happens to the user's files: found once, written without losing what the file
is (owner, hard links, read-only), and bad paths reported without stopping the run."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "TGF101" / "seed_dense.py"
GOLDEN = SEED.with_name("seed_dense.fixed.py")


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy(SEED, tmp_path / "layers.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _paths(output: str) -> set[str]:
    return {line.split(":")[0] for line in output.splitlines() if ": TGF" in line}


def test_read_only_file_is_left_alone_with_a_message_and_its_findings(cli, project):
    path = project / "layers.py"
    path.chmod(0o444)
    result = cli("--fix", "layers.py")
    assert result.exit_code == 2
    assert "error: layers.py: not written: read-only file" in result.stderr
    assert path.read_text() == SEED.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    # The findings are still reported, as before any fix (a failed write must not hide them).
    assert "layers.py:17:13: TGF102" in result.stdout and "Found 5 findings." in result.stdout


def test_fix_keeps_hard_links_owner_and_mode(cli, project):
    path = project / "layers.py"
    os.link(path, project / "same_file.py")
    path.chmod(0o640)
    result = cli("--fix", "layers.py")
    assert result.exit_code == 0, result.output
    assert (project / "same_file.py").read_text() == GOLDEN.read_text(), "the hard link was broken"
    assert path.stat().st_ino == (project / "same_file.py").stat().st_ino
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    if os.geteuid() == 0:  # only root can give a file to someone else
        other = project / "theirs.py"
        shutil.copy(SEED, other)
        os.chown(other, 65534, 65534)
        assert cli("--fix", "theirs.py").exit_code == 0
        assert (other.stat().st_uid, other.stat().st_gid) == (65534, 65534)
        assert other.read_text() == GOLDEN.read_text()
    assert not list(project.glob(".tfgradfix-*")), "temporary file left behind"


def _unreadable(folder):
    """A file that cannot be read, even by root (who reads a chmod 000 file)."""
    path = folder / "locked.py"
    if os.geteuid() == 0:
        target = "/proc/sys/vm/drop_caches"  # write-only for everyone
        if not os.path.exists(target):
            pytest.fail("no way to make a file root cannot read on this system")
        path.symlink_to(target)
    else:
        shutil.copy(SEED, path)
        path.chmod(0)
    return path


def test_an_unreadable_file_named_on_the_command_line_is_one_error_line(cli, project):
    _unreadable(project)
    result = cli("locked.py", "layers.py")
    assert result.exit_code == 2
    assert "error: locked.py: Permission denied" in result.stderr.splitlines()
    assert "layers.py:17:13: TGF102" in result.stdout, "the run must go on"


def test_a_file_reached_by_two_paths_is_processed_once(cli, project):
    (project / "pkg").mkdir()
    (project / "pkg" / "model.py").write_text(SEED.read_text())
    (project / "alias.py").symlink_to(project / "layers.py")
    (project / "pkg_link").symlink_to(project / "pkg")
    result = cli("--fix", ".", "layers.py")
    assert result.exit_code == 0, result.output
    assert "changed while" not in result.output
    assert "Checked 2 files" in result.stderr
    assert (project / "layers.py").read_text() == GOLDEN.read_text()
    assert (project / "pkg" / "model.py").read_text() == GOLDEN.read_text()
    assert (project / "alias.py").is_symlink()


def test_notebook_checkpoints_are_not_checked(cli, project):
    (project / ".ipynb_checkpoints").mkdir()
    shutil.copy(SEED, project / ".ipynb_checkpoints" / "layers-checkpoint.py")
    assert _paths(cli(".").stdout) == {"layers.py"}


def test_no_file_found_says_so(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    result = cli(".")
    assert result.exit_code == 0
    assert "warning: no Python files found under ." in result.stderr


def test_every_path_missing_stops_with_no_such_path(cli, project):
    result = cli("lyers.py", "srcc/")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: lyers.py: no such file or directory",
                                          "error: srcc/: no such file or directory"]
    assert result.stdout == ""


def test_a_mistyped_command_is_not_taken_for_a_path(cli, project):
    result = cli("chek", ".")
    assert result.exit_code == 2
    assert "no such command or path: 'chek' (did you mean 'check'?)" in result.output
    assert "TGF" not in result.stdout


def _pyproject(folder, body: str) -> None:
    (folder / "pyproject.toml").write_text(textwrap.dedent(body))


def test_exclude_and_per_file_ignores_are_relative_to_the_config_from_a_subfolder(cli, project, monkeypatch):
    for folder in ("src/generated", "src/legacy", "tests"):
        (project / folder).mkdir(parents=True)
    for name in ("src/generated/model.py", "src/legacy/old.py", "src/keep.py", "tests/test_layer.py"):
        shutil.copy(SEED, project / name)
    _pyproject(project, """
        [tool.tfgradfix]
        exclude = ["src/generated/", "old.py"]
        per-file-ignores = { "tests/*" = ["TGF1"] }
    """)
    monkeypatch.chdir(project / "src")
    assert _paths(cli(".").stdout) == {"keep.py"}
    assert _paths(cli("generated/model.py", "keep.py").stdout) == {"keep.py"}
    monkeypatch.chdir(project / "tests")
    assert _paths(cli(".").stdout) == set()
    assert cli("test_layer.py").exit_code == 0
    link = project.parent / f"{project.name}-link"  # the project reached through a symlink
    link.symlink_to(project)
    monkeypatch.chdir(link / "src")
    assert _paths(cli(".").stdout) == {"keep.py"}
    monkeypatch.chdir(link / "tests")
    assert cli("test_layer.py").exit_code == 0


def test_gitignored_files_are_skipped_unless_asked(cli, project):
    subprocess.run(["git", "init", "-q", "."], check=True)
    (project / ".gitignore").write_text("scratch/\n*_gen.py\n")
    (project / "scratch").mkdir()
    shutil.copy(SEED, project / "scratch" / "try.py")
    shutil.copy(SEED, project / "model_gen.py")
    assert _paths(cli(".").stdout) == {"layers.py"}
    assert _paths(cli("--no-respect-gitignore", ".").stdout) == {
        "layers.py", "model_gen.py", os.path.join("scratch", "try.py")}
    assert _paths(cli("model_gen.py").stdout) == {"model_gen.py"}, "a file named on the command line is checked"


def test_show_files_lists_what_would_be_checked(cli, project):
    (project / "pkg").mkdir()
    (project / "pkg" / "a.py").write_text("x = 1\n")
    (project / "pkg" / "b.ipynb").write_text("{}")
    result = cli("--show-files", ".", "--extend-exclude", "b.ipynb")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["layers.py", os.path.join("pkg", "a.py")]


def test_a_missing_path_next_to_existing_ones_is_an_error_and_the_run_goes_on(cli, project):
    result = cli("--output-format", "json", "gone.py", "layers.py")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["errors"] == [{"path": "gone.py", "message": "no such file or directory"}]
    assert document["summary"]["findings"] == 5
    assert result.stderr.count("error: gone.py: no such file or directory") == 1


def test_a_fifo_named_like_a_python_file_does_not_hang_the_run(cli, project):
    os.mkfifo(project / "pipe.py")
    result = subprocess.run([sys.executable, "-m", "tfgradfix", "."], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "error: pipe.py: not a regular file" in result.stderr.splitlines()
    assert "layers.py:17:13: TGF102" in result.stdout


def test_a_file_python_accepts_and_libcst_cannot_is_not_called_a_syntax_error(cli, project, monkeypatch):
    """Python counts a tab up to a multiple of 8 and accepts `\\t    ` under four spaces;
    LibCST's tokenizer does not (whatever its parser settings)."""
    (project / "tabs.py").write_text("import tensorflow as tf\ndef step(model, x):\n    for i in range(2):\n"
                                     "\t    x = x + 1\n    with tf.GradientTape() as tape:\n        y = model(x)\n"
                                     "    return tape.gradient(y, x)\n")
    compile((project / "tabs.py").read_text(), "tabs.py", "exec")
    monkeypatch.chdir(project)
    result = cli("tabs.py")
    assert result.exit_code == 2
    assert ("error: tabs.py: not analysed: Python accepts this file, but LibCST (the parser tfgradfix rewrites "
            "code with) cannot parse it: line 4 indents with tabs and spaces mixed") in result.output
    assert "syntax error" not in result.output
