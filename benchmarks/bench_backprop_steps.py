"""Backprop step-through: the cost of one step against a full backward pass.

Run by hand::

    python3 benchmarks/bench_backprop_steps.py [--layers 4] [--seq-len 500] [--batch 16]
        [--hidden 64] [--repeats 5]

The view (offscreen, 1400 x 900, shown) is loaded with the config's initial weights and first
batch, then stepped through every cell with ``step_backward`` (what the Left arrow does). Each
step is timed in three parts: ``session.advance()`` alone (the engine's work for one cell), the
view's update (advance, grid recolouring, curve, numbers) and the repaint (``processEvents``
afterwards). For comparison, in the same run: ``Simulation.forward_backward`` on
the same batch (best of ``--repeats``), which is what recomputing the backward pass per step
would cost at the least, and redo steps (moving over cells already computed, no ``advance``).

The steps at a layer boundary are the slowest: the engine finishes the layer above there (its
weight gradients and the gradient sent below: three products over all time steps).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

# isort: split
from gradsim.engine.config import SimConfig  # noqa: E402
from gradsim.engine.simulation import Simulation  # noqa: E402
from gradsim.ui.common.theme import LIGHT  # noqa: E402
from gradsim.ui.features.backprop.backprop_view import BackpropView  # noqa: E402


def timed_steps(app: QtWidgets.QApplication, step, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of ``count`` calls of ``step`` (the view's update) and of the repaint after each."""
    update, paint = np.empty(count), np.empty(count)
    for i in range(count):
        started = time.perf_counter()
        step()
        updated = time.perf_counter()
        app.processEvents()
        update[i], paint[i] = updated - started, time.perf_counter() - updated
    return update, paint


def timed_advance(session) -> list[float]:
    """Wrap ``session.advance`` to record the seconds of each call; returns the list it fills."""
    times: list[float] = []
    original = session.advance

    def advance():
        started = time.perf_counter()
        step = original()
        times.append(time.perf_counter() - started)
        return step

    session.advance = advance
    return times


def describe(name: str, times: np.ndarray, reference: float) -> None:
    median, worst = float(np.median(times)), float(times.max())
    p95 = float(np.percentile(times, 95))
    print(
        f"{name:<28} median {median * 1e3:7.3f} ms  p95 {p95 * 1e3:7.3f} ms  max {worst * 1e3:7.3f} ms"
        f"   median/full {median / reference:.4f}  max/full {worst / reference:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    config = SimConfig(
        num_layers=args.layers, seq_len=args.seq_len, batch_size=args.batch, hidden_size=args.hidden
    )
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    full_times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        expected = simulation.forward_backward(x, y)
        full_times.append(time.perf_counter() - started)
    full = min(full_times)

    view = BackpropView(theme=LIGHT)
    view.inline_seconds = float("inf")  # time every step inline, as a single Left-arrow step runs
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    started = time.perf_counter()
    view.load_simulation(simulation, (x, y))
    app.processEvents()
    load = time.perf_counter() - started

    cells = view.total_cells
    advance_times = timed_advance(view.session)
    update, paint = timed_steps(app, view.step_backward, cells)
    steps = update + paint
    assert view.position == cells and len(advance_times) == cells
    for name, grad in expected.grads.items():
        assert np.array_equal(view.session.result.grads[name], grad), name
    view.go_to_start()
    app.processEvents()
    redo_update, redo_paint = timed_steps(app, view.step_backward, min(cells, 500))
    assert len(advance_times) == cells  # redo never advances
    boundary = [i for i in range(args.seq_len, cells, args.seq_len)] + [cells - 1]
    inner = np.delete(steps, boundary)

    print(
        f"T={args.seq_len} L={args.layers} B={args.batch} H={args.hidden}: {cells} cells; "
        f"{os.cpu_count()} cores; view 1400x900 offscreen"
    )
    print(f"{'full forward_backward':<28} best {full * 1e3:7.3f} ms (of {args.repeats})")
    print(f"{'load (forward pass + draw)':<28} {load * 1e3:7.3f} ms")
    describe("session.advance() alone", np.array(advance_times), full)
    describe("view update (incl. advance)", update, full)
    describe("repaint", paint, full)
    describe("step = update + repaint", steps, full)
    describe("  within a layer", inner, full)
    describe("  at a layer boundary", steps[boundary], full)
    describe("redo step (no advance)", redo_update + redo_paint, full)
    print(f"whole pass stepped one by one: {steps.sum():.1f} s for {cells} steps")
    print(
        f"one full backward pass = {full / statistics.median(advance_times):.0f} x a median advance(), "
        f"{full / statistics.median(steps):.1f} x a median step with redraw"
    )
    view.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
