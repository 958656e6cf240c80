"""Presets: named configs stored as data in ``resources/presets/*.toml``.

A preset file has a ``[preset]`` table (``title``, ``description``, ``expect``: the regime the
preset demonstrates, ``expect_from``: the iteration from which it shows it, ``order``: position
in lists, ``fixes``: for a fix, the preset whose problem it addresses) and a ``[config]`` table of
SimConfig fields; fields it leaves out take their defaults.

``expect_from`` (a whole number, default 1) is for a preset whose training *drifts* into its
regime: iterations before it are healthy in every layer, every finite iteration from it on shows
``expect`` (tests/engine/test_presets.py checks both over the first 300 iterations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .config import ConfigError, SimConfig, short_repr
from .safe_read import CONFIG_LIMIT, FileReadError, read_toml

REGIMES = ("healthy", "vanishing", "exploding", "non-finite")


@dataclass(frozen=True)
class Preset:
    """A named, described config."""

    name: str
    title: str
    description: str
    expect: str
    config: SimConfig
    order: int = 100
    fixes: str | None = None
    expect_from: int = 1

    def expected_at(self, iteration: int) -> str:
        """The regime the preset claims at 1-based ``iteration``: ``expect`` from
        ``expect_from`` on, healthy before (a run that drifts into its regime)."""
        return self.expect if iteration >= self.expect_from else "healthy"


# A preset name is a name, never a path: lower-case letters, digits and dashes.
NAME_PATTERN = re.compile(r"[a-z0-9-]+")


def presets_dir() -> Path:
    """Folder holding the preset files (inside the installed ``gradsim.resources``)."""
    return Path(str(resources.files("gradsim.resources"))) / "presets"


def _text(meta: dict[str, Any], key: str, default: str, name: str) -> str:
    value = meta.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"preset {name}: {key} must be text (got {short_repr(value)})", "preset")
    return value


def _read(path: Path) -> Preset:
    name = path.stem
    try:
        data = read_toml(path, CONFIG_LIMIT, "a preset")
    except FileReadError as error:
        raise ConfigError(f"preset file {path.name}: {error.reason}", "preset") from None
    meta = data.get("preset", {})
    if not isinstance(meta, dict):
        raise ConfigError(f"preset {name}: 'preset' must be a table (got {short_repr(meta)})", "preset")
    settings = data.get("config", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"preset {name}: 'config' must be a table (got {short_repr(settings)})", "config")
    try:
        config = SimConfig.from_dict(settings)
    except ConfigError as error:
        raise ConfigError(f"preset {name}: {error}", error.field) from error
    expect = meta.get("expect", "healthy")
    if expect not in REGIMES:
        raise ConfigError(f"preset {name}: expect must be one of {', '.join(REGIMES)}")
    order = meta.get("order", 100)
    if isinstance(order, bool) or not isinstance(order, int) or not -(10**6) <= order <= 10**6:
        raise ConfigError(f"preset {name}: order must be a whole number (got {short_repr(order)})", "preset")
    expect_from = meta.get("expect_from", 1)
    if isinstance(expect_from, bool) or not isinstance(expect_from, int) or not 1 <= expect_from <= 10**6:
        raise ConfigError(
            f"preset {name}: expect_from must be an iteration, a whole number from 1 "
            f"(got {short_repr(expect_from)})",
            "preset",
        )
    if expect_from > 1 and expect == "healthy":
        raise ConfigError(f"preset {name}: expect_from is for a preset that drifts out of healthy", "preset")
    fixes = meta.get("fixes")
    if fixes is not None and not isinstance(fixes, str):
        raise ConfigError(f"preset {name}: fixes must be a preset name (got {short_repr(fixes)})", "preset")
    return Preset(
        name=name,
        title=_text(meta, "title", name, name),
        description=_text(meta, "description", "", name),
        expect=expect,
        config=config,
        order=order,
        fixes=fixes,
        expect_from=expect_from,
    )


def preset_names() -> list[str]:
    """Names of the preset files in :func:`presets_dir`, sorted (files not named like a preset
    are not presets)."""
    folder = presets_dir()
    if not folder.is_dir():
        return []
    return sorted(
        path.stem for path in folder.glob("*.toml") if NAME_PATTERN.fullmatch(path.stem) and path.is_file()
    )


def list_presets() -> list[Preset]:
    """All presets, in their display order."""
    presets = [_read(presets_dir() / f"{name}.toml") for name in preset_names()]
    return sorted(presets, key=lambda preset: (preset.order, preset.name))


def get_preset(name: str) -> Preset:
    """The preset called ``name``, looked up in :func:`presets_dir` only.

    Raises
    ------
    ConfigError
        ``"no preset 'x'; presets: default, ..."`` for anything that is not the name of a preset
        (a path, a name with other characters, a name with no file); or the preset's file is
        invalid.
    """
    names = preset_names()
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name not in names:
        shown = name if isinstance(name, str) else short_repr(name)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ConfigError(f"no preset {shown!r}; presets: {', '.join(names) or '(none)'}", "preset")
    return _read(presets_dir() / f"{name}.toml")


def load_preset(name: str) -> SimConfig:
    """The config of preset ``name``."""
    return get_preset(name).config


DEFAULT_PRESET = "default"
