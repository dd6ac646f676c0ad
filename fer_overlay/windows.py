"""Other applications' top-level windows: list them, find one by title and read its geometry.

The one module that talks to the platform's window system (no Qt in it: Qt cannot enumerate foreign
windows): :class:`~fer_overlay.sources.ScreenSource` follows a window through it for the CLI's
``window:TITLE`` and for the app, whose window chooser lists windows with it. On X11 it runs
``xprop``/``xwininfo`` (package ``x11-utils``): with a window manager the EWMH ``_NET_CLIENT_LIST``
names the application windows; without one (Xvfb, kiosks) the children of the root window are the top-
level windows. On Windows it calls ``EnumWindows``/``GetWindowRect`` through ctypes. Elsewhere (macOS,
Wayland without XWayland) it raises :class:`WindowSystemError` with a message that says to use "Draw
region" instead.

Geometry is always the window's absolute rectangle in virtual-screen pixels, the coordinates mss
captures in; a window that disappeared gives ``None`` so the caller can pause rather than crash.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

_TIMEOUT_S = 2.0


class WindowSystemError(RuntimeError):
    """Foreign windows cannot be listed or followed on this platform / session."""


@dataclass(frozen=True)
class Rect:
    """An on-screen rectangle in virtual-screen pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def as_mss(self) -> dict[str, int]:
        """The ``monitor`` dict ``mss.grab`` takes."""
        return {"left": self.x, "top": self.y, "width": self.width, "height": self.height}

    def intersected(self, other: Rect) -> Rect | None:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        if x1 <= x0 or y1 <= y0:
            return None
        return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True)
class WindowInfo:
    """One visible top-level window: its native id, title and current geometry."""

    wid: int
    title: str
    rect: Rect


def _run(args: list[str]) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


# ----------------------------------------------------------------------------------------------- X11
_GEOM = {
    "x": re.compile(r"Absolute upper-left X:\s+(-?\d+)"),
    "y": re.compile(r"Absolute upper-left Y:\s+(-?\d+)"),
    "w": re.compile(r"Width:\s+(\d+)"),
    "h": re.compile(r"Height:\s+(\d+)"),
}
_TITLE = re.compile(r'^xwininfo: Window id: (0x[0-9a-f]+) "(.*)"$', re.M)


def _x11_check() -> None:
    if not os.environ.get("DISPLAY"):
        raise WindowSystemError("no X11 display ($DISPLAY unset): use Draw region instead")
    if not shutil.which("xwininfo") or not shutil.which("xprop"):
        raise WindowSystemError(
            "following a window on X11 needs xwininfo and xprop (package x11-utils): "
            "install them or use Draw region instead"
        )


def _x11_info(wid: int) -> tuple[str, Rect, bool] | None:
    """Title, absolute rect and whether it is viewable; None when the window no longer exists."""
    out = _run(["xwininfo", "-id", hex(wid)])
    if out is None:
        return None
    values = {}
    for key, rx in _GEOM.items():
        m = rx.search(out)
        if m is None:
            return None
        values[key] = int(m[1])
    t = _TITLE.search(out)
    title = t[2] if t else ""
    viewable = "Map State: IsViewable" in out
    return title, Rect(values["x"], values["y"], values["w"], values["h"]), viewable


def _x11_candidates() -> list[int]:
    out = _run(["xprop", "-root", "-notype", "_NET_CLIENT_LIST"])
    if out and "#" in out:
        return [int(v, 16) for v in re.findall(r"0x[0-9a-f]+", out.split("#", 1)[1])]
    # No window manager: the top-level windows are the root's children (named, not tiny).
    out = _run(["xwininfo", "-root", "-children"]) or ""
    ids = []
    for m in re.finditer(r'^\s+(0x[0-9a-f]+) "(.+?)": .*?\s(\d+)x(\d+)[+-]', out, re.M):
        if int(m[3]) >= 64 and int(m[4]) >= 48 and not m[2].startswith("Qt Selection Owner"):
            ids.append(int(m[1], 16))
    return ids


# ------------------------------------------------------------------------------------------- Windows
@functools.lru_cache(maxsize=1)
def _user32():  # pragma: no cover - Windows only
    """user32/dwmapi with argument types declared (64-bit handles must not be truncated to C int)."""
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)
    for name, args, res in (
        ("IsWindow", [wintypes.HWND], wintypes.BOOL),
        ("IsWindowVisible", [wintypes.HWND], wintypes.BOOL),
        ("IsIconic", [wintypes.HWND], wintypes.BOOL),
        ("GetWindowTextLengthW", [wintypes.HWND], ctypes.c_int),
        ("GetWindowTextW", [wintypes.HWND, wintypes.LPWSTR, ctypes.c_int], ctypes.c_int),
        ("GetWindowRect", [wintypes.HWND, ctypes.POINTER(wintypes.RECT)], wintypes.BOOL),
    ):
        fn = getattr(user32, name)
        fn.argtypes, fn.restype = args, res
    try:
        dwm = ctypes.WinDLL("dwmapi")
        dwm.DwmGetWindowAttribute.argtypes = [wintypes.HWND, wintypes.DWORD, ctypes.c_void_p, wintypes.DWORD]
        dwm.DwmGetWindowAttribute.restype = ctypes.c_long
    except OSError:
        dwm = None
    return user32, dwm


def _win_cloaked(dwm, hwnd: int) -> bool:  # pragma: no cover - Windows only
    """Suspended UWP apps and windows on other virtual desktops are "cloaked": visible but not shown."""
    import ctypes

    if dwm is None:
        return False
    cloaked = ctypes.c_int(0)
    ok = (
        dwm.DwmGetWindowAttribute(hwnd, 14, ctypes.byref(cloaked), ctypes.sizeof(cloaked)) == 0
    )  # DWMWA_CLOAKED
    return ok and cloaked.value != 0


def _win_list() -> list[WindowInfo]:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    user32, dwm = _user32()
    found: list[WindowInfo] = []

    @ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)
    def callback(hwnd, _lparam):
        if not hwnd or not user32.IsWindowVisible(hwnd) or user32.IsIconic(hwnd) or _win_cloaked(dwm, hwnd):
            return True
        n = user32.GetWindowTextLengthW(hwnd)
        if n == 0:
            return True
        buf = ctypes.create_unicode_buffer(n + 1)
        user32.GetWindowTextW(hwnd, buf, n + 1)
        rect = _win_rect(int(hwnd))
        if rect is not None and rect.width >= 64 and rect.height >= 48:
            found.append(WindowInfo(int(hwnd), buf.value, rect))
        return True

    user32.EnumWindows(callback, 0)
    return found


def _win_rect(hwnd: int) -> Rect | None:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    user32, dwm = _user32()
    if not user32.IsWindow(hwnd) or not user32.IsWindowVisible(hwnd) or user32.IsIconic(hwnd):
        return None
    r = wintypes.RECT()
    # DWMWA_EXTENDED_FRAME_BOUNDS (9) excludes the invisible resize borders of Windows 10/11.
    ok = dwm is not None and dwm.DwmGetWindowAttribute(hwnd, 9, ctypes.byref(r), ctypes.sizeof(r)) == 0
    if not ok and not user32.GetWindowRect(hwnd, ctypes.byref(r)):
        return None
    return Rect(r.left, r.top, r.right - r.left, r.bottom - r.top)


# ------------------------------------------------------------------------------------------- public
def platform_name() -> str:
    """``"x11"``, ``"windows"`` or something this module cannot handle (``"macos"``, ``"wayland"``...)."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    if os.environ.get("DISPLAY"):
        return "x11"
    if os.environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    return sys.platform


def list_windows(exclude: set[int] | frozenset[int] = frozenset()) -> list[WindowInfo]:
    """Visible top-level windows worth analysing, minus ``exclude`` (the app's own windows)."""
    kind = platform_name()
    if kind == "windows":
        return [w for w in _win_list() if w.wid not in exclude]
    if kind != "x11":
        raise WindowSystemError(
            f"listing other applications' windows is not supported on {kind} yet: use Draw region instead"
        )
    _x11_check()
    windows = []
    for wid in _x11_candidates():
        if wid in exclude:
            continue
        info = _x11_info(wid)
        if info is None:
            continue
        title, rect, viewable = info
        if viewable and title and rect.width >= 64 and rect.height >= 48:
            windows.append(WindowInfo(wid, title, rect))
    return windows


def find_window(title: str, exclude: set[int] | frozenset[int] = frozenset()) -> WindowInfo | None:
    """The visible top-level window titled exactly ``title`` (the first listed), None without one."""
    return next((w for w in list_windows(exclude) if w.title == title), None)


def window_rect(wid: int) -> Rect | None:
    """The window's current absolute rectangle, or None when it is closed, hidden or minimised."""
    kind = platform_name()
    if kind == "windows":
        return _win_rect(wid)
    if kind != "x11":
        raise WindowSystemError(f"following a window is not supported on {kind} yet: use Draw region instead")
    _x11_check()
    info = _x11_info(wid)
    if info is None or not info[2]:
        return None
    return info[1]
