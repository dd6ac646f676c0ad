"""The desktop app's own behaviour on a real X server (Xvfb): settings, the first-start privacy notice,
consent text, region drawing, overlay modes, dragging and resizing, the tray icon on a real system tray
(trayer), the virtual-camera error message, the foreign-window module and the overlay masking. No model
runs here except where a session starts."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, QSize, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QTextBrowser  # noqa: E402

import fer_overlay.app  # noqa: E402, F401  (first: applies the PySide6 6.12 refcount workaround)


def _store(tmp_path, **values) -> QSettings:
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    base = {"data_dir": str(tmp_path / "data"), "export_dir": str(tmp_path / "exports")}
    for key, value in {**base, **values}.items():
        store.setValue(key, value)
    store.sync()
    return store


@pytest.fixture
def make_app(display, qapp, tmp_path):
    from fer_overlay.app.main import FerOverlayApp

    made = []

    def make(show_dialogs: bool = False, **values):
        app = FerOverlayApp(_store(tmp_path, **values), show_dialogs=show_dialogs)
        made.append(app)
        return app

    yield make
    for app in made:
        app.shutdown()


def test_settings_round_trip_and_bad_values(tmp_path):
    from fer_overlay.app.settings import AppSettings

    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    s = AppSettings(rate_hz=3.5, class_only=True, region="10,20,300,200", target_kind="region")
    s.save(store)
    again, rejected = AppSettings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert again == s and rejected == []
    assert again.region_rect is not None and again.region_rect.width == 300
    store.setValue("rate_hz", "fast")
    store.setValue("camera_mode", "hologram")
    store.sync()
    broken, rejected = AppSettings.load(store)
    assert broken.rate_hz == AppSettings().rate_hz and broken.camera_mode == "dashboard"
    assert rejected == ["rate_hz", "camera_mode"] and broken.class_only  # the good keys are kept


def test_first_start_explains_privacy_law_and_consent(make_app, qtbot, tmp_path):
    from fer_overlay.app.dialogs import PrivacyDialog

    app = make_app(show_dialogs=True)
    qtbot.waitUntil(lambda: any(isinstance(d, PrivacyDialog) and d.isVisible() for d in app._dialogs))
    dialog = next(d for d in app._dialogs if isinstance(d, PrivacyDialog))
    text = dialog.findChild(QTextBrowser).toPlainText()
    for needle in (
        "Art. 5(1)(f)",
        "February 2025",
        "education institutions",
        "consent",
        "stays on this computer",
        "Class-wide figures only",
        "indicators",
        "ANALYSIS ON",
    ):
        assert needle in text, needle
    assert "score" not in text.replace("scores of people", "")
    # No analysis before the notice is acknowledged.
    assert app.start_session() is False and not app.running
    understand = next(b for b in dialog.findChildren(QPushButton) if b.text() == "I understand")
    qtbot.mouseClick(understand, Qt.MouseButton.LeftButton)
    assert app.settings.privacy_acknowledged
    second = make_app(show_dialogs=True)
    QTest.qWait(200)
    assert not any(isinstance(d, PrivacyDialog) for d in second._dialogs)


def test_consent_text_goes_to_the_clipboard(make_app):
    from fer_overlay.app.texts import CONSENT_TEXT

    app = make_app(privacy_acknowledged=True)
    app.actions["consent"].trigger()
    assert QApplication.clipboard().text() == CONSENT_TEXT
    assert "never used for grades" in CONSENT_TEXT and "No video or picture is recorded" in CONSENT_TEXT


def test_draw_region_on_a_frozen_screenshot(make_app, qtbot):
    app = make_app(privacy_acknowledged=True)
    picker = app.draw_region()
    qtbot.waitExposed(picker)
    assert not picker.frozen.isNull()
    QTest.mousePress(picker, Qt.MouseButton.LeftButton, pos=QPoint(100, 120))
    QTest.mouseRelease(picker, Qt.MouseButton.LeftButton, pos=QPoint(600, 420))
    assert app.target is not None and app.target.kind == "region"
    r = app.target.region
    assert (r.x, r.y, r.width, r.height) == (100, 120, 500, 300)
    assert app.settings.region == "100,120,500,300"
    assert not picker.isVisible()


def test_overlay_compact_click_through_and_remembered(make_app, qtbot, tmp_path):
    from fer_overlay.app.overlay import COMPACT_SIZE

    app = make_app(privacy_acknowledged=True)
    qtbot.waitExposed(app.overlay)
    flags = app.overlay.windowFlags()
    assert flags & Qt.WindowType.FramelessWindowHint and flags & Qt.WindowType.WindowStaysOnTopHint
    assert app.overlay.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
    full = app.overlay.size()
    app.actions["compact"].trigger()
    assert app.overlay.size() == COMPACT_SIZE and app.state.compact
    app.actions["click_through"].trigger()
    assert app.overlay.windowFlags() & Qt.WindowType.WindowTransparentForInput
    app.shutdown()
    again = make_app()
    assert again.state.compact and again.overlay.click_through
    again.actions["compact"].trigger()
    assert again.overlay.size() == full


def test_overlay_pins_beside_window_and_drag_keeps_offset(make_app, qtbot):
    from fer_overlay.windows import Rect

    app = make_app(privacy_acknowledged=True)
    qtbot.waitExposed(app.overlay)
    app.overlay.follow(Rect(0, 0, 800, 600))
    assert app.overlay.pos() == QPoint(808, 0)  # just outside the right edge
    QTest.mousePress(app.overlay, Qt.MouseButton.LeftButton, pos=QPoint(50, 10))
    QTest.mouseMove(app.overlay, QPoint(150, 60))
    QTest.mouseRelease(app.overlay, Qt.MouseButton.LeftButton, pos=QPoint(150, 60))
    assert app.overlay.pos() == QPoint(908, 50)
    assert app.settings.overlay_offset == "108,50"
    app.overlay.follow(Rect(200, 100, 800, 600))
    assert app.overlay.pos() == QPoint(1108, 150)


def test_overlay_stays_fully_on_the_meeting_windows_screen(make_app, qtbot):
    """The meeting window dragged off the screen (34 px left visible at the right edge, or 102 px above
    the top): the overlay stays whole on the screen, flipped to the window's other side or inside."""
    from fer_overlay.windows import Rect

    app = make_app(privacy_acknowledged=True)
    qtbot.waitExposed(app.overlay)
    screen = app.overlay.screen().availableGeometry()
    size = app.overlay.size()

    def on_screen() -> bool:
        return screen.contains(app.overlay.frameGeometry())

    app.overlay.follow(Rect(screen.width() - 34, 200, 800, 600))  # only 34 px of it visible
    qtbot.waitUntil(on_screen)
    assert app.overlay.x() + size.width() <= screen.width() - 34  # flipped left of the window
    app.overlay.follow(Rect(300, -102, 800, 600))  # above the top: header and gauge must show
    qtbot.waitUntil(on_screen)
    assert app.overlay.y() == screen.y()  # moved down onto the screen, header first
    # No room on either side (a screen-wide window): inside the screen's right edge.
    app.overlay.follow(Rect(-10, 100, screen.width() + 20, 600))
    qtbot.waitUntil(on_screen)
    assert app.overlay.x() == screen.width() - size.width()


def test_overlay_resized_from_its_corner_grip_is_remembered(make_app, qtbot):
    from PySide6.QtWidgets import QSizeGrip

    app = make_app(privacy_acknowledged=True)
    qtbot.waitExposed(app.overlay)
    before = app.overlay.size()
    grip = app.overlay.findChild(QSizeGrip)
    assert grip is not None and grip.isVisible()
    assert grip.geometry().bottomRight() == app.overlay.rect().bottomRight()  # in the corner
    QTest.mousePress(grip, Qt.MouseButton.LeftButton, pos=QPoint(8, 8))
    QTest.mouseMove(grip, QPoint(48, 68))
    QTest.mouseRelease(grip, Qt.MouseButton.LeftButton, pos=QPoint(48, 68))
    qtbot.waitUntil(lambda: app.overlay.size() == before + QSize(40, 60))
    assert grip.geometry().bottomRight() == app.overlay.rect().bottomRight()  # the grip moved along
    assert app.settings.overlay_size == f"{before.width() + 40},{before.height() + 60}"
    # The next start opens the overlay at that size.
    app.shutdown()
    again = make_app()
    assert again.overlay.size() == before + QSize(40, 60)


def test_missing_virtual_camera_backend_says_what_to_install(make_app):
    import pyvirtualcam

    class NoDevice:
        def __init__(self, **kw):
            raise RuntimeError("no loopback device found")

    pyvirtualcam.register_backend("fer-test-missing", NoDevice)
    app = make_app(privacy_acknowledged=True, camera_backend="fer-test-missing")
    app.actions["camera"].trigger()
    assert app.camera is None and not app.actions["camera"].isChecked()
    for needle in ("v4l2loopback", "OBS", "Unity Capture", "no loopback device found"):
        assert needle in app.camera_error
    assert "v4l2loopback" in app.control.message.text()


def test_class_only_hides_participant_rows(make_app, qtbot):
    from fer_overlay.app.engine import FACE, Row, Update

    app = make_app(privacy_acknowledged=True)
    qtbot.waitExposed(app.overlay)
    rows = tuple(Row(i, f"#{i}", FACE, 3, 0.8, 90.0) for i in range(1, 4))
    u = Update(1.0, rows, np.array([0, 0, 0, 1, 0, 0, 0], np.float32), 90.0, 3, 3, 0, 0)
    app.state.push(u)
    app.overlay.update()
    qtbot.waitUntil(lambda: app.overlay.rows_drawn == 3)
    app.state.class_only = True
    app.overlay.update()
    qtbot.waitUntil(lambda: app.overlay.rows_drawn == 0)


def test_foreign_window_listing_and_geometry(display, qapp, qtbot):
    import shutil

    from conftest import require

    from fer_overlay import windows

    require(shutil.which("xwininfo") is not None, "xwininfo and xprop (x11-utils) missing")

    probe = QLabel("probe")
    probe.setWindowTitle("Window list probe")
    probe.setFixedSize(400, 300)
    probe.move(210, 170)
    probe.show()
    qtbot.waitExposed(probe)
    wid = int(probe.winId())
    found = {w.wid: w for w in windows.list_windows()}
    assert wid in found and found[wid].title == "Window list probe"
    assert found[wid].rect == windows.Rect(210, 170, 400, 300)
    assert wid not in {w.wid for w in windows.list_windows(exclude={wid})}
    probe.move(300, 250)
    qtbot.waitUntil(lambda: windows.window_rect(wid) == windows.Rect(300, 250, 400, 300))
    probe.hide()
    qtbot.waitUntil(lambda: windows.window_rect(wid) is None)
    probe.close()
    assert windows.window_rect(0x7FFFFFF) is None  # a window that never existed


def test_mask_paints_the_overlay_out_of_the_capture():
    from fer_overlay.sources import mask_rects
    from fer_overlay.windows import Rect

    image = np.full((100, 200, 3), 30, np.uint8)
    image[20:80, 150:190] = 250  # "the overlay" drawn on the right of the capture
    origin = Rect(1000, 500, 200, 100)
    masked = mask_rects(image, origin, [Rect(1150, 520, 40, 60), Rect(0, 0, 10, 10)])
    assert masked == 40 * 60
    assert (image == 30).all()
    assert not math.isnan(float(image.mean()))


def test_settings_dialog_saves_choices(make_app, qtbot, tmp_path):
    from fer_overlay.app.settings import AppSettings

    app = make_app(privacy_acknowledged=True)
    dialog = app.open_settings()
    qtbot.waitExposed(dialog)
    dialog.rate.setValue(1.0)
    dialog.class_only.setChecked(True)
    dialog.camera_mode.setCurrentText("gallery")
    dialog.accept()
    saved, _ = AppSettings.load(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert (saved.rate_hz, saved.class_only, saved.camera_mode) == (1.0, True, "gallery")
    assert app.state.class_only


def test_region_off_every_monitor_pauses_with_a_message(make_app, qtbot):
    from fer_overlay.app.capture import Target
    from fer_overlay.windows import Rect

    app = make_app(privacy_acknowledged=True)
    assert app.start_session(Target("region", region=Rect(5000, 4000, 640, 360)))
    qtbot.waitUntil(lambda: "monitor lost" in app.state.paused_message, timeout=60_000)
    assert app.running and "PAUSED" in app.control.status.text()
    assert app.updates == 0
    app.stop_session(export=False)
    assert not app.running


SCALED_SCRIPT = """
import json, sys
import fer_overlay.app
from PySide6.QtCore import QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel
from fer_overlay import windows
from fer_overlay.app.main import FerOverlayApp

qa = QApplication([])
probe = QLabel("probe")
probe.setWindowTitle("Scaled probe")
probe.setFixedSize(300, 200)
probe.move(100, 80)
probe.show()
QTest.qWait(300)
native = windows.window_rect(int(probe.winId()))
store = QSettings(sys.argv[1], QSettings.Format.IniFormat)
store.setValue("privacy_acknowledged", True)
app = FerOverlayApp(store, show_dialogs=False)
app.overlay.follow(native)
mask = app.overlay.screen_rect()
print(json.dumps({"dpr": qa.primaryScreen().devicePixelRatio(), "native": list(vars(native).values()),
                  "overlay": [app.overlay.x(), app.overlay.y(), app.overlay.width(), app.overlay.height()],
                  "mask": list(vars(mask).values())}))
app.shutdown()
"""


def test_scaled_display_pins_and_masks_in_native_pixels(display, tmp_path):
    """At 200% (QT_SCALE_FACTOR=2) Qt speaks logical pixels, mss and the window system native ones."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "scaled.py"
    script.write_text(SCALED_SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "QT_SCALE_FACTOR": "2", "PYTHONPATH": str(repo)}
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "s.ini")],
        env=env,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["dpr"] == 2.0
    assert got["native"] == [200, 160, 600, 400]  # the probe window, in the pixels mss captures
    x, y, w, h = got["overlay"]
    # Pinned beside it, in logical pixels; the 600 px panel is taller than the 540 px logical screen,
    # so it starts at the top of the screen (its header and gauge visible).
    assert (x, y) == (100 + 300 + 8, 0) and h > 540
    assert got["mask"] == [2 * x, 2 * y, 2 * w, 2 * h]  # and masked where it really is on screen


@pytest.fixture
def system_tray(display, qapp, qtbot):
    """A real freedesktop system tray (``trayer``) on the test display, for as long as the test runs."""
    import os
    import shutil
    import subprocess

    from conftest import require
    from PySide6.QtWidgets import QSystemTrayIcon

    require(shutil.which("trayer") is not None, "trayer (a system tray for a bare X server) missing")
    assert not QSystemTrayIcon.isSystemTrayAvailable(), "another tray already runs on the test display"
    tray = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32"],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        qtbot.waitUntil(QSystemTrayIcon.isSystemTrayAvailable, timeout=30_000)
        yield tray
    finally:
        tray.terminate()
        try:
            tray.wait(10)
        except subprocess.TimeoutExpired:
            tray.kill()
            tray.wait()
    # The other tests expect no tray (the control window): Qt must have seen the tray go.
    qtbot.waitUntil(lambda: not QSystemTrayIcon.isSystemTrayAvailable(), timeout=10_000)


def test_tray_icon_menu_on_a_real_system_tray(system_tray, make_app, qtbot):
    from PySide6.QtWidgets import QMenu

    app = make_app(privacy_acknowledged=True)
    assert app.tray is not None and app.control is None
    assert app.tray.isVisible() and "analysis off" in app.tray.toolTip()
    # Docked in trayer: the icon has a real place on the screen.
    qtbot.waitUntil(lambda: not app.tray.geometry().isEmpty())
    assert QApplication.primaryScreen().geometry().contains(app.tray.geometry())
    menu = app.tray.contextMenu()
    assert isinstance(menu, QMenu)
    assert [a.text() for a in menu.actions()] == [
        "Start session",
        "Choose meeting window…",
        "Draw region…",
        "Show overlay",
        "Compact overlay",
        "Click-through overlay",
        "Indicators on tiles",
        "Virtual camera",
        "Export session…",
        "Settings…",
        "Copy consent text",
        "About / Privacy…",
        "Quit",
    ]
    # Open the menu at the icon and click "Show overlay": the overlay goes away and that is remembered.
    qtbot.waitExposed(app.overlay)
    menu.popup(app.tray.geometry().bottomLeft())
    qtbot.waitExposed(menu)
    show = app.actions["show_overlay"]
    assert show.isChecked()
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(show).center())
    qtbot.waitUntil(lambda: not app.overlay.isVisible())
    assert not show.isChecked() and not app.settings.overlay_visible
    qtbot.waitUntil(lambda: not menu.isVisible())


def test_wrong_typed_settings_fall_back_one_by_one_and_are_said_once(make_app, tmp_path):
    """A valid settings file with values of the wrong type or range: each such key gets its default,
    the good ones are kept, the app says so once (and stores the corrected values)."""
    from fer_overlay.app.overlay import COMPACT_SIZE, FULL_SIZE
    from fer_overlay.app.settings import AppSettings

    app = make_app(
        sparkline_minutes=-3,
        overlay_size="10,10",
        compact="maybe",
        rate_hz="fast",
        camera_size="wide",
        class_only="true",
        export_interval_s=30,
    )
    assert app.state.sparkline_minutes == AppSettings().sparkline_minutes
    assert app.overlay.size() == FULL_SIZE and app.overlay.size() != COMPACT_SIZE
    assert app.settings.rate_hz == 2.0 and app.settings.camera_wh == (1280, 720)
    assert app.settings.class_only and app.settings.export_interval_s == 30  # valid keys kept
    notice = app.control.message.text()
    assert notice.startswith("Some saved settings were invalid and were reset to their defaults:")
    for key in ("rate_hz", "compact", "sparkline_minutes", "overlay_size", "camera_size"):
        assert key in notice
    app.shutdown()
    again = make_app()  # the same settings file: corrected, so nothing to say
    assert again.settings_notice == "" and again.settings.class_only


def test_window_chooser_lists_no_window_of_its_own_and_shows_tall_windows(make_app, qtbot):
    """After Refresh the chooser did list itself; a meeting window taller than the screen showed
    "window closed or hidden" as its thumbnail while plainly visible."""
    import shutil

    from conftest import require

    require(shutil.which("xwininfo") is not None, "xwininfo (x11-utils) missing")
    tall = QLabel("a tall meeting")
    tall.setWindowTitle("Tall meeting window")
    tall.setStyleSheet("background:#3060a0")
    tall.setFixedSize(500, 1400)  # the screen is 1080 px high
    qtbot.addWidget(tall)
    tall.move(100, 0)
    tall.show()
    qtbot.waitExposed(tall)
    app = make_app(privacy_acknowledged=True)
    chooser = app.choose_window()
    qtbot.waitExposed(chooser)
    QTest.qWait(300)
    chooser.refresh()
    titles = [chooser.list.item(i).data(Qt.ItemDataRole.UserRole).title for i in range(chooser.list.count())]
    assert "Choose the meeting window" not in titles and "FER Overlay" not in titles
    assert chooser.select_title("Tall meeting window")
    chooser.update_thumbnail()
    pix = chooser.thumbnail.pixmap()
    assert pix is not None and not pix.isNull(), chooser.thumbnail.text()
    colour = pix.toImage().pixelColor(pix.width() // 2, pix.height() // 2)
    assert (colour.red(), colour.green(), colour.blue()) == (0x30, 0x60, 0xA0)  # the window itself
    chooser.reject()


def test_virtual_camera_error_text_never_covers_the_buttons_and_goes_after_ok(make_app, qtbot):
    import pyvirtualcam
    from PySide6.QtWidgets import QMessageBox

    class NoDevice:
        def __init__(self, **kw):
            raise RuntimeError("no loopback device found")

    pyvirtualcam.register_backend("fer-test-missing", NoDevice)
    app = make_app(show_dialogs=True, privacy_acknowledged=True, camera_backend="fer-test-missing")
    qtbot.waitExposed(app.control)
    app.actions["camera"].trigger()
    message = app.control.message
    assert "v4l2loopback" in message.text()
    qtbot.waitUntil(lambda: message.height() >= message.heightForWidth(message.width()))
    text_bottom = message.geometry().bottom()
    for button in app.control.buttons.values():  # every button is below the whole text
        assert button.geometry().top() > text_bottom, (button.text(), button.geometry(), text_bottom)
    box = next(d for d in app._dialogs if isinstance(d, QMessageBox))
    qtbot.waitExposed(box)
    box.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: "v4l2loopback" not in message.text())


def test_overlay_explains_gauge_and_percentages_and_colours_only_sure_labels(make_app, qtbot):
    """A face at "Angry 27%" was painted red; the gauge's "69" and a row's % had no meaning on screen."""
    from fer_overlay.app.engine import FACE, Row, Update
    from fer_overlay.app.overlay import LEGEND, render_dashboard, row_texts
    from fer_overlay.app.style import EMOTION_COLOURS

    app = make_app(privacy_acknowledged=True)
    assert app.overlay.toolTip() == LEGEND
    for words in ("Engagement indicator (the gauge, 0–100)", "80 = facing the screen", "how sure the model"):
        assert words in LEGEND

    def red_pixels(confidence: float) -> int:
        rows = (Row(1, "#1", FACE, 0, confidence, 70.0),)  # Angry
        mix = np.array([0, 0, 0, 0.2, 0.1, 0, 0.7], np.float32)  # no Angry in the mix's top three
        app.state.push(Update(1.0, rows, mix, 70.0, 1, 1, 0, 0))
        image = render_dashboard(app.state, 340, 600)
        rgb = np.frombuffer(image.constBits(), np.uint8).reshape(600, image.bytesPerLine())[:, : 340 * 3]
        red = np.array([int(EMOTION_COLOURS["Angry"][i : i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(rgb.reshape(600, 340, 3).astype(int) - red).sum(axis=2) < 20).sum())

    assert red_pixels(0.27) == 0  # a guess among close labels: grey, not red
    assert red_pixels(0.85) > 20  # a sure label keeps its colour
    assert [t.coloured for t in row_texts(app.state.update)] == [True]


def test_a_long_name_never_runs_into_its_rows_label(make_app):
    """Rows show the name read on the tile ("Eileen C."), not only "#12": a name wider than its column
    was painted under the label ("Eileen CHappy"); it is elided to its column instead."""
    from fer_overlay.app.engine import FACE, Row, Update
    from fer_overlay.app.overlay import render_dashboard
    from fer_overlay.app.style import EMOTION_COLOURS

    app = make_app(privacy_acknowledged=True)
    mix = np.array([0, 0, 0, 1, 0, 0, 0], np.float32)
    happy = np.array([int(EMOTION_COLOURS["Happy"][i : i + 2], 16) for i in (1, 3, 5)])
    fg = np.array([235, 238, 242])
    for name in ("Maximiliana Oberstaufen", "Eileen C.", "#12"):
        app.state.push(Update(1.0, (Row(1, name, FACE, 3, 0.9, 80.0),), mix, 80.0, 1, 1, 0, 0))
        image = render_dashboard(app.state, 340, 600)
        rgb = np.frombuffer(image.constBits(), np.uint8).reshape(600, image.bytesPerLine())[:, : 340 * 3]
        rgb = rgb.reshape(600, 340, 3).astype(int)
        is_fg = np.abs(rgb - fg).sum(axis=2) < 30
        is_happy = np.abs(rgb - happy).sum(axis=2) < 30
        band = is_happy.any(axis=1) & (np.arange(600) > 150)  # the row (below the gauge and the mix)
        name_x = np.nonzero(is_fg[band].any(axis=0))[0]
        name_x = name_x[name_x > 30]  # right of the face icon
        label_x = np.nonzero(is_happy[band].any(axis=0))[0]
        label_x = label_x[label_x > name_x.min()]  # the label's text, not the icon
        assert len(name_x) and len(label_x), name
        assert name_x.max() < label_x.min(), (name, name_x.max(), label_x.min())


def test_a_tile_badge_leaves_the_meetings_name_label_and_the_face_visible():
    """Meeting apps write the name at a tile's bottom left: a badge goes there only when every other
    corner would cover the face."""
    from fer_overlay.app.tiles import INSET, place

    tile, w, h = (0, 0, 480, 270), 150, 18
    bottom_left = (INSET, 270 - INSET - h)
    assert place(tile, (300, 40, 420, 180), w, h) == (INSET, INSET)  # face right: top left, not bottom left
    assert place(tile, (40, 40, 160, 180), w, h) == (480 - INSET - w, 270 - INSET - h)  # face left
    assert place(tile, None, w, h) != bottom_left
    assert place(tile, (20, 0, 470, 262), w, h) == bottom_left  # every corner on the face: the farthest
    assert place((0, 0, 100, 20), None, w, h) is None  # too small for a badge


def test_second_start_brings_the_running_app_to_the_front(make_app, qtbot, tmp_path):
    """A second ``fer-overlay`` with the same settings does not start a second app: it asks the running
    one (a real local socket, a real second process) to come to the front and exits 0 with one line."""
    import subprocess
    import sys

    from fer_overlay.app.single import SingleInstance, instance_name

    app = make_app(privacy_acknowledged=True, overlay_visible=False)
    assert not app.overlay.isVisible()
    settings = tmp_path / "settings.ini"  # what make_app's app runs on
    running = SingleInstance(instance_name(str(settings.resolve())), app)
    running.activated.connect(app.bring_to_front)
    try:
        with qtbot.waitSignal(running.activated, timeout=60_000):
            proc = subprocess.Popen(
                [sys.executable, "-m", "fer_overlay.cli", "--settings", str(settings)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        _, err = proc.communicate(timeout=60)
    finally:
        running.close()
    assert proc.returncode == 0
    assert err.strip().splitlines() == [
        "fer-overlay: FER Overlay is already running: its window was brought to the front"
    ]
    assert app.overlay.isVisible() and app.control.isVisible()
    assert app.control.message.text() == "FER Overlay is already running: this is it."
