"""The Backprop tab on a gated cell: the chain-rule factor of a step split into the cell path
(the forget gate, or a GRU's update gate) and the hidden path, with the cell's gate values, all
the engine's numbers, and the quoted ones multiply out."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number, format_ratio
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.backprop.backprop_text import describe_gates, describe_step
from gradsim.ui.features.backprop.backprop_view import BackpropView

GATED = SimConfig(num_layers=2, hidden_size=6, seq_len=6, batch_size=4, seed=3, forget_bias=1.0)
NUMBER = r"(\d+(?:\.\d+)?(?:e[+-]\d+)?)"


@pytest.fixture
def view(qtbot) -> BackpropView:
    widget = BackpropView(theme=LIGHT)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_each_step_quotes_the_engines_two_paths_and_they_multiply_out(view, cell):
    config = GATED.replace(cell=cell)
    simulation = Simulation(config)
    batch = simulation.sample_batch()
    reference = list(simulation.backprop(*batch))
    view.load_simulation(simulation, batch)
    side = view.side_panel
    labels = side.path_labels
    assert side.path_box.isVisible()
    assert side.path_captions["cell_path"].text() == (
        "Cell path × (f)" if cell == "lstm" else "Update path × (z)"
    )
    assert labels["cell_grad_norm"].isVisible() == (cell == "lstm")
    checked = 0
    for position, expected in enumerate(reference, start=1):
        view.step_backward()
        shown = view.current_step
        for field in ("cell_path_factor", "hidden_path_factor", "path_gate_mean"):
            assert np.array_equal(getattr(shown, field), getattr(expected, field), equal_nan=True), field
        assert shown.log10_cell_grad_norm == expected.log10_cell_grad_norm  # None for a GRU
        assert labels["gates"].text() == describe_gates(expected)
        assert set(shown.gates) == ({"input", "forget", "cell", "output"} if cell == "lstm" else
                                    {"reset", "update", "new"})  # fmt: skip
        if cell == "lstm":
            assert labels["cell_grad_norm"].text() == format_ratio(expected.log10_cell_grad_norm)
        reading = view.reading.text()
        assert reading.startswith(describe_step(expected, 2, 6, "tanh", cell))
        if expected.time_step == config.seq_len - 1:
            assert labels["cell_path"].text() == "n/a" and "Two paths" not in reading
            continue
        assert labels["cell_path"].text() == format_number(expected.cell_path_factor)
        assert labels["hidden_path"].text() == format_number(expected.hidden_path_factor)
        assert labels["path_gate"].text() == format_number(expected.path_gate_mean)
        previous = reference[position - 2]
        gate = "forget" if cell == "lstm" else "update"
        # The gate on the cell path, at the step the gradient came from, as the engine's cache holds it.
        assert expected.path_gate_mean == pytest.approx(float(previous.gates[gate].mean()), rel=1e-12)
        # The quoted terms: the norm at t+1 x the path's factor = the term that arrived, and that
        # term is the engine's own log10 path norm.
        paths = view.session.state.log10_path_norms[expected.layer, expected.time_step]
        start_c = previous.log10_cell_grad_norm if cell == "lstm" else previous.log10_grad_norm
        match = re.search(rf"{NUMBER} × {NUMBER} = {NUMBER}[^0-9]+{NUMBER} × {NUMBER} = {NUMBER}", reading)
        assert match is not None, reading
        c_start, c_factor, c_term, h_start, h_factor, h_term = (float(g) for g in match.groups())
        assert match.group(1) == format_ratio(start_c) and match.group(2) == format_number(
            expected.cell_path_factor
        )
        assert match.group(4) == format_ratio(previous.log10_grad_norm)
        assert match.group(5) == format_number(expected.hidden_path_factor)
        assert c_term == pytest.approx(c_start * c_factor, rel=2e-2)
        assert h_term == pytest.approx(h_start * h_factor, rel=2e-2)
        assert math.log10(c_term) == pytest.approx(paths[1], abs=3e-3)
        assert math.log10(h_term) == pytest.approx(paths[0], abs=3e-3)
        checked += 1
    assert checked == config.num_layers * (config.seq_len - 1)
    # The curve: the engine's norms and the chain rule's product, but no "f′ × σmax(W_hh)" estimate.
    assert np.isnan(view.curve_values["parts_product"]).all()
    assert np.isfinite(view.curve_values["factor_product"]).any()


def test_the_rnn_shows_no_path_box(view):
    simulation = Simulation(GATED)
    view.load_simulation(simulation, simulation.sample_batch())
    view.step_backward()
    view.step_backward()
    assert not view.side_panel.path_box.isVisible()
    assert np.isfinite(view.curve_values["parts_product"]).any()  # the RNN keeps its estimate
    assert "Two paths" not in view.reading.text()
