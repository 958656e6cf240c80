"""What the readers of gradsim's own files share: a refused file as the reader's own error, the
reader chosen by a file's extension, the format marker (name and version) such a file carries,
and the reason for a refusal on one line.

The hardened readers themselves (size limits, no pickles, bounded nesting) are in
:mod:`gradsim.engine.safe_read`; each file kind raises its own error type (``RunFileError``,
``SweepFileError``) with a message that names the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from gradsim.engine.safe_read import FileReadError

Read = TypeVar("Read")


def read_or_raise(
    path: str | os.PathLike[str],
    read: Callable[[Path, int, str], Read],
    limit: int,
    what: str,
    error: Callable[[str], Exception],
) -> tuple[Path, Read]:
    """``(file, read(file, limit, what))``, ``read`` being one of :mod:`~gradsim.engine.safe_read`'s readers.

    A file ``read`` refuses raises ``error("<file>: <reason>")`` instead (the file kind's own
    error type), without the :class:`~gradsim.engine.safe_read.FileReadError` behind it.
    """
    file = Path(os.fspath(path))
    try:
        return file, read(file, limit, what)
    except FileReadError as refused:
        raise error(f"{file}: {refused.reason}") from None


def read_by_suffix(
    path: str | os.PathLike[str],
    readers: Mapping[str, Callable[[str | os.PathLike[str]], Read]],
    what: str,
    error: Callable[[str], Exception],
) -> Read:
    """``readers[suffix](path)``, ``suffix`` being the extension of ``path`` in lower case.

    Another extension raises ``error("<path>: cannot read <what> from a .txt file; use .npz or
    .csv")``, listing the keys of ``readers`` in order.
    """
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in readers:
        raise error(
            f"{path}: cannot read {what} from a {suffix or 'nameless'} file; use {' or '.join(readers)}"
        )
    return readers[suffix](path)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters ending in "..."."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_reason(error: BaseException, limit: int = 200) -> str:
    """What an exception raised while reading a file says, for a message: ``missing 'name'`` for a
    KeyError, else its text (its type's name when it has none) by :func:`one_line`; numpy and
    ``int()`` messages may quote whole values, and a cell of a damaged file may be huge."""
    if isinstance(error, KeyError):
        return f"missing {error.args[0]!r}" if error.args else "missing data"
    return one_line(str(error), limit) or type(error).__name__


def npz_marker(archive: dict[str, np.ndarray]) -> tuple[str | None, int | None]:
    """The ``format`` name and ``version`` a gradsim NPZ archive carries (None where missing).

    Raises ValueError, TypeError, IndexError or OverflowError for a marker that is not a scalar
    of the right kind, as ``int()`` and ``[()]`` do: the reader's own checks answer those.
    """
    name = str(archive["format"][()]) if "format" in archive else None
    version = int(archive["version"][()]) if "version" in archive else None
    return name, version


def check_marker(
    file: Path,
    marker: tuple[str | None, int | None],
    expected: tuple[str, int],
    words: tuple[str, str],
    error: Callable[[str], Exception],
) -> None:
    """Raise ``error`` unless ``marker`` (name, version) names the ``expected`` format at a version
    this gradsim reads (up to ``expected``'s).

    ``words`` are what the file is and how its version is called, for the messages:
    ``("run export", "format version")`` gives "<file>: not a gradsim run export (no format
    'gradsim-run' marker)" and "<file>: written by a newer gradsim (format version 2; this one
    reads up to 1)".
    """
    (name, version), (expected_name, newest) = marker, expected
    what, version_word = words
    if name != expected_name:
        raise error(f"{file}: not a gradsim {what} (no format {expected_name!r} marker)")
    if version is None or version > newest:
        raise error(
            f"{file}: written by a newer gradsim ({version_word} {version}; this one reads up to {newest})"
        )
