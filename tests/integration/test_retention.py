"""Retention of the deduplication bookkeeping on a real PostgreSQL: a redelivery or a client retry
inside the retention is still answered from its row, a row past the retention is pruned (and the
payment service's expired FX quotes past theirs), in
batches no larger than the bound, counted in the metric per table, and under a steady stream of
new rows the tables hold nothing older than their retention after each round."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.db import create_engine
from ledgerline.core.idempotency import IdempotencyStore, StoredResponse, fingerprint
from ledgerline.core.inbox import claim_new
from ledgerline.core.retention import Pruner, Retained, RetentionLimits, prune
from ledgerline.infra.launcher import Infrastructure
from ledgerline.payment.app import retained_tables
from ledgerline.payment.settings import PaymentSettings
from ledgerline.payment.tables import metadata as payment_metadata
from tests.integration.conftest import idempotency_keys

CONSUMER = "ledgerline-test"
INBOX = Retained("inbox", "processed_at", timedelta(days=14))
IDEMPOTENCY = Retained("idempotency_keys", "created_at", timedelta(days=7))
ROOMY = RetentionLimits(interval_s=1, batch_size_max=1_000, batches_per_round_max=100)
AGED = 1_000  # Rows aged past the retention in the batch test.
LOAD_ROUNDS = 6
LOAD_ROWS_PER_ROUND = 200


async def age(engine: AsyncEngine, table: str, column: str, ids_sql: str, days: int, params: dict) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(f"UPDATE {table} SET {column} = now() - make_interval(days => :days) WHERE {ids_sql}"),
            {"days": days, **params},
        )


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


def pruned_metric(table: str) -> float:
    return (
        REGISTRY.get_sample_value("ledgerline_retention_pruned_rows_total", {"service": "test", "table": table}) or 0.0
    )


async def test_a_redelivery_inside_the_retention_is_still_dropped_and_an_old_row_is_pruned(
    engine: AsyncEngine,
) -> None:
    recent, old = [f"recent-{i}" for i in range(3)], [f"old-{i}" for i in range(2)]
    async with engine.begin() as connection:
        assert await claim_new(connection, CONSUMER, recent + old) == set(recent + old)
    await age(engine, "inbox", "processed_at", "event_id = ANY(:ids)", 15, {"ids": old})
    before = pruned_metric("inbox")

    pruned = await Pruner(service="test", engine=engine, tables=[INBOX], limits=ROOMY).run_round()

    assert pruned == {"inbox": len(old)}
    assert pruned_metric("inbox") - before == len(old)
    async with engine.begin() as connection:
        # The redelivered copies of recent messages are still recognised and dropped.
        assert await claim_new(connection, CONSUMER, recent) == set()
    async with engine.connect() as connection:
        left = set((await connection.execute(text("SELECT event_id FROM inbox"))).scalars())
    assert left == set(recent)


async def test_a_retry_inside_the_retention_gets_the_first_answer_and_an_old_record_is_pruned(
    engine: AsyncEngine, infra: Infrastructure
) -> None:
    redis = Redis.from_url(infra.redis.url, socket_timeout=1)
    keys = IdempotencyStore(
        redis=redis,
        engine=engine,
        table=idempotency_keys,
        namespace=f"t{uuid.uuid4().hex[:6]}",
    )
    fp = fingerprint("POST", "/v1/transfers", {"amount": "1.00"})
    first, stale = StoredResponse(202, {"id": "payment-1"}), StoredResponse(202, {"id": "payment-0"})
    async with engine.begin() as connection:
        assert await keys.record(connection, "recent-key", fp, first)
        assert await keys.record(connection, "old-key", fp, stale)
    await age(engine, "idempotency_keys", "created_at", "key = 'old-key'", 8, {})

    assert await prune(engine, IDEMPOTENCY, ROOMY) == 1

    assert await keys.lookup("recent-key", fp) == first  # Retried within the retention: one payment.
    async with engine.begin() as connection:
        assert not await keys.record(connection, "recent-key", fp, StoredResponse(202, {"id": "payment-2"}))
    assert await keys.lookup("old-key", fp) is None
    await redis.aclose()


async def test_pruning_goes_in_bounded_batches_and_rounds(engine: AsyncEngine) -> None:
    ids = [f"aged-{i}" for i in range(AGED)]
    async with engine.begin() as connection:
        await claim_new(connection, CONSUMER, ids)
    await age(engine, "inbox", "processed_at", "true", 30, {})
    small = RetentionLimits(interval_s=1, batch_size_max=300, batches_per_round_max=2)

    first_round = await prune(engine, INBOX, small)
    assert first_round == 600  # Two batches of 300: the round's bound, not the whole backlog.
    assert await count(engine, "inbox") == AGED - 600
    assert await prune(engine, INBOX, small) == AGED - 600  # 300, then 100, and the round ends.
    assert await count(engine, "inbox") == 0


async def test_under_a_stream_of_new_rows_nothing_older_than_the_retention_survives_a_round(
    engine: AsyncEngine,
) -> None:
    short = Retained("inbox", "processed_at", timedelta(seconds=1))
    pruner = Pruner(service="test", engine=engine, tables=[short], limits=ROOMY)
    inserted = 0
    for round_number in range(LOAD_ROUNDS):
        ids = [f"r{round_number}-{i}" for i in range(LOAD_ROWS_PER_ROUND)]
        async with engine.begin() as connection:
            await claim_new(connection, CONSUMER, ids)
        inserted += len(ids)
        await asyncio.sleep(short.retention.total_seconds())
        async with engine.connect() as connection:
            round_began = await connection.scalar(text("SELECT now()"))
        await pruner.run_round()
        async with engine.connect() as connection:
            oldest = await connection.scalar(text("SELECT min(processed_at) FROM inbox"))
        assert oldest is None or oldest >= round_began - short.retention
        assert await count(engine, "inbox") <= LOAD_ROWS_PER_ROUND  # Never more than one round's rows.
    assert inserted == LOAD_ROUNDS * LOAD_ROWS_PER_ROUND


async def test_expired_fx_quotes_go_once_past_their_retention_and_live_ones_stay(infra: Infrastructure) -> None:
    name = f"payment_{uuid.uuid4().hex[:10]}"
    infra.postgres.create_database(name)
    engine = create_engine(infra.postgres.url(name), pool_size=2, pool_timeout_s=10)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(payment_metadata.create_all)
            for expired_days_ago in (0, 6, 8, 30):
                await connection.execute(
                    text(
                        "INSERT INTO fx_quotes (id, owner_id, source_currency, destination_currency, rate_scaled,"
                        " source_amount_minor, destination_amount_minor, created_at, expires_at)"
                        " VALUES (:id, 'owner', 'EUR', 'USD', 108000000, 100, 108, now(),"
                        " now() - make_interval(days => :days))"
                    ),
                    {"id": uuid.uuid4(), "days": expired_days_ago},
                )
        tables = retained_tables(PaymentSettings())
        assert [t.table for t in tables] == ["fx_quotes"]
        pruned = await Pruner(service="test", engine=engine, tables=tables, limits=ROOMY).run_round()
        assert pruned == {"fx_quotes": 2}, "quotes expired 8 and 30 days ago go; 0 and 6 days ago stay"
        assert await count(engine, "fx_quotes") == 2
    finally:
        await engine.dispose()
        infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')
