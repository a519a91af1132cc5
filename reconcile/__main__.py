"""``python -m reconcile``: the ``reconcile`` command line."""

import sys

from reconcile.cli import main

sys.exit(main())
