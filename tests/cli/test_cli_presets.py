"""``gradsim presets``: every preset, in order, with the regime it shows and its title."""

from __future__ import annotations

from gradsim.engine.presets import list_presets


def test_presets_lists_every_preset_in_order(run_cli) -> None:
    code, out, err = run_cli("presets")
    assert (code, err) == (0, "")
    presets = list_presets()
    lines = out.splitlines()
    if not presets:
        assert lines == [lines[0]] and lines[0].startswith("no presets found in ")
        return
    assert lines[0].split() == ["name", "shows", "title"]
    assert len(lines) == 1 + len(presets)
    for line, preset in zip(lines[1:], presets, strict=True):
        name, expect, title = line.split(maxsplit=2)
        assert (name, expect, title) == (preset.name, preset.expect, preset.title)
