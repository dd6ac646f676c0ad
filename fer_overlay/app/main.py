"""The instructor's desktop app: tray icon (or control window), overlay, session control, export.

``run_app(argv)`` is what ``fer-overlay`` with no subcommand runs. :class:`FerOverlayApp` owns the
state and wires the pieces: the capture thread (:mod:`capture`) produces updates, which go to the
dashboard state, the overlay, the crash-safe recorder and the virtual camera. Where the desktop has
no system tray (Xvfb, some Linux desktops) a small control window offers the same menu, and it, like
the overlay and the tray icon, always shows whether analysis is on.
"""

from __future__ import annotations

import argparse
import gc
import math
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QSettings, QSize, Qt, QThread, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fer_overlay import __version__, windows
from fer_overlay.app.capture import CaptureWorker, Target, WindowFollower
from fer_overlay.app.dialogs import PrivacyDialog, RegionPicker, SettingsDialog, WindowChooser
from fer_overlay.app.dpi import to_native
from fer_overlay.app.engine import Engine
from fer_overlay.app.overlay import DashboardState, OverlayWindow
from fer_overlay.app.recording import (
    CaptureLog,
    ExportResult,
    dismiss,
    export_session,
    pending_sessions,
)
from fer_overlay.app.settings import AppSettings, default_store
from fer_overlay.app.single import SingleInstance, ask_running, instance_name
from fer_overlay.app.style import ANALYSIS_ON
from fer_overlay.app.texts import ABOUT_TEXT, CONSENT_TEXT
from fer_overlay.app.tiles import TileLayer
from fer_overlay.app.vcam import NoCameraBackend, VirtualCamera
from fer_overlay.frames import Result
from fer_overlay.windows import Rect

CAMERA_FPS = 10.0
GC_PERIOD_MS = 3000
"""While a session runs, Python's cyclic garbage is collected in the GUI thread on this period, and the
automatic collector is made lazy. Garbage that holds Qt objects must be freed in the GUI thread: an
automatic collection triggered in the capture thread would destroy them there and crash (seen with
PySide6 6.12 on Python 3.11)."""


def _reason(exc: OSError) -> str:
    """An OSError in words: our sinks' own one-line message, else "reason: file"."""
    from fer_overlay.sinks import SinkError

    if isinstance(exc, SinkError) or not exc.strerror:
        return str(exc)
    return exc.strerror + (f": {exc.filename}" if exc.filename else "")


def _dot_icon(colour: str) -> QIcon:
    pix = QPixmap(32, 32)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(colour))
    p.setPen(QColor("#202020"))
    p.drawEllipse(3, 3, 26, 26)
    p.end()
    return QIcon(pix)


class ControlWindow(QWidget):
    """The tray menu as a small window, for desktops without a system tray; closing it quits."""

    def __init__(self, app: FerOverlayApp) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.app = app
        self.setWindowTitle("FER Overlay")
        layout = QVBoxLayout(self)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.status)
        self.target = QLabel()
        self.target.setWordWrap(True)
        layout.addWidget(self.target)
        self.stats = QLabel()
        self.stats.setStyleSheet("color:#606060")
        layout.addWidget(self.stats)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color:#a06000")
        layout.addWidget(self.message)
        # Where the last Stop (or Export) put the files, with a button that opens that folder.
        export_row = QHBoxLayout()
        self.exported = QLabel()
        self.exported.setWordWrap(True)
        self.exported.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        export_row.addWidget(self.exported, 1)
        self.open_export = QPushButton("Open folder")
        self.open_export.clicked.connect(app.open_last_export)
        export_row.addWidget(self.open_export)
        layout.addLayout(export_row)
        self.exported.hide()
        self.open_export.hide()
        grid = QGridLayout()
        self.buttons: dict[str, QToolButton] = {}
        for i, key in enumerate(app.menu_order):
            if key is None:
                continue
            b = QToolButton()
            b.setDefaultAction(app.actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(b.sizePolicy().horizontalPolicy().Expanding, b.sizePolicy().verticalPolicy())
            grid.addWidget(b, i // 2, i % 2)
            self.buttons[key] = b
        layout.addLayout(grid)
        self.setFixedWidth(460)

    def fit(self) -> None:
        """Grow or shrink to the text it shows: a word-wrapped label's height depends on the width,
        which a top-level window does not follow by itself, so a long message overlapped the buttons."""
        self.setFixedHeight(self.layout().totalHeightForWidth(self.width()))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        event.accept()
        self.app.quit()


class FerOverlayApp(QObject):
    """The app's controller. Tests drive it directly (it is what the menu actions call)."""

    session_started = Signal()
    session_stopped = Signal(object)
    """The :class:`ExportResult` of the automatic export, or None."""
    message = Signal(str)

    menu_order = (
        "start",
        "choose_window",
        "draw_region",
        "show_overlay",
        "compact",
        "click_through",
        "tiles",
        "camera",
        "export",
        "settings",
        "consent",
        "about",
        "quit",
    )

    def __init__(self, store: QSettings | None = None, *, show_dialogs: bool = True) -> None:
        super().__init__()
        self.store = store if store is not None else default_store()
        self.settings, rejected = AppSettings.load(self.store)
        self.settings_notice = ""
        """Said once at start when some stored settings were invalid (they are stored corrected)."""
        if rejected:
            self.settings_notice = (
                f"Some saved settings were invalid and were reset to their defaults: {', '.join(rejected)}."
            )
            self.settings.save(self.store)
        self.show_dialogs = show_dialogs
        s = self.settings
        self.state = DashboardState(
            class_only=s.class_only, compact=False, sparkline_minutes=s.sparkline_minutes
        )
        self.overlay = OverlayWindow(self.state)
        if s.overlay_size:  # checked when loaded
            w, h = (int(float(v)) for v in s.overlay_size.split(","))
            self.overlay.resize(QSize(w, h))
        if s.overlay_offset:
            dx, dy = (int(float(v)) for v in s.overlay_offset.split(","))
            self.overlay.offset = QPoint(dx, dy)
        self.overlay.set_compact(s.compact)
        self.tiles = TileLayer()
        self.overlay.moved_by_user.connect(self._overlay_moved)
        self.overlay.resized_by_user.connect(self._overlay_resized)
        self.overlay.geometry_changed.connect(self._refresh_exclusions)
        self.target: Target | None = None
        if s.target_kind == "window" and s.target_wid:
            self.target = Target("window", s.target_wid, s.target_title)
        elif s.target_kind == "region" and s.region_rect is not None:
            self.target = Target("region", region=s.region_rect)
        self.engine = Engine()  # one pipeline for every session of this app (flat memory)
        self.worker: CaptureWorker | None = None
        self.thread: QThread | None = None
        self.follower: WindowFollower | None = None
        self.recorder: CaptureLog | None = None
        self.last_session: Path | None = None
        self.last_export: ExportResult | None = None
        self.camera: VirtualCamera | None = None
        self.camera_error = ""
        self.updates = 0
        self.worker_ready = False
        self._notes: dict[str, str] = {}
        self._dialogs: list[QWidget] = []
        self._gc_timer = QTimer(self)
        self._gc_timer.timeout.connect(gc.collect)
        self._gc_threshold: tuple[int, int, int] | None = None
        self._camera_timer = QTimer(self)
        self._camera_timer.timeout.connect(self._camera_tick)
        self._make_actions()
        self.tray: QSystemTrayIcon | None = None
        self.control: ControlWindow | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(_dot_icon("#7a828c"))
            self.tray.messageClicked.connect(self.open_last_export)  # "Session exported to …"
            menu = QMenu()
            for key in self.menu_order:
                menu.addAction(self.actions[key])
            self.tray.setContextMenu(menu)
            self._tray_menu = menu
            self.tray.show()
        else:
            self.control = ControlWindow(self)
            self.control.show()
            self._place_control_window()
        self._refresh_ui()
        if self.settings.overlay_visible:
            self.overlay.show()
        if self.settings_notice:
            self._notify(self.settings_notice)
        if not self.settings.privacy_acknowledged and self.show_dialogs:
            QTimer.singleShot(0, lambda: self.show_privacy(first_run=True))
        elif self.show_dialogs:
            QTimer.singleShot(0, self.offer_pending_exports)

    def _place_control_window(self) -> None:
        """Bottom-right of the primary screen: away from a meeting window's gallery."""
        screen = QApplication.primaryScreen()
        if screen is None or self.control is None:
            return
        avail = screen.availableGeometry()
        self.control.adjustSize()
        w, h = self.control.width(), self.control.height()
        self.control.move(avail.right() - w - 20, avail.bottom() - h - 40)

    # ------------------------------------------------------------------------------- actions
    def _make_actions(self) -> None:
        a: dict[str, QAction] = {}

        def add(key: str, text: str, slot, checkable: bool = False, checked: bool = False) -> None:
            act = QAction(text, self)
            act.setCheckable(checkable)
            if checkable:
                act.setChecked(checked)
                act.toggled.connect(slot)
            else:
                act.triggered.connect(lambda *_: slot())
            a[key] = act

        s = self.settings
        add("start", "Start session", self.toggle_session)
        add("choose_window", "Choose meeting window…", self.choose_window)
        add("draw_region", "Draw region…", self.draw_region)
        add("show_overlay", "Show overlay", self.set_overlay_visible, True, s.overlay_visible)
        add("compact", "Compact overlay", self.set_compact, True, s.compact)
        add("click_through", "Click-through overlay", self.set_click_through, True, s.click_through)
        add("tiles", "Indicators on tiles", self.set_tile_indicators, True, s.tile_indicators)
        add("camera", "Virtual camera", self.set_camera, True, False)
        add("export", "Export session…", self.export_dialog)
        add("settings", "Settings…", self.open_settings)
        add("consent", "Copy consent text", self.copy_consent)
        add("about", "About / Privacy…", lambda: self.show_privacy(first_run=False))
        add("quit", "Quit", self.quit)
        self.actions = a
        if s.click_through:
            self.overlay.set_click_through(True)

    def _save(self, **changes) -> None:
        from dataclasses import replace

        self.settings = replace(self.settings, **changes)
        self.settings.save(self.store)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def _refresh_ui(self) -> None:
        running = self.running
        self.actions["start"].setText("Stop session" if running else "Start session")
        paused = self.state.paused_message
        if self.tray is not None:
            self.tray.setIcon(_dot_icon(ANALYSIS_ON if running else "#7a828c"))
            self.tray.setToolTip("FER Overlay – ANALYSIS ON" if running else "FER Overlay – analysis off")
        if self.control is not None:
            if running and paused:
                html = "<b style='color:#c08000;font-size:15pt'>● ANALYSIS ON – PAUSED</b>"
            elif running:
                html = f"<b style='color:{ANALYSIS_ON};font-size:15pt'>● ANALYSIS ON</b>"
            else:
                html = "<b style='color:#707070;font-size:15pt'>○ analysis off</b>"
            self.control.status.setText(html)
            t = (
                self.target.describe()
                if self.target
                else "nothing chosen: choose a meeting window or draw a region"
            )
            self.control.target.setText(f"Analyses: {t}")
            self.control.message.setText(paused or self.state.note)
            shown = self.last_export is not None and not running
            if shown:
                self.control.exported.setText(f"Session exported to {self.last_export.folder}")
            self.control.exported.setVisible(shown)
            self.control.open_export.setVisible(shown)
            if not running:
                self.control.stats.setText("")
            self.control.setWindowTitle("FER Overlay – ANALYSIS ON" if running else "FER Overlay")
            self.control.fit()
        self.overlay.update()

    def _notify(self, text: str) -> None:
        self.message.emit(text)
        if self.control is not None:
            self.control.message.setText(text)
            self.control.fit()
        if self.tray is not None:
            self.tray.showMessage("FER Overlay", text)

    def own_window_ids(self) -> set[int]:
        ids = {int(self.overlay.winId())}
        if self.control is not None:
            ids.add(int(self.control.winId()))
        return ids

    # ------------------------------------------------------------------------------- session
    def toggle_session(self) -> None:
        if self.running:
            self.stop_session()
        else:
            self.start_session()

    def set_target(self, target: Target) -> None:
        self.target = target
        if target.kind == "window":
            self._save(target_kind="window", target_wid=target.wid, target_title=target.title)
        else:
            r = target.region
            self._save(target_kind="region", region=f"{r.x},{r.y},{r.width},{r.height}")
        if self.running:
            self.stop_session(export=False, keep_recording=True)
            self.start_session()
        self._refresh_ui()

    def _resolve_window(self, target: Target) -> Target | None:
        """The remembered window by id, else (after a restart of the meeting app) by its title."""
        try:
            if windows.window_rect(target.wid) is not None:
                return target
            for w in windows.list_windows(self.own_window_ids()):
                if w.title == target.title:
                    return Target("window", w.wid, w.title)
        except windows.WindowSystemError as exc:
            self._notify(str(exc))
        return None

    def start_session(self, target: Target | None = None) -> bool:
        """Start capture + analysis; False (with a message or a dialog) when it cannot start yet."""
        if self.running:
            return True
        if not self.settings.privacy_acknowledged:
            self.show_privacy(first_run=True)
            return False
        target = target or self.target
        if target is None:
            self._notify("Choose the meeting window or draw a region first.")
            if self.show_dialogs:
                self.choose_window()
            return False
        if target.kind == "window":
            resolved = self._resolve_window(target)
            if resolved is None:
                self._notify(f"The window “{target.title}” is not open. Choose the meeting window again.")
                return False
            target = resolved
        if target != self.target:
            self.set_target(target)
        if self.recorder is None:
            try:
                self.recorder = CaptureLog(
                    self.settings.resolved_data_dir(), target.describe(), self.settings.class_only
                )
            except OSError as exc:  # a read-only or full data folder: say so, start nothing
                self.state.note = f"Cannot record a session: {_reason(exc)}. Nothing was started."
                self._refresh_ui()
                self._notify(self.state.note)
                return False
        self._notes = {}
        self.state.note = ""
        self.state.class_only = self.settings.class_only
        self.state.running = True
        self.state.paused_message = ""
        self.worker = CaptureWorker(
            target,
            self.settings.rate_hz,
            self.engine,
            self.settings.model_path,
            threads=self.settings.resolved_threads(),
            names=not self.settings.class_only,
        )
        self.thread = QThread()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        # The worker lives in that thread: Qt deletes it there as the thread finishes (a deleteLater
        # posted to a finished thread never runs, and kept every session's worker and last capture).
        self.thread.finished.connect(self.worker.deleteLater)
        self.worker.analysed.connect(self._on_result)
        self.worker.paused.connect(self._on_paused)
        self.worker.resumed.connect(self._on_resumed)
        self.worker.failed.connect(self._on_failed)
        self.worker.ready.connect(self._on_worker_ready)
        self.worker.notice.connect(self._on_notice)
        if target.kind == "region" and target.region is not None:
            self.overlay.follow(target.region)
        else:
            self.follower = WindowFollower(target.wid, self)
            self.follower.moved.connect(self._on_target_moved)
        self._refresh_exclusions()
        self._gc_threshold = gc.get_threshold()
        gc.collect()
        gc.set_threshold(max(self._gc_threshold[0], 20_000), *self._gc_threshold[1:])
        self._gc_timer.start(GC_PERIOD_MS)
        self.thread.start()
        self._refresh_ui()
        self.session_started.emit()
        return True

    def stop_session(self, export: bool = True, keep_recording: bool = False) -> ExportResult | None:
        """Stop the capture thread; close the log and (by default) export it to the export folder."""
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
            self.follower = None
        if self.worker is not None and self.thread is not None:
            self.worker.stop()  # thread-safe: the capture loop ends within one capture
            self.thread.quit()
            self.thread.wait(10000)
            self.thread.deleteLater()
        self.worker = None
        self.thread = None
        self._show_tiles(None)  # no session: no badges
        self._gc_timer.stop()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None
        gc.collect()
        result = None
        if not keep_recording:
            self.state.running = False
            self.state.paused_message = ""
            if self.recorder is not None:
                captures = self.recorder.captures
                self.recorder.close()
                self.last_session = self.recorder.folder
                self.recorder = None
                if export and captures:
                    result = self.export_current(self.settings.resolved_export_dir() / self.last_session.name)
            self.session_stopped.emit(result)
        self._refresh_ui()
        return result

    def _on_worker_ready(self) -> None:
        self.worker_ready = True

    def _on_result(self, result: Result, origin: Rect | None = None) -> None:
        """One capture's Result to the app's sinks: the dashboard (overlay), the session log, the
        virtual camera, each ``append(result)`` like the engine's sinks."""
        if not self.running:
            return  # a capture queued before Stop
        self.updates += 1
        previous = self.state.update
        self.state.append(result)
        u = self.state.update
        if self.control is not None:
            rate = 1.0 / max(1e-3, u.timestamp - previous.timestamp) if previous is not None else math.nan
            total = u.timings_ms.get("total", math.nan)
            self.control.stats.setText(
                f"{u.participants} participants · {rate:.1f} captures/s · analysis {total:.0f} ms/capture"
            )
        if self.recorder is not None:
            try:
                self.recorder.append(result)
            except OSError as exc:
                self._recording_failed(exc)
                return
        self.overlay.update()
        self._show_tiles(origin)
        self._refresh_exclusions()
        if self.camera is not None:
            self._camera_send(result)
        if self.state.paused_message:
            self._on_resumed()

    def _recording_failed(self, exc: OSError) -> None:
        """The session log cannot be written (full disk): stop, keep what is logged, say so."""
        folder = self.recorder.folder if self.recorder is not None else None
        captures = self.recorder.captures if self.recorder is not None else 0
        self.stop_session(export=False)
        text = (
            f"Session stopped: its log cannot be written ({_reason(exc)}). The {captures} captures logged "
            f"before are kept in {folder}; free some space, then use Export session…"
        )
        self.state.note = text
        self._notify(text)
        self._refresh_ui()
        if self.show_dialogs:
            self._show_box(QMessageBox.Icon.Warning, text)

    def _on_notice(self, kind: str, text: str) -> None:
        """A hint from the capture thread (model not verified, tiles too small); "" withdraws it."""
        self._notes[kind] = text
        self.state.note = " ".join(t for t in self._notes.values() if t)
        self._refresh_ui()
        if text:
            self._notify(text)

    def _on_paused(self, message: str) -> None:
        self.state.paused_message = message
        self._refresh_ui()
        self._notify(message)

    def _on_resumed(self) -> None:
        self.state.paused_message = ""
        self._refresh_ui()

    def _on_failed(self, message: str) -> None:
        self.stop_session(export=False)
        self.state.note = message  # stays in the control window and the overlay until the next start
        self._refresh_ui()
        self._notify(message)
        if self.show_dialogs:
            self._show_box(QMessageBox.Icon.Critical, message)

    def _on_target_moved(self, rect: Rect) -> None:
        if self.target is not None and self.target.kind == "window":
            self.overlay.follow(rect)

    def _overlay_moved(self) -> None:
        off = self.overlay.offset
        if off is not None:
            self._save(overlay_offset=f"{off.x()},{off.y()}")
        self._overlay_resized()

    def _overlay_resized(self) -> None:
        if not self.state.compact:
            self._save(overlay_size=f"{self.overlay.width()},{self.overlay.height()}")

    def _refresh_exclusions(self) -> None:
        if self.worker is None:
            return
        covers = []
        if self.overlay.isVisible():
            covers.append(self.overlay.screen_rect())
        if self.control is not None and self.control.isVisible():
            covers.append(to_native(self.control.frameGeometry()))
        covers.extend(self.tiles.screen_rects())  # the badges, never the meeting window under them
        self.worker.set_exclusions(covers)

    # ------------------------------------------------------------------------------- overlay
    def set_overlay_visible(self, on: bool) -> None:
        self.overlay.setVisible(on)
        self._save(overlay_visible=on)

    def set_compact(self, on: bool) -> None:
        self.overlay.set_compact(on)
        self._save(compact=on)

    def set_click_through(self, on: bool) -> None:
        self.overlay.set_click_through(on)
        self._save(click_through=on)

    def set_tile_indicators(self, on: bool) -> None:
        """The per-tile layer over the meeting window (shown with the next capture; never class-only)."""
        self._save(tile_indicators=on)
        if not on:
            self.tiles.hide()
            self.tiles.clear()
            self._refresh_exclusions()

    def _show_tiles(self, origin: Rect | None) -> None:
        wanted = self.settings.tile_indicators and not self.settings.class_only and self.running
        if not wanted or origin is None or self.state.update is None:
            if self.tiles.isVisible():
                self.tiles.hide()
                self.tiles.clear()
            return
        self.tiles.show_result(self.state.update, origin)

    # ------------------------------------------------------------------------------- camera
    def set_camera(self, on: bool) -> None:
        if on and self.camera is None:
            w, h = self.settings.camera_wh
            try:
                self.camera = VirtualCamera(w, h, self.state, CAMERA_FPS, self.settings.camera_backend)
            except NoCameraBackend as exc:
                self.camera_error = str(exc)
                self.actions["camera"].blockSignals(True)
                self.actions["camera"].setChecked(False)
                self.actions["camera"].blockSignals(False)
                self._notify(self.camera_error)
                if self.show_dialogs:
                    box = self._show_box(QMessageBox.Icon.Warning, self.camera_error)
                    box.finished.connect(self._clear_camera_error)  # said in the box: gone after OK
                return
            self.camera_error = ""
            self._camera_send()
            self._camera_timer.start(int(1000 / CAMERA_FPS))
            self._notify(f"Virtual camera on: {self.camera.device}")
        elif not on and self.camera is not None:
            self._camera_timer.stop()
            self.camera.close()
            self.camera = None

    def set_camera_mode(self, mode: str) -> None:
        """``"dashboard"`` or ``"gallery"`` (the engine's annotated capture; dashboard when class-only)."""
        self._save(camera_mode=mode)

    def _camera_send(self, result: Result | None = None) -> None:
        if self.camera is not None:
            # Class-only never shows participants, so the gallery camera falls back to the dashboard.
            self.camera.mode = "dashboard" if self.settings.class_only else self.settings.camera_mode
            self.camera.append(result)

    def _camera_tick(self) -> None:
        if self.camera is not None:
            self.camera.resend()

    # ------------------------------------------------------------------------------- export
    def export_current(self, folder: Path) -> ExportResult | None:
        """Export the running session (what is logged so far) or the last one into ``folder``."""
        source = self.recorder.folder if self.recorder is not None else self.last_session
        if source is None:
            self._notify("No session to export yet.")
            return None
        try:
            result = export_session(source, Path(folder), self.settings.export_interval_s)
        except OSError as exc:
            self.state.note = f"Export failed: {_reason(exc)}. The session log is kept; export it again."
            self._refresh_ui()
            self._notify(self.state.note)
            return None
        self.last_export = result
        self._refresh_ui()
        self._notify(f"Session exported to {result.folder}")
        return result

    def bring_to_front(self) -> None:
        """A second start of the app: show this one instead (control window raised, or the tray says
        so, and the overlay shown)."""
        if self.control is not None:
            self.control.showNormal()
            self.control.raise_()
            self.control.activateWindow()
        if not self.overlay.isVisible():
            self.set_overlay_visible(True)
        self.overlay.raise_()
        self._notify("FER Overlay is already running: this is it.")

    def open_last_export(self) -> bool:
        """Open the folder of the last export in the desktop's file manager."""
        if self.last_export is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export.folder)))

    def export_dialog(self) -> None:
        base = self.settings.resolved_export_dir()
        base.mkdir(parents=True, exist_ok=True)
        folder = QFileDialog.getExistingDirectory(None, "Export the session to…", str(base))
        if folder:
            self.export_current(Path(folder))

    def finish_pending_exports(self) -> list[ExportResult]:
        """Export every session a killed or crashed run left behind (into the export folder)."""
        done = []
        for folder in pending_sessions(self.settings.resolved_data_dir()):
            done.append(
                export_session(
                    folder, self.settings.resolved_export_dir() / folder.name, self.settings.export_interval_s
                )
            )
        if done:
            self._notify(
                f"Exported {len(done)} unfinished session(s) to {self.settings.resolved_export_dir()}"
            )
        return done

    def offer_pending_exports(self) -> None:
        pending = pending_sessions(self.settings.resolved_data_dir())
        if not pending:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "FER Overlay – unfinished session",
            f"{len(pending)} session(s) ended without export (the app was closed or crashed). "
            "Their logs are intact. Export them now?",
        )
        export = box.addButton("Export now", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        discard = box.addButton("Don't ask again", QMessageBox.ButtonRole.DestructiveRole)

        def done(*_):
            if box.clickedButton() is export:
                self.finish_pending_exports()
            elif box.clickedButton() is discard:
                for f in pending:
                    dismiss(f)

        box.finished.connect(done)
        self._keep(box)
        box.open()

    # ------------------------------------------------------------------------------- dialogs
    def _keep(self, w: QWidget) -> None:
        self._dialogs.append(w)
        w.destroyed.connect(lambda *_: self._dialogs.remove(w) if w in self._dialogs else None)
        w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def _show_box(self, icon: QMessageBox.Icon, text: str) -> QMessageBox:
        box = QMessageBox(icon, "FER Overlay", text)
        self._keep(box)
        box.open()
        return box

    def _clear_camera_error(self) -> None:
        if self.control is not None and self.control.message.text() == self.camera_error:
            self.control.message.setText(self.state.paused_message or self.state.note)
            self.control.fit()

    def show_privacy(self, first_run: bool = False) -> PrivacyDialog:
        dlg = PrivacyDialog(None, first_run=first_run)
        if first_run:
            dlg.accepted.connect(self._acknowledge)
        self._keep(dlg)
        dlg.open()
        return dlg

    def _acknowledge(self) -> None:
        self._save(privacy_acknowledged=True)
        self.offer_pending_exports()

    def copy_consent(self) -> None:
        QApplication.clipboard().setText(CONSENT_TEXT)
        self._notify("Consent text copied: paste it into the meeting chat before you start.")

    def open_settings(self) -> SettingsDialog:
        dlg = SettingsDialog(self.settings)

        def accepted() -> None:
            new = dlg.result_settings()
            restart = self.running and new.rate_hz != self.settings.rate_hz
            self._save(**{k: getattr(new, k) for k in new.__dataclass_fields__})
            self.state.class_only = new.class_only
            if new.class_only:
                self._show_tiles(None)  # never per-participant badges in class-only mode
            self.state.sparkline_minutes = new.sparkline_minutes
            if self.recorder is not None and new.class_only and not self.recorder.class_only:
                self.recorder.set_class_only()  # from now on, and the whole session's export
            elif self.recorder is not None and not new.class_only and self.recorder.class_only:
                self._notify("Participant rows are recorded again from the next session on.")
            if self.worker is not None:
                self.worker.set_names(not new.class_only)
            if restart:
                self.stop_session(export=False, keep_recording=True)
                self.start_session()
            self._refresh_ui()

        dlg.accepted.connect(accepted)
        self._keep(dlg)
        dlg.open()
        return dlg

    def choose_window(self) -> WindowChooser:
        dlg = WindowChooser(self.own_window_ids())

        def accepted() -> None:
            t = dlg.selected_target()
            if t is not None:
                self.set_target(t)

        dlg.accepted.connect(accepted)
        self._keep(dlg)
        dlg.open()
        return dlg

    def draw_region(self) -> RegionPicker:
        picker = RegionPicker()

        def chosen(rect: Rect | None) -> None:
            if rect is not None:
                self.set_target(Target("region", region=rect))

        picker.chosen.connect(chosen)
        self._keep(picker)
        picker.show()
        return picker

    def about_text(self) -> str:
        return ABOUT_TEXT.format(version=__version__)

    def quit(self) -> None:
        """Stop (exporting the session), close the camera, remember the overlay, leave the event loop."""
        if self.running or self.recorder is not None:
            self.stop_session(export=True)
        if self.camera is not None:
            self.set_camera(False)
        self._overlay_moved()
        self.shutdown()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def shutdown(self) -> None:
        """Close every window without quitting the QApplication (tests call this)."""
        if self.running:
            self.stop_session(export=False)
        if self.camera is not None:
            self.set_camera(False)
        for w in list(self._dialogs):
            w.close()
        self.overlay.close()
        self.tiles.close()
        if self.control is not None:
            self.control.blockSignals(True)
            c, self.control = self.control, None
            c.hide()
            c.deleteLater()
        if self.tray is not None:
            self.tray.hide()


ALREADY_RUNNING = "FER Overlay is already running: its window was brought to the front"


def run_app(argv: list[str] | None = None) -> int:
    """Start the desktop app (what ``fer-overlay`` with no subcommand runs); returns the exit code."""
    parser = argparse.ArgumentParser(prog="fer-overlay", description="FER Overlay desktop app")
    parser.add_argument("--settings", help="use this INI file instead of the user's settings")
    parser.add_argument("--start", action="store_true", help="start a session on the remembered target")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    name = instance_name(str(Path(args.settings).resolve()) if args.settings else "")
    if ask_running(name):
        print(
            "fer-overlay: FER Overlay is already running: its window was brought to the front",
            file=sys.stderr,
        )
        return 0
    qapp.setApplicationName("fer-overlay")
    qapp.setOrganizationName("FER Overlay")
    qapp.setApplicationDisplayName("FER Overlay")
    store = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else default_store()
    app = FerOverlayApp(store)
    single = SingleInstance(name, app)
    single.activated.connect(app.bring_to_front)
    qapp.setQuitOnLastWindowClosed(False)
    if args.start:
        QTimer.singleShot(0, app.start_session)
    # Ctrl+C in a terminal and SIGTERM (logout, shutdown) stop the session and export it like Quit.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, app.quit))
    wake = QTimer()
    wake.timeout.connect(lambda: None)  # returns to Python now and then, so that signal handlers run
    wake.start(250)
    code = qapp.exec()
    single.close()
    app.shutdown()
    return int(code)
