"""A bounded history of step records, the plots' only data source.

A long run must not grow memory without bound, yet the loss curve should still span the whole
run. The history keeps the per-iteration series on a grid of the run: entry number ``n`` (1 for
the first record) stays if ``n`` is a multiple of the current *stride*, a power of two. Whenever
more than ``capacity`` entries are held, the entries off the grid are dropped, the stride
doubling until at most three quarters of the capacity remain; the first entry and the newest
quarter of the capacity are always kept. The kept entries are therefore evenly spaced over the
whole run, at most ``4 * n / capacity`` apart. The newest ``trail`` records are kept whole,
for the trail of recent gradient curves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from .records import StepRecord


class RunHistory:
    """Bounded, thinned history of a run.

    Parameters
    ----------
    capacity : most entries kept for the per-iteration series (loss, norms, heatmap rows)
    trail : how many of the newest full records to keep
    """

    def __init__(self, capacity: int = 1000, trail: int = 12) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.capacity = capacity
        self.trail = trail
        self._reset()

    def _reset(self) -> None:
        trail = self.trail
        self._iterations: list[int] = []
        self._losses: list[float] = []
        self._norms_before: list[float] = []
        self._norms_after: list[float] = []
        self._clipped: list[bool] = []
        self._grad_rows: list[np.ndarray] = []  # (L, T) float64 log10 ||dL/dh|| each
        self._numbers: list[int] = []  # entry number in the run, 1 for the first record
        self._stride = 1
        self._recent: deque[StepRecord] = deque(maxlen=trail)
        self.total_records = 0
        self.nonfinite_record: StepRecord | None = None

    def __len__(self) -> int:
        return len(self._iterations)

    def append(self, record: StepRecord) -> None:
        """Add one record; thin the older entries if over capacity."""
        self.total_records += 1
        self._numbers.append(self.total_records)
        self._iterations.append(record.iteration)
        self._losses.append(record.loss)
        self._norms_before.append(record.global_norm_before)
        self._norms_after.append(record.global_norm_after)
        self._clipped.append(record.clipped)
        self._grad_rows.append(record.log10_grad_norms)
        self._recent.append(record)
        if record.nonfinite is not None and self.nonfinite_record is None:
            self.nonfinite_record = record
        if len(self._iterations) > self.capacity:
            self._thin()

    def _thin(self) -> None:
        numbers = np.asarray(self._numbers)
        newest = self.total_records - self.capacity // 4
        # The entries off the current stride's grid are newer than the last thinning: try the
        # current stride first, and coarsen only while too many would remain.
        while True:
            kept = (numbers % self._stride == 0) | (numbers > newest) | (numbers == 1)
            if np.count_nonzero(kept) <= (3 * self.capacity) // 4:
                break
            self._stride *= 2
        keep = np.flatnonzero(kept).tolist()
        for name in (
            "_numbers", "_iterations", "_losses", "_norms_before", "_norms_after", "_clipped", "_grad_rows",
        ):  # fmt: skip
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in keep])

    def clear(self) -> None:
        """Forget everything (a reset)."""
        self._reset()

    @property
    def latest(self) -> StepRecord | None:
        """The newest record, or None."""
        return self._recent[-1] if self._recent else None

    def recent(self) -> list[StepRecord]:
        """The newest full records, oldest first."""
        return list(self._recent)

    def iterations(self) -> np.ndarray:
        """(n,) int64 iteration numbers of the kept entries."""
        return np.asarray(self._iterations, dtype=np.int64)

    def losses(self) -> np.ndarray:
        """(n,) float64 losses (may hold inf/NaN)."""
        return np.asarray(self._losses, dtype=np.float64)

    def global_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) global gradient norms before and after clipping."""
        return np.asarray(self._norms_before), np.asarray(self._norms_after)

    def clipped(self) -> np.ndarray:
        """(n,) bool, whether clipping acted."""
        return np.asarray(self._clipped, dtype=bool)

    def log10_grad_norm_rows(self, layer: int, positions: Sequence[int] | None = None) -> np.ndarray:
        """(n, T) float64 ``log10 ||dL/dh||`` of ``layer`` for each kept iteration (exact at any
        magnitude; -inf where the gradient is exactly 0); with ``positions`` (indices into
        :meth:`iterations`), only those rows, in that order: ``(len(positions), T)``."""
        if not self._grad_rows:
            return np.empty((0, 0))
        chosen = self._grad_rows if positions is None else [self._grad_rows[n] for n in positions]
        if not chosen:
            return np.empty((0, self._grad_rows[0].shape[1]))
        return np.stack([rows[layer] for rows in chosen])

    def grad_norm_rows(self, layer: int) -> np.ndarray:
        """(n, T) float64 ``||dL/dh||``, ``10 ** log10_grad_norm_rows``: 0 where a norm is below
        float64's range. For compatibility; measure and plot the logarithms."""
        with np.errstate(under="ignore", over="ignore"):
            return np.power(10.0, self.log10_grad_norm_rows(layer))
