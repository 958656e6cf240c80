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
"""

from __future__ import annotations

import copy
import dataclasses
import math
from html import escape
from typing import Any, cast

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.activations import make_activation
from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import measure
from gradsim.ui.common.config_diff import describe_difference, differences, suggest_change
from gradsim.ui.common.icons import icon
from gradsim.ui.common.theme import Theme
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.compare.ab_view import ABView, install_shortcuts
from gradsim.ui.training.plots.activation import BINS, ActivationPlot
from gradsim.ui.training.plots.base import OverlayText, drawable
from gradsim.ui.training.plots.health import KINDS, HealthPlot

MAX_PINS = 6
# One colour per pin, distinct from the layer colours' first hues and from red (non-finite).
PIN_COLORS = ("#6d4c41", "#c2185b", "#00897b", "#7b1fa2", "#546e7a", "#9e9d24")
# Horizontal offset of the weight_ih / weight_hh bars in the health charts (as HealthPlot draws).
_KIND_OFFSETS = {"weight_ih": -0.19, "weight_hh": 0.19}
GHOST_Z = -2  # under the live curves (0) and over the faint trail (-1)


@dataclasses.dataclass
class PinnedRun:
    """A run kept for comparison.

    Attributes
    ----------
    label : how the pinned config differs from the live one (updated when the live run changes)
    config : the pinned run's config
    history : a deep copy of the run's history at the moment it was pinned
    color : ``"#rrggbb"`` of its ghosts
    visible : whether its ghosts are drawn
    """

    label: str
    config: SimConfig
    history: RunHistory
    color: str
    visible: bool = True

    @property
    def latest(self) -> StepRecord | None:
        """The newest record of the pinned run."""
        return self.history.latest

    @property
    def iteration(self) -> int:
        """Training steps the pinned run had taken."""
        latest = self.history.latest
        return 0 if latest is None else latest.iteration


class GhostItems:
    """The plot items of one pin, added to the dashboard's plots once and updated with setData.

    Attributes
    ----------
    gradient_curves : one dashed PlotDataItem per layer, ``(1..T, latest.log10_grad_norms[k])``
        (log10 data, as the gradient plot's own curves; non-finite entries as NaN)
    loss_curve, norm_curve : ``(iterations, losses)``, ``(iterations, global norm before)``
    saturation_markers : ``(layers, latest.saturation)``
    gradient_markers, ratio_markers : kind -> ``(layers ± offset, param_grad_norms / update_ratios)``
    histogram_outline : step curve in the activation plot's histogram view
    derivative_curve : the pinned activation's derivative (empty if it is the live one's)
    """

    def __init__(self, pin: PinnedRun, dashboard: Any) -> None:
        self.pin = pin
        self._dashboard = dashboard
        color = QtGui.QColor(pin.color)
        if dashboard.theme.name == "dark":
            color = color.lighter(160)
        self.color = color
        dashed = pg.mkPen(color, width=2.2, style=QtCore.Qt.PenStyle.DashLine, cosmetic=True)
        plots = dashboard.plots
        gradient = plots["gradient"]
        self.gradient_curves: list[pg.PlotDataItem] = []
        record = pin.latest
        if record is not None:
            logs = drawable(record.log10_grad_norms)
            steps = np.arange(1, logs.shape[1] + 1, dtype=np.float64)
            for k in range(logs.shape[0]):
                curve = pg.PlotDataItem(steps, logs[k], pen=dashed, connect="finite")
                self._add(gradient.plot, curve)
                self.gradient_curves.append(curve)
        loss = plots["loss"]
        history = pin.history
        iterations = history.iterations().astype(np.float64)
        before, _after = history.global_norms()
        self.loss_curve = pg.PlotDataItem(iterations, history.losses(), pen=dashed, connect="finite")
        self.norm_curve = pg.PlotDataItem(iterations, before, pen=dashed, connect="finite")
        self._add(loss.loss_plot, self.loss_curve)
        self._add(loss.norm_plot, self.norm_curve)

        health = plots["health"]
        marker = {"pen": None, "symbol": "o", "symbolSize": 11, "symbolBrush": None,
                  "symbolPen": pg.mkPen(color, width=2.2)}  # fmt: skip
        self.saturation_markers = pg.PlotDataItem(**marker)
        self._add(health.saturation_plot, self.saturation_markers)
        self.gradient_markers: dict[str, pg.PlotDataItem] = {}
        self.ratio_markers: dict[str, pg.PlotDataItem] = {}
        if record is not None:
            count = record.saturation.shape[0]
            layers = np.arange(1, count + 1, dtype=np.float64)
            self.saturation_markers.setData(layers, record.saturation)
        per_layer = {"gradient": {}, "ratio": {}} if record is None else {
            "gradient": record.param_grad_norms, "ratio": record.update_ratios,
        }  # fmt: skip
        for kind in KINDS:
            for plot, markers, name in (
                (health.gradient_plot, self.gradient_markers, "gradient"),
                (health.ratio_plot, self.ratio_markers, "ratio"),
            ):
                item = pg.PlotDataItem(**marker)
                if record is not None:
                    count = record.saturation.shape[0]
                    named = per_layer[name]
                    y = np.array([named.get(f"{kind}_l{k}", np.nan) for k in range(count)], dtype=np.float64)
                    item.setData(np.arange(1, count + 1, dtype=np.float64) + _KIND_OFFSETS[kind], y)
                self._add(plot, item)
                markers[kind] = item

        activation = plots["activation"]
        self.histogram_outline = pg.PlotDataItem(stepMode="center", pen=pg.mkPen(color, width=2))
        activation.hist_view.addItem(self.histogram_outline)
        self.derivative_curve = pg.PlotDataItem(pen=dashed)
        self._add(activation.plot, self.derivative_curve)
        self._histogram_key: tuple[float, int] | None = None
        self._derivative_key: tuple[str, float, float] | None = None

    def _add(self, plot: pg.PlotItem, item: pg.PlotDataItem) -> None:
        item.setZValue(GHOST_Z)
        plot.addItem(item)

    def items(self) -> list[pg.GraphicsObject]:
        """Every item of this pin."""
        return [
            *self.gradient_curves, self.loss_curve, self.norm_curve, self.saturation_markers,
            *self.gradient_markers.values(), *self.ratio_markers.values(), self.histogram_outline,
            self.derivative_curve,
        ]  # fmt: skip

    def set_visible(self, visible: bool) -> None:
        for item in self.items():
            item.setVisible(visible)

    def update_activation(self, extent: float, choice: int, live: SimConfig) -> float:
        """Histogram outline on the live plot's bins and, for another activation, its f'.

        Returns the outline's highest share (percent), 0 without samples.
        """
        record = self.pin.latest
        if record is None:
            return 0.0
        samples = record.preactivation_samples
        if choice > samples.shape[0]:
            choice = 0
        key = (extent, choice)
        if key != self._histogram_key:
            self._histogram_key = key
            chosen = samples if choice == 0 else samples[choice - 1 : choice]
            values = chosen[np.isfinite(chosen)]
            edges = np.linspace(-extent, extent, BINS + 1)
            counts, _ = np.histogram(values, bins=edges)
            share = 100.0 * counts / values.size if values.size else np.zeros(BINS)
            self.histogram_outline.setData(edges, share)
        config = self.pin.config
        same = config.activation == live.activation and (
            config.activation != "leaky_relu" or config.leaky_slope == live.leaky_slope
        )
        derivative_key = ("", 0.0, extent) if same else (config.activation, config.leaky_slope, extent)
        if derivative_key != self._derivative_key:
            self._derivative_key = derivative_key
            if same:
                self.derivative_curve.setData([], [])
            else:
                activation = make_activation(config.activation, config.leaky_slope)
                z = np.linspace(-extent, extent, 801)
                with np.errstate(all="ignore"):
                    slope = activation.derivative(z, activation.forward(z))
                self.derivative_curve.setData(z, slope)
        _edges, share = self.histogram_outline.getData()
        return float(np.max(share)) if share is not None and len(share) else 0.0

    def remove(self) -> None:
        """Take every item off its plot."""
        plots = self._dashboard.plots
        for curve in self.gradient_curves:
            plots["gradient"].plot.removeItem(curve)
        plots["loss"].loss_plot.removeItem(self.loss_curve)
        plots["loss"].norm_plot.removeItem(self.norm_curve)
        health = plots["health"]
        health.saturation_plot.removeItem(self.saturation_markers)
        for kind in KINDS:
            health.gradient_plot.removeItem(self.gradient_markers[kind])
            health.ratio_plot.removeItem(self.ratio_markers[kind])
        plots["activation"].hist_view.removeItem(self.histogram_outline)
        plots["activation"].plot.removeItem(self.derivative_curve)


class GhostLegend(pg.LegendItem):
    """A key of the visible pins in a corner of a plot (dashed sample line + label)."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, corner: tuple[float, float], offset: tuple[int, int]):
        super().__init__(
            offset=None, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt",
            brush=pg.mkBrush(theme.background + "d0"), pen=theme.pen(theme.foreground, 1),
        )  # fmt: skip
        self.setParentItem(plot.getViewBox())
        self.anchor(itemPos=corner, parentPos=corner, offset=offset)
        self.setZValue(900)

    def show_pins(self, entries: list[tuple[pg.PlotDataItem, str]]) -> None:
        """Show ``(sample item, label)`` rows; hidden when there are none."""
        self.clear()
        for item, label in entries:
            self.addItem(item, label)
        self.setVisible(bool(entries))


class HeatmapNote(OverlayText):
    """Rich text in a corner of the heatmap naming each pin and its gradient ratio."""

    def show_html(self, html: str) -> None:
        if html != getattr(self, "_html", None):
            self._html = html
            self.setHtml(html)
            self._place()
        self.setVisible(bool(html))


class PinnedRunsDock(QtWidgets.QDockWidget):
    """The list of pins: swatch, visibility, label, Remove, Load this config; Clear all."""

    def __init__(self, feature: CompareFeature, parent: QtWidgets.QWidget) -> None:
        super().__init__("Pinned runs", parent)
        self.setObjectName("pinned_dock")
        self._feature = feature
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self.hint = QtWidgets.QLabel(
            "Pin the run shown (Ctrl+P) to keep it as a dashed ghost on the plots while you change "
            f"a setting. Up to {MAX_PINS} pins."
        )
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.rows_widget = QtWidgets.QWidget()
        self.rows = QtWidgets.QVBoxLayout(self.rows_widget)
        self.rows.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.rows_widget)
        buttons = QtWidgets.QHBoxLayout()
        self.pin_button = QtWidgets.QPushButton("Pin current run")
        self.pin_button.setObjectName("pin_current_button")
        self.pin_button.setToolTip("Keep the run shown as a reference drawn on every plot (Ctrl+P)")
        self.pin_button.clicked.connect(feature.pin_current)
        self.clear_button = QtWidgets.QPushButton("Clear all")
        self.clear_button.setObjectName("clear_pins_button")
        self.clear_button.setToolTip("Remove every pinned run")
        self.clear_button.clicked.connect(feature.clear)
        buttons.addWidget(self.pin_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setWidget(body)
        self.row_widgets: list[PinRow] = []
        self.rebuild([])

    def rebuild(self, pins: list[PinnedRun]) -> None:
        """One row per pin (a handful: rebuilt whole when the list changes)."""
        for row in self.row_widgets:
            self.rows.removeWidget(row)
            row.deleteLater()
        self.row_widgets = []
        for index, pin in enumerate(pins):
            row = PinRow(pin, index, self._feature)
            self.rows.addWidget(row)
            self.row_widgets.append(row)
        self.clear_button.setEnabled(bool(pins))
        self.pin_button.setEnabled(len(pins) < MAX_PINS)

    def relabel(self, pins: list[PinnedRun]) -> None:
        """Show the pins' current labels."""
        for row, pin in zip(self.row_widgets, pins, strict=True):
            row.set_label(pin.label, self._feature.details(pin))


class PinRow(QtWidgets.QFrame):
    """One pinned run in the dock."""

    def __init__(self, pin: PinnedRun, index: int, feature: CompareFeature) -> None:
        super().__init__()
        self.setObjectName(f"pin_row_{index}")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        self.visible_box = QtWidgets.QCheckBox()
        self.visible_box.setObjectName("pin_visible")
        self.visible_box.setChecked(pin.visible)
        self.visible_box.setToolTip("Draw this pinned run on the plots")
        self.visible_box.toggled.connect(lambda shown: feature.set_visible(pin, shown))
        swatch = QtWidgets.QLabel()
        swatch.setFixedSize(18, 18)
        swatch.setStyleSheet(f"background: {pin.color}; border-radius: 3px;")
        swatch.setToolTip("The colour of this run's dashed ghosts")
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("pin_label")
        self.label.setWordWrap(True)
        self.set_label(pin.label, feature.details(pin))
        detail = QtWidgets.QLabel(f"{pin.iteration} iterations pinned")
        detail.setStyleSheet("color: palette(placeholder-text);")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.remove_button.setObjectName("pin_remove")
        self.remove_button.setToolTip("Forget this pinned run")
        self.remove_button.clicked.connect(lambda: feature.remove(pin))
        self.load_button = QtWidgets.QPushButton("Load this config")
        self.load_button.setObjectName("pin_load")
        self.load_button.setToolTip("Put this run's settings in the controls and start a new run with them")
        self.load_button.clicked.connect(lambda: feature.load_config(pin))
        grid.addWidget(self.visible_box, 0, 0)
        grid.addWidget(swatch, 0, 1)
        grid.addWidget(self.label, 0, 2, 1, 2)
        grid.addWidget(detail, 1, 2, 1, 2)
        grid.addWidget(self.load_button, 2, 2)
        grid.addWidget(self.remove_button, 2, 3)
        grid.setColumnStretch(2, 1)

    def set_label(self, label: str, details: list[str]) -> None:
        """Show ``label``; the tooltip lists every difference (the label shows a few)."""
        self.label.setText(label)
        listed = "\n".join(details) if details else "none: the same settings as the live run"
        self.label.setToolTip(f"How the pinned run differs from the live run (pinned → live):\n{listed}")


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

        self.pin_action = QtGui.QAction(icon("pin"), "Pin as reference", window)
        self.pin_action.setObjectName("pin_action")
        self.pin_action.setShortcut(QtGui.QKeySequence("Ctrl+P"))
        tip = "Keep the run shown as a dashed ghost on every plot, to compare the next run with (Ctrl+P)"
        self.pin_action.setToolTip(tip)
        self.pin_action.setStatusTip(tip)
        self.pin_action.triggered.connect(self.pin_current)
        window.addAction(self.pin_action)
        window.run_menu.addSeparator()
        window.run_menu.addAction(self.pin_action)
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
        self.ab_compare_action = QtGui.QAction("Compare in A/B…", window)
        self.ab_compare_action.setObjectName("ab_compare_action")
        self.ab_compare_action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+P"))
        tip = "Train the run's settings (A) against a copy with one change (B) in lockstep (Ctrl+Shift+P)"
        self.ab_compare_action.setToolTip(tip)
        self.ab_compare_action.setStatusTip(tip)
        self.ab_compare_action.triggered.connect(self.compare_in_ab)
        window.addAction(self.ab_compare_action)
        window.run_menu.addAction(self.ab_compare_action)

        window.runRestarted.connect(self._on_run_restarted)
        dashboard.refreshed.connect(self._on_refreshed)
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
        self._on_refreshed(self.window.history, self.window.current_config())
        self.pinsChanged.emit()

    def _update_keys(self) -> None:
        shown = [pin for pin in self._pins if pin.visible]
        gradient_entries, notes = [], []
        for pin in shown:
            ghosts = self._ghosts[id(pin)]
            if ghosts.gradient_curves:
                gradient_entries.append((ghosts.gradient_curves[0], escape(_short(pin.label), quote=False)))
            record = pin.latest
            ratio = "–" if record is None else _span_ratio(record)
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

    @QtCore.Slot(object, object)
    def _on_refreshed(self, history: RunHistory, config: SimConfig) -> None:
        """After the live plots drew: fit the ranges they set to the ghosts too."""
        del history
        shown = [self._ghosts[id(pin)] for pin in self._pins if pin.visible]
        if not shown:
            return
        plots = self.window.dashboard.plots
        activation = cast(ActivationPlot, plots["activation"])
        choice = activation.layer_selector.currentIndex()
        highest = max(g.update_activation(activation.extent, max(choice, 0), config) for g in shown)
        (_, _), (low, high) = activation.hist_view.viewRange()
        if highest * 1.15 > high:
            activation.hist_view.setYRange(0.0, highest * 1.15, padding=0.0)
        health = cast(HealthPlot, plots["health"])
        for plot, name in ((health.gradient_plot, "gradient"), (health.ratio_plot, "ratio")):
            values = []
            for ghosts in shown:
                markers = ghosts.gradient_markers if name == "gradient" else ghosts.ratio_markers
                for item in markers.values():
                    _x, y = item.getOriginalDataset()
                    if y is not None:
                        values.append(np.asarray(y, dtype=np.float64))
            _fit_log_range(plot, values)


def _fit_log_range(plot: pg.PlotItem, values: list[np.ndarray]) -> None:
    """Widen ``plot``'s y range (log10 units) to whole decades holding the positive ``values``."""
    if not values:
        return
    data = np.concatenate(values)
    data = data[np.isfinite(data) & (data > 0)]
    if not data.size:
        return
    logs = np.log10(data)
    (_, _), (low, high) = plot.getViewBox().viewRange()
    new_low = min(low, math.floor(float(logs.min())) - 0.5)
    new_high = max(high, math.ceil(float(logs.max())) + 0.5)
    if new_low < low - 1e-9 or new_high > high + 1e-9:
        plot.setYRange(new_low, new_high, padding=0.0)


def _short(label: str) -> str:
    """The first difference of a label (the legend must not cover the plot; the dock has all)."""
    first, _, rest = label.partition(", ")
    return f"pinned: {first}" + (
        " …" if rest and not label.startswith("same settings") else f", {rest}" if rest else ""
    )


def _span_ratio(record: StepRecord) -> str:
    """``"layer 2: 5.18e-06"`` (a time span) or ``"depth: 1e-09"``: the regime measure's extreme span."""
    measured = measure(record)
    span = measured.extreme
    if span is None:
        return measured.regime
    where = "depth" if span.kind == "depth" else f"layer {span.layer + 1}"  # type: ignore[operator]
    return f"{where}: {span.ratio_text()}"


def install(window: WindowAPI) -> CompareFeature:
    """Add pinning (Ctrl+P, Run menu, toolbar, "Pinned runs" dock) and the A/B tab to ``window``."""
    return CompareFeature(window)
