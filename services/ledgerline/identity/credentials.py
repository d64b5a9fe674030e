"""Secrets the identity service checks: argon2id password and client-secret hashes, and the
opaque refresh tokens (`<token id>.<secret>`, stored as the secret's SHA-256)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ledgerline.identity.settings import IdentitySettings

REFRESH_SECRET_BYTES = 32
REFRESH_TOKEN_LENGTH_MAX = 200


class PasswordHashing:
    """argon2id off the event loop, with a bound on concurrent hashes (each holds its memory cost).

    Unknown users are checked against a dummy hash made with the same parameters, so a login
    for a user who does not exist costs the same time as one with a wrong password.
    """

    def __init__(self, settings: IdentitySettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(settings.password_hash_concurrency_max)
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True only for a matching hash; `None` (no such user) burns the same work and says no."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        return self._hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            matched = self._hasher.verify(stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and stored_hash is not None


@dataclass(frozen=True, slots=True)
class OpaqueRefreshToken:
    token_id: uuid.UUID
    secret: str

    def __str__(self) -> str:
        return f"{self.token_id}.{self.secret}"

    @property
    def secret_sha256(self) -> bytes:
        return hashlib.sha256(self.secret.encode()).digest()

    @classmethod
    def new(cls, token_id: uuid.UUID) -> OpaqueRefreshToken:
        return cls(token_id, secrets.token_urlsafe(REFRESH_SECRET_BYTES))

    @classmethod
    def parse(cls, text: str) -> OpaqueRefreshToken | None:
        if len(text) > REFRESH_TOKEN_LENGTH_MAX or "." not in text:
            return None
        token_id, _, secret = text.partition(".")
        try:
            return cls(uuid.UUID(token_id), secret)
        except ValueError:
            return None


def secret_matches(stored_sha256: bytes, presented: OpaqueRefreshToken) -> bool:
    return hmac.compare_digest(stored_sha256, presented.secret_sha256)


def new_client_secret(length_bytes: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(length_bytes)).decode().rstrip("=")
