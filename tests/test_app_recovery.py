"""Nothing is lost when the app is killed mid-session: ``fer-overlay``'s app runs in a separate
process (``python -m fer_overlay.app --start``) on a drawn region over a fake meeting window with
"class-wide figures only" on, is killed with SIGKILL, and the next start finds the unfinished session
and exports it, with class rows only."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import sigterm_when, write_settings  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtGui import QImage, QPixmap  # noqa: E402
from PySide6.QtWidgets import QLabel, QMessageBox  # noqa: E402

import fer_overlay.app  # noqa: E402, F401  (applies the PySide6 6.12 refcount workaround)

REPO = Path(__file__).resolve().parents[1]


def _class_rows(data_dir: Path) -> int:
    logs = list(data_dir.glob("*/captures.csv"))
    if not logs:
        return 0
    return sum(1 for line in logs[0].read_text().splitlines() if ",class," in line)


def test_killed_session_is_offered_and_exported_class_only(display, qapp, fer2013, qtbot, tmp_path):
    from fer_bench.synthetic import make_gallery
    from fer_overlay.app.main import FerOverlayApp
    from fer_overlay.app.recording import pending_sessions

    split = fer2013["PrivateTest"]
    gallery = make_gallery(split.faces[100:109], 3, 3, size=(1440, 810), style="teams", seed=5)
    rgb = np.ascontiguousarray(gallery.image[..., ::-1])
    meeting = QLabel()
    meeting.setPixmap(
        QPixmap.fromImage(QImage(rgb.data, 1440, 810, 3 * 1440, QImage.Format.Format_RGB888).copy())
    )
    meeting.setWindowTitle("Killed-session meeting")
    meeting.setFixedSize(1440, 810)
    meeting.move(0, 0)
    meeting.show()
    qtbot.waitExposed(meeting)

    ini, data = tmp_path / "settings.ini", tmp_path / "data"
    write_settings(
        ini,
        {
            "privacy_acknowledged": True,
            "class_only": True,
            "target_kind": "region",
            "region": "0,0,1440,810",
            "data_dir": str(data),
            "export_dir": str(tmp_path / "exports"),
            "export_interval_s": 1.0,
            "rate_hz": 4.0,
        },
    )

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_overlay.app", "--settings", str(ini), "--start"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        qtbot.waitUntil(lambda: _class_rows(data) >= 3 or proc.poll() is not None, timeout=120_000)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        # The live session is not offered for export while its app runs.
        assert pending_sessions(data) == []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
    logged = _class_rows(data)

    # The next start offers to finish the export (a non-modal question); the user accepts.
    app = FerOverlayApp(QSettings(str(ini), QSettings.Format.IniFormat), show_dialogs=True)
    exported: list = []
    app.message.connect(exported.append)
    try:
        pending = pending_sessions(data)
        assert len(pending) == 1
        log = (pending[0] / "captures.csv").read_text().splitlines()
        assert all(",class," in line for line in log[1:]), "class-only logs must hold no participant rows"
        qtbot.waitUntil(lambda: any(isinstance(d, QMessageBox) and d.isVisible() for d in app._dialogs))
        box = next(d for d in app._dialogs if isinstance(d, QMessageBox))
        assert "without export" in box.text()
        export_now = next(b for b in box.buttons() if b.text() == "Export now")
        qtbot.mouseClick(export_now, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: any("unfinished session" in m for m in exported))
        outs = [p for p in (tmp_path / "exports").iterdir() if p.is_dir()]
        assert [p.name for p in outs] == [pending[0].name]
        from fer_overlay.app.recording import captures_in

        captures = captures_in(pending[0])
        assert captures >= logged - 1  # at most a torn last line
        out = outs[0]
        with open(out / "summary.csv", newline="") as f:
            summary = list(csv.DictReader(f))
        assert [r["kind"] for r in summary] == ["class"]
        assert int(summary[0]["frames"]) == captures
        with open(out / "session.csv", newline="") as f:
            assert {r["kind"] for r in csv.DictReader(f)} == {"class"}
        assert (out / "summary.png").stat().st_size > 10_000
        assert pending_sessions(data) == []  # offered once, then done
    finally:
        app.shutdown()
        meeting.close()


def test_sigterm_stops_and_exports_like_quit(display, qapp, qtbot, tmp_path):
    """A logout or ``kill`` (SIGTERM) ends the app like Quit: the session is stopped and exported."""
    from fer_overlay.app.recording import pending_sessions, read_meta

    ini, data, exports = tmp_path / "settings.ini", tmp_path / "data", tmp_path / "exports"
    write_settings(
        ini,
        {
            "privacy_acknowledged": True,
            "target_kind": "region",
            "region": "0,0,800,600",
            "data_dir": str(data),
            "export_dir": str(exports),
            "rate_hz": 4.0,
        },
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_overlay.app", "--settings", str(ini), "--start"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sigterm_when(proc, qtbot, lambda: _class_rows(data) >= 2)
    (session,) = list(data.iterdir())
    meta = read_meta(session)
    assert meta["closed"] and meta["exported_to"] == str(exports / session.name)
    assert (exports / session.name / "summary.csv").is_file()
    assert pending_sessions(data) == []
