"""Tracking and smoothing: stable participant ids across frames, and smoothed probabilities.

A participant is a gallery tile when the layout found one (matched frame to frame by tile position),
otherwise a face (matched by face position). Matching is greedy on intersection-over-union, so ids
survive small layout shifts; a participant that vanishes is remembered for ``forget_s`` seconds (60)
so that neither a glitch nor a GUI pause while the meeting window is hidden renumbers it.

Smoothing is an exponential moving average in *time*, not in frames, so it behaves the same at 2 Hz
and at 30 fps: after a gap of ``dt`` seconds the new value gets weight ``1 - exp(-dt / tau)``. With
the default ``tau = 2 s`` a change of expression shows half-way after 1.4 s and 95% after 6 s, which
damps detector flicker while following a class over a lecture. Probabilities are smoothed only over
frames where the face is seen; "no face" and "camera off" are states of their own and never pull the
probabilities towards any emotion. The presence share (frames with a frontal face) is smoothed with
the same constant.

    >>> tracker = Tracker()
    >>> people = tracker.update(tiles, faces, timestamp=0.5)   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_overlay.aggregate import engagement
from fer_overlay.frames import CAMERA_OFF, FACE, N_CLASSES, NO_FACE, Faces, Participants, Tiles

TAU_S = 2.0
"""Time constant of the smoothing, seconds."""


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (A, 4) x (B, 4) -> (A, B)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class _Track:
    id: int
    box: np.ndarray
    probs: np.ndarray
    presence: float
    last_seen: float


class Tracker:
    """Stage: (Tiles, Faces with probabilities, timestamp) -> Participants. Keeps state between frames."""

    def __init__(self, tau: float = TAU_S, min_iou: float = 0.3, forget_s: float = 60.0) -> None:
        self.tau, self.min_iou, self.forget_s = tau, min_iou, forget_s
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self._tracks, self._next_id = [], 1

    def _units(self, tiles: Tiles, faces: Faces) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Boxes, states, face boxes and raw probabilities of this frame's participants."""
        if len(tiles) == 0:  # every face is a participant
            n = len(faces)
            return faces.xyxy.astype(np.int32), np.full(n, FACE, np.int8), faces.xyxy, faces.probs
        face_of = {int(t): i for i, t in enumerate(faces.tile_id) if t >= 0}
        keep = [t for t in range(len(tiles)) if not tiles.main[t] or t in face_of]  # a share is nobody
        loose = np.where(faces.tile_id < 0)[0]  # faces outside every tile: each one a participant
        boxes = tiles.xyxy[keep]
        state = np.array(
            [CAMERA_OFF if tiles.camera_off[t] else FACE if t in face_of else NO_FACE for t in keep], np.int8
        )
        face_xyxy = np.full((len(keep), 4), np.nan, np.float32)
        probs = np.full((len(keep), N_CLASSES), np.nan, np.float32)
        for j, t in enumerate(keep):
            if t in face_of:
                face_xyxy[j] = faces.xyxy[face_of[t]]
                probs[j] = faces.probs[face_of[t]]
        if len(loose):
            boxes = np.concatenate([boxes, faces.xyxy[loose].astype(np.int32)])
            state = np.concatenate([state, np.full(len(loose), FACE, np.int8)])
            face_xyxy = np.concatenate([face_xyxy, faces.xyxy[loose]])
            probs = np.concatenate([probs, faces.probs[loose]])
        return boxes, state, face_xyxy, probs

    def update(self, tiles: Tiles, faces: Faces, timestamp: float) -> Participants:
        boxes, state, face_xyxy, raw = self._units(tiles, faces)
        n = len(boxes)
        tracks = [t for t in self._tracks if timestamp - t.last_seen <= self.forget_s]
        assigned: list[_Track | None] = [None] * n
        if n and tracks:
            overlap = iou(boxes, np.array([t.box for t in tracks]))
            for flat in np.argsort(-overlap, axis=None):
                i, j = divmod(int(flat), len(tracks))
                if overlap[i, j] < self.min_iou:
                    break
                if (
                    assigned[i] is None
                    and tracks[j] is not None
                    and all(a is not tracks[j] for a in assigned)
                ):
                    assigned[i] = tracks[j]
        ids = np.zeros(n, np.int32)
        probs = np.full((n, N_CLASSES), np.nan, np.float32)
        presence = np.zeros(n, np.float32)
        for i in range(n):
            track = assigned[i]
            seen = state[i] == FACE
            if track is None:
                track = _Track(self._next_id, boxes[i], raw[i].copy(), 1.0 if seen else 0.0, timestamp)
                self._next_id += 1
                tracks.append(track)
            else:
                alpha = 1.0 - np.exp(-max(0.0, timestamp - track.last_seen) / self.tau)
                if seen:
                    track.probs = (
                        raw[i].copy()
                        if np.isnan(track.probs).any()
                        else (track.probs + alpha * (raw[i] - track.probs))
                    )
                track.presence += alpha * ((1.0 if seen else 0.0) - track.presence)
                track.box, track.last_seen = boxes[i], timestamp
            ids[i], probs[i], presence[i] = track.id, track.probs, track.presence
        self._tracks = tracks
        return Participants(
            id=ids,
            xyxy=boxes.astype(np.int32),
            face_xyxy=face_xyxy.astype(np.float32),
            state=state,
            probs=probs,
            presence=presence,
            engagement=engagement(presence, probs, state),
        )
