"""Annotated frames: tile and face boxes, per-participant labels, per-class bars and the class gauge.

Frames are only written when the user asks (``--out``): frames show people, so nothing is kept by
default.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from fer_overlay.frames import CAMERA_OFF, FACE, STATE_NAMES, Result
from fer_overlay.labels import EMOTIONS
from fer_overlay.sinks.errors import SinkError

# FFmpeg inside OpenCV would print its own write errors to stderr; we report one line (see sources.py).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

# BGR colour per class, in label order: Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral.
COLOURS = (
    (40, 40, 220),
    (60, 140, 60),
    (160, 60, 160),
    (40, 200, 240),
    (200, 120, 40),
    (40, 160, 255),
    (180, 180, 180),
)
GRAY = (150, 150, 150)


class Annotator:
    """``annotate(scene, result) -> scene``: draws on a copy, never on the analysed frame. The class
    panel is added as a strip on the right (the output is wider than the frame), or with
    ``beside=False`` drawn over the top-left corner (same size as the frame, e.g. for a virtual camera)."""

    def __init__(self, panel: bool = True, beside: bool = True) -> None:
        self.panel, self.beside = panel, beside

    def annotate(self, scene: np.ndarray, result: Result) -> np.ndarray:
        scene = scene.copy()
        h = scene.shape[0]
        thick = max(1, h // 540)
        font = max(0.4, h / 1800)
        people = result.participants
        dominant = people.dominant
        for i in range(len(people)):
            x0, y0, x1, y1 = (int(v) for v in people.xyxy[i])
            state = int(people.state[i])
            colour = COLOURS[dominant[i]] if state == FACE and dominant[i] >= 0 else GRAY
            if result.tiles.grid is not None:
                cv2.rectangle(scene, (x0, y0), (x1 - 1, y1 - 1), GRAY, 1)
            if state == FACE:
                fx0, fy0, fx1, fy1 = (int(v) for v in people.face_xyxy[i])
                cv2.rectangle(scene, (fx0, fy0), (fx1, fy1), colour, 2 * thick)
                p = people.probs[i]
                text = f"{people.label(i)} {EMOTIONS[dominant[i]]} {100 * p[dominant[i]]:.0f}%"
                anchor = (fx0, max(12, fy0 - 6))
            else:
                text = f"{people.label(i)} {STATE_NAMES[state]}"
                anchor = (x0 + 6, y0 + int(22 * font / 0.5))
            if state != CAMERA_OFF and not np.isnan(people.engagement[i]):
                text += f"  E{people.engagement[i]:.0f}"
            self._label(scene, text, anchor, font, colour)
        width = int(380 * font / 0.5)
        if self.panel and self.beside:  # beside the frame, not over it: the panel must never hide a face
            side = np.full((scene.shape[0], width, 3), 24, scene.dtype)
            scene = np.concatenate([scene, side], axis=1)
            self._panel(scene, result, font, x0=scene.shape[1] - width)
        elif self.panel:  # over the top-left corner, darkened, when the picture must keep its size
            region = scene[: int(26 * font / 0.5) * (len(EMOTIONS) + 3) + 10, :width]
            region[:] = (region * 0.25).astype(scene.dtype)
            self._panel(scene, result, font, x0=0)
        return scene

    @staticmethod
    def _label(scene: np.ndarray, text: str, org: tuple[int, int], font: float, colour: tuple) -> None:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        x, y = org
        cv2.rectangle(scene, (x, y - th - 4), (x + tw + 4, y + base), (0, 0, 0), -1)
        _text(scene, text, (x + 2, y - 2), font, colour)

    @staticmethod
    def _panel(scene: np.ndarray, result: Result, font: float, x0: int) -> None:
        """The class panel from column ``x0``: the engagement gauge, counts, then one bar per emotion."""
        snap = result.snapshot
        row = int(26 * font / 0.5)
        w = int(360 * font / 0.5)
        y0 = 10
        label_w = int(w * 0.38)
        gauge = snap.engagement
        text = "engagement (indicator)" if np.isnan(gauge) else f"engagement {gauge:.0f}/100 (indicator)"
        _text(scene, text, (x0 + 6, y0 + row - 8), font, (255, 255, 255))
        if not np.isnan(gauge):
            gy = y0 + row
            cv2.rectangle(scene, (x0 + 6, gy), (x0 + w - 8, gy + row - 10), (80, 80, 80), 1)
            cv2.rectangle(
                scene, (x0 + 6, gy), (x0 + 6 + int((w - 14) * gauge / 100), gy + row - 10), (80, 200, 80), -1
            )
        counts = f"{snap.with_face} faces, {snap.no_face} no face, {snap.camera_off} camera off"
        _text(scene, counts, (x0 + 6, y0 + 3 * row - 8), font * 0.85, (220, 220, 220))
        for k, name in enumerate(EMOTIONS):
            y = y0 + (k + 3) * row
            value = 0.0 if np.isnan(snap.distribution[k]) else float(snap.distribution[k])
            _text(scene, name, (x0 + 6, y + row - 8), font, (230, 230, 230))
            bx = x0 + label_w
            cv2.rectangle(
                scene, (bx, y + 4), (bx + int((w - label_w - 8) * value), y + row - 6), COLOURS[k], -1
            )


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit a picture into ``width`` x ``height``, aspect kept, with black bars (same channel order)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    f = min(width / w, height / h)
    small = cv2.resize(image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, *image.shape[2:]), image.dtype)
    oy, ox = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
    return out


class AnnotatedWriter:
    """Write annotated frames: ``.png``/``.jpg`` keeps the last frame, ``.mp4`` every frame.

    The video's frame rate is the analysis rate, so playback runs at real speed. A video has one frame
    size, the first frame's: a later frame of another size (a folder of mixed pictures) is letterboxed
    into it, and ``letterboxed`` counts them (the CLI says so in a note)."""

    def __init__(self, path: str | Path, fps: float = 2.0, annotator: Annotator | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg", ".mp4"):
            raise ValueError(f"--out must end in .png, .jpg or .mp4, not {self.path.name}")
        self.video = suffix == ".mp4"
        self.fps = fps
        self.annotator = annotator or Annotator()
        self._writer: cv2.VideoWriter | None = None
        self._last: np.ndarray | None = None
        self.size: tuple[int, int] | None = None
        """The video's (width, height): its first frame's."""
        self.frames = 0
        self.letterboxed = 0

    def __enter__(self) -> AnnotatedWriter:
        existed = self.path.exists()
        try:  # fail now, not after a long analysis, when the file cannot be written
            self.path.parent.mkdir(parents=True, exist_ok=True)
            open(self.path, "ab").close()  # noqa: SIM115 - only a probe; nothing is truncated
        except OSError as exc:
            raise SinkError.of(self.path, exc) from exc
        self._probe = None if existed else self.path  # removed again if no frame comes
        return self

    def append(self, result: Result) -> np.ndarray:
        scene = self.annotator.annotate(result.frame.image, result)
        if self.video:
            if self._writer is None:
                h, w = scene.shape[:2]
                self.size = (w, h)
                self._writer = cv2.VideoWriter(
                    str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h)
                )
                if not self._writer.isOpened():
                    raise SinkError(f"cannot write video {self.path}")
            if scene.shape[1::-1] != self.size:  # OpenCV would drop it without a word
                scene = letterbox(scene, *self.size)  # type: ignore[misc]
                self.letterboxed += 1
            self._writer.write(scene)
            self.frames += 1
        self._last = scene
        return scene

    def __exit__(self, *exc: object) -> None:
        if self._writer is None and self._last is None:
            if getattr(self, "_probe", None) is not None:
                self._probe.unlink(missing_ok=True)  # type: ignore[union-attr]
            return
        if self._writer is not None:
            self._writer.release()
            # OpenCV's writer reports no write errors: read the count back (a full disk loses the index).
            check = cv2.VideoCapture(str(self.path))
            kept = int(check.get(cv2.CAP_PROP_FRAME_COUNT)) if check.isOpened() else 0
            check.release()
            if kept < self.frames:
                raise SinkError(
                    f"cannot write video {self.path}: it holds {kept} of {self.frames} frames "
                    "(disk full or file too large?)"
                )
        elif self._last is not None:
            # Encoded in memory and written by Python: a failure is one OSError, not libpng's stderr.
            ok, data = cv2.imencode(self.path.suffix.lower(), self._last)
            if not ok:
                raise SinkError(f"cannot encode {self.path.name}")
            try:
                self.path.write_bytes(data.tobytes())
            except OSError as exc:
                raise SinkError.of(self.path, exc) from exc


def _text(
    scene: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int]
) -> None:
    """Anti-aliased one-pixel Hershey text, the only style the annotations use."""
    cv2.putText(scene, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
