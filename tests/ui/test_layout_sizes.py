"""Every tab, dock and dialog readable at 1280x720, 1440x900 and 1920x1080; the window never
grows itself; figures carry no window widgets.

The checks (``layout_checks``) read widget geometry and font metrics: no widget reaches past
the window or is cut by its parent or squeezed under its minimum, no combo hides its text
without a tooltip, no plot title is cut with an ellipsis, no axis label is longer than its axis,
no legend leaves its view box or covers the title, no annotation wraps into a column. One
window per size is reused for all of them (each window costs seconds to build and train).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from layout_checks import all_problems, plot_texts_cut, text_beside_the_data
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.presets import load_preset
from gradsim.ui.main_window import MainWindow
from gradsim.ui.training import render

SIZES = [(1280, 720), (1440, 900), (1920, 1080)]
SMALL = load_preset("default")
# The sweep's message when its store could not keep the points (about 900 px at the bar's font).
LONG_MESSAGE = (
    "The sweep store could not keep these points (database is locked); the result is complete, "
    "a repeat will compute them again"
)


def spin(qtbot, milliseconds: int = 150) -> None:
    """Let queued layouts, resizes and paints run."""
    qtbot.wait(milliseconds)


def train(window: MainWindow, qtbot, steps: int) -> None:
    start = window.history.total_records
    for _ in range(steps):
        window.runner.step()
    qtbot.waitUntil(lambda: window.history.total_records >= start + steps, timeout=20000)
    spin(qtbot, 200)


@pytest.fixture
def open_window(make_window, qtbot):
    """``open_window(size, config=SMALL) -> MainWindow``: ``make_window``'s window of ``config``
    at ``size``, shown, its queued layouts run; closed when the test ends."""

    def open_at(size: tuple[int, int], config: SimConfig = SMALL) -> MainWindow:
        window = make_window(config, size=size)
        spin(qtbot)
        return window

    return open_at


def tab_problems(window: MainWindow, qtbot) -> list[str]:
    found = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        spin(qtbot, 250)
        found += [f"tab {window.tabs.tabText(index)}: {p}" for p in all_problems(window)]
    window.tabs.setCurrentIndex(0)
    return found


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_tab_dock_and_dialog_fits_and_the_window_keeps_its_size(qtbot, open_window, tmp_path, size):
    window = open_window(size)
    train(window, qtbot, 12)
    assert window.size().toTuple() == size
    problems = tab_problems(window, qtbot)
    # A passing message longer than the status bar: elided, with the whole text a click away.
    window.statusBar().showMessage(LONG_MESSAGE, 60000)
    spin(qtbot)
    problems += [f"status bar: {p}" for p in all_problems(window)]
    assert window.size().toTuple() == size, "a long status message widened the window"
    window.statusBar().clearMessage()
    # The activation plot's shading is explained whole, beside the curves, not over them.
    activation = window.dashboard.plots["activation"]
    problems += [f"activation: {p}" for p in text_beside_the_data(activation, "f′ < 5% of max")]

    # The lessons dock (Ctrl+L) beside the diagnosis dock, on the Predict step of lesson 1.
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    lessons.toggle_action.trigger()
    spin(qtbot, 250)
    problems += [f"lessons dock: {p}" for p in all_problems(window)]
    panel = lessons.panel
    panel.go_next()  # Intro -> Predict
    spin(qtbot, 250)
    problems += [f"lessons dock, predict: {p}" for p in all_problems(window)]
    answers = [label for label in panel._choice_labels if label.isVisible()]  # noqa: SLF001
    pages = panel.pages.parentWidget().parentWidget()
    assert isinstance(pages, QtWidgets.QScrollArea)
    # The question, its answers and the Check button are readable without scrolling.
    assert (
        pages.verticalScrollBar().maximum() == 0 or pages.height() >= 14 * panel.fontMetrics().lineSpacing()
    )
    assert answers, "the Predict step shows its answers"
    assert window.size().toTuple() == size, "opening a lesson widened the window"

    # A lesson's run loads its config: the window stays, and the preset box does not claim
    # the config was started from the last preset.
    panel.go_next()  # Predict -> Run (applies the lesson's config)
    spin(qtbot, 300)
    assert window.size().toTuple() == size, "a lesson's run changed the window size"
    assert "Started from" not in window.control_panel.preset_description.text()
    lessons.toggle_action.trigger()

    # Docks: hide and show the diagnosis (Ctrl+D); pin the run (Ctrl+P).
    diagnosis = window.features["gradsim.ui.features.diagnosis.diagnosis_panel"]
    diagnosis.toggle_action.trigger()
    spin(qtbot)
    diagnosis.toggle_action.trigger()
    spin(qtbot)
    assert window.size().toTuple() == size, "a dock toggle changed the window size"
    compare = window.features["gradsim.ui.features.compare.compare"]
    assert compare.pin_current() is not None
    spin(qtbot, 250)
    assert window.size().toTuple() == size, "a pin changed the window size"
    problems += [f"after a pin: {p}" for p in all_problems(window)]

    # A tiny sweep: its summary line must not widen the window.
    sweeper = window.features["gradsim.ui.features.sweep.sweep_view"]
    sweeper.cache_folder = tmp_path / "cache"
    sweeper.workers = 0
    page = sweeper.page
    page.x_editor.set_state("weight_scale", 0.5, 2.0, 2, "linear")
    page.y_editor.set_state("seq_len", 4, 8, 2, "linear")
    page.seeds_spin.setValue(1)
    page.iterations_spin.setValue(0)
    window.tabs.setCurrentWidget(page)
    page.run_button.click()
    qtbot.waitUntil(lambda: not sweeper.is_running, timeout=60000)
    spin(qtbot, 250)
    assert window.size().toTuple() == size, "a finished sweep widened the window"
    problems += [f"after a sweep: {p}" for p in all_problems(window)]
    window.tabs.setCurrentIndex(0)

    # The heatmap's axis title once the history thinned (every 16th old iteration kept).
    heatmap = window.dashboard.plots["heatmap"]
    heatmap.iteration_axis.iterations = np.concatenate([np.arange(0, 1600, 16), np.arange(1600, 1650)])
    spin(qtbot)
    assert heatmap.iteration_axis.labelText == "iteration (every 16th kept)"
    problems += [f"thinned heatmap: {p}" for p in plot_texts_cut(heatmap)]

    # Dialogs: the snapshot dialog and the help box fit on the screen and show every widget.
    snapshots = window.features["gradsim.ui.features.snapshots.snapshots"]
    dialog = snapshots.open_dialog()
    qtbot.waitExposed(dialog)
    spin(qtbot)
    problems += [f"snapshot dialog: {p}" for p in all_problems(dialog)]
    assert dialog.width() <= size[0] and dialog.height() <= size[1]
    dialog.close()
    window.help_action.trigger()
    box = window.findChild(QtWidgets.QDialog, "help_box")
    assert box is not None
    qtbot.waitExposed(box)
    problems += [f"help: {p}" for p in all_problems(box)]
    assert box.height() <= size[1]
    box.close()

    assert window.size().toTuple() == size
    assert problems == [], "\n".join(problems)


def test_presentation_mode_fits_every_tab_at_1280x720(qtbot, open_window, tmp_path):
    """View > Presentation mode on a 1280 x 720 projector: every tab, with what it shows after
    use (a frozen backward pass stepped half-way, a phase diagram, a trained A/B pair), is
    whole at 1.6 times the size, and the window keeps its size."""
    size = (1280, 720)
    window = open_window(size)
    train(window, qtbot, 12)
    backprop = window.features["gradsim.ui.features.backprop.backprop_tab"]
    backprop.show_tab()
    qtbot.waitUntil(lambda: backprop.view.session is not None, timeout=20000)
    backprop.view.go_to(backprop.view.total_cells // 2)
    sweeper = window.features["gradsim.ui.features.sweep.sweep_view"]
    sweeper.store_path, sweeper.workers = tmp_path / "store.sqlite", 0
    page = sweeper.page
    page.x_editor.set_state("weight_scale", 0.5, 2.0, 3, "linear")
    page.y_editor.set_state("seq_len", 4, 8, 2, "linear")
    page.seeds_spin.setValue(1)
    window.tabs.setCurrentWidget(page)
    sweeper.start()
    qtbot.waitUntil(lambda: not sweeper.is_running and sweeper.line is not None, timeout=60000)
    ab = window.features["gradsim.ui.features.compare.compare"].ab_view
    window.tabs.setCurrentWidget(ab)
    for _ in range(5):
        ab.step()
    qtbot.waitUntil(lambda: ab.histories["A"].total_records >= 5, timeout=20000)
    window.tabs.setCurrentIndex(0)
    presentation = window.features["gradsim.ui.features.presentation.presentation"]
    presentation.set_enabled(True)
    spin(qtbot, 300)
    assert window.presentation_scale > 1
    problems = tab_problems(window, qtbot)
    assert window.size().toTuple() == size, "presentation mode changed the window size"
    assert problems == [], "\n".join(problems)
    # The Backprop tab's plots fit its height: nothing below "time step t" waits for a scroll
    # (the cell count moves into the transport bar, so the reading keeps to two lines).
    window.tabs.setCurrentWidget(backprop.page)
    spin(qtbot, 250)
    scroll = window.findChild(QtWidgets.QScrollArea, "backprop_scroll")
    assert scroll is not None and scroll.verticalScrollBar().maximum() == 0
    assert backprop.view.position_in_bar.isVisible() and not backprop.view.position_label.isVisible()
    window.tabs.setCurrentIndex(0)
    # The sweep's settings unfolded in the mode: the window still keeps its size.
    window.tabs.setCurrentWidget(page)
    page.form_toggle.click()
    spin(qtbot, 250)
    assert page.form_box.isVisible() and window.size().toTuple() == size
    presentation.set_enabled(False)
    assert backprop.view.position_label.isVisibleTo(backprop.view)  # beside the reading again
    assert not backprop.view.position_in_bar.isVisibleTo(backprop.view)
    # Out of the mode, with both docks beside it, the tab's three plots fit 720 pixels too: the
    # f'(z) heatmap and its "time step t" do not wait below the fold for a scroll.
    window.tabs.setCurrentWidget(backprop.page)
    spin(qtbot, 250)
    assert scroll.verticalScrollBar().maximum() == 0


def test_the_checks_find_a_cut_title_and_a_squeezed_label(qtbot, open_window):
    """The geometry checks can fail: a long title in a narrow plot, a label under its minimum."""
    window = open_window((1440, 900))
    train(window, qtbot, 2)
    health = window.dashboard.plots["health"]
    plot = health.saturation_plot
    plot.setTitle("A title far too long for a bar chart of this width, on purpose, to be cut here")
    spin(qtbot)
    assert any("is cut to" in p for p in plot_texts_cut(health))
    label = QtWidgets.QLabel("a label that needs its whole width to be read", window.statusBar())
    label.setGeometry(0, 0, 40, 20)
    label.show()
    assert any("needs" in p for p in all_problems(window))
    label.deleteLater()


def test_figures_hold_the_plots_without_the_window_widgets(qtbot, open_window):
    """Neither the selector combos nor the auto-range button are in an exported PNG or SVG."""
    window = open_window((1440, 900))
    train(window, qtbot, 3)
    dashboard = window.dashboard
    combos = [c for c in dashboard.findChildren(QtWidgets.QComboBox) if c.isVisible()]
    assert combos, "the dashboard shows its selector combos on screen"
    svg = render.svg_bytes(dashboard).decode()
    texts = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    # The selectors' captions and the histogram's choice are window widgets, not plot text.
    assert "all layers" in {combo.currentText() for combo in combos}
    assert "all layers" not in texts
    for caption in ("Heatmap layer", "Histogram of", "Show:"):
        assert caption not in svg
    assert "log10 ||dL/dh||" in texts  # the plots' own text is there

    # PNG: the selector's row is background, where the window shows the combo.
    heatmap = dashboard.plots["heatmap"]
    image = render.png_image(dashboard, dashboard.width())
    combo = heatmap.layer_selector if isinstance(heatmap.layer_selector, QtWidgets.QComboBox) else None
    combo = combo or next(c for c in heatmap.findChildren(QtWidgets.QComboBox) if c.isVisible())
    corner = combo.mapTo(dashboard, QtCore.QPoint(0, 0))
    background = QtGui.QColor(dashboard.theme.background).rgb()
    row = {image.pixel(corner.x() + dx, corner.y() + combo.height() // 2) for dx in range(combo.width())}
    assert row == {background}
    on_screen = dashboard.grab().toImage()
    screen_row = {
        on_screen.pixel(corner.x() + dx, corner.y() + combo.height() // 2) for dx in range(combo.width())
    }
    assert len(screen_row) > 1, "the combo is drawn on screen (the comparison means something)"

    # The gradient plot keeps pyqtgraph's "A" button on screen; its SVG has no image at all.
    gradient = dashboard.plots["gradient"]
    gradient.plot.autoBtn.show()
    assert "<image" not in render.svg_bytes(gradient).decode()
    assert gradient.plot.autoBtn.isVisible()  # restored after painting
    # A single plot's figure is its graphics: as wide as the plot, no selector row above.
    activation = dashboard.plots["activation"]
    assert render.logical_size(activation) == activation.graphics.size()


def test_activation_svg_bands_stay_within_the_axes(qtbot, open_window):
    """The saturated flanks reach to +-infinity on screen (clipped by Qt); in SVG, which has no
    clipping, they are cut to the visible x range while painting and restored after."""
    window = open_window((1440, 900))
    train(window, qtbot, 2)
    activation = window.dashboard.plots["activation"]
    regions = [r for r in activation.saturated_regions if r.isVisible()]
    assert regions
    before = [r.getRegion() for r in regions]
    low, high = activation.plot.getViewBox().viewRange()[0]
    assert min(b[0] for b in before) < low and max(b[1] for b in before) > high
    seen: list[tuple[float, float]] = []
    original = render._paint_plots  # noqa: SLF001

    def spy(target, painter):
        seen.extend(r.getRegion() for r in regions)
        original(target, painter)

    render._paint_plots = spy  # noqa: SLF001
    try:
        render.svg_bytes(activation)
    finally:
        render._paint_plots = original  # noqa: SLF001
    assert all(low - 1e-9 <= a and b <= high + 1e-9 for a, b in seen)
    assert [r.getRegion() for r in regions] == before


def test_window_title_shortcuts_and_labels(qtbot, open_window):
    window = open_window((1440, 900), load_preset("vanishing-sigmoid"))
    assert window.windowTitle() == "vanishing-sigmoid — gradsim"
    for action in (window.play_action, window.step_action, window.reset_action):
        assert action.shortcutContext() == QtCore.Qt.ShortcutContext.ApplicationShortcut
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    assert lessons.help_action.text().endswith("\tCtrl+L")
    # Space starts training even when the lessons dock (opened last) has the focus.
    lessons.toggle_action.trigger()
    spin(qtbot)
    lessons.panel.next_button.setFocus()
    window.activateWindow()
    spin(qtbot)
    qtbot.keyClick(lessons.panel.next_button, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.runner.is_running, timeout=5000)
    window.runner.pause()
    # The snapshot dialog's file label has a buddy (no literal "&").
    dialog = window.features["gradsim.ui.features.snapshots.snapshots"].open_dialog()
    labels = [label for label in dialog.findChildren(QtWidgets.QLabel) if "ile:" in label.text()]
    assert labels and all(label.buddy() is dialog.path_edit for label in labels)
    dialog.close()


def test_reset_and_a_new_config_show_the_new_runs_axes_before_the_first_step(qtbot, open_window):
    window = open_window((1440, 900))
    train(window, qtbot, 5)
    plots = window.dashboard.plots
    sigmoid = load_preset("vanishing-sigmoid")
    sigmoid = sigmoid.replace(seq_len=20)
    window.apply_config(sigmoid)
    spin(qtbot)
    assert window.history.total_records == 0
    assert plots["gradient"].plot.viewRange()[0] == pytest.approx([0.5, 20.5])
    assert plots["heatmap"].plot.viewRange()[0] == pytest.approx([0.5, 20.5])
    assert plots["heatmap"].plot.viewRange()[1] == pytest.approx([-0.5, 0.5])
    assert plots["loss"].loss_plot.viewRange()[0] == pytest.approx([0.5, 1.5])
    # The activation plot draws the sigmoid (values in 0..1), not the previous tanh.
    x, y = plots["activation"].function_curve.getData()
    assert float(np.min(y)) >= 0.0 and float(np.max(y)) == pytest.approx(1.0, abs=0.01)
    assert "sigmoid" in plots["activation"].plot.titleLabel.text


def test_diagnosis_text_says_which_iteration_it_describes_while_training_runs_ahead(qtbot, open_window):
    from gradsim.ui.features.diagnosis.diagnosis_view import WAITING_TEXT

    window = open_window((1440, 900))
    panel = window.features["gradsim.ui.features.diagnosis.diagnosis_panel"].panel
    assert panel.sentence.text() == WAITING_TEXT
    # Records arrived, no verdict yet: not "press Play" while the run is at iteration 7.
    panel._show_progress(7)  # noqa: SLF001 (what the records signal calls)
    assert panel.sentence.text() == "Diagnosing the run (iteration 7)…"
    assert panel.iteration_label.text() == "now at iteration 7"
    train(window, qtbot, 3)
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60000)
    diagnosed = panel.result.iteration
    panel._show_progress(diagnosed + 300)  # noqa: SLF001
    assert panel.iteration_label.text().endswith(f" · now {diagnosed + 300}")
    assert panel.iteration_label.text().startswith(f"iteration {diagnosed} · ")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_gated_run_is_whole_in_every_tab(qtbot, open_window, size):
    """An LSTM run: the gradient plot with its cell curves and check box, the activation plot
    with the gates under it, the Backprop tab's two paths stepped into, and A/B's RNN vs LSTM."""
    window = open_window(size, load_preset("lstm-long-memory").replace(seq_len=60, batch_size=8))
    train(window, qtbot, 4)
    gradient, activation = window.dashboard.plots["gradient"], window.dashboard.plots["activation"]
    assert gradient.cell.shown and activation.gates.plot in activation.graphics.ci.items
    backprop = window.features["gradsim.ui.features.backprop.backprop_tab"]
    backprop.show_tab()
    qtbot.waitUntil(lambda: backprop.view.session is not None, timeout=20000)
    backprop.view.go_to(5)
    assert backprop.view.side_panel.path_box.isVisible()
    ab = window.features["gradsim.ui.features.compare.compare"].ab_view
    window.tabs.setCurrentWidget(ab)
    ab.compare_rnn_lstm()
    for _ in range(3):
        ab.step()
    qtbot.waitUntil(lambda: ab.histories["B"].total_records >= 3, timeout=20000)
    problems = tab_problems(window, qtbot)
    problems += [f"activation: {p}" for p in text_beside_the_data(activation, "f′ < 5% of max")]
    assert window.size().toTuple() == size
    assert problems == [], "\n".join(problems)
