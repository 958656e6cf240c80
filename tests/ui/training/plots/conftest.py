"""Real runs of the engine, shared by the plot tests (each plot must show these exact numbers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pyqtgraph as pg
import pytest
from helpers import EXPLODING_LONG, run_history

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import log10_norms
from gradsim.ui.common.theme import LIGHT

PlotT = TypeVar("PlotT")


@dataclasses.dataclass
class Run:
    config: SimConfig
    history: RunHistory


def run(config: SimConfig, iterations: int, capacity: int = 1000, trail: int = 12) -> Run:
    """Train ``config`` for up to ``iterations`` steps (stops at a non-finite step)."""
    return Run(config, run_history(config, iterations, capacity=capacity, trail=trail))


@pytest.fixture(scope="session")
def vanishing_run() -> Run:
    """Sigmoid, 3 layers, T = 100: the gradient falls by ~60 decades."""
    config = SimConfig(activation="sigmoid", num_layers=3, seq_len=100, hidden_size=16, batch_size=4)
    return run(config, 15)


@pytest.fixture(scope="session")
def exploding_run() -> Run:
    """ReLU with 3x weights, T = 200, lr 0.1: non-finite at iteration 2."""
    result = run(EXPLODING_LONG, 10)
    assert result.history.nonfinite_record is not None
    return result


@pytest.fixture(scope="session")
def clipping_run() -> Run:
    """tanh, large weights and clipping by norm at 2: clipping acts on some iterations only."""
    config = SimConfig(
        activation="tanh", weight_scale=1.5, seq_len=40, hidden_size=16, batch_size=4,
        clip_mode="norm", clip_threshold=2.0, learning_rate=0.05,
    )  # fmt: skip
    result = run(config, 25)
    clipped = result.history.clipped()
    assert clipped.any() and not clipped.all()
    return result


@pytest.fixture(scope="session")
def single_layer_run() -> Run:
    config = SimConfig(num_layers=1, seq_len=30, hidden_size=8, batch_size=2)
    return run(config, 5)


@pytest.fixture
def theme():
    return LIGHT


@pytest.fixture
def make_run():
    """``make_run(config, iterations, capacity=1000, trail=12) -> Run``."""
    return run


@pytest.fixture
def with_grad_norms():
    """``with_grad_norms(run, grad_norms, logs=None) -> RunHistory``: the run's last record with
    new grad_norms and their log10 (or ``logs``, for values below float64)."""

    def build(run_: Run, grad_norms: np.ndarray, logs: np.ndarray | None = None) -> RunHistory:
        if logs is None:
            logs = log10_norms(grad_norms)
        record = dataclasses.replace(run_.history.latest, grad_norms=grad_norms, log10_grad_norms=logs)
        history = RunHistory()
        history.append(record)
        return history

    return build


@pytest.fixture
def reset_after_top_layer(vanishing_run: Run) -> Callable[[PlotT], PlotT]:
    """``reset_after_top_layer(plot) -> plot``: the plot has shown the vanishing run's top layer
    (the third of three) and is reset, as a new config resets it; a one-layer run comes next."""

    def show_and_reset(plot: PlotT) -> PlotT:
        plot.refresh(vanishing_run.history, vanishing_run.config)
        plot.set_layer(2)
        plot.reset()
        return plot

    return show_and_reset


@pytest.fixture
def view(qtbot):
    """A shown 300 x 200 PlotWidget, for the tests of single curve items."""
    widget = pg.PlotWidget()  # closed here (pyqtgraph's close cannot run twice)
    widget.resize(300, 200)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.close()
