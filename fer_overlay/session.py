"""The engine's public face: a ``Session`` wires source -> layout -> faces -> classifier -> tracker ->
aggregate, and yields one :class:`Result` per frame.

    >>> with Session("screen:1", fps=2) as session:          # doctest: +SKIP
    ...     for result in session:
    ...         print(result.snapshot.engagement)

A GUI runs the loop in a worker thread and calls :meth:`Session.pause` / :meth:`Session.resume` from
its own thread when the meeting window disappears or the user hides the overlay; a paused session
pulls no frames, so a live source captures nothing and uses no CPU. :meth:`Session.stop` ends the
loop from any thread. :meth:`Session.process` analyses a frame the caller captured itself.

Sinks are not part of the session: they consume results (``for r in session: sink.append(r)``), so
the CLI, a script and the tray app pick the ones they need.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from fer_overlay.aggregate import snapshot
from fer_overlay.classify import Classifier
from fer_overlay.faces import LIVE_SEARCH_BUDGET_MS, FaceDetector
from fer_overlay.frames import FACE_SIZE, Faces, Frame, Result
from fer_overlay.labels import EMOTIONS
from fer_overlay.layout import (
    detect_tiles,
    faceless_groups_as_content,
    parse_layout,
    window_groups_with_faces,
)
from fer_overlay.names import NameReader
from fer_overlay.sources import DEFAULT_FPS, Source, _LiveSource, open_source
from fer_overlay.track import TAU_S, Identities, Tracker

SMALL_TILE_PX = 60
"""Gallery tiles lower than this (median, in captured pixels) hold faces of ~20-30 px, too few for the
detector and the 48x48 classifier: on synthetic galleries face recall is ~85% at 55-60 px tiles, ~30% at
43 px and under 10% at 36 px (a 10x10 gallery in a 960x540 window)."""


CROP_BLOCK, CROP_CHANGED = 8, 4.0
"""A face keeps its last probabilities while no 8x8 block of its 48x48 crop has moved by more than 4 grey
levels (block means) since it was last classified. Webcam noise averages out in a block (a grey level
or less); a changed expression moves the blocks over the mouth, eyes or brows by tens of levels."""


def same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two 48x48 crops show the same picture up to noise (see ``CROP_CHANGED``)."""
    n = a.shape[0] // CROP_BLOCK
    blocks = (a.astype(np.float32) - b.astype(np.float32)).reshape(n, CROP_BLOCK, n, CROP_BLOCK)
    return bool(np.abs(blocks.mean(axis=(1, 3))).max() <= CROP_CHANGED)


def gallery_note(result: Result) -> str:
    """A hint for the user when the picture is too small to read faces from, or when several faces
    were counted one participant each because no gallery layout was recognised (empty when all is
    well; one face without a gallery is a plain webcam, nothing to say)."""
    tiles = result.tiles
    if tiles.faces_first and len(result.faces) >= 2:
        return (
            "no gallery layout recognised in this picture: each face found counts as one participant, "
            "and participants with the camera off are not counted"
        )
    seen = ~tiles.camera_off & ~tiles.main if len(tiles) else np.zeros(0, bool)
    if not seen.any():
        return ""
    height = float(np.median(tiles.xyxy[seen, 3] - tiles.xyxy[seen, 1]))
    if height >= SMALL_TILE_PX:
        return ""
    return (
        f"the gallery's {len(tiles)} tiles are small ({height:.0f} px high): faces in tiles under "
        f"{SMALL_TILE_PX} px are often missed; enlarge the meeting window or show fewer tiles per page"
    )


LIVE_NAME_BUDGET_MS = 30.0
"""OCR time per frame for name labels on a live source (the app, a screen, a webcam): a new 5x5
gallery is named over a few seconds instead of stalling its first frame by half a second."""


class Pipeline:
    """The stateless stages plus the tracker, frame in, :class:`Result` out (no source, no threads).

    ``names=False`` reads no name labels (class-wide figures only: names are never read, so they can
    be neither shown nor exported); ``name_budget_ms`` bounds the OCR time per frame (live sources:
    ``LIVE_NAME_BUDGET_MS``; the default reads every label a frame needs, right for pictures), and
    ``search_budget_ms`` the face detection's deeper searches (live: ``LIVE_SEARCH_BUDGET_MS``; the
    default searches every tile in full at once)."""

    def __init__(
        self,
        model: str | Path | Classifier | None = None,
        *,
        layout: str | tuple[int, int] = "auto",
        detector: str | None = None,
        threads: int = 2,
        tau: float = TAU_S,
        names: bool = True,
        name_budget_ms: float = math.inf,
        search_budget_ms: float = math.inf,
    ) -> None:
        self.layout = parse_layout(layout) if isinstance(layout, str) else layout
        self.classifier = model if isinstance(model, Classifier) else Classifier(model, threads=threads)
        # Consecutive frames: known faces are re-checked cheaply instead of searched again (see faces.py).
        self.detector = FaceDetector(detector, track=True)
        self.detector.budget_ms = search_budget_ms
        self._reader = NameReader()  # one OCR for the pipeline's life, loaded only while names are read
        self.tracker = Tracker(tau=tau, names=self._reader if names else None, name_budget_ms=name_budget_ms)
        self._classified: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # participant -> (crop, probs)
        self.classified = 0
        """Faces the classifier ran on in the last frame (the others kept their probabilities)."""
        self.warm = False
        """Whether :meth:`warm_up` ran: every model loaded and run once."""

    def warm_up(self) -> None:
        """Load every model not loaded yet (the name OCR) and run each once, so that a session's first
        frame, the one its user waits for, pays only for its analysis (see docs/ARCHITECTURE.md,
        "Speed"). :class:`Session` calls it when it starts; later calls do nothing."""
        if self.warm:
            return
        self.classifier.predict(np.zeros((1, FACE_SIZE, FACE_SIZE), np.uint8))
        self.detector.warm_up()
        if self.tracker.names is not None:
            self.tracker.names.load()
        self.warm = True

    @property
    def reuse_unchanged(self) -> bool:
        """Whether a tile whose picture has not changed keeps its last face and probabilities (the
        default; ``bench`` turns it off to time frames where every picture changed)."""
        return self.detector.reuse_unchanged

    @reuse_unchanged.setter
    def reuse_unchanged(self, value: bool) -> None:
        self.detector.reuse_unchanged = value

    @property
    def names(self) -> bool:
        """Whether name labels are read. Setting it to False also forgets every name read so far."""
        return self.tracker.names is not None

    @names.setter
    def names(self, value: bool) -> None:
        if not value:
            self.tracker.forget_names()
        elif self.tracker.names is None:
            self.tracker.names = self._reader
            if self.warm:
                self._reader.load()

    def reset(self) -> None:
        """Forget all participants and faces (a new source)."""
        self.detector.reset()
        self.tracker.reset()
        self._classified = {}

    def _classify(self, faces: Faces, who: Identities) -> np.ndarray:
        """Probabilities for every face, one batched call for those whose crop changed since their
        participant's last classification (a still participant costs nothing, wherever its tile moved).
        Faces of no participant are always classified."""
        probs = np.zeros((len(faces), len(EMOTIONS)), np.float32)
        todo, keep = [], {}
        for i, (pid, crop) in enumerate(zip(who.face_id.tolist(), faces.crops, strict=True)):
            last = self._classified.get(pid) if self.reuse_unchanged and pid >= 0 else None
            if last is not None and same_face(last[0], crop):
                probs[i] = last[1]
                keep[pid] = last  # compared with the crop last classified, so slow drifts add up
            else:
                todo.append(i)
        if todo:
            probs[todo] = self.classifier.predict(faces.crops[todo])
        for i in todo:
            if who.face_id[i] >= 0:
                keep[int(who.face_id[i])] = (faces.crops[i], probs[i])
        self._classified = keep
        self.classified = len(todo)
        return probs

    def __call__(self, frame: Frame, capture_ms: float = 0.0) -> Result:
        t0 = time.perf_counter()
        tiles = detect_tiles(frame.image, self.layout)
        t1 = time.perf_counter()
        faces = self.detector(frame.image, tiles)
        if len(tiles):
            has_face = np.zeros(len(tiles), bool)
            has_face[faces.tile_id[faces.tile_id >= 0]] = True
            tiles = faceless_groups_as_content(window_groups_with_faces(tiles, has_face), has_face)
        t2 = time.perf_counter()
        who = self.tracker.identify(frame.image, tiles, faces, frame.timestamp)
        t3 = time.perf_counter()
        faces = replace(faces, probs=self._classify(faces, who))
        t4 = time.perf_counter()
        participants = self.tracker.update(who, faces.probs, frame.timestamp)
        snap = snapshot(participants, frame.timestamp)
        t5 = time.perf_counter()
        timings = {
            "capture": capture_ms,
            "layout": 1000 * (t1 - t0),
            "detection": 1000 * (t2 - t1),
            "identity": 1000 * (t3 - t2),
            "classification": 1000 * (t4 - t3),
            "tracking": 1000 * (t5 - t4),
        }
        timings["total"] = float(np.sum(list(timings.values())))
        return Result(frame, tiles, faces, participants, snap, timings)


class Session:
    """Iterate over analysed frames of ``source`` (a :class:`Source` or a spec like ``"screen:1"``).

    Without a source, the session only analyses frames handed to :meth:`process`. ``model_path`` is
    accepted as another name for ``model``. ``pipeline`` reuses loaded stages (the tray app keeps one
    for all its sessions); the other stage options are then ignored."""

    def __init__(
        self,
        source: Source | str | None = None,
        model: str | Path | Classifier | None = None,
        *,
        model_path: str | Path | None = None,
        fps: float | None = DEFAULT_FPS,
        duration: float | None = None,
        layout: str | tuple[int, int] = "auto",
        detector: str | None = None,
        threads: int = 2,
        tau: float = TAU_S,
        names: bool = True,
        name_budget_ms: float | None = None,
        search_budget_ms: float | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.source = open_source(source, fps, duration) if isinstance(source, str) else source
        live = isinstance(self.source, _LiveSource)
        if name_budget_ms is None:  # live sources name and search a gallery over a few frames; files at once
            name_budget_ms = LIVE_NAME_BUDGET_MS if live else math.inf
        if search_budget_ms is None:
            search_budget_ms = LIVE_SEARCH_BUDGET_MS if live else math.inf
        self.pipeline = pipeline or Pipeline(
            model if model is not None else model_path,
            layout=layout,
            detector=detector,
            threads=threads,
            tau=tau,
            names=names,
            name_budget_ms=name_budget_ms,
            search_budget_ms=search_budget_ms,
        )
        self._running = threading.Event()
        self._running.set()
        self._stopped = threading.Event()

    def __enter__(self) -> Session:
        """Start: open the source and load every model, before the first frame."""
        if self.source is not None:
            self.source.open()
        self.pipeline.warm_up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.source is not None:
            self.source.close()

    def process(self, frame: Frame) -> Result:
        """Analyse one frame (for callers that capture frames themselves)."""
        return self.pipeline(frame)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        self._stopped.set()
        self._running.set()  # wake a paused loop so that it can end
        if self.source is not None:
            self.source.cancel()  # a live source waiting for its next tick or a lost window

    def __iter__(self) -> Iterator[Result]:
        if self.source is None:
            raise ValueError("this session has no source: call process(frame) instead")
        frames = iter(self.source)
        while not self._stopped.is_set():
            while not self._running.wait(timeout=0.2):
                if self._stopped.is_set():
                    return
            if self._stopped.is_set():
                return
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            yield self.pipeline(frame, capture_ms=1000 * (time.perf_counter() - t0))
