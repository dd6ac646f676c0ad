"""``python -m fer_overlay.app``: the desktop app without the CLI."""

from __future__ import annotations

import sys

from fer_overlay.app import run_app

if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1:]))
