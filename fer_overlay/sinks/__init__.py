"""Sinks: consumers of :class:`~fer_overlay.frames.Result`, each a context manager that owns its file.

- :class:`Annotator` draws boxes, labels, per-class bars and the class gauge on a frame;
- :class:`AnnotatedWriter` writes annotated frames to a PNG/JPG (the last frame) or an MP4;
- :class:`SessionRecorder` appends per-participant and class rows to a CSV every interval;
- :class:`SummaryWriter` writes a summary CSV and a PNG plot of the whole session at the end.

A file that cannot be written (read-only folder, full disk) raises :class:`SinkError`, an
:class:`OSError` whose message is one line naming the file.

    >>> with SessionRecorder("class.csv", interval=10) as rec:      # doctest: +SKIP
    ...     for result in session:
    ...         rec.append(result)
"""

from __future__ import annotations

from fer_overlay.sinks.annotate import AnnotatedWriter, Annotator
from fer_overlay.sinks.errors import SinkError
from fer_overlay.sinks.record import SessionRecorder, SummaryWriter

__all__ = ["AnnotatedWriter", "Annotator", "SessionRecorder", "SinkError", "SummaryWriter"]
