"""Diagnosis dock: the verdict and its numbers against the engine's own diagnosis, every fix
button on a vanishing and an exploding run, the theory line against the theory, the worker
thread (never the GUI thread, newest request wins, ends on close)."""

from __future__ import annotations

import dataclasses
import html
import os
import threading
import time

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

# isort: split

from helpers import EXPLODING_ONE_LAYER, VANISHING_SIGMOID, engine_run, small_config

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import WINDOW, Fix, diagnose
from gradsim.engine.presets import load_preset
from gradsim.engine.regime import measure
from gradsim.engine.simulation import Simulation
from gradsim.ui.features.diagnosis import diagnosis_panel
from gradsim.ui.features.diagnosis.diagnosis_panel import (
    MIN_INTERVAL_MS,
    THEORY_LINE_KEY,
    DiagnosisFeature,
    DiagnosisPanel,
)
from gradsim.ui.features.diagnosis.diagnosis_process import SERVER, DiagnosisCancelled, DiagnosisServer
from gradsim.ui.features.diagnosis.diagnosis_text import (
    GATED_BOUND_TEXT,
    compare_diagnoses,
    config_change_text,
    describe_start,
    format_factor,
    theory_rows,
)
from gradsim.ui.features.diagnosis.diagnosis_view import WAITING_TEXT
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]
pytestmark.append(pytest.mark.window(features=("gradsim.ui.features.diagnosis.diagnosis_panel",)))

FEATURE = "gradsim.ui.features.diagnosis.diagnosis_panel"
# The engine tests' runs (tests/engine/test_diagnosis.py): small, and each fix is known to help.
VANISHING, EXPLODING = VANISHING_SIGMOID, EXPLODING_ONE_LAYER
SMALL = small_config(activation="tanh", seq_len=20, seed=3)
TIMEOUT = 20000


def feature(window: MainWindow) -> DiagnosisFeature:
    return window.features[FEATURE]


def step(qtbot, window: MainWindow, count: int = 1) -> None:
    """Take ``count`` training steps, one at a time, as the Step button does."""
    for _ in range(count):
        target = window.history.total_records + 1
        window.runner.step()
        qtbot.waitUntil(lambda target=target: window.history.total_records >= target, timeout=TIMEOUT)


def wait_diagnosis(qtbot, panel: DiagnosisPanel, iteration: int) -> None:
    """Until the panel shows the diagnosis of ``iteration`` of the current run."""

    def shown() -> bool:
        return panel.result is not None and panel.result.iteration == iteration and not panel.is_busy

    qtbot.waitUntil(shown, timeout=TIMEOUT)


# -- the dock ------------------------------------------------------------------------------------


def test_dock_is_shown_on_the_right_with_its_view_menu_entries(qtbot, make_window) -> None:
    window = make_window(SMALL)
    diagnosis = feature(window)
    dock = diagnosis.dock
    assert dock.objectName() == "diagnosis_dock"
    assert dock.isVisible()
    assert window.dockWidgetArea(dock) == QtCore.Qt.DockWidgetArea.RightDockWidgetArea
    toggle = diagnosis.toggle_action
    assert toggle in window.view_menu.actions() and diagnosis.theory_action in window.view_menu.actions()
    assert toggle.shortcut() == QtGui.QKeySequence("Ctrl+D")
    assert toggle.toolTip() and diagnosis.theory_action.toolTip()
    assert diagnosis.theory_action.isCheckable() and diagnosis.theory_action.isChecked()
    toggle.trigger()
    assert not dock.isVisible()
    toggle.trigger()
    assert dock.isVisible()
    panel = diagnosis.panel
    assert panel.sentence.text() == WAITING_TEXT
    assert panel.badge.text() == "waiting"
    for label in (panel.badge, panel.sentence, panel.evidence, panel.predicted_label, panel.measured_label):
        assert label.toolTip()
    # It fits beside the plots in the default window size.
    window.resize(1440, 900)
    QtCore.QCoreApplication.processEvents()
    assert window.width() == 1440
    assert dock.width() >= diagnosis_panel.DOCK_MIN_WIDTH

    # Hidden by the user: nothing is diagnosed until it shows again.
    toggle.trigger()
    step(qtbot, window)
    qtbot.wait(100)
    assert panel.requests == 0 and panel.result is None
    toggle.trigger()
    wait_diagnosis(qtbot, panel, 1)
    assert panel.requests == 1
    expected = diagnose(engine_run(SMALL, 1), SMALL)
    assert panel.sentence.text() == expected.sentence
    assert expected.regime == panel.badge.text() == "healthy" and expected.fixes == ()
    assert panel.fix_buttons == [] and not panel.no_fix_label.isHidden()
    assert panel.no_fix_label.text().startswith("Nothing to fix")


# -- the verdict ---------------------------------------------------------------------------------


def test_sentence_and_evidence_are_the_engines_for_the_same_records(qtbot, make_window) -> None:
    config = VANISHING.replace(seq_len=40)
    window = make_window(config)
    panel = feature(window).panel
    step(qtbot, window, 3)
    wait_diagnosis(qtbot, panel, 3)
    expected = diagnose(engine_run(config, 3), config)
    assert panel.sentence.text() == expected.sentence
    assert panel.sentence.text().startswith(measure(engine_run(config, 3)[-1]).sentence())
    assert panel.sentence.text().startswith("vanishing through time in layer ")
    assert panel.badge.text() == expected.regime == "vanishing"
    assert panel.evidence.text() == "\n".join(f"• {line}" for line in expected.evidence)
    # The theory box quotes the engine's per-layer comparison for the same record.
    comparison = expected.signs.layer_theory
    assert comparison is not None and isinstance(comparison.predicted, theory.LayerPrediction)
    names, predicted, measured = theory_rows(3, comparison.predicted, comparison)
    assert names == ["layer 1", "layer 2", "layer 3", "depth"]
    assert panel.predicted_label.text() == "\n".join(predicted)
    assert panel.measured_label.text() == "\n".join(measured)
    assert measured[:3] == [format_factor(float(f)) for f in comparison.measured.time_factors]
    assert panel.iteration_label.text() == "iteration 3 · 3 records"
    assert not panel.where_label.isVisible()
    # The spectral condition, per layer, from the diagnosed record's own spectral norms.
    products = expected.signs.bound_products
    assert products.shape == (3,)
    for layer, product in enumerate(products):
        verdict = "< 1, vanishes" if product < 1 else "≥ 1, undecided"
        assert f"layer {layer + 1}: {product / 0.25:.3g} × 0.25 = {product:.3g} ({verdict})" in (
            panel.bound_label.text()
        )
    assert [button.text() for button in panel.fix_buttons] == [fix.label for fix in expected.fixes]


def test_a_gated_run_quotes_no_vanilla_spectral_bound(qtbot, make_window) -> None:
    """The engine leaves the vanilla RNN's bound out of a gated run's evidence; the theory box
    says why instead of quoting sigma_max(W_hh) x max|f'| for an LSTM's stacked W_hh."""
    config = small_config(cell="lstm", seed=5)
    window = make_window(config)
    panel = feature(window).panel
    step(qtbot, window, 2)
    wait_diagnosis(qtbot, panel, 2)
    expected = diagnose(engine_run(config, 2), config)
    assert not any(line.startswith("spectral bound") for line in expected.evidence)
    assert panel.bound_label.text() == GATED_BOUND_TEXT


@pytest.mark.parametrize("name", ["vanishing-sigmoid", "vanishing-tanh-small", "exploding-large-weights"])
def test_each_preset_shows_its_regime(qtbot, make_window, name: str) -> None:
    preset = load_preset(name)
    window = make_window(preset)
    panel = feature(window).panel
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    expected = diagnose(engine_run(preset, 1), preset)
    assert panel.badge.text() == expected.regime
    assert panel.sentence.text() == expected.sentence
    assert panel.sentence.text().startswith(f"{name.split('-')[0]} through time in layer ")


def test_non_finite_run_names_iteration_layer_and_time_step(qtbot, make_window) -> None:
    window = make_window(EXPLODING)
    panel = feature(window).panel
    step(qtbot, window, 2)
    wait_diagnosis(qtbot, panel, 2)
    simulation = Simulation(EXPLODING)
    simulation.train_step()
    simulation.train_step()
    event = simulation.nonfinite
    assert event is not None and event.iteration == 2 and event.layer == 0 and event.time_step is not None
    assert panel.badge.text() == "non-finite"
    assert panel.sentence.text().startswith(f"non-finite: {event.describe()}")
    assert panel.where_label.isVisible()
    assert panel.where_label.text() == (
        f"Started at iteration 2 · layer 1 · time step {event.time_step + 1} · {event.quantity}"
    )
    assert describe_start(event) in panel.where_label.text()


# -- the fixes -----------------------------------------------------------------------------------


def _click_each_fix(qtbot, window: MainWindow, config: SimConfig, iterations: int, expected: set[str]):
    """Click every fix of ``config``'s run after ``iterations`` steps; yields (fix, before, after)."""
    panel = feature(window).panel
    step(qtbot, window, iterations)
    wait_diagnosis(qtbot, panel, iterations)
    keys = [button.objectName().removeprefix("fix_") for button in panel.fix_buttons]
    assert set(keys) == expected
    for key in keys:
        if window.current_config() != config:
            window.apply_config(config)
            step(qtbot, window, iterations)
            wait_diagnosis(qtbot, panel, iterations)
        before = panel.diagnosis
        assert before is not None
        fix = next(fix for fix in before.fixes if fix.key == key)
        button = next(button for button in panel.fix_buttons if button.objectName() == f"fix_{key}")
        assert button.text() == fix.label
        assert html.escape(fix.explanation, quote=False) in button.toolTip()
        assert html.escape(config_change_text(fix), quote=False) in button.toolTip()
        button.click()
        assert window.current_config() == fix.apply(config)
        assert window.control_panel.config() == fix.apply(config)
        assert panel.last_fix == (fix, fix.apply(config))
        # A paused run takes its first step by itself, so the comparison comes at once.
        wait_diagnosis(qtbot, panel, 1)
        assert panel.before is not None and panel.before.change == fix.label
        assert panel.comparison.isVisible()
        yield fix, before, panel


def test_each_fix_button_makes_a_vanishing_run_healthy_or_strictly_better(qtbot, make_window) -> None:
    window = make_window(VANISHING)
    expected = {"relu", "orthogonal", "raise_scale", "batch_norm", "fewer_steps", "lstm"}
    for fix, before, panel in _click_each_fix(qtbot, window, VANISHING, 1, expected):
        now = panel.diagnosis
        assert now is not None and now.sentence == panel.sentence.text()
        assert panel.result is not None and panel.result.config == fix.apply(VANISHING)
        better, verdict = compare_diagnoses(before, now)
        gained = abs(now.signs.measure.decades) < abs(before.signs.measure.decades)
        assert now.regime == "healthy" or gained, fix.label
        assert better, (fix.label, verdict)
        text = panel.comparison.text()
        span = before.signs.measure.extreme
        assert f"before: vanishing, {span.ratio_text()} {span.name()}, ×{span.factor_text()} per step" in text
        assert verdict in text and verdict.startswith(("fixed: healthy now", "better: "))


def test_each_fix_button_makes_an_exploding_run_healthy_or_strictly_better(qtbot, make_window) -> None:
    window = make_window(EXPLODING)
    expected = {"clip_norm", "orthogonal", "lower_scale", "fewer_steps"}
    for fix, before, panel in _click_each_fix(qtbot, window, EXPLODING, 2, expected):
        assert before.regime == "non-finite"
        if fix.key == "clip_norm":
            # Clipping leaves the flow through time as it was; what it changes is that training no
            # longer overflows: the run that broke at iteration 2 is still finite at 6.
            step(qtbot, window, 5)
            wait_diagnosis(qtbot, panel, 6)
            now = panel.diagnosis
            assert now is not None and now.regime == "exploding"
            assert now.signs.measure.decades == pytest.approx(before.signs.measure.decades, abs=1.0)
        else:
            now = panel.diagnosis
            assert now is not None
            assert now.regime == "healthy" or abs(now.signs.measure.decades) < abs(
                before.signs.measure.decades
            ), fix.label
        better, verdict = compare_diagnoses(before, now)
        assert better and verdict.startswith("better: the run stays finite now")
        assert verdict in panel.comparison.text()


def test_a_users_own_change_is_compared_too_and_a_bad_fix_is_refused(qtbot, make_window) -> None:
    window = make_window(SMALL)
    panel = feature(window).panel
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    window.apply_config(SMALL.replace(weight_scale=0.3))
    assert panel.before is not None and panel.before.change == "weight scale: 1.0 → 0.3"
    assert "now: waiting for the new run's first step" in panel.comparison.text()
    assert panel.fix_buttons == [] and panel.sentence.text() == WAITING_TEXT
    current = window.current_config()
    panel.apply_fix(Fix("broken", "Broken", "Not a valid change.", {"hidden_size": 0}))
    assert window.current_config() == current
    assert "Could not apply “Broken”: hidden_size" in window.statusBar().currentMessage()


# -- the theory line -----------------------------------------------------------------------------


def test_theory_lines_are_each_layers_predicted_factor_from_the_last_step_and_hide_with_their_toggle(
    qtbot, make_window
) -> None:
    window = make_window(SMALL)
    diagnosis = feature(window)
    panel, overlay = diagnosis.panel, diagnosis.panel.overlay
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    qtbot.waitUntil(lambda: len(overlay.lines) == 2 and overlay.lines[1].isVisible(), timeout=TIMEOUT)
    prediction = theory.predict_layers(SMALL)
    assert isinstance(prediction, theory.LayerPrediction) and panel.prediction is not None
    np.testing.assert_array_equal(panel.prediction.factors, prediction.step_factors)
    factors = prediction.step_factors
    record = engine_run(SMALL, 1)[0]
    theme = window.dashboard.theme
    for layer, line in enumerate(overlay.lines):
        steps, logs = line.getOriginalDataset()  # log10 values, as the gradient plot's curves
        np.testing.assert_array_equal(steps, [1, 20])
        # From the layer's own norm at the last step, back with the layer's own predicted factor
        # (a straight line on the log axis: its two ends).
        expected = record.grad_norms[layer, -1] * factors[layer] ** (20 - steps)
        np.testing.assert_allclose(10.0**logs, expected, rtol=1e-12)
        assert logs[-1] == record.log10_grad_norms[layer, -1]
        assert line.opts["pen"].color().name() == theme.layer_color(layer).name()
    # The line's factor raised to the span is the predicted span of that layer.
    np.testing.assert_allclose(19 * np.log10(factors), prediction.spans.time, rtol=1e-12)
    assert overlay.label == f"theory: ×{factors[0]:.3g}, ×{factors[1]:.3g}/step"
    legend = window.dashboard.plots["gradient"].legend
    first = overlay.lines[0]
    assert [label.text for sample, label in legend.items if sample.item is first] == [overlay.label]
    assert all(line in window.dashboard.plots["gradient"].plot.listDataItems() for line in overlay.lines)
    assert overlay.reason_text == ""
    # The theory box: one row per layer and one for depth, predicted next to measured.
    measured = theory.span_decades(record.log10_grad_norms)
    assert panel.span_names_label.text() == "layer 1\nlayer 2\ndepth"
    assert panel.predicted_label.text() == "\n".join(
        [format_factor(float(f)) for f in factors] + [format_factor(prediction.depth_factor)]
    )
    assert panel.measured_label.text() == "\n".join(
        [format_factor(float(f)) for f in measured.time_factors] + [format_factor(measured.depth_factor)]
    )

    diagnosis.theory_action.trigger()
    assert not any(line.isVisible() for line in overlay.lines)
    assert all(sample.item not in overlay.lines for sample, _ in legend.items)
    assert str(window.settings.value(THEORY_LINE_KEY)).lower() == "false"
    step(qtbot, window)
    qtbot.wait(100)
    assert not any(line.isVisible() for line in overlay.lines)
    diagnosis.theory_action.trigger()
    assert all(line.isVisible() for line in overlay.lines)
    latest = window.history.latest
    _, logs = overlay.lines[0].getOriginalDataset()
    assert logs[-1] == latest.log10_grad_norms[0, -1]
    assert 10.0 ** logs[0] == pytest.approx(latest.grad_norms[0, -1] * factors[0] ** 19, rel=1e-12)


def test_no_theory_line_under_batch_norm_and_the_reason_is_shown(qtbot, make_window) -> None:
    config = SMALL.replace(normalization="batch")
    window = make_window(config)
    panel = feature(window).panel
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    qtbot.waitUntil(lambda: panel.prediction is not None and panel.prediction.config == config)
    assert panel.prediction.factor is None
    assert not any(line.isVisible() for line in panel.overlay.lines)
    # In place of the lines, on the plot: a few words; in the theory box, the whole reason.
    assert panel.overlay.reason_text == "theory: not applicable: batch norm"
    assert panel.overlay.reason.toPlainText() == panel.overlay.reason_text
    assert panel.predicted_label.text() == "–\n–\n–"
    assert panel.theory_note.text() == f"No mean-field prediction: {theory.not_applicable(config)}."


def test_theory_lines_give_way_to_a_reason_for_a_non_finite_record(qtbot, make_window) -> None:
    window = make_window(SMALL)
    panel = feature(window).panel
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    qtbot.waitUntil(lambda: bool(panel.overlay.lines) and panel.overlay.lines[0].isVisible(), timeout=TIMEOUT)
    record = window.history.latest
    early = np.arange(20) < 5
    broken = dataclasses.replace(
        record,
        grad_norms=np.where(early, np.inf, record.grad_norms),
        log10_grad_norms=np.where(early, np.inf, record.log10_grad_norms),
    )
    panel.overlay.update(broken, panel.prediction.layers)
    assert not any(line.isVisible() for line in panel.overlay.lines)
    assert panel.overlay.reason_text == "theory: not applicable: the run is non-finite"


# -- the worker ----------------------------------------------------------------------------------


def test_diagnose_runs_in_another_process_asked_from_the_worker_thread(
    qtbot, make_window, monkeypatch
) -> None:
    calls: list[tuple[threading.Thread, QtCore.QThread, int | None]] = []
    original = DiagnosisServer.diagnose

    def spy(server, config, records, cancelled):
        answer = original(server, config, records, cancelled)
        calls.append((threading.current_thread(), QtCore.QThread.currentThread(), server.pid))
        return answer

    monkeypatch.setattr(DiagnosisServer, "diagnose", spy)
    window = make_window(SMALL)
    panel = feature(window).panel
    step(qtbot, window, 2)
    wait_diagnosis(qtbot, panel, 2)
    assert calls
    gui = QtCore.QCoreApplication.instance().thread()
    for python_thread, qt_thread, pid in calls:
        assert python_thread is not threading.main_thread()
        assert qt_thread is panel.thread_ and qt_thread is not gui
        assert pid is not None and pid != os.getpid()


def test_a_long_diagnosis_is_abandoned(monkeypatch) -> None:
    # 16 layers x 2000 steps: diagnose takes seconds. Waiting only 0.1 s for an abandoned answer
    # makes the outcome independent of how fast this machine is.
    monkeypatch.setattr(SERVER, "ABANDONED_WAIT_SECONDS", 0.1)
    config = SimConfig(num_layers=16, hidden_size=4, seq_len=2000, batch_size=2)
    records = engine_run(config, 1)
    start = time.perf_counter()
    with pytest.raises(DiagnosisCancelled):
        SERVER.diagnose(config, records, lambda: time.perf_counter() > start + 0.2)
    busy_pid = SERVER.pid
    assert busy_pid is not None
    # The next request waits ABANDONED_WAIT_SECONDS for that answer, then starts a new process.
    small = engine_run(SMALL, 1)
    diagnosis, seconds = SERVER.diagnose(SMALL, small, lambda: False)
    assert diagnosis.sentence == diagnose(small, SMALL).sentence and seconds > 0
    assert SERVER.pid not in (None, busy_pid)


def test_requests_are_throttled_and_the_newest_records_win(qtbot, make_window) -> None:
    window = make_window(SMALL)
    panel = feature(window).panel
    window.runner.play()
    qtbot.waitUntil(lambda: window.history.total_records >= 60, timeout=TIMEOUT)
    window.runner.pause()
    qtbot.waitUntil(lambda: not window.runner.is_running, timeout=TIMEOUT)
    qtbot.wait(50)
    last = window.history.latest.iteration
    elapsed_requests = panel.requests
    wait_diagnosis(qtbot, panel, last)
    # Hundreds of records arrived, at most one diagnosis per MIN_INTERVAL_MS was asked for.
    assert last >= 60  # the pause may land on the 60th record itself
    assert 1 <= panel.requests <= elapsed_requests + 1 < last / 5
    expected = diagnose(engine_run(SMALL, last)[-WINDOW:], SMALL)
    assert panel.sentence.text() == expected.sentence
    assert panel.iteration_label.text() == f"iteration {last} · {WINDOW} records"


def test_a_result_of_an_older_run_is_dropped(qtbot, make_window, monkeypatch) -> None:
    release = threading.Event()
    original = DiagnosisServer.diagnose

    def slow(server, config, records, cancelled):
        while not release.wait(0.02):
            if cancelled():
                raise DiagnosisCancelled
        return original(server, config, records, cancelled)

    monkeypatch.setattr(DiagnosisServer, "diagnose", slow)
    window = make_window(SMALL)
    panel = feature(window).panel
    step(qtbot, window)
    qtbot.waitUntil(lambda: panel.is_busy, timeout=TIMEOUT)
    window.apply_config(SMALL.replace(seq_len=12))
    release.set()
    qtbot.waitUntil(lambda: not panel.is_busy, timeout=TIMEOUT)
    assert panel.result is None and panel.sentence.text() == WAITING_TEXT
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    assert panel.result.config == SMALL.replace(seq_len=12)
    # The new run's 12 steps: its time spans are 11 steps long.
    assert "over 11 steps" in panel.sentence.text()

    # Closing while a diagnosis is in progress abandons it and ends the thread at once.
    release.clear()
    step(qtbot, window)
    qtbot.waitUntil(lambda: panel.is_busy, timeout=TIMEOUT)
    window.close()
    assert not panel.thread_.isRunning()


def test_a_new_configs_first_diagnosis_does_not_wait_behind_the_last_configs_jobs(
    qtbot, make_window, monkeypatch
) -> None:
    """Measured (issue 16): after a preset switch the new run's first diagnosis waited behind the
    old config's theory table (seconds; 12 s on a loaded machine) on the one worker thread. Here
    the old config's theory never ends unless abandoned, and the old run's diagnosis is queued
    behind it: the new run is diagnosed anyway, and the old run's records never are."""
    first_theory = threading.Event()
    diagnosed: list[SimConfig] = []
    predict, diagnose_in_process = DiagnosisServer.predict, DiagnosisServer.diagnose

    def endless_for_the_first_config(server, config, cancelled):
        if config != SMALL:
            return predict(server, config, cancelled)
        first_theory.set()
        while not cancelled():
            threading.Event().wait(0.02)
        raise DiagnosisCancelled

    def counted(server, config, records, cancelled):
        diagnosed.append(config)
        return diagnose_in_process(server, config, records, cancelled)

    monkeypatch.setattr(DiagnosisServer, "predict", endless_for_the_first_config)
    monkeypatch.setattr(DiagnosisServer, "diagnose", counted)
    window = make_window(SMALL)
    panel = feature(window).panel
    qtbot.waitUntil(first_theory.is_set, timeout=TIMEOUT)
    step(qtbot, window, 2)
    assert panel.requests == 1 and panel.is_busy  # queued behind the theory
    new = SMALL.replace(seq_len=12)
    window.apply_config(new)
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    assert panel.result.config == new and panel.result.count == 1
    assert diagnosed == [new]  # the old run's request was skipped, not computed
    qtbot.waitUntil(lambda: panel.prediction is not None, timeout=TIMEOUT)
    assert panel.prediction.config == new


def test_the_first_diagnosis_of_a_config_does_not_space_out_the_next(qtbot, make_window, monkeypatch) -> None:
    """The first diagnosis of a config builds the theory's tables once (seconds): the requests
    after it stay MIN_INTERVAL_MS apart; a diagnosis that is slow every time still spaces them."""
    reported: list[float] = []
    original = DiagnosisServer.diagnose

    def as_if_slow(server, config, records, cancelled):
        diagnosis, _ = original(server, config, records, cancelled)
        return diagnosis, reported.pop(0)

    monkeypatch.setattr(DiagnosisServer, "diagnose", as_if_slow)
    window = make_window(SMALL)
    panel = feature(window).panel
    reported[:] = [30.0, 0.01, 2.0]
    for iteration, interval in ((1, MIN_INTERVAL_MS), (2, MIN_INTERVAL_MS), (3, 2.0 * 2.0 * 1e3)):
        step(qtbot, window)
        wait_diagnosis(qtbot, panel, iteration)
        assert panel.request_interval_ms == pytest.approx(interval)
    assert panel.requests == 3
    # A new config starts at the shortest spacing again.
    reported[:] = [30.0]
    window.apply_config(SMALL.replace(seq_len=12))
    assert panel.request_interval_ms == MIN_INTERVAL_MS
    step(qtbot, window)
    wait_diagnosis(qtbot, panel, 1)
    assert panel.request_interval_ms == MIN_INTERVAL_MS


def test_the_progress_line_follows_many_record_batches_once(qtbot, make_window, monkeypatch) -> None:
    """Records arrive in many small batches; the dock's "now at iteration" line is set once for
    all the batches of an interval, with the newest iteration (it repainted the dock per batch)."""
    window = make_window(SMALL)
    panel = feature(window).panel
    records = engine_run(SMALL, 12)
    shown: list[int] = []
    monkeypatch.setattr(panel, "_show_progress", shown.append)  # (a diagnosis's answer sets it too)
    for record in records:  # twelve batches of one record, back to back
        window.runner.recordsReady.emit([record])
    assert shown == []  # nothing yet: the line waits for the interval
    qtbot.waitUntil(lambda: shown != [], timeout=TIMEOUT)
    qtbot.wait(2 * diagnosis_panel.PROGRESS_INTERVAL_MS)
    assert shown == [12]
    # A new run forgets a progress not yet shown.
    window.runner.recordsReady.emit([records[0]])
    window.runRestarted.emit(SMALL)
    qtbot.wait(2 * diagnosis_panel.PROGRESS_INTERVAL_MS)
    assert shown == [12]


def test_fixes_whose_numbers_move_keep_their_buttons_and_take_the_new_text(qtbot):
    # While a run trains, a diagnosis may move a fix's numbers (11 steps, then 12): the panel keeps
    # the buttons (no rebuild, no relayout of new widgets) and a click applies the newest fix.
    from gradsim.ui.features.diagnosis.diagnosis_view import DiagnosisView

    view = DiagnosisView()
    qtbot.addWidget(view)
    config = small_config(seq_len=40)

    def fixes(steps: int) -> list[Fix]:
        return [
            Fix("raise_scale", "Raise weight scale to 1.63", "why", {"weight_scale": 1.63}),
            Fix("fewer_steps", f"Fewer steps: 40 -> {steps}", f"{steps} steps", {"seq_len": steps}),
        ]

    view.set_fixes(fixes(11), config, diagnosed=True)
    first = list(view.fix_buttons)
    view.set_fixes(fixes(12), config, diagnosed=True)
    assert view.fix_buttons == first
    assert [button.text() for button in view.fix_buttons] == [
        "Raise weight scale to 1.63",
        "Fewer steps: 40 -> 12",
    ]
    assert "seq_len = 12" in view.fix_buttons[1].toolTip()
    chosen = []
    view.fix_chosen.connect(chosen.append)
    view.fix_buttons[1].click()
    assert chosen == [fixes(12)[1]]
    # Other kinds of fix: new buttons, in the new order.
    view.set_fixes(fixes(12)[::-1], config, diagnosed=True)
    assert [button.objectName() for button in view.fix_buttons] == ["fix_fewer_steps", "fix_raise_scale"]
    assert all(button not in first for button in view.fix_buttons)
    view.fix_buttons[1].click()
    assert chosen[-1].key == "raise_scale"
