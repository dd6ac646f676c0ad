"""Model registry: every architecture is a registered builder, created by name with overrides.

    >>> model = create_model("vgg_bn", width=32)
    >>> sorted(list_models())
    ['resnet18', 'seed_cnn', 'vgg_bn']

All models take ``float32 (N, 1, 48, 48)`` in ``[0, 1]`` (pixel / 255) and return logits (N, 7);
the standardisation lives inside the model, so the ONNX input contract is just "gray pixels / 255".
So does the crop: ``crop=40`` trains on random 40x40 crops of the face and evaluates (and exports)
the centre crop, so a net trained at 40 px can never be tested at 48 by mistake.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

NUM_CLASSES = 7
INPUT_MEAN = 0.5
INPUT_STD = 0.25

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    _REGISTRY[builder.__name__] = builder
    return builder


def list_models() -> list[str]:
    return list(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name](**kwargs)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Standardize(nn.Module):
    """Maps pixel/255 to roughly zero mean, unit variance (FER2013: mean 0.51, std 0.25)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - INPUT_MEAN) / INPUT_STD


class Crop(nn.Module):
    """Random ``size`` x ``size`` crops per face while training, the centre crop in eval mode.

    Random crops of the 48x48 face beat full faces by ~5 PublicTest points at equal CPU time
    (TRAINING_NOTES.md): they are cheaper (0.69x the MACs at 40 px) and act as translation jitter."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spare = x.shape[-1] - self.size
        if spare <= 0:
            return x
        if not self.training:
            top = spare // 2
            return x[:, :, top : top + self.size, top : top + self.size]
        b = x.shape[0]
        span = torch.arange(self.size, device=x.device)
        rows = (torch.randint(0, spare + 1, (b, 1), device=x.device) + span)[:, :, None]
        cols = (torch.randint(0, spare + 1, (b, 1), device=x.device) + span)[:, None, :]
        picked = x[torch.arange(b, device=x.device)[:, None, None], :, rows, cols]  # (B, s, s, C)
        return picked.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def _stem(crop: int) -> list[nn.Module]:
    return [Crop(crop), Standardize()] if crop else [Standardize()]


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


@register_model
def seed_cnn(dropout: float = 0.5) -> nn.Module:
    """The seed notebook's plain Keras-style CNN: unpadded convs, no batch norm, a wide dense head."""
    return nn.Sequential(
        Standardize(),
        nn.Conv2d(1, 32, 3),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(64, 128, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(128, 128, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(128 * 4 * 4, 1024),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(1024, NUM_CLASSES),
    )


@register_model
def vgg_bn(width: int = 32, dropout: float = 0.4, crop: int = 0) -> nn.Module:
    """VGG-style net in the spirit of Khaireddin & Chen 2021: 4 blocks of two conv+BN, pooled.

    Global average pooling replaces their 4096-wide dense head: far fewer parameters for the
    same accuracy at 48x48, and it keeps the model fast enough for a laptop CPU.
    """
    widths = [width, width * 2, width * 4, width * 8]
    layers: list[nn.Module] = _stem(crop)
    cin = 1
    for cout in widths:
        layers += [_conv_bn(cin, cout), _conv_bn(cout, cout), nn.MaxPool2d(2)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, NUM_CLASSES)]
    return nn.Sequential(*layers)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cout, stride),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


@register_model
def resnet18(width: int = 64, crop: int = 0) -> nn.Module:
    """CIFAR-style ResNet18 (3x3 stem, no max-pool), one input channel; the seed's ResNet baseline."""
    layers: list[nn.Module] = [*_stem(crop), _conv_bn(1, width)]
    cin = width
    for stage, cout in enumerate([width, width * 2, width * 4, width * 8]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(_BasicBlock(cin, cout, stride))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, NUM_CLASSES)]
    return nn.Sequential(*layers)
