"""The backward pass of frozen weights as animation frames: an offscreen Backprop view.

:class:`BackpropFrames` is what the recording feature animates for the Backprop tab (it gets it
through :class:`~gradsim.ui.feature_api.FrozenNetwork`, the offer of this feature) and what
``gradsim animate --backprop`` draws. GUI thread only.
"""

from __future__ import annotations

import math

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.ui.common.scaling import scale_items
from gradsim.ui.common.theme import Theme
from gradsim.ui.features.backprop.backprop_view import BackpropView
from gradsim.ui.training import render
from gradsim.ui.training.offscreen import paint_settled, settle, show_offscreen

# The backward-pass view's logical size offscreen: the grid, the curve, the derivative map and
# the chain-rule numbers beside them.
DEFAULT_BACKPROP_SIZE = (1280, 760)


class BackpropFrames:
    """An offscreen backward-pass view of frozen weights, shown ``position`` cells at a time.

    Parameters
    ----------
    config, params : the network (``params`` as ``Simulation.params``; copied by the view)
    batch : ``(x, y)``, the batch to backpropagate; the config's first batch if None (as the
        Backprop tab)
    width : frame width in pixels
    theme : the plots' colours (the current theme if None)
    size : the view's logical size offscreen
    scale : the presentation scale (1: normal)

    The view computes its cells inline (on this thread): each frame advances a few cells, a
    few matrix products each.
    """

    def __init__(
        self,
        config: SimConfig,
        params: dict[str, np.ndarray],
        batch: tuple[np.ndarray, np.ndarray] | None = None,
        width: int = 960,
        theme: Theme | None = None,
        size: tuple[int, int] = DEFAULT_BACKPROP_SIZE,
        scale: float = 1.0,
    ) -> None:
        self.view = BackpropView(theme=theme)
        self.view.inline_seconds = math.inf  # frames must show their cells, never a busy bar
        self.view.toolbar.hide()  # the transport buttons mean nothing in a recording
        # A frame paints the plot views only (as every figure): the reading and the chain-rule
        # panel would leave blank bands, the panel a wide one at the presentation scale.
        self.view.reading.hide()
        self.view.side_panel.hide()
        show_offscreen(self.view, size)
        if scale != 1.0:
            self.view.set_presentation_scale(scale)  # as the Backprop tab in presentation mode
        self.scale = scale
        self.view.load(config, params, batch)
        if self.view.session is None:
            raise ValueError(f"the backward pass cannot be shown: {self.view.reading.text()}")
        self.width = width
        self.size = (width, render.png_size(self.view, width).height())

    @property
    def total_cells(self) -> int:
        """Layers x time steps."""
        return self.view.total_cells

    def frame(self, position: int) -> np.ndarray:
        """The view with the first ``position`` cells computed: ``(H, W, 3) uint8``."""
        self.view.go_to(position)
        settle()
        if self.scale != 1.0:
            scale_items(self.view.graphics, self.scale)
        return paint_settled(self.view, self.width)

    def close(self) -> None:
        """Delete the offscreen view."""
        self.view.shutdown()
        self.view.close()
        self.view.deleteLater()
