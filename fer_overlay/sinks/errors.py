"""The one error every sink raises when its file cannot be written (read-only folder, full disk...)."""

from __future__ import annotations

from pathlib import Path


class SinkError(OSError):
    """An output file could not be written. ``str()`` is one line naming the file and the reason; it is
    an :class:`OSError` (with the original ``errno``), so callers that catch those keep working."""

    @classmethod
    def of(cls, path: str | Path, exc: BaseException, what: str = "") -> SinkError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        other = getattr(exc, "filename", None)
        if other and Path(str(other)) != Path(path):
            reason += f" ({other})"
        err = cls(f"cannot write {what + ' ' if what else ''}{path}: {reason}")
        err.errno = getattr(exc, "errno", None)
        return err
