"""Export run data without a widget: what an export is, what it costs, and the job that writes it.

The window keeps only a thinned history, so an export replays the run (runs are deterministic,
bit for bit): :func:`replay_records` replays an :class:`ExportJob`, :func:`write_records`
writes CSV, JSON or NPZ atomically, and :class:`ExportWorker` runs both as a worker job.
:func:`estimate_bytes` is the memory the replayed records take, asked about above a limit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import PREACTIVATION_SAMPLE
from gradsim.io.runexport import write_csv, write_json, write_npz
from gradsim.ui.common import background
from gradsim.ui.common.workers import JobContext

# Fixed part of a record in memory besides its arrays: the dicts, floats and array headers.
RECORD_OVERHEAD = 2048
# Replay progress reaches the GUI at most this often (seconds), so its event queue stays short.
PROGRESS_INTERVAL = 0.05


def estimate_bytes(config: SimConfig, iterations: int, suffix: str) -> int:
    """Memory the export of ``iterations`` replayed records of ``config`` takes, in bytes.

    Each record holds ``grad_norms`` and ``mean_derivative`` (L, T) float64; an NPZ export also
    keeps the pre-activation samples (L, S) float64 and stacks every field into arrays of its own
    before writing (twice the memory). CSV and JSON exports drop the samples as they replay.
    """
    layers, steps = config.num_layers, config.seq_len
    per_record = 2 * layers * steps * 8 + RECORD_OVERHEAD
    if suffix == ".npz":
        per_record = 2 * (per_record + layers * PREACTIVATION_SAMPLE * 8)
    return max(0, iterations) * per_record


@dataclasses.dataclass(frozen=True)
class ExportJob:
    """An export of run data.

    Attributes
    ----------
    path : the file to write; its extension (``.csv``, ``.json``, ``.npz``) picks the format
    config : the run's config (the run is replayed from it)
    iterations : how many training steps to replay
    keep : the iterations to write (None: every one)
    """

    path: Path
    config: SimConfig
    iterations: int
    keep: frozenset[int] | None = None


class ExportCancelled(Exception):
    """The user cancelled the export."""


def _without_samples(record: StepRecord) -> StepRecord:
    # CSV and JSON do not write the samples; dropping them keeps a long replay's memory small.
    return dataclasses.replace(record, preactivation_samples=np.empty((record.grad_norms.shape[0], 0)))


def replay_records(
    job: ExportJob,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> list[StepRecord]:
    """The records ``job`` exports, replayed from a fresh run of its config.

    Parameters
    ----------
    job : what to replay
    cancelled : polled between training steps; True raises :class:`ExportCancelled`
    progress : called with ``(steps done, steps in all)``, at most every :data:`PROGRESS_INTERVAL` s
    """
    keep_samples = job.path.suffix.lower() == ".npz"
    records: list[StepRecord] = []
    reported = 0.0
    for record in background.replay_beside_the_window(job.config, job.iterations):
        if cancelled():
            raise ExportCancelled()
        if job.keep is None or record.iteration in job.keep:
            records.append(record if keep_samples else _without_samples(record))
        now = time.monotonic()
        if progress is not None and now - reported >= PROGRESS_INTERVAL:
            reported = now
            progress(record.iteration, job.iterations)
    if cancelled():
        raise ExportCancelled()
    return records


def write_records(path: Path, records: list[StepRecord], config: SimConfig) -> None:
    """Write ``records`` to ``path`` in the format its extension names, atomically.

    Raises
    ------
    ValueError
        The extension is not ``.csv``, ``.json`` or ``.npz`` (nothing is written).
    WriteError
        The file cannot be written (nothing is left behind).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_csv(path, records)
    elif suffix == ".json":
        write_json(path, records, config)
    elif suffix == ".npz":
        write_npz(path, records, config, include_samples=True)
    else:
        raise ValueError(f"cannot export run data as {path.name}: use .csv, .json or .npz")


class ExportWorker(background.WritingJob[ExportJob]):
    """Replays and writes an :class:`ExportJob`: the job of an export's worker thread.

    Messages: those of :class:`~gradsim.ui.common.background.WritingJob`, with
    ``("writing",)`` when the replay is done and the file is being written, and
    ``("finished", path, count)`` when ``count`` records were written to ``path``.
    """

    cancelled_error = ExportCancelled

    def target(self) -> Path:
        """The file being written."""
        return self.job.path

    def write(self, context: JobContext) -> tuple[str, int]:
        """Replay the records and write them; ``(path, count)``."""
        records = replay_records(self.job, context.is_cancelled, background.report_progress(context))
        context.emit(("writing",))
        write_records(self.job.path, records, self.job.config)
        return str(self.job.path), len(records)
