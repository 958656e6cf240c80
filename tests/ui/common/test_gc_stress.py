"""The cyclic garbage collector running on the training thread while the window works.

Python collects cycles on whichever thread happens to allocate. This test makes the worst case
happen on purpose: the training loop calls ``gc.collect()`` at its checkpoints (every few time
steps of every forward pass) while the GUI thread keeps making garbage cycles that hold Qt
wrappers the way the window does (parented timers and widgets, restarted runs whose plots are
cleared), and automatic collection is left on. The window must keep
training and drawing. See docs/architecture.md, "Garbage collection".
"""

from __future__ import annotations

import gc

import pytest
from helpers import small_config
from PySide6 import QtCore, QtWidgets

from gradsim.ui.training import runner as runner_module

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(seed=5)
COLLECT_EVERY = 7  # checkpoints (time steps) between two forced collections on the worker


class Cycle:
    """A reference cycle holding Qt wrappers, as a closed dialog or a dropped plot item would."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        self.me = self
        self.timer = QtCore.QTimer(parent)  # owned by its parent: Python garbage never deletes it
        self.timer.start(1000)
        self.label = QtWidgets.QLabel("garbage", parent)
        self.callback = lambda: self.me


def test_collections_on_the_training_thread_while_the_window_makes_cycles(qtbot, make_window, monkeypatch):
    collections = {"worker": 0}
    checkpoint = runner_module.TrainingLoop._checkpoint

    def collecting_checkpoint(loop: runner_module.TrainingLoop) -> None:
        collecting_checkpoint.calls += 1  # type: ignore[attr-defined]
        if collecting_checkpoint.calls % COLLECT_EVERY == 0:  # type: ignore[attr-defined]
            gc.collect()
            collections["worker"] += 1
        checkpoint(loop)

    collecting_checkpoint.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(runner_module.TrainingLoop, "_checkpoint", collecting_checkpoint)
    was_enabled = gc.isenabled()
    # What earlier tests left is not this window's: in a whole-suite run their dead dashboards,
    # released while this test's event loop runs, held Python-owned live Qt objects (pyqtgraph's
    # ViewBoxMenu, a parentless QMenu, its WidgetGroup, QPixmaps), and a collection on the
    # worker destroyed those widgets off the GUI thread: a segfault (docs/architecture.md). The
    # windows now release those objects on the GUI thread when they close (ui/common/teardown.py);
    # the objects alive now are still frozen out of collection, so that the worker collects only
    # the cycles this window and the test make.
    gc.collect()
    gc.freeze()
    gc.enable()
    try:
        window = make_window(SMALL, features=("gradsim.ui.features.compare.compare",))
        gc.enable()
        window.runner.play()
        holder = QtWidgets.QWidget(window)
        for round_number in range(12):
            for _ in range(30):
                Cycle(holder)
            if round_number % 4 == 3:
                window.apply_config(SMALL.replace(seed=round_number))  # a new run: plots cleared
            qtbot.wait(50)
        qtbot.waitUntil(lambda: collections["worker"] >= 20, timeout=60000)
        qtbot.waitUntil(lambda: window.history.total_records >= 5, timeout=60000)
        window.runner.pause()
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()
    assert collections["worker"] >= 20
    assert window.history.latest is not None and window.history.latest.iteration >= 5
