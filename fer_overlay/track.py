"""Identity and smoothing: who each tile (or face) is across frames, and smoothed probabilities.

This module is the one place where identity is decided. :meth:`Tracker.identify` gives every unit of
a frame (a gallery tile, or a face when there is no gallery) a participant id; the pipeline keys its
per-participant memory (the last classified crop) by that id, and :meth:`Tracker.update` smooths.

A participant keeps its id when the meeting window moves or is resized and when the gallery reflows
(someone joins or leaves and the others re-sort), because a unit is matched to a remembered
participant by, in this order of strength:

1. **the name label** read on the tile (:mod:`fer_overlay.names`): equal names match wherever the
   tiles are, different names never match;
2. **appearance**: a 12x8 colour thumbnail of the tile (webcam background, camera-off card) and a
   12x12 grey thumbnail of the face, compared by correlation, so both survive a rescale;
3. **position relative to the gallery**: tile boxes are expressed in the gallery's own coordinates
   (:func:`gallery_coords`: the union of the tiles is the unit square), so a moved or resized window
   changes nothing. The face detector remembers its searches per tile in the same coordinates
   (:func:`same_tiles`).

A unit that matches nobody by these (its picture changed) is the participant left unmatched in its
place while its label is not read yet, or the unnamed one there when its label read matches no name
(:meth:`Tracker._in_place`); without names it is a new participant.

New participants are numbered in reading order (top to bottom, left to right) on first sight. A
participant that vanishes is remembered for ``forget_s`` seconds (60), one with a name for the whole
session, so that a glitch, a hidden meeting window or leaving and rejoining does not renumber it.

OCR is the costly part (tens of ms a tile), so a tile's label is read only when the tile is new or
its label band changed since the last read; ``name_budget_ms`` caps the reading time per frame for a
live source (labels not read yet are read on the next frames).

Smoothing is an exponential moving average in *time*, not in frames, so it behaves the same at 2 Hz
and at 30 fps: after a gap of ``dt`` seconds the new value gets weight ``1 - exp(-dt / tau)``. With
the default ``tau = 2 s`` a change of expression shows half-way after 1.4 s and 95% after 6 s, which
damps detector flicker while following a class over a lecture. Probabilities are smoothed only over
frames where the face is seen; "no face" and "camera off" are states of their own and never pull the
probabilities towards any emotion. The presence share (frames with a frontal face) is smoothed with
the same constant.

    >>> tracker = Tracker()
    >>> who = tracker.identify(image, tiles, faces, timestamp=0.5)        # doctest: +SKIP
    >>> people = tracker.update(who, probs, timestamp=0.5)                # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from fer_overlay.aggregate import engagement
from fer_overlay.frames import CAMERA_OFF, FACE, N_CLASSES, NO_FACE, Faces, Participants, Tiles
from fer_overlay.names import NameReader, Region, band_signature, same_band, thumbnail

TAU_S = 2.0
"""Time constant of the smoothing, seconds."""
SAME_PLACE = 0.5
"""Two boxes are in the same place when their centres (gallery coordinates) are less than half a tile
apart."""
LOOKS_SAME, LOOKS_ALIKE = 0.9, 0.5
"""Appearance correlation above which a unit is the remembered participant wherever it moved (a
reflow), and above which it is when it is also in the same place."""
REREAD_S = 5.0
"""A label whose band changed while its tile still looks the same is read again at most this often."""
SAME_NAME = 0.8
"""Two label readings are one name when their similarity ratio reaches this (one OCR slip in five)."""
LOOK_SIZE, FACE_SIZE = (12, 8), 12


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


SAME_TILE = 0.9
"""A tile is the one of the last frame whose box in gallery coordinates overlaps it by this IoU."""


def gallery_coords(boxes: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """xyxy ``boxes`` (N, 4) in gallery coordinates, where the union of ``tiles`` (T, 4) is the unit
    square: the one frame in which every stage that remembers a tile between frames (this tracker's
    participants, the face detector's searches) finds it again. Moving or resizing the meeting window
    changes a tile's pixels, not these coordinates; a reflow of the gallery changes them, and then the
    tracker still knows its participants by name and look."""
    tiles = np.asarray(tiles, np.float64).reshape(-1, 4)
    x0, y0 = tiles[:, 0].min(), tiles[:, 1].min()
    w, h = max(1.0, tiles[:, 2].max() - x0), max(1.0, tiles[:, 3].max() - y0)
    return (np.asarray(boxes, np.float64).reshape(-1, 4) - [x0, y0, x0, y0]) / [w, h, w, h]


def same_tiles(rel: np.ndarray, before: np.ndarray) -> np.ndarray:
    """For each tile (gallery coordinates, (N, 4)) the index of the last frame's tile (``before``, (M, 4))
    that it is, -1 for none: the best overlap, at least ``SAME_TILE``."""
    if len(rel) == 0 or len(before) == 0:
        return np.full(len(rel), -1, np.int64)
    overlap = iou(rel, before)
    best = overlap.argmax(axis=1)
    return np.where(overlap[np.arange(len(rel)), best] >= SAME_TILE, best, -1)


def _descriptor(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """Zero-mean, unit-norm thumbnail of a picture (None when it is empty or flat)."""
    if pixels.size == 0 or min(pixels.shape[:2]) < 2:
        return None
    v = thumbnail(pixels, size).astype(np.float32).ravel()
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-3 * len(v) else None


def same_name(a: str, b: str) -> bool:
    """Whether two label readings name the same person (tolerates one OCR slip in five characters)."""
    if a == b:
        return True
    if 2 * min(len(a), len(b)) < SAME_NAME * (len(a) + len(b)):  # the ratio cannot reach SAME_NAME
        return False
    return SequenceMatcher(None, a.casefold(), b.casefold()).ratio() >= SAME_NAME


def _look_matrix(units: list[np.ndarray | None], tracks: list[np.ndarray | None], dim: int) -> np.ndarray:
    """Correlation of every unit's thumbnail with every track's (n, m), NaN where either has none."""

    def stack(vs: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
        ok = np.array([v is not None for v in vs], bool)
        out = np.zeros((len(vs), dim), np.float32)
        if ok.any():
            out[ok] = np.stack([v for v in vs if v is not None])
        return out, ok

    (u, uok), (t, tok) = stack(units), stack(tracks)
    sim = np.einsum("id,jd->ij", u, t)  # not BLAS: its threads cost milliseconds on such small matrices
    sim[~(uok[:, None] & tok[None, :])] = np.nan
    return sim.astype(np.float64)


def _place_matrix(rel: np.ndarray, track_rel: np.ndarray) -> np.ndarray:
    """Distance between unit and track centres in gallery coordinates, in tile sizes (n, m)."""
    cu, ct = (rel[:, :2] + rel[:, 2:]) / 2, (track_rel[:, :2] + track_rel[:, 2:]) / 2
    su = np.maximum(rel[:, 2] - rel[:, 0], rel[:, 3] - rel[:, 1])
    st = np.maximum(track_rel[:, 2] - track_rel[:, 0], track_rel[:, 3] - track_rel[:, 1])
    size = np.maximum(np.maximum(su[:, None], st[None, :]), 1e-6)
    return np.linalg.norm(cu[:, None, :] - ct[None, :, :], axis=2) / size


def _greedy(score: np.ndarray) -> list[int]:
    """One-to-one matching, surest pairs first: the track of each unit, -1 where none is finite."""
    match = [-1] * score.shape[0]
    ii, jj = np.nonzero(np.isfinite(score))
    used: set[int] = set()
    for k in np.argsort(-score[ii, jj], kind="stable"):
        i, j = int(ii[k]), int(jj[k])
        if match[i] < 0 and j not in used:
            match[i] = j
            used.add(j)
    return match


def reading_order(boxes: np.ndarray) -> np.ndarray:
    """Indices of xyxy boxes top-to-bottom, then left-to-right within a row (a row: centres less than
    half a median box height apart)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    half = 0.5 * float(np.median(boxes[:, 3] - boxes[:, 1]))
    by_y = np.argsort(cy, kind="stable")
    row = np.zeros(len(boxes), np.int64)
    for prev, cur in zip(by_y[:-1], by_y[1:], strict=True):
        row[cur] = row[prev] + (cy[cur] - cy[prev] > half)
    return np.lexsort((cx, row))


@dataclass
class _Track:
    id: int
    rel: np.ndarray
    look: np.ndarray | None
    face: np.ndarray | None
    band: np.ndarray | None
    name: str
    probs: np.ndarray
    presence: float
    last_seen: float
    fresh: bool = True
    """Not smoothed yet: its first frame takes the raw values."""
    read_at: float = -math.inf
    """When its label was last OCR'd."""
    label: Region | None = None
    """Where its label was found in the tile (None: not found, the bands are watched)."""


@dataclass(frozen=True)
class Identities:
    """This frame's units and who they are: what :meth:`Tracker.identify` hands to the classifier's
    memory and to :meth:`Tracker.update`.

    ``xyxy`` int32 (P, 4) the tile (or the face without tiles); ``state`` int8 (P,); ``face`` int (P,)
    the index of the unit's face in the frame's :class:`Faces` or -1; ``id`` int32 (P,); ``name``
    object (P,) the label read ("" where none). ``face_id`` int32 (N,) the participant id of each face
    (-1 for a face outside every kept unit)."""

    xyxy: np.ndarray
    state: np.ndarray
    face: np.ndarray
    id: np.ndarray
    name: np.ndarray
    face_id: np.ndarray
    face_xyxy: np.ndarray


class Tracker:
    """Stage: (frame, Tiles, Faces) -> :class:`Identities` -> (with probabilities) Participants.

    ``names`` reads tile labels (None: no names are read, e.g. "class-wide figures only");
    ``name_budget_ms`` bounds the OCR time per frame (one label is read in any case; the default reads
    every label that needs it)."""

    def __init__(
        self,
        tau: float = TAU_S,
        forget_s: float = 60.0,
        names: NameReader | None = None,
        name_budget_ms: float = math.inf,
    ) -> None:
        self.tau, self.forget_s = tau, forget_s
        self.names, self.name_budget_ms = names, name_budget_ms
        self._tracks: list[_Track] = []
        self._next_id = 1
        self.reads = 0
        """Labels OCR'd in the last frame."""

    def reset(self) -> None:
        self._tracks, self._next_id = [], 1

    def forget_names(self) -> None:
        """Drop every name read so far and read no more (switching to class-wide figures only)."""
        self.names = None
        for track in self._tracks:
            track.name, track.band, track.label = "", None, None

    @staticmethod
    def _units(tiles: Tiles, faces: Faces) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes, states and face index of this frame's participants."""
        if len(tiles) == 0:  # every face is a participant
            n = len(faces)
            return faces.xyxy.astype(np.int32).reshape(-1, 4), np.full(n, FACE, np.int8), np.arange(n)
        face_of = {int(t): i for i, t in enumerate(faces.tile_id) if t >= 0}
        keep = [t for t in range(len(tiles)) if not tiles.main[t] or t in face_of]  # a share is nobody
        loose = np.where(faces.tile_id < 0)[0]  # faces outside every tile, second people: each one a unit
        state = np.array(
            [CAMERA_OFF if tiles.camera_off[t] else FACE if t in face_of else NO_FACE for t in keep]
            + [FACE] * len(loose),
            np.int8,
        )
        face = np.array([face_of.get(t, -1) for t in keep] + loose.tolist(), np.int64)
        boxes = np.concatenate(
            [tiles.xyxy[keep].reshape(-1, 4), faces.xyxy[loose].astype(np.int32).reshape(-1, 4)]
        )
        return boxes.astype(tiles.xyxy.dtype), state, face

    @staticmethod
    def _in_place(
        match: list[int], read: set[int], names: list[str], tracks: list[_Track], place: np.ndarray
    ) -> set[int]:
        """Give a unit that matched nobody the participant left unmatched in its place, if any
        (``match`` updated in place); return the units so placed whose label was not read.

        A picture changes past the look thresholds when the person moves or turns or switches camera,
        and then only the label tells who it is. A unit whose label was read and matched no name is
        the unnamed participant in its place (one seen before its label was read: a live session's
        first frame reads none); one whose label was not read this frame (the time budget) is taken
        for the participant in its place until it is, on the next frames. Without this each would
        become a new participant id for someone already numbered."""
        taken, unread = set(match), set()
        for i in range(len(match)):
            if match[i] >= 0 or (i in read and not names[i]):
                continue
            free = [
                j
                for j in range(len(tracks))
                if j not in taken and place[i, j] < SAME_PLACE and (i not in read or not tracks[j].name)
            ]
            if free:
                match[i] = min(free, key=lambda j: place[i, j])
                taken.add(match[i])
                if i not in read:
                    unread.add(i)
        return unread

    def identify(self, image: np.ndarray, tiles: Tiles, faces: Faces, timestamp: float) -> Identities:
        """Give every unit of this frame a participant id (see the module docstring for how)."""
        boxes, state, face = self._units(tiles, faces)
        n = len(boxes)
        h, w = image.shape[:2]
        rel = gallery_coords(boxes, tiles.xyxy if len(tiles) else np.array([[0, 0, w, h]]))
        looks, face_looks = [], []
        for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            # Without tiles a unit is a face: only its face thumbnail describes it, so that a face seen
            # in a tile before (the layout found no gallery in this frame) is still recognised.
            looks.append(_descriptor(image[y0:y1, x0:x1], LOOK_SIZE) if len(tiles) else None)
            crop = faces.crops[face[i]] if face[i] >= 0 else np.zeros((0, 0), np.uint8)
            face_looks.append(_descriptor(crop, (FACE_SIZE, FACE_SIZE)))
        reading = self.names is not None and len(tiles) > 0
        tracks = [
            t for t in self._tracks if t.name or timestamp - t.last_seen <= self.forget_s
        ]  # named participants are kept for the session

        sim = _look_matrix(looks, [t.look for t in tracks], LOOK_SIZE[0] * LOOK_SIZE[1] * 3)
        face_sim = _look_matrix(face_looks, [t.face for t in tracks], FACE_SIZE * FACE_SIZE)
        sim = np.where(np.isnan(sim), face_sim, np.where(np.isnan(face_sim), sim, (sim + face_sim) / 2))
        place = _place_matrix(rel, np.array([t.rel for t in tracks]).reshape(-1, 4))
        # How sure unit i is track j (higher is surer), -inf when it is not: by looks and place.
        with np.errstate(invalid="ignore"):
            alike = (sim >= LOOKS_SAME) | ((sim >= LOOKS_ALIKE) & (place < SAME_PLACE))
        geo = np.where(
            np.isnan(sim),
            np.where(place < SAME_PLACE, 1.0 - place, -np.inf),
            np.where(alike, sim - place, -np.inf),
        )
        tentative = _greedy(geo)

        # Labels: a unit whose tentative participant's label band is unchanged keeps that name, and so
        # does one that looks the same as it and was read less than REREAD_S ago (someone moving
        # behind a translucent label); the others (new tiles, changed labels) are read, new ones
        # first, within the time budget.
        names = [""] * n
        where: list[Region | None] = [None] * n  # where each label read this frame is in its tile
        todo = []
        for i in range(n):
            j = tentative[i]
            if not reading:
                continue
            # Compared where the participant's label was found (the bands when none was).
            here = band_signature(image, boxes[i], tracks[j].label) if j >= 0 else None
            if j >= 0 and (
                same_band(tracks[j].band, here)  # type: ignore[arg-type]
                or (timestamp - tracks[j].read_at < REREAD_S and sim[i, j] >= LOOKS_SAME)
            ):
                names[i] = tracks[j].name
            else:
                todo.append(i)
        todo.sort(key=lambda i: tentative[i] >= 0)
        read, self.reads, t0 = set(), 0, time.perf_counter()
        if math.isfinite(self.name_budget_ms) and not self._tracks:
            todo = []  # a live session's first frame, the one its user waits for: labels from the next
        for i in todo:
            if self.reads and 1000 * (time.perf_counter() - t0) > self.name_budget_ms:
                break
            names[i], where[i] = self.names.read_label(image, boxes[i])  # type: ignore[union-attr]
            read.add(i)
            self.reads += 1
        match = tentative
        if read:  # names decide: equal names match wherever they are, different names never do
            named = np.array([bool(t.name) for t in tracks], bool)
            known = np.array([t.name for t in tracks], object)
            score = geo.copy()
            for i in range(n):
                if not names[i]:
                    continue
                if i in read:
                    same = np.array([bool(t.name) and same_name(names[i], t.name) for t in tracks], bool)
                else:  # inherited from its tentative participant, so spelled exactly alike
                    same = known == names[i]
                score[i, named] = -np.inf
                score[i, same] = 3.0 + np.nan_to_num(sim[i, same])
            match = _greedy(score)
        unread = self._in_place(match, read, names, tracks, place) if reading else set()
        # A unit whose label gave it another, named participant than the unnamed one it was taken for
        # leaves that one behind: the same person, seen before the name was read (a live session's
        # first frame reads none). Kept, it would stay in the same place, be taken for the unit again
        # on the next frame and, having no name, have the label read again on every frame.
        stale = {
            tentative[i]
            for i in read
            if tentative[i] >= 0 and match[i] != tentative[i] and not tracks[tentative[i]].name
        } - set(match)

        ids = np.zeros(n, np.int32)
        new = [i for i in range(n) if match[i] < 0]
        for i in new:
            nan = np.full(N_CLASSES, np.nan, np.float32)
            tracks.append(_Track(0, rel[i], looks[i], face_looks[i], None, "", nan, 0.0, timestamp))
            match[i] = len(tracks) - 1
        for k in reading_order(boxes[new]) if new else []:  # number newcomers in reading order
            tracks[match[new[k]]].id = self._next_id
            self._next_id += 1
        for i in range(n):
            t = tracks[match[i]]
            t.read_at = -math.inf if i in unread else t.read_at  # its label is read on the next frames
            t.rel = rel[i]
            t.look = looks[i] if looks[i] is not None else t.look
            t.face = face_looks[i] if face_looks[i] is not None else t.face
            if i in read:  # the label as last read: a later change is measured against it
                t.label = where[i]
                t.band, t.read_at = band_signature(image, boxes[i], t.label), timestamp
                t.name = names[i] or t.name  # no label found this time: keep the one read before
            ids[i] = t.id
            names[i] = t.name
        self._tracks = [t for k, t in enumerate(tracks) if k not in stale]
        face_id = np.full(len(faces), -1, np.int32)
        face_xyxy = np.full((n, 4), np.nan, np.float32)
        for i in range(n):
            if face[i] >= 0:
                face_id[face[i]] = ids[i]
                face_xyxy[i] = faces.xyxy[face[i]]
        return Identities(
            boxes.astype(np.int32), state, face, ids, np.array(names, dtype=object), face_id, face_xyxy
        )

    def update(self, who: Identities, probs: np.ndarray, timestamp: float) -> Participants:
        """Smooth this frame's probabilities (``probs`` (N, 7), one row per face) per participant."""
        n = len(who.id)
        by_id = {t.id: t for t in self._tracks}
        out = np.full((n, N_CLASSES), np.nan, np.float32)
        presence = np.zeros(n, np.float32)
        for i in range(n):
            track = by_id[int(who.id[i])]
            seen = who.state[i] == FACE
            raw = probs[who.face[i]] if who.face[i] >= 0 else None
            alpha = 1.0 if track.fresh else 1.0 - np.exp(-max(0.0, timestamp - track.last_seen) / self.tau)
            if seen and raw is not None:
                track.probs = (
                    raw.astype(np.float32).copy()
                    if np.isnan(track.probs).any()
                    else (track.probs + alpha * (raw - track.probs)).astype(np.float32)
                )
            track.presence += alpha * ((1.0 if seen else 0.0) - track.presence)
            track.last_seen, track.fresh = timestamp, False
            out[i], presence[i] = track.probs, track.presence
        return Participants(
            id=who.id.astype(np.int32),
            xyxy=who.xyxy.astype(np.int32),
            face_xyxy=who.face_xyxy.astype(np.float32),
            state=who.state,
            probs=out,
            presence=presence,
            engagement=engagement(presence, out, who.state),
            name=who.name,
        )
