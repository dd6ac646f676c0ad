"""Name labels: the participant's name that Zoom, Teams, Meet and most meeting apps draw on a tile.

The reader OCRs two small bands of a tile, never the whole frame: the bottom strip (Zoom, Teams,
Meet, Element Call, Jitsi put the name at the bottom left) and, when that holds no name, a strip at
the top edge reaching a little above the tile (BigBlueButton and other docks put the name in a title
bar over the video). The OCR is PaddleOCR's PP-OCRv6 small detector and recogniser, ONNX files inside
the ``rapidocr`` wheel, run on our own ONNX Runtime sessions (as the classifier is): nothing is
downloaded at run time and nothing leaves the machine. Why this OCR, and what it reaches on the
shared screens, is in docs/ARCHITECTURE.md ("Name labels").

OCR costs tens of milliseconds per tile, so the tracker asks for a tile's name only when the tile is
new or the pixels of its label band changed (see :func:`band_signature`), not on every frame.

    >>> reader = NameReader()                                   # doctest: +SKIP
    >>> reader.read(frame.image, (x0, y0, x1, y1))              # doctest: +SKIP
    'Ana Souza'
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BOTTOM_BAND = 0.30
"""The bottom band is this share of the tile's height (labels sit in the lowest 10-25%)."""
TOP_BAND, ABOVE = 0.22, 0.12
"""The top band: this share of the height inside the tile, plus this share above its top edge."""
LEFT_SHARE = 1.0
"""Bands span this share of the tile's width from its left edge (long names run to the right edge)."""
LABEL_START = 0.6
"""A label starts in this left share of its band (the apps put it at the left; a centred short name
under an avatar starts before the middle); boxes starting further right (a close button, a clock) are
not even recognised."""
BAND_PX = 72
"""Bands lower than this are upscaled to it, so that 10-px text reaches the recogniser's scale."""
ZOOMS = (1.0, 2.0)
"""A tile with no label found is read once more at twice the scale (labels of 6-8 px, mobile galleries)."""
MIN_SCORE, SHORT_MIN_SCORE = 0.6, 0.9
"""Recognised lines below this confidence are dropped; the second for short lines that do not look like
a name (noise in a video reads as short gibberish)."""
SIGNATURE = (32, 8)
"""A label band is summarised as a 32x8 grey thumbnail to tell whether it changed."""
CHANGED = 30.0
"""A band is read again when a cell of its thumbnail moved by more than this many grey levels: a
changed label moves its cells by 50 or more; webcam noise by 1-2, a resized window by up to 18."""

DET_MODEL, REC_MODEL = "PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"
"""RapidOCR 3.10's default detector and recogniser (multilingual Latin, Chinese, Japanese)."""
DET_MAX_SIDE = 1280
DB_THRESH, DB_BOX_THRESH, DB_UNCLIP = 0.3, 0.5, 1.6
"""RapidOCR's DB post-processing defaults: pixel threshold, box score threshold, unclip ratio."""
REC_HEIGHT, REC_MIN_WIDTH = 48, 320
"""The recogniser's input: lines resized to 48 px high, padded to at least 320 px wide."""


Region = tuple[float, float, float, float]
"""A label's box as fractions of its tile (x0, y0, x1, y1), so it follows a moved or resized tile."""


@dataclass(frozen=True)
class _Line:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


def _bands(frame_h: int, frame_w: int, box: np.ndarray) -> list[tuple[int, int, int, int] | None]:
    """The bottom band, then the top band, of a tile, clipped to the frame (xyxy; None when too small
    to hold a label)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = y1 - y0, x1 - x0
    xe = min(frame_w, x0 + max(1, int(round(w * LEFT_SHARE))))
    bottom = (max(0, x0), max(0, y1 - int(round(h * BOTTOM_BAND))), xe, min(frame_h, y1))
    top = (max(0, x0), max(0, y0 - int(round(h * ABOVE))), xe, min(frame_h, y0 + int(round(h * TOP_BAND))))
    return [b if b[2] - b[0] >= 8 and b[3] - b[1] >= 6 else None for b in (bottom, top)]


def thumbnail(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` shrunk to ``size`` (w, h) by area averaging, after a strided pre-sampling to about
    four pixels per cell: a large tile costs a few microseconds instead of a tenth of a millisecond."""
    h, w = pixels.shape[:2]
    step = max(1, min(h // (4 * size[1]), w // (4 * size[0])))
    return cv2.resize(pixels[::step, ::step], size, interpolation=cv2.INTER_AREA)


def band_signature(image: np.ndarray, box: np.ndarray, label: Region | None = None) -> np.ndarray:
    """A tiny grey thumbnail of where the tile's label is (``label``, as :meth:`NameReader.read_label`
    found it) or, before one was found, of its label bands: equal up to noise while the label is
    unchanged, and not moved by someone moving behind a label found before.

    Taken relative to the tile, so a moved or resized window gives the same signature."""
    h, w = image.shape[:2]
    parts = []
    if label is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        tw, th = x1 - x0, y1 - y0
        lx0, ly0 = max(0, int(x0 + label[0] * tw)), max(0, int(y0 + label[1] * th))
        lx1, ly1 = min(w, int(np.ceil(x0 + label[2] * tw))), min(h, int(np.ceil(y0 + label[3] * th)))
        regions = [(lx0, ly0, lx1, ly1)] if lx1 - lx0 >= 8 and ly1 - ly0 >= 4 else _bands(h, w, box)
    else:
        regions = _bands(h, w, box)
    regions = [r for r in regions if r is not None]
    for bx0, by0, bx1, by1 in regions:
        grey = cv2.cvtColor(np.ascontiguousarray(image[by0:by1, bx0:bx1]), cv2.COLOR_BGR2GRAY)
        parts.append(thumbnail(grey, SIGNATURE).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, SIGNATURE[0]), np.float32)


def same_band(a: np.ndarray | None, b: np.ndarray) -> bool:
    """Whether two :func:`band_signature` thumbnails show the same label (see ``CHANGED``)."""
    return a is not None and a.shape == b.shape and float(np.abs(a - b).max()) <= CHANGED


_COMMA_ELLIPSIS = re.compile(r"(?<=[^\W_])\s?\.{4,}$")  # ",…" read as four dots: "Boulder,..."
_ELLIPSIS = re.compile(r"\s*(\.{2,}|…|\.\s?\.)$")
_CUT_WORD = re.compile(r"(?<=[^\W\d_][a-z]{3})\.$")  # "Winc." is "Winc..." read short; "Jr." or "Inc." is not
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script; a clock or a counter has none
_LEAD = re.compile(r"^[^\w@(\"'+]+")


def clean(text: str) -> str:
    """Tidy a recognised label: collapse spaces, drop leading symbols (a mute icon read as ``&``), and
    write a truncation mark (``..``, ``…``, or one dot ending a word of four letters or more: the dots of
    ``...`` merge when small) as ``...``, the way the apps truncate long names. Four dots or more after a
    letter are a comma before the mark (``Joe, @joec, Boulder,…``: the apps cut names at a character, so
    a comma, the separator of "Name, @handle, City" labels, is what stands before the mark; at label
    size the recogniser reads it as one more dot)."""
    text = _LEAD.sub("", " ".join(text.split()))
    if _COMMA_ELLIPSIS.search(text):
        return _COMMA_ELLIPSIS.sub(",...", text)
    if _ELLIPSIS.search(text):
        return _ELLIPSIS.sub("...", text)
    return _CUT_WORD.sub("...", text)


def min_score(text: str) -> float:
    """The confidence a line needs: a short one (two or three characters) is often noise in a video
    or a blurred label read as letters, so it must be surer, unless it is shaped like a short name (a
    capital then small letters: "Dan", "Kim"); noise reads as capitals, mixed case or ideograms
    ("BU", "ls", "VI", "旺印")."""
    word = text.strip()
    if len(word) > 3 or (word[:1].isupper() and word[1:].isalpha() and word[1:].islower()):
        return MIN_SCORE
    return SHORT_MIN_SCORE


def pick_label(
    lines: list[_Line], band_w: float, band_h: float, edge: float | None = None
) -> tuple[str, tuple[float, float, float, float] | None]:
    """The label among a band's text lines and its box (band coordinates): the lowest line of a
    bottom band, or in a top band (``edge``: the tile's top edge in band coordinates) the line nearest
    that edge, a title bar being attached to its tile (a window title above it is not the name); of
    lines starting in the left part of the band, with the boxes on the same line joined left to right;
    ("", None) when there is none.

    Lines without a letter (a mute icon read as ``&``, a clock) are not names."""
    lines = [ln for ln in lines if _LETTER.search(ln.text) and ln.score >= min_score(ln.text)]
    lines = [ln for ln in lines if ln.x0 <= LABEL_START * band_w]
    if not lines:
        return "", None
    # A title bar's line starts above the edge or, where the tile's box took in the bar (and a dock's
    # header row above it), less than two lines' heights below it; of those, the lowest is the bar
    # (window chrome is above it), and text deeper in the video is not a title bar.
    at_edge = [] if edge is None else [ln for ln in lines if ln.y0 <= edge + 2 * (ln.y1 - ln.y0)]
    if edge is None or at_edge:
        anchor = max(at_edge or lines, key=lambda ln: ln.y1)
    else:
        anchor = min(lines, key=lambda ln: abs((ln.y0 + ln.y1) / 2 - edge))
    mid = (anchor.y0 + anchor.y1) / 2
    row = sorted((ln for ln in lines if ln.y0 <= mid <= ln.y1), key=lambda ln: ln.x0)
    words = [ln.text.strip() for ln in row]
    if any(len(w) > 1 for w in words):  # an icon beside the name reads as one character ("X", "2")
        row = [ln for ln, w in zip(row, words, strict=True) if len(w) > 1]
        words = [w for w in words if len(w) > 1]
    text = clean(" ".join(words))
    if len(text) <= 1:  # a lone character is an icon or noise, not a name
        return "", None
    return text, (
        min(ln.x0 for ln in row),
        min(ln.y0 for ln in row),
        max(ln.x1 for ln in row),
        max(ln.y1 for ln in row),
    )


def model_dir() -> Path:
    """The folder of ONNX files inside the installed ``rapidocr`` wheel, found without importing it.

    Importing ``rapidocr`` loads its model downloader (``requests``, which opens a probe socket at
    import); only its files are used here, read with our own ONNX Runtime sessions."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the rapidocr package is not installed (pip install rapidocr)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class _PaddleOcr:
    """PP-OCR detection (DB) and recognition (CTC) on ONNX Runtime: the few steps of RapidOCR's
    pipeline a horizontal label needs (no angle classifier, axis-aligned boxes)."""

    def __init__(self, threads: int) -> None:
        from fer_overlay.runtime import open_session

        folder = model_dir()
        self.det = open_session(folder / DET_MODEL, threads)
        self.rec = open_session(folder / REC_MODEL, threads)
        chars = self.rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.charset = ["", *chars, " "]  # CTC blank first, space last (PaddleOCR's convention)

    @staticmethod
    def _normalise(bgr: np.ndarray) -> np.ndarray:
        return ((bgr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]

    def detect(self, bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Text line boxes (xyxy in ``bgr``) from the DB probability map."""
        h, w = bgr.shape[:2]
        ratio = min(1.0, DET_MAX_SIDE / max(h, w))
        rh, rw = max(32, round(h * ratio / 32) * 32), max(32, round(w * ratio / 32) * 32)
        prob = self.det.run(None, {self.det.get_inputs()[0].name: self._normalise(cv2.resize(bgr, (rw, rh)))})
        prob = prob[0][0, 0]
        mask = cv2.dilate((prob > DB_THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if min(bw, bh) < 3 or float(prob[y : y + bh, x : x + bw].mean()) < DB_BOX_THRESH:
                continue
            # DB's unclip grows the box by area * ratio / perimeter; edges as RapidOCR rounds them (the
            # recogniser is sensitive to a pixel more or less, e.g. in the space between two words).
            x1, y1 = x + bw - 1, y + bh - 1
            d = (x1 - x) * (y1 - y) * DB_UNCLIP / max(1, 2 * ((x1 - x) + (y1 - y)))
            boxes.append(
                (
                    max(0, round((x - d) * w / rw)),
                    max(0, round((y - d) * h / rh)),
                    min(w, round((x1 + d) * w / rw)),
                    min(h, round((y1 + d) * h / rh)),
                )
            )
        return boxes

    def recognise(self, bgr: np.ndarray) -> tuple[str, float]:
        """(text, mean confidence) of one line picture."""
        h, w = bgr.shape[:2]
        width = max(8, int(np.ceil(REC_HEIGHT * w / max(1, h))))
        line = np.zeros((1, 3, REC_HEIGHT, max(width, REC_MIN_WIDTH)), np.float32)  # padded as trained
        line[..., :width] = self._normalise(cv2.resize(bgr, (width, REC_HEIGHT)))
        out = self.rec.run(None, {self.rec.get_inputs()[0].name: line})[0][0]
        best, conf = out.argmax(axis=1), out.max(axis=1)
        keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
        if not keep.any():
            return "", 0.0
        return "".join(self.charset[k] for k in best[keep]), float(conf[keep].mean())


class NameReader:
    """Reads the name label of a tile. Its OCR models (a few hundred ms to load) are loaded by
    :meth:`load` when a session starts, so that no frame pays for them; a reader never started loads
    them on its first read.

    ``threads`` bounds ONNX Runtime's threads; one is enough for a few bands per frame."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._ocr: _PaddleOcr | None = None
        self._lock = threading.Lock()

    def _engine(self) -> _PaddleOcr:
        with self._lock:
            if self._ocr is None:
                self._ocr = _PaddleOcr(self.threads)
        return self._ocr

    @property
    def loaded(self) -> bool:
        """Whether the OCR models are loaded."""
        return self._ocr is not None

    def load(self) -> None:
        """Load the OCR models and run each once on a blank band (ONNX Runtime allocates its buffers
        on a session's first run), so that the first label read costs only the reading. A reader that
        has loaded them already (a session started before, or a read) has nothing left to do."""
        if self.loaded:
            return
        ocr = self._engine()
        blank = np.zeros((BAND_PX, 4 * BAND_PX, 3), np.uint8)
        ocr.detect(blank)
        ocr.recognise(blank)

    def _read_band(
        self, image: np.ndarray, band: tuple[int, int, int, int], edge: float | None, zoom: float
    ) -> tuple[str, tuple[float, float, float, float] | None]:
        """The label in one band and its box in band-crop pixels of the given ``zoom`` (``edge``: the
        tile's top edge in image rows for a top band, None for the bottom band)."""
        bx0, by0, bx1, by1 = band
        crop = image[by0:by1, bx0:bx1]
        scale = max(1.0, BAND_PX / crop.shape[0]) * zoom
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        ocr = self._engine()
        lines = []
        for x0, y0, x1, y1 in ocr.detect(crop):
            if x0 > LABEL_START * crop.shape[1]:  # cannot be the label (see pick_label)
                continue
            text, score = ocr.recognise(crop[y0:y1, x0:x1])
            if text.strip():
                lines.append(_Line(text, x0, y0, x1, y1, score))
        at = None if edge is None else (edge - by0) * scale
        return pick_label(lines, crop.shape[1], crop.shape[0], at)

    def read_label(
        self, image: np.ndarray, box: np.ndarray | tuple[int, int, int, int]
    ) -> tuple[str, Region | None]:
        """The label text of the tile at ``box`` (xyxy in ``image``) and where it is in the tile,
        ("", None) when none is found."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        for zoom in ZOOMS:
            for k, band in enumerate(_bands(h, w, np.asarray(box))):
                if band is None:
                    continue
                text, rect = self._read_band(image, band, None if k == 0 else y0, zoom)
                if text and rect is not None:
                    s = max(1.0, BAND_PX / (band[3] - band[1])) * zoom  # band-crop pixels per image pixel
                    tw, th = max(1.0, x1 - x0), max(1.0, y1 - y0)
                    return text, (
                        (band[0] + rect[0] / s - x0) / tw,
                        (band[1] + rect[1] / s - y0) / th,
                        (band[0] + rect[2] / s - x0) / tw,
                        (band[1] + rect[3] / s - y0) / th,
                    )
        return "", None

    def read(self, image: np.ndarray, box: np.ndarray | tuple[int, int, int, int]) -> str:
        """The label text of the tile at ``box`` (xyxy in ``image``), "" when none is found."""
        return self.read_label(image, box)[0]
