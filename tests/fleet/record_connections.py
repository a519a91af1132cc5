"""Run ``reconcile-fleet`` with every outgoing socket connection appended to ``$RECORD_CONNECTIONS``.

The tests run the control plane through this to show it never connects to a cell.
"""

from __future__ import annotations

import os
import socket
import sys

_LOG = os.environ["RECORD_CONNECTIONS"]
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _note(address: object) -> None:
    with open(_LOG, "a") as f:
        f.write(f"{address!r}\n")


def connect(self: socket.socket, address: object) -> None:
    _note(address)
    _connect(self, address)  # type: ignore[arg-type]


def connect_ex(self: socket.socket, address: object) -> int:
    _note(address)
    return _connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
open(_LOG, "a").close()

from reconcile.fleet.cli import main  # noqa: E402

sys.argv = ["reconcile-fleet", *sys.argv[1:]]
main()
