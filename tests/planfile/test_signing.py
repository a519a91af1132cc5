"""Signed plan files: an HMAC-SHA256 over the content refuses a file edited without the key."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

import reconcile as rc
from tests.planfile.test_format import TYPES, reseal, simple_plan

KEY = b"k" * 32


def test_a_signed_file_reads_back_with_its_key() -> None:
    text = rc.dumps(simple_plan(), key=KEY)
    assert json.loads(text)["signature"].startswith("hmac-sha256:")
    assert rc.loads(text, TYPES, key=KEY) == simple_plan()
    assert rc.loads(rc.dumps(simple_plan(), key="a passphrase"), TYPES, key="a passphrase") == simple_plan()


def test_the_signature_is_an_hmac_of_what_the_checksum_covers() -> None:
    doc = json.loads(rc.dumps(simple_plan(), key=KEY))
    body = {k: v for k, v in doc.items() if k not in ("checksum", "signature")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert doc["signature"] == "hmac-sha256:" + hmac.new(KEY, text, hashlib.sha256).hexdigest()


def test_a_file_edited_and_resealed_without_the_key_is_refused() -> None:
    doc = json.loads(rc.dumps(simple_plan(), key=KEY))
    doc["desired"][0]["fields"]["size"] = 3
    forged = reseal(doc)  # a valid checksum: the checksum alone would let it through
    with pytest.raises(rc.PlanFileError, match="signature does not match: the file was edited, or signed with another"):
        rc.loads(forged, TYPES, key=KEY)


def test_another_key_is_refused() -> None:
    text = rc.dumps(simple_plan(), key=KEY)
    with pytest.raises(rc.PlanFileError, match="signature does not match"):
        rc.loads(text, TYPES, key=b"another key")


@pytest.mark.parametrize("signature", [None, 5, "hmac-sha256:00", "hmac-sha256:\u00e9", ""])
def test_a_broken_signature_is_refused(signature: Any) -> None:
    doc = json.loads(rc.dumps(simple_plan(), key=KEY))
    doc["signature"] = signature
    with pytest.raises(rc.PlanFileError, match="signature does not match|is not signed"):
        rc.loads(reseal(doc), TYPES, key=KEY)


def test_an_unsigned_file_is_refused_when_a_key_is_given() -> None:
    # Stripping the signature (and resealing) is the obvious forgery: a reader with a key refuses it.
    doc = json.loads(rc.dumps(simple_plan(), key=KEY))
    del doc["signature"]
    with pytest.raises(rc.PlanFileError, match="plan file is not signed, but loads\\(\\) was given a key"):
        rc.loads(reseal(doc), TYPES, key=KEY)
    with pytest.raises(rc.PlanFileError, match="is not signed"):
        rc.loads(rc.dumps(simple_plan()), TYPES, key=KEY)


def test_a_signed_file_is_refused_without_a_key() -> None:
    text = rc.dumps(simple_plan(), key=KEY)
    with pytest.raises(rc.PlanFileError, match="plan file is signed, but loads\\(\\) was given no key: pass key="):
        rc.loads(text, TYPES)


@pytest.mark.parametrize(
    ("key", "message"), [(b"", "key= is empty"), (5, "key= takes the signing key as bytes or str")]
)
def test_a_bad_key_is_refused_on_both_sides(key: Any, message: str) -> None:
    with pytest.raises(rc.PlanFileError, match=message):
        rc.dumps(simple_plan(), key=key)
    with pytest.raises(rc.PlanFileError, match=message):
        rc.loads(rc.dumps(simple_plan(), key=KEY), TYPES, key=key)


def test_the_checksum_still_catches_accidents_in_a_signed_file() -> None:
    text = rc.dumps(simple_plan(), key=KEY)
    with pytest.raises(rc.PlanFileError, match="not valid JSON"):
        rc.loads(text[:-10], TYPES, key=KEY)
