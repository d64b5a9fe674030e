"""`ledgerline bench --quick` against the running platform: every workload's payments finish, the
books balance after each one, and the results (JSON and picture) are written; with a report
folder, the charts of `ledgerline report` over the run are drawn from a Prometheus scraping the
platform while it ran. Speed is not asserted here; `make bench` measures it."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from ledgerline.bench.command import run_bench
from ledgerline.bench.runner import QUICK
from ledgerline.bench.session import PGBENCH_DATABASE, running_target
from ledgerline.infra.platform import Platform
from ledgerline.infra.prometheus import start_local_prometheus


def test_quick_bench_moves_money_and_keeps_the_books(platform: Platform, tmp_path: Path) -> None:
    platform.infra.postgres.create_database(PGBENCH_DATABASE)
    said: list[str] = []
    prometheus = start_local_prometheus(platform, said.append)
    assert prometheus is not None, said
    try:
        _run_and_check(platform, tmp_path, prometheus.url)
    finally:
        prometheus.stop()


def _run_and_check(platform: Platform, tmp_path: Path, prometheus_url: str) -> None:
    target = running_target(
        payment_url=platform.url("payment"),
        wallet_url=platform.url("wallet"),
        ledger_url=platform.url("ledger"),
        pgbench_dsn=platform.infra.postgres.url(PGBENCH_DATABASE, driver="postgresql"),
        identity_url=platform.url("identity"),
        operator_credentials=platform.operator_credentials,
        prometheus_url=prometheus_url,
    )
    # A small scale step too: wallets seeded through the bulk API, transfers among all of them.
    scaled = QUICK.wallets + 150
    options = replace(QUICK, scale_wallets=(scaled,))
    result = run_bench(Console(width=160), options, nullcontext(target), tmp_path, report_dir=tmp_path / "report")

    assert result["pgbench"]["tps"] > 0
    names = [w["workload"] for w in result["workloads"]]
    assert names == [
        "funding deposits",
        "transfers",
        "deposits",
        "mix (transfers, refunds, withdrawals)",
        "hot wallet (one source)",
        "bulk transfers (POST /v1/transfers/batch)",
        f"transfers among {scaled:,} wallets",
    ]
    for workload in result["workloads"]:
        assert workload["all_terminal"], workload
        assert workload["books"]["ok"], workload["books"]
        said = {k: workload.get(k) for k in ("workload", "requests", "accepted", "rejected", "shed", "statuses")}
        assert workload["accepted"] == workload["requests"] > 0, said
        assert workload["statuses"].get("COMPLETED", 0) == workload["accepted"], workload["statuses"]
        assert workload["saga_latency"]["count"] == workload["accepted"]
        assert 0 < workload["saga_latency"]["p50_ms"] <= workload["saga_latency"]["p99_ms"]
    # The busiest wallets' history pages were read after the scale step.
    assert result["workloads"][-1]["history_page_latency"]["count"] == QUICK.wallets
    mix = result["workloads"][3]
    # Deposits and withdrawals changed the supply by exactly what completed: the books say so,
    # having read every wallet the benchmark opened.
    assert mix["books"]["found"]["money_supply"] == 0, mix["books"]
    assert mix["books"]["checked"]["wallets_reconciled"] > QUICK.wallets, mix["books"]
    assert mix["books"]["checked"]["entry_once_per_payment"] >= sum(w["accepted"] for w in result["workloads"][:4])
    written = json.loads((tmp_path / "latest-quick.json").read_text())
    assert written["workloads"] == result["workloads"]
    assert (tmp_path / "latest-quick.png").stat().st_size > 10_000
    # The report drew the run: transfers completed at a positive rate while it drove them.
    throughput = json.loads((tmp_path / "report" / "throughput.json").read_text())
    transfers = [series for series in throughput["series"] if series["label"] == "transfer"]
    assert transfers and max(value for _, value in transfers[0]["points"]) > 0, throughput["series"]
    assert {path.stem for path in (tmp_path / "report").glob("*.png")} == {
        path.stem for path in (tmp_path / "report").glob("*.json")
    }
