"""Karbon's webhook signature: the lowercase hex HMAC-SHA256 of the raw body, keyed with the
subscription's SigningKey, in the ``Signature`` header. No timestamp is signed."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

from .._exceptions import KarbonError

SIGNATURE_HEADER = "Signature"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class InvalidSignatureError(KarbonError):
    """A webhook's ``Signature`` header is missing, malformed or does not match the body.

    ``reason`` is one of ``"missing signature"``, ``"malformed signature"`` and
    ``"signature mismatch"``; neither the key nor the body is ever part of the message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def compute_signature(raw_body: bytes, signing_key: str) -> str:
    """The ``Signature`` Karbon sends with ``raw_body``: lowercase hex HMAC-SHA256."""
    return hmac.new(signing_key.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    folded = name.casefold()
    for key, candidate in headers.items():
        if key.casefold() == folded:
            return candidate
    return None


def verify_signature(
    raw_body: bytes, headers: Mapping[str, str], signing_key: str | Iterable[str]
) -> None:
    """Check the ``Signature`` header of a webhook request against its raw body.

    Call it on the bytes exactly as received, before parsing JSON. ``signing_key`` may be several
    keys (during a key rotation any one of them is accepted). The comparison is constant-time.
    Raises :class:`InvalidSignatureError` on a missing, malformed or wrong signature; returns
    ``None`` when the body is authentic.
    """
    keys = [signing_key] if isinstance(signing_key, str) else list(signing_key)
    if not keys or any(not isinstance(key, str) or not key for key in keys):
        raise ValueError("a non-empty signing key is required to verify webhooks")
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        raise TypeError("raw_body must be the request's raw bytes")
    body = bytes(raw_body)
    given = _header(headers, SIGNATURE_HEADER)
    if given is None or not given.strip():
        raise InvalidSignatureError("missing signature")
    given = given.strip()
    if given[:7].lower() == "sha256=":  # not documented; tolerated in case a proxy adds it
        given = given[7:]
    if _HEX64.fullmatch(given) is None:
        raise InvalidSignatureError("malformed signature")
    given_bytes = given.lower().encode("ascii")
    matched = False
    for key in keys:  # every key is tried, so timing does not reveal which one matched
        expected = compute_signature(body, key).encode("ascii")
        matched |= hmac.compare_digest(expected, given_bytes)
    if not matched:
        raise InvalidSignatureError("signature mismatch")
