"""``gradsim presets``: the presets, with the regime each shows and its title."""

from __future__ import annotations

import argparse

from gradsim.cli import common
from gradsim.engine.presets import list_presets, presets_dir

HELP = "list the presets"
DESCRIPTION = "List the presets: name (for --preset), the regime it shows, and its title."


def _presets_command(args: argparse.Namespace) -> int:
    presets = list_presets()
    if not presets:
        print(f"no presets found in {presets_dir()}")
        return common.EXIT_OK
    rows = [("name", "shows", "title")] + [(p.name, p.expect, p.title) for p in presets]
    name_width = max(len(row[0]) for row in rows)
    expect_width = max(len(row[1]) for row in rows)
    for name, expect, title in rows:
        print(f"{name:<{name_width}}  {expect:<{expect_width}}  {title}")
    return common.EXIT_OK


COMMAND = common.Command("presets", HELP, DESCRIPTION, _presets_command)
