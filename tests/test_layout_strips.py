"""Layouts beyond a plain grid of videos, on synthetic frames built from real FER2013 faces: a 2x2
gallery whose camera-off cards barely differ from the page, a filmstrip beside a share, several
meeting windows in one screenshot."""

from __future__ import annotations

import cv2
import numpy as np
from galleries import gallery

from fer_overlay.frames import Tiles
from fer_overlay.layout import detect_tiles, faceless_groups_as_content, window_groups_with_faces
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


def test_a_phone_gallery_edge_to_edge_beside_a_desktop_stage_is_cut_along_its_seams(fer2013):
    """Teams docs' composite: a phone's gallery (tiles edge to edge, 3 px gutters, no page around
    them) pasted beside a desktop window whose stage touches it, so both stand out as one region,
    taken for a shared screen. Cut along its straight seams, the phone's tiles and the stage are
    found, flagged main (participants where a face is found)."""
    faces = fer2013["PrivateTest"].faces[:8]
    video = [cv2.cvtColor(cv2.resize(f, (240, 200)), cv2.COLOR_GRAY2BGR) for f in faces]
    image = np.empty((720, 1280, 3), np.uint8)
    image[:] = (31, 31, 32)
    column = [np.array([1100, 60 + k * 110, 1260, 150 + k * 110]) for k in range(3)]
    for (x0, y0, x1, y1), v in zip(column, video[5:], strict=True):
        image[y0:y1, x0:x1] = cv2.resize(v, (x1 - x0, y1 - y0))
    image[20:700, 20:300] = 0  # the phone: black gutters, status bar and toolbar
    phone = [[20, 60, 158, 200], [161, 60, 300, 200], [20, 203, 158, 343], [161, 203, 300, 343]]
    phone += [[20, 346, 300, 486]]
    phone_xyxy = np.array(phone)
    for (x0, y0, x1, y1), v in zip(phone_xyxy, video, strict=False):
        image[y0:y1, x0:x1] = cv2.resize(v, (x1 - x0, y1 - y0))
    image[20:700, 300:360] = (229, 229, 229)  # the desktop between the two screens
    stage = np.array([[360, 20, 1000, 700]])
    image[20:700, 360:1000] = cv2.resize(video[4], (640, 680))
    image[20:700, 960:1000] = (90, 60, 40)  # the stage's right edge (a wall)
    image = np.ascontiguousarray(image[20:700, 20:])  # the two screens fill the screenshot's height
    phone_xyxy, stage, column = phone_xyxy - 20, stage - 20, [c - 20 for c in column]
    tiles = detect_tiles(image)
    match = _matched(np.concatenate([phone_xyxy, stage]), tiles.xyxy, 0.7)  # the status bar joins row 1
    assert (match >= 0).all(), tiles.xyxy
    assert tiles.main[match].all()
    assert (_matched(np.array(column), tiles.xyxy, 0.8) >= 0).all()


def test_a_column_of_round_avatars_beside_a_stage_is_one_cell_each(fer2013):
    """Teams beside a Together-mode scene (or a share): the participants without video are round
    profile pictures in a column on the page, a name under each, no tile edge. Each is a camera-off
    participant whose cell splits the column at the midpoints between the discs; the stage stays the
    main region."""
    image = np.empty((720, 1280, 3), np.uint8)
    image[:] = (31, 31, 32)
    scene = cv2.cvtColor(cv2.resize(fer2013["PrivateTest"].faces[0], (1040, 620)), cv2.COLOR_GRAY2BGR)
    image[60:680, 40:1080] = np.maximum(scene, 60)  # the stage, brighter than the page at its edges
    centres = [160, 370, 580]
    for k, cy in enumerate(centres):
        cv2.circle(image, (1180, cy), 35, (80 + 60 * k, 150, 220 - 50 * k), -1)
        cv2.putText(image, "Beth Davies", (1120, cy + 60), 0, 0.6, (220, 220, 220), 1)
    tiles = detect_tiles(image)
    column = tiles.xyxy[tiles.xyxy[:, 0] >= 1060]
    assert len(column) == 3, tiles.xyxy
    assert tiles.camera_off[tiles.xyxy[:, 0] >= 1060].all()
    for cy, (_, y0, _, y1) in zip(centres, column[np.argsort(column[:, 1])], strict=True):
        assert y0 < cy < y1
    assert (_matched(np.array([[40, 60, 1080, 680]]), tiles.xyxy[tiles.main]) >= 0).all()


def test_round_toolbar_buttons_under_a_slide_are_no_avatars(fer2013):
    """BigBlueButton's toolbar under the presentation: round buttons in a row beside the stage are
    discs in line too, but close together in a wide band, so cells split between them would be far
    longer than any tile: no camera-off participants there."""
    image = np.empty((720, 1280, 3), np.uint8)
    image[:] = (31, 31, 32)
    image[80:560, 100:1180] = (250, 250, 250)  # the slide
    cv2.putText(image, "Week 7: Gradient descent", (160, 200), 0, 1.6, (40, 40, 40), 3)
    faces = fer2013["PrivateTest"].faces[:4]
    for k, f in enumerate(faces):  # a few webcams above, so that the slide is the main region
        video = cv2.cvtColor(cv2.resize(f, (100, 60)), cv2.COLOR_GRAY2BGR)
        image[10:70, 100 + k * 110 : 200 + k * 110] = np.maximum(video, 60)
    for cx in (580, 640, 700):
        cv2.circle(image, (cx, 640), 24, (200, 120, 40), -1)
    tiles = detect_tiles(image)
    assert not tiles.camera_off[tiles.xyxy[:, 1] >= 560].any(), tiles.xyxy


def test_a_window_strip_with_a_face_is_a_gallery_its_chrome_and_the_share_stay_main():
    """The tiles read inside a second window are flagged main until the faces speak: a face in one
    strip tile makes its same-size neighbour in the row a participant too (a blurred or camera-off
    video), while the browser's toolbar pieces (another size, no face) and the share stay main."""
    strip = [[1140, 90, 1443, 240], [1443, 90, 1746, 240]]
    chrome = [[960, 2, 1140, 90], [1746, 2, 1920, 91]]
    share = [[1140, 260, 1746, 1000]]
    xyxy = np.array(strip + chrome + share, np.int32)
    tiles = Tiles(xyxy, np.zeros(len(xyxy), bool), np.ones(len(xyxy), bool), None)
    has_face = np.array([False, True, False, False, True])
    assert window_groups_with_faces(tiles, has_face).main.tolist() == [False, False, True, True, True]
    assert window_groups_with_faces(tiles, np.zeros(len(xyxy), bool)).main.all()
