"""Smoke tests for benchmarks/: each benchmark's code runs on a tiny size, so it cannot rot.

No timing is asserted here (speed is judged by running the benchmarks by hand, see
benchmarks/README.md); what is asserted is that the code measures what it says it measures.
bench_gui_latency.py is not run here: its ``main`` makes its own QApplication and times fixed
configs for seconds each, with no tiny setting.
"""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np
import pytest

from gradsim.engine.activations import make_activation, step_tanh
from gradsim.engine.simulation import Simulation

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (the folder is not a package)."""
    module_name = f"_benchmark_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_engine() -> ModuleType:
    return load_benchmark("bench_engine")


TINY = (2, 3, 4, 2)  # B, H, T, L


# -- bench_engine ---------------------------------------------------------------------------------
def test_size_parse_accepts_bxhxtxl_and_rejects_the_rest(bench_engine: ModuleType) -> None:
    assert bench_engine.Size.parse("32x128x100x2") == bench_engine.Size(32, 128, 100, 2)
    for bad in ("32x128x100", "32x0x100x2", "axbxcxd", "32x128x100x2x1"):
        with pytest.raises(Exception, match="BxHxTxL"):
            bench_engine.Size.parse(bad)


def test_default_sizes_include_the_issue_sizes(bench_engine: ModuleType) -> None:
    labels = {size.label for size in bench_engine.DEFAULT_SIZES}
    assert {
        "B=32 H=128 T=100 L=2",
        "B=32 H=256 T=100 L=2",
        "B=16 H=64 T=200 L=4",
        "B=64 H=512 T=50 L=1",
    } <= labels


def test_config_is_the_size_asked_for(bench_engine: ModuleType) -> None:
    config = bench_engine.make_config(bench_engine.Size(5, 7, 11, 3), "float32")
    assert (config.batch_size, config.hidden_size, config.seq_len, config.num_layers) == (5, 7, 11, 3)
    assert config.activation == "tanh" and config.dtype == "float32"
    assert config.normalization == "none" and config.clip_mode == "none"
    assert (config.init, config.task, config.optimizer) == ("gaussian", "adding", "sgd")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_floor_computes_the_products_of_a_step(bench_engine: ModuleType, dtype: str) -> None:
    size = bench_engine.Size(*TINY)
    floor = bench_engine.MatmulFloor(size, 2, dtype, np.random.default_rng(1))
    floor.run()
    batch, hidden, steps, _ = TINY
    for layer, a in enumerate(floor.layers):
        assert all(array.dtype == np.dtype(dtype) for array in a.values())
        for name in ("weight_ih", "weight_hh"):
            np.testing.assert_array_equal(a[f"{name}_t"], a[name].T)
            assert a[f"{name}_t"].flags.c_contiguous
        width = 2 if layer == 0 else hidden
        tolerance = 1e-5 if dtype == "float32" else 1e-12
        # forward: input projection and every recurrent product
        np.testing.assert_allclose(a["projected"], a["inputs"] @ a["weight_ih"].T, rtol=tolerance)
        expected_recurrent = np.einsum("tbj,ij->tbi", a["states"][:-1], a["weight_hh"])
        np.testing.assert_allclose(a["recurrent"], expected_recurrent, rtol=tolerance)
        # backward: the last product of the reversed loop (t = 0), then the three big ones
        np.testing.assert_allclose(a["carry"], a["pre_grad"][0] @ a["weight_hh"], rtol=tolerance)
        flat_pre = a["pre_grad"].reshape(steps * batch, hidden)
        flat_states = a["states"][:-1].reshape(steps * batch, hidden)
        np.testing.assert_allclose(a["grad_hh"], flat_pre.T @ flat_states, rtol=tolerance)
        np.testing.assert_allclose(a["grad_ih"], flat_pre.T @ a["inputs"], rtol=tolerance)
        assert a["grad_ih"].shape == (hidden, width)
        if layer > 0:
            np.testing.assert_allclose(a["below"], flat_pre @ a["weight_ih"], rtol=tolerance)


def test_floor_flops_count_every_product(bench_engine: ModuleType) -> None:
    batch, hidden, steps, layers = 2, 3, 4, 2
    floor = bench_engine.MatmulFloor(
        bench_engine.Size(batch, hidden, steps, layers), 5, "float64", np.random.default_rng(0)
    )
    n = steps * batch
    layer0 = n * 5 * hidden + n * hidden * hidden + 2 * n * hidden * hidden + n * hidden * 5
    layer1 = n * hidden * hidden + n * hidden * hidden + 2 * n * hidden * hidden + 2 * n * hidden * hidden
    assert floor.flops() == 2.0 * (layer0 + layer1)


def test_measure_engine_times_every_part(bench_engine: ModuleType) -> None:
    timing = bench_engine.measure_engine(bench_engine.Size(*TINY), "float64", repeats=2, warmup=1)
    for value in (timing.forward_backward, timing.train_step, timing.floor, timing.floor_gflops):
        assert np.isfinite(value) and value > 0
    assert set(timing.breakdown) == {"forward", "backward", "spectral_norms", "exact_spectral_norms"}
    assert "certified Lanczos" in timing.spectral_counts
    assert all(v > 0 for v in timing.breakdown.values())
    assert timing.faults_per_step >= 0 and timing.best_ratio > 0


def test_engine_callables_use_the_engine_on_one_fixed_batch(bench_engine: ModuleType) -> None:
    functions, _ = bench_engine.engine_callables(bench_engine.Size(*TINY), "float64", seed=3)
    first = functions["forward_backward"]()
    second = functions["forward_backward"]()
    assert first.loss == second.loss  # same batch, no update in between
    simulation = Simulation(bench_engine.make_config(bench_engine.Size(*TINY), "float64").replace(seed=3))
    x, y = simulation.sample_batch()
    assert first.loss == simulation.forward_backward(x, y).loss


def test_interleaved_times_runs_each_function_once_per_round(bench_engine: ModuleType) -> None:
    calls: list[str] = []
    samples = bench_engine.interleaved_times(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1
    )
    assert calls == ["a", "b"] * 4
    assert set(samples) == {"a", "b"} and all(len(v) == 3 for v in samples.values())


def test_main_prints_the_table_for_a_tiny_size(
    bench_engine: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--sizes", "2x3x4x2", "--repeats", "1", "--warmup", "0", "--dtypes", "float64", "--no-torch"]
    assert bench_engine.main(argv) == 0
    out = capsys.readouterr().out
    assert "OPENBLAS_CORETYPE=" in out
    assert "fb/floor" in out and "B=2 H=3 T=4 L=2" in out
    assert "breakdown" in out


def test_torch_step_has_the_engine_parameter_shapes(bench_engine: ModuleType) -> None:
    torch = pytest.importorskip("torch")
    size = bench_engine.Size(*TINY)
    simulation = Simulation(bench_engine.make_config(size, "float64"))
    task = simulation.task
    step = bench_engine.torch_step(size, "float64", task.input_size, task.output_size)
    assert np.isfinite(step())
    network = torch.nn.RNN(task.input_size, size.hidden, num_layers=size.layers, batch_first=True)
    torch_shapes = {name: tuple(p.shape) for name, p in network.named_parameters()}
    engine_shapes = {name: p.shape for name, p in simulation.params.items() if not name.startswith("readout")}
    assert torch_shapes == engine_shapes


FAULTS_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import bench_engine
if sys.argv[2] == "reuse":
    assert bench_engine.reuse_freed_memory()

def four_fresh_arrays():
    # 4 x 2 MiB alive at once, as a step's temporaries are; 2048 pages of 4 KiB in all
    arrays = [np.ones(1 << 18) for _ in range(4)]
    return sum(float(a[-1]) for a in arrays)

print(bench_engine.faults_per_call(four_fresh_arrays))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_reuse_freed_memory_removes_the_page_faults_of_fresh_arrays() -> None:
    # In a fresh interpreter each: mallopt changes the whole process.
    def faults(mode: str) -> float:
        command = [sys.executable, "-c", FAULTS_SCRIPT, str(BENCHMARKS), mode]
        return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

    default, reused = faults("default"), faults("reuse")
    assert default > 1000  # glibc hands the freed blocks back and maps them afresh each call
    assert reused < 10


# -- the other benchmarks -------------------------------------------------------------------------
class CommandLine(NamedTuple):
    """A benchmark's tiny command line, what its output must say, whether it draws (it needs a
    QApplication) and what its ``main()`` returns."""

    arguments: str
    says: tuple[str, ...]
    draws: bool = False
    returns: int | None = None


COMMAND_LINES = {
    "bench_sweep": CommandLine("--size 2 --repeats 1", ("grid 2 x 2 = 4 points", "speed-up")),
    "bench_backprop_steps": CommandLine(
        "--layers 2 --seq-len 3 --batch 2 --hidden 3 --repeats 1", ("6 cells", "session.advance() alone"),
        draws=True, returns=0,
    ),
    "bench_redraw": CommandLine(
        "--iterations 3 --frames 4 --seq-len 5 --layers 1 --width 600 --height 400",
        ("training 7 iterations of T=5, L=1", "live frame"), draws=True,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", COMMAND_LINES)
def test_a_benchmark_runs_its_tiny_command_line(
    name: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command_line = COMMAND_LINES[name]
    if command_line.draws:
        request.getfixturevalue("qapp")
    benchmark = load_benchmark(name)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *command_line.arguments.split()])
    assert benchmark.main() == command_line.returns
    out = capsys.readouterr().out
    for words in command_line.says:
        assert words in out


def test_bench_animate_compares_a_tiny_animation_with_its_training(
    qapp: object, capsys: pytest.CaptureFixture[str]
) -> None:
    bench_animate = load_benchmark("bench_animate")
    figures = bench_animate.main(["--preset", "fix-fewer-steps", "--iterations", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "gradsim animate --preset fix-fewer-steps --iterations 2 --every 1 --plot gradient" in out
    assert "ms a frame for 2 frames (goal < 50)" in out and "in process (cpu): 2 training steps" in out
    assert set(figures) == {"wall_ms_per_frame", "cpu_ms_per_frame", "in_process_ms_per_frame"}
    assert all(np.isfinite(value) for value in figures.values())


# -- bench_gated ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bench_gated_floor_and_engine_do_what_they_say(cell: str, capsys) -> None:
    bench_gated = load_benchmark("bench_gated")
    size = bench_gated.Size(*TINY)
    assert {s.label for s in bench_gated.DEFAULT_SIZES} >= {"B=32 H=128 T=100 L=2"}
    floor = bench_gated.GatedFloor(cell, size, 2, "float64", np.random.default_rng(0))
    floor.run()
    blocks = 4 if cell == "lstm" else 3
    batch, hidden, steps, _ = TINY
    for layer, a in enumerate(floor.layers):
        assert a["weight_hh"].shape == (blocks * hidden, hidden)
        np.testing.assert_allclose(a["projected"], a["inputs"] @ a["weight_ih_t"], rtol=1e-12)
        np.testing.assert_allclose(a["recurrent"], a["states"][steps - 1] @ a["weight_hh_t"], rtol=1e-12)
        np.testing.assert_allclose(a["carry"], a["gate_grad"][0] @ a["weight_hh"], rtol=1e-12)
        flat = a["gate_grad"].reshape(steps * batch, -1)
        np.testing.assert_allclose(
            a["grad_hh"], flat.T @ a["states"][:-1].reshape(steps * batch, -1), rtol=1e-12
        )
        if layer > 0:
            np.testing.assert_allclose(a["below"], flat @ a["weight_ih"], rtol=1e-12)
    # The libm reference: one exp per sigmoid gate value and one tanh per tanh value, every step.
    libm = bench_gated.Transcendentals(cell, size, "float64", np.random.default_rng(1))
    libm.run()
    assert libm.calls == steps * size.layers
    assert libm.gates.shape == (batch, (3 if cell == "lstm" else 2) * hidden)
    assert len(libm.tanh_inputs) == (2 if cell == "lstm" else 1)
    np.testing.assert_array_equal(libm.out_gates, np.exp(libm.gates))
    last = libm.tanh_inputs[-1]  # the engine's tanh, as the engine calls it
    np.testing.assert_array_equal(libm.out, step_tanh(last, np.empty_like(last), np.empty_like(last)))
    config = bench_gated.make_config(cell, size, "float64")
    run = bench_gated.engine_pass(config)
    simulation = Simulation(config)
    assert run() == run() == simulation.forward_backward(*simulation.sample_batch()).loss
    bench_gated.main(["--repeats", "1", "--warmup", "0", "--sizes", "2x3x4x2", "--no-torch"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[3:]] == ["lstm", "gru"]


def test_bench_gated_measures_in_fresh_processes_and_gives_the_range(capsys) -> None:
    bench_gated = load_benchmark("bench_gated")
    options = ["--repeats", "1", "--warmup", "0", "--sizes", "2x3x4x2", "--no-torch", "--processes", "2"]
    bench_gated.main(options)
    lines = capsys.readouterr().out.splitlines()
    assert "in each of 2 processes" in lines[0]
    rows = lines[3:]
    assert [line.split()[0] for line in rows] == ["lstm", "gru"]
    for line in rows:
        low, high = (float(value) for value in line.rsplit("(", 1)[1].rstrip(")").split("-"))
        median = float(line.split()[-4])  # fb/floor, then (floor+libm)/floor, "-" (no torch), the range
        assert low <= median <= high


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc/self/task/*/schedstat")
def test_the_gap_explainer_reads_how_long_the_gui_thread_ran_and_waited(qapp) -> None:
    import threading
    import time

    latency = load_benchmark("bench_gui_latency")
    schedule = latency.thread_schedule()
    assert threading.get_native_id() in schedule
    explainer = latency.GapExplainer()
    explainer.scheduling.append((time.perf_counter(), latency.thread_schedule()))
    start = time.perf_counter()
    while time.perf_counter() - start < 0.05:  # 50 ms on a core
        pass
    end = time.perf_counter()
    explainer.scheduling.append((end, latency.thread_schedule()))
    text = explainer._scheduling_in(start, end)
    ran = float(text.split("GUI thread ran ")[1].split(" ms")[0])
    assert 20.0 <= ran <= 1000.0, text  # the busy loop's 50 ms (less if it waited for a core)
    assert "no sample" in explainer._scheduling_in(end + 1.0, end + 2.0)


# -- bench_budget ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bench_budget_parts_compute_what_the_engine_computes(dtype: str) -> None:
    budget = load_benchmark("bench_budget")
    functions, arrays = budget.part_callables(budget.Size(4, 8, 5, 2), dtype)
    assert tuple(functions) == budget.PARTS
    for function in functions.values():
        function()
    tanh = make_activation("tanh")
    for layer in range(2):
        z = arrays["pre"][layer]
        summed = z + arrays["product"]  # the recurrence's add, one step at a time
        expected = np.empty_like(z)
        for t in range(z.shape[0]):
            tanh.forward(summed[t], out=expected[t], scratch=np.empty_like(expected[t]))
        np.testing.assert_array_equal(arrays["states"][layer][1:], expected)
        if not arrays["fused"]:
            np.testing.assert_array_equal(arrays["derivative"][layer], tanh.derivative(z, None))
    # the backward steps end on layer 0, which adds the gradient from above and multiplies by f'
    np.testing.assert_array_equal(arrays["layer_grad"], arrays["outside"] + arrays["carry"])
    np.testing.assert_array_equal(arrays["pre_grad"], arrays["layer_grad"] * arrays["derivative"][0])


def test_bench_budget_table_adds_up_the_parts() -> None:
    budget = load_benchmark("bench_budget")
    medians = {"floor": 0.010, **{part: 0.0005 for part in budget.PARTS}}  # 8 parts of 0.5 ms
    lines = budget.format_rows([(budget.Size(32, 128, 100, 2), "float64", medians)])
    row = lines[-1].split()
    assert row[-1] == "1.40"  # (10 + 4) / 10
    assert row[-2] == "4.00" and "3.00" in row  # the sum, and the budget 0.3 x 10 ms
    assert budget.main(["--sizes", "2x3x4x2", "--repeats", "1", "--warmup", "0", "--dtypes", "float32"]) == 0
