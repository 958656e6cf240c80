"""A writing job and the progress task that runs it: its three endings, progress and cancel."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6 import QtWidgets

from gradsim.ui.common.background import ProgressTask, WritingJob, report_progress
from gradsim.ui.common.workers import Cancelled, JobContext


@dataclass
class Order:
    """A replay of ``iterations`` steps written to ``path``."""

    path: Path
    iterations: int = 4


class Writer(WritingJob[Order]):
    """Counts its replayed steps, then writes one line per step; ``fail`` raises on the way,
    ``gate`` (when given) holds the job after its first step until it is set."""

    cancelled_error = Cancelled

    def __init__(
        self, job: Order, fail: Exception | None = None, gate: threading.Event | None = None
    ) -> None:
        super().__init__(job)
        self.fail, self.gate = fail, gate

    def target(self) -> Path:
        return self.job.path

    def write(self, context: JobContext) -> tuple[object, ...]:
        progress = report_progress(context)
        for step in range(1, self.job.iterations + 1):
            context.checkpoint()
            progress(step, self.job.iterations)
            if self.gate is not None and step == 1:
                while not self.gate.wait(0.01):
                    context.checkpoint()
        if self.fail is not None:
            raise self.fail
        self.job.path.write_text("step\n" * self.job.iterations)
        return (self.job.path, self.job.iterations)


class Ends:
    """The feature's handlers: what each ending was called with, and what the task held then."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.task: ProgressTask | None = None

    def handler(self, kind: str):
        def handle(*arguments: object) -> None:
            assert self.task is not None
            self.calls.append((kind, *arguments, self.task.job is None, self.task.progress is None))

        return handle

    def handlers(self) -> dict[str, object]:
        return {kind: self.handler(kind) for kind in ("finished", "failed", "cancelled")}


@pytest.fixture
def parent(qtbot) -> QtWidgets.QWidget:
    widget = QtWidgets.QWidget()
    qtbot.addWidget(widget)
    return widget


def start(parent: QtWidgets.QWidget, job: Writer) -> tuple[ProgressTask, Ends]:
    ends = Ends()
    task: ProgressTask = ProgressTask("probe", "Writing the probe", ends.handlers())
    ends.task = task
    assert task.start(job, parent) is job
    return task, ends


def test_a_job_that_writes_finishes_with_what_it_wrote_and_lets_go_first(qtbot, parent, tmp_path):
    job = Writer(Order(tmp_path / "run.txt"))
    task, ends = start(parent, job)
    assert task.job is job and task.thread is not None
    assert task.progress is not None and task.progress.objectName() == "probe_progress"
    assert task.thread.objectName() == "probe_thread"
    assert "run.txt" in task.progress.labelText() and task.progress.maximum() == 4
    qtbot.waitUntil(lambda: bool(ends.calls), timeout=10_000)
    # the task had let the job and its dialog go before the handler ran
    assert ends.calls == [("finished", tmp_path / "run.txt", 4, True, True)]
    assert (tmp_path / "run.txt").read_text() == "step\n" * 4
    assert task.thread is None


def test_a_failure_is_one_message_naming_the_file(qtbot, parent, tmp_path):
    job = Writer(Order(tmp_path / "run.txt"), fail=OSError(28, "No space left on device"))
    _task, ends = start(parent, job)
    qtbot.waitUntil(lambda: bool(ends.calls), timeout=10_000)
    (kind, message, *released) = ends.calls[0]
    assert kind == "failed" and released == [True, True]
    assert str(tmp_path / "run.txt") in message and "\n" not in message
    assert not (tmp_path / "run.txt").exists()


def test_cancel_stops_the_job_at_its_next_check_and_writes_nothing(qtbot, parent, tmp_path):
    gate = threading.Event()
    job = Writer(Order(tmp_path / "run.txt", iterations=50), gate=gate)
    task, ends = start(parent, job)
    qtbot.waitUntil(lambda: task.progress is not None and task.progress.value() == 1, timeout=10_000)
    task.cancel()
    qtbot.waitUntil(lambda: bool(ends.calls), timeout=10_000)
    assert ends.calls == [("cancelled", True, True)]
    assert not (tmp_path / "run.txt").exists()
    gate.set()


def test_close_cancels_a_running_job_and_waits_for_it(qtbot, parent, tmp_path):
    gate = threading.Event()
    task, _ends = start(parent, Writer(Order(tmp_path / "run.txt", iterations=50), gate=gate))
    thread = task.thread
    assert thread is not None
    task.close()
    assert task.job is None and task.thread is None and task.progress is None
    assert thread.isFinished() or thread.wait(5_000)
    assert not (tmp_path / "run.txt").exists()
    gate.set()
