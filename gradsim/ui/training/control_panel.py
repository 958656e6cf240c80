"""The control panel: one widget per config field, grouped as the issue lists them.

View contract (as in ndv): :meth:`ControlPanel.set_config` only displays a config and never
emits; a user's edits are collected by handlers named ``_on_user_*`` and, after a short
debounce (so dragging the weight-scale slider stays smooth), become one validated
:class:`~gradsim.engine.config.SimConfig` emitted by :attr:`ControlPanel.configChanged`.

Every widget's range comes from ``gradsim.engine.config`` (INT_RANGES, FLOAT_RANGES, CHOICES),
so the controls only offer valid values; a combination the engine refuses (batch norm with a
batch of one, a run too large for memory) is shown inline with the engine's message and not
applied.
"""

from __future__ import annotations

import math
import re

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import (
    CHOICES,
    FLOAT_RANGES,
    INT_RANGES,
    ConfigError,
    SimConfig,
    check_resources,
)
from gradsim.engine.presets import DEFAULT_PRESET, Preset, list_presets

DEBOUNCE_MS = 250
CUSTOM = "custom"

# Slider of the weight scale: log10 from -1 to 1 (0.1 to 10) in steps of 0.01 decades.
SCALE_SLIDER_DECADES = (-1.0, 1.0)
SCALE_SLIDER_STEPS_PER_DECADE = 100
# Smallest value the positive-only float spin boxes offer (the config only needs > 0).
WEIGHT_SCALE_MIN = 0.001
LOG_SPIN_MIN = 1e-9

# What each choice is called on screen, with a one-line tooltip.
CHOICE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "cell": {
        "rnn": ("vanilla RNN", "h = f(W_ih x + W_hh h + b): every step back multiplies by f′ and W_hh"),
        "lstm": (
            "LSTM",
            "a cell state kept by the forget gate: back through time its gradient is multiplied by "
            "the forget gate, not by f′ W_hh",
        ),
        "gru": ("GRU", "the update gate mixes the old state and a candidate: it passes back its share"),
    },
    "activation": {
        "sigmoid": ("sigmoid", "derivative at most 0.25: every step back at least quarters the gradient"),
        "tanh": ("tanh", "derivative at most 1, near 0 once saturated (|z| > 2)"),
        "relu": ("ReLU", "derivative 1 for active units, 0 for inactive ones"),
        "leaky_relu": ("leaky ReLU", "derivative 1, or the leaky slope for negative inputs"),
        "elu": ("ELU", "derivative 1 for positive inputs, exp(z) for negative ones"),
        "linear": ("linear", "derivative 1: only the weights shape the gradient"),
    },
    "init": {
        "gaussian": ("Gaussian", "N(0, scale² / fan-in): the recurrent matrix has spectral radius ≈ scale"),
        "xavier": ("Xavier (Glorot)", "uniform, variance 2 / (fan-in + fan-out), times the scale"),
        "he": ("He (Kaiming)", "N(0, 2 / fan-in), times the scale: makes up for ReLU halving the signal"),
        "orthogonal": ("orthogonal", "every singular value equals the scale: no direction shrinks or grows"),
        "identity": ("identity", "the identity matrix times the scale (IRNN)"),
    },
    "normalization": {
        "none": ("none", "no normalisation"),
        "batch": ("batch norm", "normalise each pre-activation over the batch at every time step"),
    },
    "clip_mode": {
        "none": ("none", "the update uses the raw gradient"),
        "norm": (
            "by global norm",
            "when the global norm ||g|| exceeds the threshold, multiply the whole gradient by "
            "threshold / ||g|| (PyTorch's clip_grad_norm_ uses threshold / (||g|| + 1e-6))",
        ),
        "value": ("by value", "cut every gradient entry to [-threshold, threshold]"),
    },
    "task": {
        "adding": ("adding problem", "sum the two marked numbers of the sequence (needs long memory)"),
        "memory": ("memory", "name the symbol shown at the first step (needs the longest memory)"),
        "random": ("random data", "nothing to learn: only the gradient flow to watch"),
    },
    "optimizer": {
        "sgd": ("SGD", "step = learning rate × gradient"),
        "momentum": (
            "SGD + momentum",
            "step = learning rate × v, with v = 0.9 v + gradient: a decayed sum of past gradients "
            "(not an average: about 10× the gradient once it is steady), as in PyTorch",
        ),
        "adam": ("Adam", "each step divided by the gradient's running size: about the learning rate"),
    },
    "dtype": {
        "float64": ("float64", "overflows past about 1e308"),
        "float32": ("float32", "overflows past about 3e38: an exploding run reaches inf sooner"),
    },
}

# The activation's tooltip while a gated cell is chosen (the control is disabled then).
GATED_ACTIVATION_TIP = (
    "Not used by LSTM and GRU cells: their gates are sigmoid and their candidate tanh, as in "
    "PyTorch's nn.LSTM and nn.GRU; the gradient passes back through those derivatives instead."
)

# The label and the tooltip of each field: what the control does to the gradients.
FIELD_HELP: dict[str, tuple[str, str]] = {
    "cell": (
        "Cell",
        "The recurrent cell. A vanilla RNN multiplies the gradient by f′ and the recurrent weights at "
        "every step back; an LSTM's cell state carries it back multiplied by the forget gate only "
        "(PyTorch's nn.LSTM and nn.GRU equations).",
    ),
    "forget_bias": (
        "Forget bias",
        "Added to the LSTM forget gates' bias at the start: 1 opens them (sigmoid(1) = 0.73), so the "
        "cell state passes more of the gradient back at every step; 0 is PyTorch's default.",
    ),
    "num_layers": (
        "Layers",
        "Stacked recurrent layers. The gradient reaching the first layer has passed through every "
        "layer above it, picking up one more factor per layer.",
    ),
    "hidden_size": (
        "Hidden size",
        "Units per layer. The per-step gradient factor is set by the weight scale, not the width; "
        "wider layers make it steadier but cost memory and time.",
    ),
    "seq_len": (
        "Sequence length",
        "Time steps the network is unrolled for. The gradient at step 1 is a product of one factor "
        "per step: more steps, more vanishing or exploding.",
    ),
    "activation": (
        "Activation",
        "The unit's non-linearity. Its derivative multiplies the gradient at every step: sigmoid's "
        "is at most 0.25, tanh's falls to 0 when saturated (vanishing); ReLU passes 1 or 0.",
    ),
    "leaky_slope": (
        "Leaky slope",
        "Slope of leaky ReLU for negative inputs: instead of 0, switched-off units pass this "
        "fraction of the gradient.",
    ),
    "init": (
        "Initialisation",
        "How the initial weights are drawn. With Gaussian or orthogonal weights the recurrent "
        "matrix multiplies the gradient by about the weight scale at every step.",
    ),
    "weight_scale": (
        "Weight scale",
        "Multiplies every initial weight. Below the critical scale (1 for tanh or linear with "
        "orthogonal weights) the gradient shrinks at every step back; above it, it grows.",
    ),
    "normalization": (
        "Normalisation",
        "Batch norm rescales each layer's pre-activation over the batch at every step, keeping "
        "sigmoid and tanh units in their steep middle, where the derivative (and so the gradient "
        "passed back) is large.",
    ),
    "clip_mode": (
        "Clipping",
        "Limits the parameter gradient before the update. It does not stop the gradient growing "
        "inside backpropagation, but it bounds the weight change, so training survives.",
    ),
    "clip_threshold": (
        "Clip threshold",
        "Largest allowed global gradient norm (by norm) or gradient entry (by value).",
    ),
    "task": (
        "Task",
        "What the network learns. The loss sits at the last step only, so every earlier step's "
        "gradient is what backpropagation carried back to it.",
    ),
    "optimizer": (
        "Optimiser",
        "How the gradient becomes a weight change. With SGD an exploding gradient makes an "
        "exploding step; Adam divides by the gradient's size, so its steps stay small.",
    ),
    "learning_rate": (
        "Learning rate",
        "Size of each update. A large rate with a large gradient throws the weights far, and the "
        "next gradients explode. The arrows step 1-2-5 through the decades.",
    ),
    "batch_size": (
        "Batch size",
        "Sequences per training step. The gradient is averaged over them (less noise); batch norm "
        "needs at least 2.",
    ),
    "seed": (
        "Seed",
        "Random seed of the weights and the data. The same seed and settings give the same "
        "numbers, bit for bit.",
    ),
    "dtype": (
        "Precision",
        "Floating-point type. float32 overflows past about 3e38, float64 past about 1e308: an "
        "exploding gradient turns into inf sooner in float32.",
    ),
}


def step_125(value: float, steps: int) -> float:
    """``value`` moved ``steps`` places along the 1-2-5 sequence (…, 0.01, 0.02, 0.05, 0.1, …).

    A value between two sequence entries first snaps to the neighbour in the step's direction.
    """
    if value <= 0 or steps == 0:
        return value
    mantissas = (1.0, 2.0, 5.0)
    exponent = math.floor(math.log10(value))
    # Index of every sequence entry: 3 per decade.
    entries = [(exponent + d, m) for d in (-1, 0, 1) for m in mantissas]
    values = [m * 10.0**e for e, m in entries]
    ladder_index = 3 * exponent  # index of 1 x 10^exponent
    position = None
    for offset, entry in enumerate(values):
        if math.isclose(entry, value, rel_tol=1e-9):
            position = ladder_index - 3 + offset
            break
    if position is None:
        below = max(i for i, entry in enumerate(values) if entry < value)
        position = ladder_index - 3 + (below if steps > 0 else below + 1)
    target = position + steps
    decade, index = divmod(target, 3)
    return float(f"{mantissas[index] * 10.0**decade:.12g}")


class LogSpinBox(QtWidgets.QDoubleSpinBox):
    """A spin box for a positive value spanning decades (a learning rate, a threshold).

    Shows numbers in ``%g`` form (``0.001``, ``1e-05``), accepts any typed number in range,
    and its arrows step along the 1-2-5 sequence.
    """

    _NUMBER = re.compile(r"^[+]?(\d+\.?\d*|\.\d*)?([eE][-+]?\d*)?$")

    def __init__(self, minimum: float, maximum: float, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # QDoubleSpinBox rounds to `decimals`; keep enough to hold 1e-9 exactly.
        self.setDecimals(15)
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt override)
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int) -> object:
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            state = (
                QtGui.QValidator.State.Intermediate
                if self._NUMBER.match(stripped)
                else QtGui.QValidator.State.Invalid
            )
            return state, text, position
        if self.minimum() <= value <= self.maximum():
            return QtGui.QValidator.State.Acceptable, text, position
        return QtGui.QValidator.State.Intermediate, text, position

    def fixup(self, text: str) -> str:
        try:
            value = float(text)
        except ValueError:
            return self.textFromValue(self.value())
        return self.textFromValue(min(max(value, self.minimum()), self.maximum()))

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt override)
        target = min(max(step_125(self.value(), steps), self.minimum()), self.maximum())
        self.setValue(target)
        self.selectAll()

    def stepEnabled(self) -> QtWidgets.QAbstractSpinBox.StepEnabledFlag:  # noqa: N802 (Qt override)
        flags = QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() < self.maximum():
            flags |= QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > self.minimum():
            flags |= QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


def _float_bounds(name: str, minimum_positive: float) -> tuple[float, float]:
    low, high, low_inclusive = FLOAT_RANGES[name]
    return (low if low_inclusive else max(low, minimum_positive)), high


class ControlPanel(QtWidgets.QWidget):
    """Every knob of a simulation, grouped: preset, model, weights, fixes, training.

    Signals
    -------
    configChanged(SimConfig) : a user's edit produced a new valid config (once per debounce)

    Attributes
    ----------
    editors : field name -> the widget that edits it (the spin box for the weight scale)
    weight_scale_slider : the logarithmic slider beside the weight-scale spin box
    preset_combo, reset_button, error_label : the preset chooser, its Reset and the inline
        message for an invalid combination
    """

    configChanged = QtCore.Signal(object)

    def __init__(self, config: SimConfig | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._presets: dict[str, Preset] = {preset.name: preset for preset in list_presets()}
        self._base_preset = DEFAULT_PRESET if DEFAULT_PRESET in self._presets else CUSTOM
        self._config = config if config is not None else self._default_config()
        self.editors: dict[str, QtWidgets.QWidget] = {}
        self._debounce = QtCore.QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._apply_user_edit)
        self._build()
        self.set_config(self._config)

    # -- public ----------------------------------------------------------------------------------
    def config(self) -> SimConfig:
        """The config the panel last displayed or emitted (always valid)."""
        return self._config

    def set_config(self, config: SimConfig) -> None:
        """Display ``config`` in every control; never emits :attr:`configChanged`."""
        self._debounce.stop()
        self._config = config
        self._show(config)
        self._show_error(None)
        # Set from outside (a lesson, a sweep cell, a file): not an edit of the last preset.
        self._show_preset(config, edited=False)

    def preset_name(self) -> str:
        """Name of the preset shown in the chooser, or ``"custom"``."""
        return str(self.preset_combo.currentData())

    def has_pending_edit(self) -> bool:
        """Whether an edit is waiting for the debounce to end."""
        return self._debounce.isActive()

    def apply_pending_edit(self) -> None:
        """Apply a waiting edit now instead of after the debounce."""
        if self._debounce.isActive():
            self._debounce.stop()
            self._apply_user_edit()

    # -- construction ------------------------------------------------------------------------------
    def _default_config(self) -> SimConfig:
        preset = self._presets.get(self._base_preset)
        return preset.config if preset is not None else SimConfig()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._build_preset_box())
        self.error_label = QtWidgets.QLabel()
        self.error_label.setObjectName("config_error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(
            "QLabel { color: #ffffff; background: #b00020; border-radius: 4px; padding: 6px; }"
        )
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)
        layout.addWidget(self._build_model_box())
        layout.addWidget(self._build_weights_box())
        layout.addWidget(self._build_fixes_box())
        layout.addWidget(self._build_training_box())
        layout.addStretch(1)

    def _build_preset_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Preset")
        box_layout = QtWidgets.QVBoxLayout(box)
        row = QtWidgets.QHBoxLayout()
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.setObjectName("preset")
        self.preset_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.preset_combo.setMinimumContentsLength(16)
        self.preset_combo.setToolTip(
            "Ready-made settings that show vanishing or exploding gradients, or a fix for them. "
            "Changing any control turns this into 'custom'."
        )
        for preset in self._presets.values():
            self.preset_combo.addItem(preset.title, preset.name)
            index = self.preset_combo.count() - 1
            self.preset_combo.setItemData(index, preset.description, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.addItem(CUSTOM, CUSTOM)
        custom_item = self.preset_combo.model().item(self.preset_combo.count() - 1)  # type: ignore[attr-defined]
        custom_item.setEnabled(False)  # shown when the settings depart from a preset, not chosen
        self.preset_combo.activated.connect(self._on_user_preset)
        row.addWidget(self.preset_combo, 1)
        self.reset_button = QtWidgets.QPushButton("Reset")
        self.reset_button.setObjectName("reset_settings")
        self.reset_button.setToolTip(
            "Set every control back to the chosen preset's values (the default preset after edits "
            "that started from none)."
        )
        self.reset_button.clicked.connect(self._on_user_reset)
        row.addWidget(self.reset_button)
        box_layout.addLayout(row)
        self.preset_description = QtWidgets.QLabel()
        self.preset_description.setWordWrap(True)
        self.preset_description.setObjectName("preset_description")
        self.preset_description.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        box_layout.addWidget(self.preset_description)
        return box

    def _form_box(self, title: str) -> tuple[QtWidgets.QGroupBox, QtWidgets.QFormLayout]:
        box = QtWidgets.QGroupBox(title)
        form = QtWidgets.QFormLayout(box)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return box, form

    def _add_row(self, form: QtWidgets.QFormLayout, name: str, field: QtWidgets.QWidget) -> None:
        label_text, tooltip = FIELD_HELP[name]
        label = QtWidgets.QLabel(label_text)
        label.setToolTip(tooltip)
        field.setToolTip(tooltip)
        field.setObjectName(name)
        label.setBuddy(field)
        form.addRow(label, field)
        if name not in self.editors:
            self.editors[name] = field

    def _int_spin(self, name: str) -> QtWidgets.QAbstractSpinBox:
        low, high = INT_RANGES[name]
        if high > 2**31 - 1:
            # QSpinBox holds a 32-bit signed int; a double holds every seed exactly.
            spin: QtWidgets.QAbstractSpinBox = QtWidgets.QDoubleSpinBox()
            spin.setDecimals(0)  # type: ignore[attr-defined]
        else:
            spin = QtWidgets.QSpinBox()
        spin.setRange(low, high)  # type: ignore[attr-defined]
        spin.setKeyboardTracking(False)
        spin.setAccelerated(True)
        spin.valueChanged.connect(self._on_user_edit)  # type: ignore[attr-defined]
        return spin

    def _choice_combo(self, name: str) -> QtWidgets.QComboBox:
        combo = QtWidgets.QComboBox()
        labels = CHOICE_LABELS[name]
        for value in CHOICES[name]:
            text, tip = labels.get(value, (value, ""))
            combo.addItem(text, value)
            combo.setItemData(combo.count() - 1, tip, QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.currentIndexChanged.connect(self._on_user_edit)
        return combo

    def _build_model_box(self) -> QtWidgets.QGroupBox:
        box, form = self._form_box("Model")
        self._model_form = form
        cell = self._choice_combo("cell")
        cell.currentIndexChanged.connect(self._sync_enabled)
        self._add_row(form, "cell", cell)
        low, high = _float_bounds("forget_bias", -math.inf)
        forget = QtWidgets.QDoubleSpinBox()
        forget.setDecimals(2)
        forget.setRange(low, high)
        forget.setSingleStep(0.5)
        forget.setKeyboardTracking(False)
        forget.valueChanged.connect(self._on_user_edit)
        self._add_row(form, "forget_bias", forget)
        for name in ("num_layers", "hidden_size", "seq_len"):
            self._add_row(form, name, self._int_spin(name))
        activation = self._choice_combo("activation")
        activation.currentIndexChanged.connect(self._sync_enabled)
        self._add_row(form, "activation", activation)
        low, high = _float_bounds("leaky_slope", 0.0)
        slope = QtWidgets.QDoubleSpinBox()
        slope.setDecimals(3)
        slope.setRange(low, high)
        slope.setSingleStep(0.01)
        slope.setKeyboardTracking(False)
        slope.valueChanged.connect(self._on_user_edit)
        self._add_row(form, "leaky_slope", slope)
        return box

    def _build_weights_box(self) -> QtWidgets.QGroupBox:
        box, form = self._form_box("Weights")
        self._add_row(form, "init", self._choice_combo("init"))
        low, high = _float_bounds("weight_scale", WEIGHT_SCALE_MIN)
        spin = QtWidgets.QDoubleSpinBox()
        spin.setDecimals(3)
        spin.setRange(low, high)
        spin.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._on_user_scale_spin)
        self._add_row(form, "weight_scale", spin)
        slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        slider.setObjectName("weight_scale_slider")
        first, last = SCALE_SLIDER_DECADES
        slider.setRange(0, round((last - first) * SCALE_SLIDER_STEPS_PER_DECADE))
        slider.setSingleStep(5)
        slider.setPageStep(SCALE_SLIDER_STEPS_PER_DECADE // 4)
        slider.setTickPosition(QtWidgets.QSlider.TickPosition.TicksBelow)
        slider.setTickInterval(SCALE_SLIDER_STEPS_PER_DECADE)
        slider.setToolTip(FIELD_HELP["weight_scale"][1] + " The slider is logarithmic: 0.1, 1, 10.")
        slider.valueChanged.connect(self._on_user_scale_slider)
        self.weight_scale_slider = slider
        ticks = QtWidgets.QHBoxLayout()
        ticks.setContentsMargins(0, 0, 0, 0)
        for index, text in enumerate(("0.1", "1", "10")):
            tick = QtWidgets.QLabel(text)
            alignment = (
                QtCore.Qt.AlignmentFlag.AlignLeft,
                QtCore.Qt.AlignmentFlag.AlignHCenter,
                QtCore.Qt.AlignmentFlag.AlignRight,
            )[index]
            tick.setAlignment(alignment)
            ticks.addWidget(tick, 1)
        slider_column = QtWidgets.QVBoxLayout()
        slider_column.setSpacing(0)
        slider_column.addWidget(slider)
        slider_column.addLayout(ticks)
        form.addRow("", slider_column)
        return box

    def _build_fixes_box(self) -> QtWidgets.QGroupBox:
        box, form = self._form_box("Fixes")
        self._add_row(form, "normalization", self._choice_combo("normalization"))
        clip = self._choice_combo("clip_mode")
        clip.currentIndexChanged.connect(self._sync_enabled)
        self._add_row(form, "clip_mode", clip)
        low, high = _float_bounds("clip_threshold", LOG_SPIN_MIN)
        threshold = LogSpinBox(low, high)
        threshold.valueChanged.connect(self._on_user_edit)
        self._add_row(form, "clip_threshold", threshold)
        return box

    def _build_training_box(self) -> QtWidgets.QGroupBox:
        box, form = self._form_box("Training")
        self._add_row(form, "task", self._choice_combo("task"))
        self._add_row(form, "optimizer", self._choice_combo("optimizer"))
        low, high = _float_bounds("learning_rate", LOG_SPIN_MIN)
        rate = LogSpinBox(low, high)
        rate.valueChanged.connect(self._on_user_edit)
        self._add_row(form, "learning_rate", rate)
        self._add_row(form, "batch_size", self._int_spin("batch_size"))
        self._add_row(form, "seed", self._int_spin("seed"))
        self._add_row(form, "dtype", self._choice_combo("dtype"))
        return box

    # -- display (never emits) ---------------------------------------------------------------------
    def _all_widgets(self) -> list[QtWidgets.QWidget]:
        return [*self.editors.values(), self.weight_scale_slider, self.preset_combo]

    def _show(self, config: SimConfig) -> None:
        blocked = [(widget, widget.blockSignals(True)) for widget in self._all_widgets()]
        try:
            for name, widget in self.editors.items():
                value = getattr(config, name)
                if isinstance(widget, QtWidgets.QComboBox):
                    widget.setCurrentIndex(widget.findData(value))
                else:
                    widget.setValue(value)  # type: ignore[attr-defined]
            self._show_scale_on_slider(config.weight_scale)
        finally:
            for widget, was_blocked in blocked:
                widget.blockSignals(was_blocked)
        self._sync_enabled()

    def _show_scale_on_slider(self, scale: float) -> None:
        first, last = SCALE_SLIDER_DECADES
        decades = min(max(math.log10(scale), first), last)
        slider = self.weight_scale_slider
        blocked = slider.blockSignals(True)
        slider.setValue(round((decades - first) * SCALE_SLIDER_STEPS_PER_DECADE))
        slider.blockSignals(blocked)

    def _show_preset(self, config: SimConfig, edited: bool = True) -> None:
        name = self._matching_preset(config)
        combo = self.preset_combo
        blocked = combo.blockSignals(True)
        combo.setCurrentIndex(combo.findData(name))
        combo.blockSignals(blocked)
        if name == CUSTOM:
            base = self._presets.get(self._base_preset)
            start = f" Started from '{base.title}'." if base is not None and edited else ""
            self.preset_description.setText("Your own settings." + start)
        else:
            self._base_preset = name
            self.preset_description.setText(self._presets[name].description)

    def _matching_preset(self, config: SimConfig) -> str:
        if self._base_preset in self._presets and self._presets[self._base_preset].config == config:
            return self._base_preset
        for name, preset in self._presets.items():
            if preset.config == config:
                return name
        return CUSTOM

    def _show_error(self, error: ConfigError | None) -> None:
        self.error_label.setVisible(error is not None)
        self.error_label.setText("" if error is None else f"Not applied: {error}")
        for name, widget in self.editors.items():
            bad = error is not None and error.field == name
            widget.setStyleSheet("background: #ffd6d6; color: #000000;" if bad else "")

    @QtCore.Slot()
    def _sync_enabled(self) -> None:
        cell = self.editors["cell"]
        assert isinstance(cell, QtWidgets.QComboBox)
        gated = cell.currentData() != "rnn"
        self._model_form.setRowVisible(self.editors["forget_bias"], cell.currentData() == "lstm")
        activation = self.editors["activation"]
        assert isinstance(activation, QtWidgets.QComboBox)
        # A gated cell's gates are sigmoid and its candidate tanh, as in PyTorch: no choice there.
        activation.setEnabled(not gated)
        activation.setToolTip(GATED_ACTIVATION_TIP if gated else FIELD_HELP["activation"][1])
        leaky = activation.currentData() == "leaky_relu" and not gated
        self._model_form.setRowVisible(self.editors["leaky_slope"], leaky)
        clip = self.editors["clip_mode"]
        assert isinstance(clip, QtWidgets.QComboBox)
        self.editors["clip_threshold"].setEnabled(clip.currentData() != "none")

    # -- user edits ----------------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_user_edit(self) -> None:
        """Any control was edited: apply after the debounce (restarted by every further edit)."""
        self._debounce.start()

    @QtCore.Slot(float)
    def _on_user_scale_spin(self, value: float) -> None:
        self._show_scale_on_slider(value)
        self._on_user_edit()

    @QtCore.Slot(int)
    def _on_user_scale_slider(self, position: int) -> None:
        decades = SCALE_SLIDER_DECADES[0] + position / SCALE_SLIDER_STEPS_PER_DECADE
        scale = float(f"{10.0**decades:.3g}")
        spin = self.editors["weight_scale"]
        blocked = spin.blockSignals(True)
        spin.setValue(scale)  # type: ignore[attr-defined]
        spin.blockSignals(blocked)
        self._on_user_edit()

    @QtCore.Slot(int)
    def _on_user_preset(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name not in self._presets:
            return
        self._base_preset = name
        self._show(self._presets[name].config)
        self._on_user_edit()

    @QtCore.Slot()
    def _on_user_reset(self) -> None:
        preset = self._presets.get(self._base_preset)
        self._show(preset.config if preset is not None else SimConfig())
        self._on_user_edit()

    def _read_widgets(self) -> dict[str, object]:
        values: dict[str, object] = {}
        for name, widget in self.editors.items():
            if isinstance(widget, QtWidgets.QComboBox):
                values[name] = widget.currentData()
            else:
                values[name] = widget.value()  # type: ignore[attr-defined]
        return values

    @QtCore.Slot()
    def _apply_user_edit(self) -> None:
        try:
            config = SimConfig.from_dict(self._read_widgets())
        except ConfigError as error:
            self._show_error(error)
            return
        check = check_resources(config)
        if check.refusal is not None:  # the run cannot fit in the memory free now
            self._show_error(ConfigError(check.refusal, check.field))
            return
        self._show_error(None)
        self._show_preset(config)
        if config != self._config:
            self._config = config
            self.configChanged.emit(config)
