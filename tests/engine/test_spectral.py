"""Spectral norms: the largest singular value, to machine precision, at every size."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.engine.spectral import (
    SVD_UP_TO,
    WARM_FROM,
    SpectralNormTracker,
    _scaled,
    block_lanczos_top,
    cholesky_top,
    gram_lanczos_top,
    spectral_norm,
)

# What the tracker promises: the largest singular value to 1e-9 relative, certified.
PROMISED = 1e-9


def random_matrix(size: int, seed: int = 0) -> np.ndarray:
    """Gaussian entries of variance 1/size: the top singular values cluster near 2."""
    return np.random.default_rng(seed).standard_normal((size, size)) / np.sqrt(size)


@pytest.mark.parametrize("size", [1, 5, 32, SVD_UP_TO, SVD_UP_TO + 1, 128, 300])
def test_matches_the_svd_at_every_size(size):
    matrices = [random_matrix(size, seed) for seed in range(3)]
    norms = SpectralNormTracker(3).update(matrices)
    assert norms.shape == (3,)
    assert norms.dtype == np.float64
    for norm, matrix in zip(norms, matrices, strict=True):
        assert norm == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-13)


def test_clustered_top_singular_values_need_no_warm_up():
    # Power iteration needed many steps here (sigma_1 and sigma_2 within a percent); this is
    # exact on the first call.
    matrix = random_matrix(128, seed=7)
    singular = np.linalg.svd(matrix, compute_uv=False)
    assert singular[1] / singular[0] > 0.97
    assert spectral_norm(matrix) == pytest.approx(singular[0], rel=1e-13)


def test_known_singular_values():
    diagonal = np.diag([3.0, -7.0, 2.0])
    big = np.diag(np.concatenate([[2.5], np.linspace(0.1, 1.0, 99)]))
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((100, 100)))[0]
    norms = SpectralNormTracker(3).update([diagonal, big, 0.3 * rotation])
    np.testing.assert_allclose(norms, [7.0, 2.5, 0.3], rtol=1e-14)


def test_small_matrices_equal_numpys_norm_bit_for_bit():
    matrix = random_matrix(SVD_UP_TO, seed=4)
    assert spectral_norm(matrix) == np.linalg.norm(matrix, 2)


@pytest.mark.parametrize("size", [50, 100])
@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1e100, 1e200])
def test_huge_and_tiny_weights_neither_overflow_nor_underflow(scale, size):
    # Squaring 1e200 overflows and 1e-200 underflows: the Gram matrix is formed after scaling.
    matrix = random_matrix(size, seed=1)
    assert spectral_norm(scale * matrix) == pytest.approx(scale * spectral_norm(matrix), rel=1e-13)


def test_rectangular_matrices():
    wide = np.random.default_rng(2).standard_normal((3, 40))
    tall = wide.T.copy()
    exact = np.linalg.svd(wide, compute_uv=False)[0]
    assert spectral_norm(wide) == pytest.approx(exact, rel=1e-13)
    assert spectral_norm(tall) == pytest.approx(exact, rel=1e-13)


def test_float32_matrices():
    matrix = random_matrix(100).astype(np.float32)
    exact = np.linalg.svd(matrix.astype(np.float64), compute_uv=False)[0]
    assert spectral_norm(matrix) == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("size", [4, 100])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nonfinite_matrix_gives_nan(size, bad):
    matrix = random_matrix(size)
    matrix[1, 2] = bad
    norms = SpectralNormTracker(2).update([matrix, random_matrix(size)])
    assert np.isnan(norms[0])
    assert np.isfinite(norms[1])


@pytest.mark.parametrize("size", [4, 100])
def test_zero_and_empty_matrices(size):
    assert SpectralNormTracker(1).update([np.zeros((size, size))])[0] == 0.0
    assert spectral_norm(np.zeros((0, 0))) == 0.0


def test_each_layer_gets_its_own_norm_and_calls_are_independent():
    matrices = [random_matrix(100, seed=1), 2.0 * random_matrix(100, seed=2)]
    tracker = SpectralNormTracker(2)
    first = tracker.update(matrices)
    tracker.update([random_matrix(120, seed=3), random_matrix(120, seed=4)])
    np.testing.assert_array_equal(tracker.update(matrices), first)
    np.testing.assert_allclose(first, [np.linalg.norm(m, 2) for m in matrices], rtol=1e-13)


# -- the certified warm-started tracker ----------------------------------------------------------
def svd_top(matrix: np.ndarray) -> float:
    return float(np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)[0])


def orthogonal(size: int, seed: int) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((size, size)))[0]


def kinds(size: int) -> dict[str, np.ndarray]:
    """Matrices whose top singular values are easy, equal, clustered, or few."""
    rng = np.random.default_rng(11)
    left, right = orthogonal(size, 1), orthogonal(size, 2)
    clustered = np.concatenate([[2.0, 2.0 * (1 - 1e-7), 2.0 * (1 - 2e-7)], np.linspace(1.9, 0.1, size - 3)])
    low_rank = rng.standard_normal((size, 3)) @ rng.standard_normal((3, size))
    return {
        "random": random_matrix(size, seed=5),
        "orthogonal-scaled": 0.7 * orthogonal(size, 3),
        "clustered": (left * clustered) @ right.T,
        "rank-deficient": low_rank,
        "huge": 1e200 * random_matrix(size, seed=5),
        "tiny": 1e-200 * random_matrix(size, seed=5),
    }


@pytest.mark.parametrize(
    "kind", ["random", "orthogonal-scaled", "clustered", "rank-deficient", "huge", "tiny"]
)
def test_tracker_equals_the_svd_on_a_slowly_changing_sequence(kind):
    size = 90
    base = kinds(size)[kind]
    drift = np.random.default_rng(8).standard_normal((size, size))
    drift *= 1e-4 * np.linalg.norm(base, 2) / np.linalg.norm(drift)
    tracker = SpectralNormTracker(1, warm_from=40)
    for step in range(25):
        matrix = base + step * drift  # a training run: a little change per step
        got = tracker.update([matrix])[0]
        assert got == pytest.approx(svd_top(matrix), rel=PROMISED), (kind, step)
    if kind in ("random", "huge", "tiny", "rank-deficient"):
        # A clear gap between sigma_1 and sigma_2: the warm path answers most calls.
        assert tracker.counts.lanczos >= 15, tracker.counts
    if kind == "orthogonal-scaled":
        # Every singular value equal: no gap to prove anything with, so the exact method runs.
        assert tracker.counts.exact == 25


def test_warm_answers_are_certified_within_the_tolerance():
    rng = np.random.default_rng(9)
    for seed in range(5):
        matrix = random_matrix(120, seed=seed)
        singular = np.linalg.svd(matrix, compute_uv=False)
        start = np.linalg.svd(matrix)[2][:4].T + 1e-3 * rng.standard_normal((120, 4))
        result = block_lanczos_top(matrix, start, sigma2_upper=singular[1] * (1 + 1e-12), tolerance=1e-10)
        assert result.certified
        assert result.sigma <= singular[0] * (1 + 1e-14) and singular[0] <= result.upper * (1 + 1e-14)
        assert result.upper - result.sigma <= 1e-10 * result.sigma
        assert result.sigma == pytest.approx(singular[0], rel=1e-10)


def test_a_start_blind_to_the_top_vector_is_never_certified_with_a_smaller_value():
    # The start block spans an invariant subspace without the top singular vector, so Lanczos
    # converges (residual ~0) to sigma_2 = 2: Kato-Temple must refuse it, as sigma_2's bound
    # is not below it.
    size = 80
    values = np.concatenate([[3.0, 2.0], np.linspace(1.5, 0.5, size - 2)])
    matrix = np.diag(values)
    start = np.zeros((size, 2))
    start[1, 0] = start[2, 1] = 1.0
    result = block_lanczos_top(matrix, start, sigma2_upper=2.0 * (1 + 1e-12))
    assert not result.certified
    assert result.sigma == pytest.approx(2.0, rel=1e-12)  # what it would have said
    tracker = SpectralNormTracker(1, warm_from=40)
    assert tracker.update([matrix])[0] == 3.0


def test_top_singular_values_that_cross_are_followed():
    # sigma_1 and sigma_2 swap places halfway: the old top vector becomes the second one.
    size = 70
    left, right = orthogonal(size, 4), orthogonal(size, 5)
    tail = np.linspace(1.0, 0.1, size - 2)
    tracker = SpectralNormTracker(1, warm_from=40)
    for first in np.linspace(2.2, 1.8, 41):
        values = np.concatenate([[first, 2.0], tail])
        matrix = (left * values) @ right.T
        assert tracker.update([matrix])[0] == pytest.approx(max(first, 2.0), rel=PROMISED)


def test_an_edited_matrix_or_a_new_shape_is_not_answered_from_stale_state():
    tracker = SpectralNormTracker(1, warm_from=40)
    matrix = random_matrix(100, seed=2)
    for _ in range(3):
        tracker.update([matrix])
    edited = matrix.copy()
    edited[:, 0] *= 50.0  # a large edit in place (the Backprop tab can edit weights)
    assert tracker.update([edited])[0] == pytest.approx(svd_top(edited), rel=PROMISED)
    other = random_matrix(110, seed=3)
    assert tracker.update([other])[0] == pytest.approx(svd_top(other), rel=PROMISED)
    assert np.isnan(tracker.update([np.full((110, 110), np.nan)])[0])
    assert tracker.update([other])[0] == pytest.approx(svd_top(other), rel=PROMISED)


def test_weights_that_jump_by_more_than_the_gap_skip_the_warm_start_until_they_settle():
    # A run whose weights move by more than the sigma_1 - sigma_2 gap per step (a third of their
    # norm at H=512 in the benchmark) gets no warm start made at each exact refresh: it would go
    # unused. Once the steps are small again, the kept start serves the warm path again.
    tracker = SpectralNormTracker(1, warm_from=40)
    jumps = [random_matrix(100, seed=seed) for seed in range(10, 16)]
    for matrix in jumps:
        assert tracker.update([matrix])[0] == pytest.approx(svd_top(matrix), rel=PROMISED)
    # Only the first refresh (nothing known yet) ran Lanczos for a start: at most REFRESH_BLOCKS.
    assert tracker.counts.exact == len(jumps)
    assert tracker.counts.lanczos_steps <= 3, tracker.counts
    drift = 1e-5 * random_matrix(100, seed=30)
    for step in range(1, 12):
        matrix = jumps[-1] + step * drift
        assert tracker.update([matrix])[0] == pytest.approx(svd_top(matrix), rel=PROMISED)
    assert tracker.counts.lanczos >= 5, tracker.counts


def test_tracker_is_deterministic():
    matrices = [random_matrix(100, seed=1) + 1e-4 * k * random_matrix(100, seed=2) for k in range(8)]
    first, second = SpectralNormTracker(1, warm_from=40), SpectralNormTracker(1, warm_from=40)
    assert [first.update([m])[0] for m in matrices] == [second.update([m])[0] for m in matrices]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_training_runs_records_carry_the_svds_spectral_norms(dtype, monkeypatch):
    # Hidden size above the warm threshold used here, so both the exact and the warm path run.
    import gradsim.engine.simulation as simulation_module

    trackers: list[SpectralNormTracker] = []

    def tracker(num_layers: int) -> SpectralNormTracker:
        trackers.append(SpectralNormTracker(num_layers, warm_from=40))
        return trackers[-1]

    monkeypatch.setattr(simulation_module, "SpectralNormTracker", tracker)
    config = SimConfig(
        hidden_size=72, num_layers=2, seq_len=12, batch_size=4, learning_rate=0.05, dtype=dtype
    )
    simulation = Simulation(config)
    for _ in range(50):
        before = [simulation.params[f"weight_hh_l{k}"].copy() for k in range(2)]
        record = simulation.train_step()
        assert record is not None
        np.testing.assert_allclose(record.spectral_norms, [svd_top(w) for w in before], rtol=PROMISED, atol=0)
    assert trackers[-1].counts.lanczos > 0 and trackers[-1].counts.exact >= 2


@pytest.mark.parametrize("exponent", [-1074, -1030, -1001, -1000, -600, -1, 0, 1, 300, 1000, 1001, 1024])
def test_scaling_by_a_power_of_two_is_ldexp_bit_for_bit(exponent):
    # A matrix whose largest entry has this binary exponent, with subnormal and signed-zero
    # entries: the multiply that replaced ldexp must give the very same numbers.
    rng = np.random.default_rng(abs(exponent))
    matrix = np.ldexp(rng.uniform(-1.0, 1.0, (30, 20)), exponent)
    matrix[0, :4] = [5e-324, -1e-310, -0.0, 2.2250738585072014e-308]
    scaled = _scaled(matrix, exponent)
    reference = np.ldexp(matrix, -exponent)
    assert np.array_equal(scaled, reference) and np.array_equal(np.signbit(scaled), np.signbit(reference))


def test_the_warm_path_answers_from_the_default_threshold_on(monkeypatch):
    # H = 256 (issue 15's benchmark size): the default tracker certifies warm answers there,
    # and every record's norm equals the SVD's to the promise.
    assert WARM_FROM <= 256
    config = SimConfig(hidden_size=256, num_layers=1, seq_len=6, batch_size=4, learning_rate=0.002)
    simulation = Simulation(config)
    for _ in range(12):
        before = simulation.params["weight_hh_l0"].copy()
        record = simulation.train_step()
        assert record is not None
        assert record.spectral_norms[0] == pytest.approx(svd_top(before), rel=PROMISED)
    counts = simulation.spectral_tracker.counts
    assert counts.lanczos >= 6 and counts.lanczos + counts.exact + counts.cholesky == 12


# -- the Cholesky route ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind", ["random", "orthogonal-scaled", "clustered", "rank-deficient", "huge", "tiny", "wide", "float32"]
)
def test_the_cholesky_route_brackets_the_svd_within_the_tolerance(kind):
    size = 150
    matrices = dict(kinds(size))
    matrices["wide"] = np.random.default_rng(6).standard_normal((size, 2 * size))
    matrices["float32"] = random_matrix(size, seed=7).astype(np.float32)
    matrix = matrices[kind]
    tracker = SpectralNormTracker(1, cholesky_from=40, warm_from=10**6)
    got = tracker.update([matrix])[0]
    assert got == pytest.approx(svd_top(matrix), rel=PROMISED), kind
    # the route itself, on the scaled matrix the tracker hands it
    oriented = np.asarray(matrix, dtype=np.float64)
    oriented = oriented.T if oriented.shape[0] < oriented.shape[1] else oriented
    exponent = int(np.frexp(np.abs(oriented).max())[1])
    scaled = _scaled(oriented, exponent)
    found = cholesky_top(scaled, np.ones(scaled.shape[1]))
    if kind == "clustered":
        # three singular values within 2e-7: a proof may need more Lanczos steps than allowed;
        # either it is proved or the exact method answers (as the tracker did above)
        if found is None:
            return
    assert found is not None, kind
    top = svd_top(scaled)
    assert found.lower <= top * (1 + 1e-15) and top <= found.upper
    assert found.upper - found.lower <= 1e-10 * found.lower
    assert found.sigma == pytest.approx(top, rel=1e-10)


def test_the_cholesky_route_never_proves_a_smaller_singular_value():
    # A start in an invariant subspace without the top singular vector: Lanczos settles on
    # sigma_2 = 2, the factorisation of (4 (1 + shift)) I - W^T W fails, nothing is claimed.
    size = 80
    values = np.concatenate([[3.0, 2.0], np.linspace(1.5, 0.5, size - 2)])
    start = np.zeros(size)
    start[1] = 1.0
    assert cholesky_top(np.diag(values) / 4.0, start) is None
    tracker = SpectralNormTracker(1, cholesky_from=40, warm_from=10**6)
    assert tracker.update([np.diag(values)])[0] == pytest.approx(3.0, rel=1e-15)


def test_weights_that_keep_jumping_take_the_cholesky_route_and_settled_ones_the_warm_path():
    tracker = SpectralNormTracker(1, warm_from=40, cholesky_from=40)
    jumps = [random_matrix(100, seed=seed) for seed in range(40, 48)]
    for matrix in jumps:
        assert tracker.update([matrix])[0] == pytest.approx(svd_top(matrix), rel=PROMISED)
    # the first call makes the reference (eigenvalues); every jump after it takes the route
    assert tracker.counts.exact == 1 and tracker.counts.cholesky == len(jumps) - 1, tracker.counts
    drift = 1e-5 * random_matrix(100, seed=50)
    for step in range(1, 14):
        matrix = jumps[-1] + step * drift
        assert tracker.update([matrix])[0] == pytest.approx(svd_top(matrix), rel=PROMISED)
    # settled: one exact refresh gives sigma_2's bound back, then the warm path answers
    assert tracker.counts.exact == 2 and tracker.counts.lanczos >= 10, tracker.counts
    again = SpectralNormTracker(1, warm_from=40, cholesky_from=40)
    sequence = jumps + [jumps[-1] + step * drift for step in range(1, 14)]
    first = [tracker_value for tracker_value in (again.update([m])[0] for m in sequence)]
    replay = SpectralNormTracker(1, warm_from=40, cholesky_from=40)
    assert [replay.update([m])[0] for m in sequence] == first  # deterministic


@pytest.mark.parametrize(("rows", "cols"), [(156_051, 1), (50_000, 3), (4_000, 2)])
def test_the_cholesky_routes_lower_bound_holds_for_tall_rank_one_matrices(rows, cols):
    # Equal rows: sigma_1 = sqrt(m) ||b|| exactly, and ||W||_F = sigma_1, so the rounding of
    # ||W y|| and of y's length is all the lower bound has to absorb (it once missed by 5e-14).
    # Checked in exact rational arithmetic.
    rng = np.random.default_rng(rows)
    row = rng.uniform(0.5, 1.0, cols)
    found = cholesky_top(np.tile(row, (rows, 1)), np.ones(cols))
    assert found is not None
    truth_squared = rows * sum(Fraction(float(value)) ** 2 for value in row)
    assert Fraction(found.lower) ** 2 <= truth_squared <= Fraction(found.upper) ** 2


def test_gram_lanczos_stops_at_an_invariant_subspace():
    # All-ones: after one step only rounding noise is left; normalising it once sent the top
    # Ritz value to 367 for a top eigenvalue of 8.
    theta, vector = gram_lanczos_top(np.ones((8, 8)), np.ones(8))
    assert theta == pytest.approx(8.0, rel=1e-12)
    found = cholesky_top(np.full((512, 512), 0.75), np.ones(512))
    assert found is not None and found.sigma == pytest.approx(0.75 * 512, rel=1e-12)


def test_the_cholesky_route_claims_nothing_from_nan_pivots_or_too_wide_a_bound(monkeypatch):
    scaled = _scaled(random_matrix(300, seed=8), 1)
    assert cholesky_top(scaled, np.ones(300)) is not None
    # LAPACK's check lets NaN pivots through: NaN factors must not pass as a proof
    monkeypatch.setattr(np.linalg, "cholesky", lambda matrix: np.full_like(matrix, np.nan))
    assert cholesky_top(scaled, np.ones(300)) is None

    # Above ~850 columns the rounding bounds alone are wider than 1e-10: known from the trace,
    # before any factorisation
    def refuse(matrix: np.ndarray) -> np.ndarray:
        raise AssertionError("factorised although the bound could not be met")

    monkeypatch.setattr(np.linalg, "cholesky", refuse)
    wide = random_matrix(1024, seed=9)
    assert cholesky_top(_scaled(wide, int(np.frexp(np.abs(wide).max())[1])), np.ones(1024)) is None
