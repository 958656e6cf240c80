"""Tests of gradsim.engine.resources: a run's time on this machine, memory advice and refusals,
and the memory model against a measured peak."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gradsim.engine import resources
from gradsim.engine.config import SimConfig


def test_step_seconds_adds_products_elementwise_passes_and_calls():
    config = SimConfig(num_layers=2, hidden_size=8, seq_len=5, batch_size=3)
    speed = resources.MachineSpeed(flops=1e9, numbers=1e8, call=1e-6)
    cells = 2 * 5 * 3 * 8
    expected = config.step_flops / 1e9 + 30 * cells / 1e8 + 12 * 2 * 5 * 1e-6
    assert resources.step_seconds(config, speed) == pytest.approx(expected)
    normed = config.replace(normalization="batch")
    assert resources.step_seconds(normed, speed) > resources.step_seconds(config, speed)
    measured = resources.machine_speed()
    assert measured.flops >= 1e8 and measured.numbers >= 1e7 and measured.call > 0


def test_memory_advice_names_the_setting_and_the_largest_value_that_fits():
    config = SimConfig(num_layers=2, hidden_size=128, seq_len=500, batch_size=256)
    budget = config.memory_bytes // 4
    advice = resources.memory_advice(config, budget)
    value = int(advice.split("lower batch_size to ")[1].split()[0])
    assert (
        config.replace(batch_size=value).memory_bytes
        <= budget
        < config.replace(batch_size=value + 1).memory_bytes
    )
    # When the batch alone cannot do it, the next size setting is named.
    tiny = resources.memory_terms(config.replace(batch_size=1))
    assert resources.memory_advice(config, sum(tiny.values()) - 1).startswith("lower seq_len to ")
    assert resources.memory_culprit(config, budget) == "batch_size"


def test_check_resources_refuses_what_cannot_fit_and_warns_about_half():
    config = SimConfig(num_layers=2, hidden_size=128, seq_len=500, batch_size=64)
    needed = config.memory_bytes
    fast = 0.01
    refused_check = resources.check_resources(config, available=needed - 1, seconds=fast)
    assert refused_check.refusal is not None and refused_check.warnings == ()
    assert refused_check.refusal.startswith(f"this run would need about {needed / 2**20:.1f} MiB")
    assert (
        "more than the memory free now" in refused_check.refusal
        and "lower batch_size to " in refused_check.refusal
    )
    assert refused_check.field == "batch_size"
    half = resources.check_resources(config, available=needed + 1, seconds=fast)
    assert (
        half.refusal is None
        and len(half.warnings) == 1
        and "more than half the memory free" in half.warnings[0]
    )
    nothing_to_say = resources.ResourceCheck(None, ())
    assert resources.check_resources(config, available=4 * needed, seconds=fast) == nothing_to_say
    assert resources.check_resources(config, available=None, seconds=fast) == nothing_to_say  # unknown memory
    slow = resources.check_resources(config, available=4 * needed, seconds=resources.SLOW_STEP_SECONDS + 1)
    assert slow.refusal is None and slow.warnings[0].startswith(
        "one training step of this run should take about 11 s"
    )


def test_available_memory_is_read_from_meminfo():
    available = resources.available_memory_bytes()
    if not os.path.exists("/proc/meminfo"):
        assert available is None
        return
    with open("/proc/meminfo") as handle:
        line = next(line for line in handle if line.startswith("MemAvailable:"))
    assert abs(available - int(line.split()[1]) * 1024) < 2**30  # it moves while we read


_PEAK_CHILD = """
import json, os, sys
import numpy as np
import gradsim.engine.simulation as simulation
from gradsim.engine.config import SimConfig
np.ones((64, 64)) @ np.ones((64, 64))
with open("/proc/self/statm") as statm:
    resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
sim = simulation.Simulation(SimConfig(**json.loads(sys.argv[1])))
sim.train_step()
sim.train_step()
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(resident, peak, flush=True)
"""


def _run_memory(settings: dict) -> int:
    """Peak RSS of a child taking two training steps, minus what it had resident after its imports.

    The child reads its own high-water mark (VmHWM) after exec: the rusage of a child counts the
    parent's resident memory at the fork, which under a long test session is the larger number.
    """
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, json.dumps(settings)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    resident, peak = (int(value) for value in completed.stdout.split())
    return peak - resident


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux only")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_memory_estimate_matches_the_measured_peak(dtype):
    # The benchmark (benchmarks/bench_memory.py) checks 8 configs in both dtypes; here two small
    # ones (~100-300 MiB) against the peak RSS of a child process (ru_maxrss is in KiB on Linux).
    for sizes in (
        {"num_layers": 2, "hidden_size": 64, "seq_len": 400, "batch_size": 128},
        {"num_layers": 3, "hidden_size": 32, "seq_len": 300, "batch_size": 256, "activation": "relu"},
    ):
        config = SimConfig(**sizes, dtype=dtype)
        measured = _run_memory({**sizes, "dtype": dtype})
        assert abs(config.memory_bytes / measured - 1) < 0.2, (sizes, config.memory_bytes, measured)


def test_config_module_still_offers_every_resource_name():
    # resources.py was split from config.py: the old import path gives the same objects.
    from gradsim.engine import config

    for name in ("MEMORY_LIMIT_BYTES", "check_resources", "step_seconds", "memory_terms", "ResourceCheck"):
        assert getattr(config, name) is getattr(resources, name)
