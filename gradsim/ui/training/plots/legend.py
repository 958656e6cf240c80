"""The key of the per-layer curves: a legend in rows under a plot, never over its data."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.common.fit import without_width
from gradsim.ui.common.scaling import scale_of


def layer_names(count: int) -> list[str]:
    """``["layer 1", ..., "layer count"]`` (layers are numbered from 1 for people)."""
    return [f"layer {k + 1}" for k in range(count)]


class RowLegend(pg.LegendItem):
    """A legend laid out in rows under a plot: as many columns as fit ``view``'s width.

    Put it in the graphics layout (a row of its own), not in the view box, so it never hides
    data. It refits whenever an entry is added or removed (features add theirs, such as the
    theory line) and when :meth:`fit` is called on a resize.
    """

    def __init__(self, view: QtWidgets.QWidget, **options: object) -> None:
        self._view = view
        super().__init__(**options)
        self.layout.setContentsMargins(4, 0, 4, 0)  # a row of text, not a framed box
        # A long entry (a pinned run's name) is cut at the plot's edge rather than widening it.
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape, True)

    def sizeHint(  # noqa: N802
        self, which: QtCore.Qt.SizeHint, constraint: QtCore.QSizeF | None = None
    ) -> QtCore.QSizeF:
        return without_width(super().sizeHint(which, constraint), which, QtCore.Qt.SizeHint.MinimumSize)

    def addItem(self, item: object, name: str) -> None:  # noqa: N802
        super().addItem(item, name)
        self.fit()

    def removeItem(self, item: object) -> None:  # noqa: N802
        super().removeItem(item)
        self.fit()

    def _addItemToLayout(self, sample: object, label: object) -> None:  # noqa: N802
        # Row-major by entry index (pyqtgraph's own placement leaves holes after a removal).
        row, column = divmod(len(self.items) - 1, max(self.columnCount, 1))
        self.layout.addItem(sample, row, 2 * column, alignment=QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.layout.addItem(label, row, 2 * column + 1)

    def _arrange(self, columns: int) -> None:
        self.columnCount = columns
        for index in range(self.layout.count() - 1, -1, -1):
            self.layout.removeAt(index)
        for index, (sample, label) in enumerate(self.items):
            row, column = divmod(index, columns)
            self.layout.addItem(sample, row, 2 * column, alignment=QtCore.Qt.AlignmentFlag.AlignVCenter)
            self.layout.addItem(label, row, 2 * column + 1)
        self.layout.invalidate()
        self.updateSize()

    def fit(self) -> None:
        """The most columns (up to one row) whose width fits the view."""
        # The legend keeps its size in pixels times the presentation scale (see scaling).
        available = self._view.width() / scale_of(self._view) - 16
        entries = max(len(self.items), 1)
        for columns in range(entries, 0, -1):
            self._arrange(columns)
            width = self.layout.effectiveSizeHint(QtCore.Qt.SizeHint.PreferredSize).width()
            if width <= available:
                break
