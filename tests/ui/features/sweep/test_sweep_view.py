"""The Sweep tab: its heatmap, lines and cells against the engine; background run, cancel, the
store (past sweeps, size, Clear…) and Run on… (a Dask cluster).

Grids are tiny (3 x 3, 8 units, T <= 16) and most sweeps run in the tab's worker thread without
processes (``controller.workers = 0``: a process pool costs about 1 s to start here); the
cancel and close tests use two worker processes, because leaving none behind is their point.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.resource_tracker
import os
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import small_config
from PySide6 import QtCore, QtWidgets

from gradsim.engine import sweep
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_bytes
from gradsim.engine.sweep import compute_point
from gradsim.io.sweepstore import SweepStore
from gradsim.ui.features.sweep.sweep_form import DEFAULT_RANGES
from gradsim.ui.features.sweep.sweep_plot import COLORBAR_LABEL
from gradsim.ui.features.sweep.sweep_view import TAB_TITLE, SweepController
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(
    num_layers=1, seq_len=10, batch_size=3, activation="relu", init="gaussian", task="random", seed=3
)


def pool_pids() -> set[int]:
    """Live process-pool workers: ``concurrent.futures`` names them SpawnProcess-N (the window's
    own helper processes, such as the diagnosis worker, have names of their own)."""
    return {p.pid for p in multiprocessing.active_children() if p.name.startswith("SpawnProcess")}


def sweep_workers_alive(pids: set[int]) -> set[int]:
    """Which of ``pids`` (the sweep's worker processes) are still children of this process."""
    return pids & child_pids()


def child_pids() -> set[int]:
    """Live child processes of this process (from /proc), without Python's resource tracker."""
    pids: set[int] = set()
    for thread in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{thread}/children") as handle:
                pids.update(int(pid) for pid in handle.read().split())
        except FileNotFoundError:
            pass
    pids.discard(getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None))
    return pids


@pytest.fixture
def make_sweep_window(make_window, tmp_path):
    """``make_sweep_window(config=SMALL, store=None, before=())``: a window with the Sweep tab only
    (after the features ``before``), and its controller computing in its own thread
    (``workers=0``) into a store under ``tmp_path``."""

    def make(
        config: SimConfig = SMALL, store: Path | None = None, before: tuple[str, ...] = ()
    ) -> tuple[MainWindow, SweepController]:
        window = make_window(config, features=(*before, "gradsim.ui.features.sweep.sweep_view"))
        controller = window.features["gradsim.ui.features.sweep.sweep_view"]
        assert isinstance(controller, SweepController)
        controller.store_path = store if store is not None else tmp_path / "store.sqlite"
        controller.workers = 0
        return window, controller

    return make


def set_grid(
    controller: SweepController, x=("weight_scale", 0.5, 2.0, 3, "linear"), y=("seq_len", 4, 16, 3, "log")
):
    controller.page.x_editor.set_state(*x)
    controller.page.y_editor.set_state(*y)
    controller.page.seeds_spin.setValue(2)
    controller.page.iterations_spin.setValue(0)


def run_to_end(qtbot, controller: SweepController, timeout: int = 30000) -> sweep.SweepResult:
    qtbot.mouseClick(controller.page.run_button, QtCore.Qt.MouseButton.LeftButton)
    assert controller.is_running
    qtbot.waitUntil(lambda: not controller.is_running, timeout=timeout)
    assert controller.result is not None
    return controller.result


def run_default_grid(qtbot, controller: SweepController) -> sweep.SweepResult:
    """Show the Sweep tab, set the default 3 x 3 grid (``set_grid``) and run it to its end."""
    controller.show_tab()
    set_grid(controller)
    return run_to_end(qtbot, controller)


def test_heatmap_equals_single_runs_in_grid_orientation_with_the_theory_line(make_sweep_window, qtbot):
    window, controller = make_sweep_window()
    result = run_default_grid(qtbot, controller)
    spec = result.spec
    assert spec.base == SMALL and spec.shape == (3, 3) and spec.seeds == (3, 4)
    assert spec.y.values == (4, 8, 16)
    plot = controller.plot
    image = plot.image.image
    assert image.shape == (3, 3) and image.dtype == np.float32
    for row, column in spec.indices():
        config = SMALL.replace(weight_scale=spec.x.values[column], seq_len=spec.y.values[row])
        expected = compute_point(config, 0, (3, 4))
        assert result.values[row, column] == expected
        assert image[row, column] == np.float32(expected)
        # Row i sits at y = i, column j at x = j: the cell under that point is (i, j).
        assert plot.cell_at(QtCore.QPointF(column, row)) == (row, column)
    np.testing.assert_allclose(plot.x_scale.to_plot(spec.x.values), [0, 1, 2])
    np.testing.assert_allclose(plot.y_scale.to_plot(spec.y.values), [0, 1, 2])
    assert plot.image.mapRectToView(plot.image.boundingRect()) == QtCore.QRectF(-0.5, -0.5, 3, 3)
    # ReLU at a weight scale of 0.5 vanishes and at 2 explodes, more so over more steps.
    assert result.values[2, 0] < result.values[0, 0] < 0 < result.values[0, 2] < result.values[2, 2]
    low, high = plot.colorbar.levels()
    assert low == -high and high == np.ceil(np.quantile(np.abs(result.values), 0.9))
    assert plot.colorbar.axis.labelText == COLORBAR_LABEL
    assert (
        plot.x_axis.labelText == "weight scale" and plot.y_axis.labelText == "sequence length T (log scale)"
    )

    line = sweep.critical_line(spec)
    np.testing.assert_allclose(plot.x_scale.to_value(plot.critical_curve.xData), line.x)
    np.testing.assert_allclose(plot.y_scale.to_value(plot.critical_curve.yData), line.y)
    np.testing.assert_allclose(line.x, np.sqrt(2))  # He's critical scale for ReLU
    edge_x, edge_y = sweep.measured_edge(result)
    np.testing.assert_allclose(plot.x_scale.to_value(plot.edge_curve.xData), edge_x)
    np.testing.assert_allclose(plot.y_scale.to_value(plot.edge_curve.yData), edge_y)
    labels = [label.text for _, label in plot.legend.items]
    assert labels == ["theory: most extreme span at 0 decades (mean field)", "measured: ratio crosses 1"]
    page = controller.page
    assert page.progress_bar.value() == page.progress_bar.maximum() == 9
    assert page.progress_label.text().startswith("Done: 9 points in ")
    assert "9 computed on this process, 0 from the cache" in page.progress_label.text()
    assert page.run_button.isEnabled() and not page.cancel_button.isEnabled()


def test_overflow_cells_are_drawn_in_their_key_colour(make_sweep_window, qtbot):
    window, controller = make_sweep_window(SMALL.replace(activation="linear"))
    set_grid(controller, x=("weight_scale", 0.5, 6.5, 3, "linear"), y=("seq_len", 5, 400, 2, "linear"))
    result = run_to_end(qtbot, controller)
    assert result.overflow.tolist() == [[False, False, False], [False, True, True]]
    overlay = controller.plot.status_image.image
    assert controller.plot.status_image.isVisible()
    assert overlay[1, 1].tolist() == overlay[1, 2].tolist() == [0, 0, 0, 255]
    assert overlay[0, :, 3].tolist() == [0, 0, 0] and overlay[1, 0, 3] == 0
    assert "overflow (inf/NaN)" in [label.text for _, label in controller.plot.legend.items]
    assert "overflow (inf/NaN)" in controller.plot.cell_text(1, 2)


def test_click_a_cell_loads_its_config_and_hover_describes_it(make_sweep_window, qtbot):
    window, controller = make_sweep_window()
    result = run_default_grid(qtbot, controller)
    plot = controller.plot
    point = plot.cell_center(2, 1)
    qtbot.mouseMove(plot.viewport(), point)
    qtbot.waitUntil(lambda: plot.hover_text != "")
    value = result.values[2, 1]
    assert plot.hover_text.startswith("weight_scale = 1.25, seq_len = 16\n")
    assert f"log10 ratio {value:+.2f} decades" in plot.hover_text
    assert (
        f"seeds 3: {result.seed_values[2, 1, 0]:+.2f}, 4: {result.seed_values[2, 1, 1]:+.2f}"
        in plot.hover_text
    )
    assert controller.page.info_label.text().startswith("weight_scale = 1.25, seq_len = 16 · ")

    with qtbot.waitSignal(window.runRestarted, timeout=5000):
        qtbot.mouseClick(plot.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=point)
    assert window.current_config() == result.config_at(2, 1) == SMALL.replace(weight_scale=1.25, seq_len=16)
    assert window.control_panel.config() == result.config_at(2, 1)
    assert window.tabs.currentWidget() is window.training_tab()
    assert "weight_scale = 1.25, seq_len = 16" in window.statusBar().currentMessage()
    # The base of the next sweep stays until the user asks for the current config.
    assert controller.base_config == SMALL and controller.page.use_current_button.isEnabled()
    qtbot.mouseClick(controller.page.use_current_button, QtCore.Qt.MouseButton.LeftButton)
    assert controller.spec_from_form().base == result.config_at(2, 1)
    assert "1.25" in controller.page.base_label.text() and not controller.page.use_current_button.isEnabled()


def test_a_repeated_sweep_is_served_from_the_cache_in_this_and_the_next_session(
    make_sweep_window, qtbot, monkeypatch, tmp_path
):
    calls: list[SimConfig] = []
    original = sweep.evaluate_point
    monkeypatch.setattr(
        sweep, "evaluate_point", lambda config, *a: calls.append(config) or original(config, *a)
    )
    window, controller = make_sweep_window(store=tmp_path / "points.sqlite")
    set_grid(controller)
    first = run_to_end(qtbot, controller)
    assert len(calls) == 9 and first.computed_points == 9
    second = run_to_end(qtbot, controller)
    assert len(calls) == 9 and (second.computed_points, second.cached_points) == (0, 9)
    np.testing.assert_array_equal(second.values, first.values)
    assert "Done: all 9 points from the cache" in controller.page.progress_label.text()
    np.testing.assert_array_equal(controller.plot.image.image, first.values.astype(np.float32))
    window.close()

    # A new window (a new session): the form is restored and the points come from the disk.
    _, again = make_sweep_window(store=tmp_path / "points.sqlite")
    assert again.page.x_editor.state() == {"field": "weight_scale", "low": 0.5, "high": 2.0, "count": 3,
                                           "spacing": "linear"}  # fmt: skip
    assert again.page.seeds_spin.value() == 2
    third = run_to_end(qtbot, again)
    assert len(calls) == 9 and third.cached_points == 9
    np.testing.assert_array_equal(third.values, first.values)


def heavy_grid(controller: SweepController) -> None:
    set_grid(controller, x=("weight_scale", 0.5, 1.5, 6, "linear"), y=("seq_len", 100, 200, 6, "linear"))
    controller.page.iterations_spin.setValue(2)
    controller.workers = 2


def test_cancel_stops_the_worker_processes_and_keeps_the_points_so_far(make_sweep_window, qtbot, monkeypatch):
    window, controller = make_sweep_window(SMALL.replace(hidden_size=48, batch_size=8))
    heavy_grid(controller)
    messages: list[str] = []
    original = controller._message
    monkeypatch.setattr(
        controller, "_message", lambda text, error=False: messages.append(text) or original(text, error)
    )
    before = pool_pids()
    qtbot.mouseClick(controller.page.run_button, QtCore.Qt.MouseButton.LeftButton)
    assert not controller.page.run_button.isEnabled() and not controller.page.x_editor.low_spin.isEnabled()
    qtbot.waitUntil(lambda: controller.page.progress_bar.value() > 0, timeout=30000)
    # The sweep's workers: the children that are there while it runs and were not before (the
    # window may keep processes of its own, such as the diagnosis worker).
    workers = pool_pids() - before
    assert len(workers) == 2
    qtbot.mouseClick(controller.page.cancel_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not controller.is_running, timeout=10000)
    result = controller.result
    assert result is not None and result.cancelled
    done = int(result.computed.sum())
    assert 0 < done < 36
    assert not sweep_workers_alive(workers)
    assert not [p for p in multiprocessing.active_children() if p.pid in workers]
    # Progress said how far it was and how long was left; the end says where it stopped.
    assert any(re.fullmatch(r"\d+ of 36 points · about \d+ (s|min) left", text) for text in messages)
    assert "Cancelling…" in messages
    assert controller.page.progress_label.text().startswith(f"Cancelled after {done} of 36 points")
    # The heatmap shows the computed points and marks the others as not computed.
    # (A point without a finite ratio, vanished to 0 or overflowed, is drawn as 0 under its
    # status colour.)
    shown = controller.plot.image.image
    values = result.values[result.computed]
    expected = np.where(np.isfinite(values), values, 0.0).astype(np.float32)
    np.testing.assert_array_equal(shown[result.computed], expected)
    assert (controller.plot.status_image.image[~result.computed] == [228, 228, 228, 255]).all()
    assert controller.page.run_button.isEnabled()


def test_closing_the_window_mid_sweep_leaves_no_thread_or_process(make_sweep_window, qtbot):
    window, controller = make_sweep_window(SMALL.replace(hidden_size=48, batch_size=8))
    heavy_grid(controller)
    before = pool_pids()
    worker = controller.start()
    assert worker is not None
    qtbot.waitUntil(lambda: controller.page.progress_bar.value() > 0, timeout=30000)
    workers = pool_pids() - before
    assert len(workers) == 2
    window.close()
    assert controller.worker_thread is None and worker.cancel_event.is_set()
    assert not sweep_workers_alive(workers)
    assert not [p for p in multiprocessing.active_children() if p.pid in workers]


def test_bad_input_gives_a_message_and_starts_nothing(make_sweep_window, qtbot):
    window, controller = make_sweep_window()
    set_grid(controller, y=("weight_scale", 1.0, 2.0, 3, "linear"))
    qtbot.mouseClick(controller.page.run_button, QtCore.Qt.MouseButton.LeftButton)
    assert not controller.is_running
    assert controller.page.progress_label.text() == (
        "Cannot run this sweep: the two sweep axes must be different settings (both are weight_scale)"
    )
    set_grid(controller, y=("seq_len", 20, 5, 3, "linear"))
    controller.start()
    assert (
        not controller.is_running
        and "the seq_len range must be low <= high" in controller.page.progress_label.text()
    )


def test_tab_shortcut_field_defaults_and_tooltips(make_sweep_window, qtbot):
    # After Training and Backprop (Ctrl+1..3 follow the tab order).
    window, controller = make_sweep_window(before=("gradsim.ui.features.backprop.backprop_tab",))
    index = window.tabs.indexOf(controller.page)
    assert window.tabs.tabText(index) == TAB_TITLE and index == 2
    assert controller.open_action.shortcut().toString() == "Ctrl+3"
    controller.open_action.trigger()
    assert window.tabs.currentWidget() is controller.page
    editor = controller.page.x_editor
    editor.field_combo.setCurrentIndex(editor.field_combo.findData("learning_rate"))
    low, high, count, spacing = DEFAULT_RANGES["learning_rate"]
    assert editor.state() == {
        "field": "learning_rate",
        "low": low,
        "high": high,
        "count": count,
        "spacing": spacing,
    }
    assert editor.low_spin.decimals() == 6
    editor.field_combo.setCurrentIndex(editor.field_combo.findData("hidden_size"))
    assert editor.low_spin.decimals() == 0 and editor.state()["spacing"] == "log"
    for widget in (
        controller.page.findChildren(QtWidgets.QAbstractButton)
        + controller.page.findChildren(QtWidgets.QAbstractSpinBox)
        + controller.page.findChildren(QtWidgets.QComboBox)
    ):
        assert widget.toolTip(), widget.objectName()


# -- the store: past sweeps, size, Clear…, and Run on… ------------------------------------------
def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def choose_past(qtbot, controller: SweepController, sweep_id: int) -> None:
    combo = controller.page.past_combo
    index = combo.findData(sweep_id)
    assert index > 0
    combo.setCurrentIndex(index)
    combo.activated.emit(index)  # what a user's pick sends


def test_past_sweeps_are_listed_and_reopen_bit_for_bit_without_computing(
    make_sweep_window, qtbot, monkeypatch, tmp_path
):
    window, controller = make_sweep_window(store=tmp_path / "store.sqlite")
    controller.show_tab()
    page = controller.page
    assert page.past_combo.currentText() == "no sweeps recorded yet" and not page.past_combo.isEnabled()
    set_grid(controller)
    first = run_to_end(qtbot, controller)
    first_form = page.x_editor.state(), page.y_editor.state()
    set_grid(controller, x=("weight_scale", 0.5, 1.5, 2, "linear"), y=("num_layers", 1, 2, 2, "linear"))
    page.seeds_spin.setValue(1)
    run_to_end(qtbot, controller)
    # A sweep another program recorded in the same store shows when the tab is shown again.
    other = SweepStore(tmp_path / "store.sqlite")
    spec = sweep.SweepSpec(
        SMALL, sweep.make_axis("seq_len", 4, 8, 2), sweep.make_axis("hidden_size", 4, 8, 2)
    )
    sweep.run_sweep(spec, workers=0, cache=other, journal=other)
    window.tabs.setCurrentWidget(window.training_tab())
    controller.show_tab()
    combo = page.past_combo
    assert combo.isEnabled() and combo.count() == 4
    assert combo.itemText(0) == "3 recorded sweeps: choose one to reopen"
    assert [combo.itemData(i) for i in range(1, 4)] == [3, 2, 1]
    assert combo.itemText(3).startswith(
        "#1  "
    ) and "weight_scale × seq_len  3 × 3, 2 seeds" in combo.itemText(3)
    assert combo.itemText(1).endswith("on this process")

    calls = []
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a: calls.append(a))
    window.apply_config(SMALL.replace(hidden_size=12))  # the base shown changes with the reopened sweep
    choose_past(qtbot, controller, 1)
    assert calls == [] and not controller.is_running
    reopened = controller.result
    assert reopened is not None and reopened.sweep_id == 1 and reopened.spec == first.spec
    for name in ("values", "status", "seed_values", "computed"):
        assert same_bits(getattr(reopened, name), getattr(first, name)), name
    np.testing.assert_array_equal(controller.plot.image.image, first.values.astype(np.float32))
    assert (page.x_editor.state(), page.y_editor.state()) == first_form
    assert page.seeds_spin.value() == 2 and controller.base_config == SMALL
    assert controller.spec_from_form() == first.spec  # Run sweep now repeats it
    assert page.progress_label.text().startswith("Reopened sweep #1  ")
    assert page.progress_bar.value() == page.progress_bar.maximum() == 9
    qtbot.waitUntil(lambda: controller.line is not None, timeout=30000)
    np.testing.assert_allclose(
        controller.plot.critical_curve.xData, controller.plot.x_scale.to_plot(np.sqrt(2))
    )


def test_the_store_size_shows_and_clear_asks_first(make_sweep_window, qtbot, monkeypatch, tmp_path):
    window, controller = make_sweep_window(store=tmp_path / "store.sqlite")
    run_default_grid(qtbot, controller)
    page = controller.page
    store = controller.store
    size = store.size_bytes()
    assert size > 0 and page.store_label.text() == f"store {format_bytes(size)}"
    assert str(tmp_path / "store.sqlite") in page.store_label.toolTip()

    questions = []

    def answer(button):
        def ask(parent, title, text, *rest):
            questions.append((title, text))
            return button

        return ask

    monkeypatch.setattr(
        QtWidgets.QMessageBox, "question", answer(QtWidgets.QMessageBox.StandardButton.Cancel)
    )
    qtbot.mouseClick(page.clear_button, QtCore.Qt.MouseButton.LeftButton)
    assert questions[0][0] == "Clear the sweep store" and format_bytes(size) in questions[0][1]
    assert store.info().points == 9 and page.past_combo.count() == 2  # nothing deleted

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", answer(QtWidgets.QMessageBox.StandardButton.Yes))
    qtbot.mouseClick(page.clear_button, QtCore.Qt.MouseButton.LeftButton)
    assert len(questions) == 2 and store.info().points == 0 and store.sweeps() == []
    assert page.progress_label.text() == "Cleared the sweep store: 9 points and 1 sweeps deleted"
    assert page.past_combo.currentText() == "no sweeps recorded yet"
    assert (
        page.store_label.text() == f"store {format_bytes(store.size_bytes())}" and store.size_bytes() < size
    )
    # The next sweep computes again.
    assert run_to_end(qtbot, controller).computed_points == 9


def test_an_unusable_store_leaves_the_sweep_running_uncached(make_sweep_window, qtbot, tmp_path):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a database" * 400)
    window, controller = make_sweep_window(store=corrupt)
    controller.show_tab()
    page = controller.page
    assert (
        page.store_label.text() == "store unavailable"
        and "damaged or not a database" in page.store_label.toolTip()
    )
    assert not page.past_combo.isEnabled() and not page.clear_button.isEnabled()
    set_grid(controller)
    qtbot.mouseClick(page.run_button, QtCore.Qt.MouseButton.LeftButton)
    assert "damaged or not a database" in window.statusBar().currentMessage()
    assert "this sweep runs without the store" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not controller.is_running, timeout=30000)
    result = controller.result
    assert result is not None and result.computed.all() and result.sweep_id is None
    assert result.values[1, 1] == compute_point(result.config_at(1, 1), 0, result.spec.seeds)


def test_run_on_checks_the_address_and_runs_on_a_dask_cluster(make_sweep_window, qtbot, tmp_path):
    window, controller = make_sweep_window()
    page = controller.page
    assert page.run_on_edit.placeholderText() == "this computer" and "local:N" in page.run_on_edit.toolTip()
    set_grid(controller, x=("weight_scale", 0.5, 2.0, 2, "linear"), y=("seq_len", 4, 8, 2, "linear"))
    page.run_on_edit.setText("local:many")
    qtbot.mouseClick(page.run_button, QtCore.Qt.MouseButton.LeftButton)
    assert not controller.is_running
    assert page.progress_label.text() == (
        "Cannot run this sweep: a local Dask cluster is written local:N with N from 1 to 256 worker "
        "processes (got 'local:many')"
    )
    pytest.importorskip("distributed")
    page.run_on_edit.setText("local:1")
    result = run_to_end(qtbot, controller, timeout=120000)
    assert result.ran_on == "a Dask LocalCluster of 1 worker" and result.workers == 1
    assert "4 computed on a Dask LocalCluster of 1 worker" in page.progress_label.text()
    here = sweep.run_sweep(result.spec, workers=0, cache=None)
    assert same_bits(result.values, here.values) and same_bits(result.seed_values, here.seed_values)
    window.close()
    _, again = make_sweep_window()
    assert again.page.run_on_edit.text() == "local:1"  # kept for the next session
