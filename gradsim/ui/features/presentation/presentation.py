"""Presentation mode: every tab drawn 1.6 times larger for a projector, the controls folded away.

View ▸ Presentation mode (F5) sets the window's presentation scale to :data:`PRESENTATION_SCALE`
(:meth:`~gradsim.ui.main_window.MainWindow.set_presentation_scale`): each tab scales its own
text, lines and markers when the window's ``presentationScaleChanged`` signal says so (the
Backprop, Sweep and A/B tabs connect to it when they are installed), and this module scales the
Training tab's dashboard. The mode also hides the controls panel, the docks beside the tabs and
the dashboard's bottom row, so that the gradient plot and its heatmap get the room (View ▸ "All
five plots in presentation mode" keeps the bottom row, for screens of 1920 x 1080 and more), and
is remembered (QSettings) like the other view settings. Snapshots and recorded animations taken
in the mode carry the same scale. Leaving the mode gives every widget back the size it had.

How plots and fonts are scaled: :mod:`gradsim.ui.common.scaling`.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.ui.common.scaling import graphics_views, scale_items, scale_of, scale_plots, scale_widget_fonts
from gradsim.ui.feature_api import WindowAPI

__all__ = [
    "PRESENTATION_KEY",
    "PRESENTATION_SCALE",
    "PresentationFeature",
    "install",
    "scale_dashboard",
    "scale_items",
    "scale_of",
    "scale_plots",
    "scale_widget_fonts",
    "selector_widgets",
]

# Text on a projector seen from the back of a lecture room: 10 pt ticks become 16 pt.
PRESENTATION_SCALE = 1.6
PRESENTATION_KEY = "view/presentation"
ALL_PLOTS_KEY = "view/presentation_all_plots"


def selector_widgets(root: QtWidgets.QWidget) -> list[QtWidgets.QWidget]:
    """The labels and combo boxes above the plots in ``root`` (the dashboard's selectors)."""
    from gradsim.ui.training.plots.base import Selector

    widgets: list[QtWidgets.QWidget] = []
    for selector in root.findChildren(Selector):
        widgets += selector.findChildren(QtWidgets.QLabel) + selector.findChildren(QtWidgets.QComboBox)
    return widgets


def scale_dashboard(dashboard: Any, scale: float) -> None:
    """Scale a dashboard's plots and the selectors above them (an offscreen one included)."""
    dashboard.set_presentation_scale(scale)


class PresentationFeature(QtCore.QObject):
    """View ▸ Presentation mode (F5) of ``window``.

    Attributes
    ----------
    action : the checkable "Presentation mode" action (F5)
    all_plots_action : checkable; in the mode, keep the dashboard's bottom row too (off by default)
    scale : the scale in use now (1 outside the mode)
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.scale = 1.0
        self._controls_were_shown = True
        self._layout_before: tuple[QtCore.QByteArray, list[int]] | None = None
        self.action = QtGui.QAction("Presentation mode", window)
        self.action.setObjectName("presentation_action")
        self.action.setCheckable(True)
        self.action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_F5))
        tip = (
            f"Text, lines and markers {PRESENTATION_SCALE:g} times larger for a projector, the controls "
            "panel hidden (F5); snapshots and animations keep the scale"
        )
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)
        self.action.toggled.connect(self._on_user_toggled)
        window.addAction(self.action)
        self.all_plots_action = QtGui.QAction("All five plots in presentation mode", window)
        self.all_plots_action.setObjectName("presentation_all_plots_action")
        self.all_plots_action.setCheckable(True)
        tip = (
            "In presentation mode, keep the bottom row (loss, activation, layer health) as well; "
            "off, the gradient plot and its heatmap get the whole height (for screens below 1920 x 1080)"
        )
        self.all_plots_action.setToolTip(tip)
        self.all_plots_action.setStatusTip(tip)
        self.all_plots_action.setChecked(
            str(window.settings.value(ALL_PLOTS_KEY, False)).lower() in ("true", "1")
        )
        self.all_plots_action.toggled.connect(self._on_user_all_plots)
        window.view_menu.addSeparator()
        window.view_menu.addAction(self.action)
        window.view_menu.addAction(self.all_plots_action)
        window.dashboard.plotRefreshed.connect(self._on_plot_refreshed)
        window.closing.connect(self._on_closing)
        stored = window.settings.value(PRESENTATION_KEY, False)
        if str(stored).lower() in ("true", "1"):
            # Once the window has restored its saved layout (after every feature is installed):
            # the mode folds the docks that layout shows, and gives them back when it ends.
            QtCore.QTimer.singleShot(0, self, lambda: self.action.setChecked(True))

    def set_enabled(self, on: bool) -> None:
        """Enter or leave presentation mode (as the menu does)."""
        self.action.setChecked(on)

    @QtCore.Slot(bool)
    def _on_user_toggled(self, on: bool) -> None:
        window = self.window
        self.scale = PRESENTATION_SCALE if on else 1.0
        controls = window.show_controls_action
        if on:
            self._layout_before = (window.saveState(), window.splitter.sizes())
            self._controls_were_shown = controls.isChecked()
            if controls.isChecked():
                controls.trigger()
            self._fold_docks(True)
        scale_dashboard(window.dashboard, self.scale)
        # Every other tab scales itself (it connected to the window's presentationScaleChanged).
        window.set_presentation_scale(self.scale)
        self._show_rows()
        if not on:
            # The panel and the docks come back once the tabs have their own size again.
            if self._controls_were_shown and not controls.isChecked():
                controls.trigger()
            self._fold_docks(False)
        window.settings.setValue(PRESENTATION_KEY, on)
        window.statusBar().showMessage(
            "Presentation mode: press F5 to leave it" if on else "Presentation mode off", 5000
        )

    def _fold_docks(self, on: bool) -> None:
        """Hide the docks beside the tabs (diagnosis, lessons, pinned runs) in the mode, and give
        them back their places and sizes, and the controls panel its width, when it ends: at 1.6
        times the size, a 1280 x 720 window has the room of 800 x 450, and the tabs need all of it."""
        window = self.window
        if on:
            for dock in window.findChildren(QtWidgets.QDockWidget):
                if not dock.isFloating():
                    dock.hide()
            # The tab bar of docks the window restored tabbed stays shown with its docks hidden,
            # drawn over the menu bar at (0, 0); leaving the mode restores the layout, and the
            # window shows the tab bars that layout uses again.
            for bar in window.findChildren(
                QtWidgets.QTabBar, options=QtCore.Qt.FindChildOption.FindDirectChildrenOnly
            ):
                bar.hide()
            return
        # A hidden tab does not lay itself out again until it is shown, and its stale, larger
        # minimum would make the docks narrower than they were: lay every tab out now.
        for index in range(window.tabs.count()):
            tab = window.tabs.widget(index)
            layout = None if tab is None else tab.layout()
            if layout is not None:
                layout.invalidate()
                layout.activate()
        if self._layout_before is not None:
            state, sizes = self._layout_before
            window.restoreState(state)
            window.splitter.setSizes(sizes)
            self._layout_before = None

    @QtCore.Slot(bool)
    def _on_user_all_plots(self, on: bool) -> None:
        self.window.settings.setValue(ALL_PLOTS_KEY, on)
        self._show_rows()

    def bottom_row_shown(self) -> bool:
        """Whether the dashboard's bottom row (loss, activation, health) is shown."""
        return self.scale == 1.0 or self.all_plots_action.isChecked()

    def _show_rows(self) -> None:
        # At 1.6x, five plots in a 1280 x 720 window have the room of 800 x 450: too little for
        # their titles and axis labels. The top row (the gradient and its heatmap) is the core.
        bottom = self.window.dashboard.splitters[2]
        bottom.setVisible(self.bottom_row_shown())

    @QtCore.Slot(str, object, object)
    def _on_plot_refreshed(self, key: str, *_: object) -> None:
        if self.scale != 1.0:
            # The plot may have set new pens while drawing; scale those (cheap when none changed)
            # before its view is painted.
            for view in graphics_views(self.window.dashboard.plots[key]):
                scale_items(view, self.scale)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        self.window.settings.setValue(PRESENTATION_KEY, self.action.isChecked())
        if self._layout_before is not None:
            # The window stores its own docks' layout, not the mode's (the mode folds it again).
            self.window.restoreState(self._layout_before[0])


def install(window: WindowAPI) -> PresentationFeature:
    """Add View ▸ Presentation mode (F5), restored from the settings."""
    return PresentationFeature(window)
