"""The names the File feature works with, no widget: the recent-files list and dialog file names.

The recent config files are kept in the settings under :data:`RECENT_KEY`, newest first, at
most :data:`MAX_RECENT`; :func:`with_suffix` and :func:`suffix_of_filter` turn what a file
dialog returned (a typed name, the selected filter) into the file to write.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6 import QtCore

RECENT_KEY = "files/recent"
MAX_RECENT = 8


def recent_files(settings: QtCore.QSettings) -> list[str]:
    """The recent config files stored in ``settings``, newest first (at most :data:`MAX_RECENT`)."""
    value = settings.value(RECENT_KEY, [])
    # INI settings give a one-element list back as a plain string, and an empty one as None/"".
    if value is None or value == "":
        items: list[Any] = []
    elif isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:  # not a list: a damaged settings file
        items = []
    return [str(item) for item in items if str(item)][:MAX_RECENT]


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def remember_recent(settings: QtCore.QSettings, path: str | os.PathLike[str]) -> list[str]:
    """Put ``path`` first in the recent list (once; the oldest beyond the cap drop off); returns it."""
    path = os.path.abspath(os.fspath(path))
    files = [path, *(item for item in recent_files(settings) if not _same_file(item, path))][:MAX_RECENT]
    settings.setValue(RECENT_KEY, files)
    settings.sync()
    return files


def forget_recent(settings: QtCore.QSettings, path: str | os.PathLike[str] | None = None) -> list[str]:
    """Remove ``path`` from the recent list (every entry if None); returns what remains."""
    files = [] if path is None else [f for f in recent_files(settings) if not _same_file(f, os.fspath(path))]
    settings.setValue(RECENT_KEY, files)
    settings.sync()
    return files


def with_suffix(path: str | os.PathLike[str], suffixes: Collection[str], default: str) -> Path:
    """``path`` if its extension is one of ``suffixes`` (any case), else ``path`` + ``default``.

    A file dialog returns what was typed: ``run`` or ``run.v2`` get the chosen filter's extension
    instead of being refused.
    """
    file = Path(os.fspath(path))
    if file.suffix.lower() in suffixes:
        return file
    return file.with_name(file.name + default)


def suffix_of_filter(selected: str, filters: dict[str, str], default: str) -> str:
    """The extension whose filter text is ``selected`` (``default`` if none is)."""
    for suffix, text in filters.items():
        if text == selected:
            return suffix
    return default
