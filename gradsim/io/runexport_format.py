"""What every run export format shares: its name and version, its errors, and the checks of records.

Part of the run exports (:mod:`gradsim.io.runexport` explains the formats and re-exports these
names).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord

from .reading import check_marker

FORMAT = "gradsim-run"
VERSION = 1
EXPORT_SUFFIXES = (".json", ".npz", ".csv")
# log10_grad_norm comes last so that files keep the columns older readers expect, in place.
CSV_COLUMNS = ("iteration", "layer", "time_step", "grad_norm", "loss", "log10_grad_norm")
NONFINITE_NOTE = 'numbers that are not finite are written as the strings "inf", "-inf" and "nan"'

# StepRecord fields that are {name: float} dicts, and NonFiniteEvent fields, as NPZ stores them.
_DICT_FIELDS = ("param_grad_norms", "update_ratios", "extra")
_EVENT_FIELDS = ("iteration", "layer", "time_step", "quantity", "parameter")
_NONFINITE_TEXT = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
# StepRecord fields of gated cells, None for the RNN, with their number of axes per record.
_GATED_FIELDS = {"log10_cell_grad_norms": 2, "gate_means": 3, "gate_saturation": 3}


class RunFileError(ValueError):
    """A file is not a readable gradsim run export; the message names the file and the problem."""


@dataclass
class RunData:
    """A run read back from a file: its config and its step records, oldest first."""

    config: SimConfig
    records: list[StepRecord]


# -- checks ----------------------------------------------------------------------------------


def _check_records(records: Sequence[StepRecord], config: SimConfig) -> None:
    """Raise ValueError if the records do not all have the shapes ``config`` gives."""
    expected = (config.num_layers, config.seq_len)
    for record in records:
        for name in ("grad_norms", "log10_grad_norms"):
            shape = getattr(record, name).shape
            if shape != expected:
                raise ValueError(
                    f"record of iteration {record.iteration} has {name} of shape {shape}, but the "
                    f"config gives {expected}: records and config must come from the same run"
                )


def _check_format(file: Path, name: str | None, version: int | None) -> None:
    check_marker(file, (name, version), (FORMAT, VERSION), ("run export", "format version"), RunFileError)
