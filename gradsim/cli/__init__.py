"""Command line. ``gradsim`` alone opens the window; subcommands run headless.

Each subcommand is one ``_add_<name>_command(subparsers)`` function that registers its parser
and its handler (``set_defaults(handler=...)``); :data:`COMMANDS` lists them. A handler takes
the parsed arguments and returns the exit code. Commands that take a config use
:func:`add_config_options` and :func:`build_config`, so ``--preset``, ``--config`` and ``--set``
mean the same everywhere.

Exit codes: 0 done (an exploding run is a result, not a failure), 1 a file could not be written
or the window could not open, 2 bad arguments or config, 130 interrupted.

Nothing here imports Qt: the window module is imported only when the window is asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import TextIO

import numpy as np

from gradsim.engine import sweep
from gradsim.engine.config import ConfigError, SimConfig, check_resources
from gradsim.engine.presets import DEFAULT_PRESET, get_preset, list_presets, presets_dir
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import measure
from gradsim.engine.simulation import Simulation
from gradsim.engine.sweep_executors import ExecutorError, check_scheduler
from gradsim.io.atomic import WriteError, atomic_write_bytes
from gradsim.io.configfile import apply_overrides, config_to_toml, load_config
from gradsim.io.runexport import write_csv, write_json, write_npz
from gradsim.io.sweepfile import write_sweep_csv, write_sweep_npz
from gradsim.io.sweepstore import StoreError, SweepStore, format_size, open_store
from gradsim.ui.training import figures

PROG = "gradsim"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_ITERATIONS = 100


class CommandError(Exception):
    """A problem to report in one line on stderr, with the exit code to return."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _error(message: str, kind: str = "error") -> None:
    # pythonw (the gui-scripts launcher on Windows) has no stderr.
    if sys.stderr is not None:
        print(f"{PROG}: {kind}: {' '.join(message.split())}", file=sys.stderr)


# -- config options shared by every command that runs the engine ----------------------------


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset``, ``--config`` and ``--set`` (read back by :func:`build_config`)."""
    group = parser.add_argument_group(
        "configuration",
        "Applied in this order: the preset, then the file, then each --set. Without --preset and "
        f"--config the {DEFAULT_PRESET!r} preset is used; fields a config file leaves out take their "
        "default values.",
    )
    group.add_argument("--preset", metavar="NAME", help="start from this preset (see: gradsim presets)")
    group.add_argument("--config", metavar="FILE", help="a config file (.toml or .json)")
    group.add_argument(
        "--set",
        dest="settings",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="change one setting, e.g. --set hidden_size=32 (repeatable)",
    )


def build_config(args: argparse.Namespace) -> SimConfig:
    """The config the options ask for: preset, then file, then ``--set`` overrides, validated.

    Raises
    ------
    ConfigError
        An unknown preset, an unreadable or invalid file, or a bad ``--set``; the message names
        the source and the field.
    """
    if args.preset:
        config = get_preset(args.preset).config
    elif args.config:
        config = SimConfig()
    else:
        config = _default_config()
    if args.config:
        config = load_config(args.config, base=config)
    return apply_overrides(config, args.settings)


def check_run_resources(config: SimConfig, available: int | None = -1) -> None:
    """Before a run: refuse one that cannot fit in the memory free now, warn about a large or slow one.

    Warnings go to stderr as ``gradsim: warning: ...`` (one line each), also with ``--quiet``.

    Raises
    ------
    ConfigError
        The estimate exceeds the free memory; the message says which setting to lower.
    """
    check = check_resources(config, available)
    if check.refusal is not None:
        raise ConfigError(check.refusal, check.field)
    if sys.stderr is not None:
        for warning in check.warnings:
            print(f"{PROG}: warning: {warning}", file=sys.stderr)


def _default_config() -> SimConfig:
    if (presets_dir() / f"{DEFAULT_PRESET}.toml").is_file():
        return get_preset(DEFAULT_PRESET).config
    return SimConfig()


def describe_source(args: argparse.Namespace) -> str:
    """Where the config came from, in words: ``"preset default + 2 settings"``."""
    parts = []
    if args.preset:
        parts.append(f"preset {args.preset}")
    if args.config:
        parts.append(f"config {args.config}")
    if not parts:
        has_default = (presets_dir() / f"{DEFAULT_PRESET}.toml").is_file()
        parts.append(f"preset {DEFAULT_PRESET}" if has_default else "built-in defaults")
    if args.settings:
        count = len(args.settings)
        parts.append(f"{count} setting{'s' if count > 1 else ''}")
    return " + ".join(parts)


def describe_config(config: SimConfig) -> str:
    """The config in one line: ``"2 layers x 64 units, 50 time steps, tanh, orthogonal init x 1"``."""
    text = (
        f"{config.num_layers} layer{'s' if config.num_layers > 1 else ''} x {config.hidden_size} units, "
        f"{config.seq_len} time steps, {config.activation}, {config.init} init x {config.weight_scale:g}"
    )
    if config.normalization == "batch":
        text += ", batch norm"
    if config.clip_mode != "none":
        text += f", clip by {config.clip_mode} at {config.clip_threshold:g}"
    return text + f", {config.optimizer} lr {config.learning_rate:g}"


# -- gradsim run ---------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a terminal, redrawn at most every ``interval`` seconds.

    Draws nothing unless ``stream`` is a terminal, so piped or logged output stays clean.
    """

    def __init__(self, total: int, stream: TextIO | None, interval: float = 0.1, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.width = width
        self.enabled = stream is not None and _isatty(stream)
        self._last_draw = -float("inf")
        self._shown = 0

    def update(self, done: int, loss: float) -> None:
        """Show ``done`` of ``total`` iterations; skipped if drawn less than ``interval`` ago."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval and done < self.total:
            return
        self._last_draw = now
        filled = self.width * done // self.total if self.total else self.width
        line = f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total}  loss {loss:.4g}"
        self._write("\r" + line.ljust(self._shown))
        self._shown = len(line)

    def close(self) -> None:
        """Erase the bar, so the summary starts on a clean line."""
        if self.enabled and self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _write(self, text: str) -> None:
        assert self.stream is not None
        self.stream.write(text)
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _check_output(path: str) -> None:
    """Refuse an output path that cannot work before spending time on the run."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise CommandError(f"cannot write {path}: a folder of that name exists")
    if not folder.exists():
        raise CommandError(f"cannot write {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise CommandError(f"cannot write {path}: {folder} is not a folder")


def _add_run_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train headless and print a summary; optionally write the records",
        description="Train the network headless, print a summary (final loss; the regime named by its "
        "most extreme span, through time in a layer or through depth, with its ratio and per-step "
        "factor; every span) and write every step record to the files asked for.",
    )
    add_config_options(parser)
    parser.add_argument(
        "--iterations",
        "-n",
        type=_positive_int,
        default=DEFAULT_ITERATIONS,
        metavar="N",
        help=f"training iterations (default {DEFAULT_ITERATIONS}); an exploding run stops early",
    )
    output = parser.add_argument_group("output files (written atomically)")
    output.add_argument("--json", metavar="FILE", help="records as JSON (readable lists)")
    output.add_argument("--npz", metavar="FILE", help="records as numpy arrays (NPZ)")
    output.add_argument("--csv", metavar="FILE", help="gradient norm per iteration, layer and time step")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(handler=_run_command)


def train(
    config: SimConfig,
    iterations: int,
    keep_records: bool = True,
    on_step: Callable[[StepRecord], None] | None = None,
) -> tuple[list[StepRecord], bool]:
    """Train up to ``iterations`` steps; stops early when the run halts on a non-finite value.

    Returns the records (only the last one unless ``keep_records``) and whether Ctrl+C
    interrupted the run (the records up to then are kept).
    """
    simulation = Simulation(config)
    records: list[StepRecord] = []
    try:
        for _ in range(iterations):
            record = simulation.train_step()
            if record is None:
                break
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
    config = build_config(args)
    check_run_resources(config)
    outputs = [
        (path, kind) for path, kind in ((args.json, "json"), (args.npz, "npz"), (args.csv, "csv")) if path
    ]
    for path, _ in outputs:
        _check_output(path)
    out = sys.stdout
    progress = ProgressBar(args.iterations, None if args.quiet else sys.stderr)
    finite: list[StepRecord] = []  # the newest record whose gradient ratio is defined

    def on_step(record: StepRecord) -> None:
        progress.update(record.iteration, record.loss)
        if measure(record).regime != "non-finite":
            finite[:] = [record]

    try:
        records, interrupted = train(config, args.iterations, keep_records=bool(outputs), on_step=on_step)
    finally:
        progress.close()
    if not args.quiet:
        print(f"config: {describe_source(args)}: {describe_config(config)}", file=out)
        last = records[-1] if records else None
        for line in summary_lines(last, args.iterations, interrupted, finite[0] if finite else None):
            print(line, file=out)
    failed = False
    for path, kind in outputs:
        try:
            if kind == "json":
                write_json(path, records, config)
            elif kind == "npz":
                write_npz(path, records, config)
            else:
                write_csv(path, records)
        except WriteError as error:
            _error(str(error))
            failed = True
            continue
        if not args.quiet:
            print(f"wrote {path} ({len(records)} record{'s' if len(records) != 1 else ''})", file=out)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


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
    return lines


# -- gradsim presets ------------------------------------------------------------------------


def _add_presets_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "presets",
        help="list the presets",
        description="List the presets: name (for --preset), the regime it shows, and its title.",
    )
    parser.set_defaults(handler=_presets_command)


def _presets_command(args: argparse.Namespace) -> int:
    presets = list_presets()
    if not presets:
        print(f"no presets found in {presets_dir()}")
        return EXIT_OK
    rows = [("name", "shows", "title")] + [(p.name, p.expect, p.title) for p in presets]
    name_width = max(len(row[0]) for row in rows)
    expect_width = max(len(row[1]) for row in rows)
    for name, expect, title in rows:
        print(f"{name:<{name_width}}  {expect:<{expect_width}}  {title}")
    return EXIT_OK


# -- gradsim config -------------------------------------------------------------------------


def _add_config_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print the resolved config as TOML",
        description="Print the config that --preset/--config/--set resolve to, as TOML. Save it to a "
        "file and use it with: gradsim run --config FILE",
    )
    add_config_options(parser)
    parser.set_defaults(handler=_config_command)


def _config_command(args: argparse.Namespace) -> int:
    config = build_config(args)
    header = f"gradsim config from {describe_source(args)}\nUse it with: gradsim run --config FILE"
    sys.stdout.write(config_to_toml(config, header=header))
    return EXIT_OK


# -- gradsim sweep --------------------------------------------------------------------------

# The logical size of `gradsim sweep --image`
# (as gradsim.ui.features.sweep.sweep_plot.DEFAULT_IMAGE_SIZE: no Qt here).
SWEEP_IMAGE_SIZE = (900, 720)
# Presentation mode's scale, for --presentation of `gradsim sweep` and `gradsim animate`
# (gradsim.ui.features.presentation.presentation.PRESENTATION_SCALE; not imported: no Qt here).
PRESENTATION_SCALE = 1.6


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _add_sweep_command(subparsers: argparse._SubParsersAction) -> None:
    axis_help = (
        "FIELD=LOW:HIGH:COUNT, FIELD=LOW:HIGH:COUNT:log or FIELD=V1,V2,...; FIELD is one of "
        f"{', '.join(sweep.SWEEP_FIELDS)}"
    )
    parser = subparsers.add_parser(
        "sweep",
        help="map where gradients vanish or explode over a grid of two settings",
        description="For every point of a grid over two settings, compute the log10 ratio of the "
        "gradient ||dL/dh|| at the first layer and first time step to the one at the top layer and "
        "last time step (below 0: vanishing, above 0: exploding), averaged over seeds, on all cores. "
        "Prints a summary with the mean-field critical line and writes the grid.",
    )
    add_config_options(parser)
    parser.add_argument("--x", metavar="AXIS", help=f"the x axis: {axis_help}")
    parser.add_argument("--y", metavar="AXIS", help="the y axis, written the same way")
    parser.add_argument(
        "--iterations",
        "-n",
        type=_count,
        default=0,
        metavar="N",
        help="measure after N training steps (default 0: at initialisation)",
    )
    parser.add_argument(
        "--seeds", type=_positive_int, default=1, metavar="K", help="seeds per point, from the config's seed"
    )
    parser.add_argument(
        "--workers", type=_count, default=None, metavar="P", help="worker processes (default: one per core)"
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="compute the points on a Dask cluster: its scheduler's address (tcp://host:8786), or "
        'local:N for a local cluster of N processes (needs: pip install "gradsim[cluster]")',
    )
    add_store_option(parser)
    parser.add_argument(
        "--no-store", action="store_true", help="neither read nor keep points, and do not record the sweep"
    )
    past = parser.add_argument_group("past sweeps (from the store; nothing is computed)")
    past.add_argument("--list", action="store_true", help="list the recorded sweeps, newest first")
    past.add_argument(
        "--show",
        type=_positive_int,
        metavar="ID",
        help="the summary of sweep ID (see --list); with --csv/--npz/--image, its files",
    )
    output = parser.add_argument_group("output files (written atomically)")
    output.add_argument("--csv", metavar="FILE", help="one row per point: x, y, log10_ratio, overflow")
    output.add_argument("--npz", metavar="FILE", help="the grids as arrays, with the sweep's settings")
    output.add_argument(
        "--image",
        metavar="FILE.png",
        help="the phase diagram as the Sweep tab draws it: heatmap, critical line, measured edge "
        "(no display needed)",
    )
    output.add_argument(
        "--image-width",
        type=_positive_int,
        default=None,
        metavar="PX",
        help=f"width of --image in pixels, the height in proportion (default {2 * SWEEP_IMAGE_SIZE[0]})",
    )
    output.add_argument(
        "--presentation",
        action="store_true",
        help=f"draw --image as presentation mode does: text, lines and markers x{PRESENTATION_SCALE:g}",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(handler=_sweep_command)


class SweepProgressBar(ProgressBar):
    """The progress bar of a sweep: points done and the estimated time left."""

    def show(self, report: sweep.SweepProgress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval and report.done < self.total:
            return
        self._last_draw = now
        filled = self.width * report.done // self.total if self.total else self.width
        left = "" if report.remaining_seconds is None else f"  {report.remaining_seconds:.0f} s left"
        line = f"[{'#' * filled}{'-' * (self.width - filled)}] {report.done}/{self.total} points{left}"
        self._write("\r" + line.ljust(self._shown))
        self._shown = len(line)


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store PATH``: the sweep store to use instead of the one in the user's cache folder."""
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the sweep store, a SQLite file (default: sweeps.sqlite in the user's cache folder, "
        "e.g. ~/.cache/gradsim on Linux)",
    )


def _open_store(args: argparse.Namespace) -> SweepStore:
    """The store ``--store`` names (or the default one); its problems are the caller's to report."""
    return open_store(args.store)


def _sweep_command(args: argparse.Namespace) -> int:
    if args.list or args.show is not None:
        return _past_sweeps_command(args)
    if args.x is None or args.y is None:
        raise CommandError("a sweep needs both --x AXIS and --y AXIS (or --list, or --show ID)")
    if args.scheduler is not None and args.workers is not None:
        raise CommandError(
            "--workers sets the local processes; with --scheduler the cluster's workers compute"
        )
    if args.no_store and args.store:
        raise CommandError("--store and --no-store contradict each other")
    config = build_config(args)
    try:
        spec = sweep.SweepSpec(
            config, sweep.parse_axis(args.x), sweep.parse_axis(args.y), args.iterations, args.seeds
        )
        if args.scheduler is not None:
            check_scheduler(args.scheduler)
    except (sweep.SweepError, ExecutorError) as error:
        raise CommandError(str(error)) from None
    outputs = _outputs(args)
    store = None
    if not args.no_store:
        store = _open_store(args)
        if not store.available:
            _error(f"{store.error}; the sweep runs without it", "warning")
            store = None
    progress = SweepProgressBar(spec.size, None if args.quiet else sys.stderr)
    try:
        result = sweep.run_sweep(
            spec, workers=args.workers, progress=progress.show, cache=store, scheduler=args.scheduler,
            journal=store,
        )  # fmt: skip
    except sweep.SweepError as error:
        raise CommandError(str(error), EXIT_FAILED) from None
    finally:
        progress.close()
        if store is not None:
            store.close()
    if result.cache_error:
        _error(f"the sweep store could not keep the points: {result.cache_error}", "warning")
    header = [f"config: {describe_source(args)}: {describe_config(config)}"]
    if result.sweep_id is not None:
        header.append(f"recorded as sweep #{result.sweep_id} (gradsim sweep --show {result.sweep_id})")
    return _report_sweep(args, result, header, outputs)


def _outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The files asked for, as (path, kind), checked before any time is spent."""
    outputs = [
        (path, kind) for path, kind in ((args.csv, "csv"), (args.npz, "npz"), (args.image, "png")) if path
    ]
    for path, _ in outputs:
        _check_output(path)
    _check_sweep_image(args)
    return outputs


def _past_sweeps_command(args: argparse.Namespace) -> int:
    """``gradsim sweep --list`` and ``--show ID``: read the store, compute nothing."""
    if args.list and args.show is not None:
        raise CommandError("give --list or --show ID, not both")
    if args.x is not None or args.y is not None or args.scheduler is not None or args.no_store:
        raise CommandError(
            "--list and --show read past sweeps: they take no --x, --y, --scheduler or --no-store"
        )
    if args.list and (args.csv or args.npz or args.image):
        raise CommandError("--csv, --npz and --image go with --show ID, not --list")
    outputs = _outputs(args)
    with _open_store(args) as store:
        if not store.available:
            raise CommandError(str(store.error), EXIT_FAILED)
        try:
            if args.list:
                records = store.sweeps(limit=None)
                if not records:
                    print(f"no sweeps recorded in {store.path}")
                for record in records:
                    print(record.describe())
                return EXIT_OK
            record = store.sweep(args.show)
            result = store.open_sweep(args.show)
        except StoreError as error:
            raise CommandError(str(error), EXIT_FAILED) from None
    header = [f"sweep {record.describe()}", f"config: {describe_config(result.spec.base)}"]
    return _report_sweep(args, result, header, outputs)


def _report_sweep(
    args: argparse.Namespace, result: sweep.SweepResult, header: list[str], outputs: list[tuple[str, str]]
) -> int:
    """Print the summary (unless --quiet) and write the files asked for."""
    # About 1 s the first time for saturating units: only when it is shown.
    critical = sweep.critical_line(result.spec) if not args.quiet or args.image else None
    if not args.quiet:
        assert critical is not None
        for line in header + sweep_summary_lines(result, critical):
            print(line)
    failed = False
    for path, kind in outputs:
        try:
            if kind == "png":
                scale = PRESENTATION_SCALE if args.presentation else 1.0
                atomic_write_bytes(path, _sweep_image(result, critical, args.image_width, scale))
            else:
                (write_sweep_csv if kind == "csv" else write_sweep_npz)(path, result)
        except WriteError as error:
            _error(str(error))
            failed = True
            continue
        if not args.quiet:
            print(f"wrote {path}")
    return EXIT_FAILED if failed else EXIT_OK


def _check_sweep_image(args: argparse.Namespace) -> None:
    """Refuse a bad --image or --image-width before spending time on the sweep."""
    if args.image is None:
        if args.image_width is not None:
            raise CommandError("--image-width needs --image FILE.png")
        if args.presentation:
            raise CommandError("--presentation needs --image FILE.png")
        return
    if Path(args.image).suffix.lower() != ".png":
        raise CommandError(f"cannot write {args.image}: the image file name must end in .png")
    width = args.image_width
    if width is not None and not SNAPSHOT_MIN_WIDTH <= width <= SNAPSHOT_MAX_WIDTH:
        raise CommandError(
            f"--image-width must be between {SNAPSHOT_MIN_WIDTH} and {SNAPSHOT_MAX_WIDTH} pixels "
            f"(got {width})"
        )


@contextlib.contextmanager
def _offscreen_qt(what: str) -> Iterator[None]:
    """Qt for drawing without a display (:func:`gradsim.ui.training.figures.offscreen_qt`) around a block
    that imports and draws ``what``; a missing Qt or pyqtgraph is a one-line error, not a traceback."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(figures.offscreen_qt())
            yield
        except ImportError as error:
            raise CommandError(f"cannot draw {what} ({error})", EXIT_FAILED) from None


def _sweep_image(
    result: sweep.SweepResult, line: sweep.CriticalLine | None, width: int | None, scale: float = 1.0
) -> bytes:
    """The phase diagram as PNG bytes, drawn offscreen by the Sweep tab's own plot (``scale``:
    presentation mode's text, lines and markers)."""
    with _offscreen_qt("the phase diagram"):
        try:
            from gradsim.ui.features.sweep.sweep_plot import sweep_png
        except ImportError as error:
            raise CommandError(f"cannot draw the phase diagram ({error})", EXIT_FAILED) from None
        return sweep_png(result, line, width, SWEEP_IMAGE_SIZE, scale=scale)


def _axis_text(axis: sweep.SweepAxis) -> str:
    values = axis.values
    spacing = ", log-spaced" if axis.spacing == "log" else ""
    if len(values) == 1:
        return f"{axis.field} {values[0]:g}"
    return f"{axis.field} {values[0]:g} .. {values[-1]:g} ({len(values)} values{spacing})"


def _range_text(field: str, values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    low, high = float(finite.min()), float(finite.max())
    if high - low <= 1e-3 * max(abs(high), 1e-12):
        return f"{field} = {low:.4g}"
    return f"{field} from {low:.4g} to {high:.4g}"


def sweep_summary_lines(result: sweep.SweepResult, line: sweep.CriticalLine) -> list[str]:
    """The sweep summary: grid, time, value range, overflow, theory's line and the measured edge."""
    spec = result.spec
    when = "at initialisation" if spec.iterations == 0 else f"after {spec.iterations} training steps"
    seeds = len(spec.seeds)  # type: ignore[arg-type]
    lines = [
        f"grid: {_axis_text(spec.x)} x {_axis_text(spec.y)}, {when}, "
        f"{seeds} seed{'s' if seeds > 1 else ''} per point",
    ]
    where = f" on {result.ran_on}" if result.computed_points and result.ran_on else ""
    state = " (cancelled: the grid is partial)" if result.cancelled else ""
    lines.append(
        f"computed {result.computed_points} points in {result.elapsed_seconds:.1f} s{where}; "
        f"{result.cached_points} from the cache{state}"
    )
    finite = result.values[np.isfinite(result.values)]
    label = "log10 gradient ratio of the most extreme span (time in a layer, or depth)"
    if finite.size:
        lines.append(f"{label}: {finite.min():.3g} .. {finite.max():.3g}")
    else:
        lines.append(f"{label}: no finite value")
    lines.append(
        f"overflow (inf/NaN): {int(result.overflow.sum())} points; "
        f"vanished to exactly 0: {int(result.vanished.sum())} points"
    )
    if line.available:
        assert line.x is not None and line.y is not None
        on_x = spec.x.field == "weight_scale"
        scales, other = (line.x, spec.y) if on_x else (line.y, spec.x)
        if np.isfinite(scales).any():
            lines.append(
                f"critical line (mean field, {sweep.CRITERION_TEXT[line.criterion]}): "
                f"{_range_text('weight_scale', scales)} over {other.field}"
            )
        for note in line.notes:
            lines.append(f"note: {note}")
    else:
        lines.append(f"critical line: none ({line.reason})")
    edge_x, edge_y = sweep.measured_edge(result)
    along_x = spec.x.field == "weight_scale" or spec.y.field != "weight_scale"
    edge, axis, lines_count = (edge_x, spec.x, len(spec.y)) if along_x else (edge_y, spec.y, len(spec.x))
    crossed = int(np.isfinite(edge).sum())
    if crossed:
        lines.append(
            f"measured edge (ratio crosses 1): {_range_text(axis.field, edge)}, "
            f"in {crossed} of {lines_count} grid lines"
        )
    else:
        lines.append(f"measured edge: the ratio does not cross 1 along {axis.field} in this grid")
    return lines


# -- gradsim store --------------------------------------------------------------------------


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days (got {text!r})") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of days, 0 or more (got {text!r})")
    return value


def _add_store_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "store",
        help="the sweep store: its size, or clear it",
        description="The sweep store keeps every computed sweep point and every sweep, so a repeated "
        "sweep is instant and past sweeps reopen (gradsim sweep --list). It is one SQLite file; "
        "deleting it is always safe.",
    )
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="where the store is, its size, points and sweeps")
    add_store_option(info)
    clear = actions.add_parser("clear", help="delete stored points and sweeps (all, or the old ones)")
    add_store_option(clear)
    clear.add_argument(
        "--older-than",
        type=_days,
        metavar="DAYS",
        help="only those stored more than DAYS days ago (e.g. 30; 0.5 is twelve hours)",
    )
    parser.set_defaults(handler=_store_command)


def _store_command(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        if not store.available:
            raise CommandError(str(store.error), EXIT_FAILED)
        try:
            if args.action == "info":
                info = store.info()
                print(f"store: {info.path}")
                print(f"size: {format_size(info.size_bytes)}")
                print(f"points: {info.points}")
                print(f"sweeps: {info.sweeps}")
                print(f"schema version: {info.schema_version}")
                return EXIT_OK
            points, sweeps = store.clear(args.older_than)
            size = format_size(store.size_bytes())
        except StoreError as error:
            raise CommandError(str(error), EXIT_FAILED) from None
    which = "" if args.older_than is None else f" stored more than {args.older_than:g} days ago"
    print(f"deleted {points} points and {sweeps} sweeps{which} from {store.path} (now {size})")
    return EXIT_OK


# -- gradsim snapshot -----------------------------------------------------------------------

SNAPSHOT_PLOTS = figures.PLOTS
SNAPSHOT_SIZE = figures.DASHBOARD_SIZE
SNAPSHOT_MIN_WIDTH, SNAPSHOT_MAX_WIDTH = 200, 8000  # as gradsim.ui.training.render (not imported: no Qt here)


def _add_snapshot_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "snapshot",
        help="train headless and save the plots as PNG or SVG (no display needed)",
        description="Train the network headless, draw the window's plots without showing them and "
        "save the whole dashboard or one plot as PNG or SVG (by the extension of --out). For scripts "
        "and documentation: the same config and iteration count give the same picture.",
    )
    add_config_options(parser)
    parser.add_argument(
        "--iterations",
        "-n",
        type=_count,
        default=DEFAULT_ITERATIONS,
        metavar="N",
        help=f"training iterations before drawing (default {DEFAULT_ITERATIONS}); an exploding run "
        "stops early",
    )
    parser.add_argument(
        "--out", "-o", required=True, metavar="FILE", help="the picture to write: FILE.png or FILE.svg"
    )
    parser.add_argument(
        "--plot",
        choices=SNAPSHOT_PLOTS,
        default="dashboard",
        metavar="NAME",
        help=f"what to draw: {', '.join(SNAPSHOT_PLOTS)} (default: dashboard, all five plots)",
    )
    parser.add_argument(
        "--width",
        type=_positive_int,
        default=None,
        metavar="PX",
        help="PNG width in pixels, the height in proportion (default: twice the plot's size, "
        f"{2 * SNAPSHOT_SIZE[0]} for the dashboard); ignored for SVG",
    )
    parser.add_argument(
        "--theme", choices=("light", "dark"), default="light", help="plot colours (default light)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    parser.set_defaults(handler=_snapshot_command)


def _snapshot_command(args: argparse.Namespace) -> int:
    suffix = Path(args.out).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise CommandError(f"cannot write {args.out}: the file name must end in .png or .svg")
    if args.width is not None and not SNAPSHOT_MIN_WIDTH <= args.width <= SNAPSHOT_MAX_WIDTH:
        raise CommandError(
            f"--width must be between {SNAPSHOT_MIN_WIDTH} and {SNAPSHOT_MAX_WIDTH} pixels (got {args.width})"
        )
    _check_output(args.out)
    config = build_config(args)
    check_run_resources(config)
    with _offscreen_qt("the plots"):
        data = figures.snapshot_bytes(config, args.iterations, args.plot, suffix[1:], args.width, args.theme)
    atomic_write_bytes(args.out, data)
    if not args.quiet:
        what = "dashboard" if args.plot == "dashboard" else f"{args.plot} plot"
        print(f"config: {describe_source(args)}: {describe_config(config)}")
        print(f"wrote {args.out} ({what}, {args.iterations} iterations, {len(data)} bytes)")
    return EXIT_OK


# -- gradsim animate ------------------------------------------------------------------------


def _add_animate_command(subparsers: argparse._SubParsersAction) -> None:
    # Its own module (it needs this one's helpers, imported once this module is complete).
    from gradsim.cli.animate import add_animate_command

    add_animate_command(subparsers)


# -- entry point ----------------------------------------------------------------------------

# One function per subcommand; it adds its parser to the subparsers and sets ``handler``.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run_command,
    _add_presets_command,
    _add_config_command,
    _add_sweep_command,
    _add_store_command,
    _add_snapshot_command,
    _add_animate_command,
]


def _version() -> str:
    try:
        return metadata.version("gradsim")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="See vanishing and exploding gradients in recurrent networks. Without a command, "
        "gradsim opens its window; the commands below run without one.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def _open_window(argv: list[str]) -> int:
    # Qt aborts the whole process when its platform plugin cannot load; find that out first.
    from gradsim.ui.common.display_check import display_problem

    problem = display_problem()
    if problem is not None:
        _error(problem)
        return EXIT_FAILED
    try:
        from gradsim.ui import app
    except ImportError as error:
        _error(
            f"cannot open the window ({error}); the headless commands still work: "
            f"{PROG} run, {PROG} presets, {PROG} config (see {PROG} --help)"
        )
        return EXIT_FAILED
    return int(app.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : the arguments after the program name (``sys.argv[1:]`` if None). None or empty opens
        the window.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        return _open_window([])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_request:  # --help, --version, or a usage error already printed
        code = exit_request.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except ConfigError as error:
        _error(str(error))
        return EXIT_USAGE
    except CommandError as error:
        _error(str(error))
        return error.exit_code
    except WriteError as error:
        _error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover - use `python -m gradsim`
    sys.exit(main())
