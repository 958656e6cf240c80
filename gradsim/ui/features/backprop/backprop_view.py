"""Step through backpropagation one (layer, time step) at a time.

:class:`BackpropView` freezes a copy of a network's weights and one batch, runs the forward pass
and puts the engine's backward pass (:class:`gradsim.engine.simulation.BackpropSession`) under
the user's hand. The cells come in the order BPTT computes them: the top layer from the last
time step back to the first, then the layer below, and so on. What is shown is what the engine
computes: the view never recomputes a gradient itself.

Every computed :class:`~gradsim.engine.simulation.BackpropStep` is kept, so going back (undo)
and forward again (redo) only redraws; only moving past the furthest computed cell asks the
session for more (one ``advance()`` per new cell).

Work that could take long (the forward pass of a large config, computing hundreds of cells at
once for End or a fast Play) runs on a worker thread (:mod:`gradsim.ui.common.workers`) while a
busy indicator shows; small jobs run inline, so a single step stays instant and tests stay
deterministic. Closing the view stops a job at its next time step of the forward pass or its
next cell, so closing the application never waits for a whole forward pass.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.clipping import ClipResult, clip_gradients
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number, format_percent, format_ratio
from gradsim.engine.simulation import BackpropSession, BackpropStep, Simulation
from gradsim.ui.common.scaling import scale_fonts, scale_plots
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.common.workers import Cancelled, JobContext, Worker
from gradsim.ui.features.backprop.backprop_plots import (
    FINITE,
    NONFINITE,
    NOT_REACHED,
    ZERO,
    ZERO_COLOR,
    BackpropGraphics,
    decade_levels,
)
from gradsim.ui.training.runner import add_checkpoint

# Jobs estimated to take longer than this run on a background thread (seconds).
INLINE_SECONDS = 0.05
# Rough speed of this machine for the cost estimate: numpy matrix products (flop/s) and the
# Python overhead of one backward cell and of one forward time step (s). Measured on the 2-core
# development machine; only the order of magnitude matters.
FLOPS_PER_SECOND = 1e10
SECONDS_PER_CELL = 5e-5
SECONDS_PER_FORWARD_STEP = 5e-6
# Play speed range, cells per second (slider on a log scale).
MIN_SPEED = 1.0
MAX_SPEED = 2000.0
SPEED_SLIDER_STEPS = 200
# Play never ticks faster than the display.
MIN_TICK_MS = 16
# The side panel (chain rule, clipping, key): its narrowest and its first width, in pixels.
SIDE_MIN_WIDTH = 250
SIDE_WIDTH = 300


# -- text ---------------------------------------------------------------------------------------
def _saturated_words(activation: str) -> str:
    if activation in ("relu", "leaky_relu", "linear"):
        return "of units pass no gradient (f′ = 0)"
    return "of units are saturated"


def _nonfinite(log10_value: float) -> bool:
    """Whether a norm given by its log10 is inf/NaN (an exact zero, -inf, is finite)."""
    return math.isnan(log10_value) or log10_value == math.inf


def describe_step(step: BackpropStep, num_layers: int, seq_len: int, activation: str) -> str:
    """The one-line reading of ``step`` in plain words.

    Parameters
    ----------
    step : the cell just computed
    num_layers, seq_len : the size of the unrolled network
    activation : the config's activation name (words for "saturated" differ for ReLU)
    """
    where = f"layer {step.layer + 1}, time step {step.time_step + 1}"
    # From the logarithm: a norm of 1e-607 is quoted as such, not as 0.
    log_norm = float(step.log10_grad_norm)  # type: ignore[arg-type]  # set in __post_init__
    norm = format_ratio(log_norm)  # at any magnitude: 3.16e-607
    if _nonfinite(log_norm):
        return (
            f"At {where} the gradient is no longer finite (||dL/dh|| = {norm}): it "
            "overflowed, the run is exploding, and the steps further back inherit it."
        )
    if log_norm == -math.inf:
        return f"At {where} the gradient is exactly 0: no unit passed it on (every derivative was 0)."
    if step.time_step == seq_len - 1:
        if step.layer == num_layers - 1:
            return (
                f"The gradient enters here, at the top layer's last time step, from the loss: "
                f"||dL/dh|| = {norm}."
            )
        return (
            f"Layer {step.layer + 1} starts at its last time step, where the gradient arrives only "
            f"from layer {step.layer + 2} above: ||dL/dh|| = {norm}."
        )
    factor = step.local_factor
    if not math.isfinite(factor):
        return (
            f"At {where} ||dL/dh|| = {norm}; the gradient arriving from the step after "
            "was 0 or not finite, so this step has no finite factor."
        )
    if factor < 1:
        effect = "shrinks it"
    elif factor > 1:
        effect = "grows it"
    else:
        effect = "keeps its size"
    text = (
        f"This step multiplies the gradient by {format_number(factor)} ({effect}): "
        f"{format_percent(step.saturation)} {_saturated_words(activation)} "
        f"(mean f′ {format_number(step.mean_derivative)}) and the largest singular value of W_hh "
        f"is {format_number(step.spectral_norm)}."
    )
    if step.layer < num_layers - 1:
        text += f" The factor includes what layer {step.layer + 2} adds at this step."
    return text


def describe_clipping(config: SimConfig, clip: ClipResult | None) -> str:
    """What clipping does to the finished gradients (``clip`` None: not computed yet)."""
    how = "by global norm" if config.clip_mode == "norm" else "by value (each element)"
    head = f"Clipping {how}, threshold {format_number(config.clip_threshold)}."
    if clip is None:
        return f"{head} It acts on the finished gradients: the numbers appear after the last cell (End)."
    before, after = format_number(clip.norm_before), format_number(clip.norm_after)
    if not math.isfinite(clip.norm_before):
        return f"{head} Global gradient norm {before}: not finite, so clipping cannot rescue this update."
    if clip.clipped:
        return f"{head} Global gradient norm before clipping {before}, after {after}: clipping acted."
    return f"{head} Global gradient norm {before} is within the threshold: clipping leaves it unchanged."


# -- cost estimate ------------------------------------------------------------------------------
def forward_seconds(num_layers: int, seq_len: int, batch: int, hidden: int) -> float:
    """Rough time of the forward pass (and the derivative maps) of such a network."""
    cells = num_layers * seq_len
    return 4.0 * cells * batch * hidden * hidden / FLOPS_PER_SECOND + cells * SECONDS_PER_FORWARD_STEP


def steps_seconds(num_layers: int, seq_len: int, batch: int, hidden: int, start: int, count: int) -> float:
    """Rough time to compute cells ``start .. start + count - 1`` (0-based backward order).

    Each cell costs one ``(B, H) x (H, H)`` product; the first cell of a lower layer and the
    very last cell also finish a layer (three ``(T*B, H)`` products for its weight gradients and
    the gradient sent below).
    """
    if count <= 0:
        return 0.0
    total = num_layers * seq_len
    end = min(start + count, total)
    layer_ends = sum(1 for o in range(max(start, 1), end) if o % seq_len == 0)
    if end == total:
        layer_ends += 1
    per_cell = 2.0 * batch * hidden * hidden / FLOPS_PER_SECOND + SECONDS_PER_CELL
    per_layer_end = 6.0 * seq_len * batch * hidden * hidden / FLOPS_PER_SECOND
    return (end - start) * per_cell + layer_ends * per_layer_end


# -- jobs ---------------------------------------------------------------------------------------
@dataclass
class _Built:
    """What the build job hands back to the GUI thread."""

    simulation: Simulation
    session: BackpropSession
    x: np.ndarray
    y: np.ndarray
    derivative_maps: list[np.ndarray]


def _copy_params(simulation: Simulation, params: dict[str, np.ndarray]) -> None:
    """Overwrite ``simulation.params`` with ``params``; ValueError naming what does not fit."""
    expected = simulation.params
    missing = sorted(set(expected) - set(params))
    unexpected = sorted(set(params) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected))
        raise ValueError("the parameters do not match the config: " + "; ".join(parts))
    for name, target in expected.items():
        value = np.asarray(params[name])
        if value.shape != target.shape:
            raise ValueError(f"parameter {name} has shape {value.shape}, the config needs {target.shape}")
        np.copyto(target, value, casting="same_kind")


def _build_session(
    config: SimConfig,
    params: dict[str, np.ndarray],
    batch: tuple[np.ndarray, np.ndarray] | None,
    context: JobContext | None = None,
) -> _Built:
    """A fresh Simulation with ``params`` copied in, the batch, and the forward pass done.

    On a worker thread (``context`` given) the forward pass stops at its next time step once
    the job is cancelled (the view is closing).
    """
    simulation = Simulation(config)
    _copy_params(simulation, params)
    x, y = batch if batch is not None else simulation.sample_batch()
    activation = simulation.activation
    if context is not None:
        add_checkpoint(simulation, context.checkpoint)
    try:
        session = simulation.backprop(x, y)
    finally:
        simulation.activation = activation  # the checkpoint belongs to this job only
    maps = [
        np.ascontiguousarray(session.derivative_map(layer), dtype=np.float32)
        for layer in range(session.num_layers)
    ]
    return _Built(simulation, session, x, y, maps)


def _advance_cells(
    session: BackpropSession, count: int, config: SimConfig, context: JobContext | None = None
) -> tuple[list[BackpropStep], ClipResult | None]:
    """Up to ``count`` new cells from ``session`` (fewer at the end of the backward pass).

    Once the pass is complete, also the config's clipping of the finished gradients (None
    before, or without clipping), so that it is computed off the GUI thread with the rest. On a
    worker thread (``context`` given) it stops between two cells once the job is cancelled.
    """
    steps = []
    for _ in range(count):
        if context is not None:
            context.checkpoint()
        step = session.advance()
        if step is None:
            break
        steps.append(step)
    clip = None
    if session.result is not None and config.clip_mode != "none":
        with np.errstate(all="ignore"):
            clip = clip_gradients(session.result.grads, config.clip_mode, config.clip_threshold)
    return steps, clip


@dataclass
class _JobResult:
    generation: int
    kind: str
    value: Any
    error: BaseException | None


class _Jobs(QtCore.QObject):
    """Runs a job inline or on a :class:`~gradsim.ui.common.workers.Worker` and delivers its
    result on the GUI thread. A job is ``job(context)``; ``context`` is None inline."""

    finished = QtCore.Signal(object)  # _JobResult

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: list[Worker] = []

    def run(self, generation: int, kind: str, job: Callable[[JobContext | None], Any], inline: bool) -> None:
        if inline:
            self.finished.emit(_call(generation, kind, job, None))
            return
        self._workers = [worker for worker in self._workers if worker.is_running]
        worker = Worker(functools.partial(_call, generation, kind, job), name=f"gradsim-backprop-{kind}")
        worker.returned.connect(self.finished.emit)
        self._workers.append(worker)
        worker.start()

    def stop(self) -> None:
        """Cancel every job still running and wait for it (at most one cell or time step)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()


def _call(
    generation: int, kind: str, job: Callable[[JobContext | None], Any], context: JobContext | None
) -> _JobResult:
    try:
        return _JobResult(generation, kind, job(context), None)
    except Cancelled:
        raise  # the view is closing: nobody waits for the result
    except Exception as error:  # delivered to the GUI thread and shown as a message
        return _JobResult(generation, kind, None, error)


# -- the view -----------------------------------------------------------------------------------
class BackpropView(QtWidgets.QWidget):
    """The backward pass of one frozen network and batch, stepped by the user.

    Parameters
    ----------
    parent : optional parent widget
    theme : colours and fonts; by default the one matching the application's colour scheme

    Signals
    -------
    loaded : the forward pass is done and stepping can begin
    position_changed(int) : the number of cells shown changed
    busy_changed(bool) : a background job started or ended
    failed(str) : loading or stepping failed; the message is also shown in the view

    Attributes
    ----------
    graphics : :class:`BackpropGraphics`, the grid, curve and derivative heatmap
    reading : QLabel with the one-line reading of the current cell
    value_labels : ``{"cell", "order", "grad_norm", "local_factor", "mean_derivative",
        "saturation", "spectral_norm", "loss"}`` -> QLabel with the numbers of the current cell
    clip_label : QLabel with the clipping outcome (its group box is hidden without clipping)
    start_action, step_action, undo_action, end_action, play_action : the transport QActions
        (Home, Left, Right, End, Space/P) active while the focus is inside the view
    curve_values : the arrays last drawn in the curve plot, as log10 values (exact below
        float64): ``"norms"`` (T,) ``log10 ||dL/dh_t||`` of the current layer (NaN where not
        reached), ``"factor_product"``, ``"parts_product"`` (the entry times the running
        products, as entry + running sums of log10 factors)
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
        self._jobs = _Jobs(self)
        self._jobs.finished.connect(self._on_job_finished)
        self._generation = 0
        self._busy = False
        self._speed = 20.0
        self._speed_chosen = False
        self._tick_credit = 0.0
        self._sizes_before_presentation: list[int] | None = None  # the splitter's, in presentation mode
        self._play_timer = QtCore.QTimer(self)
        self._play_timer.timeout.connect(self._on_tick)
        self._build_actions()
        self._build_ui()
        self._forget()
        self._update_controls()

    # -- construction ------------------------------------------------------------------------
    def _build_actions(self) -> None:
        context = QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut
        key = QtCore.Qt.Key

        def action(
            text: str, tip: str, keys: list[QtGui.QKeySequence], slot: Callable[[], object]
        ) -> QtGui.QAction:
            act = QtGui.QAction(text, self)
            act.setShortcuts(keys)
            act.setShortcutContext(context)
            shortcut = ", ".join(k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in keys)
            act.setToolTip(f"{tip} ({shortcut})")
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.start_action = action(
            "⟲ Start", "Back to the start: the forward pass done, no gradient computed yet",
            [QtGui.QKeySequence(key.Key_Home)], self.go_to_start,
        )  # fmt: skip
        self.step_action = action(
            "◀ Step back", "Compute the next cell of the backward pass: one time step further back "
            "(after the first step of a layer, the last step of the layer below)",
            [QtGui.QKeySequence(key.Key_Left)], self.step_backward,
        )  # fmt: skip
        self.undo_action = action(
            "Undo ▶", "Undo the last cell (nothing is recomputed when you step back again)",
            [QtGui.QKeySequence(key.Key_Right)], self.undo_step,
        )  # fmt: skip
        self.end_action = action(
            "End ⇤", "Complete the backward pass: every layer, every time step",
            [QtGui.QKeySequence(key.Key_End)], self.go_to_end,
        )  # fmt: skip
        self.play_action = action(
            "▶ Play", "Animate the backward pass at the chosen speed; again to pause",
            [QtGui.QKeySequence(key.Key_Space), QtGui.QKeySequence(key.Key_P)], self.toggle_play,
        )  # fmt: skip

    def _build_ui(self) -> None:
        theme = self.theme
        font = theme.font(theme.label_pt)
        toolbar = QtWidgets.QToolBar("Backprop")
        toolbar.setFont(font)
        toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for act in (self.start_action, self.step_action, self.undo_action, self.end_action, self.play_action):
            toolbar.addAction(act)
            toolbar.widgetForAction(act).setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        toolbar.addSeparator()
        speed_caption = QtWidgets.QLabel(" Speed ")
        speed_caption.setFont(font)
        toolbar.addWidget(speed_caption)
        self.speed_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, SPEED_SLIDER_STEPS)
        self.speed_slider.setFixedWidth(150)
        self.speed_slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.speed_slider.setToolTip("Play speed in cells per second (logarithmic, 1 to 2000)")
        self.speed_slider.valueChanged.connect(self._on_speed_slider)
        toolbar.addWidget(self.speed_slider)
        self.speed_label = QtWidgets.QLabel()
        self.speed_label.setFont(font)
        self.speed_label.setMinimumWidth(self.speed_label.fontMetrics().horizontalAdvance(" 2000 cells/s "))
        toolbar.addWidget(self.speed_label)
        # Beside the reading, not in the toolbar: there a 1440-pixel window hid it behind "»".
        self.position_label = QtWidgets.QLabel()
        self.position_label.setFont(font)
        self.position_label.setToolTip("Cells computed so far, out of layers x time steps")
        right = QtCore.Qt.AlignmentFlag.AlignRight
        self.position_label.setAlignment(right | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.busy_bar = QtWidgets.QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(120)
        self.busy_bar.setTextVisible(False)
        self.busy_label = QtWidgets.QLabel()
        self.busy_label.setFont(font)
        # Outside the toolbar, so showing it is immediate (a toolbar lays its widgets out lazily).
        self.busy_box = QtWidgets.QWidget()
        busy_layout = QtWidgets.QHBoxLayout(self.busy_box)
        busy_layout.setContentsMargins(0, 0, 6, 0)
        busy_layout.addWidget(self.busy_label)
        busy_layout.addWidget(self.busy_bar)
        self.busy_box.setVisible(False)
        self.toolbar = toolbar
        self._set_speed_slider(self._speed)

        self.reading = QtWidgets.QLabel()
        self.reading.setFont(theme.font(theme.title_pt))
        self.reading.setWordWrap(True)
        self.reading.setMinimumHeight(2 * self.reading.fontMetrics().lineSpacing() + 8)
        self.reading.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.reading.setContentsMargins(8, 2, 8, 2)
        self.reading.setToolTip("What the current cell of the backward pass did, in plain words")

        self.graphics = BackpropGraphics(theme)
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)

        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 4, 4)
        side_layout.addWidget(self._build_factor_box())
        self.clip_box = QtWidgets.QGroupBox("Gradient clipping")
        self.clip_box.setFont(font)
        self.clip_label = QtWidgets.QLabel()
        self.clip_label.setWordWrap(True)
        self.clip_label.setToolTip(
            "The global gradient norm (all parameter gradients as one vector) before and after the "
            "config's clipping, computed with the engine's clip_gradients on the finished gradients"
        )
        clip_layout = QtWidgets.QVBoxLayout(self.clip_box)
        clip_layout.addWidget(self.clip_label)
        side_layout.addWidget(self.clip_box)
        side_layout.addWidget(self._build_key_box())
        side_layout.addStretch(1)
        # The side panel scrolls rather than squeezing the plots: at 1280 x 720 the plots need
        # the width (BPTT starts at the last time step, on the right), the panel can scroll.
        side_scroll = QtWidgets.QScrollArea()
        side_scroll.setObjectName("backprop_side")
        side_scroll.setWidgetResizable(True)
        side_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        side_scroll.setWidget(side)
        side_scroll.setMinimumWidth(SIDE_MIN_WIDTH)
        self.side_panel = side_scroll

        body = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        body.setObjectName("backprop_splitter")
        body.addWidget(self.graphics)
        body.addWidget(side_scroll)
        body.setStretchFactor(0, 1)
        body.setStretchFactor(1, 0)
        body.setCollapsible(0, False)
        body.setCollapsible(1, False)
        body.setSizes([SIDE_WIDTH * 3, SIDE_WIDTH])
        self.body_splitter = body
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(toolbar, 1)
        top.addWidget(self.busy_box)
        layout.addLayout(top)
        reading_row = QtWidgets.QHBoxLayout()
        reading_row.addWidget(self.reading, 1)
        reading_row.addWidget(self.position_label)
        layout.addLayout(reading_row)
        layout.addWidget(body, 1)

    def _build_factor_box(self) -> QtWidgets.QGroupBox:
        theme = self.theme
        box = QtWidgets.QGroupBox("The chain rule at this cell")
        box.setFont(theme.font(theme.label_pt))
        form = QtWidgets.QFormLayout(box)
        form.setLabelAlignment(QtCore.Qt.AlignmentFlag.AlignLeft)
        rows = (
            ("cell", "Cell", "The (layer, time step) whose dL/dh was just computed"),
            ("order", "Order in BPTT", "Position in the order the engine computes the cells: top layer "
             "from the last step to the first, then the layer below"),
            ("grad_norm", "||dL/dh|| here", "Size of the gradient of the loss with respect to this hidden "
             "state (Euclidean norm over batch and units)"),
            ("local_factor", "Local factor", "||dL/dh_t|| / ||dL/dh_t+1||: how much this step multiplied "
             "the gradient arriving from the next time step"),
            ("mean_derivative", "Mean f′ at t+1", "Mean activation derivative at the step the gradient came "
             "from: the diagonal Jacobian this step multiplied by"),
            ("saturation", "Saturated at t+1", "Fraction of units whose derivative is under 5% of its "
             "maximum (exactly 0 for ReLU): they pass (almost) no gradient"),
            ("spectral_norm", "σmax(W_hh)", "Largest singular value of this layer's recurrent weight "
             "matrix: the most W_hh can stretch the gradient in one step"),
            ("loss", "Loss of this batch", "The task's loss at the last time step, from the forward pass"),
        )  # fmt: skip
        self.value_labels: dict[str, QtWidgets.QLabel] = {}
        self._factor_captions: list[QtWidgets.QLabel] = []
        for key, caption, tip in rows:
            name = QtWidgets.QLabel(caption)
            self._factor_captions.append(name)
            name.setToolTip(tip)
            value = QtWidgets.QLabel()
            value.setToolTip(tip)
            value.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            bold = theme.font(theme.label_pt, bold=True)
            value.setFont(bold)
            form.addRow(name, value)
            self.value_labels[key] = value
        return box

    def _build_key_box(self) -> QtWidgets.QGroupBox:
        theme = self.theme
        box = QtWidgets.QGroupBox("How to read it")
        box.setFont(theme.font(theme.label_pt))

        def square(color: str) -> str:
            return f"<span style='color:{color}; font-size:14pt'>■</span>"

        key = (
            "<b>Grid</b> (top): one cell per layer and time step, coloured by log10 ||dL/dh||.<br>"
            f"<span style='color:{theme.note}; font-size:14pt'>□</span> not computed yet &nbsp; "
            f"{square(ZERO_COLOR)} exactly 0 &nbsp; "
            f"{square(theme.nonfinite)} not finite (overflow)<br>"
            "The outlined cell is the one just computed; the pass runs right to left, top layer first."
            "<br><br><b>Curve</b> (middle), current layer:<br>"
            f"<span style='color:{theme.function}'>━━</span> ||dL/dh_t|| computed so far<br>"
            "<span>╍╍</span> entry value × running product of the local "
            "factors (the chain rule: it lies on the curve)<br>"
            f"<span style='color:{theme.derivative}'>┈┈</span> entry value × running product of "
            "mean f′ × σmax(W_hh): the two parts alone, a rough estimate that ignores which "
            "units saturate and which directions W_hh stretches<br><br>"
            "<b>Heatmap</b> (bottom): f′ of each unit, mean over the batch; dark = saturated. "
            "The line marks the current time step.<br><br>"
            "Keys: ← step back, → undo, Home / End, Space play."
        )
        label = QtWidgets.QLabel(key)
        label.setObjectName("backprop_key")
        label.setWordWrap(True)
        label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        label.setFont(theme.font(theme.tick_pt))
        # Folded by default: the key is long, and the chain-rule values above it are what a
        # student reads while stepping; the box's checkbox unfolds it.
        box.setCheckable(True)
        box.setChecked(False)
        box.setToolTip(key)
        box.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Space steps the pass, not the box
        label.setVisible(False)
        box.setFlat(True)  # folded: a title line, not an empty frame
        box.toggled.connect(label.setVisible)
        box.toggled.connect(lambda unfolded: box.setFlat(not unfolded))
        layout = QtWidgets.QVBoxLayout(box)
        layout.addWidget(label)
        self.key_box = box
        return box

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
        job = functools.partial(_build_session, config, frozen, frozen_batch)
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
        self._steps: list[BackpropStep] = []
        self._position = 0
        self._target = 0
        self._derivative_maps: list[np.ndarray] = []
        self._derivative_layer = -1
        self._clip: ClipResult | None = None
        self._log_range = (math.inf, -math.inf)
        self.curve_values: dict[str, np.ndarray] = {}
        self.reading.setText("Load a network to step through its backward pass.")
        self._set_reading_color(None)
        for label in self.value_labels.values():
            label.setText("—")
        self.clip_box.hide()

    def _set_up(self, built: _Built) -> None:
        """The forward pass is done: size the arrays and plots for this network."""
        session = built.session
        self._simulation, self._session = built.simulation, session
        self._batch = (built.x, built.y)
        self._derivative_maps = built.derivative_maps
        num_layers, seq_len = session.num_layers, session.seq_len
        total = session.total_steps
        # log10 of each cell's norm, local factor and mean f' x sigma_max, in backward order.
        self._log_norms = np.full(total, np.nan)
        self._log_factors = np.full(total, np.nan)
        self._log_parts = np.full(total, np.nan)
        self._cell_log = np.full((num_layers, seq_len), np.nan)
        self._cell_kinds = np.zeros((num_layers, seq_len), dtype=np.int8)
        hidden = built.derivative_maps[0].shape[0]
        self.graphics.set_shape(num_layers, seq_len, hidden, built.simulation.activation.max_derivative)
        if not self._speed_chosen:
            self._set_speed_slider(min(MAX_SPEED, max(2.0, total / 10.0)))
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
        self.speed_label.setMinimumWidth(self.speed_label.fontMetrics().horizontalAdvance(" 2000 cells/s "))
        side = self.side_panel
        if scale == 1.0:
            side.setMinimumWidth(SIDE_MIN_WIDTH)
            if self._sizes_before_presentation is not None:
                self.body_splitter.setSizes(self._sizes_before_presentation)
                self._sizes_before_presentation = None
        else:
            if self._sizes_before_presentation is None:
                self._sizes_before_presentation = self.body_splitter.sizes()
            # The panel does not scroll sideways: as wide as its longest row at the larger size.
            captions = max(label.minimumSizeHint().width() for label in self._factor_captions)
            values = self.value_labels["cell"].fontMetrics().horizontalAdvance("layer 10, time step 100")
            needed = captions + values + 40 + side.verticalScrollBar().sizeHint().width()
            side.setMinimumWidth(max(round(SIDE_MIN_WIDTH * scale), needed))
        # The height goes to the data: the three plots share the time axis, so at the larger size
        # only the bottom one writes its numbers and "time step t"; the curve's axis and the
        # colour bars leave their names to the titles (||dL/dh||, f'(z)), which say them.
        normal = scale == 1.0
        graphics = self.graphics
        for plot in (graphics.grid_plot, graphics.curve_plot):
            axis = plot.getAxis("bottom")
            axis.showLabel(normal)
            axis.setStyle(showValues=normal)
        graphics.curve_plot.getAxis("left").showLabel(normal)
        graphics.grid_colorbar.axis.showLabel(normal)
        graphics.derivative_colorbar.axis.showLabel(normal)

    # -- public reading ----------------------------------------------------------------------
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
        return tuple(self._steps)

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
        return self._steps[self._position - 1] if self._position > 0 else None

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
        return self._play_timer.isActive()

    @property
    def speed(self) -> float:
        """Play speed in cells per second."""
        return self._speed

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
        if position <= len(self._steps):
            self._show(position)
            return
        start, count = len(self._steps), position - len(self._steps)
        self._target = position
        config = self._config
        assert config is not None
        session = self._session
        hidden = self._derivative_maps[0].shape[0]
        batch_size = self._batch[0].shape[0] if self._batch is not None else config.batch_size
        cost = steps_seconds(session.num_layers, session.seq_len, batch_size, hidden, start, count)
        job = functools.partial(_advance_cells, session, count, config)
        self._start_job("advance", job, cost, f"Computing {count} cells…")

    # -- play --------------------------------------------------------------------------------
    def play(self) -> None:
        """Animate the backward pass from the current cell (from the start when at the end)."""
        if self._session is None or self.is_playing:
            return
        if self._position >= self.total_cells:
            self.go_to(0)
        self._tick_credit = 0.0
        self._play_timer.start(self._tick_ms())
        self._update_controls()

    def pause(self) -> None:
        """Stop the animation."""
        if self._play_timer.isActive():
            self._play_timer.stop()
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
        self._set_speed_slider(cells_per_second)

    def _set_speed_slider(self, cells_per_second: float) -> None:
        speed = min(MAX_SPEED, max(MIN_SPEED, float(cells_per_second)))
        self._speed = speed
        notch = round(math.log10(speed / MIN_SPEED) / math.log10(MAX_SPEED / MIN_SPEED) * SPEED_SLIDER_STEPS)
        blocked = self.speed_slider.blockSignals(True)
        self.speed_slider.setValue(notch)
        self.speed_slider.blockSignals(blocked)
        self._speed_changed()

    def _on_speed_slider(self, notch: int) -> None:
        self._speed_chosen = True
        self._speed = MIN_SPEED * (MAX_SPEED / MIN_SPEED) ** (notch / SPEED_SLIDER_STEPS)
        self._speed_changed()

    def _speed_changed(self) -> None:
        speed = f"{self._speed:.0f}" if self._speed >= 10 else f"{self._speed:.2g}"
        self.speed_label.setText(f" {speed} cells/s")
        if self._play_timer.isActive():
            self._play_timer.setInterval(self._tick_ms())

    def _tick_ms(self) -> int:
        return max(MIN_TICK_MS, round(1000.0 / self._speed))

    def _on_tick(self) -> None:
        if self._session is None:
            self.pause()
            return
        if self._busy:
            return
        if self._position >= self.total_cells:
            self.pause()
            return
        self._tick_credit += self._speed * self._play_timer.interval() / 1000.0
        count = int(self._tick_credit)
        if count < 1:
            return
        self._tick_credit -= count
        self.go_to(self._position + count)

    # -- jobs --------------------------------------------------------------------------------
    def _start_job(
        self, kind: str, job: Callable[[JobContext | None], Any], cost: float, message: str
    ) -> None:
        inline = cost <= self.inline_seconds
        if not inline:
            self._set_busy(True, message)
        self._jobs.run(self._generation, kind, job, inline)

    def _on_job_finished(self, result: _JobResult) -> None:
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
            self._append(steps)
            if clip is not None:
                self._clip = clip
            self._show(min(self._target, len(self._steps)))

    def _fail(self, error: BaseException) -> None:
        self.pause()
        if isinstance(error, ValueError | MemoryError):
            message = f"Cannot step through this network: {error}"
        else:
            message = f"Cannot step through this network ({type(error).__name__}): {error}"
        self.reading.setText(message)
        self._set_reading_color(self.theme.nonfinite)
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
        super().closeEvent(event)

    # -- drawing -----------------------------------------------------------------------------
    def _append(self, steps: list[BackpropStep]) -> None:
        """Keep newly computed cells and their numbers in backward order."""
        low, high = self._log_range
        for step in steps:
            order = step.order
            self._steps.append(step)
            value = float(step.log10_grad_norm)  # type: ignore[arg-type]
            self._log_norms[order] = value
            with np.errstate(divide="ignore", invalid="ignore"):
                self._log_factors[order] = np.log10(step.local_factor)
                self._log_parts[order] = np.log10(step.mean_derivative * step.spectral_norm)
            if math.isfinite(value):
                low, high = min(low, value), max(high, value)
        self._log_range = (low, high)

    def _cells_of(self, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(layers, time steps) of the cells at backward ``orders``."""
        session = self._session
        assert session is not None
        seq_len = session.seq_len
        return session.num_layers - 1 - orders // seq_len, seq_len - 1 - orders % seq_len

    def _show(self, position: int) -> None:
        """Display the first ``position`` computed cells."""
        session = self._session
        assert session is not None
        old = self._position
        low, high = min(old, position), max(old, position)
        if high > low:
            orders = np.arange(low, high)
            layers, times = self._cells_of(orders)
            if position > old:
                values = self._log_norms[orders]
                bad = np.isnan(values) | (values == np.inf)
                kinds = np.where(bad, NONFINITE, np.where(values == -np.inf, ZERO, FINITE))
                self._cell_log[layers, times] = values
                self._cell_kinds[layers, times] = kinds
            else:
                self._cell_kinds[layers, times] = NOT_REACHED
                self._cell_log[layers, times] = np.nan
        self._position = position
        self.graphics.show_cells(self._cell_log, self._cell_kinds, decade_levels(*self._log_range))
        step = self.current_step
        layer = step.layer if step is not None else session.num_layers - 1
        if layer != self._derivative_layer:
            self._derivative_layer = layer
            self.graphics.show_derivative(self._derivative_maps[layer], layer)
        self.graphics.show_current(layer if step else None, step.time_step if step else None)
        self._show_curve(layer, step)
        self._show_numbers(step)
        self._show_clipping()
        self._update_controls()
        self.position_changed.emit(position)

    def _show_curve(self, layer: int, step: BackpropStep | None) -> None:
        """The current layer's ``||dL/dh_t||`` so far and the running products from its entry."""
        session = self._session
        assert session is not None
        seq_len = session.seq_len
        first = (session.num_layers - 1 - layer) * seq_len
        count = max(0, min(self._position - first, seq_len))
        norms = np.full(seq_len, np.nan)
        factor_product = np.full(seq_len, np.nan)
        parts_product = np.full(seq_len, np.nan)
        reached = np.zeros(seq_len, dtype=bool)
        if count:
            block = slice(first, first + count)
            # Order within a layer runs from the last time step back: reverse into time order.
            norms[seq_len - count :] = self._log_norms[block][::-1]
            reached[seq_len - count :] = True
            entry = norms[-1]
            # Products of factors as sums of their logs: no underflow however far they fall.
            with np.errstate(all="ignore"):
                factors = self._log_factors[first + 1 : first + count]  # time steps T-2 .. T-count
                parts = self._log_parts[first + 1 : first + count]
                factor_product[seq_len - count :] = entry + np.concatenate((np.cumsum(factors)[::-1], [0.0]))
                parts_product[seq_len - count :] = entry + np.concatenate((np.cumsum(parts)[::-1], [0.0]))
        self.curve_values = {"norms": norms, "factor_product": factor_product, "parts_product": parts_product}
        current = step.time_step if step is not None else None
        self.graphics.show_curve(
            np.arange(1, seq_len + 1), norms, reached, factor_product, parts_product, current
        )
        self.graphics.set_curve_title(
            f"Layer {layer + 1} of {session.num_layers}: ||dL/dh_t|| filling in from the right",
            f"Layer {layer + 1} of {session.num_layers}: ||dL/dh_t||",
        )

    def _show_numbers(self, step: BackpropStep | None) -> None:
        session, config = self._session, self._config
        assert session is not None and config is not None
        labels = self.value_labels
        labels["loss"].setText(format_number(float(session.loss)))
        self._set_reading_color(None)
        if step is None:
            for key in ("cell", "order", "grad_norm", "local_factor", "mean_derivative", "saturation",
                        "spectral_norm"):  # fmt: skip
                labels[key].setText("—")
            batch = self._batch[0].shape if self._batch is not None else (0, 0)
            self.reading.setText(
                f"Forward pass done: loss {format_number(float(session.loss))} on {batch[0]} sequences of "
                f"{batch[1]} steps. Press ← (Step back) to compute the first cell: the top layer's last "
                "time step, where the loss sends its gradient in."
            )
            return
        labels["cell"].setText(f"layer {step.layer + 1}, time step {step.time_step + 1}")
        labels["order"].setText(f"{step.order + 1} of {session.total_steps}")
        labels["grad_norm"].setText(format_ratio(float(step.log10_grad_norm)))  # type: ignore[arg-type]
        # NaN: no step after this cell, so no factor (not a NaN gradient).
        factor = step.local_factor
        labels["local_factor"].setText("n/a" if math.isnan(factor) else format_number(factor))
        labels["mean_derivative"].setText(format_number(step.mean_derivative))
        labels["saturation"].setText(format_percent(step.saturation))
        labels["spectral_norm"].setText(format_number(step.spectral_norm))
        text = describe_step(step, session.num_layers, session.seq_len, config.activation)
        if self._position == session.total_steps:
            text += " Backward pass complete."
        self.reading.setText(text)
        if _nonfinite(float(step.log10_grad_norm)):  # type: ignore[arg-type]
            self._set_reading_color(self.theme.nonfinite)

    def _show_clipping(self) -> None:
        session, config = self._session, self._config
        assert session is not None and config is not None
        if config.clip_mode == "none":
            self.clip_box.hide()
            return
        complete = self._position == session.total_steps
        self.clip_label.setText(describe_clipping(config, self._clip if complete else None))
        self.clip_box.show()

    def _set_reading_color(self, color: str | None) -> None:
        """Text colour of the reading: the palette's (None) or ``color`` for warnings.

        The plots follow the theme, the Qt widgets the application palette: normal text keeps
        the palette colour so it stays readable whichever theme the plots use.
        """
        self.reading.setStyleSheet("" if color is None else f"color: {color};")

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
            self.position_label.setText(" no network loaded ")
        else:
            self.position_label.setText(f" {self._position} of {total} cells computed ")
