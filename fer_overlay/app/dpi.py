"""Native pixels (what mss captures and what the window system reports) versus Qt's logical pixels.

With a scale factor (Windows at 150%, a 4K laptop, ``QT_SCALE_FACTOR``, Xft.dpi 192) Qt positions
widgets in device-independent pixels while ``windows.py`` and mss speak native pixels. Qt scales each
screen around its own native top-left corner, so a point converts with that screen's
``devicePixelRatio`` around that corner; these helpers do exactly that, so the overlay lands beside the
meeting window and the mask covers the overlay on any scaling.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QGuiApplication, QScreen

from fer_overlay.windows import Rect


def _native_geometry(screen: QScreen) -> QRect:
    g, dpr = screen.geometry(), screen.devicePixelRatio()
    return QRect(g.x(), g.y(), round(g.width() * dpr), round(g.height() * dpr))


def screen_at_native(x: int, y: int) -> QScreen | None:
    screens = QGuiApplication.screens()
    for s in screens:
        if _native_geometry(s).contains(QPoint(x, y)):
            return s
    return QGuiApplication.primaryScreen()


def to_logical(r: Rect) -> QRect:
    """A native rectangle in Qt's logical coordinates (scaled around its screen's origin)."""
    screen = screen_at_native(r.x + r.width // 2, r.y + r.height // 2)
    if screen is None:
        return QRect(r.x, r.y, r.width, r.height)
    o, dpr = screen.geometry().topLeft(), screen.devicePixelRatio()
    return QRect(
        round(o.x() + (r.x - o.x()) / dpr),
        round(o.y() + (r.y - o.y()) / dpr),
        round(r.width / dpr),
        round(r.height / dpr),
    )


def to_native(q: QRect) -> Rect:
    """A logical Qt rectangle in native pixels (what mss and the window system use)."""
    screen = QGuiApplication.screenAt(q.center()) or QGuiApplication.primaryScreen()
    if screen is None:
        return Rect(q.x(), q.y(), q.width(), q.height())
    o, dpr = screen.geometry().topLeft(), screen.devicePixelRatio()
    return Rect(
        round(o.x() + (q.x() - o.x()) * dpr),
        round(o.y() + (q.y() - o.y()) * dpr),
        round(q.width() * dpr),
        round(q.height() * dpr),
    )
