"""Optional per-tile indicators: a click-through layer over the meeting window that puts each
participant's indicator at a corner of their own tile.

Rows numbered #1…#28 in the overlay are hard to match to faces; a small badge on the tile itself is
not. Each badge says ``#id Label 73%`` (or "no face" / "camera off") in white on a dark, mostly opaque
box, so it reads on light and dark tiles alike, with a dot in the label's colour only when the
label is sure (as the overlay's rows). It sits in the tile corner farthest from the face, inset a few
pixels. Each badge is a tiny window transparent for the mouse and the keyboard (the meeting's own
buttons stay usable), and their rectangles are masked out of the capture like the overlay, so the app
never analyses its own badges. In "Class-wide figures only" the layer is hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QWidget

from fer_overlay.app.dpi import to_logical
from fer_overlay.app.engine import CAMERA_OFF, Update
from fer_overlay.app.style import CONFIDENT, FLOATING_WINDOW, emotion_colour
from fer_overlay.labels import EMOTIONS
from fer_overlay.windows import Rect

INSET = 6
"""Pixels between a badge and its tile's edges."""
PAD_X, BADGE_H, DOT = 6, 18, 8


@dataclass(frozen=True)
class Badge:
    """One participant's indicator: its text, the dot's colour index (-1: none) and where it goes
    (native screen pixels)."""

    text: str
    colour: int
    rect: Rect


def badge_text(label: str, state: int, emotion: int, confidence: float) -> str:
    if state == CAMERA_OFF:
        return f"{label} camera off"
    if emotion < 0 or math.isnan(confidence):
        return f"{label} no face"
    return f"{label} {EMOTIONS[emotion]} {100 * confidence:.0f}%"


def place(tile: tuple[int, int, int, int], face: tuple[float, ...] | None, w: int, h: int) -> tuple | None:
    """The badge's top-left (capture pixels) in the tile corner farthest from the face's centre
    (the tile's centre without a face); None when the tile is too small to hold it.

    The bottom-left corner is taken only when every other one would cover the face: Zoom, Teams, Meet
    and Element Call write the participant's name there, and that label is what a teacher matches the
    badge with (for a face on the right of its tile, the farthest corner would cover that label)."""
    x0, y0, x1, y1 = tile
    if x1 - x0 < w + 2 * INSET or y1 - y0 < h + 2 * INSET:
        return None
    fx, fy = ((face[0] + face[2]) / 2, (face[1] + face[3]) / 2) if face else ((x0 + x1) / 2, (y0 + y1) / 2)
    top_left, top_right = (x0 + INSET, y0 + INSET), (x1 - INSET - w, y0 + INSET)
    bottom_left, bottom_right = (x0 + INSET, y1 - INSET - h), (x1 - INSET - w, y1 - INSET - h)

    def clear(c: tuple[int, int]) -> bool:  # off the face's box
        return (
            face is None or c[0] + w <= face[0] or face[2] <= c[0] or c[1] + h <= face[1] or face[3] <= c[1]
        )

    everywhere = (top_left, top_right, bottom_left, bottom_right)
    corners = [c for c in everywhere if c != bottom_left and clear(c)] or everywhere
    return max(corners, key=lambda c: (c[0] + w / 2 - fx) ** 2 + (c[1] + h / 2 - fy) ** 2)


class BadgeWindow(QWidget):
    """One badge: a tiny opaque top-level window, transparent for input. Opaque and small rather than
    one translucent layer over the whole meeting: without a compositing window manager (bare X11,
    Xvfb) a translucent window is drawn black, and would hide the meeting from the user and the
    capture alike."""

    def __init__(self, font: QFont) -> None:
        super().__init__(None, FLOATING_WINDOW | Qt.WindowType.WindowTransparentForInput)
        self.setWindowTitle("FER Overlay – tile indicator")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.font_ = font
        self.badge: Badge | None = None

    def show_badge(self, badge: Badge) -> None:
        self.badge = badge
        area = to_logical(badge.rect)
        if self.geometry() != area:
            self.setGeometry(area)
        self.update()
        if not self.isVisible():
            self.show()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.badge is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(16, 18, 22))
        x = float(PAD_X)
        if self.badge.colour >= 0:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(emotion_colour(self.badge.colour))
            p.drawEllipse(QRectF(x, (self.height() - DOT) / 2, DOT, DOT))
            x += DOT + 4
        p.setFont(self.font_)
        p.setPen(QColor(245, 247, 250))
        line = QRectF(x, 0, self.width() - x, self.height())
        p.drawText(line, Qt.AlignmentFlag.AlignVCenter, self.badge.text)
        p.end()


class TileLayer:
    """The badges of the last capture, one small window each (reused from capture to capture)."""

    def __init__(self) -> None:
        self.font_ = QFont()
        self.font_.setPointSizeF(8)
        self.font_.setBold(True)
        self.badges: list[Badge] = []
        self.origin: Rect | None = None
        self._windows: list[BadgeWindow] = []

    def show_result(self, update: Update, origin: Rect) -> None:
        """Place the badges of one analysed capture taken at ``origin`` (native screen pixels)."""
        metrics = QFontMetrics(self.font_)
        badges = []
        for r in update.rows:
            if r.xyxy == (0, 0, 0, 0):  # no tiles (faces layout): no tile to put a badge on
                continue
            text = badge_text(r.label, r.state, r.emotion, r.confidence)
            sure = r.emotion >= 0 and r.confidence >= CONFIDENT
            w = metrics.horizontalAdvance(text) + 2 * PAD_X + (DOT + 4 if sure else 0)
            at = place(r.xyxy, r.face_xyxy, w, BADGE_H)
            if at is not None:
                where = Rect(origin.x + at[0], origin.y + at[1], w, BADGE_H)
                badges.append(Badge(text, r.emotion if sure else -1, where))
        self.badges, self.origin = badges, origin
        while len(self._windows) < len(badges):
            self._windows.append(BadgeWindow(self.font_))
        for window, badge in zip(self._windows, badges, strict=False):
            window.show_badge(badge)
        for window in self._windows[len(badges) :]:
            window.hide()

    def isVisible(self) -> bool:  # noqa: N802 - reads like the widgets it manages
        return any(w.isVisible() for w in self._windows)

    def windows(self) -> list[BadgeWindow]:
        return [w for w in self._windows if w.isVisible()]

    def hide(self) -> None:
        for w in self._windows:
            w.hide()

    def clear(self) -> None:
        self.hide()
        self.badges = []

    def close(self) -> None:
        for w in self._windows:
            w.close()
            w.deleteLater()
        self._windows = []
        self.badges = []

    def screen_rects(self) -> list[Rect]:
        """The badges in native pixels: what the capture masks (nothing while hidden)."""
        return [b.rect for b in self.badges] if self.isVisible() else []
