"""Timeline of the Diagnosis dock around a preset switch while the run trains (issue 16).

Usage::

    python3 benchmarks/trace_diagnosis_refresh.py [--start default] [--switch-to vanishing-sigmoid]
        [--after 3] [--seconds 12]

Opens the window offscreen with ``--start``, plays, waits for the first diagnosis plus
``--after`` seconds, switches the preset box to ``--switch-to`` as a user would, and watches
for ``--seconds``. It prints, with seconds since start: when the panel makes a request, when
the worker thread takes a request off its queue (``dequeued``), how long the diagnosis process
computed (``process_seconds``), when the result reaches the panel (with the training iteration
at that moment), and twice a second what the dock's iteration line says. A trace, not a
benchmark: read the gaps (a request waiting behind another job, the spacing after a slow one).
Not run by tests/test_benchmarks_smoke.py (it makes its own QApplication and runs for seconds).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6 import QtCore  # noqa: E402

START = time.perf_counter()
TIMELINE: list[tuple[float, str, dict[str, Any]]] = []


def note(what: str, **details: Any) -> None:
    TIMELINE.append((time.perf_counter() - START, what, details))


def instrument() -> None:
    """Wrap the worker's slots, the server's requests and the panel's handlers with notes.

    Each wrapper keeps the wrapped method's name: PySide finds a slot by name, and a connection
    to an unknown name is a direct call on the emitting thread (the worker's). The job's methods
    run on the worker thread (a plain function call there).
    """
    from gradsim.ui.features.diagnosis import diagnosis_job, diagnosis_panel, diagnosis_process

    job = diagnosis_job.DiagnosisJob
    run_diagnosis, run_prediction = job._diagnose, job._predict  # noqa: SLF001

    @functools.wraps(run_diagnosis)
    def traced_diagnosis(self, context, run, config, records):  # noqa: ANN001, ANN202
        note("worker: diagnosis dequeued", run=run, activation=config.activation, last=records[-1].iteration)
        run_diagnosis(self, context, run, config, records)

    @functools.wraps(run_prediction)
    def traced_prediction(self, context, config):  # noqa: ANN001, ANN202
        note("worker: theory dequeued", activation=config.activation)
        run_prediction(self, context, config)

    job._diagnose = traced_diagnosis  # noqa: SLF001
    job._predict = traced_prediction  # noqa: SLF001
    server = diagnosis_process.DiagnosisServer
    ask = server._ask  # noqa: SLF001

    @functools.wraps(ask)
    def traced_ask(self, request, cancelled):  # noqa: ANN001, ANN202
        try:
            payload, seconds = ask(self, request, cancelled)
        except diagnosis_process.DiagnosisCancelled:
            note(f"server: {request[0]} abandoned")
            raise
        note(f"server: {request[0]} answered", process_seconds=round(seconds, 3))
        return payload, seconds

    server._ask = traced_ask  # noqa: SLF001
    panel = diagnosis_panel.DiagnosisPanel
    on_diagnosed, on_restarted = panel._on_diagnosed, panel._on_run_restarted  # noqa: SLF001

    @functools.wraps(on_diagnosed)
    def traced_diagnosed(self, result):  # noqa: ANN001, ANN202
        latest = self.main_window.history.latest
        note("panel: result", run=result.run, of_iteration=result.iteration,
             training_at=latest.iteration if latest is not None else None)  # fmt: skip
        on_diagnosed(self, result)

    @functools.wraps(on_restarted)
    def traced_restarted(self, config):  # noqa: ANN001, ANN202
        note("panel: run restarted", activation=config.activation)
        on_restarted(self, config)

    panel._on_diagnosed = QtCore.Slot(object)(traced_diagnosed)  # noqa: SLF001
    panel._on_run_restarted = QtCore.Slot(object)(traced_restarted)  # noqa: SLF001


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", default="default")
    parser.add_argument("--switch-to", default="vanishing-sigmoid")
    parser.add_argument("--after", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args(argv)

    from gradsim.engine.presets import load_preset
    from gradsim.ui.app import create_application
    from gradsim.ui.main_window import MainWindow

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-trace-"))
    app = create_application(sys.argv[:1])
    instrument()
    window = MainWindow(load_preset(args.start), settings=QtCore.QSettings())
    window.resize(1440, 900)
    window.show()
    panel = window.features["gradsim.ui.features.diagnosis.diagnosis_panel"].panel
    requests = [panel.requests]

    def look() -> None:
        if panel.requests != requests[0]:
            requests[0] = panel.requests
            note("panel: request made", number=panel.requests)

    watcher = QtCore.QTimer()
    watcher.setInterval(5)
    watcher.timeout.connect(look)
    watcher.start()

    def spin(seconds: float, until: Any = None, every: float = 0.0) -> None:
        end, next_line = time.perf_counter() + seconds, 0.0
        while time.perf_counter() < end and not (until is not None and until()):
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
            if every and time.perf_counter() >= next_line:
                next_line = time.perf_counter() + every
                latest = window.history.latest
                note("dock says", line=panel.iteration_label.text(),
                     training_at=latest.iteration if latest is not None else None)  # fmt: skip

    window.runner.play()
    spin(120, until=lambda: panel.result is not None)
    spin(args.after)
    combo = window.control_panel.preset_combo
    index = combo.findData(args.switch_to)
    note("USER: preset switched", to=args.switch_to, training_at=window.history.latest.iteration)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    spin(args.seconds, every=0.5)
    window.runner.pause()
    window.close()
    app.processEvents()
    for seconds, what, details in TIMELINE:
        print(f"{seconds:7.2f}  {what}  {details}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
