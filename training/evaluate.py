"""Print the evaluation table of any checkpoint (.pt) or exported model (.onnx) on a FER2013 split.

    python -m training.evaluate exported/fer_vgg32.onnx                       # PrivateTest, no TTA
    python -m training.evaluate runs/vgg32/best.pt --tta all --confusion cm.png --json metrics.json

PrivateTest is the reported split; choose models on PublicTest (``--split PublicTest``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from training.data import default_csv_path, load_fer2013
from training.metrics import Report, report, save_confusion_png

Predictor = Callable[[np.ndarray], np.ndarray]
TTA_MODES = ("none", "flip", "tencrop")
_CROP = 44


def tta_views(faces: np.ndarray, mode: str) -> list[np.ndarray]:
    """Views whose averaged probabilities are the prediction: 1, 2 (mirror) or 10 (5 crops x mirror)."""
    if mode == "none":
        return [faces]
    if mode == "flip":
        return [faces, faces[:, :, ::-1]]
    if mode != "tencrop":
        raise ValueError(f"unknown TTA mode {mode!r}")
    size, off = faces.shape[-1], faces.shape[-1] - _CROP
    views = []
    for top, left in ((0, 0), (0, off), (off, 0), (off, off), (off // 2, off // 2)):
        crop = faces[:, top : top + _CROP, left : left + _CROP]
        resized = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in crop])
        views += [resized, resized[:, :, ::-1]]
    return views


def load_predictor(path: str | Path, threads: int = 2) -> Predictor:
    """A function uint8 (N, 48, 48) -> probabilities (N, 7), from a checkpoint or an ONNX file."""
    path = Path(path)
    if path.suffix == ".onnx":
        from fer_overlay.classify import Classifier

        clf = Classifier(path, threads=threads)
        return lambda faces: np.concatenate(
            [clf.predict(np.ascontiguousarray(faces[i : i + 256])) for i in range(0, len(faces), 256)]
        )
    import torch

    from fer_overlay.facenorm import normalise_faces
    from training.train import load_checkpoint, predict_logits

    torch.set_num_threads(threads)
    model, state = load_checkpoint(path)
    norm = state["args"].get("face_norm", "none")  # what the exported model's contract will say
    return lambda faces: torch.softmax(
        predict_logits(model, torch.from_numpy(np.ascontiguousarray(normalise_faces(faces, norm)))), dim=1
    ).numpy()


def predict(predictor: Predictor, faces: np.ndarray, tta: str = "none") -> np.ndarray:
    views = tta_views(faces, tta)
    return sum(predictor(np.ascontiguousarray(v)) for v in views) / len(views)


def evaluate(predictor: Predictor, faces: np.ndarray, labels: np.ndarray, tta: str = "none") -> Report:
    return report(labels, predict(predictor, faces, tta).argmax(1))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="fer-overlay-eval", description=__doc__.split("\n")[0])
    p.add_argument("model", help="checkpoint .pt or exported .onnx")
    p.add_argument("--data", default=str(default_csv_path()))
    p.add_argument("--split", default="PrivateTest", choices=["Training", "PublicTest", "PrivateTest"])
    p.add_argument("--tta", default="none", choices=[*TTA_MODES, "all"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--confusion", help="write the confusion matrix (first TTA mode) as PNG")
    p.add_argument("--json", help="write {tta_mode: report} as JSON")
    args = p.parse_args(argv)

    split = load_fer2013(args.data)[args.split]
    predictor = load_predictor(args.model, args.threads)
    results: dict[str, dict] = {}
    for mode in TTA_MODES if args.tta == "all" else (args.tta,):
        rep = evaluate(predictor, split.faces, split.labels, mode)
        print(f"== {Path(args.model).name} on {args.split}, TTA {mode}\n{rep.table()}\n")
        results[mode] = rep.to_dict()
        if args.confusion and len(results) == 1:
            save_confusion_png(rep, args.confusion, f"{Path(args.model).name} · {args.split} · TTA {mode}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
