"""Idempotency keys for requests that move money.

Redis is the fast path: it marks a key in flight and caches the first response. The database
is the guarantee: the response is stored under a unique key in the same transaction as the
effect, so even without Redis a key can produce one effect only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerline.core.problems import Problem
from ledgerline.core.redis_pipelines import PipelinedCommands

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LENGTH_MAX = 255
# Deletes the key only if it still holds this request's in-flight marker, in one atomic step.
_RELEASE_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_CLAIMED = object()  # Redis took this request's in-flight marker.
_log = logging.getLogger(__name__)


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("key", Text, primary_key=True),
        Column("fingerprint", Text, nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("body", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # Retention (core/retention.py) deletes the oldest records first.
        Index("idempotency_keys_created_at", "created_at"),
    )


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise Problem(
            400,
            "idempotency_key_missing",
            "Idempotency-Key header is required",
            "every request that moves money needs an Idempotency-Key header",
        )
    if len(key) > KEY_LENGTH_MAX or not key.isprintable():
        raise Problem(
            400,
            "idempotency_key_invalid",
            "Idempotency-Key is not valid",
            f"use at most {KEY_LENGTH_MAX} printable characters",
        )
    return key


def _mismatch() -> Problem:
    return Problem(
        422,
        "idempotency_key_reused",
        "Idempotency-Key was used with a different request",
        "the same key must be sent with the same method, path and body",
    )


def _in_flight() -> Problem:
    return Problem(
        409,
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still being processed",
        "retry after the first request has finished",
    )


def _stored(raw: str | bytes, fp: str) -> StoredResponse:
    """The first response recorded in Redis; a problem while it is in flight or for another request."""
    entry = orjson.loads(raw)
    if entry["fingerprint"] != fp:
        raise _mismatch()
    if entry["state"] == "in_flight":
        raise _in_flight()
    return StoredResponse(entry["status_code"], entry["body"])


class IdempotencyStore:
    def __init__(
        self,
        *,
        redis: Redis,
        engine: AsyncEngine,
        table: Table,
        namespace: str,
        lock_ttl_s: int = 30,
        response_ttl_s: int = 24 * 3600,
    ) -> None:
        self._redis = redis
        self._commands = PipelinedCommands(redis)
        self._engine = engine
        self._table = table
        self._namespace = namespace
        self._lock_ttl_s = lock_ttl_s
        self._response_ttl_s = response_ttl_s
        # Bodies travel as JSON text and are cast per row, so the statement is compiled once.
        self._record_many = text(
            f"INSERT INTO {table.name} (key, fingerprint, status_code, body) "
            "SELECT k, f, s, CAST(b AS jsonb) FROM unnest(CAST(:keys AS text[]), CAST(:fingerprints AS text[]), "
            "CAST(:statuses AS integer[]), CAST(:bodies AS text[])) AS u(k, f, s, b) "
            "ON CONFLICT DO NOTHING RETURNING key"
        )

    def _redis_key(self, key: str) -> str:
        return f"{self._namespace}:idempotency:{key}"

    async def begin(self, key: str, fp: str) -> StoredResponse | None:
        """Claim `key`; returns the stored first response if there is one.

        Raises 409 while another request holds the key and 422 if the key was used for a
        different request.
        """
        claim = await self._claim_in_redis(key, fp)
        if isinstance(claim, StoredResponse):
            return claim
        if claim is _CLAIMED:
            # First sight of the key in Redis. A response stored longer ago than Redis keeps it
            # is still found: `record` refuses the key at commit and the caller replays it.
            return None
        stored = await self.lookup(key, fp)
        if stored is not None:
            await self._cache(key, fp, stored)
        return stored

    @staticmethod
    def _in_flight_marker(fp: str) -> str:
        return json.dumps({"fingerprint": fp, "state": "in_flight"})

    async def _claim_in_redis(self, key: str, fp: str) -> StoredResponse | object | None:
        """`_CLAIMED`, the stored response, or None when Redis cannot say (the database decides)."""
        redis_key, marker = self._redis_key(key), self._in_flight_marker(fp)

        async def claim(pipe: Pipeline) -> None:
            pipe.set(redis_key, marker, nx=True, ex=self._lock_ttl_s)
            pipe.get(redis_key)  # What holds the key if the claim fails, in the same round trip.

        try:
            claimed, raw = await self._commands.run(claim, replies=2)
            if claimed:
                return _CLAIMED
        except RedisError as exc:
            # The database constraint still guarantees one effect per key.
            _log.warning("idempotency fast path unavailable: %s", exc)
            return None
        if raw is None:
            return None  # Expired between SET and GET; the database decides.
        return _stored(raw, fp)

    async def begin_many(self, claims: Sequence[tuple[str, str]]) -> list[StoredResponse | Problem | None]:
        """`begin` for many keys in one Redis round trip: per key None (claimed, go ahead), the
        stored first response, or the problem `begin` would raise."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, fp in claims:
                    pipe.set(self._redis_key(key), self._in_flight_marker(fp), nx=True, ex=self._lock_ttl_s)
                    pipe.get(self._redis_key(key))
                replies = await pipe.execute()
        except RedisError as exc:
            _log.warning("idempotency fast path unavailable: %s", exc)
            return [None] * len(claims)  # The database constraint decides at commit.
        outcomes: list[StoredResponse | Problem | None] = []
        for index, (_, fp) in enumerate(claims):
            claimed, raw = replies[2 * index], replies[2 * index + 1]
            try:
                outcomes.append(None if claimed or raw is None else _stored(raw, fp))
            except Problem as problem:
                outcomes.append(problem)
        return outcomes

    async def lookup(self, key: str, fp: str) -> StoredResponse | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(self._table).where(self._table.c.key == key))).first()
        if row is None:
            return None
        if row.fingerprint != fp:
            raise _mismatch()
        return StoredResponse(row.status_code, row.body)

    async def record(self, connection: AsyncConnection, key: str, fp: str, response: StoredResponse) -> bool:
        """Store the response in the effect's transaction; False if the key was taken."""
        return key in await self.record_many(connection, [(key, fp, response)])

    async def record_many(
        self, connection: AsyncConnection, items: Sequence[tuple[str, str, StoredResponse]]
    ) -> set[str]:
        """Store responses in the effects' transaction (distinct keys); returns the keys this claimed."""
        if not items:
            return set()
        parameters = {
            "keys": [key for key, _, _ in items],
            "fingerprints": [fp for _, fp, _ in items],
            "statuses": [response.status_code for _, _, response in items],
            "bodies": [orjson.dumps(response.body).decode() for _, _, response in items],
        }
        return set((await connection.execute(self._record_many, parameters)).scalars())

    async def finish(self, key: str, fp: str, response: StoredResponse) -> None:
        await self._cache(key, fp, response)

    async def finish_many(self, done: Sequence[tuple[str, str, StoredResponse]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, fp, response in done:
                    pipe.set(self._redis_key(key), self._done_entry(fp, response), ex=self._response_ttl_s)
                await pipe.execute()
        except RedisError as exc:
            _log.warning("could not cache idempotent responses: %s", exc)

    async def abandon_many(self, claims: Sequence[tuple[str, str]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, fp in claims:
                    pipe.eval(_RELEASE_IF_OURS, 1, self._redis_key(key), self._in_flight_marker(fp))
                await pipe.execute()
        except RedisError as exc:
            _log.warning("could not release idempotency keys: %s", exc)

    @staticmethod
    def _done_entry(fp: str, response: StoredResponse) -> bytes:
        return orjson.dumps(
            {"fingerprint": fp, "state": "done", "status_code": response.status_code, "body": response.body}
        )

    async def _cache(self, key: str, fp: str, response: StoredResponse) -> None:
        try:
            await self._redis.set(self._redis_key(key), self._done_entry(fp, response), ex=self._response_ttl_s)
        except RedisError as exc:
            _log.warning("could not cache idempotent response: %s", exc)

    async def abandon(self, key: str, fp: str) -> None:
        """Release this request's in-flight claim (it produced no effect), so it can be retried.

        A claim that expired and was taken by another request, or already replaced by a stored
        response, is left alone.
        """
        try:
            await self._redis.eval(_RELEASE_IF_OURS, 1, self._redis_key(key), self._in_flight_marker(fp))
        except RedisError as exc:
            _log.warning("could not release idempotency key: %s", exc)
