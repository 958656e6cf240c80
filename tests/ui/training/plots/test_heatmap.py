"""HeatmapPlot rows are log10 of the history's ||dL/dh|| rows; non-finite cells are marked red."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtGui

# isort: split
import pyqtgraph as pg
from helpers import engine_run, shown

import gradsim.ui.training.plots.heatmap as heatmap_module
from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.simulation import Simulation
from gradsim.ui.training.plots.heatmap import SENTINEL, HeatmapPlot


def make(qtbot, theme) -> HeatmapPlot:
    return shown(qtbot, HeatmapPlot(theme), (600, 450))


def expected_image(history: RunHistory, layer: int) -> np.ndarray:
    logs = history.log10_grad_norm_rows(layer)
    return np.where(np.isfinite(logs), logs, SENTINEL).astype(np.float32)


def test_rows_are_log10_of_history_rows(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    history = vanishing_run.history
    plot.refresh(history, vanishing_run.config)
    image = plot.image.image
    assert image.shape == (len(history), vanishing_run.config.seq_len)
    assert image.dtype == np.float32 and image.flags.c_contiguous
    np.testing.assert_allclose(image, expected_image(history, 0), rtol=1e-6)
    assert np.isfinite(image).all()
    np.testing.assert_array_equal(plot.iteration_axis.iterations, history.iterations())
    # Levels: whole decades around the data, applied to the image and the colour bar.
    rows = history.log10_grad_norm_rows(0)
    assert plot.levels == (np.floor(rows.min()), np.ceil(rows.max()))
    assert tuple(plot.image.getLevels()) == plot.levels
    assert tuple(plot.colorbar.levels()) == plot.levels
    assert plot.levels[1] - plot.levels[0] > 50  # the vanishing run spans many decades


def test_newest_iteration_is_the_top_row(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    count = len(vanishing_run.history)
    rect = plot.image.mapRectToParent(plot.image.boundingRect())
    # Row i is centred at y = i: the last (newest) row has the largest y, drawn at the top.
    assert rect.top() == pytest.approx(-0.5) and rect.bottom() == pytest.approx(count - 0.5)
    assert not plot.plot.getViewBox().yInverted()
    assert "newest at top" in plot.plot.getAxis("left").labelText
    top_label = plot.iteration_axis.tickStrings([count - 1.0], 1.0, 1.0)
    assert top_label == [str(vanishing_run.history.latest.iteration)]


def test_layer_selector_switches_rows(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert plot.layer_selector.count() == 3
    assert not plot.selector_row.isHidden()
    plot.set_layer(2)
    assert plot.layer == 2
    np.testing.assert_allclose(plot.image.image, expected_image(vanishing_run.history, 2), rtol=1e-6)
    assert not np.allclose(plot.image.image, expected_image(vanishing_run.history, 0))


def test_single_layer_hides_the_selector(qtbot, theme, single_layer_run):
    plot = make(qtbot, theme)
    plot.refresh(single_layer_run.history, single_layer_run.config)
    assert plot.selector_row.isHidden()
    np.testing.assert_allclose(plot.image.image, expected_image(single_layer_run.history, 0), rtol=1e-6)


def test_incremental_refreshes_through_thinning_match_a_full_conversion(qtbot, theme, monkeypatch):
    # Capacity 8 thins several times in 30 records. With a trail of 2, a refresh after one
    # new record converts it from history.recent(); after three it must fall back to
    # history.log10_grad_norm_rows().
    config = SimConfig(num_layers=2, seq_len=12, hidden_size=4, batch_size=2)
    simulation = Simulation(config)
    history = RunHistory(capacity=8, trail=2)
    full_conversions = []
    original = history.log10_grad_norm_rows

    def counted(layer: int, positions=None) -> np.ndarray:
        full_conversions.append(layer)
        return original(layer, positions)

    monkeypatch.setattr(history, "log10_grad_norm_rows", counted)
    plot = make(qtbot, theme)
    for step in range(30):
        history.append(simulation.train_step())
        if step < 12 or step % 3 == 2:
            plot.refresh(history, config)
        if step == 4:
            plot.set_layer(1)  # a new layer converts everything again
    plot.refresh(history, config)
    assert history.total_records == 30 and len(history) <= 8
    assert 1 <= len(full_conversions) < 10
    assert plot.layer == 1
    np.testing.assert_array_equal(plot.iteration_axis.iterations, history.iterations())
    np.testing.assert_allclose(plot.image.image, expected_image(history, 1), rtol=1e-6)


def test_nonfinite_cells_get_the_sentinel_and_a_red_overlay(qtbot, theme, exploding_run):
    plot = make(qtbot, theme)
    history = exploding_run.history
    plot.refresh(history, exploding_run.config)
    rows = history.log10_grad_norm_rows(0)
    bad = np.isnan(rows) | (rows == np.inf)
    assert bad.any()
    image = plot.image.image
    assert np.isfinite(image).all()
    assert (image[bad] == SENTINEL).all()
    assert plot.levels[0] > SENTINEL
    overlay = plot.nonfinite_image.image
    assert plot.nonfinite_image.isVisible()
    np.testing.assert_array_equal(overlay[..., 3] == 255, bad)
    assert f"iteration {history.nonfinite_record.iteration}" in plot.message.toPlainText()
    plot.grab()


def test_zero_gradient_is_drawn_in_the_lowest_colour_not_as_nonfinite(qtbot, theme, vanishing_run,
                                                                     with_grad_norms):  # fmt: skip
    norms = np.full((3, 100), 1e-3)
    norms[0, 40:50] = 0.0
    plot = make(qtbot, theme)
    plot.refresh(with_grad_norms(vanishing_run, norms), vanishing_run.config)
    assert (plot.image.image[0, 40:50] == SENTINEL).all()
    assert plot.levels == (-3.0, -2.0)
    assert not plot.nonfinite_image.isVisible()


def test_norms_below_float64_get_their_own_colours(qtbot, theme, vanishing_run, with_grad_norms):
    # Down to 1e-607, where every float64 norm is 0: the logs are what the heatmap shows.
    logs = np.tile(np.linspace(-607.0, -0.5, 100), (3, 1))
    logs[0, :3] = -np.inf  # exact zeros stay below every colour
    plot = make(qtbot, theme)
    plot.refresh(with_grad_norms(vanishing_run, np.zeros((3, 100)), logs), vanishing_run.config)
    image = plot.image.image
    np.testing.assert_allclose(image[0, 3:], logs[0, 3:], rtol=1e-6)
    assert plot.levels == (np.floor(logs[0, 3]), 0.0)
    assert (image[0, :3] == SENTINEL).all() and SENTINEL < plot.levels[0]
    assert not plot.nonfinite_image.isVisible()
    plot.grab()


def test_reset_then_refresh(qtbot, theme, reset_after_top_layer, single_layer_run):
    plot = reset_after_top_layer(make(qtbot, theme))
    assert not plot.image.isVisible()
    plot.refresh(single_layer_run.history, single_layer_run.config)
    assert plot.layer == 0
    np.testing.assert_allclose(plot.image.image, expected_image(single_layer_run.history, 0), rtol=1e-6)


def test_history_mixing_shapes_shows_a_message_instead_of_failing(qtbot, theme, vanishing_run, make_run):
    other = make_run(vanishing_run.config.replace(seq_len=30, num_layers=1), 1)
    history = RunHistory(trail=1)
    history.append(other.history.latest)
    for record in vanishing_run.history.recent()[-2:]:
        history.append(record)
    plot = make(qtbot, theme)
    plot.refresh(history, vanishing_run.config)
    assert "reset" in plot.message.toPlainText()
    assert not plot.image.isVisible()
    plot.reset()
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert plot.image.isVisible() and not plot.message.isVisible()


def pixels(image: QtGui.QImage) -> np.ndarray:
    """``(h, w)`` uint32 ARGB of ``image`` (whatever its format)."""
    converted = image.convertToFormat(QtGui.QImage.Format.Format_ARGB32)
    height, width = converted.height(), converted.width()
    data = np.frombuffer(converted.constBits(), dtype=np.uint8, count=converted.sizeInBytes())
    rows = data.reshape(height, converted.bytesPerLine())[:, : 4 * width]
    return rows.copy().view(np.uint32).reshape(height, width)


def pyqtgraph_picture(plot: HeatmapPlot) -> np.ndarray:
    """What a plain ImageItem draws for the plot's values, levels and colour table."""
    reference = pg.ImageItem(axisOrder="row-major")
    reference.setLookupTable(plot.image.lut)
    reference.setImage(np.array(plot.image.image), levels=plot.levels)
    reference.render()
    return pixels(reference.qimage)


def test_the_picture_is_what_pyqtgraph_would_draw(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    plot.image.render()
    shown = pixels(plot.image.qimage)
    assert shown.shape == plot.image.image.shape
    np.testing.assert_array_equal(shown, pyqtgraph_picture(plot))
    assert len(np.unique(shown)) > 50  # many decades: many colours, not one flat picture


def test_in_place_updates_through_thinning_equal_a_full_rebuild(qtbot, theme, monkeypatch):
    # Capacity 8 thins the history several times in 40 records; the levels (whole decades)
    # change as the run learns. After every frame the picture must be the one a new plot
    # draws from the same history, while a frame that adds one record colours one row.
    config = SimConfig(activation="sigmoid", num_layers=2, seq_len=40, hidden_size=4, batch_size=2)
    simulation = Simulation(config)
    history = RunHistory(capacity=8, trail=3)
    colored_rows: list[int] = []
    original = heatmap_module.color_rows

    def counted(values: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
        colored_rows.append(values.shape[0])
        return original(values, levels, lut)

    monkeypatch.setattr(heatmap_module, "color_rows", counted)
    plot = make(qtbot, theme)
    one_row_frames = 0
    for step in range(40):
        history.append(simulation.train_step())
        before = plot.levels
        colored_rows.clear()
        plot.refresh(history, config)
        if step > 0 and plot.levels == before:
            assert sum(colored_rows) <= 1  # only the new row
            one_row_frames += sum(colored_rows) == 1
        plot.image.render()
        fresh = make(qtbot, theme)
        fresh.refresh(history, config)
        np.testing.assert_array_equal(plot.image.image, fresh.image.image)
        assert plot.levels == fresh.levels
        np.testing.assert_array_equal(pixels(plot.image.qimage), pyqtgraph_picture(fresh))
        fresh.close()
    assert history.total_records == 40 and len(history) <= 8
    assert one_row_frames > 20


# One small layer: the row-range tests add its records one by one.
ONE_LAYER = SimConfig(num_layers=1, seq_len=6, hidden_size=4, batch_size=2)


def grown_history(records: list, capacity: int = 8) -> RunHistory:
    history = RunHistory(capacity=capacity)
    for record in records:
        history.append(record)
    return history


def test_while_training_the_row_range_grows_in_round_steps_and_fits_the_rows_once_stopped(qtbot, theme):
    records = engine_run(ONE_LAYER, 30)
    plot = make(qtbot, theme)
    plot.set_live(True)
    history = RunHistory(capacity=1000)
    tops = []
    for record in records:
        history.append(record)
        plot.refresh(history, ONE_LAYER)
        low, high = plot.plot.viewRange()[1]
        tops.append(high)
        assert low == pytest.approx(-0.5)
        # Every row is in view, and the image's rows are where they were: row i at y = i.
        assert high >= len(history) - 0.5
        rect = plot.image.mapRectToParent(plot.image.boundingRect())
        assert rect.bottom() == pytest.approx(len(history) - 0.5)
        assert plot.row_range(len(history)) <= max(2, 2 * len(history))
    # 30 rows added one by one moved the range (and laid the axis out) for at most every other row.
    assert len(set(tops)) <= len(tops) // 2
    plot.set_live(False)  # the run stopped: the rows fill the plot again
    assert plot.plot.viewRange()[1] == pytest.approx([-0.5, len(history) - 0.5])


def test_new_rows_on_top_keep_the_iteration_axis_picture_and_thinning_redraws_it(qtbot, theme):
    records = engine_run(ONE_LAYER, 9)
    plot = make(qtbot, theme)
    plot.set_live(True)
    history = grown_history(records[:7])
    plot.refresh(history, ONE_LAYER)
    assert plot.plot.viewRange()[1] == pytest.approx([-0.5, 7.5])  # 7 rows in a range of 8
    plot.graphics.grab()
    axis = plot.iteration_axis
    axis.picture = marker = object()  # stands for the labels pyqtgraph drew
    history.append(records[7])  # 8 of capacity 8: one row on top, none moved, same range
    plot.refresh(history, ONE_LAYER)
    assert axis.picture is marker
    np.testing.assert_array_equal(axis.iterations, history.iterations())
    history.append(records[8])  # 9 > 8: the history thins, rows move, labels must be redrawn
    assert len(history) < 9
    plot.refresh(history, ONE_LAYER)
    assert axis.picture is None
    np.testing.assert_array_equal(axis.iterations, history.iterations())
