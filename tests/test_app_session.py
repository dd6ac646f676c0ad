"""The desktop app end to end on a real X server: a fake meeting window (a real Qt top-level window
showing a synthetic gallery of real PrivateTest faces) is chosen, captured through mss by the running
app, analysed by the real ONNX model, shown in the overlay, followed, published as a virtual camera,
exported, and lost mid-session.

The tests of this module share one running session (loading the model and warming the capture up
once keeps the module fast on a loaded machine); they run in file order.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QImage, QPixmap  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402

import fer_overlay.app  # noqa: E402, F401  (first: applies the PySide6 6.12 refcount workaround)
from fer_overlay.labels import EMOTIONS  # noqa: E402

N_FACES = 16
N_CAMERA_OFF = 2
N_TILES = N_FACES + N_CAMERA_OFF
SIZE = (1440, 810)
TITLE = "Fake Meeting – gallery view"
WAIT_MS = 90_000


class FakeMeeting(QLabel):
    """A real top-level window showing a gallery picture at 1:1 (what Zoom/Teams would draw)."""

    def __init__(self, image_bgr: np.ndarray, title: str) -> None:
        super().__init__()
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        h, w = rgb.shape[:2]
        self.setPixmap(QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()))
        self.setWindowTitle(title)
        self.setFixedSize(w, h)
        self.setContentsMargins(0, 0, 0, 0)


def wait_until(cond, timeout_ms: int = WAIT_MS) -> None:
    """Like ``qtbot.waitUntil`` but usable from module-scoped fixtures."""
    waited = 0
    while not cond():
        assert waited < timeout_ms, "condition not met in time"
        QTest.qWait(50)
        waited += 50


@pytest.fixture(scope="module")
def meeting(display, qapp, fer2013):
    import shutil

    from conftest import require

    require(shutil.which("xwininfo") is not None, "xwininfo and xprop (x11-utils) missing")
    from fer_bench.synthetic import grid_for, make_gallery

    split = fer2013["PrivateTest"]
    faces, labels = split.faces[:N_FACES], split.labels[:N_FACES]
    gallery = make_gallery(faces, *grid_for(N_TILES), size=SIZE, camera_off=N_CAMERA_OFF, seed=11)
    win = FakeMeeting(gallery.image, TITLE)
    win.move(0, 0)
    win.show()
    wait_until(lambda: win.isVisible() and win.windowHandle() is not None and win.windowHandle().isExposed())
    QTest.qWait(300)
    yield win, gallery, faces, labels
    win.close()


class RecordingCamera:
    """A pyvirtualcam backend that keeps the frames it is sent (pyvirtualcam's official extension point)."""

    instances: list[RecordingCamera] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return "recording-test-camera"

    def native_fourcc(self):
        return None


@pytest.fixture(scope="module")
def app(meeting, tmp_path_factory):
    import pyvirtualcam

    from fer_overlay.app.main import FerOverlayApp

    pyvirtualcam.register_backend("fer-test-recorder", RecordingCamera)
    base = tmp_path_factory.mktemp("app")
    store = QSettings(str(base / "settings.ini"), QSettings.Format.IniFormat)
    for key, value in {
        "privacy_acknowledged": True,
        "data_dir": str(base / "data"),
        "export_dir": str(base / "exports"),
        "camera_backend": "fer-test-recorder",
        "camera_size": "1280,720",
        "export_interval_s": 1.0,
    }.items():
        store.setValue(key, value)
    store.sync()
    a = FerOverlayApp(store, show_dialogs=False)
    a.test_base = base
    yield a
    a.shutdown()


def _row_for_tile(rows, tile) -> object | None:
    """The overlay row whose tile box centre lies inside the true tile (window coordinates)."""
    for r in rows:
        cx, cy = (r.xyxy[0] + r.xyxy[2]) / 2, (r.xyxy[1] + r.xyxy[3]) / 2
        if tile[0] <= cx <= tile[2] and tile[1] <= cy <= tile[3]:
            return r
    return None


def test_choose_meeting_window_with_live_thumbnail(app, meeting, qtbot):
    win, *_ = meeting
    dialog = app.choose_window()
    assert dialog.select_title(TITLE), [dialog.list.item(i).text() for i in range(dialog.list.count())]
    # The app's own windows are never offered.
    offered = {dialog.list.item(i).data(Qt.ItemDataRole.UserRole).wid for i in range(dialog.list.count())}
    assert not offered & app.own_window_ids()
    dialog.update_thumbnail()
    pix = dialog.thumbnail.pixmap()
    assert pix is not None and not pix.isNull()
    thumb = pix.toImage().convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(thumb.constBits(), np.uint8, thumb.bytesPerLine() * thumb.height())
    assert arr.std() > 20, "the thumbnail should show the gallery, not a flat colour"
    dialog.accept()
    assert app.target is not None and app.target.wid == int(win.winId())
    assert app.settings.target_title == TITLE  # remembered for the next run


def test_running_session_lists_participants_with_model_quality(app, meeting, qtbot):
    from fer_overlay.classify import Classifier

    win, gallery, faces, labels = meeting
    assert app.start_session()
    assert "ANALYSIS ON" in app.control.status.text()
    qtbot.waitUntil(
        lambda: app.updates >= 4 and app.state.update is not None and len(app.state.update.rows) == N_TILES,
        timeout=WAIT_MS,
    )
    u = app.state.update
    assert u.participants == N_TILES and u.camera_off == N_CAMERA_OFF
    assert f"{N_TILES} participants" in app.control.stats.text() and "captures/s" in app.control.stats.text()
    qtbot.waitUntil(lambda: app.overlay.rows_drawn == N_TILES, timeout=5000)
    # The overlay is pinned beside the meeting window, never over the gallery it analyses.
    assert app.overlay.x() >= win.x() + win.width()
    predicted = Classifier().predict(faces).argmax(axis=1)
    model_acc = float((predicted == labels).mean())
    shown, agree, same_as_model = 0, 0, 0
    for tile, k in zip(gallery.tiles, gallery.face_index, strict=True):
        row = _row_for_tile(u.rows, tile)
        assert row is not None, f"no overlay row for tile {tile}"
        if k < 0:  # a camera-off card: shown as such, never as an emotion
            assert row.emotion_name == "camera off" and row.emotion == -1
            continue
        label, pred = labels[k], predicted[k]
        if row.emotion < 0:
            continue
        shown += 1
        agree += int(row.emotion == label)
        same_as_model += int(row.emotion == pred)
        assert 0 < row.confidence <= 1
    print(
        f"faces shown {shown}/{N_FACES}, overlay acc {agree / max(shown, 1):.2f}, model {model_acc:.2f}, "
        f"overlay = model on {same_as_model / max(shown, 1):.2f}"
    )
    assert shown >= 0.6 * N_FACES
    assert agree / shown >= model_acc - 0.25
    assert same_as_model / shown >= 0.5
    assert not math.isnan(u.engagement) and 0 <= u.engagement <= 100
    assert abs(float(np.nansum(u.distribution)) - 1) < 1e-3
    # Class mix and rows speak of emotions by name; the overlay calls the figure an indicator.
    assert {r.emotion_name for r in u.rows} <= set(EMOTIONS) | {"no face", "camera off"}


def test_overlay_follows_the_meeting_window(app, meeting, qtbot):
    win, *_ = meeting
    offset = app.overlay.pos() - win.geometry().topRight()
    win.move(80, 150)
    qtbot.waitUntil(lambda: app.overlay.pos() - win.geometry().topRight() == offset, timeout=20_000)
    # The capture never includes the overlay: the worker masks its current rectangle.
    qtbot.waitUntil(lambda: app.worker._exclusions and app.worker._exclusions[0] == app.overlay.screen_rect())


def test_the_overlay_never_analyses_itself(app, meeting, qtbot):
    from fer_overlay.sources import open_mss

    win, *_ = meeting
    home = app.overlay.pos()
    over = win.pos() + QPoint(40, 60)  # the user drags the overlay onto the gallery
    app.overlay.move(over)
    qtbot.waitUntil(lambda: app.worker._exclusions and app.worker._exclusions[0].x == over.x())
    seen = app.worker.frames
    qtbot.waitUntil(lambda: app.worker.frames >= seen + 2, timeout=WAIT_MS)
    w, h = app.overlay.width(), app.overlay.height()
    with open_mss() as sct:
        on_screen = np.array(sct.grab({"left": over.x(), "top": over.y(), "width": w, "height": h}))[..., :3]
    assert on_screen.std() > 10, "the overlay is really drawn over the gallery"
    analysed = app.worker.last_capture[60 : 60 + h, 40 : 40 + w]
    assert (analysed == analysed[0, 0]).all(), "but the analysed picture has only background there"
    app.overlay.move(home)


def test_indicators_on_tiles_sit_in_each_tile_away_from_the_face(app, meeting, qtbot):
    """The optional layer over the meeting window: one badge per participant, in a corner of their own
    tile and not over their face, click-through, masked out of the capture, and the analysis still
    sees every tile."""
    win, gallery, *_ = meeting
    app.actions["tiles"].trigger()
    layer = app.tiles
    qtbot.waitUntil(lambda: layer.isVisible() and len(layer.badges) == N_TILES, timeout=WAIT_MS)
    for window in layer.windows():  # one small window per badge, where the badge is (1:1 here)
        assert window.windowFlags() & Qt.WindowType.WindowTransparentForInput  # the meeting stays usable
        g = window.geometry()
        assert (g.x(), g.y(), g.width(), g.height()) == tuple(vars(window.badge.rect).values())
    origin = layer.origin
    off_cards = 0
    for b in layer.badges:
        x0, y0 = b.rect.x - origin.x, b.rect.y - origin.y  # gallery picture coordinates
        x1, y1 = x0 + b.rect.width, y0 + b.rect.height
        inside = [
            t
            for t, tile in enumerate(gallery.tiles)
            if tile[0] <= x0 and tile[1] <= y0 and x1 <= tile[2] and y1 <= tile[3]
        ]
        assert len(inside) == 1, (b, inside)
        t = inside[0]
        if gallery.face_index[t] < 0:
            off_cards += 1
            assert b.text.endswith("camera off")
            continue
        fx0, fy0, fx1, fy1 = gallery.face_xyxy[t]
        assert x1 <= fx0 or fx1 <= x0 or y1 <= fy0 or fy1 <= y0, f"badge {b} over the face of tile {t}"
    assert off_cards == N_CAMERA_OFF
    qtbot.waitUntil(lambda: all(b.rect in app.worker._exclusions for b in layer.badges))
    seen = app.updates
    qtbot.waitUntil(lambda: app.updates >= seen + 2, timeout=WAIT_MS)
    assert len(app.state.update.rows) == N_TILES  # masked badges cost no tile
    from fer_overlay.sources import open_mss

    b = layer.badges[0]
    with open_mss() as sct:
        shot = np.array(sct.grab(b.rect.as_mss()))[..., :3]
    assert shot.mean() < 90 and shot.max() > 200, "a dark box with light text is on the screen"


def test_virtual_camera_sends_dashboard_frames(app, qtbot):
    RecordingCamera.instances.clear()
    app.actions["camera"].trigger()
    assert app.camera is not None, app.camera_error
    cam = RecordingCamera.instances[-1]
    assert (cam.width, cam.height) == (1280, 720)
    start = app.updates
    qtbot.waitUntil(lambda: len(cam.frames) >= 5 and app.updates >= start + 1, timeout=WAIT_MS)
    for f in cam.frames:
        assert f.size == 1280 * 720 * 3
    last = cam.frames[-1].reshape(720, 1280, 3)
    assert last.std() > 10, "the dashboard should be drawn, not a blank frame"
    # The annotated-gallery mode sends the engine's annotated capture, letterboxed to the same size.
    app.set_camera_mode("gallery")
    sent = len(cam.frames)
    updates = app.updates
    qtbot.waitUntil(lambda: app.updates > updates + 1 and len(cam.frames) > sent + 2, timeout=WAIT_MS)
    assert app.camera.mode == "gallery"
    gallery = cam.frames[-1].reshape(720, 1280, 3)
    assert gallery.shape == (720, 1280, 3) and not np.array_equal(gallery, last)
    app.set_camera_mode("dashboard")
    app.actions["camera"].trigger()
    assert app.camera is None and cam.closed


def test_export_writes_summary_rows(app, meeting, tmp_path):
    u = app.state.update
    result = app.export_current(tmp_path / "export")
    assert result is not None and result.captures >= 4
    with open(tmp_path / "export" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    people = [r for r in rows if r["kind"] == "participant"]
    assert rows[-1]["kind"] == "class"
    assert {str(r.pid) for r in u.rows} <= {r["participant"] for r in people}
    assert len(people) == result.participants
    assert rows[-1]["dominant"] in EMOTIONS
    with open(tmp_path / "export" / "session.csv", newline="") as f:
        session_rows = list(csv.DictReader(f))
    assert {r["kind"] for r in session_rows} == {"participant", "class"}
    assert (tmp_path / "export" / "summary.png").stat().st_size > 10_000


def test_export_from_the_menu_into_a_picked_folder(app, qtbot, tmp_path):
    """Export session… asks for a folder (Qt's own dialog here, answered like a user would)."""
    from PySide6.QtWidgets import QFileDialog

    picked = tmp_path / "picked"
    picked.mkdir()
    answered = []

    def answer(tries: int = 200) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            if tries:
                QTimer.singleShot(50, lambda: answer(tries - 1))
            return
        answered.append(dialog.windowTitle())
        dialog.setDirectory(str(picked))
        dialog.accept()

    native = QApplication.testAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs)
    QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs, True)
    try:
        QTimer.singleShot(0, answer)
        # The same QAction as the tray menu's entry; the click returns when the dialog is closed.
        qtbot.mouseClick(app.control.buttons["export"], Qt.MouseButton.LeftButton)
    finally:
        QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs, native)
    assert answered == ["Export the session to…"]
    assert app.last_export is not None and app.last_export.folder == picked
    assert {p.name for p in picked.iterdir()} >= {"session.csv", "summary.csv", "summary.png"}
    assert f"Session exported to {picked}" in app.control.message.text()
    with open(picked / "summary.csv", newline="") as f:
        assert list(csv.DictReader(f))[-1]["kind"] == "class"


def test_class_only_switched_on_mid_session_keeps_people_out_of_export(app, qtbot, tmp_path):
    assert app.tiles.isVisible()  # switched on above
    dialog = app.open_settings()
    qtbot.waitExposed(dialog)
    dialog.class_only.setChecked(True)
    dialog.accept()
    assert app.recorder.class_only
    assert not app.tiles.isVisible() and app.tiles.screen_rects() == []  # no badge in class-only mode
    qtbot.waitUntil(lambda: app.overlay.rows_drawn == 0)
    log = app.recorder.folder / "captures.csv"
    lines = len(log.read_text().splitlines())
    qtbot.waitUntil(lambda: len(log.read_text().splitlines()) >= lines + 2, timeout=WAIT_MS)
    assert all(",class," in line for line in log.read_text().splitlines()[lines:])
    result = app.export_current(tmp_path / "class-only")
    with open(result.folder / "summary.csv", newline="") as f:
        assert [r["kind"] for r in csv.DictReader(f)] == ["class"]
    with open(result.folder / "session.csv", newline="") as f:
        assert {r["kind"] for r in csv.DictReader(f)} == {"class"}


def test_closing_the_meeting_window_pauses_without_losing_data(app, meeting, qtbot):
    win, *_ = meeting
    log = app.recorder.folder / "captures.csv"
    win.hide()
    qtbot.waitUntil(lambda: "closed" in app.state.paused_message, timeout=WAIT_MS)
    assert app.running
    assert "PAUSED" in app.control.status.text() and "closed" in app.control.message.text()
    captures = app.recorder.captures
    QTest.qWait(1500)
    assert app.recorder.captures == captures  # nothing analysed while the window is gone
    assert sum(1 for line in log.read_text().splitlines() if ",class," in line) == captures
    win.show()
    qtbot.waitUntil(
        lambda: app.state.paused_message == "" and app.recorder.captures > captures, timeout=WAIT_MS
    )
    result = app.stop_session()
    assert not app.running and "analysis off" in app.control.status.text()
    assert result is not None and result.captures == app.updates
    assert all(p.exists() for p in result.files)
