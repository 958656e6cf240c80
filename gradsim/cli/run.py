"""``gradsim run``: train headless, print a summary (the regime with its spans) and write the records."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gradsim.cli import common
from gradsim.cli.common import positive_int
from gradsim.engine import resources
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_bytes
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import measure, measure_cell_path
from gradsim.engine.simulation import PREACTIVATION_SAMPLE, Simulation
from gradsim.io.runexport import write_csv, write_json, write_npz
from gradsim.io.weights import WeightsError, load_weights, save_weights, weights_suffix

HELP = "train headless and print a summary; optionally write the records"
DESCRIPTION = (
    "Train the network headless, print a summary (final loss; the regime named by its "
    "most extreme span, through time in a layer or through depth, with its ratio and per-step "
    "factor; every span) and write every step record to the files asked for."
)


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``gradsim run``."""
    common.add_iterations_option(
        parser,
        common.DEFAULT_ITERATIONS,
        f"training iterations (default {common.DEFAULT_ITERATIONS}); an exploding run stops early",
        positive_int,
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="start from these weights (.safetensors or .npz, PyTorch's names and shapes, e.g. an "
        "nn.LSTM's state dict saved with safetensors); never a pickle (.pt)",
    )
    output = parser.add_argument_group("output files (written atomically)")
    output.add_argument("--json", metavar="FILE", help="records as JSON (readable lists)")
    output.add_argument("--npz", metavar="FILE", help="records as numpy arrays (NPZ)")
    output.add_argument("--csv", metavar="FILE", help="gradient norm per iteration, layer and time step")
    output.add_argument(
        "--save-weights", metavar="FILE", help="the weights after the run (.safetensors or .npz)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")


# A kept record's bytes besides its arrays' numbers: the object and the arrays' headers, and each
# entry of its dicts (fitted to tracemalloc's count for RNN, LSTM and GRU records of 1 to 4 layers;
# tests/cli/test_cli_run.py holds the estimate within 0.8-1.5 times of it).
_RECORD_OVERHEAD_BYTES = 2048
_RECORD_ENTRY_BYTES = 120
# Numbers per (layer, time step) of a record: ||dL/dh||, its log10 and the mean derivative; an LSTM
# adds log10 ||dL/dc|| and two (gate means and saturation) of its 3 gates, a GRU two of its 2.
_NUMBERS_PER_CELL = {"rnn": 3, "lstm": 3 + 1 + 2 * 3, "gru": 3 + 2 * 2}


def record_bytes(config: SimConfig, samples: bool) -> int:
    """About how many bytes one kept :class:`StepRecord` of ``config`` holds (with its
    pre-activation samples, ``(L, 2048)``, if ``samples``).

    Grows with layers x time steps (``(L, T)`` arrays), and with the parameters: a record has a
    gradient norm per parameter and an update ratio per weight matrix.
    """
    layers = config.num_layers
    numbers = layers * config.seq_len * _NUMBERS_PER_CELL[config.cell] + 3 * layers
    if samples:
        numbers += layers * PREACTIVATION_SAMPLE
    parameters = 4 * layers + 2 + (2 * layers if config.normalization == "batch" else 0)
    entries = parameters + 2 * layers + 1
    return _RECORD_OVERHEAD_BYTES + _RECORD_ENTRY_BYTES * entries + 8 * numbers


def check_records_memory(
    config: SimConfig, iterations: int, options: list[str], samples: bool, available: int | None = -1
) -> None:
    """Refuse, before the run, to keep more records for the output files (``options``, e.g.
    ``["--json"]``) than fit in half the memory free now (``available`` bytes; -1 reads it, None:
    unknown), and at most :data:`~gradsim.engine.resources.MEMORY_LIMIT_BYTES`.

    The files are written once the run ends, from every record, so their records are all held
    until then; NPZ stacks them into arrays, a second copy of their numbers.
    """
    if not options:
        return
    if available == -1:
        available = resources.available_memory_bytes()
    limit = resources.MEMORY_LIMIT_BYTES
    budget, what = limit, f"the {format_bytes(limit)} gradsim allows a run"
    if available is not None and available // 2 < budget:
        budget, what = available // 2, f"half the memory free now ({format_bytes(available // 2)})"
    per_record = record_bytes(config, samples)
    if "--npz" in options:  # its stacked arrays: the record's numbers once more
        per_record += per_record - _RECORD_OVERHEAD_BYTES
    if iterations * per_record <= budget:
        return
    raise common.CommandError(
        f"writing {' and '.join(options)} keeps every record in memory until the run ends: {iterations} "
        f"iterations would need about {format_bytes(iterations * per_record)}, more than {what}; lower "
        f"--iterations to {budget // per_record} or less, or run without output files"
    )


def train(
    config: SimConfig,
    iterations: int,
    keep_records: bool = True,
    on_step: Callable[[StepRecord], None] | None = None,
    simulation: Simulation | None = None,
    keep_samples: bool = True,
) -> tuple[list[StepRecord], bool]:
    """Train up to ``iterations`` steps; stops early when the run halts on a non-finite value.

    ``simulation`` trains if given (e.g. started from loaded weights), else a fresh one of
    ``config``. Returns the records (only the last one unless ``keep_records``; without their
    pre-activation samples, an empty ``(L, 0)`` array, unless ``keep_samples``) and whether
    Ctrl+C interrupted the run (the records up to then are kept).
    """
    if simulation is None:
        simulation = Simulation(config)
    records: list[StepRecord] = []
    no_samples = np.empty((config.num_layers, 0))
    try:
        for _ in range(iterations):
            record = simulation.train_step()
            if record is None:
                break
            if not keep_samples:  # they are most of a record: 2048 numbers a layer
                record = dataclasses.replace(record, preactivation_samples=no_samples)
            if keep_records or not records:
                records.append(record)
            else:
                records[-1] = record
            if on_step is not None:
                on_step(record)
    except KeyboardInterrupt:
        return records, True
    return records, False


def _run_command(args: argparse.Namespace) -> int:
    config = common.build_config(args)
    common.check_run_resources(config)
    outputs = common.requested_outputs(
        {"json": args.json, "npz": args.npz, "csv": args.csv, "save-weights": args.save_weights},
        {"--config": args.config, "--weights": args.weights},
    )
    kept = [f"--{kind}" for _, kind in outputs if kind != "save-weights"]
    samples = "--npz" in kept  # the JSON and CSV files leave the pre-activation samples out
    check_records_memory(config, args.iterations, kept, samples)
    try:
        weights = None if args.weights is None else load_weights(args.weights, config)
        if args.save_weights is not None:
            weights_suffix(Path(args.save_weights))  # a pickle or an unknown type: refused now
    except WeightsError as error:
        raise common.CommandError(str(error)) from None
    simulation = Simulation(config, weights=weights)
    progress = common.ProgressBar(args.iterations, None if args.quiet else sys.stderr)
    finite: list[StepRecord] = []  # the newest record whose gradient ratio is defined

    def on_step(record: StepRecord) -> None:
        progress.update(record.iteration, record.loss)
        if measure(record).regime != "non-finite":
            finite[:] = [record]

    try:
        records, interrupted = train(
            config,
            args.iterations,
            keep_records=bool(kept),
            on_step=on_step,
            simulation=simulation,
            keep_samples=samples,
        )
    finally:
        progress.close()
    if not args.quiet:
        print(common.config_line(args, config))
        last = records[-1] if records else None
        for line in summary_lines(last, args.iterations, interrupted, finite[0] if finite else None):
            print(line)

    def write(path: str, kind: str) -> None:
        if kind == "save-weights":
            save_weights(path, simulation.params)
        elif kind == "json":
            write_json(path, records, config)
        elif kind == "npz":
            write_npz(path, records, config)
        else:
            write_csv(path, records)

    how_many = f"{len(records)} record{'s' if len(records) != 1 else ''}"

    def wrote(path: str) -> str:
        return f"wrote {path} (the weights)" if path == args.save_weights else f"wrote {path} ({how_many})"

    written = common.write_outputs(outputs, write, None if args.quiet else wrote)
    if interrupted:
        return common.EXIT_INTERRUPTED
    return common.EXIT_OK if written else common.EXIT_FAILED


def summary_lines(
    last: StepRecord | None,
    iterations: int,
    interrupted: bool = False,
    last_finite: StepRecord | None = None,
) -> list[str]:
    """The run summary: iterations done, final loss, regime with its span, explosion site.

    The regime line is :meth:`gradsim.engine.regime.RegimeMeasure.sentence` of the last record,
    the sentence the window's badge and diagnosis quote; the spans follow, one line each.
    ``last_finite`` is the newest finite record; shown when the last one is not (an exploded
    run), so the summary still says how large the gradient grew.
    """
    if last is None:
        return ["no iterations were run"]
    done = last.iteration
    lines = []
    if interrupted:
        lines.append(f"interrupted after {done} of {iterations} iterations")
    elif done < iterations:
        lines.append(f"iterations: {done} of {iterations} (the run halted on a non-finite value)")
    else:
        lines.append(f"iterations: {done}")
    lines.append(f"final loss: {last.loss:.6g}")
    measured = measure(last)
    lines.append(f"regime: {measured.sentence()}")
    if measured.regime == "non-finite" and last_finite is not None and last_finite.iteration != done:
        before = measure(last_finite)
        if before.extreme is not None:
            lines.append(f"at iteration {last_finite.iteration}: {before.extreme.describe()}")
        measured = before
    for line in measured.span_lines():
        lines.append(f"  {line}")
    cell_path = measure_cell_path(last)
    if cell_path is not None and cell_path.extreme is not None:
        # Evidence beside the regime (decided on ||dL/dh||): the LSTM's cell state.
        lines.append(f"cell state ||dL/dc||: {cell_path.extreme.describe()}")
    return lines


COMMAND = common.Command("run", HELP, DESCRIPTION, _run_command, _add_options, config_options=True)
