"""gradsim's engine: an exact numpy RNN with backpropagation through time, and what it measures.

The names a script or a notebook needs are importable from here::

    from gradsim.engine import Simulation, load_preset

    config = load_preset("vanishing-sigmoid")
    simulation = Simulation(config)
    record = simulation.train_step()
    record.grad_norms  # (layers, time steps): ||dL/dh|| at each layer and step

Nothing in this package imports Qt.
"""

from gradsim.engine.config import ConfigError, SimConfig
from gradsim.engine.diagnosis import Diagnosis, diagnose
from gradsim.engine.history import RunHistory
from gradsim.engine.presets import list_presets, load_preset
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.regime import classify
from gradsim.engine.simulation import Simulation, replay
from gradsim.engine.sweep import SweepSpec, critical_line, make_axis, run_sweep

__all__ = [
    "ConfigError",
    "Diagnosis",
    "NonFiniteEvent",
    "RunHistory",
    "SimConfig",
    "Simulation",
    "StepRecord",
    "SweepSpec",
    "classify",
    "critical_line",
    "diagnose",
    "list_presets",
    "load_preset",
    "make_axis",
    "replay",
    "run_sweep",
]
