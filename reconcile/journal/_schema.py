"""The journal's tables, as forward migrations of the ``journal`` schema component."""

from __future__ import annotations

from ..storage import Migration, Tx

APPLIES = "reconcile_applies"
OPS = "reconcile_ops"
KNOWN = "reconcile_known"
KEYS = "reconcile_open_keys"
LAST_APPLIED = "reconcile_last_applied"


def _v1(tx: Tx) -> None:
    tx.execute(
        f"CREATE TABLE {APPLIES} (id TEXT PRIMARY KEY, lease TEXT, epoch BIGINT, owner TEXT, "
        "started DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION, status TEXT NOT NULL, "
        "steps BIGINT NOT NULL, summary TEXT, digest TEXT NOT NULL)"
    )
    tx.execute(
        f"CREATE TABLE {OPS} (apply_id TEXT NOT NULL, seq BIGINT NOT NULL, address TEXT NOT NULL, "
        "kind TEXT NOT NULL, op TEXT NOT NULL, attempt BIGINT NOT NULL, idem_key TEXT NOT NULL, desired TEXT, "
        "epoch BIGINT, started DOUBLE PRECISION NOT NULL, digest TEXT NOT NULL, status TEXT NOT NULL, "
        "finished DOUBLE PRECISION, actual TEXT, error TEXT, outcome_digest TEXT, PRIMARY KEY (apply_id, seq))"
    )
    tx.execute(f"CREATE INDEX reconcile_ops_pending ON {OPS} (apply_id, seq) WHERE status = 'pending'")
    tx.execute(
        f"CREATE TABLE {KNOWN} (address TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT, "
        "updated DOUBLE PRECISION NOT NULL, digest TEXT NOT NULL)"
    )
    tx.execute(f"CREATE TABLE {KEYS} (address TEXT PRIMARY KEY, idem_key TEXT NOT NULL)")


def _v2(tx: Tx) -> None:
    # One row per name: the state text as ``reconcile.dumps`` writes it, and a digest binding it to its name.
    tx.execute(
        f"CREATE TABLE {LAST_APPLIED} (name TEXT PRIMARY KEY, state TEXT NOT NULL, "
        "recorded DOUBLE PRECISION NOT NULL, digest TEXT NOT NULL)"
    )


MIGRATIONS = (
    Migration(1, "applies, intents and outcomes, last known values, open create keys", _v1),
    Migration(2, "last applied desired states, by name", _v2),
)
"""The ``journal`` component's schema history."""
