"""What several test modules build the same way: small configs, the named configs they share,
records and histories of real runs, hand-made records, and widgets shown for a test.

Test modules import it (``from helpers import small_config``): pytest puts ``tests/`` on
``sys.path`` when it imports ``tests/conftest.py`` (the test folders have no ``__init__.py``, and
the default "prepend" import mode inserts a conftest's folder). A fixture cannot serve here:
configs go into ``pytest.mark.window`` markers and ``parametrize`` lists, read at import.

A test keeps its own numbers: it names every setting it relies on, as an override, and the
shared configs below are the ones two or more modules need bit for bit.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation, replay
from gradsim.engine.sweep import SweepAxis, SweepResult, SweepSpec, make_axis, run_sweep

# The small network most tests train: a step takes about a millisecond.
SMALL_SHAPE: dict[str, Any] = {"num_layers": 2, "hidden_size": 8, "seq_len": 12, "batch_size": 4}


def force_tanh_kernel(monkeypatch: pytest.MonkeyPatch, one_exp: bool) -> None:
    """Make every float64 tanh step take the one-exp kernels (``one_exp``) or numpy's tanh,
    whatever this machine's numpy vectorises and whatever the step's size
    (:func:`gradsim.engine.activations.one_exp_tanh`)."""
    from gradsim.engine import activations

    monkeypatch.setattr(activations, "VECTORISED_FLOAT64_TANH", not one_exp)
    monkeypatch.setattr(activations, "ONE_EXP_FROM", 1 if one_exp else 2**62)


def small_config(**overrides: Any) -> SimConfig:
    """A config of :data:`SMALL_SHAPE` (2 layers x 8 units, T = 12, batch 4), ``overrides`` applied.

    Every other setting is ``SimConfig``'s default unless overridden; the config is validated once,
    with all its settings.
    """
    return SimConfig(**{**SMALL_SHAPE, **overrides})


# -- configs several modules share ----------------------------------------------------------------
# ReLU, 3x Gaussian weights, T = 200, lr 0.1: non-finite at iteration 2 (the window, runner,
# dashboard and plot tests show it; the engine's replay stops there).
EXPLODING_LONG = SimConfig(
    activation="relu", init="gaussian", weight_scale=3.0, seq_len=200, learning_rate=0.1,
    hidden_size=32, batch_size=4,
)  # fmt: skip
# Large ReLU weights and a large step, and tiny: iteration 2 overflows (inf in dL/dh, NaN global
# norm). The io and recording tests write and draw its records.
EXPLODING_TINY = SimConfig(
    num_layers=2, hidden_size=6, seq_len=8, batch_size=3, activation="relu", weight_scale=10.0,
    learning_rate=1.0,
)  # fmt: skip
# ReLU, weights twice the stable size: NaN at iteration 2 (like the 'exploding-large-weights' preset).
EXPLODING_RELU = SimConfig(
    num_layers=2, hidden_size=64, seq_len=100, activation="relu", init="gaussian", weight_scale=2.0,
    task="adding", learning_rate=0.01,
)  # fmt: skip
# The diagnosis tests' clear cases: sigmoid over 3 layers vanishes, one ReLU layer with 2.5x weights
# explodes.
VANISHING_SIGMOID = SimConfig(
    activation="sigmoid", num_layers=3, seq_len=100, init="gaussian", weight_scale=1.0, hidden_size=32,
    batch_size=8,
)  # fmt: skip
EXPLODING_ONE_LAYER = SimConfig(
    activation="relu", num_layers=1, seq_len=100, init="gaussian", weight_scale=2.5, hidden_size=32,
    batch_size=8,
)  # fmt: skip
# The largest config of the controls' ranges the tests can afford: the most layers (16) and the
# longest sequence (2000), i.e. the largest plots and the most Python-level work per step. The
# hidden size and batch are small so that one step takes seconds, not minutes (long enough to be
# caught mid-step), and its memory stays near 100 MB (the controls allow up to 6 GiB).
LARGEST = SimConfig(num_layers=16, hidden_size=32, seq_len=2000, batch_size=8)


def scale_by_length_sweep(activation: str) -> SweepSpec:
    """Weight scale (0.01, 0.9, 1.2, 50) x T (6, 400), at initialisation, 2 seeds, around one layer
    of 6 ``activation`` units (T = 10, batch 3, random task): ok points and an overflowing one
    (50^400) for ReLU or linear units."""
    base = SimConfig(
        num_layers=1, hidden_size=6, seq_len=10, batch_size=3, activation=activation, task="random"
    )
    return SweepSpec(
        base, SweepAxis("weight_scale", (0.01, 0.9, 1.2, 50.0)), SweepAxis("seq_len", (6, 400)), 0, 2
    )


def scale_by_length_grid(activation: str) -> SweepResult:
    """:func:`scale_by_length_sweep` computed in this process without a cache: the reference the
    io tests compare written and stored grids with."""
    grid = run_sweep(scale_by_length_sweep(activation), workers=0, cache=None)
    assert grid.overflow.any()  # 50^400
    return grid


def heavy_spec() -> SweepSpec:
    """An 8 x 8 grid of 2 layers x 64 units, T 100 to 200, batch 16, 2 seeds: long enough for a
    test to cancel it midway or catch its workers at work."""
    base = SimConfig(num_layers=2, hidden_size=64, seq_len=150, batch_size=16, task="random")
    return SweepSpec(base, make_axis("weight_scale", 0.5, 1.5, 8), make_axis("seq_len", 100, 200, 8), 2)


# -- runs and records -----------------------------------------------------------------------------
def engine_run(config: SimConfig, count: int) -> list[StepRecord]:
    """The engine's first ``count`` records, fewer if the run halts on a non-finite value."""
    return list(replay(config, count))


def run_history(config: SimConfig, iterations: int, **history_options: int) -> RunHistory:
    """A :class:`RunHistory` (``capacity``, ``trail``) of the first ``iterations`` records of a
    fresh run of ``config``, fewer if it halts on a non-finite value."""
    history = RunHistory(**history_options)
    for record in replay(config, iterations):
        history.append(record)
    return history


def step_record(grad_norms: Any, **fields: Any) -> StepRecord:
    """A hand-made record of ``grad_norms`` ``(L, T)``: iteration 1, loss 0.5, no clipping, no
    saturation, unit derivatives and spectral norms, 4 zero samples per layer; ``fields`` replace
    any of these (``nonfinite``, ``log10_grad_norms``, ...)."""
    norms = np.asarray(grad_norms, dtype=np.float64)
    layers, steps = norms.shape
    values: dict[str, Any] = {
        "iteration": 1,
        "loss": 0.5,
        "grad_norms": norms,
        "param_grad_norms": {},
        "global_norm_before": 1.0,
        "global_norm_after": 1.0,
        "clipped": False,
        "update_ratios": {},
        "saturation": np.zeros(layers),
        "mean_derivative": np.ones((layers, steps)),
        "preactivation_samples": np.zeros((layers, 4)),
        "spectral_norms": np.ones(layers),
    }
    return StepRecord(**{**values, **fields})


# The offscreen platform cannot raise a popup menu or grab the keyboard for it: a test module
# that opens menus ignores what it says then (besides the ini's qt_log_ignore).
POPUP_MENUS_OFFSCREEN = pytest.mark.qt_log_ignore(
    re.escape("This plugin does not support raise()"),
    re.escape("This plugin does not support grabbing the keyboard"),
)


def assert_same_data_stream(
    pair: tuple[Simulation, Simulation], config_a: SimConfig, config_b: SimConfig
) -> None:
    """An A/B pair trains on one data stream: its two simulations' generators stand at the same
    point, and fresh simulations of ``config_a`` and ``config_b`` draw identical batches."""
    sim_a, sim_b = pair
    assert sim_a.rng.bit_generator.state == sim_b.rng.bit_generator.state
    fresh_a, fresh_b = Simulation(config_a), Simulation(config_b)
    for _ in range(3):
        (xa, ya), (xb, yb) = fresh_a.sample_batch(), fresh_b.sample_batch()
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


# -- widgets and windows (Qt-free here: they only call the objects' methods) ----------------------
def shown(qtbot: Any, widget: Any, size: tuple[int, int]) -> Any:
    """``widget`` resized to ``size``, shown, and closed with the test (by ``qtbot``)."""
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    return widget


def train(window: Any, steps: int, qtbot: Any) -> None:
    """Take ``steps`` single steps of ``window``'s live run; wait until the history holds them."""
    start = window.history.total_records
    for _ in range(steps):
        window.runner.step()
    qtbot.waitUntil(lambda: window.history.total_records == start + steps, timeout=10000)
