"""Produce the README's figures with ``gradsim snapshot`` (the command users have, headless).

Usage::

    python3 docs/make_figures.py [--only NAME ...] [--out-dir docs]

Each figure is one ``gradsim snapshot`` run in a subprocess, so the figures show exactly what
the command gives a user, on any machine, without a display. Runs are deterministic: the same
preset, iteration count and width give the same picture.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    """One README figure: a preset trained ``iterations`` steps, one plot (or the dashboard)."""

    name: str
    preset: str
    iterations: int
    plot: str
    width: int | None  # pixels; None for the command's default, twice the plot's size on screen
    caption: str


FIGURES = (
    Figure(
        "figure-vanishing", "vanishing-sigmoid", 30, "gradient", 1400,
        "Vanishing: with sigmoid units the gradient shrinks by about 31 decades over 49 time steps.",
    ),
    Figure(
        "figure-exploding", "exploding-large-weights", 1, "gradient", 1400,
        "Exploding: ReLU with weights of scale 2, above the stable √2; the gradient grows at every "
        "step back.",
    ),
    Figure(
        "figure-clipping", "fix-clipping", 60, "loss", None,
        "Clipping: the global norm before clipping (blue) stays large, the norm used for the update "
        "(orange) is cut to 1, and training goes on.",
    ),
    Figure(
        "figure-dashboard", "vanishing-tanh-small", 40, "dashboard", 2000,
        "The whole dashboard of a run, as `gradsim snapshot` draws it without a window.",
    ),
)  # fmt: skip


def command(figure: Figure, out_dir: Path) -> list[str]:
    """The ``gradsim snapshot`` command line of ``figure``."""
    width = [] if figure.width is None else ["--width", str(figure.width)]
    return [
        sys.executable, "-m", "gradsim", "snapshot", "--preset", figure.preset,
        "--iterations", str(figure.iterations), "--plot", figure.plot, *width,
        "--quiet", "--out", str(out_dir / f"{figure.name}.png"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", metavar="NAME", help="figure names (default: all)")
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where to write (default: docs/)")
    args = parser.parse_args(argv)
    chosen = [f for f in FIGURES if not args.only or f.name in args.only]
    if args.only and len(chosen) != len(args.only):
        known = ", ".join(f.name for f in FIGURES)
        print(f"unknown figure name; known: {known}", file=sys.stderr)
        return 2
    for figure in chosen:
        start = time.perf_counter()
        result = subprocess.run(command(figure, args.out_dir), capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{figure.name}: failed ({result.stderr.strip()})", file=sys.stderr)
            return result.returncode
        print(f"{figure.name}.png: {figure.preset}, {figure.iterations} iterations, {figure.plot}, "
              f"{figure.width or 'default'} px wide, {time.perf_counter() - start:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
