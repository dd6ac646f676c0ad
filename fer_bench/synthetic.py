"""Synthetic Zoom/Teams gallery frames built from real 48x48 faces, with their ground truth.

The engine cannot be tested or benchmarked on recordings of real classes (privacy), so tests, ``bench``
and ``evaluate`` build galleries from FER2013 faces: each face is upscaled to webcam scale (35-55% of
the tile height), its own border is extended and blurred into a head, shoulders and a room-like
background, and the tile gets a name label; some tiles show a camera-off card instead. Both apps'
dark themes are drawn (Zoom: square tiles on near-black; Teams: rounded tiles, initials avatars), with
the meeting window's toolbars, and a screen-share layout with a filmstrip. Nothing is written to disk.

    >>> g = make_gallery(faces[:9], 3, 3, style="teams", seed=1)   # doctest: +SKIP
    >>> g.image.shape, g.tiles.shape
    ((1080, 1920, 3), (9, 4))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STYLES = ("zoom", "teams")
_THEME = {
    # background, camera-off card, top bar, toolbar, gutter px, corner radius px
    "zoom": dict(bg=(26, 26, 26), off=(36, 36, 36), top=(26, 26, 26), bar=(34, 34, 34), gutter=6, radius=0),
    "teams": dict(bg=(31, 31, 31), off=(45, 41, 41), top=(41, 41, 41), bar=(41, 41, 41), gutter=8, radius=10),
}
_NAMES = (
    "Ana",
    "Ben",
    "Chloe",
    "Dmitri",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kenji",
    "Lea",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
)


@dataclass(frozen=True)
class Gallery:
    """A synthetic frame and its truth, one row per participant tile (row-major).

    ``face_xyxy`` float32 (T, 4) is where the original 48x48 crop lies in the frame (NaN for camera-off
    tiles); ``face_index`` int (T,) the index of the face used, -1 for camera-off tiles.
    """

    image: np.ndarray
    tiles: np.ndarray
    face_xyxy: np.ndarray
    face_index: np.ndarray
    camera_off: np.ndarray
    style: str
    grid: tuple[int, int]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A room-like tile background: a two-colour gradient, soft blobs (furniture, windows) and noise."""
    c0, c1 = rng.integers(20, 235, 3), rng.integers(20, 235, 3)
    t = np.linspace(0, 1, h if rng.random() < 0.6 else w, dtype=np.float32)
    grad = c0[None, :] * (1 - t[:, None]) + c1[None, :] * t[:, None]
    img = (
        np.broadcast_to(grad[:, None, :], (h, w, 3))
        if len(t) == h
        else np.broadcast_to(grad[None], (h, w, 3))
    )
    img = img.astype(np.float32).copy()
    for _ in range(rng.integers(1, 5)):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 8, w // 2)), y0 + int(rng.integers(h // 8, h // 2))
        cv2.rectangle(img, (x0, y0), (x1, y1), rng.integers(0, 255, 3).tolist(), -1)
    k = max(3, (min(h, w) // 12) | 1)
    img = cv2.GaussianBlur(img, (k, k), 0)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return img


def _person(rng: np.random.Generator, tile: np.ndarray, face: np.ndarray) -> tuple[int, int, int]:
    """Paint a head and shoulders around ``face`` into ``tile`` (float32, in place); return x, y, size."""
    h, w = tile.shape[:2]
    size = int(round(h * rng.uniform(0.36, 0.55)))
    size = min(size, int(w * 0.8))
    cx = w / 2 + rng.uniform(-0.12, 0.12) * w
    top = h * rng.uniform(0.12, 0.28)
    x, y = int(round(cx - size / 2)), int(round(top))
    y = min(y, h - size - 2)
    # Shoulders: a rounded block below the head in a shirt colour.
    shirt = rng.integers(10, 230, 3).tolist()
    sw = int(size * rng.uniform(1.9, 2.5))
    cv2.ellipse(tile, (int(cx), y + int(size * 1.85)), (sw // 2, int(size * 0.9)), 0, 180, 360, shirt, -1)
    cv2.rectangle(tile, (int(cx) - sw // 2, y + int(size * 1.85)), (int(cx) + sw // 2, h), shirt, -1)
    # Head: the face's own border extended (hair, ears, neck) and blurred, blended by an elliptic mask.
    pad = 24
    ext = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE).astype(np.float32)
    ext = cv2.GaussianBlur(ext, (0, 0), 5)
    ext[pad:-pad, pad:-pad] = face
    scale = size / 48.0
    big = cv2.resize(ext, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    bp = int(round(pad * scale))
    face_big = cv2.resize(face.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    big[bp : bp + size, bp : bp + size] = face_big
    bh, bw = big.shape
    mask = np.zeros((bh, bw), np.float32)
    cv2.ellipse(mask, (bw // 2, int(bh * 0.5)), (int(size * 0.78), int(size * 0.9)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), size / 16)
    mask[bp : bp + size, bp : bp + size] = 1.0
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    x0, y0 = x - bp, y - bp
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(w, x0 + bw), min(h, y0 + bh)
    sub_m = mask[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0, None]
    sub_f = big[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0, None] * tint[None, None, :]
    tile[dy0:dy1, dx0:dx1] = tile[dy0:dy1, dx0:dx1] * (1 - sub_m) + sub_f * sub_m
    return x, y, size


def _label(img: np.ndarray, x0: int, y1: int, name: str, height: int) -> None:
    scale = max(0.35, height / 320)
    (tw, th), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y0 = y1 - th - 10
    patch = img[y0:y1, x0 + 4 : x0 + tw + 14]
    patch[:] = (patch * 0.35 + 10).astype(img.dtype)
    cv2.putText(img, name, (x0 + 9, y1 - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (240, 240, 240), 1, cv2.LINE_AA)


def _camera_off(img: np.ndarray, box: tuple[int, int, int, int], name: str, style: str, rng) -> None:
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = _THEME[style]["off"]
    cx, cy, h = (x0 + x1) // 2, (y0 + y1) // 2, y1 - y0
    if style == "teams":  # an initials avatar in a coloured circle, name in the corner
        r = max(8, h // 6)
        cv2.circle(img, (cx, cy), r, rng.integers(60, 200, 3).tolist(), -1, cv2.LINE_AA)
        cv2.putText(
            img,
            name[:2].upper(),
            (cx - r // 2, cy + r // 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            r / 40,
            (250, 250, 250),
            1,
            cv2.LINE_AA,
        )
        _label(img, x0, y1 - 4, name, h)
    else:  # Zoom: the name in large letters
        scale = max(0.4, h / 200)
        (tw, th), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        cv2.putText(
            img,
            name,
            (cx - tw // 2, cy + th // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (235, 235, 235),
            2,
            cv2.LINE_AA,
        )


def _chrome(img: np.ndarray, style: str, rng: np.random.Generator, top: int, bottom: int) -> None:
    """The meeting window's own title bar and toolbar: flat strips with icons and words."""
    h, w = img.shape[:2]
    th = _THEME[style]
    img[:top] = th["top"]
    img[h - bottom :] = th["bar"]
    cv2.putText(
        img,
        "Meeting" if style == "zoom" else "Class meeting  00:42:17",
        (16, top - 14),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.6,
        (200, 200, 200),
        1,
        cv2.LINE_AA,
    )
    cv2.putText(
        img, "View", (w - 90, top - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1, cv2.LINE_AA
    )
    n = 8
    for i in range(n):
        x = w // 2 + (i - n // 2) * 90
        cv2.circle(img, (x, h - bottom // 2 - 8), 11, (220, 220, 220), 2, cv2.LINE_AA)
        cv2.putText(
            img,
            "Mute Video Share Chat React Apps More Rec".split()[i],
            (x - 20, h - 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (200, 200, 200),
            1,
            cv2.LINE_AA,
        )
    cv2.rectangle(img, (w - 110, h - bottom + 18), (w - 20, h - 18), (40, 40, 200), -1)
    cv2.putText(
        img, "Leave", (w - 92, h - bottom // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1
    )


def _grid_boxes(n: int, rows: int, cols: int, area: tuple[int, int, int, int], gutter: int) -> list[tuple]:
    """Zoom/Teams placement: 16:9 tiles as large as fit, centred; a short last row is centred too."""
    ax0, ay0, ax1, ay1 = area
    aw, ah = ax1 - ax0, ay1 - ay0
    tw = min((aw - (cols + 1) * gutter) / cols, ((ah - (rows + 1) * gutter) / rows) * 16 / 9)
    th = tw * 9 / 16
    gh = rows * th + (rows - 1) * gutter
    boxes = []
    for i in range(n):
        r, c = divmod(i, cols)
        in_row = min(cols, n - r * cols)
        rw = in_row * tw + (in_row - 1) * gutter
        x = ax0 + (aw - rw) / 2 + c * (tw + gutter)
        y = ay0 + (ah - gh) / 2 + r * (th + gutter)
        boxes.append((int(round(x)), int(round(y)), int(round(x + tw)), int(round(y + th))))
    return boxes


def make_gallery(
    faces: np.ndarray,
    rows: int,
    cols: int,
    *,
    style: str = "zoom",
    size: tuple[int, int] = (1920, 1080),
    camera_off: int = 0,
    share: bool = False,
    seed: int = 0,
    person_seed: int | None = None,
) -> Gallery:
    """Build a gallery of ``len(faces) + camera_off`` tiles (at most ``rows * cols``).

    ``person_seed`` draws where each person sits in their tile (place, size, shirt, light) apart from the
    rest (rooms, names, chrome: ``seed``): two galleries with one ``seed`` and two person seeds are the
    same meeting a moment apart, everyone moved in their own room.

    ``share=True`` draws a shared slide over most of the window and the tiles as a filmstrip (Zoom: a
    column on the right; Teams: a row at the bottom); ``rows``/``cols`` then give the filmstrip's shape.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    rng = np.random.default_rng(seed)
    w, h = size
    th = _THEME[style]
    n = len(faces) + camera_off
    if n > rows * cols or n == 0:
        raise ValueError(f"{n} tiles do not fit a {rows}x{cols} grid")
    img = np.empty((h, w, 3), np.uint8)
    img[:] = th["bg"]
    top, bottom = (40, 70) if style == "zoom" else (52, 64)
    _chrome(img, style, rng, top, bottom)
    area = (0, top, w, h - bottom)
    if share:
        if style == "zoom":
            strip_w = int(w * 0.16)
            area = (w - strip_w, top, w, h - bottom)
            slide = (12, top + 12, w - strip_w - 12, h - bottom - 12)
        else:
            strip_h = int(h * 0.17)
            area = (0, h - bottom - strip_h, w, h - bottom)
            slide = (12, top + 12, w - 12, h - bottom - strip_h - 12)
        sx0, sy0, sx1, sy1 = slide
        img[sy0:sy1, sx0:sx1] = (250, 250, 250)
        cv2.putText(
            img,
            "Week 7: Gradient descent",
            (sx0 + 60, sy0 + 90),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.6,
            (40, 40, 40),
            3,
            cv2.LINE_AA,
        )
        for i in range(5):
            cv2.putText(
                img,
                f"- point {i + 1}: step size, momentum and noise",
                (sx0 + 90, sy0 + 170 + 60 * i),
                cv2.FONT_HERSHEY_SIMPLEX,
                1.0,
                (60, 60, 60),
                2,
                cv2.LINE_AA,
            )
        cv2.rectangle(img, (sx1 - 500, sy0 + 150), (sx1 - 80, sy0 + 450), (200, 120, 40), -1)
    boxes = _grid_boxes(n, rows, cols, area, th["gutter"])
    off = np.zeros(n, bool)
    off[rng.choice(n, camera_off, replace=False)] = True
    face_xyxy = np.full((n, 4), np.nan, np.float32)
    face_index = np.full(n, -1, np.int64)
    names = rng.permutation(len(_NAMES))
    k = 0
    speaker = int(rng.integers(n))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        name = _NAMES[names[i % len(_NAMES)]] + ("" if i < len(_NAMES) else f" {i}")
        if off[i]:
            _camera_off(img, (x0, y0, x1, y1), name, style, rng)
        else:
            tile = _background(rng, y1 - y0, x1 - x0)
            people = rng if person_seed is None else np.random.default_rng([person_seed, i])
            fx, fy, fs = _person(people, tile, faces[k])
            img[y0:y1, x0:x1] = np.clip(tile, 0, 255).astype(np.uint8)
            face_xyxy[i] = (x0 + fx, y0 + fy, x0 + fx + fs, y0 + fy + fs)
            face_index[i] = k
            k += 1
            _label(img, x0, y1 - 4, name, y1 - y0)
        if th["radius"]:  # Teams: rounded corners show the stage background
            r = th["radius"]
            corner = np.zeros((r, r), np.uint8)
            cv2.circle(corner, (r, r), r, 1, -1)
            for flip_y, flip_x in ((False, False), (False, True), (True, False), (True, True)):
                m = corner[::-1] if flip_y else corner
                m = m[:, ::-1] if flip_x else m
                ys = slice(y1 - r, y1) if flip_y else slice(y0, y0 + r)
                xs = slice(x1 - r, x1) if flip_x else slice(x0, x0 + r)
                img[ys, xs][m == 0] = th["bg"]
        if i == speaker and not off[i]:  # the active speaker's highlight
            colour = (40, 200, 60) if style == "zoom" else (230, 150, 100)
            cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), colour, 3)
    return Gallery(
        img, np.array(boxes, np.int32).reshape(-1, 4), face_xyxy, face_index, off, style, (rows, cols)
    )


def grid_for(n: int) -> tuple[int, int]:
    """The rows x cols both apps use for ``n`` participants (near-square, wider than tall)."""
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    return rows, cols
