"""The app's thin adapter over the analysis engine: the shared pipeline, and the overlay's view of a
:class:`~fer_overlay.frames.Result`.

The app's sinks (the overlay's dashboard, the session log, the virtual camera) each take the engine's
Result (``append(result)``, as the engine's sinks do). The dashboard paints a small, GUI-friendly value
(rows of labels, emotions and confidences plus the class figures), :class:`Update`, made here. The
analysis is the engine's ``Session`` (layout, faces, classifier, tracking with smoothing, aggregation),
iterated by the capture thread; nothing of it is re-implemented here. :class:`Engine` keeps the one
pipeline the app's sessions share.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from fer_overlay.frames import CAMERA_OFF, FACE, NO_FACE, STATE_NAMES, Result
from fer_overlay.labels import EMOTIONS
from fer_overlay.session import (  # in the GUI thread: main.GC_PERIOD_MS
    LIVE_NAME_BUDGET_MS,
    LIVE_SEARCH_BUDGET_MS,
    Pipeline,
)

__all__ = ["Engine", "Row", "Update", "to_update", "CAMERA_OFF", "FACE", "NO_FACE", "STATE_NAMES"]


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

    @property
    def dominant(self) -> int:
        """The class mix's most frequent emotion, -1 when nobody is seen."""
        if np.isnan(self.distribution).any():
            return -1
        return int(np.argmax(self.distribution))


def to_update(result: Result) -> Update:
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
                label=p.label(i),
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
        timestamp=result.frame.timestamp,
        rows=tuple(rows),
        distribution=np.asarray(s.distribution, np.float32),
        engagement=float(s.engagement),
        participants=int(s.participants),
        with_face=int(s.with_face),
        no_face=int(s.no_face),
        camera_off=int(s.camera_off),
        timings_ms=dict(result.timings_ms),
    )


class Engine:
    """The app's analysis engine, loaded once for the app's lifetime: one
    :class:`~fer_overlay.session.Pipeline` (the classifier's and the detectors' ONNX sessions) that
    every session reuses, forgetting its participants at each start. Loading them anew per session
    grew the app by ~130 MB per Stop/Start. Thread-safe: the capture thread loads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipeline: Pipeline | None = None
        self._key: tuple[str, int] | None = None

    def pipeline(self, model_path: str = "", threads: int = 1, names: bool = True) -> Pipeline:
        """The pipeline for this model and thread count (reloaded only when they change), reset;
        ``names=False`` ("class-wide figures only") reads no name labels."""
        with self._lock:
            if self._pipeline is None or self._key != (model_path, threads):
                self._pipeline = None  # the old sessions go before the new ones load
                self._pipeline = Pipeline(
                    model_path or None,
                    threads=threads,
                    name_budget_ms=LIVE_NAME_BUDGET_MS,
                    search_budget_ms=LIVE_SEARCH_BUDGET_MS,
                )
                self._key = (model_path, threads)
            self._pipeline.reset()
            self._pipeline.names = names
            return self._pipeline
