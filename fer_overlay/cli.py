"""Command line: ``fer-overlay analyze INPUT``, ``fer-overlay bench``, ``fer-overlay evaluate``.

    fer-overlay analyze class.mp4 --out annotated.mp4 --csv class.csv --summary summary.csv
    fer-overlay analyze screen:0,0,1920,1080 --duration 60 --csv live.csv
    fer-overlay analyze gallery.png --out annotated.png --layout 5x5
    fer-overlay bench
    fer-overlay evaluate --faces 300

Inputs it cannot read end with one line on stderr and exit status 2, never a traceback. Without a
subcommand (or with only the app's own options, such as ``--start``), ``fer-overlay`` starts the
tray app.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from fer_overlay import __version__

EXIT_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fer-overlay", description="Facial-expression indicators for online teaching."
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
    a.add_argument("--model", help="ONNX model (default: $FER_OVERLAY_MODEL or exported/fer_vgg32.onnx)")
    a.add_argument("--detector", help="face detector: mtcnn or haar (default: mtcnn when installed)")
    a.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    b = sub.add_parser("bench", help="per-stage speed on synthetic 1920x1080 galleries (needs FER2013)")
    b.add_argument("--tiles", type=int, nargs="+", default=[4, 9, 25, 49])
    b.add_argument("--frames", type=int, default=5, help="timed frames per gallery (default 5)")
    b.add_argument("--model")
    b.add_argument("--detector")
    b.add_argument("--threads", type=int, default=2)
    e = sub.add_parser("evaluate", help="tile recall, face recall and accuracy on synthetic galleries")
    e.add_argument("--split", default="PrivateTest", choices=["PublicTest", "PrivateTest"])
    e.add_argument("--faces", type=int, default=300)
    e.add_argument("--model")
    e.add_argument("--detector")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--calibrate", action="store_true", help="also print the measured crop convention")
    e.add_argument(
        "--crop-scale", type=float, help="try another crop scale (re-tune with a new model on PublicTest)"
    )
    return p


def analyze(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fer_overlay.session import Session
    from fer_overlay.sinks import AnnotatedWriter, SessionRecorder, SummaryWriter
    from fer_overlay.sources import FolderSource, ImageSource, VideoSource, open_source

    source = open_source(args.input, fps=args.fps, duration=args.duration)
    if args.out:  # check the output name before any work
        AnnotatedWriter(args.out, fps=args.fps)
    session = Session(source, args.model, layout=args.layout, detector=args.detector, threads=args.threads)
    n = faces = 0
    gauge: list[float] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(session)
        sinks = []
        if args.out:
            sinks.append(stack.enter_context(AnnotatedWriter(args.out, fps=args.fps)))
        if args.csv:
            sinks.append(stack.enter_context(SessionRecorder(args.csv, interval=args.interval)))
        if args.summary:
            sinks.append(stack.enter_context(SummaryWriter(args.summary)))
        is_file = isinstance(source, (ImageSource, VideoSource, FolderSource))
        bar = tqdm(
            total=source.total(),
            unit="frame",
            disable=args.quiet or not sys.stderr.isatty() and not is_file,
            leave=False,
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
        except KeyboardInterrupt:
            pass
        finally:
            bar.close()
    import numpy as np

    valid = [g for g in gauge if not np.isnan(g)]
    mean = f"{np.mean(valid):.0f}/100" if valid else "n/a"
    print(
        f"{n} frame(s) analysed, {faces} face(s) found, mean class engagement indicator {mean}"
        + ("" if faces else " (no faces found)")
    )
    return 0


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
        if args.command == "bench":
            from fer_overlay.bench import bench

            bench(tuple(args.tiles), args.frames, args.model, args.detector, args.threads)
            return 0
        if args.command == "evaluate":
            from fer_overlay.bench import evaluate

            result = evaluate(
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
    except (SourceError, ModelError, DetectorUnavailable, FileNotFoundError, ValueError, OSError) as exc:
        print(f"fer-overlay: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
