"""``fer-overlay evaluate --screens DIR``: the engine against hand-made truth on real meeting screenshots.

``DIR/truth.json`` holds one entry per image (``<folder>/<file>`` relative to DIR) in the format of
``../shared/screens/README.md``: per participant tile its box ``[x, y, w, h]``, ``has_face``
(true / false / null = ambiguous), ``n_faces``, ``camera_off`` and ``name``. Each image goes through a
started :class:`~fer_overlay.session.Pipeline` (its models loaded and run once before, as a session's
start does; the CLI prints that time apart), reset, as a first (cold) frame and then once more as a still
(warm) frame, and is scored as a user would judge the result:

- tiles: the result's participants matched one-to-one to the true tiles, IoU >= 0.5 (a share or a
  speaker area without a face is no participant, so it is not counted as a tile found);
- faces: in tiles with a live face, each true face found by a detected face whose centre lies in the
  tile (a tile of two people needs two); a face elsewhere (shared content, a dialog, a camera-off or
  empty tile, or more faces than the tile holds) is a false face; ambiguous tiles count neither way;
- camera off: true camera-off tiles matched to a participant in the camera-off state;
- phantoms: participants without a face that match no true tile (a region taken for a tile);
- names: tiles whose truth has a name, matched to a participant whose name reads exactly the same
  (:func:`participant_names` is the hook for the name OCR; without it no name is read).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fer_overlay.frames import CAMERA_OFF, FACE, Frame, Result
from fer_overlay.track import iou

if TYPE_CHECKING:
    from fer_overlay.session import Pipeline

MATCH_IOU = 0.5


@dataclass(frozen=True)
class ScreenScore:
    """One image's counts (or, summed, the whole set's)."""

    image: str
    tiles: int
    tiles_found: int
    faces: int
    faces_found: int
    false_faces: int
    camera_off: int
    camera_off_found: int
    names: int
    names_read: int
    phantoms: int
    cold_ms: float
    warm_ms: float
    faces_first: bool = False

    def line(self) -> str:
        flag = "  (no gallery evidence: faces first)" if self.faces_first else ""
        return (
            f"{self.image:<56} tiles {self.tiles_found:>3}/{self.tiles:<3} faces {self.faces_found:>3}/"
            f"{self.faces:<3} false {self.false_faces:>2}  phantoms {self.phantoms:>2}  "
            f"camera-off {self.camera_off_found:>2}/"
            f"{self.camera_off:<2} names {self.names_read:>2}/{self.names:<2} "
            f"cold {self.cold_ms:5.0f} ms  warm {self.warm_ms:4.0f} ms{flag}"
        )


def _share(a: int, b: int) -> str:
    return f"{a}/{b} = {a / b:.1%}" if b else f"{a}/0"


def total_lines(scores: list[ScreenScore]) -> list[str]:
    """The set's totals: counts, shares and the median cold/warm time per frame."""

    def s(field: str) -> int:
        return sum(getattr(x, field) for x in scores)

    cold = [x.cold_ms for x in scores]
    warm = [x.warm_ms for x in scores]
    return [
        f"total over {len(scores)} images:",
        f"  tiles found (IoU >= {MATCH_IOU}, one-to-one): {_share(s('tiles_found'), s('tiles'))}",
        f"  faces found in face tiles: {_share(s('faces_found'), s('faces'))}",
        f"  false faces: {s('false_faces')}",
        f"  phantom participants (no face, matching no true tile): {s('phantoms')}",
        f"  camera-off tiles recognised: {_share(s('camera_off_found'), s('camera_off'))}",
        f"  names read exactly: {_share(s('names_read'), s('names'))}",
        f"  ms per frame: cold median {np.median(cold):.0f} (max {max(cold):.0f}), "
        f"warm median {np.median(warm):.0f} (max {max(warm):.0f})",
        f"  images without gallery evidence (faces first): {sum(x.faces_first for x in scores)}",
    ]


def participant_names(result: Result) -> list[str | None]:
    """The name read on each participant's tile, None where none was read. The hook for the name OCR:
    a ``name`` column of :class:`~fer_overlay.frames.Participants` (absent until the OCR exists)."""
    names = getattr(result.participants, "name", None)
    if names is None:
        return [None] * len(result.participants)
    return [None if n is None or n == "" else str(n) for n in names]


def load_truth(folder: Path) -> dict[str, dict]:
    """``truth.json`` of ``folder``, checked enough that a wrong folder fails in one clear line."""
    path = folder / "truth.json"
    if not path.is_file():
        raise FileNotFoundError(f"no truth.json in {folder} (see ../shared/screens/README.md)")
    try:
        truth = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(truth, dict) or not truth:
        raise ValueError(f"{path} holds no images")
    for key, entry in truth.items():
        n = len(entry.get("tiles", []))
        if any(len(entry.get(f, [])) != n for f in ("has_face", "n_faces")):
            raise ValueError(f"{path}: {key}: tiles, has_face and n_faces differ in length")
    return truth


def _matches(truth_xyxy: np.ndarray, found_xyxy: np.ndarray) -> dict[int, int]:
    """True tile -> found box, one-to-one, greedily by IoU (>= ``MATCH_IOU``)."""
    if len(truth_xyxy) == 0 or len(found_xyxy) == 0:
        return {}
    overlap = iou(truth_xyxy, found_xyxy)
    out: dict[int, int] = {}
    used: set[int] = set()
    for flat in np.argsort(-overlap, axis=None):
        i, j = divmod(int(flat), overlap.shape[1])
        if overlap[i, j] < MATCH_IOU:
            break
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def score(name: str, entry: dict, result: Result, cold_ms: float, warm_ms: float) -> ScreenScore:
    """Score one image's result against its truth entry (see the module docstring for the rules)."""
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in entry["tiles"]], np.float64).reshape(-1, 4)
    has_face, n_faces = entry["has_face"], entry["n_faces"]
    camera_off = entry.get("camera_off") or [None] * len(boxes)
    true_names = entry.get("name") or [None] * len(boxes)
    people = result.participants
    match = _matches(boxes, people.xyxy)
    names = participant_names(result)

    # Each detected face belongs to the smallest true tile holding its centre (a self-view over a share).
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    in_tile: dict[int, int] = {}
    false = 0
    for box in result.faces.xyxy:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        inside = np.where(
            (boxes[:, 0] <= cx) & (cx < boxes[:, 2]) & (boxes[:, 1] <= cy) & (cy < boxes[:, 3])
        )[0]
        if len(inside) == 0:
            false += 1
            continue
        t = int(inside[np.argmin(area[inside])])
        in_tile[t] = in_tile.get(t, 0) + 1
    faces = found = 0
    for t, count in in_tile.items():
        if has_face[t] is None:
            continue
        want = int(n_faces[t] or 0) if has_face[t] else 0
        found += min(count, want)
        false += max(0, count - want)
    faces = sum(int(n or 0) for h, n in zip(has_face, n_faces, strict=True) if h)
    off = [t for t, c in enumerate(camera_off) if c is True]
    named = [t for t, n in enumerate(true_names) if n]
    return ScreenScore(
        image=name,
        tiles=len(boxes),
        tiles_found=len(match),
        faces=faces,
        faces_found=found,
        false_faces=false,
        camera_off=len(off),
        camera_off_found=sum(t in match and people.state[match[t]] == CAMERA_OFF for t in off),
        names=len(named),
        names_read=sum(t in match and names[match[t]] == str(true_names[t]).strip() for t in named),
        phantoms=sum(j not in set(match.values()) and people.state[j] != FACE for j in range(len(people))),
        cold_ms=cold_ms,
        warm_ms=warm_ms,
        faces_first=bool(getattr(result.tiles, "faces_first", False)),
    )


def start_pipeline(
    model: str | None = None, detector: str | None = None, threads: int = 2
) -> tuple[Pipeline, float]:
    """A pipeline started as a :class:`~fer_overlay.session.Session` starts one (every model loaded and
    run once) and the milliseconds that took: a session's start, reported apart from its frames."""
    from fer_overlay.session import Pipeline

    t0 = time.perf_counter()
    pipeline = Pipeline(model, detector=detector, threads=threads)
    pipeline.warm_up()
    return pipeline, 1000 * (time.perf_counter() - t0)


def evaluate_screens(
    folder: str | Path, pipeline: Pipeline | None = None, only: str | None = None
) -> list[ScreenScore]:
    """Score every image of ``folder/truth.json`` (``only``: the images whose key contains it) with a
    started ``pipeline`` (default: the shipped models, :func:`start_pipeline`), each image a fresh
    session's first (cold) frame, then a still (warm) one."""
    folder = Path(folder)
    truth = load_truth(folder)
    pipeline = pipeline or start_pipeline()[0]
    scores = []
    for name, entry in truth.items():
        if only and only not in name:
            continue
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {folder / name} (missing, not an image, or corrupt)")
        pipeline.reset()
        cold = pipeline(Frame(image, 0.0, 0, name))
        warm = pipeline(Frame(image, 0.5, 1, name))
        scores.append(score(name, entry, cold, cold.timings_ms["total"], warm.timings_ms["total"]))
    return scores
