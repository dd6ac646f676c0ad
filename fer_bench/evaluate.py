"""Accuracy of the engine on synthetic galleries built from real FER2013 faces: ``fer-overlay evaluate``.

Tile recall, face recall and per-tile emotion accuracy against the model's accuracy on the same faces
as plain 48x48 crops, over a few hundred faces of one split (PrivateTest by default). ``--calibrate``
(on PublicTest, never on the reported split) prints the crop convention that maps a detector's box onto
the true FER2013 crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_bench.data import load_split
from fer_bench.synthetic import grid_for, make_gallery

TARGET_FACE_RECALL = 0.98
TARGET_ACC_GAP = 3.0


@dataclass(frozen=True)
class Evaluation:
    tiles: int
    tiles_found: int
    camera_off_right: int
    faces: int
    faces_found: int
    acc_tile_detected: float
    acc_plain_detected: float
    acc_tile_all: float
    acc_plain_all: float

    def lines(self) -> list[str]:
        gap = 100 * (self.acc_plain_detected - self.acc_tile_detected)
        return [
            f"tile recall {self.tiles_found}/{self.tiles} = {self.tiles_found / self.tiles:.1%} "
            f"(camera-off flag right on {self.camera_off_right}/{self.tiles})",
            f"face recall {self.faces_found}/{self.faces} = {self.faces_found / self.faces:.1%} "
            f"(target {TARGET_FACE_RECALL:.0%})",
            f"accuracy on detected faces: per tile {self.acc_tile_detected:.1%} vs plain 48x48 "
            f"{self.acc_plain_detected:.1%} (gap {gap:+.1f} points, target within {TARGET_ACC_GAP:.0f})",
            f"accuracy on all faces (a missed face counts wrong): per tile {self.acc_tile_all:.1%} vs plain "
            f"{self.acc_plain_all:.1%}",
        ]


def galleries(faces: np.ndarray, n_faces: int, seed: int = 0):
    """Yield (gallery, face indices) covering ``n_faces`` faces: grids of 4-49 tiles in both styles,
    a quarter of them with camera-off tiles, every fifth a screen share with a filmstrip."""
    sizes = (4, 9, 16, 25, 36, 49, 6, 12, 30)
    used, k = 0, 0
    while used < n_faces:
        n = sizes[k % len(sizes)]
        style = ("zoom", "teams")[k % 2]
        share = k % 5 == 4
        if share:
            n = 6
        off = n // 6 if k % 4 == 1 else 0
        take = min(n - off, n_faces - used)
        rows, cols = ((n, 1) if style == "zoom" else (1, n)) if share else grid_for(take + off)
        g = make_gallery(
            faces[used : used + take], rows, cols, style=style, camera_off=off, share=share, seed=seed + k
        )
        yield g, np.arange(used, used + take)
        used += take
        k += 1


def evaluate(
    split: str = "PrivateTest",
    n_faces: int = 300,
    model: str | None = None,
    detector: str | None = None,
    threads: int = 2,
    seed: int = 0,
    calibrate: bool = False,
    crop_scale: float | None = None,
) -> Evaluation:
    from fer_overlay.classify import Classifier
    from fer_overlay.faces import FaceDetector
    from fer_overlay.layout import detect_tiles
    from fer_overlay.track import iou

    all_faces, all_labels = load_split(split)
    pick = np.random.default_rng(seed).permutation(len(all_faces))[:n_faces]
    faces, labels = all_faces[pick], all_labels[pick]
    clf = Classifier(model, threads=threads)
    det = FaceDetector(detector, crop_scale=crop_scale)
    plain = clf.predict(faces).argmax(axis=1)
    tile_pred = np.full(len(faces), -1)
    tiles_total = tiles_found = off_right = 0
    ratios = []
    for g, idx in galleries(faces, len(faces), seed):
        tiles = detect_tiles(g.image)
        result = det(g.image, tiles)
        probs = clf.predict(result.crops)
        part = ~tiles.main
        overlap = iou(g.tiles, tiles.xyxy) if len(tiles) else np.zeros((len(g.tiles), 0))
        for t in range(len(g.tiles)):
            tiles_total += 1
            if overlap.shape[1] == 0 or overlap[t].max() < 0.9 or not part[overlap[t].argmax()]:
                continue
            tiles_found += 1
            j = int(overlap[t].argmax())
            off_right += bool(tiles.camera_off[j] == g.camera_off[t])
            if g.face_index[t] < 0:
                continue
            hit = np.where(result.tile_id == j)[0]
            if len(hit) == 0:
                continue
            box, truth = result.xyxy[hit[0]], g.face_xyxy[t]
            side = truth[2] - truth[0]
            centre = (box[:2] + box[2:]) / 2
            if np.all(np.abs(centre - (truth[:2] + truth[2:]) / 2) < side / 2):
                tile_pred[idx[g.face_index[t]]] = int(probs[hit[0]].argmax())
                w = box[2] - box[0]
                ratios.append((side / w, ((truth[1] + truth[3]) / 2 - centre[1]) / w))
    found = tile_pred >= 0
    if calibrate:
        r = np.array(ratios)
        print(
            f"calibration ({det.name}, {split}, {len(r)} faces): scale {np.median(r[:, 0]):.3f}, "
            f"shift {np.median(r[:, 1]):+.3f} (in use: {det.crop_scale}, {det.crop_shift:+})"
        )
    return Evaluation(
        tiles=tiles_total,
        tiles_found=tiles_found,
        camera_off_right=off_right,
        faces=len(faces),
        faces_found=int(found.sum()),
        acc_tile_detected=float((tile_pred[found] == labels[found]).mean()) if found.any() else 0.0,
        acc_plain_detected=float((plain[found] == labels[found]).mean()) if found.any() else 0.0,
        acc_tile_all=float((tile_pred == labels).mean()),
        acc_plain_all=float((plain == labels).mean()),
    )
