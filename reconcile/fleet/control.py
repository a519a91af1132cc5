"""``ControlPlane``: what the control plane does, free of any web framework (the server maps HTTP onto it).

It authenticates (admin token, one-time registration tokens, per-cell
credentials, all kept only as hashes and compared in constant time),
authorizes (a cell's credential reaches only that cell), validates every
input, changes the store, and writes the audit log. It never connects to a cell.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from . import credentials as tokens
from .artifacts import ArtifactStore, read_manifest
from .errors import (
    ArtifactError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from .flags import Flag, FlagDefinitionError, check_flag_key
from .history import FleetHistory
from .labels import check_label_key, check_labels
from .model import STAGES, Cell, CellStatus, DesiredSpec, Release, ReleaseComponent, check_digest, check_name
from .rollout import Rollouts
from .store import BackendFleetStore, FleetStore, StoreRolloutRecords
from .support import Support

log = logging.getLogger("reconcile.fleet.control")

DEFAULT_TOKEN_TTL = 24 * 3600.0
"""Seconds a registration token stays valid: 24 hours."""

DEFAULT_POLL_INTERVAL = 60.0
"""Seconds between a cell's polls, as the control plane tells agents: one minute."""


class ControlPlane:
    """The control plane's operations over a store and an artifact store.

    Args:
        store: where records live.
        artifacts: where artifacts live (content-addressed).
        admin_token: the operator's bearer token (only its hash is kept).
        clock: returns the time in seconds since the epoch (injectable for tests).
        poll_interval: what agents are told to poll at.

    Attributes:
        rollouts: the staged rollouts (``Rollouts`` over the store, on the same clock).
        history: the check-in rate and release adoption over time (``FleetHistory``, in memory).
        support: the support deadlines (``Support``: template versions, each cell's support status, the freeze).
    """

    def __init__(
        self,
        store: FleetStore,
        artifacts: ArtifactStore,
        *,
        admin_token: str,
        clock: Callable[[], float] = time.time,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if len(admin_token) < 16:
            raise InvalidInputError("admin token: must be at least 16 characters")
        self.store = store
        self.artifacts = artifacts
        self._admin_hash = tokens.hash_secret(admin_token)
        self.clock = clock
        self.poll_interval = poll_interval
        # Support deadlines: a cell out of SLA is frozen, so rollouts skip it (and say why).
        self.support = Support(store, clock=clock)
        # In a store's tables, rollouts are shared by every replica over it; elsewhere, kept in this process.
        records = StoreRolloutRecords(store) if isinstance(store, BackendFleetStore) else None
        self.rollouts = Rollouts(store, clock=clock, records=records, skip_check=self.support.skip_reason)
        self.support.rollouts = self.rollouts
        self.history = FleetHistory(clock=clock)

    # -- authentication ----------------------------------------------------

    def check_admin(self, bearer: str | None) -> None:
        """Accept the admin token.

        Raises:
            AuthenticationError: missing or wrong.
        """
        if not bearer:
            raise AuthenticationError("missing_credential", "an admin bearer token is required")
        if not tokens.matches(bearer, self._admin_hash):
            raise AuthenticationError("invalid_credential", "the admin token is not valid")

    def authenticate_cell(self, bearer: str | None) -> str:
        """The cell a credential belongs to.

        Raises:
            AuthenticationError: missing, malformed or wrong credential.
        """
        if not bearer:
            raise AuthenticationError("missing_credential", "a cell credential is required")
        cell_id = tokens.cell_of(bearer, tokens.CREDENTIAL_PREFIX)
        if not tokens.matches(bearer, self.store.credential_hash(cell_id)):
            raise AuthenticationError("invalid_credential", "the cell credential is not valid")
        return cell_id

    def authorize_cell(self, bearer: str | None, cell_id: str) -> None:
        """Accept a credential for ``cell_id`` only.

        Raises:
            AuthenticationError: not a valid credential.
            PermissionDeniedError: a valid credential of another cell.
        """
        owner = self.authenticate_cell(bearer)
        if owner != cell_id:
            self._audit(f"cell:{owner}", "cell.denied", cell_id, "credential of another cell")
            raise PermissionDeniedError(f"this credential may not act for cell {cell_id!r}")

    def authorize_artifact(self, bearer: str | None) -> str:
        """Accept an admin token or any cell's credential (artifacts are the same for every cell); the actor."""
        if bearer and bearer.startswith(tokens.CREDENTIAL_PREFIX + "."):
            return "cell:" + self.authenticate_cell(bearer)
        self.check_admin(bearer)
        return "admin"

    def _audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        self.store.audit(self.clock(), actor, action, target, detail)
        log.info("%s %s %s %s", actor, action, target, detail)

    # -- cell-facing -------------------------------------------------------

    def register(self, body: Any) -> dict[str, Any]:
        """Trade a one-time registration token for the cell's credential.

        Args:
            body: ``{"token": ..., "agent_version": ...}``.

        Returns:
            ``{"cell_id", "credential", "poll_interval"}``.

        Raises:
            AuthenticationError: the token is malformed, wrong (``invalid_token``),
                already used (``token_used``) or expired (``token_expired``).
        """
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise InvalidInputError("register: expected an object with a string field 'token'")
        token = body["token"]
        cell_id = tokens.cell_of(token, tokens.REGISTRATION_PREFIX)
        reg = self.store.registration(cell_id)
        if reg is not None and reg.token_hash is None and reg.used_at is None and self.clock() >= reg.expires_at:
            # Purged by the registration-expiry controller: nothing is left to check it against.
            raise AuthenticationError("token_expired", "the registration token has expired; ask for a new one")
        if reg is None or not tokens.matches(token, reg.token_hash):
            raise AuthenticationError("invalid_token", "the registration token is not valid")
        if reg.used_at is not None:
            self._audit(f"cell:{cell_id}", "cell.register.refused", cell_id, "token already used")
            raise AuthenticationError("token_used", "the registration token was already used; ask for a new one")
        now = self.clock()
        if now >= reg.expires_at:
            self._audit(f"cell:{cell_id}", "cell.register.refused", cell_id, "token expired")
            raise AuthenticationError("token_expired", "the registration token has expired; ask for a new one")
        credential = tokens.new_secret(tokens.CREDENTIAL_PREFIX, cell_id)
        stored = reg.token_hash
        assert stored is not None  # matches() is false without a stored hash
        if not self.store.complete_registration(cell_id, stored, tokens.hash_secret(credential), now):
            raise AuthenticationError("token_used", "the registration token was already used; ask for a new one")
        agent = body.get("agent_version")
        self._audit(f"cell:{cell_id}", "cell.register", cell_id, f"agent {agent}" if isinstance(agent, str) else "")
        return {"cell_id": cell_id, "credential": credential, "poll_interval": self.poll_interval}

    def desired(self, cell_id: str) -> DesiredSpec:
        """The cell's desired spec.

        Raises:
            NotFoundError: no such cell.
        """
        spec = self.store.get_spec(cell_id)
        if spec is None:
            raise NotFoundError(f"no cell {cell_id!r}")
        return spec

    def check_in(self, bearer: str | None, cell_id: str) -> int:
        """Accept a credential for ``cell_id`` only and return the cell's spec generation: one store read.

        The check-in path (a poll that usually answers 304): the same checks as
        ``authorize_cell`` (a credential of another cell goes through it, so the
        refusal is audited), with the credential hash and the generation read
        together.

        Raises:
            AuthenticationError: not a valid credential (also: no such cell).
            PermissionDeniedError: a valid credential of another cell.
        """
        if not bearer:
            raise AuthenticationError("missing_credential", "a cell credential is required")
        owner = tokens.cell_of(bearer, tokens.CREDENTIAL_PREFIX)
        if owner != cell_id:
            self.authorize_cell(bearer, cell_id)
        found = self.store.check_in(cell_id)
        if not tokens.matches(bearer, None if found is None else found[0]) or found is None:
            raise AuthenticationError("invalid_credential", "the cell credential is not valid")
        return found[1]

    @property
    def check_in_blocks(self) -> bool:
        """Whether ``check_in`` may wait on a remote store (run it in a thread), or is a local read (run it inline)."""
        return not getattr(self.store, "reads_in_process", False)

    def report_status(self, cell_id: str, body: Any) -> CellStatus:
        """Validate and record a cell's status (the receive time is the control plane's own).

        Raises:
            InvalidInputError: the status is malformed (the message names the field).
        """
        status = attrs.evolve(CellStatus.from_json(body), reported_at=self.clock())
        self.store.put_status(cell_id, status)
        self.history.check_in(cell_id, status.release)
        if status.debug_access is not None:
            # The cell's debug audit trail is kept here too, each event once, and shows in the audit log.
            for e in self.store.record_debug_events(cell_id, status.debug_access.events, status.reported_at):
                self._audit(f"cell:{cell_id}", f"debug.{e.event}", cell_id, f"#{e.seq} {e.grant} {e.by} {e.detail}")
        return status

    # -- operator-facing ---------------------------------------------------

    def create_cell(self, body: Any) -> dict[str, Any]:
        """Create a cell and its one-time registration token.

        Args:
            body: ``{"id", "stage", "customer"?, "region"?, "release"?, "token_ttl"?, "labels"?}``.

        Returns:
            ``{"cell", "spec", "registration_token", "token_expires_at"}``; the token is shown only here.
        """
        if not isinstance(body, dict):
            raise InvalidInputError("cell: expected an object")
        unknown = sorted(set(body) - {"id", "stage", "customer", "region", "release", "token_ttl", "labels"})
        if unknown:
            raise InvalidInputError(f"cell: unknown field {unknown[0]!r}")
        cell_id = check_name(body.get("id"), "cell.id")
        stage = body.get("stage")
        if stage not in STAGES:
            raise InvalidInputError(f"cell.stage: expected one of {', '.join(STAGES)}, got {stage!r}")
        texts = {}
        for key in ("customer", "region"):
            value = body.get(key, "")
            if not isinstance(value, str) or len(value) > 128:
                raise InvalidInputError(f"cell.{key}: expected a string of at most 128 characters")
            texts[key] = value
        release = body.get("release")
        if release is not None and self.store.get_release(release) is None:
            raise NotFoundError(f"cell.release: no release {release!r}")
        labels = check_labels(body.get("labels", {}), "cell.labels")
        ttl = self._ttl(body.get("token_ttl"))
        now = self.clock()
        token = tokens.new_secret(tokens.REGISTRATION_PREFIX, cell_id)
        cell = Cell(cell_id, stage, texts["customer"], texts["region"], now, False, release, labels=labels)
        spec = self.store.create_cell(cell, tokens.hash_secret(token), now + ttl)
        self._audit("admin", "cell.create", cell_id, f"stage {stage}")
        return {
            "cell": cell.to_json(),
            "spec": spec.to_json(),
            "registration_token": token,
            "token_expires_at": now + ttl,
        }

    @staticmethod
    def _ttl(value: Any) -> float:
        if value is None:
            return DEFAULT_TOKEN_TTL
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 30 * 24 * 3600:
            raise InvalidInputError("token_ttl: expected seconds, more than 0 and at most 30 days")
        return float(value)

    def reissue_token(self, cell_id: str, body: Any) -> dict[str, Any]:
        """A new one-time registration token for a cell (the old one stops working)."""
        ttl = self._ttl(body.get("token_ttl") if isinstance(body, dict) else None)
        now = self.clock()
        token = tokens.new_secret(tokens.REGISTRATION_PREFIX, cell_id)
        if not self.store.reissue_token(cell_id, tokens.hash_secret(token), now + ttl):
            raise NotFoundError(f"no cell {cell_id!r}")
        self._audit("admin", "cell.token", cell_id)
        return {"registration_token": token, "token_expires_at": now + ttl}

    def cell_view(self, cell: Cell) -> dict[str, Any]:
        """A cell with its spec and latest status, as operators see it.

        ``maintenance`` is the window the cell last reported while it lasts by the control plane's clock
        (one an agent reported and then died in has ended by itself at its end time), else ``None``.
        """
        spec = self.store.get_spec(cell.id)
        status = self.store.get_status(cell.id)
        support = self.support.status(cell.id)
        window = None if status is None else status.maintenance
        return {
            "cell": cell.to_json(),
            "spec": None if spec is None else spec.to_json(),
            "status": None if status is None else status.to_json(),
            "support": None if support is None else support.to_json(),
            "maintenance": window.to_json() if window is not None and window.active(self.clock()) else None,
        }

    def show_cell(self, cell_id: str) -> dict[str, Any]:
        """One cell's view.

        Raises:
            NotFoundError: no such cell.
        """
        cell = self.store.get_cell(cell_id)
        if cell is None:
            raise NotFoundError(f"no cell {cell_id!r}")
        return {**self.cell_view(cell), "debug_audit": self.debug_audit(cell_id, 20)}

    def debug_audit(self, cell_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest debug audit events a cell reported (read-only: the control plane cannot grant debug access).

        Raises:
            NotFoundError: no such cell (the trail of a deleted cell is kept, but not shown here).
        """
        if self.store.get_cell(cell_id) is None:
            raise NotFoundError(f"no cell {cell_id!r}")
        return [e.to_json() for e in self.store.debug_audit(cell_id, limit)]

    def list_cells(self) -> list[dict[str, Any]]:
        """Every cell's view."""
        return [self.cell_view(c) for c in self.store.list_cells()]

    def set_target(self, cell_id: str, body: Any) -> DesiredSpec:
        """Pin a cell to a release (``{"release": "2026.12.1"}``) or let it follow the newest (``null``).

        Raises:
            SupportFreezeError: the cell is out of SLA, so its release is frozen.
        """
        if not isinstance(body, dict) or "release" not in body:
            raise InvalidInputError("target: expected an object with field 'release' (a version or null)")
        version = body["release"]
        if version is not None and not isinstance(version, str):
            raise InvalidInputError("target.release: expected a version or null")
        self.support.check_unfrozen(cell_id)
        spec = self.store.set_target(cell_id, version)
        self._audit("admin", "cell.target", cell_id, f"release {version or 'newest'} generation {spec.generation}")
        return spec

    def delete_cell(self, cell_id: str) -> None:
        """Forget a cell (its credential stops working)."""
        if not self.store.delete_cell(cell_id):
            raise NotFoundError(f"no cell {cell_id!r}")
        self.history.forget(cell_id)
        self._audit("admin", "cell.delete", cell_id)

    def artifact_stored(self, digest: str) -> dict[str, Any]:
        """After an upload: the stored artifact's digest, name and version (its manifest is checked)."""
        path = self.artifacts.verify(digest)
        try:
            manifest = read_manifest(path)
        except ArtifactError:
            path.unlink(missing_ok=True)
            raise
        self._audit("admin", "artifact.upload", digest, f"{manifest.name} {manifest.version}")
        return {"digest": digest, "name": manifest.name, "version": manifest.version}

    def publish_release(self, body: Any) -> tuple[Release, list[str]]:
        """Publish a release whose components are already uploaded; cells following the newest get it.

        Support is judged first: a cell out of SLA follows no release (its release is frozen).

        Args:
            body: ``{"version", "components": [{"name", "digest", "config"?, "requires_maintenance"?,
                "maintenance_duration"?}]}``; each
                component's version is read from its artifact's manifest (which must
                have the same name).

        Returns:
            the release, and the ids of the cells whose spec changed.
        """
        if not isinstance(body, dict) or not isinstance(body.get("components"), list):
            raise InvalidInputError("release: expected an object with a list 'components'")
        components = []
        for i, raw in enumerate(body["components"]):
            where = f"release.components[{i}]"
            if not isinstance(raw, dict):
                raise InvalidInputError(f"{where}: expected an object")
            digest = check_digest(raw.get("digest"), f"{where}.digest")
            if not self.artifacts.has(digest):
                raise NotFoundError(f"{where}.digest: no artifact {digest}; upload it first")
            manifest = read_manifest(self.artifacts.path(digest))
            name = raw.get("name", manifest.name)
            if name != manifest.name:
                raise InvalidInputError(f"{where}.name: {name!r}, but the artifact is {manifest.name!r}")
            unknown = sorted(set(raw) - {"name", "digest", "config", "requires_maintenance", "maintenance_duration"})
            if unknown:
                raise InvalidInputError(f"{where}: unknown field {unknown[0]!r}")
            fields = {"name": name, "version": manifest.version, "digest": digest, "config": raw.get("config", {})}
            # Maintenance is the release's say (checked by ReleaseComponent), not the artifact's.
            fields.update({k: raw[k] for k in ("requires_maintenance", "maintenance_duration") if k in raw})
            components.append(ReleaseComponent.from_json(fields, where).to_json())
        release = Release.from_json(
            {"version": body.get("version"), "components": components, "published_at": self.clock()}
        )
        # Judge support first, so a cell past its deadline is frozen before the release lands.
        self.support.reconcile_all()
        changed = self.store.publish_release(release)
        self._audit("admin", "release.publish", release.version, f"{len(changed)} cells follow")
        return release, changed

    def expire_registration(self, cell_id: str, *, store: FleetStore | None = None) -> float | None:
        """Purge a cell's registration token if it expired unused; seconds until it expires, if it has not yet.

        The reconcile of the registration-expiry controller: level-triggered
        (it reads the store, never an event) and idempotent, so running it
        twice, or on two replicas at once, purges and audits once.

        Args:
            cell_id: the cell.
            store: where to read and write: the leader's fenced view of the store; this control plane's by default.
        """
        store = self.store if store is None else store
        reg = store.registration(cell_id)
        if reg is None or reg.token_hash is None or reg.used_at is not None:
            return None
        now = self.clock()
        if now < reg.expires_at:
            return reg.expires_at - now
        if store.expire_registration(cell_id, now):
            store.audit(now, "controller", "cell.token.expired", cell_id, "unused registration token purged")
            log.info("controller cell.token.expired %s", cell_id)
        return None

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries."""
        return [e.to_json() for e in self.store.list_audit(limit)]

    # -- labels and feature flags --------------------------------------------

    def label_cell(self, cell_id: str, body: Any) -> dict[str, Any]:
        """Set and remove a cell's labels (``{"set": {k: v}, "remove": [k]}``); its flags are evaluated again.

        Returns:
            ``{"cell", "spec"}``: the spec has a new generation only if the cell's flag values changed.

        Raises:
            InvalidInputError: a bad body, key or value (named), or a key both set and removed.
            NotFoundError: no such cell.
        """
        if not isinstance(body, dict):
            raise InvalidInputError("labels: expected an object {'set': {...}, 'remove': [...]}")
        unknown = sorted(set(body) - {"set", "remove"})
        if unknown:
            raise InvalidInputError(f"labels: unknown field {unknown[0]!r}")
        to_set = check_labels(body.get("set", {}), "labels.set")
        remove = body.get("remove", [])
        if not isinstance(remove, list) or len(remove) > 64:
            raise InvalidInputError("labels.remove: expected a list of at most 64 label keys")
        to_remove = [check_label_key(k, f"labels.remove[{i}]") for i, k in enumerate(remove)]
        both = sorted(set(to_set) & set(to_remove))
        if both:
            raise InvalidInputError(f"labels: label {both[0]!r} is both set and removed")
        cell, spec = self.store.update_labels(cell_id, to_set, to_remove)
        edits = [f"{k}={v}" for k, v in sorted(to_set.items())] + [f"{k}-" for k in to_remove]
        self._audit("admin", "cell.labels", cell_id, f"{' '.join(edits) or 'no change'}; generation {spec.generation}")
        return {"cell": cell.to_json(), "spec": spec.to_json()}

    def put_flag(self, key: str, body: Any) -> dict[str, Any]:
        """Create or replace the flag ``key`` (a ``Flag`` definition; its ``key`` may be left out) and evaluate it.

        Every cell whose flag values change gets them in a new spec generation;
        the others keep theirs. The change is audited with the new definition.

        Returns:
            ``{"flag", "revision", "updated_at", "changed": [cell ids]}``.

        Raises:
            FlagDefinitionError: the definition is malformed (the path is named), or its key is not ``key``.
        """
        check_flag_key(key, "flag key")
        if isinstance(body, dict) and "key" not in body:
            body = {**body, "key": key}
        flag = Flag.from_json(body)
        if flag.key != key:
            raise FlagDefinitionError("flag.key", f"{flag.key!r} differs from the flag addressed, {key!r}")
        now = self.clock()
        revision, changed = self.store.put_flag(flag, now)
        definition = json.dumps(flag.to_json(), sort_keys=True, separators=(",", ":"))
        if len(definition) > 600:
            definition = definition[:599] + "…"
        self._audit("admin", "flag.set", key, f"revision {revision}, {len(changed)} cells changed: {definition}")
        return {"flag": flag.to_json(), "revision": revision, "updated_at": now, "changed": changed}

    def list_flags(self) -> list[dict[str, Any]]:
        """Every flag's definition, revision and update time."""
        return [
            {"flag": s.flag.to_json(), "revision": s.revision, "updated_at": s.updated_at}
            for s in self.store.list_flags()
        ]

    def show_flag(self, key: str) -> dict[str, Any]:
        """A flag with, per cell, the value its spec carries and the value the cell last reported.

        Raises:
            NotFoundError: no such flag.
        """
        stored = self.store.get_flag(key)
        if stored is None:
            raise NotFoundError(f"no flag {key!r}")
        cells = []
        for cell in self.store.list_cells():
            spec = self.store.get_spec(cell.id)
            status = self.store.get_status(cell.id)
            cells.append(
                {
                    "cell": cell.id,
                    "desired": None if spec is None else spec.flags.get(key),
                    "generation": None if spec is None else spec.generation,
                    "reported": None if status is None else status.flags.get(key),
                    "observed_generation": None if status is None else status.observed_generation,
                }
            )
        return {
            "flag": stored.flag.to_json(),
            "revision": stored.revision,
            "updated_at": stored.updated_at,
            "cells": cells,
        }
