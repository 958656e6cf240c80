"""The dashboard: the five live plots in resizable panes.

Layout (for a 1400 x 900 window with the control panel on the left)::

    +------------------------------+--------------------+
    |  gradient ||dL/dh_t|| (core) |  heatmap           |
    +-----------------+------------+------+-------------+
    |  loss / norms   |  activation       |  health     |
    +-----------------+-------------------+-------------+

The window calls :meth:`Dashboard.refresh` from its display timer on the GUI thread; each plot
skips the work when its data did not change and otherwise only updates items created once.
"""

from __future__ import annotations

import contextlib
import functools
import struct
import time
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.common.scaling import scale_plots, scale_widget_fonts
from gradsim.ui.common.teardown import release_window
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.training.plots import (
    ActivationPlot,
    GradientPlot,
    HealthPlot,
    HeatmapPlot,
    LossPlot,
    PlotPanel,
)
from gradsim.ui.training.plots.base import Selector
from gradsim.ui.training.plots.quality import PlotGraphics

PLOT_KEYS = ("gradient", "heatmap", "loss", "activation", "health")
# While a run trains, a frame's plots are painted one at a time, the next this many milliseconds
# after the previous one was painted (see Dashboard.refresh): between two, the event loop
# answers timers and input (a zero timer too: it fires once the events waiting are handled; at
# 1 ms, a frame's five paints spanned 3-7 ms more, and the next frame waited for them). A view
# that is not painted (hidden, or covered) is waited for at most STAGGER_WAIT_MS.
STAGGER_MS = 0
STAGGER_WAIT_MS = 50
_STATE_TAG = b"gradsim-dashboard-1"


class Dashboard(QtWidgets.QWidget):
    """The five plots of a run.

    Attributes
    ----------
    theme : the colours and fonts: the ``theme`` given, else the application's (:func:`current_theme`)
    plots : ``{"gradient", "heatmap", "loss", "activation", "health"}`` -> plot widget; each has
        ``refresh(history, config)``, ``reset()`` and ``graphics`` (its GraphicsLayoutWidget)
    splitters : the outer (vertical) and the two row splitters, for saving their state
    live : whether the plots paint light pens (:meth:`set_live`: a run is training)
    last_timings : milliseconds each plot took in the last :meth:`refresh`, by ``clock``
    clock : the clock of ``last_timings`` (``time.perf_counter``; a benchmark on a loaded
        machine sets ``time.thread_time``)
    staggered : whether a live frame's plots are painted one at a time (default True)

    Signals
    -------
    refreshed(history, config) : after every :meth:`refresh`, once the gradient plot is updated
        (features that draw on it, such as the theory line, update from it; while a run trains
        the other plots may update a moment later, see ``plotRefreshed``)
    plotRefreshed(key, history, config) : after each plot's data update, before its view is
        painted: at once, or in a staggered frame when its view is let go (features that adjust
        what a plot drew, such as pinned runs' ranges and presentation pens, act on it)
    """

    refreshed = QtCore.Signal(object, object)
    plotRefreshed = QtCore.Signal(str, object, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, theme: Theme | None = None) -> None:
        super().__init__(parent)
        self.theme = theme if theme is not None else current_theme()
        self.plots: dict[str, PlotPanel] = {
            "gradient": GradientPlot(self.theme),
            "heatmap": HeatmapPlot(self.theme),
            "loss": LossPlot(self.theme),
            "activation": ActivationPlot(self.theme),
            "health": HealthPlot(self.theme),
        }
        top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        top.addWidget(self.plots["gradient"])
        top.addWidget(self.plots["heatmap"])
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        bottom = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        for key, stretch in (("loss", 3), ("activation", 3), ("health", 4)):
            bottom.addWidget(self.plots[key])
            bottom.setStretchFactor(bottom.count() - 1, stretch)
        outer = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        outer.addWidget(top)
        outer.addWidget(bottom)
        outer.setStretchFactor(0, 5)
        outer.setStretchFactor(1, 4)
        for splitter in (outer, top, bottom):
            splitter.setChildrenCollapsible(False)
        outer.setObjectName("dashboard_rows")
        top.setObjectName("dashboard_top")
        bottom.setObjectName("dashboard_bottom")
        self.splitters = (outer, top, bottom)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(outer)
        self.last_timings: dict[str, float] = {key: 0.0 for key in PLOT_KEYS}
        self.clock: Callable[[], float] = time.perf_counter
        self.live = False
        self.staggered = True
        # Around a staggered view's data update (:meth:`refresh`): the window's frame pacer
        # counts it as the frame's work.
        self.frame_work: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext
        self._presentation_scale = 1.0
        # The views of a staggered frame still to be painted, first to last.
        self._waiting: list[PlotGraphics] = []
        self._stagger = QtCore.QTimer(self)
        self._stagger.setSingleShot(True)
        self._stagger.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._stagger.timeout.connect(self._paint_next)
        self._released: PlotGraphics | None = None
        for plot in self.plots.values():
            plot.graphics.painted.connect(self._on_view_painted)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """A dashboard closed on its own (offscreen pictures and frames, a test's) releases
        pyqtgraph's parentless Qt objects here, on the GUI thread."""
        self.stop_frames()
        release_window(self)
        super().closeEvent(event)

    def stop_frames(self) -> None:
        """End a staggered frame for good (the window closes): the data updates still waiting
        are dropped, as their plots' items are about to be deleted."""
        self._stagger.stop()
        self._waiting, self._released = [], None
        for plot in self.plots.values():
            plot.graphics.discard_pending()

    def set_live(self, live: bool) -> None:
        """Paint light pens while a run trains (``live``), the plots' own pens when it stops.

        Light pens (one pixel, solid, same colours) are several times cheaper to draw (see
        :mod:`gradsim.ui.training.plots.quality`). In presentation mode the plots keep their
        pens: a room looks at thick lines from afar.
        """
        self.live = live
        if not live:
            self.paint_now()
        for plot in self.plots.values():
            plot.graphics.draft = live and self._presentation_scale == 1.0
            # The heatmap's rows, for one, grow in round steps while training (its axis is not
            # laid out again for every new row); stopped, they fill the plot.
            plot.set_live(live)

    def refresh(self, history: RunHistory, config: SimConfig) -> None:
        """Update every plot from ``history`` (cheap when nothing changed).

        Normally every plot's items are updated before this returns. While a run trains
        (:attr:`live`, :attr:`staggered`) the frame is staggered: Qt would paint all five views
        in one go, one window update after another without returning to the event loop (50-130
        ms on a loaded 2-core machine, during which no timer or key press is answered), and the
        five data updates before them took 6-25 ms more in one piece. The gradient plot (which
        the ``refreshed`` listeners, the diagnosis and its theory line, draw on) is updated now;
        every view waits (:meth:`PlotGraphics.hold`), the other four with their data update,
        and each is let go at the next tick of a :data:`STAGGER_MS` timer after the previous
        one's paint: its data update and its paint, then the event loop runs. The plots of a
        frame then show the history as it was when each was let go (a record or two apart while
        records stream in; the same once the run stops). A figure taken meanwhile lets every
        view go first (``full_quality``), so it shows every plot updated. :attr:`frame_work`
        times the views' data updates for the window's frame pacer.
        """
        stagger = self.live and self.staggered
        for index, (key, plot) in enumerate(self.plots.items()):
            if stagger:
                later = None if index == 0 else functools.partial(self._refresh_plot, key, history, config)
                plot.graphics.hold(later)
                if later is not None:
                    continue
            self._refresh_plot(key, history, config)
        self.refreshed.emit(history, config)
        if stagger:
            self._waiting = [plot.graphics for plot in self.plots.values()]
            self._released = None
            self._stagger.start(STAGGER_MS)

    def _refresh_plot(self, key: str, history: RunHistory, config: SimConfig) -> None:
        start = self.clock()
        self.plots[key].refresh(history, config)
        self.last_timings[key] = (self.clock() - start) * 1e3
        self.plotRefreshed.emit(key, history, config)

    @property
    def paints_pending(self) -> bool:
        """Whether views of a staggered frame are still waiting to be painted (or the last one
        let go has not painted yet)."""
        return bool(self._waiting) or self._released is not None

    def paint_now(self) -> None:
        """Let every view still waiting paint in the next window update (no more staggering)."""
        self._stagger.stop()
        self._released = None
        waiting, self._waiting = self._waiting, []
        for view in waiting:
            view.release()

    @QtCore.Slot()
    def _paint_next(self) -> None:
        """Let the next waiting view go; the one after it follows its paint (or the wait's end)."""
        # A view a figure already let go (full_quality) has nothing left to wait for.
        while self._waiting and not self._waiting[0].held:
            self._waiting.pop(0)
        if not self._waiting:
            self._released = None
            return
        view = self._waiting.pop(0)
        self._released = view
        with self.frame_work():
            view.release()  # its data update, if it waits, and then its paint
        self._stagger.start(STAGGER_WAIT_MS if view.isVisible() else STAGGER_MS)

    @QtCore.Slot()
    def _on_view_painted(self) -> None:
        if self._released is not None and self.sender() is self._released:
            self._released = None
            self._stagger.start(STAGGER_MS)

    def set_presentation_scale(self, scale: float) -> None:
        """Draw the plots and the selectors above them ``scale`` times larger (1: normal size).

        Pens the plots set anew while refreshing are not scaled here: call
        :func:`gradsim.ui.common.scaling.scale_items` on the views after a refresh.
        """
        self._presentation_scale = scale
        self.set_live(self.live)
        scale_plots(self, scale)
        selectors: list[QtWidgets.QWidget] = []
        for selector in self.findChildren(Selector):
            selectors += selector.findChildren(QtWidgets.QLabel) + selector.findChildren(QtWidgets.QComboBox)
        scale_widget_fonts(selectors, scale)

    def reset(self, config: SimConfig | None = None) -> None:
        """Clear all plots (the simulation was rebuilt).

        With ``config`` (the new run's), the empty plots show that run's axes at once: time steps
        ``1..T``, no iterations yet, and the activation plot its function; otherwise they would
        keep the previous run's axes until the first step.
        """
        for plot in self.plots.values():
            plot.graphics.discard_pending()  # the history they would have drawn is gone
        self.paint_now()
        for plot in self.plots.values():
            plot.reset()
        if config is None:
            return
        steps = (0.5, config.seq_len + 0.5)
        gradient = self.plots["gradient"].plot  # type: ignore[attr-defined]
        heatmap = self.plots["heatmap"].plot  # type: ignore[attr-defined]
        loss = self.plots["loss"]
        gradient.setXRange(*steps, padding=0.0)
        heatmap.setXRange(*steps, padding=0.0)
        heatmap.setYRange(-0.5, 0.5, padding=0.0)
        # Log axes in decades: 0.1 to 10 until the data says otherwise (auto range stays on).
        neutral = (-1.0, 1.0)
        gradient.getViewBox().setRange(yRange=neutral, padding=0.0, disableAutoRange=False)
        for plot in (loss.loss_plot, loss.norm_plot):  # type: ignore[attr-defined]
            plot.getViewBox().setRange(xRange=(0.5, 1.5), yRange=neutral, padding=0.0, disableAutoRange=False)
        empty = RunHistory()
        for plot in self.plots.values():
            plot.refresh(empty, config)

    def save_state(self) -> QtCore.QByteArray:
        """The splitter positions, for QSettings: a tag, then each splitter's state with its length."""
        data = bytearray(_STATE_TAG)
        for splitter in self.splitters:
            state = bytes(splitter.saveState().data())
            data += struct.pack(">I", len(state)) + state
        return QtCore.QByteArray(bytes(data))

    def restore_state(self, state: QtCore.QByteArray | bytes | None) -> bool:
        """Restore splitter positions saved by :meth:`save_state`; False if ``state`` is unusable."""
        data = bytes(state.data()) if isinstance(state, QtCore.QByteArray) else bytes(state or b"")
        if not data.startswith(_STATE_TAG):
            return False
        states, offset = [], len(_STATE_TAG)
        for _ in self.splitters:
            if offset + 4 > len(data):
                return False
            (length,) = struct.unpack_from(">I", data, offset)
            offset += 4
            if offset + length > len(data):
                return False
            states.append(QtCore.QByteArray(data[offset : offset + length]))
            offset += length
        return all([s.restoreState(d) for s, d in zip(self.splitters, states, strict=True)])
