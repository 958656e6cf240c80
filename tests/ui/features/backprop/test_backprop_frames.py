"""The backward pass as animation frames: the offscreen Backprop view at the presentation scale."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_config

from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.backprop.backprop_frames import BackpropFrames
from gradsim.ui.features.presentation import presentation
from gradsim.ui.features.recording.animation import trained_params

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(activation="sigmoid", seed=2)


def test_backward_pass_frames_in_presentation_mode_are_larger_and_whole(qtbot) -> None:
    """The Backprop tab's recording in presentation mode: the view drawn as the tab shows it in
    the mode (text, lines, markers x1.6), in a frame of the same size, every plot text whole."""
    from layout_checks import plot_texts_cut

    params, _ = trained_params(SMALL, 3)
    scale = presentation.PRESENTATION_SCALE
    normal = BackpropFrames(SMALL, params, width=800, theme=LIGHT)
    scaled = BackpropFrames(SMALL, params, width=800, theme=LIGHT, scale=scale)
    try:
        half = normal.total_cells // 2
        plain, large = normal.frame(half), scaled.frame(half)
        assert plain.shape == large.shape and scaled.size == normal.size
        graphics = scaled.view.graphics
        assert presentation.scale_of(graphics) == scale
        assert graphics.transform().m11() == pytest.approx(scale)
        assert graphics.curve.opts["pen"].widthF() == pytest.approx(3.0 * scale)
        assert graphics.current_point.opts["symbolSize"] == pytest.approx(11 * scale)
        reading = (normal.view.reading.font().pointSizeF(), scaled.view.reading.font().pointSizeF())
        assert reading[1] == pytest.approx(reading[0] * scale)
        assert plot_texts_cut(scaled.view) == []
        assert np.mean(np.any(plain != large, axis=2)) > 0.2  # a different picture, not a few pixels
    finally:
        normal.close()
        scaled.close()
