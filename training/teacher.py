"""Save what teachers say about every Training and PublicTest face, for a student to learn from.

    python -m training.teacher runs/w64/best.pt runs/r18/best.pt --out training/teachers/ensemble1.npz

Each teacher's probabilities are averaged over the ten-crop views (5 crops x mirror, as in
``training.evaluate``), then over the teachers. The file is small (float16, ~0.5 MB for 32k faces) and
committed, so a student can be distilled in a later session, on another machine, without the
teachers' weights or the hours they took. ``labels_sha256`` ties it to the exact data it was made
from; ``training.train --teacher`` refuses a file made from other faces.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from training.data import default_csv_path, load_fer2013
from training.evaluate import load_predictor, predict

SPLITS = ("Training", "PublicTest")


def labels_sha256(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def teacher_probs(models: list[str], faces: np.ndarray, tta: str = "tencrop", threads: int = 2) -> np.ndarray:
    """Mean over ``models`` of each model's TTA-averaged probabilities: ``float32 (N, 7)``."""
    total = sum(predict(load_predictor(m, threads), faces, tta) for m in models)
    return (total / len(models)).astype(np.float32)


def load_teacher(path: str | Path, split: str, labels: np.ndarray) -> np.ndarray:
    """The saved probabilities of ``split``, checked against the labels they must line up with."""
    saved = np.load(path)
    if str(saved[f"{split}_labels_sha256"]) != labels_sha256(labels):
        raise SystemExit(f"{path}: made from other {split} faces than these (labels differ)")
    return saved[split].astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.teacher", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="checkpoints (.pt) or exported models (.onnx)")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=str(default_csv_path()))
    p.add_argument("--tta", default="tencrop", choices=["none", "flip", "tencrop"])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    data = load_fer2013(args.data)
    arrays: dict[str, np.ndarray] = {"models": np.asarray(args.models), "tta": np.asarray(args.tta)}
    for split in SPLITS:
        probs = teacher_probs(args.models, data[split].faces, args.tta, args.threads)
        acc = float((probs.argmax(1) == data[split].labels).mean())
        print(f"{split}: teachers' top-1 {100 * acc:.2f}% ({len(probs)} faces, TTA {args.tta})")
        arrays[split] = probs.astype(np.float16)
        arrays[f"{split}_labels_sha256"] = np.asarray(labels_sha256(data[split].labels))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
