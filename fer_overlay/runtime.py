"""The one way the engine opens an ONNX Runtime session (classifier, MTCNN, CenterFace, the name OCR).

Every session gets the same options, chosen for a desktop tool that shares two cores with the meeting
app it watches and runs a few small batches per frame, a frame every half second:

- ``threads`` intra-op threads, one inter-op thread, sequential execution: the graphs are chains of
  convolutions with nothing to run side by side;
- helper threads sleep when a batch is done instead of spinning for more work: a frame has few
  batches, and spinning would burn the CPU the other stages (and the meeting app) need;
- a memory arena only where it pays (``arena``): an arena keeps the largest buffers its session ever
  needed for good. MTCNN keeps one: its pyramids over a whole gallery are the largest buffers of a
  frame, and without an arena every frame allocates and faults them in again (a cold 25-tile frame
  ~20% more CPU). The classifier and the OCR run small or rare batches and go without (~20-50 MB
  less after a session, no cost measured). Figures in docs/ARCHITECTURE.md ("Memory");
- warnings only when they are errors (ORT warns about unused initialisers of shipped files).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime


def open_session(
    model: str | Path | bytes, threads: int = 1, arena: bool = False
) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session over a model file (or its bytes) with the engine's options;
    ``arena``: with a memory arena of its own (see the module docstring for which sessions want one)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = arena
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
