"""The theory lines on the gradient plot, against the theory's own per-step factors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

# isort: split
import pyqtgraph as pg

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.diagnosis.diagnosis_overlay import TheoryOverlay


def test_a_theory_line_far_below_float64_runs_over_every_step(qtbot) -> None:
    plot = pg.PlotItem()
    overlay = TheoryOverlay(plot, None, LIGHT)
    config = SimConfig(activation="sigmoid", num_layers=1, seq_len=1000, hidden_size=8, weight_scale=0.5)
    prediction = theory.predict_layers(config)
    assert isinstance(prediction, theory.LayerPrediction)
    factor = float(prediction.step_factors[0])
    norms = np.full((1, 1000), 1.0)  # only its last step anchors the line
    record = Simulation(SimConfig(num_layers=1, seq_len=1000, hidden_size=4, batch_size=2)).train_step()
    assert record is not None
    flat = dataclasses.replace(record, grad_norms=norms, log10_grad_norms=np.log10(norms))
    overlay.update(flat, prediction)
    steps, logs = overlay.lines[0].getOriginalDataset()
    # factor ** 999 is far below 1e-308, but the line is drawn in log10 values: both ends exist.
    assert list(steps) == [1, 1000] and logs[-1] == 0.0
    assert logs[0] == pytest.approx(999 * np.log10(factor), rel=1e-12) and logs[0] < -308
