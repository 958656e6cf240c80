"""``gradsim animate``: an animation of a plot while the network trains, or of the backward pass.

Registered by :mod:`gradsim.cli` (its ``COMMANDS``). The run is replayed headless and the
window's own plots are drawn offscreen at every chosen iteration
(:func:`gradsim.ui.features.recording.animation.record_animation`), so frame *k* is the picture ``gradsim
snapshot`` draws after that many iterations. With ``--backprop`` the network is trained
``--iterations`` steps, frozen, and its backward pass shown ``--every`` cells a frame, as the
Backprop tab steps it.

Nothing here imports Qt at module level.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gradsim.cli import common
from gradsim.cli.common import frames_per_second, positive_int
from gradsim.io.animation_writer import VIDEO_MISSING, format_for_path, video_available

PLOTS = ("dashboard", "gradient", "heatmap", "loss", "activation", "health")
DEFAULT_ITERATIONS = 60
DEFAULT_WIDTH = 640
MIN_WIDTH, MAX_WIDTH = 200, 3840


HELP = "train headless and save an animation of a plot (GIF, WebP, APNG, MP4)"
DESCRIPTION = (
    "Train the network headless and draw the window's plots offscreen at every K-th "
    "iteration into an animation (the format by the extension of --out: .gif, .webp, .png for "
    'APNG, .mp4 with pip install "gradsim[video]"). Each frame is the picture gradsim snapshot '
    "draws after that many iterations. With --backprop: the backward pass of the network after "
    "--iterations steps, K cells a frame, as the Backprop tab steps it."
)


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``gradsim animate``."""
    common.add_iterations_option(
        parser,
        DEFAULT_ITERATIONS,
        f"the last iteration shown (default {DEFAULT_ITERATIONS}); with --backprop, the training steps "
        "before the weights are frozen",
    )
    parser.add_argument(
        "--every", "-k", type=positive_int, default=1, metavar="K",
        help="a frame every K iterations (default 1); with --backprop, every K cells",
    )  # fmt: skip
    parser.add_argument(
        "--first", type=positive_int, default=None, metavar="F",
        help="the first iteration shown (default: K)",
    )  # fmt: skip
    parser.add_argument(
        "--plot", choices=PLOTS, default="gradient", metavar="NAME",
        help=f"what to draw: {', '.join(PLOTS)} (default gradient)",
    )  # fmt: skip
    parser.add_argument(
        "--width", type=positive_int, default=DEFAULT_WIDTH, metavar="PX",
        help=f"frame width in pixels, the height in proportion (default {DEFAULT_WIDTH})",
    )  # fmt: skip
    parser.add_argument(
        "--fps", type=frames_per_second, default=20.0, metavar="F", help="frames a second (default 20)"
    )
    parser.add_argument("--out", "-o", required=True, metavar="FILE", help="the animation to write")
    parser.add_argument(
        "--theme", choices=("light", "dark"), default="light", help="plot colours (default light)"
    )
    parser.add_argument(
        "--presentation", action="store_true",
        help=f"draw as presentation mode does: text, lines and markers x{common.PRESENTATION_SCALE:g} "
        "(the training plots, or with --backprop the Backprop tab)",
    )  # fmt: skip
    parser.add_argument(
        "--backprop", action="store_true", help="animate the backward pass instead of training"
    )
    parser.add_argument(
        "--by-layer", action="store_true", help="with --backprop: a frame per layer (K = time steps)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")


class FrameProgressBar(common.ProgressBar):
    """The progress bar of an animation: frames drawn of frames asked for."""

    def show(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` frames (the total is known once the frames are chosen)."""
        self.draw(done, total, f"{done}/{total} frames")


def _check_arguments(args: argparse.Namespace) -> str:
    """The format asked for; a one-line error for anything that cannot work, before training."""
    try:
        fmt = format_for_path(args.out)
    except ValueError as error:
        raise common.CommandError(str(error)) from None
    if fmt == "mp4" and not video_available():
        raise common.CommandError(f"cannot write {args.out}: {VIDEO_MISSING}", common.EXIT_FAILED)
    common.check_width("--width", args.width, MIN_WIDTH, MAX_WIDTH)
    if args.by_layer and not args.backprop:
        raise common.CommandError("--by-layer needs --backprop")
    if not args.backprop and args.iterations < 1:
        raise common.CommandError("--iterations must be 1 or more: frame k shows iteration k")
    common.check_drawn_iterations(args.iterations)
    common.check_output(args.out)
    return fmt


def _animate_command(args: argparse.Namespace) -> int:
    fmt = _check_arguments(args)
    config = common.build_config(args)
    scale = common.PRESENTATION_SCALE if args.presentation else 1.0
    progress = FrameProgressBar(0, None if args.quiet else sys.stderr)
    with common.offscreen_qt("the animation"):
        from gradsim.ui.common.theme import theme_named
        from gradsim.ui.features.backprop.backprop_frames import BackpropFrames
        from gradsim.ui.features.recording import animation, frames

        theme = theme_named(args.theme)
        try:
            if args.backprop:
                params, trained = animation.trained_params(config, args.iterations)
                every = config.seq_len if args.by_layer else args.every
                result = animation.record_backprop_animation(
                    config, params, args.out, every, args.width, args.fps, fmt, theme, scale,
                    progress=progress.show, frames=BackpropFrames,
                )  # fmt: skip
                cells = f"{every} cell{'s' if every > 1 else ''}"
                what = f"backward pass after {trained} iterations, {cells} a frame"
            else:
                first = args.first if args.first is not None else args.every
                iterations = frames.frame_iterations(first, args.iterations, args.every)
                result = animation.record_animation(
                    config, args.out, iterations, args.plot, args.width, args.fps, fmt, theme, scale,
                    progress=progress.show,
                )  # fmt: skip
                what = f"{args.plot}, iterations {iterations[0]}..{iterations[-1]} every {args.every}"
        except ValueError as error:
            raise common.CommandError(str(error)) from None
        finally:
            progress.close()
    if not args.quiet:
        print(common.config_line(args, config))
        if result.stopped_at is not None:
            print(
                f"the run stopped on a non-finite value at iteration {result.stopped_at}: "
                "the last frame shows it"
            )
        size = Path(args.out).stat().st_size
        print(
            f"wrote {args.out} ({what}; {result.frames} frames of {result.size[0]} x {result.size[1]}, "
            f"{result.duration_ms} ms each; {size} bytes)"
        )
    return common.EXIT_OK


COMMAND = common.Command("animate", HELP, DESCRIPTION, _animate_command, _add_options, config_options=True)
