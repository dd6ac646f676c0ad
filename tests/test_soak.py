"""A shortened soak (``fer-overlay bench --soak`` runs 90 minutes): five simulated minutes at 2 Hz
through the pipeline and both recorders, with the scenes changing every 5 s so that the detector,
tracker and classifier go through every path several times after the warm-up. Memory must stay flat
and the session log complete.

Tolerances: the resident set settles during the first two cycles of scenes (one simulated minute
here) and moved by ~2 MB over the next four minutes on the development machine. Since the classifier
and the OCR run without ONNX Runtime's memory arena (2026-12-04), glibc's adaptive mmap threshold
may step it once or twice more before it settles (one full run under load: +9.9 MB by the third
minute, then flat to 0.02 MB over the last two); so the second half must be flat. Python objects
allocated after the warm-up and still alive at the end were ~120 kB (the summary's 72 bytes a frame,
the soak's own bookkeeping). A leak of one frame (640x360x3 = 0.7 MB) per frame, or of 1 kB of
Python objects per frame, fails it."""

from __future__ import annotations

import pytest
from conftest import require

from fer_bench.soak import SCENES, soak
from fer_overlay.classify import default_model_path


def test_five_minute_soak_keeps_memory_flat_and_the_log_complete(fer2013, tmp_path):
    require(default_model_path().is_file(), f"no model at {default_model_path()}")
    faces = fer2013["PrivateTest"].faces[: SCENES * 4 + 4].copy()
    report = soak(5, faces=faces, scene_s=5.0, trace_python=True, csv_path=tmp_path / "soak.csv")
    print("\n".join(report.lines()))
    assert report.frames == 600 and report.simulated_min == pytest.approx(5.0)
    assert report.complete, report.missing
    assert report.intervals == report.intervals_expected == 30
    assert report.rows > 30 * 3  # a class row and participants in every interval
    after = report.frames - int(report.warmup_s * report.fps)
    # No leak grows the resident set by steps that stop: the second half after the warm-up must be
    # flat, and the whole of it far below one leaked frame a frame (420 MB here).
    middle = report.samples[len(report.samples) // 2][1]
    assert report.rss_end_mb - middle < 4.0, report.samples
    assert report.growth_mb < 16.0, report.samples
    assert report.python_growth_kb < 64 + 0.3 * after, report.python_growth_kb
