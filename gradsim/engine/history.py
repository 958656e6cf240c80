"""A bounded history of step records, the plots' only data source.

A long run must not grow memory without bound, yet the loss curve should still span the whole
run. The history keeps the per-iteration series on a grid of the run: entry number ``n`` (1 for
the first record) stays if ``n`` is a multiple of the current *stride*, a power of two. Whenever
more than ``capacity`` entries are held, the entries off the grid are dropped, the stride
doubling until at most three quarters of the capacity remain; the first entry and the newest
quarter of the capacity are always kept. The kept entries are therefore evenly spaced over the
whole run, at most ``4 * n / capacity`` apart. The newest ``trail`` records are kept whole,
for the trail of recent gradient curves.

The per-iteration series are numpy arrays that grow in place (their room doubles when full) and
are rebuilt only by a thinning, so reading them is a view, not a conversion of the whole run on
every display frame. Between two thinnings an array read earlier stays valid: appending writes
past its end, and a thinning builds new arrays. ``thinnings`` counts the thinnings (and clears),
so a reader can tell "only new entries at the end" from "entries dropped".
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

    Attributes
    ----------
    total_records : records appended since the last clear
    thinnings : how many times entries were dropped (a thinning or a clear) since the history
        was made; while it stays the same, each series only grew at its end
    nonfinite_record : the first record with a non-finite event, or None
    """

    def __init__(self, capacity: int = 1000, trail: int = 12) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.capacity = capacity
        self.trail = trail
        self.thinnings = 0
        self._reset()

    def _reset(self) -> None:
        trail = self.trail
        room = 64
        # Entry number in the run (1 for the first record), then one array per series; only
        # the first ``_size`` entries are meaningful.
        self._numbers = np.zeros(room, dtype=np.int64)
        self._iterations = np.zeros(room, dtype=np.int64)
        self._losses = np.zeros(room, dtype=np.float64)
        self._norms_before = np.zeros(room, dtype=np.float64)
        self._norms_after = np.zeros(room, dtype=np.float64)
        self._clipped = np.zeros(room, dtype=bool)
        self._size = 0
        self._grad_rows: list[np.ndarray] = []  # (L, T) float64 log10 ||dL/dh|| each
        self._stride = 1
        self._recent: deque[StepRecord] = deque(maxlen=trail)
        self.total_records = 0
        self.nonfinite_record: StepRecord | None = None

    def __len__(self) -> int:
        return self._size

    def append(self, record: StepRecord) -> None:
        """Add one record; thin the older entries if over capacity."""
        self.total_records += 1
        n = self._size
        if n == len(self._numbers):
            self._grow(2 * n)
        self._numbers[n] = self.total_records
        self._iterations[n] = record.iteration
        self._losses[n] = record.loss
        self._norms_before[n] = record.global_norm_before
        self._norms_after[n] = record.global_norm_after
        self._clipped[n] = record.clipped
        self._size = n + 1
        self._grad_rows.append(record.log10_grad_norms)
        self._recent.append(record)
        if record.nonfinite is not None and self.nonfinite_record is None:
            self.nonfinite_record = record
        if self._size > self.capacity:
            self._thin()

    def _grow(self, room: int) -> None:
        """Room for ``room`` entries, holding the current ones."""
        self._rebuild(room, np.arange(self._size))

    def _rebuild(self, room: int, keep: np.ndarray) -> None:
        """New arrays of ``room`` entries holding the entries at the indices ``keep``, in order:
        new arrays, not a compaction in place, so that arrays handed out before keep their values."""
        for name in _SERIES:
            old = getattr(self, name)
            new = np.zeros(room, dtype=old.dtype)
            new[: len(keep)] = old[keep]
            setattr(self, name, new)
        self._size = len(keep)

    def _thin(self) -> None:
        numbers = self._numbers[: self._size]
        newest = self.total_records - self.capacity // 4
        # The entries off the current stride's grid are newer than the last thinning: try the
        # current stride first, and coarsen only while too many would remain.
        while True:
            kept = (numbers % self._stride == 0) | (numbers > newest) | (numbers == 1)
            if np.count_nonzero(kept) <= (3 * self.capacity) // 4:
                break
            self._stride *= 2
        keep = np.flatnonzero(kept)
        self._rebuild(len(self._numbers), keep)
        self._grad_rows = [self._grad_rows[i] for i in keep.tolist()]
        self.thinnings += 1

    def clear(self) -> None:
        """Forget everything (a reset)."""
        self._reset()
        self.thinnings += 1

    @property
    def latest(self) -> StepRecord | None:
        """The newest record, or None."""
        return self._recent[-1] if self._recent else None

    def recent(self) -> list[StepRecord]:
        """The newest full records, oldest first."""
        return list(self._recent)

    def _series(self, name: str) -> np.ndarray:
        """The kept entries of the series ``name``, a read-only view."""
        view = getattr(self, name)[: self._size]
        view.flags.writeable = False
        return view

    def iterations(self) -> np.ndarray:
        """(n,) int64 iteration numbers of the kept entries (read-only)."""
        return self._series("_iterations")

    def losses(self) -> np.ndarray:
        """(n,) float64 losses (may hold inf/NaN; read-only)."""
        return self._series("_losses")

    def global_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) float64 global gradient norms before and after clipping (read-only)."""
        return self._series("_norms_before"), self._series("_norms_after")

    def clipped(self) -> np.ndarray:
        """(n,) bool, whether clipping acted (read-only)."""
        return self._series("_clipped")

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


# The per-iteration arrays of a RunHistory, grown and thinned together.
_SERIES = ("_numbers", "_iterations", "_losses", "_norms_before", "_norms_after", "_clipped")
