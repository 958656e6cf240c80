"""Produce the README's figures with ``gradsim snapshot`` and ``gradsim animate`` (headless).

Usage::

    python3 docs/make_figures.py [--only NAME ...] [--out-dir docs]

Each figure is one ``gradsim snapshot`` run in a subprocess, so the figures show exactly what
the command gives a user, on any machine, without a display. Runs are deterministic: the same
preset, iteration count and width give the same picture. The hero animation
(``figure-hero.gif``) is two ``gradsim animate`` runs, vanishing and its fix, put side by side
frame by frame under a caption each.
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


@dataclass(frozen=True)
class Side:
    """One half of the hero animation: a preset animated by ``gradsim animate``, with a caption."""

    preset: str
    caption: str


HERO = "figure-hero"
HERO_SIDES = (
    Side("vanishing-sigmoid", "Vanishing: sigmoid units"),
    Side("fix-leaky-relu", "Fix: leaky ReLU, orthogonal weights"),
)
HERO_ITERATIONS, HERO_EVERY, HERO_WIDTH, HERO_FPS = 40, 2, 560, 8
HERO_CAPTION_HEIGHT = 34


def animate_command(side: Side, out: Path) -> list[str]:
    """The ``gradsim animate`` command line of one half of the hero (APNG: exact pixels)."""
    return [
        sys.executable, "-m", "gradsim", "animate", "--preset", side.preset,
        "--iterations", str(HERO_ITERATIONS), "--every", str(HERO_EVERY), "--plot", "gradient",
        "--width", str(HERO_WIDTH), "--fps", str(HERO_FPS), "--quiet", "--out", str(out),
    ]  # fmt: skip


def make_hero(out_dir: Path) -> Path:
    """Animate both sides, join their frames side by side under captions, write the GIF."""
    import tempfile

    import numpy as np
    from PIL import Image, ImageDraw, ImageFont, ImageSequence

    from gradsim.io.animation_writer import AnimationWriter

    halves: list[list[np.ndarray]] = []
    with tempfile.TemporaryDirectory(prefix="gradsim-hero-") as folder:
        for number, side in enumerate(HERO_SIDES):
            out = Path(folder) / f"side{number}.png"
            subprocess.run(animate_command(side, out), check=True, capture_output=True, text=True)
            with Image.open(out) as image:
                halves.append([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)])
    count = min(len(frames) for frames in halves)
    height = halves[0][0].shape[0]
    caption = Image.new("RGB", (2 * HERO_WIDTH, HERO_CAPTION_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(caption)
    font = ImageFont.load_default(size=20)
    for number, side in enumerate(HERO_SIDES):
        draw.text(
            (number * HERO_WIDTH + HERO_WIDTH // 2, HERO_CAPTION_HEIGHT // 2), side.caption,
            fill=(32, 32, 32), font=font, anchor="mm",
        )  # fmt: skip
    header = np.asarray(caption)
    path = out_dir / f"{HERO}.gif"
    with AnimationWriter(path, fps=HERO_FPS) as writer:
        for index in range(count):
            body = np.concatenate([halves[0][index], halves[1][index]], axis=1)
            assert body.shape[0] == height
            writer.add(np.ascontiguousarray(np.concatenate([header, body], axis=0)))
    return path


def command(figure: Figure, out_dir: Path) -> list[str]:
    """The ``gradsim snapshot`` command line of ``figure``."""
    width = [] if figure.width is None else ["--width", str(figure.width)]
    return [
        sys.executable, "-m", "gradsim", "snapshot", "--preset", figure.preset,
        "--iterations", str(figure.iterations), "--plot", figure.plot, *width,
        "--quiet", "--out", str(out_dir / f"{figure.name}.png"),
    ]  # fmt: skip


def tab_screenshots(out_dir: Path, width: int = 1440, height: int = 900) -> int:
    """Screenshots of every tab and the lessons dock (``docs/make_tab_screenshots.py``), in a
    subprocess like the figures; returns its exit status."""
    script = HERE / "make_tab_screenshots.py"
    size = ["--width", str(width), "--height", str(height)]
    args = [sys.executable, str(script), *size, "--out-dir", str(out_dir)]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"tab screenshots: failed ({result.stderr.strip()[-400:]})", file=sys.stderr)
        return result.returncode
    print(f"tab screenshots at {width} x {height}: {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", metavar="NAME", help="figure names (default: all)")
    parser.add_argument("--tabs", action="store_true", help="also the window's tab screenshots")
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where to write (default: docs/)")
    args = parser.parse_args(argv)
    if args.tabs and tab_screenshots(args.out_dir) != 0:
        return 1
    chosen = [f for f in FIGURES if not args.only or f.name in args.only]
    hero = not args.only or HERO in args.only
    if args.only and len(chosen) + hero != len(args.only):
        known = ", ".join([*(f.name for f in FIGURES), HERO])
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
    if hero:
        start = time.perf_counter()
        try:
            path = make_hero(args.out_dir)
        except subprocess.CalledProcessError as error:
            print(f"{HERO}: failed ({error.stderr.strip()})", file=sys.stderr)
            return error.returncode
        print(f"{path.name}: {' vs '.join(s.preset for s in HERO_SIDES)}, {path.stat().st_size} bytes, "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
