"""Test-wide settings: Qt renders offscreen so the suite runs without a display, and the user's
cache folder is a temporary one."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


@pytest.fixture(autouse=True, scope="session")
def user_cache_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory):
    """The sweep store's default place is the user's cache folder ($XDG_CACHE_HOME): in tests, a
    temporary one, so no test reads or fills the developer's own store (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        yield
