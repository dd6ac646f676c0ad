"""Session recording: per-participant and class rows every interval, and an end-of-session summary.

The session CSV is written straight to the file (no buffer) one whole interval at a time, so a crash
or a killed process loses at most the interval in progress; when a write fails (a full disk, a file
size limit) the file is cut back to the last whole interval and :class:`SinkError` says why, so the
rows already recorded stay readable and no torn row is left behind. Columns (one file, ``kind``
tells the row type)::

    time_s, kind, participant, name, frames, face_present_share, p_Angry .. p_Neutral, dominant, engagement

``time_s`` is the end of the interval in source time; ``kind`` is ``participant`` or ``class``;
``participant`` the stable id; ``name`` the name label read on the participant's tile (empty when none
was read, and always empty when names are not read: class-wide figures only);
``face_present_share`` the share of the interval's frames with a face; ``p_*`` the mean smoothed
probabilities over frames with a face (empty when none); ``engagement`` the mean indicator (0-100,
empty when the camera was off throughout). Class rows use the class snapshot of each frame.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_overlay.frames import FACE, Result
from fer_overlay.labels import EMOTIONS
from fer_overlay.sinks.errors import SinkError

COLUMNS = [
    "time_s",
    "kind",
    "participant",
    "name",
    "frames",
    "face_present_share",
    *[f"p_{e}" for e in EMOTIONS],
    "dominant",
    "engagement",
]


@dataclass
class _Acc:
    """Running sums for one participant (or the class) over an interval or a session."""

    frames: int = 0
    face_frames: int = 0
    prob_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS)))
    eng_sum: float = 0.0
    eng_n: int = 0
    share_sum: float | None = None  # the class: mean share of participants with a face, per frame
    name: str = ""  # the last name read for the participant

    def add(self, face: bool, probs: np.ndarray | None, eng: float, share: float | None = None) -> None:
        self.frames += 1
        if share is not None:
            self.share_sum = (self.share_sum or 0.0) + share
        if face and probs is not None and not np.isnan(probs).any():
            self.face_frames += 1
            self.prob_sum += probs
        if not np.isnan(eng):
            self.eng_sum += eng
            self.eng_n += 1

    def row(self, time_s: float, kind: str, who: str) -> list:
        probs = self.prob_sum / self.face_frames if self.face_frames else None
        return [
            f"{time_s:.2f}",
            kind,
            who,
            self.name,
            self.frames,
            f"{(self.face_frames if self.share_sum is None else self.share_sum) / max(1, self.frames):.3f}",
            *([f"{p:.4f}" for p in probs] if probs is not None else [""] * len(EMOTIONS)),
            EMOTIONS[int(np.argmax(probs))] if probs is not None else "",
            f"{self.eng_sum / self.eng_n:.1f}" if self.eng_n else "",
        ]


@dataclass(frozen=True)
class Observation:
    """What one frame says about one participant (or, ``who == "class"``, the class): the values a row
    of the session CSV averages. A frame's observations are also what the per-frame log stores, so a
    log read back feeds the same accumulators as live results (:func:`replay`)."""

    who: str
    face: bool
    probs: np.ndarray | None
    engagement: float
    share: float | None = None
    """The class only: the share of participants with a face in this frame."""
    name: str = ""
    """The name label read on the participant's tile ("" when none was read or names are off)."""


def observations(result: Result, class_only: bool = False) -> list[Observation]:
    """The frame's observations, participants (none with ``class_only``) then the class."""
    people, snap = result.participants, result.snapshot
    out = []
    if not class_only:
        for i in range(len(people)):
            out.append(
                Observation(
                    str(int(people.id[i])),
                    bool(people.state[i] == FACE),
                    people.probs[i],
                    float(people.engagement[i]),
                    name=str(people.name[i]) if people.name is not None and people.name[i] else "",
                )
            )
    share = snap.with_face / max(1, snap.participants)
    out.append(Observation("class", snap.with_face > 0, snap.distribution, float(snap.engagement), share))
    return out


def _accumulate(accs: dict[str, _Acc], obs: list[Observation]) -> None:
    for o in obs:
        acc = accs.setdefault(o.who, _Acc())
        acc.add(o.face, o.probs, o.engagement, o.share)
        if o.name:
            acc.name = o.name


class CsvAppender:
    """A CSV file written whole rows at a time straight to the operating system (no buffer for a crash
    to lose). A write that fails (full disk, file size limit) is cut back to the last whole rows and
    raised as :class:`SinkError`; later writes raise too. ``what`` names the file in messages."""

    def __init__(self, path: str | Path, header: list[str], what: str = "CSV") -> None:
        self.path, self.what = Path(path), what
        self._size = 0  # bytes of whole rows on disk
        self._failed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise SinkError.of(self.path, exc, what) from exc
        self.write([header])

    @property
    def failed(self) -> bool:
        return self._failed

    def write(self, rows: list[list]) -> None:
        if self._failed or self._fd is None:
            raise SinkError(f"cannot write {self.what} {self.path}: an earlier write failed or it is closed")
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        payload = text.getvalue().encode("utf-8")
        data = memoryview(payload)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            self._failed = True
            with contextlib.suppress(OSError):  # a character device (/dev/full) cannot be truncated
                os.ftruncate(self._fd, self._size)
            raise SinkError.of(self.path, exc, self.what) from exc
        self._size += len(payload)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SessionRecorder:
    """Append rows every ``interval`` seconds of source time (default 10 s) to ``path``.

    ``interval=None`` writes every frame's rows at once (``frames`` = 1, ``time_s`` the frame's own
    time): the app's crash-safe live log, which :func:`replay` turns into the interval CSV and the
    summary at export. ``class_only`` leaves out every participant row."""

    def __init__(self, path: str | Path, interval: float | None = 10.0, class_only: bool = False) -> None:
        if interval is not None and interval <= 0:
            raise ValueError("interval must be positive")
        self.path, self.interval, self.class_only = Path(path), interval, class_only
        self._accs: dict[str, _Acc] = {}
        self._start: float | None = None
        self._last_t = 0.0
        self._file: CsvAppender | None = None
        self.rows = 0
        """Rows written so far, header excluded."""

    def __enter__(self) -> SessionRecorder:
        self._file = CsvAppender(self.path, COLUMNS, "session CSV")
        return self

    def append(self, result: Result) -> None:
        self.add(result.frame.timestamp, observations(result, self.class_only))

    def add(self, t: float, obs: list[Observation]) -> None:
        """One frame's observations at source time ``t`` (what :meth:`append` and :func:`replay` call)."""
        if self.class_only:
            obs = [o for o in obs if o.who == "class"]
        if self.interval is None:
            _accumulate(self._accs, obs)
            self._flush(t)
            return
        if self._start is None:
            self._start = t
        while t - self._start >= self.interval:  # close every interval this frame is past
            self._flush(self._start + self.interval)
            self._start += self.interval
        _accumulate(self._accs, obs)
        self._last_t = t

    def _flush(self, time_s: float) -> None:
        if not self._accs:
            return
        people = sorted((k for k in self._accs if k != "class"), key=int)
        rows = [self._accs[who].row(time_s, "participant", who) for who in people]
        rows.append(self._accs["class"].row(time_s, "class", "class"))
        self._accs = {}
        self._file.write(rows)  # type: ignore[union-attr]  # an interval's rows in one write
        self.rows += len(rows)

    def __exit__(self, *exc: object) -> None:
        if self._file is None:
            return
        try:
            if not self._file.failed:
                self._flush(self._last_t)
        finally:
            self._file.close()


class SummaryWriter:
    """At the end of a session: ``path`` (.csv) with one row per participant and one for the class, and
    a PNG beside it (same stem) plotting class engagement and the emotion mix over time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".csv":
            self.path = self.path.with_suffix(".csv")
        self.png = self.path.with_suffix(".png")
        self._accs: dict[str, _Acc] = {}
        # One row per frame for the plot: time, gauge, then the 7 class probabilities, as plain doubles
        # (72 bytes a frame: 0.8 MB for a 90-minute lecture at 2 Hz), not one small array per frame.
        self._series = array("d")

    def __enter__(self) -> SummaryWriter:
        target = self.path
        try:  # fail now, not after a long analysis, when the files cannot be written
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for target in (self.path, self.png):
                open(target, "ab").close()  # noqa: SIM115 - only a probe; written at the end
        except OSError as exc:
            raise SinkError.of(target, exc, "summary") from exc
        return self

    def append(self, result: Result) -> None:
        self.add(result.frame.timestamp, observations(result))

    def add(self, t: float, obs: list[Observation]) -> None:
        """One frame's observations at source time ``t`` (the class's is the last)."""
        _accumulate(self._accs, obs)
        cls = obs[-1]
        mix = cls.probs if cls.probs is not None else np.full(len(EMOTIONS), np.nan)
        self._series.append(t)
        self._series.append(cls.engagement)
        self._series.extend(np.asarray(mix, np.float64).tolist())

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times, gauge and the (frames, 7) mix recorded so far."""
        table = np.frombuffer(self._series, np.float64).reshape(-1, 2 + len(EMOTIONS))
        return table[:, 0], table[:, 1], table[:, 2:]

    def __exit__(self, *exc: object) -> None:
        times = self._columns()[0]
        end = float(times[-1]) if len(times) else 0.0
        target = self.path
        try:
            with self.path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                for who in sorted((k for k in self._accs if k != "class"), key=int):
                    writer.writerow(self._accs[who].row(end, "participant", who))
                if "class" in self._accs:
                    writer.writerow(self._accs["class"].row(end, "class", "class"))
            target = self.png
            self._plot()
        except OSError as exc:
            raise SinkError.of(target, exc, "summary") from exc

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from fer_overlay.sinks.annotate import COLOURS

        t, gauge, mix = self._columns()
        mix = np.nan_to_num(mix)
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6))
        ax1.plot(t, gauge, color="tab:green", marker="." if len(t) < 50 else None)
        ax1.set_ylim(0, 100)
        ax1.set_ylabel("engagement\n(indicator, 0-100)")
        ax1.set_title("Class engagement indicator and emotion mix")
        colours = [tuple(c / 255 for c in bgr[::-1]) for bgr in COLOURS]
        if len(t) > 1:
            ax2.stackplot(t, mix.T, labels=EMOTIONS, colors=colours)
            ax2.legend(loc="upper left", fontsize=7, ncol=4)
        elif len(t) == 1:  # one picture: the mix as bars
            ax2.bar(range(len(EMOTIONS)), mix[0], color=colours, tick_label=EMOTIONS)
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("mean probability")
        ax1.set_xlabel("time (s)")
        ax2.set_xlabel("time (s)" if len(t) > 1 else "")
        fig.tight_layout()
        try:
            fig.savefig(self.png, dpi=100)
        finally:
            plt.close(fig)


def _num(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def read_log(path: str | Path) -> list[tuple[float, list[Observation]]]:
    """A per-frame log (``SessionRecorder(interval=None)``) read back: ``(time_s, observations)`` per
    frame, in order. A frame whose class row is missing or torn (a crash mid-write) is left out."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    frames: list[tuple[float, list[Observation]]] = []
    pending: list[Observation] = []
    for row in rows:
        if row.get("engagement") is None:  # torn last line
            break
        probs = np.array([_num(row[f"p_{e}"]) for e in EMOTIONS])
        seen = not np.isnan(probs).any()
        share = _num(row["face_present_share"])
        if row["kind"] == "participant":
            pending.append(
                Observation(
                    row["participant"],
                    seen,
                    probs if seen else None,
                    _num(row["engagement"]),
                    name=row.get("name") or "",
                )
            )
            continue
        pending.append(Observation("class", seen, probs if seen else None, _num(row["engagement"]), share))
        frames.append((_num(row["time_s"]), pending))
        pending = []
    return frames


def replay(path: str | Path, *sinks: SessionRecorder | SummaryWriter, class_only: bool = False) -> int:
    """Feed a per-frame log to entered sinks (the interval CSV, the summary); returns the frame count.
    ``class_only`` drops the participants' observations (class-only switched on mid-session)."""
    frames = read_log(path)
    for t, obs in frames:
        if class_only:
            obs = [o for o in obs if o.who == "class"]
        for sink in sinks:
            sink.add(t, obs)
    return len(frames)
