"""The ONE measure of vanishing and exploding: spans through time and through depth.

The gradient ``dL/dh`` enters at the top layer's last time step and travels two ways: back
through time inside each layer, and down through the stack at each time step. Each way is a
*span*, a product of one factor per step (or per layer), measured as log10 of the gradient's
norm where the span ends over where it starts:

- the **time span** of layer ``l``: ``||dL/dh_1|| / ||dL/dh_T||`` within layer ``l``, over
  ``T - 1`` steps;
- the **depth span** (two layers or more): layer 1 over the top layer at the last time step,
  over ``L - 1`` layers.

A span's factor is the geometric mean ``10 ** (decades / steps)``, so that the factor raised to
the number of steps is the ratio. The run's regime is the regime of its most extreme span
(largest ``|decades|``) against :data:`DECADES_THRESHOLD`; a record with an inf/NaN is
"non-finite"; a layer whose gradient is exactly zero somewhere has vanished. The corner ratio
(first layer's first step over top layer's last step) mixes both ways and is kept as evidence.

Every view (badge, status bar, diagnosis, CLI, lessons, sweep, exports) reads this module:
:func:`measure` for a record, :func:`measure_log10_norms` for a bare ``(L, T)`` table of log10
norms, :meth:`RegimeMeasure.sentence` for the named verdict.

Gated cells: the measure reads ``||dL/dh||`` for them as for the RNN (what reaches the inputs of
every step, and the same quantity for every cell). An LSTM's cell state has its own gradient
``||dL/dc||``; :func:`measure_cell_path` measures its spans the same way, as evidence beside the
regime (it does not decide it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .formatting import format_factor, format_ratio
from .records import NonFiniteEvent, StepRecord, nonfinite_norms

# A span whose gradient changes by more than this many decades has vanished or exploded.
DECADES_THRESHOLD = 3.0

REGIMES = ("healthy", "vanishing", "exploding", "non-finite")
TIME = "time"
DEPTH = "depth"


@dataclass(frozen=True)
class Span:
    """One way the gradient travels, and how much it changed on the way.

    Attributes
    ----------
    kind : ``"time"`` (back through the steps of one layer) or ``"depth"`` (down the layers at
        the last step)
    layer : 0-based layer of a time span; None for the depth span
    decades : log10 of the far end's norm over the near end's: negative means it shrank;
        ``-inf`` where the gradient is exactly zero somewhere on the span
    steps : how many factors the span multiplies: ``T - 1`` for time, ``L - 1`` for depth
    zero_at : for a span that reached exactly zero, the 0-based step (time) or layer (depth)
        nearest the entry point where the norm is 0; None otherwise
    """

    kind: str
    layer: int | None
    decades: float
    steps: int
    zero_at: int | None = None

    @property
    def ratio(self) -> float:
        """``10 ** decades`` (0.0 below the float range: format with :attr:`decades`)."""
        return 10.0**self.decades

    @property
    def factor(self) -> float:
        """The geometric-mean factor per step (or layer): ``factor ** steps == ratio``."""
        if self.steps < 1:
            return float("nan")
        return 10.0 ** (self.decades / self.steps)

    @property
    def regime(self) -> str:
        """``"vanishing"``, ``"exploding"`` or ``"healthy"`` for this span alone."""
        if self.decades < -DECADES_THRESHOLD:
            return "vanishing"
        if self.decades > DECADES_THRESHOLD:
            return "exploding"
        return "healthy"

    @property
    def unit(self) -> str:
        """``"step"`` or ``"layer"``: what one factor of the span is."""
        return "step" if self.kind == TIME else "layer"

    def name(self) -> str:
        """``"through time in layer 2"`` / ``"through depth"`` (1-based layer)."""
        if self.kind == TIME:
            return f"through time in layer {self.layer + 1}"  # type: ignore[operator]
        return "through depth"

    def ratio_text(self) -> str:
        """The ratio as every view writes it (:func:`gradsim.engine.formatting.format_ratio`)."""
        return format_ratio(self.decades)

    def factor_text(self) -> str:
        """The factor as every view writes it; it multiplies out to :meth:`ratio_text`."""
        return format_factor(self.decades, self.steps)

    def numbers(self) -> str:
        """``"3.16e-07 over 49 steps, ×0.7368 per step"``: the ratio, its length and factor.

        For the depth span: ``"layer 1 gets 1e-09 of the top layer's gradient over 15 layers,
        ×0.2512 per layer"``. A span that reached zero says where.
        """
        count = f"{self.steps} {self.unit}{'' if self.steps == 1 else 's'}"
        if self.zero_at is not None:
            where = f"step {self.zero_at + 1}" if self.kind == TIME else f"layer {self.zero_at + 1}"
            return f"the gradient is exactly 0 at {where}, over {count}: every path back is cut"
        tail = f"over {count}, ×{self.factor_text()} per {self.unit}"
        if self.kind == DEPTH:
            return f"layer 1 gets {self.ratio_text()} of the top layer's gradient {tail}"
        return f"{self.ratio_text()} {tail}"

    def describe(self) -> str:
        """``"vanishing through time in layer 2: 3.16e-07 over 49 steps, ×0.7368 per step"``."""
        return f"{self.regime} {self.name()}: {self.numbers()}"


@dataclass(frozen=True)
class RegimeMeasure:
    """The regime of one step record and the spans it was decided on.

    Attributes
    ----------
    regime : ``"healthy"``, ``"vanishing"``, ``"exploding"`` or ``"non-finite"``
    spans : every time span (layer 1 first), then the depth span (two layers or more); empty
        for a non-finite record, and for one layer of one step (nothing to travel)
    extreme : the span with the largest ``|decades|`` (the first of equals), None without spans
    corner_decades : log10 of (first layer, first step) over (top layer, last step); evidence
        only, NaN where undefined
    nonfinite : the record's non-finite event, if any
    """

    regime: str
    spans: tuple[Span, ...]
    extreme: Span | None
    corner_decades: float
    nonfinite: NonFiniteEvent | None = None

    @property
    def decades(self) -> float:
        """The extreme span's signed decades (NaN without one): the sweep's value."""
        return float("nan") if self.extreme is None else self.extreme.decades

    def sentence(self) -> str:
        """The named verdict, one sentence.

        ``"vanishing through time in layer 2: 3.16e-07 over 49 steps, ×0.7368 per step"``,
        ``"healthy: the largest change is through depth: layer 1 gets 0.5 of ..."``,
        ``"non-finite: exploded at iteration 3, ..."``.
        """
        if self.regime == "non-finite":
            if self.nonfinite is not None:
                return f"non-finite: {self.nonfinite.describe()}"
            return "non-finite: a gradient is inf or NaN"
        if self.extreme is None:
            return "healthy: one layer of one step, the gradient does not travel"
        if self.regime == "healthy":
            return f"healthy: the largest change is {self.extreme.name()}: {self.extreme.numbers()}"
        return self.extreme.describe()

    def span_lines(self) -> list[str]:
        """One line per span: ``"time in layer 1: 0.42 over 49 steps, ×0.9825 per step (healthy)"``."""
        lines = []
        for span in self.spans:
            name = span.name().removeprefix("through ")
            lines.append(f"{name}: {span.numbers()} ({span.regime})")
        return lines


def corner_decades(log10_norms: np.ndarray) -> float:
    """log10 of the norm at (first layer, first step) over (top layer, last step).

    Negative: the gradient shrank on its way from where it enters to the far corner. NaN if
    either end is zero or not finite.
    """
    first, last = float(log10_norms[0, 0]), float(log10_norms[-1, -1])
    if not (math.isfinite(first) and math.isfinite(last)):
        return float("nan")
    return first - last


def end_to_end_decades(grad_norms: np.ndarray) -> float:
    """:func:`corner_decades` of a table of plain norms (the corner ratio, evidence only)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return corner_decades(np.log10(np.asarray(grad_norms, dtype=np.float64)))


def time_and_depth_decades(log10_norms: np.ndarray) -> tuple[np.ndarray, float]:
    """The decades of every span of an ``(L, T)`` table of ``log10 ||dL/dh||``: the one place
    they are computed (:func:`measure_log10_norms` for a record, the theory for its predicted map).

    Parameters
    ----------
    log10_norms : (L, T) float64, measured or predicted

    Returns
    -------
    time : (L,) float64, ``log10_norms[l, 0] - log10_norms[l, -1]``: the time span of each layer
        (0 for one step)
    depth : ``log10_norms[0, -1] - log10_norms[-1, -1]``, the depth span (NaN with one layer)

    Both are plain differences of the ends, so an end that is an exact zero (``-inf``) or not
    finite makes them ``+-inf`` or NaN; what that means is for the caller.
    """
    logs = np.asarray(log10_norms, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        time = logs[:, 0] - logs[:, -1]
        depth = float(logs[0, -1] - logs[-1, -1]) if logs.shape[0] > 1 else float("nan")
    return time, depth


def _span(kind: str, layer: int | None, along: np.ndarray, decades: float) -> Span:
    """The span of log10 norms ``along`` (its last entry is where the gradient enters), whose
    ends differ by ``decades`` (:func:`time_and_depth_decades`)."""
    steps = along.shape[0] - 1
    zeros = np.flatnonzero(along == -np.inf)
    if zeros.size:
        # A zero anywhere on the span: the gradient vanished completely on the way.
        return Span(kind, layer, -math.inf, steps, zero_at=int(zeros[-1]))
    return Span(kind, layer, float(decades), steps)


def measure_log10_norms(log10_norms: np.ndarray, nonfinite: NonFiniteEvent | None = None) -> RegimeMeasure:
    """The regime measure of a ``(L, T)`` table of ``log10 ||dL/dh||``.

    Parameters
    ----------
    log10_norms : (L, T) float64; ``-inf`` where a norm is exactly 0, NaN or ``+inf`` where it
        is not finite
    nonfinite : the record's non-finite event (makes the regime "non-finite")
    """
    logs = np.asarray(log10_norms, dtype=np.float64)
    if logs.ndim != 2 or logs.size == 0:
        raise ValueError(f"log10 norms must be a non-empty (layers, steps) table (got shape {logs.shape})")
    corner = corner_decades(logs)
    if nonfinite is not None or nonfinite_norms(logs).any():
        return RegimeMeasure("non-finite", (), None, corner, nonfinite)
    num_layers, seq_len = logs.shape
    time, depth = time_and_depth_decades(logs)
    spans: list[Span] = []
    if seq_len > 1:
        spans += [_span(TIME, layer, logs[layer], time[layer]) for layer in range(num_layers)]
    if num_layers > 1:
        spans.append(_span(DEPTH, None, logs[:, -1], depth))
    if not spans:
        return RegimeMeasure("healthy", (), None, corner)
    extreme = max(spans, key=lambda span: abs(span.decades))  # max keeps the first of equals
    return RegimeMeasure(extreme.regime, tuple(spans), extreme, corner)


def measure(record: StepRecord) -> RegimeMeasure:
    """The regime measure of one step record (reads ``record.log10_grad_norms``)."""
    return measure_log10_norms(record.log10_grad_norms, record.nonfinite)


def classify(record: StepRecord) -> str:
    """``"non-finite"``, ``"vanishing"``, ``"exploding"`` or ``"healthy"``: ``measure(record).regime``."""
    return measure(record).regime


def measure_cell_path(record: StepRecord) -> RegimeMeasure | None:
    """The same measure of an LSTM's cell path, ``log10 ||dL/dc||`` (None for other cells).

    Evidence next to :func:`measure`, which decides the regime: the cell state carries the
    gradient back in time (factor per step: the forget gate), the hidden state hands it to the
    inputs and to the layer below.
    """
    if record.log10_cell_grad_norms is None:
        return None
    return measure_log10_norms(record.log10_cell_grad_norms, record.nonfinite)
