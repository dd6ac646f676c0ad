"""The layout stage alone on real meeting screenshots (``$FER_SCREENS``, by default the shared
development set ``../shared/screens``; never committed): one behaviour per test, each on the picture
that shows it, scored against the hand-made truth. Skips without the folder, except in CI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import require

from fer_overlay.frames import Tiles
from fer_overlay.layout import detect_tiles
from fer_overlay.track import iou

SCREENS = Path(os.environ.get("FER_SCREENS", "../shared/screens")).resolve()


@pytest.fixture(scope="module")
def truth() -> dict[str, dict]:
    require((SCREENS / "truth.json").is_file(), f"no meeting screenshots at {SCREENS} (set FER_SCREENS)")
    return json.loads((SCREENS / "truth.json").read_text())


def _layout(truth: dict[str, dict], name: str) -> tuple[dict, Tiles, np.ndarray, np.ndarray]:
    """The truth entry, the tiles found, and per true tile the IoU of its best found tile and which."""
    image = cv2.imread(str(SCREENS / name), cv2.IMREAD_COLOR)
    require(image is not None, f"cannot read {SCREENS / name}")
    entry = truth[name]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in entry["tiles"]], np.float64)
    tiles = detect_tiles(image)
    overlap = iou(boxes, tiles.xyxy.astype(np.float64)) if len(tiles) else np.zeros((len(boxes), 1))
    return entry, tiles, overlap.max(axis=1), overlap.argmax(axis=1)


def test_card_with_a_long_name_is_camera_off(truth):
    """Zoom name cards whose (pixelated) names fill the middle are camera off by their flat margins."""
    entry, tiles, best, which = _layout(truth, "slavabz/13.png")
    off = [i for i, c in enumerate(entry["camera_off"]) if c]
    assert (best[off] >= 0.8).all() and tiles.camera_off[which[off]].all()
    live = [i for i, c in enumerate(entry["camera_off"]) if c is False]
    assert not tiles.camera_off[which[live]].any()


def test_faint_cards_beside_two_videos(truth):
    """Zoom's camera-off cards 8 grey levels off its window, under a row of only two videos."""
    entry, tiles, best, which = _layout(truth, "dpshelio/2021-07-06-zoom-app-windows-multiplescreen.png")
    assert (best >= 0.8).all() and len(tiles) == 4
    assert tiles.camera_off[which].tolist() == [bool(c) for c in entry["camera_off"]]


def test_strip_on_its_frame_wins_over_seams_cut_from_the_whole_screen(truth):
    """A filmstrip in a thin white frame over a black screen: the black holds one region filling the
    frame, cut into columns by seams (title bar and all); the white frame's gutters give the tiles
    exactly, and the name card among them reads as camera off."""
    entry, tiles, best, which = _layout(truth, "slavabz/14.png")
    assert (best >= 0.9).all() and len(tiles) == len(entry["tiles"])
    assert tiles.camera_off[which].tolist() == [bool(c) for c in entry["camera_off"]]


@pytest.mark.parametrize(
    "name",
    ["msteamsdocs/use-in-meeting-tab.png", "msteamsdocs/share_to_stage_during_meeting.png"],
)
def test_avatars_on_the_meeting_window_page_between_videos(truth, name):
    """Teams shows camera-off participants as round photos on its own dark page, between the videos
    of a column (beside a light desktop, whose colour is the frame's background) or of a strip (one
    with a speaking ring and glow): each is a camera-off tile, split at the midpoints between them."""
    entry, tiles, best, which = _layout(truth, name)
    off = [i for i, c in enumerate(entry["camera_off"]) if c]
    assert (best[off] >= 0.5).all() and tiles.camera_off[which[off]].all()


def test_recorded_stage_of_cards_a_few_grey_levels_apart(truth):
    """A recorded Teams meeting: the stage's three camera-off cards (36, 41 and 44 grey, blurred
    avatars) touch each other and the recording's black with no gutter; each is found by its colour."""
    entry, tiles, best, which = _layout(truth, "dpshelio/2021-05-02-teams-fail.png")
    stage = [i for i, (_, _, w, _) in enumerate(entry["tiles"]) if w >= 1000]
    assert len(stage) == 3 and (best[stage] >= 0.9).all() and tiles.camera_off[which[stage]].all()


def test_lone_camera_off_stage(truth):
    """Classic Teams with one camera-off participant: the whole picture is their tile, no menu is."""
    entry, tiles, best, which = _layout(truth, "cloudadmin/BackgroundEffectTeams-001.png")
    assert len(tiles) == 1 and best[0] >= 0.9 and tiles.camera_off[0]
