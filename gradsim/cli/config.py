"""``gradsim config``: the config that ``--preset``/``--config``/``--set`` resolve to, as TOML."""

from __future__ import annotations

import argparse
import sys

from gradsim.cli import common
from gradsim.io.configfile import config_to_toml

HELP = "print the resolved config as TOML"
DESCRIPTION = (
    "Print the config that --preset/--config/--set resolve to, as TOML. Save it to a "
    "file and use it with: gradsim run --config FILE"
)


def _config_command(args: argparse.Namespace) -> int:
    config = common.build_config(args)
    header = f"gradsim config from {common.describe_source(args)}\nUse it with: gradsim run --config FILE"
    sys.stdout.write(config_to_toml(config, header=header))
    return common.EXIT_OK


COMMAND = common.Command("config", HELP, DESCRIPTION, _config_command, config_options=True)
