"""TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with secrets encrypted by AES-GCM (MFA-01, MFA-04)."""

from __future__ import annotations

import base64
import os
import secrets
import time

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEP = 30
DIGITS = 6
ISSUER_NAME = "WhoWhyWhen"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_AAD = b"whowhywhen-totp-v1"


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits


def encrypt(key: bytes, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _AAD)
    return base64.b64encode(nonce + sealed).decode()


def decrypt(key: bytes, sealed: str) -> str | None:
    raw = base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], _AAD).decode()
    except InvalidTag:
        return None


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=email, issuer_name=ISSUER_NAME
    )


def qr_svg(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_inline(scale=4))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The step (T or T−1 only) whose code equals `code`, else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    step = current_step(now)
    for candidate in (step, step - 1):
        if secrets.compare_digest(totp.at(candidate * STEP), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 10 characters from a 32-letter alphabet: 50 bits each (MFA-05)."""
    return [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        for _ in range(RECOVERY_CODES)
    ]


def normalise_recovery_code(code: str) -> str:
    return code.strip().replace("-", "").replace(" ", "").upper()
