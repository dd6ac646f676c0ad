"""Batched augmentation as tensor ops, so it runs wherever the batch lives (CPU or GPU).

One affine warp per batch (rotation, scale, shift, flip through ``affine_grid``), per-sample
brightness/contrast, and random erasing. A per-image PIL pipeline cannot feed a GPU and is slower
on our 2-core CPUs too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 15.0
    scale: float = 0.15
    shift: float = 0.12
    flip: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    jitter_p: float = 0.5
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)


def augment(x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """Augment ``float (B, 1, H, W)`` in [0, 1]; returns a new tensor of the same shape."""
    b, _, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, device=dev)

    angle = (rand(b) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = 1 + (rand(b) * 2 - 1) * cfg.scale
    flip = torch.where(rand(b) < cfg.flip, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, (rand(b) * 2 - 1) * cfg.shift * 2], dim=1),
            torch.stack([sin * flip, cos, (rand(b) * 2 - 1) * cfg.shift * 2], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    jitter = (rand(b, 1, 1, 1) < cfg.jitter_p).float()
    gain = 1 + jitter * (rand(b, 1, 1, 1) * 2 - 1) * cfg.contrast
    bias = jitter * (rand(b, 1, 1, 1) * 2 - 1) * cfg.brightness * 0.5
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * gain + mean + bias).clamp(0, 1)

    area = cfg.erase_area[0] + rand(b) * (cfg.erase_area[1] - cfg.erase_area[0])
    aspect = torch.exp((rand(b) * 2 - 1) * math.log(3.0))
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
    top = rand(b) * (h - eh)
    left = rand(b) * (w - ew)
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    mask = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + ew).view(b, 1, 1))
        & (rand(b) < cfg.erase_p).view(b, 1, 1)
    )
    return torch.where(mask.unsqueeze(1), rand(b, 1, 1, 1).expand_as(x), x)


def mixup(x: torch.Tensor, targets: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix pairs of samples; ``targets`` are soft (B, C) distributions, mixed the same way."""
    lam = torch.distributions.Beta(alpha, alpha).sample().item()
    perm = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]
