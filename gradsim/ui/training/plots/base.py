"""What every dashboard plot shares: a themed graphics area, change detection, a selector row.

A plot reads a :class:`~gradsim.engine.history.RunHistory` and a
:class:`~gradsim.engine.config.SimConfig` and only displays them (it never writes back).
``refresh`` is called by the window's timer at display rate; when neither the history nor the
config changed since the last call it returns at once, so an idle or paused run costs nothing.

The helpers the plots use are in modules of their own and imported from here too: ``titles``
(TitleLabel, OverlayText), ``axes`` (LogAxis, DecadeAxis, MajorGrid), ``ranges`` (snapped ranges,
SnappedBounds) and ``legend`` (RowLegend).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6 import QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.teardown import release_window
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.training.plots.axes import (
    DecadeAxis,
    KeptRectAxis,
    LogAxis,
    MajorGrid,
    drawable,
    log_axes,
    power_of_ten_label,
)
from gradsim.ui.training.plots.legend import RowLegend, layer_names
from gradsim.ui.training.plots.quality import PlotGraphics
from gradsim.ui.training.plots.ranges import (
    LiveViewBox,
    SnappedBounds,
    finite_range,
    nice_step,
    snapped_range,
)
from gradsim.ui.training.plots.titles import OverlayText, TitleLabel, install_title, set_title

# The helpers of the plots live in modules of their own (axes, ranges, titles, legend); the plots
# and features import them from here as well.
__all__ = [
    "DecadeAxis",
    "KeptRectAxis",
    "LiveViewBox",
    "LogAxis",
    "MajorGrid",
    "OverlayText",
    "PlotGraphics",
    "PlotPanel",
    "RowLegend",
    "Selector",
    "SnappedBounds",
    "TitleLabel",
    "drawable",
    "finite_range",
    "install_title",
    "layer_names",
    "log_axes",
    "nice_step",
    "power_of_ten_label",
    "set_title",
    "snapped_range",
]


class PlotPanel(QtWidgets.QWidget):
    """Base class of the five dashboard plots.

    Subclasses build their pyqtgraph items once in ``__init__`` and implement
    :meth:`_draw` (update the items from the data) and :meth:`_clear` (empty them).

    Attributes
    ----------
    theme : the colours and fonts in use
    graphics : the :class:`~gradsim.ui.training.plots.quality.PlotGraphics` (a
        ``pg.GraphicsLayoutWidget``) holding the plot items; ``graphics.draft`` paints light pens
        while a run trains. Pictures of a plot: :mod:`gradsim.ui.training.render`
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme if theme is not None else current_theme()
        self.graphics = PlotGraphics()
        self.graphics.setBackground(self.theme.background)
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._layout.addWidget(self.graphics, 1)
        # Three of these side by side fit the Training tab of a 1280-pixel window.
        self.setMinimumSize(200, 180)
        self.grids: list[MajorGrid] = []
        self._history: RunHistory | None = None
        self._config: SimConfig | None = None
        self._seen: tuple[int, StepRecord | None, SimConfig] | None = None
        self._pending: tuple[RunHistory, SimConfig] | None = None

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """A panel closed on its own (offscreen, or a test's) releases pyqtgraph's parentless Qt
        objects here, on the GUI thread (inside a window, the window's close does)."""
        release_window(self)
        super().closeEvent(event)

    # -- the contract ---------------------------------------------------------------------
    def refresh(self, history: RunHistory, config: SimConfig) -> None:
        """Show the current state of ``history`` (a no-op if nothing changed since last time).

        A plot hidden in a shown window (another tab is in front) only notes the data and
        draws it when it is shown again.
        """
        if not self.isVisible() and self.window().isVisible():
            self._pending = (history, config)
            return
        self._pending = None
        seen = (history.total_records, history.latest, config)
        if history is self._history and self._seen is not None and _same(seen, self._seen):
            return
        if history is not self._history or not self._continues(history):
            # Another history, or this one was cleared and refilled: no cache applies.
            self._forget()
        self._history, self._config, self._seen = history, config, seen
        self._draw(history, config)

    def _continues(self, history: RunHistory) -> bool:
        """Whether ``history`` still holds the run last drawn (it was not cleared since).

        The record drawn last must still be there: the same object among the newest records,
        or (once pushed out of those) an entry with its iteration number and loss.
        """
        if self._seen is None:
            return True
        total, previous, _ = self._seen
        if previous is None:
            return True
        if history.total_records < total:
            return False
        if any(record is previous for record in history.recent()):
            return True
        iterations = history.iterations()
        index = int(np.searchsorted(iterations, previous.iteration))
        if index >= len(iterations) or iterations[index] != previous.iteration:
            return False
        loss = float(history.losses()[index])
        return loss == previous.loss or (math.isnan(loss) and math.isnan(previous.loss))

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._pending is not None:
            self.refresh(*self._pending)

    def reset(self) -> None:
        """Forget the data shown (after the simulation was rebuilt)."""
        self._pending = None
        self._history = None
        self._config = None
        self._seen = None
        self._forget()
        self._clear()

    def redraw(self) -> None:
        """Draw the last history again (after a display option such as the layer changed)."""
        if self._history is not None and self._config is not None:
            self._draw(self._history, self._config)

    def set_live(self, live: bool) -> None:
        """A run trains (``live``) or stands still. A plot that draws differently while a run
        trains overrides it (the heatmap); the light pens are ``graphics.draft``'s."""

    # -- for subclasses -------------------------------------------------------------------
    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop caches derived from the previous history (override when there are any)."""

    def _add_plot(self, row: int = 0, col: int = 0, grid: str = "xy", **kwargs: object) -> pg.PlotItem:
        """A plot in the graphics layout with a :class:`TitleLabel`; ``grid`` names the axes
        (``"x"``, ``"y"``, ``"xy"`` or ``""``) whose major ticks get grid lines."""
        # The auto range is worked out again only for the items it follows (LiveViewBox).
        kwargs.setdefault("viewBox", LiveViewBox())
        # The shown axes keep their bounding rectangles between changes (KeptRectAxis); an
        # axis given here is shown by pyqtgraph, so the hidden top and right are left to it.
        given = dict(kwargs.get("axisItems") or {})  # type: ignore[call-overload]
        kwargs["axisItems"] = {side: KeptRectAxis(side) for side in ("left", "bottom")} | given
        plot = self.graphics.addPlot(row=row, col=col, **kwargs)
        plot.setMenuEnabled(False)
        # The "A" (auto range) button stays only where pyqtgraph keeps the range (see
        # GradientPlot); plots that set their ranges themselves hide it.
        plot.hideButtons()
        install_title(plot)
        if grid:
            self.grids.append(MajorGrid(plot, self.theme, x="x" in grid, y="y" in grid))
        return plot

    def _add_selector(
        self, label: str, tooltip: str, on_chosen: Callable[[int], None]
    ) -> QtWidgets.QComboBox:
        """A labelled combo box above the graphics, in :attr:`selector_row` (hidden until shown);
        the user's choice calls ``on_chosen(index)``. Returns the combo box."""
        self.selector_row = Selector(label, tooltip, self.theme)
        self._layout.insertWidget(0, self.selector_row)
        self.selector_row.hide()
        self.selector_row.combo.currentIndexChanged.connect(on_chosen)
        return self.selector_row.combo

    def _set_title(
        self,
        plot: pg.PlotItem,
        text: str,
        points: int | None = None,
        justify: str = "center",
        shorter: tuple[str, ...] = (),
    ) -> None:
        """Set ``plot``'s title (HTML allowed) in the theme's colour and title size.

        ``shorter``: forms of the title to show, longest first, when ``text`` does not fit the
        plot's width (the full text is then the tooltip). ``justify="left"``: a title wider than
        its plot is cut on the right only, so that a key (coloured words) keeps its first words.
        """
        size = self.theme.title_pt if points is None else points
        set_title(plot, text, *shorter, color=self.theme.foreground, size=f"{size}pt", justify=justify)


def _same(a: tuple[int, StepRecord | None, SimConfig], b: tuple[int, StepRecord | None, SimConfig]) -> bool:
    return a[0] == b[0] and a[1] is b[1] and a[2] == b[2]


class Selector(QtWidgets.QWidget):
    """A row with a label and a combo box (``combo``), for choosing what a plot shows."""

    def __init__(self, label: str, tooltip: str, theme: Theme) -> None:
        super().__init__()
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 0)
        text = QtWidgets.QLabel(label)
        text.setFont(theme.font(theme.tick_pt))
        self.combo = QtWidgets.QComboBox()
        self.combo.setToolTip(tooltip)
        self.combo.setFont(theme.font(theme.tick_pt))
        text.setBuddy(self.combo)
        row.addWidget(text)
        row.addWidget(self.combo)
        row.addStretch(1)

    def set_items(self, items: list[str], index: int) -> None:
        """Replace the choices and select ``index`` without emitting a change."""
        blocked = self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(items)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(blocked)
