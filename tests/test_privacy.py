"""Privacy guarantees, tested: a session opens no socket, and no image is written unless asked for.

Sockets are watched with Python's audit hooks (``sys.addaudithook``: every ``socket.*`` event, e.g.
``socket.__new__``, ``socket.connect``, ``socket.bind``, ``socket.getaddrinfo``) in the real command
(``fer-overlay analyze`` in its own process), in an engine :class:`Session` and in the app's engine
path (its :class:`Engine` pipeline) in this process, and in the desktop app running a whole session in its
own process. Audit hooks see what Python code does; native libraries (ONNX Runtime, OpenCV, Qt) are
not audited. The app talks to the X server through its Unix socket inside Qt's C++ code, which is the
display it draws on, not the network.

Files: ``analyze`` runs in an empty working folder with ``HOME`` and ``TMPDIR`` (and the XDG folders)
pointed into the test's temporary folder; afterwards every file there is checked by name and by its
first bytes (PNG, JPEG, GIF, BMP, TIFF, WebP, MP4/MOV, AVI, Matroska/WebM, NumPy arrays) and every file
Python opened for writing is listed through the same audit hook. With only ``--csv`` no image
appears; with ``--out`` exactly the requested file does. ``--summary`` writes ``summary.png``: a chart
of class engagement and the emotion mix over time, with no frame or face in it; it is the one picture
written without ``--out``, only when asked for, and is checked to be that chart (900x600).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import require, sigterm_when, write_settings
from galleries import gallery, write_video

from fer_overlay.classify import default_model_path
from fer_overlay.sinks import Annotator, SessionRecorder
from fer_overlay.sources import FolderSource

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".mp4", ".mov", ".avi"}
IMAGE_SUFFIXES |= {".mkv", ".webm", ".npy", ".npz", ".ppm", ".pgm"}


@pytest.fixture(scope="module", autouse=True)
def model():
    require(default_model_path().is_file(), f"no model at {default_model_path()}")


def image_kind(path: Path) -> str | None:
    """What picture or video a file is by its first bytes, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"AVI "):
        return head[8:12].decode().strip().lower()
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"\x93NUMPY") or head.startswith(b"PK\x03\x04"):  # .npy, .npz (zip)
        return "numpy"
    if head[:2] in (b"P5", b"P6"):
        return "pnm"
    return None


def pictures_under(*roots: Path) -> dict[Path, str]:
    """Every file under ``roots`` that is a picture or video, by name or by content."""
    found = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                kind = image_kind(path) or ("by name" if path.suffix.lower() in IMAGE_SUFFIXES else None)
                if kind:
                    found[path] = kind
    return found


# The hook a watched process installs first: socket events and files opened for writing, one JSON
# line each, to the file named by $FER_AUDIT (opened before the hook, so it is not reported itself).
AUDIT = r"""
import json, os, sys
_log = open(os.environ["FER_AUDIT"], "w", buffering=1)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _hook(event, args):
    if event.startswith("socket."):
        _log.write(json.dumps(["socket", event, repr(args)[:200]]) + "\n")
    elif event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE)
        if writes:
            _log.write(json.dumps(["write", os.fsdecode(args[0])]) + "\n")

sys.addaudithook(_hook)
"""


def read_audit(path: Path) -> tuple[list, list[str]]:
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    sockets = [e for e in entries if e[0] == "socket"]
    writes = [e[1] for e in entries if e[0] == "write" and not e[1].endswith((".pyc", ".pyc.tmp"))]
    return sockets, writes


def private_env(base: Path) -> dict[str, str]:
    """HOME, TMPDIR and the XDG folders inside ``base``: where a careless library would write."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    for name, sub in {
        "HOME": "home",
        "TMPDIR": "tmp",
        "XDG_CACHE_HOME": "home/.cache",
        "XDG_CONFIG_HOME": "home/.config",
        "XDG_DATA_HOME": "home/.local/share",
        "XDG_RUNTIME_DIR": "runtime",
        "MPLCONFIGDIR": "home/.config/matplotlib",
    }.items():
        folder = base / sub
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    (base / "runtime").chmod(0o700)
    return env


def run_watched(code: str, args: list[str], cwd: Path, env: dict, audit: Path, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-c", AUDIT + code, *args],
        cwd=cwd,
        env={**env, "FER_AUDIT": str(audit)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


CLI = "\nfrom fer_overlay.cli import main\nsys.exit(main(sys.argv[1:]))\n"


@pytest.fixture(scope="module")
def lecture(fer2013, tmp_path_factory) -> Path:
    """A short class video (3 s of a 9-tile gallery with a camera-off tile), outside the watched folders."""
    folder = tmp_path_factory.mktemp("inputs")
    g = gallery(fer2013, 9, camera_off=1, seed=81, size=(960, 540))
    frames = [np.roll(g.image, 2 * (i // 10), axis=0) for i in range(30)]
    return write_video(folder / "lecture.mp4", frames, fps=10)


def test_analyze_opens_no_socket_and_writes_only_the_csv(lecture, tmp_path):
    work, base = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    env = private_env(base)
    done = run_watched(
        CLI, ["analyze", str(lecture), "--csv", "log.csv", "--quiet"], work, env, tmp_path / "a"
    )
    assert done.returncode == 0, done.stderr
    assert "frame(s) analysed" in done.stdout
    sockets, writes = read_audit(tmp_path / "a")
    assert sockets == [], sockets
    assert [(work / w).resolve() for w in writes] == [(work / "log.csv").resolve()], writes
    assert pictures_under(work, base) == {}
    assert sorted(p.name for p in work.iterdir()) == ["log.csv"]


def test_annotated_output_is_exactly_the_file_asked_for(lecture, tmp_path):
    work, base = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    env = private_env(base)
    args = ["analyze", str(lecture), "--out", "annotated.mp4", "--summary", "summary.csv", "--quiet"]
    done = run_watched(CLI, args, work, env, tmp_path / "a")
    assert done.returncode == 0, done.stderr
    sockets, _ = read_audit(tmp_path / "a")
    assert sockets == [], sockets
    pictures = pictures_under(work, base)
    assert pictures == {work / "annotated.mp4": "mp4", work / "summary.png": "png"}, pictures
    chart = cv2.imread(str(work / "summary.png"))
    assert chart.shape == (600, 900, 3)  # the engagement/emotion-mix chart (9x6 in at 100 dpi), no frame
    video = cv2.VideoCapture(str(work / "annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 6  # 3 s at 2 Hz: the frames the user asked for
    video.release()
    assert sorted(p.name for p in work.iterdir()) == ["annotated.mp4", "summary.csv", "summary.png"]


# In this process: a hook that is always installed (they cannot be removed) but records only while a
# test watches, from any thread (the app's engine runs in a capture thread).
_watching: list[tuple[str, str]] | None = None
_lock = threading.Lock()


def _socket_hook(event: str, args: tuple) -> None:
    if _watching is not None and event.startswith("socket."):
        with _lock:
            _watching.append((event, repr(args)[:200]))


sys.addaudithook(_socket_hook)


def watch_sockets():
    global _watching
    _watching = []
    return _watching


def stop_watching() -> list:
    global _watching
    seen, _watching = _watching or [], None
    return seen


def test_hook_sees_python_sockets():
    """The check itself can fail: a socket made while watching is reported."""
    import socket

    watch_sockets()
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    seen = stop_watching()
    assert seen and seen[0][0] == "socket.__new__"


def test_engine_session_and_app_analyzer_open_no_socket(fer2013, tmp_path):
    from fer_overlay.app.engine import Engine, to_update
    from fer_overlay.session import Session

    g = gallery(fer2013, 9, seed=82, size=(960, 540))
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), g.image)
    watch_sockets()
    try:
        with Session(FolderSource(frames, fps=2)) as session, SessionRecorder(tmp_path / "s.csv") as rec:
            for result in session:
                rec.append(result)
        engine = Engine()  # what the app's capture thread runs: load, analyse; then its sinks' work

        def app_thread() -> None:
            with Session(FolderSource(frames, fps=2), pipeline=engine.pipeline()) as app_session:
                for r in app_session:
                    to_update(r)
                    Annotator().annotate(r.frame.image, r)

        worker = threading.Thread(target=app_thread)
        worker.start()
        worker.join(120)
    finally:
        seen = stop_watching()
    assert seen == [], seen
    assert result.snapshot.participants == 9


APP = """
import sys
from fer_overlay.app import run_app
sys.exit(run_app(sys.argv[1:]))
"""


def test_app_session_opens_no_socket_and_writes_only_its_log_and_export(fer2013, display, qtbot, tmp_path):
    """The desktop app in its own process: a session on a drawn region over a gallery window, ended by
    SIGTERM (which stops and exports it like Quit)."""
    from test_engine_sources import show_image

    window = show_image(qtbot, gallery(fer2013, 9, seed=83, size=(960, 540)).image, 0, 0)
    work, base = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    env = private_env(base)
    data, exports = base / "data", base / "exports"
    ini = base / "settings.ini"
    write_settings(
        ini,
        {
            "privacy_acknowledged": True,
            "target_kind": "region",
            "region": "0,0,960,540",
            "data_dir": str(data),
            "export_dir": str(exports),
            "rate_hz": 4.0,
        },
    )
    audit = tmp_path / "a"
    proc = subprocess.Popen(
        [sys.executable, "-c", AUDIT + APP, "--settings", str(ini), "--start"],
        cwd=work,
        env={**env, "FER_AUDIT": str(audit)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def captures() -> int:
        logs = list(data.glob("*/captures.csv"))
        return sum(",class," in line for line in logs[0].read_text().splitlines()) if logs else 0

    sigterm_when(proc, qtbot, lambda: captures() >= 3)
    assert window.isVisible()
    sockets, writes = read_audit(audit)
    assert sockets == [], sockets
    assert any(w.endswith("captures.csv") for w in writes), writes  # the hook saw the app's files
    (session,) = list(data.iterdir())
    assert {p.name for p in (exports / session.name).iterdir()} == {
        "session.csv",
        "summary.csv",
        "summary.png",
    }
    pictures = pictures_under(work, base)
    assert pictures == {exports / session.name / "summary.png": "png"}, pictures  # the chart, no frame
    assert all(Path(w).suffix.lower() not in IMAGE_SUFFIXES or Path(w).name == "summary.png" for w in writes)
