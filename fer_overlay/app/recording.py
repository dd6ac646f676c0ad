"""Session recording that survives a crash, and the export the instructor asks for.

While a session runs, every analysed capture is appended to ``captures.csv`` in the app's data folder
and written through at once (one write per capture), so killing the app loses at most the capture in
flight; a write that fails (full disk) leaves the earlier captures whole and raises
:class:`~fer_overlay.sinks.SinkError`, an ``OSError``, for the app to show. A ``QLockFile`` marks the
session as live; on the next start a session folder whose lock is stale (its process is gone) and that
was never exported is offered for export. With "class-wide figures only" no participant row is ever
written, so per-participant data cannot end up in an export.

Export replays the log through the engine's own sinks, so the files are exactly the engine's formats:
``session.csv`` (:class:`fer_overlay.sinks.SessionRecorder`, rows every ``interval`` seconds) and
``summary.csv`` + ``summary.png`` (:class:`fer_overlay.sinks.SummaryWriter`: one row per participant
and one for the class, and the engagement/emotion-mix plot). The same path serves Stop, the Export
menu (also mid-session) and the recovery of a killed session.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QLockFile

from fer_overlay.app.engine import Update
from fer_overlay.frames import STATE_NAMES, ClassSnapshot, Faces, Frame, Participants, Result, Tiles
from fer_overlay.labels import EMOTIONS
from fer_overlay.sinks.record import CsvAppender

LOG = "captures.csv"
META = "session.json"
LOCK = "running.lock"
LOG_FIELDS = [
    "timestamp_s",
    "who",
    "state",
    "participants",
    "with_face",
    "no_face",
    "camera_off",
    "presence",
    "engagement",
] + [f"p_{e.lower()}" for e in EMOTIONS]
EXPORT_FILES = ("session.csv", "summary.csv", "summary.png")


def _fmt(v: float) -> str:
    return "" if v is None or math.isnan(v) else f"{v:.4f}"


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
        self._file = CsvAppender(self.folder / LOG, LOG_FIELDS, "session log")
        self.captures = 0

    def add(self, u: Update) -> None:
        """Append one capture, written through at once (crash-safe up to this capture)."""
        t = f"{u.timestamp:.3f}"
        rows = []
        if not self.class_only:
            for r in u.rows:
                probs = r.probs or (math.nan,) * len(EMOTIONS)
                rows.append(
                    [t, r.pid, STATE_NAMES[r.state], "", "", "", "", _fmt(r.presence), _fmt(r.engagement)]
                    + [_fmt(v) for v in probs]
                )
        rows.append(
            [t, "class", "", u.participants, u.with_face, u.no_face, u.camera_off, "", _fmt(u.engagement)]
            + [_fmt(float(v)) for v in u.distribution]
        )
        self._file.write(rows)
        self.captures += 1

    def set_class_only(self) -> None:
        """Stop writing participant rows now and keep the earlier ones out of every export."""
        self.class_only = True
        self.meta["class_only"] = True
        write_meta(self.folder, self.meta)

    def close(self) -> None:
        """Close the log; never raises (on a full disk the meta file may keep ``closed: false``)."""
        self._file.close()
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
        if read_captures(folder):
            out.append(folder)
    return out


def dismiss(folder: Path) -> None:
    """Keep the log but stop offering it for export."""
    meta = read_meta(folder)
    meta["dismissed"] = True
    write_meta(folder, meta)


def _num(s: str) -> float:
    try:
        return float(s)
    except (TypeError, ValueError):
        return math.nan


def read_captures(folder: Path) -> list[Result]:
    """The log replayed as engine :class:`Result` values (no pictures); a torn last line is dropped."""
    path = Path(folder) / LOG
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f)]
    results: list[Result] = []
    people: list[dict[str, str]] = []
    blank = np.zeros((1, 1, 3), np.uint8)
    for r in rows:
        if r.get("who") != "class":
            people.append(r)
            continue
        if r.get(f"p_{EMOTIONS[-1].lower()}") is None:  # torn line
            break
        t = _num(r["timestamp_s"])
        mine = [p for p in people if p["timestamp_s"] == r["timestamp_s"]]
        people = []
        n = len(mine)
        state = np.array([STATE_NAMES.index(p["state"]) for p in mine], np.int8)
        participants = Participants(
            id=np.array([int(p["who"]) for p in mine], np.int32),
            xyxy=np.zeros((n, 4), np.int32),
            face_xyxy=np.full((n, 4), np.nan, np.float32),
            state=state,
            probs=np.array([[_num(p[f"p_{e.lower()}"]) for e in EMOTIONS] for p in mine], np.float32).reshape(
                n, len(EMOTIONS)
            ),
            presence=np.array([_num(p["presence"]) for p in mine], np.float32),
            engagement=np.array([_num(p["engagement"]) for p in mine], np.float32),
        )
        snap = ClassSnapshot(
            timestamp=t,
            participants=int(r["participants"]),
            with_face=int(r["with_face"]),
            no_face=int(r["no_face"]),
            camera_off=int(r["camera_off"]),
            distribution=np.array([_num(r[f"p_{e.lower()}"]) for e in EMOTIONS], np.float32),
            engagement=_num(r["engagement"]),
        )
        results.append(Result(Frame(blank, t), Tiles.empty(), Faces.empty(), participants, snap))
    return results


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: tuple[Path, ...]
    captures: int
    participants: int


def export_session(session_folder: Path, out_dir: Path, interval: float = 10.0) -> ExportResult:
    """Write the engine's session CSV, summary CSV and plot of one logged session into ``out_dir``."""
    from fer_overlay.sinks import SessionRecorder, SummaryWriter

    session_folder, out_dir = Path(session_folder), Path(out_dir)
    results = read_captures(session_folder)
    if read_meta(session_folder).get(
        "class_only"
    ):  # class-only switched on mid-session: drop what came before
        results = [replace(r, participants=Participants.empty()) for r in results]
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        SessionRecorder(out_dir / "session.csv", interval=interval) as rec,
        SummaryWriter(out_dir / "summary.csv") as summary,
    ):
        for result in results:
            rec.append(result)
            summary.append(result)
    meta = read_meta(session_folder)
    meta["exported_to"] = str(out_dir)
    meta["exported_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_meta(session_folder, meta)
    ids = {int(i) for r in results for i in r.participants.id}
    return ExportResult(out_dir, tuple(out_dir / f for f in EXPORT_FILES), len(results), len(ids))
