"""Each service database built by its own migrations is exactly what its table metadata declares.

Alembic's autogenerate comparison covers tables, columns, types, nullability, defaults, indexes
and unique constraints; it does not compare check constraints, so PostgreSQL's own rendering of
every constraint and index is compared too, between the migrated database and one created
straight from the metadata.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from ledgerline.core.db import create_engine
from ledgerline.core.migrations import database_metadata, upgrade_to_head
from ledgerline.infra.launcher import SERVICE_DATABASES, Infrastructure

# Alembic compares types and server defaults only when asked; both are part of the schema.
_COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True}
_CONSTRAINTS = text(
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'alembic_version'"
)
_INDEXES = text(
    "SELECT tablename, indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
)
T = TypeVar("T")


def _on(url: str, work: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_engine(url, pool_size=1, pool_timeout_s=30)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _autogenerate_differences(metadata: MetaData) -> Callable[[Connection], list[Any]]:
    def compare(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection, opts=_COMPARE_OPTIONS), metadata))

    return compare


def _catalog(connection: Connection) -> dict[str, set[tuple[str, ...]]]:
    return {
        "constraints": {tuple(row) for row in connection.execute(_CONSTRAINTS)},
        "indexes": {tuple(row) for row in connection.execute(_INDEXES)},
    }


@contextmanager
def _database(infra: Infrastructure, purpose: str) -> Iterator[str]:
    name = f"schema_{purpose}_{uuid.uuid4().hex[:8]}"
    infra.postgres.create_database(name)
    try:
        yield infra.postgres.url(name)
    finally:
        infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize("service", SERVICE_DATABASES)
def test_migrations_build_what_the_tables_declare(infra: Infrastructure, service: str) -> None:
    tables = importlib.import_module(f"ledgerline.{service}.tables")
    metadata = database_metadata(tables.metadata)
    assert {"outbox", "inbox"} <= set(metadata.tables)
    with _database(infra, f"{service}_migrated") as migrated, _database(infra, f"{service}_declared") as declared:
        upgrade_to_head(f"ledgerline.{service}", migrated)
        _on(declared, metadata.create_all)
        assert _on(migrated, _autogenerate_differences(metadata)) == []
        migrated_catalog, declared_catalog = _on(migrated, _catalog), _on(declared, _catalog)
        assert migrated_catalog["constraints"], "the migrations created no constraint"
        for kind, found in migrated_catalog.items():
            assert sorted(found - declared_catalog[kind]) == [], f"{kind} only the migrations create"
            assert sorted(declared_catalog[kind] - found) == [], f"{kind} only the tables declare"
