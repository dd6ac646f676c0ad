"""Test helpers: synthetic galleries from real FER2013 faces, and files made from them in tmp dirs.

The builder itself lives in :mod:`fer_bench.synthetic` because ``fer-overlay bench`` and ``evaluate``
use it too; these helpers only pick faces and write temporary inputs (never into the repository).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fer_bench.synthetic import Gallery, grid_for, make_gallery
from training.data import Fer2013

__all__ = ["Gallery", "grid_for", "make_gallery", "gallery", "write_video", "faces_of", "centre_hit"]


def faces_of(data: Fer2013, split: str, n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` faces and labels of a split, from ``offset`` (deterministic)."""
    s = data[split]
    return s.faces[offset : offset + n], s.labels[offset : offset + n]


def gallery(
    data: Fer2013,
    n: int,
    *,
    style: str = "zoom",
    camera_off: int = 0,
    share: bool = False,
    seed: int = 0,
    split: str = "PrivateTest",
    offset: int = 0,
    size: tuple[int, int] = (1920, 1080),
) -> Gallery:
    """A gallery of ``n`` participant tiles (``camera_off`` of them without video) from real faces."""
    faces, _ = faces_of(data, split, n - camera_off, offset)
    if share:
        rows, cols = (n, 1) if style == "zoom" else (1, n)
    else:
        rows, cols = grid_for(n)
    return make_gallery(
        faces, rows, cols, style=style, camera_off=camera_off, share=share, seed=seed, size=size
    )


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write mp4 here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def centre_hit(box: np.ndarray, truth: np.ndarray) -> bool:
    """A detection is right when its centre lies within half a face side of the true crop's centre."""
    side = truth[2] - truth[0]
    c = (box[:2] + box[2:]) / 2
    return bool(np.all(np.abs(c - (truth[:2] + truth[2:]) / 2) < side / 2))
