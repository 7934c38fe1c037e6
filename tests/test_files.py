"""datasets/files.py: atomic writes (all-or-nothing, usual permissions) and the commands' error reporting."""
import os
import stat

import pytest

from datasets.files import DatasetError, atomic_output, atomic_path, exit_status


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
            assert tmp.parent == target.parent and tmp.name.startswith(".data.h5.") and not target.exists()
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_bytes() == b"x"


def test_exit_status_turns_a_dataset_error_into_one_line_and_status_1(capsys):
    def fail():
        raise DatasetError("x is missing: run `make download-mnist`")

    assert exit_status(fail) == 1
    assert capsys.readouterr().err == "error: x is missing: run `make download-mnist`\n"
    assert exit_status(lambda: None) == 0
