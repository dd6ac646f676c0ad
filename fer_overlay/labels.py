"""The seven FER2013 classes, in the label order every model and file of the project uses."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
