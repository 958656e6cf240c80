"""Qt objects die on the GUI thread: pyqtgraph's parentless Qt children are released at teardown,
and a census finds any live Qt object left to the cyclic garbage collector.

Python's cyclic collector frees unreachable cycles on whichever thread allocates when its counters
fill up (docs/architecture.md, "Garbage collection"). A cycle that holds a *live, Python-owned* Qt
object (a parentless ``QMenu``, ``QTimer``, a ``QPixmap``) then destroys that object on that thread,
which Qt does not allow: a worker thread deleting a widget or a timer crashes the GUI thread.
pyqtgraph makes such objects without a parent: every ``ViewBox`` its ``ViewBoxMenu`` (a
``QMenu``, with a ``WidgetGroup``), every ``PlotItem`` its ``ctrlMenu`` and auto-range
``ButtonItem`` (a ``QPixmap`` held in Python), every ``SignalProxy`` and clicked ``ImageItem`` a
``QTimer``. :func:`release_graphics` deletes those on the GUI thread when their owner is
dropped, so what the collector later frees holds no live Qt object.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pyqtgraph as pg
import shiboken6
from pyqtgraph.graphicsItems.ScatterPlotItem import SymbolAtlas
from PySide6 import QtCore, QtGui, QtWidgets

# The shared empty pixmap (made on first use: a QPixmap needs the application).
_NO_PIXMAP: list[QtGui.QPixmap] = []


# pyqtgraph objects that are not Qt's but hold a pixmap in Python.
_VALUE_HOLDERS = (pg.ButtonItem, SymbolAtlas)


def _parentless_children(item: object) -> Iterator[object]:
    """The Python-owned Qt objects pyqtgraph made for ``item`` without a parent."""
    if isinstance(item, pg.ViewBox) and item.menu is not None:
        yield from getattr(item.menu, "widgetGroups", ())  # parentless QObjects
        yield item.menu
    if isinstance(item, pg.PlotItem):
        yield getattr(item, "stateGroup", None)
        yield item.ctrlMenu
        yield item.autoBtn
    if isinstance(item, pg.ImageItem):
        yield getattr(item, "menu", None)
        yield getattr(item, "removeTimer", None)
    if isinstance(item, pg.SignalProxy):
        yield item.timer
    if isinstance(item, pg.ScatterPlotItem):
        yield item.fragmentAtlas  # its symbols' pixmap
    if isinstance(item, pg.ItemSample):
        sample_of = item.item  # a legend sample may stand for an item never put in a scene
        if isinstance(sample_of, QtWidgets.QGraphicsItem) and shiboken6.isValid(sample_of):
            if sample_of.scene() is None and sample_of.parentItem() is None:
                yield sample_of


# Qt objects that must die on the thread that owns them (value types such as QPen, QRectF or
# QTransform may die anywhere): objects, widgets, graphics items and layouts, pixmaps and icons.
THREAD_BOUND = (
    QtCore.QObject,
    QtWidgets.QGraphicsItem,
    QtWidgets.QGraphicsLayoutItem,
    QtGui.QPixmap,
    QtGui.QIcon,
)


def _owned_by_python(obj: object) -> bool:
    return isinstance(obj, shiboken6.Object) and shiboken6.isValid(obj) and shiboken6.ownedByPython(obj)


def live_and_thread_bound(obj: object) -> bool:
    """Whether ``obj`` is a Qt wrapper whose live C++ object Python deletes with the wrapper and
    which must be deleted on its own thread (:data:`THREAD_BOUND`)."""
    return isinstance(obj, THREAD_BOUND) and _owned_by_python(obj)


def _release_one(obj: object) -> None:
    """Delete ``obj``'s C++ object now (on this, the GUI, thread) if it is live and Python's."""
    if isinstance(obj, pg.ButtonItem):
        # A graphics item with a parent item is Qt's; its pixmap is Python's. The shared empty
        # pixmap stays reachable from this module, so no collection ever frees it.
        if not _NO_PIXMAP:
            _NO_PIXMAP.append(QtGui.QPixmap())
        obj.pixmap = _NO_PIXMAP[0]
        return
    if isinstance(obj, SymbolAtlas):
        obj.clear()  # drops the pixmap here
        return
    if isinstance(obj, QtCore.QTimer) and _owned_by_python(obj):
        obj.stop()
    if isinstance(obj, shiboken6.Object) and _owned_by_python(obj):
        shiboken6.delete(obj)


def release_graphics(root: object) -> int:
    """Delete on the GUI thread the parentless Qt objects pyqtgraph made under ``root``.

    Call it when ``root`` (a ``GraphicsView``/``GraphicsLayoutWidget``, a ``PlotItem``, any
    ``GraphicsItem``, a ``SignalProxy``) is dropped or its window closes, from the GUI thread. The
    view boxes' context menus, the plots' option menus and their widget groups, the auto-range
    buttons' pixmaps and the timers of signal proxies and image items go at once; the Python
    wrappers that stay behind in reference cycles then own no live Qt object. Returns how many
    objects it released.
    """
    items: list[object] = []
    if isinstance(root, QtWidgets.QGraphicsView):
        scene = root.scene()
        items.extend(scene.items() if scene is not None else ())
    elif isinstance(root, QtWidgets.QGraphicsItem):
        items.append(root)
        items.extend(_descendants(root))
    else:
        items.append(root)
    released = 0
    for item in dict.fromkeys(items):  # each once, in order
        for child in _parentless_children(item):
            if child is not None and (_owned_by_python(child) or isinstance(child, _VALUE_HOLDERS)):
                _release_one(child)
                released += 1
    return released


def release_window(window: QtWidgets.QWidget) -> int:
    """Release, on the GUI thread, every pyqtgraph object in ``window`` that Python would delete.

    Call it when the window closes. :func:`release_graphics` for every graphics view inside it,
    then for every *parked* item: a graphics item a widget of the window keeps in an attribute
    (or a list, tuple or dict, or a plain helper object, in one) while it is out of any scene (a
    plot taken out of its layout, a curve not shown for this cell), which Python owns; after its
    parentless children those are deleted too, with their subtrees. Returns how many objects
    it released.
    """
    released = sum(release_graphics(view) for view in window.findChildren(QtWidgets.QGraphicsView))
    for widget in [window, *window.findChildren(QtWidgets.QWidget)]:
        for item in _parked_items(widget):
            released += release_graphics(item)
            if _owned_by_python(item):
                shiboken6.delete(item)
                released += 1
    return released


def _parked_items(owner: object, depth: int = 0) -> Iterator[QtWidgets.QGraphicsItem]:
    """Graphics items out of any scene and without a parent, held by ``owner``'s attributes."""
    try:
        values = list(vars(owner).values())
    except TypeError:  # no __dict__
        return
    for value in values:
        if isinstance(value, dict):
            members = list(value.values())
        else:
            members = list(value) if isinstance(value, (list, tuple)) else [value]
        for member in members:
            if isinstance(member, QtWidgets.QGraphicsItem):
                if shiboken6.isValid(member) and member.scene() is None and member.parentItem() is None:
                    yield member
            elif depth < 1 and _plain_helper(member):
                yield from _parked_items(member, depth + 1)


def _plain_helper(value: object) -> bool:
    """A plain Python object with attributes (a panel's helper), not a Qt wrapper or a class."""
    return not isinstance(value, (shiboken6.Object, type)) and hasattr(value, "__dict__")


def _descendants(item: QtWidgets.QGraphicsItem) -> Iterator[QtWidgets.QGraphicsItem]:
    for child in item.childItems():
        yield child
        yield from _descendants(child)


def _holder(obj: object) -> str:
    """``" in Holder.attribute"`` for the first object in the garbage whose attributes hold ``obj``."""
    for referrer in gc.get_referrers(obj):
        if isinstance(referrer, dict):
            for owner in gc.get_referrers(referrer):
                if getattr(owner, "__dict__", None) is referrer:
                    names = [key for key, value in vars(owner).items() if value is obj]
                    return f" in {type(owner).__qualname__}.{names[0] if names else '?'}"
    kinds = sorted({type(referrer).__qualname__ for referrer in gc.get_referrers(obj)} - {"list"})
    return f" in a {'/'.join(kinds)}" if kinds else ""


def qt_garbage_census(holders: bool = False) -> dict[str, int]:
    """What the cyclic collector would free now that it must not: ``{class name: count}`` of the
    live, Python-owned, thread-bound Qt objects (:func:`live_and_thread_bound`) in the garbage.

    Collects with ``gc.DEBUG_SAVEALL`` (which frees nothing and keeps what it found in
    ``gc.garbage``, with whatever earlier collections kept there), counts, empties ``gc.garbage``
    and frees it all with a normal collection on this (the GUI) thread. Empty when clean. With
    ``holders`` each name also says which attribute of which class held the object.
    """
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(flags & ~gc.DEBUG_SAVEALL)
    counts: dict[str, int] = {}
    for obj in gc.garbage:
        if live_and_thread_bound(obj):
            name = f"{type(obj).__module__}.{type(obj).__qualname__}" + (_holder(obj) if holders else "")
            counts[name] = counts.get(name, 0) + 1
    gc.garbage.clear()
    gc.collect()
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))
