"""Publish the dashboard (or the annotated gallery) as a virtual camera through pyvirtualcam.

OBS, a second meeting client or a teaching assistant's view can then show the class indicators. The
camera needs a backend installed outside Python (v4l2loopback on Linux, OBS Virtual Camera on Windows
and macOS, Unity Capture on Windows); where none is there, :class:`NoCameraBackend` carries a message
that says exactly that. Frames are RGB of a fixed size (1280x720 by default); the latest frame is
re-sent on a steady clock, because camera consumers expect a steady rate, not 2 Hz. The gallery mode
shows the engine's annotated capture (its ``Annotator``, drawn in the GUI thread at the capture rate).
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage

from fer_overlay.app.overlay import DashboardState, render_dashboard
from fer_overlay.frames import Result
from fer_overlay.sinks.annotate import Annotator, letterbox

NO_BACKEND_HELP = (
    "No virtual-camera backend is available. Install one and try again: v4l2loopback on Linux "
    "(sudo apt install v4l2loopback-dkms; sudo modprobe v4l2loopback exclusive_caps=1), "
    "OBS Studio's Virtual Camera on Windows or macOS (start it once in OBS), or Unity Capture on Windows."
)


class NoCameraBackend(RuntimeError):
    """No pyvirtualcam backend could open a camera; the message says what to install."""


def qimage_to_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def letterbox_rgb(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit a BGR picture into ``width`` x ``height`` (black bars), as RGB for the camera."""
    return cv2.cvtColor(letterbox(bgr, width, height), cv2.COLOR_BGR2RGB)


class VirtualCamera:
    """One open pyvirtualcam camera, a sink of the app: ``append(result)`` renders ``state`` (the
    dashboard, after the dashboard took the same result) or, in ``mode`` "gallery", the engine's
    annotated capture, and sends it; ``resend`` repeats the last frame on the camera's clock."""

    def __init__(
        self, width: int, height: int, state: DashboardState, fps: float = 10.0, backend: str = ""
    ) -> None:
        import pyvirtualcam

        try:
            self.cam = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, backend=backend or None
            )
        except (RuntimeError, KeyError, OSError, ValueError) as exc:
            detail = str(exc).strip().replace("\n", "; ")
            raise NoCameraBackend(NO_BACKEND_HELP + (f"\n(details: {detail})" if detail else "")) from exc
        self.width, self.height, self.state = width, height, state
        self.mode = "dashboard"
        """``"dashboard"`` or ``"gallery"`` (the app keeps the dashboard in class-only mode)."""
        self._annotator: Annotator | None = None
        self._last: np.ndarray | None = None
        self.frames_sent = 0

    @property
    def device(self) -> str:
        return self.cam.device

    def __enter__(self) -> VirtualCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, result: Result | None = None) -> None:
        """Send the picture of this capture (None: the dashboard as it is now, e.g. when switched on)."""
        if self.mode == "gallery" and result is not None:
            if self._annotator is None:
                self._annotator = Annotator()
            frame = letterbox_rgb(
                self._annotator.annotate(result.frame.image, result), self.width, self.height
            )
        else:
            frame = qimage_to_rgb(render_dashboard(self.state, self.width, self.height))
        self._last = frame
        self._send(frame)

    def resend(self) -> None:
        if self._last is not None:
            self._send(self._last)

    def _send(self, frame: np.ndarray) -> None:
        self.cam.send(frame)
        self.frames_sent += 1

    def close(self) -> None:
        self.cam.close()
