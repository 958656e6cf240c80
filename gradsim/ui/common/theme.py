"""Colours, pens and fonts of the plots, in a light and a dark variant.

pyqtgraph does not follow the Qt palette, so every plot takes a :class:`Theme` and styles its
axes, labels and items from it. :func:`current_theme` picks the variant that matches the
application at construction time (Qt's colour scheme hint, else the window colour's lightness).

Font sizes are in points and never below 10, so the plots stay legible on a projector.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
# pyqtgraph binds to the first Qt it finds imported; PySide6 must be loaded before it.
import pyqtgraph as pg

# Qualitative layer colours (tab10 order without red: red is reserved for non-finite values).
_LIGHT_LAYERS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#17becf", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79",
)  # fmt: skip
# The same hues, lighter, for a dark background.
_DARK_LAYERS = (
    "#5aaef5", "#ffa54f", "#5fd35f", "#c39bff", "#d2a07a",
    "#4fe0f0", "#ff9be0", "#c8c8c8", "#e0e060", "#8c91e8",
)  # fmt: skip


@dataclass(frozen=True)
class Theme:
    """Colours (``"#rrggbb"`` or ``"#rrggbbaa"``) and font sizes shared by all plots.

    Attributes
    ----------
    name : "light" or "dark"
    background, foreground : plot background and text/axis colour
    layer_colors : one colour per layer (cycled with extra hues beyond its length)
    loss, norm_before, norm_after, clip_marker : loss plot series
    nonfinite : marks and messages for inf/NaN values (never used for data series)
    nonfinite_fill : translucent fill for regions holding non-finite values
    reference : reference lines (1e-3 update ratio, clip threshold)
    function, derivative : activation curve and its derivative
    histogram : translucent fill of the pre-activation histogram
    saturated_fill : translucent shading of the saturating regions
    note : secondary text (zeros not shown on a log axis, sample counts)
    colormap : pyqtgraph colour map name of the heatmap
    tick_pt, label_pt, title_pt : font sizes in points
    """

    name: str
    background: str
    foreground: str
    layer_colors: tuple[str, ...]
    loss: str
    norm_before: str
    norm_after: str
    clip_marker: str
    nonfinite: str
    nonfinite_fill: str
    reference: str
    function: str
    derivative: str
    histogram: str
    saturated_fill: str
    note: str
    colormap: str = "viridis"
    tick_pt: int = 10
    label_pt: int = 11
    title_pt: int = 12

    def layer_color(self, layer: int) -> QtGui.QColor:
        """Colour of 0-based ``layer``; distinct for any layer count up to 16."""
        if layer < len(self.layer_colors):
            return QtGui.QColor(self.layer_colors[layer])
        color = pg.intColor(layer - len(self.layer_colors), hues=7, values=1, minHue=20, maxHue=330)
        if self.name == "dark":
            color = color.lighter(130)
        return color

    def pen(self, color: str | QtGui.QColor, width: float = 2.0, dashed: bool = False) -> QtGui.QPen:
        """A cosmetic pen (width in pixels whatever the zoom)."""
        pen = pg.mkPen(color, width=width)
        if dashed:
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        return pen

    def font(self, points: int, bold: bool = False) -> QtGui.QFont:
        """The application font at ``points`` size."""
        font = QtGui.QFont(QtWidgets.QApplication.font())
        font.setPointSize(points)
        font.setBold(bold)
        return font


LIGHT = Theme(
    name="light",
    background="#ffffff",
    foreground="#202020",
    layer_colors=_LIGHT_LAYERS,
    loss="#202020",
    norm_before="#1f77b4",
    norm_after="#ff7f0e",
    clip_marker="#9467bd",
    nonfinite="#d00000",
    nonfinite_fill="#d0000030",
    reference="#505050",
    function="#1f77b4",
    derivative="#ff7f0e",
    histogram="#7f7f7f55",
    saturated_fill="#d6272818",
    note="#505050",
)

DARK = Theme(
    name="dark",
    background="#1e1e1e",
    foreground="#e6e6e6",
    layer_colors=_DARK_LAYERS,
    loss="#e6e6e6",
    norm_before="#5aaef5",
    norm_after="#ffa54f",
    clip_marker="#c39bff",
    nonfinite="#ff4040",
    nonfinite_fill="#ff404040",
    reference="#b0b0b0",
    function="#5aaef5",
    derivative="#ffa54f",
    histogram="#b0b0b055",
    saturated_fill="#ff606026",
    note="#b0b0b0",
)


def detect_scheme() -> str:
    """``"dark"`` or ``"light"``, from Qt's colour scheme hint or the palette's window colour."""
    app = QtGui.QGuiApplication.instance()
    if app is None:
        return "light"
    scheme = QtGui.QGuiApplication.styleHints().colorScheme()
    if scheme == QtCore.Qt.ColorScheme.Dark:
        return "dark"
    if scheme == QtCore.Qt.ColorScheme.Light:
        return "light"
    window = QtGui.QGuiApplication.palette().color(QtGui.QPalette.ColorRole.Window)
    return "dark" if window.lightnessF() < 0.5 else "light"


def current_theme() -> Theme:
    """The theme matching the running application's colour scheme."""
    return DARK if detect_scheme() == "dark" else LIGHT


def theme_named(name: str) -> Theme:
    """``LIGHT`` or ``DARK`` by name (``"light"`` / ``"dark"``)."""
    themes = {"light": LIGHT, "dark": DARK}
    if name not in themes:
        raise ValueError(f"theme must be 'light' or 'dark' (got {name!r})")
    return themes[name]


def style_plot(
    plot: pg.PlotItem,
    theme: Theme,
    *,
    title: str | None = None,
    left: str | None = None,
    bottom: str | None = None,
    right: str | None = None,
    grid: bool = False,
) -> None:
    """Apply the theme to ``plot``'s axes and set its title and axis labels.

    ``grid`` turns on pyqtgraph's own grid (slow to paint; the dashboard draws a lighter one).
    Labels are plain text with the units written in (``"||dL/dh_t|| (log scale)"``):
    pyqtgraph's SI-prefix units would rescale log-axis values, so they are not used.
    """
    tick_font = theme.font(theme.tick_pt)
    label_style = {"color": theme.foreground, "font-size": f"{theme.label_pt}pt"}
    for side, text in (("left", left), ("bottom", bottom), ("right", right)):
        axis = plot.getAxis(side)
        axis.setPen(theme.pen(theme.foreground, 1))
        axis.setTextPen(theme.pen(theme.foreground, 1))
        axis.setStyle(tickFont=tick_font, tickTextOffset=4)
        axis.enableAutoSIPrefix(False)  # a "(x0.001)" suffix on a log axis would mislead
        if text is not None:
            plot.showAxis(side)
            axis.setLabel(text, **label_style)
    for side in ("top", "right"):
        if side == "right" and right is not None:
            continue
        plot.getAxis(side).setPen(theme.pen(theme.foreground, 1))
    if title is not None:
        plot.setTitle(title, color=theme.foreground, size=f"{theme.title_pt}pt")
    if grid:
        plot.showGrid(x=True, y=True, alpha=0.2)


def style_colorbar(bar: pg.ColorBarItem, theme: Theme, label: str, label_pt: int | None = None) -> None:
    """Theme a colour bar's axis as :func:`style_plot` does a plot's, and set its label.

    ``label_pt`` is the label's size in points (the theme's ``label_pt`` if None). The axis
    takes the width its tick labels and title need, as a plot's axes do: pyqtgraph gives a
    colour bar's axis a fixed 45 px, in which ticks such as "-1.5" ran into the rotated title.
    """
    axis = bar.axis
    axis.setPen(theme.pen(theme.foreground, 1))
    axis.setTextPen(theme.pen(theme.foreground, 1))
    axis.setStyle(tickFont=theme.font(theme.tick_pt))
    axis.setWidth(None)
    axis.enableAutoSIPrefix(False)
    size = theme.label_pt if label_pt is None else label_pt
    axis.setLabel(label, color=theme.foreground, **{"font-size": f"{size}pt"})
