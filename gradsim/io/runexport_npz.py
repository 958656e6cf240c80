"""The NPZ layout of a run: one array per record field, the iteration first, no object arrays.

Part of the run exports: the records to arrays and back. :mod:`gradsim.io.runexport` writes and
reads the files (``write_npz``/``read_npz``, which load with ``allow_pickle=False``), explains
the formats and their errors, and re-exports these names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.safe_read import parse_json
from gradsim.engine.simulation import PREACTIVATION_SAMPLE

from .configfile import config_values
from .runexport_format import (
    _DICT_FIELDS,
    _EVENT_FIELDS,
    _GATED_FIELDS,
    FORMAT,
    VERSION,
    RunData,
    _check_records,
)

# -- NPZ -------------------------------------------------------------------------------------


def _names(dicts: Iterable[dict[str, float]]) -> list[str]:
    """Keys of all ``dicts`` in order of first appearance."""
    seen: dict[str, None] = {}
    for mapping in dicts:
        for key in mapping:
            seen.setdefault(key, None)
    return list(seen)


def _dict_table(dicts: Sequence[dict[str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(names (K,), values (N, K) float64, present (N, K) bool)``; absent values are NaN."""
    names = _names(dicts)
    values = np.full((len(dicts), len(names)), np.nan)
    present = np.zeros((len(dicts), len(names)), dtype=bool)
    column = {name: k for k, name in enumerate(names)}
    for i, mapping in enumerate(dicts):
        for name, value in mapping.items():
            values[i, column[name]] = value
            present[i, column[name]] = True
    return np.array(names, dtype=np.str_), values, present


def records_to_arrays(
    records: Sequence[StepRecord], config: SimConfig, include_samples: bool = True
) -> dict[str, np.ndarray]:
    """The records as arrays with the iteration as first axis (N records, L layers, T steps).

    Returns
    -------
    dict with
        ``format`` () str, ``version`` () int64, ``config`` () str (the config as JSON);
        ``iteration`` (N,) int64; ``loss``, ``global_norm_before``, ``global_norm_after`` (N,)
        float64; ``clipped`` (N,) bool; ``grad_norms``, ``log10_grad_norms``,
        ``mean_derivative`` (N, L, T) float64;
        ``saturation``, ``nonfinite_fraction``, ``spectral_norms`` (N, L) float64;
        ``preactivation_samples`` (N, L, S)
        float64 if ``include_samples``; for each of the dict fields ``param_grad_norms``,
        ``update_ratios`` and ``extra``: ``<field>_names`` (K,) str, ``<field>`` (N, K) float64
        and ``<field>_present`` (N, K) bool (a value a record does not have is NaN and not
        present); ``nonfinite_iteration``, ``nonfinite_layer``, ``nonfinite_time_step`` (N,)
        int64 (-1 for none) and ``nonfinite_quantity``, ``nonfinite_parameter`` (N,) str
        ("" for none).
    """
    records = list(records)
    _check_records(records, config)
    layers, steps = config.num_layers, config.seq_len

    def stacked(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if not records:
            return np.empty((0, *shape))
        return np.stack([np.asarray(getattr(r, name), dtype=np.float64) for r in records])

    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "version": np.array(VERSION, dtype=np.int64),
        "config": np.array(json.dumps(config_values(config))),
        "iteration": np.array([r.iteration for r in records], dtype=np.int64),
        "loss": np.array([r.loss for r in records], dtype=np.float64),
        "global_norm_before": np.array([r.global_norm_before for r in records], dtype=np.float64),
        "global_norm_after": np.array([r.global_norm_after for r in records], dtype=np.float64),
        "clipped": np.array([r.clipped for r in records], dtype=bool),
        "grad_norms": stacked("grad_norms", (layers, steps)),
        "log10_grad_norms": stacked("log10_grad_norms", (layers, steps)),
        "mean_derivative": stacked("mean_derivative", (layers, steps)),
        "saturation": stacked("saturation", (layers,)),
        "nonfinite_fraction": stacked("nonfinite_fraction", (layers,)),
        "spectral_norms": stacked("spectral_norms", (layers,)),
    }
    if include_samples:
        arrays["preactivation_samples"] = stacked("preactivation_samples", (layers, PREACTIVATION_SAMPLE))
    for name in _GATED_FIELDS:
        if records and all(getattr(r, name) is not None for r in records):
            arrays[name] = stacked(name, ())
    for field in _DICT_FIELDS:
        names, values, present = _dict_table([getattr(r, field) for r in records])
        arrays[f"{field}_names"], arrays[field], arrays[f"{field}_present"] = names, values, present
    events = [r.nonfinite for r in records]

    def event_ints(attribute: str) -> np.ndarray:
        values = [-1 if e is None or getattr(e, attribute) is None else getattr(e, attribute) for e in events]
        return np.array(values, dtype=np.int64)

    def event_texts(attribute: str) -> np.ndarray:
        values = ["" if e is None or getattr(e, attribute) is None else getattr(e, attribute) for e in events]
        return np.array(values, dtype=np.str_)

    arrays["nonfinite_iteration"] = event_ints("iteration")
    arrays["nonfinite_layer"] = event_ints("layer")
    arrays["nonfinite_time_step"] = event_ints("time_step")
    arrays["nonfinite_quantity"] = event_texts("quantity")
    arrays["nonfinite_parameter"] = event_texts("parameter")
    return arrays


_REQUIRED_ARRAYS = (
    "config",
    "iteration",
    "loss",
    "global_norm_before",
    "global_norm_after",
    "clipped",
    "grad_norms",
    "mean_derivative",
    "saturation",
    "spectral_norms",
    *(f"{field}{part}" for field in _DICT_FIELDS for part in ("_names", "", "_present")),
    *(f"nonfinite_{name}" for name in _EVENT_FIELDS),
)


def arrays_to_records(arrays: dict[str, np.ndarray] | Any) -> RunData:
    """Inverse of :func:`records_to_arrays` (also takes an open ``np.load`` result).

    Raises
    ------
    KeyError, ValueError, ConfigError
        An array is missing or inconsistent (wrapped into :class:`RunFileError` by the readers).
    """
    missing = [name for name in _REQUIRED_ARRAYS if name not in arrays]
    if missing:
        raise KeyError(missing[0])
    config = SimConfig.from_dict(parse_json(str(arrays["config"][()]), "config"))
    iterations = arrays["iteration"]
    count = len(iterations)
    losses = arrays["loss"]
    before, after = arrays["global_norm_before"], arrays["global_norm_after"]
    clipped = arrays["clipped"]
    grad_norms, mean_derivative = arrays["grad_norms"], arrays["mean_derivative"]
    saturation, spectral = arrays["saturation"], arrays["spectral_norms"]
    # Files written before non-finite units were counted apart have no such array: zeros.
    nonfinite_units = arrays["nonfinite_fraction"] if "nonfinite_fraction" in arrays else None
    if nonfinite_units is not None and len(nonfinite_units) != count:
        raise ValueError(
            f"nonfinite_fraction has {len(nonfinite_units)} entries but there are {count} iterations"
        )
    samples = arrays["preactivation_samples"] if "preactivation_samples" in arrays else None
    # Absent from files written before the logarithms were recorded: computed from the norms.
    logs = arrays["log10_grad_norms"] if "log10_grad_norms" in arrays else None
    tables = {}
    for field in _DICT_FIELDS:
        tables[field] = (
            [str(name) for name in arrays[f"{field}_names"]],
            arrays[field],
            arrays[f"{field}_present"],
        )
    event_arrays = {name: arrays[f"nonfinite_{name}"] for name in _EVENT_FIELDS}
    gated = {name: arrays[name] for name in _GATED_FIELDS if name in arrays}
    for name, array in gated.items():
        if len(array) != count or array.ndim != _GATED_FIELDS[name] + 1:
            raise ValueError(f"{name} has shape {array.shape} for {count} iterations")
    for name, array in [("loss", losses), ("grad_norms", grad_norms), ("saturation", saturation)]:
        if len(array) != count:
            raise ValueError(f"{name} has {len(array)} entries but there are {count} iterations")
    if logs is not None and logs.shape != grad_norms.shape:
        raise ValueError(f"log10_grad_norms has shape {logs.shape} but grad_norms {grad_norms.shape}")

    def as_dict(field: str, i: int) -> dict[str, float]:
        names, values, present = tables[field]
        return {name: float(values[i, k]) for k, name in enumerate(names) if present[i, k]}

    records = []
    for i in range(count):
        event = None
        quantity = str(event_arrays["quantity"][i])
        if quantity:
            layer, step = int(event_arrays["layer"][i]), int(event_arrays["time_step"][i])
            parameter = str(event_arrays["parameter"][i])
            event = NonFiniteEvent(
                iteration=int(event_arrays["iteration"][i]),
                quantity=quantity,
                layer=None if layer < 0 else layer,
                time_step=None if step < 0 else step,
                parameter=parameter or None,
            )
        records.append(
            StepRecord(
                iteration=int(iterations[i]),
                loss=float(losses[i]),
                grad_norms=np.array(grad_norms[i], dtype=np.float64),
                param_grad_norms=as_dict("param_grad_norms", i),
                global_norm_before=float(before[i]),
                global_norm_after=float(after[i]),
                clipped=bool(clipped[i]),
                update_ratios=as_dict("update_ratios", i),
                saturation=np.array(saturation[i], dtype=np.float64),
                mean_derivative=np.array(mean_derivative[i], dtype=np.float64),
                preactivation_samples=(
                    np.empty((config.num_layers, 0))
                    if samples is None
                    else np.array(samples[i], dtype=np.float64)
                ),
                spectral_norms=np.array(spectral[i], dtype=np.float64),
                nonfinite=event,
                extra=as_dict("extra", i),
                log10_grad_norms=None if logs is None else np.array(logs[i], dtype=np.float64),  # type: ignore[arg-type]  # None: StepRecord computes them
                nonfinite_fraction=(
                    np.zeros(config.num_layers)
                    if nonfinite_units is None
                    else np.array(nonfinite_units[i], dtype=np.float64)
                ),
                **{name: np.array(array[i], dtype=np.float64) for name, array in gated.items()},
            )
        )
    return RunData(config, records)
