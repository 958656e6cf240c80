"""Run data on disk: the engine's step records as JSON, NPZ and CSV, and readers for JSON and NPZ.

All three formats are written atomically (see :mod:`gradsim.io.atomic`): a writer that cannot
write its file raises :class:`~gradsim.io.atomic.WriteError` and leaves no partial file. Readers
give back the same numbers bit for bit; a file they refuse raises :class:`RunFileError`, its
message naming the file and what is wrong with it.

JSON
    ``{"format": "gradsim-run", "version": 1, "config": {...}, "records": [...]}``, one object per
    step record with the record's field names (``grad_norms`` and ``log10_grad_norms`` as lists
    of L lists of T numbers,
    ``param_grad_norms`` and ``update_ratios`` as objects keyed by parameter name, ``nonfinite``
    as an object or null). Numbers that are not finite -- an exploding run produces them -- are
    written as the strings ``"inf"``, ``"-inf"`` and ``"nan"``, because JSON has no literal for
    them; every finite number is written with the shortest text that reads back bit-identical.
    The pre-activation samples are left out unless asked for (they are 2048 numbers per layer
    and record); a record read back without them has an empty ``(L, 0)`` sample array.
NPZ
    One array per record field with the iteration as first axis (``grad_norms`` and
    ``log10_grad_norms`` ``(N, L, T)``,
    ``saturation`` ``(N, L)``, ...), see :func:`records_to_arrays`. Text is stored as unicode
    arrays and the config as a JSON string, so the file loads with ``allow_pickle=False``.
CSV
    One row per iteration, layer and time step:
    ``iteration,layer,time_step,grad_norm,loss,log10_grad_norm``, with ``layer`` and
    ``time_step`` counted from 1 as the window and messages count them. Non-finite values are
    written ``inf``, ``-inf``, ``nan``.

Gated cells add, in JSON and NPZ alike, the record fields ``log10_cell_grad_norms`` (LSTM,
``(L, T)`` per record), ``gate_means`` and ``gate_saturation`` (``(L, T, K)``), written only when
the records have them; a file without them reads back with None there.

``log10_grad_norms`` is exact at any magnitude, while ``grad_norms`` (kept for older readers)
is 0 where the true norm is below float64's range (about 5e-324): read the logarithms. A file
written before they existed still loads; its logarithms are then computed from ``grad_norms``.

Where the code lives: the format's name, version, errors and record checks in
:mod:`gradsim.io.runexport_format`; NPZ in :mod:`gradsim.io.runexport_npz`; JSON, CSV and the
choice by file name here. Every name is importable from this module.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine.config import ConfigError, SimConfig, short_repr
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.safe_read import RUN_JSON_LIMIT, RUN_NPZ_LIMIT, FileReadError, load_npz
from gradsim.engine.safe_read import read_json as read_json_file

from .atomic import atomic_open, atomic_savez
from .configfile import config_values
from .reading import describe_reason, npz_marker, read_by_suffix, read_or_raise
from .runexport_format import (
    _GATED_FIELDS,
    _NONFINITE_TEXT,
    CSV_COLUMNS,
    EXPORT_SUFFIXES,
    FORMAT,
    NONFINITE_NOTE,
    VERSION,
    RunData,
    RunFileError,
    _check_format,
    _check_records,
)
from .runexport_npz import arrays_to_records, records_to_arrays

__all__ = [
    "CSV_COLUMNS",
    "NONFINITE_NOTE",
    "EXPORT_SUFFIXES",
    "FORMAT",
    "VERSION",
    "RunData",
    "RunFileError",
    "arrays_to_records",
    "read_json",
    "read_npz",
    "read_run",
    "records_to_arrays",
    "run_to_json",
    "write_csv",
    "write_json",
    "write_npz",
    "write_run",
]


# -- JSON ------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """Plain JSON data with non-finite floats replaced by "inf"/"-inf"/"nan"."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    return value


def _decode_float(value: Any) -> float:
    if isinstance(value, str):
        if value not in _NONFINITE_TEXT:
            raise ValueError(f"expected a number or one of inf, -inf, nan (got {short_repr(value)})")
        return _NONFINITE_TEXT[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number (got {short_repr(value)})")
    return float(value)


def _decode_array(value: Any, ndim: int) -> np.ndarray:
    def decode(item: Any, depth: int) -> Any:
        if depth == 0:
            return _decode_float(item)
        if not isinstance(item, list):
            raise ValueError(f"expected a list (got {short_repr(item)})")
        return [decode(element, depth - 1) for element in item]

    array = np.array(decode(value, ndim), dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"expected a {ndim}-dimensional list of numbers")
    return array


def _record_to_json(record: StepRecord, include_samples: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "iteration": record.iteration,
        "loss": float(record.loss),
        "grad_norms": record.grad_norms,
        "log10_grad_norms": record.log10_grad_norms,
        "param_grad_norms": {name: float(v) for name, v in record.param_grad_norms.items()},
        "global_norm_before": float(record.global_norm_before),
        "global_norm_after": float(record.global_norm_after),
        "clipped": bool(record.clipped),
        "update_ratios": {name: float(v) for name, v in record.update_ratios.items()},
        "saturation": record.saturation,
        "nonfinite_fraction": record.nonfinite_fraction,
        "mean_derivative": record.mean_derivative,
        "spectral_norms": record.spectral_norms,
        "nonfinite": None,
        "extra": {name: float(v) for name, v in record.extra.items()},
    }
    if record.nonfinite is not None:
        event = record.nonfinite
        data["nonfinite"] = {
            "iteration": event.iteration,
            "quantity": event.quantity,
            "layer": event.layer,
            "time_step": event.time_step,
            "parameter": event.parameter,
        }
    for name in _GATED_FIELDS:
        if getattr(record, name) is not None:
            data[name] = getattr(record, name)
    if include_samples:
        data["preactivation_samples"] = record.preactivation_samples
    return _encode(data)


def _record_from_json(data: dict[str, Any], num_layers: int) -> StepRecord:
    def float_dict(name: str) -> dict[str, float]:
        mapping = data[name]
        if not isinstance(mapping, dict):
            raise ValueError(f"{name} must be an object")
        return {str(key): _decode_float(value) for key, value in mapping.items()}

    event_data = data["nonfinite"]
    event = None
    if event_data is not None:
        event = NonFiniteEvent(
            iteration=int(event_data["iteration"]),
            quantity=str(event_data["quantity"]),
            layer=None if event_data.get("layer") is None else int(event_data["layer"]),
            time_step=None if event_data.get("time_step") is None else int(event_data["time_step"]),
            parameter=None if event_data.get("parameter") is None else str(event_data["parameter"]),
        )
    if "preactivation_samples" in data:
        samples = _decode_array(data["preactivation_samples"], 2)
    else:
        samples = np.empty((num_layers, 0))
    clipped = data["clipped"]
    if not isinstance(clipped, bool):
        raise ValueError(f"clipped must be true or false (got {short_repr(clipped)})")
    grad_norms = _decode_array(data["grad_norms"], 2)
    logs = None  # absent from files written before the logarithms were recorded
    if "log10_grad_norms" in data:
        logs = _decode_array(data["log10_grad_norms"], 2)
        if logs.shape != grad_norms.shape:
            raise ValueError(f"log10_grad_norms has shape {logs.shape} but grad_norms {grad_norms.shape}")
    return StepRecord(
        iteration=int(data["iteration"]),
        loss=_decode_float(data["loss"]),
        grad_norms=grad_norms,
        param_grad_norms=float_dict("param_grad_norms"),
        global_norm_before=_decode_float(data["global_norm_before"]),
        global_norm_after=_decode_float(data["global_norm_after"]),
        clipped=clipped,
        update_ratios=float_dict("update_ratios"),
        saturation=_decode_array(data["saturation"], 1),
        mean_derivative=_decode_array(data["mean_derivative"], 2),
        preactivation_samples=samples,
        spectral_norms=_decode_array(data["spectral_norms"], 1),
        nonfinite=event,
        extra=float_dict("extra"),
        log10_grad_norms=logs,  # type: ignore[arg-type]  # None: StepRecord computes them
        # Absent from files written before non-finite units were counted apart: zeros.
        nonfinite_fraction=(
            _decode_array(data["nonfinite_fraction"], 1)
            if "nonfinite_fraction" in data
            else np.zeros(num_layers)
        ),
        **{name: _decode_array(data[name], ndim) for name, ndim in _GATED_FIELDS.items() if name in data},
    )


def _pretty(value: Any, indent: int = 0) -> str:
    """JSON with objects and nested lists spread over lines, and lists of numbers on one line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(key)}: {_pretty(item, indent + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(item, (list, dict)) for item in value):
        items = [f"{inner}{_pretty(item, indent + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)


def _json_chunks(records: Sequence[StepRecord], config: SimConfig, include_samples: bool) -> Iterable[str]:
    header = {
        "format": FORMAT,
        "version": VERSION,
        "non_finite": NONFINITE_NOTE,
        "config": config_values(config),
    }
    text = _pretty(header)
    yield text[: -len("\n}")] + ',\n  "records": ['
    for i, record in enumerate(records):
        yield ("," if i else "") + "\n    " + _pretty(_record_to_json(record, include_samples), 2)
    yield ("\n  ]" if records else "]") + "\n}\n"


def run_to_json(records: Sequence[StepRecord], config: SimConfig, include_samples: bool = False) -> str:
    """The run as JSON text (the content :func:`write_json` writes)."""
    records = list(records)
    _check_records(records, config)
    return "".join(_json_chunks(records, config, include_samples))


def write_json(
    path: str | os.PathLike[str],
    records: Sequence[StepRecord],
    config: SimConfig,
    include_samples: bool = False,
) -> None:
    """Write the run as JSON (format and errors in the module docstring), atomically."""
    records = list(records)
    _check_records(records, config)
    with atomic_open(path, "w", newline="\n") as handle:
        for chunk in _json_chunks(records, config, include_samples):
            handle.write(chunk)


def read_json(path: str | os.PathLike[str]) -> RunData:
    """Read a run written by :func:`write_json` (or raise :class:`RunFileError`)."""
    file, data = read_or_raise(path, read_json_file, RUN_JSON_LIMIT, "a run export", RunFileError)
    if not isinstance(data, dict):
        raise RunFileError(f"{file}: not a gradsim run export (expected a JSON object)")
    version = data.get("version")
    _check_format(file, data.get("format"), version if isinstance(version, int) else None)
    try:
        config = SimConfig.from_dict(data["config"])
        records = data["records"]
        if not isinstance(records, list):
            raise ValueError("records must be a list")
        return RunData(config, [_record_from_json(item, config.num_layers) for item in records])
    except ConfigError as error:
        raise RunFileError(f"{file}: invalid config ({error})") from None
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, OverflowError) as error:
        raise RunFileError(f"{file}: not a gradsim run export ({describe_reason(error)})") from None


# -- CSV -------------------------------------------------------------------------------------


def _csv_number(value: float) -> str:
    # repr reads back bit-identical with float(); it spells the non-finite values inf/-inf/nan.
    return repr(float(value))


def write_csv(path: str | os.PathLike[str], records: Sequence[StepRecord]) -> None:
    """Write one row per iteration, layer and time step (columns in :data:`CSV_COLUMNS`), atomically.

    ``layer`` and ``time_step`` count from 1; ``loss`` repeats the iteration's loss on each of its
    rows so every row stands alone (for spreadsheet filters and pivot tables).
    """
    records = list(records)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for record in records:
            iteration, loss = str(record.iteration), _csv_number(record.loss)
            for layer, (row, log_row) in enumerate(
                zip(record.grad_norms, record.log10_grad_norms, strict=True), start=1
            ):
                writer.writerows(
                    (iteration, layer, step, _csv_number(norm), loss, _csv_number(log))
                    for step, (norm, log) in enumerate(zip(row.tolist(), log_row.tolist(), strict=True), 1)
                )


# -- NPZ (the layout: runexport_npz) ---------------------------------------------------------


def write_npz(
    path: str | os.PathLike[str],
    records: Sequence[StepRecord],
    config: SimConfig,
    include_samples: bool = True,
) -> None:
    """Write the records as an NPZ archive of arrays (see :func:`records_to_arrays`), atomically."""
    arrays = records_to_arrays(records, config, include_samples)
    atomic_savez(path, arrays)


def read_npz(path: str | os.PathLike[str]) -> RunData:
    """Read a run written by :func:`write_npz` (or raise :class:`RunFileError`); pickles stay disabled."""
    file, archive = read_or_raise(path, load_npz, RUN_NPZ_LIMIT, "a run export", RunFileError)
    try:
        name, version = npz_marker(archive)
        _check_format(file, name, version)
        return arrays_to_records(archive)
    except RunFileError:
        raise
    except ConfigError as error:
        raise RunFileError(f"{file}: invalid config ({error})") from None
    except FileReadError as error:
        raise RunFileError(f"{file}: not a gradsim run export (its config {error.reason})") from None
    except (KeyError, ValueError, TypeError, IndexError, OverflowError, AttributeError) as error:
        raise RunFileError(f"{file}: not a gradsim run export ({describe_reason(error)})") from None


# -- by extension ----------------------------------------------------------------------------


def write_run(path: str | os.PathLike[str], records: Sequence[StepRecord], config: SimConfig) -> None:
    """Write the run in the format the extension of ``path`` names (``.json``, ``.npz``, ``.csv``);
    another extension raises ValueError before anything is written."""
    suffix = Path(os.fspath(path)).suffix.lower()
    writers: dict[str, Callable[[], None]] = {
        ".json": lambda: write_json(path, records, config),
        ".npz": lambda: write_npz(path, records, config),
        ".csv": lambda: write_csv(path, records),
    }
    if suffix not in writers:
        raise ValueError(f"cannot export run data as {Path(path).name}: use .json, .npz or .csv")
    writers[suffix]()


def read_run(path: str | os.PathLike[str]) -> RunData:
    """Read a ``.json`` or ``.npz`` run export (CSV holds too little to rebuild records)."""
    return read_by_suffix(path, {".json": read_json, ".npz": read_npz}, "run data", RunFileError)
