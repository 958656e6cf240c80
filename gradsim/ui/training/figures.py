"""Figures without a window: the plots of a headless run drawn offscreen and saved as PNG or SVG.

This is what ``gradsim snapshot`` runs, and the way to make a figure from a script or a notebook::

    from gradsim.engine import load_preset
    from gradsim.ui.training.figures import snapshot

    snapshot(load_preset("vanishing-sigmoid"), "vanishing.png", iterations=30, plot="gradient")

No display is needed: Qt draws on its offscreen platform unless an application already runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from gradsim.engine.config import SimConfig
from gradsim.io.atomic import atomic_write_bytes

PLOTS = ("dashboard", "gradient", "heatmap", "loss", "activation", "health")
# The dashboard's logical size; a single plot gets its pane of it.
DASHBOARD_SIZE = (1200, 800)


def _quiet_qt_messages(mode: object, context: object, message: str) -> None:
    """Qt's messages on stderr, except the offscreen platform's notes on what it cannot do."""
    if "This plugin does not support" not in message and sys.stderr is not None:
        print(message, file=sys.stderr)


@contextlib.contextmanager
def offscreen_qt() -> Iterator[None]:
    """Qt for drawing without a display, around a block that draws.

    The offscreen platform paints into memory; an application is created if there is none (in
    the Fusion style, as the window uses); Qt's notes about the offscreen platform are kept off
    the terminal for the block. Raises ImportError if PySide6 is missing.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6 import QtCore, QtWidgets

    previous_handler = QtCore.qInstallMessageHandler(_quiet_qt_messages)
    try:
        if QtWidgets.QApplication.instance() is None:
            app = QtWidgets.QApplication(["gradsim"])
            app.setStyle("Fusion")
        yield
    finally:
        QtCore.qInstallMessageHandler(previous_handler)


def snapshot_bytes(
    config: SimConfig,
    iterations: int,
    plot: str = "dashboard",
    fmt: str = "png",
    width: int | None = None,
    theme: str = "light",
) -> bytes:
    """The picture of ``plot`` after ``iterations`` training steps of ``config``, as file bytes.

    Parameters
    ----------
    config : the run's config (trained from its seed, exactly as the window would)
    iterations : training steps before drawing (an exploding run stops early)
    plot : one of :data:`PLOTS`; ``"dashboard"`` is all five plots
    fmt : ``"png"`` or ``"svg"``
    width : PNG width in pixels (the height in proportion); None = twice the plot's size
    theme : ``"light"`` or ``"dark"``
    """
    if plot not in PLOTS:
        raise ValueError(f"plot must be one of {', '.join(PLOTS)} (got {plot!r})")
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be png or svg (got {fmt!r})")
    with offscreen_qt():
        from gradsim.ui.common.theme import theme_named
        from gradsim.ui.training import render

        dashboard = render.offscreen_dashboard(config, iterations, DASHBOARD_SIZE, theme_named(theme))
        try:
            target = dashboard if plot == "dashboard" else dashboard.plots[plot]
            if fmt == "png":
                return render.png_bytes(target, width)
            return render.svg_bytes(target, title=f"gradsim: {plot}")
        finally:
            dashboard.close()
            dashboard.deleteLater()


def snapshot(
    config: SimConfig,
    path: str | os.PathLike[str],
    iterations: int = 100,
    plot: str = "dashboard",
    width: int | None = None,
    theme: str = "light",
) -> int:
    """Train ``config`` headless, draw ``plot`` and write it to ``path`` (.png or .svg).

    The file is written atomically (a temporary file renamed into place). Returns the number
    of bytes written. Raises ValueError for an unknown plot or file type and
    :class:`gradsim.io.atomic.WriteError` when the file cannot be written.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"cannot write {os.fspath(path)}: the file name must end in .png or .svg")
    data = snapshot_bytes(config, iterations, plot, suffix[1:], width, theme)
    atomic_write_bytes(os.fspath(path), data)
    return len(data)
