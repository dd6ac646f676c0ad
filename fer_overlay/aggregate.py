"""Aggregation: per-participant engagement and the class-wide snapshot (distribution + gauge 0-100).

The engagement indicator uses only what a camera shows: whether a frontal face is seen (facing the
screen) and the expression. For participant *i*, with ``f`` the smoothed share of recent frames with a
frontal face (0..1), ``neg`` = P(Angry)+P(Disgust)+P(Fear)+P(Sad) and ``pos`` = P(Happy)+P(Surprise)
from the smoothed probabilities::

    E_i = 100 * f * (0.6 + 0.2 * (1 - neg) + 0.2 * pos)

so a participant who faces the screen with a neutral face scores 80, smiling or surprised up to 100,
sad or angry down to 60, and one who is away or turned away falls towards 0. Camera-off participants
are not observable: their value is NaN and they are counted apart. The class gauge is the mean of
E_i over participants with their camera on. It is an indicator, not a measure of learning or
attention; see ``docs/ENGAGEMENT.md`` for its limits.

    >>> engagement(np.array([1.0]), np.array([[0, 0, 0, 0, 0, 0, 1.0]]), np.array([FACE]))
    array([80.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from fer_overlay.frames import CAMERA_OFF, FACE, NO_FACE, ClassSnapshot, Participants
from fer_overlay.labels import EMOTIONS

NEGATIVE = [EMOTIONS.index(e) for e in ("Angry", "Disgust", "Fear", "Sad")]
POSITIVE = [EMOTIONS.index(e) for e in ("Happy", "Surprise")]
BASE, NEG_WEIGHT, POS_WEIGHT = 0.6, 0.2, 0.2


def engagement(presence: np.ndarray, probs: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Per-participant indicator 0..100 (float32); NaN for camera off. Probabilities may be NaN (never
    seen a face): the expression term then counts as neutral, and presence is ~0 anyway."""
    p = np.nan_to_num(np.asarray(probs, np.float64), nan=0.0)
    neg = p[:, NEGATIVE].sum(axis=1) if len(p) else np.zeros(0)
    pos = p[:, POSITIVE].sum(axis=1) if len(p) else np.zeros(0)
    unseen = np.isnan(np.asarray(probs, np.float64)).any(axis=1) if len(p) else np.zeros(0, bool)
    neg, pos = np.where(unseen, 0.0, neg), np.where(unseen, 0.0, pos)
    e = 100.0 * np.asarray(presence, np.float64) * (BASE + NEG_WEIGHT * (1 - neg) + POS_WEIGHT * pos)
    e = np.clip(e, 0, 100)
    e[np.asarray(state) == CAMERA_OFF] = np.nan
    return e.astype(np.float32)


def snapshot(participants: Participants, timestamp: float) -> ClassSnapshot:
    """Class-wide indicators of one moment from the tracked participants."""
    state = participants.state
    seen = state == FACE
    with np.errstate(all="ignore"):
        dist = (
            np.nanmean(participants.probs[seen], axis=0).astype(np.float32)
            if seen.any()
            else np.full(len(EMOTIONS), np.nan, np.float32)
        )
    observable = state != CAMERA_OFF
    gauge = float(np.nanmean(participants.engagement[observable])) if observable.any() else float("nan")
    return ClassSnapshot(
        timestamp=timestamp,
        participants=len(participants),
        with_face=int(seen.sum()),
        no_face=int((state == NO_FACE).sum()),
        camera_off=int((state == CAMERA_OFF).sum()),
        distribution=dist,
        engagement=gauge,
    )
