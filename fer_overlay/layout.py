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
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from fer_overlay.frames import Tiles

BG_TOLERANCE = 8
"""Max channel difference still counted as background (dark themes differ by ~8-15 between parts)."""
MIN_TILE_SHARE = 0.003
"""Smallest tile as a share of the frame area (a 7x7 gallery tile is ~1.5%, a filmstrip tile ~1%)."""
FAINT_TOLERANCE = 2
"""A camera-off card drawn a few grey levels off a flat page differs from it by more than this."""
MAIN_RATIO = 3.0
SEAM_SIDE = 960
"""Seams that cut a dock of webcams are looked for on the frame shrunk to this size at most."""
LAYOUT_SIDE = 1920
"""Larger frames (a 4K screen) are analysed shrunk to this width or height: tiles are large there."""
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


def _flat_colour(pixels: np.ndarray, share: float = 0.6) -> np.ndarray | None:
    """The mode colour of (K, 3) pixels if at least ``share`` of them lie within tolerance of it."""
    if len(pixels) == 0:
        return None
    key = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    values, counts = np.unique(key, return_counts=True)
    mode = values[counts.argmax()]
    colour = np.array([(mode >> 16) & 255, (mode >> 8) & 255, mode & 255], np.int16)
    near = np.abs(pixels.astype(np.int16) - colour).max(axis=1) <= BG_TOLERANCE
    return colour.astype(np.uint8) if near.mean() >= share else None


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
    """True for camera-off cards: tiles mostly one exact colour, or whose margins are (the apps centre
    the name, initials or photo on a flat card, so a long name or a large avatar fills the middle but
    leaves the margins flat). Video always has texture and noise, in its margins too: on the shared
    screenshots the flattest margins of a live video tile are a quarter one colour, a card's 80-100%."""
    flags = np.zeros(len(xyxy), bool)
    for i, gray in enumerate(_tile_pixels(image, xyxy)):
        if gray.size == 0:
            continue
        if _mode_share(gray) >= 0.8:
            flags[i] = True
            continue
        m = max(1, int(0.2 * min(gray.shape)))  # margins: a fifth of the short side
        sides = [gray[:m], gray[-m:], gray[m:-m, :m], gray[m:-m, -m:]]
        ring = np.concatenate([s.ravel() for s in sides])
        mode = int(np.bincount(ring, minlength=256).argmax())
        near = [np.abs(s.astype(np.int16) - mode) <= 1 for s in sides]
        flags[i] = (
            np.concatenate([n.ravel() for n in near]).mean() >= 0.9
            and min(float(n.mean()) if n.size else 1.0 for n in near) >= 0.6
        )
    return flags


def _tile_pixels(image: np.ndarray, xyxy: np.ndarray) -> list[np.ndarray]:
    """Each tile's green channel at every third pixel, inside a few pixels of its edges (a highlight
    ring or a gutter's antialiasing stays out): enough to tell flat from video, and cheap."""
    green = image[::3, ::3, 1]
    return [green[(y0 + 5) // 3 : (y1 - 2) // 3, (x0 + 5) // 3 : (x1 - 2) // 3] for x0, y0, x1, y1 in xyxy]


def _mode_share(gray: np.ndarray) -> float:
    """The share of the pixels within one grey level of their most frequent level."""
    hist = np.bincount(gray.ravel(), minlength=256)
    mode = int(hist.argmax())
    return float(hist[max(0, mode - 1) : mode + 2].sum() / max(1, gray.size))


def _blank(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """True for tiles all one colour (99.9%): no video, and no name, initials or avatar, which
    every app draws on a camera-off card: an empty panel or a bar of the window, nobody."""
    return np.array([g.size > 0 and _mode_share(g) >= 0.999 for g in _tile_pixels(image, xyxy)], bool)


def _content_mask(image: np.ndarray, bg: np.ndarray, tolerance: int = BG_TOLERANCE) -> np.ndarray:
    """255 where a pixel differs from the background colour by more than ``tolerance``."""
    lo, hi = bg.astype(int) - tolerance, bg.astype(int) + tolerance
    return 255 - cv2.inRange(image, lo, hi)


def _components(
    image: np.ndarray, bg: np.ndarray, split: bool = True, tolerance: int = BG_TOLERANCE
) -> tuple[np.ndarray, bool]:
    """Tile-shaped regions of content on ``bg``, and whether all content was one region filling the
    frame (then every region is a piece cut along seams, with no flat gutter between them)."""
    h, w = image.shape[:2]
    content = _content_mask(image, bg, tolerance)
    # Components at half resolution (3x faster); a 2x2 block is content only if all four pixels are,
    # so that gutters of 1-2 pixels still separate the tiles.
    half = (cv2.resize(content, (w // 2, h // 2), interpolation=cv2.INTER_AREA) == 255).astype(np.uint8)
    # Video compression rings into thin gutters and bridges tiles with specks; an opening removes any
    # bridge narrower than 5 half-pixels while tiles, far larger, keep their outline.
    half = cv2.morphologyEx(half, cv2.MORPH_OPEN, _OPEN_KERNEL)
    _, _, stats, _ = cv2.connectedComponentsWithStats(half, connectivity=4)
    x, y, bw, bh = (2 * stats[1:, i] for i in range(4))
    area = 4 * stats[1:, 4]
    big = (bw * bh >= MIN_TILE_SHARE * w * h) & (bw >= 40) & (bh >= 30)
    boxes = np.stack([x, y, x + bw, y + bh], axis=1)[big].astype(np.int32)
    fill = (area / np.maximum(bw * bh, 1))[big]
    whole = bool(big.sum() == 1 and (bw * bh)[big][0] > 0.9 * w * h)
    if split:
        boxes, fill = _split_merged(image, content, boxes, fill)
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    keep = (bw / np.maximum(bh, 1) >= 0.4) & (bw / np.maximum(bh, 1) <= 3.2) & (fill >= 0.5)
    return boxes[keep], whole


def _typical(boxes: np.ndarray, fill: np.ndarray) -> tuple[float, float] | None:
    """The size most single tiles share: the median of the well-filled, tile-shaped boxes that are
    not clearly unions of others (a grid has many of them; None with fewer than two)."""
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    shaped = (bw / np.maximum(bh, 1) >= 1.0) & (bw / np.maximum(bh, 1) <= 2.0) & (fill >= 0.5)
    if shaped.sum() < 2:
        return None
    area = bw * bh
    small = shaped & (area <= 1.6 * np.median(area[shaped]))
    if small.sum() < 2:
        return None
    return float(np.median(bw[small])), float(np.median(bh[small]))


def _seam(gray: np.ndarray, vertical: bool, at: int, lo: int, hi: int) -> bool:
    """Whether a straight boundary runs along ``at`` (a column if ``vertical``, else a row) from
    ``lo`` to ``hi``: the step across it is at least twice the steps beside it, over most of its length.
    Two videos or a video and a card meet in such a seam; a line through one picture has none."""
    img = gray if vertical else gray.T
    if at < 3 or at > img.shape[1] - 4 or hi - lo < 8:
        return False
    band = img[lo:hi, at - 3 : at + 3].astype(np.int16)
    steps = np.abs(np.diff(band, axis=1))  # (n, 5): step k is between columns at-3+k and at-2+k
    across = steps[:, 1:4].max(axis=1)  # the seam may be off by a pixel
    beside = np.maximum(steps[:, 0], steps[:, 4])
    return bool(np.mean(across >= np.maximum(2 * beside, 12)) >= 0.5)


def _seam_profile(gray: np.ndarray, box: np.ndarray, vertical: bool) -> np.ndarray:
    """Per column (``vertical``) or row of a box: the share of its length along which a straight seam
    runs there (see :func:`_seam`), for every position at once."""
    x0, y0, x1, y1 = (int(v) for v in box)
    img = gray[y0:y1, x0:x1].astype(np.int16)
    img = img if vertical else img.T
    steps = np.abs(np.diff(img, axis=1))  # (n, m-1): step k lies between columns k and k+1
    out = np.zeros(img.shape[1], np.float32)
    if steps.shape[1] < 6:
        return out
    across = np.maximum(np.maximum(steps[:, 1:-3], steps[:, 2:-2]), steps[:, 3:-1])
    beside = np.maximum(steps[:, :-4], steps[:, 4:])
    out[3:-2] = (across >= np.maximum(2 * beside, 12)).mean(axis=0)
    return out


def _seam_cut(gray: np.ndarray, box: np.ndarray, min_side: int, depth: int = 0) -> np.ndarray:
    """A region cut recursively (columns, then rows, alternating) along the straight seams that cross
    it whole: edge-to-edge webcams under title bars, where no background separates the tiles. Pieces
    are at least ``min_side`` px; a region no seam crosses is one piece."""
    x0, y0, x1, y1 = (int(v) for v in box)
    for vertical in (True, False) if depth % 2 == 0 else (False, True):
        lo, hi = (x0, x1) if vertical else (y0, y1)
        profile = _seam_profile(gray, box, vertical)
        cuts = [lo]
        for k in np.argsort(-profile):
            if profile[k] < 0.6:
                break
            at = lo + int(k)
            if all(abs(at - c) >= min_side for c in cuts + [hi]):
                cuts.append(at)
        if len(cuts) == 1:
            continue
        cuts = sorted(cuts) + [hi]
        parts = [
            np.array([a, y0, b, y1] if vertical else [x0, a, x1, b], np.int32)
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        ]
        if depth >= 3:
            return np.array(parts, np.int32)
        return np.concatenate([_seam_cut(gray, p, min_side, depth + 1) for p in parts])
    return np.array([box], np.int32)


def _seam_pieces(image: np.ndarray, side: int = SEAM_SIDE) -> Callable[[np.ndarray], np.ndarray]:
    """A function that cuts a box of ``image`` along its straight seams (:func:`_seam_cut`), looked
    for on the frame shrunk to ``side`` at most (cost; gutters of 2-3 px blur away when shrunk), into
    pieces of at least 6% of the frame's side."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    min_side = max(30, int(0.06 * min(image.shape[:2])))
    g = min(1.0, side / max(gray.shape))
    shrunk = cv2.resize(gray, None, fx=g, fy=g, interpolation=cv2.INTER_AREA) if g < 1 else gray

    def cut(box: np.ndarray) -> np.ndarray:
        pieces = _seam_cut(shrunk, (box * g).astype(np.int32), int(min_side * g))
        return (pieces / g).round().astype(np.int32)

    return cut


def _snap_cuts(gray: np.ndarray, box: np.ndarray, n: int, vertical: bool) -> np.ndarray:
    """``n + 1`` cut positions that split a box into ``n`` equal cells along x (``vertical``) or y,
    each inner cut moved to the strongest straight seam within 8% of a cell of where equal spacing
    puts it. A label or mute icon drawn across a tile edge (Meet) widens the merged region, so equal
    spacing alone lands a few pixels off the real edges."""
    lo, hi = (int(box[0]), int(box[2])) if vertical else (int(box[1]), int(box[3]))
    cuts = np.linspace(lo, hi, n + 1).round().astype(int)
    if n < 2:
        return cuts
    profile = _seam_profile(gray, box, vertical)
    reach = max(2, int(0.08 * (hi - lo) / n))
    for k in range(1, n):
        a, b = max(0, cuts[k] - lo - reach), min(len(profile), cuts[k] - lo + reach + 1)
        if b > a and profile[a:b].max() >= 0.5:
            cuts[k] = lo + a + int(profile[a:b].argmax())
    return cuts


def _split_merged(
    image: np.ndarray, content: np.ndarray, boxes: np.ndarray, fill: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Edge-to-edge tiles merge into one component. A component whose sides are whole multiples of
    the typical tile (within 8%) is cut into those cells where straight seams run along the cuts
    (regular spacing and straight edges must agree, so a large speaker video stays whole)."""
    if len(boxes) == 0:
        return boxes, fill
    typical = _typical(boxes, fill)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    cut = _seam_pieces(image)
    out, out_fill = [], []
    for box, f in zip(boxes, fill, strict=True):
        x0, y0, x1, y1 = (int(v) for v in box)
        if typical is not None:
            tw, th = typical
        else:  # a strip alone (a filmstrip, a webcam dock): cells of a webcam's 16:9 or 4:3
            bw, bh = x1 - x0, y1 - y0
            if 0.4 <= bw / bh <= 3.2:
                tw, th = bw, bh  # no typical tile: only seams can cut it
            else:
                aspect = min((16 / 9, 4 / 3), key=lambda a: abs(bw / bh / a - round(bw / bh / a)))
                tw, th = (bh * aspect, bh) if bw > bh else (bw, bw / aspect)
        cols, rows = max(1, round((x1 - x0) / tw)), max(1, round((y1 - y0) / th))
        fits = abs((x1 - x0) / cols - tw) <= 0.08 * tw and abs((y1 - y0) / rows - th) <= 0.08 * th
        if (cols, rows) == (1, 1) or not fits or cols * rows > 100:
            small = (x1 - x0) * (y1 - y0) < (2.5 * tw * th if typical is not None else 0.03 * gray.size)
            if small:  # too small to hold a dock of three
                out.append(box)
                out_fill.append(f)
                continue
            pieces = cut(box)
            # Docks of webcams under title bars: most pieces share one size; a picture cut along its
            # own straight edges (a UI, a room) gives pieces of all sizes.
            if len(pieces) >= 3 and _regularity(pieces) >= max(3, 0.6 * len(pieces)):
                for piece in pieces:
                    px0, py0, px1, py1 = piece
                    out.append(piece)
                    out_fill.append(float((content[py0:py1, px0:px1] == 255).mean()))
                continue
            out.append(box)
            out_fill.append(f)
            continue
        xs = _snap_cuts(gray, box, cols, True)
        ys = _snap_cuts(gray, box, rows, False)
        seams = [_seam(gray, True, x, y0, y1) for x in xs[1:-1]]
        seams += [_seam(gray, False, y, x0, x1) for y in ys[1:-1]]
        if np.mean(seams) < 0.5:
            out.append(box)
            out_fill.append(f)
            continue
        for r in range(rows):
            for c in range(cols):
                cell = content[ys[r] : ys[r + 1], xs[c] : xs[c + 1]]
                out.append(np.array([xs[c], ys[r], xs[c + 1], ys[r + 1]], np.int32))
                out_fill.append(float((cell == 255).mean()))
    return np.array(out, np.int32).reshape(-1, 4), np.array(out_fill)


def _pitch(starts: np.ndarray, other: np.ndarray, size: float, other_size: float) -> float | None:
    """The grid's spacing along one axis: differences between the starts of tiles in one row (or
    column), each divided by the whole number of tiles it spans; None when no two share one."""
    d = starts[None, :] - starts[:, None]
    same_line = np.abs(other[None, :] - other[:, None]) < 0.25 * other_size
    d = d[(d > 0.5 * size) & same_line].astype(np.float64)
    if len(d) == 0:
        return None
    return float(np.median(d / np.maximum(1, np.round(d / size))))


def _lattice_cards(
    image: np.ndarray, content: np.ndarray, tiles: np.ndarray, taken: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Camera-off cards drawn on the page background have no edge (Meet's grid, avatar columns): when
    the tiles found form a regular grid (most of them the same size, on one lattice), the lattice's
    empty-looking cells that hold a little content (an avatar, initials, a name) on mostly background
    are tiles too. The lattice grows from the tiles found, row by row and column by column, while it
    finds such cards. Two equal tiles side by side (or stacked) are a lattice too: apps space rows and
    columns by the same gutter, so the other axis's pitch is the tile plus that gutter (Zoom's 2x2
    with two camera-off cards barely lighter than the page). Returns the new cells and their
    camera-off flags; None where the tiles form no lattice (then avatars are looked for instead)."""
    if len(tiles) < 2:
        return None
    bw, bh = tiles[:, 2] - tiles[:, 0], tiles[:, 3] - tiles[:, 1]
    tw, th = float(np.median(bw)), float(np.median(bh))
    same = (np.abs(bw - tw) <= 0.06 * tw) & (np.abs(bh - th) <= 0.06 * th)
    if same.sum() < min(3, len(tiles)) or same.mean() < 0.7:
        return None
    t = tiles[same]
    px = _pitch(t[:, 0], t[:, 1], tw, th)
    py = _pitch(t[:, 1], t[:, 0], th, tw)
    if px is None and py is None:
        return None
    px = tw + (py - th) if px is None else px
    py = th + (px - tw) if py is None else py
    if px < tw - 2 or py < th - 2:  # overlapping cells: not a lattice
        return None
    ox, oy = float(t[0, 0]), float(t[0, 1])
    kx = (t[:, 0] - ox) / px
    ky = (t[:, 1] - oy) / py
    on = (np.abs(kx - kx.round()) * px <= max(3, 0.04 * tw)) & (
        np.abs(ky - ky.round()) * py <= max(3, 0.04 * th)
    )
    if on.mean() < 0.8:  # the tiles do not sit on one lattice (speaker + strip, mixed sizes)
        return None
    h, w = image.shape[:2]
    cols = [
        k
        for k in range(-int(ox // px) - 1, int((w - ox) // px) + 2)
        if ox + k * px >= -2 and ox + k * px + tw <= w + 2
    ]
    rows = [
        k
        for k in range(-int(oy // py) - 1, int((h - oy) // py) + 2)
        if oy + k * py >= -2 and oy + k * py + th <= h + 2
    ]

    def cell(r: int, c: int) -> np.ndarray:
        x0, y0 = int(round(ox + c * px)), int(round(oy + r * py))
        return np.array(
            [max(0, x0), max(0, y0), min(w, int(round(x0 + tw))), min(h, int(round(y0 + th)))], np.int32
        )

    def share(box: np.ndarray) -> float:
        """The cell's content share; -1 where it lies over a tile found or a share (not beside them)."""
        x0, y0, x1, y1 = box
        if len(taken):
            ix = np.clip(np.minimum(x1, taken[:, 2]) - np.maximum(x0, taken[:, 0]), 0, None)
            iy = np.clip(np.minimum(y1, taken[:, 3]) - np.maximum(y0, taken[:, 1]), 0, None)
            if (ix * iy).max() > 0.25 * (x1 - x0) * (y1 - y0):
                return -1.0
        return float(content[y0:y1, x0:x1].mean()) if x1 > x0 and y1 > y0 else 0.0

    def is_card(box: np.ndarray) -> bool:
        return 0.03 <= share(box) <= 0.5

    used_r = sorted({int(round(k)) for k in ky[on]})
    used_c = sorted({int(round(k)) for k in kx[on]})
    r_lo, r_hi, c_lo, c_hi = used_r[0], used_r[-1], used_c[0], used_c[-1]
    # Two tiles with cards beside them are a 2x2 gallery (3 or 4 people): any more cells would be
    # guessed from one pair, and a dark editor or chat beside the window reads as empty cards.
    most = 2 if len(t) == 2 else len(rows) + len(cols)
    grown = True
    while grown:  # grow the lattice by a row or column wherever it holds a card
        grown = False
        for r, edge in ((r_lo - 1, "r_lo"), (r_hi + 1, "r_hi")):
            if (
                r_hi - r_lo + 1 < most
                and r in rows
                and any(is_card(cell(r, c)) for c in range(c_lo, c_hi + 1))
            ):
                r_lo, r_hi = (r, r_hi) if edge == "r_lo" else (r_lo, r)
                grown = True
        for c, edge in ((c_lo - 1, "c_lo"), (c_hi + 1, "c_hi")):
            if (
                c_hi - c_lo + 1 < most
                and c in cols
                and any(is_card(cell(r, c)) for r in range(r_lo, r_hi + 1))
            ):
                c_lo, c_hi = (c, c_hi) if edge == "c_lo" else (c_lo, c)
                grown = True
    # Among the rows and columns of the tiles found, a free cell full of content is a video whose
    # region merged with a neighbour's across a label or icon drawn over the gutter (and was too
    # irregular to split). Rows grown from cards alone take only cards (a toolbar may sit there).
    rc = [(r, c) for r in range(r_lo, r_hi + 1) for c in range(c_lo, c_hi + 1)]
    cells = [cell(r, c) for r, c in rc]
    shares = np.array([share(c) for c in cells])
    inner = np.array([r in used_r and c in used_c for r, c in rc], bool).reshape(-1)
    keep = (shares >= 0.03) & ((shares <= 0.5) | inner)
    # Apps fill a gallery in reading order, so a row holds one run of tiles without holes; a card
    # apart from the longest run is a button of a toolbar drawn at that height.
    for r in range(r_lo, r_hi + 1):
        row = [i for i, (rr, _) in enumerate(rc) if rr == r]
        runs: list[list[int]] = [[]]
        for i in row:
            if keep[i] or shares[i] < 0:
                runs[-1].append(i)
            elif runs[-1]:
                runs.append([])
        longest = max(runs, key=len)
        keep[[i for i in row if i not in longest]] = False
    cards = np.array(cells, np.int32).reshape(-1, 4)[keep]
    off = (shares[keep] <= 0.5) | camera_off_flags(image, cards)
    return cards, off


def _flat_cards(image: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """Camera-off cards found by their own colour: a card is one exact grey level around its avatar or
    name, so the pixels of that level form one region whose box has flat margins (see
    :func:`camera_off_flags`) and centred content. This needs no background or gutter at all: cards
    drawn edge to edge, each a shade off the next (Teams tints its stage cards; a recording blurs away
    their edges). A card must be tile-shaped and share its size with another card or a tile found, in
    its row or column (a menu or a panel of one flat colour stands alone)."""
    h, w = image.shape[:2]
    step = 6  # cards are large: a sixth of the resolution keeps the smallest tile 16 px wide
    gray = cv2.cvtColor(image[::step, ::step], cv2.COLOR_BGR2GRAY)
    hist = np.bincount(gray.ravel(), minlength=256)
    boxes: list[np.ndarray] = []
    for level in np.argsort(-hist)[:6]:  # the most frequent exact grey levels
        if hist[level] < MIN_TILE_SHARE * gray.size:
            break
        mask = (gray == level).astype(np.uint8)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        sw, sh, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
        big = (sw * sh >= MIN_TILE_SHARE * gray.size) & (area >= 0.5 * sw * sh)
        # Tile shapes: 9:16 (a phone) to a strip's 3.2:1; a pillarbox's bar is narrower.
        for x, y, bw, bh in stats[1:][big & (sw >= 0.5 * sh) & (sw <= 3.2 * sh), :4]:
            # The avatar or name sits in the middle: an empty panel, a sticky note or a menu of
            # left-aligned text has no centred content.
            ys, xs = np.nonzero(gray[y : y + bh, x : x + bw] != level)
            if (
                len(xs) < 0.03 * bw * bh
                or abs(xs.mean() / bw - 0.5) > 0.12
                or abs(ys.mean() / bh - 0.5) > 0.12
            ):
                continue
            boxes.append(np.array([x, y, x + bw, y + bh]) * step)
    if not boxes:
        return np.zeros((0, 4), np.int32)
    cards = np.array(boxes, np.int32)
    cards[:, [0, 2]] = cards[:, [0, 2]].clip(0, w)
    cards[:, [1, 3]] = cards[:, [1, 3]].clip(0, h)
    cards = cards[camera_off_flags(image, cards)]
    pair = _alike(cards, np.concatenate([cards, tiles]), 0.08)
    pair[np.arange(len(cards)), np.arange(len(cards))] = False
    return cards[pair.any(axis=1)]


def _gutter_colour(image: np.ndarray, tiles: np.ndarray) -> np.ndarray | None:
    """The colour the tiles are drawn on: the mode of the pixels 2-5 px outside their edges (the page
    of the meeting window, which may differ from the colour found at the frame's edges: a desktop, a
    recording's black), or None where that band is not one flat colour."""
    h, w = image.shape[:2]
    bands = []
    for x0, y0, x1, y1 in tiles:
        xa, xb = max(0, x0 - 5), min(w, x1 + 5)
        ya, yb = max(0, y0 - 5), min(h, y1 + 5)
        bands += [
            image[max(0, y0 - 5) : max(0, y0 - 2), xa:xb],
            image[min(h, y1 + 2) : min(h, y1 + 5), xa:xb],
        ]
        bands += [
            image[ya:yb, max(0, x0 - 5) : max(0, x0 - 2)],
            image[ya:yb, min(w, x1 + 2) : min(w, x1 + 5)],
        ]
    return _flat_colour(np.concatenate([b.reshape(-1, 3) for b in bands]))


def _faint_cards(image: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """Camera-off cards only a few grey levels off the page (Zoom's dark cards on its dark window, a
    recorded meeting): within ``BG_TOLERANCE`` they are background, so only their name or icon shows.
    Regions more than ``FAINT_TOLERANCE`` off the tiles' own page colour (:func:`_gutter_colour`) that
    have the size of a tile found (within 8%), line up with it (a row or a column), overlap no tile and
    are mostly one colour close to the page's (within twice ``BG_TOLERANCE``: apps draw cards a shade
    off their page) are camera-off cards: size, alignment, a faint edge and a flat card must agree, so
    a panel or a wall of the page stays background, and no video is that flat."""
    page = _gutter_colour(image, tiles) if len(tiles) else None
    if page is None:
        return np.zeros((0, 4), np.int32)
    blank = image.copy()  # the tiles found are page here, so a card touching one stays apart from it
    for x0, y0, x1, y1 in tiles:
        blank[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = page
    found, _ = _components(blank, page, split=False, tolerance=FAINT_TOLERANCE)
    free = (_overlap(found, tiles) <= 0.1 * _area(found)[:, None]).all(axis=1)
    cards = found[_alike(found, tiles, 0.08).any(axis=1) & free]
    faint = np.zeros(len(cards), bool)
    for i, (x0, y0, x1, y1) in enumerate(cards):
        mode = _flat_colour(image[y0:y1:2, x0:x1:2].reshape(-1, 3))
        faint[i] = mode is not None and np.abs(mode.astype(np.int16) - page).max() <= 2 * BG_TOLERANCE
    return cards[faint]


def _avatar_cells(image: np.ndarray, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-off participants shown as round avatars between the video tiles of a strip or a column
    (Teams): no tile edge, just a disc on the page. In a gap between two tiles of one strip that is at
    least half a tile wide and mostly one flat colour (the meeting window's own page, which may differ
    from the frame's background: a window on a light desktop), each disc-like blob off that colour
    (square box, 65-90% filled) of a quarter of the strip's height or more (a speaking glow around a
    disc reaches past the strip's edges) is a participant; the gap is split at the midpoints between
    the blobs. Returns the cells and the tiles they replace
    (a highlight ring taken for a tile)."""
    cells: list[np.ndarray] = []
    replaced = np.zeros(len(tiles), bool)
    for axis in (0, 1):  # 0: a strip (gaps along x), 1: a column (gaps along y)
        b = tiles if axis == 0 else tiles[:, [1, 0, 3, 2]]
        pixels = image if axis == 0 else image.transpose(1, 0, 2)
        lo, hi = b[:, 1], b[:, 3]
        size = hi - lo
        for i in np.argsort(b[:, 0]):
            band = (np.abs(lo - lo[i]) <= 0.06 * size[i]) & (np.abs(hi - hi[i]) <= 0.06 * size[i])
            right = np.where(band & (b[:, 0] >= b[i, 2]))[0]
            if len(right) == 0:
                continue
            j = right[np.argmin(b[right, 0])]
            g0, g1 = int(b[i, 2]), int(b[j, 0])
            width = float(np.median(b[band, 2] - b[band, 0]))
            if g1 - g0 < 0.5 * width:
                continue
            y0, y1 = int(lo[i]), int(hi[i])
            gap = np.ascontiguousarray(pixels[y0:y1, g0:g1])
            page = _flat_colour(gap.reshape(-1, 3), share=0.4)  # avatars may fill most of a cell
            if page is None:
                continue
            mask = (_content_mask(gap, page, 2 * BG_TOLERANCE) // 255).astype(np.uint8)
            n, _, stats, centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
            h = y1 - y0
            side = np.maximum(stats[1:, 2], stats[1:, 3])
            round_ = (
                (side >= 0.25 * h)
                & (side <= 1.2 * h)  # a speaking glow around a disc reaches past the strip's edges
                & (np.abs(stats[1:, 2] - stats[1:, 3]) <= 0.25 * side)
                & (stats[1:, 4] >= 0.65 * stats[1:, 2] * stats[1:, 3])  # a disc fills 79% of its box,
                & (stats[1:, 4] <= 0.9 * stats[1:, 2] * stats[1:, 3])  # a thumbnail all of it
            )
            xs = np.sort(centres[1:, 0][round_] + g0)
            if len(xs) == 0:
                continue
            cuts = [g0] + [int(round((a + c) / 2)) for a, c in zip(xs[:-1], xs[1:], strict=True)] + [g1]
            for a, c in zip(cuts[:-1], cuts[1:], strict=True):
                cell = np.array([a, y0, c, y1], np.int32)
                cells.append(cell if axis == 0 else cell[[1, 0, 3, 2]])
            inside = (
                (b[:, 0] >= g0 - 2)
                & (b[:, 2] <= g1 + 2)
                & (b[:, 1] >= y0 - 0.1 * h)
                & (b[:, 3] <= y1 + 0.1 * h)
            )
            replaced |= inside
    return np.array(cells, np.int32).reshape(-1, 4), replaced


def _avatar_band(content: np.ndarray, stage: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """Camera-off participants as round avatars in a column (or row) beside a stage (Teams beside a
    Together-mode scene or a share): no tile edge, just discs with a name under each on the page. In
    the band between the stage's side and the frame's edge, along the stage, two or more disc-like
    blobs in line (square box, 65-90% filled, a quarter of the band's width or more) each make a cell,
    split at the midpoints between them, none longer than 4 discs (a toolbar's round buttons, close
    together in a wide band, leave long cells). A band that a tile found crosses, partly in and
    partly out (a strip running past the stage), holds no such column. Returns the cells (none found:
    an empty array)."""
    h, w = content.shape
    x0, y0, x1, y1 = (int(v) for v in stage)
    sides = [  # (band, along y): right, left, below, above
        ((x1, y0, w, y1), True),
        ((0, y0, x0, y1), True),
        ((x0, y1, x1, h), False),
        ((x0, 0, x1, y0), False),
    ]
    mask = content.astype(np.uint8)
    for (bx0, by0, bx1, by1), along_y in sides:
        across = bx1 - bx0 if along_y else by1 - by0
        if across < 20 or across > 0.35 * (x1 - x0 if along_y else y1 - y0):
            continue
        ix = np.clip(np.minimum(tiles[:, 2], bx1) - np.maximum(tiles[:, 0], bx0), 0, None)
        iy = np.clip(np.minimum(tiles[:, 3], by1) - np.maximum(tiles[:, 1], by0), 0, None)
        inside = ix * iy / np.maximum((tiles[:, 2] - tiles[:, 0]) * (tiles[:, 3] - tiles[:, 1]), 1)
        if ((inside > 0.05) & (inside < 0.8)).any():
            continue
        _, _, stats, centres = cv2.connectedComponentsWithStats(mask[by0:by1, bx0:bx1], connectivity=8)
        bw, bh, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
        side = np.maximum(bw, bh)
        disc = (
            (side >= 0.25 * across)
            & (side <= across)
            & (np.abs(bw - bh) <= 0.25 * side)
            & (area >= 0.65 * bw * bh)
            & (area <= 0.9 * bw * bh)
        )
        c = centres[1:][disc]
        if len(c) < 2:
            continue
        line, pos = (c[:, 0], c[:, 1]) if along_y else (c[:, 1], c[:, 0])
        if np.ptp(line) > 0.25 * side[disc].min():  # not in one line
            continue
        pos = np.sort(pos) + (by0 if along_y else bx0)
        lo, hi = (by0, by1) if along_y else (bx0, bx1)
        cuts = [lo] + [int(round((a + b) / 2)) for a, b in zip(pos[:-1], pos[1:], strict=True)] + [hi]
        cells = np.array(
            [
                [bx0, a, bx1, b] if along_y else [a, by0, b, by1]
                for a, b in zip(cuts[:-1], cuts[1:], strict=True)
            ],
            np.int32,
        )
        if np.diff(cuts).max() <= 4 * np.median(side[disc]):
            return cells
    return np.zeros((0, 4), np.int32)


def _fixed_grid(image: np.ndarray, rows: int, cols: int) -> Tiles:
    """Split the gallery area (the union of tile-like regions, else the whole frame) into rows x cols."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = 0, 0, w, h
    bg = background_colour(image)
    if bg is not None:
        boxes, _ = _components(image, bg)
        if len(boxes):
            x0, y0 = boxes[:, :2].min(axis=0)
            x1, y1 = boxes[:, 2:].max(axis=0)
    xs = np.linspace(x0, x1, cols + 1).round().astype(np.int32)
    ys = np.linspace(y0, y1, rows + 1).round().astype(np.int32)
    xyxy = np.array(
        [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for r in range(rows) for c in range(cols)], np.int32
    )
    return Tiles(xyxy, camera_off_flags(image, xyxy), np.zeros(len(xyxy), bool), (rows, cols))


def _background_candidates(image: np.ndarray) -> list[np.ndarray]:
    """Flat colours the gallery may be drawn on: the frame's side edges (see :func:`background_colour`;
    first, and None-free), then the colours that cover most of the frame (a meeting window inside a
    screenshot, a side-by-side share, a light theme's panels), each at least 5% of it."""
    out = []
    side = background_colour(image)
    if side is not None:
        out.append(side)
    px = image[::8, ::8].reshape(-1, 3)
    coarse = (px >> 2).astype(np.int32)  # 4 levels a bin: compression noise splits exact colours
    key = (coarse[:, 0] << 12) | (coarse[:, 1] << 6) | coarse[:, 2]
    values, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    for i in np.argsort(-counts)[:6]:
        if counts[i] < 0.05 * len(key):
            break
        colour = np.median(px[inverse.ravel() == i], axis=0).astype(np.uint8)
        if all(np.abs(colour.astype(int) - o).max() > BG_TOLERANCE for o in out):
            out.append(colour)
    return out[:4]


def _tile_boxes(image: np.ndarray, bg: np.ndarray, split: bool = True) -> tuple[np.ndarray, bool]:
    """Tile-shaped regions on background ``bg``, without those far smaller than the typical one, and
    whether they were cut from one region filling the frame (see :func:`_components`)."""
    boxes, whole = _components(image, bg, split)
    if len(boxes) == 0:
        return boxes, whole
    area = _area(boxes)
    # Toolbar buttons ("Leave") pass the size test on small frames; tiles come in similar sizes, so drop
    # regions far smaller than the typical one (with two regions: far smaller than the other).
    small = area < (0.3 * np.median(area) if len(area) >= 3 else area.max() / 60)
    boxes, area = boxes[~small], area[~small]
    # A region inside another is part of that picture (a face, a shirt on another flat colour), not a
    # tile: one face on a plain wall must stay one participant.
    inside = (_overlap(boxes, boxes) >= 0.8 * area[:, None]) & (area[None, :] > area[:, None])
    return boxes[~inside.any(axis=1)], whole


def _area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) x0, y0, x1, y1 boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) areas of the intersections of boxes ``a[i]`` and ``b[j]``."""
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return ix.clip(0) * iy.clip(0)


def _alike(a: np.ndarray, b: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
    """(len(a), len(b)) True where box ``a[i]`` has the size of ``b[j]`` (both sides within
    ``tolerance`` of a's) and sits in its row or column (left or top edges within 10% of a's side):
    tiles of one grid or strip are alike; panels, dialogs and menus are not."""
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    same = (np.abs(aw[:, None] - bw[None]) <= tolerance * aw[:, None]) & (
        np.abs(ah[:, None] - bh[None]) <= tolerance * ah[:, None]
    )
    aligned = (np.abs(a[:, None, 0] - b[None, :, 0]) <= 0.1 * aw[:, None]) | (
        np.abs(a[:, None, 1] - b[None, :, 1]) <= 0.1 * ah[:, None]
    )
    return same & aligned


def _regularity(boxes: np.ndarray) -> int:
    """How gallery-like a set of regions is: the number alike another one (:func:`_alike`)."""
    if len(boxes) < 2:
        return 0
    pair = _alike(boxes, boxes)
    np.fill_diagonal(pair, False)
    return int(pair.any(axis=1).sum())


def _with_flat_cards(
    image: np.ndarray, boxes: np.ndarray, main: np.ndarray, off: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tiles with the flat cards (:func:`_flat_cards`) that overlap no tile found added as camera-off
    tiles (a share or speaker area may lie under them); a tile lying inside a new card was its avatar,
    and one holding two cards or more their union (cards edge to edge): both are dropped."""
    cards = _flat_cards(image, boxes[~main])
    if len(cards) == 0:
        return boxes, main, off
    inter = _overlap(boxes, cards)
    area, card_area = _area(boxes), _area(cards)
    within = (inter >= 0.8 * area[:, None]) & ~main[:, None]  # a tile inside a card: its avatar
    holds = (inter >= 0.8 * card_area[None]) & ~main[:, None]
    # A tile holding two cards or more that fill most of it is their union (cards edge to edge).
    merged = (holds.sum(axis=1) >= 2) & ((holds * card_area[None]).sum(axis=1) >= 0.6 * area)
    clash = (inter > 0.1 * card_area[None]) & ~within & ~main[:, None] & ~merged[:, None]
    new = ~clash.any(axis=0)
    cards, within = cards[new], within[:, new]
    if len(cards) == 0:
        return boxes, main, off
    keep = ~within.any(axis=1) & ~merged
    boxes = np.concatenate([boxes[keep], cards])
    main = np.concatenate([main[keep], np.zeros(len(cards), bool)])
    off = np.concatenate([off[keep], np.ones(len(cards), bool)])
    return boxes, main, off


def _centred_avatar(content: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether one of the regions on the frame's page is a round avatar centred across the frame
    (a disc: its inscribed circle filled, the box's corners around it empty, at least a tenth of the
    frame's short side, clear of the frame's edges). Teams and Meet show a lone camera-off
    participant so: a profile photo or initials disc centred on the stage, whatever menus or bars are
    drawn beside it; a gallery's tiles are no disc, and a person on a plain wall reaches the edge.
    ``content``: the frame's content mask (bool) on its page colour."""
    h, w = content.shape
    for x0, y0, x1, y1 in boxes:
        bw, bh = x1 - x0, y1 - y0
        if (
            abs(bw - bh) > 0.1 * max(bw, bh)
            or min(bw, bh) < 0.1 * min(h, w)
            or abs((x0 + x1) / 2 - w / 2) > 0.05 * w
            or min(x0, y0, w - x1, h - y1) <= 2  # a head and shoulders reach the frame's edge
        ):
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disc = ((xx - (x0 + x1) / 2) / (bw / 2)) ** 2 + ((yy - (y0 + y1) / 2) / (bh / 2)) ** 2 <= 1
        inside = content[y0:y1, x0:x1]
        if inside[disc].mean() >= 0.9 and inside[~disc].mean() <= 0.3:
            return True
    return False


def detect_tiles(image: np.ndarray, layout: str | tuple[int, int] = "auto") -> Tiles:
    """Tiles of a BGR frame. ``layout``: ``"auto"`` (find them), ``"faces"`` (none: faces are
    participants) or ``(rows, cols)`` (a fixed grid over the gallery area)."""
    if isinstance(layout, tuple):
        return _fixed_grid(image, *layout)
    if layout == "faces":
        return Tiles.empty()
    h, w = image.shape[:2]
    if min(h, w) < 32:  # no room for a tile (a tile is at least 40x30)
        return replace(Tiles.empty(), faces_first=True)
    if max(h, w) > LAYOUT_SIDE:
        f = LAYOUT_SIDE / max(h, w)
        tiles = detect_tiles(cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), layout)
        xyxy = (tiles.xyxy / f).round().astype(np.int32)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        return replace(tiles, xyxy=xyxy)
    return _gallery(image)


def _window_gallery(image: np.ndarray, box: np.ndarray) -> Tiles | None:
    """The gallery inside a ``main`` region that is a meeting window of its own, read in two ways:
    as a frame on its own background (two clients side by side; regions along its border, the
    window's title bar and toolbar, dropped), and cut along its straight seams (a phone's gallery,
    edge to edge, beside a desktop window). The reading whose video tiles (not flat cards) share their
    size in a row or column more often wins; None where neither has two such tiles. A shared slide,
    board or panel can hold such a grid too, so the tiles are only evidence, flagged ``main`` like the
    region they replace: participants where a face is found."""
    x0, y0, x1, y1 = (int(v) for v in box)
    inner = _gallery(np.ascontiguousarray(image[y0:y1, x0:x1]), nested=True)
    b = inner.xyxy
    inner = inner[(b[:, 0] > 2) & (b[:, 1] > 2) & (b[:, 2] < x1 - x0 - 2) & (b[:, 3] < y1 - y0 - 2)]
    inner = replace(inner, xyxy=inner.xyxy + np.array([x0, y0, x0, y0], np.int32))
    pieces = _seam_pieces(image, LAYOUT_SIDE)(box)
    bw, bh = pieces[:, 2] - pieces[:, 0], pieces[:, 3] - pieces[:, 1]
    h, w = image.shape[:2]
    shaped = (bw >= 0.4 * bh) & (bw <= 3.2 * bh) & (bw * bh >= MIN_TILE_SHARE * w * h)
    cut = Tiles(pieces[shaped], camera_off_flags(image, pieces[shaped]), np.zeros(shaped.sum(), bool))
    best = max((inner, cut), key=lambda t: _regularity(t.xyxy[~t.main & ~t.camera_off]))
    if _regularity(best.xyxy[~best.main & ~best.camera_off]) < 2:
        return None
    return replace(best, main=np.ones(len(best), bool), grid=None, faces_first=False)


def _gallery(image: np.ndarray, nested: bool = False) -> Tiles:
    """:func:`detect_tiles`'s ``"auto"`` on a frame of at most ``LAYOUT_SIDE``; ``nested``: the frame
    is a region of a larger one, whose ``main`` regions are not looked into again."""
    h, w = image.shape[:2]
    best: tuple[int, int, np.ndarray, np.ndarray] | None = None
    framed = False
    for k, bg in enumerate(_background_candidates(image)):
        found, whole = _tile_boxes(image, bg, split=not nested)
        area = (found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])
        if len(found) == 1 and area[0] > 0.9 * w * h:
            # One region filling the frame: this colour only frames the picture (the black around
            # a recording, a screen's border); a gallery needs regular tiles on another colour.
            framed = True
            continue
        # The frame's own edges (k = 0) win unless another flat colour shows more regular tiles.
        # Pieces cut by seams alone from one region filling the frame are the weakest evidence: any
        # colour that shows as many regular tiles with a flat gutter between them wins over them.
        score = _regularity(found) - (3 if whole else 0 if k == 0 else 2)
        if len(found) and (best is None or score > best[0]):
            best = (score, k, bg, found)
        if k == 0 and len(found) >= 4 and score == len(found):
            break  # every region of the frame's own background is a regular tile: a plain gallery
    faces_first = replace(Tiles.empty(), faces_first=True)
    if best is None or (framed and best[0] < 0):
        return faces_first
    score, k, bg, boxes = best
    content = _content_mask(image, bg) == 255
    if k == 0 and score == 0 and _centred_avatar(content, boxes):
        # One participant's camera-off stage fills the frame: its own page is the tile.
        return Tiles(np.array([[0, 0, w, h]], np.int32), np.ones(1, bool), np.zeros(1, bool), (1, 1))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    main = np.zeros(len(boxes), bool)
    if len(boxes) >= 2:
        for i in range(len(boxes)):
            others = np.delete(area, i)
            main[i] = area[i] > MAIN_RATIO * np.median(others)
    off = camera_off_flags(image, boxes)
    lattice = _lattice_cards(image, content, boxes[~main], boxes)
    if lattice is not None and len(lattice[0]):
        cards, cards_off = lattice
        boxes = np.concatenate([boxes, cards])
        main = np.concatenate([main, np.zeros(len(cards), bool)])
        off = np.concatenate([off, cards_off])
    elif lattice is None:  # no lattice: avatars may sit between the tiles of a strip or a column
        avatars, replaced = _avatar_cells(image, boxes[~main])
        if len(avatars):
            keep = np.ones(len(boxes), bool)
            keep[np.where(~main)[0][replaced]] = False
            boxes = np.concatenate([boxes[keep], avatars])
            main = np.concatenate([main[keep], np.zeros(len(avatars), bool)])
            off = np.concatenate([off[keep], np.ones(len(avatars), bool)])
    if lattice is None or not len(lattice[0]):  # a lattice that found cards found them on its page
        faint = _faint_cards(image, boxes[~main])
        boxes = np.concatenate([boxes, faint])
        main = np.concatenate([main, np.zeros(len(faint), bool)])
        off = np.concatenate([off, np.ones(len(faint), bool)])
    # Flat cards are looked for even so: the avatars of edge-to-edge cards may form a lattice.
    boxes, main, off = _with_flat_cards(image, boxes, main, off)
    keep = main | ~_blank(image, boxes)
    boxes, main, off = boxes[keep], main[keep], off[keep]
    if not nested:  # a main region that holds a gallery of its own is that gallery
        # A second window is large and reaches the screenshot's edge (windows tiled side by side, two
        # screens pasted together); other main regions are not read again (it costs ~20-130 ms).
        b = boxes
        large = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) >= 0.25 * h * w
        edge = (b[:, 0] <= 2) | (b[:, 1] <= 2) | (b[:, 2] >= w - 2) | (b[:, 3] >= h - 2)
        windows = [(i, _window_gallery(image, boxes[i])) for i in np.where(main & large & edge)[0]]
        windows = [(i, inner) for i, inner in windows if inner is not None]
        if windows:
            keep = np.ones(len(boxes), bool)
            keep[[i for i, _ in windows]] = False
            boxes = np.concatenate([boxes[keep]] + [inner.xyxy for _, inner in windows])
            main = np.concatenate([main[keep]] + [inner.main for _, inner in windows])
            off = np.concatenate([off[keep]] + [inner.camera_off for _, inner in windows])
        for i in np.where(main)[0]:  # a column of round avatars beside a stage
            cells = _avatar_band(content, boxes[i], boxes[~main])
            if len(cells):
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                x0, y0 = cells[:, :2].min(axis=0)
                x1, y1 = cells[:, 2:].max(axis=0)
                keep = main | (cx < x0) | (cx > x1) | (cy < y0) | (cy > y1)
                boxes = np.concatenate([boxes[keep], cells])
                main = np.concatenate([main[keep], np.zeros(len(cells), bool)])
                off = np.concatenate([off[keep], np.ones(len(cells), bool)])
                break
    rest = ~main
    order, grid = _row_major(boxes[rest]) if rest.any() else (np.zeros(0, np.int64), (0, 0))
    boxes = np.concatenate([boxes[main], boxes[rest][order]])
    off = np.concatenate([off[main], off[rest][order]])
    main = np.concatenate([np.ones(main.sum(), bool), np.zeros(rest.sum(), bool)])
    if not rest.any():
        grid = (1, 1)
    return Tiles(boxes, off, main, grid)


def _linked_groups(b: np.ndarray, strict: bool = False) -> np.ndarray:
    """Per box, the label of its group: boxes are linked when they share their size (within 10%),
    their width with a box of their column or their height with a box of their row, and a group is
    what links connect (a grid's columns and rows keep those sides even where uneven seams cut it).
    ``strict``: only boxes of one size in one row or column are linked (a gallery's own tiles)."""
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    same_w = np.abs(bw[:, None] - bw[None]) <= 0.1 * bw[:, None]
    same_h = np.abs(bh[:, None] - bh[None]) <= 0.1 * bh[:, None]
    ox = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    oy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    column = ox >= 0.5 * np.minimum(bw[:, None], bw[None])
    row = oy >= 0.5 * np.minimum(bh[:, None], bh[None])
    same = (same_w & same_h) | (same_w & column) | (same_h & row)
    if strict:
        same = same_w & same_h & (column | row)
    group = np.full(len(b), -1)
    for i in range(len(b)):
        if group[i] < 0:
            stack, group[i] = [i], i
            while stack:
                j = stack.pop()
                for k in np.where(same[j] & (group < 0))[0]:
                    group[k] = i
                    stack.append(k)
    return group


def window_groups_with_faces(tiles: Tiles, tile_has_face: np.ndarray) -> Tiles:
    """The faces' evidence about a second meeting window: its tiles are flagged ``main`` (a shared
    slide can hold such a grid too, :func:`_window_gallery`); once a face is found in one, the main
    tiles of its size in its row or column, and theirs, are that window's gallery: participants with
    or without a face (a camera-off card, a blurred video). A lone main region (a share, a speaker)
    and the pieces of the window's chrome, of other sizes, keep their role."""
    idx = np.where(tiles.main)[0]
    if len(idx) < 2 or not tile_has_face[idx].any():
        return tiles
    group = _linked_groups(tiles.xyxy[idx], strict=True)
    main = tiles.main.copy()
    for g in np.unique(group):
        members = idx[group == g]
        if len(members) >= 2 and tile_has_face[members].any():
            main[members] = False
    return replace(tiles, main=main) if (main != tiles.main).any() else tiles


def faceless_groups_as_content(tiles: Tiles, tile_has_face: np.ndarray) -> Tiles:
    """The faces' evidence about the layout, once they are found: while faces are seen elsewhere in the
    frame, a group of three or more linked tiles none of which shows a face or a camera-off card is
    content, not participants (an app's thumbnails, a shared board's cards, a settings panel). Tiles are
    linked when they share their size (within 10%), their width with a tile of their column or their
    height with a tile of their row: a grid's columns and rows keep those sides even where uneven
    seams cut a panel of thumbnails into pieces of mixed sizes, while a real gallery links its
    faceless tiles to tiles with faces. Such tiles are flagged ``main``: like a shared screen, a
    participant only where a face is found. A gallery in which no face at all is found (tiles too
    small to read, everyone away) keeps its tiles, so the user sees them and their states."""
    rest = np.where(~tiles.main)[0]
    if len(rest) < 3 or not tile_has_face.any():
        return tiles
    group = _linked_groups(tiles.xyxy[rest])
    # A lone tile of its own size, faceless, beside such a gallery is a board or panel of the stage
    # under a strip (Teams' share to stage), not a participant.
    sizes = np.bincount(group, minlength=len(rest))
    gallery = any(sizes[g] >= 3 and tile_has_face[rest[group == g]].any() for g in np.unique(group))
    main = tiles.main.copy()
    for g in np.unique(group):
        members = rest[group == g]
        if tile_has_face[members].any() or tiles.camera_off[members].any():
            continue
        if len(members) >= 3 or (len(members) == 1 and gallery):
            main[members] = True
    return replace(tiles, main=main) if (main != tiles.main).any() else tiles
