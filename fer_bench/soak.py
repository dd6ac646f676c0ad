"""Soak run: a whole lecture's worth of frames through the engine, faster than real time.

``fer-overlay bench --soak 90`` feeds 90 minutes of frames at the app's default 2 Hz (10,800 frames) to
the same chain a live session runs (:class:`~fer_overlay.session.Pipeline`, then the
:class:`~fer_overlay.sinks.SessionRecorder` and :class:`~fer_overlay.sinks.SummaryWriter` sinks) with a
simulated clock: frame ``i`` carries the timestamp ``i / fps``, so tracking, smoothing and the 10 s
rows of the session log behave as in a real lecture while the run takes minutes. It reports

- memory: the resident set size (``VmRSS`` from ``/proc/self/status``; ``ru_maxrss`` elsewhere) after
  a warm-up, at the end and its peak, and the growth per hour fitted over every simulated minute;
- the log: every interval's rows must be in the CSV, for exactly the participants seen in it.

The frames are synthetic galleries of real FER2013 faces (nothing of a real class). To keep 10,800
frames practical on a 2-core machine the gallery is small (4 tiles at 640x360 by default, ~5 minutes;
``--tiles 25`` runs 25 tiles at 1280x720, several times slower) and mostly still, as a lecture's
gallery is: every ``scene_s`` seconds (30) the picture changes to the next of six scenes (other faces,
a participant leaving and the tiles re-flowing, cameras switched off), so the detector searches
again, the tracker makes and forgets participants, and the classifier sees different batch sizes;
between changes the frames are identical and the detector keeps its results.
"""

from __future__ import annotations

import csv
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_bench.data import fer2013_path
from fer_bench.synthetic import grid_for, make_gallery
from fer_overlay.frames import Frame

SCENES = 6
SCENE_S = 30.0
"""Simulated seconds between scene changes."""


def rss_mb() -> float:
    """Resident set size now, in MB (Linux); elsewhere the peak so far (``ru_maxrss``)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def reset_peak() -> None:
    """Start the peak (``VmHWM``) afresh, so that loading the data set before the soak does not count
    (Linux >= 4.0; elsewhere the peak stays the process's lifetime peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """The highest RSS since :func:`reset_peak` (``VmHWM``), else the lifetime peak (``ru_maxrss``)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB on Linux


@dataclass
class SoakReport:
    frames: int
    fps: float
    tiles: int
    size: tuple[int, int]
    wall_s: float
    ms_p50: float
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    growth_mb_per_hour: float
    rows: int
    intervals: int
    intervals_expected: int
    missing: list[str] = field(default_factory=list)
    """Intervals whose rows are absent or wrong (empty when the log is complete)."""
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(simulated seconds, RSS MB) once a simulated minute."""
    warmup_s: float = SCENES * SCENE_S
    python_growth_kb: float = float("nan")
    """With ``trace_python``: Python objects allocated after the warm-up and alive at the end."""

    @property
    def simulated_min(self) -> float:
        return self.frames / self.fps / 60

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    @property
    def complete(self) -> bool:
        return not self.missing and self.intervals == self.intervals_expected

    def lines(self) -> list[str]:
        w, h = self.size
        return [
            f"soak: {self.frames} frames = {self.simulated_min:.1f} simulated minutes at {self.fps:g} Hz, "
            f"{self.tiles} tiles at {w}x{h}, in {self.wall_s:.0f} s wall "
            f"({self.simulated_min * 60 / max(self.wall_s, 1e-9):.0f}x real time, "
            f"{self.ms_p50:.1f} ms/frame p50)",
            f"memory (RSS): {self.rss_start_mb:.1f} MB after the {self.warmup_s / 60:.0f}-minute warm-up, "
            f"{self.rss_end_mb:.1f} MB at the end: growth {self.growth_mb:+.1f} MB "
            f"(fit {self.growth_mb_per_hour:+.2f} MB per simulated hour), peak {self.rss_peak_mb:.1f} MB",
            f"session log: {self.rows} rows, {self.intervals}/{self.intervals_expected} intervals "
            + ("complete" if self.complete else f"INCOMPLETE: {', '.join(self.missing[:5])}"),
        ] + (
            []
            if np.isnan(self.python_growth_kb)
            else [
                f"Python objects allocated after the warm-up and still alive: {self.python_growth_kb:.0f} kB"
            ]
        )


def size_for(tiles: int) -> tuple[int, int]:
    """A window size whose tiles stay >= 80 px high (faces found as in a real meeting window)."""
    for limit, size in ((4, (640, 360)), (9, (960, 540)), (25, (1280, 720))):
        if tiles <= limit:
            return size
    return (1920, 1080)


def _load_faces(n: int) -> np.ndarray:
    from training.data import load_fer2013

    faces = load_fer2013(fer2013_path())["PrivateTest"].faces[:n].copy()
    gc.collect()  # not the cached load_split: the rest is dropped before memory is measured
    return faces


def scenes(faces: np.ndarray, tiles: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """The six pictures a soak cycles through: other faces, one participant fewer (tiles re-flow),
    cameras off, both themes."""
    out = []
    for k in range(SCENES):
        n = tiles - 1 if k % 3 == 2 else tiles  # someone leaves, then is back
        off = k % 2 + (k == 3)
        take = faces[(k * tiles) % max(1, len(faces) - n) :][: n - off]
        style = ("zoom", "teams")[k % 2 if k != 4 else 0]
        g = make_gallery(take, *grid_for(n), camera_off=off, size=size, style=style, seed=seed + k)
        out.append(g.image)
    return out


def check_log(path: Path, seen: dict[int, set[str]], interval: float, frames: int, fps: float) -> tuple:
    """Compare the session CSV with what the run saw: per interval, the class row and one row per
    participant seen in it. Returns (rows, intervals in the file, intervals expected, problems)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_interval: dict[int, list[dict]] = defaultdict(list)
    closed = 0  # an interval's participant rows come first, then its class row
    for r in rows:
        by_interval[closed].append(r)
        closed += r["kind"] == "class"
    expected = len(seen)
    problems = []
    frames_in_class_rows = 0
    for k in range(expected):
        got = by_interval.get(k, [])
        klass = [r for r in got if r["kind"] == "class"]
        people = {r["participant"] for r in got if r["kind"] == "participant"}
        end = (k + 1) * interval if k < expected - 1 else (frames - 1) / fps
        if len(klass) != 1 or abs(float(klass[0]["time_s"]) - end) > 0.01:
            problems.append(f"interval {k} (t={end:.0f} s): class row missing or misplaced")
            continue
        frames_in_class_rows += int(klass[0]["frames"])
        if people != seen[k]:
            problems.append(f"interval {k}: participants {sorted(people)} instead of {sorted(seen[k])}")
    if frames_in_class_rows != frames and not problems:
        problems.append(f"class rows count {frames_in_class_rows} frames, not {frames}")
    return len(rows), closed, expected, problems


def soak(
    minutes: float = 90.0,
    *,
    fps: float = 2.0,
    tiles: int = 4,
    size: tuple[int, int] | None = None,
    interval: float = 10.0,
    scene_s: float = SCENE_S,
    faces: np.ndarray | None = None,
    csv_path: str | Path | None = None,
    model: str | None = None,
    detector: str | None = None,
    threads: int = 2,
    trace_python: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SoakReport:
    """Run ``minutes`` of simulated session time; the session CSV goes to ``csv_path`` (a temporary
    file, removed afterwards, when None). ``trace_python`` also counts, with ``tracemalloc``, the
    Python objects allocated after the warm-up and still alive at the end (finer than the RSS)."""
    from fer_overlay.session import Pipeline
    from fer_overlay.sinks import SessionRecorder, SummaryWriter

    size = size or size_for(tiles)
    if faces is None:
        faces = _load_faces(SCENES * tiles + tiles)
    pictures = scenes(faces, tiles, size)
    pipe = Pipeline(model, detector=detector, threads=threads)
    n_frames = max(1, int(round(minutes * 60 * fps)))
    per_minute = max(1, int(round(60 * fps)))
    # Memory is measured after two cycles of scenes (allocator pools and ORT's arena settle by then;
    # in 90-minute runs RSS grew during the first two cycles only), or half of a short run.
    warmup_s = min(2 * SCENES * scene_s, minutes * 30)
    with tempfile.TemporaryDirectory(prefix="fer-soak-") as tmp:
        log = Path(csv_path) if csv_path is not None else Path(tmp) / "soak.csv"
        seen: dict[int, set[str]] = defaultdict(set)
        times = np.zeros(n_frames, np.float32)
        samples: list[tuple[float, float]] = []
        gc.collect()
        reset_peak()
        rss_start = rss_mb()
        wall0 = time.perf_counter()
        with SessionRecorder(log, interval=interval) as rec, SummaryWriter(Path(tmp) / "summary.csv") as summ:
            for i in range(n_frames):
                t = i / fps
                if trace_python and t >= warmup_s and not tracemalloc.is_tracing():
                    gc.collect()
                    tracemalloc.start()
                frame = Frame(pictures[int(t // scene_s) % SCENES], t, i, "soak")
                t0 = time.perf_counter()
                result = pipe(frame)
                rec.append(result)
                summ.append(result)
                times[i] = 1000 * (time.perf_counter() - t0)
                seen[int(t // interval)].update(str(int(p)) for p in result.participants.id)
                if i % per_minute == per_minute - 1 or i == n_frames - 1:
                    samples.append((t, rss_mb()))
                    if t < warmup_s:
                        rss_start = samples[-1][1]  # the last sample of the warm-up
                    if progress is not None and (i + 1) % (10 * per_minute) == 0:
                        progress(f"{(i + 1) / fps / 60:.0f} simulated min, RSS {samples[-1][1]:.1f} MB")
            rss_end, peak = samples[-1][1], peak_rss_mb()  # before the summary's plot (matplotlib)
            python_kb = float("nan")
            if tracemalloc.is_tracing():
                gc.collect()  # count what is kept, not cyclic garbage waiting for the collector
                python_kb = tracemalloc.get_traced_memory()[0] / 1024
                tracemalloc.stop()
        wall = time.perf_counter() - wall0
        rows, intervals, expected, missing = check_log(log, seen, interval, n_frames, fps)
    late = np.array([(t, m) for t, m in samples if t >= warmup_s], float)
    slope = float(np.polyfit(late[:, 0] / 3600, late[:, 1], 1)[0]) if len(late) >= 3 else float("nan")
    return SoakReport(
        frames=n_frames,
        fps=fps,
        tiles=tiles,
        size=size,
        wall_s=wall,
        ms_p50=float(np.median(times)),
        rss_start_mb=rss_start,
        rss_end_mb=rss_end,
        rss_peak_mb=peak,
        python_growth_kb=python_kb,
        growth_mb_per_hour=slope,
        rows=rows,
        intervals=intervals,
        intervals_expected=expected,
        missing=missing,
        samples=samples,
        warmup_s=warmup_s,
    )


def main_line(minutes: float, **kw) -> SoakReport:
    """What ``fer-overlay bench --soak MINUTES`` runs: the soak, printed."""
    print(
        f"soak of {minutes:g} simulated minutes (CPU {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}); progress every 10 simulated minutes",
        flush=True,
    )
    report = soak(minutes, progress=lambda s: print("  " + s, flush=True), **kw)
    print("\n".join(report.lines()))
    return report
