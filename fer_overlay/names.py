"""Name labels: the participant's name that Zoom, Teams, Meet and most meeting apps draw on a tile.

The reader OCRs two small bands of a tile, never the whole frame: the bottom-left strip (Zoom, Teams,
Meet, Element Call, Jitsi) and, when that holds no text, a strip at the top edge reaching a little
above the tile (BigBlueButton and other docks put the name in a title bar over the video). The OCR is
RapidOCR's PP-OCRv6 small detector and recogniser, ONNX files inside the ``rapidocr`` wheel: nothing is
downloaded at run time and nothing leaves the machine. Why this OCR and what it reaches on the shared
screens is in docs/ARCHITECTURE.md ("Name labels").

OCR costs tens of milliseconds per tile, so the tracker asks for a tile's name only when the tile is
new or the pixels of its label band changed (see :func:`band_signature`), not on every frame.

    >>> reader = NameReader()                                   # doctest: +SKIP
    >>> reader.read(frame.image, (x0, y0, x1, y1))              # doctest: +SKIP
    'Ana Souza'
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import cv2
import numpy as np

BOTTOM_BAND = 0.30
"""The bottom band is this share of the tile's height (labels sit in the lowest 10-25%)."""
TOP_BAND, ABOVE = 0.22, 0.12
"""The top band: this share of the height inside the tile, plus this share above its top edge."""
LEFT_SHARE = 1.0
"""Bands span this share of the tile's width from its left edge (long names run to the right edge)."""
BAND_PX = 72
"""Bands lower than this are upscaled to it, so that 10-px text reaches the recogniser's scale."""
ZOOMS = (1.0, 2.0)
"""A tile with no label found is read once more at twice the scale (labels of 6-8 px, mobile galleries)."""
MIN_SCORE = 0.6
"""Recognised lines below this confidence are dropped (noise in a video reads as short gibberish)."""
SIGNATURE = (32, 8)
"""A label band is summarised as a 32x8 grey thumbnail to tell whether it changed."""
CHANGED = 12.0
"""Mean absolute grey-level difference of two thumbnails above which a band is read again."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Line:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


def _bands(frame_h: int, frame_w: int, box: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The bottom band, then the top band, of a tile, clipped to the frame (xyxy)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = y1 - y0, x1 - x0
    xe = min(frame_w, x0 + max(1, int(round(w * LEFT_SHARE))))
    bottom = (max(0, x0), max(0, y1 - int(round(h * BOTTOM_BAND))), xe, min(frame_h, y1))
    top = (max(0, x0), max(0, y0 - int(round(h * ABOVE))), xe, min(frame_h, y0 + int(round(h * TOP_BAND))))
    return [b for b in (bottom, top) if b[2] - b[0] >= 8 and b[3] - b[1] >= 6]


def band_signature(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A tiny grey thumbnail of the tile's label bands: equal up to noise while the label is unchanged.

    Taken relative to the tile, so a moved or resized window gives the same signature."""
    h, w = image.shape[:2]
    parts = []
    for bx0, by0, bx1, by1 in _bands(h, w, box):
        grey = cv2.cvtColor(image[by0:by1, bx0:bx1], cv2.COLOR_BGR2GRAY)
        parts.append(cv2.resize(grey, SIGNATURE, interpolation=cv2.INTER_AREA).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, SIGNATURE[0]), np.float32)


def same_band(a: np.ndarray | None, b: np.ndarray) -> bool:
    """Whether two :func:`band_signature` thumbnails show the same label (see ``CHANGED``)."""
    return a is not None and a.shape == b.shape and float(np.abs(a - b).mean()) <= CHANGED


_ELLIPSIS = re.compile(r"\s*(\.{2,}|…|\.\s?\.)$")
_LETTER = re.compile(r"\w", re.UNICODE)
_LEAD = re.compile(r"^[^\w@(\"'+]+")


def clean(text: str) -> str:
    """Tidy a recognised label: collapse spaces, drop leading symbols (a mute icon read as ``&``), and
    write a truncation mark (``..`` or ``…``) as ``...``, the way the apps truncate long names."""
    text = _LEAD.sub("", " ".join(text.split()))
    return _ELLIPSIS.sub("...", text) if _ELLIPSIS.search(text) else text


def pick_label(lines: list[_Line], band_w: float, band_h: float, bottom: bool) -> str:
    """The label among a band's text lines: the lowest (bottom band) or highest (top band) line that
    starts in the left part of the band, with the boxes on the same line joined left to right.

    Lines without a letter (a mute icon read as ``&``, a clock) are not names."""
    lines = [ln for ln in lines if _LETTER.search(ln.text) and ln.score >= MIN_SCORE]
    lines = [ln for ln in lines if ln.x0 <= 0.6 * band_w]
    if not lines:
        return ""
    anchor = max(lines, key=lambda ln: ln.y1) if bottom else min(lines, key=lambda ln: ln.y0)
    mid = (anchor.y0 + anchor.y1) / 2
    row = sorted((ln for ln in lines if ln.y0 <= mid <= ln.y1), key=lambda ln: ln.x0)
    words = [ln.text.strip() for ln in row]
    if any(len(w) > 1 for w in words):  # an icon beside the name reads as one character ("X", "2")
        words = [w for w in words if len(w) > 1]
    text = clean(" ".join(words))
    return text if len(text) > 1 else ""  # a lone character is an icon or noise, not a name


class NameReader:
    """Reads the name label of a tile. Loads RapidOCR lazily (a second or so) on the first read.

    ``threads`` bounds ONNX Runtime's threads; one is enough for a few bands per frame."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._engine = None
        self._lock = threading.Lock()

    def _ocr(self):
        with self._lock:
            if self._engine is None:
                from rapidocr import RapidOCR

                self._engine = RapidOCR(
                    params={
                        "Global.log_level": "error",
                        "Global.use_cls": False,  # labels are never upside down
                        "Det.limit_type": "max",  # a band is small: never upscale it to 736 px
                        "Det.limit_side_len": 1280,
                        "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                    }
                )
                logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return self._engine

    def _read_band(
        self, image: np.ndarray, band: tuple[int, int, int, int], bottom: bool, zoom: float
    ) -> str:
        bx0, by0, bx1, by1 = band
        crop = image[by0:by1, bx0:bx1]
        scale = max(1.0, BAND_PX / crop.shape[0]) * zoom
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        out = self._ocr()(crop)
        if out.txts is None or out.boxes is None:
            return ""
        lines = []
        for text, quad, score in zip(out.txts, np.asarray(out.boxes), out.scores, strict=True):
            (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
            lines.append(_Line(text, float(x0), float(y0), float(x1), float(y1), float(score)))
        return pick_label(lines, crop.shape[1], crop.shape[0], bottom)

    def read(self, image: np.ndarray, box: np.ndarray | tuple[int, int, int, int]) -> str:
        """The label text of the tile at ``box`` (xyxy in ``image``), "" when none is found."""
        h, w = image.shape[:2]
        for zoom in ZOOMS:
            for k, band in enumerate(_bands(h, w, np.asarray(box))):
                text = self._read_band(image, band, bottom=k == 0, zoom=zoom)
                if text:
                    return text
        return ""
