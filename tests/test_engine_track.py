"""Tracking ids, smoothing with its time constant, states, and the aggregation, on real faces and model."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import require
from galleries import gallery, make_gallery

from fer_overlay.aggregate import engagement, snapshot
from fer_overlay.classify import Classifier, default_model_path
from fer_overlay.frames import CAMERA_OFF, FACE, NO_FACE, Frame
from fer_overlay.session import Pipeline


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    require(default_model_path().is_file(), f"no model at {default_model_path()}")
    return Classifier(threads=2)


def test_ids_stable_when_the_gallery_is_redrawn(fer2013, classifier):
    pipe = Pipeline(classifier)
    first = pipe(Frame(gallery(fer2013, 9, camera_off=1, seed=1).image, 0.0))
    # Same places, other faces and backgrounds (a new frame of the same meeting).
    second = pipe(Frame(gallery(fer2013, 9, camera_off=1, seed=1, offset=100).image, 0.5))
    assert list(first.participants.id) == list(second.participants.id) == list(range(1, 10))


def test_new_layout_keeps_ids_of_tiles_that_stay(fer2013, classifier):
    pipe = Pipeline(classifier)
    a = pipe(Frame(gallery(fer2013, 4, seed=2).image, 0.0))
    b = pipe(Frame(gallery(fer2013, 9, seed=2).image, 0.5))  # someone joined: 2x2 -> 3x3, all tiles move
    assert set(a.participants.id) <= set(range(1, 5))
    assert len(set(b.participants.id)) == 9 and max(b.participants.id) > 4  # new ids for moved tiles


def test_smoothing_follows_the_time_constant(fer2013, classifier):
    faces = fer2013["PrivateTest"].faces
    g1 = make_gallery(faces[0:4], 2, 2, seed=3)
    g2 = make_gallery(faces[4:8], 2, 2, seed=3)  # same layout and backgrounds, other faces
    pipe = Pipeline(classifier, tau=2.0)
    r1 = pipe(Frame(g1.image, 0.0))
    r2 = pipe(Frame(g2.image, 2.0))  # one time constant later
    raw2 = np.full((4, 7), np.nan, np.float32)  # the classifier's own output on frame 2, per tile
    raw2[r2.faces.tile_id] = r2.faces.probs
    both = (r1.participants.state == FACE) & (r2.participants.state == FACE)
    require(both.sum() >= 2, "detector missed too many faces for this check")
    w = 1 - math.exp(-1)
    expected = r1.participants.probs[both] + w * (raw2[both] - r1.participants.probs[both])
    np.testing.assert_allclose(r2.participants.probs[both], expected, atol=1e-5)
    assert not np.allclose(r2.participants.probs[both], raw2[both], atol=1e-3)


def test_states_kept_apart_from_emotions(fer2013, classifier):
    pipe = Pipeline(classifier)
    faces = fer2013["PrivateTest"].faces
    g = make_gallery(faces[:3], 2, 2, camera_off=1, seed=4)
    r1 = pipe(Frame(g.image, 0.0))
    assert (r1.participants.state == CAMERA_OFF).sum() == 1
    assert np.isnan(r1.participants.engagement[r1.participants.state == CAMERA_OFF]).all()
    seen = np.where(r1.participants.state == FACE)[0]
    require(len(seen) >= 1, "no face detected")
    # Everyone leaves the camera: blur each video tile beyond recognition, with a webcam's noise.
    empty = g.image.copy()
    noise = np.random.default_rng(0)
    for (x0, y0, x1, y1), box in zip(g.tiles, g.face_xyxy, strict=True):
        if not np.isnan(box).any():
            blurred = cv2.GaussianBlur(g.image[y0:y1, x0:x1], (0, 0), 40).astype(float)
            empty[y0:y1, x0:x1] = np.clip(blurred + noise.normal(0, 4, blurred.shape), 0, 255).astype(
                np.uint8
            )
    r2 = pipe(Frame(empty, 1.0))
    assert (r2.participants.state[seen] == NO_FACE).all()
    # No face: probabilities are held, never pulled towards an emotion; presence and engagement fall.
    np.testing.assert_allclose(r2.participants.probs[seen], r1.participants.probs[seen])
    assert (r2.participants.presence[seen] < r1.participants.presence[seen]).all()
    assert (r2.participants.engagement[seen] < r1.participants.engagement[seen]).all()
    snap = r2.snapshot
    assert (snap.with_face, snap.no_face, snap.camera_off) == (0, 3, 1)
    assert np.isnan(snap.distribution).all()


def test_faces_mode_ids_follow_face_positions(fer2013, classifier):
    pipe = Pipeline(classifier, layout="faces")
    g = gallery(fer2013, 4, seed=5, size=(1280, 720))
    a = pipe(Frame(g.image, 0.0))
    b = pipe(Frame(g.image, 0.5))
    require(len(a.participants) >= 2, "too few faces found")
    assert list(a.participants.id) == list(b.participants.id)
    assert (a.participants.state == FACE).all()


def test_engagement_formula():
    p = np.zeros((4, 7), np.float32)
    p[0, 6] = 1  # neutral, facing the screen
    p[1, 3] = 1  # happy
    p[2, 4] = 1  # sad
    p[3, 6] = 1
    e = engagement(np.array([1, 1, 1, 0.5]), p, np.array([FACE, FACE, FACE, NO_FACE]))
    np.testing.assert_allclose(e, [80, 100, 60, 40])
    assert np.isnan(engagement(np.ones(1), p[:1], np.array([CAMERA_OFF])))[0]


def test_snapshot_averages_seen_faces_only(fer2013, classifier):
    r = Pipeline(classifier)(Frame(gallery(fer2013, 9, camera_off=3, seed=6).image, 0.0))
    people = r.participants
    snap = snapshot(people, 0.0)
    seen = people.state == FACE
    np.testing.assert_allclose(snap.distribution, people.probs[seen].mean(axis=0), rtol=1e-5)
    assert snap.engagement == pytest.approx(float(np.mean(people.engagement[people.state != CAMERA_OFF])))
    assert snap.participants == 9 and snap.camera_off == 3


def test_unchanged_faces_keep_their_probabilities_changed_ones_are_classified(fer2013, classifier):
    """A live pipeline classifies only the faces whose crop changed: webcam noise keeps the last
    probabilities, a new face in a tile gets what a fresh classification gives."""
    g = gallery(fer2013, 9, seed=4)
    pipe = Pipeline(classifier)
    first = pipe(Frame(g.image, 0.0))
    assert pipe.classified == len(first.faces) >= 8
    noisy = np.clip(g.image + np.random.default_rng(0).normal(0, 2, g.image.shape), 0, 255).astype(np.uint8)
    again = pipe(Frame(noisy, 0.5))
    assert pipe.classified == 0
    np.testing.assert_array_equal(again.faces.probs, first.faces.probs)
    # One tile's face replaced by another person's, same place: only that face is classified again.
    other = make_gallery(fer2013["PrivateTest"].faces[[0, 1, 2, 3, 200, 5, 6, 7, 8]], 3, 3, seed=4)
    changed = pipe(Frame(other.image, 1.0))
    assert pipe.classified == 1
    j = int(np.where(changed.faces.tile_id == 4)[0][0])
    np.testing.assert_allclose(
        changed.faces.probs[j], classifier.predict(changed.faces.crops[j : j + 1])[0], atol=1e-6
    )
    pipe.reuse_unchanged = False  # what `bench` times as "moving": every face classified
    pipe(Frame(other.image, 1.5))
    assert pipe.classified == len(changed.faces)
