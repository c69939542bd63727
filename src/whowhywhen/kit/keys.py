"""API key format (KEY-01): `wwy_` + base62(32 random bytes) + base62(crc32), checkable offline."""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

ALPHABET = string.digits + string.ascii_letters
KEY_PREFIX = "wwy_"
_BODY_LEN = 43  # 32 bytes in base62
_CHECK_LEN = 6  # crc32 in base62
KEY_LENGTH = len(KEY_PREFIX) + _BODY_LEN + _CHECK_LEN
VISIBLE_PREFIX_LEN = 12
_ALLOWED = frozenset(ALPHABET)


def _base62(value: int, width: int) -> str:
    chars = []
    while value:
        value, rem = divmod(value, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LEN)


def generate_api_key() -> str:
    body = _base62(int.from_bytes(secrets.token_bytes(32), "big"), _BODY_LEN)
    return KEY_PREFIX + body + _checksum(body)


def is_well_formed_api_key(key: str) -> bool:
    """True when the key has our shape and a valid checksum; no database needed (KEY-06)."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    rest = key[len(KEY_PREFIX) :]
    if not _ALLOWED.issuperset(rest):
        return False
    body, check = rest[:_BODY_LEN], rest[_BODY_LEN:]
    return secrets.compare_digest(_checksum(body), check)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_PREFIX_LEN]
