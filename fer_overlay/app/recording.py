"""Session recording that survives a crash, and the export the instructor asks for.

While a session runs, every analysed capture is appended to ``captures.csv`` in the app's data folder
by the engine's own :class:`~fer_overlay.sinks.SessionRecorder` with one row set per capture
(``interval=None``: the session CSV's columns, written through at once), so killing the app loses at
most the capture in flight; a write that fails (full disk) leaves the earlier captures whole and raises
:class:`~fer_overlay.sinks.SinkError`, an ``OSError``, for the app to show. A ``QLockFile`` marks the
session as live; on the next start a session folder whose lock is stale (its process is gone) and that
was never exported is offered for export. With "class-wide figures only" no participant row is ever
written, so per-participant data cannot end up in an export.

Export replays the log (:func:`fer_overlay.sinks.record.replay`) through the engine's sinks, so the
files are exactly the engine's formats:
``session.csv`` (:class:`fer_overlay.sinks.SessionRecorder`, rows every ``interval`` seconds) and
``summary.csv`` + ``summary.png`` (:class:`fer_overlay.sinks.SummaryWriter`: one row per participant
and one for the class, and the engagement/emotion-mix plot). The same path serves Stop, the Export
menu (also mid-session) and the recovery of a killed session.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLockFile

from fer_overlay.frames import Result
from fer_overlay.sinks.record import SessionRecorder, SummaryWriter, read_log, replay

LOG = "captures.csv"
META = "session.json"
LOCK = "running.lock"
EXPORT_FILES = ("session.csv", "summary.csv", "summary.png")


class CaptureLog:
    """The incremental log of one live session (one folder under the data dir)."""

    def __init__(self, data_dir: Path, target: str, class_only: bool) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
        self.folder = Path(data_dir) / stamp
        n = 1
        while self.folder.exists():
            n += 1
            self.folder = Path(data_dir) / f"{stamp}_{n}"
        self.folder.mkdir(parents=True)
        self.class_only = class_only
        self._lock = QLockFile(str(self.folder / LOCK))
        self._lock.setStaleLockTime(0)
        self._lock.tryLock(0)
        self.meta = {
            "started": datetime.now().isoformat(timespec="seconds"),
            "target": target,
            "class_only": class_only,
            "closed": False,
            "exported_to": None,
        }
        write_meta(self.folder, self.meta)
        self._log = SessionRecorder(self.folder / LOG, interval=None, class_only=class_only).__enter__()
        self.captures = 0

    def append(self, result: Result) -> None:
        """Append one capture, written through at once (crash-safe up to this capture)."""
        self._log.append(result)
        self.captures += 1

    def set_class_only(self) -> None:
        """Stop writing participant rows now and keep the earlier ones out of every export."""
        self.class_only = self._log.class_only = True
        self.meta["class_only"] = True
        write_meta(self.folder, self.meta)

    def close(self) -> None:
        """Close the log; never raises (on a full disk the meta file may keep ``closed: false``)."""
        try:
            self._log.__exit__(None, None, None)
        except OSError:
            pass  # a failed log is already cut back to its last whole capture
        self.meta["closed"] = True
        try:
            write_meta(self.folder, self.meta)
        except OSError:
            pass  # the captures are what matters, and they are on disk
        self._lock.unlock()


def read_meta(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_meta(folder: Path, meta: dict) -> None:
    tmp = Path(folder) / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, Path(folder) / META)


def pending_sessions(data_dir: Path) -> list[Path]:
    """Session folders never exported whose app is gone (killed or crashed), with at least one capture."""
    base = Path(data_dir)
    if not base.is_dir():
        return []
    out = []
    for folder in sorted(p for p in base.iterdir() if (p / LOG).is_file()):
        meta = read_meta(folder)
        if meta.get("exported_to") or meta.get("dismissed"):
            continue
        lock = QLockFile(str(folder / LOCK))
        lock.setStaleLockTime(0)
        if not lock.tryLock(0):  # a live app still records there
            continue
        lock.unlock()
        if captures_in(folder):
            out.append(folder)
    return out


def dismiss(folder: Path) -> None:
    """Keep the log but stop offering it for export."""
    meta = read_meta(folder)
    meta["dismissed"] = True
    write_meta(folder, meta)


def captures_in(folder: Path) -> int:
    """Whole captures in a session folder's log (a torn last one is not counted)."""
    path = Path(folder) / LOG
    return len(read_log(path)) if path.is_file() else 0


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: tuple[Path, ...]
    captures: int
    participants: int


def export_session(session_folder: Path, out_dir: Path, interval: float = 10.0) -> ExportResult:
    """Write the engine's session CSV, summary CSV and plot of one logged session into ``out_dir``."""
    session_folder, out_dir = Path(session_folder), Path(out_dir)
    # Class-only switched on mid-session: the participants' rows logged before are dropped too.
    class_only = bool(read_meta(session_folder).get("class_only"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        SessionRecorder(out_dir / "session.csv", interval=interval) as rec,
        SummaryWriter(out_dir / "summary.csv") as summary,
    ):
        captures = replay(session_folder / LOG, rec, summary, class_only=class_only)
    meta = read_meta(session_folder)
    meta["exported_to"] = str(out_dir)
    meta["exported_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_meta(session_folder, meta)
    ids = {o.who for _, obs in read_log(session_folder / LOG) for o in obs if o.who != "class"}
    return ExportResult(
        out_dir, tuple(out_dir / f for f in EXPORT_FILES), captures, 0 if class_only else len(ids)
    )
