"""Session recording: per-participant and class rows every interval, and an end-of-session summary.

The session CSV is appended to and flushed after each interval, so a crash or a killed process
loses at most one interval. Columns (one file, ``kind`` tells the row type)::

    time_s, kind, participant, frames, face_present_share, p_Angry .. p_Neutral, dominant, engagement

``time_s`` is the end of the interval in source time; ``kind`` is ``participant`` or ``class``;
``face_present_share`` the share of the interval's frames with a face; ``p_*`` the mean smoothed
probabilities over frames with a face (empty when none); ``engagement`` the mean indicator (0-100,
empty when the camera was off throughout). Class rows use the class snapshot of each frame.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_overlay.frames import CAMERA_OFF, FACE, Result
from fer_overlay.labels import EMOTIONS

COLUMNS = [
    "time_s",
    "kind",
    "participant",
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
            self.frames,
            f"{(self.face_frames if self.share_sum is None else self.share_sum) / max(1, self.frames):.3f}",
            *([f"{p:.4f}" for p in probs] if probs is not None else [""] * len(EMOTIONS)),
            EMOTIONS[int(np.argmax(probs))] if probs is not None else "",
            f"{self.eng_sum / self.eng_n:.1f}" if self.eng_n else "",
        ]


def _accumulate(accs: dict[str, _Acc], result: Result) -> None:
    people = result.participants
    for i in range(len(people)):
        accs.setdefault(str(int(people.id[i])), _Acc()).add(
            people.state[i] == FACE, people.probs[i], float(people.engagement[i])
        )
    snap = result.snapshot
    accs.setdefault("class", _Acc()).add(
        snap.with_face > 0,
        snap.distribution,
        snap.engagement,
        share=snap.with_face / max(1, snap.participants),
    )


class SessionRecorder:
    """Append rows every ``interval`` seconds of source time (default 10 s) to ``path``."""

    def __init__(self, path: str | Path, interval: float = 10.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.path, self.interval = Path(path), interval
        self._accs: dict[str, _Acc] = {}
        self._start: float | None = None
        self._last_t = 0.0

    def __enter__(self) -> SessionRecorder:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        self._file.flush()
        return self

    def append(self, result: Result) -> None:
        t = result.frame.timestamp
        if self._start is None:
            self._start = t
        while t - self._start >= self.interval:  # close every interval this frame is past
            self._flush(self._start + self.interval)
            self._start += self.interval
        _accumulate(self._accs, result)
        self._last_t = t

    def _flush(self, time_s: float) -> None:
        if not self._accs:
            return
        people = sorted((k for k in self._accs if k != "class"), key=int)
        for who in people:
            self._csv.writerow(self._accs[who].row(time_s, "participant", who))
        self._csv.writerow(self._accs["class"].row(time_s, "class", "class"))
        self._file.flush()
        self._accs = {}

    def __exit__(self, *exc: object) -> None:
        self._flush(self._last_t)
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
        self._times: list[float] = []
        self._gauge: list[float] = []
        self._mix: list[np.ndarray] = []
        self._camera_off: dict[str, bool] = {}

    def __enter__(self) -> SummaryWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def append(self, result: Result) -> None:
        _accumulate(self._accs, result)
        snap = result.snapshot
        self._times.append(result.frame.timestamp)
        self._gauge.append(snap.engagement)
        self._mix.append(snap.distribution)
        for i, s in zip(result.participants.id, result.participants.state, strict=True):
            self._camera_off[str(int(i))] = self._camera_off.get(str(int(i)), True) and s == CAMERA_OFF

    def __exit__(self, *exc: object) -> None:
        end = self._times[-1] if self._times else 0.0
        with self.path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for who in sorted((k for k in self._accs if k != "class"), key=int):
                writer.writerow(self._accs[who].row(end, "participant", who))
            if "class" in self._accs:
                writer.writerow(self._accs["class"].row(end, "class", "class"))
        self._plot()

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from fer_overlay.sinks.annotate import COLOURS

        t = np.array(self._times, float)
        mix = np.nan_to_num(np.array(self._mix, float).reshape(-1, len(EMOTIONS)))
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6))
        ax1.plot(t, np.array(self._gauge, float), color="tab:green", marker="." if len(t) < 50 else None)
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
        fig.savefig(self.png, dpi=100)
        plt.close(fig)
