"""Step through backpropagation one (layer, time step) at a time.

:class:`BackpropView` freezes a copy of a network's weights and one batch, runs the forward pass
and puts the engine's backward pass (:class:`gradsim.engine.simulation.BackpropSession`) under
the user's hand. The cells come in the order BPTT computes them: the top layer from the last
time step back to the first, then the layer below, and so on. What is shown is what the engine
computes: the view never recomputes a gradient itself.

Every computed :class:`~gradsim.engine.simulation.BackpropStep` is kept, so going back (undo)
and forward again (redo) only redraws; only moving past the furthest computed cell asks the
session for more (one ``advance()`` per new cell).

Large jobs run on a worker thread with a busy indicator, small ones inline
(:mod:`.backprop_jobs`, :mod:`.backprop_cost`). The parts live beside this module: the cells
computed (:mod:`.backprop_cells`), the drawing (:mod:`.backprop_display`), the words
(:mod:`.backprop_text`), the transport and play speed (:mod:`.backprop_controls`), the side panel
(:mod:`.backprop_side`); this module holds the view that loads, navigates and plays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.clipping import ClipResult
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import BackpropSession, BackpropStep, Simulation
from gradsim.ui.common.scaling import scale_fonts, scale_plots
from gradsim.ui.common.teardown import release_window
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.common.workers import JobContext
from gradsim.ui.features.backprop.backprop_cells import ComputedCells
from gradsim.ui.features.backprop.backprop_controls import (
    MAX_SPEED,
    MIN_SPEED,
    Player,
    TransportBar,
    notch_speed,
    position_labels,
    speed_text,
    transport_actions,
)
from gradsim.ui.features.backprop.backprop_cost import INLINE_SECONDS, forward_seconds, steps_seconds
from gradsim.ui.features.backprop.backprop_display import CellDisplay, reading_label
from gradsim.ui.features.backprop.backprop_jobs import Built, JobResult, Jobs, advance_cells, build_session
from gradsim.ui.features.backprop.backprop_plots import BackpropGraphics
from gradsim.ui.features.backprop.backprop_side import SidePanel, body_splitter


class BackpropView(QtWidgets.QWidget):
    """The backward pass of one frozen network and batch, stepped by the user.

    Signals
    -------
    loaded : the forward pass is done and stepping can begin
    position_changed(int) : the number of cells shown changed
    busy_changed(bool) : a background job started or ended
    failed(str) : loading or stepping failed; the message is also shown in the view

    Attributes
    ----------
    theme : the colours and fonts: the ``theme`` given, else the application's (:func:`current_theme`)
    graphics : :class:`BackpropGraphics`, the grid, curve and derivative heatmap
    reading : QLabel with the one-line reading of the current cell
    value_labels : ``{"cell", "order", "grad_norm", "local_factor", "mean_derivative",
        "saturation", "spectral_norm", "loss"}`` -> QLabel with the numbers of the current cell
    clip_label : QLabel with the clipping outcome (its group box is hidden without clipping)
    start_action, step_action, undo_action, end_action, play_action : the transport QActions
        (Home, Left, Right, End, Space/P) active while the focus is inside the view
    curve_values : the arrays last drawn in the curve plot, as log10 values (exact below float64):
        ``"norms"``, ``"factor_product"``, ``"parts_product"`` (see :class:`~.backprop_cells.LayerCurve`)
    inline_seconds : jobs estimated above this many seconds run on a background thread
    """

    loaded = QtCore.Signal()
    position_changed = QtCore.Signal(int)
    busy_changed = QtCore.Signal(bool)
    failed = QtCore.Signal(str)

    _config: SimConfig | None  # the loaded network's config (None: nothing loaded)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, theme: Theme | None = None) -> None:
        super().__init__(parent)
        self.theme = theme if theme is not None else current_theme()
        self.inline_seconds = INLINE_SECONDS
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self._jobs = Jobs(self)
        self._jobs.finished.connect(self._on_job_finished)
        self._generation = 0
        self._busy = False
        self._speed_chosen = False
        self._sizes_before_presentation: list[int] | None = None  # the splitter's, in presentation mode
        self._player = Player(self)
        self._player.ticked.connect(self._on_tick)
        self._build_ui()
        self._forget()
        self._update_controls()

    # -- construction ------------------------------------------------------------------------
    def _build_ui(self) -> None:
        theme = self.theme
        font = theme.font(theme.label_pt)
        actions = transport_actions(
            self, self.go_to_start, self.step_backward, self.undo_step, self.go_to_end, self.toggle_play
        )
        self.start_action, self.step_action, self.undo_action = actions.start, actions.step, actions.undo
        self.end_action, self.play_action = actions.end, actions.play
        self.transport = TransportBar(actions, font)
        self.toolbar = self.transport.toolbar
        self.speed_slider = self.transport.speed_slider
        self.speed_slider.valueChanged.connect(self._on_speed_slider)
        self.speed_label = self.transport.speed_label
        self.position_label, self.position_in_bar = position_labels(font)
        self.busy_box, self.busy_label, self.busy_bar = (
            self.transport.busy_box,
            self.transport.busy_label,
            self.transport.busy_bar,
        )
        self._set_speed(self._player.speed)

        self.reading = reading_label(theme)

        self.graphics = BackpropGraphics(theme)
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)

        self.side_panel = SidePanel(theme)
        self.value_labels = self.side_panel.value_labels
        self.clip_box, self.clip_label = self.side_panel.clip_box, self.side_panel.clip_label
        self.key_box = self.side_panel.key_box
        self.display = CellDisplay(self.graphics, self.side_panel, self.reading, theme)

        self.body_splitter = body = body_splitter(self.graphics, self.side_panel)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.transport)
        reading_row = QtWidgets.QHBoxLayout()
        reading_row.addWidget(self.reading, 1)
        reading_row.addWidget(self.position_label)
        layout.addLayout(reading_row)
        transport_layout = self.transport.layout()
        assert isinstance(transport_layout, QtWidgets.QBoxLayout)
        transport_layout.addWidget(self.position_in_bar)
        layout.addWidget(body, 1)

    # -- loading -----------------------------------------------------------------------------
    def load(
        self,
        config: SimConfig,
        params: dict[str, np.ndarray],
        batch: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Freeze ``params`` and ``batch`` and run the forward pass of ``config``.

        Parameters
        ----------
        config : the network and task
        params : parameter arrays keyed like ``Simulation.params``; copied now, so a run that
            goes on training elsewhere does not change what is shown
        batch : ``(x, y)`` with ``x`` ``(B, T, I)``; by default the first batch of the config's
            data stream (its seed)

        The forward pass runs inline for small configs and on a background thread (busy
        indicator, :attr:`loaded` when done) for large ones. Parameters that do not fit the
        config give a message in the view and :attr:`failed`.
        """
        frozen = {name: np.array(value, copy=True) for name, value in params.items()}
        frozen_batch = None
        if batch is not None:
            frozen_batch = (np.array(batch[0], copy=True), np.array(batch[1], copy=True))
        self.pause()
        self._generation += 1
        self._forget()
        self._config = config
        self.reading.setText("Running the forward pass on the frozen weights and batch…")
        if frozen_batch is not None:
            batch_size, seq_len = frozen_batch[0].shape[:2]
        else:
            batch_size, seq_len = config.batch_size, config.seq_len
        cost = forward_seconds(config.num_layers, seq_len, batch_size, config.hidden_size)
        job = functools.partial(build_session, config, frozen, frozen_batch)
        self._start_job("build", job, cost, "Running the forward pass…")

    def load_simulation(
        self, simulation: Simulation, batch: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        """:meth:`load` with ``simulation``'s config and (copied) current parameters.

        ``simulation`` is not changed: its data stream is not drawn from.
        """
        self.load(simulation.config, simulation.params, batch)

    # -- state -------------------------------------------------------------------------------
    def _forget(self) -> None:
        """No network loaded: drop the session and every computed cell."""
        self._config = None
        self._simulation: Simulation | None = None
        self._session: BackpropSession | None = None
        self._batch: tuple[np.ndarray, np.ndarray] | None = None
        self._cells = ComputedCells(0, 0)
        self._position = 0
        self._target = 0
        self._derivative_maps: list[np.ndarray] = []
        self._clip: ClipResult | None = None
        self.display.clear("Load a network to step through its backward pass.")

    def _set_up(self, built: Built) -> None:
        """The forward pass is done: size the arrays and plots for this network."""
        session = built.session
        self._simulation, self._session = built.simulation, session
        self._batch = (built.x, built.y)
        self._derivative_maps = built.derivative_maps
        num_layers, seq_len = session.num_layers, session.seq_len
        total = session.total_steps
        self._cells = ComputedCells(num_layers, seq_len)
        hidden = built.derivative_maps[0].shape[0]
        self.graphics.set_shape(num_layers, seq_len, hidden, built.simulation.activation.max_derivative)
        if not self._speed_chosen:
            self._set_speed(min(MAX_SPEED, max(2.0, total / 10.0)))
        self._show(0)
        self.loaded.emit()

    # -- presentation mode -------------------------------------------------------------------
    def set_presentation_scale(self, scale: float) -> None:
        """Draw the view ``scale`` times larger (1: normal): the grid, curve and f′ heatmap with
        their text, lines and markers, the reading, the toolbar and the chain-rule panel."""
        scale_fonts(self, scale)
        scale_plots(self.graphics, scale)
        # Sizes computed from the font when the view was built.
        self.reading.setMinimumHeight(2 * self.reading.fontMetrics().lineSpacing() + 8)
        self.transport.fit_speed_label()
        self.side_panel.fit_width(scale)
        if scale == 1.0:
            if self._sizes_before_presentation is not None:
                self.body_splitter.setSizes(self._sizes_before_presentation)
                self._sizes_before_presentation = None
        elif self._sizes_before_presentation is None:
            self._sizes_before_presentation = self.body_splitter.sizes()
        self.display.name_axes(scale == 1.0)
        self._place_position_label(scale)
        self.graphics.fit_ranges()  # room for the markers at their new size

    def _place_position_label(self, scale: float) -> None:
        """The cell count beside the reading, or in presentation mode at the end of the transport
        bar, where the folded docks leave room: beside the reading it made the reading wrap to a
        third line, and the plots below needed more height than a 720-pixel window has. (Two
        labels shown in turn: moving one between layouts would change the widgets' order.)"""
        presenting = scale != 1.0
        self.position_label.setVisible(not presenting)
        self.position_in_bar.setVisible(presenting)

    # -- public reading ----------------------------------------------------------------------
    @property
    def curve_values(self) -> dict[str, np.ndarray]:
        """The arrays last drawn in the curve plot, as log10 values (see the class's attributes)."""
        return self.display.curve_values

    @property
    def config(self) -> SimConfig | None:
        """The config loaded (None before :meth:`load`)."""
        return self._config

    @property
    def session(self) -> BackpropSession | None:
        """The engine's step-through session (None until the forward pass is done)."""
        return self._session

    @property
    def batch(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The frozen batch ``(x, y)`` (None until the forward pass is done)."""
        return self._batch

    @property
    def steps(self) -> tuple[BackpropStep, ...]:
        """Every cell computed so far, in backward order (more than shown after an undo)."""
        return tuple(self._cells.steps)

    @property
    def position(self) -> int:
        """Cells shown: 0 (nothing computed) .. :attr:`total_cells` (backward pass complete)."""
        return self._position

    @property
    def total_cells(self) -> int:
        """Layers x time steps of the loaded network (0 when none is loaded)."""
        return 0 if self._session is None else self._session.total_steps

    @property
    def current_step(self) -> BackpropStep | None:
        """The cell shown as current (the last one computed), or None at the start."""
        return self._cells.steps[self._position - 1] if self._position > 0 else None

    @property
    def current_cell(self) -> tuple[int, int] | None:
        """``(layer, time_step)`` (0-based) of the highlighted cell, or None at the start."""
        step = self.current_step
        return None if step is None else (step.layer, step.time_step)

    @property
    def clip_result(self) -> ClipResult | None:
        """Clipping applied to the finished gradients (None before the end or without clipping)."""
        return self._clip if self._position == self.total_cells else None

    @property
    def is_busy(self) -> bool:
        """A background job (forward pass or many cells) is running."""
        return self._busy

    @property
    def is_playing(self) -> bool:
        """Play is animating the backward pass."""
        return self._player.is_playing

    @property
    def speed(self) -> float:
        """Play speed in cells per second."""
        return self._player.speed

    # -- navigation --------------------------------------------------------------------------
    def step_backward(self) -> None:
        """Compute (or redo) the next cell: one time step further back in BPTT order."""
        self.go_to(self._position + 1)

    def undo_step(self) -> None:
        """Show one cell less (the computed cells are kept for redo)."""
        self.go_to(self._position - 1)

    def go_to_start(self) -> None:
        """Back to the start: forward pass done, no cell shown."""
        self.pause()
        self.go_to(0)

    def go_to_end(self) -> None:
        """Complete the backward pass."""
        self.pause()
        self.go_to(self.total_cells)

    def go_to(self, position: int) -> None:
        """Show the first ``position`` cells, computing the missing ones (ignored while busy)."""
        if self._session is None or self._busy:
            return
        position = max(0, min(int(position), self.total_cells))
        if position <= len(self._cells.steps):
            self._show(position)
            return
        start, count = len(self._cells.steps), position - len(self._cells.steps)
        self._target = position
        config = self._config
        assert config is not None
        session = self._session
        hidden = self._derivative_maps[0].shape[0]
        batch_size = self._batch[0].shape[0] if self._batch is not None else config.batch_size
        cost = steps_seconds(session.num_layers, session.seq_len, batch_size, hidden, start, count)
        job = functools.partial(advance_cells, session, count, config)
        self._start_job("advance", job, cost, f"Computing {count} cells…")

    # -- play --------------------------------------------------------------------------------
    def play(self) -> None:
        """Animate the backward pass from the current cell (from the start when at the end)."""
        if self._session is None or self.is_playing:
            return
        if self._position >= self.total_cells:
            self.go_to(0)
        self._player.start()
        self._update_controls()

    def pause(self) -> None:
        """Stop the animation."""
        self._player.stop()
        self._update_controls()

    def toggle_play(self) -> None:
        """Play when paused, pause when playing."""
        if self.is_playing:
            self.pause()
        else:
            self.play()

    def set_speed(self, cells_per_second: float) -> None:
        """Play speed, clamped to 1 .. 2000 cells per second."""
        self._speed_chosen = True
        self._set_speed(cells_per_second)

    def _set_speed(self, cells_per_second: float) -> None:
        speed = min(MAX_SPEED, max(MIN_SPEED, float(cells_per_second)))
        self._player.set_speed(speed)
        self.transport.show_speed(speed)

    def _on_speed_slider(self, notch: int) -> None:
        self._speed_chosen = True
        self._player.set_speed(notch_speed(notch))
        self.speed_label.setText(speed_text(self._player.speed))

    def _on_tick(self) -> None:
        if self._session is None:
            self.pause()
            return
        if self._busy:
            return
        if self._position >= self.total_cells:
            self.pause()
            return
        count = self._player.take_cells()
        if count >= 1:
            self.go_to(self._position + count)

    # -- jobs --------------------------------------------------------------------------------
    def _start_job(
        self, kind: str, job: Callable[[JobContext | None], Any], cost: float, message: str
    ) -> None:
        inline = cost <= self.inline_seconds
        if not inline:
            self._set_busy(True, message)
        self._jobs.run(self._generation, kind, job, inline)

    def _on_job_finished(self, result: JobResult) -> None:
        if result.generation != self._generation:
            return  # a job of a network replaced since
        self._set_busy(False)
        if result.error is not None:
            self._fail(result.error)
            return
        if result.kind == "build":
            self._set_up(result.value)
        else:
            steps, clip = result.value
            self._cells.append(steps)
            if clip is not None:
                self._clip = clip
            self._show(min(self._target, len(self._cells.steps)))

    def _fail(self, error: BaseException) -> None:
        self.pause()
        if isinstance(error, ValueError | MemoryError):
            message = f"Cannot step through this network: {error}"
        else:
            message = f"Cannot step through this network ({type(error).__name__}): {error}"
        self.display.show_failure(message)
        self.failed.emit(message)
        self._update_controls()

    def _set_busy(self, busy: bool, message: str = "") -> None:
        if busy == self._busy:
            return
        self._busy = busy
        self.busy_label.setText(message + " ")
        self.busy_box.setVisible(busy)
        self._update_controls()
        self.busy_changed.emit(busy)

    def shutdown(self) -> None:
        """Stop playing and any job still running (call before closing)."""
        self.pause()
        self._generation += 1
        self._jobs.stop()
        self._set_busy(False)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        release_window(self)  # pyqtgraph's parentless Qt objects die here, on the GUI thread
        super().closeEvent(event)

    # -- drawing -----------------------------------------------------------------------------
    def _show(self, position: int) -> None:
        """Display the first ``position`` computed cells."""
        session, config = self._session, self._config
        assert session is not None and config is not None
        self._cells.show(self._position, position)
        self._position = position
        batch_shape = self._batch[0].shape if self._batch is not None else (0, 0)
        cells, maps = self._cells, self._derivative_maps
        self.display.show(session, config, cells, position, maps, self._clip, batch_shape)
        self._update_controls()
        self.position_changed.emit(position)

    def _update_controls(self) -> None:
        ready = self._session is not None and not self._busy
        total = self.total_cells
        self.start_action.setEnabled(ready and self._position > 0)
        self.undo_action.setEnabled(ready and self._position > 0)
        self.step_action.setEnabled(ready and self._position < total)
        self.end_action.setEnabled(ready and self._position < total)
        self.play_action.setEnabled(self._session is not None)
        self.play_action.setText("⏸ Pause" if self.is_playing else "▶ Play")
        if self._session is None:
            self._show_position(" no network loaded ")
        else:
            self._show_position(f" {self._position} of {total} cells computed ")

    def _show_position(self, text: str) -> None:
        for label in (self.position_label, self.position_in_bar):
            label.setText(text)
