"""The system libraries Qt's X11 (xcb) platform plugin loads, checked before Qt is started.

PySide6's wheels carry Qt but not the X11 client libraries its ``xcb`` plugin links against. When one
is missing, Qt aborts the process (status 134) with "xcb-cursor0 or libxcb-cursor0 is needed", even
when another library is the one missing. So the app loads each library itself first, as Qt's loader
would, and names the Debian/Ubuntu packages to install in one line. macOS and Windows need nothing:
Qt's platform plugins there use system frameworks only.
"""

from __future__ import annotations

import ctypes
import os
import sys

XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
"""Shared library -> Debian/Ubuntu package, from ``ldd`` of PySide6 6.11's ``libQt6XcbQpa.so.6``."""


def uses_xcb() -> bool:
    """Whether Qt will start its X11 plugin: Linux with ``QT_QPA_PLATFORM`` xcb, or unset outside a
    Wayland session (where Qt picks its Wayland plugin first)."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    return not os.environ.get("WAYLAND_DISPLAY")


def missing_packages(libraries: dict[str, str] | None = None) -> list[str]:
    """The packages of the libraries the dynamic loader cannot load, in table order (none missing: [])."""
    libraries = XCB_LIBRARIES if libraries is None else libraries
    missing = []
    for soname, package in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def missing_line(packages: list[str]) -> str:
    """The one line the app prints instead of Qt's abort."""
    names = " ".join(packages)
    return (
        f"the desktop app needs system libraries for Qt on X11 that are missing: install {names} "
        f"(Debian/Ubuntu: sudo apt install {names})"
    )
