"""Capture and analysis off the GUI thread: the engine's own ``Session`` iterated in a QThread.

The target (a followed window or a drawn region) is the engine's
:class:`~fer_overlay.sources.ScreenSource` with the app's two options: ``mask`` paints over whatever
part of the capture the overlay and the control window cover (so the app never analyses itself), and
``pause_on_lost`` turns a window that disappears, a region off every monitor or a failed grab into a
``paused`` message while the source keeps looking, resuming by itself. The source paces itself and never
queues, so a slow analysis lowers the rate instead of piling work on a busy CPU. Each
:class:`~fer_overlay.frames.Result` is emitted for the app's sinks; nothing raises into the GUI.
:meth:`CaptureWorker.stop` is thread-safe and ends the loop at once.

:class:`WindowFollower` (GUI thread, 5 Hz) reads the followed window's geometry so the overlay moves
with it more smoothly than the capture rate would.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from fer_overlay import windows
from fer_overlay.app.engine import Engine
from fer_overlay.session import Session, gallery_note
from fer_overlay.sources import ScreenSource
from fer_overlay.windows import Rect

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


def paused_text(target: Target, message: str) -> str:
    """The engine's one-line reason, as the control window and the overlay say it."""
    if "closed or hidden" in message and target.kind == "window":
        return f"The meeting window “{target.title}” is closed or hidden. Session paused."
    if "off every monitor" in message:
        return "The captured area is off every monitor (monitor lost?). Session paused."
    return f"{message[0].upper()}{message[1:]}; retrying."


class CaptureWorker(QObject):
    """Lives in a QThread whose ``started`` runs :meth:`start` (the loop); :meth:`stop` and
    :meth:`set_exclusions` may be called from any thread."""

    analysed = Signal(object, object)
    """The engine's :class:`~fer_overlay.frames.Result` of one capture and the screen :class:`Rect`
    it was captured at (tile boxes are relative to it)."""
    paused = Signal(str)
    resumed = Signal()
    failed = Signal(str)
    """The analysis could not start (model missing, no screen...): the session stops."""
    ready = Signal()
    """The model is loaded and capture begins."""
    notice = Signal(str, str)
    """(kind, text): a hint that does not stop the session (kind "model": not verified; "gallery": tiles
    too small); an empty text withdraws the hint of that kind."""

    def __init__(
        self,
        target: Target,
        rate_hz: float,
        engine: Engine,
        model_path: str = "",
        threads: int = 1,
        names: bool = True,
    ):
        super().__init__()
        self.target = target
        self.rate_hz = max(0.1, min(rate_hz, 30.0))
        self.engine, self.model_path, self.threads = engine, model_path, threads
        self.names = names  # read name labels (off with "class-wide figures only")
        self._lock = threading.Lock()
        self._exclusions: list[Rect] = []
        self._stopped = threading.Event()
        self._session: Session | None = None
        self._paused_msg = ""
        self._hint = ""
        self.frames = 0
        self.last_capture: np.ndarray | None = None

    def set_exclusions(self, rects: list[Rect]) -> None:
        """Screen rects never to analyse (the overlay); thread-safe."""
        with self._lock:
            self._exclusions = list(rects)

    def _covers(self) -> list[Rect]:
        with self._lock:
            return list(self._exclusions)

    def stop(self) -> None:
        """End the loop (from any thread); :meth:`start` returns within one capture."""
        self._stopped.set()
        session = self._session
        if session is not None:
            session.stop()

    def _source(self) -> ScreenSource:
        t = self.target
        options = dict(
            fps=self.rate_hz, follow_s=0.0, mask=self._covers, pause_on_lost=True, on_state=self._on_state
        )
        if t.kind == "window":
            return ScreenSource(window_id=t.wid, **options)
        if t.region is None:
            raise ValueError("no region chosen")
        r = t.region
        return ScreenSource(region=(r.x, r.y, r.width, r.height), **options)

    def _on_state(self, message: str) -> None:
        """The source lost its target (a message) or has it back ("")."""
        if message:
            self._set_paused(paused_text(self.target, message))

    def set_names(self, on: bool) -> None:
        """Read name labels or not (off forgets those read); the capture thread applies it after the
        frame in progress, so a pipeline is never switched halfway through a frame."""
        self.names = on

    @Slot()
    def start(self) -> None:
        try:
            pipeline = self.engine.pipeline(self.model_path, self.threads, names=self.names)
            session = Session(self._source(), pipeline=pipeline)
        except Exception as exc:  # noqa: BLE001 - report any start failure in the UI, never crash
            self.failed.emit(f"analysis could not start: {exc}")
            return
        self._session = session
        self.ready.emit()
        note = session.pipeline.classifier.note
        if note:
            self.notice.emit("model", f"Model not verified: {note}.")
        try:
            with session:
                while not self._stopped.is_set():
                    try:
                        for result in session:
                            self._deliver(session, result)
                        break  # stopped
                    except Exception as exc:  # noqa: BLE001 - a bad frame must not end the session
                        log.exception("capture or analysis failed")
                        self._set_paused(
                            f"Capture or analysis failed ({type(exc).__name__}: {exc}); retrying."
                        )
                        self._stopped.wait(1.0 / self.rate_hz)
        except Exception as exc:  # noqa: BLE001 - e.g. no screen to open
            self.failed.emit(f"analysis could not start: {exc}")
        finally:
            self._session = None

    def _deliver(self, session: Session, result) -> None:
        if session.pipeline.names != self.names:
            session.pipeline.names = self.names
        if self._stopped.is_set():
            return
        if self._paused_msg:
            self._paused_msg = ""
            self.resumed.emit()
        hint = gallery_note(result)
        if hint != self._hint:  # said once when it appears, and withdrawn when it is gone
            self._hint = hint
            self.notice.emit("gallery", hint[0].upper() + hint[1:] + "." if hint else "")
        self.frames += 1
        self.last_capture = result.frame.image  # what was analysed (memory only; never written)
        self.analysed.emit(result, session.source.rect)

    def _set_paused(self, message: str) -> None:
        if message != self._paused_msg:
            self._paused_msg = message
            self.paused.emit(message)


class WindowFollower(QObject):
    """Polls a followed window's geometry (GUI thread, 5 Hz) and emits ``moved`` when it changes."""

    moved = Signal(object)

    def __init__(self, wid: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.wid = wid
        self._last: Rect | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)
        self._timer.start(GEOMETRY_POLL_MS)

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _poll(self) -> None:
        try:
            rect = windows.window_rect(self.wid)
        except windows.WindowSystemError:
            return  # the capture reports it
        if rect is not None and rect != self._last:
            self._last = rect
            self.moved.emit(rect)
