"""How the plots are drawn: light pens while a run trains, full pens and antialiasing for figures.

Qt's raster engine draws a one-pixel solid cosmetic line on a fast path; a wider or dashed pen
is first turned into a polygon and filled, several times slower (four 3-pixel curves of 1000
points and a dashed norm curve cost more than the rest of a dashboard frame). While a run
trains, a frame is on screen for a thirtieth of a second, so :class:`PlotGraphics` paints its
curves with such light pens (same colours) and keeps axes and texts as pixmaps; when the run
stops the plots are painted again with the pens the plots gave them. The swap lasts only for
the duration of a paint: every item keeps its pen (``opts["pen"]``), so the plots, their
legends, presentation scaling and tests see the real pens at all times.

Figures (PNG, SVG, animation frames) are painted with :func:`full_quality`: full pens and
antialiased curves, whatever the window is doing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg


def is_heavy(pen: QtGui.QPen | None) -> bool:
    """Whether ``pen`` leaves Qt's fast path for thin lines: wider than a pixel, or dashed."""
    if pen is None or pen.style() == QtCore.Qt.PenStyle.NoPen:
        return False
    return pen.widthF() > 1.0 or pen.style() != QtCore.Qt.PenStyle.SolidLine


def light_pen(pen: QtGui.QPen) -> QtGui.QPen:
    """``pen``'s colour and dash style as a cosmetic line one pixel wide (Qt's cosmetic stroker).

    The dashes stay: they say what a curve is (an LSTM's ``||dL/dc_t||``, the theory's line), and
    a one-pixel cosmetic pen draws them on the stroker's own path, without the polygon a wide pen
    needs.
    """
    light = QtGui.QPen(pen.color(), 1.0)
    light.setCosmetic(True)
    light.setStyle(pen.style())
    if pen.style() == QtCore.Qt.PenStyle.CustomDashLine:
        light.setDashPattern(pen.dashPattern())
    return light


def curves_of(views: Iterable[QtWidgets.QGraphicsView]) -> list[pg.PlotCurveItem]:
    """The curve items (pyqtgraph's PlotCurveItem, inside PlotDataItems too) of ``views``' scenes."""
    found: list[pg.PlotCurveItem] = []
    for view in views:
        scene = view.scene()
        if scene is not None:
            found += [item for item in scene.items() if isinstance(item, pg.PlotCurveItem)]
    return found


class LightPens:
    """Each curve's light pen, worked out once per pen the curve is given (not at every paint).

    Whether a pen is heavy, and its light form, are asked of Qt through several calls (a pen's
    style is a Python enum made anew at each call): done for every curve at every paint (0.165 s
    of a 7.35 s profile of 200 live frames, 0.058 s once per pen), for pens that change only
    when a plot sets another. A curve's entry holds a copy of the pen it was made for, compared with the
    curve's pen at each paint (one call): a pen set since, or changed in place, is looked at anew.
    """

    def __init__(self) -> None:
        self._made: dict[int, tuple[pg.PlotCurveItem, QtGui.QPen | None, QtGui.QPen | None]] = {}
        self.made = 0  # light pens worked out (for tests)

    def forget(self, keep: Iterable[pg.PlotCurveItem] = ()) -> None:
        """Drop the entries of curves not in ``keep`` (they left the scene)."""
        kept = {id(curve) for curve in keep}
        self._made = {key: entry for key, entry in self._made.items() if key in kept}

    def light(self, curve: pg.PlotCurveItem) -> QtGui.QPen | None:
        """The pen to paint ``curve`` with while drafting: its light pen, None for its own."""
        pen = curve.opts["pen"]
        entry = self._made.get(id(curve))
        if (
            entry is not None
            and entry[0] is curve
            and (entry[1] == pen if pen is not None else entry[1] is None)
        ):
            return entry[2]
        light = light_pen(pen) if is_heavy(pen) else None
        self._made[id(curve)] = (curve, None if pen is None else QtGui.QPen(pen), light)
        self.made += 1
        return light


@contextlib.contextmanager
def light_pens(curves: Iterable[pg.PlotCurveItem], lights: LightPens | None = None) -> Iterator[None]:
    """``curves`` drawn with :func:`light_pen` of their heavy pens inside the block (then restored);
    ``lights`` keeps the light pens from one paint to the next."""
    lights = lights if lights is not None else LightPens()
    swapped: list[tuple[pg.PlotCurveItem, QtGui.QPen]] = []
    for curve in curves:
        light = lights.light(curve)
        if light is not None:
            swapped.append((curve, curve.opts["pen"]))
            curve.opts["pen"] = light
    try:
        yield
    finally:
        for curve, pen in swapped:
            curve.opts["pen"] = pen


_CACHED = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
_NO_UPDATES = QtWidgets.QGraphicsView.ViewportUpdateMode.NoViewportUpdate
_TEXTS = (pg.AxisItem, QtWidgets.QGraphicsTextItem)
# While drafting, the scene is searched for new curves and texts once every this many paints
# (a search walks every item of the scene: about a tenth of a light frame when done at each
# paint). An item added in between is painted as it is, with its own pen, until then.
RESCAN_PAINTS = 30


class PlotGraphics(pg.GraphicsLayoutWidget):
    """A plot's graphics area that paints cheaply while a run trains (:attr:`draft`).

    Attributes
    ----------
    draft : True while a run trains: heavy pens (wider than a pixel, dashed) are painted as
        one-pixel solid lines of the same colour, and the axes and texts are kept as pixmaps
        (Qt's ``DeviceCoordinateCache``: painted again only when they change, not replayed
        glyph by glyph every frame). Setting it False repaints with the real pens, uncached.
    held : changes to the scene wait to be painted (:meth:`hold`, :meth:`release`: the
        dashboard paints a live frame's plots one at a time)

    Signals
    -------
    painted() : after each paint of the view
    """

    # After each paint of the view (a staggered frame lets the next view go).
    painted = QtCore.Signal()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._draft = False
        # The scene's curves and texts, found at the first draft paint and every RESCAN_PAINTS.
        self._curves: list[pg.PlotCurveItem] = []
        self._texts: list[QtWidgets.QGraphicsItem] = []
        self._paints_since_scan = RESCAN_PAINTS
        self._update_mode = self.viewportUpdateMode()
        self._pending: Callable[[], object] | None = None
        self.lights = LightPens()
        self._opaque_background()

    def setBackgroundBrush(self, brush: QtGui.QBrush | QtGui.QColor) -> None:  # noqa: N802 (Qt's name)
        super().setBackgroundBrush(brush)
        self._opaque_background()

    def _opaque_background(self) -> None:
        """Let the view's own background be the only one painted, when it covers every pixel.

        The viewport of a QGraphicsView fills itself with the palette's colour before each paint
        (``autoFillBackground``), and the view then paints its background brush (cached as a
        pixmap) over all of it: two passes over every pixel of every view at each frame. With an
        opaque solid brush the first is never seen, so the viewport skips it; a translucent or
        patterned brush (pyqtgraph's ``setBackground(None)``) keeps it.
        """
        brush = self.backgroundBrush()
        opaque = brush.style() == QtCore.Qt.BrushStyle.SolidPattern and brush.color().alpha() == 255
        viewport = self.viewport()
        viewport.setAutoFillBackground(not opaque)
        viewport.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent, opaque)

    @property
    def draft(self) -> bool:
        return self._draft

    @draft.setter
    def draft(self, value: bool) -> None:
        if value != self._draft:
            self._draft = value
            if not value:
                self.cache_texts(False)
            self._paints_since_scan = RESCAN_PAINTS  # the first draft paint looks afresh
            self.viewport().update()

    @property
    def held(self) -> bool:
        """Whether changes to the scene wait for :meth:`release` before they are painted."""
        return self.viewportUpdateMode() == _NO_UPDATES

    @property
    def pending(self) -> bool:
        """Whether an update of the scene's items waits for :meth:`release`."""
        return self._pending is not None

    def hold(self, pending: Callable[[], object] | None = None) -> None:
        """Let changes to the scene wait to be painted until :meth:`release` (a staggered frame).

        Without ``pending`` only the painting waits: the items change at once. ``pending``, the
        update of the scene's items itself (a plot's refresh), waits too and runs first thing in
        :meth:`release` (a newer one replaces it): a staggered frame spreads its data updates
        as well as its paints over the event loop. Whatever takes a picture of a held view lets
        it go first (:func:`full_quality` does), so a figure always shows the items updated.
        """
        self._pending = pending
        if not self.held:
            self._update_mode = self.viewportUpdateMode()
            self.setViewportUpdateMode(_NO_UPDATES)

    def discard_pending(self) -> None:
        """Drop the update waiting for :meth:`release` (its data was replaced)."""
        self._pending = None

    def release(self) -> None:
        """Run the update waiting (if any), then paint what changed since :meth:`hold` (the whole
        view, in the next window update)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()
        if self.held:
            self.setViewportUpdateMode(self._update_mode)
            self.viewport().update()

    def _scan(self) -> None:
        """Find the scene's curves and texts (one pass; features add and remove items)."""
        scene = self.scene()
        self._curves, self._texts = [], []
        for item in scene.items() if scene is not None else []:
            if isinstance(item, pg.PlotCurveItem):
                self._curves.append(item)
            elif isinstance(item, _TEXTS):
                self._texts.append(item)
        self.lights.forget(self._curves)

    def cache_texts(self, cached: bool) -> None:
        """Keep the axes and texts of the scene as pixmaps (``cached``) or paint them directly."""
        mode = _CACHED if cached else QtWidgets.QGraphicsItem.CacheMode.NoCache
        self._scan()
        for item in self._texts:
            if item.cacheMode() != mode:
                item.setCacheMode(mode)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt override)
        try:
            self._paint(event)
        finally:
            self.painted.emit()

    def _paint(self, event: QtGui.QPaintEvent) -> None:
        if not self._draft:
            super().paintEvent(event)
            return
        if self._paints_since_scan >= RESCAN_PAINTS:
            self.cache_texts(True)  # items added since (a feature's text) are cached too
            self._paints_since_scan = 0
        self._paints_since_scan += 1
        with light_pens(self._curves, self.lights):
            super().paintEvent(event)


@contextlib.contextmanager
def full_quality(views: Iterable[QtWidgets.QGraphicsView]) -> Iterator[None]:
    """Inside the block ``views`` paint with their real pens and antialiased curves (for figures).

    On screen the curves are not antialiased (pyqtgraph's default, and much cheaper); a figure
    is looked at closely, scaled up and printed.
    """
    views = list(views)
    for view in views:
        if isinstance(view, PlotGraphics):
            view.release()  # a staggered frame's last views: the window shows them now too
    drafts = [(view, view.draft) for view in views if isinstance(view, PlotGraphics)]
    curves = [(curve, curve.opts["antialias"]) for curve in curves_of(views)]
    for view, draft in drafts:
        view._draft = False  # no repaint: the figure's paint follows
        if draft:
            view.cache_texts(False)  # drawn at the figure's resolution (and as text in SVG)
    for curve, _ in curves:
        _set_antialias(curve, True)
    try:
        yield
    finally:
        for curve, antialias in curves:
            _set_antialias(curve, antialias)
        for view, draft in drafts:
            view._draft = draft


def _set_antialias(curve: pg.PlotCurveItem, antialias: bool) -> None:
    """Antialias ``curve`` or not; its bounds grow by a pixel for the shaded edge.

    A curve inside a PlotDataItem gets its options from it again whenever that item updates
    (a layout change while painting moves the view and re-clips the data): both are set.
    """
    owner = curve.parentItem()
    if isinstance(owner, pg.PlotDataItem):
        owner.opts["antialias"] = antialias
    if curve.opts["antialias"] != antialias:
        curve.prepareGeometryChange()
        curve.opts["antialias"] = antialias
        curve.invalidateBounds()
