"""What the window remembers between launches (QSettings): geometry, splitters, last config, speed.

The config is stored as JSON text of :meth:`SimConfig.to_dict`: an INI file would turn numbers
into strings, and JSON keeps ints, floats and names exactly. Reading is forgiving: a missing,
corrupt or out-of-range stored config yields ``None`` and a note, and the window falls back to
the default preset.
"""

from __future__ import annotations

import json
import math
from typing import Any

from PySide6 import QtCore

from gradsim.engine.config import ConfigError, SimConfig

ORGANIZATION = "gradsim"
APPLICATION = "gradsim"

GEOMETRY_KEY = "window/geometry"
STATE_KEY = "window/state"
SPLITTER_KEY = "window/splitter"
DASHBOARD_KEY = "window/dashboard"
CONFIG_KEY = "run/config"
SPEED_KEY = "run/speed"


def save_config(settings: QtCore.QSettings, config: SimConfig) -> None:
    """Store ``config`` as the last used one."""
    settings.setValue(CONFIG_KEY, json.dumps(config.to_dict()))


def load_config(settings: QtCore.QSettings) -> tuple[SimConfig | None, str]:
    """The stored config, or ``(None, reason)`` if there is none or it cannot be used.

    The reason is empty when nothing was stored (a first launch is not a problem).
    """
    text = settings.value(CONFIG_KEY)
    if text is None:
        return None, ""
    try:
        data = json.loads(str(text))
        if not isinstance(data, dict):
            raise ConfigError("the stored settings are not a table of values")
        return SimConfig.from_dict(data), ""
    except (ValueError, TypeError) as error:  # ConfigError and JSONDecodeError are ValueErrors
        return None, f"the last session's settings could not be used ({error}); using the defaults"


def save_speed(settings: QtCore.QSettings, iterations_per_second: float) -> None:
    """Store the speed (``math.inf``: as fast as possible)."""
    settings.setValue(SPEED_KEY, "max" if math.isinf(iterations_per_second) else repr(iterations_per_second))


def load_speed(settings: QtCore.QSettings, default: float) -> float:
    """The stored speed, or ``default`` if none or unreadable."""
    text = settings.value(SPEED_KEY)
    if text is None:
        return default
    if str(text) == "max":
        return math.inf
    try:
        speed = float(str(text))
    except ValueError:
        return default
    return speed if math.isfinite(speed) and speed > 0 else default


def byte_array(value: Any) -> QtCore.QByteArray | None:
    """A stored QByteArray (geometry, splitter state), or None if absent or of another type."""
    if isinstance(value, QtCore.QByteArray) and not value.isEmpty():
        return value
    if isinstance(value, bytes) and value:
        return QtCore.QByteArray(value)
    return None
