"""Atomic file writes: a file is either written completely or not touched at all.

Every write goes to a temporary file in the target's own folder (so the final rename never
crosses a file system), is flushed to disk, and is then renamed over the target with
:func:`os.replace`, which is atomic on POSIX and Windows. A failure at any point removes the
temporary file and raises :class:`WriteError` with a message a user can act on; an existing file
at the target keeps its old content.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "TEMP_PREFIX",
    "WriteError",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "describe_error",
    "remove_stale_temp_files",
]


def _current_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads run.
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temporary files are created private (0600); the finished file gets the usual permissions.
_FILE_MODE = 0o666 & ~_current_umask()


class WriteError(OSError):
    """A file could not be written. ``str(error)`` is one line for a message box or stderr.

    ``path`` is the file that was to be written; ``reason`` the short explanation.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, errno_value: int | None = None) -> None:
        super().__init__(errno_value, f"cannot write {os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason

    def __str__(self) -> str:
        return str(self.strerror)


def _reason(error: OSError, target: Path) -> str:
    """A short, user-readable reason for ``error`` while writing ``target``: the real cause."""
    folder = target.parent
    code = error.errno
    if code in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EINVAL, errno.EROFS) and folder.is_dir():
        special = _special_filesystem(folder)
        if special is not None:
            return f"{folder} is on a {special} file system, which holds no ordinary files"
    if code == errno.EROFS:
        return "the disk is read-only (a read-only file system)"
    if code in (errno.EACCES, errno.EPERM):
        return "folder is not writable (permission denied)"
    if code == errno.ENOENT:
        if not folder.exists():
            return f"folder {folder} does not exist"
        return f"folder {folder} does not accept new files"
    if code == errno.ENOTDIR:
        return f"{_first_non_folder(folder)} is a file, not a folder"
    if code == errno.EISDIR or target.is_dir():
        return "a folder of that name exists"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if code == errno.ENAMETOOLONG:
        return "the file name is too long"
    if code in (errno.EINVAL, errno.EILSEQ):
        return "the file name is not valid here"
    return error.strerror or str(error) or type(error).__name__


# File systems the kernel makes up on the fly: nothing can be saved there.
_SPECIAL_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "configfs",
        "fusectl",
        "pstore",
        "bpf",
        "mqueue",
        "binfmt_misc",
        "efivarfs",
        "hugetlbfs",
    }
)


def describe_error(path: str | os.PathLike[str], error: BaseException) -> str:
    """One line naming the file and the reason: ``cannot write /x/run.csv: the disk is full``.

    A :class:`WriteError` says it already; another ``OSError`` gets the reason a
    :class:`WriteError` would give; anything else its own message.
    """
    if isinstance(error, WriteError):
        return str(error)
    if isinstance(error, OSError):
        return str(WriteError(path, _reason(error, Path(path)), error.errno))
    return f"cannot write {os.fspath(path)}: {error}"


def _special_filesystem(folder: Path) -> str | None:
    """The type of the file system holding ``folder`` if it is a kernel one (``proc``, ``sysfs``),
    from ``/proc/self/mounts`` (Linux; None elsewhere or if unknown)."""
    try:
        resolved = os.path.realpath(folder)
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as handle:
            mounts = [line.split()[:3] for line in handle]
    except OSError:
        return None
    best, kind = "", None
    for fields in mounts:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind if kind in _SPECIAL_FILESYSTEMS else None


def _first_non_folder(folder: Path) -> Path:
    """The first ancestor-or-self of ``folder`` that exists but is not a folder."""
    for candidate in reversed([folder, *folder.parents]):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return folder


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable. Not possible on every platform (Windows); best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Temporary files are named ``.gradsim-<pid>-<random>.tmp<suffix>``: hidden, marked as gradsim's,
# and carrying the writer's process id, so that a later save into the same folder can remove the
# ones whose writer is gone (killed during a save: kill -9 leaves no chance to clean up).
TEMP_PREFIX = ".gradsim-"
_TEMP_NAME = re.compile(r"\.gradsim-(\d+)-[A-Za-z0-9_]+\.tmp(\.[^/]*)?")


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine). Unknown counts as alive."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists but belongs to someone else, or cannot tell
    return True


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove gradsim's temporary files in ``folder`` whose writing process no longer exists.

    Only names of the form ``.gradsim-<pid>-<random>.tmp<suffix>`` are touched; files of a process
    that is still running (this one included) are kept. Best effort: a file that cannot be
    removed is left. Returns the files removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or _process_alive(int(match.group(1))):
                continue
            os.unlink(entry.path)
        except (OSError, ValueError):
            continue
        removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    For writers that want a file name rather than a file object (``np.savez``, image
    exporters). The temporary name keeps the target's extension, since such writers often pick
    a format from it (``np.savez`` appends ``.npz`` to any other name).

    Parameters
    ----------
    path : the file to write.

    Raises
    ------
    WriteError
        If the temporary file cannot be created, written, flushed or renamed; the temporary file
        is removed and the target is left as it was. Exceptions raised by the body that are not
        ``OSError`` are re-raised unchanged (after the same clean-up).
    """
    target = Path(os.fspath(path))
    if target.name in ("", ".", ".."):
        raise WriteError(target, "the file name is empty", errno.EINVAL)
    if target.is_dir():
        raise WriteError(target, "a folder of that name exists", errno.EISDIR)
    folder = target.parent
    remove_stale_temp_files(folder)
    try:
        fd, temp_name = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=f".tmp{target.suffix}", dir=folder
        )
        os.close(fd)
    except OSError as error:
        raise WriteError(target, _reason(error, target), error.errno) from error
    try:
        yield Path(temp_name)
        _fsync_file(temp_name)
        os.chmod(temp_name, _FILE_MODE)
        os.replace(temp_name, target)
    except OSError as error:
        _remove_quietly(temp_name)
        if isinstance(error, WriteError):
            raise
        raise WriteError(target, _reason(error, target), error.errno) from error
    except BaseException:
        _remove_quietly(temp_name)
        raise
    _fsync_folder(folder)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; on success it replaces ``path``.

    ``mode`` is ``"w"`` (text, ``encoding``/``newline`` as for :func:`open`) or ``"wb"``. Errors
    as for :func:`atomic_path`.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb' (got {mode!r})")
    with atomic_path(path) as temp:
        handle: IO[Any]
        if mode == "wb":
            handle = open(temp, "wb")
        else:
            handle = open(temp, "w", encoding=encoding, newline=newline)
        with handle:
            yield handle


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, newlines as given (see :func:`atomic_path`)."""
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


def atomic_savez(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an NPZ archive (no pickles) to ``path`` atomically, under that name."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
