"""The "Sweep" tab: a phase diagram of where gradients vanish or explode over two settings.

The user picks two of the sweepable settings (weight scale, sequence length, layer count,
learning rate, hidden size) with their ranges, when to measure (at initialisation or after N
training steps) and how many seeds to average; the base config is the window's current one.
Run computes the grid with :func:`gradsim.engine.sweep.run_sweep` on all cores: a
:class:`SweepWorker` on a worker thread (:mod:`gradsim.ui.common.workers`) calls it (the call
blocks while worker *processes* compute), passing a cancel event and a progress callback whose
reports carry the finished cells, so the heatmap fills in as chunks come back. The theory's
critical line is computed on a second worker meanwhile (about 1 s the first time for saturating
units) and drawn as soon as it is ready.

"Run on…" sends the points to a Dask cluster instead (its scheduler's address, or ``local:N``),
with the same progress, cancel and cache (:mod:`gradsim.engine.sweep_executors`).

Points and sweeps are kept in the sweep store (:mod:`gradsim.io.sweepstore`, a SQLite file in the
user's cache folder), shared with other windows and ``gradsim sweep``: a phase diagram of a few
hundred points takes tens of seconds, and the sweep a user repeats is usually one from an earlier
session (the same lesson, the same figure). Each chunk of points is written as it arrives. The
"past" list reopens a recorded sweep without computing; the store's size is shown beside it, with
Clear…. A store that cannot be used costs the sweep its cache, never its result (the tab says so).

Clicking a cell loads its config into the Training tab. Closing the window cancels a running
sweep and waits for it: its worker processes are terminated, none is left behind.

The parts live beside this module: the form and page (:mod:`.sweep_form`), the jobs
(:mod:`.sweep_jobs`), the words (:mod:`.sweep_text`) and the phase diagram (:mod:`.sweep_plot`);
this module holds the controller and :func:`install`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine import sweep
from gradsim.engine.config import ConfigError, SimConfig
from gradsim.engine.formatting import format_bytes
from gradsim.engine.sweep import CriticalLine, SweepProgress, SweepResult, SweepSpec
from gradsim.engine.sweep_executors import ExecutorError, check_scheduler, describe
from gradsim.io.sweepstore import StoreError, SweepStore, open_store
from gradsim.ui.common.scaling import scale_fonts
from gradsim.ui.common.widgets import make_action
from gradsim.ui.common.workers import Worker
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.sweep.sweep_form import SweepPage
from gradsim.ui.features.sweep.sweep_jobs import LineJob, SweepWorker
from gradsim.ui.features.sweep.sweep_plot import SweepPlot
from gradsim.ui.features.sweep.sweep_text import (
    describe_base,
    finished_text,
    format_value,
    line_notes,
    progress_text,
)

TAB_TITLE = "Sweep"
PAST_SWEEPS_SHOWN = 200
# A store another program holds locked makes the tab wait this long, once, before going without.
STORE_TIMEOUT_SECONDS = 2.0


# -- the feature -------------------------------------------------------------------------------
class SweepController(QtCore.QObject):
    """The Sweep tab of ``window``: form, background sweep, phase diagram, cell loading.

    Attributes
    ----------
    page : :class:`SweepPage` (the tab)
    plot : its :class:`SweepPlot`
    open_action : Run menu action showing the tab (Ctrl+3)
    base_config : the config the grid starts from
    workers : worker processes per sweep (None: one per core; 0: in the worker thread, for tests)
        when "Run on…" is empty
    store_path : the sweep store's file (None: the default one in the user's cache folder)
    result : the last (possibly partial, or reopened) result shown; line: its critical line
    thread, worker : the running sweep, if any
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.plot = SweepPlot(theme=window.dashboard.theme)
        self.page = SweepPage(self.plot)
        self.base_config: SimConfig = window.current_config()
        self.workers: int | None = None
        self.store_path: Path | None = None
        self._store: SweepStore | None = None
        self._store_opened_for: Path | None = None
        self._line: Worker | None = None
        self._sweep: Worker | None = None
        self.result: SweepResult | None = None
        self.line: CriticalLine | None = None
        self.worker_thread: QtCore.QThread | None = None
        self.worker: SweepWorker | None = None
        self._live: dict[str, np.ndarray] = {}
        self._spec: SweepSpec | None = None

        page = self.page
        page.run_button.setToolTip("Compute the grid on all cores (Ctrl+Return); the window stays usable")
        page.cancel_button.setToolTip("Stop the sweep; the points computed so far stay (Esc)")
        page.use_current_button.setToolTip("Sweep around the config the Training tab runs now")
        page.run_button.clicked.connect(self.start)
        page.cancel_button.clicked.connect(self.cancel)
        page.use_current_button.clicked.connect(self.use_current_config)
        page.past_combo.activated.connect(self._on_past_chosen)
        page.clear_button.clicked.connect(self.clear_store)
        run_shortcut = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Return"), page)
        run_shortcut.activated.connect(self.start)
        cancel_shortcut = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Escape), page)
        cancel_shortcut.activated.connect(self.cancel)
        self.plot.cellClicked.connect(self.load_cell)
        self.plot.cellHovered.connect(self._on_hovered)

        self.open_action = make_action(
            window, "Sweep (phase diagram)", self.show_tab,
            "Map where gradients vanish or explode over a grid of two settings",
            keys="Ctrl+3", name="sweep_open_action", menu=window.run_menu,
        )  # fmt: skip
        # After Training and Backprop when they are there (Ctrl+1..3 follow the tab order).
        window.tabs.insertTab(min(2, window.tabs.count()), page, TAB_TITLE)
        window.tabs.setTabToolTip(window.tabs.indexOf(page), self.open_action.toolTip())
        window.runRestarted.connect(self._on_run_restarted)
        window.tabs.currentChanged.connect(self._on_tab_changed)
        window.closing.connect(self.shutdown)
        window.presentationScaleChanged.connect(self.set_presentation_scale)
        if window.presentation_scale != 1.0:
            self.set_presentation_scale(window.presentation_scale)
        self.page.restore_form(self.window.settings)
        self._show_base()

    # -- public ----------------------------------------------------------------------------
    @property
    def store(self) -> SweepStore:
        """The sweep store, opened on first use (a window that never shows the tab touches no
        disk); check :attr:`SweepStore.available`."""
        if self._store is None or self._store_opened_for != self.store_path:
            if self._store is not None:
                self._store.close()
            self._store = open_store(self.store_path, timeout=STORE_TIMEOUT_SECONDS)
            self._store_opened_for = self.store_path
        return self._store

    @property
    def is_running(self) -> bool:
        return self.worker_thread is not None

    @QtCore.Slot()
    def show_tab(self) -> None:
        self.window.tabs.setCurrentWidget(self.page)

    @QtCore.Slot(float)
    def set_presentation_scale(self, scale: float) -> None:
        """Presentation mode: the form's text and the phase diagram ``scale`` times larger."""
        scale_fonts(self.page, scale)
        self.page.fold_form(scale != 1.0)
        self.plot.set_presentation_scale(scale)

    def spec_from_form(self) -> SweepSpec:
        """The sweep the form describes (raises SweepError or ConfigError with a message)."""
        page = self.page
        return SweepSpec(
            self.base_config, page.x_editor.axis(), page.y_editor.axis(),
            page.iterations_spin.value(), page.seeds_spin.value(),
        )  # fmt: skip

    @QtCore.Slot()
    def start(self) -> SweepWorker | None:
        """Start the sweep the form describes on a worker thread (None if refused or running)."""
        if self.worker_thread is not None:
            return None
        scheduler = self.page.run_on_edit.text().strip() or None
        try:
            spec = self.spec_from_form()
            if scheduler is not None:
                check_scheduler(scheduler)
        except (sweep.SweepError, ConfigError, ExecutorError) as error:
            self._message(f"Cannot run this sweep: {error}", error=True)
            return None
        self.page.save_form(self.window.settings)
        opened = self.store
        store: SweepStore | None = opened
        if not opened.available:
            self.window.statusBar().showMessage(f"{opened.error}: this sweep runs without the store", 15000)
            store = None
        ny, nx = spec.shape
        self._spec = spec
        self._live = {
            "values": np.full((ny, nx), np.nan),
            "status": np.zeros((ny, nx), dtype=np.int8),
            "seed_values": np.full((ny, nx, len(spec.seeds)), np.nan),  # type: ignore[arg-type]
            "computed": np.zeros((ny, nx), dtype=bool),
        }
        self.line = None
        self.result = self._partial_result()
        self.plot.show_result(self.result, None)
        worker = SweepWorker(spec, self.workers, store, scheduler)
        worker.line_done = self._start_line(spec)
        handlers: dict[str, Callable[..., None]] = {
            "progressed": self._on_progress, "finished": self._on_finished, "failed": self._on_failed,
        }  # fmt: skip
        self._sweep = Worker(worker.run, name="sweep_thread", cancel_event=worker.cancel_event)
        self._sweep.yielded.connect(lambda message: handlers[message[0]](*message[1:]))
        self._sweep.errored.connect(self._on_failed)
        self.worker_thread, self.worker = self._sweep.thread, worker
        page = self.page
        page.set_running(True)
        page.progress_bar.setRange(0, spec.size)
        page.progress_bar.setValue(0)
        page.progress_bar.setTextVisible(True)
        page.progress_bar.setFormat("%v / %m")
        workers = self.workers if self.workers is not None else sweep.default_workers()
        self._message(f"Starting {spec.size} points on {describe(workers, scheduler)}…")
        self._sweep.start()
        return worker

    @QtCore.Slot()
    def cancel(self) -> None:
        """Stop the running sweep (its processes are terminated; the points so far stay)."""
        if self.worker is not None:
            self.worker.cancel()
            self._message("Cancelling…")

    @QtCore.Slot()
    def shutdown(self) -> None:
        """Cancel a running sweep and wait for it: no thread or worker process outlives the window."""
        if self.worker is not None:
            self.worker.cancel()
        self._finish_thread()
        self._stop_line()
        if self._store is not None:
            self._store.close()
            self._store = None

    @QtCore.Slot()
    def use_current_config(self) -> None:
        """Take the Training tab's config as the base of the next sweep."""
        self.base_config = self.window.current_config()
        self._show_base()

    @QtCore.Slot(int, int)
    def load_cell(self, row: int, column: int) -> None:
        """Load a cell's config into the Training tab (a new run) and show that tab."""
        if self.result is None:
            return
        config = self.result.config_at(row, column)
        spec = self.result.spec
        self.window.apply_config(config)
        self.window.tabs.setCurrentWidget(self.window.training_tab())
        x_text = format_value(spec.x.values[column], spec.x.field in sweep.INTEGER_FIELDS)
        y_text = format_value(spec.y.values[row], spec.y.field in sweep.INTEGER_FIELDS)
        self.window.statusBar().showMessage(
            f"Loaded the sweep cell {spec.x.field} = {x_text}, {spec.y.field} = {y_text} "
            "into the Training tab: press Play (Space) to train it",
            10000,
        )

    # -- the store: past sweeps, size, clearing ------------------------------------------------
    def refresh_store_view(self) -> None:
        """List the recorded sweeps and show the store's size (skipped while a sweep runs: the
        worker thread is writing to the store then)."""
        if self.is_running:
            return
        store = self.store
        records = []
        problem = store.error
        if store.available:
            try:
                records = store.sweeps(limit=PAST_SWEEPS_SHOWN)
            except StoreError as error:
                problem = str(error)
        size = store.size_bytes() if problem is None else 0
        self.page.show_store(records, problem, size, store.path, store.available)

    def open_past(self, sweep_id: int) -> SweepResult | None:
        """Show a recorded sweep again (no computing): its grid, its form and base config; the
        theory's line follows from a side thread. None if it cannot be read (the tab says why)."""
        if self.is_running:
            return None
        try:
            record = self.store.sweep(sweep_id)
            result = self.store.open_sweep(sweep_id)
        except StoreError as error:
            self._message(f"Cannot reopen sweep #{sweep_id}: {error}", error=True)
            return None
        spec = result.spec
        page = self.page
        for editor, axis in ((page.x_editor, spec.x), (page.y_editor, spec.y)):
            editor.set_state(axis.field, axis.values[0], axis.values[-1], len(axis.values), axis.spacing)
        page.iterations_spin.setValue(spec.iterations)
        page.seeds_spin.setValue(len(spec.seeds))  # type: ignore[arg-type]
        self.base_config = spec.base
        self._show_base()
        self._spec, self.result, self.line = spec, result, None
        self.plot.show_result(result, None)
        page.progress_bar.setRange(0, spec.size)
        page.progress_bar.setValue(int(result.computed.sum()))
        page.progress_bar.setTextVisible(True)
        page.progress_bar.setFormat("%v / %m")
        self._message(f"Reopened sweep {record.describe()}")
        self._start_line(spec)
        return result

    @QtCore.Slot(int)
    def _on_past_chosen(self, index: int) -> None:
        sweep_id = self.page.past_combo.itemData(index)
        if sweep_id is not None:
            self.open_past(int(sweep_id))

    def _start_line(self, spec: SweepSpec) -> threading.Event:
        """Compute ``spec``'s critical line on a worker thread; the event is set once it is sent."""
        self._stop_line()  # one at a time: the previous one is at most about a second
        job = LineJob(spec)
        self._line = Worker(job.run, name="sweep-critical-line")
        self._line.returned.connect(self._on_line)
        self._line.start()
        return job.done

    def _stop_line(self) -> None:
        if self._line is not None:
            self._line.stop()
            self._line = None

    @QtCore.Slot()
    def clear_store(self) -> bool:
        """Delete every stored point and recorded sweep, after the user confirms; True if done."""
        if self.is_running:
            return False
        store = self.store
        if not store.available:
            self._message(f"Cannot clear the sweep store: {store.error}", error=True)
            return False
        answer = QtWidgets.QMessageBox.question(
            self.page,
            "Clear the sweep store",
            f"Delete every stored sweep point and recorded sweep ({format_bytes(store.size_bytes())})?\n\n"
            f"{store.path}\n\nOther gradsim windows and commands share this store; sweeps will compute "
            "their points again.",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Cancel,
        )
        if answer != QtWidgets.QMessageBox.StandardButton.Yes:
            return False
        try:
            points, sweeps = store.clear()
        except StoreError as error:
            self._message(f"Cannot clear the sweep store: {error}", error=True)
            return False
        self.refresh_store_view()
        self._message(f"Cleared the sweep store: {points} points and {sweeps} sweeps deleted")
        return True

    @QtCore.Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.page:
            self.refresh_store_view()

    # -- worker reports ----------------------------------------------------------------------
    def _partial_result(self) -> SweepResult:
        assert self._spec is not None
        live = self._live
        return SweepResult(
            self._spec, live["values"].copy(), live["status"].copy(), live["seed_values"].copy(),
            live["computed"].copy(),
        )  # fmt: skip

    @QtCore.Slot(object)
    def _on_progress(self, report: SweepProgress) -> None:
        if self._spec is None or self.worker is None:
            return
        live = self._live
        for row, column, point in report.points:
            live["values"][row, column] = point.value
            live["status"][row, column] = point.status
            live["seed_values"][row, column] = point.seed_values
            live["computed"][row, column] = True
        if report.points:
            self.result = self._partial_result()
            self.plot.show_result(self.result, self.line)
        self.page.progress_bar.setValue(report.done)
        if not self.worker.cancel_event.is_set():
            self._message(progress_text(report))

    @QtCore.Slot(object)
    def _on_line(self, answer: tuple[SweepSpec, CriticalLine]) -> None:
        spec, line = answer
        if self.result is None or self._spec is not spec:
            return  # another sweep is shown by now
        self.line = line
        self.plot.show_result(self.result, line)

    @QtCore.Slot(object)
    def _on_finished(self, result: SweepResult) -> None:
        self.result = result
        self.plot.show_result(result, self.line)
        page = self.page
        page.progress_bar.setValue(int(result.computed.sum()))
        notes = line_notes(self.line)
        self._message(finished_text(result) + (f". {notes}" if notes else ""))
        if result.cache_error:
            self.window.statusBar().showMessage(
                f"The sweep store could not keep these points ({result.cache_error}); "
                "the result is complete, a repeat will compute them again",
                15000,
            )
        self._finish_thread()
        self.refresh_store_view()

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self._message(f"The sweep failed: {message}", error=True)
        self.window.statusBar().showMessage(f"The sweep failed: {message}", 15000)
        self._finish_thread()

    def _finish_thread(self) -> None:
        sweep_worker, self._sweep = self._sweep, None
        self.worker_thread = self.worker = None
        if sweep_worker is not None:
            sweep_worker.stop()
        self.page.set_running(False)

    # -- display -----------------------------------------------------------------------------
    def _message(self, text: str, error: bool = False) -> None:
        label = self.page.progress_label
        label.setText(text)
        label.setStyleSheet("color: #b00020; font-weight: bold;" if error else "")

    def _show_base(self) -> None:
        base = self.base_config
        self.page.base_label.setText(describe_base(base))
        self.page.base_label.setToolTip(
            "Every grid point is this config with the two swept settings changed. Fields not swept "
            "stay as shown."
        )
        same = base == self.window.current_config()
        self.page.use_current_button.setText("Use current config" if not same else "Current config ✓")
        if self.worker_thread is None:
            self.page.use_current_button.setEnabled(not same)

    @QtCore.Slot(str)
    def _on_hovered(self, text: str) -> None:
        self.page.info_label.setText(
            text.replace("\n", " · ")
            if text
            else "Point at a cell for its numbers; click it to load its config into the Training tab."
        )

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: SimConfig) -> None:
        del config
        self._show_base()


def install(window: WindowAPI) -> SweepController:
    """Add the Sweep tab (Ctrl+3) and its Run menu entry."""
    return SweepController(window)
