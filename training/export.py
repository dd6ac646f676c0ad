"""Export a checkpoint to ONNX in ``exported/``, prove parity with torch, measure it, write a card.

    python -m training.export runs/vgg32/best.pt --name fer_vgg32

Writes ``exported/NAME.onnx`` (dynamic batch, opset 18, softmax inside: the runtime contract of
``fer_overlay.classify``), ``exported/NAME.json`` (metrics on PrivateTest from the ONNX file under
ONNX Runtime, input contract, cost, sha256, commit, training command) and regenerates
``exported/MODEL_CARD.md`` from every JSON there plus the baselines in ``training/results/``.
``exported/`` is the package data ``fer_overlay/models/`` of a built wheel (see pyproject.toml).

``--flip`` averages the face and its mirror image inside the graph (test-time augmentation is only
allowed where its cost counts in ms/face); ``--int8`` ships a statically quantised copy (QDQ,
per-channel weights, calibrated on Training faces) and records its agreement with the fp32 graph.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from fer_overlay.classify import EXPORTED_DIR, FACE_SIZE, INPUT_NAME, OUTPUT_NAME, sha256_of
from fer_overlay.facenorm import normalise_faces
from fer_overlay.labels import EMOTIONS
from fer_overlay.modelstats import measure
from training.data import default_csv_path, load_fer2013
from training.evaluate import TTA_MODES, evaluate, load_predictor
from training.model_card import RESULTS_DIR, write_model_card
from training.models import INPUT_MEAN, INPUT_STD, count_params
from training.train import load_checkpoint, predict_logits

BASELINE_ONNX_DIR = Path("runs/baselines")
OPSET = 18  # the torch.export-based exporter's minimum; the issue asks for >= 17
PARITY_TOLERANCE = 1e-4


class WithSoftmax(torch.nn.Module):
    """The runtime contract: probabilities out; with ``flip``, the mean over the face and its mirror."""

    def __init__(self, model: torch.nn.Module, flip: bool = False) -> None:
        super().__init__()
        self.model = model
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip:
            return torch.softmax(self.model(x), dim=1)
        both = self.model(torch.cat([x, torch.flip(x, dims=[3])]))
        return torch.softmax(both, dim=1).reshape(2, -1, both.shape[1]).mean(0)


def export_onnx(model: torch.nn.Module, path: Path, flip: bool = False) -> None:
    dummy = torch.rand(2, 1, FACE_SIZE, FACE_SIZE)
    torch.onnx.export(
        WithSoftmax(model, flip).eval(),
        (dummy,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
        opset_version=OPSET,
        dynamo=True,
        verbose=False,
        external_data=False,  # one self-contained file: the app ships and checks a single .onnx
    )


def parity(
    model: torch.nn.Module, onnx_path: Path, faces: np.ndarray, face_norm: str = "none", flip: bool = False
) -> float:
    """Largest absolute probability difference between torch and ONNX Runtime on the same faces (the
    ONNX side is read raw: its classifier applies the contract's normalisation itself)."""
    x = torch.from_numpy(np.ascontiguousarray(normalise_faces(faces, face_norm)))
    ref = torch.softmax(predict_logits(model, x), dim=1)
    if flip:
        ref = (ref + torch.softmax(predict_logits(model, torch.flip(x, dims=[2])), dim=1)) / 2
    got = load_predictor(onnx_path)(faces)
    return float(np.abs(ref.numpy() - got).max())


def write_contract(onnx_path: Path, face_norm: str) -> None:
    """A provisional JSON beside a fresh ONNX file (its sha256 and input contract), so that every
    measurement below runs it exactly as the app will: the classifier reads the face normalisation from
    there. The card written at the end replaces it."""
    card = {
        "file": onnx_path.name,
        "sha256": sha256_of(onnx_path),
        "input_contract": input_contract(face_norm),
    }
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


def quantize_int8(fp32_path: Path, out_path: Path, faces: np.ndarray, face_norm: str) -> None:
    """Static int8 (QDQ, per-channel weights), calibrated on ``faces`` prepared as the runtime does."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            x = normalise_faces(faces, face_norm).astype(np.float32)[:, None] / 255.0
            self.batches = iter([{INPUT_NAME: x[i : i + 64]} for i in range(0, len(x), 64)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prep.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            # only the heavy layers: a quantised softmax/mean would give probabilities summing to ~0.99
            op_types_to_quantize=["Conv", "Gemm", "MatMul"],
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
        )


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def input_contract(face_norm: str = "none") -> dict:
    return {
        "input_name": INPUT_NAME,
        "input_shape": ["N", 1, FACE_SIZE, FACE_SIZE],
        "input_dtype": "float32",
        "value_scaling": "gray pixel / 255, in [0, 1]",
        "normalisation_inside_model": {"mean": INPUT_MEAN, "std": INPUT_STD},
        "face_normalisation": face_norm,
        "output_name": OUTPUT_NAME,
        "output": "float32 (N, 7) softmax probabilities",
        "labels": list(EMOTIONS),
        "face_crop": "FER2013 convention: the detected face box, widened to a square, gray, "
        "resized to 48x48 (INTER_AREA), no alignment",
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True, help="file stem in exported/, e.g. fer_vgg32")
    p.add_argument("--role", default="default", help="what the app uses it for, written in the card")
    p.add_argument("--data", default=str(default_csv_path()))
    p.add_argument(
        "--baseline",
        action="store_true",
        help="a comparison row only: ONNX to runs/baselines/, JSON to training/results/ (nothing shipped)",
    )
    p.add_argument("--flip", action="store_true", help="average the face and its mirror inside the graph")
    p.add_argument("--int8", action="store_true", help="ship a static int8 copy (QDQ, per-channel)")
    p.add_argument("--calibration", type=int, default=1024, help="Training faces that calibrate --int8")
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)

    model, state = load_checkpoint(args.checkpoint)
    onnx_dir = BASELINE_ONNX_DIR if args.baseline else EXPORTED_DIR
    json_dir = RESULTS_DIR if args.baseline else EXPORTED_DIR
    onnx_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = onnx_dir / f"{args.name}.onnx"
    # The old card's sha256 would make fer_overlay.classify reject the new file (parity, measure below).
    (onnx_dir / f"{args.name}.json").unlink(missing_ok=True)
    face_norm = state["args"].get("face_norm", "none")
    data = load_fer2013(args.data)
    test = data["PrivateTest"]
    fp32_path = onnx_path.with_suffix(".fp32.onnx") if args.int8 else onnx_path
    export_onnx(model, fp32_path, args.flip)
    write_contract(fp32_path, face_norm)
    max_diff = parity(model, fp32_path, test.faces[:512], face_norm, args.flip)
    print(f"parity torch vs ONNX Runtime on 512 PrivateTest faces: max |Δprob| = {max_diff:.2e}")
    if max_diff > PARITY_TOLERANCE:
        raise SystemExit(f"parity check failed: {max_diff:.2e} > {PARITY_TOLERANCE}")
    int8 = None
    if args.int8:
        calib = data["Training"].faces[np.random.default_rng(0).permutation(len(data["Training"]))]
        quantize_int8(fp32_path, onnx_path, calib[: args.calibration], face_norm)
        write_contract(onnx_path, face_norm)
        public = data["PublicTest"].faces
        agree = load_predictor(onnx_path)(public).argmax(1) == load_predictor(fp32_path)(public).argmax(1)
        int8 = {"calibration_faces": args.calibration, "publictest_agreement_with_fp32": float(agree.mean())}
        print(f"int8: {100 * agree.mean():.2f}% of PublicTest faces get the fp32 graph's label")
        fp32_path.unlink()
        fp32_path.with_suffix(".json").unlink()

    predictor = load_predictor(onnx_path)
    metrics = {}
    for mode in TTA_MODES:
        rep = evaluate(predictor, test.faces, test.labels, mode)
        print(f"== PrivateTest, ONNX Runtime, TTA {mode}\n{rep.table()}\n")
        metrics[mode] = rep.to_dict()
    public = evaluate(predictor, data["PublicTest"].faces, data["PublicTest"].labels)
    stats = measure(onnx_path)
    print(stats.line())
    run_dir = Path(args.checkpoint).parent
    card = {
        "name": args.name,
        "role": args.role,
        "file": onnx_path.name,
        "sha256": sha256_of(onnx_path),  # what Classifier checks at load time
        "architecture": {"model": state["args"]["model"], "model_args": state["args"]["model_arg"]},
        "params": count_params(model),
        "cost": stats.to_dict(),
        "opset": OPSET,
        "graph": {"flip_average": args.flip, "int8": int8},
        "input_contract": input_contract(face_norm),
        "data": "FER2013 (Kaggle CSV): trained on Training (28,709), selected on PublicTest (3,589), "
        "reported on PrivateTest (3,589)",
        "selection": {
            "split": state.get("val_split", "PublicTest"),
            "epoch": state["epoch"],
            "top1": state["val_acc"],
            "onnx_top1": public.top1,
        },
        "privatetest": metrics,
        "parity_max_abs_prob_diff": max_diff,
        "training_command": training_commands(run_dir),
        "training_log": _log_summary(run_dir),
        "export_command": "python -m training.export " + " ".join(argv),
        "commit": git_commit(),
    }
    (json_dir / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    write_model_card()
    print(
        f"wrote {onnx_path} ({onnx_path.stat().st_size / 2**20:.2f} MiB), {json_dir / args.name}.json, "
        "exported/MODEL_CARD.md"
    )


def run_stages(run_dir: Path) -> list[Path]:
    """The run folders a checkpoint's weights went through, first stage first (``--init`` links them)."""
    argv_file = run_dir / "args.json"
    argv = json.loads(argv_file.read_text())["argv"] if argv_file.exists() else []
    earlier = run_stages(Path(argv[argv.index("--init") + 1]).parent) if "--init" in argv else []
    return [*earlier, run_dir]


def training_commands(run_dir: Path) -> str | None:
    """The commands that trained ``run_dir`` and the runs it started from, joined by ``&&``."""
    files = [d / "args.json" for d in run_stages(run_dir) if (d / "args.json").exists()]
    return " && ".join(json.loads(f.read_text())["command"] for f in files) or None


def _log_summary(run_dir: Path) -> dict | None:
    """Epochs and minutes over every stage of the run."""
    rows = [
        json.loads(line)
        for d in run_stages(run_dir)
        if (d / "log.jsonl").exists()
        for line in (d / "log.jsonl").read_text().splitlines()
        if line.strip()
    ]
    if not rows:
        return None
    return {"epochs": len(rows), "minutes": round(sum(r["seconds"] for r in rows) / 60, 1)}


if __name__ == "__main__":
    main()
