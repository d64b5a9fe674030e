"""Users, refresh-token families, signing keys and service clients in PostgreSQL.

Rows that a decision depends on are locked (`FOR UPDATE`) before the decision, so two
concurrent refreshes of one token cannot both rotate it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerline.identity.domain import RefreshFamily, RefreshToken, ServiceClient, SigningKey
from ledgerline.identity.keys import StoredKey
from ledgerline.identity.tables import refresh_families, refresh_tokens, service_clients, signing_keys, users

# Serialises key creation and rotation across replicas (pg_advisory_xact_lock takes a bigint).
SIGNING_KEYS_LOCK_ID = 0x1D3471
KEYS_LISTED_MAX = 100


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    email: str
    password_hash: str
    scopes: tuple[str, ...]


async def add_user(connection: AsyncConnection, user: UserRecord) -> bool:
    """False when the address is taken (the unique index decides, not a racy read first)."""
    try:
        async with connection.begin_nested():
            await connection.execute(
                users.insert().values(
                    id=user.id, email=user.email, password_hash=user.password_hash, scopes=list(user.scopes)
                )
            )
    except IntegrityError:
        return False
    return True


async def find_user_by_email(connection: AsyncConnection, email: str) -> UserRecord | None:
    row = (await connection.execute(select(users).where(users.c.email == email))).first()
    return UserRecord(row.id, row.email, row.password_hash, tuple(row.scopes)) if row else None


async def get_user(connection: AsyncConnection, user_id: uuid.UUID) -> UserRecord | None:
    row = (await connection.execute(select(users).where(users.c.id == user_id))).first()
    return UserRecord(row.id, row.email, row.password_hash, tuple(row.scopes)) if row else None


async def replace_password_hash(connection: AsyncConnection, user_id: uuid.UUID, password_hash: str) -> None:
    await connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def _family(row: Row[Any]) -> RefreshFamily:
    return RefreshFamily(row.id, row.user_id, row.created_at, row.expires_at, row.revoked_at)


def _token(row: Row[Any]) -> RefreshToken:
    return RefreshToken(row.id, row.family_id, row.created_at, row.expires_at, row.rotated_at)


async def add_family(connection: AsyncConnection, family: RefreshFamily) -> None:
    await connection.execute(
        refresh_families.insert().values(
            id=family.id, user_id=family.user_id, created_at=family.created_at, expires_at=family.expires_at
        )
    )


async def add_refresh_token(connection: AsyncConnection, token: RefreshToken, secret_sha256: bytes) -> None:
    await connection.execute(
        refresh_tokens.insert().values(
            id=token.id,
            family_id=token.family_id,
            secret_sha256=secret_sha256,
            created_at=token.created_at,
            expires_at=token.expires_at,
        )
    )


async def lock_refresh_token(
    connection: AsyncConnection, token_id: uuid.UUID
) -> tuple[RefreshToken, bytes, RefreshFamily] | None:
    """The token, its stored secret hash and its family, both rows locked (family first)."""
    token_row = (await connection.execute(select(refresh_tokens).where(refresh_tokens.c.id == token_id))).first()
    if token_row is None:
        return None
    family_row = (
        await connection.execute(
            select(refresh_families).where(refresh_families.c.id == token_row.family_id).with_for_update()
        )
    ).one()
    token_row = (
        await connection.execute(select(refresh_tokens).where(refresh_tokens.c.id == token_id).with_for_update())
    ).one()
    return _token(token_row), token_row.secret_sha256, _family(family_row)


async def mark_rotated(connection: AsyncConnection, token: RefreshToken) -> None:
    await connection.execute(
        update(refresh_tokens).where(refresh_tokens.c.id == token.id).values(rotated_at=token.rotated_at)
    )


async def revoke_family(connection: AsyncConnection, family: RefreshFamily, reason: str) -> None:
    await connection.execute(
        update(refresh_families)
        .where(refresh_families.c.id == family.id, refresh_families.c.revoked_at.is_(None))
        .values(revoked_at=family.revoked_at, revoked_reason=reason)
    )


async def revoked_families(
    connection: AsyncConnection, *, now: datetime, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, datetime]]:
    """Revoked families that have not yet expired, with their expiry, in id order after `after`."""
    statement = (
        select(refresh_families.c.id, refresh_families.c.expires_at)
        .where(refresh_families.c.revoked_at.is_not(None), refresh_families.c.expires_at > now)
        .order_by(refresh_families.c.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(refresh_families.c.id > after)
    return [(row.id, row.expires_at) for row in await connection.execute(statement)]


async def lock_signing_keys(connection: AsyncConnection) -> None:
    await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SIGNING_KEYS_LOCK_ID})


def _stored_key(row: Row[Any]) -> StoredKey:
    key = SigningKey(
        row.kid, row.algorithm, row.public_jwk, row.created_at, row.activates_at, row.retired_at, row.published_until
    )
    return StoredKey(key, row.private_key_pem)


async def live_signing_keys(connection: AsyncConnection, now: datetime) -> list[StoredKey]:
    """Keys still published at `now` (the only ones that can sign or verify), newest first."""
    statement = (
        select(signing_keys)
        .where((signing_keys.c.published_until.is_(None)) | (signing_keys.c.published_until > now))
        .order_by(signing_keys.c.activates_at.desc())
        .limit(KEYS_LISTED_MAX)
    )
    return [_stored_key(row) for row in await connection.execute(statement)]


async def add_signing_key(connection: AsyncConnection, stored: StoredKey) -> None:
    key = stored.key
    await connection.execute(
        signing_keys.insert().values(
            kid=key.kid,
            algorithm=key.algorithm,
            public_jwk=key.public_jwk,
            private_key_pem=stored.private_key_pem,
            created_at=key.created_at,
            activates_at=key.activates_at,
        )
    )


async def retire_signing_key(connection: AsyncConnection, key: SigningKey) -> None:
    await connection.execute(
        update(signing_keys)
        .where(signing_keys.c.kid == key.kid)
        .values(retired_at=key.retired_at, published_until=key.published_until)
    )


async def add_service_client(connection: AsyncConnection, client: ServiceClient, secret_hash: str) -> bool:
    try:
        async with connection.begin_nested():
            await connection.execute(
                service_clients.insert().values(
                    client_id=client.client_id, secret_hash=secret_hash, scopes=list(client.scopes)
                )
            )
    except IntegrityError:
        return False
    return True


async def put_service_client(connection: AsyncConnection, client: ServiceClient, secret_hash: str) -> None:
    """Creates the client, or gives an existing one this secret and these scopes (and enables it)."""
    statement = pg_insert(service_clients).values(
        client_id=client.client_id, secret_hash=secret_hash, scopes=list(client.scopes)
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[service_clients.c.client_id],
            set_={"secret_hash": secret_hash, "scopes": list(client.scopes), "disabled_at": None},
        )
    )


async def find_service_client(connection: AsyncConnection, client_id: str) -> tuple[ServiceClient, str] | None:
    row = (await connection.execute(select(service_clients).where(service_clients.c.client_id == client_id))).first()
    if row is None:
        return None
    return ServiceClient(row.client_id, tuple(row.scopes), row.disabled_at), row.secret_hash
