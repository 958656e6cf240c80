"""The Sweep tab's form and page: two axis editors, what to measure, where to run, the base
config, past sweeps and the store; the progress row; the phase diagram below.

:class:`SweepPage` holds the widgets and shows what it is given; the form's values go to and
come from the settings here (:meth:`SweepPage.save_form`, :meth:`SweepPage.restore_form`). What
the buttons do is :class:`~gradsim.ui.features.sweep.sweep_view.SweepController`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from gradsim.engine import sweep
from gradsim.engine.config import FLOAT_RANGES, INT_RANGES
from gradsim.engine.formatting import format_bytes
from gradsim.io.sweepstore import SweepRecord
from gradsim.ui.common.widgets import caption, fit_combo, named, wrapped_label
from gradsim.ui.features.sweep.sweep_plot import SweepPlot
from gradsim.ui.features.sweep.sweep_text import FIELD_LABELS, stored_number

PLOT_MIN_SIZE = (420, 320)
# In presentation mode: with the settings unfolded, what a 720-pixel window leaves under them.
PLOT_MIN_HEIGHT_PRESENTING = 240
SETTINGS_PREFIX = "sweep/"
RUN_ON_TIP = (
    "Where the points are computed. Empty: worker processes on this computer, one per core. "
    "A Dask scheduler's address (tcp://host:8786) runs them on that cluster; local:N starts a "
    'local Dask cluster of N processes. Needs: pip install "gradsim[cluster]"'
)
# Default range of each field when it is chosen for an axis: (low, high, count, spacing).
DEFAULT_RANGES: dict[str, tuple[float, float, int, str]] = {
    "weight_scale": (0.5, 2.5, 17, "linear"),
    "seq_len": (5.0, 200.0, 12, "log"),
    "num_layers": (1.0, 6.0, 6, "linear"),
    "learning_rate": (1e-4, 1e-1, 10, "log"),
    "hidden_size": (8.0, 128.0, 5, "log"),
}
DEFAULT_AXES = ("weight_scale", "seq_len")
DEFAULT_SEEDS = 2
FIELD_TIPS = {
    "weight_scale": "multiplies the initial weights (the recurrent factor per time step)",
    "seq_len": "time steps the gradient travels back through",
    "num_layers": "stacked recurrent layers",
    "learning_rate": "step size of training (matters only with iterations > 0)",
    "hidden_size": "units per layer",
}


class AxisEditor(QtCore.QObject):
    """The widgets of one axis: field, low, high, number of values, spacing.

    Attributes
    ----------
    field_combo, low_spin, high_spin, count_spin, spacing_combo : the controls (objectNames
        ``sweep_<name>_field`` etc., ``name`` being ``x`` or ``y``)
    """

    def __init__(self, name: str, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.name = name
        self.field_combo = QtWidgets.QComboBox(parent)
        for field in sweep.SWEEP_FIELDS:
            self.field_combo.addItem(FIELD_LABELS[field], field)
            index = self.field_combo.count() - 1
            self.field_combo.setItemData(index, FIELD_TIPS[field], QtCore.Qt.ItemDataRole.ToolTipRole)
        self.low_spin = QtWidgets.QDoubleSpinBox(parent)
        self.high_spin = QtWidgets.QDoubleSpinBox(parent)
        self.count_spin = QtWidgets.QSpinBox(parent)
        self.count_spin.setRange(1, sweep.MAX_AXIS_POINTS)
        self.spacing_combo = QtWidgets.QComboBox(parent)
        self.spacing_combo.addItem("linear", "linear")
        self.spacing_combo.addItem("log", "log")
        controls = (self.field_combo, self.low_spin, self.high_spin, self.count_spin, self.spacing_combo)
        for control, part in zip(controls, ("field", "low", "high", "count", "spacing"), strict=True):
            control.setObjectName(f"sweep_{name}_{part}")
        axis = f"the {name} axis"
        self.field_combo.setToolTip(f"The setting along {axis}")
        self.low_spin.setToolTip(f"The first value of {axis}")
        self.high_spin.setToolTip(f"The last value of {axis} (included)")
        self.count_spin.setToolTip(
            f"How many values along {axis}; whole-number settings drop repeated values after rounding"
        )
        self.spacing_combo.setToolTip(
            "linear: values evenly spaced; log: evenly spaced in log10 (for ranges over decades), "
            "drawn on a log axis"
        )
        for spin in (self.low_spin, self.high_spin):
            spin.setKeyboardTracking(False)
            spin.setMinimumWidth(96)
        self.field_combo.currentIndexChanged.connect(self._on_user_field)

    def widgets(self) -> tuple[QtWidgets.QWidget, ...]:
        """The controls, left to right."""
        return (self.field_combo, self.low_spin, self.high_spin, self.count_spin, self.spacing_combo)

    def field(self) -> str:
        return str(self.field_combo.currentData())

    def set_state(self, field: str, low: float, high: float, count: int, spacing: str) -> None:
        """Show these values (limits and decimals follow the field)."""
        index = self.field_combo.findData(field)
        blocked = self.field_combo.blockSignals(True)
        self.field_combo.setCurrentIndex(max(0, index))
        self.field_combo.blockSignals(blocked)
        self._set_limits(self.field())
        self.low_spin.setValue(low)
        self.high_spin.setValue(high)
        self.count_spin.setValue(count)
        self.spacing_combo.setCurrentIndex(max(0, self.spacing_combo.findData(spacing)))

    def state(self) -> dict[str, Any]:
        return {
            "field": self.field(),
            "low": self.low_spin.value(),
            "high": self.high_spin.value(),
            "count": self.count_spin.value(),
            "spacing": str(self.spacing_combo.currentData()),
        }

    def axis(self) -> sweep.SweepAxis:
        """The axis the controls describe (raises SweepError with a message for the user)."""
        state = self.state()
        return sweep.make_axis(state["field"], state["low"], state["high"], state["count"], state["spacing"])

    def _set_limits(self, field: str) -> None:
        low: float
        high: float
        if field in sweep.INTEGER_FIELDS:
            low, high = INT_RANGES[field]
            decimals, step = 0, 1.0
        else:
            low, high = FLOAT_RANGES[field][0], FLOAT_RANGES[field][1]
            decimals = 6 if field == "learning_rate" else 3
            low = 10.0**-decimals  # the field excludes 0
            step = 0.1 if field == "weight_scale" else 0.001
        for spin in (self.low_spin, self.high_spin):
            spin.setDecimals(decimals)
            spin.setRange(low, high)
            spin.setSingleStep(step)

    @QtCore.Slot(int)
    def _on_user_field(self, index: int) -> None:
        field = str(self.field_combo.itemData(index))
        low, high, count, spacing = DEFAULT_RANGES[field]
        self.set_state(field, low, high, count, spacing)


class SweepPage(QtWidgets.QWidget):
    """The tab's widgets: the form above, the phase diagram below (no logic: see SweepController)."""

    def __init__(self, plot: SweepPlot) -> None:
        super().__init__()
        self.setObjectName("sweep_page")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(6)

        form = QtWidgets.QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        self.x_editor = AxisEditor("x", self)
        self.y_editor = AxisEditor("y", self)
        for column, text in enumerate(("", "setting", "from", "to", "values", "spacing"), start=0):
            if text:
                header = QtWidgets.QLabel(f"<b>{text}</b>")
                form.addWidget(header, 0, column)
        for row, (label, editor) in enumerate(
            (("x axis", self.x_editor), ("y axis", self.y_editor)), start=1
        ):
            form.addWidget(caption(label, editor.field_combo), row, 0)
            for column, widget in enumerate(
                (
                    editor.field_combo,
                    editor.low_spin,
                    editor.high_spin,
                    editor.count_spin,
                    editor.spacing_combo,
                ),
                start=1,
            ):
                form.addWidget(widget, row, column)

        self.iterations_spin = QtWidgets.QSpinBox()
        self.iterations_spin.setObjectName("sweep_iterations")
        self.iterations_spin.setRange(0, sweep.MAX_ITERATIONS)
        self.iterations_spin.setSpecialValueText("0 (at init)")
        self.iterations_spin.setSuffix(" steps")
        self.iterations_spin.setToolTip(
            "When to measure the gradient: 0 = at initialisation; N = after N training steps of each "
            "grid config (costs N times more)"
        )
        self.seeds_spin = QtWidgets.QSpinBox()
        self.seeds_spin.setObjectName("sweep_seeds")
        self.seeds_spin.setRange(1, sweep.MAX_SEEDS)
        self.seeds_spin.setToolTip(
            "Seeds averaged per cell (in log10), counted from the base config's seed; more seeds, "
            "smoother edge"
        )
        measure = QtWidgets.QHBoxLayout()
        measure.setSpacing(6)
        iterations_label = caption("iterations", self.iterations_spin)
        seeds_label = caption("seeds", self.seeds_spin)
        self.run_on_edit = QtWidgets.QLineEdit()
        self.run_on_edit.setObjectName("sweep_run_on")
        self.run_on_edit.setPlaceholderText("this computer")
        self.run_on_edit.setToolTip(RUN_ON_TIP)
        self.run_on_edit.setMinimumWidth(150)
        self.run_on_edit.setMaximumWidth(240)
        run_on_label = caption("run on", self.run_on_edit)
        for widget in (iterations_label, self.iterations_spin, seeds_label, self.seeds_spin):
            measure.addWidget(widget)
        measure.addStretch(1)
        form.addWidget(QtWidgets.QLabel("measure"), 3, 0)
        form.addLayout(measure, 3, 1, 1, 3)
        # On a row of its own: beside the measure's spin boxes and the buttons it made the tab
        # wider than a 1280-pixel window leaves it next to the controls and the diagnosis.
        form.addWidget(run_on_label, 4, 0)
        form.addWidget(self.run_on_edit, 4, 1, 1, 3)

        self.run_button = QtWidgets.QPushButton("Run sweep")
        self.run_button.setObjectName("sweep_run")
        self.run_button.setDefault(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("sweep_cancel")
        self.cancel_button.setEnabled(False)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        form.addLayout(buttons, 3, 4, 1, 2)

        self.base_label = wrapped_label("sweep_base")
        self.base_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_current_button = QtWidgets.QPushButton("Use current config")
        self.use_current_button.setObjectName("sweep_use_current")
        form.addWidget(QtWidgets.QLabel("base"), 5, 0)
        form.addWidget(self.base_label, 5, 1, 1, 4)
        form.addWidget(self.use_current_button, 5, 5)

        # Past sweeps and the store. The list's items are long: it must not size itself to them.
        self.past_combo = fit_combo(QtWidgets.QComboBox(), 24)
        self.past_combo.setObjectName("sweep_past")
        self.past_combo.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed
        )
        self.past_combo.setToolTip(
            "Sweeps recorded in the store (by this window, others, or gradsim sweep), newest first: "
            "choose one to show it again, without computing"
        )
        self.store_label = named(QtWidgets.QLabel(), "sweep_store_size")
        self.clear_button = named(
            QtWidgets.QPushButton("Clear…"),
            "sweep_clear_store",
            "Delete every stored point and recorded sweep (asks first)",
        )
        past_label = caption("past", self.past_combo)
        past = QtWidgets.QHBoxLayout()
        past.setSpacing(6)
        past.addWidget(self.past_combo, 1)
        past.addWidget(self.store_label)
        past.addWidget(self.clear_button)
        form.addWidget(past_label, 6, 0)
        form.addLayout(past, 6, 1, 1, 5)
        form.setColumnStretch(6, 1)
        # In a widget of its own, so that presentation mode can fold it (see fold_form).
        form.setContentsMargins(0, 0, 0, 0)
        self.form_box = QtWidgets.QWidget()
        self.form_box.setObjectName("sweep_form")
        self.form_box.setLayout(form)
        layout.addWidget(self.form_box)

        progress_row = QtWidgets.QHBoxLayout()
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setObjectName("sweep_progress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumWidth(320)
        self.progress_bar.setToolTip("Grid points finished, computed or taken from the cache")
        self.progress_label = QtWidgets.QLabel("No sweep yet: choose two settings and press Run sweep")
        self.progress_label.setObjectName("sweep_progress_label")
        # Wrapped, and never asking for its text's width: a finished sweep's summary and the
        # theory line's notes are a paragraph, which must neither widen the window nor be cut.
        self.progress_label.setWordWrap(True)
        policy = self.progress_label.sizePolicy()
        policy.setHorizontalPolicy(QtWidgets.QSizePolicy.Policy.Ignored)
        self.progress_label.setSizePolicy(policy)
        self.form_toggle = QtWidgets.QToolButton()
        self.form_toggle.setObjectName("sweep_form_toggle")
        self.form_toggle.setText("Settings")
        self.form_toggle.setCheckable(True)
        self.form_toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.form_toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow)  # the form is shown
        self.form_toggle.setToolTip(
            "Show or hide the sweep's settings (folded in presentation mode; Ctrl+Return runs, Esc cancels)"
        )
        self.form_toggle.toggled.connect(self._on_user_form_toggle)
        self.form_toggle.hide()
        progress_row.addWidget(self.form_toggle)
        progress_row.addWidget(self.progress_bar)
        progress_row.addWidget(self.progress_label, 1)
        layout.addLayout(progress_row)

        self.plot = plot
        plot.setObjectName("sweep_plot")
        plot.setMinimumSize(*PLOT_MIN_SIZE)
        layout.addWidget(plot, 1)
        self.info_label = QtWidgets.QLabel(
            "Point at a cell for its numbers; click it to load its config into the Training tab."
        )
        self.info_label.setObjectName("sweep_info")
        self.info_label.setWordWrap(True)
        layout.addWidget(self.info_label)

    def fold_form(self, folded: bool) -> None:
        """Presentation mode: the settings folded behind the Settings button, the phase diagram
        given the height (at 1.6 times the size the form alone takes 40% of a 720-pixel window).
        Unfolded in the mode, the diagram may be lower than it may be otherwise: the window
        keeps its size."""
        self.plot.setMinimumHeight(PLOT_MIN_SIZE[1] if not folded else PLOT_MIN_HEIGHT_PRESENTING)
        self.form_toggle.setVisible(folded)
        self.form_toggle.setChecked(not folded)
        self._on_user_form_toggle(not folded)

    @QtCore.Slot(bool)
    def _on_user_form_toggle(self, shown: bool) -> None:
        self.form_box.setVisible(shown)
        arrow = QtCore.Qt.ArrowType.DownArrow if shown else QtCore.Qt.ArrowType.RightArrow
        self.form_toggle.setArrowType(arrow)

    def set_running(self, running: bool) -> None:
        """Lock the form while a sweep runs (its spec is fixed once started)."""
        for editor in (self.x_editor, self.y_editor):
            for widget in editor.widgets():
                widget.setEnabled(not running)
        for widget in (
            self.iterations_spin, self.seeds_spin, self.run_on_edit, self.run_button, self.use_current_button,
            self.past_combo, self.clear_button,
        ):  # fmt: skip
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    # -- the store -------------------------------------------------------------------------
    def show_store(
        self,
        records: Sequence[SweepRecord],
        problem: str | None,
        size_bytes: int,
        path: Path | None,
        available: bool,
    ) -> None:
        """The past-sweeps list (``records``: the store's recorded sweeps, newest first) and the
        store's size, or why the store cannot be used (``problem``)."""
        combo = self.past_combo
        blocked = combo.blockSignals(True)
        combo.clear()
        if problem is not None:
            combo.addItem("the sweep store cannot be used (see its tooltip)")
            combo.setItemData(0, problem, QtCore.Qt.ItemDataRole.ToolTipRole)
        elif records:
            combo.addItem(
                f"{len(records)} recorded sweep{'s' if len(records) != 1 else ''}: choose one to reopen"
            )
        else:
            combo.addItem("no sweeps recorded yet")
        for record in records:
            combo.addItem(record.describe(), record.id)
            combo.setItemData(combo.count() - 1, record.describe(), QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(0)
        combo.setEnabled(bool(records))
        combo.blockSignals(blocked)
        if problem is None:
            self.store_label.setText(f"store {format_bytes(size_bytes)}")
            self.store_label.setToolTip(
                f"The sweep store: every computed point and recorded sweep, in {path} (shared with "
                "other windows and gradsim sweep)"
            )
        else:
            self.store_label.setText("store unavailable")
            self.store_label.setToolTip(problem)
        self.clear_button.setEnabled(available)

    # -- settings ----------------------------------------------------------------------------
    def save_form(self, settings: QtCore.QSettings) -> None:
        """Keep the form's values (both axes, iterations, seeds, run on) in ``settings``."""
        for name, editor in (("x", self.x_editor), ("y", self.y_editor)):
            for key, value in editor.state().items():
                settings.setValue(f"{SETTINGS_PREFIX}{name}_{key}", value)
        settings.setValue(f"{SETTINGS_PREFIX}iterations", self.iterations_spin.value())
        settings.setValue(f"{SETTINGS_PREFIX}seeds", self.seeds_spin.value())
        settings.setValue(f"{SETTINGS_PREFIX}run_on", self.run_on_edit.text().strip())

    def restore_form(self, settings: QtCore.QSettings) -> None:
        """Show the values kept by :meth:`save_form` (the defaults where there are none or they
        cannot be read)."""
        for name, editor, default_field in (
            ("x", self.x_editor, DEFAULT_AXES[0]),
            ("y", self.y_editor, DEFAULT_AXES[1]),
        ):
            field = str(settings.value(f"{SETTINGS_PREFIX}{name}_field", default_field))
            if field not in sweep.SWEEP_FIELDS:
                field = default_field
            low, high, count, spacing = DEFAULT_RANGES[field]
            editor.set_state(
                field,
                stored_number(settings.value(f"{SETTINGS_PREFIX}{name}_low"), low),
                stored_number(settings.value(f"{SETTINGS_PREFIX}{name}_high"), high),
                int(stored_number(settings.value(f"{SETTINGS_PREFIX}{name}_count"), count)),
                str(settings.value(f"{SETTINGS_PREFIX}{name}_spacing", spacing)),
            )
        self.iterations_spin.setValue(int(stored_number(settings.value(f"{SETTINGS_PREFIX}iterations"), 0)))
        self.seeds_spin.setValue(int(stored_number(settings.value(f"{SETTINGS_PREFIX}seeds"), DEFAULT_SEEDS)))
        self.run_on_edit.setText(str(settings.value(f"{SETTINGS_PREFIX}run_on", "") or ""))
