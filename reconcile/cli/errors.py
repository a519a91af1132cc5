"""The errors the ``reconcile`` command raises beside the engine's and the journal's (printed as one line)."""

from __future__ import annotations

from ..errors import ReconcileError


class LastAppliedStateError(ReconcileError):
    """A last applied state (file or journal record) cannot be used: unreadable, damaged, foreign, or not the plan's.

    Not the plan's: not what a saved plan was made with. The message names the file, or the journal record
    (``journal record 'cli/SOURCE'``), which is left as it was. Raised before anything is applied, except when
    an apply's state cannot be recorded after it ran (the message says so, after the apply's report).
    """
