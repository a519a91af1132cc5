"""Bootstrap and infrastructure updates: a template's state planned and applied under a journal lease, outputs written.

A :class:`StackSession` holds the lease ``infra:<stack>`` of the stack's journal
for as long as it is open: it first resolves what a dead apply left pending
(so a bootstrap killed half way resumes without making anything twice), then
plans the template against the stack (or an empty state, to destroy it) and
applies that plan with the journal and the lease. After an apply it writes the
outputs the agent needs to the SSM parameter ``/reconcile/<stack>/outputs``
and, if asked, to a local JSON file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

import reconcile as rc
from reconcile.journal import Journal, Lease, RecoveryReport

from .errors import AwsApiError, InfraError
from .providers import providers as stack_providers
from .resources import KINDS, STACK_TAG
from .session import Clients
from .template import InfraTemplate

OUTPUTS_TAG = "reconcile:outputs"
"""The tag of a stack's outputs parameter (not the stack tag: the template's providers never list it)."""


def outputs_parameter(stack: str) -> str:
    """The SSM parameter holding ``stack``'s outputs (JSON)."""
    return f"/reconcile/{stack}/outputs"


def read_outputs(clients: Clients, stack: str) -> dict[str, Any] | None:
    """The outputs the last apply of ``stack`` wrote, or ``None`` when it was never bootstrapped (or was destroyed)."""
    try:
        raw = clients.ssm.get_parameter(Name=outputs_parameter(stack))["Parameter"]["Value"]
    except AwsApiError as exc:
        if exc.code == "ParameterNotFound":
            return None
        raise
    value: dict[str, Any] = json.loads(raw)
    return value


@attrs.frozen
class InfraResult:
    """What an apply of a stack did.

    Attributes:
        result: the engine's ``ApplyResult``.
        outputs: the outputs written (empty after a destroy).
    """

    result: rc.ApplyResult
    outputs: Mapping[str, Any]


class StackSession:
    """One customer session on one stack: the lease held, pending work recovered, plans made and applied.

    Use it as a context manager::

        with StackSession(template, {"name": "acme"}, clients, journal, owner="alice") as s:
            plan = s.plan()
            print(s.render(plan))
            s.apply(plan)

    Args:
        template: the infrastructure template.
        params: its parameters (strings from a command line are converted).
        clients: the AWS clients (``connect(...)``).
        journal: the stack's journal (``Journal.open(url)``).
        owner: who holds the lease (shown to another applier).
        ttl: seconds the lease lasts past each renewal (a killed holder's lease frees itself after it).
        wait: seconds to wait for the lease while another holder has it.
        outputs_file: where to write the outputs after an apply, too.

    Raises:
        TemplateError: the parameters are wrong (all problems at once), before the lease is taken.
    """

    def __init__(
        self,
        template: InfraTemplate,
        params: Mapping[str, Any],
        clients: Clients,
        journal: Journal,
        *,
        owner: str = "customer",
        ttl: float = 60.0,
        wait: float = 0.0,
        outputs_file: str | Path | None = None,
    ) -> None:
        self.template = template
        self.params = dict(params)
        self.values = template.values(self.params)
        self.stack = str(self.values.get("name", ""))
        if not self.stack:
            raise InfraError(f"{template.source}: the template has no 'name' parameter to name the stack")
        self.clients = clients
        self.journal = journal
        self.owner = owner
        self.ttl = ttl
        self.wait = wait
        self.outputs_file = None if outputs_file is None else Path(outputs_file)
        self.providers = stack_providers(clients, self.stack)
        self.account_id = clients.account_id()
        self.lease: Lease | None = None
        self.recovery: RecoveryReport | None = None

    def __enter__(self) -> StackSession:
        self.lease = self.journal.lease(f"infra:{self.stack}", self.owner, self.ttl, wait=self.wait)
        try:
            self.recovery = self.journal.recover(self.providers, lease=self.lease)
        except BaseException:
            self.lease.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def desired(self) -> rc.State:
        """The template's state for this session's parameters."""
        return self.template.state(self.params, account_id=self.account_id, region=self.clients.region)

    def plan(self, *, destroy: bool = False) -> rc.Plan:
        """The plan from the stack as it is to the template's state (to nothing, with ``destroy``).

        Raises:
            ProtectedResourceError: the plan would delete or replace a protected resource
                (with ``destroy``: one the template protects); every one is listed.
        """
        desired = self.desired()
        if not destroy:
            return rc.plan(desired, rc.observe(self.providers))
        plan = rc.plan(rc.State(), rc.observe(self.providers))
        # An empty desired state carries no lifecycle: the template's says what is protected.
        kept = [
            (c.address, c.action, "protected by the template")
            for c in plan
            if c.action is rc.Action.DELETE and c.address in desired.addresses and desired[c.address].lifecycle.protect
        ]
        if kept:
            raise rc.ProtectedResourceError(kept, [str(a) for a, _, _ in kept])
        return plan

    def render(self, plan: rc.Plan) -> str:
        """The plan as text for review: sensitive fields hidden, and secret parameters' values scrubbed anywhere."""
        text = rc.render(plan)
        for secret in self.template.secrets(self.values):
            text = text.replace(secret, "(sensitive)")
        return text

    def apply(self, plan: rc.Plan, *, destroy: bool = False) -> InfraResult:
        """Apply ``plan`` under the lease, then write the outputs (or delete them, with ``destroy``).

        Raises:
            InfraError: the session is not open, or a step failed (each named; nothing after it ran).
            FencedError: another applier took the lease over.
        """
        if self.lease is None:
            raise InfraError("StackSession.apply: open the session first (with StackSession(...) as s)")
        result = rc.apply(plan, self.providers, journal=self.journal, lease=self.lease)
        if not result.ok:
            failed = "; ".join(f"{step}: {type(e).__name__}: {e}" for step, e in result.errors.items())
            raise InfraError(f"stack {self.stack}: the apply failed: {failed}")
        if destroy:
            self._delete_outputs()
            return InfraResult(result, {})
        outputs = self._outputs(rc.observe(self.providers))
        self._write_outputs(outputs)
        return InfraResult(result, outputs)

    def bootstrapped(self) -> bool:
        """Whether the stack's outputs exist (a bootstrap finished, and no destroy since)."""
        return read_outputs(self.clients, self.stack) is not None

    def _outputs(self, actual: rc.State) -> dict[str, Any]:
        made = self.template.resolve_outputs(
            self.params, actual, account_id=self.account_id, region=self.clients.region
        )
        token = f"/reconcile/{self.stack}/registration-token"
        return {
            "stack": self.stack,
            "region": self.clients.region,
            "account_id": self.account_id,
            "infrastructure_version": str(self.template.version),
            "control_plane_url": self.values.get("control_plane_url", ""),
            "registration_token_parameter": token if self.values.get("registration_token") else None,
            **made,
        }

    def _write_outputs(self, outputs: Mapping[str, Any]) -> None:
        text = json.dumps(outputs, indent=2, sort_keys=True)
        name = outputs_parameter(self.stack)
        try:
            self.clients.ssm.put_parameter(
                Name=name, Value=text, Type="String", Tags=[{"Key": OUTPUTS_TAG, "Value": self.stack}]
            )
        except AwsApiError as exc:
            if exc.code != "ParameterAlreadyExists":
                raise
            self.clients.ssm.put_parameter(Name=name, Value=text, Type="String", Overwrite=True)
        if self.outputs_file is not None:
            self.outputs_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.outputs_file.with_name(self.outputs_file.name + ".partial")
            partial.write_text(text + "\n")
            os.replace(partial, self.outputs_file)

    def _delete_outputs(self) -> None:
        try:
            self.clients.ssm.delete_parameter(Name=outputs_parameter(self.stack))
        except AwsApiError as exc:
            if exc.code != "ParameterNotFound":
                raise
        if self.outputs_file is not None and self.outputs_file.exists():
            self.outputs_file.unlink()


def open_journal(url: str) -> Journal:
    """The stack journal at ``url``, knowing every AWS resource class (to decode what it recorded).

    The journal holds desired values in the clear, a ``secret`` parameter's
    among them (docs/durability.md), so a SQLite journal's files are made
    readable by their owner only.
    """
    journal = Journal.open(url, types=KINDS.values())
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        for name in (path, path + "-wal", path + "-shm"):
            if os.path.exists(name):
                os.chmod(name, 0o600)
    return journal


__all__ = [
    "OUTPUTS_TAG",
    "STACK_TAG",
    "InfraResult",
    "StackSession",
    "open_journal",
    "outputs_parameter",
    "read_outputs",
]
