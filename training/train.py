"""Train a registered model on FER2013 Training, selecting checkpoints on PublicTest only.

The same command runs on a laptop CPU and on a CUDA GPU; the whole data set lives on the training
device as uint8 and is augmented there in batches.

    python -m training.train --model vgg_bn --model-arg width=32 --epochs 60 --out runs/vgg32
    python -m training.train --out runs/vgg32 --resume          # continue after an interruption

``runs/NAME/`` receives ``last.pt`` (every epoch, for ``--resume``), ``best.pt`` (best PublicTest
top-1), ``log.jsonl`` (one line per epoch) and ``args.json`` (the exact command). A run that must
outlive the session also writes ``--checkpoint training/checkpoints/NAME.pt`` (fp16 restart point,
committed) and its curve to ``training/results/curves/NAME.jsonl``; on another machine

    python -m training.train --out runs/NAME --checkpoint training/checkpoints/NAME.pt --resume

continues the same fixed schedule from the committed file.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fer_overlay.facenorm import FACE_NORMS, normalise_faces
from training.augment import AugmentConfig, augment, mixup
from training.checkpoint import apply_restart_point, read_restart_point, save_restart_point
from training.data import Split, class_counts, default_csv_path, load_fer2013
from training.models import NUM_CLASSES, count_params, create_model


def parse_model_args(pairs: list[str]) -> dict[str, float | int | str]:
    """``["width=32", "dropout=0.3"]`` -> ``{"width": 32, "dropout": 0.3}``."""
    out: dict[str, float | int | str] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-overlay-train", description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", default=str(default_csv_path()), help="fer2013.csv[.gz], image folder or .npz pack"
    )
    p.add_argument("--model", default="vgg_bn")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument(
        "--minutes",
        type=float,
        default=0.0,
        help="instead of --epochs: as many epochs as fit in this many minutes (timed before training)",
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha; 0 turns it off")
    p.add_argument(
        "--class-weight-power",
        type=float,
        default=0.5,
        help="loss weight per class = (median count / count) ** power; 0.5 lifts disgust ~4x",
    )
    p.add_argument(
        "--face-norm",
        default="none",
        choices=FACE_NORMS,
        help="per-face normalisation before training; the exported model's contract says which",
    )
    p.add_argument(
        "--teacher",
        help="saved teacher probabilities (training.teacher): the target becomes a mix of label and teacher",
    )
    p.add_argument("--distill", type=float, default=0.7, help="teacher share of the target with --teacher")
    p.add_argument(
        "--refit",
        action="store_true",
        help="train on Training + PublicTest with the fixed schedule and keep the last epoch "
        "(nothing left to select on; the reported PublicTest figure is then not a held-out one)",
    )
    p.add_argument("--limit", type=int, default=0, help="use only the first N training faces (smoke runs)")
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--out", required=True, help="run folder, e.g. runs/vgg32")
    p.add_argument(
        "--checkpoint",
        help="also write an fp16 restart point here every epoch (training/checkpoints/NAME.pt, committed) "
        "and the curve to training/results/curves/NAME.jsonl",
    )
    p.add_argument(
        "--stage-minutes",
        type=float,
        default=0.0,
        help="stop cleanly after the epoch that passes this many minutes (the schedule stays as planned; "
        "--resume continues it): one stage of a run longer than a session",
    )
    p.add_argument("--stage-epochs", type=int, default=0, help="stop after this many epochs in this process")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/last.pt, or from --checkpoint when that is newer (another machine)",
    )
    p.add_argument(
        "--replan",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="with --resume: shorten or lengthen the fixed schedule to this many epochs in all, from the "
        "epoch reached (written into the run's saved command, so later stages follow the new plan)",
    )
    p.add_argument(
        "--init",
        help="start from this checkpoint's weights (same model and arguments) with a fresh schedule: "
        "more epochs for a run that stopped short",
    )
    return p


def cpu_has_bf16() -> bool:
    """bf16 autocast pays only with native bf16 (AVX512_BF16/AMX); on AVX2 it is ~15x slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(choice: str, device: torch.device) -> torch.dtype | None:
    if choice == "fp32":
        return None
    if choice == "bf16" or device.type == "cuda" or cpu_has_bf16():
        return torch.bfloat16
    return None


def class_weights(labels: np.ndarray, power: float) -> torch.Tensor:
    counts = class_counts(labels).astype(np.float64)
    return torch.tensor((np.median(counts) / np.maximum(counts, 1)) ** power, dtype=torch.float32)


def to_input(faces_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 48, 48) -> float (B, 1, 48, 48) in [0, 1], the models' input contract."""
    return faces_u8.unsqueeze(1).float().div_(255.0)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, faces: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    outs = [
        model(to_input(faces[i : i + batch]).contiguous(memory_format=torch.channels_last)).float()
        for i in range(0, len(faces), batch)
    ]
    return torch.cat(outs)


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model a checkpoint was trained as (name and arguments are saved in it), in eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    args = state["args"]
    model = create_model(args["model"], **parse_model_args(args["model_arg"]))
    model.load_state_dict(state["model"])
    return model.eval(), state


def split_validation(data: dict[str, Split], seed: int, refit: bool = False) -> tuple[Split, Split, str]:
    """PublicTest when present; otherwise a seeded 10% of Training (never PrivateTest). A refit trains
    on Training + PublicTest and still prints PublicTest, as a seen split."""
    if refit:
        both = Split(
            np.concatenate([data["Training"].faces, data["PublicTest"].faces]),
            np.concatenate([data["Training"].labels, data["PublicTest"].labels]),
        )
        return both, data["PublicTest"], "PublicTest (seen: refit)"
    if "PublicTest" in data:
        return data["Training"], data["PublicTest"], "PublicTest"
    order = np.random.default_rng(seed).permutation(len(data["Training"]))
    cut = len(order) // 10
    return data["Training"].take(order[cut:]), data["Training"].take(order[:cut]), "10% of Training"


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    faces: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    args: argparse.Namespace,
    amp_dtype: torch.dtype | None,
    teacher: torch.Tensor | None = None,
) -> tuple[float, int]:
    """One optimiser step on a batch of uint8 faces (augmented here, on their device): loss, correct.

    With ``teacher`` (the batch's saved teacher probabilities) the target is ``distill`` x teacher +
    the rest x label: the teachers' view averaged over ten crops carries what one label cannot (a
    face that is half fear, half surprise); the class weights still follow the true label."""
    x = augment(to_input(faces), AugmentConfig())
    onehot = F.one_hot(labels, NUM_CLASSES).float()
    target = onehot if teacher is None else (1 - args.distill) * onehot + args.distill * teacher
    class_of = onehot
    if args.mixup > 0:
        x, mixed = mixup(x, torch.cat([target, class_of], dim=1), args.mixup)
        target, class_of = mixed[:, :NUM_CLASSES], mixed[:, NUM_CLASSES:]
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = model(x)
    smoothed = target * (1 - args.label_smoothing) + args.label_smoothing / NUM_CLASSES
    per_sample = -(smoothed * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    loss = (per_sample * (class_of @ weights)).sum() / (class_of @ weights).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), int((logits.argmax(1) == class_of.argmax(1)).sum().item())


def epochs_for(
    minutes: float,
    model: torch.nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    weights: torch.Tensor,
    args: argparse.Namespace,
    amp_dtype: torch.dtype | None,
) -> int:
    """How many epochs fit in ``minutes``, timed on a throw-away copy of the model (up to 20 steps after
    10 of warm-up) plus one validation pass: a one-cycle schedule must know its length up front. What a
    single device call of a few minutes needs."""
    trial = copy.deepcopy(model)
    opt = torch.optim.SGD(trial.parameters(), lr=1e-3, momentum=0.9)
    steps = min(30, math.ceil(len(x_train) / args.batch_size))
    warm = min(10, steps // 2)  # the first steps pay for kernel selection and caches
    marks = [time.perf_counter()]
    for _ in range(steps):
        idx = torch.randint(len(x_train), (args.batch_size,), device=x_train.device)
        train_step(trial, opt, x_train[idx], y_train[idx], weights, args, amp_dtype)
        marks.append(time.perf_counter())
    per_step = (marks[-1] - marks[warm]) / (steps - warm)
    t0 = time.perf_counter()
    predict_logits(trial, x_val)
    epoch_s = per_step * math.ceil(len(x_train) / args.batch_size) + (time.perf_counter() - t0)
    epochs = max(1, int(0.95 * minutes * 60 / epoch_s))
    print(f"--minutes {minutes:g}: ~{epoch_s:.1f} s per epoch, so {epochs} epochs")
    return epochs


def train(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    amp_dtype = pick_precision(args.precision, device)

    data = load_fer2013(args.data)
    train_split, val_split, val_name = split_validation(data, args.seed, args.refit)
    soft = None
    if args.teacher:
        from training.teacher import load_teacher

        parts = [load_teacher(args.teacher, "Training", data["Training"].labels)]
        if args.refit:
            parts.append(load_teacher(args.teacher, "PublicTest", data["PublicTest"].labels))
        soft = np.concatenate(parts)
    if args.limit:
        train_split = train_split.take(slice(0, args.limit))
        soft = soft[: args.limit] if soft is not None else None
        val_split = val_split.take(slice(0, max(args.limit // 4, 64)))
    x_train = torch.from_numpy(normalise_faces(train_split.faces, args.face_norm)).to(device)
    y_train = torch.from_numpy(train_split.labels).to(device)
    t_train = torch.from_numpy(soft).to(device) if soft is not None else None
    x_val = torch.from_numpy(normalise_faces(val_split.faces, args.face_norm)).to(device)
    y_val = torch.from_numpy(val_split.labels).to(device)

    model = create_model(args.model, **parse_model_args(args.model_arg)).to(device)
    model = model.to(memory_format=torch.channels_last)
    weights = class_weights(train_split.labels, args.class_weight_power).to(device)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    if args.minutes and not args.resume:
        args.epochs = epochs_for(args.minutes, model, x_train, y_train, x_val, weights, args, amp_dtype)
        saved = json.loads((out / "args.json").read_text())  # --resume must rebuild the same schedule
        saved["argv"] += ["--epochs", str(args.epochs)]
        (out / "args.json").write_text(json.dumps(saved, indent=2))
    decay, no_decay = [], []
    for param in model.parameters():
        (no_decay if param.ndim <= 1 else decay).append(param)
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=args.lr,
        total_steps=args.epochs * steps_per_epoch,
        pct_start=0.15,
        div_factor=25,
        final_div_factor=1e3,
    )
    start_epoch, best_acc = 0, -1.0
    last_path, best_path = out / "last.pt", out / "best.pt"
    if args.init and not (args.resume and last_path.exists()):
        state = torch.load(args.init, map_location=device, weights_only=False)
        if (state["args"]["model"], state["args"]["model_arg"]) != (args.model, args.model_arg):
            raise SystemExit(
                f"--init {args.init} holds {state['args']['model']} {state['args']['model_arg']}, "
                f"not {args.model} {args.model_arg}"
            )
        model.load_state_dict(state["model"])
        acc = state.get("val_acc", state.get("best_acc", float("nan")))
        print(f"initialised from {args.init} (epoch {state['epoch']}, {val_name} top-1 {acc:.4f})")
    restart = Path(args.checkpoint) if args.checkpoint else None
    # training/checkpoints/NAME.pt -> training/results/curves/NAME.jsonl: the curve is committed too
    curve_path = restart.parent.parent / "results" / "curves" / f"{restart.stem}.jsonl" if restart else None
    if args.resume and (last_path.exists() or (restart and restart.exists())):
        local = torch.load(last_path, map_location=device, weights_only=False) if last_path.exists() else None
        remote = read_restart_point(restart) if restart and restart.exists() else None
        if local is None or (remote is not None and remote["epoch"] > local["epoch"]):
            state = remote
            apply_restart_point(state, model, optimizer)
            source = restart
        else:
            state = local
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            source = last_path
        if state["scheduler"]["total_steps"] == scheduler.total_steps:
            scheduler.load_state_dict(state["scheduler"])
        else:  # --replan: the one-cycle of the new length, at the same step
            planned = state["scheduler"]["total_steps"] // steps_per_epoch
            if args.epochs <= state["epoch"]:
                raise SystemExit(f"--replan {args.epochs}: the run already reached epoch {state['epoch']}")
            print(f"schedule re-planned at epoch {state['epoch']}: {planned} -> {args.epochs} epochs")
            with warnings.catch_warnings():  # stepping the schedule alone is the point here
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(state["epoch"] * steps_per_epoch):
                    scheduler.step()
        torch.set_rng_state(state["rng"].cpu())  # a last.pt read onto a GPU holds it there
        start_epoch, best_acc = state["epoch"], state["best_acc"]
        print(f"resumed {source} at epoch {start_epoch}, best {val_name} top-1 {best_acc:.4f}")

    print(
        f"{args.model} {parse_model_args(args.model_arg)}: {count_params(model):,} params, "
        f"{len(x_train)} train / {len(x_val)} {val_name} faces, device {device}, "
        f"precision {'bf16' if amp_dtype else 'fp32'}, {torch.get_num_threads()} threads"
    )
    log = (out / "log.jsonl").open("a")
    summary: dict = {}
    stage_start = time.time()
    for epoch in range(start_epoch, args.epochs):
        done = epoch - start_epoch
        if (args.stage_epochs and done >= args.stage_epochs) or (
            args.stage_minutes and time.time() - stage_start > args.stage_minutes * 60
        ):
            print(f"stage ends after epoch {epoch}/{args.epochs}; continue with --resume", flush=True)
            break
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_train), device=device)
        total_loss = total_correct = seen = 0.0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{args.epochs}",
            leave=False,
            file=sys.stdout,
            mininterval=5,
            disable=None,
        )
        for step in bar:
            idx = perm[step * args.batch_size : (step + 1) * args.batch_size]
            loss, correct = train_step(
                model,
                optimizer,
                x_train[idx],
                y_train[idx],
                weights,
                args,
                amp_dtype,
                None if t_train is None else t_train[idx],
            )
            scheduler.step()
            total_loss += loss * len(idx)
            total_correct += correct
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{total_correct / seen:.3f}")
        bar.close()
        record = {
            "epoch": epoch + 1,
            "train_loss": total_loss / seen,
            "train_acc": total_correct / seen,
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(time.time() - t0, 1),
            "isa": torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else device.type,
            "threads": torch.get_num_threads(),
            "load": round(os.getloadavg()[0], 2),
        }
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            val_acc = (predict_logits(model, x_val).argmax(1) == y_val).float().mean().item()
            record["val_acc"] = val_acc
            if val_acc > best_acc or (args.refit and epoch + 1 == args.epochs):  # a refit keeps its last
                best_acc = val_acc
                torch.save(
                    {
                        "model": model.state_dict(),
                        "args": vars(args),
                        "epoch": epoch + 1,
                        "val_acc": val_acc,
                        "val_split": val_name,
                    },
                    best_path,
                )
        record["best_val_acc"] = best_acc
        log.write(json.dumps(record) + "\n")
        log.flush()
        position = {
            "model": model.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "epoch": epoch + 1,
            "best_acc": best_acc,
            "args": vars(args),
            "argv": json.loads((out / "args.json").read_text())["argv"],
        }
        torch.save({**position, "optimizer": optimizer.state_dict()}, last_path)
        if restart:
            save_restart_point(restart, position, optimizer)
            curve_path.parent.mkdir(parents=True, exist_ok=True)
            with curve_path.open("a") as curve:
                curve.write(json.dumps({"run": restart.stem, **record}) + "\n")
        eta = record["seconds"] * (args.epochs - epoch - 1) / 60
        print(
            f"epoch {epoch + 1}/{args.epochs} loss {record['train_loss']:.4f} "
            f"train {record['train_acc']:.4f} {val_name} {record.get('val_acc', float('nan')):.4f} "
            f"(best {best_acc:.4f}) {record['seconds']:.0f}s, ETA {eta:.1f} min",
            flush=True,
        )
        summary = record
    return summary


STAGE_FLAGS = ("out", "checkpoint", "data", "stage_minutes", "stage_epochs", "device", "precision", "threads")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    saved = Path(args.out) / "args.json"
    if args.resume and not saved.exists() and args.checkpoint and Path(args.checkpoint).exists():
        # another machine: only the committed restart point came along; it carries the command line
        first = read_restart_point(Path(args.checkpoint))["argv"]
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(
            json.dumps({"argv": first, "command": "python -m training.train " + shlex.join(first)}, indent=2)
        )
    if args.resume and saved.exists():
        # The saved command fixes the schedule. What belongs to this stage or this machine (paths,
        # stage length, device, precision, threads) wins where given to this call: a stage trained on
        # a GPU must be able to continue on a CPU in another folder, and the other way round.
        defaults = parser.parse_args(["--out", ""])
        stage = [
            x
            for key in STAGE_FLAGS
            if getattr(args, key) != getattr(defaults, key)
            for x in ("--" + key.replace("_", "-"), str(getattr(args, key)))
        ]
        first = json.loads(saved.read_text())["argv"]
        if args.replan:
            first = [*first, "--epochs", str(args.replan)]  # the last --epochs wins in argparse
            command = "python -m training.train " + shlex.join(first)
            saved.write_text(json.dumps({"argv": first, "command": command}, indent=2))
        args = parser.parse_args(first + ["--resume", *stage])
    else:
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(
            json.dumps({"argv": argv, "command": "python -m training.train " + shlex.join(argv)}, indent=2)
        )
    train(args)


if __name__ == "__main__":
    main()
