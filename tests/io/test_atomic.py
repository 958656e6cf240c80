"""Atomic writes: complete file or no change at all, and a readable message on failure."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gradsim.io import atomic
from gradsim.io.atomic import (
    WriteError,
    atomic_open,
    atomic_path,
    atomic_savez,
    atomic_write_bytes,
    atomic_write_text,
)


def _fail_with(code: int):
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


def test_write_bytes_and_text_give_exact_content_and_leave_only_the_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 3
    atomic_write_bytes(tmp_path / "a.bin", data)
    atomic_write_text(tmp_path / "b.txt", "line 1\r\nünïcode ✓\n")
    assert (tmp_path / "a.bin").read_bytes() == data
    # Text is written as given: no newline translation, UTF-8.
    assert (tmp_path / "b.txt").read_bytes() == "line 1\r\nünïcode ✓\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt"]


def test_overwrite_replaces_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old content that is longer than the new one")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_finished_file_has_the_usual_permissions_not_the_private_temp_ones(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask


def test_atomic_path_is_a_sibling_with_the_same_extension_and_np_savez_lands_on_the_target(
    tmp_path: Path,
) -> None:
    target = tmp_path / "run.npz"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path
        assert temp.name.endswith(".npz") and temp != target
        assert not target.exists()
        # np.savez appends ".npz" to names that lack it; the temp name must not trigger that.
        np.savez(temp, values=np.arange(5.0))
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]
    with np.load(target, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["values"], np.arange(5.0))


def test_atomic_open_streams_text_and_binary(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "a.csv", newline="") as handle:
        for i in range(3):
            handle.write(f"{i},{i * i}\n")
    with atomic_open(tmp_path / "b.bin", "wb") as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "a.csv").read_text() == "0,0\n1,1\n2,4\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "c.txt", "a"):
            pass
    assert not (tmp_path / "c.txt").exists()


def test_error_in_the_writer_removes_the_temp_file_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    target.write_text("previous")
    with pytest.raises(ZeroDivisionError):
        with atomic_open(target) as handle:
            handle.write("half a fi")
            _ = 1 / 0
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_interrupt_while_writing_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "a.png") as temp:
            temp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_raises_write_error_and_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "replace", _fail_with(errno.EACCES))
    target = tmp_path / "plot.png"
    with pytest.raises(WriteError) as caught:
        atomic_write_bytes(target, b"\x89PNG" + b"x" * 1000)
    assert str(caught.value) == f"cannot write {target}: folder is not writable (permission denied)"
    assert caught.value.path == str(target)
    assert caught.value.errno == errno.EACCES
    assert isinstance(caught.value, OSError)
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_keeps_the_existing_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "config.toml"
    target.write_text("keep me")
    monkeypatch.setattr(os, "replace", _fail_with(errno.EACCES))
    with pytest.raises(WriteError):
        atomic_write_text(target, "new content")
    assert target.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_disk_full_while_flushing_is_reported_and_cleaned_up(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(atomic.os, "fsync", _fail_with(errno.ENOSPC))
    target = tmp_path / "run.npz"
    with pytest.raises(WriteError, match="the disk is full"):
        atomic_write_bytes(target, b"data")
    assert list(tmp_path.iterdir()) == []


def test_write_error_inside_the_writer_is_turned_into_write_error(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match=r"cannot write .*out\.bin: the disk is full"):
        with atomic_path(tmp_path / "out.bin") as temp:
            temp.write_bytes(b"abc")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_temp_file_that_cannot_be_created_means_folder_not_writable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "mkstemp", _fail_with(errno.EACCES))
    with pytest.raises(WriteError, match="folder is not writable"):
        atomic_write_text(tmp_path / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write to read-only folders")
def test_really_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError, match="folder is not writable"):
            atomic_write_text(folder / "a.txt", "x")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_parent_that_is_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("I am a file")
    target = blocker / "sub" / "plot.png"
    with pytest.raises(WriteError) as caught:
        atomic_write_bytes(target, b"x")
    assert str(caught.value) == f"cannot write {target}: {blocker} is a file, not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert blocker.read_text() == "I am a file"


def test_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "a.txt"
    with pytest.raises(WriteError, match=f"folder {tmp_path / 'nowhere'} does not exist"):
        atomic_write_text(target, "x")
    assert list(tmp_path.iterdir()) == []


def test_target_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(WriteError, match="a folder of that name exists"):
        atomic_write_bytes(tmp_path / "out.png", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert list((tmp_path / "out.png").iterdir()) == []


# -- temporary files: named as gradsim's, stale ones cleaned ------------------------------------


def test_temporary_name_marks_it_as_gradsims_with_the_process_id(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "run.json") as temp:
        assert temp.name.startswith(f".gradsim-{os.getpid()}-") and temp.name.endswith(".tmp.json")


_KILLED_WRITER = """
import sys, time
from gradsim.io.atomic import atomic_open
with atomic_open(sys.argv[1], "w") as handle:
    handle.write("half of a new file")
    handle.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="no kill -9 here")
def test_kill_9_during_a_save_leaves_a_temp_file_the_next_save_removes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    target = tmp_path / "config.toml"
    target.write_text("old = 1\n")
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=60)
        writer.stdout.close()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "config.toml"]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".gradsim-{writer.pid}-")
    assert target.read_text() == "old = 1\n"  # the old file is intact
    # A file of a live process (this one) with the same shape of name is kept.
    mine = tmp_path / f".gradsim-{os.getpid()}-abc123.tmp.toml"
    mine.write_text("in progress")
    other = tmp_path / ".notes.tmp.toml"  # not gradsim's: never touched
    other.write_text("x")
    atomic_write_text(tmp_path / "other.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["config.toml", "other.json", mine.name, other.name]
    )


def test_remove_stale_temp_files_only_touches_dead_writers(tmp_path: Path) -> None:
    dead_pid = 2**22 + 12345  # above Linux's pid_max: no such process
    dead = tmp_path / f".gradsim-{dead_pid}-x1y2.tmp.npz"
    dead.write_bytes(b"partial")
    folder = tmp_path / f".gradsim-{dead_pid}-dir.tmp"
    folder.mkdir()  # a folder with that name is not a temp file
    assert atomic.remove_stale_temp_files(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert atomic.remove_stale_temp_files(tmp_path / "missing") == []


def test_proc_is_named_as_not_a_file_system_for_files() -> None:
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    with pytest.raises(WriteError) as caught:
        atomic_write_text("/proc/x.json", "{}")
    assert (
        str(caught.value)
        == "cannot write /proc/x.json: /proc is on a proc file system, which holds no ordinary files"
    )


def test_read_only_file_system_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "mkstemp", _fail_with(errno.EROFS))
    with pytest.raises(WriteError) as caught:
        atomic_write_text(tmp_path / "a.txt", "x")
    assert str(caught.value).endswith(": the disk is read-only (a read-only file system)")


def test_describe_error_gives_one_line_with_the_reason_a_write_error_would(tmp_path: Path) -> None:
    target = tmp_path / "run.csv"
    written = WriteError(target, "the disk is full")
    assert atomic.describe_error(target, written) == f"cannot write {target}: the disk is full"
    # A plain OSError (from a writer that is not atomic) reads like a WriteError, not like strerror.
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert atomic.describe_error(target, full) == f"cannot write {target}: the disk is full"
    missing = tmp_path / "gone" / "run.csv"
    assert atomic.describe_error(missing, FileNotFoundError(errno.ENOENT, "No such file")) == (
        f"cannot write {missing}: folder {missing.parent} does not exist"
    )
    assert atomic.describe_error(target, ValueError("bad plot")) == f"cannot write {target}: bad plot"


def test_atomic_savez_writes_the_arrays_under_the_exact_name(tmp_path: Path) -> None:
    # np.savez would append ".npz" to another name; through a file object it cannot.
    target = tmp_path / "arrays.data"
    atomic_savez(target, {"a": np.arange(3), "b": np.eye(2)})
    assert sorted(os.listdir(tmp_path)) == ["arrays.data"]
    with np.load(target, allow_pickle=False) as archive:
        assert archive["a"].tolist() == [0, 1, 2] and archive["b"].tolist() == [[1.0, 0.0], [0.0, 1.0]]
