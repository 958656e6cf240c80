"""The dashboard's plots, one module per plot; each reads a RunHistory and only displays it.

``PySide6`` is imported here first: pyqtgraph binds to whichever Qt binding is already loaded
(and would prefer PyQt6 if none were).
"""

import PySide6  # noqa: F401  (see above: must precede any pyqtgraph import)

from gradsim.ui.training.plots.activation import ActivationPlot
from gradsim.ui.training.plots.base import PlotPanel
from gradsim.ui.training.plots.gradient import GradientPlot
from gradsim.ui.training.plots.health import HealthPlot
from gradsim.ui.training.plots.heatmap import HeatmapPlot
from gradsim.ui.training.plots.loss import LossPlot

__all__ = ["ActivationPlot", "GradientPlot", "HealthPlot", "HeatmapPlot", "LossPlot", "PlotPanel"]
