"""The A/B pair's worker handle: one training loop stepping A and B in lockstep (no drawing).

:class:`PairRunner` is the Training tab's :class:`~gradsim.ui.training.runner.TrainingHandle`
with two simulations: every round takes one step of A, then one of B, so after every pair both
have taken the same number of steps; :func:`halt_message` names the side that stopped the pair.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent
from gradsim.engine.simulation import Simulation
from gradsim.ui.training.runner import TrainingHandle

SIDES = ("A", "B")


def halt_message(events: dict[str, NonFiniteEvent | None]) -> str:
    """``"A exploded at iteration 3, ... The pair is paused: ..."`` for the sides that stopped."""
    parts = []
    for side, event in events.items():
        where = event.describe() if event is not None else "stopped on a non-finite value"
        parts.append(f"{side} {where}")
    return "; ".join(parts) + ". Both runs are paused: press Reset to start the pair again."


class PairRunner(TrainingHandle):
    """The GUI thread's handle on a training loop that steps A and B in lockstep.

    The loop is the Training tab's :class:`~gradsim.ui.training.runner.TrainingLoop` with two
    simulations: every round takes one step of A, then one of B.

    Signals
    -------
    rebuilt(config_a, config_b) : a fresh pair is ready; records restart at iteration 1
    recordsReady(records_a, records_b) : records of the current pair, oldest first
    runningChanged(running)
    halted(events) : ``{side: NonFiniteEvent | None}`` of the sides that stopped the pair
    failed(message)
    """

    rebuilt = QtCore.Signal(object, object)
    recordsReady = QtCore.Signal(object, object)
    halted = QtCore.Signal(object)

    def __init__(
        self,
        config_a: SimConfig,
        config_b: SimConfig,
        parent: QtCore.QObject | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(2, "gradsim-ab", parent, kind)
        self._configs = (config_a, config_b)
        self.rebuild(config_a, config_b)

    @property
    def configs(self) -> tuple[SimConfig, SimConfig]:
        """The configs of A and B of the current pair."""
        return self._configs

    @property
    def simulations(self) -> tuple[Simulation, Simulation] | None:
        """The worker's simulations; read-only inspection (tests) while paused (None for the
        ``process`` kind, whose simulations live in the child)."""
        return self._simulations()  # type: ignore[return-value]

    def rebuild(self, config_a: SimConfig, config_b: SimConfig) -> None:
        """Start a new pair (keeps playing if playing)."""
        if not self._shut_down:
            self._configs = (config_a, config_b)
            self._rebuild_all(self._configs)

    def _deliver(self, kind: str, payload: Any) -> None:
        if kind == "built":
            self.rebuilt.emit(*payload)
        elif kind == "records":
            self.recordsReady.emit(*payload)
        elif kind == "halted":
            self.halted.emit({SIDES[index]: event for index, event in payload.items()})
