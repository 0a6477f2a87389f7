"""``python -m swiftsim``: runs the command line of :mod:`swiftsim.cli`."""

import sys

from swiftsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
