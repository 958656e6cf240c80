"""Sweeps: every grid value equals a single run, in and out of worker processes; progress,
cancellation (no process left behind) and the cache."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.resource_tracker
import os
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from helpers import heavy_spec, small_config

from gradsim.engine import sweep, sweep_executors, theory
from gradsim.engine.config import SimConfig
from gradsim.engine.regime import measure, measure_log10_norms
from gradsim.engine.simulation import Simulation
from gradsim.engine.sweep import (
    STATUS_NO_GRADIENT,
    STATUS_OK,
    STATUS_OVERFLOW,
    STATUS_VANISHED,
    MemoryCache,
    SweepAxis,
    SweepError,
    SweepResult,
    SweepSpec,
    compute_point,
    evaluate_point,
    make_axis,
    run_sweep,
)

SMALL = small_config(num_layers=1, activation="tanh", task="random")


def child_pids() -> set[int]:
    """Live child processes of this process, from /proc, without the interpreter's shared
    resource tracker (one helper process Python keeps for its whole life once any spawned
    process used a lock; it is not a sweep worker)."""
    pids: set[int] = set()
    for thread in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{thread}/children") as handle:
                pids.update(int(pid) for pid in handle.read().split())
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    tracker = getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None)
    pids.discard(tracker)
    return pids


def direct_decades(config: SimConfig, iterations: int) -> float:
    """The value of one seed, computed here without the sweep module."""
    simulation = Simulation(config)
    for _ in range(iterations):
        simulation.train_step()
    x, y = simulation.sample_batch()
    # The regime measure's extreme span, from the log10 norms.
    return measure_log10_norms(np.log10(simulation.forward_backward(x, y).grad_norms)).decades


# -- axes and spec ----------------------------------------------------------------------------
def test_make_axis_rounds_integer_fields_and_drops_repeats():
    axis = make_axis("num_layers", 1, 4, 10)
    assert axis.values == (1, 2, 3, 4)
    assert all(isinstance(v, int) for v in axis.values)
    assert make_axis("seq_len", 10, 40, 4).values == (10, 20, 30, 40)


def test_make_axis_log_spacing_keeps_exact_ends():
    axis = make_axis("learning_rate", 1e-4, 1.0, 5, spacing="log")
    assert axis.values[0] == 1e-4 and axis.values[-1] == 1.0
    np.testing.assert_allclose(np.diff(np.log10(axis.values)), 1.0, rtol=1e-12)
    assert axis.spacing == "log"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("activation", 0, 1, 3), "a sweep axis must be one of"),
        (("weight_scale", 2.0, 1.0, 3), "low <= high"),
        (("weight_scale", 0.0, 1.0, 3, "log"), "positive low end"),
        (("weight_scale", 0.5, 1.0, 0), "between 1 and 200"),
        (("weight_scale", 0.5, 1.0, 3, "cubic"), "linear or log"),
    ],
)
def test_make_axis_refuses_bad_ranges(args, message):
    with pytest.raises(SweepError, match=message):
        make_axis(*args)


def test_axis_values_must_increase_and_be_whole_for_integer_fields():
    with pytest.raises(SweepError, match="strictly increasing"):
        SweepAxis("weight_scale", (1.0, 1.0))
    with pytest.raises(SweepError, match="whole numbers"):
        SweepAxis("seq_len", (10, 10.5))


def test_parse_axis_reads_ranges_log_ranges_and_lists():
    assert sweep.parse_axis("weight_scale=0.5:2.5:5") == make_axis("weight_scale", 0.5, 2.5, 5)
    assert sweep.parse_axis("learning_rate=1e-3:1:4:log") == make_axis("learning_rate", 1e-3, 1.0, 4, "log")
    assert sweep.parse_axis(" seq_len = 10,20,50 ") == SweepAxis("seq_len", (10, 20, 50))
    for text, message in [
        ("seq_len", "FIELD=LOW:HIGH:COUNT"),
        ("seq_len=1:3", "FIELD=LOW:HIGH:COUNT"),
        ("seq_len=a:b:3", "with numbers"),
        ("hidden_size=1:3:3:cubic", "linear or log"),
        ("activation=1,2", "must be one of"),
    ]:
        with pytest.raises(SweepError, match=message):
            sweep.parse_axis(text)


def test_spec_refuses_equal_axes_and_invalid_grid_points():
    axis = make_axis("weight_scale", 0.5, 1.5, 3)
    with pytest.raises(SweepError, match="must be different settings"):
        SweepSpec(SMALL, axis, axis)
    # The top corner of this grid would need more memory than a run may use.
    big = SimConfig(num_layers=16, hidden_size=1024, batch_size=1024, seq_len=10)
    with pytest.raises(SweepError, match=r"seq_len=2000.*GiB"):
        SweepSpec(big, axis, SweepAxis("seq_len", (10, 2000)))
    with pytest.raises(SweepError, match="weight_scale must be greater than 0"):
        SweepSpec(SMALL, SweepAxis("weight_scale", (0.0, 1.0)), make_axis("seq_len", 5, 10, 2))


def test_spec_seeds_count_from_the_base_seed_and_round_trip():
    spec = SweepSpec(
        SMALL.replace(seed=7), make_axis("weight_scale", 0.5, 1.5, 3), make_axis("seq_len", 5, 15, 3), 2, 3
    )
    assert spec.seeds == (7, 8, 9)
    assert spec.shape == (3, 3)
    assert spec.config_at(2, 1) == SMALL.replace(seed=7, weight_scale=1.0, seq_len=15)
    assert SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(SweepError, match="different from each other"):
        SweepSpec(SMALL, spec.x, spec.y, 0, (1, 1))
    with pytest.raises(SweepError, match="iterations must be between 0"):
        SweepSpec(SMALL, spec.x, spec.y, -1)


# -- one point --------------------------------------------------------------------------------
@pytest.mark.parametrize("iterations", [0, 3])
def test_compute_point_is_exactly_a_single_run(iterations):
    config = SMALL.replace(weight_scale=1.3, seed=5)
    assert compute_point(config, iterations, 1) == direct_decades(config, iterations)
    seeds = (5, 11, 12)
    expected = float(np.mean([direct_decades(config.replace(seed=s), iterations) for s in seeds]))
    assert compute_point(config, iterations, seeds) == expected
    # A count counts from the config's seed.
    assert compute_point(config.replace(seed=11), iterations, 2) == float(
        np.mean([direct_decades(config.replace(seed=s), iterations) for s in (11, 12)])
    )


def test_after_training_the_value_is_the_gradient_of_the_next_step():
    config = SMALL.replace(weight_scale=1.1, learning_rate=0.5, seed=2)
    simulation = Simulation(config)
    records = [simulation.train_step() for _ in range(4)]
    # After 3 updates, the 4th training step's gradient; the 1st step's is the one at init.
    assert compute_point(config, 3) == measure(records[3]).decades
    assert compute_point(config, 0) == measure(records[0]).decades
    assert compute_point(config, 3) != compute_point(config, 0)


def test_point_statuses_overflow_vanished_and_no_gradient():
    linear = SMALL.replace(activation="linear", seq_len=400)
    exploded = evaluate_point(linear.replace(weight_scale=50.0), 0)
    assert exploded.status == STATUS_OVERFLOW and np.isnan(exploded.value)
    # Far below float64 (about 1e-800 over 400 steps at 0.01 per step) is a value, not a zero.
    tiny = evaluate_point(linear.replace(weight_scale=0.01), 0)
    assert tiny.status == STATUS_OK and tiny.value < -700
    # Only an exact zero at the first step has vanished (log10 norms: -inf).
    value, status = sweep.gradient_decades(np.array([[-np.inf, 0.0, 1.0]]), 0.1)
    assert np.isnan(value) and status == STATUS_VANISHED
    # No gradient where it enters (e.g. every ReLU off at the last step): no ratio at all.
    # gradient_decades reads log10 norms (-inf where a norm is 0).
    value, status = sweep.gradient_decades(np.array([[0.0, 0.3, -np.inf]]), 0.1)
    assert np.isnan(value) and status == STATUS_NO_GRADIENT
    assert sweep.gradient_decades(np.array([[-3.0, 0.0]]), 0.1) == (-3.0, STATUS_OK)
    assert sweep.gradient_decades(np.array([[0.0, 0.0]]), float("inf"))[1] == STATUS_OVERFLOW
    # The value is the extreme span's: layer 2 falls 5 decades while the corner says -1.
    assert sweep.gradient_decades(np.array([[-1.0, -0.5, 0.0], [-5.0, -2.0, 0.0]]), 0.1) == (-5.0, STATUS_OK)
    # Beyond the float range too (log10 norms of 1e-607).
    assert sweep.gradient_decades(np.array([[-607.0, 0.0]]), 0.1) == (-607.0, STATUS_OK)
    assert sweep.gradient_decades(np.array([[np.inf, 0.0]]), 0.1)[1] == STATUS_OVERFLOW
    assert sweep.gradient_decades(np.array([[np.nan, 0.0]]), 0.1)[1] == STATUS_OVERFLOW
    # A run that blows up while training is an overflow even if some seed stayed finite.
    training = SMALL.replace(activation="relu", learning_rate=80.0, weight_scale=3.0, seq_len=30)
    point = evaluate_point(training, 5, (0, 1))
    assert point.status == STATUS_OVERFLOW


# -- the grid ---------------------------------------------------------------------------------
def mixed_spec() -> SweepSpec:
    """A grid with ok, overflowing and vanished points.

    A ReLU layer over 400 steps: at small weights some step switches every unit off, and the
    gradient before it is exactly 0 (merely tiny gradients are values, not "vanished")."""
    base = SMALL.replace(activation="relu")
    return SweepSpec(base, SweepAxis("weight_scale", (0.01, 0.9, 1.2, 50.0)), SweepAxis("seq_len", (6, 400)))


def test_sweep_in_process_equals_single_runs():
    spec = mixed_spec()
    result = run_sweep(spec, workers=0, cache=None)
    assert result.computed.all() and not result.cancelled
    for row, column in spec.indices():
        point = evaluate_point(spec.config_at(row, column), spec.iterations, spec.seeds)
        assert result.status[row, column] == point.status
        np.testing.assert_array_equal(result.values[row, column], point.value)
        np.testing.assert_array_equal(result.seed_values[row, column], point.seed_values)
    assert result.overflow.tolist() == [[False, False, False, False], [False, False, False, True]]
    assert result.vanished.tolist() == [[False, False, False, False], [True, True, False, False]]
    # The gradient grows with the weight scale.
    assert result.values[0, 0] < result.values[0, 1] < result.values[0, 2] < result.values[0, 3]


def test_sweep_in_processes_equals_in_process_bit_for_bit():
    spec = SweepSpec(
        SMALL,
        make_axis("weight_scale", 0.6, 1.6, 5),
        make_axis("hidden_size", 4, 12, 3),
        iterations=2,
        seeds=2,
    )
    here = run_sweep(spec, workers=0, cache=None)
    there = run_sweep(spec, workers=2, cache=None)
    assert there.workers == 2
    np.testing.assert_array_equal(here.values, there.values)
    np.testing.assert_array_equal(here.seed_values, there.seed_values)
    np.testing.assert_array_equal(here.status, there.status)
    assert compute_point(spec.config_at(2, 4), 2, spec.seeds) == there.values[2, 4]
    assert not child_pids()


def test_progress_reports_every_point_once_and_ends_at_the_total():
    spec = mixed_spec()
    reports = []
    run_sweep(spec, workers=0, cache=None, progress=reports.append)
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    assert reports[-1].done == reports[-1].total == spec.size
    assert reports[-1].remaining_seconds == 0.0
    cells = [(row, column) for report in reports for row, column, _ in report.points]
    assert sorted(cells) == sorted(spec.indices())


def test_cancel_stops_the_workers_and_leaves_no_process():
    spec = heavy_spec()
    cancel = threading.Event()

    def on_progress(report):
        if report.done > report.cached:  # the first computed chunk is back: cancel mid-sweep
            cancel.set()

    result = run_sweep(spec, workers=2, cache=None, progress=on_progress, cancel=cancel)
    assert result.cancelled
    assert 0 < result.computed.sum() < spec.size
    assert np.isnan(result.values[~result.computed]).all()
    assert multiprocessing.active_children() == []
    assert not child_pids()


def test_cancel_by_callable_while_workers_are_busy():
    spec = heavy_spec()
    reports = []
    result = run_sweep(spec, workers=2, cache=None, progress=reports.append, cancel=lambda: len(reports) >= 2)
    assert result.cancelled and result.computed.sum() == reports[-1].done < spec.size
    assert multiprocessing.active_children() == []
    assert not child_pids()


def test_cancel_in_process_stops_between_points():
    spec = mixed_spec()
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = run_sweep(spec, workers=0, cache=None, cancel=cancel)
    assert result.cancelled and result.computed.sum() == 3


def test_repeated_sweep_comes_from_the_cache(monkeypatch):
    spec = mixed_spec()
    cache = MemoryCache()
    first = run_sweep(spec, workers=0, cache=cache)
    assert (first.computed_points, first.cached_points) == (spec.size, 0)
    assert len(cache) == spec.size

    calls = []
    original = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a: calls.append(a) or original(*a))
    second = run_sweep(spec, workers=2, cache=cache)
    assert calls == [] and second.workers == 0
    assert (second.computed_points, second.cached_points) == (0, spec.size)
    np.testing.assert_array_equal(first.values, second.values)
    np.testing.assert_array_equal(first.status, second.status)

    # A sweep that overlaps the first computes only its new points.
    wider = SweepSpec(spec.base, SweepAxis("weight_scale", (0.01, 0.9, 1.2, 50.0, 60.0)), spec.y)
    third = run_sweep(wider, workers=0, cache=cache)
    assert (third.computed_points, third.cached_points) == (2, spec.size)
    assert len(calls) == 2
    # Different seeds or iterations are different points.
    assert sweep.point_key(spec.base, 0, (0,)) != sweep.point_key(spec.base, 0, (1,))
    assert sweep.point_key(spec.base, 0, (0,)) != sweep.point_key(spec.base, 1, (0,))
    # The config's own seed does not matter: the seed list replaces it.
    assert sweep.point_key(spec.base, 0, (0,)) == sweep.point_key(spec.base.replace(seed=9), 0, (0,))


def test_memory_cache_forgets_least_recently_used():
    cache = MemoryCache(max_entries=2)
    point = sweep.PointResult(1.0, STATUS_OK, (1.0,))
    cache.put_many([("a", point), ("b", point)])
    assert cache.get("a") is point
    cache.put_many([("c", point)])
    assert cache.get("b") is None and cache.get("a") is point and len(cache) == 2


# -- worker environment -----------------------------------------------------------------------
def _thread_settings() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in sweep.THREAD_VARIABLES}


def test_workers_start_with_one_blas_thread_and_the_parent_keeps_its_environment():
    before = _thread_settings()
    context = multiprocessing.get_context("spawn")
    with sweep_executors.single_threaded_children():
        executor = ProcessPoolExecutor(1, mp_context=context)
        future = executor.submit(_thread_settings)
    try:
        assert set(future.result(timeout=60).values()) == {"1"}
    finally:
        executor.shutdown()
    assert _thread_settings() == before


# -- result export ----------------------------------------------------------------------------
def test_result_arrays_round_trip_and_json_is_strict():
    result = run_sweep(mixed_spec(), workers=0, cache=None)
    arrays = result.arrays()
    assert all(a.dtype != object for a in arrays.values())
    again = SweepResult.from_arrays(json.loads(json.dumps(result.metadata())), arrays)
    assert again.spec == result.spec
    np.testing.assert_array_equal(again.values, result.values)
    np.testing.assert_array_equal(again.overflow, result.overflow)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["log10_ratio"][1][3] is None
    assert result.config_at(1, 3) == mixed_spec().base.replace(weight_scale=50.0, seq_len=400)


# -- the measured edge ------------------------------------------------------------------------
def synthetic(values, status=None, x_spacing="linear") -> SweepResult:
    values = np.asarray(values, dtype=np.float64)
    ny, nx = values.shape
    xs = tuple(float(v) for v in (np.geomspace(0.1, 10, nx) if x_spacing == "log" else np.arange(1, nx + 1)))
    spec = SweepSpec(
        SMALL, SweepAxis("weight_scale", xs, x_spacing), SweepAxis("seq_len", tuple(range(5, 5 + ny)))
    )
    status = np.zeros((ny, nx), dtype=np.int8) if status is None else np.asarray(status, dtype=np.int8)
    return SweepResult(spec, values, status, values[..., None], np.ones((ny, nx), dtype=bool))


def test_measured_edge_interpolates_the_zero_crossing_of_each_line():
    nan = np.nan
    result = synthetic(
        [
            [-3.0, -1.0, 1.0, 3.0],  # crosses halfway between 2 and 3
            [-4.0, -3.0, -2.0, -1.0],  # never crosses
            [-1.0, nan, 2.0, 3.0],  # overflow at x=2 counts as above 0: halfway
            [-1.0, 0.0, 2.0, 2.0],  # exactly 0 at x=2
        ],
        status=[[0] * 4, [0] * 4, [0, STATUS_OVERFLOW, 0, 0], [0] * 4],
    )
    x, y = sweep.measured_edge(result)
    np.testing.assert_allclose(x, [2.5, nan, 1.5, 2.0])
    np.testing.assert_array_equal(y, [5, 6, 7, 8])
    # Along the other axis: the columns, from the first row down.
    x, y = sweep.measured_edge(synthetic([[-1.0, 1.0], [1.0, 1.0]]), along="seq_len")
    np.testing.assert_allclose(y, [5.5, nan])
    np.testing.assert_array_equal(x, [1.0, 2.0])
    with pytest.raises(SweepError, match="not an axis"):
        sweep.measured_edge(result, along="hidden_size")


def test_measured_edge_on_a_log_axis_interpolates_in_log10():
    # Values -1 at 0.1 and +1 at 1 (log10: -1 and 0) cross at log10 = -0.5.
    x, _ = sweep.measured_edge(synthetic([[-1.0, 1.0, 2.0]], x_spacing="log"))
    np.testing.assert_allclose(x, [10**-0.5])


# -- the theory's critical line ---------------------------------------------------------------
def wide(activation: str, **changes) -> SimConfig:
    """Wide enough for mean field (hidden 128), cheap enough for a test (batch 4, 25 steps)."""
    return SimConfig(
        num_layers=1,
        hidden_size=128,
        seq_len=25,
        batch_size=4,
        activation=activation,
        task="random",
        **changes,
    )


@pytest.mark.parametrize(("activation", "low", "high"), [("linear", 0.5, 1.5), ("relu", 1.0, 2.0)])
def test_critical_line_is_within_one_cell_of_the_measured_edge(activation, low, high):
    spec = SweepSpec(
        wide(activation), make_axis("weight_scale", low, high, 21), SweepAxis("seq_len", (20, 30)), 0, 3
    )
    result = run_sweep(spec, workers=2, cache=None)
    line = sweep.critical_line(spec)
    assert line.available and line.reason is None and line.notes == ()
    np.testing.assert_array_equal(line.y, [20, 30])
    # Linear: 1; ReLU: sqrt(2) (half the units pass the gradient), whatever the sequence length.
    np.testing.assert_allclose(line.x, {"linear": 1.0, "relu": np.sqrt(2.0)}[activation], rtol=1e-6)
    measured, rows = sweep.measured_edge(result)
    np.testing.assert_array_equal(rows, line.y)
    cell = (high - low) / 20
    assert np.all(np.abs(measured - line.x) <= cell), (measured, line.x)


def test_critical_line_for_tanh_is_close_to_the_measured_edge_with_weight_scale_on_y():
    low, high = 1.5, 3.5
    spec = SweepSpec(
        wide("tanh"), SweepAxis("seq_len", (20, 30)), make_axis("weight_scale", low, high, 21), 0, 3
    )
    result = run_sweep(spec, workers=2, cache=None)
    line = sweep.critical_line(spec)
    np.testing.assert_array_equal(line.x, [20, 30])
    # The random task's inputs push tanh units towards saturation: the edge lies well above 1.
    assert np.all((line.y > 2.0) & (line.y < 3.0))
    columns, measured = sweep.measured_edge(result)
    np.testing.assert_array_equal(columns, line.x)
    assert np.all(np.abs(measured - line.y) <= 2 * (high - low) / 20), (measured, line.y)
    assert np.all(np.abs(measured / line.y - 1) < 0.1)


def test_critical_line_is_absent_where_theory_says_nothing():
    x, y = make_axis("weight_scale", 0.5, 1.5, 3), make_axis("seq_len", 10, 30, 3)
    identity = sweep.critical_line(SweepSpec(wide("tanh", init="identity"), x, y))
    assert not identity.available and "identity" in identity.reason
    batch_norm = sweep.critical_line(SweepSpec(wide("tanh", normalization="batch"), x, y))
    assert batch_norm.x is None and "batch norm" in batch_norm.reason
    # No weight scale axis: no line, but the reason says what theory predicts for the plane.
    plane = sweep.critical_line(
        SweepSpec(wide("relu", weight_scale=1.0), y, make_axis("num_layers", 1, 3, 3))
    )
    assert plane.x is None
    # ReLU, one layer, 25 steps: factor 1/sqrt(2) per step, 24 steps: -3.6 decades.
    assert "critical weight scale is 1.41" in plane.reason and "-3.6 decades (vanishing)" in plane.reason
    with pytest.raises(SweepError, match="criterion must be one of"):
        sweep.critical_line(SweepSpec(wide("relu"), x, y), criterion="nearest")


def test_critical_line_notes_layers_and_training():
    spec = SweepSpec(
        wide("relu"), make_axis("weight_scale", 1.0, 2.0, 3), make_axis("num_layers", 1, 3, 3), 5
    )
    line = sweep.critical_line(spec)
    assert line.criterion == "span"
    # One layer: the time span is 0 exactly where the factor is 1. More layers: the gradient that
    # comes down from the layers above at every step makes the lower layers' spans grow, so the
    # edge moves lower.
    assert line.x[0] == pytest.approx(np.sqrt(2.0), rel=1e-6) and line.x[2] < line.x[1] < line.x[0]
    assert any("after 5 training steps" in note for note in line.notes)
    assert not any("several layers" in note for note in line.notes)
    # The top layer's own factor ignores the other layers: straight line, and a note says so.
    step = sweep.critical_line(spec, criterion="step")
    np.testing.assert_allclose(step.x, np.sqrt(2.0), rtol=1e-6)
    assert any("several layers" in note for note in step.notes)
    paths = sweep.critical_line(spec, criterion="end_to_end")
    assert paths.x[0] == pytest.approx(np.sqrt(2.0), rel=1e-6) and paths.x[2] < paths.x[1] < paths.x[0]


def _extreme_span_grid(spec: SweepSpec) -> SweepResult:
    """The grid of the sweep's measured quantity, the signed decades of the most extreme span
    (every layer's time span and the depth span, :meth:`theory.Spans.extreme`), averaged over
    the spec's seeds, at initialisation."""
    ny, nx = spec.shape
    seeds = len(spec.seeds)  # type: ignore[arg-type]
    seed_values = np.empty((ny, nx, seeds))
    for i, j in spec.indices():
        for k, seed in enumerate(spec.seeds):  # type: ignore[union-attr]
            simulation = Simulation(spec.config_at(i, j).replace(seed=seed))
            x, y = simulation.sample_batch()
            norms = simulation.forward_backward(x, y).grad_norms
            seed_values[i, j, k] = theory.span_decades(np.log10(norms)).extreme()
    values = seed_values.mean(axis=2)
    status = np.zeros((ny, nx), dtype=np.int8)
    return SweepResult(spec, values, status, seed_values, np.ones((ny, nx), dtype=bool))


@pytest.mark.parametrize(
    ("activation", "init", "low", "high"),
    [("tanh", "orthogonal", 1.0, 2.0), ("linear", "gaussian", 0.7, 1.2), ("relu", "gaussian", 1.0, 1.8)],
)
def test_critical_line_of_stacks_is_within_one_cell_of_the_measured_edge(activation, init, low, high):
    # 1 to 4 layers, wide (256) for mean field; the measured value is the most extreme span,
    # which jumps from the most negative to the most positive span at the edge.
    base = SimConfig(
        hidden_size=256, seq_len=25, batch_size=8, activation=activation, init=init, task="random"
    )
    count = 9
    x_axis, layers = make_axis("weight_scale", low, high, count), make_axis("num_layers", 1, 4, 4)
    spec = SweepSpec(base, x_axis, layers, 0, 2)
    line = sweep.critical_line(spec)
    assert line.available and line.criterion == "span"
    np.testing.assert_array_equal(line.y, [1, 2, 3, 4])
    measured, rows = sweep.measured_edge(_extreme_span_grid(spec))
    np.testing.assert_array_equal(rows, line.y)
    cell = (high - low) / (count - 1)
    assert np.all(np.abs(measured - line.x) <= cell), (measured, line.x)
