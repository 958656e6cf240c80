"""The Backprop tab's jobs, run inline: frozen parameters in, the engine's cells and clipping out."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.clipping import clip_gradients
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.ui.features.backprop.backprop_jobs import advance_cells, build_session, copy_params

CONFIG = SimConfig(
    num_layers=2, hidden_size=4, seq_len=5, batch_size=3, seed=8, clip_mode="norm", clip_threshold=0.01
)


def test_parameters_that_do_not_fit_are_named():
    simulation = Simulation(CONFIG)
    params = {name: value.copy() for name, value in simulation.params.items()}
    name = sorted(params)[0]
    extra = dict(params, surplus=np.zeros(2))
    with pytest.raises(ValueError, match="unexpected surplus"):
        copy_params(simulation, extra)
    missing = {key: value for key, value in params.items() if key != name}
    with pytest.raises(ValueError, match=f"missing {name}"):
        copy_params(simulation, missing)
    with pytest.raises(ValueError, match=f"parameter {name} has shape"):
        copy_params(simulation, dict(params, **{name: np.zeros((1, 1, 1))}))


def test_built_session_and_cells_equal_the_engines_backward_pass():
    source = Simulation(CONFIG)
    source.train_step()
    x, y = source.sample_batch()
    expected = source.forward_backward(x, y)
    built = build_session(CONFIG, source.params, (x, y))
    assert built.simulation is not source and len(built.derivative_maps) == CONFIG.num_layers
    steps, clip = advance_cells(built.session, 3, CONFIG)
    assert [step.order for step in steps] == [0, 1, 2] and clip is None  # not complete: no clipping yet
    steps, clip = advance_cells(built.session, 100, CONFIG)  # fewer at the end of the pass
    assert len(steps) == CONFIG.num_layers * CONFIG.seq_len - 3
    assert clip is not None and clip.clipped
    assert clip.norm_before == pytest.approx(
        clip_gradients(expected.grads, "norm", 0.01).norm_before, rel=1e-12
    )
