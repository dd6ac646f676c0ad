"""PyInstaller's entry script, the ``fer-overlay`` console script: the app without arguments, else the CLI."""

import sys

from fer_overlay.cli import main

if __name__ == "__main__":
    sys.exit(main())
