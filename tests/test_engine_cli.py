"""The CLI end to end on real faces: an image, a generated video, a live screen under Xvfb, bad inputs."""

from __future__ import annotations

import csv
import dataclasses
import shutil
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
from conftest import assert_window_appears, require
from galleries import gallery, write_video
from test_engine_sources import show_image

from fer_overlay import faces
from fer_overlay.classify import default_model_path
from fer_overlay.cli import main
from fer_overlay.frames import Frame
from fer_overlay.labels import EMOTIONS
from fer_overlay.session import Session
from fer_overlay.sinks.record import COLUMNS
from fer_overlay.sources import FolderSource


@pytest.fixture(scope="module", autouse=True)
def model():
    require(default_model_path().is_file(), f"no model at {default_model_path()}")


def rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_analyze_image_writes_annotated_png_csv_and_summary(fer2013, tmp_path, capsys):
    g = gallery(fer2013, 9, style="teams", camera_off=2, seed=21)
    src = tmp_path / "gallery.png"
    cv2.imwrite(str(src), g.image)
    out, table, summary = tmp_path / "out.png", tmp_path / "s.csv", tmp_path / "sum.csv"
    assert main(["analyze", str(src), "--out", str(out), "--csv", str(table), "--summary", str(summary)]) == 0
    annotated = cv2.imread(str(out))
    h, w = g.image.shape[:2]
    assert annotated.shape[0] == h and annotated.shape[1] > w  # the class panel is a strip on the right
    assert np.abs(annotated[:, :w].astype(int) - g.image).mean() > 1  # boxes and labels drawn
    people = [r for r in rows(table) if r["kind"] == "participant"]
    klass = [r for r in rows(table) if r["kind"] == "class"]
    assert len(people) == 9 and len(klass) == 1
    off = [r for r in people if r["engagement"] == ""]
    assert len(off) == 2 and all(r["p_Happy"] == "" and r["face_present_share"] == "0.000" for r in off)
    seen = [r for r in people if r["face_present_share"] == "1.000"]
    assert len(seen) >= 5
    for r in seen:
        p = np.array([float(r[f"p_{e}"]) for e in EMOTIONS])
        assert abs(p.sum() - 1) < 1e-3 and r["dominant"] == EMOTIONS[int(p.argmax())]
        assert 0 <= float(r["engagement"]) <= 100
    assert 0 < float(klass[0]["engagement"]) <= 100
    assert rows(summary)[-1]["kind"] == "class"
    plot = cv2.imread(str(summary.with_suffix(".png")))
    assert plot is not None and plot.shape[0] > 200
    assert "frame(s) analysed" in capsys.readouterr().out


def test_analyze_video_rows_every_interval(fer2013, tmp_path):
    g = gallery(fer2013, 4, seed=22, size=(1280, 720))
    video = write_video(tmp_path / "class.mp4", [g.image] * 25, fps=10)  # 2.5 s
    out, table = tmp_path / "out.mp4", tmp_path / "s.csv"
    assert (
        main(
            [
                "analyze",
                str(video),
                "--fps",
                "2",
                "--interval",
                "1",
                "--out",
                str(out),
                "--csv",
                str(table),
                "--quiet",
            ]
        )
        == 0
    )
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5  # 2.5 s at 2 fps
    cap.release()
    klass = [r for r in rows(table) if r["kind"] == "class"]
    assert [float(r["time_s"]) for r in klass] == [1.0, 2.0, 2.0]  # two full intervals, then the rest
    assert [int(r["frames"]) for r in klass] == [2, 2, 1]
    people = [r for r in rows(table) if r["kind"] == "participant"]
    assert {r["participant"] for r in people} == {"1", "2", "3", "4"}  # stable ids across the video


def test_analyze_screen_under_xvfb(fer2013, tmp_path, display, qtbot):
    g = gallery(fer2013, 9, camera_off=1, seed=23)
    window = show_image(qtbot, g.image, 0, 0)  # full screen on the 1920x1080 Xvfb display
    table = tmp_path / "live.csv"
    code = main(
        [
            "analyze",
            "screen:0,0,1920,1080",
            "--fps",
            "2",
            "--duration",
            "1.2",
            "--csv",
            str(table),
            "--interval",
            "60",
            "--quiet",
        ]
    )
    assert code == 0 and window.isVisible()
    people = [r for r in rows(table) if r["kind"] == "participant"]
    assert len(people) == 9
    assert int(people[0]["frames"]) >= 2
    assert sum(r["engagement"] == "" for r in people) == 1  # the camera-off tile


def test_no_faces_at_all_is_not_an_error(tmp_path, capsys):
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:] = np.linspace(40, 200, 1280, dtype=np.uint8)[None, :, None]
    src, table = tmp_path / "empty.jpg", tmp_path / "s.csv"
    cv2.imwrite(str(src), image)
    assert main(["analyze", str(src), "--csv", str(table)]) == 0
    assert "no faces found" in capsys.readouterr().out
    only = rows(table)
    assert len(only) == 1 and only[0]["kind"] == "class" and only[0]["engagement"] == ""


def _bad_inputs(tmp_path) -> list[str]:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    empty = tmp_path / "empty"
    empty.mkdir()
    return [str(corrupt), str(truncated), str(empty), "screen:0,0,0,0", str(tmp_path / "missing.png")]


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    for spec in _bad_inputs(tmp_path):
        assert main(["analyze", spec]) == 2, spec
        err = capsys.readouterr().err.strip()
        assert err.startswith("fer-overlay: error: ") and "\n" not in err and "Traceback" not in err
    assert main(["analyze", str(tmp_path / "empty"), "--layout", "3by3"]) == 2


def test_console_entry_point_reports_without_traceback(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    proc = subprocess.run(
        [sys.executable, "-m", "fer_overlay.cli", "analyze", str(corrupt)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "cannot read image" in proc.stderr and "Traceback" not in proc.stderr


def test_help_and_version_stay_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("fer-overlay 0.")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "analyze" in capsys.readouterr().out


def test_no_subcommand_starts_the_desktop_app(display, tmp_path):
    """The quick start's ``fer-overlay``: a real process that opens the app's privacy notice window."""
    require(shutil.which("xwininfo") is not None, "xwininfo (x11-utils) missing")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_overlay.cli", "--settings", str(tmp_path / "settings.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert_window_appears(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_session_pause_resume_stop_from_another_thread(fer2013, tmp_path):
    g = gallery(fer2013, 4, seed=24, size=(960, 540))
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), g.image)
    got: list[int] = []
    with Session(FolderSource(tmp_path, fps=2)) as session:
        session.pause()
        worker = threading.Thread(target=lambda: got.extend(r.frame.index for r in session))
        worker.start()
        worker.join(0.5)
        assert got == [] and session.paused  # a paused session pulls no frames
        session.resume()
        worker.join(60)
    assert got == list(range(6))
    with Session(FolderSource(tmp_path, fps=2)) as session:
        seen = []
        for result in session:
            seen.append(result.frame.index)
            if len(seen) == 2:
                session.stop()
        assert seen == [0, 1]


def test_a_started_session_loads_every_model_before_its_first_frame(fer2013, tmp_path, monkeypatch):
    """Loading the models (the OCR's two ONNX sessions above all) is a session's start, not its first
    frame's work: entering the session creates them, and the first frame, which reads the names of a
    picture's tiles, creates none."""
    import onnxruntime as ort

    created: list[str] = []
    real = ort.InferenceSession

    def counting(*args, **kwargs):  # the real session, counted
        created.append(type(args[0]).__name__)
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counting)
    g = gallery(fer2013, 4, seed=25, size=(960, 540))
    cv2.imwrite(str(tmp_path / "gallery.png"), g.image)
    session = Session(FolderSource(tmp_path, fps=2))
    built = len(created)  # the classifier's and MTCNN's sessions, at construction
    assert built >= 2 and not session.pipeline.tracker.names.loaded
    with session:
        assert session.pipeline.warm and session.pipeline.tracker.names.loaded
        assert len(created) == built + 2  # the OCR's detector and recogniser
        result = next(iter(session))
        assert len(created) == built + 2  # the first frame created none
    assert any(result.participants.name)  # and it did read the labels, with the loaded OCR


def test_session_without_source_processes_given_frames(fer2013):
    g = gallery(fer2013, 4, seed=25, size=(960, 540))
    session = Session()
    result = session.process(Frame(g.image, 0.0))
    assert result.snapshot.participants == 4
    assert set(result.timings_ms) >= {"layout", "detection", "classification", "total"}
    with pytest.raises(ValueError):
        iter(session).__next__()


def test_bench_and_evaluate_commands_print_their_figures(fer2013, capsys):
    assert main(["bench", "--tiles", "4", "--frames", "1"]) == 0
    out = capsys.readouterr().out
    for word in ("layout", "detect", "classify", "total", "faces/s", "cold", "moving", "still", "ms/face"):
        assert word in out
    assert main(["evaluate", "--faces", "30", "--split", "PublicTest"]) == 0
    out = capsys.readouterr().out
    assert "tile recall" in out and "face recall" in out and "plain 48x48" in out
    recall = float(out.split("face recall ")[1].split("=")[1].split("%")[0])
    assert recall >= 80.0


def test_help_says_what_no_subcommand_does_and_names_the_detectors(capsys, tmp_path, monkeypatch):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Without a subcommand, fer-overlay starts the desktop app" in out
    assert "--settings FILE" in out and "--start" in out
    # The detector names come from the registry: one registered now (the Haar loader under another
    # name) is listed by every subcommand with --detector, beside the default chain of this install.
    haar = faces.detector_spec("haar")
    monkeypatch.setitem(faces._REGISTRY, "haar2", dataclasses.replace(haar, name="haar2"))
    for command in ("analyze", "bench", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        names = out.split("face detector chain: ")[1].split(", joined by")[0].split(", ")
        assert names == [spec.name for spec in faces.list_detectors()] and "haar2" in names, (command, out)
        assert f"default here: {faces.default_detector()}" in out
    picture = tmp_path / "x.png"
    cv2.imwrite(str(picture), np.zeros((64, 64, 3), np.uint8))
    assert main(["analyze", str(picture), "--detector", "nosuch"]) == 2  # the error lists the same names
    err = capsys.readouterr().err
    assert all(name in err for name in ("'mtcnn'", "'ssd'", "'haar'"))


def test_video_of_pictures_of_different_sizes_is_letterboxed_not_disk_full(fer2013, tmp_path, capsys):
    folder = tmp_path / "pictures"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), gallery(fer2013, 4, seed=41, size=(960, 540)).image)
    cv2.imwrite(str(folder / "b.png"), gallery(fer2013, 4, seed=42, size=(640, 640)).image)
    out = tmp_path / "x.mp4"
    assert main(["analyze", str(folder), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "disk full" not in err
    assert "1 of 2 frame(s) differ in size from the first; they are letterboxed into its" in err
    video = cv2.VideoCapture(str(out))
    sizes = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        sizes.append(frame.shape[:2])
    video.release()
    assert len(sizes) == 2 and sizes[0] == sizes[1]


def test_ctrl_c_exits_130_with_one_line_and_whole_outputs(fer2013, tmp_path):
    import signal
    import time

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(200):  # far more than are analysed before Ctrl-C
        cv2.imwrite(str(folder / f"{i:03d}.png"), gallery(fer2013, 4, seed=i % 3, size=(640, 360)).image)
    log = tmp_path / "log.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_overlay.cli", "analyze", str(folder), "--csv", str(log)]
        + ["--interval", "0.5", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test run started in the background by a shell without job control
        # (`nohup pytest &`) ignores SIGINT, and that is inherited; the child then never saw Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) > 6:  # a few intervals recorded
            break
        time.sleep(0.1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    n = int(lines[0].split("interrupted after ")[1].split()[0])
    assert lines[0] == f"fer-overlay: interrupted after {n} frame(s); outputs complete up to there"
    assert 0 < n < 200 and out.startswith(f"{n} frame(s) analysed")
    recorded = rows(log)
    klass = [r for r in recorded if r["kind"] == "class"]
    assert sum(int(r["frames"]) for r in klass) == n  # every analysed frame is in the CSV, the last too
