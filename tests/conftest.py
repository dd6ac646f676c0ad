"""Shared fixtures: the real FER2013 faces (through ``$FER2013_CSV``) and a real X display (Xvfb).

Without the dataset or Xvfb the tests that need them skip with a clear message, except in CI
(``CI=true``), where both are always present and their absence must fail the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from training.data import Fer2013, default_csv_path, load_fer2013

IN_CI = os.environ.get("CI", "").lower() == "true"
_xvfb: subprocess.Popen | None = None


def require(condition: bool, message: str) -> None:
    """Skip where a resource is missing, but fail in CI, where it must exist."""
    if not condition:
        if IN_CI:
            pytest.fail(message + " (CI must have it)")
        pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    """Start one Xvfb for the whole run before Qt loads, unless a display already exists."""
    global _xvfb
    if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
        return
    for number in range(91, 120):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        _xvfb = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                os.environ["DISPLAY"] = f":{number}"
                os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
                return
            time.sleep(0.05)
        _xvfb.kill()
    _xvfb = None


def pytest_unconfigure(config: pytest.Config) -> None:
    if _xvfb is not None:
        _xvfb.terminate()


@pytest.fixture(scope="session")
def display() -> str:
    """The X display the tests run on (Xvfb started above, or the user's own)."""
    require(bool(os.environ.get("DISPLAY")), "no X display and no Xvfb to start one")
    return os.environ["DISPLAY"]


@pytest.fixture(scope="session")
def fer2013() -> Fer2013:
    path = default_csv_path()
    require(path.exists(), f"FER2013 not found at {path} (set FER2013_CSV)")
    return load_fer2013(path)


def assert_window_appears(proc: subprocess.Popen, title: str = "FER Overlay", seconds: float = 90) -> None:
    """Wait for an X window named ``title`` (via xwininfo); fail if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + seconds
    titles = ""
    while time.monotonic() < deadline and proc.poll() is None:
        titles = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True).stdout
        if title in titles:
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert title in titles


def write_settings(path: Path, values: dict) -> None:
    """An app settings file (QSettings INI) holding ``values``, for an app started in a subprocess."""
    from PySide6.QtCore import QSettings

    store = QSettings(str(path), QSettings.Format.IniFormat)
    for key, value in values.items():
        store.setValue(key, value)
    store.sync()


def sigterm_when(proc: subprocess.Popen, qtbot, ready: Callable[[], bool], timeout_ms: int = 120_000) -> None:
    """Wait until ``ready()`` while the app process runs, then SIGTERM it: it must exit with status 0
    (a logout ends the app like Quit). Its stderr (bytes) is shown when it does not."""
    try:
        qtbot.waitUntil(lambda: ready() or proc.poll() is not None, timeout=timeout_ms)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
