"""The app's remembered choices, as one dataclass read from and written to ``QSettings``.

Keeping every choice in one frozen value (instead of scattered ``QSettings.value`` calls) means the
tests can start the app with a known state from an INI file in a temporary folder, and the first-run
privacy notice can be suppressed the same way a user who has read it suppresses it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from fer_overlay.windows import Rect

CAMERA_MODES = ("dashboard", "gallery")


def default_export_dir() -> str:
    """``~/Documents/FER Overlay`` (or the platform's Documents folder), where exports go by default."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return str(Path(docs or Path.home()) / "FER Overlay")


def default_data_dir() -> str:
    """Where the incremental session logs live until they are exported (the app's data folder)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return str(Path(base or Path.home() / ".local/share/fer-overlay") / "sessions")


@dataclass(frozen=True)
class AppSettings:
    """Everything the app remembers between runs (see the Settings dialog for what each means)."""

    rate_hz: float = 2.0
    class_only: bool = False
    """Hide per-participant rows and leave them out of the log and exports: class-wide figures only."""
    compact: bool = False
    click_through: bool = False
    tile_indicators: bool = False
    """Each participant's indicator on their own tile (a click-through layer over the meeting window)."""
    overlay_visible: bool = True
    privacy_acknowledged: bool = False
    export_dir: str = ""
    data_dir: str = ""
    target_kind: str = ""
    """``"window"`` or ``"region"`` (empty: nothing chosen yet)."""
    target_wid: int = 0
    target_title: str = ""
    region: str = ""
    """``"x,y,w,h"`` of a drawn region."""
    overlay_offset: str = ""
    """``"dx,dy"``: the overlay's position relative to the meeting window's top-right corner."""
    overlay_size: str = ""
    """``"w,h"`` of the overlay in full mode."""
    camera_mode: str = "dashboard"
    camera_backend: str = ""
    """pyvirtualcam backend name; empty tries every installed one."""
    camera_size: str = "1280,720"
    sparkline_minutes: float = 5.0
    export_interval_s: float = 10.0
    """Row interval of the exported ``session.csv`` (the engine's SessionRecorder)."""
    model_path: str = ""
    analysis_threads: int = 0
    """ONNX Runtime threads of the analysis; 0 = half the CPU cores (at most 4), leaving the meeting room."""

    def resolved_threads(self) -> int:
        if self.analysis_threads > 0:
            return self.analysis_threads
        return max(1, min(4, (os.cpu_count() or 2) // 2))

    @property
    def region_rect(self) -> Rect | None:
        parts = _ints(self.region, 4)
        return Rect(*parts) if parts else None

    @property
    def camera_wh(self) -> tuple[int, int]:
        parts = _ints(self.camera_size, 2) or (1280, 720)
        return parts[0], parts[1]

    def resolved_export_dir(self) -> Path:
        return Path(self.export_dir or default_export_dir())

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or default_data_dir())

    @staticmethod
    def load(store: QSettings) -> tuple[AppSettings, list[str]]:
        """Read from ``store``, every key checked on its own (:data:`CHECKS`): a value of the wrong
        type or out of range falls back to that key's default, the others are kept. Returns the
        settings and the keys that fell back, for the app to say once."""
        values, rejected = {}, []
        defaults = AppSettings()
        for f in fields(AppSettings):
            default = getattr(defaults, f.name)
            raw = store.value(f.name, default)
            try:
                values[f.name] = _check(f.name, default, raw)
            except (TypeError, ValueError):
                values[f.name] = default
                rejected.append(f.name)
        return AppSettings(**values), rejected

    def save(self, store: QSettings) -> None:
        for key, value in asdict(self).items():
            store.setValue(key, value)
        store.sync()


def _pair(low: tuple[int, int], high: tuple[int, int]):
    """A ``"w,h"``-style text whose two numbers lie within ``low``..``high`` ("" = unset)."""

    def check(text: str) -> str:
        parts = _ints(text, 2) if text else ()
        if parts is None or (
            parts and not all(lo <= v <= hi for v, lo, hi in zip(parts, low, high, strict=True))
        ):
            raise ValueError(text)
        return text

    return check


def _region(text: str) -> str:
    parts = _ints(text, 4) if text else ()
    if parts is None or (parts and (parts[2] <= 0 or parts[3] <= 0)):
        raise ValueError(text)
    return text


def _within(low: float, high: float):
    def check(value):
        if not low <= value <= high:
            raise ValueError(value)
        return value

    return check


def _one_of(*choices: str):
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(value)
        return value

    return check


CHECKS = {
    "rate_hz": _within(0.1, 30),
    "sparkline_minutes": _within(1, 60),  # the Settings dialog's range
    "export_interval_s": _within(0.5, 3600),
    "analysis_threads": _within(0, 64),
    "target_wid": _within(0, 2**63),
    "target_kind": _one_of("", "window", "region"),
    "camera_mode": _one_of(*CAMERA_MODES),
    "region": _region,
    "overlay_offset": _pair((-100_000, -100_000), (100_000, 100_000)),
    "overlay_size": _pair((240, 118), (8000, 8000)),  # the smallest the overlay can be resized to
    "camera_size": _pair((160, 120), (3840, 2160)),
}
"""Per key, beyond its type: what a valid value is (raise ValueError otherwise)."""


def _check(name: str, default, raw):
    """``raw`` from the store as the type of ``default``, checked by :data:`CHECKS`."""
    if isinstance(default, bool):
        text = str(raw).strip().lower()
        if not isinstance(raw, bool) and text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(raw)
        value = raw if isinstance(raw, bool) else text in ("true", "1", "yes")
    elif isinstance(default, int):
        number = float(raw)
        if number != int(number):
            raise ValueError(raw)
        value = int(number)
    elif isinstance(default, float):
        value = float(raw)
        if value != value:  # NaN
            raise ValueError(raw)
    elif isinstance(raw, str):
        value = raw
    else:  # QSettings gives a list for "a, b" and numbers as str; a list is not a path or a title
        raise TypeError(raw)
    return CHECKS[name](value) if name in CHECKS else value


def _ints(text: str, n: int) -> tuple[int, ...] | None:
    try:
        parts = tuple(int(float(p)) for p in text.split(","))
    except ValueError:
        return None
    return parts if len(parts) == n else None


def default_store() -> QSettings:
    """The user's settings store (registry / plist / INI in ~/.config, as the platform does it)."""
    return QSettings("FER Overlay", "fer-overlay")
