"""Build the one-folder desktop app with PyInstaller and print its size.

    python installer/build.py                      # -> dist/fer-overlay/ (work files in build/pyinstaller/)
    python installer/build.py --dist DIR --work DIR

The spec (installer/fer_overlay.spec) builds for the platform this runs on; PyInstaller does not
cross-compile, so a Windows or macOS build is made on Windows or macOS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "installer" / "fer_overlay.spec"
NAME = "fer-overlay"


def folder_size(path: Path) -> int:
    """Bytes of every file below ``path`` (links not followed)."""
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def executable(dist: Path, name: str = NAME) -> Path:
    """The built program ``name`` (``fer-overlay`` windowed, ``fer-overlay-cli`` console) in ``dist``."""
    return dist / NAME / (name + (".exe" if sys.platform == "win32" else ""))


def build(dist: Path, work: Path, quiet: bool = False) -> tuple[Path, float]:
    """Run PyInstaller on the spec; returns the built folder and the seconds it took."""
    start = time.monotonic()
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--clean"]
    cmd += ["--distpath", str(dist), "--workpath", str(work)]
    if quiet:
        cmd += ["--log-level", "WARN"]
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return dist / NAME, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller's files")
    p.add_argument("--quiet", action="store_true", help="only PyInstaller's warnings")
    args = p.parse_args(argv)
    folder, seconds = build(args.dist.resolve(), args.work.resolve(), args.quiet)
    print(f"built {folder} in {seconds:.0f} s: {folder_size(folder) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
