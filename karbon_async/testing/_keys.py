"""Deterministic, reversible PermaKeys for lazily generated records.

Records are a pure function of (seed, account, collection, index) and are never materialised up
front, so looking a record up by key must not need a table: the key *encodes* its index. A
keyed 64-bit Feistel permutation scrambles the index (keys look random, like Karbon's) and is
exactly invertible; a check character rejects most made-up keys without generating anything.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

__all__ = ["ALPHABET", "Keyer", "b64url", "hash_str", "mix64"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_BODY = 11  # 62**11 > 2**64, so 11 base-62 digits hold any permuted value


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a cheap, well-distributed 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def hash_str(text: str) -> int:
    """A process-independent hash (``hash()`` is salted per process)."""
    value = 0
    for b in text.encode():
        value = mix64(value ^ b)
    return value


def b64url(data: bytes) -> str:
    """Unpadded URL-safe base64, as in tokens and JWT segments."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keyer:
    """Bijection between record indexes and 12-character alphanumeric keys for one namespace."""

    __slots__ = ("_check_salt", "_memo", "_rounds")

    _MEMO_LIMIT = 50_000

    def __init__(self, *namespace: object) -> None:
        digest = hashlib.blake2b(repr(namespace).encode(), digest_size=40).digest()
        words = [int.from_bytes(digest[i : i + 8], "big") for i in range(0, 40, 8)]
        self._rounds = tuple(words[:4])
        self._check_salt = words[4]
        self._memo: dict[int, str] = {}

    def _permute(self, value: int) -> int:
        left, right = value >> 32, value & _M32
        for k in self._rounds:
            left, right = right, left ^ (mix64(right ^ k) & _M32)
        return (left << 32) | right

    def _unpermute(self, value: int) -> int:
        left, right = value >> 32, value & _M32
        for k in reversed(self._rounds):
            left, right = right ^ (mix64(left ^ k) & _M32), left
        return (left << 32) | right

    def _check_char(self, value: int) -> str:
        return ALPHABET[mix64(value ^ self._check_salt) % 62]

    def key(self, index: int) -> str:
        """The key of record ``index`` (0 <= index < 2**64). Memoised: lists ask repeatedly."""
        key = self._memo.get(index)
        if key is not None:
            return key
        permuted = value = self._permute(index)
        digits = []
        for _ in range(_BODY):
            value, d = divmod(value, 62)
            digits.append(ALPHABET[d])
        key = self._check_char(permuted) + "".join(reversed(digits))
        if len(self._memo) >= self._MEMO_LIMIT:
            self._memo.clear()
        self._memo[index] = key
        return key

    def guid(self, index: int) -> str:
        """The key of ``index`` as a GUID in the spec's form: 32 hex digits, no hyphens."""
        value = self._permute(index)
        return uuid.UUID(int=((self._check_salt & _M64) << 64) | value).hex

    def guid_index(self, key: str) -> int | None:
        """Inverse of :meth:`guid`; None for anything else (including malformed GUIDs)."""
        try:
            value = uuid.UUID(key).int
        except ValueError:
            return None
        if value >> 64 != self._check_salt & _M64:
            return None
        return self._unpermute(value & _M64)

    def index(self, key: str) -> int | None:
        """The index a key encodes, or None when it is not a key of this namespace."""
        if len(key) != _BODY + 1:
            return None
        value = 0
        for c in key[1:]:
            d = _INDEX.get(c)
            if d is None:
                return None
            value = value * 62 + d
        if value > _M64 or self._check_char(value) != key[0]:
            return None
        return self._unpermute(value)
