"""``python -m void_vfx`` runs the command line."""

import sys

from void_vfx.cli.main import main

sys.exit(main())
