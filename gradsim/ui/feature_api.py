"""What the window offers a feature, and what features offer each other: typed, not ``getattr``.

A feature is a module with ``install(window: WindowAPI) -> object``; :data:`FEATURE_MODULES`
lists them in install order. :class:`WindowAPI` is everything a feature may use of the window
(in the spirit of ndv's view contract): the tab widget, the menus, docks, the status bar, the
runner's signals and commands, the run history, the config (read and apply), the settings, the
plots (for overlays, through :meth:`WindowAPI.overlay_plot`), and the features installed. It is
a small abstract ``QMainWindow`` rather than a ``Protocol`` because features also use the window
as what it is, a main window (the parent of their dialogs and actions, the owner of docks);
:class:`~gradsim.ui.main_window.MainWindow` derives from it.

What one feature offers others is a small :class:`~typing.Protocol` below (runtime-checkable):
the object its ``install`` returned implements it, and another feature asks the window for it
with :meth:`WindowAPI.offered` — never by module name. A feature that is not installed simply
offers nothing (``None``).

Layering (pyproject's import contracts): this module sits below the features and above
``ui/training``: features import it, it imports no feature and not the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from PySide6 import QtWidgets

if TYPE_CHECKING:
    import numpy as np
    import pyqtgraph as pg
    from PySide6 import QtCore, QtGui

    from gradsim.engine.config import SimConfig
    from gradsim.engine.history import RunHistory
    from gradsim.ui.common.theme import Theme
    from gradsim.ui.training.control_panel import ControlPanel
    from gradsim.ui.training.dashboard import Dashboard
    from gradsim.ui.training.runner import Runner

# Features added after the window is built, in this order; each module has install(window).
FEATURE_MODULES: tuple[str, ...] = (
    "gradsim.ui.features.backprop.backprop_tab",
    "gradsim.ui.features.snapshots.snapshots",
    "gradsim.ui.features.files.file_actions",
    "gradsim.ui.features.diagnosis.diagnosis_panel",
    "gradsim.ui.features.lessons.lessons_panel",
    "gradsim.ui.features.sweep.sweep_view",
    "gradsim.ui.features.compare.compare",
    "gradsim.ui.features.presentation.presentation",
    "gradsim.ui.features.recording.recording",
)

Offer = TypeVar("Offer")

# ``(config, params, batch)``: a trained network frozen for the Backprop tab, with the batch it
# shows (``(inputs, targets)``, or None for a freshly sampled one). Quoted: numpy and the config
# are imported for type checking only.
FrozenWeights: TypeAlias = "tuple[SimConfig, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray] | None]"


class WindowAPI(QtWidgets.QMainWindow):
    """The window as a feature sees it: a ``QMainWindow`` (menus, docks, status bar, a parent for
    dialogs and actions) with these parts. :class:`~gradsim.ui.main_window.MainWindow` implements
    it; declarations, and the lookup of what features offer.

    Attributes
    ----------
    runner : the training :class:`~gradsim.ui.training.runner.Runner` (signals ``recordsReady``,
        ``rebuilt``, ``runningChanged``, ``halted``; commands ``play``/``pause``/``step``)
    history : the bounded :class:`~gradsim.engine.history.RunHistory` of the current run
    dashboard : the Training tab's plots (``refreshed(history, config)`` after each frame)
    control_panel : the controls on the left
    settings : where a feature keeps its choices (``QSettings``)
    tabs : the central tab widget; tab 0 "Training"
    file_menu, run_menu, view_menu, help_menu : menus to extend
    run_toolbar : the transport toolbar
    quit_action, show_controls_action : actions features place entries around or toggle
    controls_scroll : the scroll area holding the controls
    splitter : the splitter between the controls and the tabs
    features : module name -> what its ``install(window)`` returned
    presentation_scale : the scale every tab draws its text, lines and markers at (1: normal;
        presentation mode sets it with :meth:`set_presentation_scale`)

    Signals
    -------
    runRestarted(config) : the plots were cleared for a new run (rebuild or reset)
    closing() : the window is closing; workers still run, settings not yet saved
    presentationScaleChanged(scale) : :attr:`presentation_scale` changed; a feature that draws a
        tab follows it (and applies the current scale when it is installed)
    """

    runner: Runner
    history: RunHistory
    dashboard: Dashboard
    control_panel: ControlPanel
    settings: QtCore.QSettings
    tabs: QtWidgets.QTabWidget
    file_menu: QtWidgets.QMenu
    run_menu: QtWidgets.QMenu
    view_menu: QtWidgets.QMenu
    help_menu: QtWidgets.QMenu
    run_toolbar: QtWidgets.QToolBar
    quit_action: QtGui.QAction
    show_controls_action: QtGui.QAction
    controls_scroll: QtWidgets.QScrollArea
    splitter: QtWidgets.QSplitter
    features: dict[str, object]
    presentation_scale: float
    # Signals, declared by the implementation (a Qt signal must be defined on the concrete class).
    runRestarted: Any  # noqa: N815 (Qt's naming)
    closing: Any
    presentationScaleChanged: Any  # noqa: N815

    def current_config(self) -> SimConfig:
        """The config of the run being shown."""
        raise NotImplementedError

    def apply_config(self, config: SimConfig) -> None:
        """Show ``config`` in the controls and start a new run with it, as a user's edit would."""
        raise NotImplementedError

    def training_tab(self) -> QtWidgets.QWidget:
        """The "Training" tab (banner + dashboard)."""
        raise NotImplementedError

    def overlay_plot(self, key: str) -> tuple[pg.PlotItem, pg.LegendItem | None]:
        """The dashboard plot ``key``'s PlotItem and legend, for a feature's overlay items."""
        raise NotImplementedError

    def set_presentation_scale(self, scale: float) -> None:
        """Draw every tab at ``scale`` (1: normal) and tell the features."""
        raise NotImplementedError

    def offered(self, kind: type[Offer]) -> Offer | None:
        """The first installed feature that offers ``kind`` (a protocol below), or None."""
        return find_offer(self.features, kind)


# -- what features offer each other --------------------------------------------------------------


@runtime_checkable
class PinnedRun(Protocol):
    """One pinned run: its label, config and history."""

    label: str
    config: SimConfig
    history: RunHistory


@runtime_checkable
class PinnedRuns(Protocol):
    """Runs pinned for comparison (the compare feature); the snapshot bundle saves them."""

    def pinned_runs(self) -> Sequence[PinnedRun]:
        """The pinned runs, oldest first."""
        ...


@runtime_checkable
class SnapshotFolder(Protocol):
    """Where snapshots are saved (the snapshot feature); recordings use the same folder."""

    current_plot: str

    def folder(self) -> Path:
        """The folder used last."""
        ...

    def remember_folder(self, path: str | Path) -> None:
        """Propose the folder of ``path`` next time."""
        ...


@runtime_checkable
class BackwardFrames(Protocol):
    """Pictures of a backward pass, ``position`` cells computed (an offscreen view; GUI thread).

    Attributes
    ----------
    size : ``(width, height)`` of a frame in pixels
    """

    size: tuple[int, int]

    @property
    def total_cells(self) -> int:
        """Layers x time steps."""
        ...

    def frame(self, position: int) -> np.ndarray:
        """The view with the first ``position`` cells computed: ``(H, W, 3) uint8``."""
        ...

    def close(self) -> None:
        """Delete the offscreen view."""
        ...


# Why a backward pass cannot be recorded yet (no weights frozen, or no Backprop tab).
NOTHING_FROZEN = "open the Backprop tab first: it freezes the weights whose backward pass is shown"


@runtime_checkable
class FrozenNetwork(Protocol):
    """The Backprop tab's frozen network (the backprop feature): recordings animate its backward
    pass and put their button in its header."""

    def frozen_network(self) -> FrozenWeights | None:
        """``(config, params, batch)`` of the weights the tab shows (None before the first)."""
        ...

    def backward_frames(self, width: int, theme: Theme, *, scale: float = 1.0) -> BackwardFrames:
        """An offscreen copy of the tab's view of its frozen network, ``width`` px wide.

        Raises ValueError when none is frozen or its backward pass cannot be shown (the message
        says why)."""
        ...

    def backward_frame_size(self) -> tuple[int, int]:
        """The backward-pass view's logical size offscreen, ``(width, height)``."""
        ...

    def add_header_widget(self, widget: QtWidgets.QWidget) -> None:
        """Put ``widget`` in the tab's header row, after its own buttons."""
        ...


@runtime_checkable
class PresentationState(Protocol):
    """Presentation mode (the presentation feature): the scale now and the rows it shows."""

    scale: float

    def bottom_row_shown(self) -> bool:
        """Whether the dashboard's second row shows (always outside the mode)."""
        ...


def find_offer(features: dict[str, object], kind: type[Offer]) -> Offer | None:
    """The first of ``features`` (install order) that is a ``kind``, or None."""
    for feature in features.values():
        if isinstance(feature, kind):
            return feature
    return None
