"""Per-face contrast normalisation, applied identically when a model is trained and when it runs.

FER2013's original pixels are raw gray crops, with the lighting of whatever photo they came from,
and so are the faces the engine cuts out of a webcam tile. A model may instead be trained on a
normalised face (per-crop histogram equalisation or CLAHE); then the runtime must normalise each
crop the same way. Which one a model takes is part of its input contract (``face_normalisation`` in
its metrics JSON), so the classifier reads it from there and nobody has to remember it.

    >>> normalise_faces(faces_uint8_n_48_48, "clahe").shape     # doctest: +SKIP
    (n, 48, 48)
"""

from __future__ import annotations

import cv2
import numpy as np

FACE_NORMS = ("none", "equalize", "clahe")
_CLAHE = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))


def normalise_faces(faces: np.ndarray, mode: str) -> np.ndarray:
    """``uint8 (N, H, W)`` -> the same shape, each face normalised on its own (a copy; ``none`` returns
    the input itself)."""
    if mode == "none":
        return faces
    if mode == "equalize":
        one = cv2.equalizeHist
    elif mode == "clahe":
        one = _CLAHE.apply
    else:
        raise ValueError(f"unknown face normalisation {mode!r}; known: {', '.join(FACE_NORMS)}")
    out = np.empty_like(faces)
    for i, face in enumerate(faces):
        out[i] = one(np.ascontiguousarray(face))
    return out
