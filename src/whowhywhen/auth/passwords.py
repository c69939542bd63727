"""argon2id password hashing at the ASVS floor (AUTH-01) and the password policy (AUTH-02/03).

At most two hashes run at once (a semaphore); when more than eight callers wait, the caller is
told to retry later instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from functools import lru_cache
from pathlib import Path

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from whowhywhen.exceptions import ServiceUnavailable, UnprocessableEntity

MIN_PASSWORD = 12
MAX_PASSWORD = 128
MAX_PASSWORD_BYTES = 1024
MAX_WAITING = 8
PRODUCT_WORDS = ("whowhywhen",)
_COMMON = Path(__file__).parent / "data" / "common-passwords.txt.gz"

_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))
_slots = threading.BoundedSemaphore(2)
_waiting = 0
_waiting_lock = threading.Lock()
hash_calls = 0  # counted for the brute-force tests (AUTH-04)


def hash_password(password: str) -> str:
    global hash_calls
    with _slots:
        hash_calls += 1
        return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    global hash_calls
    with _slots:
        hash_calls += 1
        try:
            return _hasher.verify(password, password_hash)
        except ValueError:
            return False


def needs_rehash(password_hash: str) -> bool:
    return bool(_hasher.current_hasher.check_needs_rehash(password_hash))


# The hash of a random string nobody knows, with the policy's parameters (keep them in step):
# verifying against it costs what a real verification costs, from the very first call.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$"
    "RasRWgbL/Xpp2dyHuNbk+A$ZigVbWtgdD+4qmEUfUE3m176dxqlgmm0d9ZcAl3qb9g"
)


def dummy_verify(password: str) -> None:
    """Spend the time of a real verification, so unknown emails answer as slowly (AUTH-05)."""
    verify_password(password, _DUMMY_HASH)


async def _run(func: object, *args: str) -> object:
    global _waiting
    with _waiting_lock:
        if _waiting >= MAX_WAITING:
            raise ServiceUnavailable("too many sign-ins at once; retry shortly", retry_after=1)
        _waiting += 1
    try:
        return await asyncio.to_thread(func, *args)  # type: ignore[arg-type]
    finally:
        with _waiting_lock:
            _waiting -= 1


async def hash_password_async(password: str) -> str:
    return str(await _run(hash_password, password))


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        await _run(dummy_verify, password)
        return False
    return bool(await _run(verify_password, password, password_hash))


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def check_password_policy(password: str, *, email: str = "") -> None:
    """Length 12–128 and not common or built from context words; no composition rules."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UnprocessableEntity(
            f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise UnprocessableEntity(f"password: must be at most {MAX_PASSWORD_BYTES} bytes")
    lowered = password.lower()
    if lowered in common_passwords():
        raise UnprocessableEntity("password: is one of the most common passwords; choose another")
    local = email.partition("@")[0].lower() if "@" in email else ""
    words = [*PRODUCT_WORDS, *([local] if len(local) >= 3 else [])]
    if any(word in lowered for word in words):
        raise UnprocessableEntity(
            "password: must not contain your email name or the product name; choose another"
        )
