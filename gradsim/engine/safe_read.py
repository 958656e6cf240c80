"""The one hardened way gradsim reads a file: configs, presets, lessons, run exports, sweeps.

A file chosen by a user may be anything: a named pipe that blocks forever, a device, a folder, a
gigabyte of text, JSON nested a million levels deep, an integer of a million digits, an NPZ
archive whose header promises a terabyte. Every reader goes through this module, which turns
all of that into one :class:`FileReadError` whose ``reason`` is one line, before (or instead
of) doing the expensive or dangerous thing:

- :func:`open_regular` refuses what is not a regular file *before* opening it (``os.stat``), opens
  with ``O_NONBLOCK`` so that a pipe swapped in after the check cannot block, checks again on the
  open descriptor (``os.fstat``), and refuses a file over the size limit of its format;
- :func:`read_bytes` reads at most ``limit + 1`` bytes, so a file that grows (or a ``/proc`` file
  that reports size 0) cannot exceed the limit either;
- :func:`parse_toml` and :func:`parse_json` bound the nesting depth explicitly before parsing (a
  linear scan) and after (an iterative walk of the result), and turn the digit limit of Python's
  int conversion, recursion and overflow into one-line reasons;
- :func:`load_npz` checks each archive member's declared size and ``.npy`` header against the
  limit before numpy allocates anything, and loads with ``allow_pickle=False``.

The callers wrap ``reason`` in their own error type (``ConfigError``, ``RunFileError``,
``SweepFileError``, ``LessonError``), which names the file.

It sits in the engine, the lowest layer, because the engine itself reads files (presets and
lessons) and may not import the file layer above it; ``gradsim.io`` uses it from here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from .formatting import format_bytes

__all__ = [
    "CONFIG_LIMIT",
    "LESSON_LIMIT",
    "MAX_DEPTH",
    "RUN_JSON_LIMIT",
    "RUN_NPZ_LIMIT",
    "SWEEP_CSV_LIMIT",
    "SWEEP_NPZ_LIMIT",
    "WEIGHTS_LIMIT",
    "FileReadError",
    "load_npz",
    "open_regular",
    "parse_json",
    "parse_toml",
    "read_bytes",
    "read_json",
    "read_text",
    "read_toml",
]

# Size limits per format. A config or preset is a few hundred bytes: a megabyte is not one. Run
# exports hold L x T numbers per record (16 x 2000 at most); half a gigabyte of JSON already takes
# a few GB of Python objects once parsed, the uncompressed arrays of an NPZ about their own size.
CONFIG_LIMIT = 1 << 20
LESSON_LIMIT = 1 << 20
RUN_JSON_LIMIT = 512 << 20
RUN_NPZ_LIMIT = 2 << 30
SWEEP_CSV_LIMIT = 64 << 20
SWEEP_NPZ_LIMIT = 512 << 20
# Network weights (.safetensors, .npz): the largest network a config allows (16 LSTM layers of
# 1024 units in float64) is about 1.1 GB.
WEIGHTS_LIMIT = 2 << 30
# No gradsim document nests deeper than 5 levels (a run export: object, records, record,
# grad_norms, layer); 64 leaves room and stays far from the parsers' recursion limits.
MAX_DEPTH = 64

_READ_CHUNK = 1 << 20
_SCAN_CHUNK = 1 << 24


class FileReadError(ValueError):
    """A file cannot be read safely. ``reason`` is one line without the file name.

    ``str(error)`` is ``"<path>: <reason>"``; readers usually re-raise ``reason`` in their own
    error type, which names the file its own way.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _os_reason(error: OSError) -> str:
    code = error.errno
    if code == errno.ENOENT:
        return "no such file"
    if code in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    if code == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    if code == errno.ELOOP:
        return "too many symbolic links"
    if code == errno.ENAMETOOLONG:
        return "the file name is too long"
    return f"cannot be read ({error.strerror or error})"


def _check_stat(path: str | os.PathLike[str], mode: int, size: int, limit: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise FileReadError(path, f"is {_kind(mode)}, not a file")
    if size > limit:
        raise FileReadError(
            path, f"is {format_bytes(size)}, too large for {what} (the limit is {format_bytes(limit)})"
        )


@contextlib.contextmanager
def open_regular(
    path: str | os.PathLike[str], limit: int, what: str = "this kind of file"
) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading if it is a regular file of at most ``limit`` bytes.

    Parameters
    ----------
    path : the file.
    limit : the largest size accepted, in bytes.
    what : the format in words, for the size message (``"a config"``).

    Raises
    ------
    FileReadError
        Missing, not permitted, not a regular file (folder, pipe, device, socket), or too large.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        raise FileReadError(path, _os_reason(error)) from None
    except ValueError:  # an embedded NUL byte in the name
        raise FileReadError(path, "the file name is not valid") from None
    _check_stat(path, info.st_mode, info.st_size, limit, what)
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    )
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise FileReadError(path, _os_reason(error)) from None
    try:
        # The file may have been swapped between stat and open: check what was opened.
        info = os.fstat(fd)
        _check_stat(path, info.st_mode, info.st_size, limit, what)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_bytes(path: str | os.PathLike[str], limit: int, what: str = "this kind of file") -> bytes:
    """The content of regular file ``path``, at most ``limit`` bytes (see :func:`open_regular`).

    Raises
    ------
    FileReadError
        As :func:`open_regular`, or the content turns out longer than ``limit`` (a file that grew,
        or one that reports no size such as those of ``/proc``).
    """
    with open_regular(path, limit, what) as handle:
        chunks: list[bytes] = []
        total = 0
        try:
            while total <= limit:
                chunk = handle.read(min(_READ_CHUNK, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError as error:
            raise FileReadError(path, _os_reason(error)) from None
    if total > limit:
        raise FileReadError(
            path,
            f"is more than {format_bytes(limit)}, too large for {what} (the limit is {format_bytes(limit)})",
        )
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], limit: int, what: str = "this kind of file") -> str:
    """The content of ``path`` as UTF-8 text (see :func:`read_bytes`); a BOM is dropped."""
    return _decode(path, read_bytes(path, limit, what))


def _decode(path: str | os.PathLike[str], data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileReadError(path, f"is not UTF-8 text (byte {error.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


# -- depth --------------------------------------------------------------------------------------


def _json_depth(text: str, limit: int) -> int:
    """Deepest nesting of ``[``/``{`` outside strings in JSON ``text`` (stops counting past ``limit``).

    Linear and vectorised: escaped backslashes and quotes are removed first (they pair from the
    left, as ``bytes.replace`` scans), then every remaining quote toggles "inside a string".
    """
    data = text.encode("utf-8", "surrogatepass").replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = 0
    inside = False
    deepest = 0
    for start in range(0, len(data), _SCAN_CHUNK):
        chunk = np.frombuffer(data, dtype=np.uint8, count=min(_SCAN_CHUNK, len(data) - start), offset=start)
        quotes = np.cumsum(chunk == ord('"'), dtype=np.int64)
        outside = (quotes % 2 == 1) if inside else (quotes % 2 == 0)
        step = np.zeros(len(chunk), dtype=np.int32)
        step[((chunk == ord("[")) | (chunk == ord("{"))) & outside] = 1
        step[((chunk == ord("]")) | (chunk == ord("}"))) & outside] = -1
        levels = np.cumsum(step, dtype=np.int64) + depth
        if len(levels):
            deepest = max(deepest, int(levels.max()))
            depth = int(levels[-1])
            inside = inside != bool(quotes[-1] % 2)
        if deepest > limit:
            break
    return deepest


# Possessive quantifiers (``*+``, ``++``) and a final alternative that consumes a whole bare word
# keep the scan linear: without them a run of thousands of digits is retried from every position
# (quadratic; a fuzzed 6000-digit number took minutes).
_TOML_KEY = r"""(?:[A-Za-z0-9_-]++|"(?:[^"\\\n]|\\.)*+"|'[^'\n]*+')"""
_TOML_TOKENS = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\''  # multi-line strings
    rf"|(?P<dotted>{_TOML_KEY}(?:[ \t]*+\.[ \t]*+{_TOML_KEY})++)"  # a dotted key: one table per part
    r'|"(?:[^"\\\n]|\\.)*+"|\'[^\'\n]*+\'|#[^\n]*+|[\[\]{}]|[A-Za-z0-9_-]++'
)
_TOML_KEY_PART = re.compile(_TOML_KEY)


def _toml_depth(text: str, limit: int) -> int:
    """Deepest nesting in TOML ``text``: arrays, inline tables and dotted keys, strings and comments
    skipped (stops counting past ``limit``).

    Dotted keys matter as much as brackets: ``a.b.c...`` nests a table per part, and tomllib's
    bookkeeping for them is quadratic in the number of parts (100 000 parts take minutes).
    """
    depth = deepest = 0
    for match in _TOML_TOKENS.finditer(text):
        token = match.group()
        if match.group("dotted") is not None:
            parts = len(_TOML_KEY_PART.findall(token))
            deepest = max(deepest, depth + parts)
        elif token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth = max(depth - 1, 0)
        if deepest > limit:
            break
    return deepest


def _value_depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed lists and dicts, walked without recursion (dotted TOML keys nest
    tables without any bracket); stops past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _too_deep(path: str | os.PathLike[str], limit: int) -> FileReadError:
    return FileReadError(path, f"is nested more than {limit} levels deep")


def _number_reason(error: ValueError) -> str | None:
    text = str(error)
    if "digits" in text and "limit" in text.lower():
        return f"holds a number of more than {_max_digits()} digits"
    return None


def _max_digits() -> int:
    get = getattr(__import__("sys"), "get_int_max_str_digits", None)
    return int(get()) if get is not None and get() else 4300


# -- parsers ------------------------------------------------------------------------------------


def parse_toml(
    text: str, path: str | os.PathLike[str] = "<text>", max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """Parse TOML ``text`` with bounded nesting.

    Raises
    ------
    FileReadError
        Malformed TOML (with tomllib's line and column), nested deeper than ``max_depth``, a
        number past the int conversion digit limit, or anything else the parser chokes on.
    """
    data: dict[str, Any] = _parse_bounded(text, path, max_depth, _TOML)
    return data


def parse_json(text: str, path: str | os.PathLike[str] = "<text>", max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``text`` with bounded nesting (errors as for :func:`parse_toml`)."""
    return _parse_bounded(text, path, max_depth, _JSON)


@dataclass(frozen=True)
class _Language:
    """What :func:`_parse_bounded` needs to know of a text format.

    Attributes
    ----------
    name : for messages (``"malformed TOML: ..."``)
    text_depth : the nesting depth seen in the text, counted up to a limit (before parsing)
    loads : the parser
    syntax_error : the parser's own error in words (None for any other ValueError)
    """

    name: str
    text_depth: Callable[[str, int], int]
    loads: Callable[[str], Any]
    syntax_error: Callable[[ValueError], str | None]


def _toml_syntax_error(error: ValueError) -> str | None:
    return str(error) if isinstance(error, tomllib.TOMLDecodeError) else None


def _json_syntax_error(error: ValueError) -> str | None:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (line {error.lineno}, column {error.colno})"
    return None


_TOML = _Language("TOML", _toml_depth, tomllib.loads, _toml_syntax_error)
_JSON = _Language("JSON", _json_depth, json.loads, _json_syntax_error)


def _parse_bounded(text: str, path: str | os.PathLike[str], max_depth: int, language: _Language) -> Any:
    """``language.loads(text)``, every failure a FileReadError: nesting deeper than ``max_depth``
    in the text (checked first, so that the parser cannot exhaust the stack) or in the value,
    malformed text, a number past the int conversion digit limit."""
    if language.text_depth(text, max_depth) > max_depth:
        raise _too_deep(path, max_depth)
    try:
        data = language.loads(text)
    except RecursionError:
        raise _too_deep(path, max_depth) from None
    except (ValueError, OverflowError) as error:
        reason = None
        if isinstance(error, ValueError):
            syntax = language.syntax_error(error)
            reason = _number_reason(error) if syntax is None else f"malformed {language.name}: {syntax}"
        raise FileReadError(path, reason or f"malformed {language.name}: {error}") from None
    if _value_depth(data, max_depth) > max_depth:
        raise _too_deep(path, max_depth)
    return data


def read_toml(path: str | os.PathLike[str], limit: int, what: str = "a config") -> dict[str, Any]:
    """Read and parse a TOML file (:func:`read_text` then :func:`parse_toml`)."""
    return parse_toml(read_text(path, limit, what), path)


def read_json(path: str | os.PathLike[str], limit: int, what: str = "this kind of file") -> Any:
    """Read and parse a JSON file (:func:`read_text` then :func:`parse_json`)."""
    return parse_json(read_text(path, limit, what), path)


# -- NPZ ----------------------------------------------------------------------------------------


def _check_npz_members(path: str | os.PathLike[str], handle: BinaryIO, limit: int, what: str) -> None:
    """Refuse an archive whose members would take more than ``limit`` bytes once loaded."""
    with zipfile.ZipFile(handle) as archive:
        members = archive.infolist()
        declared = sum(member.file_size for member in members)
        if declared > limit:
            raise FileReadError(
                path,
                f"holds {format_bytes(declared)} of arrays, too large for {what} "
                f"(the limit is {format_bytes(limit)})",
            )
        for member in members:
            if not member.filename.endswith(".npy"):
                continue
            with archive.open(member) as entry:
                version = np.lib.format.read_magic(entry)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(entry)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(entry)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
            if dtype.hasobject:
                raise FileReadError(path, f"array {member.filename[:-4]!r} holds Python objects (not loaded)")
            needed = math.prod(shape) * dtype.itemsize
            if needed > member.file_size:
                raise FileReadError(
                    path,
                    f"array {member.filename[:-4]!r} claims {format_bytes(needed)} but holds "
                    f"{format_bytes(member.file_size)}",
                )
    handle.seek(0)


def load_npz(
    path: str | os.PathLike[str], limit: int, what: str = "this kind of file"
) -> dict[str, np.ndarray]:
    """Every array of the NPZ archive ``path``, loaded without pickles.

    Each member's declared size and ``.npy`` header are checked against ``limit`` and the
    member's size before numpy allocates anything.

    Raises
    ------
    FileReadError
        As :func:`open_regular`, or the file is not a valid NPZ archive (empty, truncated, not a
        zip, a member that is not an array, an array of Python objects, sizes that do not add up).
    """
    with open_regular(path, limit, what) as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise FileReadError(path, "is empty, not an NPZ archive")
        try:
            _check_npz_members(path, handle, limit, what)
            with np.load(handle, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except FileReadError:
            raise
        except OSError as error:
            raise FileReadError(path, _os_reason(error)) from None
        except MemoryError:
            raise FileReadError(path, "its arrays do not fit in memory") from None
        except (
            EOFError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            RuntimeError,
            NotImplementedError,
            OverflowError,
            zlib.error,
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            UnicodeDecodeError,
            SyntaxError,
        ) as error:
            detail = (
                "the file ends early" if isinstance(error, EOFError) else (str(error) or type(error).__name__)
            )
            raise FileReadError(path, f"not a valid NPZ archive ({' '.join(detail.split())[:200]})") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise FileReadError(path, f"not a valid NPZ archive (member {name[:80]!r} is not an array)")
    return arrays
