"""Gallery layout on synthetic Zoom/Teams frames built from real FER2013 faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from galleries import gallery

from fer_overlay.frames import Tiles
from fer_overlay.layout import camera_off_flags, detect_tiles, faceless_groups_as_content, parse_layout
from fer_overlay.track import iou


def _matched(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Index of the found tile each true tile matches (IoU >= 0.9), -1 when none."""
    if len(found) == 0:
        return np.full(len(truth), -1)
    overlap = iou(truth, found)
    return np.where(overlap.max(axis=1) >= 0.9, overlap.argmax(axis=1), -1)


@pytest.mark.parametrize(
    ("n", "style", "off"),
    [
        (1, "zoom", 0),
        (4, "teams", 1),
        (9, "zoom", 2),
        (16, "teams", 0),
        (25, "zoom", 3),
        (30, "teams", 4),
        (49, "zoom", 5),
        (49, "teams", 0),
    ],
)
def test_every_tile_found_with_grid_and_camera_off(fer2013, n, style, off):
    g = gallery(fer2013, n, style=style, camera_off=off, seed=n)
    tiles = detect_tiles(g.image)
    match = _matched(g.tiles, tiles.xyxy)
    assert (match >= 0).all(), f"missed tiles {np.where(match < 0)[0]}"
    assert len(tiles) == n  # nothing extra: no toolbar, icon or label taken for a tile
    assert tiles.grid == g.grid or n < g.grid[0] * g.grid[1]
    assert (tiles.camera_off[match] == g.camera_off).all()
    assert not tiles.main.any()


@pytest.mark.parametrize("style", ["zoom", "teams"])
def test_screen_share_filmstrip(fer2013, style):
    g = gallery(fer2013, 5, style=style, camera_off=1, share=True, seed=3)
    tiles = detect_tiles(g.image)
    assert tiles.main.sum() == 1  # the shared slide, flagged, not a participant
    match = _matched(g.tiles, tiles.xyxy[~tiles.main])
    assert (match >= 0).all() and (~tiles.main).sum() == 5


def test_row_major_order(fer2013):
    g = gallery(fer2013, 9, style="teams", seed=4)
    tiles = detect_tiles(g.image)
    np.testing.assert_allclose(tiles.xyxy, g.tiles, atol=2)


def test_no_gallery_means_faces_are_participants(fer2013):
    """A photo-like frame (no flat edges) has no tiles: the fallback is one participant per face."""
    g = gallery(fer2013, 4, seed=5)
    photo = g.image[g.tiles[0, 1] : g.tiles[0, 3], g.tiles[0, 0] : g.tiles[0, 2]].copy()  # inside one tile
    tiles = detect_tiles(photo)
    assert len(tiles) == 0 and tiles.grid is None


def test_fixed_grid_and_faces_modes(fer2013):
    g = gallery(fer2013, 9, seed=6)
    tiles = detect_tiles(g.image, (3, 3))
    assert tiles.grid == (3, 3) and len(tiles) == 9
    centres = (g.tiles[:, :2] + g.tiles[:, 2:]) / 2
    inside = [
        (tiles.xyxy[:, 0] <= cx)
        & (cx < tiles.xyxy[:, 2])
        & (tiles.xyxy[:, 1] <= cy)
        & (cy < tiles.xyxy[:, 3])
        for cx, cy in centres
    ]
    assert [int(np.argmax(m)) for m in inside] == list(range(9))
    assert len(detect_tiles(g.image, "faces")) == 0


@pytest.mark.parametrize("spec", ["0x3", "3by3", "x", ""])
def test_bad_layout_spec(spec):
    with pytest.raises(ValueError):
        parse_layout(spec)


@pytest.mark.parametrize(
    ("n", "size"), [(1, (960, 540)), (4, (960, 540)), (9, (1280, 720)), (25, (2560, 1440))]
)
def test_other_window_sizes(fer2013, n, size):
    g = gallery(fer2013, n, style="zoom" if n % 2 else "teams", camera_off=n // 4, seed=30 + n, size=size)
    tiles = detect_tiles(g.image)
    assert len(tiles) == n and (_matched(g.tiles, tiles.xyxy) >= 0).all()


def test_region_drawn_tightly_around_the_gallery_sides(fer2013):
    g = gallery(fer2013, 9, seed=40)
    x0, x1 = g.tiles[:, 0].min(), g.tiles[:, 2].max()
    y0, y1 = g.tiles[:, 1].min() - 20, g.tiles[:, 3].max() + 20
    region = np.ascontiguousarray(g.image[y0:y1, x0:x1])
    tiles = detect_tiles(region)
    assert tiles.grid == (3, 3)
    assert (_matched(g.tiles - np.array([x0, y0, x0, y0]), tiles.xyxy) >= 0).all()


def test_icons_drawn_across_the_gutters_do_not_merge_tiles(fer2013):
    """Meet draws each tile's mute icon and name over its left edge, across the gutter: videos that
    touch through such icons are still cut at their own edges, every tile found once."""
    g = gallery(fer2013, 16, style="zoom", seed=41)
    image = g.image.copy()
    gutter = int(g.tiles[1, 0] - g.tiles[0, 2])
    radius = gutter + 8
    for x0, _, _, y1 in g.tiles:  # each icon reaches into the left neighbour (or the page, at the left)
        cv2.circle(image, (int(x0) + radius // 3, int(y1) - 2 * radius), radius, (40, 40, 220), -1)
    tiles = detect_tiles(image)
    match = _matched(g.tiles, tiles.xyxy)
    assert (match >= 0).all(), f"missed tiles {np.where(match < 0)[0]}"
    assert len(tiles) == 16 and tiles.grid == (4, 4)


def test_faceless_panel_cut_unevenly_is_content_not_participants():
    """A settings panel of thumbnails beside the stage, cut along uneven seams: its pieces share only
    the side across their column or row, none holds a face, so they are content (flagged main), while
    the gallery's faceless tile beside its tiles with faces stays a participant."""
    gallery_ = [[0, 0, 400, 225], [410, 0, 810, 225], [0, 235, 400, 460], [410, 235, 810, 460]]
    rows = [(0, 110), (110, 205), (205, 325)]  # no two pieces of the panel share both sides
    panel = [[x0, y0, x1, y1] for y0, y1 in rows for x0, x1 in ((900, 1068), (1068, 1217))]
    xyxy = np.array(gallery_ + panel, np.int32)
    tiles = Tiles(xyxy, np.zeros(len(xyxy), bool), np.zeros(len(xyxy), bool), (3, 4))
    has_face = np.array([True, True, True, False] + [False] * len(panel))
    flagged = faceless_groups_as_content(tiles, has_face).main
    assert flagged.tolist() == [False] * 4 + [True] * len(panel)
    # No face anywhere: nothing is judged content (a gallery of people looking away keeps its tiles).
    assert not faceless_groups_as_content(tiles, np.zeros(len(xyxy), bool)).main.any()


def test_two_tiles_inside_a_black_frame(fer2013):
    """A meeting window inside a black border (a recording's letterbox, a screen around a window): the
    black only frames the picture, so the two tiles on the window's own background are the gallery."""
    g = gallery(fer2013, 2, style="zoom", seed=42)
    pad = 24
    image = cv2.copyMakeBorder(g.image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    tiles = detect_tiles(image)
    assert not tiles.faces_first
    assert (_matched(g.tiles + pad, tiles.xyxy) >= 0).all() and len(tiles) == 2


def test_card_with_a_long_centred_name_is_camera_off(fer2013):
    """A camera-off card whose name (or a large avatar) fills the middle is under 80% one colour, but
    its margins stay flat: still camera off, while every video tile, noisy to its edges, is not."""
    g = gallery(fer2013, 9, style="zoom", seed=43)
    image = g.image.copy()
    x0, y0, x1, y1 = (int(v) for v in g.tiles[4])
    image[y0:y1, x0:x1] = (35, 35, 35)
    w, h = x1 - x0, y1 - y0
    cv2.rectangle(
        image, (x0 + w // 12, y0 + 3 * h // 10), (x1 - w // 12, y0 + 7 * h // 10), (160, 160, 160), -1
    )
    flags = camera_off_flags(image, g.tiles)
    assert flags.tolist() == [i == 4 for i in range(9)]


def test_cards_a_few_grey_levels_off_the_page_are_camera_off_tiles(fer2013):
    """Two videos and, below them, two camera-off cards 5 grey levels lighter than the page (Zoom's
    dark cards): within the background tolerance the cards are page, and two tiles make no lattice,
    yet their faint edges, their size and their place under the videos make them tiles."""
    g = gallery(fer2013, 4, style="zoom", seed=44)
    image = g.image.copy()
    page = image[int(g.tiles[0, 3]) + 2, int(g.tiles[0, 0]) + 10].astype(int)
    for x0, y0, x1, y1 in g.tiles[2:]:
        image[y0:y1, x0:x1] = np.clip(page + 5, 0, 255)
        cv2.putText(
            image, "Ada L.", (int(x0) + 20, int(y1) - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (220,) * 3, 2
        )
    tiles = detect_tiles(image)
    match = _matched(g.tiles, tiles.xyxy)
    assert (match >= 0).all() and len(tiles) == 4, f"missed tiles {np.where(match < 0)[0]}"
    assert tiles.camera_off[match].tolist() == [False, False, True, True]


def test_edge_to_edge_cards_three_grey_levels_apart():
    """A stage of four camera-off cards drawn edge to edge, each 3 grey levels off the next (Teams
    tints its cards; a recorded meeting blurs away their edges), on a black page: no gutter and no
    seam separates them, but each card is one flat colour around its centred avatar."""
    image = np.zeros((1080, 1920, 3), np.uint8)
    cells = [(0, 60, 960, 540), (960, 60, 1920, 540), (0, 540, 960, 1020), (960, 540, 1920, 1020)]
    for k, (x0, y0, x1, y1) in enumerate(cells):
        image[y0:y1, x0:x1] = 36 + 3 * k
        cv2.circle(image, ((x0 + x1) // 2, (y0 + y1) // 2), 110, (90, 120, 200), -1)
    image = cv2.GaussianBlur(image, (0, 0), 4)  # blurred avatars, as a recording shows them
    for k, (x0, y0, x1, y1) in enumerate(cells):  # the blur spreads the discs, not the flat cards
        disc = cv2.circle(np.zeros(image.shape[:2], np.uint8), ((x0 + x1) // 2, (y0 + y1) // 2), 130, 1, -1)
        flat = np.zeros(image.shape[:2], bool)
        flat[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6] = True
        image[flat & (disc == 0)] = 36 + 3 * k
    tiles = detect_tiles(image)
    match = _matched(np.array(cells), tiles.xyxy)
    assert (match >= 0).all() and len(tiles) == 4, f"found {tiles.xyxy.tolist()}"
    assert tiles.camera_off.all()


def test_lone_camera_off_stage_is_one_tile(fer2013):
    """A call with one camera-off participant (classic Teams): the stage is a flat page with a round
    profile photo centred at the top and a menu below it. The whole stage is that participant's
    camera-off tile, not a photo and two menus; a face on a plain wall, reaching the frame's bottom
    edge, stays no gallery at all."""
    face = cv2.resize(fer2013["PrivateTest"].faces[0], (180, 180), interpolation=cv2.INTER_CUBIC)
    stage = np.full((688, 550, 3), 26, np.uint8)
    disc = cv2.circle(np.zeros((180, 180), np.uint8), (90, 90), 90, 1, -1).astype(bool)
    stage[24:204, 185:365][disc] = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)[disc]
    for y0, y1 in ((238, 384), (388, 596)):  # the menu's two panels, words on a lighter grey
        stage[y0:y1, 124:490] = 48
        for y in range(y0 + 20, y1 - 20, 34):
            cv2.putText(
                stage, "Apparaatinstellingen", (150, y + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (230,) * 3, 1
            )
    tiles = detect_tiles(stage)
    assert tiles.xyxy.tolist() == [[0, 0, 550, 688]] and tiles.camera_off.tolist() == [True]

    wall = np.full((480, 640, 3), 200, np.uint8)
    head = cv2.resize(fer2013["PrivateTest"].faces[1], (300, 300), interpolation=cv2.INTER_CUBIC)
    wall[180:480, 170:470] = cv2.cvtColor(head, cv2.COLOR_GRAY2BGR)
    assert not detect_tiles(wall).camera_off.any()


def test_a_blank_rectangle_is_nobody(fer2013):
    """Every app draws a name, initials or an avatar on a camera-off card: a tile-shaped rectangle of
    one flat colour (an empty panel, a bar of the window) is no participant, while a card with a name
    stays one."""
    g = gallery(fer2013, 4, style="zoom", seed=45)
    image = g.image.copy()
    for k, (x0, y0, x1, y1) in enumerate(g.tiles[2:]):
        image[y0:y1, x0:x1] = (70, 70, 70)
        if k == 1:
            cv2.putText(
                image, "Ada L.", (int(x0) + 20, int(y1) - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (220,) * 3, 2
            )
    tiles = detect_tiles(image)
    match = _matched(g.tiles, tiles.xyxy)
    assert match.tolist()[2] == -1 and (match[[0, 1, 3]] >= 0).all() and len(tiles) == 3
    assert tiles.camera_off[match[3]]
