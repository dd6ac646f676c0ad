"""The overlay: a frameless, always-on-top, translucent panel with the class-wide indicators.

Everything is painted by :func:`paint_dashboard`, which the virtual camera reuses to render the same
dashboard into an image, so what OBS shows is what the instructor sees. The panel can be dragged
(anywhere) and resized (bottom-right grip); it pins itself beside the meeting window and keeps its
offset when that window moves; a compact mode keeps only the gauge and the mix; click-through makes
it ignore the mouse so it never gets in the way of the meeting's own buttons.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizeGrip, QWidget

from fer_overlay.app.dpi import to_logical, to_native
from fer_overlay.app.engine import CAMERA_OFF, NO_FACE, Update, to_update
from fer_overlay.app.style import ANALYSIS_ON, CONFIDENT, FLOATING_WINDOW, draw_face_icon, emotion_colour
from fer_overlay.frames import Result
from fer_overlay.labels import EMOTIONS
from fer_overlay.windows import Rect

FULL_SIZE = QSize(340, 600)
COMPACT_SIZE = QSize(240, 118)
ROW_H = 22
PIN_MARGIN = 8


@dataclass
class DashboardState:
    """What the dashboard shows; owned by the app controller, read by every painter."""

    update: Update | None = None
    history: deque = field(default_factory=lambda: deque(maxlen=36000))
    """(session seconds, class engagement) pairs for the sparkline."""
    running: bool = False
    paused_message: str = ""
    note: str = ""
    """A hint for the instructor (tiles too small, model not verified...); not sent to the camera."""
    class_only: bool = False
    compact: bool = False
    sparkline_minutes: float = 5.0
    started_at: float = 0.0

    def append(self, result: Result) -> None:
        """The overlay's sink: one engine Result becomes what the dashboard paints."""
        self.push(to_update(result))

    def push(self, u: Update) -> None:
        self.update = u
        self.history.append((u.timestamp, u.engagement))


@dataclass(frozen=True)
class RowText:
    """One painted participant row, as text (what tests and screen readers can check)."""

    label: str
    emotion: str
    confidence: str
    emotion_index: int
    coloured: bool = False
    """Painted in its label's colour: the probability is at least ``CONFIDENT``."""


def row_texts(u: Update | None) -> list[RowText]:
    if u is None:
        return []
    out = []
    for r in u.rows:
        if r.state == CAMERA_OFF:
            out.append(RowText(r.label, "camera off", "", -1))
        elif r.state == NO_FACE or r.emotion < 0:
            out.append(RowText(r.label, "no face", "", -1))
        else:
            sure = r.confidence >= CONFIDENT
            out.append(RowText(r.label, EMOTIONS[r.emotion], f"{100 * r.confidence:.0f}%", r.emotion, sure))
    return out


def empty_text(s: DashboardState) -> str:
    """What the participant list says when it has no row ("" when it has rows)."""
    if s.update is None:
        return "Start a session to see indicators." if not s.running else "Analysing…"
    if not s.update.rows:  # analysed, but no tile and no face: say so rather than show an empty list
        return "No participants found: is the meeting's gallery view on screen?"
    return ""


LEGEND = (
    "Engagement indicator (the gauge, 0–100): how many faces are turned to the screen, and how "
    "positive their expressions look. 80 = facing the screen with a neutral face; more when smiling, "
    "less when looking sad or angry, towards 0 when looking away. An indicator of what the camera "
    "sees, not of attention or learning (docs/ENGAGEMENT.md).\n"
    "Class emotion mix: the share of each expression among the faces seen.\n"
    "A participant's % is how sure the model is of that label (smoothed over the last seconds); "
    f"a row has its label's colour only from {100 * CONFIDENT:.0f}% on, below that it is a guess."
)
"""The overlay's tooltip and the legend of docs/APP.md, in plain words."""


def _font(size: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(size)
    f.setBold(bold)
    return f


def paint_dashboard(p: QPainter, rect: QRectF, s: DashboardState, opaque: bool = False) -> int:
    """Paint the whole dashboard into ``rect``; returns how many participant rows fit and were drawn."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    bg = QColor(22, 24, 28, 255 if opaque else 215)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(bg)
    p.drawRoundedRect(rect, 10, 10)
    # The camera image is scaled to its height (rows stay readable); the overlay is drawn at 1:1.
    scale = min(rect.width() / FULL_SIZE.width(), rect.height() / FULL_SIZE.height()) if opaque else 1.0
    x0, y = rect.left() + 10 * scale, rect.top() + 8 * scale
    w = rect.width() - 20 * scale
    fg, dim = QColor(235, 238, 242), QColor(150, 158, 168)

    # Header: the visible "analysis on" state, never hidden while a session runs.
    p.setFont(_font(9 * scale, True))
    if s.running and not s.paused_message:
        dot, text = QColor(ANALYSIS_ON), "● ANALYSIS ON"
    elif s.running:
        dot, text = QColor("#e0a020"), "● PAUSED"
    else:
        dot, text = dim, "○ analysis off"
    p.setPen(dot)
    p.drawText(QRectF(x0, y, w, 16 * scale), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
    p.setPen(dim)
    p.setFont(_font(8 * scale))
    u = s.update
    right = "class indicators"
    if u is not None:
        clock = f"{int(u.timestamp // 60):02d}:{int(u.timestamp % 60):02d}"
        right = f"{u.participants} · {clock}" if s.compact else f"{u.participants} participants · {clock}"
    p.drawText(
        QRectF(x0, y, w, 16 * scale), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, right
    )
    y += 20 * scale
    message = s.paused_message or ("" if opaque else s.note)
    if message:
        p.setPen(QColor("#f0c060"))
        p.setFont(_font(8 * scale))
        box = QRectF(x0, y, w, 34 * scale)
        p.drawText(box, Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft, message)
        y += 36 * scale

    # Engagement gauge (a half ring) and the class emotion mix beside it.
    gauge_h = (58 if s.compact else 78) * scale
    gsize = gauge_h * 1.6
    g = QRectF(x0, y + 4 * scale, gsize, gsize)
    pen = QPen(QColor(60, 66, 74), 9 * scale)
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawArc(g.adjusted(6 * scale, 6 * scale, -6 * scale, -6 * scale), 0, 180 * 16)
    eng = u.engagement if u is not None else math.nan
    if not math.isnan(eng):
        hue = QColor.fromHsvF(max(0.0, min(1.0, eng / 100)) * 0.33, 0.75, 0.9)
        pen.setColor(hue)
        p.setPen(pen)
        p.drawArc(
            g.adjusted(6 * scale, 6 * scale, -6 * scale, -6 * scale), 180 * 16, int(-180 * 16 * eng / 100)
        )
    p.setPen(fg)
    p.setFont(_font(15 * scale, True))
    p.drawText(
        QRectF(g.left(), g.top() + gsize * 0.2, gsize, gsize * 0.3),
        Qt.AlignmentFlag.AlignCenter,
        "–" if math.isnan(eng) else f"{eng:.0f}",
    )
    p.setFont(_font(7 * scale))
    p.setPen(dim)
    p.drawText(
        QRectF(g.left() - 4, g.top() + gsize * 0.48, gsize + 8, 14 * scale),
        Qt.AlignmentFlag.AlignCenter,
        "engagement indicator",
    )
    mx = x0 + gsize + 10 * scale
    mw = rect.right() - 10 * scale - mx
    p.setPen(dim)
    p.setFont(_font(8 * scale))
    p.drawText(QRectF(mx, y, mw, 14 * scale), Qt.AlignmentFlag.AlignLeft, "class emotion mix")
    bar = QRectF(mx, y + 17 * scale, mw, 12 * scale)
    dist = u.distribution if u is not None else np.full(len(EMOTIONS), np.nan)
    p.setPen(Qt.PenStyle.NoPen)
    if np.isnan(dist).any() or dist.sum() <= 0:
        p.setBrush(QColor(60, 66, 74))
        p.drawRect(bar)
    else:
        d = dist / dist.sum()
        cx = bar.left()
        for k in range(len(EMOTIONS)):
            seg = bar.width() * float(d[k])
            p.setBrush(emotion_colour(k))
            p.drawRect(QRectF(cx, bar.top(), seg, bar.height()))
            cx += seg
        p.setFont(_font(8 * scale))
        ly = bar.bottom() + 4 * scale
        for k in np.argsort(-d)[: (2 if s.compact else 3)]:
            draw_face_icon(p, QRectF(mx, ly, 13 * scale, 13 * scale), int(k))
            p.setPen(fg)
            p.drawText(
                QRectF(mx + 17 * scale, ly - 1, mw, 15 * scale),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{EMOTIONS[k]} {100 * d[k]:.0f}%",
            )
            p.setPen(Qt.PenStyle.NoPen)
            ly += 16 * scale
    y += max(gauge_h, 70 * scale) + 4 * scale
    drawn = 0
    if not s.compact:
        # Sparkline: the class engagement indicator over the last minutes.
        sp = QRectF(x0, y, w, 40 * scale)
        p.setPen(QPen(QColor(60, 66, 74), 1))
        p.setBrush(QColor(30, 33, 38))
        p.drawRect(sp)
        p.setPen(dim)
        p.setFont(_font(7 * scale))
        p.drawText(
            sp.adjusted(4, 2, -4, -2),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            f"last {s.sparkline_minutes:g} min",
        )
        pts = [(t, e) for t, e in s.history if not math.isnan(e)]
        if pts:
            t_end = pts[-1][0]
            span = s.sparkline_minutes * 60
            path = QPainterPath()
            first = True
            for t, e in pts:
                if t < t_end - span:
                    continue
                px = sp.right() - (t_end - t) / span * sp.width()
                py = sp.bottom() - 3 - (sp.height() - 6) * e / 100
                if first:
                    path.moveTo(px, py)
                    first = False
                else:
                    path.lineTo(px, py)
            p.setPen(QPen(QColor("#4aa3ff"), 1.6 * scale))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        y += 46 * scale
        # Participant rows (or the class-only note).
        p.setFont(_font(8.5 * scale))
        if s.class_only:
            p.setPen(dim)
            p.drawText(
                QRectF(x0, y, w, 34 * scale),
                Qt.TextFlag.TextWordWrap,
                "Class-wide figures only: per-participant rows are hidden and not recorded.",
            )
        else:
            rows = row_texts(u)
            if rows:  # what a row's % means, where the rows are (also when the overlay is click-through)
                p.setPen(dim)
                p.setFont(_font(7 * scale))
                p.drawText(
                    QRectF(x0, y, w, 12 * scale),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    f"% = how sure the model is · coloured from {100 * CONFIDENT:.0f}%",
                )
                p.setFont(_font(8.5 * scale))
                y += 13 * scale
            rh = ROW_H * scale
            # A wide picture (the camera's 16:9) lays the rows out in columns of ~320 scaled pixels.
            cols = max(1, int(w // (320 * scale)))
            gap = 12 * scale
            cw = (w - gap * (cols - 1)) / cols
            name_w = max(44 * scale, 0.34 * (cw - rh))  # a third of the row: "Eileen C.", "Maximilia…"
            per_col = max(0, int((rect.bottom() - 6 * scale - y) // rh))
            fit = per_col * cols
            shown = rows if len(rows) <= fit else rows[: max(0, fit - 1)]
            for i, r in enumerate(shown):
                c, k = divmod(i, per_col) if per_col else (0, i)
                rx, ry = x0 + c * (cw + gap), y + k * rh
                if k % 2 == 0:
                    p.setPen(Qt.PenStyle.NoPen)
                    p.setBrush(QColor(255, 255, 255, 12))
                    p.drawRect(QRectF(rx - 4, ry, cw + 8, rh))
                icon = QRectF(rx, ry + 3 * scale, rh - 6 * scale, rh - 6 * scale)
                draw_face_icon(p, icon, r.emotion_index, muted=not r.coloured)
                p.setPen(fg)
                tr = QRectF(rx + rh, ry, cw - rh, rh)
                # The name read on the tile ("Eileen C.") or "#12": elided to its column, never painted
                # under the label beside it.
                label = QFontMetrics(p.font()).elidedText(
                    r.label, Qt.TextElideMode.ElideRight, int(name_w - 6)
                )
                p.drawText(tr, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
                p.setPen(
                    emotion_colour(r.emotion_index) if r.coloured else fg if r.emotion_index >= 0 else dim
                )
                p.drawText(
                    tr.adjusted(name_w, 0, 0, 0),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                    r.emotion,
                )
                p.setPen(dim)
                p.drawText(tr, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, r.confidence)
            drawn = len(shown)
            if len(shown) < len(rows) and per_col:
                c, k = divmod(len(shown), per_col)
                p.setPen(dim)
                p.drawText(
                    QRectF(x0 + c * (cw + gap), y + k * rh, cw, rh),
                    Qt.AlignmentFlag.AlignCenter,
                    f"+{len(rows) - len(shown)} more",
                )
            text = empty_text(s)
            if text:
                p.setPen(dim)
                flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
                p.drawText(QRectF(x0, y, w, 2 * rh), flags, text)
    p.restore()
    return drawn


def render_dashboard(s: DashboardState, width: int, height: int) -> QImage:
    """The dashboard as an opaque RGB888 image (for the virtual camera)."""
    img = QImage(width, height, QImage.Format.Format_RGB888)
    img.fill(QColor(22, 24, 28))
    p = QPainter(img)
    paint_dashboard(p, QRectF(0, 0, width, height), s, opaque=True)
    p.end()
    return img


def _screen_of(window: QRect) -> QRect:
    """The available area of the screen the meeting window is on (most of it, when it spans two or
    hangs off one), in logical pixels."""
    best, area = QGuiApplication.primaryScreen(), -1
    for screen in QGuiApplication.screens():
        part = screen.geometry().intersected(window)
        if part.width() * part.height() > area:
            best, area = screen, part.width() * part.height()
    return best.availableGeometry() if best is not None else QRect(0, 0, 1 << 15, 1 << 15)


def on_screen(pos: QPoint, size: QSize, window: QRect, avail: QRect) -> QPoint:
    """Where the panel goes so that all of it is on ``avail``: at ``pos`` when it fits; past the right
    edge, flipped to the window's left side when there is room there, else inside the screen's right
    edge; then moved down or up onto the screen (a window dragged above the top keeps the header and
    gauge visible)."""
    x, y = pos.x(), pos.y()
    right, bottom = avail.x() + avail.width(), avail.y() + avail.height()
    if x + size.width() > right:
        left = window.x() - PIN_MARGIN - size.width()
        x = left if left >= avail.x() else right - size.width()
    x = max(avail.x(), min(x, right - size.width()))
    y = max(avail.y(), min(y, bottom - size.height()))
    return QPoint(x, y)


class OverlayWindow(QWidget):
    """The floating panel. ``moved_by_user`` fires after a drag so the controller can store the offset."""

    moved_by_user = Signal()
    resized_by_user = Signal()
    """The corner grip was let go: the controller remembers the new size."""
    geometry_changed = Signal()
    """Moved, resized, shown or hidden: the capture must update what it masks."""

    def __init__(self, state: DashboardState) -> None:
        super().__init__(None, FLOATING_WINDOW)
        self.setWindowTitle("FER Overlay – class indicators")
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setToolTip(LEGEND)
        self.state = state
        self.full_size = QSize(FULL_SIZE)
        self.resize(self.full_size)
        self.setMinimumSize(COMPACT_SIZE)
        self._grip = QSizeGrip(self)
        self._grip.resize(16, 16)
        self._grip.installEventFilter(self)
        self._drag_from: QPoint | None = None
        self.offset: QPoint | None = None
        """Position relative to the meeting window's top-right corner; None until pinned."""
        self.anchor: QRect | None = None
        """The meeting window (or region) in logical pixels, once following."""
        self.rows_drawn = 0
        self.click_through = False
        self._last_paint = 0.0

    # ---- appearance ------------------------------------------------------------------------
    def set_compact(self, compact: bool) -> None:
        if compact == self.state.compact:
            return
        if not compact:
            self.state.compact = False
            self.setMinimumSize(COMPACT_SIZE)
            self.resize(self.full_size)
        else:
            self.full_size = self.size()
            self.state.compact = True
            self.resize(COMPACT_SIZE)
        self.update()

    def set_click_through(self, on: bool) -> None:
        """Let mouse events pass to the window below (the meeting); needs a re-show on X11."""
        self.click_through = on
        visible = self.isVisible()
        self.setWindowFlag(Qt.WindowType.WindowTransparentForInput, on)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, on)
        self._grip.setVisible(not on)
        if visible:
            self.show()

    def screen_rect(self) -> Rect:
        """Where the panel is, in native pixels (what the capture must mask)."""
        return to_native(self.frameGeometry())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        self.rows_drawn = paint_dashboard(p, QRectF(self.rect()), self.state)
        p.end()
        self._last_paint = time.monotonic()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._grip.move(self.width() - self._grip.width(), self.height() - self._grip.height())
        if not self.state.compact:
            self.full_size = self.size()
        super().resizeEvent(event)
        self.geometry_changed.emit()

    def moveEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().moveEvent(event)
        self.geometry_changed.emit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.geometry_changed.emit()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().hideEvent(event)
        self.geometry_changed.emit()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if (
            watched is self._grip
            and event.type() == QEvent.Type.MouseButtonRelease
            and event.button() == Qt.MouseButton.LeftButton
        ):
            self.resized_by_user.emit()  # the drag's moves have already resized the panel
        return super().eventFilter(watched, event)

    # ---- dragging ----------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.globalPosition().toPoint() - self.pos()
            event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._drag_from is not None:
            self.move(event.globalPosition().toPoint() - self._drag_from)
            event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._drag_from is not None:
            self._drag_from = None
            if self.anchor is not None:
                self.offset = self.pos() - self._anchor_point()
            self.moved_by_user.emit()

    # ---- pinning -----------------------------------------------------------------------------
    def follow(self, window: Rect) -> None:
        """Keep the panel at its offset from the meeting window's top-right corner (pin it first time).

        ``window`` is in native pixels (the window system's); Qt positions in logical pixels. The first
        pin goes just outside the window's right edge when the screen has room (so it never covers the
        gallery), else inside the right edge (the capture then masks it).
        """
        w = to_logical(window)
        self.anchor = w
        avail = _screen_of(w)
        if self.offset is None:
            if w.x() + w.width() + PIN_MARGIN + self.width() <= avail.right():
                self.offset = QPoint(PIN_MARGIN, 0)
            else:
                self.offset = QPoint(-self.width() - PIN_MARGIN, PIN_MARGIN + 40)
        target = on_screen(self._anchor_point() + self.offset, self.size(), w, avail)
        if target != self.pos():
            self.move(target)

    def _anchor_point(self) -> QPoint:
        """The meeting window's top-right corner (just past its last column), logical pixels."""
        return QPoint(self.anchor.x() + self.anchor.width(), self.anchor.y())

    def pinned_offset(self) -> QPointF | None:
        return QPointF(self.offset) if self.offset is not None else None
