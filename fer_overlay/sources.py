"""Sources: where frames come from. Each yields timestamped :class:`Frame` values at a requested rate.

- ``ScreenSource``: a monitor, a region ``x,y,w,h`` or a window (by title) through mss;
- ``WebcamSource``: an OpenCV camera index;
- ``VideoSource``: a video file, sampled at ``fps`` in *media* time (no sleeping);
- ``ImageSource``: one still image (one frame);
- ``FolderSource``: the images of a folder in name order, ``1 / fps`` seconds apart.

Live sources (screen, webcam) pace themselves in wall-clock time and never queue frames: a consumer that
stops pulling (a paused GUI) simply stops the capture, and one that falls behind gets the newest frame,
not a backlog. File sources go as fast as the consumer. Anything unreadable raises :class:`SourceError`
with a one-line message, before the first frame where possible: a video cut short (fewer frames than
its container announces) raises it after its last readable frame, a window that closes or is
minimised at its next look-up (once a second). A region or window partly off the screen is clipped
to the part on a monitor; one with less than 32 pixels left on any monitor is an error. FFmpeg's own
messages inside OpenCV are silenced (``OPENCV_FFMPEG_LOGLEVEL``), so stderr keeps our one line.

    >>> with open_source("screen:0,0,640,480", fps=2, duration=5) as frames:   # doctest: +SKIP
    ...     for frame in frames:
    ...         print(frame.timestamp, frame.image.shape)
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from fer_overlay import windows
from fer_overlay.frames import Frame
from fer_overlay.windows import Rect

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
DEFAULT_FPS = 2.0
"""Live analysis rate: a class's expressions change over seconds, and 2 Hz keeps the CPU cost low."""


def _quiet_opencv() -> None:
    """OpenCV prints its own warnings when a camera or file cannot be opened; we report one line."""
    # FFmpeg inside OpenCV writes "moov atom not found" and the like straight to stderr; it reads this
    # variable once, when a first video is opened or written (AV_LOG_QUIET). A user's own value wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # builds without the logging module
        pass


class SourceError(RuntimeError):
    """An input that cannot be opened or read; the message is one line, fit for the CLI."""


_quiet_opencv()  # before anything in this process opens a video through FFmpeg
MIN_VISIBLE_PX = 32
"""A screen region or window with less than this many pixels on a monitor, in width or height, is lost."""


class Source:
    """Base class: an iterable of frames that is also a context manager owning its device or file."""

    name = "source"

    def __init__(self, fps: float | None = DEFAULT_FPS, duration: float | None = None) -> None:
        if fps is not None and fps <= 0:
            raise SourceError(f"fps must be positive, not {fps}")
        self.fps, self.duration = fps, duration

    def open(self) -> None:
        """Acquire the device or file; raise SourceError if it cannot be read."""

    def close(self) -> None:
        """Release it; safe to call twice."""

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def total(self) -> int | None:
        """How many frames will come, when known (for a progress bar)."""
        return None

    def cancel(self) -> None:
        """End ``frames()`` from another thread (live sources; files end by themselves)."""

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LiveSource(Source):
    """Paces ``grab()`` at ``fps`` in wall-clock time; skips ticks it is late for, never queues.
    A tick whose ``grab()`` gives None (a paused target) yields nothing; :meth:`cancel` ends the frames
    from any thread, at once even while waiting for the next tick."""

    def __init__(self, fps: float | None = DEFAULT_FPS, duration: float | None = None) -> None:
        super().__init__(fps, duration)
        self._cancelled = threading.Event()

    def grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def cancel(self) -> None:
        self._cancelled.set()

    def frames(self) -> Iterator[Frame]:
        self._cancelled.clear()
        start = time.monotonic()
        period = 1.0 / self.fps if self.fps else 0.0
        next_tick, index = start, 0
        while not self._cancelled.is_set():
            now = time.monotonic()
            if self.duration is not None and now - start >= self.duration:
                return
            if now < next_tick and self._cancelled.wait(next_tick - now):
                return
            next_tick = max(next_tick + period, time.monotonic())  # late: restart the clock, no burst
            image = self.grab()
            if image is None:
                continue
            yield Frame(image, time.monotonic() - start, index, self.name)
            index += 1


def open_mss():
    """An mss screen grabber (mss >= 10 names the class ``MSS``; ``mss.mss`` is deprecated there)."""
    import mss

    return mss.MSS() if hasattr(mss, "MSS") else mss.mss()


def mask_rects(image: np.ndarray, origin: Rect, covers: Sequence[Rect]) -> int:
    """Paint ``covers`` (screen rects) out of ``image`` (captured at ``origin``), in place.

    The fill is the colour of the image's left edge (the gallery background in both apps), so the
    layout detection sees gutter where a cover was (the app's overlay) instead of a bright extra
    "tile". Returns the number of pixels masked."""
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


class TargetLost(SourceError):
    """The window closed, hid or was minimised, or the region left every monitor, after the start."""


class ScreenSource(_LiveSource):
    """A monitor (``monitor=1`` is the first; 0 is all of them), a region, or a window followed by
    title (the CLI's ``window:TITLE``) or by native id (the app's chosen window).

    The one screen source of the CLI and the app. A window is located again every ``follow_s``
    seconds (1 s; the app 0, every capture), so moving it is followed, through
    :mod:`fer_overlay.windows`. The app's needs are options:

    - ``mask``: a callable giving the screen rects to paint out of every capture (the overlay and the
      control window, so the app never analyses itself), see :func:`mask_rects`;
    - ``pause_on_lost``: a window that closes or hides, a region off every monitor, a failed grab do not
      end the frames: the source calls ``on_state(message)`` once, keeps looking at its rate and calls
      ``on_state("")`` when it captures again; :meth:`cancel` ends the frames from any thread.
    """

    def __init__(
        self,
        monitor: int = 1,
        region: tuple[int, int, int, int] | None = None,
        window: str | None = None,
        fps: float | None = DEFAULT_FPS,
        duration: float | None = None,
        *,
        window_id: int | None = None,
        follow_s: float = 1.0,
        mask: Callable[[], Sequence[Rect]] | None = None,
        pause_on_lost: bool = False,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(fps, duration)
        self.monitor, self.region, self.window, self.window_id = monitor, region, window, window_id
        self.follow_s, self.mask, self.pause_on_lost = follow_s, mask, pause_on_lost
        self.on_state = on_state or (lambda message: None)
        self.name = (
            f"window:{window}"
            if window is not None
            else f"window:{window_id:#x}"
            if window_id is not None
            else f"screen:{','.join(map(str, region))}"
            if region
            else (f"screen:{monitor}")
        )
        if region is not None and (region[2] <= 0 or region[3] <= 0):
            raise SourceError(f"screen region {region} has zero size")
        self._sct = None
        self._box: Rect | None = None
        self._located = 0.0
        self._started = False  # located once: losing the target now is TargetLost, not a bad spec
        self._lost = ""
        self.rect: Rect | None = None
        """The screen rectangle of the last capture (clipped to the monitors)."""

    def _window_rect(self) -> tuple[int, int, int, int]:
        try:
            if self.window_id is None:  # by title: found once, then followed by its id
                found = windows.find_window(self.window)  # type: ignore[arg-type]
                if found is None:
                    raise SourceError(f"no window titled {self.window!r}")
                self.window_id = found.wid
            rect = windows.window_rect(self.window_id)
        except windows.WindowSystemError as exc:
            raise SourceError(f"cannot follow a window here: {exc}") from exc
        if rect is None:
            what = repr(self.window) if self.window is not None else f"{self.window_id:#x}"
            error = TargetLost if self._started or self.pause_on_lost else SourceError
            raise error(f"the window {what} was closed or hidden (it is gone, or minimised or hidden)")
        return rect.x, rect.y, rect.width, rect.height

    def _locate(self) -> Rect:
        if self.window is not None or self.window_id is not None:
            if self._box is None or time.monotonic() - self._located >= self.follow_s:
                self._box = None
                self._box, self._located = self._visible(*self._window_rect()), time.monotonic()
                self._started = True
            return self._box
        if self.region is not None:
            box = self._visible(*self.region)
            self._started = True
            return box
        monitors = self._sct.monitors  # type: ignore[union-attr]
        if not 0 <= self.monitor < len(monitors):
            raise SourceError(f"no monitor {self.monitor} (this display has {len(monitors) - 1})")
        m = monitors[self.monitor]
        return Rect(m["left"], m["top"], m["width"], m["height"])

    def _visible(self, x: int, y: int, w: int, h: int) -> Rect:
        """The part of a rectangle on the screen: a region or window partly off screen is clipped (the
        screen has nothing to grab there); one with nothing left to analyse is an error."""
        if w <= 0 or h <= 0:
            raise SourceError(f"{self.name} has zero size ({w}x{h})")
        screen = self._sct.monitors[0]  # type: ignore[union-attr]  # all monitors together
        visible = Rect(x, y, w, h).intersected(
            Rect(screen["left"], screen["top"], screen["width"], screen["height"])
        )
        if visible is None or visible.width < MIN_VISIBLE_PX or visible.height < MIN_VISIBLE_PX:
            error = TargetLost if self._started or self.pause_on_lost else SourceError
            raise error(
                f"{self.name} ({w}x{h} at {x},{y}) is off every monitor (the screen is "
                f"{screen['width']}x{screen['height']} at {screen['left']},{screen['top']})"
            )
        return visible

    def open(self) -> None:
        try:
            self._sct = open_mss()
        except Exception as exc:  # mss raises ScreenShotError and platform errors without a display
            raise SourceError(f"cannot open the screen: {str(exc).splitlines()[0]}") from exc
        if not self.pause_on_lost:
            self._locate()

    def grab(self) -> np.ndarray | None:
        if self._sct is None:
            self.open()
        try:
            rect = self._locate()
            try:
                shot = self._sct.grab(rect.as_mss())  # type: ignore[union-attr]
            except Exception as exc:
                raise TargetLost(f"screen capture failed: {str(exc).splitlines()[0]}") from exc
        except TargetLost as exc:
            if not self.pause_on_lost:
                raise
            self._pause(str(exc))
            return None
        image = np.ascontiguousarray(np.asarray(shot)[:, :, :3])  # BGRA -> BGR
        if self.mask is not None:
            mask_rects(image, rect, self.mask())
        self.rect = rect
        if self._lost:
            self._lost = ""
            self.on_state("")
        return image

    def _pause(self, message: str) -> None:
        """The target is lost (``pause_on_lost``): say so once, look it up afresh at the next tick."""
        self._box = None
        if message.startswith("screen capture failed"):
            # A fresh grabber re-reads the monitor layout (mss caches it): a monitor may have gone.
            self.close()
            self.open()
        if message != self._lost:
            self._lost = message
            self.on_state(message)

    def close(self) -> None:
        if self._sct is not None:
            self._sct.close()
            self._sct = None


class WebcamSource(_LiveSource):
    def __init__(
        self, index: int = 0, fps: float | None = DEFAULT_FPS, duration: float | None = None
    ) -> None:
        super().__init__(fps, duration)
        self.index, self.name, self._cap = index, f"webcam:{index}", None

    def open(self) -> None:
        _quiet_opencv()
        self._cap = cv2.VideoCapture(self.index)
        if not self._cap.isOpened():
            raise SourceError(f"cannot open webcam {self.index}")

    def grab(self) -> np.ndarray:
        ok, image = self._cap.read()  # type: ignore[union-attr]
        if not ok:
            raise SourceError(f"webcam {self.index} stopped delivering frames")
        return image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoSource(Source):
    """A video file sampled every ``1 / fps`` seconds of media time (every frame when ``fps`` is None)."""

    def __init__(
        self, path: str | Path, fps: float | None = DEFAULT_FPS, duration: float | None = None
    ) -> None:
        super().__init__(fps, duration)
        self.path, self.name, self._cap = Path(path), str(path), None
        self.native_fps = 0.0
        self.count = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"no such file: {self.path}")
        _quiet_opencv()
        self._cap = cv2.VideoCapture(str(self.path))
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok:
            raise SourceError(f"cannot read video {self.path.name} (not a video, truncated or corrupt)")
        self._first = first
        self.native_fps = self._cap.get(cv2.CAP_PROP_FPS) or 25.0
        self.count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))  # some streams say -1

    def total(self) -> int | None:
        if not self.count:
            return None
        seconds = self.count / self.native_fps
        if self.duration is not None:
            seconds = min(seconds, self.duration)
        return int(np.ceil(seconds * (self.fps or self.native_fps)))

    def frames(self) -> Iterator[Frame]:
        if self._cap is None:
            self.open()
        step = 1.0 / self.fps if self.fps else 0.0
        next_t, index, n = 0.0, 0, 0
        image: np.ndarray | None = self._first
        while image is not None:
            t = n / self.native_fps
            if self.duration is not None and t >= self.duration:
                return
            if t + 1e-6 >= next_t:
                yield Frame(image, t, index, self.name)
                index += 1
                next_t += step
            ok, image = self._cap.read()  # type: ignore[union-attr]
            n += 1
            if not ok:
                image = None  # the end, or a truncated file: stop at the last good frame
        # The container promised more frames than could be decoded: the file is cut short or damaged.
        # Everything readable has been yielded (and recorded) by now; the caller hears why it ended.
        if self.count and self.count - n > max(self.native_fps, 0.02 * self.count):
            raise SourceError(
                f"video {self.path.name} ends early: only {n / self.native_fps:.1f} s of "
                f"{self.count / self.native_fps:.1f} s could be read (truncated or corrupt)"
            )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"cannot read image {path.name} (not an image, or corrupt)")
    return image


class ImageSource(Source):
    def __init__(
        self, path: str | Path, fps: float | None = DEFAULT_FPS, duration: float | None = None
    ) -> None:
        super().__init__(fps, duration)
        self.path, self.name = Path(path), str(path)

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"no such file: {self.path}")
        self._image = read_image(self.path)

    def total(self) -> int:
        return 1

    def frames(self) -> Iterator[Frame]:
        if not hasattr(self, "_image"):
            self.open()
        yield Frame(self._image, 0.0, 0, self.name)


class FolderSource(Source):
    """Images of a folder in name order; unreadable files are an error (never silently skipped)."""

    def __init__(
        self, path: str | Path, fps: float | None = DEFAULT_FPS, duration: float | None = None
    ) -> None:
        super().__init__(fps, duration)
        self.path, self.name = Path(path), str(path)
        self.files: list[Path] = []

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"no such folder: {self.path}")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"folder {self.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")

    def total(self) -> int:
        return len(self.files)

    def frames(self) -> Iterator[Frame]:
        if not self.files:
            self.open()
        step = 1.0 / (self.fps or DEFAULT_FPS)
        for i, path in enumerate(self.files):
            if self.duration is not None and i * step >= self.duration:
                return
            yield Frame(read_image(path), i * step, i, str(path))


def open_source(spec: str, fps: float | None = DEFAULT_FPS, duration: float | None = None) -> Source:
    """A source from a CLI spec: a path (image, video, folder), ``webcam[:N]``, ``screen[:M|x,y,w,h]``
    or ``window:TITLE``. The source is not opened yet (use it as a context manager)."""
    if spec == "webcam" or spec.startswith("webcam:"):
        index = spec.partition(":")[2] or "0"
        if not index.isdigit():
            raise SourceError(f"webcam index must be a number, not {index!r}")
        return WebcamSource(int(index), fps, duration)
    if spec.startswith("window:"):
        return ScreenSource(window=spec.partition(":")[2], fps=fps, duration=duration)
    if spec == "screen" or spec.startswith("screen:"):
        arg = spec.partition(":")[2]
        if not arg:
            return ScreenSource(1, fps=fps, duration=duration)
        if arg.isdigit():
            return ScreenSource(int(arg), fps=fps, duration=duration)
        parts = arg.split(",")
        if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p.strip()) for p in parts):
            raise SourceError(f"screen region must be x,y,w,h in pixels, not {arg!r}")
        region = tuple(int(p) for p in parts)
        return ScreenSource(region=region, fps=fps, duration=duration)  # type: ignore[arg-type]
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, fps, duration)
    if not path.exists():
        raise SourceError(f"no such file or folder: {spec}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, fps, duration)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSource(path, fps, duration)
    raise SourceError(
        f"{path.name}: unknown input type (images: {', '.join(sorted(IMAGE_SUFFIXES))}; "
        f"videos: {', '.join(sorted(VIDEO_SUFFIXES))})"
    )
