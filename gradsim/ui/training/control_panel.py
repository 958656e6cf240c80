"""The control panel: one widget per config field, grouped as the issue lists them.

View contract (as in ndv): :meth:`ControlPanel.set_config` only displays a config and never
emits; a user's edits are collected by handlers named ``_on_user_*`` and, after a short
debounce (so dragging the weight-scale slider stays smooth), become one validated
:class:`~gradsim.engine.config.SimConfig` emitted by :attr:`ControlPanel.configChanged`.

Every widget's range comes from ``gradsim.engine.config`` (INT_RANGES, FLOAT_RANGES, CHOICES),
so the controls only offer valid values; a combination the engine refuses (batch norm with a
batch of one, a run too large for memory) is shown inline with the engine's message and not
applied.

The fields' labels, tooltips and ranges are in :mod:`.control_fields` (no widget), the decade
spin box in :mod:`.log_spin_box`.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import (
    CHOICES,
    INT_RANGES,
    ConfigError,
    SimConfig,
    check_resources,
)
from gradsim.engine.presets import DEFAULT_PRESET, Preset, list_presets
from gradsim.ui.common.widgets import fit_combo, wrapped_label
from gradsim.ui.training.control_fields import CHOICE_LABELS, FIELD_HELP, GATED_ACTIVATION_TIP, float_bounds
from gradsim.ui.training.log_spin_box import LogSpinBox

DEBOUNCE_MS = 250
CUSTOM = "custom"

# Slider of the weight scale: log10 from -1 to 1 (0.1 to 10) in steps of 0.01 decades.
SCALE_SLIDER_DECADES = (-1.0, 1.0)
SCALE_SLIDER_STEPS_PER_DECADE = 100
# Smallest value the positive-only float spin boxes offer (the config only needs > 0).
WEIGHT_SCALE_MIN = 0.001
LOG_SPIN_MIN = 1e-9


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

    def preset_title(self) -> str:
        """Title of the preset shown in the chooser, as the chooser shows it, or ``"custom"``."""
        return self.preset_combo.currentText()

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
        self.error_label = wrapped_label("config_error")
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
        self.preset_combo = fit_combo(QtWidgets.QComboBox(), 16)
        self.preset_combo.setObjectName("preset")
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

    def _float_spin(
        self, name: str, open_low: float, *, decimals: int, step: float
    ) -> QtWidgets.QDoubleSpinBox:
        """A spin box over field ``name``'s range (``open_low`` for an exclusive low bound)."""
        low, high = float_bounds(name, open_low)
        spin = QtWidgets.QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._on_user_edit)
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
        self._add_row(form, "forget_bias", self._float_spin("forget_bias", -math.inf, decimals=2, step=0.5))
        for name in ("num_layers", "hidden_size", "seq_len"):
            self._add_row(form, name, self._int_spin(name))
        activation = self._choice_combo("activation")
        activation.currentIndexChanged.connect(self._sync_enabled)
        self._add_row(form, "activation", activation)
        self._add_row(form, "leaky_slope", self._float_spin("leaky_slope", 0.0, decimals=3, step=0.01))
        return box

    def _build_weights_box(self) -> QtWidgets.QGroupBox:
        box, form = self._form_box("Weights")
        self._add_row(form, "init", self._choice_combo("init"))
        low, high = float_bounds("weight_scale", WEIGHT_SCALE_MIN)
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
        low, high = float_bounds("clip_threshold", LOG_SPIN_MIN)
        threshold = LogSpinBox(low, high)
        threshold.valueChanged.connect(self._on_user_edit)
        self._add_row(form, "clip_threshold", threshold)
        return box

    def _build_training_box(self) -> QtWidgets.QGroupBox:
        box, form = self._form_box("Training")
        self._add_row(form, "task", self._choice_combo("task"))
        self._add_row(form, "optimizer", self._choice_combo("optimizer"))
        low, high = float_bounds("learning_rate", LOG_SPIN_MIN)
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
