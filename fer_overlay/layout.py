"""Gallery layout: find the participant tiles of a Zoom/Teams gallery frame.

Both apps draw video tiles on a flat background (the gutters) with their dark themes, so a tile is a
connected region that differs from the background colour. We estimate that colour from the frame's
left and right edges (which are background in gallery and filmstrip views, unlike the top and bottom
with their toolbars; top and bottom are the fallback for a region drawn tightly around the sides),
take the connected components of "not background", and keep the ones shaped like tiles: large
enough, aspect 0.4-3.2, mostly filled. Toolbars (very wide), icons and words (small) drop out; Teams'
rounded corners only shave the component, not its bounding box. A component much larger than the
rest (a shared screen, or the speaker beside a filmstrip) is kept but flagged ``main``: it is a
participant only if a face is found in it. Camera-off tiles are flat colour with a name or initials
and are flagged ``camera_off``.

When the edges are not a flat colour (a photo, a webcam, a region inside one tile) there is no
gallery: :func:`detect_tiles` returns no tiles with ``grid=None`` and every face found in the frame
becomes its own participant.

    >>> tiles = detect_tiles(frame.image)            # doctest: +SKIP
    >>> tiles.grid, len(tiles)
    ((5, 5), 25)
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from fer_overlay.frames import Tiles

BG_TOLERANCE = 8
"""Max channel difference still counted as background (dark themes differ by ~8-15 between parts)."""
MIN_TILE_SHARE = 0.003
"""Smallest tile as a share of the frame area (a 7x7 gallery tile is ~1.5%, a filmstrip tile ~1%)."""
MAIN_RATIO = 3.0
"""A tile this many times larger than the median of the others is the ``main`` area (share or speaker)."""


_OPEN_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))


def parse_layout(spec: str) -> str | tuple[int, int]:
    """``"auto"``, ``"faces"`` or ``"RxC"`` (e.g. ``"5x5"``) -> the value :func:`detect_tiles` takes."""
    spec = spec.strip().lower()
    if spec in ("auto", "faces"):
        return spec
    m = re.fullmatch(r"(\d+)x(\d+)", spec)
    if not m or int(m[1]) < 1 or int(m[2]) < 1:
        raise ValueError(f"layout must be auto, faces or RxC like 5x5, not {spec!r}")
    return int(m[1]), int(m[2])


def _flat_colour(pixels: np.ndarray) -> np.ndarray | None:
    """The mode colour of (K, 3) pixels if at least 60% of them lie within tolerance of it."""
    if len(pixels) == 0:
        return None
    key = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    values, counts = np.unique(key, return_counts=True)
    mode = values[counts.argmax()]
    colour = np.array([(mode >> 16) & 255, (mode >> 8) & 255, mode & 255], np.int16)
    near = np.abs(pixels.astype(np.int16) - colour).max(axis=1) <= BG_TOLERANCE
    return colour.astype(np.uint8) if near.mean() >= 0.6 else None


def background_colour(image: np.ndarray) -> np.ndarray | None:
    """The flat colour of the frame's left and right edges (else of its top and bottom edges, for a
    region drawn tightly around a gallery's sides), or None when neither is flat: no gallery."""
    h, w = image.shape[:2]
    y0, y1, x0, x1 = int(h * 0.15), int(h * 0.85), int(w * 0.15), int(w * 0.85)
    sides = np.concatenate([image[y0:y1, :4].reshape(-1, 3), image[y0:y1, -4:].reshape(-1, 3)])
    colour = _flat_colour(sides)
    if colour is None:
        ends = np.concatenate([image[:4, x0:x1].reshape(-1, 3), image[-4:, x0:x1].reshape(-1, 3)])
        colour = _flat_colour(ends)
    return colour


def _row_major(xyxy: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Order boxes by rows (centres within half a tile height) then by x; return order and (rows, cols)."""
    cy = (xyxy[:, 1] + xyxy[:, 3]) / 2
    h = np.median(xyxy[:, 3] - xyxy[:, 1])
    order = np.argsort(cy, kind="stable")
    rows: list[list[int]] = []
    for i in order:
        if rows and abs(cy[i] - cy[rows[-1][0]]) < h / 2:
            rows[-1].append(int(i))
        else:
            rows.append([int(i)])
    ordered = [i for row in rows for i in sorted(row, key=lambda j: xyxy[j, 0])]
    return np.array(ordered, np.int64), (len(rows), max(len(r) for r in rows))


def camera_off_flags(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """True for tiles that are mostly one exact colour (a name card); video always has texture and noise."""
    flags = np.zeros(len(xyxy), bool)
    green = image[::3, ::3, 1]  # one channel, every third pixel: enough to tell flat from video, and cheap
    for i, (x0, y0, x1, y1) in enumerate(xyxy):
        gray = green[(y0 + 5) // 3 : (y1 - 2) // 3, (x0 + 5) // 3 : (x1 - 2) // 3].ravel()
        if gray.size == 0:
            continue
        hist = np.bincount(gray, minlength=256)
        mode = int(hist.argmax())
        flags[i] = hist[max(0, mode - 1) : mode + 2].sum() >= 0.8 * gray.size
    return flags


def _components(image: np.ndarray, bg: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    lo, hi = bg.astype(int) - BG_TOLERANCE, bg.astype(int) + BG_TOLERANCE
    content = 255 - cv2.inRange(image, lo, hi)
    # Components at half resolution (3x faster); a 2x2 block is content only if all four pixels are,
    # so that gutters of 1-2 pixels still separate the tiles.
    half = (cv2.resize(content, (w // 2, h // 2), interpolation=cv2.INTER_AREA) == 255).astype(np.uint8)
    # Video compression rings into thin gutters and bridges tiles with specks; an opening removes any
    # bridge narrower than 5 half-pixels while tiles, far larger, keep their outline.
    half = cv2.morphologyEx(half, cv2.MORPH_OPEN, _OPEN_KERNEL)
    _, _, stats, _ = cv2.connectedComponentsWithStats(half, connectivity=4)
    x, y, bw, bh = (2 * stats[1:, i] for i in range(4))
    area = 4 * stats[1:, 4]
    keep = (
        (bw * bh >= MIN_TILE_SHARE * w * h)
        & (bw >= 40)
        & (bh >= 30)
        & (bw / np.maximum(bh, 1) >= 0.4)
        & (bw / np.maximum(bh, 1) <= 3.2)
        & (area >= 0.5 * bw * bh)
    )
    return np.stack([x, y, x + bw, y + bh], axis=1)[keep].astype(np.int32)


def _fixed_grid(image: np.ndarray, rows: int, cols: int) -> Tiles:
    """Split the gallery area (the union of tile-like regions, else the whole frame) into rows x cols."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = 0, 0, w, h
    bg = background_colour(image)
    if bg is not None:
        boxes = _components(image, bg)
        if len(boxes):
            x0, y0 = boxes[:, :2].min(axis=0)
            x1, y1 = boxes[:, 2:].max(axis=0)
    xs = np.linspace(x0, x1, cols + 1).round().astype(np.int32)
    ys = np.linspace(y0, y1, rows + 1).round().astype(np.int32)
    xyxy = np.array(
        [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for r in range(rows) for c in range(cols)], np.int32
    )
    return Tiles(xyxy, camera_off_flags(image, xyxy), np.zeros(len(xyxy), bool), (rows, cols))


def detect_tiles(image: np.ndarray, layout: str | tuple[int, int] = "auto") -> Tiles:
    """Tiles of a BGR frame. ``layout``: ``"auto"`` (find them), ``"faces"`` (none: faces are
    participants) or ``(rows, cols)`` (a fixed grid over the gallery area)."""
    if isinstance(layout, tuple):
        return _fixed_grid(image, *layout)
    if layout == "faces":
        return Tiles.empty()
    bg = background_colour(image)
    if bg is None:
        return Tiles.empty()
    boxes = _components(image, bg)
    if len(boxes) == 0:
        return Tiles.empty()
    h, w = image.shape[:2]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    # Toolbar buttons ("Leave") pass the size test on small frames; tiles come in similar sizes, so drop
    # regions far smaller than the typical one (with two regions: far smaller than the other).
    small = area < (0.3 * np.median(area) if len(area) >= 3 else area.max() / 60)
    boxes, area = boxes[~small], area[~small]
    if len(boxes) == 1 and area[0] > 0.9 * w * h:
        return Tiles.empty()
    main = np.zeros(len(boxes), bool)
    if len(boxes) >= 2:
        for i in range(len(boxes)):
            others = np.delete(area, i)
            main[i] = area[i] > MAIN_RATIO * np.median(others)
    rest = ~main
    order, grid = _row_major(boxes[rest]) if rest.any() else (np.zeros(0, np.int64), (0, 0))
    boxes = np.concatenate([boxes[main], boxes[rest][order]])
    main = np.concatenate([np.ones(main.sum(), bool), np.zeros(rest.sum(), bool)])
    if not rest.any():
        grid = (1, 1)
    return Tiles(boxes, camera_off_flags(image, boxes), main, grid)
