"""Spectral norm (largest singular value) of the recurrent matrices, exactly, every step.

Two ways to the same number:

- **Exact** (:func:`spectral_norm`, and every :class:`SpectralNormTracker` refresh). Up to 64
  rows and columns the singular values come from an SVD (0.2 ms). Above, the largest singular
  value of ``W`` is the square root of the largest eigenvalue of the Gram matrix ``W.T @ W``,
  which ``numpy.linalg.eigvalsh`` finds to machine precision (relative difference from the SVD
  ~1e-15): 0.9 ms at H=128, 4 ms at 256, 20 ms at 512, 86 ms at 1024 on two cores.
- **Certified Lanczos** (:class:`SpectralNormTracker`, the training loop). A training step
  changes the weights little, so the previous step's top right singular vector is an excellent
  start for a Lanczos iteration on ``A = W.T @ W`` (two matrix-vector products a step; no Gram
  matrix). Its answer is accepted only with a proof that it is the *largest* singular value to
  ``tolerance`` (1e-10 relative by default); otherwise the exact method runs.

- **Cholesky route** (:func:`cholesky_top`, a refresh that needs no bound on ``sigma_2``: from
  ``CHOLESKY_FROM`` columns below ``WARM_FROM``, and where the weights jump by more than a
  percent of their norm per step, too far for any warm start). Lanczos on the Gram matrix finds
  ``theta`` just below its top eigenvalue; a Cholesky factorisation of ``theta (1 + 2e-11) I -
  W^T W`` that runs to completion proves the top eigenvalue is below that, up to the
  factorisation's backward error (Higham's bound). About 0.7 of the eigenvalues' cost at 512
  columns; no gap needed. Where it fails, the eigenvalues answer.

The proof (a posteriori, every step). For a unit vector ``y`` let ``theta = ||W y||^2`` (the
Rayleigh quotient of ``A``) and ``rho = ||A y - theta y||``. Always ``theta <= lambda_1`` (the
largest eigenvalue of ``A``, ``sigma_1^2``). If every other eigenvalue is at most ``alpha`` and
``theta > alpha``, the Kato-Temple inequality gives ``lambda_1 <= theta + rho^2 / (theta -
alpha)``: from ``sum_i c_i^2 (lambda_i - alpha)(lambda_i - lambda_1) >= 0`` (no eigenvalue lies
strictly between ``alpha`` and ``lambda_1``), expanded around ``theta``. The bound ``alpha`` on
``sigma_2^2`` comes from the last exact refresh by Weyl's inequality:
``sigma_2(W) <= sigma_2(W_ref) + ||W - W_ref||_2 <= sigma_2(W_ref) + ||W - W_ref||_F``.
Weyl also bounds ``sigma_1(W) <= sigma_1(W_ref) + ||W - W_ref||_F`` directly, which decides
when the weights did not change (a paused run). Every computed quantity is widened by a bound
on its rounding error (``gamma_n = n eps / (1 - n eps)`` per inner product), so the returned
value ``sqrt(theta)`` is within ``tolerance`` of the true largest singular value, never a
smaller singular value passed off as the largest. Once ``||W - W_ref||_F`` eats the gap
between ``sigma_1`` and ``sigma_2`` (or Lanczos needs more than ``max_blocks`` block steps),
the exact method runs and becomes the new reference. When the weights moved by more than that
gap since the last reference, the refresh keeps the last warm start instead of running Lanczos
for a new one: the next step would most likely move as far, and the new start go unused.

What it costs (measured on the benchmark's training runs, B=32, T=100, tanh, SGD 0.01): a step
moves ``W_hh`` by ~1e-3-1e-2 in spectral norm while the top singular values of a random matrix
are only 1-4% apart, so the reference lasts a few to ~15 steps, and reaching the residual
Kato-Temple needs (~1e-6 relative) from a warm start takes ~7-10 block steps of 4 vectors (the
top of a random spectrum is dense, so Krylov convergence is slow). Below ``WARM_FROM`` columns
that is dearer than the exact method (Python's cost per step against a 0.6 ms eigvalsh at
H=128), so the tracker uses it only for wide matrices. Measured over 60 consecutive training
steps' weights (B=32, T=100, L=2, one BLAS thread, CPU time per step, both layers): H=128
exact 1.8 ms against 3.5 ms warm; H=192 4.4 against 4.8; H=256 8.3 against 6.7 (float32
weights 10.6 against 7.5, the float64 copy included); hence ``WARM_FROM = 256``.

Matrices are scaled by a power of two (exact in floating point) so that neither the squares of
huge weights (1e200) overflow nor those of tiny ones (1e-200) underflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Up to this size an SVD is as cheap as the Gram matrix route.
SVD_UP_TO = 64
# Relative accuracy the tracker certifies (the promise to callers is 1e-9; 10x margin).
DEFAULT_TOLERANCE = 1e-10
# Block Lanczos: vectors per block, and block steps before giving up for the exact method.
BLOCK_SIZE = 4
MAX_BLOCK_STEPS = 16
# Below this many columns the exact method is cheaper than Lanczos (Python's cost per step):
# measured crossover between 192 (exact 4.4 ms, warm 4.8) and 256 (8.3 against 6.7).
WARM_FROM = 256
# Warm start only while the proven gap between sigma_1 and the bound on sigma_2 is at least
# this fraction of sigma_1: a smaller gap needs a residual too small to reach in a few steps.
MIN_RELATIVE_GAP = 2e-3
# Block steps of the Lanczos run after an exact refresh (it only provides the start block).
REFRESH_BLOCKS = 3
# Start vector of the very first Lanczos run of a layer: fixed, so runs are reproducible.
_START_SEED = 20_240_601
# The Cholesky route (:func:`cholesky_top`): Lanczos steps on the Gram matrix before giving up,
# how often it looks at its Ritz values, and how far above the top Ritz value the Cholesky
# factorisation puts its shift (relative; the rest of the tolerance covers the rounding bounds).
GRAM_LANCZOS_STEPS = 80
GRAM_LANCZOS_CHECK_EVERY = 4
CHOLESKY_SHIFT = 2e-11
# From this many columns the Cholesky route is cheaper than the eigenvalues (one core, per matrix,
# numpy's Cholesky taking 4.3-6.1 ms at 512 from run to run: 12.7-9.6 against 16.8-14.7 ms at 512,
# 2.5-1.9 against 3.1-2.65 at 256; at 192 1.75 either way from a warm start, 2.4 cold; at 128
# 0.55-0.64 against 0.55). With WARM_FROM = 256 it serves weights that jump.
CHOLESKY_FROM = 256
# A refresh whose weights moved by at least this fraction of sigma_1 since the last reference,
# when no bound on sigma_2 is known, takes the Cholesky route again (no warm start is in reach).
SETTLED_DRIFT = 1e-2

_EPS = float(np.finfo(np.float64).eps)


def _gamma(count: int) -> float:
    """Standard rounding-error factor ``n u / (1 - n u)`` of an ``n``-term inner product (u = eps/2)."""
    unit = 0.5 * _EPS * count
    return unit / (1.0 - unit)


def _oriented(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` as float64 with no more columns than rows (same singular values)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"spectral norm needs a 2-D matrix (got shape {matrix.shape})")
    return matrix.T if matrix.shape[0] < matrix.shape[1] else matrix


def _scaled(matrix: np.ndarray, exponent: int) -> np.ndarray:
    """``matrix * 2**-exponent``, the same numbers as ``np.ldexp(matrix, -exponent)``.

    A product with a power of two is exact (or, for a subnormal result, correctly rounded, as
    ``ldexp`` rounds), and a vectorised multiply is ~10x faster than ``ldexp`` over a matrix:
    0.3 ms of the 4.7 ms exact method at H=256. Factors a float64 cannot hold (|exponent| near
    1024, weights of 1e-300 or 1e300) go through ``ldexp``.
    """
    if abs(exponent) <= 1000:
        return matrix * (2.0**-exponent)
    return np.ldexp(matrix, -exponent)


def _largest_magnitude(matrix: np.ndarray) -> float:
    """``max |matrix|`` without an ``abs`` temporary; NaN/inf if any entry is."""
    return max(float(matrix.max()), -float(matrix.min()))


@dataclass(frozen=True)
class _ExactTop:
    """Top two singular values of a scaled matrix from the exact method, with upper bounds."""

    sigma1: float
    sigma1_upper: float
    sigma2_upper: float


def _exact_top(scaled: np.ndarray) -> _ExactTop:
    """Largest singular value of ``scaled`` ((m, n), m >= n, entries at most 1 in magnitude).

    SVD up to :data:`SVD_UP_TO` columns, else the Gram matrix's eigenvalues. The upper bounds
    add the rounding error of each route (backward stability of the eigensolver / SVD with a
    generous ``16 n eps`` factor, plus the Gram matrix's own rounding ``gamma_m ||W||_F^2``).
    """
    rows, cols = scaled.shape
    if cols <= SVD_UP_TO:
        singular = np.linalg.svd(scaled, compute_uv=False)
        sigma1 = float(singular[0])
        margin = 16.0 * max(rows, cols) * _EPS * sigma1
        sigma2 = float(singular[1]) if cols > 1 else 0.0
        return _ExactTop(sigma1, sigma1 + margin, sigma2 + margin)
    gram = scaled.T @ scaled
    eigenvalues = np.linalg.eigvalsh(gram)
    top = max(float(eigenvalues[-1]), 0.0)
    second = max(float(eigenvalues[-2]), 0.0)
    frobenius_squared = float(np.einsum("ij,ij->", scaled, scaled))
    margin = 2.0 * _gamma(rows + 2) * frobenius_squared + 16.0 * cols * _EPS * top
    return _ExactTop(float(np.sqrt(top)), float(np.sqrt(top + margin)), float(np.sqrt(second + margin)))


def spectral_norm(matrix: np.ndarray) -> float:
    """Largest singular value of ``matrix`` (2-D), by the exact method; NaN if it holds a non-finite value.

    The matrix is scaled by a power of two first, so that squaring it in the Gram matrix
    neither overflows for huge weights nor underflows for tiny ones.
    """
    oriented = _oriented(matrix)
    if oriented.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        largest = _largest_magnitude(oriented)
        if not np.isfinite(largest):
            return float("nan")
        if largest == 0.0:
            return 0.0
        exponent = int(np.frexp(largest)[1])
        return float(np.ldexp(_exact_top(_scaled(oriented, exponent)).sigma1, exponent))


@dataclass
class LanczosResult:
    """Outcome of one certified Lanczos run on a scaled matrix.

    Attributes
    ----------
    sigma : the estimate ``||W y||`` (scaled units); a lower bound up to rounding
    upper : certified upper bound on the largest singular value (inf if none was proved)
    vector : (n,) unit vector ``y``, the Ritz vector of the estimate
    certified : ``upper - lower <= tolerance * lower``
    steps : Lanczos steps taken (each two matrix-vector products)
    """

    sigma: float
    upper: float
    vector: np.ndarray
    certified: bool
    steps: int


def _rayleigh_bounds(sigma: float, rows: int, cols: int, frobenius: float) -> tuple[float, float]:
    """Bounds on ``||W y|| / ||y||`` from ``sigma = fl(||fl(W y)||)``, ``y`` a computed unit vector.

    ``|fl(W y) - W y| <= gamma_n |W| |y|`` entrywise, so in norm at most ``gamma_{n+2} ||W||_F``
    (``||y|| <= 1 + gamma_{n+4}``); the norm of the image is ``sigma`` within ``gamma_{m+2}``
    relative, and ``||y||`` is 1 within ``gamma_{n+4}``: ``slack`` covers both and their product.
    (The lower bound is ``<= sigma_1``, the upper ``>=`` this vector's Rayleigh quotient.)
    """
    image_error, slack = _image_error(cols, frobenius), _unit_slack(rows, cols)
    lower = (sigma * (1.0 - slack) - image_error) * (1.0 - 4.0 * _EPS)
    upper = (sigma * (1.0 + slack) + image_error) * (1.0 + 4.0 * _EPS)
    return lower, upper


def _image_error(cols: int, frobenius: float) -> float:
    """Bound on ``||fl(W y) - W y||`` for ``W`` with ``cols`` columns and a computed unit ``y``."""
    return _gamma(cols + 2) * frobenius * (1.0 + 4.0 * _EPS)


def _unit_slack(rows: int, cols: int) -> float:
    """Relative rounding of ``fl(||fl(W y)||)`` and of a computed unit ``y``'s length, together."""
    return _gamma(rows + 2 * cols + 16)


def _certify(
    matrix: np.ndarray,
    vector: np.ndarray,
    alpha: float,
    weyl_upper: float,
    frobenius: float,
    tolerance: float,
) -> tuple[float, float, np.ndarray, bool]:
    """Bounds on ``sigma_1(matrix)`` from one vector; see the module docstring.

    ``alpha``: proven upper bound on ``sigma_2^2``; ``weyl_upper``: proven upper bound on
    ``sigma_1`` (inf if none); ``frobenius``: upper bound on ``||matrix||_F``.
    Returns ``(estimate, upper, unit vector, certified)``.
    """
    rows, cols = matrix.shape
    vector = vector / np.linalg.norm(vector)
    # From here ``vector`` is the exact vector the bounds are about; its norm is 1 to within
    # gamma_{n+4} (_rayleigh_bounds covers it).
    image = matrix @ vector
    sigma = float(np.linalg.norm(image))
    back = matrix.T @ image
    theta = sigma * sigma
    residual = float(np.linalg.norm(back - theta * vector))
    sigma_lower, sigma_upper_rq = _rayleigh_bounds(sigma, rows, cols, frobenius)
    image_error, slack = _image_error(cols, frobenius), _unit_slack(rows, cols)
    # fl(W^T u) - W^T W y = [fl(W^T u) - W^T u] + W^T (u - W y); then the subtraction and norm;
    # then from y to the unit vector y / ||y|| (the Rayleigh quotient's residual is the least
    # over all shifts, so the computed theta's residual bounds it).
    image_norm = sigma * (1.0 + slack) + image_error
    back_error = _gamma(rows + 2) * frobenius * image_norm + frobenius * image_error
    residual_upper = (
        (residual + back_error + 4.0 * _EPS * (float(np.linalg.norm(back)) + theta))
        * (1.0 + 4.0 * _EPS)
        * (1.0 + slack)
    )
    upper = weyl_upper
    theta_lower, theta_upper = sigma_lower**2 * (1.0 - 2.0 * _EPS), sigma_upper_rq**2 * (1.0 + 2.0 * _EPS)
    if sigma_lower > 0 and theta_lower > alpha:
        # Kato-Temple: lambda_1 <= theta + rho^2 / (theta - alpha), worst case over the
        # rounding intervals of theta and rho.
        bound = theta_upper + residual_upper**2 / (theta_lower - alpha)
        upper = min(upper, float(np.sqrt(bound)) * (1.0 + 2.0 * _EPS))
    certified = sigma_lower > 0 and upper - sigma_lower <= tolerance * sigma_lower
    return sigma, upper, vector, certified


def block_lanczos_top(
    matrix: np.ndarray,
    start: np.ndarray,
    sigma2_upper: float,
    weyl_upper: float = float("inf"),
    tolerance: float = DEFAULT_TOLERANCE,
    max_blocks: int = MAX_BLOCK_STEPS,
) -> LanczosResult:
    """Largest singular value of ``matrix`` ((m, n), m >= n), certified, by block Lanczos on ``W^T W``.

    Parameters
    ----------
    matrix : (m, n) float64, entries of moderate size (the tracker scales by a power of two)
    start : (n, b) start block (the previous call's top Ritz vectors) or (n,) one vector
    sigma2_upper : proven upper bound on the second largest singular value
    weyl_upper : proven upper bound on the largest one (inf if none)
    tolerance : relative width of the certified interval to accept
    max_blocks : block steps before giving up (the result is then not certified)

    Rayleigh-Ritz on the block Krylov space ``[Y, A Y, A^2 Y, ...]`` (kept orthonormal by
    orthogonalising each new block twice against all before it), extended by the residuals
    of the top ``b`` Ritz vectors. A block warm start removes at once the error of the old
    top vector along the next few singular vectors, which a single-vector start would need
    many steps for (the top singular values of a random matrix cluster). The residual
    estimate only decides *when* to run the explicit check of :func:`_certify`, never
    whether the result is accepted. ``vector`` of the result is the (n, b) block of Ritz
    vectors, top first (the next call's start).
    """
    cols = matrix.shape[1]
    frobenius = float(np.sqrt(np.einsum("ij,ij->", matrix, matrix))) * (1.0 + (matrix.size + 2) * _EPS)
    alpha = sigma2_upper * sigma2_upper * (1.0 + 4.0 * _EPS)
    block = np.asarray(start, dtype=np.float64).reshape(cols, -1)
    if not np.all(np.isfinite(block)):
        block = np.random.default_rng(_START_SEED).standard_normal(block.shape)
    block = np.linalg.qr(block)[0]
    basis = block
    image = matrix.T @ (matrix @ block)
    best = (0.0, float("inf"), block, False)
    steps = 0
    for step in range(max_blocks):
        steps = step + 1
        projected = basis.T @ image
        projected = 0.5 * (projected + projected.T)
        ritz_values, ritz_vectors = np.linalg.eigh(projected)
        width = min(block.shape[1], ritz_values.size)
        top_coefficients = ritz_vectors[:, ::-1][:, :width]
        thetas = ritz_values[::-1][:width]
        ritz = basis @ top_coefficients
        residuals = image @ top_coefficients - ritz * thetas
        theta = float(thetas[0])
        estimate = float(np.linalg.norm(residuals[:, 0]))
        exhausted = step == max_blocks - 1 or basis.shape[1] + width > cols
        promising = theta > alpha and estimate * estimate <= 0.5 * tolerance * theta * (theta - alpha)
        promising = promising or np.sqrt(max(theta, 0.0)) * (1.0 + 0.5 * tolerance) >= weyl_upper
        if promising or exhausted:
            sigma, upper, unit, certified = _certify(
                matrix, ritz[:, 0], alpha, weyl_upper, frobenius, tolerance
            )
            best = (sigma, upper, ritz, certified)
            if certified or exhausted:
                break
        # The next block: the residuals, orthogonalised twice against the basis ("twice is
        # enough"); columns that vanish (an invariant subspace) are dropped.
        for _ in range(2):
            residuals -= basis @ (basis.T @ residuals)
        norms = np.linalg.norm(residuals, axis=0)
        keep = norms > 1e-10 * max(theta, 1e-300)
        if not keep.any():
            sigma, upper, unit, certified = _certify(
                matrix, ritz[:, 0], alpha, weyl_upper, frobenius, tolerance
            )
            best = (sigma, upper, ritz, certified)
            break
        block = np.linalg.qr(residuals[:, keep])[0]
        basis = np.hstack([basis, block])
        image = np.hstack([image, matrix.T @ (matrix @ block)])
    sigma, upper, vectors, certified = best
    return LanczosResult(sigma, upper, vectors, certified, steps)


def gram_lanczos_top(
    gram: np.ndarray, start: np.ndarray, max_steps: int = GRAM_LANCZOS_STEPS
) -> tuple[float, np.ndarray]:
    """Top Ritz value and unit Ritz vector of the symmetric ``gram`` ((n, n)) by Lanczos from ``start``.

    Fully reorthogonalised (classical Gram-Schmidt, twice), one matrix-vector product a step. Stops
    once the residual estimate ``beta |s_last|`` puts the Ritz value within ~1e-13 of an
    eigenvalue (its square over the gap to the next Ritz value), at an invariant subspace, or
    after ``max_steps``. An estimate only: :func:`cholesky_top` proves what it returns.
    """
    size = gram.shape[0]
    steps = min(max_steps, size)
    basis = np.empty((steps + 1, size))
    alphas, betas = np.empty(steps), np.empty(steps)
    vector = np.asarray(start, dtype=np.float64).reshape(-1)
    largest = float(np.max(np.abs(vector), initial=0.0))
    if not (np.isfinite(largest) and largest > 0):
        vector, largest = _fixed_start(size), 1.0
    vector = vector / largest  # a norm of entries near 1e-160 would underflow
    basis[0] = vector / np.linalg.norm(vector)
    theta, coefficients, used = 0.0, np.ones(1), 1
    for step in range(steps):
        used = step + 1
        image = gram @ basis[step]
        before = float(np.linalg.norm(image))
        alphas[step] = float(basis[step] @ image)
        done = basis[:used]
        for _ in range(2):
            image -= done.T @ (done @ image)
        beta = float(np.linalg.norm(image))
        betas[step] = beta
        last = step == steps - 1
        # What is left after the reorthogonalisation is rounding noise: the basis spans an
        # invariant subspace (normalising the noise would break the recurrence).
        invariant = not beta > 1e-12 * before
        if last or invariant or used % GRAM_LANCZOS_CHECK_EVERY == 0:
            tridiagonal = np.diag(alphas[:used])
            if used > 1:
                off = betas[: used - 1]
                tridiagonal += np.diag(off, 1) + np.diag(off, -1)
            values, vectors = np.linalg.eigh(tridiagonal)
            theta, coefficients = float(values[-1]), vectors[:, -1]
            residual = beta * abs(float(coefficients[-1]))
            gap = float(values[-1] - values[-2]) if used > 1 else theta
            if last or invariant:
                break
            if residual * residual <= 1e-13 * theta * max(gap, 1e-300):
                break
        basis[used] = image / beta
    ritz = basis[:used].T @ coefficients
    return theta, ritz / np.linalg.norm(ritz)


def _fixed_start(size: int) -> np.ndarray:
    """The first start vector of a layer's Lanczos runs: fixed, so runs are reproducible."""
    return np.random.default_rng(_START_SEED).standard_normal((size,))


@dataclass(frozen=True)
class CholeskyTop:
    """The largest singular value of a scaled matrix, proved by a Cholesky factorisation.

    ``sigma``: ``||W y||`` for the unit Ritz vector ``vector``; ``lower``/``upper``: proven bounds
    on the largest singular value, ``upper - lower <= tolerance * lower``.
    """

    sigma: float
    lower: float
    upper: float
    vector: np.ndarray


def cholesky_top(
    scaled: np.ndarray, start: np.ndarray, tolerance: float = DEFAULT_TOLERANCE
) -> CholeskyTop | None:
    """``sigma_1`` of ``scaled`` ((m, n), m >= n, largest magnitude in [1/2, 1]) to ``tolerance``, or None.

    The tracker scales every matrix so (by a power of two); the bounds below model rounding,
    not underflow, which much smaller entries' squares would meet.

    Lanczos on the Gram matrix ``G = fl(W^T W)`` (from ``start``, the previous step's vector)
    finds ``theta``, nearly its largest eigenvalue. A Cholesky factorisation of
    ``M = u I - G`` with ``u = theta (1 + CHOLESKY_SHIFT)`` that runs to completion proves
    ``lambda_max(W^T W) <= u + rounding``: the computed factor satisfies ``R^T R = M + dM``
    with ``|dM| <= gamma_{n+1} |R^T| |R|`` (Higham, Accuracy and Stability, Thm 10.3; doubled
    here for blocked implementations), so ``||dM||_2 <= 2 gamma_{n+1} ||R||_F^2``; ``R^T R`` is
    positive semidefinite, hence ``G <= (u + ||dM||_2 + |rounding of u - g_ii|) I``; and ``G``
    differs from ``W^T W`` by at most ``2 gamma_{m+2} ||W||_F^2`` in norm. The lower bound is
    ``||W y||`` less the rounding of ``W y``, of its norm and of ``y``'s (:func:`_rayleigh_bounds`).
    It returns None when ``theta`` was not within the shift of the top eigenvalue (the
    factorisation fails), or when the bounds would be wider than ``tolerance`` (known before
    factorising, from the trace: ``||R||_F^2`` is ``trace(M)`` up to rounding; above ~850
    columns at 1e-10): the caller then runs the exact method. No gap between ``sigma_1`` and
    ``sigma_2`` is needed.
    Costs a Gram matrix and a factorisation (n^3 / 3): at n = 512 on one core 3.8 + 5.3 ms
    against 3.8 + 11 for the eigenvalues.
    """
    rows, cols = scaled.shape
    gram = scaled.T @ scaled
    frobenius_squared = float(np.einsum("ij,ij->", scaled, scaled)) * (1.0 + (scaled.size + 2) * _EPS)
    gram_error = 2.0 * _gamma(rows + 2) * frobenius_squared
    theta, vector = gram_lanczos_top(gram, start)
    image = scaled @ vector
    sigma = float(np.linalg.norm(image))
    frobenius = float(np.sqrt(frobenius_squared))
    sigma_lower, _ = _rayleigh_bounds(sigma, rows, cols, frobenius)
    if not sigma_lower > 0:
        return None
    shift = max(theta, sigma * sigma) * (1.0 + CHOLESKY_SHIFT)
    matrix = np.negative(gram, out=gram)  # u I - G, in place of G (a negation is exact)
    matrix[np.diag_indices(cols)] += shift
    diagonal = np.diagonal(matrix)
    # |fl(u - g_ii) - (u - g_ii)| <= eps/2 |u - g_ii|: a diagonal perturbation of M
    diagonal_error = 0.5 * _EPS * float(np.max(np.abs(diagonal))) * (1.0 + 2.0 * _EPS)

    def upper_bound(factor_squared: float) -> float:
        factor_error = 2.0 * _gamma(cols + 1) * factor_squared
        bound = (shift + diagonal_error + factor_error + gram_error) * (1.0 + 4.0 * _EPS)
        return float(np.sqrt(bound)) * (1.0 + 2.0 * _EPS)

    # ||R||_F^2 = trace(M + dM) >= trace(M) (1 - 2 gamma_{n+1}): too wide a bound is known now.
    trace = float(np.sum(diagonal)) * (1.0 - (cols + 2) * _EPS) * (1.0 - 2.0 * _gamma(cols + 1))
    if not upper_bound(max(trace, 0.0)) - sigma_lower <= tolerance * sigma_lower:
        return None
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return None
    upper = upper_bound(float(np.einsum("ij,ij->", factor, factor)) * (1.0 + (factor.size + 2) * _EPS))
    if not upper - sigma_lower <= tolerance * sigma_lower:  # NaN pivots pass LAPACK's check
        return None
    return CholeskyTop(sigma, sigma_lower, upper, vector)


@dataclass
class _LayerState:
    """What the tracker keeps per matrix between calls.

    ``reference``: the scaled matrix of the last exact refresh (``W = reference * 2**exponent``),
    with its top singular value and proven upper bounds on the top two; ``vector``: the last
    top right singular vector (the next warm start).
    """

    reference: np.ndarray | None = None
    exponent: int = 0
    sigma1_upper: float = 0.0
    sigma2_upper: float = 0.0
    vector: np.ndarray | None = None


@dataclass
class TrackerCounts:
    """How the tracker's answers were found (for benchmarks and tests)."""

    exact: int = 0
    cholesky: int = 0
    lanczos: int = 0
    lanczos_steps: int = 0
    lanczos_failed: int = 0
    per_layer_exact: list[int] = field(default_factory=list)


class SpectralNormTracker:
    """The spectral norms of a network's recurrent matrices, one per layer, call after call.

    Each call returns the largest singular value of each matrix to ``tolerance`` relative,
    certified (see the module docstring): from a warm-started Lanczos run when a proof is
    found, from the exact method otherwise. The result depends only on the sequence of
    matrices given (same sequence, same numbers, bit for bit); it can differ from
    :func:`spectral_norm` of the same matrix in the last ~10 digits.

    Parameters
    ----------
    num_layers : matrices per call
    tolerance : certified relative accuracy (default 1e-10)
    block_size : Ritz vectors kept per matrix (the next call's start block)
    max_blocks : block Lanczos steps per matrix before falling back to the exact method
    warm_from : matrices with fewer columns never take the warm path
    cholesky_from : from this many columns a refresh that needs no bound on sigma_2 (below
        ``warm_from``, or when the weights move too much for a warm start) takes the Cholesky
        route (:func:`cholesky_top`), the eigenvalues only if that fails
    """

    def __init__(
        self,
        num_layers: int,
        tolerance: float = DEFAULT_TOLERANCE,
        block_size: int = BLOCK_SIZE,
        max_blocks: int = MAX_BLOCK_STEPS,
        warm_from: int = WARM_FROM,
        cholesky_from: int = CHOLESKY_FROM,
    ) -> None:
        if not 0.0 < tolerance < 1.0:
            raise ValueError(f"tolerance must be between 0 and 1 (got {tolerance})")
        self.num_layers = num_layers
        self.tolerance = tolerance
        self.block_size = block_size
        self.max_blocks = max_blocks
        self.warm_from = warm_from
        self.cholesky_from = cholesky_from
        self._states = [_LayerState() for _ in range(num_layers)]
        self.counts = TrackerCounts(per_layer_exact=[0] * num_layers)

    def update(self, matrices: list[np.ndarray]) -> np.ndarray:
        """(L,) float64 spectral norms; NaN for a matrix that holds a non-finite value."""
        if len(matrices) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} matrices (got {len(matrices)})")
        with np.errstate(all="ignore"):
            return np.array(
                [self._one(layer, matrix) for layer, matrix in enumerate(matrices)], dtype=np.float64
            )

    def _one(self, layer: int, matrix: np.ndarray) -> float:
        state = self._states[layer]
        oriented = _oriented(matrix)
        if oriented.size == 0:
            self._states[layer] = _LayerState()
            return 0.0
        largest = _largest_magnitude(oriented)
        if not np.isfinite(largest) or largest == 0.0:
            self._states[layer] = _LayerState()
            return float("nan") if not np.isfinite(largest) else 0.0
        if oriented.shape[1] >= self.warm_from and self._reusable(state, oriented, largest):
            scaled = _scaled(oriented, state.exponent)
            assert state.reference is not None
            drift = float(np.linalg.norm(scaled - state.reference)) * (1.0 + (scaled.size + 4) * _EPS)
            sigma2_upper = (state.sigma2_upper + drift) * (1.0 + 2.0 * _EPS)
            weyl_upper = (state.sigma1_upper + drift) * (1.0 + 2.0 * _EPS)
            # sigma_1 >= sigma_1(ref) - drift must clear sigma_2's bound by a margin, or no proof
            # is within reach of a few steps.
            if sigma2_upper < (state.sigma1_upper - drift) - MIN_RELATIVE_GAP * state.sigma1_upper:
                assert state.vector is not None
                result = block_lanczos_top(
                    scaled, state.vector, sigma2_upper, weyl_upper, self.tolerance, self.max_blocks
                )
                self.counts.lanczos_steps += result.steps
                if result.certified:
                    self.counts.lanczos += 1
                    state.vector = result.vector
                    return float(np.ldexp(result.sigma, state.exponent))
                self.counts.lanczos_failed += 1
            elif drift >= SETTLED_DRIFT * state.sigma1_upper:
                # The weights jump (by a third of their norm per step at H=512 in the benchmark):
                # no warm step is in reach, so no bound on sigma_2 is worth the eigenvalues, and
                # no warm start worth making.
                return self._refresh(layer, oriented, largest, warm_start=False, cholesky=True)
            elif state.sigma2_upper < state.sigma1_upper:
                # The weights moved more than the gap: so will they, most likely, in the next
                # step, and a warm start made now would go unused; the eigenvalues' new bound on
                # sigma_2 may let the step after answer warm.
                return self._refresh(layer, oriented, largest, warm_start=False)
        return self._refresh(layer, oriented, largest)

    @staticmethod
    def _reusable(state: _LayerState, oriented: np.ndarray, largest: float) -> bool:
        """The reference exists, has this shape, and its power-of-two scale still fits."""
        if state.reference is None or state.reference.shape != oriented.shape or state.vector is None:
            return False
        scaled_largest = np.ldexp(largest, -state.exponent)
        return 2.0**-8 <= scaled_largest <= 2.0**8

    def _refresh(
        self,
        layer: int,
        oriented: np.ndarray,
        largest: float,
        warm_start: bool = True,
        cholesky: bool = False,
    ) -> float:
        """The exact method; for large matrices it becomes the reference of the next calls.

        ``warm_start=False``: keep the last warm start instead of running Lanczos for a new one
        (the caller saw the weights move by more than the gap since the last reference).
        ``cholesky``: no bound on sigma_2 is wanted, so the Cholesky route may answer (it always
        may below ``warm_from``, where nothing needs one).
        """
        exponent = int(np.frexp(largest)[1])
        scaled = _scaled(oriented, exponent)
        state = self._states[layer]
        cols = scaled.shape[1]
        kept = state.vector if state.vector is not None and state.vector.shape[0] == cols else None
        if cols >= self.cholesky_from and (cols < self.warm_from or cholesky):
            first = _fixed_start(cols) if kept is None else kept.reshape(cols, -1)[:, 0]
            found = cholesky_top(scaled, first, self.tolerance)
            if found is not None:
                self.counts.cholesky += 1
                if cols < self.warm_from:
                    self._states[layer] = _LayerState(vector=found.vector)
                else:
                    # No bound on sigma_2 better than sigma_1's own: the warm path waits until the
                    # weights settle (below SETTLED_DRIFT) and the eigenvalues give one again.
                    bound = found.upper
                    self._states[layer] = _LayerState(scaled, exponent, bound, bound, found.vector)
                return float(np.ldexp(found.sigma, exponent))
        self.counts.exact += 1
        self.counts.per_layer_exact[layer] += 1
        top = _exact_top(scaled)
        if not warm_start and kept is not None:
            self._states[layer] = _LayerState(scaled, exponent, top.sigma1_upper, top.sigma2_upper, kept)
            return float(np.ldexp(top.sigma1, exponent))
        if cols >= self.warm_from:
            # A warm start for the next call: a few Lanczos steps from the last vector (or a
            # fixed start), with the exact sigma_2 bound; certified or not, its Ritz vector
            # is close to the top singular vector.
            start = kept
            if start is None:
                start = np.random.default_rng(_START_SEED).standard_normal((cols, min(self.block_size, cols)))
            result = block_lanczos_top(
                scaled, start, top.sigma2_upper, top.sigma1_upper, self.tolerance, REFRESH_BLOCKS
            )
            self.counts.lanczos_steps += result.steps
            self._states[layer] = _LayerState(
                scaled, exponent, top.sigma1_upper, top.sigma2_upper, result.vector
            )
        else:
            self._states[layer] = _LayerState(vector=kept)  # the Cholesky route's next start
        return float(np.ldexp(top.sigma1, exponent))
