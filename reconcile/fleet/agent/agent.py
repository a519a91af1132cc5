"""``Agent``: a cell's side of the fleet: register once, then poll the spec, fetch artifacts, apply, report.

The agent is the only side that opens connections between the cell and the
control plane. It keeps the last spec it received in its state directory, so
while the control plane is unreachable it goes on repairing drift against
that spec and the cell keeps running; it backs off with jitter and reports
as soon as the control plane answers again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pathlib
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import reconcile as rc

from ...journal import Journal, Lease, LeaseHeldError
from ..artifacts import ArtifactStore, sha256_file
from ..debug import DebugService
from ..errors import (
    AgentLockedError,
    ArtifactError,
    AuthenticationError,
    ControlPlaneUnavailableError,
    DigestMismatchError,
    FleetError,
    PermissionDeniedError,
)
from ..files import write_json
from ..flags import FLAGS_FILE, stale
from ..maintenance import MAINTENANCE_FILE, MaintenanceProvider, MaintenanceSwitch, component_env
from ..model import CellStatus, ComponentStatus, Condition, DesiredSpec
from ..runtime import Component, ProcessRuntime, desired_components, desired_state
from .http import ControlPlaneClient

log = logging.getLogger("reconcile.fleet.agent")

AGENT_VERSION = "0.1.0"
"""The version the agent reports."""

Applier = Callable[[rc.Plan, Mapping[str, Any]], rc.ApplyResult]
"""How a plan is applied; by default ``reconcile.apply`` with the agent's journal and lease."""

LEASE_TTL = 30.0
"""Seconds the agent's lease on its cell lasts past each renewal (it is renewed in the background)."""

_MESSAGE_MAX = 300
_INFRA_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")




def sanitise(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by ``(sensitive)`` and cut to a short length."""
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, "(sensitive)")
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


class Agent:
    """Runs a cell: registration, the poll/apply/report loop, backoff while the control plane is away.

    State directory layout: ``credential.json`` (mode 0600: cell id and
    credential), ``spec.json`` (the last spec received), ``artifacts/`` (the
    verified downloads), ``agent.lock`` (one agent per cell),
    ``maintenance.json`` (the maintenance window while one is on), and what
    the runtime keeps (``components/``, ``data/``, ``ports.json``).

    Updates of components the release marks ``requires_maintenance`` run in
    a maintenance window (``reconcile.fleet.maintenance``); the default
    runtime passes the window's file (and the clock file, if ``clock`` is a
    ``FileClock``) to every component.

    Args:
        control_plane: the control plane's URL.
        state_dir: the cell's state directory.
        runtime: the component provider; a ``ProcessRuntime`` on ``state_dir`` by default.
        poll_interval: seconds between polls; ``None`` takes what the control plane says at registration.
        jitter: the fraction each wait is varied by (0.1: ±10%).
        max_backoff: the longest wait while the control plane is unreachable.
        applier: applies a plan to the providers; by default ``reconcile.apply``
            with the journal in ``state-dir/journal.db`` and, inside ``run``, the
            lease on the cell, so a crashed apply is recovered and never repeated.
        durable: keep the journal (``False``: plain ``reconcile.apply``, for load runs).
        infrastructure_version: reported as the cell's infrastructure version when ``infra_outputs`` gives none.
        infra_outputs: the outputs file ``reconcile-fleet bootstrap`` / ``infra apply --outputs`` writes; its
            ``infrastructure_version`` is reported, read again at every report (so an infrastructure update
            shows without restarting the agent).
        transport: an httpx transport for the client (tests).
        clock: seconds since the epoch (injectable).
        rng: the jitter's random source.
    """

    def __init__(
        self,
        control_plane: str,
        state_dir: str | os.PathLike[str],
        *,
        runtime: Any = None,
        poll_interval: float | None = None,
        jitter: float = 0.1,
        max_backoff: float | None = None,
        applier: Applier | None = None,
        durable: bool = True,
        infrastructure_version: str | None = "1",
        infra_outputs: str | os.PathLike[str] | None = None,
        transport: Any = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.control_plane = control_plane
        self.state_dir = pathlib.Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.artifacts = ArtifactStore(self.state_dir / "artifacts")
        self.maintenance = MaintenanceSwitch(self.state_dir / MAINTENANCE_FILE, clock=clock)
        if runtime is None:
            env = component_env(self.maintenance.path, clock)
            runtime = ProcessRuntime(self.state_dir, self.artifacts, env=env)
        self.runtime = runtime
        self.providers = {
            "component": MaintenanceProvider(
                self.runtime, self.maintenance, self._maintenance_duration, on_change=self._maintenance_changed
            )
        }
        self._poll_interval = poll_interval
        self.jitter = jitter
        self._max_backoff = max_backoff
        self.applier = applier or self._apply
        self.journal: Journal | None = None
        if durable:
            self.journal = Journal.open(f"sqlite:///{self.state_dir.resolve() / 'journal.db'}", types=[Component])
        self.lease: Lease | None = None
        self.infrastructure_version = infrastructure_version
        self.infra_outputs = None if infra_outputs is None else pathlib.Path(infra_outputs)
        self._infra_problem: str | None = None
        self.transport = transport
        self.clock = clock
        self.rng = rng or random.Random()
        self.stop_event = threading.Event()
        self.spec: DesiredSpec | None = None
        self.etag: str | None = None
        self.conditions: dict[str, Condition] = {}
        self.last_apply: dict[str, Any] = {}
        self.applied_release: str | None = None
        self.offline_since: float | None = None
        self._judged_generation: int | None = None
        self._lock_file: IO[str] | None = None
        self._client: ControlPlaneClient | None = None
        self._handed_flags: dict[str, Any] | None = None
        # Debug access: only while a grant the customer made in the cell is valid (see reconcile.fleet.debug).
        self.debug = DebugService(
            self.state_dir, clock=clock, diagnostics=self.debug_diagnostics, secrets=self._debug_secrets
        )
        self._load()

    # -- files -------------------------------------------------------------

    @property
    def credential_path(self) -> pathlib.Path:
        """Where the credential is kept."""
        return self.state_dir / "credential.json"

    def _load(self) -> None:
        try:
            saved = json.loads((self.state_dir / "spec.json").read_text())
            self.spec = DesiredSpec.from_json(saved["spec"])
            self.etag = saved.get("etag")
            self.applied_release = saved.get("applied_release")
        except (OSError, ValueError, KeyError, FleetError):
            pass

    def _save_spec(self) -> None:
        if self.spec is not None:
            write_json(
                self.state_dir / "spec.json",
                {"spec": self.spec.to_json(), "etag": self.etag, "applied_release": self.applied_release},
            )

    @property
    def registered(self) -> bool:
        """Whether a credential is stored."""
        return self.credential_path.is_file()

    def _credential(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.credential_path.read_text())
        return data

    @property
    def cell_id(self) -> str:
        """The cell this agent runs (after registration)."""
        return str(self._credential()["cell_id"])

    @property
    def poll_interval(self) -> float:
        """Seconds between polls."""
        if self._poll_interval is not None:
            return self._poll_interval
        if self.registered:
            return float(self._credential().get("poll_interval", 60.0))
        return 60.0

    @property
    def max_backoff(self) -> float:
        """The longest wait between attempts while the control plane is unreachable."""
        return self._max_backoff if self._max_backoff is not None else self.poll_interval

    def client(self) -> ControlPlaneClient:
        """The HTTP client, authenticated with the cell's credential."""
        if self._client is None:
            self._client = ControlPlaneClient(
                self.control_plane, self._credential()["credential"], transport=self.transport
            )
        return self._client

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock (one agent per cell) while the body runs.

        Raises:
            AgentLockedError: another agent holds it.
        """
        f = (self.state_dir / "agent.lock").open("w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise AgentLockedError(f"another agent runs for {self.state_dir}") from None
        try:
            yield
        finally:
            f.close()

    # -- registration ------------------------------------------------------

    def register(self, token: str) -> str:
        """Trade a one-time token for the cell's credential, stored with mode 0600; the cell id.

        A state directory that already holds a credential is not registered again.

        Raises:
            AuthenticationError: the token is wrong, used or expired (``.code`` says which).
            ControlPlaneUnavailableError: the control plane cannot be reached.
        """
        if self.registered:
            return self.cell_id
        with ControlPlaneClient(self.control_plane, transport=self.transport) as anonymous:
            answer = anonymous.register(token.strip(), AGENT_VERSION)
        write_json(
            self.credential_path,
            {
                "cell_id": answer["cell_id"],
                "credential": answer["credential"],
                "poll_interval": float(answer.get("poll_interval", 60.0)),
                "control_plane": self.control_plane,
            },
        )
        log.info("registered as cell %s", answer["cell_id"])
        return str(answer["cell_id"])

    # -- the loop ----------------------------------------------------------

    def _jittered(self, seconds: float) -> float:
        return max(0.0, seconds * (1 + self.rng.uniform(-self.jitter, self.jitter)))

    def run(self, *, max_ticks: int | None = None) -> None:
        """Poll, apply and report until ``stop()`` (or ``max_ticks`` ticks); components keep running after.

        Raises:
            AgentLockedError: another agent runs for this state directory.
            AuthenticationError: the control plane no longer accepts the credential.
        """
        with self.locked(), self.leased(), self.debug.serving():
            for message in self.runtime.recover():
                log.warning("recovery: %s", message)
            self.recover()
            left = self.maintenance.clear()
            if left is not None:
                # Its owner (a dead agent of this cell) can no longer end it; the update it guarded is planned again.
                log.warning("ended the maintenance window a dead agent left (until %.0f: %s)", left.until, left.reason)
            backoff = min(1.0, self.max_backoff)
            ticks = 0
            while not self.stop_event.is_set() and (max_ticks is None or ticks < max_ticks):
                ticks += 1
                online = self.tick(wait=self.poll_interval if self.spec is not None and ticks > 1 else 0.0)
                if online:
                    backoff = min(1.0, self.max_backoff)
                else:
                    self.stop_event.wait(self._jittered(backoff))
                    backoff = min(backoff * 2, self.max_backoff)

    @contextlib.contextmanager
    def leased(self) -> Iterator[None]:
        """Hold the journal's lease on this cell while the body runs (nothing to hold without a journal).

        The caller holds the state directory's lock, so any other holder of the
        lease is a dead agent of this cell (the kernel freed its lock): its lease
        is taken over at once rather than waited out.
        """
        if self.journal is None:
            yield
            return
        name, owner = f"cell/{self.cell_id}", f"agent {os.getpid()}@{socket.gethostname()}"
        try:
            lease = self.journal.lease(name, owner, LEASE_TTL)
        except LeaseHeldError as held:
            log.warning("taking over the lease of a dead agent (%s)", held.owner)
            self.journal.force_unlock(name, held.lease_id)
            lease = self.journal.lease(name, owner, LEASE_TTL)
        self.lease = lease
        try:
            with lease:
                yield
        finally:
            self.lease = None

    def recover(self) -> None:
        """Resolve what a dead apply left pending in the journal (before anything is planned)."""
        if self.journal is None:
            return
        report = self.journal.recover(self.providers, lease=self.lease)
        for step in report.steps:
            op = getattr(step.op, "value", step.op)
            log.warning("recovery: pending %s of %s was %s", op, step.address, step.resolution)

    def _maintenance_duration(self, name: str) -> float | None:
        release = self.spec.release if self.spec is not None else None
        part = next((c for c in release.components if c.name == name), None) if release is not None else None
        return part.maintenance_duration if part is not None and part.requires_maintenance else None

    def _maintenance_changed(self) -> None:
        # Operators see the window open and close as it happens, not at the end of the apply.
        if self.registered:
            self.report()

    def _apply(self, plan: rc.Plan, providers: Mapping[str, Any]) -> rc.ApplyResult:
        return rc.apply(plan, providers, journal=self.journal, lease=self.lease)

    def close(self) -> None:
        """Close the journal and the HTTP client (components keep running)."""
        if self.journal is not None:
            self.journal.close()
        if self._client is not None:
            self._client.close()

    def stop(self) -> None:
        """Ask ``run`` to return after the current tick."""
        self.stop_event.set()

    def tick(self, wait: float = 0.0) -> bool:
        """One round: fetch the spec (long-polling up to ``wait``), apply it, report it.

        Returns:
            whether the control plane answered.
        """
        online = self.fetch(wait)
        self.hand_over_flags()
        if self.spec is not None:
            self.apply()
        if online:
            online = self.report()
        return online

    def fetch(self, wait: float) -> bool:
        """Fetch the spec if it changed; whether the control plane answered."""
        try:
            spec, etag = self.client().desired(self.cell_id, self.etag, self._jittered(wait) if wait else 0.0)
        except ControlPlaneUnavailableError as exc:
            self._went_offline(exc)
            return False
        except (AuthenticationError, PermissionDeniedError):
            log.error("the control plane refused this cell's credential; re-register with a new token")
            raise
        self._came_back()
        if spec is not None:
            if self.spec is None or spec.generation != self.spec.generation:
                log.info("spec generation %s received", spec.generation)
            self.spec, self.etag = spec, etag
            self._save_spec()
            self.debug.spec_received(spec.generation, spec.debug_grants)
        return True

    def _went_offline(self, exc: Exception) -> None:
        if self.offline_since is None:
            self.offline_since = self.clock()
            log.warning("control plane unreachable (%s); keeping the cell as it is", exc)

    def _came_back(self) -> None:
        if self.offline_since is not None:
            log.info("control plane reachable again after %.1fs", self.clock() - self.offline_since)
            self.offline_since = None

    def _secrets(self) -> list[str]:
        return [v for c in desired_components(self.spec.release if self.spec else None) for v in c.secrets.values()]

    def fetch_artifacts(self, components: list[Component]) -> None:
        """Download every artifact not yet held and check its sha256; a mismatch is deleted and raised.

        Raises:
            DigestMismatchError: the bytes received do not hash to the pinned digest.
            ControlPlaneUnavailableError: the download could not finish (it resumes next time).
        """
        for c in components:
            if self.artifacts.has(c.digest):
                continue
            part = self.artifacts.root / f".part-{c.digest}"
            self.client().download(c.digest, part)
            actual = sha256_file(part)
            if actual != c.digest:
                part.unlink(missing_ok=True)
                raise DigestMismatchError(c.digest, actual)
            os.replace(part, self.artifacts.path(c.digest))

    def apply(self) -> rc.ApplyResult | None:
        """Make the components match the spec; set the conditions and the last apply's summary."""
        assert self.spec is not None
        spec = self.spec
        desired = desired_components(spec.release)
        started = self.clock()
        try:
            self.fetch_artifacts(desired)
            # An apply of this process that raised may have left intents; resolve them before planning.
            self.recover()
            actual = rc.observe(self.providers)
            planned = rc.plan(desired_state(desired), actual)
            if not planned.is_empty and spec.generation != self._judged_generation:
                # A new generation is being rolled out here: say so before the (possibly long) apply.
                self._set("Progressing", True, "Applying", f"applying {len(planned.steps)} changes", spec.generation)
                self._set("Ready", False, "Applying", "the update is in progress", spec.generation)
                self.report()
            result = None if planned.is_empty else self.applier(planned, self.providers)
        except DigestMismatchError as exc:
            self._judge(spec, False, "DigestMismatch", str(exc))
            self.last_apply = {"at": started, "ok": False, "reason": "DigestMismatch"}
            log.error("generation %s refused: %s", spec.generation, exc)
            return None
        except ControlPlaneUnavailableError as exc:
            self._judge(spec, False, "ArtifactUnavailable", str(exc))
            return None
        except (ArtifactError, rc.ReconcileError, OSError) as exc:
            self._judge(spec, False, "ApplyFailed", f"{type(exc).__name__}: {exc}")
            self.last_apply = {"at": started, "ok": False, "reason": "ApplyFailed"}
            log.error("generation %s: %s", spec.generation, exc)
            return None
        if result is None:
            self._judge(spec, True, "Applied", "every component runs the target version")
            return None
        outcome = {
            "at": started,
            "duration": round(self.clock() - started, 3),
            "ok": result.ok,
            "generation": spec.generation,
            "steps": len(planned.steps),
            "succeeded": len(result.succeeded),
            "failed": len(result.failed),
            "skipped": len(result.skipped),
        }
        self.last_apply = outcome
        if result.ok:
            log.info("generation %s applied: %s steps", spec.generation, len(planned.steps))
            self._judge(spec, True, "Applied", f"applied {len(planned.steps)} changes")
        else:
            first = next(iter(result.errors.values()), None)
            message = f"{len(result.failed)} of {len(planned.steps)} changes failed: {first}"
            log.error("generation %s: %s", spec.generation, message)
            self._judge(spec, False, "ApplyFailed", message)
        return result

    def _judge(self, spec: DesiredSpec, ok: bool, reason: str, message: str) -> None:
        health = self.component_status()
        healthy = ok and all(c.health == "healthy" for c in health)
        if ok and not healthy:
            reason, message = "ComponentUnhealthy", "a component does not answer its health check"
        if healthy:
            self.applied_release = None if spec.release is None else spec.release.version
            self._save_spec()
        message = sanitise(message, self._secrets())
        self._set("Ready", healthy, reason, message, spec.generation)
        self._set("Degraded", not healthy, reason, message if not healthy else "", spec.generation)
        self._set("Progressing", False, reason, "", spec.generation)
        self._judged_generation = spec.generation

    def _set(self, kind: str, status: bool, reason: str, message: str, generation: int) -> None:
        previous = self.conditions.get(kind)
        changed_at = previous.last_transition if previous is not None and previous.status == status else self.clock()
        self.conditions[kind] = Condition(kind, status, reason, message, generation, changed_at)

    def component_status(self) -> list[ComponentStatus]:
        """What runs of each desired (or running) component, with its health; no sensitive field."""
        desired = {c.name: c for c in desired_components(self.spec.release if self.spec else None)}
        running = {c.name: c for c in self.runtime.list()}
        out = []
        for name in sorted({*desired, *running}):
            c = running.get(name)
            if c is None:
                out.append(ComponentStatus(name, "", "", "missing"))
            else:
                out.append(ComponentStatus(name, c.version, c.digest, self.runtime.health(c)))
        return out

    def status(self) -> CellStatus:
        """The status to report (built only from fields that are not sensitive)."""
        return CellStatus(
            observed_generation=self.spec.generation if self.spec else 0,
            release=self.applied_release,
            components=tuple(self.component_status()),
            conditions=tuple(self.conditions[k] for k in sorted(self.conditions)),
            last_apply=dict(self.last_apply),
            agent_version=AGENT_VERSION,
            infrastructure_version=self.infrastructure(),
            maintenance=self.maintenance.current(),
            flags=self.flag_values(),
            debug_access=self.debug.status(),
        )

    def infrastructure(self) -> str | None:
        """The infrastructure version to report: the outputs file's, else ``infrastructure_version``.

        A missing, unreadable or malformed outputs file falls back (logged once per problem, never raised:
        the cell keeps reporting).
        """
        if self.infra_outputs is None:
            return self.infrastructure_version
        problem = None
        try:
            version = json.loads(self.infra_outputs.read_text()).get("infrastructure_version")
        except FileNotFoundError:
            version, problem = None, "missing"
        except (OSError, ValueError, AttributeError) as exc:
            version, problem = None, f"unreadable ({type(exc).__name__})"
        if problem is None and (not isinstance(version, str) or not _INFRA_VERSION.match(version)):
            problem = f"no valid infrastructure_version in it ({str(version)[:40]!r})"
        if problem is not None:
            if problem != self._infra_problem:
                log.warning(
                    "infra outputs %s: %s; reporting %s", self.infra_outputs, problem, self.infrastructure_version
                )
            self._infra_problem = problem
            return self.infrastructure_version
        self._infra_problem = None
        return str(version)

    def report(self) -> bool:
        """Send the status; whether the control plane took it."""
        status = self.status()
        try:
            self.client().put_status(self.cell_id, status.to_json())
        except ControlPlaneUnavailableError as exc:
            self._went_offline(exc)
            return False
        if status.debug_access is not None:
            self.debug.acknowledge(status.debug_access.events)
        return True

    # -- feature flags -------------------------------------------------------

    def flag_values(self) -> dict[str, dict[str, Any]]:
        """The flag values the cell holds (key -> value, variant, reason): the last spec's.

        While the control plane is unreachable they are the same values with
        reason ``STALE``: the cell never falls back to defaults it did not receive.
        """
        values = {k: dict(v) for k, v in (self.spec.flags if self.spec is not None else {}).items()}
        return stale(values) if self.offline_since is not None else values

    def hand_over_flags(self) -> None:
        """Write the flag values to ``state-dir/flags.json``, which components read (``RECONCILE_FLAGS_FILE``).

        Written atomically and only when something in it changed, so a
        component reading it on every request sees a new value within a tick,
        with no restart and no release.
        """
        data = {
            "generation": self.spec.generation if self.spec is not None else 0,
            "stale": self.offline_since is not None,
            "flags": self.flag_values(),
        }
        if data == self._handed_flags:
            return
        write_json(self.state_dir / FLAGS_FILE, data)
        self._handed_flags = data
    def debug_diagnostics(self) -> dict[str, Any]:
        """What the debug endpoint shows of the cell: what runs and what the agent knows, nothing secret."""
        return {
            "cell_id": self.cell_id if self.registered else None,
            "generation": self.spec.generation if self.spec else 0,
            "release": self.applied_release,
            "components": [c.to_json() for c in self.component_status()],
            "conditions": [c.to_json() for c in list(self.conditions.values())],
            "last_apply": dict(self.last_apply),
            "agent_version": AGENT_VERSION,
            "infrastructure_version": self.infrastructure_version,
            "offline_since": self.offline_since,
        }

    def _debug_secrets(self) -> list[str]:
        credential = [str(self._credential()["credential"])] if self.registered else []
        return self._secrets() + credential
