"""The identity service layer: register, log in, refresh, log out, client credentials, and
signing-key rotation. Each use case runs in one unit of work; the domain decides, the
repository stores, and nothing is published outside the transaction (the outbox does it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerline.core import contracts as c
from ledgerline.core.auth import RevokedSessions
from ledgerline.core.db import UnitOfWork
from ledgerline.identity import domain, repository
from ledgerline.identity.credentials import OpaqueRefreshToken, PasswordHashing, new_client_secret, secret_matches
from ledgerline.identity.domain import (
    EmailTaken,
    InvalidCredentials,
    RefreshOutcome,
    RefreshRefused,
    ServiceClient,
    SigningKey,
    TokenPolicy,
)
from ledgerline.identity.keys import KeyVault, StoredKey
from ledgerline.identity.repository import UserRecord
from ledgerline.identity.settings import IdentitySettings

SOURCE = "/ledgerline/identity"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in_s: int
    scopes: tuple[str, ...]
    refresh_token: str | None = None


def token_policy(settings: IdentitySettings) -> TokenPolicy:
    return TokenPolicy(
        issuer=settings.issuer,
        audience=settings.audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_s),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_s),
        family_lifetime=timedelta(seconds=settings.refresh_family_lifetime_s),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


class IdentityService:
    def __init__(
        self,
        settings: IdentitySettings,
        engine: AsyncEngine,
        revoked_sessions: RevokedSessions,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.policy = token_policy(settings)
        self.passwords = PasswordHashing(settings)
        self.password_policy = domain.PasswordPolicy(settings.password_length_min, settings.password_length_max)
        self._engine = engine
        self._vault = KeyVault(settings.key_encryption_secret)
        self._revoked_sessions = revoked_sessions
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._engine)

    async def register(self, email: str, password: str) -> UserRecord:
        domain.check_password(password, self.password_policy)
        user = UserRecord(
            id=uuid.uuid4(),
            email=domain.normalize_email(email),
            password_hash=await self.passwords.hash(password),
            scopes=domain.CUSTOMER_SCOPES,
        )
        async with self._uow() as uow:
            if not await repository.add_user(uow.connection, user):
                raise EmailTaken("an account with this address exists")
            registered = c.UserRegistered(user_id=user.id)
            uow.publish(c.message(c.USER_REGISTERED, registered, key=str(user.id), source=SOURCE))
            await uow.commit()
        return user

    async def login(self, email: str, password: str) -> IssuedTokens:
        """Unknown address and wrong password fail alike, after the same argon2 work."""
        async with self._engine.connect() as connection:
            user = await repository.find_user_by_email(connection, domain.normalize_email(email))
        if not await self.passwords.verify(user.password_hash if user else None, password) or user is None:
            raise InvalidCredentials("the address or the password is wrong")
        # The cost settings changed since this hash was made; the password is at hand only now.
        upgraded_hash = await self.passwords.hash(password) if self.passwords.needs_rehash(user.password_hash) else None
        now = self._clock()
        family = domain.start_family(self.policy, user_id=user.id, now=now)
        async with self._uow() as uow:
            if upgraded_hash is not None:
                await repository.replace_password_hash(uow.connection, user.id, upgraded_hash)
            await repository.add_family(uow.connection, family)
            refresh = await self._add_refresh(uow.connection, family, now)
            issued = await self._issue(uow.connection, str(user.id), user.scopes, now, family.id, refresh)
            await uow.commit()
        return issued

    async def refresh(self, presented_text: str) -> IssuedTokens:
        presented = OpaqueRefreshToken.parse(presented_text)
        if presented is None:
            raise RefreshRefused("refresh token not valid")
        now = self._clock()
        async with self._uow() as uow:
            found = await repository.lock_refresh_token(uow.connection, presented.token_id)
            if found is None or not secret_matches(found[1], presented):
                raise RefreshRefused("refresh token not valid")
            token, _, family = found
            outcome = domain.judge_refresh(token, family, now=now)
            if outcome is RefreshOutcome.REUSE_DETECTED:
                await self._revoke(uow, family, now, reason="reuse_detected")
                raise RefreshRefused("refresh token was already used; its session is revoked")
            if outcome is not RefreshOutcome.ROTATE:
                raise RefreshRefused(f"refresh token not valid ({outcome.value})")
            await repository.mark_rotated(uow.connection, domain.rotate(token, now=now))
            user = await repository.get_user(uow.connection, family.user_id)
            if user is None:
                raise RefreshRefused("refresh token not valid")
            refresh = await self._add_refresh(uow.connection, family, now)
            issued = await self._issue(uow.connection, str(user.id), user.scopes, now, family.id, refresh)
            await uow.commit()
        return issued

    async def logout(self, presented_text: str) -> None:
        """Revokes the token's family; an unknown or foreign token changes nothing (RFC 7009)."""
        presented = OpaqueRefreshToken.parse(presented_text)
        if presented is None:
            return
        async with self._uow() as uow:
            found = await repository.lock_refresh_token(uow.connection, presented.token_id)
            if found is None or not secret_matches(found[1], presented):
                return
            await self._revoke(uow, found[2], self._clock(), reason="logout")

    async def _revoke(self, uow: UnitOfWork, family: domain.RefreshFamily, now: datetime, *, reason: str) -> None:
        """The database records the revocation first; Redis then tells every verifier."""
        revoked = domain.revoke(family, now=now)
        await repository.revoke_family(uow.connection, revoked, reason)
        await uow.commit()
        await self._revoked_sessions.revoke(str(family.id), family.expires_at)

    async def client_token(self, client_id: str, client_secret: str, scope: str | None) -> IssuedTokens:
        requested = domain.parse_scopes(scope)
        async with self._engine.connect() as connection:
            found = await repository.find_service_client(connection, client_id)
        stored_hash = found[1] if found else None
        if not await self.passwords.verify(stored_hash, client_secret) or found is None:
            raise InvalidCredentials("client authentication failed")
        client = found[0]
        if client.disabled_at is not None:
            raise InvalidCredentials("client authentication failed")
        scopes = domain.grant_scopes(requested, client.scopes)
        now = self._clock()
        async with self._uow() as uow:
            issued = await self._issue(uow.connection, client.client_id, scopes, now, None, None)
            await uow.commit()
        return issued

    async def create_client(self, client_id: str, scopes: list[str]) -> str:
        """Stores a new client and returns its secret, which is shown this once and kept only hashed."""
        chosen = domain.check_client_scopes(scopes, scopes_max=self.settings.scopes_per_client_max)
        secret = new_client_secret(self.settings.client_secret_bytes)
        secret_hash = await self.passwords.hash(secret)
        async with self._uow() as uow:
            if not await repository.add_service_client(uow.connection, ServiceClient(client_id, chosen), secret_hash):
                raise domain.IdentityError(f"client {client_id} exists")
            await uow.commit()
        return secret

    async def provision_client(self, client_id: str, scopes: list[str], secret: str | None = None) -> str:
        """Creates the client or gives it `secret` (a new one when None) and these scopes: what a
        launcher or a deployment does for the platform's own services at every start."""
        chosen = domain.check_client_scopes(scopes, scopes_max=self.settings.scopes_per_client_max)
        secret = secret or new_client_secret(self.settings.client_secret_bytes)
        secret_hash = await self.passwords.hash(secret)
        async with self._uow() as uow:
            await repository.put_service_client(uow.connection, ServiceClient(client_id, chosen), secret_hash)
            await uow.commit()
        return secret

    async def _add_refresh(
        self, connection: AsyncConnection, family: domain.RefreshFamily, now: datetime
    ) -> OpaqueRefreshToken:
        token = domain.issue_refresh(self.policy, family, now=now)
        opaque = OpaqueRefreshToken.new(token.id)
        await repository.add_refresh_token(connection, token, opaque.secret_sha256)
        return opaque

    async def _issue(
        self,
        connection: AsyncConnection,
        subject: str,
        scopes: tuple[str, ...],
        now: datetime,
        session_id: uuid.UUID | None,
        refresh: OpaqueRefreshToken | None,
    ) -> IssuedTokens:
        key = await self._signing_key(connection, now)
        claims = domain.access_claims(
            self.policy, subject=subject, scopes=scopes, now=now, token_id=uuid.uuid4(), session_id=session_id
        )
        return IssuedTokens(
            access_token=self._vault.sign(key, claims),
            expires_in_s=self.settings.access_token_ttl_s,
            scopes=scopes,
            refresh_token=str(refresh) if refresh else None,
        )

    async def _signing_key(self, connection: AsyncConnection, now: datetime) -> StoredKey:
        stored = await repository.live_signing_keys(connection, now)
        chosen = domain.signing_key([s.key for s in stored], now)
        if chosen is None:
            raise RuntimeError("no signing key is active; the service creates one at start")
        return next(s for s in stored if s.key.kid == chosen.kid)

    async def ensure_signing_key(self) -> SigningKey:
        """At start: a key that signs, created if there is none (one replica creates it)."""
        async with self._uow() as uow:
            await repository.lock_signing_keys(uow.connection)
            # Read the clock under the lock, so a replica that waited sees the key made before it.
            now = self._clock()
            stored = await repository.live_signing_keys(uow.connection, now)
            current = domain.signing_key([s.key for s in stored], now)
            if current is None:
                # No token can exist yet for a key set that never signed, so it signs at once.
                created = self._vault.generate(now, activates_at=now)
                await repository.add_signing_key(uow.connection, created)
                current = created.key
            await uow.commit()
        return current

    async def rotate_signing_key(self) -> SigningKey:
        """A new key is published now and signs after `key_activation_delay_s`; the keys it
        replaces keep verifying for `key_overlap_s` after that."""
        async with self._uow() as uow:
            await repository.lock_signing_keys(uow.connection)
            now = self._clock()
            activation = now + timedelta(seconds=self.settings.key_activation_delay_s)
            overlap = timedelta(seconds=self.settings.key_overlap_s)
            stored = await repository.live_signing_keys(uow.connection, now)
            for retired in domain.retire_for_rotation([s.key for s in stored], activation=activation, overlap=overlap):
                await repository.retire_signing_key(uow.connection, retired)
            created = self._vault.generate(now, activates_at=activation)
            await repository.add_signing_key(uow.connection, created)
            await uow.commit()
        return created.key

    async def jwks(self) -> dict[str, Any]:
        now = self._clock()
        async with self._engine.connect() as connection:
            stored = await repository.live_signing_keys(connection, now)
        return domain.jwks_document(domain.published_keys([s.key for s in stored], now))

    async def signing_keys(self) -> list[SigningKey]:
        now = self._clock()
        async with self._engine.connect() as connection:
            stored = await repository.live_signing_keys(connection, now)
        return domain.published_keys([s.key for s in stored], now)
