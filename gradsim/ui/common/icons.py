"""The application's icons (``resources/icons/*.svg``), by name."""

from __future__ import annotations

from importlib import resources

from PySide6 import QtGui


def icon(name: str) -> QtGui.QIcon:
    """The icon ``resources/icons/<name>.svg`` (an empty icon if the file is missing)."""
    path = resources.files("gradsim.resources") / "icons" / f"{name}.svg"
    return QtGui.QIcon(str(path)) if path.is_file() else QtGui.QIcon()
