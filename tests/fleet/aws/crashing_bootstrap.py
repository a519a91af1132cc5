"""``reconcile-fleet bootstrap`` in a process that hangs right after its first subnet is made, for a SIGKILL test.

Run as ``python -m tests.fleet.aws.crashing_bootstrap MARKER ARGS...``: the
subnet provider creates the subnet, touches MARKER and sleeps, so the test can
kill the process at the worst moment: the object exists, its outcome is not
journaled.
"""

from __future__ import annotations

import pathlib
import sys
import time

from reconcile.fleet import aws
from reconcile.fleet.cli import main

marker = pathlib.Path(sys.argv[1])
create = aws.SubnetProvider.create


def create_then_hang(self, desired, ctx):  # type: ignore[no-untyped-def]
    made = create(self, desired, ctx)
    marker.write_text(made.subnet_id)
    time.sleep(120)
    return made


aws.SubnetProvider.create = create_then_hang  # type: ignore[method-assign]
main(sys.argv[2:])
