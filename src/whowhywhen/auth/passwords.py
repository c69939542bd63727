"""argon2id password hashing at the ASVS floor (AUTH-01), at most two hashes at once."""

from __future__ import annotations

import threading

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))
_slots = threading.BoundedSemaphore(2)


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    with _slots:
        return _hasher.verify(password, password_hash)
