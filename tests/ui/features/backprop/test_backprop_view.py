"""BackpropView: stepping the engine's backward pass by keys and buttons, against the engine.

Every number the view shows is compared with an independent run of the engine on the same
parameters and batch (``Simulation.forward_backward`` or a second ``BackpropSession``).
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.clipping import clip_gradients
from gradsim.engine.config import ACTIVATIONS, SimConfig
from gradsim.engine.formatting import format_number, format_percent
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.backprop import backprop_plots
from gradsim.ui.features.backprop.backprop_cells import FINITE, NONFINITE, NOT_REACHED, ZERO
from gradsim.ui.features.backprop.backprop_text import describe_step
from gradsim.ui.features.backprop.backprop_view import BackpropView
from gradsim.ui.training.plots.base import power_of_ten_label

Key = QtCore.Qt.Key


def small_config(**changes: object) -> SimConfig:
    base = SimConfig(num_layers=2, hidden_size=6, seq_len=7, batch_size=4, seed=3)
    return base.replace(**changes)


# Exploding without overflowing the forward pass: the loss overflows (a square), and the gradient
# overflows going back (its growth compounds on top of the forward's), so the grid holds finite,
# inf and NaN cells.
EXPLODING = SimConfig(
    num_layers=1, hidden_size=8, seq_len=200, batch_size=4,
    activation="linear", init="orthogonal", weight_scale=6.0,
)  # fmt: skip


@pytest.fixture
def view(qtbot) -> BackpropView:
    widget = BackpropView(theme=LIGHT)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    return widget


def loaded(view: BackpropView, config: SimConfig, train_steps: int = 0) -> tuple[Simulation, tuple]:
    """Load ``config`` after ``train_steps`` training steps; returns the simulation and batch."""
    simulation = Simulation(config)
    for _ in range(train_steps):
        simulation.train_step()
    batch = simulation.sample_batch()
    view.load_simulation(simulation, batch)
    assert view.session is not None and not view.is_busy
    return simulation, batch


def backward_order(num_layers: int, seq_len: int) -> list[tuple[int, int]]:
    """(layer, time step) in BPTT order: top layer, last step first."""
    return [(layer, t) for layer in reversed(range(num_layers)) for t in reversed(range(seq_len))]


def count_advances(view: BackpropView) -> list[int]:
    """Wrap the session's ``advance`` so each call is counted in the returned one-item list."""
    session = view.session
    calls = [0]
    original = session.advance

    def counted():
        calls[0] += 1
        return original()

    session.advance = counted
    return calls


def show_focused(qtbot, view: BackpropView) -> None:
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    view.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is view)


# -- the stepped result equals the engine's full backward pass ------------------------------------
@pytest.mark.parametrize(
    ("activation", "num_layers", "normalization"),
    list(itertools.product(ACTIVATIONS, (1, 3), ("none", "batch"))),
)
def test_stepped_gradients_equal_forward_backward(view, activation, num_layers, normalization):
    config = small_config(activation=activation, num_layers=num_layers, normalization=normalization)
    simulation, (x, y) = loaded(view, config, train_steps=2)
    expected = simulation.forward_backward(x, y)
    for _ in range(view.total_cells):
        view.step_backward()
    assert view.position == view.total_cells == num_layers * config.seq_len
    result = view.session.result
    assert result is not None
    assert set(result.grads) == set(expected.grads)
    for name, grad in expected.grads.items():
        assert np.array_equal(result.grads[name], grad), name
    assert np.array_equal(result.grad_norms, expected.grad_norms)
    assert result.loss == expected.loss


def test_float32_and_end_give_the_same_gradients(view):
    config = small_config(dtype="float32", num_layers=3, activation="tanh")
    simulation, (x, y) = loaded(view, config)
    view.go_to_end()
    expected = simulation.forward_backward(x, y)
    for name, grad in expected.grads.items():
        assert view.session.result.grads[name].dtype == np.float32
        assert np.array_equal(view.session.result.grads[name], grad), name


def test_load_freezes_a_copy_of_the_parameters(view):
    config = small_config(num_layers=2)
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    before = simulation.forward_backward(x, y)
    params_before = {name: value.copy() for name, value in simulation.params.items()}
    view.load_simulation(simulation, (x, y))
    simulation.train_step()  # training goes on elsewhere: the view must not see it
    assert any(not np.array_equal(params_before[n], simulation.params[n]) for n in params_before)
    view.go_to_end()
    for name, grad in before.grads.items():
        assert np.array_equal(view.session.result.grads[name], grad), name
    # ... and the view never writes to the simulation it was given.
    view.go_to_start()
    assert view.position == 0


def test_default_batch_is_the_first_batch_of_the_seed(view):
    config = small_config()
    view.load(config, Simulation(config).params)
    x, _ = Simulation(config).sample_batch()
    assert np.array_equal(view.batch[0], x)


# -- keys, buttons and the highlighted cell ------------------------------------------------------
def test_every_step_highlights_the_next_cell_in_bptt_order(view):
    config = small_config(num_layers=3, seq_len=5)
    loaded(view, config)
    assert view.current_cell is None
    assert not view.graphics.highlight.isVisible()
    seen = []
    for position in range(1, view.total_cells + 1):
        view.step_backward()
        assert view.position == position
        seen.append(view.current_cell)
        layer, t = view.current_cell
        assert view.graphics.highlight.rect() == QtCore.QRectF(t + 0.5, layer, 1.0, 1.0)
        assert view.graphics.time_lines[1].value() == t + 1
    assert seen == backward_order(3, 5)
    assert seen[0] == (2, 4)  # the top layer's last time step comes first


def test_keys_move_the_highlighted_cell(qtbot, view):
    config = small_config(num_layers=2, seq_len=6)
    loaded(view, config)
    show_focused(qtbot, view)
    qtbot.keyClick(view, Key.Key_Left)
    assert view.current_cell == (1, 5)
    qtbot.keyClick(view, Key.Key_Left)
    qtbot.keyClick(view, Key.Key_Left)
    assert view.current_cell == (1, 3)
    assert view.position == 3
    qtbot.keyClick(view, Key.Key_Right)
    assert view.current_cell == (1, 4)
    assert view.graphics.highlight.rect() == QtCore.QRectF(4.5, 1.0, 1.0, 1.0)
    qtbot.keyClick(view, Key.Key_End)
    assert view.position == 12
    assert view.current_cell == (0, 0)
    qtbot.keyClick(view, Key.Key_Home)
    assert view.position == 0
    assert view.current_cell is None
    assert not view.graphics.highlight.isVisible()
    qtbot.keyClick(view, Key.Key_Right)  # nothing to undo at the start
    assert view.position == 0


def test_keys_work_while_a_child_has_the_focus(qtbot, view):
    loaded(view, small_config())
    show_focused(qtbot, view)
    view.graphics.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is view.graphics)
    qtbot.keyClick(view.graphics, Key.Key_Left)
    assert view.current_cell == (1, 6)


def test_toolbar_buttons_move_the_highlighted_cell(qtbot, view):
    config = small_config(num_layers=2, seq_len=4)
    loaded(view, config)
    show_focused(qtbot, view)

    def click(action):
        button = view.toolbar.widgetForAction(action)
        qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)

    assert not view.undo_action.isEnabled() and not view.start_action.isEnabled()
    click(view.step_action)
    click(view.step_action)
    assert view.current_cell == (1, 2)
    click(view.undo_action)
    assert view.current_cell == (1, 3)
    click(view.end_action)
    assert view.current_cell == (0, 0)
    assert not view.step_action.isEnabled() and not view.end_action.isEnabled()
    click(view.start_action)
    assert view.position == 0


def test_undo_and_redo_never_advance_the_session_again(view):
    config = small_config(num_layers=2, seq_len=5)
    loaded(view, config)
    calls = count_advances(view)
    for _ in range(4):
        view.step_backward()
    assert calls[0] == 4
    for _ in range(3):
        view.undo_step()
    assert view.position == 1
    for _ in range(3):
        view.step_backward()
    assert calls[0] == 4 and view.position == 4
    view.step_backward()
    assert calls[0] == 5
    view.go_to_end()
    assert calls[0] == view.total_cells == 10
    view.go_to_start()
    view.go_to_end()
    view.go_to(3)
    view.go_to_end()
    assert calls[0] == 10
    assert len(view.steps) == 10
    assert view.session.advance() is None  # the session has nothing left to compute


# -- the numbers shown equal the engine's ------------------------------------------------------
def test_factor_and_reading_equal_the_engines_step(view):
    config = small_config(num_layers=2, seq_len=6, activation="tanh", weight_scale=2.5)
    simulation, (x, y) = loaded(view, config)
    reference = list(simulation.backprop(x, y))
    labels = view.value_labels
    for position, expected in enumerate(reference, start=1):
        view.step_backward()
        shown = view.current_step
        assert shown.order == expected.order == position - 1
        for field in ("layer", "time_step", "grad_norm", "local_factor", "mean_derivative", "saturation",
                      "spectral_norm"):  # fmt: skip
            assert np.array_equal(getattr(shown, field), getattr(expected, field), equal_nan=True), field
        assert np.array_equal(shown.grad, expected.grad)
        assert labels["grad_norm"].text() == format_number(expected.grad_norm)
        assert labels["mean_derivative"].text() == format_number(expected.mean_derivative)
        assert labels["saturation"].text() == format_percent(expected.saturation)
        assert labels["spectral_norm"].text() == format_number(expected.spectral_norm)
        assert labels["cell"].text() == f"layer {expected.layer + 1}, time step {expected.time_step + 1}"
        assert labels["order"].text() == f"{position} of 12"
        reading = view.reading.text()
        assert reading.startswith(describe_step(expected, 2, 6, "tanh"))
        if expected.time_step < 5:
            assert labels["local_factor"].text() == format_number(expected.local_factor)
            assert f"multiplies the gradient by {format_number(expected.local_factor)}" in reading
            assert f"{format_percent(expected.saturation)} of units are saturated" in reading
            assert f"largest singular value of W_hh is {format_number(expected.spectral_norm)}" in reading
        else:
            assert labels["local_factor"].text() == "n/a"
    assert labels["loss"].text() == format_number(simulation.forward_backward(x, y).loss)


def test_curve_fills_in_from_the_right_and_ends_equal_to_log10_grad_norms(view):
    config = small_config(num_layers=3, seq_len=8, activation="tanh", weight_scale=1.5)
    simulation, (x, y) = loaded(view, config)
    expected = simulation.forward_backward(x, y).log10_grad_norms
    seq_len = config.seq_len
    view.go_to(3)  # three cells of the top layer
    norms = view.curve_values["norms"]
    assert np.all(np.isnan(norms[:-3]))
    assert np.array_equal(norms[-3:], expected[2, -3:])
    for layer in (2, 1, 0):
        view.go_to((3 - layer) * seq_len)  # the layer's last cell (time step 1)
        assert view.current_cell == (layer, 0)
        norms = view.curve_values["norms"]
        assert np.array_equal(norms, expected[layer])
        x_data, y_data = view.graphics.curve.getOriginalDataset()
        assert np.array_equal(x_data, np.arange(1, seq_len + 1))
        assert np.array_equal(y_data, expected[layer])
        # The chain rule: the entry value times the running product of the local factors
        # (in log10: the entry plus the running sum of their logs).
        np.testing.assert_allclose(view.curve_values["factor_product"], expected[layer], rtol=0, atol=1e-12)
    # The parts product: entry x prod(mean f' x sigma_max) of the steps shown.
    steps = [s for s in view.steps if s.layer == 0]
    parts = np.array([s.mean_derivative * s.spectral_norm for s in steps[1:]])
    product = 10.0 ** expected[0, -1] * np.cumprod(parts)
    np.testing.assert_allclose(10.0 ** view.curve_values["parts_product"][:-1][::-1], product, rtol=1e-12)


def test_grid_colours_cells_by_log10_norm_on_decades(view):
    config = small_config(num_layers=2, seq_len=5, activation="sigmoid")
    simulation, (x, y) = loaded(view, config)
    expected = simulation.forward_backward(x, y).grad_norms
    view.go_to(7)
    kinds = view.graphics.cell_kinds
    reached = np.zeros((2, 5), dtype=bool)
    reached[1, :] = True
    reached[0, 3:] = True
    assert np.array_equal(kinds == FINITE, reached)
    assert np.all(kinds[~reached] == NOT_REACHED)
    logs = np.log10(expected[reached])
    low, high = view.graphics.grid_levels
    assert low == np.floor(logs.min()) and high == np.ceil(logs.max()) and high > low
    image = view.graphics.grid_image.image
    assert image.shape == (2, 5, 4)
    # The largest norm gets the top colour of the map, a cell not reached the blank colour.
    colormap = backprop_plots.pg.colormap.get(backprop_plots.GRID_COLORMAP)
    lookup = colormap.getLookupTable(0.0, 1.0, 256, alpha=True)
    layer, t = np.unravel_index(np.nanargmax(np.where(reached, expected, np.nan)), expected.shape)
    index = round((np.log10(expected[layer, t]) - low) / (high - low) * 255)
    assert np.array_equal(image[layer, t], lookup[index])
    blank = backprop_plots._rgba(backprop_plots.BLANK_COLORS["light"])
    assert tuple(image[0, 0]) == blank
    view.undo_step()
    assert view.graphics.cell_kinds[0, 3] == NOT_REACHED


def test_derivative_map_of_the_current_layer(view):
    config = small_config(num_layers=2, seq_len=5, hidden_size=4)
    loaded(view, config)
    session = view.session
    image = view.graphics.derivative_image.image
    assert np.array_equal(image, session.derivative_map(1).astype(np.float32))  # top layer first
    view.go_to(7)  # layer 0, time step 3
    image = view.graphics.derivative_image.image
    assert image.shape == (4, 5)
    assert np.array_equal(image, session.derivative_map(0).astype(np.float32))
    assert view.graphics.time_lines[1].value() == 4


# -- clipping ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "threshold"), [("norm", 1e-3), ("value", 1e-4), ("norm", 1e6)])
def test_clipping_before_and_after_equal_clip_gradients(view, mode, threshold):
    config = small_config(num_layers=2, clip_mode=mode, clip_threshold=threshold)
    simulation, (x, y) = loaded(view, config)
    assert view.clip_box.isVisibleTo(view)
    assert view.clip_result is None
    assert "after the last cell" in view.clip_label.text()
    view.go_to(view.total_cells - 1)
    assert view.clip_result is None
    view.step_backward()
    expected = clip_gradients(simulation.forward_backward(x, y).grads, mode, threshold)
    shown = view.clip_result
    assert shown.norm_before == expected.norm_before
    assert shown.norm_after == expected.norm_after
    assert shown.clipped == expected.clipped == (threshold < 1)
    text = view.clip_label.text()
    assert format_number(expected.norm_before) in text
    if expected.clipped:
        assert f"after {format_number(expected.norm_after)}" in text
    view.undo_step()
    assert "after the last cell" in view.clip_label.text()


def test_no_clipping_box_without_clipping(view):
    loaded(view, small_config(clip_mode="none"))
    view.go_to_end()
    assert not view.clip_box.isVisibleTo(view)
    assert view.clip_result is None


# -- exploding and degenerate gradients ------------------------------------------------------------
def test_exploding_run_steps_without_errors_and_marks_nonfinite_cells(view):
    simulation, (x, y) = loaded(view, EXPLODING)
    expected = simulation.forward_backward(x, y)
    assert not np.isfinite(expected.grad_norms).all() and np.isfinite(expected.grad_norms).any()
    for _ in range(view.total_cells):
        view.step_backward()
    assert np.array_equal(view.session.result.grad_norms, expected.grad_norms, equal_nan=True)
    kinds = view.graphics.cell_kinds
    assert np.array_equal(kinds == NONFINITE, ~np.isfinite(expected.grad_norms))
    assert np.all(kinds[np.isfinite(expected.grad_norms)] == FINITE)
    red = backprop_plots._rgba(LIGHT.nonfinite)
    layer, t = np.argwhere(~np.isfinite(expected.grad_norms))[0]
    assert tuple(view.graphics.grid_image.image[layer, t]) == red
    assert "no longer finite" in view.reading.text()
    marks_x, _ = view.graphics.nonfinite_marks.getData()
    assert np.array_equal(np.sort(marks_x), np.flatnonzero(~np.isfinite(expected.grad_norms[0])) + 1)
    view.go_to_start()
    view.play()
    view.pause()


def test_zero_gradients_are_shown_as_zero_cells(view):
    config = small_config(num_layers=2, seq_len=4)
    simulation = Simulation(config)
    params = {name: value.copy() for name, value in simulation.params.items()}
    params["readout.weight"][:] = 0.0  # nothing flows back from the loss
    view.load(config, params)
    view.go_to_end()
    assert np.all(view.graphics.cell_kinds == ZERO)
    assert tuple(view.graphics.grid_image.image[0, 0]) == backprop_plots._rgba(backprop_plots.ZERO_COLOR)
    assert "exactly 0" in view.reading.text()
    assert view.graphics.curve.getData()[0] is None or len(view.graphics.curve.getData()[0]) == 0


def test_parameters_that_do_not_fit_give_a_message(qtbot, view):
    config = small_config()
    params = Simulation(config.replace(hidden_size=5)).params
    with qtbot.waitSignal(view.failed) as blocker:
        view.load(config, params)
    assert "weight_ih_l0" in blocker.args[0] and "shape" in blocker.args[0]
    assert blocker.args[0] in view.reading.text()
    assert view.session is None
    assert not view.step_action.isEnabled()
    view.step_backward()  # nothing loaded: ignored
    params = dict(Simulation(config).params)
    del params["readout.bias"]
    with qtbot.waitSignal(view.failed) as blocker:
        view.load(config, params)
    assert "missing readout.bias" in blocker.args[0]


# -- play and background work --------------------------------------------------------------------
def test_play_animates_to_the_end_and_stops(qtbot, view):
    config = small_config(num_layers=2, seq_len=6)
    simulation, (x, y) = loaded(view, config)
    show_focused(qtbot, view)
    view.set_speed(2000)
    assert view.speed == 2000
    qtbot.keyClick(view, Key.Key_Space)
    assert view.is_playing
    assert view.play_action.text() == "⏸ Pause"
    qtbot.waitUntil(lambda: not view.is_playing, timeout=5000)
    assert view.position == view.total_cells
    assert np.array_equal(view.session.result.grad_norms, simulation.forward_backward(x, y).grad_norms)
    qtbot.keyClick(view, Key.Key_P)  # play again from the end: restarts from the start
    assert view.is_playing and view.position == 0
    qtbot.keyClick(view, Key.Key_P)
    assert not view.is_playing


def test_speed_slider_is_logarithmic(view):
    view.set_speed(1)
    assert view.speed_slider.value() == 0
    view.set_speed(1e6)
    assert view.speed == 2000 and view.speed_slider.value() == view.speed_slider.maximum()
    view.speed_slider.setValue(view.speed_slider.maximum() // 2)
    assert view.speed == pytest.approx(np.sqrt(2000), rel=1e-9)


def test_large_jobs_run_in_the_background_with_a_busy_indicator(qtbot, view):
    config = small_config(
        num_layers=3, seq_len=9, activation="relu", normalization="batch",
        clip_mode="norm", clip_threshold=1e-3,
    )  # fmt: skip
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    expected = simulation.forward_backward(x, y)
    view.inline_seconds = 0.0  # everything counts as large
    busy = []
    view.busy_changed.connect(busy.append)
    with qtbot.waitSignal(view.loaded, timeout=10000):
        view.load_simulation(simulation, (x, y))
        assert view.is_busy and view.session is None
        assert view.busy_bar.isVisibleTo(view)
        assert not view.step_action.isEnabled()
    assert not view.is_busy and not view.busy_bar.isVisibleTo(view)
    view.step_backward()
    assert view.is_busy
    view.step_backward()  # ignored while the first is computed
    qtbot.waitUntil(lambda: not view.is_busy, timeout=10000)
    assert view.position == 1 and view.current_cell == (2, 8)
    view.go_to_end()
    qtbot.waitUntil(lambda: view.position == view.total_cells, timeout=10000)
    for name, grad in expected.grads.items():
        assert np.array_equal(view.session.result.grads[name], grad), name
    clip = clip_gradients(expected.grads, "norm", 1e-3)
    assert clip.clipped and view.clip_result.norm_before == clip.norm_before
    assert view.clip_result.norm_after == clip.norm_after
    assert busy == [True, False] * 3


def test_a_newer_load_wins_over_a_running_one(qtbot, view):
    first, second = small_config(seq_len=5), small_config(seq_len=9)
    view.inline_seconds = 0.0
    threads_before = threading.active_count()
    view.load(first, Simulation(first).params)
    with qtbot.waitSignal(view.loaded, timeout=10000):
        view.load(second, Simulation(second).params)
    # Both jobs have ended and their results are delivered: the first one's is ignored.
    qtbot.waitUntil(lambda: threading.active_count() == threads_before, timeout=10000)
    QtWidgets.QApplication.processEvents()
    assert view.session.seq_len == 9
    assert view.config == second


def test_a_norm_below_float64_is_quoted_and_drawn_as_itself(view):
    # A sigmoid layer over 700 steps: ||dL/dh|| at the first steps is below 1e-320.
    config = small_config(num_layers=1, seq_len=700, activation="sigmoid", hidden_size=4, batch_size=2)
    simulation, (x, y) = loaded(view, config)
    expected = simulation.forward_backward(x, y)
    assert expected.grad_norms[0, 0] == 0.0 and expected.log10_grad_norms[0, 0] < -320
    view.go_to_end()
    assert view.current_cell == (0, 0)
    np.testing.assert_array_equal(view.curve_values["norms"], expected.log10_grad_norms[0])
    _, y_data = view.graphics.curve.getOriginalDataset()
    assert np.isfinite(y_data).all() and y_data.min() < -320
    assert np.all(view.graphics.cell_kinds == FINITE)  # no cell is shown as an exact zero
    low, _high = view.graphics.grid_levels
    assert low == np.floor(expected.log10_grad_norms.min())
    text = view.value_labels["grad_norm"].text()
    exponent = int(np.floor(expected.log10_grad_norms[0, 0]))
    assert text.endswith(f"e{exponent}") and "exactly 0" not in view.reading.text()
    (_, _), (y_low, _) = view.graphics.curve_plot.getViewBox().viewRange()
    assert y_low <= expected.log10_grad_norms.min()
    view.graphics.grab()
    # Its axis writes powers of ten as every other plot does (10⁻³⁰⁰, not 1e-300).
    labels = drawn_tick_labels(view.graphics.curve_plot.getAxis("left"))
    assert labels and all("e" not in label for label in labels)
    assert set(labels) <= {power_of_ten_label(float(d)) for d in range(-1000, 1)}
    assert "10⁻³⁰⁰" in labels


def drawn_tick_labels(axis) -> list[str]:
    """The tick labels ``axis`` draws at its current size and range."""
    image = QtGui.QImage(8, 8, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(image)
    try:
        return [text for _rect, _flags, text in axis.generateDrawSpecs(painter)[2]]
    finally:
        painter.end()


def _device_rect(view, item, rect: QtCore.QRectF) -> QtCore.QRectF:
    """``rect`` of ``item`` in ``view``'s viewport pixels."""
    return QtCore.QRectF(view.mapFromScene(item.mapRectToScene(rect)).boundingRect())


def marker_rects(graphics) -> dict[str, tuple[QtCore.QRectF, QtCore.QRectF]]:
    """The current cell's outline and the curve's circle, each with its view box, in viewport
    pixels; the outline widened by half its pen, the circle by its size and pen."""
    box = graphics.grid_plot.getViewBox()
    outline = _device_rect(graphics, graphics.highlight, graphics.highlight.rect())
    half = graphics.highlight.pen().widthF() / 2
    found = {"outline": (outline.adjusted(-half, -half, half, half), _device_rect(graphics, box, box.rect()))}
    curve_box = graphics.curve_plot.getViewBox()
    x, y = graphics.current_point.getData()
    centre = graphics.mapFromScene(curve_box.mapViewToScene(QtCore.QPointF(float(x[0]), float(y[0]))))
    options = graphics.current_point.opts
    radius = (options["symbolSize"] + options["symbolPen"].widthF()) / 2
    circle = QtCore.QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)
    found["circle"] = (circle, _device_rect(graphics, curve_box, curve_box.rect()))
    return found


@pytest.mark.parametrize("scale", [1.0, 1.6])
def test_the_current_cell_and_its_value_stay_whole_at_the_first_and_last_step(qtbot, view, scale):
    # At time step 1 the outline and the circle sat on the plots' left edge, half cut off.
    config = small_config(seq_len=50, hidden_size=32)
    loaded(view, config)
    view.show()
    view.set_presentation_scale(scale)
    for position in (1, view.total_cells):  # the top layer's last step ... layer 1's first
        view.go_to(position)
        qtbot.wait(10)
        view.graphics.grab()
        for name, (marker, box) in marker_rects(view.graphics).items():
            assert box.adjusted(-0.5, -0.5, 0.5, 0.5).contains(marker), (position, name, marker, box)
    view.set_presentation_scale(1.0)


@pytest.mark.parametrize("scale", [1.0, 1.6])
def test_the_curve_plots_title_is_the_key_to_its_lines(qtbot, view, scale):
    loaded(view, small_config(seq_len=30))
    view.show()
    view.set_presentation_scale(scale)
    view.go_to(5)
    view.graphics.grab()
    title = view.graphics.curve_plot.titleLabel
    shown = title.text
    assert "||dL/dh_t||" in shown and f"color:{LIGHT.function}" in shown
    # The dotted line of mean f′ × σmax(W_hh) is named in its colour, whichever title fits.
    assert f"color:{LIGHT.derivative}'>┈" in shown and "σmax" in shown
    assert not title.text.endswith("…")
    view.set_presentation_scale(1.0)


@pytest.mark.parametrize("height", [800, 560])
def test_the_curves_grid_lines_sit_at_its_labelled_decades(qtbot, view, height):
    # A sigmoid layer over 60 steps spans some 30 decades: labels thin out to every 2nd or 5th
    # decade, and the hand-drawn grid lines must follow them, never fall between two labels.
    view.resize(1200, height)
    config = small_config(num_layers=1, seq_len=60, activation="sigmoid", hidden_size=8, batch_size=2)
    loaded(view, config)
    view.go_to_end()
    view.graphics.grab()
    qtbot.wait(50)
    view.graphics.grab()
    axis = view.graphics.curve_plot.getAxis("left")
    decade_labels = {label for label in drawn_tick_labels(axis) if label and "·" not in label}
    _, levels = view.graphics._decade_lines.getData()
    lines = {power_of_ten_label(float(value)) for value in levels}
    assert lines == decade_labels, (sorted(levels), drawn_tick_labels(axis))
    assert len(lines) >= 2
