"""Tasks: batch shapes, what the targets mean, determinism, losses and their gradients."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.config import TASKS as TASK_NAMES
from gradsim.engine.tasks import (
    MEMORY_CLASSES,
    RANDOM_INPUTS,
    RANDOM_OUTPUTS,
    loss_and_gradient,
    make_task,
)


def sample(name, batch=6, steps=10, seed=0, dtype=np.float64):
    return make_task(name).sample(np.random.default_rng(seed), batch, steps, np.dtype(dtype))


@pytest.mark.parametrize(
    ("name", "inputs", "outputs", "loss"),
    [
        ("adding", 2, 1, "mse"),
        ("memory", MEMORY_CLASSES + 1, MEMORY_CLASSES, "cross_entropy"),
        ("random", RANDOM_INPUTS, RANDOM_OUTPUTS, "mse"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shapes_and_dtypes(name, inputs, outputs, loss, dtype):
    task = make_task(name)
    assert (task.input_size, task.output_size, task.loss) == (inputs, outputs, loss)
    assert task.description
    x, y = sample(name, batch=5, steps=7, dtype=dtype)
    assert x.shape == (5, 7, inputs)
    assert x.dtype == dtype
    if loss == "mse":
        assert y.shape == (5, outputs)
        assert y.dtype == dtype
    else:
        assert y.shape == (5,)
        assert np.issubdtype(y.dtype, np.integer)


def test_every_config_task_exists():
    assert {make_task(name).name for name in TASK_NAMES} == set(TASK_NAMES)
    with pytest.raises(ValueError, match="unknown task 'copy'"):
        make_task("copy")


@pytest.mark.parametrize("steps", [2, 3, 10, 101])
def test_adding_target_is_the_sum_of_the_marked_values(steps):
    x, y = sample("adding", batch=50, steps=steps, seed=steps)
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = steps // 2
    for row in range(50):
        marked = np.flatnonzero(markers[row])
        assert len(marked) == 2
        assert marked[0] < half <= marked[1]  # one mark in each half of the sequence
        assert y[row, 0] == pytest.approx(values[row, marked].sum(), rel=1e-15)


def test_adding_with_a_single_step():
    x, y = sample("adding", batch=4, steps=1)
    assert np.array_equal(x[:, 0, 1], np.ones(4))
    assert np.array_equal(y[:, 0], x[:, 0, 0])


def test_memory_target_is_the_class_shown_at_step_zero():
    x, y = sample("memory", batch=200, steps=12, seed=3)
    assert np.array_equal(np.argmax(x[:, 0, :MEMORY_CLASSES], axis=1), y)
    assert np.array_equal(x[:, 0, :MEMORY_CLASSES].sum(axis=1), np.ones(200))  # one-hot
    assert not x[:, 1:-1].any()  # blank in between
    assert np.array_equal(x[:, -1, MEMORY_CLASSES], np.ones(200))  # the recall flag
    assert not x[:, :-1, MEMORY_CLASSES].any()
    assert set(y.tolist()) == set(range(MEMORY_CLASSES))  # 200 draws see every class


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_generator_same_batch(name):
    x1, y1 = sample(name, seed=11)
    x2, y2 = sample(name, seed=11)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    x3, y3 = sample(name, seed=12)
    assert not (np.array_equal(x1, x3) and np.array_equal(y1, y3))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_successive_batches_differ(name):
    task = make_task(name)
    rng = np.random.default_rng(0)
    x1, y1 = task.sample(rng, 4, 6, np.dtype(np.float64))
    x2, y2 = task.sample(rng, 4, 6, np.dtype(np.float64))
    assert not (np.array_equal(x1, x2) and np.array_equal(y1, y2))


def test_mse_loss_value():
    task = make_task("random")
    output = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    target = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 2.0, 0.0]])
    loss, _ = loss_and_gradient(task, output, target)
    # 0.5 * mean of squared differences over batch and outputs
    assert loss == pytest.approx(0.5 * (0 + 1 + 4 + 9 + 1 + 1 + 4 + 0) / 8, rel=1e-15)


def test_cross_entropy_value():
    task = make_task("memory")
    output = np.log(np.array([[0.5, 0.25, 0.25] + [1e-300] * 5, [0.1, 0.9] + [1e-300] * 6]))
    loss, _ = loss_and_gradient(task, output, np.array([1, 1]))
    assert loss == pytest.approx(-(np.log(0.25) + np.log(0.9)) / 2, rel=1e-12)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_loss_gradient_matches_finite_differences(name):
    task = make_task(name)
    rng = np.random.default_rng(4)
    _, target = task.sample(rng, 3, 4, np.dtype(np.float64))
    output = rng.standard_normal((3, task.output_size))
    _, analytic = loss_and_gradient(task, output, target)
    numeric = np.zeros_like(output)
    step = 1e-6
    for index in np.ndindex(output.shape):
        plus, minus = output.copy(), output.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (
            loss_and_gradient(task, plus, target)[0] - loss_and_gradient(task, minus, target)[0]
        ) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=2e-9)  # atol: rounding of the loss / step


def test_cross_entropy_is_stable_for_huge_logits():
    task = make_task("memory")
    output = np.zeros((2, MEMORY_CLASSES))
    output[0, 3] = 1000.0
    output[1, 5] = -1000.0
    loss, grad = loss_and_gradient(task, output, np.array([3, 5]))
    # Row 0 is certain and right (loss 0); row 1 puts ~e^-1000 on the right class (loss ~1000).
    assert loss == pytest.approx((0.0 + 1000.0 + np.log(MEMORY_CLASSES - 1)) / 2, rel=1e-12)
    assert np.all(np.isfinite(grad))
