"""``gradsim store``: where the sweep store is and how large, or clear it (all, or the old part)."""

from __future__ import annotations

import argparse

from gradsim.cli import common
from gradsim.cli.common import days
from gradsim.engine.formatting import format_bytes

HELP = "the sweep store: its size, or clear it"
DESCRIPTION = (
    "The sweep store keeps every computed sweep point and every sweep, so a repeated "
    "sweep is instant and past sweeps reopen (gradsim sweep --list). It is one SQLite file; "
    "deleting it is always safe."
)


def _add_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``gradsim store``."""
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="where the store is, its size, points and sweeps")
    common.add_store_option(info)
    clear = actions.add_parser("clear", help="delete stored points and sweeps (all, or the old ones)")
    common.add_store_option(clear)
    clear.add_argument(
        "--older-than",
        type=days,
        metavar="DAYS",
        help="only those stored more than DAYS days ago (e.g. 30; 0.5 is twelve hours)",
    )


def _store_command(args: argparse.Namespace) -> int:
    with common.readable_store(args) as store:
        if args.action == "info":
            info = store.info()
            print(f"store: {info.path}")
            print(f"size: {format_bytes(info.size_bytes)}")
            print(f"points: {info.points}")
            print(f"sweeps: {info.sweeps}")
            print(f"schema version: {info.schema_version}")
            return common.EXIT_OK
        points, sweeps = store.clear(args.older_than)
        size = format_bytes(store.size_bytes())
    which = "" if args.older_than is None else f" stored more than {args.older_than:g} days ago"
    print(f"deleted {points} points and {sweeps} sweeps{which} from {store.path} (now {size})")
    return common.EXIT_OK


COMMAND = common.Command("store", HELP, DESCRIPTION, _store_command, _add_options)
