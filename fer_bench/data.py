"""FER2013 faces for the measurements, read with the training code's loader (``$FER2013_CSV``)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def fer2013_path() -> Path:
    """The data set's path; FileNotFoundError (one line at the CLI) when it is not there."""
    from training.data import default_csv_path

    path = default_csv_path()
    if not path.exists():
        raise FileNotFoundError(f"FER2013 not found at {path} (set FER2013_CSV)")
    return path


@functools.lru_cache(maxsize=1)
def _load(path: Path):
    from training.data import load_fer2013

    return load_fer2013(path)


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(faces uint8 (N, 48, 48), labels (N,))`` of one split, the data set kept for the next call
    (``bench`` and ``evaluate`` in one process, the tests)."""
    data = _load(fer2013_path())[split]
    return data.faces, data.labels
