"""Dashboard redraw: the cost of one display frame for T = 1000, L = 4 with a full history.

Run by hand::

    python3 benchmarks/bench_redraw.py [--iterations 1000] [--frames 200] [--seq-len 1000]
        [--layers 4] [--width 1100] [--height 850] [--clock wall|cpu] [--records FILE]
        [--profile FILE] [--full-pens]

``--clock cpu`` times everything (and the profile) in the GUI thread's CPU time
(``time.thread_time``) instead of wall time: on a machine shared with other work the wall time
includes waiting for a core, the CPU time does not (painting runs in the calling thread, so the
two agree on an idle machine). ``--records FILE`` keeps the trained records in a pickle
(written once, read on the next runs with the same sizes), so repeated measurements skip the
training. ``--profile FILE`` runs the
live frames again (data update and a paint of the whole dashboard) under ``cProfile`` (in the
chosen clock), writes the stats to FILE (for
``python -m pstats``) and prints the top entries by own time and by cumulative time.

A real run (tanh, orthogonal weights, hidden 8, batch 2) is trained for ``--iterations`` steps
(about 25 ms each; the records are the engine's own) into a ``RunHistory`` of capacity 1000, and
then ``--frames`` more steps are recorded. The Dashboard (offscreen, shown at the given size, the
space the 1400 x 900 window leaves it) is timed on three kinds of frame:

* live frame: one new record appended to the full history, then ``Dashboard.refresh`` — what the
  window's timer does while a run trains (the history thins itself every few hundred appends,
  which these frames include) — and the data updates of the four plots after the gradient
  plot, which a live frame runs as it lets each view go to be painted;
* cold frame: ``Dashboard.reset()`` and then ``refresh`` with every cache empty (the heatmap
  converts all 1000 x 1000 cells) — after a layer switch or a history swap;
* paint: rendering the whole dashboard into an image after a live frame: every pixel, as
  after a resize;
* on screen: what Qt paints of the shown dashboard (a window of its own) for the frame's
  changes, the regions that changed only: the window's frame is refresh + this.

The dashboard is live (``Dashboard.set_live``) as in a training window: curves with light pens;
``--full-pens`` paints the plots' own pens, as a stopped run shows them.

For scale, the same run measures a reference: one pyqtgraph curve of T points updated with
``setData`` and painted at the gradient plot's size. Medians in ms; the ratios compare with that
reference, so they carry over to other machines better than the absolute numbers.

Latest figures (2026-12-05 23:45, a machine without AVX-512, load 0.7-1.1, ``--clock cpu
--records FILE``, the data updates of a staggered frame's later views counted): a live frame as
the window draws it 13.39 ms (95th percentile 17.58): benchmarks/README.md, "A live frame's data
updates spread like its paints". Before (2026-12-05 21:34, load 0.7-0.9): a live frame as
the window draws it 13.6-16.7 ms (14.7-19.9 ms for the tree before, alternating runs; 3-4%
cheaper in an in-process A/B), the data update 5.2-6.1 ms, the paint on screen 8.4-10.6 ms, the
reference 2.8 ms: benchmarks/README.md, "Bounds, titles and bars kept" (and "Less redone per
live frame" before it).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pickle
import pstats
import statistics
import time
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

# isort: split
import pyqtgraph as pg  # noqa: E402

from gradsim.engine.config import SimConfig  # noqa: E402
from gradsim.engine.history import RunHistory  # noqa: E402
from gradsim.engine.records import StepRecord  # noqa: E402
from gradsim.engine.simulation import Simulation  # noqa: E402
from gradsim.ui.common.theme import LIGHT  # noqa: E402
from gradsim.ui.training.dashboard import PLOT_KEYS, Dashboard  # noqa: E402


def train(config: SimConfig, count: int) -> list[StepRecord]:
    simulation = Simulation(config)
    records = []
    started = time.perf_counter()
    for i in range(count):
        record = simulation.train_step()
        if record is None:
            raise SystemExit(f"the run went non-finite at iteration {i + 1}; pick another config")
        records.append(record)
        if (i + 1) % 200 == 0:
            print(f"  trained {i + 1}/{count} ({time.perf_counter() - started:.0f} s)", flush=True)
    return records


def trained_records(config: SimConfig, count: int, path: str | None) -> list[StepRecord]:
    """``count`` records of ``config``, from the pickle at ``path`` when it holds them."""
    key = (config, count)
    if path and os.path.exists(path):
        with open(path, "rb") as file:
            stored_key, records = pickle.load(file)
        if stored_key == key:
            print(f"records read from {path}")
            return records
    records = train(config, count)
    if path:
        with open(path, "wb") as file:
            pickle.dump((key, records), file)
    return records


# The clock of every timing: wall time, or the GUI thread's CPU time with ``--clock cpu``.
clock = time.perf_counter


def use_clock(name: str) -> None:
    """Time with ``name``: ``"wall"`` or ``"cpu"``."""
    global clock
    clock = time.thread_time if name == "cpu" else time.perf_counter


def render(widget: QtWidgets.QWidget) -> float:
    """Seconds to paint ``widget`` into an image of its size."""
    image = QtGui.QImage(widget.size(), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    started = clock()
    QtWidgets.QWidget.render(widget, image)  # the widget path (a GraphicsView overrides render)
    return clock() - started


class ScreenTimedDashboard(Dashboard):
    """The Dashboard as a window of its own, timing what Qt spends painting it on screen.

    Qt paints a window when it handles its ``UpdateRequest``, and then only the regions that
    changed (a view's items that moved, a title whose text changed), not the whole widget.
    """

    paint_seconds = 0.0
    # The data updates a live frame's later views run as each is let go (Dashboard.refresh).
    work_seconds = 0.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.frame_work = self._timed_work

    @contextlib.contextmanager
    def _timed_work(self) -> Iterator[None]:
        started = clock()
        try:
            yield
        finally:
            self.work_seconds += clock() - started

    def event(self, event: QtCore.QEvent) -> bool:  # noqa: D102
        if event.type() != QtCore.QEvent.Type.UpdateRequest:
            return super().event(event)
        started = clock()
        handled = super().event(event)
        self.paint_seconds += clock() - started
        return handled


def screen_paint(app: QtWidgets.QApplication, dashboard: ScreenTimedDashboard) -> tuple[float, float]:
    """Seconds Qt spent painting ``dashboard`` on screen for the changes made since the last call,
    and seconds of data updates the staggered views ran meanwhile (as each was let go)."""
    before, work_before = dashboard.paint_seconds, dashboard.work_seconds
    # A live frame's views are painted one after another, a timer tick apart (Dashboard.refresh).
    while dashboard.paints_pending:
        app.processEvents()
        QtCore.QThread.msleep(1)
    for _ in range(3):  # the scenes report their changes in queued events, then the paint comes
        app.processEvents()
    return dashboard.paint_seconds - before, dashboard.work_seconds - work_before


def median_ms(values: list[float]) -> float:
    return 1e3 * statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--seq-len", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=850)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the GUI thread's CPU time (for a loaded machine)",
    )
    parser.add_argument("--records", default=None, help="pickle file caching the trained records")
    parser.add_argument("--profile", default=None, help="write cProfile stats of the live frames here")
    parser.add_argument(
        "--full-pens", action="store_true", help="paint the plots' own pens (as when stopped)"
    )
    args = parser.parse_args()
    use_clock(args.clock)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    config = SimConfig(num_layers=args.layers, hidden_size=8, seq_len=args.seq_len, batch_size=2,
                       activation="tanh", init="orthogonal")  # fmt: skip
    print(f"training {args.iterations + args.frames} iterations of T={args.seq_len}, L={args.layers} ...")
    records = trained_records(config, args.iterations + args.frames, args.records)

    history = RunHistory(capacity=1000)
    for record in records[: args.iterations]:
        history.append(record)
    dashboard = ScreenTimedDashboard(theme=LIGHT)
    dashboard.clock = clock  # its per-plot timings in the same clock
    dashboard.resize(args.width, args.height)
    dashboard.show()
    app.processEvents()
    dashboard.refresh(history, config)
    app.processEvents()

    # A training run's frames: light pens (Dashboard.set_live); --full-pens paints the plots'
    # own pens, as a stopped run (and every figure) shows them.
    dashboard.set_live(not args.full_pens)
    live: dict[str, list[float]] = {key: [] for key in PLOT_KEYS}
    plot_paint: dict[str, list[float]] = {key: [] for key in PLOT_KEYS}
    live_total, paint, window_paint, on_screen = [], [], [], []
    screen_paint(app, dashboard)
    for frame, record in enumerate(records[args.iterations :]):
        history.append(record)
        started = clock()
        dashboard.refresh(history, config)
        refreshed = clock() - started
        painted, deferred = screen_paint(app, dashboard)
        live_total.append(refreshed + deferred)  # every plot's data update, at once or deferred
        on_screen.append(painted)
        for key in PLOT_KEYS:
            live[key].append(dashboard.last_timings[key] / 1e3)
        if frame % 2:
            # The whole widget, as the screen would get it (splitters, selectors and all).
            window_paint.append(render(dashboard))
        else:
            times = [render(dashboard.plots[key]) for key in PLOT_KEYS]
            for key, elapsed in zip(PLOT_KEYS, times, strict=True):
                plot_paint[key].append(elapsed)
            paint.append(sum(times))
    if args.profile:
        # A second pass over the same frames under the profiler (its overhead would inflate
        # the timings above): each frame is one refresh and one paint of the whole dashboard.
        replayed = RunHistory(capacity=1000)
        for record in records[: args.iterations]:
            replayed.append(record)
        dashboard.reset()
        dashboard.refresh(replayed, config)
        app.processEvents()
        profiler = cProfile.Profile(clock)
        for record in records[args.iterations :]:
            replayed.append(record)
            profiler.enable()
            dashboard.refresh(replayed, config)
            dashboard.paint_now()  # the staggered views' data updates, at once
            render(dashboard)
            profiler.disable()
        profiler.dump_stats(args.profile)

    cold: dict[str, list[float]] = {key: [] for key in PLOT_KEYS}
    cold_total = []
    for _ in range(max(5, args.frames // 10)):
        dashboard.reset()
        started = clock()
        dashboard.refresh(history, config)
        dashboard.paint_now()  # the staggered views' data updates, at once
        cold_total.append(clock() - started)
        for key in PLOT_KEYS:
            cold[key].append(dashboard.last_timings[key] / 1e3)

    # Reference: one curve of T points (log10 values, as the gradient plot draws them), updated
    # and painted at the gradient plot's size.
    reference_widget = pg.PlotWidget()
    reference_widget.resize(dashboard.plots["gradient"].size())
    reference_widget.show()
    curve = reference_widget.plot()
    x = np.arange(1, args.seq_len + 1, dtype=np.float64)
    reference = []
    for record in records[-50:]:
        started = clock()
        curve.setData(x, record.log10_grad_norms[0])
        reference_widget.getPlotItem().getViewBox().updateAutoRange()
        elapsed = clock() - started
        reference.append(elapsed + render(reference_widget))
    reference_ms = median_ms(reference)

    print()
    print(f"history: {len(history)} kept of {history.total_records} iterations; T={args.seq_len}, "
          f"L={args.layers}; dashboard {args.width} x {args.height}; {args.frames} live frames")  # fmt: skip
    print(f"{'plot':<12}{'live refresh':>14}{'cold refresh':>14}{'paint':>10}"
          f"   (median ms, {args.clock} clock)")  # fmt: skip
    for key in PLOT_KEYS:
        print(f"{key:<12}{median_ms(live[key]):>14.2f}{median_ms(cold[key]):>14.2f}"
              f"{median_ms(plot_paint[key]):>10.2f}")  # fmt: skip
    live_ms, cold_ms, paint_ms = median_ms(live_total), median_ms(cold_total), median_ms(paint)
    print(f"{'all plots':<12}{live_ms:>14.2f}{cold_ms:>14.2f}{paint_ms:>10.2f}")
    pens = "the plots' own pens" if args.full_pens else "light pens (live)"
    whole = median_ms(window_paint)
    print(f"{'widget':<12}{'':>14}{'':>14}{whole:>10.2f}   (the Dashboard rendered whole; {pens})")
    screen_ms = median_ms(on_screen)
    print(f"{'on screen':<12}{'':>14}{'':>14}{screen_ms:>10.2f}   (what Qt repaints of the shown window)")
    print()
    frame_95 = 1e3 * float(np.percentile(np.add(live_total, on_screen), 95))
    print(
        f"live frame as the window draws it (refresh + paint on screen): {live_ms + screen_ms:.2f} ms "
        f"(target < 10 ms); 95th percentile {frame_95:.2f} ms"
    )
    print(f"full redraw, live frame (refresh + paint): {live_ms + paint_ms:.2f} ms "
          f"(target < 10 ms); refresh alone {live_ms:.2f} ms, 95th percentile "
          f"{1e3 * float(np.percentile(live_total, 95)):.2f} ms")  # fmt: skip
    print(f"reference (one {args.seq_len}-point curve: setData + paint): {reference_ms:.2f} ms; "
          f"live frame = {(live_ms + paint_ms) / reference_ms:.1f} x reference, "
          f"cold refresh = {cold_ms / reference_ms:.1f} x reference")  # fmt: skip
    if args.profile:
        print()
        for order in ("tottime", "cumulative"):
            print(f"cProfile of the {args.frames} live frames (refresh + paint), top 25 by {order}:")
            pstats.Stats(args.profile).strip_dirs().sort_stats(order).print_stats(25)
    dashboard.close()
    reference_widget.close()


if __name__ == "__main__":
    main()
