"""What every subcommand shares: how one is described (:class:`Command`), exit codes, the one-line
error, argparse number types, the config options, the progress bar, output-path checks and
offscreen drawing.

Nothing here imports Qt: :func:`offscreen_qt` asks :mod:`gradsim.ui.training.figures` for it only
when a picture is drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from gradsim.engine.config import ConfigError, SimConfig, check_resources, describe_config
from gradsim.engine.presets import DEFAULT_PRESET, get_preset, presets_dir
from gradsim.io.atomic import WriteError
from gradsim.io.configfile import apply_overrides, load_config
from gradsim.io.sweepstore import StoreError, SweepStore, default_store_path, open_store
from gradsim.ui.training import figures

PROG = "gradsim"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# Presentation mode's scale, for --presentation of `gradsim sweep` and `gradsim animate`
# (gradsim.ui.features.presentation.presentation.PRESENTATION_SCALE; not imported: no Qt here).
PRESENTATION_SCALE = 1.6
DEFAULT_ITERATIONS = 100
# The most training steps `gradsim snapshot` and `gradsim animate` take before drawing (as the
# window's Record dialog): hours of training already, for one picture.
MAX_DRAWN_ITERATIONS = 1_000_000
# The PNG widths `gradsim snapshot --width` and `gradsim sweep --image-width` accept
# (as gradsim.ui.training.render; not imported: no Qt here).
IMAGE_MIN_WIDTH, IMAGE_MAX_WIDTH = 200, 8000


class CommandError(Exception):
    """A problem to report in one line on stderr, with the exit code to return."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def print_error(message: str, kind: str = "error") -> None:
    """``gradsim: error: message`` on stderr, folded onto one line (``kind`` may be ``warning``)."""
    # pythonw (the gui-scripts launcher on Windows) has no stderr.
    if sys.stderr is not None:
        print(f"{PROG}: {kind}: {' '.join(message.split())}", file=sys.stderr)


# -- subcommands -------------------------------------------------------------------------------


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose unknown arguments are refused by the (sub)command they were given to.

    argparse hands a subcommand's unknown arguments back up, and the top-level parser refuses them
    with its own usage (``gradsim [-h] [--version] COMMAND ...``), which names none of the
    subcommand's options; refused here, the usage shown is that of ``gradsim run`` (or of
    ``gradsim store info``). Subparsers are made of the class of their parent, so the top-level
    parser being one makes every subcommand's parser one too.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace | None, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


@dataclass(frozen=True)
class Command:
    """A subcommand, as :func:`add_command` registers it.

    Attributes
    ----------
    name : what is typed after ``gradsim``
    help : one line in ``gradsim --help``
    description : the paragraph heading ``gradsim NAME --help``
    run : the handler: the parsed arguments in, the exit code out (or :class:`CommandError`)
    add_options : adds the command's own options to its parser (None: it takes none)
    config_options : whether it takes the config options (:func:`add_config_options`; they come
        first)
    """

    name: str
    help: str
    description: str
    run: Callable[[argparse.Namespace], int]
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    config_options: bool = False


def add_command(subparsers: argparse._SubParsersAction, command: Command) -> None:
    """Add ``command``'s parser to ``subparsers``, with its options and its handler (``handler``)."""
    parser = subparsers.add_parser(command.name, help=command.help, description=command.description)
    if command.config_options:
        add_config_options(parser)
    if command.add_options is not None:
        command.add_options(parser)
    parser.set_defaults(handler=command.run)


# -- argparse number types -------------------------------------------------------------------

_Number = TypeVar("_Number", int, float)


def _parse(text: str, convert: Callable[[str], _Number], what: str) -> _Number:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what} (got {text!r})") from None


def positive_int(text: str) -> int:
    """A whole number, 1 or more (iterations, seeds, pixels)."""
    return _whole_number(text, 1, "at least 1")


def count(text: str) -> int:
    """A whole number, 0 or more (iterations, worker processes)."""
    return _whole_number(text, 0, "0 or more")


def _whole_number(text: str, minimum: int, rule: str) -> int:
    value = _parse(text, int, "a whole number")
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {rule} (got {value})")
    return value


def days(text: str) -> float:
    """A finite number of days, 0 or more (``gradsim store clear --older-than``)."""
    value = _parse(text, float, "a number of days")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of days, 0 or more (got {text!r})")
    return value


def frames_per_second(text: str) -> float:
    """A frame rate above 0 and at most 100 (``gradsim animate --fps``)."""
    value = _parse(text, float, "a number")
    if not (math.isfinite(value) and 0 < value <= 100):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 100 (got {text})")
    return value


# -- config options shared by every command that runs the engine ----------------------------


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset``, ``--config`` and ``--set`` (read back by :func:`build_config`)."""
    group = parser.add_argument_group(
        "configuration",
        "Applied in this order: the preset, then the file, then each --set. Without --preset and "
        f"--config the {DEFAULT_PRESET!r} preset is used. Fields a config file leaves out keep the "
        f"--preset's values, or without --preset gradsim's built-in defaults (not the {DEFAULT_PRESET!r} "
        "preset's; gradsim config --preset NAME prints a preset's full config to start a file from).",
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


def add_iterations_option(
    parser: argparse.ArgumentParser, default: int, help: str, number: Callable[[str], int] = count
) -> None:
    """Add ``--iterations``/``-n N``, the training steps, checked by ``number`` (:func:`count`, or
    :func:`positive_int` where 0 makes no sense)."""
    parser.add_argument("--iterations", "-n", type=number, default=default, metavar="N", help=help)


def check_drawn_iterations(iterations: int) -> None:
    """Refuse more than :data:`MAX_DRAWN_ITERATIONS` training steps before a picture is drawn."""
    if iterations > MAX_DRAWN_ITERATIONS:
        raise CommandError(
            f"--iterations must be at most {MAX_DRAWN_ITERATIONS} before a picture is drawn "
            f"(got {iterations})"
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
        settings = len(args.settings)
        parts.append(f"{settings} setting{'s' if settings > 1 else ''}")
    return " + ".join(parts)


def config_line(args: argparse.Namespace, config: SimConfig) -> str:
    """The summary's first line: ``"config: <where from>: <the config in one line>"``."""
    return f"config: {describe_source(args)}: {describe_config(config)}"


# -- the sweep store option (gradsim sweep, gradsim store) -------------------------------------


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store PATH``: the sweep store to use instead of the one in the user's cache folder."""
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the sweep store, a SQLite file (default: sweeps.sqlite in the user's cache folder, "
        "e.g. ~/.cache/gradsim on Linux)",
    )


def open_store_option(args: argparse.Namespace) -> SweepStore:
    """The store ``--store`` names (or the default one); its problems are the caller's to report."""
    return open_store(args.store)


def store_path(args: argparse.Namespace) -> Path:
    """The file of the store ``--store`` names, or of the default one."""
    return Path(args.store) if args.store else default_store_path()


@contextlib.contextmanager
def readable_store(args: argparse.Namespace) -> Iterator[SweepStore]:
    """The store ``--store`` names, open for the block and closed after it; a store that does not
    exist (it is not created: a mistyped path must not leave folders and an empty store behind),
    cannot be opened, or a :class:`StoreError` in the block, is a one-line error (exit 1)."""
    path = store_path(args)
    if not path.exists():
        raise CommandError(f"no sweep store at {path} (gradsim sweep makes one)", EXIT_FAILED)
    with open_store_option(args) as store:
        if not store.available:
            raise CommandError(str(store.error), EXIT_FAILED)
        try:
            yield store
        except StoreError as error:
            raise CommandError(str(error), EXIT_FAILED) from None


# -- progress --------------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a terminal, redrawn at most every ``interval`` seconds.

    Draws nothing unless ``stream`` is a terminal, so piped or logged output stays clean.
    :meth:`update` shows training iterations; subclasses show other units through :meth:`draw`.
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
        self.draw(done, self.total, f"{done}/{self.total}  loss {loss:.4g}")

    def draw(self, done: int, total: int, label: str) -> None:
        """Redraw the bar at ``done`` of ``total`` followed by ``label``, unless drawn less than
        ``interval`` ago (the last step is always drawn)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval and done < total:
            return
        self._last_draw = now
        filled = self.width * done // total if total else self.width
        line = f"[{'#' * filled}{'-' * (self.width - filled)}] {label}"
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


# -- output files and pictures ---------------------------------------------------------------


# The file name ending each output option's files take (its kind is the option without "--");
# --save-weights takes .safetensors or .npz (gradsim.io.weights.weights_suffix checks it).
OUTPUT_SUFFIXES = {"json": ".json", "npz": ".npz", "csv": ".csv", "image": ".png"}


def requested_outputs(
    paths: dict[str, str | None], inputs: dict[str, str | None] | None = None
) -> list[tuple[str, str]]:
    """The output files asked for, as ``(path, kind)`` from ``{kind: path or None}``, the kind being
    the option's name without its dashes (``--json`` is ``json``).

    Checked before any time is spent: no two outputs and no output and input (``{option: path or
    None}``) are one file (:func:`check_distinct`), each can be written (:func:`check_output`) and
    its name ends as its kind's files do (:data:`OUTPUT_SUFFIXES`).
    """
    outputs = [(path, kind) for kind, path in paths.items() if path]
    check_distinct({f"--{kind}": path for path, kind in outputs}, inputs or {})
    for path, kind in outputs:
        check_output(path)
        suffix = OUTPUT_SUFFIXES.get(kind)
        if suffix is not None and Path(path).suffix.lower() != suffix:
            raise CommandError(f"cannot write {path}: the file name of --{kind} must end in {suffix}")
    return outputs


def check_distinct(outputs: dict[str, str], inputs: dict[str, str | None]) -> None:
    """Refuse an output file (``{option: path}``) that is also an input file (``{option: path or
    None}``), which it would overwrite before anyone noticed, or another output, which would be
    written twice with one result lost. Paths are compared resolved (``./a.json`` is ``a.json``,
    a link is its target)."""
    read = {_resolved(path): option for option, path in inputs.items() if path}
    written: dict[Path, str] = {}
    for option, path in outputs.items():
        where = _resolved(path)
        if where in read:
            raise CommandError(
                f"cannot write {path}: it is the {read[where]} file, which {option} would overwrite"
            )
        if where in written:
            raise CommandError(
                f"{written[where]} and {option} name the same file ({path}): give each its own"
            )
        written[where] = option


def _resolved(path: str) -> Path:
    return Path(path).expanduser().resolve()


def write_outputs(
    outputs: list[tuple[str, str]], write: Callable[[str, str], None], wrote: Callable[[str], str] | None
) -> bool:
    """Write every ``(path, kind)`` with ``write(path, kind)``; one that fails is reported on stderr
    in one line and the others are still written. After each file, ``wrote(path)`` is printed
    (nothing if ``wrote`` is None, e.g. with ``--quiet``). Returns whether every file was written."""
    written = True
    for path, kind in outputs:
        try:
            write(path, kind)
        except WriteError as error:
            print_error(str(error))
            written = False
            continue
        if wrote is not None:
            print(wrote(path))
    return written


def check_output(path: str) -> None:
    """Refuse an output path that cannot work before spending time on the run."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise CommandError(f"cannot write {path}: a folder of that name exists")
    if not folder.exists():
        raise CommandError(f"cannot write {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise CommandError(f"cannot write {path}: {folder} is not a folder")


def check_width(
    option: str, width: int | None, low: int = IMAGE_MIN_WIDTH, high: int = IMAGE_MAX_WIDTH
) -> None:
    """Refuse a picture width (``option``'s value) outside ``low..high`` pixels; None is the default."""
    if width is not None and not low <= width <= high:
        raise CommandError(f"{option} must be between {low} and {high} pixels (got {width})")


@contextlib.contextmanager
def offscreen_qt(what: str) -> Iterator[None]:
    """Qt for drawing without a display (:func:`gradsim.ui.training.figures.offscreen_qt`) around a block
    that imports and draws ``what``; a missing Qt or pyqtgraph is a one-line error, not a traceback."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(figures.offscreen_qt())
            yield
        except ImportError as error:
            raise CommandError(f"cannot draw {what} ({error})", EXIT_FAILED) from None
