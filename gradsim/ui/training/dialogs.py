"""The window's own dialogs: "What am I looking at?" (every plot explained), About, a refused run."""

from __future__ import annotations

from importlib import metadata

from PySide6 import QtCore, QtWidgets

from gradsim.engine.regime import DECADES_THRESHOLD
from gradsim.ui.common.icons import icon

HELP_TEXT = f"""
<h3>What am I looking at?</h3>
<p>A recurrent network learns a sequence task. Its loss is measured at the last time step only,
so to learn from early inputs the gradient must travel backwards through every time step and
every layer (backpropagation through time). At each step back it is multiplied by the recurrent
weights and by the activation's derivative: factors below 1 make it <b>vanish</b>, factors above
1 make it <b>explode</b>.</p>
<ul>
<li><b>||dL/dh_t|| through time</b>: the size of the gradient at each time step, one curve per
layer, log scale. Flat is healthy; falling towards step 1 is vanishing; rising is exploding.
The bold curve is the latest iteration, the faint ones the iterations before.</li>
<li><b>Heatmap</b>: the same sizes for every iteration (rows) and time step (columns); the colour
is log10 of the size, in decades.</li>
<li><b>Loss</b>: the training loss, with the global gradient norm before and after clipping.</li>
<li><b>Activation</b>: the activation function, its derivative and, behind them, where the
pre-activations lie now. Units in the shaded flat regions pass almost no gradient.</li>
<li><b>Layer health</b>: per layer, the fraction of saturated units, the parameter-gradient norm
and the update:data ratio (around 1e-3 is a healthy learning speed).</li>
</ul>
<p>The badge in the status bar sums it up. The gradient travels two ways: back through time
inside each layer (step 1 over the last step), and down the layers at the last step (layer 1
over the top layer). Each way is a span; the badge names the most extreme one:
<b>vanishing</b> or <b>exploding</b> when it changes the gradient by more than
{DECADES_THRESHOLD:g} decades, <b>healthy</b> when no span does, <b>non-finite</b> once values
overflow to inf or NaN. Next to it the status bar shows that span's ratio; its tooltip names the
span, its per-step factor, and every other span.</p>
<p>Try it: pick a preset, press Play (Space), then change one control and watch the curves.
Step (→ or N) takes one training step; Reset (R) starts the run again.</p>
"""


def open_help(parent: QtWidgets.QWidget) -> QtWidgets.QDialog:
    """Open "What am I looking at?" (``help_box``) over ``parent``; it deletes itself on close."""
    # A scrolling text in a dialog no taller than the window: the explanation of every plot
    # is longer than a 720-pixel screen, and a message box grows to its text.
    box = QtWidgets.QDialog(parent)
    box.setObjectName("help_box")
    box.setWindowTitle("What am I looking at?")
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    layout = QtWidgets.QVBoxLayout(box)
    text = QtWidgets.QTextBrowser()
    text.setObjectName("help_text")
    text.setHtml(HELP_TEXT)
    layout.addWidget(text)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(box.reject)
    layout.addWidget(buttons)
    box.resize(min(720, int(parent.width() * 0.8)), min(640, int(parent.height() * 0.85)))
    box.open()
    return box


def open_about(parent: QtWidgets.QWidget) -> QtWidgets.QMessageBox:
    """Open the About box (``about_box``: version and licence) over ``parent``."""
    try:
        version = metadata.version("gradsim")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName("about_box")
    box.setWindowTitle("About gradsim")
    box.setTextFormat(QtCore.Qt.TextFormat.RichText)
    box.setText(
        f"<h3>gradsim {version}</h3>"
        "<p>A simulator that makes vanishing and exploding gradients in recurrent networks "
        "visible. Every number comes from an exact backpropagation-through-time engine in "
        "numpy; the window draws what it computes.</p>"
        "<p>Licence: MIT. Built with Python, numpy, Qt (PySide6) and pyqtgraph.</p>"
    )
    box.setIconPixmap(icon("gradsim").pixmap(64, 64))
    box.open()
    return box


def open_refusal(parent: QtWidgets.QWidget, refusal: str) -> QtWidgets.QMessageBox:
    """Open the warning (``resource_refusal_box``) that a run was not started, and why."""
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName("resource_refusal_box")
    box.setWindowTitle("Run not started")
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setText(f"Not applied: {refusal}")
    box.open()
    return box
