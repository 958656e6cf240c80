"""Pinned runs without a widget: what a pin keeps, its colours, and the short texts that name it.

A :class:`PinnedRun` is a deep copy of a run's history with its config, colour and label. The
legend names a pin by its first difference (:func:`short_label`), the heatmap by its regime
measure's most extreme span (:func:`span_ratio`).
"""

from __future__ import annotations

import dataclasses

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import measure

MAX_PINS = 6
# One colour per pin, distinct from the layer colours' first hues and from red (non-finite).
PIN_COLORS = ("#6d4c41", "#c2185b", "#00897b", "#7b1fa2", "#546e7a", "#9e9d24")


@dataclasses.dataclass
class PinnedRun:
    """A run kept for comparison.

    Attributes
    ----------
    label : how the pinned config differs from the live one (updated when the live run changes)
    config : the pinned run's config
    history : a deep copy of the run's history at the moment it was pinned
    color : ``"#rrggbb"`` of its ghosts
    visible : whether its ghosts are drawn
    """

    label: str
    config: SimConfig
    history: RunHistory
    color: str
    visible: bool = True

    @property
    def latest(self) -> StepRecord | None:
        """The newest record of the pinned run."""
        return self.history.latest

    @property
    def iteration(self) -> int:
        """Training steps the pinned run had taken."""
        latest = self.history.latest
        return 0 if latest is None else latest.iteration


def short_label(label: str) -> str:
    """The first difference of a label (the legend must not cover the plot; the dock has all)."""
    first, _, rest = label.partition(", ")
    return f"pinned: {first}" + (
        " …" if rest and not label.startswith("same settings") else f", {rest}" if rest else ""
    )


def span_ratio(record: StepRecord) -> str:
    """``"layer 2: 5.18e-06"`` (a time span) or ``"depth: 1e-09"``: the regime measure's extreme span."""
    measured = measure(record)
    span = measured.extreme
    if span is None:
        return measured.regime
    where = "depth" if span.kind == "depth" else f"layer {span.layer + 1}"  # type: ignore[operator]
    return f"{where}: {span.ratio_text()}"
