"""Animation speed: ``gradsim animate`` against the training steps it replays (``gradsim run``).

Run by hand from the repository root::

    python3 benchmarks/bench_animate.py [--preset vanishing-sigmoid] [--iterations 60]
        [--width 640] [--repeats 3]

Times, interleaved round by round and the best of ``--repeats`` each:

- ``run``: ``python -m gradsim run --preset P --iterations N`` (the N training steps, a summary);
- ``animate``: ``python -m gradsim animate --preset P --iterations N --every 1 --plot gradient
  --width W --fps 20 --out <tmp>.gif`` (the same N steps replayed, a frame drawn offscreen after
  each, the GIF encoded and written).

The goal (issue 18): ``animate`` takes less than ``run`` plus 50 ms a frame. Both are whole
commands as a user types them, so they include starting Python; ``animate`` also imports and
starts Qt, which is part of what it costs. Each is timed twice: wall-clock time, and CPU time
(user + system of the child process), which a machine shared with other work inflates far less
than the wall clock. In-process figures follow, without the start-up: the N training steps
alone (``replay``) against :func:`gradsim.ui.features.recording.animation.record_animation`, CPU time of this
process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MS_PER_FRAME = 50.0


def command_seconds(arguments: list[str]) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of ``python -m gradsim <arguments>`` (it must succeed)."""
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gradsim", *arguments], check=True, env=environment)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(preset: str, iterations: int, width: int, out: Path) -> tuple[list[str], list[str]]:
    """The ``run`` and the ``animate`` command lines compared."""
    run = ["run", "--preset", preset, "--iterations", str(iterations), "--quiet"]
    animate = [
        "animate", "--preset", preset, "--iterations", str(iterations), "--every", "1",
        "--plot", "gradient", "--width", str(width), "--fps", "20", "--out", str(out), "--quiet",
    ]  # fmt: skip
    return run, animate


def in_process(preset: str, iterations: int, width: int, out: Path) -> tuple[float, float]:
    """CPU seconds of ``iterations`` training steps, and of recording their animation (this process)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    from gradsim.engine.presets import load_preset
    from gradsim.engine.simulation import replay
    from gradsim.ui.common.theme import LIGHT
    from gradsim.ui.features.recording import animation, frames

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    del app
    config = load_preset(preset)
    started = time.process_time()
    for _ in replay(config, iterations):
        pass
    training = time.process_time() - started
    started = time.process_time()
    animation.record_animation(
        config, out, frames.frame_iterations(1, iterations, 1), "gradient", width, 20.0, theme=LIGHT
    )
    return training, time.process_time() - started


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanishing-sigmoid")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gradsim-bench-animate-") as folder:
        out = Path(folder) / "run.gif"
        run, animate = commands(args.preset, args.iterations, args.width, out)
        print(f"gradsim {' '.join(run)}")
        print(f"gradsim {' '.join(animate).replace(str(out), 'run.gif')}")
        run_times, animate_times = [], []
        for _ in range(args.repeats):  # interleaved: both see the same machine load
            run_times.append(command_seconds(run))
            animate_times.append(command_seconds(animate))
        frames = args.iterations
        figures: dict[str, float] = {}
        for column, name in ((0, "wall"), (1, "cpu")):
            run_best = min(times[column] for times in run_times)
            animate_best = min(times[column] for times in animate_times)
            per_frame = 1e3 * (animate_best - run_best) / frames
            figures[f"{name}_ms_per_frame"] = per_frame
            print(
                f"{name:>4}, best of {args.repeats}: run {run_best:.2f} s, animate {animate_best:.2f} s; "
                f"animate - run = {per_frame:.1f} ms a frame for {frames} frames "
                f"(goal < {GOAL_MS_PER_FRAME:g}); animate / run = {animate_best / run_best:.2f}"
            )
        print(f"the GIF: {out.stat().st_size} bytes")
        training, recording = in_process(args.preset, args.iterations, args.width, out)
        inside = 1e3 * (recording - training) / frames
        figures["in_process_ms_per_frame"] = inside
        print(
            f"in process (cpu): {frames} training steps {training:.2f} s, recording {recording:.2f} s: "
            f"{inside:.1f} ms a frame beyond training"
        )
    return figures


if __name__ == "__main__":
    main()
