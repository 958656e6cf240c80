"""The training process: the :class:`TrainingLoop` in a spawned child, talking to the window by pipe.

No Qt here: the spawned child imports this module to find :func:`serve`, so it starts with
numpy and the engine only. The window's side is the ``process`` kind of
:class:`gradsim.ui.training.runner.TrainingHandle`, which starts it as a
:class:`~gradsim.ui.common.workers.ProcessWorker`.

The loop is the same object as in the ``thread`` runner, with the same commands and messages
(``(kind, generation, payload)``; records are pickled, so their arrays arrive bit for bit). What
differs is its :class:`PipeContext`:

- the window does not hold the child for its frames: the two processes share no interpreter
  (:meth:`PipeContext.wait_while_held` only looks at the pipe);
- a rebuild or reset asked for during a step reaches the loop's ``requested_generation``
  when the step's next checkpoint looks at the pipe (every :data:`PIPE_CHECK_SECONDS`), and the
  step is abandoned as in the thread;
- the child exits when the pipe closes (the window stopped it) or the window's process is gone
  (:class:`~gradsim.ui.common.processes.ParentPipe`), so it never outlives the window.
"""

from __future__ import annotations

import collections
import time
from multiprocessing.connection import Connection

from gradsim.ui.common.processes import ParentGone, ParentPipe, lower_priority
from gradsim.ui.training.training_loop import TrainingLoop, limit_blas_threads

# How often a step in progress looks at the pipe for a newer run or a closed window (seconds).
# Looking costs a system call; the checkpoints come once per layer and time step.
PIPE_CHECK_SECONDS = 0.02
# Scheduling priority of the training process (Unix nice value): below the window, whose frames
# come first when the cores are busy, and above the diagnosis (processes.NICENESS). With a core
# to itself it trains at full speed regardless. Measured on a shared 2-core machine: at 0 the
# window drew 3.4 frames/s against 4.5 for the thread runner; at 5, 5.2 against 4.8.
TRAINING_NICENESS = 5


class PipeContext:
    """The :class:`~gradsim.ui.training.training_loop.LoopContext` of a loop in the child.

    Parameters
    ----------
    parent : the child's end of the pipe
    loop : the loop it runs (its ``requested_generation`` is raised by rebuilds and resets read
        from the pipe, as the window's GUI thread raises it in the thread runner)
    """

    def __init__(self, parent: ParentPipe, loop: TrainingLoop) -> None:
        self._parent = parent
        self._loop = loop
        self._pending: collections.deque[object] = collections.deque()
        self._gone = False
        self._next_look = 0.0

    @property
    def cancelled(self) -> bool:
        """Whether the window closed the pipe or its process is gone."""
        return self._gone

    def emit(self, value: object) -> None:
        """Send ``value`` to the window (raises ParentGone if it is gone)."""
        try:
            self._parent.send(value)
        except ParentGone:
            self._gone = True
            raise

    def next_command(self, timeout: float | None = None) -> object | None:
        """The next command (read ahead by a checkpoint, or from the pipe); None after ``timeout``."""
        if self._pending:
            return self._pending.popleft()
        if self._gone:
            raise ParentGone
        try:
            arrived, command = self._parent.receive(timeout)
        except ParentGone:
            self._gone = True
            raise
        if not arrived:
            return None
        self._note(command)
        return command

    def wait_while_held(self) -> None:
        """At a checkpoint: no frame holds across processes; read what the window sent meanwhile."""
        now = time.perf_counter()
        if self._gone or now < self._next_look:
            return
        self._next_look = now + PIPE_CHECK_SECONDS
        try:
            while True:
                arrived, command = self._parent.receive(0)
                if not arrived:
                    return
                self._note(command)
                self._pending.append(command)
        except ParentGone:
            self._gone = True  # the loop abandons the step and ends at its next command

    def _note(self, command: object) -> None:
        if isinstance(command, tuple) and command[0] in ("rebuild", "reset"):
            generation = int(command[1])
            self._loop.requested_generation = max(self._loop.requested_generation, generation)


def serve(connection: Connection, count: int, parent_pid: int) -> None:
    """The training process: run a :class:`TrainingLoop` of ``count`` simulations until the pipe
    closes or the process ``parent_pid`` (the window's) is gone."""
    limit_blas_threads()  # the window's process keeps a core for drawing
    lower_priority(TRAINING_NICENESS)
    loop = TrainingLoop(count)
    serve_loop(loop, PipeContext(ParentPipe(connection, parent_pid), loop))


def serve_loop(loop: TrainingLoop, context: PipeContext) -> None:
    """Run ``loop`` on ``context`` until the window is gone (:func:`serve`'s body, for tests)."""
    try:
        loop.run(context)
    except ParentGone:
        pass
