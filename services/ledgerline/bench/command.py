"""`ledgerline bench`: pgbench first, then Ledgerline's workloads, on one PostgreSQL, in one run."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.status import Status

from ledgerline.bench.load import ApiClient
from ledgerline.bench.pgbench import find_pgbench, run_pgbench
from ledgerline.bench.processes import listening
from ledgerline.bench.report import print_table, write_json, write_picture
from ledgerline.bench.runner import BenchOptions, Run, drive, summary
from ledgerline.bench.session import Target
from ledgerline.bench.watch import WatchedRun
from ledgerline.cli.report import RANGE_MAX_S, ReportError, read_charts, write_report
from ledgerline.client import register_customer
from ledgerline.core.access_tokens import ClientCredentials
from ledgerline.infra.prometheus import SCRAPE_INTERVAL_S

CLIENT_CONNECTIONS_MAX = 256
# Two scrapes of the local Prometheus: the run's last seconds are in the report.
REPORT_SETTLE_S = 2 * SCRAPE_INTERVAL_S


def run_bench(
    console: Console,
    options: BenchOptions,
    target: AbstractContextManager[Target],
    out_dir: Path,
    *,
    report_dir: Path | None = None,
) -> dict[str, Any]:
    """The whole run; returns the result written to `out_dir` (books and sagas checked). With
    `report_dir`, also the charts of `ledgerline report` over the run, from the target's Prometheus."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with contextlib.ExitStack() as stack:
        with _status(console, "starting the platform..."):
            where = stack.enter_context(target)
        console.print(f"target: {where.description}")
        if where.prometheus_url:
            console.print(f"watch it live: ledgerline top --prometheus {where.prometheus_url}")
        driving_since = time.time()
        with _status(console, f"pgbench: scale {options.pgbench_scale}, {options.pgbench_duration_s}s..."):
            pg = run_pgbench(
                find_pgbench(where.pgbench_bindir),
                where.pgbench_dsn,
                scale=options.pgbench_scale,
                clients=options.pgbench_clients,
                threads=options.pgbench_threads,
                duration_s=options.pgbench_duration_s,
            )
        console.print(f"pgbench: {pg.tps:.0f} tps ({pg.command})")
        with _driving(console, where.prometheus_url) as status:
            results = asyncio.run(
                _drive(where, options, pg.tps, lambda text: status.update(f"driving Ledgerline: {text}"))
            )
        if report_dir is not None:
            try:
                with _status(console, "drawing the run from Prometheus..."):
                    charts = _report(where, report_dir, driving_since)
                console.print(f"report: {len(charts)} charts in {report_dir}")
            except ReportError as error:  # The run's own results are still written below.
                console.print(f"[red]no report:[/] {error}")
    result = summary(pg, options, results, started_at=started_at, target=where.description, cpus=os.cpu_count())
    print_table(console, result)
    path = write_json(out_dir, result)
    picture = write_picture(out_dir, result)
    console.print(f"results: {path}" + (f", picture: {picture}" if picture else ""))
    return result


async def _drive(
    target: Target, options: BenchOptions, pgbench_tps: float, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    # One customer owns every wallet of the run and sends every payment; the operator checks the books.
    client = ApiClient(
        payment_url=target.payment_url,
        wallet_url=target.wallet_url,
        ledger_url=target.ledger_url,
        connections_max=CLIENT_CONNECTIONS_MAX,
        payment_urls=target.payment_urls,
        customer=await register_customer(target.identity_url),
        operator=ClientCredentials(target.identity_url, *target.operator_credentials),
    )
    try:
        run = Run(client, options, pgbench_tps, listening(target.ports), target.databases, progress=progress)
        return await drive(run)
    finally:
        await client.close()


def _report(target: Target, report_dir: Path, since: float) -> list[Path]:
    """The charts of `ledgerline report` from the start of the run to its last scrape."""
    if target.prometheus_url is None:
        raise ReportError(f"no Prometheus scrapes {target.description}: nothing to draw the report from")
    time.sleep(REPORT_SETTLE_S)
    range_s = min(RANGE_MAX_S, math.ceil(time.time() - since) + REPORT_SETTLE_S)
    with httpx.Client() as http:
        return write_report(read_charts(target.prometheus_url, range_s, http), report_dir)


def _driving(console: Console, prometheus_url: str | None) -> AbstractContextManager[Status | WatchedRun]:
    """The progress line; in a terminal, with a Prometheus scraping the run, over its live overview."""
    if prometheus_url is not None and console.is_terminal:
        return WatchedRun(console, prometheus_url)
    return console.status("driving Ledgerline...")


@contextlib.contextmanager
def _status(console: Console, text: str) -> Iterator[None]:
    with console.status(text):
        yield
