"""`ledgerline bench --quick` against the running platform: every workload's payments finish, the
books balance after each one, and the results (JSON and picture) are written. Speed is not
asserted here; `make bench` measures it."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console

from ledgerline.bench.command import run_bench
from ledgerline.bench.runner import QUICK
from ledgerline.bench.session import PGBENCH_DATABASE, running_target
from ledgerline.infra.platform import Platform


def test_quick_bench_moves_money_and_keeps_the_books(platform: Platform, tmp_path: Path) -> None:
    platform.infra.postgres.create_database(PGBENCH_DATABASE)
    target = running_target(
        payment_url=platform.url("payment"),
        wallet_url=platform.url("wallet"),
        ledger_url=platform.url("ledger"),
        pgbench_dsn=platform.infra.postgres.url(PGBENCH_DATABASE, driver="postgresql"),
        identity_url=platform.url("identity"),
        operator_credentials=platform.operator_credentials,
    )
    result = run_bench(Console(width=160), QUICK, nullcontext(target), tmp_path)

    assert result["pgbench"]["tps"] > 0
    names = [w["workload"] for w in result["workloads"]]
    assert names == [
        "funding deposits",
        "transfers",
        "deposits",
        "mix (transfers, refunds, withdrawals)",
        "hot wallet (one source)",
        "bulk transfers (POST /v1/transfers/batch)",
    ]
    for workload in result["workloads"]:
        assert workload["all_terminal"], workload
        assert workload["books"]["ok"], workload["books"]
        assert workload["accepted"] == workload["requests"] > 0, workload
        assert workload["statuses"].get("COMPLETED", 0) == workload["accepted"], workload["statuses"]
        assert workload["saga_latency"]["count"] == workload["accepted"]
        assert 0 < workload["saga_latency"]["p50_ms"] <= workload["saga_latency"]["p99_ms"]
    mix = result["workloads"][3]
    # Deposits and withdrawals changed the supply by exactly what completed: the books say so.
    assert mix["books"]["money_supply_minor"] == mix["books"]["expected_supply_minor"]
    written = json.loads((tmp_path / "latest-quick.json").read_text())
    assert written["workloads"] == result["workloads"]
    assert (tmp_path / "latest-quick.png").stat().st_size > 10_000
