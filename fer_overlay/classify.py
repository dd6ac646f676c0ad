"""Expression classification of 48x48 gray faces with ONNX Runtime: one batched call per frame.

The runtime never imports torch. Every model in ``exported/`` (``training.export`` writes there; an
installed wheel carries it as ``fer_overlay/models/``) honours one input contract (written in its
metrics JSON as well): input ``"input"``, ``float32 (N, 1, 48, 48)``, gray pixels / 255;
output ``"probs"``, ``float32 (N, 7)`` softmax probabilities in FER2013 label order. A model trained
on normalised faces names its per-face normalisation (``input_contract.face_normalisation`` in the
JSON, see :mod:`fer_overlay.facenorm`); the classifier applies it to every crop, so training and
runtime see the same distribution. Without a JSON the faces go in as they are.

    >>> clf = Classifier()                           # doctest: +SKIP
    >>> clf.predict(faces_uint8_n_48_48).shape       # doctest: +SKIP
    (n, 7)

Before a model is loaded, its SHA-256 is compared with the ``"sha256"`` of the metrics JSON beside it
(same stem, written by ``training.export``), read at run time so that the shipped model can be
replaced together with its JSON. A mismatch (a corrupt download, a truncated copy, a model swapped
without its JSON, another model's JSON beside it) is a :class:`ModelError`; the JSON is read once
(:func:`read_model_meta`) for both the checksum and the face normalisation. A model of one's own
without a JSON still loads; the classifier's ``note`` then says that its checksum and metrics are
unknown.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_overlay.facenorm import FACE_NORMS, normalise_faces
from fer_overlay.labels import EMOTIONS
from fer_overlay.runtime import open_session

_PACKAGED = Path(__file__).resolve().parent / "models"  # a wheel or the desktop build: package data
EXPORTED_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[1] / "exported"
"""Where the shipped models are: ``exported/`` in a source checkout, which a built wheel and the desktop
build carry as ``fer_overlay/models/`` (pyproject.toml maps the one to the other)."""
DEFAULT_MODEL = "fer_vgg32.onnx"
INPUT_NAME = "input"
OUTPUT_NAME = "probs"
FACE_SIZE = 48


class ModelError(RuntimeError):
    """The model file is missing, corrupt or does not follow the input contract."""


def default_model_path() -> Path:
    """``$FER_OVERLAY_MODEL`` when set, else the shipped default in :data:`EXPORTED_DIR`."""
    return Path(os.environ.get("FER_OVERLAY_MODEL", EXPORTED_DIR / DEFAULT_MODEL))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks: the checksum ``training.export`` writes and
    :func:`read_model_meta` compares."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelMeta:
    """What the classifier takes from a model's metrics JSON, read once and checked against the file."""

    face_norm: str = "none"
    """The per-face normalisation it was trained with (:mod:`fer_overlay.facenorm`)."""
    note: str = ""
    """Why the model is unverified (no JSON, or one without a checksum); "" when its sha256 matched."""


def read_model_meta(path: Path) -> ModelMeta:
    """The metrics JSON beside ``path`` (``NAME.json`` for ``NAME.onnx``), checked against the model.

    Its ``sha256`` must be the file's: a corrupt, truncated or swapped model, or another model's JSON
    copied beside it, is a :class:`ModelError` naming the model the JSON describes (its ``file``). A
    JSON that cannot be read is an error too rather than a note: it holds the face normalisation, and a
    model fed faces it was not trained on still answers, only wrongly. Without a JSON the model loads
    unverified and its faces go in as they are."""
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        return ModelMeta(
            note=f"{path.name} has no {meta_path.name} beside it: its checksum and accuracy are unknown"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        contract = meta.get("input_contract", {})
        mode = contract.get("face_normalisation", "none")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(
            f"{meta_path.name} beside {path.name} is not a readable metrics JSON ({type(exc).__name__}): "
            "repair it, or remove it to run the model unverified"
        ) from None
    described = str(meta.get("file", path.name))
    about = f", which describes {described}" if described != path.name else ""
    if "sha256" not in meta:
        if about:  # no checksum to say it is the same model under another name: another model's contract
            raise ModelError(
                f"{meta_path.name} describes {described}, not {path.name}: put the model's own JSON beside it"
            )
        note = f"{meta_path.name} has no sha256: the checksum of {path.name} is not verified"
    else:
        expected, actual = str(meta["sha256"]).lower(), sha256_of(path)
        if actual != expected:
            raise ModelError(
                f"{path.name} does not match the sha256 in {meta_path.name}{about} (corrupt, truncated or "
                f"replaced without its JSON): {actual[:12]}… instead of {expected[:12]}…"
            )
        note = ""  # the same bytes: verified, even when the pair was renamed together
    if mode not in FACE_NORMS:
        raise ModelError(f"{meta_path.name} asks for an unknown face normalisation {mode!r}")
    return ModelMeta(face_norm=mode, note=note)


class Classifier:
    """An ONNX Runtime session over one exported model, checked against the input contract."""

    def __init__(self, model_path: str | os.PathLike | None = None, threads: int = 2) -> None:
        self.path = Path(model_path) if model_path is not None else default_model_path()
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        meta = read_model_meta(self.path)
        self.note = meta.note  # why it could not be verified; "" when its checksum matched
        self.face_norm = meta.face_norm
        try:
            self.session = open_session(self.path, threads)
        except Exception as exc:  # ORT raises several private exception types for bad files
            raise ModelError(
                f"{self.path.name} is not a loadable ONNX model: {str(exc).splitlines()[0]}"
            ) from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if (
            len(inputs) != 1
            or inputs[0].name != INPUT_NAME
            or list(inputs[0].shape[1:]) != [1, FACE_SIZE, FACE_SIZE]
            or outputs[0].name != OUTPUT_NAME
            or outputs[0].shape[-1] != len(EMOTIONS)
        ):
            raise ModelError(
                f"{self.path.name} does not take 'input' (N,1,48,48) and give 'probs' (N,7): "
                f"got {[(i.name, i.shape) for i in inputs]} -> {[(o.name, o.shape) for o in outputs]}"
            )

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """``uint8 (N, 48, 48)`` gray faces -> ``float32 (N, 7)`` probabilities; N may be 0."""
        if len(faces) == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        x = normalise_faces(faces, self.face_norm).astype(np.float32)[:, None] / 255.0
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
