"""The diagnosis worker's job: asks the diagnosis process for diagnoses and theory predictions.

:class:`DiagnosisJob` runs on the diagnosis :class:`~gradsim.ui.common.workers.Worker`'s thread
and answers the panel's commands in order with a :class:`DiagnosisResult` or a
:class:`Prediction`; a request of a run or config replaced since is stale and skipped or
abandoned, so the newest settings' first diagnosis never waits behind the old ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import Diagnosis
from gradsim.engine.records import StepRecord
from gradsim.ui.common.workers import JobContext
from gradsim.ui.features.diagnosis.diagnosis_process import SERVER, DiagnosisCancelled


@dataclass(frozen=True)
class DiagnosisResult:
    """A diagnosis with what it was made from.

    Attributes
    ----------
    run : the panel's run number the records belong to
    config : the config of that run
    diagnosis : what :func:`diagnose` returned
    iteration : the newest record's iteration
    count : how many records were diagnosed
    seconds : how long ``diagnose`` took
    """

    run: int
    config: SimConfig
    diagnosis: Diagnosis
    iteration: int
    count: int
    seconds: float


@dataclass(frozen=True)
class Prediction:
    """Mean-field theory per layer for one config.

    Attributes
    ----------
    config : the config
    layers : :func:`gradsim.engine.theory.predict_layers` of it (``NotApplicable`` says why not)
    seconds : how long the prediction took
    """

    config: SimConfig
    layers: theory.LayerPrediction | theory.NotApplicable
    seconds: float

    @property
    def factors(self) -> np.ndarray | None:
        """(L,) predicted per-step factor of each layer's time span (None: no theory)."""
        layers = self.layers
        return layers.step_factors if isinstance(layers, theory.LayerPrediction) else None

    @property
    def factor(self) -> float | None:
        """The top layer's predicted per-step factor (None: no theory)."""
        factors = self.factors
        return None if factors is None else float(factors[-1])

    @property
    def reason(self) -> str | None:
        """``"not applicable: ..."`` when theory has no prediction (None when it has one)."""
        layers = self.layers
        return str(layers) if isinstance(layers, theory.NotApplicable) else None


class DiagnosisJob:
    """Asks :data:`SERVER` for diagnoses and theory predictions: the diagnosis worker's job.

    Commands (:meth:`Worker.send`): ``("diagnose", run, config, records)`` and ``("predict",
    config)``, answered in order with the messages ``("diagnosed", DiagnosisResult)``,
    ``("predicted", Prediction)`` or ``("failed", run, message)`` (diagnose raised or its process
    failed; the message says why in words). Stopping the worker abandons a diagnosis being
    waited for within 50 ms (its process is ended by the next request, or at exit).

    Attributes
    ----------
    current_run, current_config : the panel's run number and config, written by the GUI thread
        when the run restarts. A request for another run or config is stale: skipped if still
        queued, abandoned within 50 ms if running, so a new config's first diagnosis never
        waits behind the last config's theory table or diagnosis.
    """

    def run(self, context: JobContext) -> None:
        """Answer commands until the worker stops (on the worker thread)."""
        while True:
            command = context.next_command()
            if command is None:
                continue
            try:
                if command[0] == "diagnose":  # type: ignore[index]
                    self._diagnose(context, *command[1:])  # type: ignore[index]
                else:
                    self._predict(context, command[1])  # type: ignore[index]
            except DiagnosisCancelled:
                if context.is_cancelled():
                    return
                # Abandoned because a newer run or config made it stale: serve the next command.

    def __init__(self) -> None:
        self.current_run = 0
        self.current_config: SimConfig | None = None

    def _diagnose(
        self, context: JobContext, run: int, config: SimConfig, records: Sequence[StepRecord]
    ) -> None:
        def stale() -> bool:
            return context.is_cancelled() or run != self.current_run

        if stale():
            return
        try:
            diagnosis, seconds = SERVER.diagnose(config, records, stale)
        except DiagnosisCancelled:
            raise
        except Exception as error:  # the panel must hear back, whatever went wrong
            context.emit(("failed", run, f"The diagnosis failed: {error}"))
            return
        result = DiagnosisResult(run, config, diagnosis, records[-1].iteration, len(records), seconds)
        context.emit(("diagnosed", result))

    def _predict(self, context: JobContext, config: SimConfig) -> None:
        def stale() -> bool:
            return context.is_cancelled() or config != self.current_config

        if stale():
            return
        layers: theory.LayerPrediction | theory.NotApplicable
        try:
            layers, seconds = SERVER.predict(config, stale)
        except DiagnosisCancelled:
            raise
        except Exception as error:  # as above
            layers, seconds = theory.NotApplicable(f"the theory failed for this config: {error}"), 0.0
        context.emit(("predicted", Prediction(config, layers, seconds)))
