"""Stored settings: the config round-trips exactly; anything unusable reads as 'none stored'."""

from __future__ import annotations

import math

from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.ui.common import settings as stored


def test_config_round_trips_exactly():
    settings = QtCore.QSettings()
    config = SimConfig(
        num_layers=3, learning_rate=1e-7, weight_scale=0.123456789, seed=4_000_000_000, dtype="float32"
    )
    stored.save_config(settings, config)
    settings.sync()
    assert stored.load_config(QtCore.QSettings()) == (config, "")


def test_nothing_stored_is_not_a_problem():
    assert stored.load_config(QtCore.QSettings()) == (None, "")


def test_unusable_configs_give_a_reason():
    settings = QtCore.QSettings()
    for text, reason in (
        ('{"hidden_size": 0}', "hidden_size must be between 1 and 1024"),
        ('{"colour": 1}', "unknown setting 'colour'"),
        ("{not json", "could not be used"),
        ("[1]", "not a table"),
    ):
        settings.setValue(stored.CONFIG_KEY, text)
        config, note = stored.load_config(settings)
        assert config is None and reason in note, (text, note)


def test_speed_round_trips_and_falls_back():
    settings = QtCore.QSettings()
    stored.save_speed(settings, math.inf)
    assert math.isinf(stored.load_speed(settings, 5.0))
    stored.save_speed(settings, 20.0)
    assert stored.load_speed(settings, 5.0) == 20.0
    for bad in ("fast", "-3", "nan"):
        settings.setValue(stored.SPEED_KEY, bad)
        assert stored.load_speed(settings, 5.0) == 5.0


def test_byte_arrays_only_when_present():
    assert stored.byte_array(None) is None
    assert stored.byte_array(QtCore.QByteArray()) is None
    assert stored.byte_array("text") is None
    assert stored.byte_array(b"\x01\x02") == QtCore.QByteArray(b"\x01\x02")
