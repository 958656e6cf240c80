"""The File feature's names without a window: the recent-files list in the settings and the file
names a dialog's answer turns into."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore

from gradsim.ui.features.files.file_names import (
    MAX_RECENT,
    RECENT_KEY,
    forget_recent,
    recent_files,
    remember_recent,
    suffix_of_filter,
    with_suffix,
)

FILTERS = {".toml": "TOML config (*.toml)", ".json": "JSON config (*.json)"}


@pytest.fixture
def settings(tmp_path: Path) -> QtCore.QSettings:
    return QtCore.QSettings(str(tmp_path / "recent.ini"), QtCore.QSettings.Format.IniFormat)


def test_suffixes(tmp_path):
    assert with_suffix(tmp_path / "run", (".csv", ".json"), ".csv") == tmp_path / "run.csv"
    assert with_suffix(tmp_path / "run.JSON", (".csv", ".json"), ".csv") == tmp_path / "run.JSON"
    assert with_suffix(tmp_path / "run.v2", (".toml",), ".toml") == tmp_path / "run.v2.toml"


def test_the_suffix_of_the_selected_filter():
    assert suffix_of_filter("JSON config (*.json)", FILTERS, ".toml") == ".json"
    assert suffix_of_filter("TOML config (*.toml)", FILTERS, ".json") == ".toml"
    assert suffix_of_filter("", FILTERS, ".toml") == ".toml"  # no filter chosen: the default


def test_recent_files_newest_first_once_and_capped(settings, tmp_path):
    paths = [str(tmp_path / f"c{number}.toml") for number in range(MAX_RECENT + 2)]
    for path in paths:
        remember_recent(settings, path)
    assert recent_files(settings) == paths[::-1][:MAX_RECENT]
    # The same file spelled another way moves to the front instead of appearing twice.
    again = remember_recent(settings, tmp_path / "sub" / ".." / "c5.toml")
    assert again == [paths[5], *(p for p in paths[::-1][:MAX_RECENT] if p != paths[5])]
    assert recent_files(settings) == again


def test_forget_one_recent_file_or_all(settings, tmp_path):
    for name in ("a.toml", "b.toml", "c.toml"):
        remember_recent(settings, tmp_path / name)
    assert forget_recent(settings, tmp_path / "b.toml") == [
        str(tmp_path / "c.toml"),
        str(tmp_path / "a.toml"),
    ]
    assert forget_recent(settings) == [] and recent_files(settings) == []


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("", []), ("one.toml", ["one.toml"]), (["a.toml", "", "b.toml"], ["a.toml", "b.toml"]), (7, [])],
)
def test_what_ini_settings_give_back_is_read_as_a_list(settings, stored, expected):
    # INI settings return a one-element list as a plain string; a damaged file may hold anything.
    settings.setValue(RECENT_KEY, stored)
    assert recent_files(settings) == expected
