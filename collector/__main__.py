"""`python -m collector`: the same command line as `aegis` (collector.app.cli)."""

import sys

from collector.app.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m collector"))
