"""Cost of a classifier: multiply-accumulates per face (from the ONNX graph) and ONNX Runtime ms/face.

    python -m fer_overlay.modelstats exported/fer_vgg32.onnx

Our machines differ (some have AVX-512 with bf16, some only AVX2), so every figure is printed with
the CPU it was measured on.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ModelStats:
    model: str
    params: int
    macs_per_face: int
    size_bytes: int
    ms_per_face: float
    batch: int
    threads: int
    cpu: str

    def line(self) -> str:
        return (
            f"{self.model}: {self.params / 1e6:.2f}M params, {self.macs_per_face / 1e6:.1f}M MAC/face, "
            f"{self.size_bytes / 2**20:.1f} MiB, ONNX Runtime {self.ms_per_face:.3f} ms/face "
            f"(batch {self.batch}, {self.threads} threads, {self.cpu})"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_capability() -> str:
    """The widest SIMD level of this CPU (the level that decides our timings), plus its model name."""
    name = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return name
    flags = set()
    for line in info.splitlines():
        if line.startswith("model name") and name in ("", platform.machine()):
            name = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    level = next(
        (
            lvl
            for lvl, flag in (("AVX512_BF16", "avx512_bf16"), ("AVX512", "avx512f"), ("AVX2", "avx2"))
            if flag in flags
        ),
        "no AVX2",
    )
    return f"{level}, {name}"


def count_macs(model_path: str | Path) -> tuple[int, int]:
    """(multiply-accumulates for one face, parameter count), read from the graph's shapes."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(model_path))
    graph = model.graph
    params = sum(int(np.prod(t.dims)) for t in graph.initializer)
    inp = graph.input[0].type.tensor_type.shape.dim
    inp[0].dim_value = 1  # one face: fix the dynamic batch so every shape is concrete
    inferred = shape_inference.infer_shapes(model).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(inferred.value_info) + list(inferred.output) + list(inferred.input)
    }
    weights = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:  # an int8 (QDQ) graph reaches its weights through DequantizeLinear
        if node.op_type == "DequantizeLinear" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    macs = 0
    for node in graph.node:
        if node.op_type == "Conv":
            out_shape = shapes[node.output[0]]
            w_shape = weights[node.input[1]]
            macs += int(np.prod(out_shape)) * int(np.prod(w_shape[1:]))
        elif node.op_type in ("Gemm", "MatMul"):  # (M, K) x (K, N): K from the data input, no transA
            macs += int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return macs, params


def measure(model_path: str | Path, threads: int = 2, batch: int = 32, seconds: float = 3.0) -> ModelStats:
    """Median ms/face over repeated batched runs on random faces (speed does not depend on content)."""
    from fer_overlay.classify import Classifier

    clf = Classifier(model_path, threads=threads)
    faces = np.random.default_rng(0).integers(0, 256, (batch, 48, 48), dtype=np.uint8)
    for _ in range(3):
        clf.predict(faces)
    timings = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(timings) < 10:
        t0 = time.perf_counter()
        clf.predict(faces)
        timings.append(time.perf_counter() - t0)
    macs, params = count_macs(model_path)
    return ModelStats(
        model=Path(model_path).name,
        params=params,
        macs_per_face=macs,
        size_bytes=Path(model_path).stat().st_size,
        ms_per_face=1000 * float(np.median(timings)) / batch,
        batch=batch,
        threads=threads,
        cpu=cpu_capability(),
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    for model in args.models:
        print(measure(model, args.threads, args.batch).line())


if __name__ == "__main__":
    main()
