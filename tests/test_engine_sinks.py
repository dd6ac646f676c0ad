"""Sinks on a real analysed gallery: annotation sizes and what is drawn, and the recorder's intervals."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import require
from galleries import gallery

from fer_overlay.classify import default_model_path
from fer_overlay.frames import FACE, Frame
from fer_overlay.session import Pipeline
from fer_overlay.sinks import Annotator, SessionRecorder, SummaryWriter
from fer_overlay.sinks.record import COLUMNS, read_log, replay


@pytest.fixture(scope="module")
def results(fer2013):
    require(default_model_path().is_file(), f"no model at {default_model_path()}")
    pipe = Pipeline()
    image = gallery(fer2013, 9, camera_off=1, seed=50, size=(1280, 720)).image
    return [pipe(Frame(image, t)) for t in (0.0, 4.0, 8.0, 12.0, 13.0)]


def test_annotator_panel_beside_or_over_and_boxes_drawn(results):
    r = results[0]
    image = r.frame.image
    beside = Annotator().annotate(image, r)
    over = Annotator(beside=False).annotate(image, r)
    bare = Annotator(panel=False).annotate(image, r)
    assert beside.shape[0] == 720 and beside.shape[1] > 1280
    assert over.shape == bare.shape == image.shape
    np.testing.assert_array_equal(beside[:, :1280], bare)  # the side panel leaves the frame untouched
    assert not np.array_equal(over[:60, :200], bare[:60, :200])  # the corner panel is drawn over it
    seen = np.where(r.participants.state == FACE)[0]
    x0, y0, x1, y1 = r.participants.face_xyxy[seen[0]].astype(int)
    assert (bare[y0, x0:x1] != image[y0, x0:x1]).any()  # the face box's top edge
    np.testing.assert_array_equal(r.frame.image, image)  # never drawn on the analysed frame


def test_recorder_rows_per_interval_and_flushed_as_it_goes(results, tmp_path):
    path = tmp_path / "s.csv"
    with SessionRecorder(path, interval=5.0) as rec:
        for r in results[:3]:  # t = 0, 4, 8: the first interval closes at t = 5 when t = 8 arrives
            rec.append(r)
        with open(path, newline="") as handle:
            early = list(csv.DictReader(handle))
        assert {row["time_s"] for row in early} == {"5.00"}  # already on disk, before the end
        for r in results[3:]:
            rec.append(r)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    klass = [row for row in rows if row["kind"] == "class"]
    assert [row["time_s"] for row in klass] == ["5.00", "10.00", "13.00"]
    assert [int(row["frames"]) for row in klass] == [2, 1, 2]
    assert len(rows) == 3 * (9 + 1)


def test_per_frame_log_replays_into_the_same_interval_csv_and_summary(results, tmp_path):
    """The app's live log (one row set per capture) and the engine's interval CSV are one schema; the
    log read back gives the interval CSV and the summary the live results give, to the CSV's rounding."""
    log = tmp_path / "captures.csv"
    with SessionRecorder(log, interval=None) as rec:
        for r in results:
            rec.append(r)
    with open(log, newline="") as handle:
        header = next(csv.reader(handle))
    assert header == COLUMNS and "p_Angry" in header
    with (
        SessionRecorder(tmp_path / "live.csv", interval=5.0) as a,
        SummaryWriter(tmp_path / "live_sum.csv") as b,
    ):
        for r in results:
            a.append(r)
            b.append(r)
    with (
        SessionRecorder(tmp_path / "replayed.csv", interval=5.0) as a,
        SummaryWriter(tmp_path / "rep_sum.csv") as b,
    ):
        assert replay(log, a, b) == len(results)

    def table(path):
        with open(path, newline="") as handle:
            return [[_round(v) for v in row] for row in csv.reader(handle)]

    assert table(tmp_path / "live.csv") == table(tmp_path / "replayed.csv")
    assert table(tmp_path / "live_sum.csv") == table(tmp_path / "rep_sum.csv")
    with SessionRecorder(tmp_path / "class.csv", interval=5.0) as a:
        replay(log, a, class_only=True)
    with open(tmp_path / "class.csv", newline="") as handle:
        assert {row["kind"] for row in csv.DictReader(handle)} == {"class"}
    # A crash mid-write: the torn last capture is left out, every earlier one is read.
    text = log.read_text()
    log.write_text(text[: text.rindex("class,class") + 8])
    assert len(read_log(log)) == len(results) - 1


def _round(value: str) -> str:
    """CSV cells compared to 3 decimals (the log keeps 4, its re-averaging can move the last digit)."""
    try:
        return f"{float(value):.3f}"
    except ValueError:
        return value
