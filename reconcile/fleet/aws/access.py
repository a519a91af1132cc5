"""Debug access on AWS: a role whose trust allows nobody until the customer grants a principal access for a while.

The infrastructure template creates the role with :func:`closed_trust`; a grant
adds one statement per principal, allowing ``sts:AssumeRole`` only while
``aws:CurrentTime`` is before the grant's expiry (so AWS itself refuses it
after, even if nobody revokes); :func:`revoke_debug_access` and
:func:`expire_debug_grants` remove statements. The template keeps its hands off
the role's trust policy (``Lifecycle(ignore=("trust_policy",))``), so an
infrastructure update never undoes a grant.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from typing import Any

from .errors import InfraError
from .resources import normalize_policy
from .session import Clients

CLOSED_SID = "NobodyUntilGranted"
GRANT_PREFIX = "DebugGrant"


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def closed_trust(account_id: str) -> dict[str, Any]:
    """A trust policy that allows nobody: its one statement holds only before 1970 (a policy needs a statement)."""
    return normalize_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": CLOSED_SID,
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"DateLessThan": {"aws:CurrentTime": "1970-01-01T00:00:00Z"}},
                }
            ],
        }
    )


def _sid(principal: str) -> str:
    # Statement ids allow letters and digits only.
    return GRANT_PREFIX + re.sub(r"[^A-Za-z0-9]", "", principal)[-100:]


def _trust(clients: Clients, role: str) -> dict[str, Any]:
    document = clients.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(document, str):
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    return normalize_policy(document)


def _write(clients: Clients, role: str, statements: list[dict[str, Any]]) -> None:
    policy = normalize_policy({"Version": "2012-10-17", "Statement": statements})
    clients.iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(policy))


def debug_grants(clients: Clients, role: str) -> dict[str, float]:
    """The principals the debug role trusts now, each with its grant's expiry (Unix seconds)."""
    out = {}
    for s in _trust(clients, role)["Statement"]:
        if str(s.get("Sid", "")).startswith(GRANT_PREFIX):
            until = s["Condition"]["DateLessThan"]["aws:CurrentTime"][0]
            for principal in s["Principal"]["AWS"]:
                out[principal] = float(calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")))
    return out


def grant_debug_access(clients: Clients, role: str, principal: str, until: float, *, now: float | None = None) -> str:
    """Let ``principal`` (an IAM ARN) assume the debug role until ``until``; return the expiry as AWS sees it.

    A second grant for the same principal replaces the first.

    Raises:
        InfraError: ``until`` is not in the future, or ``principal`` is not an ARN.
        AwsApiError: the role does not exist, or IAM refused the policy.
    """
    now = time.time() if now is None else now
    if until <= now:
        raise InfraError(f"debug grant for {principal}: the expiry {_iso(until)} is not in the future")
    if not principal.startswith("arn:"):
        raise InfraError(f"debug grant: principal must be an IAM ARN (arn:aws:iam::...), got {principal!r}")
    sid = _sid(principal)
    kept = [s for s in _trust(clients, role)["Statement"] if s.get("Sid") != sid]
    grant = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
        "Condition": {"DateLessThan": {"aws:CurrentTime": _iso(until)}},
    }
    _write(clients, role, [*kept, grant])
    return _iso(until)


def revoke_debug_access(clients: Clients, role: str, principal: str | None = None) -> list[str]:
    """Remove the grant of ``principal`` (every grant when ``None``); return the principals removed."""
    statements = _trust(clients, role)["Statement"]
    removed, kept = [], []
    for s in statements:
        is_grant = str(s.get("Sid", "")).startswith(GRANT_PREFIX)
        if is_grant and (principal is None or principal in s["Principal"]["AWS"]):
            removed += s["Principal"]["AWS"]
        else:
            kept.append(s)
    if removed:
        _write(clients, role, kept)
    return removed


def expire_debug_grants(clients: Clients, role: str, *, now: float | None = None) -> list[str]:
    """Remove every grant whose expiry has passed (AWS already refuses them); return the principals removed."""
    now = time.time() if now is None else now
    expired = [p for p, until in debug_grants(clients, role).items() if until <= now]
    statements = _trust(clients, role)["Statement"]
    kept = [s for s in statements if not any(p in expired for p in s.get("Principal", {}).get("AWS", ()))]
    if expired:
        _write(clients, role, kept)
    return expired


__all__ = [
    "closed_trust",
    "debug_grants",
    "expire_debug_grants",
    "grant_debug_access",
    "revoke_debug_access",
]
