"""Sources: files made in tmp dirs from real faces, bad inputs, and a real screen capture under Xvfb."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from galleries import gallery, write_video

from fer_overlay.sources import (
    FolderSource,
    ImageSource,
    ScreenSource,
    SourceError,
    VideoSource,
    open_source,
)


@pytest.fixture(scope="module")
def frame(fer2013) -> np.ndarray:
    return cv2.resize(gallery(fer2013, 4, seed=1).image, (640, 360), interpolation=cv2.INTER_AREA)


def test_image_gives_one_frame(tmp_path, frame):
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), frame)
    with open_source(str(path)) as src:
        frames = list(src)
    assert isinstance(src, ImageSource) and len(frames) == 1
    np.testing.assert_array_equal(frames[0].image, frame)


def test_folder_in_name_order_at_the_requested_rate(tmp_path, frame):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.roll(frame, i * 10, axis=1))
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(str(tmp_path), fps=4) as src:
        frames = list(src)
    assert isinstance(src, FolderSource)
    assert [f.timestamp for f in frames] == [0.0, 0.25, 0.5]
    np.testing.assert_array_equal(frames[1].image, np.roll(frame, 10, axis=1))


def test_video_sampled_in_media_time(tmp_path, frame):
    path = write_video(tmp_path / "v.mp4", [frame] * 30, fps=10)  # 3 s of video
    with open_source(str(path), fps=2) as src:
        frames = list(src)
        assert isinstance(src, VideoSource) and src.total() == 6
    assert [round(f.timestamp, 2) for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    with open_source(str(path), fps=2, duration=1.0) as src:
        assert len(list(src)) == 2


def test_corrupt_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(SourceError, match="cannot read image"):
        with open_source(str(bad)):
            pass


def test_truncated_video(tmp_path, frame):
    path = write_video(tmp_path / "v.mp4", [frame] * 20, fps=10)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    # A truncated MP4 loses its index: either it cannot be opened, or it yields fewer frames, never a crash.
    try:
        with open_source(str(cut), fps=10) as src:
            n = len(list(src))
        assert n < 20
    except SourceError as exc:
        assert "cannot read video" in str(exc)
    head = tmp_path / "head.mp4"
    head.write_bytes(data[:100])
    with pytest.raises(SourceError):
        with open_source(str(head)):
            pass


def test_empty_folder_and_missing_paths(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        with open_source(str(tmp_path)):
            pass
    with pytest.raises(SourceError, match="no such"):
        open_source(str(tmp_path / "nope.png"))
    with pytest.raises(SourceError, match="unknown input type"):
        (tmp_path / "x.txt").write_text("x")
        open_source(str(tmp_path / "x.txt"))


@pytest.mark.parametrize("spec", ["screen:0,0,0,100", "screen:10,10,100,0", "screen:1,2,3", "webcam:x"])
def test_bad_screen_and_webcam_specs(spec):
    with pytest.raises(SourceError):
        open_source(spec)


def show_image(qtbot, image: np.ndarray, x: int, y: int):
    """A real frameless window showing ``image`` 1:1 at (x, y) on the X display."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QLabel

    rgb = np.ascontiguousarray(image[:, :, ::-1])
    qimage = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()
    label = QLabel()
    label.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
    label.setPixmap(QPixmap.fromImage(qimage))
    label.setFixedSize(rgb.shape[1], rgb.shape[0])
    label.setContentsMargins(0, 0, 0, 0)
    qtbot.addWidget(label)
    label.move(x, y)
    label.show()
    qtbot.waitExposed(label)

    def painted() -> bool:  # the first window of a run can take a while to reach the framebuffer
        from fer_overlay.sources import open_mss

        with open_mss() as sct:
            shot = np.asarray(sct.grab({"left": x, "top": y, "width": rgb.shape[1], "height": rgb.shape[0]}))
        return bool(np.abs(shot[:, :, :3].astype(int) - image.astype(int)).mean() < 2.0)

    qtbot.waitUntil(painted, timeout=5000)
    return label


def test_screen_region_captures_what_a_window_shows(display, qtbot, frame):
    window = show_image(qtbot, frame, 100, 50)  # keep a reference: a collected QLabel closes
    with ScreenSource(region=(100, 50, 640, 360), fps=10, duration=0.35) as src:
        frames = list(src)
    assert window.isVisible() and 2 <= len(frames) <= 5
    assert frames[0].image.shape == (360, 640, 3)
    assert np.abs(frames[-1].image.astype(int) - frame.astype(int)).mean() < 2.0
    stamps = [f.timestamp for f in frames]
    assert all(0.05 < b - a < 0.25 for a, b in zip(stamps, stamps[1:], strict=False))  # paced, not bursting


def test_window_capture_by_title(display, qtbot, frame):
    import shutil

    from conftest import require

    require(shutil.which("xwininfo") is not None, "xwininfo (x11-utils) missing")
    label = show_image(qtbot, frame, 300, 200)
    label.setWindowTitle("fer-overlay test window")
    qtbot.wait(200)
    with open_source("window:fer-overlay test window", fps=5, duration=0.1) as src:
        image = next(iter(src)).image
    assert image.shape == (360, 640, 3)
    assert np.abs(image.astype(int) - frame.astype(int)).mean() < 2.0
    with pytest.raises(SourceError, match="no window"):
        with open_source("window:no such window title 123"):
            pass


def test_screen_source_options_of_the_app_mask_pause_on_lost_and_cancel(fer2013, display, qtbot):
    """The app's capture is this source: ``mask`` paints the given screen rects out, ``pause_on_lost``
    turns a window that goes away into a state (no frame, ``on_state`` told once, back when it is
    back), and ``cancel`` ends the frames from another thread at once."""
    import shutil
    import threading
    import time

    from conftest import require

    from fer_overlay.sources import ScreenSource
    from fer_overlay.windows import Rect

    require(shutil.which("xwininfo") is not None, "xwininfo (x11-utils) missing")
    frame = gallery(fer2013, 4, seed=9, size=(640, 360)).image
    label = show_image(qtbot, frame, 300, 200)
    states: list[str] = []
    src = ScreenSource(
        window_id=int(label.winId()),
        fps=10,
        follow_s=0,
        mask=lambda: [Rect(300 + 100, 200 + 50, 40, 30)],
        pause_on_lost=True,
        on_state=states.append,
    )
    got: list = []

    def pull() -> None:
        with src:
            for f in src:
                got.append(f.image)

    worker = threading.Thread(target=pull)
    worker.start()
    qtbot.waitUntil(lambda: len(got) >= 2, timeout=20_000)
    image = got[-1]
    assert src.rect == Rect(300, 200, 640, 360)
    masked = image[50:80, 100:140]
    assert (masked == masked[0, 0]).all() and not (image[100:130, 200:240] == masked[0, 0]).all()
    label.hide()
    qtbot.waitUntil(lambda: len(states) == 1, timeout=20_000)
    assert "closed or hidden" in states[0]
    n = len(got)
    qtbot.wait(400)
    assert len(got) == n  # no frames while the window is gone, and the loop goes on
    label.show()
    qtbot.waitUntil(lambda: states[-1] == "" and len(got) > n, timeout=20_000)
    t0 = time.monotonic()
    src.cancel()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - t0 < 2
