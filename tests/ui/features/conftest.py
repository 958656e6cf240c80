"""What the feature tests share: a stand-in for a worker's job context, to run a feature's job
(bundle, export) on the test's thread and read the messages it sends."""

from __future__ import annotations

from collections.abc import Callable

import pytest


class RecordingContext:
    """The parts of :class:`~gradsim.ui.common.workers.JobContext` a file-writing job uses.

    ``emit`` keeps the messages in :attr:`messages`; ``is_cancelled`` turns true from its
    ``cancel_after + 1``-th call on (never if ``cancel_after`` is None), so a test can cancel a
    job at each place it polls.
    """

    def __init__(self, cancel_after: int | None = None) -> None:
        self.messages: list[tuple[object, ...]] = []
        self.cancel_after = cancel_after
        self.polls = 0

    def emit(self, message: tuple[object, ...]) -> None:
        self.messages.append(message)

    def is_cancelled(self) -> bool:
        self.polls += 1
        return self.cancel_after is not None and self.polls > self.cancel_after


@pytest.fixture
def job_context() -> Callable[..., RecordingContext]:
    """``job_context(cancel_after=None)``: a fresh :class:`RecordingContext`."""
    return RecordingContext
