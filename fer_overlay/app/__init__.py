"""The instructor's desktop app (tray icon or control window, overlay, virtual camera, export).

Qt lives only in this package. ``run_app`` is imported lazily so that ``import fer_overlay.app`` stays
cheap for the CLI; ``fer-overlay`` with no subcommand calls it.
"""

from __future__ import annotations

from fer_overlay.app.qtfix import protect_none

protect_none()  # before any Qt call of ours: see qtfix (PySide6 6.12 + Python 3.11 crash)


def run_app(argv: list[str] | None = None) -> int:
    """Start the desktop app; returns the process exit code (2, with one line, when Qt cannot start
    on X11 for lack of system libraries: see :mod:`fer_overlay.app.sysdeps`)."""
    import sys

    from fer_overlay.app import sysdeps

    missing = sysdeps.missing_packages() if sysdeps.uses_xcb() else []
    if missing:
        print(f"fer-overlay: error: {sysdeps.missing_line(missing)}", file=sys.stderr)
        return 2
    from fer_overlay.app.main import run_app as _run

    return _run(argv)


__all__ = ["run_app"]
