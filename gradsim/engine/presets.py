"""Presets: named configs stored as data in ``resources/presets/*.toml``.

A preset file has a ``[preset]`` table (``title``, ``description``, ``expect``: the regime the
preset demonstrates, ``order``: position in lists, ``fixes``: for a fix, the preset whose
problem it addresses) and a ``[config]`` table of SimConfig fields; fields it leaves out take
their defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .config import ConfigError, SimConfig

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


def presets_dir() -> Path:
    """Folder holding the preset files (inside the installed ``gradsim.resources``)."""
    return Path(str(resources.files("gradsim.resources"))) / "presets"


def _read(path: Path) -> Preset:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"preset file {path.name} cannot be read: {error}") from error
    meta = data.get("preset", {})
    try:
        config = SimConfig.from_dict(data.get("config", {}))
    except ConfigError as error:
        raise ConfigError(f"preset {path.stem}: {error}", error.field) from error
    expect = meta.get("expect", "healthy")
    if expect not in REGIMES:
        raise ConfigError(f"preset {path.stem}: expect must be one of {', '.join(REGIMES)}")
    return Preset(
        name=path.stem,
        title=str(meta.get("title", path.stem)),
        description=str(meta.get("description", "")),
        expect=expect,
        config=config,
        order=int(meta.get("order", 100)),
        fixes=meta.get("fixes"),
    )


def list_presets() -> list[Preset]:
    """All presets, in their display order."""
    presets = [_read(path) for path in sorted(presets_dir().glob("*.toml"))]
    return sorted(presets, key=lambda preset: (preset.order, preset.name))


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ConfigError naming the known ones if there is none."""
    path = presets_dir() / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(preset.name for preset in list_presets())
        raise ConfigError(f"unknown preset {name!r}; known presets: {known}", "preset")
    return _read(path)


def load_preset(name: str) -> SimConfig:
    """The config of preset ``name``."""
    return get_preset(name).config


DEFAULT_PRESET = "default"
