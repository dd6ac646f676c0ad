"""Work around a reference-count bug of PySide6 6.12 on Python 3.11: every call of a Qt method that
returns ``void`` (``QPainter.setPen``, ``QWidget.update``, ``Signal.emit``...) takes one reference
from ``None`` without giving it. CPython 3.11 frees None when its count reaches zero and aborts with
``Fatal Python error: none_dealloc`` after a few thousand calls, i.e. within a minute of painting the
overlay. Python 3.12+ made None immortal, so the bug is harmless there.

:func:`protect_none` checks for the leak with a cheap void call and, only where it is present, makes
None effectively immortal the way 3.12 does: it adds 2**40 to None's reference count (the first field
of every CPython object). None is never freed in a healthy interpreter anyway, so the only effect is
that the bug can no longer crash the app. Remove once the pinned PySide6 is fixed.
"""

from __future__ import annotations

import ctypes
import platform
import sys

_applied = False


def none_leaks_per_void_call() -> int:
    """How many None references one void PySide6 call loses (0 on a healthy build)."""
    from PySide6.QtCore import QPoint

    point = QPoint()
    point.setX(0)
    before = sys.getrefcount(None)
    for _ in range(64):
        point.setX(1)
    return max(0, (before - sys.getrefcount(None)) // 64)


def protect_none() -> bool:
    """Apply the workaround where needed; True when it was applied (now or before)."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    if none_leaks_per_void_call() == 0:
        return False
    refcnt = ctypes.c_ssize_t.from_address(id(None))
    refcnt.value += 1 << 40
    _applied = True
    return True
