"""Dashboard: the contract the main window relies on, and every plot fed from one real run."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from helpers import EXPLODING_LONG
from helpers import run_history as train
from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.common.theme import DARK, LIGHT
from gradsim.ui.training.dashboard import PLOT_KEYS, Dashboard


@pytest.fixture(scope="module")
def vanishing():
    config = SimConfig(activation="sigmoid", num_layers=3, seq_len=60, hidden_size=12, batch_size=4)
    return config, train(config, 12)


@pytest.fixture(scope="module")
def exploding():
    config = EXPLODING_LONG
    history = train(config, 10)
    assert history.nonfinite_record is not None
    return config, history


def make(qtbot, size=(1100, 850), **kwargs) -> Dashboard:
    dashboard = Dashboard(**kwargs)
    qtbot.addWidget(dashboard)
    dashboard.resize(*size)
    dashboard.show()
    qtbot.waitExposed(dashboard)
    return dashboard


def test_contract(qtbot):
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    dashboard = Dashboard(parent)
    assert isinstance(dashboard, QtWidgets.QWidget) and dashboard.parent() is parent
    assert tuple(dashboard.plots) == PLOT_KEYS == ("gradient", "heatmap", "loss", "activation", "health")
    for plot in dashboard.plots.values():
        assert isinstance(plot, QtWidgets.QWidget)
        assert isinstance(plot.graphics, pg.GraphicsLayoutWidget)
        assert callable(plot.refresh) and callable(plot.reset)
        assert dashboard.isAncestorOf(plot)


def test_refresh_feeds_every_plot_from_the_history(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot)
    dashboard.refresh(history, config)
    record = history.latest
    plots = dashboard.plots
    _, y = plots["gradient"].curves[1].getOriginalDataset()
    np.testing.assert_array_equal(y, record.log10_grad_norms[1])  # log10 data on a decade axis
    np.testing.assert_allclose(plots["heatmap"].image.image, history.log10_grad_norm_rows(0), rtol=1e-6)
    _, y = plots["loss"].loss_curve.getOriginalDataset()
    np.testing.assert_array_equal(y, history.losses())
    _, share = plots["activation"].histogram.getOriginalDataset()
    assert share.sum() == pytest.approx(100.0)
    np.testing.assert_array_equal(plots["health"].saturation_bars.opts["height"], record.saturation)
    assert set(dashboard.last_timings) == set(PLOT_KEYS)
    assert all(t > 0 for t in dashboard.last_timings.values())


def test_reset_clears_and_a_new_layer_count_works(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot)
    dashboard.refresh(history, config)
    dashboard.reset()
    assert dashboard.plots["gradient"].curves[0].getOriginalDataset() == (None, None)
    assert dashboard.plots["loss"].loss_curve.getOriginalDataset() == (None, None)
    assert not dashboard.plots["heatmap"].image.isVisible()
    dashboard.refresh(RunHistory(), config)  # an empty history right after a rebuild
    one_layer = config.replace(num_layers=1)
    small = train(one_layer, 3)
    dashboard.refresh(small, one_layer)
    gradient = dashboard.plots["gradient"]
    assert [c.isVisible() for c in gradient.curves] == [True, False, False]
    assert dashboard.plots["heatmap"].selector_row.isHidden()
    assert len(dashboard.plots["health"].saturation_bars.opts["height"]) == 1
    _, y = dashboard.plots["loss"].loss_curve.getOriginalDataset()
    np.testing.assert_array_equal(y, small.losses())


def test_exploding_run_shows_messages_without_raising(qtbot, exploding):
    config, history = exploding
    dashboard = make(qtbot)
    dashboard.refresh(history, config)
    plots = dashboard.plots
    assert "non-finite" in plots["gradient"].message.toPlainText()
    assert "non-finite" in plots["heatmap"].message.toPlainText()
    assert "non-finite" in plots["loss"].message.toPlainText()
    assert "no update" in plots["health"].message.toPlainText()
    dashboard.grab()  # painting all of it warns nothing (warnings are errors in this suite)


@pytest.mark.parametrize("size", [(1100, 850), (1600, 1000), (720, 610)])
def test_every_plot_fits_its_pane(qtbot, vanishing, size):
    """At the 1400 x 900 window, larger, and the 1024 x 700 window: no plot is cut off."""
    config, history = vanishing
    dashboard = make(qtbot, size)
    dashboard.refresh(history, config)
    QtWidgets.QApplication.processEvents()
    for key, plot in dashboard.plots.items():
        view = plot.graphics.viewport()
        content = plot.graphics.ci.geometry()
        assert content.width() <= view.width() + 1, key
        assert content.height() <= view.height() + 1, key
        assert view.width() >= 200 and view.height() >= 150, key


def test_text_is_at_least_10_pt_and_axes_are_labelled(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot, size=(1500, 900))  # the health plot's three charts all shown
    dashboard.refresh(history, config)
    labelled = 0
    for plot in dashboard.plots.values():
        for item in plot.graphics.ci.items:
            if not isinstance(item, pg.PlotItem):
                continue
            for side in ("left", "bottom"):
                axis = item.getAxis(side)
                if not axis.isVisible():
                    continue
                assert axis.style["tickFont"].pointSize() >= 10
                if axis.style["showValues"]:
                    assert axis.labelText, (type(plot).__name__, side)
                    labelled += 1
    assert labelled >= 12


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_theme_sets_the_plot_background(qtbot, theme):
    dashboard = make(qtbot, theme=theme)
    for plot in dashboard.plots.values():
        assert plot.graphics.backgroundBrush().color().name() == theme.background


def test_splitter_state_round_trip(qtbot):
    dashboard = make(qtbot)
    outer, top, _ = dashboard.splitters
    top.setSizes([300, 700])
    state = dashboard.save_state()
    other = make(qtbot)
    assert other.restore_state(state)
    assert other.splitters[1].sizes()[0] < other.splitters[1].sizes()[1]
    assert not other.restore_state(b"")
    assert not other.restore_state(b"not a state")


def test_live_dashboard_paints_light_pens_but_keeps_the_plots_pens(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot)
    dashboard.refresh(history, config)
    bold = [curve.opts["pen"].widthF() for curve in dashboard.plots["gradient"].curves]
    assert not dashboard.live and not any(p.graphics.draft for p in dashboard.plots.values())
    dashboard.set_live(True)
    assert all(p.graphics.draft for p in dashboard.plots.values())
    dashboard.refresh(history, config)
    dashboard.grab()
    assert [curve.opts["pen"].widthF() for curve in dashboard.plots["gradient"].curves] == bold == [3.0] * 3
    # In presentation mode the room sees the plots' own (scaled) pens, live or not.
    dashboard.set_presentation_scale(1.6)
    assert dashboard.live and not any(p.graphics.draft for p in dashboard.plots.values())
    dashboard.set_presentation_scale(1.0)
    assert all(p.graphics.draft for p in dashboard.plots.values())
    dashboard.set_live(False)
    assert not any(p.graphics.draft for p in dashboard.plots.values())


def test_a_hidden_plot_draws_when_shown_again(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot)
    loss = dashboard.plots["loss"]
    loss.hide()  # as when another tab or the folded bottom row hides it in a shown window
    dashboard.refresh(history, config)
    x, _ = loss.loss_curve.getOriginalDataset()
    assert x is None or len(x) == 0  # not drawn while hidden
    _, y = dashboard.plots["gradient"].curves[0].getOriginalDataset()
    np.testing.assert_array_equal(y, history.latest.log10_grad_norms[0])  # shown plots draw
    loss.show()
    _, losses = loss.loss_curve.getOriginalDataset()
    np.testing.assert_array_equal(losses, history.losses())


def drawn_losses(dashboard: Dashboard) -> np.ndarray | None:
    return dashboard.plots["loss"].loss_curve.getOriginalDataset()[1]


def test_a_live_frame_updates_and_paints_its_plots_one_after_another(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot)
    views = [dashboard.plots[key].graphics for key in PLOT_KEYS]
    dashboard.refresh(history, config)
    assert not dashboard.paints_pending and not any(view.held for view in views)  # stopped: at once
    np.testing.assert_array_equal(drawn_losses(dashboard), history.losses())
    dashboard.set_live(True)
    painted: list[int] = []
    spies = [PaintSpy(painted, index) for index in range(len(views))]
    for view, spy in zip(views, spies, strict=True):
        view.viewport().installEventFilter(spy)
    timed: list[str] = []
    dashboard.frame_work = lambda: WorkSpy(timed)  # as the window's frame pacer times them
    for key in ("gradient", "loss"):
        dashboard.plots[key].reset()  # something to draw again
    qtbot.wait(100)  # the repaint that light pens asked for
    painted.clear()
    updated: list[str] = []
    dashboard.plotRefreshed.connect(lambda key, *_: updated.append(key))
    dashboard.refresh(history, config)
    assert updated == ["gradient"]
    # The gradient plot's data are there when refresh returns; the other plots' wait with their
    # views, each updated when let go, then painted.
    _, y = dashboard.plots["gradient"].curves[0].getOriginalDataset()
    np.testing.assert_array_equal(y, history.latest.log10_grad_norms[0])
    assert drawn_losses(dashboard) is None or len(drawn_losses(dashboard)) == 0
    assert dashboard.paints_pending and all(view.held for view in views)
    assert [view.pending for view in views] == [False, True, True, True, True]
    qtbot.waitUntil(lambda: not dashboard.paints_pending, timeout=3000)
    qtbot.waitUntil(lambda: set(painted) == set(range(len(views))), timeout=3000)
    assert not any(view.held or view.pending for view in views)
    np.testing.assert_array_equal(drawn_losses(dashboard), history.losses())
    assert timed == ["work"] * len(views)  # every view let go inside the pacer's timing
    assert updated == list(PLOT_KEYS)
    # First paints in the plots' order: one view let go per timer tick.
    firsts = sorted(range(len(views)), key=painted.index)
    assert firsts == list(range(len(views)))


def test_stopping_or_taking_a_figure_lets_every_waiting_view_update_and_paint(qtbot, vanishing):
    from gradsim.ui.training import render

    config, history = vanishing
    dashboard = make(qtbot)
    dashboard.set_live(True)
    dashboard.refresh(history, config)
    assert dashboard.paints_pending
    assert drawn_losses(dashboard) is None or len(drawn_losses(dashboard)) == 0
    render.png_bytes(dashboard.plots["loss"], 400)  # a figure of one plot lets its view go
    np.testing.assert_array_equal(drawn_losses(dashboard), history.losses())  # the figure's data
    assert not dashboard.plots["loss"].graphics.held and dashboard.plots["health"].graphics.held
    assert dashboard.plots["health"].graphics.pending
    dashboard.set_live(False)
    assert not dashboard.paints_pending
    assert not any(plot.graphics.held or plot.graphics.pending for plot in dashboard.plots.values())
    np.testing.assert_array_equal(dashboard.plots["health"].values["saturation"], history.latest.saturation)


def test_a_reset_or_a_closing_window_drops_the_updates_still_waiting(qtbot, vanishing):
    config, history = vanishing
    dashboard = make(qtbot)
    dashboard.set_live(True)
    dashboard.refresh(history, config)
    assert dashboard.plots["loss"].graphics.pending
    dashboard.reset(config)  # the history they would draw was replaced
    assert not dashboard.paints_pending
    qtbot.wait(50)
    assert drawn_losses(dashboard) is None or len(drawn_losses(dashboard)) == 0
    dashboard.refresh(history, config)
    dashboard.stop_frames()  # a closing window: the plots' items go next
    assert not dashboard.paints_pending
    assert not any(plot.graphics.pending for plot in dashboard.plots.values())
    qtbot.wait(50)
    assert drawn_losses(dashboard) is None or len(drawn_losses(dashboard)) == 0


class WorkSpy:
    """A context manager noting "work" in ``timed`` as it exits."""

    def __init__(self, timed: list[str]) -> None:
        self.timed = timed

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.timed.append("work")


class PaintSpy(QtCore.QObject):
    """Notes ``index`` in ``painted`` at each paint of the widget it filters."""

    def __init__(self, painted: list[int], index: int) -> None:
        super().__init__()
        self.painted, self.index = painted, index

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QtCore.QEvent.Type.Paint:
            self.painted.append(self.index)
        return False
