"""``gradsim config``: the config that ``--preset``/``--config``/``--set`` resolve to, as TOML."""

from __future__ import annotations

import argparse
import sys

from gradsim.cli.common import EXIT_OK, add_config_options, build_config, describe_source
from gradsim.io.configfile import config_to_toml


def add_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gradsim config``."""
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
