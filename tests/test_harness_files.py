"""harness/files.py and harness/errors.py: atomic writes (all-or-nothing, usual permissions, no debris, a full disk
as one line) and the commands' one error path."""

import os
import stat
import subprocess
import sys

import pytest

from harness.errors import UserError, command
from harness.files import atomic_output, atomic_path, remove_debris


def test_atomic_output_replaces_the_file_only_when_the_block_completes(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as f:
            f.write(b"half")
            raise RuntimeError("killed halfway")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    with atomic_output(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.bin"]


def test_atomic_path_is_hidden_until_done_and_gets_the_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "data.h5"
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp.name.startswith(".data.h5.%d." % os.getpid())
            assert not target.exists()
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_bytes() == b"x"


def test_atomic_path_keeps_the_previous_version_when_asked(tmp_path):
    target, previous = tmp_path / "c.npz", tmp_path / "c.previous.npz"
    for content in (b"1", b"2", b"3"):
        with atomic_path(target, previous=previous) as tmp:
            tmp.write_bytes(content)
    assert target.read_bytes() == b"3" and previous.read_bytes() == b"2"


def test_debris_of_dead_writers_is_removed_by_the_next_write(tmp_path):
    """A writer killed before its rename leaves .NAME.PID.xxx.tmp; the next writer of NAME removes it once that
    process is gone, and leaves a live writer's file and other names alone."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    debris = tmp_path / (".data.h5.%d.abc123.tmp" % dead_pid)
    live = tmp_path / (".data.h5.%d.def456.tmp" % os.getppid())
    other = tmp_path / (".other.h5.%d.abc123.tmp" % dead_pid)
    for path in (debris, live, other):
        path.write_bytes(b"half a file")
    with atomic_output(tmp_path / "data.h5") as f:
        f.write(b"whole")
    assert not debris.exists() and live.exists() and other.exists()
    remove_debris(tmp_path / "other.h5")
    assert not other.exists()


def test_a_full_disk_is_one_error_and_leaves_the_final_name_alone(tmp_path):
    """RLIMIT_FSIZE makes a write fail as a full disk does (EFBIG instead of ENOSPC): one UserError naming the file,
    the old content kept, no temporary file left."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"old")
    code = (
        "import resource, signal, sys\nfrom harness.files import atomic_output\n"
        "from harness.errors import command\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "@command\ndef main(argv):\n    with atomic_output(sys.argv[1]) as f:\n        f.write(b'x' * 100000)\n"
        "sys.exit(main(None))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot write %s (file too large" % target)
    assert "rerun the same command" in done.stderr
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["big.bin"]


def test_command_turns_a_user_error_into_one_line_and_its_status(capsys):
    @command
    def failing(argv):
        raise UserError("x is missing:\nrun `make download-mnist`", status=2)

    @command
    def fine(argv):
        print("done")

    assert failing([]) == 2
    assert capsys.readouterr().err == "error: x is missing: run `make download-mnist`\n"
    assert fine([]) == 0 and capsys.readouterr().out == "done\n"
