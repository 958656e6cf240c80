"""The pictures of a training animation: an offscreen copy of the dashboard.

:class:`DashboardFrames` follows a replayed history record by record and paints the dashboard or
one plot as ``(H, W, 3) uint8`` arrays, with :mod:`gradsim.ui.training.offscreen` (the backward
pass's frames are the backprop feature's :class:`~gradsim.ui.features.backprop.backprop_frames.
BackpropFrames`, reached through :class:`~gradsim.ui.feature_api.FrozenNetwork`). GUI thread only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6 import QtCore, QtWidgets

# isort: split

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.scaling import scale_items
from gradsim.ui.common.theme import Theme
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS, Dashboard
from gradsim.ui.training.offscreen import paint_settled, settle, show_offscreen

DASHBOARD = "dashboard"
BACKPROP = "backprop"
TARGETS = (DASHBOARD, *PLOT_KEYS)
BOTTOM_ROW = ("loss", "activation", "health")  # the dashboard's second row
# The dashboard's logical size offscreen (as ``gradsim snapshot``): a plot gets its pane of it.
DEFAULT_DASHBOARD_SIZE = (1200, 800)


class DashboardFrames:
    """An offscreen dashboard following a history record by record; paints one plot or all.

    Parameters
    ----------
    config : the run's config (the plots read its settings)
    target : ``"dashboard"`` or a plot key of :data:`~gradsim.ui.training.dashboard.PLOT_KEYS`
    width : frame width in pixels (height in proportion to the target's logical size)
    theme : colours; the application's if None
    size : the dashboard's logical size
    scale : presentation scale of the plots (1: normal; see presentation mode)
    dashboard_state : splitter positions (:meth:`Dashboard.save_state`) to copy, e.g. the
        window's, so that a plot has the shape it has on screen
    bottom_row : whether the dashboard's bottom row shows (presentation mode may hide it)

    Must be used on the GUI thread; :meth:`close` deletes the offscreen widgets.
    """

    def __init__(
        self,
        config: SimConfig,
        target: str = DASHBOARD,
        width: int = 640,
        theme: Theme | None = None,
        size: tuple[int, int] = DEFAULT_DASHBOARD_SIZE,
        scale: float = 1.0,
        dashboard_state: QtCore.QByteArray | bytes | None = None,
        bottom_row: bool = True,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"the plot must be one of {', '.join(TARGETS)} (got {target!r})")
        self.config = config
        self.history = RunHistory()
        self.dashboard = Dashboard(theme=theme)
        # A plot of the bottom row is drawn even where presentation mode hides that row.
        self.dashboard.splitters[2].setVisible(bottom_row or target in BOTTOM_ROW)
        show_offscreen(self.dashboard, size)
        if dashboard_state is not None:
            self.dashboard.restore_state(dashboard_state)
        self.scale = scale
        if scale != 1.0:
            self.dashboard.set_presentation_scale(scale)
        self.target: QtWidgets.QWidget = (
            self.dashboard if target == DASHBOARD else self.dashboard.plots[target]
        )
        self.width = width
        self.size = (width, render.png_size(self.target, width).height())

    def add(self, records: Iterable[StepRecord]) -> None:
        """Append ``records`` to the history shown."""
        for record in records:
            self.history.append(record)

    def frame(self) -> np.ndarray:
        """The target as it shows the history now: ``(H, W, 3) uint8``."""
        if self.target is self.dashboard:
            self.dashboard.refresh(self.history, self.config)
        else:
            # One plot shown: the other four need not draw (no plot reads another).
            self.target.refresh(self.history, self.config)  # type: ignore[attr-defined]
        settle()
        if self.scale != 1.0:
            for view in self.dashboard.findChildren(QtWidgets.QGraphicsView):
                scale_items(view, self.scale)  # pens the refresh set anew
        return paint_settled(self.target, self.width)

    def close(self) -> None:
        """Delete the offscreen dashboard."""
        self.dashboard.close()
        self.dashboard.deleteLater()
