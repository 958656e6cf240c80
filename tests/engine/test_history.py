"""RunHistory: bounded memory, thinning that keeps the whole run, arrays that match the records."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.history import RunHistory
from gradsim.engine.records import NonFiniteEvent, StepRecord


def record(iteration: int, nonfinite: bool = False) -> StepRecord:
    """A record whose every number encodes its iteration, so kept entries can be traced back."""
    value = float(iteration)
    return StepRecord(
        iteration=iteration,
        loss=1.0 / value,
        grad_norms=np.array([[value, 2 * value, 3 * value], [-value, 0.5, value**2]]),
        param_grad_norms={"weight_hh_l0": value},
        global_norm_before=10 * value,
        global_norm_after=5 * value,
        clipped=iteration % 3 == 0,
        update_ratios={"weight_hh_l0": 1e-3},
        saturation=np.zeros(2),
        mean_derivative=np.ones((2, 3)),
        preactivation_samples=np.zeros((2, 4)),
        spectral_norms=np.ones(2),
        nonfinite=NonFiniteEvent(iteration, "loss") if nonfinite else None,
        # Down to -3000 decades: far below what a float64 norm holds (the engine's logs do).
        log10_grad_norms=np.array([[-value, -2 * value, 0.5 * value], [-3 * value, 0.0, -np.inf]]),
    )


def filled(count: int, capacity: int = 100, trail: int = 12) -> RunHistory:
    history = RunHistory(capacity=capacity, trail=trail)
    for iteration in range(1, count + 1):
        history.append(record(iteration))
    return history


def test_empty_history():
    history = RunHistory()
    assert len(history) == 0 and history.total_records == 0
    assert history.latest is None and history.recent() == []
    assert history.iterations().shape == (0,) and history.iterations().dtype == np.int64
    assert history.losses().shape == (0,)
    assert history.grad_norm_rows(0).shape == (0, 0)
    assert history.log10_grad_norm_rows(0).shape == (0, 0)


def test_below_capacity_everything_is_kept():
    history = filled(60)
    assert len(history) == 60 and history.total_records == 60
    assert np.array_equal(history.iterations(), np.arange(1, 61))


@pytest.mark.parametrize("capacity", [4, 10, 100, 257])
def test_memory_stays_bounded(capacity):
    history = RunHistory(capacity=capacity)
    for iteration in range(1, 10 * capacity + 1):
        history.append(record(iteration))
        assert len(history) <= capacity
    assert history.total_records == 10 * capacity
    assert len(history.recent()) <= history.trail


@pytest.mark.parametrize("count", [101, 150, 1000, 5003])
def test_thinning_keeps_the_first_and_newest_iterations(count):
    history = filled(count)
    iterations = history.iterations()
    assert iterations[0] == 1
    assert iterations[-1] == count
    assert np.all(np.diff(iterations) > 0)
    # The newest stretch is kept whole.
    assert np.array_equal(iterations[-10:], np.arange(count - 9, count + 1))


def test_arrays_match_the_records():
    history = filled(1000)
    iterations = history.iterations()
    values = iterations.astype(float)
    np.testing.assert_array_equal(history.losses(), 1.0 / values)
    before, after = history.global_norms()
    np.testing.assert_array_equal(before, 10 * values)
    np.testing.assert_array_equal(after, 5 * values)
    np.testing.assert_array_equal(history.clipped(), iterations % 3 == 0)
    for layer in range(2):
        rows = history.log10_grad_norm_rows(layer)
        assert rows.shape == (len(iterations), 3)
        for iteration, row in zip(iterations, rows, strict=True):
            np.testing.assert_array_equal(row, record(int(iteration)).log10_grad_norms[layer])
        with np.errstate(under="ignore", over="ignore"):
            np.testing.assert_array_equal(history.grad_norm_rows(layer), 10.0**rows)


def test_chosen_rows_are_those_rows_of_the_whole_table_in_the_order_asked():
    history = filled(500)  # thinned: the kept iterations are not 1..n
    for layer in range(2):
        whole = history.log10_grad_norm_rows(layer)
        positions = [len(history) - 1, 0, 7, 7]
        np.testing.assert_array_equal(history.log10_grad_norm_rows(layer, positions), whole[positions])
        assert history.log10_grad_norm_rows(layer, []).shape == (0, 3)


def test_recent_records_and_latest():
    history = filled(500, trail=7)
    assert [r.iteration for r in history.recent()] == list(range(494, 501))
    assert history.latest.iteration == 500
    assert history.latest is history.recent()[-1]


def test_first_nonfinite_record_is_kept():
    history = RunHistory(capacity=10)
    for iteration in range(1, 200):
        history.append(record(iteration, nonfinite=iteration in (37, 90)))
    assert history.nonfinite_record.iteration == 37


def test_clear():
    history = filled(300)
    history.append(record(301, nonfinite=True))
    history.clear()
    assert len(history) == 0 and history.total_records == 0
    assert history.latest is None and history.nonfinite_record is None
    history.append(record(1))
    assert history.iterations().tolist() == [1]


def test_capacity_must_be_at_least_four():
    with pytest.raises(ValueError, match="capacity must be at least 4"):
        RunHistory(capacity=3)


@pytest.mark.parametrize(("count", "capacity"), [(1000, 100), (10_000, 1000)])
def test_kept_iterations_are_roughly_evenly_spaced_over_the_whole_run(count, capacity):
    iterations = filled(count, capacity=capacity).iterations()
    # Even spacing would be count / capacity; allow a factor of 4 for the thinning's granularity.
    assert np.diff(iterations).max() <= 4 * count / capacity, np.diff(iterations).max()
    # And the first half of the run holds a fair share of the kept entries.
    assert np.count_nonzero(iterations <= count // 2) >= len(iterations) // 8


def rebuilt(records: list[StepRecord], capacity: int) -> dict[str, list]:
    """The kept entries of a history, worked out from scratch with lists (the arrays' reference)."""
    numbers, stride, total = [], 1, 0
    for _ in records:
        total += 1
        numbers.append(total)
        if len(numbers) > capacity:
            newest = total - capacity // 4
            while True:
                kept = [n for n in numbers if n % stride == 0 or n > newest or n == 1]
                if len(kept) <= (3 * capacity) // 4:
                    break
                stride *= 2
            numbers = kept
    chosen = [records[n - 1] for n in numbers]
    return {
        "iterations": [r.iteration for r in chosen],
        "losses": [r.loss for r in chosen],
        "before": [r.global_norm_before for r in chosen],
        "after": [r.global_norm_after for r in chosen],
        "clipped": [r.clipped for r in chosen],
    }


@pytest.mark.parametrize("capacity", [4, 10, 64, 100])
def test_arrays_grown_in_place_equal_a_rebuild_from_scratch_across_thinnings(capacity):
    records = [record(i) for i in range(1, 12 * capacity + 1)]
    history = RunHistory(capacity=capacity)
    thinnings = history.thinnings
    for count, r in enumerate(records, start=1):
        before_append = history.iterations()
        history.append(r)
        expected = rebuilt(records[:count], capacity)
        assert history.iterations().tolist() == expected["iterations"]
        assert history.losses().tolist() == expected["losses"]
        norms = history.global_norms()
        assert norms[0].tolist() == expected["before"] and norms[1].tolist() == expected["after"]
        assert history.clipped().tolist() == expected["clipped"]
        rows = history.log10_grad_norm_rows(1)
        np.testing.assert_array_equal(rows, [record(i).log10_grad_norms[1] for i in expected["iterations"]])
        if history.thinnings == thinnings:
            # Only appended: the old entries are the new arrays' first entries.
            assert np.array_equal(history.iterations()[: len(before_append)], before_append)
            assert len(history) == len(before_append) + 1
        else:
            assert history.thinnings == thinnings + 1 and len(history) <= (3 * capacity) // 4
            thinnings = history.thinnings
    assert thinnings > 5  # the run was thinned many times


def test_arrays_handed_out_keep_their_values_and_cannot_be_written():
    history = filled(99, capacity=100)
    iterations, losses = history.iterations(), history.losses()
    kept = iterations.copy(), losses.copy()
    for iteration in range(100, 400):  # grows past capacity: thinned, and its arrays rebuilt
        history.append(record(iteration))
    np.testing.assert_array_equal(iterations, kept[0])
    np.testing.assert_array_equal(losses, kept[1])
    for array in (history.iterations(), history.losses(), *history.global_norms(), history.clipped()):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_clear_counts_as_a_thinning():
    history = filled(30)
    thinnings = history.thinnings
    history.clear()
    assert history.thinnings == thinnings + 1
