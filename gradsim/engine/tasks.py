"""Sequence tasks. The loss sits at the last time step only, so the gradient that reaches an
earlier step is purely what backpropagation through time carried there.

Each task draws ``(x, y)`` from a given generator: ``x`` is ``(B, T, I)``; ``y`` is ``(B, O)``
float targets (regression) or ``(B,)`` integer classes (classification).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEMORY_CLASSES = 8
RANDOM_INPUTS = 4
RANDOM_OUTPUTS = 4


@dataclass(frozen=True)
class Task:
    """A task's sizes, loss kind and sampler."""

    name: str
    input_size: int
    output_size: int
    loss: str  # "mse" or "cross_entropy"
    description: str

    def sample(
        self, rng: np.random.Generator, batch_size: int, seq_len: int, dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw one batch: ``x`` ``(B, T, I)`` and targets ``(B, O)`` or ``(B,)`` int."""
        if self.name == "adding":
            return _sample_adding(rng, batch_size, seq_len, dtype)
        if self.name == "memory":
            return _sample_memory(rng, batch_size, seq_len, dtype)
        x = rng.standard_normal((batch_size, seq_len, RANDOM_INPUTS)).astype(dtype)
        y = rng.standard_normal((batch_size, RANDOM_OUTPUTS)).astype(dtype)
        return x, y


def _sample_adding(
    rng: np.random.Generator, batch_size: int, seq_len: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    # Channel 0: values uniform in [0, 1); channel 1: a marker on two positions, one in each
    # half of the sequence. The target is the sum of the two marked values.
    values = rng.uniform(0.0, 1.0, size=(batch_size, seq_len))
    markers = np.zeros((batch_size, seq_len))
    half = max(seq_len // 2, 1)
    first = rng.integers(0, half, size=batch_size)
    second = rng.integers(half, seq_len, size=batch_size) if seq_len > 1 else first
    rows = np.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)
    y = (values * markers).sum(axis=1, keepdims=True).astype(dtype)
    return x, y


def _sample_memory(
    rng: np.random.Generator, batch_size: int, seq_len: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    # Step 0 shows the class one-hot; the steps between are blank; the last step raises a
    # "recall now" flag in the extra channel. The target is the class shown at step 0.
    classes = rng.integers(0, MEMORY_CLASSES, size=batch_size)
    x = np.zeros((batch_size, seq_len, MEMORY_CLASSES + 1), dtype=dtype)
    x[np.arange(batch_size), 0, classes] = 1.0
    x[:, -1, MEMORY_CLASSES] = 1.0
    return x, classes


TASKS = {
    "adding": Task(
        "adding", 2, 1, "mse", "Add the two marked numbers of a long sequence (mean squared error)."
    ),
    "memory": Task(
        "memory",
        MEMORY_CLASSES + 1,
        MEMORY_CLASSES,
        "cross_entropy",
        f"Recall which of {MEMORY_CLASSES} classes was shown at the first step (cross-entropy).",
    ),
    "random": Task(
        "random",
        RANDOM_INPUTS,
        RANDOM_OUTPUTS,
        "mse",
        "Random inputs and targets: nothing to learn, only gradient flow to watch (mean squared error).",
    ),
}


def make_task(name: str) -> Task:
    """The task called ``name`` (one of config.TASKS)."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}") from None


def loss_and_gradient(task: Task, output: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss of the readout ``output`` ``(B, O)`` and its gradient with respect to it.

    MSE: ``0.5 * mean((out - y)^2)``, the mean over the batch and the outputs, so the loss
    does not grow with the batch size. Cross-entropy: mean over the batch of
    ``-log softmax(out)[y]``.
    """
    batch = output.shape[0]
    if task.loss == "mse":
        diff = output - target
        loss = 0.5 * float(np.mean(diff * diff))
        return loss, diff / diff.size
    shifted = output - output.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_prob = shifted - log_norm
    rows = np.arange(batch)
    loss = -float(np.mean(log_prob[rows, target]))
    grad = np.exp(log_prob)
    grad[rows, target] -= 1.0
    return loss, grad / batch
