"""Shared fixtures for the io tests: small real runs and an exact record comparison."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
from helpers import EXPLODING_TINY

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import replay

# Small enough to be fast; clipping by norm at a threshold the first step's gradient exceeds and
# later ones do not, so `clipped` takes both values.
HEALTHY = SimConfig(
    num_layers=2, hidden_size=6, seq_len=7, batch_size=3, clip_mode="norm", clip_threshold=5.0, seed=3
)
# Large ReLU weights and a large step: iteration 2 overflows (inf in dL/dh, NaN global norm).
EXPLODING = EXPLODING_TINY


def run(config: SimConfig, iterations: int) -> list[StepRecord]:
    """Train ``iterations`` steps (fewer if the run halts) and return the records."""
    return list(replay(config, iterations))


@pytest.fixture(scope="session")
def healthy_run() -> tuple[SimConfig, list[StepRecord]]:
    return HEALTHY, run(HEALTHY, 6)


@pytest.fixture(scope="session")
def exploding_run() -> tuple[SimConfig, list[StepRecord]]:
    records = run(EXPLODING, 10)
    last = records[-1]
    # The fixture is only useful if the run really produced non-finite numbers.
    assert last.nonfinite is not None
    assert not np.all(np.isfinite(last.grad_norms)) or not math.isfinite(last.loss)
    return EXPLODING, records


def _same_float(a: float, b: float) -> bool:
    return type(a) is type(b) is float and (a == b or (math.isnan(a) and math.isnan(b)))


def _assert_same_value(name: str, a: object, b: object) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), name
        assert a.dtype == b.dtype and a.shape == b.shape, (name, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=name, strict=True)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (name, a, b)
        for key in a:
            assert _same_float(a[key], b[key]), (name, key, a[key], b[key])
    elif isinstance(a, float):
        assert _same_float(a, b), (name, a, b)  # type: ignore[arg-type]
    else:
        assert type(a) is type(b) and a == b, (name, a, b)


@pytest.fixture(scope="session")
def assert_records_equal() -> Callable[..., None]:
    """``check(expected, actual, samples=True)``: every field equal bit for bit (NaN equals NaN).

    With ``samples=False`` the pre-activation samples must be the empty ``(L, 0)`` array that
    readers return when a file does not hold them.
    """

    def check(expected: list[StepRecord], actual: list[StepRecord], samples: bool = True) -> None:
        assert len(expected) == len(actual)
        for want, got in zip(expected, actual, strict=True):
            for field in dataclasses.fields(StepRecord):
                a, b = getattr(want, field.name), getattr(got, field.name)
                if field.name == "preactivation_samples" and not samples:
                    assert b.shape == (a.shape[0], 0)
                    continue
                _assert_same_value(field.name, a, b)

    return check


@pytest.fixture(scope="session")
def train() -> Callable[[SimConfig, int], list[StepRecord]]:
    """The :func:`run` helper, for test modules (which cannot import conftest)."""
    return run
