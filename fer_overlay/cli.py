"""Command line: ``fer-overlay analyze INPUT``, ``fer-overlay bench``, ``fer-overlay evaluate``.

    fer-overlay analyze class.mp4 --out annotated.mp4 --csv class.csv --summary summary.csv
    fer-overlay analyze screen:0,0,1920,1080 --duration 60 --csv live.csv
    fer-overlay analyze gallery.png --out annotated.png --layout 5x5
    fer-overlay bench
    fer-overlay evaluate --faces 300

Inputs it cannot read and outputs it cannot write end with one line on stderr and exit status 2,
never a traceback; rows recorded before the failure stay in the session CSV. Notes (a model without
its metrics JSON, tiles too small to read faces) are one line each on stderr, and the run goes on.
Without a subcommand (or with only the app's own options, such as ``--start``), ``fer-overlay`` starts
the tray app.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from fer_overlay import __version__

EXIT_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report a process ended by SIGINT (128 + 2)."""


class CheckoutOnly(RuntimeError):
    """A developer command run where only the runtime is installed."""


def _detector_help() -> str:
    """The ``--detector`` help, from the detector registry: a detector registered in
    :mod:`fer_overlay.faces` is listed here without touching the CLI."""
    from fer_overlay.faces import default_detector, list_detectors

    names = ", ".join(spec.name for spec in list_detectors())
    return (
        f"face detector chain: {names}, joined by '+' (each searches the tiles the ones before it found no "
        f"face in); default here: {default_detector()}"
    )


def _parser() -> argparse.ArgumentParser:
    detector_help = _detector_help()
    p = argparse.ArgumentParser(
        prog="fer-overlay",
        description="Facial-expression indicators for online teaching.",
        epilog=(
            "Without a subcommand, fer-overlay starts the desktop app (control window or tray icon, "
            "overlay). Its options: --settings FILE (use this INI file instead of the user's settings), "
            "--start (start a session on the remembered meeting window or region at once)."
        ),
    )
    p.add_argument("--version", action="version", version=f"fer-overlay {__version__}")
    sub = p.add_subparsers(dest="command")
    a = sub.add_parser("analyze", help="analyse an image, video, folder, webcam or screen")
    a.add_argument("input", help="image, video, folder, webcam[:N], screen[:MONITOR|x,y,w,h] or window:TITLE")
    a.add_argument("--out", help="annotated output: .png/.jpg (last frame) or .mp4")
    a.add_argument("--csv", help="session CSV: per-participant and class rows every --interval seconds")
    a.add_argument("--summary", help="summary CSV at the end (a PNG plot is written beside it)")
    a.add_argument("--fps", type=float, default=2.0, help="analysis rate in frames per second (default 2)")
    a.add_argument("--duration", type=float, help="stop after this many seconds (of media time for files)")
    a.add_argument(
        "--layout",
        default="auto",
        help="auto (find the gallery), faces (each face a participant) or RxC (a fixed grid, e.g. 5x5)",
    )
    a.add_argument("--interval", type=float, default=10.0, help="seconds per session CSV row (default 10)")
    a.add_argument("--model", help="ONNX model (default: $FER_OVERLAY_MODEL or the one the package carries)")
    a.add_argument("--detector", help=detector_help)
    a.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    b = sub.add_parser("bench", help="per-stage speed on synthetic 1920x1080 galleries (needs FER2013)")
    b.add_argument("--tiles", type=int, nargs="+", help="tiles per gallery (default 4 9 25 49; soak: 4)")
    b.add_argument("--frames", type=int, default=5, help="timed frames per gallery (default 5)")
    b.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="instead: a long session with a simulated 2 Hz clock (e.g. 90): memory growth, complete log",
    )
    b.add_argument("--csv", help="with --soak: keep the soak's session CSV here")
    b.add_argument("--model")
    b.add_argument("--detector", help=detector_help)
    b.add_argument("--threads", type=int, default=2)
    e = sub.add_parser("evaluate", help="tile recall, face recall and accuracy on synthetic galleries")
    e.add_argument("--split", default="PrivateTest", choices=["PublicTest", "PrivateTest"])
    e.add_argument("--faces", type=int, default=300)
    e.add_argument("--model")
    e.add_argument("--detector", help=detector_help)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--calibrate", action="store_true", help="also print the measured crop convention")
    e.add_argument(
        "--crop-scale", type=float, help="try another crop scale (re-tune with a new model on PublicTest)"
    )
    e.add_argument(
        "--screens",
        metavar="DIR",
        help="instead: real screenshots with a truth.json (as ../shared/screens): tiles, faces, names, ms",
    )
    e.add_argument("--only", help="with --screens: only the images whose name contains this")
    return p


def note(text: str) -> None:
    """One line on stderr that does not stop the run."""
    if text:
        print(f"fer-overlay: note: {text}", file=sys.stderr, flush=True)


def analyze(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fer_overlay.session import Session, gallery_note
    from fer_overlay.sinks import AnnotatedWriter, SessionRecorder, SinkError, SummaryWriter
    from fer_overlay.sources import SourceError, open_source

    source = open_source(args.input, fps=args.fps, duration=args.duration)
    if args.out:  # check the output name before any work
        AnnotatedWriter(args.out, fps=args.fps)
    session = Session(source, args.model, layout=args.layout, detector=args.detector, threads=args.threads)
    note(session.pipeline.classifier.note)
    n = faces = 0
    gauge: list[float] = []
    noted = False  # the gallery note is given once
    finished = interrupted = False
    writer = None
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(session)
            sinks = []
            if args.out:
                writer = stack.enter_context(AnnotatedWriter(args.out, fps=args.fps))
                sinks.append(writer)
            if args.csv:
                sinks.append(stack.enter_context(SessionRecorder(args.csv, interval=args.interval)))
            if args.summary:
                sinks.append(stack.enter_context(SummaryWriter(args.summary)))
            # On a terminal only: in a pipe or a log file stderr keeps just the notes and the error line.
            bar = tqdm(
                total=source.total(), unit="frame", disable=args.quiet or not sys.stderr.isatty(), leave=False
            )
            try:
                for result in session:
                    for sink in sinks:
                        sink.append(result)
                    n += 1
                    faces += len(result.faces)
                    gauge.append(result.snapshot.engagement)
                    bar.update(1)
                    bar.set_postfix(faces=len(result.faces), participants=result.snapshot.participants)
                    hint = "" if noted else gallery_note(result)
                    if hint:
                        noted = True
                        bar.clear()
                        note(hint)
            except KeyboardInterrupt:  # Ctrl-C: the sinks still close, so the outputs hold every frame so far
                interrupted = True
            finally:
                bar.close()
            finished = True
    except (SourceError, SinkError) as exc:
        if n == 0 or finished:  # nothing analysed yet, or only writing the results at the end failed
            raise
        # The sinks are closed by now: every whole interval before the failure is in the CSV.
        kept = f", the rows recorded until then are in {args.csv}" if args.csv else ""
        print(f"fer-overlay: error: {exc}; stopped after {n} frame(s){kept}", file=sys.stderr)
        return EXIT_INPUT
    if writer is not None and writer.letterboxed:
        w, h = writer.size
        note(
            f"{writer.letterboxed} of {writer.frames} frame(s) differ in size from the first; they are "
            f"letterboxed into its {w}x{h} in {args.out}"
        )
    import numpy as np

    valid = [g for g in gauge if not np.isnan(g)]
    mean = f"{np.mean(valid):.0f}/100" if valid else "n/a"
    print(
        f"{n} frame(s) analysed, {faces} face(s) found, mean class engagement indicator {mean}"
        + ("" if faces else " (no faces found)")
    )
    if interrupted:
        print(f"fer-overlay: interrupted after {n} frame(s); outputs complete up to there", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _one_line(exc: BaseException) -> str:
    """An exception as one line: an OSError as "reason: file", anything else its text, squeezed."""
    from fer_overlay.sinks import SinkError

    if isinstance(exc, OSError) and not isinstance(exc, SinkError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fer_bench(module: str):
    """``fer_bench.MODULE``: the measurement package lives beside ``fer_overlay`` in a source checkout
    only (neither the wheel nor the desktop build carries it, nor the training code it loads FER2013
    with). The checkout's root is put on ``sys.path`` so ``fer-overlay bench`` works from any folder."""
    import importlib

    root = Path(__file__).resolve().parents[1]
    if (root / "fer_bench").is_dir() and (root / "training").is_dir() and str(root) not in sys.path:
        sys.path.append(str(root))
    try:
        return importlib.import_module(f"fer_bench.{module}")
    except ImportError:
        raise CheckoutOnly(
            "bench and evaluate are measurement tools of a source checkout (fer_bench/ and training/ "
            "beside fer_overlay/, FER2013 in $FER2013_CSV): this installation has only the app and analyze"
        ) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0].startswith("--") and argv[0] not in ("--help", "--version")):
        from fer_overlay.app import run_app  # no subcommand: the tray app (its own options, e.g. --start)

        return run_app(argv)
    args = _parser().parse_args(argv)
    from fer_overlay.classify import ModelError
    from fer_overlay.faces import DetectorUnavailable
    from fer_overlay.sources import SourceError

    try:
        if args.command == "analyze":
            return analyze(args)
        if args.command == "bench" and args.soak is not None:
            if args.soak <= 0:
                raise ValueError("--soak takes the simulated minutes, e.g. 90")
            report = _fer_bench("soak").main_line(
                args.soak,
                tiles=(args.tiles or [4])[0],
                csv_path=args.csv,
                model=args.model,
                detector=args.detector,
                threads=args.threads,
            )
            return 0 if report.complete else EXIT_INTERNAL
        if args.command == "bench":
            _fer_bench("bench").bench(
                tuple(args.tiles or (4, 9, 25, 49)), args.frames, args.model, args.detector, args.threads
            )
            return 0
        if args.command == "evaluate" and args.screens:
            bench = _fer_bench("screens")
            pipeline, start_ms = bench.start_pipeline(args.model, args.detector, args.threads)
            scores = bench.evaluate_screens(args.screens, pipeline, args.only)
            print("\n".join([s.line() for s in scores] + bench.total_lines(scores)))
            start = "session start (every model loaded and run once, before the first frame)"
            print(f"  {start}: {start_ms:.0f} ms")
            return 0
        if args.command == "evaluate":
            result = _fer_bench("evaluate").evaluate(
                args.split,
                args.faces,
                args.model,
                args.detector,
                args.threads,
                args.seed,
                args.calibrate,
                args.crop_scale,
            )
            print(f"{args.split}, {args.faces} faces:")
            print("\n".join(result.lines()))
            return 0
    except (
        SourceError,
        ModelError,
        DetectorUnavailable,
        CheckoutOnly,
        FileNotFoundError,
        ValueError,
        OSError,
    ) as exc:
        print(f"fer-overlay: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:  # before the first frame (loading the model, opening the input)
        print("fer-overlay: interrupted before the first frame was analysed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: still one line, unless a traceback is asked for
        if os.environ.get("FER_OVERLAY_DEBUG"):
            raise
        print(
            f"fer-overlay: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(set FER_OVERLAY_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
