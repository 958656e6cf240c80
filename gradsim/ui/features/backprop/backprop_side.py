"""The Backprop tab's side panel: the chain rule at the current cell, clipping, and the key.

:class:`SidePanel` scrolls rather than squeezing the plots: at 1280 x 720 the plots need the
width (BPTT starts at the last time step, on the right), the panel can scroll. It only displays:
the view writes its labels (:attr:`SidePanel.value_labels`, :attr:`SidePanel.clip_label`).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from gradsim.ui.common.theme import Theme
from gradsim.ui.common.widgets import vertical_scroll, wrapped_label
from gradsim.ui.features.backprop.backprop_plots import ZERO_COLOR

# The two-path rows of a gated cell: caption and tooltip (an LSTM's; a GRU's where they differ).
PATH_ROWS = {
    "cell_grad_norm": ("||dL/dc|| here", "Size of the gradient with respect to the LSTM's cell state c"),
    "cell_path": (
        "Cell path × (f)",
        "||f_t+1 * dL/dc_t+1|| / ||dL/dc_t+1||: what the forget gates let through of the cell-state "
        "gradient from the next step (the cell state's additive path)",
    ),
    "hidden_path": (
        "Hidden path ×",
        "||hidden path into this cell|| / ||dL/dh_t+1||: the part that goes back through W_hh and the "
        "gates' derivatives",
    ),
    "path_gate": ("Mean f at t+1", "Mean forget gate at the step the gradient came from"),
    "gates": (
        "Gates at t (mean)",
        "Mean of every block of the cell at this time step, in PyTorch's order and letters (LSTM i, f, "
        "g, o; GRU r, z, n; g and n are the tanh candidate)",
    ),
}
GRU_PATH_ROWS = {
    "cell_path": (
        "Update path × (z)",
        "||z_t+1 * dL/dh_t+1|| / ||dL/dh_t+1||: what the update gates pass on of the gradient from the "
        "next step, past W_hh",
    ),
    "path_gate": ("Mean z at t+1", "Mean update gate at the step the gradient came from"),
}

# The side panel's narrowest and its first width, in pixels.
SIDE_MIN_WIDTH = 250
SIDE_WIDTH = 300


class SidePanel(QtWidgets.QScrollArea):
    """The chain-rule values, the clipping outcome and the folded key, in a vertical scroll area.

    Attributes
    ----------
    value_labels : ``{"cell", "order", "grad_norm", "local_factor", "mean_derivative",
        "saturation", "spectral_norm", "loss"}`` -> QLabel with the numbers of the current cell
    factor_captions : the QLabels naming those rows
    path_box : QGroupBox "Two paths back" of a gated cell (hidden for the RNN)
    path_labels : ``{"cell_grad_norm", "cell_path", "hidden_path", "path_gate", "gates"}`` -> QLabel:
        ``||dL/dc||`` here (LSTM; its row hidden for a GRU), the cell path's and the hidden path's
        factors, the mean of the gate on the cell path at t+1, the mean of every block at t
    path_captions : ``{key: QLabel}`` naming those rows (their words follow the cell)
    clip_box : QGroupBox "Gradient clipping" (hidden without clipping); clip_label its text
    key_box : QGroupBox "How to read it", checkable, folded by default
    """

    def __init__(self, theme: Theme, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 4, 4)
        self.factor_captions: list[QtWidgets.QLabel] = []
        side_layout.addWidget(self._build_factor_box())
        side_layout.addWidget(self._build_path_box())
        self.clip_box = QtWidgets.QGroupBox("Gradient clipping")
        self.clip_box.setFont(theme.font(theme.label_pt))
        self.clip_label = QtWidgets.QLabel()
        self.clip_label.setWordWrap(True)
        self.clip_label.setToolTip(
            "The global gradient norm (all parameter gradients as one vector) before and after the "
            "config's clipping, computed with the engine's clip_gradients on the finished gradients"
        )
        clip_layout = QtWidgets.QVBoxLayout(self.clip_box)
        clip_layout.addWidget(self.clip_label)
        side_layout.addWidget(self.clip_box)
        side_layout.addWidget(self._build_key_box())
        side_layout.addStretch(1)
        vertical_scroll(side, "backprop_side", area=self)
        self.setMinimumWidth(SIDE_MIN_WIDTH)

    def fit_width(self, scale: float) -> None:
        """The narrowest width at presentation ``scale`` (1: normal): the panel does not scroll
        sideways, so at a larger size it is as wide as its longest row."""
        if scale == 1.0:
            self.setMinimumWidth(SIDE_MIN_WIDTH)
            return
        captions = max(label.minimumSizeHint().width() for label in self.factor_captions)
        values = self.value_labels["cell"].fontMetrics().horizontalAdvance("layer 10, time step 100")
        needed = captions + values + 40 + self.verticalScrollBar().sizeHint().width()
        self.setMinimumWidth(max(round(SIDE_MIN_WIDTH * scale), needed))

    def _form_box(self, title: str) -> tuple[QtWidgets.QGroupBox, QtWidgets.QFormLayout]:
        box = QtWidgets.QGroupBox(title)
        box.setFont(self.theme.font(self.theme.label_pt))
        form = QtWidgets.QFormLayout(box)
        form.setLabelAlignment(QtCore.Qt.AlignmentFlag.AlignLeft)
        return box, form

    def _value_row(
        self, form: QtWidgets.QFormLayout, caption: str, tip: str
    ) -> tuple[QtWidgets.QLabel, QtWidgets.QLabel]:
        """A caption and a bold, selectable value that wraps ("layer 2, time step 19" wraps in the
        panel's 250-300 px rather than being cut); returns both."""
        name, value = QtWidgets.QLabel(caption), QtWidgets.QLabel()
        for label in (name, value):
            label.setToolTip(tip)
        value.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        value.setFont(self.theme.font(self.theme.label_pt, bold=True))
        value.setWordWrap(True)
        form.addRow(name, value)
        self.factor_captions.append(name)
        return name, value

    def _build_factor_box(self) -> QtWidgets.QGroupBox:
        """The chain-rule numbers of the current cell, one row each."""
        box, form = self._form_box("The chain rule at this cell")
        rows = (
            ("cell", "Cell", "The (layer, time step) whose dL/dh was just computed"),
            ("order", "Order in BPTT", "Position in the order the engine computes the cells: top layer "
             "from the last step to the first, then the layer below"),
            ("grad_norm", "||dL/dh|| here", "Size of the gradient of the loss with respect to this hidden "
             "state (Euclidean norm over batch and units)"),
            ("local_factor", "Local factor", "||dL/dh_t|| / ||dL/dh_t+1||: how much this step multiplied "
             "the gradient arriving from the next time step"),
            ("mean_derivative", "Mean f′ at t+1", "Mean activation derivative at the step the gradient came "
             "from: the diagonal Jacobian this step multiplied by"),
            ("saturation", "Saturated at t+1", "Fraction of units whose derivative is under 5% of its "
             "maximum (exactly 0 for ReLU): they pass (almost) no gradient"),
            ("spectral_norm", "σmax(W_hh)", "Largest singular value of this layer's recurrent weight "
             "matrix: the most W_hh can stretch the gradient in one step"),
            ("loss", "Loss of this batch", "The task's loss at the last time step, from the forward pass"),
        )  # fmt: skip
        self.value_labels: dict[str, QtWidgets.QLabel] = {}
        for key, caption, tip in rows:
            self.value_labels[key] = self._value_row(form, caption, tip)[1]
        return box

    def _build_path_box(self) -> QtWidgets.QGroupBox:
        """A gated cell's chain rule split into its two paths (hidden until a gated cell loads)."""
        box, form = self._form_box("Two paths back (gated cell)")
        self.path_labels: dict[str, QtWidgets.QLabel] = {}
        self.path_captions: dict[str, QtWidgets.QLabel] = {}
        self._path_form = form
        for key, (caption, tip) in PATH_ROWS.items():
            self.path_captions[key], self.path_labels[key] = self._value_row(form, caption, tip)
        box.hide()
        self.path_box = box
        return box

    def set_cell(self, cell: str) -> None:
        """Show the two-path rows for ``cell`` ("lstm", "gru"; hidden for "rnn"), named for it."""
        self.path_box.setVisible(cell in ("lstm", "gru"))
        lstm = cell == "lstm"
        rows = dict(PATH_ROWS)
        if not lstm:
            rows.update(GRU_PATH_ROWS)
        for key, (caption, tip) in rows.items():
            self.path_captions[key].setText(caption)
            self.path_captions[key].setToolTip(tip)
            self.path_labels[key].setToolTip(tip)
        self._path_form.setRowVisible(self.path_labels["cell_grad_norm"], lstm)

    def _build_key_box(self) -> QtWidgets.QGroupBox:
        """How to read the plots, folded by default."""
        theme = self.theme
        box = QtWidgets.QGroupBox("How to read it")
        box.setFont(theme.font(theme.label_pt))

        def square(color: str) -> str:
            return f"<span style='color:{color}; font-size:14pt'>■</span>"

        key = (
            "<b>Grid</b> (top): one cell per layer and time step, coloured by log10 ||dL/dh||.<br>"
            f"<span style='color:{theme.note}; font-size:14pt'>□</span> not computed yet &nbsp; "
            f"{square(ZERO_COLOR)} exactly 0 &nbsp; "
            f"{square(theme.nonfinite)} not finite (overflow)<br>"
            "The outlined cell is the one just computed; the pass runs right to left, top layer first."
            "<br><br><b>Curve</b> (middle), current layer:<br>"
            f"<span style='color:{theme.function}'>━━</span> ||dL/dh_t|| computed so far<br>"
            "<span>╍╍</span> entry value × running product of the local "
            "factors (the chain rule: it lies on the curve)<br>"
            f"<span style='color:{theme.derivative}'>┈┈</span> entry value × running product of "
            "mean f′ × σmax(W_hh): the two parts alone, a rough estimate that ignores which "
            "units saturate and which directions W_hh stretches (not drawn for an LSTM or GRU, whose "
            "step is not f′ × W_hh: see its two paths)<br><br>"
            "<b>Heatmap</b> (bottom): f′ of each unit, mean over the batch; dark = saturated. "
            "The line marks the current time step.<br><br>"
            "Keys: ← step back, → undo, Home / End, Space play."
        )
        label = wrapped_label("backprop_key", key)
        label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        label.setFont(theme.font(theme.tick_pt))
        # Folded by default: the key is long, and the chain-rule values above it are what a
        # student reads while stepping; the box's checkbox unfolds it.
        box.setCheckable(True)
        box.setChecked(False)
        box.setToolTip(key)
        box.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Space steps the pass, not the box
        label.setVisible(False)
        box.setFlat(True)  # folded: a title line, not an empty frame
        box.toggled.connect(label.setVisible)
        box.toggled.connect(lambda unfolded: box.setFlat(not unfolded))
        layout = QtWidgets.QVBoxLayout(box)
        layout.addWidget(label)
        self.key_box = box
        return box


def body_splitter(graphics: QtWidgets.QWidget, side: SidePanel) -> QtWidgets.QSplitter:
    """The plots and the side panel side by side; the plots take the width that is added."""
    body = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
    body.setObjectName("backprop_splitter")
    body.addWidget(graphics)
    body.addWidget(side)
    body.setStretchFactor(0, 1)
    body.setStretchFactor(1, 0)
    body.setCollapsible(0, False)
    body.setCollapsible(1, False)
    body.setSizes([SIDE_WIDTH * 3, SIDE_WIDTH])
    return body
