"""Bugs seen on real inputs (issue 11, part 4), on pictures built in code from real FER2013 faces.

A collage of webcam faces side by side on white, with no gutters, then the same picture slightly
darker: the second frame crashed in ``faces.py`` (``cv2.resize`` of an empty window) because the SSD
had reported a confident box far outside the tile it searched, which then became that tile's face
(the face "found" but drawn somewhere else, so the annotated picture counted one face more than it
labelled). Faces sit at every edge and corner of the frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_overlay.frames import FACE, Frame
from fer_overlay.session import Pipeline, gallery_note

W, H = 1485, 675


def _row_collage(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ten 148 px faces side by side across the frame at random heights (touching top or bottom)."""
    image = np.full((H, W, 3), 255, np.uint8)
    for i, face in enumerate(faces):
        y = int(rng.integers(0, H - 148))
        image[y : y + 148, i * 148 : i * 148 + 148] = cv2.resize(face, (148, 148))[..., None]
    return image


def _edges_and_corners(faces: np.ndarray, side: int = 170) -> np.ndarray:
    """Faces in the four corners, at the middle of the four edges and two near the centre."""
    image = np.full((H, W, 3), 255, np.uint8)
    xs, ys = (0, (W - side) // 2, W - side), (0, (H - side) // 2, H - side)
    spots = [(x, y) for y in ys for x in xs if (x, y) != (xs[1], ys[1])]
    spots += [(xs[1] - side, ys[1]), (xs[1] + side, ys[1])]
    for face, (x, y) in zip(faces, spots, strict=True):
        image[y : y + side, x : x + side] = cv2.resize(face, (side, side))[..., None]
    return image


def _check(result) -> None:
    """Every face lies where it is reported: inside the frame, inside its tile, one participant each."""
    h, w = result.frame.image.shape[:2]
    faces, tiles, people = result.faces, result.tiles, result.participants
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    assert ((centres >= 0) & (centres < [w, h])).all(), faces.xyxy
    for centre, t in zip(centres, faces.tile_id, strict=True):
        if t >= 0:
            x0, y0, x1, y1 = tiles.xyxy[t]
            assert x0 <= centre[0] < x1 and y0 <= centre[1] < y1, (tiles.xyxy[t], centre)
    # What the annotated picture labels: one participant in the face state per face found, at its box.
    shown = people.face_xyxy[people.state == FACE]
    assert len(shown) == len(faces)
    np.testing.assert_array_equal(np.sort(shown, axis=0), np.sort(faces.xyxy, axis=0))


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.mark.parametrize("seed", range(8))
def test_a_picture_that_changes_slightly_is_analysed(fer2013, pipeline, seed):
    rng = np.random.default_rng(seed)
    faces = fer2013["PublicTest"].faces[rng.integers(0, 3000, 10)]
    image = _row_collage(faces, rng) if seed % 2 == 0 else _edges_and_corners(faces)
    pipeline.reset()
    found = []
    for k, gain in enumerate((1.0, 0.95, 1.0, 0.9)):  # the same picture, 5% darker, back, 10% darker
        result = pipeline(Frame((image * gain).astype(np.uint8), 0.5 * k, k))
        _check(result)
        found.append(len(result.faces))
    assert min(found) >= 4, found


@pytest.mark.parametrize("seed", range(6))
def test_one_face_video_is_one_participant(fer2013, pipeline, seed):
    """A plain webcam or lab video (one face on a wall, as in CK+) is no gallery: no phantom tiles
    inside the face or on the wall, one participant."""
    rng = np.random.default_rng(seed)
    face = fer2013["PublicTest"].faces[37 * seed]
    wall = np.full((490, 640), int(rng.integers(60, 200)), np.float32)
    if seed % 3 == 2:  # a lit wall: a gradient, no flat colour
        wall += np.linspace(-40, 40, 640)[None, :]
    wall[45:445, 120:520] = cv2.resize(face, (400, 400), interpolation=cv2.INTER_CUBIC)
    wall = cv2.GaussianBlur(wall, (3, 3), 0) + rng.normal(0, 2, wall.shape) * (seed % 2)
    image = cv2.cvtColor(np.clip(wall, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    pipeline.reset()
    for k in range(3):  # the same frame three times: still one participant, the same one
        result = pipeline(Frame(image, 0.5 * k, k))
        assert len(result.participants) == 1, result.tiles.xyxy
        assert len(result.faces) == 1
        assert result.participants.state[0] == FACE
        assert gallery_note(result) == ""  # one face without a gallery: a plain webcam, nothing to say


def test_a_group_photo_is_no_gallery_and_the_result_says_so(fer2013, pipeline):
    """Three people in one picture on a lit wall, each blended in through a soft oval (no flat colour,
    no straight tile edges): faces first, one participant per face, and the result says that no
    gallery layout was recognised."""
    wall = np.full((540, 960), 120, np.float32) + np.linspace(-50, 50, 960)[None, :]
    oval = np.zeros((260, 260), np.float32)
    cv2.ellipse(oval, (130, 130), (110, 125), 0, 0, 360, 1.0, -1)
    oval = cv2.GaussianBlur(oval, (41, 41), 0)
    for k, x in enumerate((40, 350, 660)):
        face = cv2.resize(fer2013["PublicTest"].faces[11 + 5 * k], (260, 260), interpolation=cv2.INTER_CUBIC)
        part = wall[110:370, x : x + 260]
        part += oval * (face.astype(np.float32) - part)
    image = cv2.cvtColor(np.clip(wall, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    pipeline.reset()
    result = pipeline(Frame(image, 0.0, 0))
    assert result.tiles.faces_first and len(result.tiles) == 0
    assert len(result.faces) == 3 and len(result.participants) == 3
    assert (result.participants.state == FACE).all()
    assert "no gallery layout recognised" in gallery_note(result)
