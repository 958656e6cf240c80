"""Shared setup of the window tests: isolated QSettings, the engine's own records to compare with,
and the one ``make_window`` fixture.

Every test gets its own settings folder under ``tmp_path`` (INI format), as QT-NOTES asks, so a
test can neither read a developer's stored window state nor leave one behind.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shiboken6
from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.teardown import qt_garbage_census
from gradsim.ui.common.workers import _RUNNING

# GRADSIM_GC_CENSUS=1 (or =holders, to also name the attribute that held each object): every UI
# test keeps what the cyclic collector finds (gc.DEBUG_SAVEALL) and the session's report lists
# the live, Python-owned Qt objects in it (docs/architecture.md, "Garbage collection").
CENSUS_ENV = "GRADSIM_GC_CENSUS"
_CENSUS: list[tuple[str, dict[str, int]]] = []


def _census_requested() -> str:
    value = os.environ.get(CENSUS_ENV, "").strip()
    return "" if value == "0" else value


@pytest.fixture(autouse=True)
def garbage_census(request: pytest.FixtureRequest):
    """With ``GRADSIM_GC_CENSUS=1``: what the cyclic collector frees during a UI test is kept.

    Python's automatic collection stays on, as in the app: it fires on whichever thread
    allocates (the training, export and diagnosis workers too), so this whole suite is also the
    check that no live Qt object is ever left to it (docs/architecture.md, "Garbage collection").
    With ``GRADSIM_GC_CENSUS=1`` every collection during the test keeps what it finds
    (``gc.DEBUG_SAVEALL``), and after the test (its windows closed) the live, Python-owned Qt
    objects among it are counted by class for the session's report.
    """
    census = _census_requested()
    if census:
        gc.collect()
        gc.set_debug(gc.get_debug() | gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        if census:
            found = qt_garbage_census(holders=census == "holders")
            if found:
                _CENSUS.append((request.node.nodeid, found))


@pytest.fixture(autouse=True)
def added_widgets_closed_with_the_test(qtbot, monkeypatch: pytest.MonkeyPatch):
    """Each widget a test gives ``qtbot.addWidget`` is closed when the test ends, as the app
    closes its own offscreen plots and dashboards before it drops them.

    pytest-qt keeps only a weak reference, so a standalone plot panel whose test ended usually
    died with the test's frame, unclosed, leaving its parked pyqtgraph objects to the collector.
    Held here until the test's fixtures end, it is closed (its ``closeEvent`` releases them on
    this thread, see gradsim/ui/common/teardown.py) and then deleted.
    """
    added: dict[int, QtWidgets.QWidget] = {}
    add = qtbot.addWidget

    def add_and_hold(widget: QtWidgets.QWidget, *, before_close_func=None) -> None:
        key = id(widget)
        added[key] = widget
        # A widget deleted before the test ends (a dialog deleted on close) is let go at once:
        # pytest-qt must not find a live wrapper of a deleted object.
        widget.destroyed.connect(lambda *_: added.pop(key, None))
        add(widget, before_close_func=before_close_func)

    monkeypatch.setattr(qtbot, "addWidget", add_and_hold)
    yield
    for widget in list(added.values()):
        if shiboken6.isValid(widget):
            widget.close()
            widget.deleteLater()
    added.clear()


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


@pytest.fixture(autouse=True)
def training_runner_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """The UI tests' windows train in a thread unless ``GRADSIM_RUNNER`` says otherwise.

    A thread starts at once and its simulation can be inspected; the application's default is
    the training process, which the runner tests (both kinds), the window's transport and close
    tests and the A/B pair test run explicitly. ``GRADSIM_RUNNER=process pytest tests/ui`` runs
    every window test with the process (those that inspect the simulation ask for
    ``thread_runner``). Returns the kind.
    """
    kind = os.environ.get("GRADSIM_RUNNER") or "thread"
    monkeypatch.setenv("GRADSIM_RUNNER", kind)
    return kind


@pytest.fixture
def thread_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows made in this test train in a thread: the test inspects the worker's simulation."""
    monkeypatch.setenv("GRADSIM_RUNNER", "thread")


@pytest.fixture(scope="session")
def engine_records() -> Callable[[SimConfig, int], list[StepRecord]]:
    """``engine_records(config, count)``: the first ``count`` records of a fresh Simulation."""

    def run(config: SimConfig, count: int) -> list[StepRecord]:
        simulation = Simulation(config)
        records = []
        for _ in range(count):
            record = simulation.train_step()
            assert record is not None
            records.append(record)
        return records

    return run


@pytest.fixture(scope="session")
def assert_same_record() -> Callable[[StepRecord, StepRecord], None]:
    """``assert_same_record(expected, actual)``: every field equal, bit for bit (NaN equals NaN)."""

    def check(expected: StepRecord, actual: StepRecord) -> None:
        for field in dataclasses.fields(StepRecord):
            want, got = getattr(expected, field.name), getattr(actual, field.name)
            if isinstance(want, np.ndarray):
                np.testing.assert_array_equal(got, want, err_msg=field.name, strict=True)
            elif isinstance(want, float):
                assert got == want or (math.isnan(got) and math.isnan(want)), field.name
            elif isinstance(want, dict):
                # param_grad_norms, update_ratios: floats that are NaN after an overflow.
                assert got.keys() == want.keys(), field.name
                for key, value in want.items():
                    same = got[key] == value or (math.isnan(got[key]) and math.isnan(value))
                    assert same, (field.name, key)
            else:
                assert got == want, field.name

    return check


class ForwardProbe:
    """Counts the forward pass's activation calls (one per layer and time step) of a simulation.

    Installed on the GUI thread while the run is paused, around the runner's own checkpoint;
    ``started`` is set by the first call.
    """

    def __init__(self, simulation: Simulation) -> None:
        self.calls = 0
        self.started = threading.Event()
        inner = simulation.activation.forward

        def forward(z: np.ndarray, **buffers: np.ndarray | None) -> np.ndarray:
            self.calls += 1
            self.started.set()
            return inner(z, **buffers)

        simulation.activation = dataclasses.replace(simulation.activation, forward=forward)


@pytest.fixture(scope="session")
def forward_probe() -> type[ForwardProbe]:
    """The :class:`ForwardProbe` class (test modules cannot import conftest)."""
    return ForwardProbe


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The census (``GRADSIM_GC_CENSUS=1``): live Qt objects left to the collector, per test."""
    if not _census_requested():
        return
    totals: dict[str, int] = {}
    terminalreporter.section("live Qt objects in the cyclic garbage (GRADSIM_GC_CENSUS)")
    for nodeid, found in _CENSUS:
        terminalreporter.write_line(f"{nodeid}: {found}")
        for name, count in found.items():
            totals[name] = totals.get(name, 0) + count
    ordered = dict(sorted(totals.items(), key=lambda pair: (-pair[1], pair[0])))
    terminalreporter.write_line(f"tests with live Qt objects in the garbage: {len(_CENSUS)}; {ordered}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "window(config=None, features=None, size=None, steps=0, activate=False, after_close=None): "
        "what make_window builds by default in a test module",
    )


_DEFAULT = object()


@pytest.fixture
def make_window(qtbot, request: pytest.FixtureRequest):
    """``make_window(config, *, features, steps, size, show=True, settings=None)``: a MainWindow.

    It installs only ``features`` (module names of ``FEATURE_MODULES``; None: all), is shown
    (resized to ``size`` first, and made the active window with ``activate``: shortcuts reach
    the active window only), has its first simulation built, and has taken ``steps`` training
    steps, each drawn. Defaults come from the module's ``window`` marker (``config=None`` restores the last
    session's). Every window is closed after the test, ``after_close(window)`` must then hold,
    and no worker thread may outlive it.
    """
    from gradsim.ui.main_window import MainWindow

    marker = request.node.get_closest_marker("window")
    defaults = dict(marker.kwargs) if marker is not None else {}
    windows: list[MainWindow] = []

    def make(
        config: object = _DEFAULT,
        *,
        features: object = _DEFAULT,
        steps: object = _DEFAULT,
        size: tuple[int, int] | None = None,
        show: bool = True,
        settings: QtCore.QSettings | None = None,
    ) -> MainWindow:
        chosen = defaults.get("config") if config is _DEFAULT else config
        installed = defaults.get("features") if features is _DEFAULT else features
        window = MainWindow(
            chosen,  # type: ignore[arg-type]
            settings=settings if settings is not None else QtCore.QSettings(),
            features=installed,  # type: ignore[arg-type]
        )
        if settings is None:
            window.settings.setParent(window)  # Qt's, deleted with the window on this thread
        qtbot.addWidget(window)
        windows.append(window)
        drawn = [0]

        def on_refreshed(history: object, config: object) -> None:
            latest = window.history.latest
            drawn[0] = 0 if latest is None else latest.iteration

        window.dashboard.refreshed.connect(on_refreshed)
        size = size if size is not None else defaults.get("size")
        if size is not None:
            window.resize(*size)
        if show:
            window.show()
            qtbot.waitExposed(window)
            if defaults.get("activate"):
                window.activateWindow()
                qtbot.waitUntil(window.isActiveWindow)
        if window.runner.built_config is None:
            with qtbot.waitSignal(window.runner.rebuilt, timeout=10000):
                pass
        count = int(defaults.get("steps", 0) if steps is _DEFAULT else steps)  # type: ignore[call-overload]
        for done in range(1, count + 1):
            window.runner.step()
            qtbot.waitUntil(lambda done=done: drawn[0] == done, timeout=20000)
        return window

    yield make
    after_close = defaults.get("after_close")
    for window in windows:
        window.close()
        assert not window.runner.thread.isRunning()
        assert window.runner.process_id is None  # a training process ended with its window
        if after_close is not None:
            assert after_close(window)
    assert not [thread.objectName() for thread in _RUNNING if thread.isRunning()]
