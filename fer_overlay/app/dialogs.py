"""The app's dialogs: privacy/consent, settings, choosing a meeting window, drawing a region.

Every dialog is opened with ``open()`` (window-modal, non-blocking) rather than ``exec()``, so the
event loop, the capture thread and the tests keep running while one is on screen.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from fer_overlay import windows
from fer_overlay.app.capture import Target
from fer_overlay.app.dpi import to_logical
from fer_overlay.app.settings import CAMERA_MODES, AppSettings
from fer_overlay.app.texts import CONSENT_TEXT, PRIVACY_HTML
from fer_overlay.sources import open_mss
from fer_overlay.windows import Rect


def grab_rgb(rect: Rect) -> np.ndarray | None:
    """A one-off screenshot of the on-screen part of ``rect`` as RGB (thumbnails and the frozen region
    picker); None when none of it is on a monitor. A window taller or wider than the screen is shown
    as far as it is visible, as the capture analyses it."""
    try:
        with open_mss() as sct:
            m = sct.monitors[0]
            visible = rect.intersected(Rect(m["left"], m["top"], m["width"], m["height"]))
            if visible is None:
                return None
            shot = sct.grab(visible.as_mss())
    except Exception:  # noqa: BLE001 - lost: no thumbnail
        return None
    return np.frombuffer(shot.bgra, np.uint8).reshape(shot.height, shot.width, 4)[..., 2::-1].copy()


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(img.copy())


class PrivacyDialog(QDialog):
    """First start and About/Privacy: what is analysed, that it stays local, the law, consent."""

    def __init__(self, parent: QWidget | None = None, first_run: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("FER Overlay – privacy and responsible use")
        self.resize(620, 640)
        layout = QVBoxLayout(self)
        text = QTextBrowser()
        text.setHtml(PRIVACY_HTML)
        layout.addWidget(text)
        copy = QPushButton("Copy consent text")
        copy.setToolTip(CONSENT_TEXT)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(CONSENT_TEXT))
        buttons = QDialogButtonBox()
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        ok = buttons.addButton(
            "I understand" if first_run else "Close", QDialogButtonBox.ButtonRole.AcceptRole
        )
        ok.clicked.connect(self.accept)
        layout.addWidget(buttons)


class SettingsDialog(QDialog):
    """Edits an :class:`AppSettings`; ``result_settings()`` gives the edited copy."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FER Overlay – settings")
        self._base = settings
        form = QFormLayout(self)
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.2, 10.0)
        self.rate.setSingleStep(0.5)
        self.rate.setSuffix(" Hz")
        self.rate.setValue(settings.rate_hz)
        form.addRow("Analysis rate", self.rate)
        self.class_only = QCheckBox(
            "Class-wide figures only (hide participant rows, leave them out of exports)"
        )
        self.class_only.setChecked(settings.class_only)
        form.addRow(self.class_only)
        self.spark = QDoubleSpinBox()
        self.spark.setRange(1, 60)
        self.spark.setSuffix(" min")
        self.spark.setValue(settings.sparkline_minutes)
        form.addRow("Sparkline span", self.spark)
        self.camera_mode = QComboBox()
        self.camera_mode.addItems(CAMERA_MODES)
        self.camera_mode.setCurrentText(settings.camera_mode)
        form.addRow("Virtual camera shows", self.camera_mode)
        self.camera_size = QLineEdit(settings.camera_size)
        form.addRow("Virtual camera size (w,h)", self.camera_size)
        row = QHBoxLayout()
        self.export_dir = QLineEdit(str(settings.resolved_export_dir()))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.export_dir)
        row.addWidget(browse)
        form.addRow("Export folder", row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.export_dir.text())
        if folder:
            self.export_dir.setText(folder)

    def result_settings(self) -> AppSettings:
        return replace(
            self._base,
            rate_hz=float(self.rate.value()),
            class_only=self.class_only.isChecked(),
            sparkline_minutes=float(self.spark.value()),
            camera_mode=self.camera_mode.currentText(),
            camera_size=self.camera_size.text().strip() or "1280,720",
            export_dir=self.export_dir.text().strip(),
        )


class WindowChooser(QDialog):
    """Lists the open windows with a live thumbnail of the selected one (refreshed every second)."""

    def __init__(self, exclude: set[int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose the meeting window")
        self.resize(760, 420)
        self.exclude = exclude
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget()
        left.addWidget(self.list)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        left.addWidget(refresh)
        layout.addLayout(left, 1)
        right = QVBoxLayout()
        self.thumbnail = QLabel("Select a window")
        self.thumbnail.setFixedSize(QSize(400, 260))
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background:#202020;color:#aaa")
        right.addWidget(self.thumbnail)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        right.addWidget(self.message)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Analyse this window")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        right.addWidget(buttons)
        layout.addLayout(right, 1)
        self.list.currentItemChanged.connect(lambda *_: self.update_thumbnail())
        self.list.itemDoubleClicked.connect(lambda *_: self.accept())
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.update_thumbnail)
        self._timer.start(1000)
        self.refresh()

    def own_windows(self) -> set[int]:
        """The app's windows (overlay, control window) and this dialog: never offered for analysis."""
        return set(self.exclude) | {int(self.winId())}

    def refresh(self) -> None:
        self.list.clear()
        try:
            found = windows.list_windows(self.own_windows())
        except windows.WindowSystemError as exc:
            self.message.setText(str(exc))
            return
        for w in found:
            item = QListWidgetItem(f"{w.title}  ({w.rect.width}x{w.rect.height})")
            item.setData(Qt.ItemDataRole.UserRole, w)
            self.list.addItem(item)
        self.message.setText("" if found else "No other windows found. Use Draw region instead.")

    def select_title(self, title: str) -> bool:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole).title == title:
                self.list.setCurrentRow(i)
                return True
        return False

    def selected(self) -> windows.WindowInfo | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def selected_target(self) -> Target | None:
        w = self.selected()
        return Target("window", w.wid, w.title) if w is not None else None

    def update_thumbnail(self) -> None:
        w = self.selected()
        if w is None:
            return
        rect = windows.window_rect(w.wid)
        rgb = grab_rgb(rect) if rect is not None else None
        if rgb is None:
            self.thumbnail.setText("window closed or hidden" if rect is None else "window off the screen")
            return
        pix = rgb_to_pixmap(rgb).scaled(
            self.thumbnail.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.thumbnail.setPixmap(pix)

    def done(self, r: int) -> None:  # noqa: D401 - Qt API
        self._timer.stop()
        super().done(r)


class RegionPicker(QWidget):
    """A full-screen frozen screenshot on which the user drags a rubber band; Esc cancels.

    Freezing the picture means the meeting's own animation cannot move under the cursor while the
    region is drawn, and the picker never appears in the analysis (it is gone before capture starts).
    """

    chosen = Signal(object)
    """The :class:`Rect` drawn (screen pixels), or None when cancelled."""

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
        with open_mss() as sct:
            mon = sct.monitors[0]
        self.origin = Rect(mon["left"], mon["top"], mon["width"], mon["height"])
        screen = QGuiApplication.primaryScreen()
        self.dpr = screen.devicePixelRatio() if screen is not None else 1.0
        rgb = grab_rgb(self.origin)
        self.frozen = rgb_to_pixmap(rgb) if rgb is not None else QPixmap()
        self.frozen.setDevicePixelRatio(self.dpr)  # native pixels shown at logical size
        self.setGeometry(to_logical(self.origin))
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._a: QPoint | None = None
        self._b: QPoint | None = None

    def _rect(self) -> QRect:
        """The dragged rectangle, corner to corner (Qt's two-point QRect would include the end pixel)."""
        a, b = self._a, self._b
        return QRect(min(a.x(), b.x()), min(a.y(), b.y()), abs(b.x() - a.x()), abs(b.y() - a.y()))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.drawPixmap(0, 0, self.frozen)
        p.fillRect(self.rect(), QColor(0, 0, 0, 90))
        if self._a is not None and self._b is not None:
            r = self._rect()
            d = self.dpr
            p.drawPixmap(
                r,
                self.frozen,
                QRect(round(r.x() * d), round(r.y() * d), round(r.width() * d), round(r.height() * d)),
            )
            p.setPen(QPen(QColor("#4aa3ff"), 2))
            p.drawRect(r)
        p.setPen(QColor("white"))
        p.drawText(20, 30, "Drag over the meeting's gallery. Esc cancels.")
        p.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._a = self._b = event.position().toPoint()
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._a is not None:
            self._b = event.position().toPoint()
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._a is None:
            return
        self._b = event.position().toPoint()
        r = self._rect()
        self.close()
        d = self.dpr
        native = Rect(
            self.origin.x + round(r.x() * d),
            self.origin.y + round(r.y() * d),
            round(r.width() * d),
            round(r.height() * d),
        )
        if native.width >= 64 and native.height >= 48:
            self.chosen.emit(native)
        else:
            self.chosen.emit(None)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            self.chosen.emit(None)
