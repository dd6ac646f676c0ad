"""Colours and the little drawn face icons of the seven classes (no emoji font needed).

Icons are painted with QPainter rather than taken from an emoji font because Linux desktops (and
Xvfb) often have none, and a missing glyph box would be worse than a simple drawing.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from fer_overlay.labels import EMOTIONS

EMOTION_COLOURS: dict[str, str] = {
    "Angry": "#e0463c",
    "Disgust": "#7fa83a",
    "Fear": "#9b59b6",
    "Happy": "#f2c230",
    "Sad": "#3b7dd8",
    "Surprise": "#f08a24",
    "Neutral": "#9aa3ad",
}
STATE_COLOUR = "#5c636b"
CONFIDENT = 0.5
"""A participant's row gets its label's colour only from this probability on: below it the label is
the model's best guess among close ones ("Angry 27%"), and a red row would say more than the model."""
ANALYSIS_ON = "#d93636"

FLOATING_WINDOW = (
    Qt.WindowType.FramelessWindowHint
    | Qt.WindowType.WindowStaysOnTopHint
    | Qt.WindowType.Tool
    | Qt.WindowType.WindowDoesNotAcceptFocus
)
"""Flags of the windows we float over the meeting (the overlay, the tile badges): no frame, on top, no
taskbar entry, and never taking the keyboard focus from the meeting app."""


def emotion_colour(index: int) -> QColor:
    return QColor(EMOTION_COLOURS[EMOTIONS[index]] if index >= 0 else STATE_COLOUR)


def draw_face_icon(p: QPainter, rect: QRectF, emotion: int, muted: bool = False) -> None:
    """A round face whose mouth, eyes and brows say the class; a grey dashed circle for none.
    ``muted`` paints the face grey: a label the model is not sure of gets no class colour."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    d = min(rect.width(), rect.height())
    c = rect.center()
    r = d / 2 - 1
    colour = QColor(EMOTION_COLOURS["Neutral"]) if muted and emotion >= 0 else emotion_colour(emotion)
    if emotion < 0:
        p.setPen(QPen(colour, max(1.0, d / 14), Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, r, r)
        p.restore()
        return
    p.setPen(QPen(QColor("#202020"), max(1.0, d / 16)))
    p.setBrush(colour)
    p.drawEllipse(c, r, r)
    name = EMOTIONS[emotion]
    ex, ey, er = r * 0.35, -r * 0.2, max(1.0, r * (0.16 if name in ("Surprise", "Fear") else 0.1))
    p.setBrush(QColor("#202020"))
    for sx in (-1, 1):
        p.drawEllipse(QPointF(c.x() + sx * ex, c.y() + ey), er, er)
    pen = QPen(QColor("#202020"), max(1.0, d / 14))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if name in ("Angry", "Sad", "Fear"):  # slanted brows
        tilt = 1 if name == "Angry" else -1
        for sx in (-1, 1):
            x0, x1 = c.x() + sx * r * 0.15, c.x() + sx * r * 0.55
            y_in, y_out = c.y() - r * 0.42 + tilt * r * 0.08, c.y() - r * 0.42 - tilt * r * 0.08
            p.drawLine(QPointF(x0, y_in), QPointF(x1, y_out))
    my, mw = c.y() + r * 0.4, r * 0.45
    path = QPainterPath()
    if name == "Happy":
        path.moveTo(c.x() - mw, my - r * 0.1)
        path.quadTo(c.x(), my + r * 0.35, c.x() + mw, my - r * 0.1)
    elif name in ("Sad", "Angry"):
        path.moveTo(c.x() - mw, my + r * 0.12)
        path.quadTo(c.x(), my - r * 0.25, c.x() + mw, my + r * 0.12)
    elif name in ("Surprise", "Fear"):
        p.drawEllipse(QPointF(c.x(), my), r * 0.16, r * (0.22 if name == "Surprise" else 0.12))
    elif name == "Disgust":
        path.moveTo(c.x() - mw, my + r * 0.05)
        path.lineTo(c.x() - mw / 3, my - r * 0.08)
        path.lineTo(c.x() + mw / 3, my + r * 0.08)
        path.lineTo(c.x() + mw, my - r * 0.05)
    else:
        path.moveTo(c.x() - mw, my)
        path.lineTo(c.x() + mw, my)
    p.drawPath(path)
    p.restore()
