"""Command line. ``gradsim`` alone opens the window; subcommands run headless.

Each subcommand is one module here ending in its ``COMMAND``, a :class:`~gradsim.cli.common.Command`
(name, help texts, options, handler); :data:`COMMANDS` lists them and
:func:`~gradsim.cli.common.add_command` registers each. A handler takes the parsed arguments and
returns the exit code. What they share (exit codes, :class:`~gradsim.cli.common.CommandError`, the
config options ``--preset``/``--config``/``--set``, number types, the progress bar, output checks)
is in :mod:`gradsim.cli.common`.

Exit codes: 0 done (an exploding run is a result, not a failure), 1 a file could not be written
or the window could not open, 2 bad arguments or config, 130 interrupted.

Nothing here imports Qt: the window module is imported only when the window is asked for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from gradsim.cli import animate, config, presets, run, snapshot, store, sweep
from gradsim.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Command,
    CommandError,
    CommandParser,
    add_command,
    print_error,
)
from gradsim.engine.config import ConfigError
from gradsim.io.atomic import WriteError

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

# The subcommands, in the order ``gradsim --help`` lists them.
COMMANDS: list[Command] = [
    run.COMMAND,
    presets.COMMAND,
    config.COMMAND,
    sweep.COMMAND,
    store.COMMAND,
    snapshot.COMMAND,
    animate.COMMAND,
]


def _version() -> str:
    try:
        return metadata.version("gradsim")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :data:`COMMANDS`."""
    parser = CommandParser(
        prog=PROG,
        description="See vanishing and exploding gradients in recurrent networks. Without a command, "
        "gradsim opens its window; the commands below run without one.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in COMMANDS:
        add_command(subparsers, command)
    return parser


def _open_window(argv: list[str]) -> int:
    # Qt aborts the whole process when its platform plugin cannot load; find that out first.
    from gradsim.ui.common.display_check import display_problem

    problem = display_problem()
    if problem is not None:
        print_error(problem)
        return EXIT_FAILED
    try:
        from gradsim.ui import app
    except ImportError as error:
        print_error(
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
        print_error(str(error))
        return EXIT_USAGE
    except CommandError as error:
        print_error(str(error))
        return error.exit_code
    except WriteError as error:
        print_error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print_error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover - use `python -m gradsim`
    sys.exit(main())
