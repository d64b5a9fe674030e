"""`ledgerline bench --url` runs pgbench in a scratch database it creates when the server lacks it."""

from __future__ import annotations

import uuid

import pytest

from ledgerline.bench.pgbench import PgbenchError, ensure_database, find_pgbench
from ledgerline.infra.launcher import Infrastructure


def test_the_scratch_database_is_created_once_and_a_bad_name_refused(infra: Infrastructure) -> None:
    psql = find_pgbench(infra.postgres.bindir).with_name("psql")
    name = f"pgbench_{uuid.uuid4().hex[:10]}"
    dsn = infra.postgres.url(name, driver="postgresql")
    try:
        ensure_database(psql, dsn)
        ensure_database(psql, dsn)  # Already there: left as it is.
        assert name in infra.postgres.psql("SELECT datname FROM pg_database").split()
    finally:
        infra.postgres.psql(f'DROP DATABASE IF EXISTS "{name}"')
    with pytest.raises(PgbenchError, match="scratch database name"):
        ensure_database(psql, infra.postgres.url('x"; DROP DATABASE postgres; --', driver="postgresql"))
