"""`--fix -i` on a project: a fix that spans files is one hunk group, accepted or
declined as a whole and written all or none; Ctrl-C and Ctrl-D stop with nothing written."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, tfgradfix
from tfgradfix.files import SourceError, read_source, write_sources

VISION = FIXTURES / "projects" / "vision"
# In file order: TGF203 in blocks.py, the TGF201 group (ops.py + blocks.py), two TGF101 in ops.py.
PROMPT = "Apply this fix? [y,n,a,d,q,?]"


@pytest.fixture
def vision(tmp_path) -> Path:
    shutil.copytree(VISION, tmp_path / "vision")
    return tmp_path / "vision"


def _review(folder: Path, answers: str, *paths: str) -> subprocess.CompletedProcess:
    return tfgradfix("--fix", "-i", *(paths or ["."]), input=answers, cwd=folder)


def _texts(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.py"))}


def test_a_fix_across_files_is_one_hunk_group_with_every_file(vision):
    run = _review(vision, "n\ny\nn\nn\n")
    prompts = run.stdout.split(PROMPT)
    assert len(prompts) == 5, run.stdout  # four questions, then the report
    group = prompts[1]
    assert "visionkit/ops.py:9:13: TGF201" in group and "(2 files, applied together)" in group
    headers = [line for line in group.splitlines() if line.startswith(("--- ", "+++ "))]
    assert headers == ["--- a/visionkit/ops.py", "+++ b/visionkit/ops.py",
                       "--- a/visionkit/blocks.py", "+++ b/visionkit/blocks.py"]
    assert "+def channel_scale(x, *, gamma):" in group and "+        h = channel_scale(h, gamma=self.gamma)" in group
    ops, blocks = (vision / "visionkit" / "ops.py").read_text(), (vision / "visionkit" / "blocks.py").read_text()
    assert "def channel_scale(x, *, gamma):" in ops and "tf.Variable(tf.ones" not in ops
    assert "channel_scale(h, gamma=self.gamma)" in blocks and "self.gamma = self.add_weight(" in blocks
    assert 'self.alpha = tf.Variable(0.1, name="alpha")' in blocks  # TGF203 was declined
    assert "np.matmul(np.transpose(flat), flat)" in ops  # and both TGF101
    for text in _texts(vision).values():
        compile(text, "<fixed>", "exec")
    assert "Fixed 1 finding, 3 remaining." in run.stdout
    assert run.returncode == 1


def test_a_declined_group_changes_no_file(vision):
    before = _texts(vision)
    run = _review(vision, "n\nn\nn\nn\n")
    assert run.stdout.count(PROMPT) == 4
    assert _texts(vision) == before


def test_the_group_and_the_other_fixes_of_its_files_go_together(vision):
    """All four accepted: one write of each file, the same result as --fix."""
    _review(vision, "y\ny\ny\ny\n")
    reviewed = _texts(vision)
    shutil.rmtree(vision)
    shutil.copytree(VISION, vision)
    tfgradfix("--fix", ".", cwd=vision)
    assert reviewed == _texts(vision)


def test_a_group_whose_file_cannot_be_written_writes_none_of_its_files(vision):
    blocks = vision / "visionkit" / "blocks.py"
    before = _texts(vision)
    blocks.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        run = _review(vision, "n\ny\nn\nn\n")
    finally:
        blocks.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert _texts(vision) == before  # ops.py is not written without blocks.py
    assert "error: visionkit/ops.py: not written (nor visionkit/blocks.py, fixed with it)" in run.stderr, run.stderr
    assert run.returncode == 2


def test_the_group_is_offered_when_only_its_two_files_are_given(vision):
    """pre-commit passes the changed files: the helper's module and the calling layer's."""
    run = _review(vision, "n\ny\n", "visionkit/ops.py", "visionkit/blocks.py")
    assert "(2 files, applied together)" in run.stdout
    assert "channel_scale(h, gamma=self.gamma)" in (vision / "visionkit" / "blocks.py").read_text()


def _until(process: subprocess.Popen, text: bytes, count: int) -> bytes:
    """stdout until `text` has appeared `count` times (the prompt has no newline)."""
    seen = b""
    deadline = time.monotonic() + 60
    while seen.count(text) < count and time.monotonic() < deadline:
        chunk = os.read(process.stdout.fileno(), 65536)  # type: ignore[union-attr]
        if not chunk:
            break
        seen += chunk
    return seen


def test_ctrl_c_at_the_prompt_exits_130_with_nothing_written(vision):
    before = _texts(vision)
    process = subprocess.Popen([sys.executable, "-m", "tfgradfix", "--fix", "-i", "."], cwd=vision,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    assert _until(process, PROMPT.encode(), 1).count(PROMPT.encode()) == 1
    process.stdin.write(b"y\ny\n")  # type: ignore[union-attr]
    process.stdin.flush()  # type: ignore[union-attr]
    assert _until(process, PROMPT.encode(), 2)  # the third question waits
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Interrupted: nothing written; every file is unchanged." in stderr
    assert b"Aborted!" not in stderr and b"Traceback" not in stderr, stderr
    assert _texts(vision) == before  # the two accepted fixes are not written
    assert not list(vision.rglob(".tfgradfix-*"))


def test_ctrl_d_at_a_terminal_exits_130_with_nothing_written(vision):
    pexpect = pytest.importorskip("pexpect")  # installed with IPython (the test extras)
    before = _texts(vision)
    child = pexpect.spawn(sys.executable, ["-m", "tfgradfix", "--fix", "-i", "."], cwd=str(vision), timeout=60)
    child.expect_exact(PROMPT)
    child.sendline("y")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert b"Interrupted: nothing written" in child.before
    assert _texts(vision) == before


def test_write_sources_restores_the_files_written_when_a_later_write_fails(tmp_path, monkeypatch):
    from tfgradfix import files

    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_bytes(b"x = 1\r\n")
    second.write_bytes(b"y = 2\n")
    sources = [read_source(str(first)), read_source(str(second))]
    real_put = files._put
    calls = []

    def put(real, data, info):
        calls.append(real)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_put(real, data, info)

    monkeypatch.setattr(files, "_put", put)
    with pytest.raises(OSError):
        write_sources([(sources[0], "x = 10\r\n"), (sources[1], "y = 20\n")])
    assert first.read_bytes() == b"x = 1\r\n" and second.read_bytes() == b"y = 2\n"


def test_write_sources_checks_every_file_before_writing_any(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("x = 1\n")
    second.write_text("y = 2\n")
    sources = [read_source(str(first)), read_source(str(second))]
    second.write_text("y = 3  # changed since read\n")
    with pytest.raises(SourceError, match="changed"):
        write_sources([(sources[0], "x = 10\n"), (sources[1], "y = 20\n")])
    assert first.read_text() == "x = 1\n"


def test_fix_writes_the_files_of_a_fix_across_files_together_or_not_at_all(vision):
    """--fix: the same all-or-none as -i. blocks.py read-only: ops.py keeps its helper
    (its hoisted weight would otherwise be created nowhere)."""
    blocks = vision / "visionkit" / "blocks.py"
    before = _texts(vision)
    blocks.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        run = tfgradfix("--fix", ".", cwd=vision)
    finally:
        blocks.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert _texts(vision) == before
    assert "error: visionkit/ops.py: not written (nor visionkit/blocks.py, fixed with it)" in run.stderr
    assert "visionkit/ops.py:9:13: TGF201 [*]" in run.stdout  # reported as it was
    assert run.returncode == 2
