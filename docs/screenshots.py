"""The pictures in docs/APP.md: the real app over a fake meeting window, taken under Xvfb.

    pip install -e ".[docs]"     # scikit-image: only the photographs its wheel carries are used
    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/screenshots.py    # docs/overlay.png, docs/tiles.png

FER2013 and the meeting screenshots in ../shared may not be published in any form, so the fake meeting
is built from photographs that ship inside the scikit-image wheel (``skimage/data/``, read as files:
nothing is fetched): NASA's portrait of the astronaut Eileen Collins (public domain) and
"camera" (CC0, Lav Varshney) give the faces; Chelsea the cat and the coffee cup (CC0) are webcams with
no face in them; two tiles are camera-off cards. The app runs as a teacher runs it (the window chosen,
a session started, the tile indicators switched on); before a picture is saved every face is
pixelated to 4x4 blocks, and the PNG is reduced to 128 colours to keep it small.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DOCS = Path(__file__).resolve().parent
TITLE = "Fake Meeting – gallery view"
SIZE = (1056, 594)  # the meeting window's gallery, 3x3 tiles of 16:9 with Zoom-like 8-px gutters
GUTTER = 8
BACKGROUND = (26, 26, 26)
WAIT_MS = 120_000


@dataclass(frozen=True)
class View:
    """One participant's webcam: a 16:9 cut of a photograph around (cx, cy), ``zoom`` times the
    height of the photograph, optionally mirrored and dimmed; or a camera-off card (``photo`` "")."""

    name: str
    photo: str = ""
    cx: float = 0.5
    cy: float = 0.5
    zoom: float = 1.0
    mirror: bool = False
    gain: float = 1.0


PEOPLE = (
    View("Eileen C.", "astronaut", 0.44, 0.30, 0.62),
    View("Lav V.", "camera", 0.45, 0.40, 0.70, mirror=True, gain=0.8),
    View("Mara L.", "astronaut", 0.46, 0.28, 0.48, mirror=True, gain=1.15),
    View("Chelsea", "chelsea", 0.5, 0.5, 0.9),
    View("Dana K."),
    View("Jon P.", "astronaut", 0.42, 0.34, 0.80, gain=0.7),
    View("Desk cam", "coffee", 0.5, 0.55, 0.85),
    View("Ravi S.", "camera", 0.42, 0.36, 0.55, gain=1.1),
    View("Ana B."),
)


def photo(name: str) -> np.ndarray:
    """A photograph of the scikit-image wheel, BGR, read from the installed files (never fetched)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("docs/screenshots.py: scikit-image is not installed (pip install -e '.[docs]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.png"
    image = cv2.imread(str(path))
    if image is None:
        sys.exit(f"docs/screenshots.py: {path} is missing from the scikit-image wheel")
    return image


def face_box(image: np.ndarray) -> np.ndarray:
    """The face in a whole photograph, found by the engine's own detector (so it is the face the app
    will find and the one to pixelate)."""
    from fer_overlay.frames import Frame
    from fer_overlay.session import Pipeline

    faces = Pipeline(layout="faces")(Frame(image, 0.0)).faces
    if len(faces) != 1:
        sys.exit(f"docs/screenshots.py: expected one face in a photograph, found {len(faces)}")
    return faces.xyxy[0].astype(float)


def make_meeting() -> tuple[np.ndarray, list[np.ndarray]]:
    """The gallery picture and the face boxes in it (gallery pixels)."""
    w, h = SIZE
    tw, th = (w - 4 * GUTTER) // 3, (h - 4 * GUTTER) // 3
    gallery = np.full((h, w, 3), BACKGROUND, np.uint8)
    photos = {v.photo: photo(v.photo) for v in PEOPLE if v.photo}
    boxes_in_photo = {
        name: face_box(image) for name, image in photos.items() if name in ("astronaut", "camera")
    }
    faces = []
    for i, view in enumerate(PEOPLE):
        x0 = GUTTER + (i % 3) * (tw + GUTTER)
        y0 = GUTTER + (i // 3) * (th + GUTTER)
        if view.photo:
            image = photos[view.photo]
            ph, pw = image.shape[:2]
            ch = view.zoom * ph
            cw = ch * tw / th
            left = np.clip(view.cx * pw - cw / 2, 0, max(0, pw - cw))
            top = np.clip(view.cy * ph - ch / 2, 0, max(0, ph - ch))
            affine = np.array([[tw / cw, 0, -left * tw / cw], [0, th / ch, -top * th / ch]])
            tile = cv2.warpAffine(
                image, affine, (tw, th), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
            )
            tile = np.clip(tile.astype(np.float32) * view.gain, 0, 255).astype(np.uint8)
            if view.mirror:
                tile = tile[:, ::-1]
            if view.photo in boxes_in_photo:
                bx0, by0, bx1, by1 = boxes_in_photo[view.photo]
                fx0, fx1 = (bx0 - left) * tw / cw, (bx1 - left) * tw / cw
                fy0, fy1 = (by0 - top) * th / ch, (by1 - top) * th / ch
                if view.mirror:
                    fx0, fx1 = tw - fx1, tw - fx0
                faces.append(np.array([x0 + fx0, y0 + fy0, x0 + fx1, y0 + fy1]))
        else:  # a camera-off card: the name in the middle of a flat card (and at the bottom left, below)
            tile = np.full((th, tw, 3), (52, 48, 46), np.uint8)
            size, _ = cv2.getTextSize(view.name, cv2.FONT_HERSHEY_SIMPLEX, 1.1, 2)
            org = ((tw - size[0]) // 2, (th + size[1]) // 2)
            cv2.putText(tile, view.name, org, cv2.FONT_HERSHEY_SIMPLEX, 1.1, (235, 235, 235), 2, cv2.LINE_AA)
        gallery[y0 : y0 + th, x0 : x0 + tw] = tile
        # Every tile's name label at the bottom left, white on a dark box, as Zoom, Teams and Meet draw it.
        size, _ = cv2.getTextSize(view.name, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)
        lx, ly = x0 + 6, y0 + th - 8
        cv2.rectangle(gallery, (lx - 4, ly - size[1] - 6), (lx + size[0] + 4, ly + 5), (30, 30, 30), -1)
        cv2.putText(
            gallery, view.name, (lx, ly), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA
        )
    return gallery, faces


def wait_until(cond, what: str) -> None:
    from PySide6.QtTest import QTest

    waited = 0
    while not cond():
        if waited > WAIT_MS:
            sys.exit(f"docs/screenshots.py: timed out waiting for {what}")
        QTest.qWait(100)
        waited += 100


def save(shot: np.ndarray, faces: list[np.ndarray], origin: tuple[int, int], boxes, path: Path) -> None:
    """Pixelate every face (padded by 45% of its width) on the whole screen shot, then crop to the
    boxes (screen rectangles) and write a 128-colour PNG."""
    from PIL import Image

    ox, oy = origin
    for fx0, fy0, fx1, fy1 in faces:
        pad = 0.45 * (fx1 - fx0)
        a, b = max(0, int(ox + fx0 - pad)), max(0, int(oy + fy0 - pad))
        c, d = int(ox + fx1 + pad), int(oy + fy1 + pad)
        small = cv2.resize(shot[b:d, a:c], (4, 4), interpolation=cv2.INTER_AREA)
        shot[b:d, a:c] = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST)
    left = max(0, min(r.left() for r in boxes) - 10)
    top = max(0, min(r.top() for r in boxes) - 10)
    right = max(r.right() for r in boxes) + 10
    bottom = max(r.bottom() for r in boxes) + 10
    crop = np.ascontiguousarray(shot[top:bottom, left:right, ::-1])
    Image.fromarray(crop).quantize(128, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {crop.shape[1]}x{crop.shape[0]}, {path.stat().st_size / 1024:.0f} KB")


def main() -> None:
    import fer_overlay.app  # noqa: F401, I001  (first: applies the PySide6 refcount workaround)
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QApplication, QLabel

    from fer_overlay.app.capture import Target
    from fer_overlay.app.main import FerOverlayApp
    from fer_overlay.sources import open_mss

    qapp = QApplication.instance() or QApplication([])
    gallery, faces = make_meeting()
    meeting = QLabel()  # a real top-level window showing the gallery at 1:1, as Zoom would draw it
    rgb = np.ascontiguousarray(gallery[..., ::-1])
    h, w = rgb.shape[:2]
    meeting.setPixmap(QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()))
    meeting.setWindowTitle(TITLE)
    meeting.setFixedSize(w, h)
    meeting.move(20, 40)
    meeting.show()
    wait_until(
        lambda: meeting.windowHandle() is not None and meeting.windowHandle().isExposed(), "the meeting"
    )
    with tempfile.TemporaryDirectory() as base:
        store = QSettings(str(Path(base) / "settings.ini"), QSettings.Format.IniFormat)
        for key, value in {
            "privacy_acknowledged": True,
            "data_dir": f"{base}/data",
            "export_dir": f"{base}/out",
        }.items():
            store.setValue(key, value)
        app = FerOverlayApp(store, show_dialogs=False)
        app.set_target(Target("window", int(meeting.winId()), TITLE))
        if not app.start_session():
            sys.exit(f"docs/screenshots.py: the session did not start: {app.state.note}")
        wait_until(
            lambda: (
                app.updates >= 8
                and app.state.update is not None
                and len(app.state.update.rows) == len(PEOPLE)
            ),
            "every tile in the overlay",
        )

        def shot() -> np.ndarray:
            from PySide6.QtTest import QTest

            QTest.qWait(500)
            with open_mss() as sct:
                return np.array(sct.grab(sct.monitors[0]))[..., :3].copy()

        origin = (meeting.x(), meeting.y())
        boxes = [meeting.frameGeometry(), app.overlay.frameGeometry()]
        save(shot(), faces, origin, boxes, DOCS / "overlay.png")
        app.set_tile_indicators(True)
        wait_until(
            lambda: app.tiles.isVisible() and len(app.tiles.badges) == len(PEOPLE), "a badge on every tile"
        )
        seen = app.updates
        wait_until(lambda: app.updates >= seen + 2, "two more captures with the badges masked")
        save(shot(), faces, origin, [meeting.frameGeometry()], DOCS / "tiles.png")
        app.shutdown()
    meeting.close()
    qapp.processEvents()


if __name__ == "__main__":
    main()
