"""Argon2id password hashing (argon2-cffi's defaults are Argon2id with OWASP-level parameters)."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 12

# An invited user's password hash until they choose a password: a real hash of a random secret
# nobody ever sees, behind a prefix that no Argon2 hash has. Checking it costs as much as checking
# a real one (so a login attempt does not tell "invited" from "unknown"), and it never matches.
UNUSABLE_PREFIX = "!"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    # Verified against when the e-mail is unknown, so a wrong e-mail costs as much as a wrong password.
    return _hasher.hash("no account has this password")


def unusable_password_hash() -> str:
    return UNUSABLE_PREFIX + hash_password(secrets.token_urlsafe(32))


def is_usable(password_hash: str | None) -> bool:
    return bool(password_hash) and not password_hash.startswith(UNUSABLE_PREFIX)


def password_matches(password_hash: str | None, password: str) -> bool:
    usable = is_usable(password_hash)
    checked = password_hash.removeprefix(UNUSABLE_PREFIX) if password_hash else _dummy_hash()
    try:
        return _hasher.verify(checked, password) and usable
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
