"""Pinned runs ("ghosts") on the dashboard, and the A/B comparison tab.

"Pin as reference" (Ctrl+P) keeps a deep copy of the run shown (its config and its
:class:`~gradsim.engine.history.RunHistory`) as a :class:`PinnedRun`. Every visible pin is drawn
on the dashboard's plots as a *ghost* in the pin's colour, on items this module adds to the
plots' own ``PlotItem``s (the plot classes are not touched):

- gradient: a dashed curve per layer of the pinned run's latest ``||dL/dh_t||``;
- loss: the pinned loss (dashed) and its global gradient norm before clipping (dashed);
- health: hollow circles at the pinned per-layer saturation, weight-gradient norm and update
  ratio, next to the live bars;
- activation: the outline of the pinned run's pre-activation histogram (same bins as the live
  one), and its derivative curve (dashed) when its activation differs;
- heatmap: an image cannot be overlaid on another image legibly, so the heatmap names each pin
  with its regime measure's ratio (the most extreme span, as the status bar shows it) in its
  corner instead.

A pin is labelled by how it differs from the live run (``"clip: none → norm 1.0"``), relabelled
whenever the live run restarts with another config. The "Pinned runs" dock lists the pins
(colour, visibility, label, Remove, Load this config; Clear all). The A/B tab is built by
:mod:`gradsim.ui.features.compare.ab_view`.

This module holds the feature (pinning, the keys, the A/B actions, fitting the plots' ranges);
what a pin keeps is in :mod:`.pins`, the items it draws in :mod:`.ghosts`, the dock in
:mod:`.pin_dock`.
"""

from __future__ import annotations

import copy
from html import escape
from typing import cast

import numpy as np
from PySide6 import QtCore, QtGui

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.common.config_diff import describe_difference, differences, suggest_change
from gradsim.ui.common.icons import icon
from gradsim.ui.common.widgets import make_action
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.compare.ab_view import ABView, install_shortcuts
from gradsim.ui.features.compare.ghosts import GhostItems, GhostLegend, HeatmapNote, fit_log_range
from gradsim.ui.features.compare.pin_dock import PinnedRunsDock
from gradsim.ui.features.compare.pins import MAX_PINS, PIN_COLORS, PinnedRun, short_label, span_ratio
from gradsim.ui.training.plots.activation import ActivationPlot
from gradsim.ui.training.plots.health import HealthPlot

# The live plots whose ranges the pinned runs' ghosts widen when the plot has drawn.
GHOST_PLOTS = ("activation", "health")


class CompareFeature(QtCore.QObject):
    """What :func:`install` returns: the pins, their ghosts and dock, and the A/B tab.

    Signals
    -------
    pinsChanged() : a pin was added, removed, hidden/shown or relabelled
    """

    pinsChanged = QtCore.Signal()

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self._pins: list[PinnedRun] = []
        self._ghosts: dict[int, GhostItems] = {}
        dashboard = window.dashboard
        theme = dashboard.theme
        # Top left: the plot's own legend is bottom right, and a vanishing run's curves fall there.
        self.gradient_legend = GhostLegend(window.overlay_plot("gradient")[0], theme, (0, 0), (8, 8))
        self.heatmap_note = HeatmapNote(window.overlay_plot("heatmap")[0], theme, "bottom-left")
        self.heatmap_note.fill = pg.mkBrush(theme.background + "d0")
        self.gradient_legend.setVisible(False)
        self.heatmap_note.show_html("")

        window.run_menu.addSeparator()
        self.pin_action = make_action(
            window, "Pin as reference", self.pin_current,
            "Keep the run shown as a dashed ghost on every plot, to compare the next run with",
            keys="Ctrl+P", name="pin_action", icon=icon("pin"), menu=window.run_menu,
        )  # fmt: skip
        window.run_toolbar.addSeparator()
        window.run_toolbar.addAction(self.pin_action)

        self.dock = PinnedRunsDock(self, window)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        dock_action = self.dock.toggleViewAction()
        dock_action.setToolTip("Show or hide the list of pinned runs")
        window.view_menu.addAction(dock_action)

        self.ab_view = ABView(window)
        window.tabs.addTab(self.ab_view, "A/B")
        self.ab_transport_actions = install_shortcuts(self.ab_view, window)
        self.ab_tab_action = QtGui.QAction("A/B comparison tab", window)
        self.ab_tab_action.setObjectName("ab_tab_action")
        self.ab_tab_action.setShortcut(QtGui.QKeySequence("Ctrl+4"))
        self.ab_tab_action.setToolTip("Show the A/B tab: two configs trained side by side (Ctrl+4)")
        self.ab_tab_action.triggered.connect(lambda: window.tabs.setCurrentWidget(self.ab_view))
        window.addAction(self.ab_tab_action)
        window.view_menu.addAction(self.ab_tab_action)
        self.ab_compare_action = make_action(
            window, "Compare in A/B…", self.compare_in_ab,
            "Train the run's settings (A) against a copy with one change (B) in lockstep",
            keys="Ctrl+Shift+P", name="ab_compare_action", menu=window.run_menu,
        )  # fmt: skip

        window.runRestarted.connect(self._on_run_restarted)
        dashboard.plotRefreshed.connect(self._on_plot_refreshed)
        window.closing.connect(self.ab_view.shutdown)
        # Presentation mode: the A/B tab scales itself (the dashboard's ghosts scale with its plots).
        window.presentationScaleChanged.connect(self.ab_view.set_presentation_scale)
        if window.presentation_scale != 1.0:
            self.ab_view.set_presentation_scale(window.presentation_scale)

    # -- public --------------------------------------------------------------------------------
    def pinned_runs(self) -> list[PinnedRun]:
        """The pins, oldest first (the list is a copy; the pins are the live objects)."""
        return list(self._pins)

    def details(self, pin: PinnedRun) -> list[str]:
        """Every setting in which ``pin`` differs from the live run (``"clip: none → norm 1.0"``)."""
        return differences(pin.config, self.window.current_config())

    def ghosts(self, pin: PinnedRun) -> GhostItems:
        """The plot items drawing ``pin``."""
        return self._ghosts[id(pin)]

    @QtCore.Slot()
    def pin_current(self) -> PinnedRun | None:
        """Pin the run shown; None (with a status message) if there is nothing to pin or no room."""
        window = self.window
        history = window.history
        if history.latest is None:
            window.statusBar().showMessage(
                "Nothing to pin yet: take a training step first (→ or Space).", 6000
            )
            return None
        return self.add_pin(window.current_config(), history)

    def add_pin(self, config: SimConfig, history: RunHistory) -> PinnedRun | None:
        """Pin a copy of ``history`` of a run of ``config`` (also for runs read from a bundle)."""
        window = self.window
        if len(self._pins) >= MAX_PINS:
            window.statusBar().showMessage(
                f"At most {MAX_PINS} pinned runs: remove one in the Pinned runs dock first.", 6000
            )
            self.dock.show()
            return None
        used = {pin.color for pin in self._pins}
        color = next(c for c in PIN_COLORS if c not in used)
        kept = copy.deepcopy(history)  # the live history keeps changing; the pin must not
        pin = PinnedRun("", config, kept, color)
        pin.label = describe_difference(config, window.current_config(), pin.iteration)
        self._pins.append(pin)
        self._ghosts[id(pin)] = GhostItems(pin, window.dashboard)
        self._pins_changed(rebuild=True)
        self.dock.show()
        window.statusBar().showMessage(f"Pinned iteration {pin.iteration} as a reference.", 4000)
        return pin

    def set_visible(self, pin: PinnedRun, visible: bool) -> None:
        """Show or hide ``pin``'s ghosts."""
        pin.visible = visible
        self._ghosts[id(pin)].set_visible(visible)
        rows = self.dock.row_widgets
        index = self._pins.index(pin)
        if index < len(rows) and rows[index].visible_box.isChecked() != visible:
            blocked = rows[index].visible_box.blockSignals(True)
            rows[index].visible_box.setChecked(visible)
            rows[index].visible_box.blockSignals(blocked)
        self._pins_changed(rebuild=False)

    def remove(self, pin: PinnedRun) -> None:
        """Forget ``pin`` and take its ghosts off the plots."""
        if pin not in self._pins:
            return
        self._pins.remove(pin)
        self._ghosts.pop(id(pin)).remove()
        self._pins_changed(rebuild=True)

    @QtCore.Slot()
    def clear(self) -> None:
        """Forget every pin."""
        for pin in list(self._pins):
            self.remove(pin)

    def load_config(self, pin: PinnedRun) -> None:
        """Start a new live run with ``pin``'s settings (the pin stays)."""
        self.window.apply_config(pin.config)
        self.window.tabs.setCurrentIndex(0)

    @QtCore.Slot()
    def compare_in_ab(self) -> None:
        """Open the A/B tab with the live settings as A and a suggested change as B."""
        config = self.window.current_config()
        self.ab_view.set_configs(config, suggest_change(config))
        self.window.tabs.setCurrentWidget(self.ab_view)

    # -- drawing -------------------------------------------------------------------------------
    def _pins_changed(self, rebuild: bool) -> None:
        if rebuild:
            self.dock.rebuild(self._pins)
        self._update_keys()
        for key in GHOST_PLOTS:
            self._on_plot_refreshed(key, self.window.history, self.window.current_config())
        self.pinsChanged.emit()

    def _update_keys(self) -> None:
        shown = [pin for pin in self._pins if pin.visible]
        gradient_entries, notes = [], []
        for pin in shown:
            ghosts = self._ghosts[id(pin)]
            if ghosts.gradient_curves:
                gradient_entries.append(
                    (ghosts.gradient_curves[0], escape(short_label(pin.label), quote=False))
                )
            record = pin.latest
            ratio = "–" if record is None else span_ratio(record)
            notes.append(f"<span style='color:{ghosts.color.name()}'>■</span> {ratio}")
        self.gradient_legend.show_pins(gradient_entries)
        theme = self.window.dashboard.theme
        html = "<br>".join(notes)
        if html:
            # Short lines: the heatmap is the narrowest plot. The tooltip says what the number is.
            html = f"<span style='color:{theme.foreground}'>pinned:<br>{html}</span>"
        self.heatmap_note.setToolTip(
            "Each pinned run's most extreme span (the one its badge is decided on): "
            "the layer whose gradient changed most back through time, or 'depth'"
            if html
            else ""
        )
        self.heatmap_note.show_html(html)

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: SimConfig) -> None:
        for pin in self._pins:
            pin.label = describe_difference(pin.config, config, pin.iteration)
        self.dock.relabel(self._pins)
        self._update_keys()
        self.pinsChanged.emit()

    @QtCore.Slot(str, object, object)
    def _on_plot_refreshed(self, key: str, history: RunHistory, config: SimConfig) -> None:
        """After a live plot drew: fit the ranges it set to the ghosts too."""
        del history
        shown = [self._ghosts[id(pin)] for pin in self._pins if pin.visible]
        if not shown or key not in GHOST_PLOTS:
            return
        plots = self.window.dashboard.plots
        if key == "activation":
            activation = cast(ActivationPlot, plots["activation"])
            choice = activation.layer_selector.currentIndex()
            highest = max(g.update_activation(activation.extent, max(choice, 0), config) for g in shown)
            (_, _), (low, high) = activation.hist_view.viewRange()
            if highest * 1.15 > high:
                activation.hist_view.setYRange(0.0, highest * 1.15, padding=0.0)
            return
        health = cast(HealthPlot, plots["health"])
        for plot, name in ((health.gradient_plot, "gradient"), (health.ratio_plot, "ratio")):
            values = []
            for ghosts in shown:
                markers = ghosts.gradient_markers if name == "gradient" else ghosts.ratio_markers
                for item in markers.values():
                    _x, y = item.getOriginalDataset()
                    if y is not None:
                        values.append(np.asarray(y, dtype=np.float64))
            fit_log_range(plot, values)


def install(window: WindowAPI) -> CompareFeature:
    """Add pinning (Ctrl+P, Run menu, toolbar, "Pinned runs" dock) and the A/B tab to ``window``."""
    return CompareFeature(window)
