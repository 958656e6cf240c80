"""Pictures of the plots: PNG size and content, SVG curves against the engine's numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from helpers import small_config
from PySide6 import QtGui

from gradsim.ui.common.theme import LIGHT
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS, Dashboard

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

CONFIG = small_config(seq_len=20, activation="sigmoid", seed=1)
ITERATIONS = 6
SVG = "{http://www.w3.org/2000/svg}"


def pixels(data: bytes) -> np.ndarray:
    """A PNG as an ``(H, W, 3)`` uint8 array."""
    image = QtGui.QImage.fromData(data, "PNG")
    assert not image.isNull()
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def color_share(array: np.ndarray, color: str, tolerance: int = 12) -> float:
    """The fraction of pixels within ``tolerance`` of ``color`` in every channel."""
    qcolor = QtGui.QColor(color)
    target = np.array([qcolor.red(), qcolor.green(), qcolor.blue()])
    return float(np.all(np.abs(array.astype(int) - target) <= tolerance, axis=2).mean())


@pytest.fixture
def dashboard(qtbot):
    board = render.offscreen_dashboard(CONFIG, ITERATIONS, size=(1000, 700), theme=LIGHT)
    qtbot.addWidget(board)
    return board


def test_offscreen_dashboard_shows_the_engines_run(dashboard, engine_records):
    assert (dashboard.width(), dashboard.height()) == (1000, 700)
    last = engine_records(CONFIG, ITERATIONS)[-1]
    gradient = dashboard.plots["gradient"]
    for layer in range(CONFIG.num_layers):
        t, logs = gradient.curves[layer].getOriginalDataset()
        np.testing.assert_array_equal(t, np.arange(1, CONFIG.seq_len + 1))
        np.testing.assert_array_equal(logs, last.log10_grad_norms[layer])
    assert "iteration 6" in gradient.plot.titleLabel.full_text


def test_png_has_the_requested_size_and_shows_the_plots(dashboard):
    data = render.png_bytes(dashboard, 1300)
    array = pixels(data)
    assert array.shape == (910, 1300, 3)  # 1300 * 700 / 1000
    assert len(np.unique(array.reshape(-1, 3), axis=0)) > 200  # text, curves, heatmap colours
    assert color_share(array, "#ffffff", 0) > 0.3  # the light background
    assert color_share(array, LIGHT.layer_colors[0]) > 0.001  # layer 1's curve
    assert color_share(array, LIGHT.layer_colors[1]) > 0.001  # layer 2's curve


@pytest.mark.parametrize("key", PLOT_KEYS)
def test_png_of_one_plot_is_exactly_as_wide_as_asked(dashboard, key):
    panel = dashboard.plots[key]
    array = pixels(render.png_bytes(panel, 777))
    assert array.shape[1] == 777
    # The figure is the plot's graphics: the selector row above it (a window widget) is left out.
    graphics = panel.graphics
    assert array.shape[0] == round(777 * graphics.height() / graphics.width())
    assert array.reshape(-1, 3).std(axis=0).max() > 20  # not one flat colour


def test_png_is_painted_at_the_scale_not_pixel_doubled(dashboard):
    panel = dashboard.plots["gradient"]
    array = pixels(render.png_bytes(panel, 2 * panel.width())).astype(int)
    height, width = (array.shape[0] // 2) * 2, (array.shape[1] // 2) * 2
    blocks = array[:height, :width].reshape(height // 2, 2, width // 2, 2, 3)
    inked = blocks.min(axis=(1, 3)).max(axis=-1) < 250  # blocks holding something darker than paper
    uneven = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))).max(axis=-1) > 30
    # An upscaled screen grab has uniform 2x2 blocks; text and lines drawn at the scale do not.
    assert inked.sum() > 500
    assert (uneven & inked).sum() / inked.sum() > 0.3


def test_default_width_is_twice_the_screen_size(qtbot, dashboard):
    assert render.default_width(dashboard) == 2000
    panel = dashboard.plots["loss"]
    assert render.default_width(panel) == 2 * panel.width()
    never_shown = Dashboard()
    qtbot.addWidget(never_shown)
    assert render.default_width(never_shown) == 2 * render.DEFAULT_DASHBOARD_SIZE[0]
    assert render.default_width(never_shown.plots["gradient"]) == 2 * render.DEFAULT_PLOT_SIZE[0]


def test_a_never_shown_dashboard_is_laid_out_before_painting(qtbot):
    board = Dashboard(theme=LIGHT)
    qtbot.addWidget(board)
    array = pixels(render.png_bytes(board, 600))
    assert array.shape == (400, 600, 3)  # the default 1200 x 800, halved
    assert board.plots["gradient"].width() > 300  # the splitters gave the plots their room
    assert not board.isVisible()


@pytest.mark.parametrize("width", [render.MIN_WIDTH - 1, render.MAX_WIDTH + 1])
def test_png_width_out_of_range_is_refused(dashboard, width):
    with pytest.raises(ValueError, match="between 200 and 8000"):
        render.png_bytes(dashboard, width)


def _points(d: str) -> np.ndarray:
    return np.array(
        [[float(v) for v in pair.split(",")] for pair in re.findall(r"-?[\d.e+-]+,-?[\d.e+-]+", d)]
    )


def test_svg_parses_and_holds_each_curve_as_one_path_of_the_engines_values(dashboard, engine_records):
    panel = dashboard.plots["gradient"]
    root = ET.fromstring(render.svg_bytes(panel, title="gradsim test"))
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == "gradsim test"
    texts = " ".join(element.text or "" for element in root.iter(f"{SVG}text"))
    assert "time step t" in texts and "layer 1" in texts and "iteration 6" in texts
    last = engine_records(CONFIG, ITERATIONS)[-1]
    for layer in range(CONFIG.num_layers):
        color = LIGHT.layer_colors[layer]
        groups = [
            group
            for group in root.iter(f"{SVG}g")
            if group.get("stroke") == color
            and group.get("stroke-opacity") == "1"
            and group.find(f"{SVG}path") is not None
        ]
        # The bold curve: one path through (t, log10 ||dL/dh_t||) for every time step.
        curves = [_points(path.get("d")) for group in groups for path in group.iter(f"{SVG}path")]
        bold = [points for points in curves if len(points) == CONFIG.seq_len]
        assert bold, f"no path of {CONFIG.seq_len} points for layer {layer + 1}"
        np.testing.assert_allclose(bold[0][:, 0], np.arange(1, CONFIG.seq_len + 1))
        np.testing.assert_allclose(bold[0][:, 1], np.log10(last.grad_norms[layer]), atol=1e-4)
        # Drawn as one path, not as a run of two-point line segments (the legend's sample is one line).
        segments = [
            len(group.findall(f"{SVG}polyline"))
            for group in root.iter(f"{SVG}g")
            if group.get("stroke") == color
        ]
        assert max(segments, default=0) <= 1


def test_svg_leaves_the_curves_as_they_draw_on_screen(dashboard):
    curves = [
        item
        for item in dashboard.plots["gradient"].graphics.scene().items()
        if isinstance(item, pg.PlotCurveItem)
    ]
    before = [item.opts["segmentedLineMode"] for item in curves]
    view = dashboard.plots["gradient"].graphics
    cache = view.cacheMode()
    render.svg_bytes(dashboard)
    assert [item.opts["segmentedLineMode"] for item in curves] == before
    assert view.cacheMode() == cache


def test_svg_of_the_dashboard_holds_every_plot(dashboard):
    root = ET.fromstring(render.svg_bytes(dashboard))
    texts = " ".join(element.text or "" for element in root.iter(f"{SVG}text"))
    for title in ("at iteration 6", "over training", "Loss and gradient norm", "saturated", "Update ratio"):
        assert title in texts
    assert len(list(root.iter(f"{SVG}image"))) >= 1  # the heatmap is a picture inside the vectors
    assert root.get("viewBox") == "0 0 1000 700"


def test_a_figure_of_a_live_dashboard_equals_that_of_a_stopped_one(dashboard):
    # The window paints light pens while training; a figure always has the plots' own pens,
    # antialiased, and the window goes on painting light pens afterwards.
    stopped = render.png_bytes(dashboard, 1000)
    dashboard.set_live(True)
    live = render.png_bytes(dashboard, 1000)
    np.testing.assert_array_equal(pixels(live), pixels(stopped))
    assert all(plot.graphics.draft for plot in dashboard.plots.values())
    curves = [item for item in dashboard.plots["gradient"].graphics.scene().items()
              if isinstance(item, pg.PlotCurveItem)]  # fmt: skip
    assert curves and not any(curve.opts["antialias"] for curve in curves)


def test_figures_have_antialiased_curves(dashboard):
    # The gradient plot's bold curves, 3 pixels wide, are painted with shades at their edges:
    # pixels between a layer's colour and the background.
    image = pixels(render.png_bytes(dashboard.plots["gradient"], 800))
    color = QtGui.QColor(LIGHT.layer_color(0))
    target = np.array([color.red(), color.green(), color.blue()])
    background = np.array([255, 255, 255])
    share = np.linspace(0.2, 0.8, 4)[:, None]
    shades = np.rint(share * target + (1 - share) * background)
    near = [np.all(np.abs(image.astype(int) - shade) <= 6, axis=2).sum() for shade in shades]
    assert min(near) > 20
