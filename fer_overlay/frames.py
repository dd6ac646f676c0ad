"""The values that flow between the engine's stages, each a frozen dataclass of numpy columns.

One frame goes ``Frame`` -> ``Tiles`` (layout) -> ``Faces`` (detection, crops, then probabilities)
-> ``Participants`` (tracking and smoothing) -> ``ClassSnapshot`` (aggregation) -> sinks. Columns are
arrays of equal length so that a boolean mask filters every column at once, as in supervision's
``Detections``; there are no lists of little objects to keep in step.

    >>> faces = Faces.empty()
    >>> len(faces), faces.crops.shape
    (0, (0, 48, 48))
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from fer_overlay.labels import EMOTIONS

N_CLASSES = len(EMOTIONS)
FACE_SIZE = 48

# Participant states: kept apart from the emotions so "nobody there" never reads as "neutral".
FACE = 0
"""A face was seen in the tile in this frame."""
NO_FACE = 1
"""The tile shows video but no face is found (looking away, out of frame, shared content)."""
CAMERA_OFF = 2
"""The tile shows only a name or initials on a flat colour."""
STATE_NAMES = ("face", "no face", "camera off")


class _Columns:
    """Mixin for dataclasses whose array fields are columns of one length (index filters all)."""

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]

    def __getitem__(self, index: np.ndarray | slice | int):  # same type back, every column filtered
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        changes = {
            f.name: getattr(self, f.name)[index]
            for f in fields(self)  # type: ignore[arg-type]
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return replace(self, **changes)


@dataclass(frozen=True)
class Frame:
    """One captured picture: ``image`` BGR uint8 (H, W, 3), ``timestamp`` seconds since the source began."""

    image: np.ndarray
    timestamp: float
    index: int = 0
    source: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Tiles(_Columns):
    """Participant tiles of a gallery: ``xyxy`` int32 (T, 4) in frame pixels, row-major order.

    ``camera_off`` bool (T,): the tile is a flat colour with a name or initials. ``main`` bool (T,): the
    tile is much larger than the rest (a shared screen or the active speaker beside a filmstrip); it is
    a participant only if a face is found in it. ``grid`` is (rows, cols) when a gallery was recognised,
    ``None`` when the frame is one picture and every face counts as its own participant.
    ``faces_first``: the layout was asked to find tiles but found no gallery evidence, so every face is
    its own participant (a plain webcam, photo or video; or a meeting layout it could not read).
    """

    xyxy: np.ndarray
    camera_off: np.ndarray
    main: np.ndarray
    grid: tuple[int, int] | None = None
    faces_first: bool = False

    @staticmethod
    def empty() -> Tiles:
        return Tiles(np.zeros((0, 4), np.int32), np.zeros(0, bool), np.zeros(0, bool), None)


@dataclass(frozen=True)
class Faces(_Columns):
    """Faces found in a frame, as columns.

    ``xyxy`` float32 (N, 4) the detector's box in frame pixels; ``crop_xyxy`` float32 (N, 4) the square
    region resized to the model input (the box widened by the calibrated crop convention);
    ``tile_id`` int32 (N,) index into the frame's :class:`Tiles`, -1 for a face that is no tile's own
    participant (no tiles, outside every tile, or a second person in a tile); ``confidence``
    float32 (N,); ``crops`` uint8 (N, 48, 48) gray model inputs; ``probs`` float32 (N, 7) raw class
    probabilities, zeros until the classifier has run.
    """

    xyxy: np.ndarray
    crop_xyxy: np.ndarray
    tile_id: np.ndarray
    confidence: np.ndarray
    crops: np.ndarray
    probs: np.ndarray

    @staticmethod
    def empty() -> Faces:
        return Faces(
            np.zeros((0, 4), np.float32),
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.int32),
            np.zeros(0, np.float32),
            np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8),
            np.zeros((0, N_CLASSES), np.float32),
        )

    @staticmethod
    def merge(parts: list[Faces]) -> Faces:
        if not parts:
            return Faces.empty()
        return Faces(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Faces)))


@dataclass(frozen=True)
class Participants(_Columns):
    """The tracked participants of one frame (one row each), after temporal smoothing.

    ``id`` int32 (P,) stable across frames; ``xyxy`` int32 (P, 4) the tile (or, without tiles, the face
    region); ``face_xyxy`` float32 (P, 4) NaN when no face; ``state`` int8 (P,) one of ``FACE``,
    ``NO_FACE``, ``CAMERA_OFF``; ``probs`` float32 (P, 7) smoothed probabilities (NaN before the first
    face of a participant); ``presence`` float32 (P,) smoothed share of recent frames with a frontal
    face, 0..1; ``engagement`` float32 (P,) 0..100 indicator (NaN when camera off), see
    ``docs/ENGAGEMENT.md``; ``name`` object (P,) the name label read on the tile ("" where none was
    read; None when the producer reads no names).
    """

    id: np.ndarray
    xyxy: np.ndarray
    face_xyxy: np.ndarray
    state: np.ndarray
    probs: np.ndarray
    presence: np.ndarray
    engagement: np.ndarray
    name: np.ndarray | None = None

    @staticmethod
    def empty() -> Participants:
        return Participants(
            np.zeros(0, np.int32),
            np.zeros((0, 4), np.int32),
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.int8),
            np.zeros((0, N_CLASSES), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, object),
        )

    def label(self, i: int) -> str:
        """What to call participant ``i``: the name read on its tile, else ``#id``."""
        name = self.name[i] if self.name is not None else ""
        return str(name) if name else f"#{int(self.id[i])}"

    @property
    def dominant(self) -> np.ndarray:
        """Index of the most likely class per participant, -1 where no probabilities exist yet."""
        out = np.full(len(self), -1, np.int64)
        ok = ~np.isnan(self.probs).any(axis=1) if len(self) else np.zeros(0, bool)
        if ok.any():
            out[ok] = self.probs[ok].argmax(axis=1)
        return out


@dataclass(frozen=True)
class ClassSnapshot:
    """Class-wide indicators at one moment.

    ``distribution`` float32 (7,) mean smoothed probabilities over participants whose face is seen (NaN
    when none); ``engagement`` 0..100 or NaN when nobody is observable; counts by state.
    """

    timestamp: float
    participants: int
    with_face: int
    no_face: int
    camera_off: int
    distribution: np.ndarray
    engagement: float


@dataclass(frozen=True)
class Result:
    """Everything the engine knows about one frame; what ``Session`` yields and sinks consume."""

    frame: Frame
    tiles: Tiles
    faces: Faces
    participants: Participants
    snapshot: ClassSnapshot
    timings_ms: dict[str, float] = field(default_factory=dict)
