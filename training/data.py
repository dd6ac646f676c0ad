"""FER2013 loaders: the Kaggle CSV (plain or .gz), the image-folder edition and the GPU pack.

All three yield the same thing, a :class:`Fer2013` holding one :class:`Split` per usage
(``Training``, ``PublicTest``, ``PrivateTest``), faces as ``uint8 (N, 48, 48)`` and labels
in FER2013 order, so training and evaluation never care where the faces came from.

    >>> data = load_fer2013("../shared/data/fer2013.csv.gz")   # doctest: +SKIP
    >>> data["Training"].faces.shape
    (28709, 48, 48)
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_overlay.labels import EMOTIONS

SPLITS = ("Training", "PublicTest", "PrivateTest")
DEFAULT_CSV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013.csv.gz"
_FOLDER_CLASS_NAMES = {name.lower(): i for i, name in enumerate(EMOTIONS)}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


@dataclass(frozen=True)
class Split:
    """Faces of one usage: ``faces`` uint8 (N, 48, 48), ``labels`` int64 (N,)."""

    faces: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray | slice) -> Split:
        return Split(self.faces[index], self.labels[index])


Fer2013 = dict[str, Split]


def default_csv_path() -> Path:
    """Where tests and tools look for the dataset: ``$FER2013_CSV`` or the shared copy."""
    return Path(os.environ.get("FER2013_CSV", DEFAULT_CSV)).resolve()


def load_fer2013(path: str | os.PathLike) -> Fer2013:
    """Load any supported layout: a CSV (``.csv``/``.csv.gz``), an image folder, or the ``.npz`` pack."""
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path)
    if path.suffix == ".npz":
        return load_npz_pack(path)
    return load_csv(path)


def load_csv(path: str | os.PathLike) -> Fer2013:
    """Parse the Kaggle schema ``emotion,pixels,Usage``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise ValueError(f"{path}: not a FER2013 CSV (header {header!r})")
        labels, pixels, usages = [], [], []
        for emotion, pix, usage in reader:
            labels.append(int(emotion))
            pixels.append(pix)
            usages.append(usage.strip())
    faces = np.fromstring(" ".join(pixels), dtype=np.uint8, sep=" ")  # fastest bulk parse
    faces = faces.reshape(-1, 48, 48)
    if len(faces) != len(labels):
        raise ValueError(f"{path}: a row does not hold 2304 pixels")
    labels_arr = np.asarray(labels, dtype=np.int64)
    usage_arr = np.asarray(usages)
    return {name: Split(faces[usage_arr == name], labels_arr[usage_arr == name]) for name in SPLITS}


def load_image_folder(root: str | os.PathLike) -> Fer2013:
    """Read ``train/<class>/*`` as Training and ``test/<class>/*`` as the test faces.

    The circulated folder edition names files ``Training_*``, ``PublicTest_*``, ``PrivateTest_*``;
    a test file with that prefix goes to its usage, any other test file to PrivateTest, so that a
    folder without the prefixes never lets test faces steer model selection.
    """
    import cv2

    root = Path(root)
    found: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    for folder, default in (("train", "Training"), ("test", "PrivateTest")):
        for class_dir in sorted(p for p in (root / folder).iterdir() if p.is_dir()):
            label = _FOLDER_CLASS_NAMES.get(class_dir.name.lower())
            if label is None:
                raise ValueError(f"{class_dir}: unknown class folder (expected one of {EMOTIONS})")
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() not in _IMAGE_SUFFIXES:
                    continue
                image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
                if image is None:
                    raise ValueError(f"{file}: unreadable image")
                if image.shape != (48, 48):
                    image = cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA)
                prefix = file.name.split("_", 1)[0]
                usage = prefix if folder == "test" and prefix in SPLITS[1:] else default
                faces, labels = found.setdefault(usage, ([], []))
                faces.append(image)
                labels.append(label)
    return {
        name: Split(np.stack(faces), np.asarray(labels, dtype=np.int64))
        for name, (faces, labels) in found.items()
    }


def load_npz_pack(path: str | os.PathLike) -> Fer2013:
    """Decode the Training+PublicTest mosaic pack made for GPU runs (no PrivateTest in it)."""
    import cv2

    z = np.load(path)
    count = int(z["count"])
    tiles = []
    for i in range(8):
        mosaic = cv2.imdecode(z[f"mosaic_{i}"], cv2.IMREAD_GRAYSCALE)
        tiles.append(mosaic.reshape(64, 48, 64, 48).transpose(0, 2, 1, 3).reshape(4096, 48, 48))
    faces = np.concatenate(tiles)[:count]
    labels = z["emotion"].astype(np.int64)
    usage = z["usage"]
    return {
        "Training": Split(faces[usage == 0], labels[usage == 0]),
        "PublicTest": Split(faces[usage == 1], labels[usage == 1]),
    }


def write_image_folder(data: Fer2013, root: str | os.PathLike) -> None:
    """Write splits in the circulated folder layout, usage prefix in each file name."""
    import cv2

    root = Path(root)
    for name, split in data.items():
        folder = "train" if name == "Training" else "test"
        for index, (face, label) in enumerate(zip(split.faces, split.labels, strict=False)):
            target = root / folder / EMOTIONS[label].lower()
            target.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target / f"{name}_{index:06d}.png"), face)


def class_counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=len(EMOTIONS))


def csv_bytes(data: Fer2013) -> bytes:
    """Serialise splits back to the Kaggle schema (tests build tiny CSVs this way)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["emotion", "pixels", "Usage"])
    for name in SPLITS:
        if name not in data:
            continue
        for face, label in zip(data[name].faces, data[name].labels, strict=False):
            writer.writerow([int(label), " ".join(map(str, face.ravel())), name])
    return buffer.getvalue().encode()
