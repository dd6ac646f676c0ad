"""Restart points that survive a session: fp16 weights plus the schedule position, one small file per run.

A training process lives at most one session (180 minutes) and the next stage may run on another
machine that has only what was committed. ``runs/NAME/last.pt`` (full precision, ignored by git) is
the fast path on the same machine; ``training/checkpoints/NAME.pt`` is the committed one: weights in
fp16, the optimiser's momentum too while the file stays under :data:`MAX_BYTES`, the scheduler and RNG
state, the exact command line and the curve so far. ``--resume`` continues the same fixed schedule
from whichever is newer; a momentum buffer that did not fit restarts at zero, which costs little
mid-schedule.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

MAX_BYTES = 10 * 2**20
"""The project's limit per committed restart point."""


def _half(state: dict) -> dict:
    return {k: v.half() if torch.is_floating_point(v) else v for k, v in state.items()}


def _momentum_half(optimizer: torch.optim.Optimizer) -> dict:
    opt = optimizer.state_dict()
    opt["state"] = {
        i: {k: v.half() if torch.is_tensor(v) and torch.is_floating_point(v) else v for k, v in s.items()}
        for i, s in opt["state"].items()
    }
    return opt


def save_restart_point(path: Path, payload: dict, optimizer: torch.optim.Optimizer) -> int:
    """Write ``payload`` (``model`` state dict, ``scheduler``, ``epoch``, ``argv``, ``log``…) with the
    weights in fp16, atomically (a stop mid-write keeps the previous file). Returns the file size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {**payload, "model": _half(payload["model"]), "optimizer": _momentum_half(optimizer)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    if buffer.tell() > MAX_BYTES:  # a big net: weights only, momentum restarts at zero
        state["optimizer"] = None
        buffer = io.BytesIO()
        torch.save(state, buffer)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)
    return path.stat().st_size


def read_restart_point(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def apply_restart_point(state: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Load a restart point's weights (back to fp32) and, when saved, its momentum."""
    model.load_state_dict(
        {k: v.float() if torch.is_floating_point(v) else v for k, v in state["model"].items()}
    )
    if state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])  # load_state_dict casts buffers to the params' dtype
