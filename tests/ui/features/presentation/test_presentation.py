"""Presentation mode: scaled text, lines and markers, the controls folded away, remembered."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg
from helpers import small_config

from gradsim.ui.features.presentation import presentation
from gradsim.ui.features.presentation.presentation import PRESENTATION_SCALE, PresentationFeature, scale_of
from gradsim.ui.main_window import MainWindow
from gradsim.ui.training import render
from gradsim.ui.training.offscreen import qimage_to_rgb

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(activation="sigmoid", seed=2)
pytestmark.append(pytest.mark.window(config=SMALL, size=(1280, 720), steps=3))
# Clipping that acts: the loss plot draws its clip markers (a scatter of symbols).
CLIPPED = small_config(clip_mode="norm", clip_threshold=0.01, seed=2)


def feature(window: MainWindow) -> PresentationFeature:
    found = window.features["gradsim.ui.features.presentation.presentation"]
    assert isinstance(found, PresentationFeature)
    return found


def title_pixels(window: MainWindow) -> float:
    """The gradient plot's title font size in screen pixels (point size x the view's scale)."""
    plot = window.dashboard.plots["gradient"]
    title = plot.plot.titleLabel
    points = float(title.opts["size"][:-2])
    return points * plot.graphics.transform().m11()


def test_f5_is_the_shortcut_and_no_other_action_has_it(make_window):
    window = make_window(steps=0)
    action = feature(window).action
    assert action.shortcut() == QtGui.QKeySequence(QtCore.Qt.Key.Key_F5)
    assert action in window.view_menu.actions()
    others = [a for a in window.findChildren(QtGui.QAction) if a is not action]
    assert all(QtGui.QKeySequence(QtCore.Qt.Key.Key_F5) not in a.shortcuts() for a in others)


def test_the_mode_scales_fonts_lines_and_markers_and_back(qtbot, make_window):
    window = make_window(CLIPPED, steps=3)
    present = feature(window)
    theme = window.dashboard.theme
    gradient = window.dashboard.plots["gradient"]
    loss = window.dashboard.plots["loss"]
    labels = presentation.selector_widgets(window.dashboard)
    assert labels
    base_points = [widget.font().pointSizeF() for widget in labels]
    bold_width = gradient.curves[0].opts["pen"].widthF()
    marker = loss.clip_markers.opts["symbolSize"]
    assert marker == 7
    assert title_pixels(window) == pytest.approx(theme.title_pt)

    present.action.trigger()  # as the View menu does
    assert present.action.isChecked() and present.scale == PRESENTATION_SCALE
    assert title_pixels(window) == pytest.approx(theme.title_pt * PRESENTATION_SCALE)
    for view in (gradient.graphics, loss.graphics):
        assert scale_of(view) == PRESENTATION_SCALE
        assert view.transform().m11() == pytest.approx(PRESENTATION_SCALE)
    # Tick labels: the tick font's points times the view's scale.
    tick_font = gradient.plot.getAxis("left").style["tickFont"]
    assert tick_font.pointSizeF() * gradient.graphics.transform().m11() == pytest.approx(
        theme.tick_pt * PRESENTATION_SCALE
    )
    assert [w.font().pointSizeF() for w in labels] == pytest.approx([p * 1.6 for p in base_points])
    assert gradient.curves[0].opts["pen"].widthF() == pytest.approx(bold_width * PRESENTATION_SCALE)
    assert loss.clip_markers.opts["symbolSize"] == pytest.approx(marker * PRESENTATION_SCALE)
    assert not window.controls_scroll.isVisible()
    assert not window.dashboard.splitters[2].isVisible()  # the bottom row
    # The other tabs follow the window's scale (see test_every_tab_scales_and_comes_back_as_it_was).
    assert window.presentation_scale == PRESENTATION_SCALE
    backprop = window.features["gradsim.ui.features.backprop.backprop_tab"].view.graphics
    assert scale_of(backprop) == PRESENTATION_SCALE
    assert "F5" in window.statusBar().currentMessage()

    # More training: pens the plots set anew are scaled too, and nothing is scaled twice.
    window.runner.step()
    qtbot.waitUntil(lambda: gradient._seen is not None and gradient._seen[0] == 4, timeout=5000)
    assert gradient.curves[0].opts["pen"].widthF() == pytest.approx(bold_width * PRESENTATION_SCALE)
    for view in (gradient.graphics, loss.graphics):
        assert presentation.scale_items(view, PRESENTATION_SCALE) == 0
    # A live frame updates the plots after the gradient plot one at a time, as each view is let
    # go (Dashboard.refresh): what they set anew is scaled before it is painted, too.
    window.dashboard.set_live(True)
    # Read as the frame begins (the dashboard's refreshed signal comes as its refresh returns):
    # a poll afterwards may find the zero-delay stagger has let the loss plot go already.
    loss_waiting: list[bool] = []
    window.dashboard.refreshed.connect(lambda *_: loss_waiting.append(loss.graphics.pending))
    window.runner.step()
    qtbot.waitUntil(lambda: gradient._seen is not None and gradient._seen[0] == 5, timeout=5000)
    assert loss_waiting and loss_waiting[-1]
    qtbot.waitUntil(lambda: not window.dashboard.paints_pending, timeout=5000)
    assert loss.clip_markers.opts["symbolSize"] == pytest.approx(marker * PRESENTATION_SCALE)
    for plot in window.dashboard.plots.values():
        assert presentation.scale_items(plot.graphics, PRESENTATION_SCALE) == 0
    window.dashboard.set_live(False)
    # What a plot sets anew while it draws is scaled after that plot's own data update (a live
    # frame's later plots update after the gradient plot's, one at a time), whichever plot it is.
    extra = pg.PlotDataItem([0.0, 1.0], [0.0, 1.0], pen=pg.mkPen("k", width=2))
    loss.graphics.scene().addItem(extra)
    window.dashboard.plotRefreshed.emit("loss", window.history, window.current_config())
    assert extra.opts["pen"].widthF() == pytest.approx(2 * PRESENTATION_SCALE)
    loss.graphics.scene().removeItem(extra)

    present.action.trigger()
    assert present.scale == 1.0
    assert title_pixels(window) == pytest.approx(theme.title_pt)
    assert gradient.graphics.transform().isIdentity()
    assert [w.font().pointSizeF() for w in labels] == pytest.approx(base_points)
    assert gradient.curves[0].opts["pen"].widthF() == pytest.approx(bold_width)
    assert loss.clip_markers.opts["symbolSize"] == pytest.approx(marker)
    assert window.controls_scroll.isVisible()
    assert window.dashboard.splitters[2].isVisible()


def test_all_five_plots_can_stay(make_window):
    window = make_window(steps=1)
    present = feature(window)
    present.all_plots_action.setChecked(True)
    present.set_enabled(True)
    assert window.dashboard.splitters[2].isVisible()
    assert scale_of(window.dashboard.plots["health"].graphics) == PRESENTATION_SCALE
    present.all_plots_action.setChecked(False)
    assert not window.dashboard.splitters[2].isVisible()


def diagnosis_dock(window: MainWindow) -> QtWidgets.QDockWidget:
    dock = window.findChild(QtWidgets.QDockWidget, "diagnosis_dock")
    assert dock is not None
    return dock


def test_the_mode_persists(qtbot, make_window):
    settings = QtCore.QSettings()
    window = make_window(steps=0, settings=settings)
    assert diagnosis_dock(window).isVisible()
    feature(window).set_enabled(True)
    assert not diagnosis_dock(window).isVisible()
    window.close()
    assert settings.value(presentation.PRESENTATION_KEY) in (True, "true")
    again = make_window(steps=0)
    present = feature(again)
    qtbot.waitUntil(present.action.isChecked, timeout=2000)  # once the window restored its layout
    assert present.scale == PRESENTATION_SCALE
    assert scale_of(again.dashboard.plots["gradient"].graphics) == PRESENTATION_SCALE
    assert not again.controls_scroll.isVisible()
    # The window stored its own layout, which the mode folds again and gives back after.
    assert not diagnosis_dock(again).isVisible()
    # No dock tab bar the restored layout made is left over the menu bar with its docks folded.
    assert not shown_dock_tabs(again)
    present.set_enabled(False)
    assert diagnosis_dock(again).isVisible()
    again.close()
    assert QtCore.QSettings().value(presentation.PRESENTATION_KEY) in (False, "false")


def shown_dock_tabs(window: MainWindow) -> list[list[str]]:
    """The tabs of the window's shown dock tab bars that lie inside it (Qt parks unused ones far
    outside)."""
    found = []
    for bar in window.findChildren(
        QtWidgets.QTabBar, options=QtCore.Qt.FindChildOption.FindDirectChildrenOnly
    ):
        if bar.isVisible() and bar.count() and window.rect().intersects(bar.geometry()):
            found.append([bar.tabText(index) for index in range(bar.count())])
    return found


def test_tabbed_docks_fold_with_their_tab_bar_and_come_back_with_it(qtbot, make_window):
    window = make_window(steps=0)
    docks = {dock.objectName(): dock for dock in window.findChildren(QtWidgets.QDockWidget)}
    window.tabifyDockWidget(docks["diagnosis_dock"], docks["lessons_dock"])
    docks["lessons_dock"].show()
    qtbot.waitUntil(lambda: shown_dock_tabs(window) == [["Diagnosis", "Lessons"]], timeout=2000)
    feature(window).set_enabled(True)
    qtbot.wait(20)
    assert not shown_dock_tabs(window)
    feature(window).set_enabled(False)
    qtbot.waitUntil(lambda: shown_dock_tabs(window) == [["Diagnosis", "Lessons"]], timeout=2000)


def test_snapshots_in_the_mode_carry_the_scale(make_window):
    window = make_window(steps=3)
    plot = window.dashboard.plots["gradient"]
    normal = qimage_to_rgb(render.png_image(plot, 800))
    feature(window).set_enabled(True)
    large = qimage_to_rgb(render.png_image(plot, 800))
    feature(window).set_enabled(False)
    again = qimage_to_rgb(render.png_image(plot, 800))
    # Thicker lines and larger text: more dark pixels (the plot's shape changed too, so the
    # images are compared by what they hold, not pixel by pixel).
    dark = [np.count_nonzero(image.sum(axis=2) < 300) / image[..., 0].size for image in (normal, large)]
    assert dark[1] > 1.3 * dark[0]
    assert again.shape == normal.shape


BACKPROP = "gradsim.ui.features.backprop.backprop_tab"
SWEEP = "gradsim.ui.features.sweep.sweep_view"
COMPARE = "gradsim.ui.features.compare.compare"


def widget_state(page: QtWidgets.QWidget) -> list[tuple]:
    """Every widget under ``page``: its font, whether it is its own, shown, its size, minimum
    size and size hint (not for plot views: a view's hint is the size it has)."""
    state = []
    for widget in (page, *page.findChildren(QtWidgets.QWidget)):
        view = isinstance(widget, QtWidgets.QGraphicsView) or widget.findChildren(QtWidgets.QGraphicsView)
        shown = widget.isVisibleTo(page)
        state.append(
            (
                type(widget).__name__,
                widget.objectName(),
                widget.font().toString(),
                widget.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetFont),
                shown,
                widget.size().toTuple() if shown else None,  # a hidden one keeps a stale size
                widget.minimumSize().toTuple(),
                None if view else widget.sizeHint().toTuple(),
            )
        )
    return state


def graphics_state(page: QtWidgets.QWidget) -> list[tuple]:
    """Every plot view under ``page``: its transform, and its items' pens, markers, axis texts and
    legend flags."""
    state: list[tuple] = []
    for view in page.findChildren(pg.GraphicsView):
        state.append(("view", view.transform().m11()))
        for item in view.scene().items():
            entry: tuple = (type(item).__name__,)
            if isinstance(item, pg.PlotDataItem):
                pen = item.opts.get("pen")
                entry += (pen.widthF() if isinstance(pen, QtGui.QPen) else None, item.opts.get("symbolSize"))
            elif isinstance(item, pg.AxisItem):
                entry += (item.pen().widthF(), item.label.isVisible(), item.style["showValues"])
            elif isinstance(item, pg.PlotCurveItem | pg.InfiniteLine):
                pen = item.opts["pen"] if isinstance(item, pg.PlotCurveItem) else item.pen
                entry += (pen.widthF(),)
            elif isinstance(item, QtWidgets.QGraphicsRectItem):
                entry += (item.pen().widthF(),)
            elif isinstance(item, pg.LegendItem):
                entry += (item.flags().value, item.scale(), item.columnCount)
            state.append(entry)
    return state


def pages(window: MainWindow) -> dict[str, QtWidgets.QWidget]:
    return {
        "backprop": window.features[BACKPROP].page,
        "sweep": window.features[SWEEP].page,
        "ab": window.features[COMPARE].ab_view,
    }


def states(window: MainWindow, qtbot) -> dict[str, tuple[list[tuple], list[tuple]]]:
    """:func:`widget_state` and :func:`graphics_state` of each tab, each shown and laid out first
    (a hidden tab keeps the geometry it had when it was last shown)."""
    found = {}
    for name, page in pages(window).items():
        window.tabs.setCurrentWidget(page)
        qtbot.wait(150)
        found[name] = (widget_state(page), graphics_state(page))
    window.tabs.setCurrentIndex(0)
    return found


def test_every_tab_scales_and_comes_back_as_it_was(qtbot, make_window, tmp_path):
    window = make_window(steps=3)
    backprop = window.features[BACKPROP]
    backprop.show_tab()  # freezes the weights: the plots have curves and cells
    qtbot.waitUntil(lambda: backprop.view.session is not None, timeout=10000)
    backprop.view.go_to(5)
    sweeper = window.features[SWEEP]
    sweeper.store_path, sweeper.workers = tmp_path / "store.sqlite", 0
    sweeper.page.x_editor.set_state("weight_scale", 0.5, 2.0, 2, "linear")
    sweeper.page.y_editor.set_state("seq_len", 4, 8, 2, "linear")
    sweeper.page.seeds_spin.setValue(1)
    sweeper.start()
    qtbot.waitUntil(lambda: not sweeper.is_running and sweeper.result is not None, timeout=60000)
    ab = window.features[COMPARE].ab_view
    window.tabs.setCurrentWidget(ab)
    ab.step()
    qtbot.waitUntil(lambda: ab.histories["A"].total_records >= 1, timeout=10000)
    ab.redraw()
    window.tabs.setCurrentIndex(0)
    diagnosis = window.findChild(QtWidgets.QDockWidget, "diagnosis_dock")
    assert diagnosis is not None and diagnosis.isVisible()
    qtbot.wait(100)
    before = states(window, qtbot)
    reading = backprop.view.reading.font().pointSizeF()
    run_button = sweeper.page.run_button.font().pointSizeF()
    ab_play = ab.play_button.font().pointSizeF()
    curve_pen = backprop.view.graphics.curve.opts["pen"].widthF()
    critical_pen = sweeper.plot.critical_curve.opts["pen"].widthF()
    loss_pen = ab.loss_curves["A"].opts["pen"].widthF()

    with qtbot.waitSignal(window.presentationScaleChanged) as changed:
        feature(window).set_enabled(True)
    assert changed.args == [PRESENTATION_SCALE] and window.presentation_scale == PRESENTATION_SCALE
    qtbot.wait(100)
    for view in (backprop.view.graphics, sweeper.plot, ab.graphics):
        assert scale_of(view) == PRESENTATION_SCALE
        assert view.transform().m11() == pytest.approx(PRESENTATION_SCALE)
    assert backprop.view.reading.font().pointSizeF() == pytest.approx(reading * PRESENTATION_SCALE)
    assert sweeper.page.run_button.font().pointSizeF() == pytest.approx(run_button * PRESENTATION_SCALE)
    assert ab.play_button.font().pointSizeF() == pytest.approx(ab_play * PRESENTATION_SCALE)
    assert backprop.view.graphics.curve.opts["pen"].widthF() == pytest.approx(curve_pen * PRESENTATION_SCALE)
    critical = sweeper.plot.critical_curve.opts["pen"].widthF()
    assert critical == pytest.approx(critical_pen * PRESENTATION_SCALE)
    assert ab.loss_curves["A"].opts["pen"].widthF() == pytest.approx(loss_pen * PRESENTATION_SCALE)
    # What the mode folds away for the room: the docks, the sweep's form, the A/B editors.
    assert not diagnosis.isVisible()
    assert not sweeper.page.form_box.isVisibleTo(sweeper.page)
    assert sweeper.page.form_toggle.isVisibleTo(sweeper.page)
    assert not ab.editors.isVisibleTo(ab)
    assert not backprop.refreeze_button.isVisibleTo(backprop.page)
    # A pair step in the mode: the new curves are drawn at the scale too.
    window.tabs.setCurrentWidget(ab)
    ab.step()
    qtbot.waitUntil(lambda: ab.histories["A"].total_records >= 2, timeout=10000)
    ab.redraw()
    assert ab.gradient_curves["B"][0].opts["pen"].widthF() == pytest.approx(2.5 * PRESENTATION_SCALE)
    ab.reset()  # back to the state recorded before (one step), without the mode
    ab.step()
    qtbot.waitUntil(lambda: ab.histories["A"].total_records >= 1 and not ab.runner.is_running, timeout=10000)
    window.tabs.setCurrentIndex(0)

    feature(window).set_enabled(False)
    qtbot.wait(100)
    assert window.presentation_scale == 1.0 and diagnosis.isVisible()
    after = states(window, qtbot)
    for name in before:
        assert after[name][0] == before[name][0], f"{name}: widgets differ after the round trip"
        assert after[name][1] == before[name][1], f"{name}: plot items differ after the round trip"
