"""Errors of the test harness: bad harness arguments, and broken provider contracts."""

from __future__ import annotations

from ..errors import ReconcileError


class HarnessError(ReconcileError, ValueError):
    """A ``reconcile.testing`` helper was given arguments it cannot work with.

    The message names the argument (and the class or field) at fault.
    """


class ContractViolation(AssertionError):
    """A provider (or the engine driving it) broke a contract checked by the harness.

    It is an ``AssertionError``, so test runners report it as a failure, not an error.

    Attributes:
        contract: the short name of the broken contract, e.g. ``"read-after-create"``.
        detail: what was called and what came back.
    """

    def __init__(self, contract: str, detail: str) -> None:
        self.contract = contract
        self.detail = detail
        super().__init__(f"provider contract broken: {contract}: {detail}")
