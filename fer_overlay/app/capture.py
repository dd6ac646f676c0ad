"""Capture and analysis off the GUI thread: a QObject living in its own QThread.

Each tick it reads the target's geometry (a followed window or a drawn region), grabs that rectangle
with mss, paints over whatever part of it the overlay covers (so the app never analyses itself), runs
the engine and emits an :class:`~fer_overlay.app.engine.Update`. Ticks are scheduled one after the
other (never queued up), so a slow analysis lowers the rate instead of piling work on a busy CPU. A
window that disappears or a region off every monitor emits ``paused`` with a message and the worker
keeps polling, resuming by itself when the window is back; nothing raises into the GUI.

A faster geometry poll (5 Hz) runs beside it so the overlay follows the window smoothly.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from fer_overlay.app import windows
from fer_overlay.app.windows import Rect
from fer_overlay.sources import open_mss

GEOMETRY_POLL_MS = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """What to analyse: a foreign window followed by id, or a fixed screen region."""

    kind: str
    wid: int = 0
    title: str = ""
    region: Rect | None = None

    def describe(self) -> str:
        if self.kind == "window":
            return f"window “{self.title}”"
        r = self.region
        return f"region {r.width}x{r.height} at ({r.x}, {r.y})" if r else "no region"


def mask_rects(image: np.ndarray, origin: Rect, covers: list[Rect]) -> int:
    """Paint ``covers`` (screen rects) out of ``image`` (captured at ``origin``), in place.

    The fill is the colour of the image's left edge (the gallery background in both apps), so the
    layout detection sees gutter where the overlay was instead of a bright extra "tile". Returns the
    number of pixels masked.
    """
    masked = 0
    if not covers:
        return 0
    fill = np.median(image[:, :4].reshape(-1, 3), axis=0).astype(np.uint8)
    for c in covers:
        part = origin.intersected(c)
        if part is None:
            continue
        x0, y0 = part.x - origin.x, part.y - origin.y
        image[y0 : y0 + part.height, x0 : x0 + part.width] = fill
        masked += part.width * part.height
    return masked


class CaptureWorker(QObject):
    """Runs in a QThread; talk to it only through its slots (queued) and ``set_exclusions``."""

    updated = Signal(object)
    """An :class:`~fer_overlay.app.engine.Update`."""
    paused = Signal(str)
    resumed = Signal()
    failed = Signal(str)
    """The analysis could not start (model missing, no mss...): the session stops."""
    target_moved = Signal(object)
    """The target's new :class:`Rect` (window moved or resized)."""
    ready = Signal()
    """The model is loaded and the first capture is scheduled."""
    notice = Signal(str, str)
    """(kind, text): a hint that does not stop the session (kind "model": not verified; "gallery": tiles
    too small); an empty text withdraws the hint of that kind."""

    def __init__(
        self,
        target: Target,
        rate_hz: float,
        model_path: str = "",
        keep_frames: bool = False,
        threads: int = 1,
        names: bool = True,
    ):
        super().__init__()
        self.target = target
        self.period_ms = max(30, int(1000 / max(rate_hz, 0.1)))
        self.model_path = model_path
        self.keep_frames = keep_frames
        self.threads = threads
        self.names = names  # read name labels (off with "class-wide figures only")
        self._lock = threading.Lock()
        self._exclusions: list[Rect] = []
        self._timer: QTimer | None = None
        self._geo_timer: QTimer | None = None
        self._analyzer = None
        self._sct = None
        self._t0 = 0.0
        self._paused_msg = ""
        self._hint = ""
        self._last_rect: Rect | None = None
        self.frames = 0
        self.last_ms = 0.0
        self.last_capture: np.ndarray | None = None

    # ---- called from the GUI thread --------------------------------------------------------
    def set_exclusions(self, rects: list[Rect]) -> None:
        """Screen rects never to analyse (the overlay); thread-safe."""
        with self._lock:
            self._exclusions = list(rects)

    def set_keep_frames(self, keep: bool) -> None:
        self.keep_frames = keep

    def set_names(self, on: bool) -> None:
        """Read name labels or not (off forgets those read); applied at the next capture."""
        self.names = on
        if self._analyzer is not None:
            self._analyzer.names = on

    # ---- slots, run in the worker thread ---------------------------------------------------
    @Slot()
    def start(self) -> None:
        try:
            from fer_overlay.app.engine import Analyzer

            self._sct = open_mss()
            self._analyzer = Analyzer(self.model_path or None, threads=self.threads, names=self.names)
        except Exception as exc:  # noqa: BLE001 - report any start failure in the UI, never crash
            self.failed.emit(f"analysis could not start: {exc}")
            return
        self.ready.emit()
        if self._analyzer.note:
            self.notice.emit("model", f"Model not verified: {self._analyzer.note}.")
        self._t0 = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._timer.start(0)
        self._geo_timer = QTimer(self)
        self._geo_timer.timeout.connect(self._poll_geometry)
        self._geo_timer.start(GEOMETRY_POLL_MS)

    @Slot()
    def stop(self) -> None:
        for t in (self._timer, self._geo_timer):
            if t is not None:
                t.stop()
        if self._sct is not None:
            self._sct.close()
            self._sct = None

    # ---- internals ------------------------------------------------------------------------
    def _current_rect(self) -> tuple[Rect | None, str]:
        """The capture rectangle clipped to the screens, or None and why."""
        assert self._sct is not None
        if self.target.kind == "window":
            try:
                rect = windows.window_rect(self.target.wid)
            except windows.WindowSystemError as exc:
                return None, str(exc)
            if rect is None:
                return None, f"The meeting window “{self.target.title}” is closed or hidden. Session paused."
        else:
            rect = self.target.region
            if rect is None:
                return None, "No region chosen."
        screen = self._sct.monitors[0]
        virtual = Rect(screen["left"], screen["top"], screen["width"], screen["height"])
        visible = rect.intersected(virtual)
        if visible is None or visible.width < 32 or visible.height < 32:
            return None, "The captured area is off every monitor (monitor lost?). Session paused."
        return visible, ""

    @Slot()
    def _poll_geometry(self) -> None:
        if self.target.kind != "window" or self._sct is None:
            return
        try:
            rect = windows.window_rect(self.target.wid)
        except windows.WindowSystemError:
            return  # the capture tick reports it
        if rect is not None and rect != self._last_rect:
            self._last_rect = rect
            self.target_moved.emit(rect)

    @Slot()
    def _tick(self) -> None:
        if self._sct is None:
            return
        started = time.monotonic()
        try:
            self._analyse_once()
        except Exception as exc:  # noqa: BLE001 - a bad frame must not end the session
            log.exception("capture or analysis failed")
            self._set_paused(f"Capture or analysis failed ({type(exc).__name__}: {exc}); retrying.")
            # A fresh grabber re-reads the monitor layout (mss caches it): a monitor may have gone.
            try:
                self._sct.close()
                self._sct = open_mss()
            except Exception:  # noqa: BLE001
                log.exception("could not reopen the screen grabber")
        self.last_ms = (time.monotonic() - started) * 1000
        if self._timer is not None and self._sct is not None:
            self._timer.start(max(0, int(self.period_ms - self.last_ms)))

    def _analyse_once(self) -> None:
        rect, why = self._current_rect()
        if rect is None:
            self._set_paused(why)
            return
        shot = self._sct.grab(rect.as_mss())
        image = np.ascontiguousarray(
            np.frombuffer(shot.bgra, np.uint8).reshape(shot.height, shot.width, 4)[..., :3]
        )
        with self._lock:
            covers = list(self._exclusions)
        mask_rects(image, rect, covers)
        self.last_capture = image  # what was analysed (memory only; shown nowhere, never written)
        from fer_overlay.app.engine import to_update
        from fer_overlay.session import gallery_note

        ts = time.monotonic() - self._t0
        result = self._analyzer.process(image, ts)
        if self._paused_msg:
            self._paused_msg = ""
            self.resumed.emit()
        hint = gallery_note(result)
        if hint != self._hint:  # said once when it appears, and withdrawn when it is gone
            self._hint = hint
            self.notice.emit("gallery", hint[0].upper() + hint[1:] + "." if hint else "")
        self.frames += 1
        frame = self._analyzer.annotated(result) if self.keep_frames else None
        self.updated.emit(to_update(result, ts, frame))

    def _set_paused(self, message: str) -> None:
        if message != self._paused_msg:
            self._paused_msg = message
            self.paused.emit(message)
