"""The training process's side (no Qt): its pipe context, its imports, and no orphan.

The window's side (the ``process`` kind of the Runner) is tested with the thread kind in
test_runner.py; here the child's loop runs without a window: in a thread of the test with a
plain pipe, or as a real spawned child of a parent process that the test kills.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers import LARGEST, small_config

from gradsim.engine.simulation import Simulation
from gradsim.ui.common.processes import ParentGone, ParentPipe
from gradsim.ui.training import training_process
from gradsim.ui.training.training_loop import TrainingLoop
from gradsim.ui.training.training_process import PipeContext

SMALL = small_config(seed=5)
# One step takes seconds (16 layers x 2000 time steps): long enough to be caught mid-step.
SLOW = LARGEST


def receive_until(connection, kind: str, generation: int | None = None, timeout: float = 60.0) -> object:
    """The payload of the next message of ``kind`` (and ``generation``) on ``connection``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if connection.poll(0.1):
            got, message_generation, payload = connection.recv()
            if got == kind and (generation is None or message_generation == generation):
                return payload
    raise AssertionError(f"no {kind!r} message within {timeout} s")


@pytest.mark.parametrize(
    "cell, activation",
    [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("lstm", "tanh"), ("gru", "tanh")],
)
def test_the_loops_checkpoint_is_called_every_few_steps_and_changes_no_bit(cell, activation):
    # The loop gives each simulation its checkpoint; T = 40 is not a multiple of the stride.
    config = small_config(cell=cell, activation=activation, seq_len=40)
    plain = Simulation(config)
    calls = []

    class Counting:  # a LoopContext that counts the checkpoints
        cancelled = False

        def emit(self, value: object) -> None:
            pass

        def wait_while_held(self) -> None:
            calls.append(1)

    loop = TrainingLoop(1)
    loop._context = Counting()
    loop._rebuild(0, (config,))
    (checked,) = loop.simulations
    assert checked.checkpoint == loop._checkpoint
    every = checked.checkpoint_every
    assert 1 < every < config.seq_len
    for _ in range(3):
        expected, record = plain.train_step(), checked.train_step()
        assert record.loss == expected.loss
        assert (record.grad_norms == expected.grad_norms).all()
    assert len(calls) == 3 * config.num_layers * -(-config.seq_len // every)


def test_the_child_module_imports_no_qt():
    code = (
        "import sys, gradsim.ui.training.training_process; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_checkpoint_reads_a_newer_run_and_keeps_the_command():
    window_end, child_end = multiprocessing.Pipe()
    loop = TrainingLoop(1)
    context = PipeContext(ParentPipe(child_end, os.getppid()), loop)
    window_end.send(("pause",))
    window_end.send(("rebuild", 3, (SMALL,)))
    window_end.send(("reset", 2))
    while not child_end.poll(0):
        pass
    context.wait_while_held()
    # The newest generation asked for is seen at once (a step of an older run stops) ...
    assert loop.requested_generation == 3
    # ... and the commands are handled in their order afterwards.
    assert context.next_command(0) == ("pause",)
    assert context.next_command(0) == ("rebuild", 3, (SMALL,))
    assert context.next_command(0) == ("reset", 2)
    assert context.next_command(0) is None
    window_end.close()
    with pytest.raises(ParentGone):
        context.next_command(1.0)
    assert context.cancelled


def test_a_rebuild_abandons_the_childs_step_in_its_forward_pass(forward_probe):
    window_end, child_end = multiprocessing.Pipe()
    loop = TrainingLoop(1)
    context = PipeContext(ParentPipe(child_end, os.getppid()), loop)
    thread = threading.Thread(target=training_process.serve_loop, args=(loop, context), daemon=True)
    thread.start()
    try:
        window_end.send(("rebuild", 1, (SLOW,)))
        receive_until(window_end, "built", 1)
        assert loop.simulations is not None
        probe = forward_probe(loop.simulations[0])
        window_end.send(("play",))
        assert probe.started.wait(60)
        window_end.send(("rebuild", 2, (SMALL,)))
        assert receive_until(window_end, "built", 2) == (SMALL,)
        # The slow step stopped at a time step of its forward pass instead of running to the end.
        assert probe.calls < SLOW.num_layers * SLOW.seq_len
        records = receive_until(window_end, "records", 2)
        assert records[0][0].iteration == 1 and records[0][0].grad_norms.shape == (2, 12)  # type: ignore[index]
    finally:
        window_end.close()
        thread.join(60)
    assert not thread.is_alive()  # the closed pipe ended the loop


PARENT = """
import os, sys, time
from gradsim.engine.config import SimConfig
from gradsim.ui.common.processes import ChildProcess
from gradsim.ui.training import training_process

if __name__ == "__main__":
    child = ChildProcess(training_process.serve, (1, os.getpid()), "gradsim-test-orphan")
    child.send(("rebuild", 1, (SimConfig(num_layers=2, hidden_size=8, seq_len=12, batch_size=4),)))
    child.send(("{command}",))
    while child.receive(lambda: False)[1][0] != "records":
        pass
    print(child.pid, flush=True)
    time.sleep(600)
"""


def process_state(pid: int) -> str | None:
    """The process's state letter from /proc (``Z``: exited, not yet reaped), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("command", ["play", "step"])
def test_the_child_exits_when_its_parent_is_killed(tmp_path, command):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT.replace("{command}", command)))
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            child_pid = int(parent.stdout.readline())
            assert process_state(child_pid) not in (None, "Z")
        finally:
            parent.kill()  # SIGKILL: the parent cannot end its child
            parent.wait()
    # Training flat out ("play") or waiting for a command ("step" took one), the orphan sees
    # its parent's end of the pipe close and exits. A wait, not a timing assertion.
    deadline = time.monotonic() + 60
    while process_state(child_pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_state(child_pid) in (None, "Z")
