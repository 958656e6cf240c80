"""``gradsim snapshot``: train headless and save the window's plots as PNG or SVG."""

from __future__ import annotations

import argparse
from pathlib import Path

from gradsim.cli import common
from gradsim.cli.common import positive_int
from gradsim.io.atomic import atomic_write_bytes
from gradsim.ui.training import figures

SNAPSHOT_PLOTS = figures.PLOTS
SNAPSHOT_SIZE = figures.DASHBOARD_SIZE


HELP = "train headless and save the plots as PNG or SVG (no display needed)"
DESCRIPTION = (
    "Train the network headless, draw the window's plots without showing them and "
    "save the whole dashboard or one plot as PNG or SVG (by the extension of --out). For scripts "
    "and documentation: the same config and iteration count give the same picture."
)


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``gradsim snapshot``."""
    common.add_iterations_option(
        parser,
        common.DEFAULT_ITERATIONS,
        f"training iterations before drawing (default {common.DEFAULT_ITERATIONS}); an exploding run "
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
        type=positive_int,
        default=None,
        metavar="PX",
        help="PNG width in pixels, the height in proportion (default: twice the plot's size, "
        f"{2 * SNAPSHOT_SIZE[0]} for the dashboard); ignored for SVG",
    )
    parser.add_argument(
        "--theme", choices=("light", "dark"), default="light", help="plot colours (default light)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")


def _snapshot_command(args: argparse.Namespace) -> int:
    suffix = Path(args.out).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise common.CommandError(f"cannot write {args.out}: the file name must end in .png or .svg")
    common.check_width("--width", args.width)
    common.check_drawn_iterations(args.iterations)
    common.check_output(args.out)
    config = common.build_config(args)
    common.check_run_resources(config)
    with common.offscreen_qt("the plots"):
        data = figures.snapshot_bytes(config, args.iterations, args.plot, suffix[1:], args.width, args.theme)
    atomic_write_bytes(args.out, data)
    if not args.quiet:
        what = "dashboard" if args.plot == "dashboard" else f"{args.plot} plot"
        print(common.config_line(args, config))
        print(f"wrote {args.out} ({what}, {args.iterations} iterations, {len(data)} bytes)")
    return common.EXIT_OK


COMMAND = common.Command("snapshot", HELP, DESCRIPTION, _snapshot_command, _add_options, config_options=True)
