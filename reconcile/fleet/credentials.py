"""Tokens and credentials: generated at random, stored only as hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .errors import AuthenticationError

REGISTRATION_PREFIX = "rt"
CREDENTIAL_PREFIX = "rc"


def new_secret(prefix: str, cell_id: str) -> str:
    """A fresh high-entropy token ``<prefix>.<cell_id>.<random>`` (the cell id lets the server find the hash)."""
    return f"{prefix}.{cell_id}.{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """The stored form of a token: its sha256 hex digest.

    The tokens carry 256 random bits, so a fast hash is enough: there is
    nothing to guess that a slow hash would protect.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str | None) -> bool:
    """Whether ``secret`` hashes to ``stored_hash``, compared in constant time."""
    # Always compare, also when nothing is stored, so timing says nothing.
    return hmac.compare_digest(hash_secret(secret), stored_hash or "0" * 64) and stored_hash is not None


def cell_of(secret: str, prefix: str) -> str:
    """The cell id inside a token of kind ``prefix``.

    Raises:
        AuthenticationError: the token is not of that form (``invalid_token`` /
            ``invalid_credential``); the message never repeats the token.
    """
    parts = secret.split(".")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        code = "invalid_token" if prefix == REGISTRATION_PREFIX else "invalid_credential"
        what = "registration token" if code == "invalid_token" else "credential"
        raise AuthenticationError(code, f"malformed {what}")
    return parts[1]
