"""``gradsim sweep``: map where gradients vanish or explode over a grid of two settings; with
``--list`` and ``--show ID``, the sweeps the store recorded."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gradsim.cli import common
from gradsim.cli.common import count, positive_int
from gradsim.engine import sweep
from gradsim.engine.sweep_executors import ExecutorError, check_scheduler
from gradsim.io.atomic import atomic_write_bytes
from gradsim.io.sweepfile import write_sweep_csv, write_sweep_npz

# The logical size of `gradsim sweep --image`
# (as gradsim.ui.features.sweep.sweep_plot.DEFAULT_IMAGE_SIZE: no Qt here).
SWEEP_IMAGE_SIZE = (900, 720)


HELP = "map where gradients vanish or explode over a grid of two settings"
DESCRIPTION = (
    "For every point of a grid over two settings, compute the regime measure of "
    "the window and of gradsim run: the log10 gradient ratio ||dL/dh|| of the most extreme span "
    "(back through time in one layer, or down through the layers at the last step; below 0: "
    "vanishing, above 0: exploding), averaged over seeds, on all cores. Prints a summary with "
    "the mean-field critical line and writes the grid."
)


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``gradsim sweep``."""
    axis_help = (
        "FIELD=LOW:HIGH:COUNT, FIELD=LOW:HIGH:COUNT:log or FIELD=V1,V2,...; FIELD is one of "
        f"{', '.join(sweep.SWEEP_FIELDS)}"
    )
    parser.add_argument("--x", metavar="AXIS", help=f"the x axis: {axis_help}")
    parser.add_argument("--y", metavar="AXIS", help="the y axis, written the same way")
    common.add_iterations_option(parser, 0, "measure after N training steps (default 0: at initialisation)")
    parser.add_argument(
        "--seeds", type=positive_int, default=1, metavar="K", help="seeds per point, from the config's seed"
    )
    parser.add_argument(
        "--workers",
        type=count,
        default=None,
        metavar="P",
        help="worker processes (default: one per core); 0 computes in this process, without workers",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="compute the points on a Dask cluster: its scheduler's address (tcp://host:8786), or "
        'local:N for a local cluster of N processes (needs: pip install "gradsim[cluster]")',
    )
    common.add_store_option(parser)
    parser.add_argument(
        "--no-store", action="store_true", help="neither read nor keep points, and do not record the sweep"
    )
    past = parser.add_argument_group("past sweeps (from the store; nothing is computed)")
    past.add_argument("--list", action="store_true", help="list the recorded sweeps, newest first")
    past.add_argument(
        "--show",
        type=positive_int,
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
        type=positive_int,
        default=None,
        metavar="PX",
        help=f"width of --image in pixels, the height in proportion (default {2 * SWEEP_IMAGE_SIZE[0]})",
    )
    output.add_argument(
        "--presentation",
        action="store_true",
        help="draw --image as presentation mode does: text, lines and markers "
        f"x{common.PRESENTATION_SCALE:g}",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")


class SweepProgressBar(common.ProgressBar):
    """The progress bar of a sweep: points done and the estimated time left."""

    def show(self, report: sweep.SweepProgress) -> None:
        """Show ``report.done`` of ``total`` points and the time left, if known."""
        left = "" if report.remaining_seconds is None else f"  {report.remaining_seconds:.0f} s left"
        self.draw(report.done, self.total, f"{report.done}/{self.total} points{left}")


def _sweep_command(args: argparse.Namespace) -> int:
    if args.list or args.show is not None:
        return _past_sweeps_command(args)
    if args.x is None or args.y is None:
        raise common.CommandError("a sweep needs both --x AXIS and --y AXIS (or --list, or --show ID)")
    if args.scheduler is not None and args.workers is not None:
        raise common.CommandError(
            "--workers sets the local processes; with --scheduler the cluster's workers compute"
        )
    if args.no_store and args.store:
        raise common.CommandError("--store and --no-store contradict each other")
    config = common.build_config(args)
    try:
        spec = sweep.SweepSpec(
            config, sweep.parse_axis(args.x), sweep.parse_axis(args.y), args.iterations, args.seeds
        )
        if args.scheduler is not None:
            check_scheduler(args.scheduler)
    except (sweep.SweepError, ExecutorError) as error:
        raise common.CommandError(str(error)) from None
    outputs = _outputs(args)
    store = None
    if not args.no_store:
        store = common.open_store_option(args)
        if not store.available:
            common.print_error(f"{store.error}; the sweep runs without it", "warning")
            store = None
    progress = SweepProgressBar(spec.size, None if args.quiet else sys.stderr)
    try:
        result = sweep.run_sweep(
            spec, workers=args.workers, progress=progress.show, cache=store, scheduler=args.scheduler,
            journal=store,
        )  # fmt: skip
    except sweep.SweepError as error:
        raise common.CommandError(str(error), common.EXIT_FAILED) from None
    finally:
        progress.close()
        if store is not None:
            store.close()
    if result.cache_error:
        common.print_error(f"the sweep store could not keep the points: {result.cache_error}", "warning")
    header = [common.config_line(args, config)]
    if result.sweep_id is not None:
        header.append(f"recorded as sweep #{result.sweep_id} (gradsim sweep --show {result.sweep_id})")
    return _report_sweep(args, result, header, outputs)


def _outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The files asked for, as (path, kind), checked before any time is spent."""
    store = None if args.no_store else str(common.store_path(args))
    outputs = common.requested_outputs(
        {"csv": args.csv, "npz": args.npz, "image": args.image}, {"--config": args.config, "--store": store}
    )
    _check_sweep_image(args)
    return outputs


def _past_sweeps_command(args: argparse.Namespace) -> int:
    """``gradsim sweep --list`` and ``--show ID``: read the store, compute nothing."""
    if args.list and args.show is not None:
        raise common.CommandError("give --list or --show ID, not both")
    if args.x is not None or args.y is not None or args.scheduler is not None or args.no_store:
        raise common.CommandError(
            "--list and --show read past sweeps: they take no --x, --y, --scheduler or --no-store"
        )
    if args.list and (args.csv or args.npz or args.image):
        raise common.CommandError("--csv, --npz and --image go with --show ID, not --list")
    outputs = _outputs(args)
    with common.readable_store(args) as store:
        if args.list:
            records = store.sweeps(limit=None)
            if not records:
                print(f"no sweeps recorded in {store.path}")
            for record in records:
                print(record.describe())
            return common.EXIT_OK
        record = store.sweep(args.show)
        result = store.open_sweep(args.show)
    header = [f"sweep {record.describe()}", f"config: {common.describe_config(result.spec.base)}"]
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

    def write(path: str, kind: str) -> None:
        if kind == "image":
            scale = common.PRESENTATION_SCALE if args.presentation else 1.0
            atomic_write_bytes(path, _sweep_image(result, critical, args.image_width, scale))
        else:
            (write_sweep_csv if kind == "csv" else write_sweep_npz)(path, result)

    written = common.write_outputs(outputs, write, None if args.quiet else lambda path: f"wrote {path}")
    return common.EXIT_OK if written else common.EXIT_FAILED


def _check_sweep_image(args: argparse.Namespace) -> None:
    """Refuse a bad --image or --image-width before spending time on the sweep."""
    if args.image is None:
        if args.image_width is not None:
            raise common.CommandError("--image-width needs --image FILE.png")
        if args.presentation:
            raise common.CommandError("--presentation needs --image FILE.png")
        return
    common.check_width("--image-width", args.image_width)


def _sweep_image(
    result: sweep.SweepResult, line: sweep.CriticalLine | None, width: int | None, scale: float = 1.0
) -> bytes:
    """The phase diagram as PNG bytes, drawn offscreen by the Sweep tab's own plot (``scale``:
    presentation mode's text, lines and markers)."""
    with common.offscreen_qt("the phase diagram"):
        from gradsim.ui.features.sweep.sweep_plot import sweep_png

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


COMMAND = common.Command("sweep", HELP, DESCRIPTION, _sweep_command, _add_options, config_options=True)
