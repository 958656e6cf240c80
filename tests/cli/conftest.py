"""Shared set-ups of the command-line tests: ``gradsim`` called in-process, the engine's own run
to compare its files with, and pictures read back as pixels.

Test modules cannot import conftest, so the helpers are fixtures. Every test here fails on a Qt
warning (the commands that draw run Qt offscreen and must stay quiet).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gradsim import cli
from gradsim.engine.config import SimConfig
from gradsim.engine.presets import DEFAULT_PRESET, list_presets, load_preset
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import replay
from gradsim.io.runexport import records_to_arrays

HERE = Path(__file__).parent


@dataclasses.dataclass(frozen=True)
class Network:
    """A config's settings and the ``--set KEY=VALUE`` arguments that ask for them."""

    settings: dict[str, int | str]

    @property
    def args(self) -> list[str]:
        return [arg for key, value in self.settings.items() for arg in ("--set", f"{key}={value}")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run_cli("run", "-n", "2")``: gradsim's exit code, stdout and stderr, called in-process."""

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def small() -> Network:
    """A network small enough for a run in milliseconds (2 layers x 6 units, 8 steps)."""
    return Network({"num_layers": 2, "hidden_size": 6, "seq_len": 8, "batch_size": 4})


@pytest.fixture(scope="session")
def drawn() -> Network:
    """A small tanh network with enough time steps (15) for a picture of its plots."""
    return Network({"num_layers": 2, "hidden_size": 6, "seq_len": 15, "batch_size": 4, "activation": "tanh"})


@pytest.fixture(scope="session")
def default_config() -> SimConfig:
    """The config the commands start from without --preset or --config."""
    names = [preset.name for preset in list_presets()]
    return load_preset(DEFAULT_PRESET) if DEFAULT_PRESET in names else SimConfig()


def _engine_run(config: SimConfig, iterations: int) -> list[StepRecord]:
    return list(replay(config, iterations))


@pytest.fixture(scope="session")
def engine_run() -> Callable[[SimConfig, int], list[StepRecord]]:
    """``engine_run(config, iterations)``: the records of the engine's own run (fewer if it halts)."""
    return _engine_run


def _assert_same_records(
    expected: list[StepRecord], actual: list[StepRecord], config: SimConfig, samples: bool = True
) -> None:
    want = records_to_arrays(expected, config, include_samples=samples)
    got = records_to_arrays(actual, config, include_samples=samples)
    assert list(want) == list(got)
    for name in want:
        np.testing.assert_array_equal(want[name], got[name], err_msg=name, strict=True)


@pytest.fixture(scope="session")
def assert_same_records() -> Callable[..., None]:
    """``assert_same_records(expected, actual, config, samples=True)``: every field of every record
    equal, bit for bit (the pre-activation samples too if ``samples``)."""
    return _assert_same_records


def _pixels(path: Path) -> np.ndarray:
    from PySide6 import QtGui

    image = QtGui.QImage(str(path))
    assert not image.isNull(), path
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


@pytest.fixture(scope="session")
def pixels() -> Callable[[Path], np.ndarray]:
    """``pixels(path)``: the picture at ``path`` as ``(height, width, 3) uint8`` RGB."""
    return _pixels
