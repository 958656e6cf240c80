"""File names for what the window saves: snapshots, bundles and animations share them.

:func:`base_name` names a file after the run (``gradsim-<preset>-it<N>[-<plot>]``),
:func:`propose_path` finds a free path for it, :func:`confirm_replace` asks before overwriting,
and :data:`TARGET_LABELS` says what each saved view is called in dialogs and messages.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from PySide6 import QtWidgets

from gradsim.io.filenames import slug

DASHBOARD = "dashboard"
# What each target is called in the dialog and in messages.
TARGET_LABELS = {
    DASHBOARD: "Whole dashboard (all five plots)",
    "gradient": "Gradient through time ||dL/dh_t||",
    "heatmap": "Gradient heatmap",
    "loss": "Loss and gradient norm",
    "activation": "Activation and pre-activations",
    "health": "Layer health",
}


def base_name(preset: str, iteration: int, plot: str = DASHBOARD) -> str:
    """``gradsim-<preset>-it<N>`` (``-<plot>`` added for a single plot), without extension."""
    name = f"gradsim-{slug(preset)}-it{max(0, int(iteration))}"
    return name if plot == DASHBOARD else f"{name}-{plot}"


def propose_path(
    folder: str | os.PathLike[str], stem: str, suffix: str = "", now: datetime | None = None
) -> Path:
    """A path in ``folder`` for ``stem + suffix`` that does not exist yet.

    The plain name if it is free; else with the time ``-HHMMSS`` added; else with a counter
    after that (two snapshots in the same second). ``suffix`` is ``".png"``, ``".svg"`` or
    ``""`` for a folder.
    """
    folder = Path(folder)
    candidate = folder / f"{stem}{suffix}"
    if not candidate.exists():
        return candidate
    stamp = (now or datetime.now()).strftime("%H%M%S")
    candidate = folder / f"{stem}-{stamp}{suffix}"
    counter = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{stamp}-{counter}{suffix}"
        counter += 1
    return candidate


def confirm_replace(parent: QtWidgets.QWidget, path: Path) -> bool:
    """Ask whether to replace the existing file ``path`` (No is the default)."""
    answer = QtWidgets.QMessageBox.question(
        parent, "Replace file?", f"{path} exists already. Replace it?",
        QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
        QtWidgets.QMessageBox.StandardButton.No,
    )  # fmt: skip
    return answer == QtWidgets.QMessageBox.StandardButton.Yes
