"""The app's thin adapter over the analysis engine: one BGR picture in, one :class:`Update` out.

The overlay, the virtual camera and the recorder need a small, GUI-friendly value (rows of labels,
emotions and confidences plus the class figures), not the engine's numpy columns, so this module owns
that conversion. The analysis itself is the engine's ``Session.process`` (layout, faces, classifier,
tracking with smoothing, aggregation); nothing of it is re-implemented here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fer_overlay.frames import CAMERA_OFF, FACE, NO_FACE, STATE_NAMES, Frame, Result
from fer_overlay.labels import EMOTIONS
from fer_overlay.session import Session  # imported here, in the GUI thread (see main.GC_PERIOD_MS)
from fer_overlay.sinks import Annotator

__all__ = ["Analyzer", "Row", "Update", "to_update", "CAMERA_OFF", "FACE", "NO_FACE", "STATE_NAMES"]


@dataclass(frozen=True)
class Row:
    """One participant as the overlay shows it."""

    pid: int
    label: str
    state: int
    """``FACE``, ``NO_FACE`` or ``CAMERA_OFF`` (from :mod:`fer_overlay.frames`)."""
    emotion: int
    """Index into ``EMOTIONS``; -1 when there is no face (yet)."""
    confidence: float
    """Probability of ``emotion``; NaN without one."""
    engagement: float
    xyxy: tuple[int, int, int, int] = (0, 0, 0, 0)
    face_xyxy: tuple[float, float, float, float] | None = None
    probs: tuple[float, ...] = ()
    """The engine's smoothed probabilities (NaN before the first face): what the log keeps."""
    presence: float = math.nan

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion] if self.emotion >= 0 else STATE_NAMES[self.state]


@dataclass(frozen=True)
class Update:
    """One analysed capture: what the overlay, the camera and the log consume."""

    timestamp: float
    """Seconds since the session started."""
    rows: tuple[Row, ...]
    distribution: np.ndarray
    """float (7,) class emotion mix over participants with a face; NaN when nobody is seen."""
    engagement: float
    """0..100 class engagement indicator, NaN when nobody is observable."""
    participants: int
    with_face: int
    no_face: int
    camera_off: int
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    """The engine's per-stage times for this capture (layout, detection, classification, ...)."""
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The captured BGR picture (masked where the overlay was); kept for the gallery camera only."""
    result: Result | None = field(default=None, repr=False, compare=False)
    """The engine's own value for this capture: what the session log records."""

    @property
    def dominant(self) -> int:
        """The class mix's most frequent emotion, -1 when nobody is seen."""
        if np.isnan(self.distribution).any():
            return -1
        return int(np.argmax(self.distribution))


def to_update(result: Result, timestamp: float, frame: np.ndarray | None = None) -> Update:
    """Engine :class:`Result` -> :class:`Update`; rows keep the engine's stable participant ids."""
    p, s = result.participants, result.snapshot
    dominant = p.dominant
    rows = []
    for i in range(len(p)):
        k = int(dominant[i])
        conf = float(p.probs[i, k]) if k >= 0 else math.nan
        state = int(p.state[i])
        # A face seen earlier keeps smoothed probabilities; the row shows the state while it is absent.
        emotion = k if state == FACE else -1
        face = None if np.isnan(p.face_xyxy[i]).any() else tuple(float(v) for v in p.face_xyxy[i])
        rows.append(
            Row(
                pid=int(p.id[i]),
                label=f"#{int(p.id[i])}",
                state=state,
                emotion=emotion,
                confidence=conf if emotion >= 0 else math.nan,
                engagement=float(p.engagement[i]),
                xyxy=tuple(int(v) for v in p.xyxy[i]),
                face_xyxy=face,
                probs=tuple(float(v) for v in p.probs[i]),
                presence=float(p.presence[i]),
            )
        )
    return Update(
        timestamp=timestamp,
        rows=tuple(rows),
        distribution=np.asarray(s.distribution, np.float32),
        engagement=float(s.engagement),
        participants=int(s.participants),
        with_face=int(s.with_face),
        no_face=int(s.no_face),
        camera_off=int(s.camera_off),
        timings_ms=dict(result.timings_ms),
        frame=frame,
        result=result,
    )


class Analyzer:
    """Per-frame analysis in the capture thread: the engine's :class:`~fer_overlay.session.Session`
    without a source (the app captures frames itself, so it can mask the overlay out of them)."""

    def __init__(self, model_path: str | None = None, threads: int = 1, annotate: bool = False) -> None:
        self._session = Session(model_path=model_path or None, threads=threads)
        self._index = 0
        self.annotate = annotate
        self._annotator = None

    @property
    def note(self) -> str:
        """Why the model could not be verified against its metrics JSON ("" when it was)."""
        return self._session.pipeline.classifier.note

    def process(self, image: np.ndarray, timestamp: float) -> Result:
        """BGR uint8 (H, W, 3) -> the engine's :class:`Result` for this frame (tracked and smoothed)."""
        self._index += 1
        return self._session.process(Frame(image, timestamp, self._index, "screen"))

    def annotated(self, result: Result) -> np.ndarray:
        """The engine's annotated gallery picture (for the virtual camera's gallery mode), BGR."""
        if self._annotator is None:
            self._annotator = Annotator()
        return self._annotator.annotate(result.frame.image.copy(), result)
