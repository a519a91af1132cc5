"""The ``reconcile`` command line: plan, apply, show, history, recover and unlock (extra ``cli``, on click)."""

from __future__ import annotations

import sys

from .errors import LastAppliedStateError

__all__ = ["LastAppliedStateError", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``reconcile`` command with ``argv`` (``sys.argv[1:]`` by default); return the exit code.

    Exit codes: 0 success (``plan``: no changes), 2 ``plan`` found changes, 1 any error.
    """
    try:
        from ._commands import run
    except ImportError as exc:
        if getattr(exc, "name", None) != "click":
            raise
        print("error: the reconcile command needs click: pip install 'reconcile[cli]'", file=sys.stderr)
        return 1
    return run(sys.argv[1:] if argv is None else argv)
