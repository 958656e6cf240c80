"""The pictures of a training animation: the offscreen dashboard at the presentation scale."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_config

from gradsim.engine.simulation import replay
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.presentation import presentation
from gradsim.ui.features.recording.frame_sources import DashboardFrames

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(activation="sigmoid", seed=2)


def test_presentation_scale_carries_into_the_frames(qtbot) -> None:
    normal = DashboardFrames(SMALL, "gradient", 500, LIGHT)
    scaled = DashboardFrames(SMALL, "gradient", 500, LIGHT, scale=presentation.PRESENTATION_SCALE)
    try:
        records = list(replay(SMALL, 3))
        for frames in (normal, scaled):
            frames.add(records)
        plain, large = normal.frame(), scaled.frame()
        view = scaled.dashboard.plots["gradient"].graphics
        assert presentation.scale_of(view) == presentation.PRESENTATION_SCALE
        assert view.transform().m11() == pytest.approx(presentation.PRESENTATION_SCALE)
        curve = scaled.dashboard.plots["gradient"].curves[0]
        assert curve.opts["pen"].widthF() == pytest.approx(3.0 * presentation.PRESENTATION_SCALE)
        # Thicker lines and larger text: more dark pixels in the same frame size.
        assert plain.shape == large.shape
        dark = [np.count_nonzero(picture.sum(axis=2) < 300) for picture in (plain, large)]
        assert dark[1] > 1.3 * dark[0]
    finally:
        normal.close()
        scaled.close()
