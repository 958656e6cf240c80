"""Shared setup of the window tests: QSettings never touch the user's files.

Every test gets its own settings folder under ``tmp_path`` (INI format), as QT-NOTES asks, so a
test can neither read a developer's stored window state nor leave one behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Path:
    """Point QSettings' user scope at a fresh folder for this test; returns the folder."""
    folder = tmp_path / "settings"
    folder.mkdir()
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(folder))
    QtCore.QCoreApplication.setOrganizationName("gradsim-tests")
    QtCore.QCoreApplication.setApplicationName("gradsim-tests")
    return folder
