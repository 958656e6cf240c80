"""ControlPanel: display never emits, edits emit one validated config, presets and 'custom'.

Both directions of the view contract are checked: config -> widgets (set_config shows every
field and emits nothing) and widgets -> config (an edit, after the debounce, emits exactly one
config with that field changed). That the running simulation then uses it is checked in
test_main_window.py.
"""

from __future__ import annotations

import math

import pytest
from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import CHOICES, FLOAT_RANGES, INT_RANGES, SimConfig, field_names
from gradsim.engine.presets import DEFAULT_PRESET, list_presets, load_preset
from gradsim.ui.training.control_panel import CUSTOM, DEBOUNCE_MS, ControlPanel

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

Key = QtCore.Qt.Key

# A config that differs from the defaults in every field, with its clip threshold in effect
# (clipping on); an LSTM keeps its activation and leaky slope fields, though it does not use them.
EVERYTHING_CHANGED = SimConfig(
    cell="lstm", forget_bias=1.0,
    num_layers=3, hidden_size=12, seq_len=24, activation="leaky_relu", leaky_slope=0.2,
    init="xavier", weight_scale=1.7, normalization="batch", clip_mode="value", clip_threshold=0.5,
    task="memory", optimizer="adam", learning_rate=0.002, batch_size=6, seed=3_000_000_000,
    dtype="float32",
)  # fmt: skip


@pytest.fixture
def panel(qtbot) -> ControlPanel:
    widget = ControlPanel(load_preset(DEFAULT_PRESET))
    qtbot.addWidget(widget)
    widget.resize(360, 900)
    widget.show()
    return widget


def shown_value(panel: ControlPanel, name: str) -> object:
    widget = panel.editors[name]
    if isinstance(widget, QtWidgets.QComboBox):
        return widget.currentData()
    value = widget.value()  # type: ignore[attr-defined]
    return int(value) if name in INT_RANGES else value


def edit(panel: ControlPanel, name: str, value: object) -> None:
    """Change one control the way a user's edit does (its change signal fires)."""
    widget = panel.editors[name]
    if isinstance(widget, QtWidgets.QComboBox):
        widget.setCurrentIndex(widget.findData(value))
    else:
        widget.setValue(value)  # type: ignore[attr-defined]


def test_every_field_has_a_control_with_a_tooltip(panel):
    assert set(panel.editors) == set(field_names())
    for name, widget in panel.editors.items():
        assert len(widget.toolTip()) > 40, name
        assert "gradient" in widget.toolTip() or name in ("seed", "clip_threshold"), name
    assert "logarithmic" in panel.weight_scale_slider.toolTip()


def test_controls_only_offer_the_config_ranges(panel):
    for name, (low, high) in INT_RANGES.items():
        widget = panel.editors[name]
        assert (widget.minimum(), widget.maximum()) == (low, high), name
    for name, (low, high, low_inclusive) in FLOAT_RANGES.items():
        widget = panel.editors[name]
        assert widget.maximum() == high, name
        assert widget.minimum() == low if low_inclusive else widget.minimum() > low, name
    for name, choices in CHOICES.items():
        widget = panel.editors[name]
        assert [widget.itemData(i) for i in range(widget.count())] == list(choices), name


def test_set_config_shows_every_field_and_does_not_emit(qtbot, panel):
    emitted: list[SimConfig] = []
    panel.configChanged.connect(emitted.append)
    panel.set_config(EVERYTHING_CHANGED)
    qtbot.wait(DEBOUNCE_MS + 100)  # long enough for a debounced emission to have happened
    assert emitted == []
    assert not panel.has_pending_edit()
    assert panel.config() == EVERYTHING_CHANGED
    for name in field_names():
        assert shown_value(panel, name) == getattr(EVERYTHING_CHANGED, name), name
    assert panel.preset_name() == CUSTOM


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, getattr(EVERYTHING_CHANGED, name)) for name in field_names()],
)
def test_an_edit_emits_one_config_with_that_field(qtbot, panel, name, value):
    start = load_preset(DEFAULT_PRESET).replace(activation="leaky_relu", clip_mode="norm")
    if name in ("activation", "clip_mode"):
        start = load_preset(DEFAULT_PRESET)
    if name == "batch_size":
        value = 7
    panel.set_config(start)
    expected = start.replace(**{name: value})
    with qtbot.waitSignal(panel.configChanged, timeout=2000) as changed:
        edit(panel, name, value)
    assert changed.args == [expected]
    assert panel.config() == expected


def test_a_burst_of_edits_emits_once_after_the_debounce(qtbot, panel):
    emitted: list[SimConfig] = []
    panel.configChanged.connect(emitted.append)
    for size in range(20, 30):
        edit(panel, "hidden_size", size)
    assert emitted == [] and panel.has_pending_edit()
    qtbot.waitUntil(lambda: len(emitted) == 1, timeout=2000)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert [config.hidden_size for config in emitted] == [29]


def test_typing_a_value_and_enter_applies_it(qtbot, panel):
    spin = panel.editors["seq_len"]
    spin.setFocus()
    spin.selectAll()  # type: ignore[attr-defined]
    with qtbot.waitSignal(panel.configChanged, timeout=2000) as changed:
        qtbot.keyClicks(spin, "137")
        qtbot.keyClick(spin, Key.Key_Return)
    assert changed.args[0].seq_len == 137


def test_dragging_the_scale_slider_emits_the_final_value_once(qtbot, panel):
    emitted: list[SimConfig] = []
    panel.configChanged.connect(emitted.append)
    slider = panel.weight_scale_slider
    for position in range(slider.value(), slider.maximum() + 1, 5):
        slider.setValue(position)  # as a drag does, one position after another
    qtbot.waitUntil(lambda: len(emitted) == 1, timeout=2000)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert len(emitted) == 1
    assert emitted[0].weight_scale == 10.0
    assert panel.editors["weight_scale"].value() == 10.0


def test_scale_slider_is_logarithmic_and_follows_the_spin_box(panel):
    slider, spin = panel.weight_scale_slider, panel.editors["weight_scale"]
    for position, scale in ((0, 0.1), (50, 0.316), (100, 1.0), (150, 3.16), (200, 10.0)):
        slider.setValue(position)
        assert spin.value() == pytest.approx(scale), position
    spin.setValue(2.0)
    assert slider.value() == round(math.log10(2.0) * 100 + 100)
    spin.setValue(50.0)  # beyond the slider's 10: the slider rests at its end, the value stays exact
    assert slider.value() == slider.maximum() and spin.value() == 50.0


def test_choosing_a_preset_sets_every_control(qtbot, panel):
    emitted: list[SimConfig] = []
    panel.configChanged.connect(emitted.append)
    for preset in list_presets():
        if preset.config == panel.config():
            continue
        index = panel.preset_combo.findData(preset.name)
        with qtbot.waitSignal(panel.configChanged, timeout=2000) as changed:
            panel.preset_combo.activated.emit(index)  # what choosing it in the list sends
            panel.preset_combo.setCurrentIndex(index)
        assert changed.args == [preset.config]
        for name in field_names():
            assert shown_value(panel, name) == getattr(preset.config, name), (preset.name, name)
        assert panel.preset_name() == preset.name
        assert panel.preset_title() == preset.title
        assert panel.preset_description.text() == preset.description
    assert len(emitted) == len(list_presets()) - 1


def test_custom_appears_after_an_edit_and_reset_restores_the_preset(qtbot, panel):
    sigmoid = load_preset("vanishing-sigmoid")
    panel.set_config(sigmoid)
    assert panel.preset_name() == "vanishing-sigmoid"
    with qtbot.waitSignal(panel.configChanged, timeout=2000):
        edit(panel, "seq_len", 40)
    assert panel.preset_name() == CUSTOM
    assert panel.preset_combo.currentText() == CUSTOM == panel.preset_title()
    assert "Vanishing: sigmoid" in panel.preset_description.text()
    with qtbot.waitSignal(panel.configChanged, timeout=2000) as changed:
        qtbot.mouseClick(panel.reset_button, QtCore.Qt.MouseButton.LeftButton)
    assert changed.args == [sigmoid]
    assert panel.preset_name() == "vanishing-sigmoid"
    # Editing back to a preset's exact values shows that preset again.
    with qtbot.waitSignal(panel.configChanged, timeout=2000):
        edit(panel, "seq_len", 40)
    with qtbot.waitSignal(panel.configChanged, timeout=2000):
        edit(panel, "seq_len", sigmoid.seq_len)
    assert panel.preset_name() == "vanishing-sigmoid"


@pytest.mark.parametrize(
    ("start", "edit_to", "message", "fix"),
    [
        (SimConfig(normalization="batch", batch_size=4), ("batch_size", 1), "batch norm needs batch_size",
         ("batch_size", 2)),
        (SimConfig(batch_size=1), ("normalization", "batch"), "batch norm needs batch_size",
         ("batch_size", 2)),
        (SimConfig(num_layers=16, hidden_size=1024, seq_len=100, batch_size=64), ("seq_len", 2000),
         "GiB for a training step", ("seq_len", 150)),
    ],
)  # fmt: skip
def test_an_invalid_combination_is_shown_and_not_applied(qtbot, panel, start, edit_to, message, fix):
    panel.set_config(start)
    emitted: list[SimConfig] = []
    panel.configChanged.connect(emitted.append)
    edit(panel, *edit_to)
    qtbot.waitUntil(panel.error_label.isVisible, timeout=2000)
    assert message in panel.error_label.text()
    # The field the engine blames is highlighted (for the memory limit: the setting to lower).
    highlighted = [name for name, widget in panel.editors.items() if widget.styleSheet()]
    assert highlighted == ["batch_size"]
    qtbot.wait(DEBOUNCE_MS + 100)
    assert emitted == [] and panel.config() == start
    # A further edit that makes the combination valid clears the message and applies both edits.
    with qtbot.waitSignal(panel.configChanged, timeout=2000) as changed:
        edit(panel, *fix)
    assert not panel.error_label.isVisible()
    assert changed.args == [start.replace(**dict([edit_to, fix]))]


def test_leaky_slope_only_for_leaky_relu_and_threshold_only_with_clipping(panel):
    form = panel._model_form
    panel.set_config(SimConfig(activation="tanh"))
    assert not form.isRowVisible(panel.editors["leaky_slope"])
    edit(panel, "activation", "leaky_relu")  # shown at once, before the debounce
    assert form.isRowVisible(panel.editors["leaky_slope"])
    assert not panel.editors["clip_threshold"].isEnabled()
    edit(panel, "clip_mode", "norm")
    assert panel.editors["clip_threshold"].isEnabled()


def test_a_gated_cell_disables_the_activation_and_only_an_lstm_shows_the_forget_bias(panel):
    form = panel._model_form
    activation, forget = panel.editors["activation"], panel.editors["forget_bias"]
    panel.set_config(SimConfig(activation="leaky_relu"))
    assert activation.isEnabled() and form.isRowVisible(panel.editors["leaky_slope"])
    assert not form.isRowVisible(forget)
    edit(panel, "cell", "lstm")  # at once, before the debounce
    assert not activation.isEnabled() and "sigmoid" in activation.toolTip()
    assert form.isRowVisible(forget) and not form.isRowVisible(panel.editors["leaky_slope"])
    edit(panel, "cell", "gru")
    assert not activation.isEnabled() and not form.isRowVisible(forget)
    edit(panel, "cell", "rnn")
    assert activation.isEnabled() and "non-linearity" in activation.toolTip()
