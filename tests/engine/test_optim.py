"""Optimisers: each update against its textbook formula over several steps."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.optim import ADAM_BETAS, ADAM_EPS, MOMENTUM, Optimizer


def gradient_sequence(count=4, dtype=np.float64) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    return [
        {"w": rng.standard_normal((3, 2)).astype(dtype), "b": rng.standard_normal(3).astype(dtype)}
        for _ in range(count)
    ]


def test_sgd():
    optimizer = Optimizer("sgd", 0.05)
    for grads in gradient_sequence():
        updates = optimizer.updates(grads)
        for name, g in grads.items():
            assert np.array_equal(updates[name], -0.05 * g)
    assert optimizer.step_count == 4


def test_momentum_accumulates_a_velocity():
    optimizer = Optimizer("momentum", 0.1)
    velocity = {"w": np.zeros((3, 2)), "b": np.zeros(3)}
    for grads in gradient_sequence():
        updates = optimizer.updates(grads)
        for name, g in grads.items():
            velocity[name] = MOMENTUM * velocity[name] + g
            np.testing.assert_allclose(updates[name], -0.1 * velocity[name], rtol=1e-15)
    assert MOMENTUM == 0.9


def test_momentum_first_step_is_plain_sgd_then_differs():
    grads = gradient_sequence(2)
    sgd, momentum = Optimizer("sgd", 0.1), Optimizer("momentum", 0.1)
    assert np.array_equal(sgd.updates(grads[0])["w"], momentum.updates(grads[0])["w"])
    assert not np.allclose(sgd.updates(grads[1])["w"], momentum.updates(grads[1])["w"])


def test_adam_matches_its_formula():
    beta1, beta2 = ADAM_BETAS
    optimizer = Optimizer("adam", 0.01)
    first = {"w": np.zeros((3, 2)), "b": np.zeros(3)}
    second = {"w": np.zeros((3, 2)), "b": np.zeros(3)}
    for step, grads in enumerate(gradient_sequence(), start=1):
        updates = optimizer.updates(grads)
        for name, g in grads.items():
            first[name] = beta1 * first[name] + (1 - beta1) * g
            second[name] = beta2 * second[name] + (1 - beta2) * g**2
            corrected_first = first[name] / (1 - beta1**step)
            corrected_second = second[name] / (1 - beta2**step)
            expected = -0.01 * corrected_first / (np.sqrt(corrected_second) + ADAM_EPS)
            np.testing.assert_allclose(updates[name], expected, rtol=1e-13)


def test_adam_first_step_has_the_size_of_the_learning_rate():
    # With bias correction, the first step is lr * g / |g| element-wise, whatever g's scale.
    grads = {"w": np.array([1e-3, -3.0, 250.0])}
    update = Optimizer("adam", 0.01).updates(grads)["w"]
    np.testing.assert_allclose(
        update, -0.01 * np.sign(grads["w"]), rtol=1e-5
    )  # eps = 1e-8 is 1e-5 of the smallest


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_float32_updates_stay_float32(kind):
    optimizer = Optimizer(kind, 0.01)
    for grads in gradient_sequence(2, dtype=np.float32):
        assert all(u.dtype == np.float32 for u in optimizer.updates(grads).values())


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_gradients_are_not_modified(kind):
    optimizer = Optimizer(kind, 0.01)
    for grads in gradient_sequence():
        copies = {name: g.copy() for name, g in grads.items()}
        optimizer.updates(grads)
        assert all(np.array_equal(grads[name], copies[name]) for name in grads)


def test_the_three_optimisers_differ():
    grads = gradient_sequence(3)
    final = {}
    for kind in ("sgd", "momentum", "adam"):
        optimizer = Optimizer(kind, 0.01)
        for g in grads:
            final[kind] = optimizer.updates(g)["w"]
    assert not np.allclose(final["sgd"], final["momentum"])
    assert not np.allclose(final["sgd"], final["adam"])
    assert not np.allclose(final["momentum"], final["adam"])


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        Optimizer("rmsprop", 0.1)
