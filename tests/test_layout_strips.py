"""Layouts beyond a plain grid of videos, on synthetic frames built from real FER2013 faces: a 2x2
gallery whose camera-off cards barely differ from the page, a filmstrip beside a share, several
meeting windows in one screenshot."""

from __future__ import annotations

import cv2
import numpy as np
from galleries import gallery

from fer_overlay.frames import Tiles
from fer_overlay.layout import detect_tiles, faceless_groups_as_content
from fer_overlay.track import iou


def _matched(truth: np.ndarray, found: np.ndarray, at: float = 0.9) -> np.ndarray:
    """Index of the found tile each true tile matches (IoU >= ``at``), -1 when none."""
    if len(found) == 0:
        return np.full(len(truth), -1)
    overlap = iou(truth, found)
    return np.where(overlap.max(axis=1) >= at, overlap.argmax(axis=1), -1)


def test_two_videos_and_two_faint_cards_are_a_two_by_two_gallery(fer2013):
    """Zoom's dark 2x2 with two cameras off: the cards are #222 on a #1a1a1a page, within the page's
    tolerance, so only the two videos stand out. Apps space rows by the gutter of the columns, so
    the cards are the lattice cells below the pair, and camera-off."""
    g = gallery(fer2013, 4, style="zoom", seed=50)
    image = g.image.copy()
    for x0, y0, x1, y1 in g.tiles[2:]:
        image[y0:y1, x0:x1] = (34, 34, 34)
        name = (int(x0) + 60, int(y0 + y1) // 2)  # Zoom writes the name large in the centre
        cv2.putText(image, "Ada Lovelace", name, 0, 3.5, (200, 200, 200), 9)
    tiles = detect_tiles(image)
    match = _matched(g.tiles, tiles.xyxy, 0.8)
    assert (match >= 0).all(), f"missed tiles {np.where(match < 0)[0]}"
    assert len(tiles) == 4 and tiles.grid == (2, 2)
    assert tiles.camera_off[match].tolist() == [False, False, True, True]


def _strip_page(fer2013, n_videos: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A dark Teams page and ``n_videos`` real faces as video frames (146x110 each)."""
    page = np.empty((675, 1200, 3), np.uint8)
    page[:] = (15, 16, 17)
    faces = fer2013["PrivateTest"].faces[:n_videos]
    videos = [cv2.cvtColor(cv2.resize(f, (146, 110)), cv2.COLOR_GRAY2BGR) for f in faces]
    return page, videos


def test_round_avatars_between_strip_videos_one_with_a_speaking_ring(fer2013):
    """Teams' strip over a shared stage: three videos, three camera-off round profile pictures with no
    tile edge (one speaking, its glow ring as tall as the strip), one more video. Each avatar is a
    participant, its cell split at the midpoints between the discs."""
    page, videos = _strip_page(fer2013, 4)
    y0, y1 = 72, 182
    xs = [2, 152, 302, 732]
    for x, video in zip(xs, videos, strict=True):
        page[y0:y1, x : x + 146] = video
    centres = [502, 594, 684]
    # The glow fades out as a dithered fringe as tall as the strip, around a brighter core.
    fringe = np.zeros(page.shape[:2], np.uint8)
    cv2.circle(fringe, (centres[1], 127), 54, 1, -1)
    speckle = np.random.default_rng(0).random(page.shape[:2]) < 0.5
    page[(fringe == 1) & speckle] = (28, 28, 30)
    for r in range(48, 24, -1):
        shade = 28 + (48 - r) // 2
        cv2.circle(page, (centres[1], 122), r, (shade, shade, shade + 2), -1)
    for k, cx in enumerate(centres):
        cv2.circle(page, (cx, 120), 25, (60 + 50 * k, 120, 200 - 40 * k), -1)
    tiles = detect_tiles(page)
    strip = tiles.xyxy[(tiles.xyxy[:, 1] < 100) & ~tiles.main]
    assert len(strip) == 7, tiles.xyxy
    cells = strip[(strip[:, 0] >= 448) & (strip[:, 2] <= 732)]
    assert len(cells) == 3
    for cx, (a, _, b, _) in zip(centres, cells[np.argsort(cells[:, 0])], strict=True):
        assert a < cx < b
    off = tiles.camera_off[(tiles.xyxy[:, 1] < 100) & ~tiles.main]
    assert off.sum() == 3


def test_a_lone_faceless_board_under_a_strip_with_faces_is_content():
    """Teams' share to stage: a strip of videos over a task board whose columns stand out as
    tile-shaped regions. A faceless region of its own size, linked to no tile, beside a strip whose
    tiles show faces is the stage's content (flagged main: a participant only where a face is found);
    the strip's faceless tile stays a participant, and with no face anywhere nothing is judged."""
    strip = [[x, 72, x + 146, 182] for x in (2, 152, 302, 452)]
    board = [[6, 236, 256, 386]]
    xyxy = np.array(strip + board, np.int32)
    tiles = Tiles(xyxy, np.zeros(len(xyxy), bool), np.zeros(len(xyxy), bool), (2, 4))
    has_face = np.array([True, True, False, True, False])
    assert faceless_groups_as_content(tiles, has_face).main.tolist() == [False] * 4 + [True]
    assert not faceless_groups_as_content(tiles, np.zeros(len(xyxy), bool)).main.any()


def test_a_second_meeting_window_beside_a_gallery_is_read_as_a_frame_of_its_own(fer2013):
    """Two clients side by side (Zoom's app and its web client in a browser): the browser window
    stands out from the desktop as one large region, taken for a shared screen. Read as a frame of its
    own, its strip of two videos over the share is found; the tiles are flagged main (a shared slide
    can hold a grid too), so they count as participants where a face is found, and no tile is the
    whole window."""
    left = gallery(fer2013, 4, style="zoom", seed=51, size=(960, 1080))
    page, videos = _strip_page(fer2013, 2)
    window = np.zeros((1080, 960, 3), np.uint8)  # the web client's black page
    window[:90] = (53, 53, 56)  # the browser's tab strip and toolbar, along the window's border
    cv2.putText(window, "zoom.us/wc/join", (160, 60), 0, 1.0, (230, 230, 230), 2)
    strip = [np.array([200 + k * 270, 100, 200 + k * 270 + 262, 248]) for k in range(2)]
    for (x0, y0, x1, y1), video in zip(strip, videos, strict=True):
        window[y0:y1, x0:x1] = cv2.resize(video, (x1 - x0, y1 - y0))
    window[270:1000, 40:920] = (250, 250, 250)  # the shared slide
    cv2.putText(window, "Week 7: Gradient descent", (80, 400), 0, 1.4, (40, 40, 40), 3)
    image = np.concatenate([left.image, window], axis=1)
    tiles = detect_tiles(image)
    shifted = np.array([b + [960, 0, 960, 0] for b in strip])
    match = _matched(shifted, tiles.xyxy, 0.8)
    assert (match >= 0).all(), tiles.xyxy
    assert tiles.main[match].all()
    assert (_matched(left.tiles, tiles.xyxy) >= 0).all()
    assert not (_matched(np.array([[960, 0, 1920, 1080]]), tiles.xyxy) >= 0).any()
