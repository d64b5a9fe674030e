"""One benchmark run: pgbench for the yardstick, then each workload, its figures and the books."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ledgerline.bench import workloads as w
from ledgerline.bench.load import ApiClient, LoadResult, Request, bulk_loop, closed_loop, open_loop
from ledgerline.bench.processes import Watched, cpu_seconds
from ledgerline.bench.stats import Latency, SagaTiming, completed_per_s, saga_latency
from ledgerline.verify.reading import Limits, Sources, verify

OUTCOMES_METRIC = "ledgerline_saga_outcomes_total"
OUTCOME_POLL_S = 0.2
DETAIL_CONCURRENCY = 32
TERMINAL = frozenset({"COMPLETED", "FAILED", "COMPENSATED"})


@dataclass(frozen=True, slots=True)
class BenchOptions:
    mode: str
    wallets: int
    transfers: int
    concurrency: int
    deposits: int
    mix: int
    hot: int
    bulk_requests: int
    bulk_size: int
    rates_per_s: tuple[float, ...]
    rate_duration_s: float
    settle_timeout_s: float
    pgbench_scale: int
    pgbench_duration_s: int
    # Wallet counts to grow to, measuring transfers at each (empty: no scale run).
    scale_wallets: tuple[int, ...] = ()
    pgbench_clients: int = 8
    pgbench_threads: int = 2
    # Atomic (all or none) bulk requests of `bulk_size` transfers each; none in the quick mode.
    atomic_bulk_requests: int = 0


QUICK = BenchOptions("quick", 20, 150, 16, 40, 60, 40, 2, 100, (), 0, 120, 1, 5)
FULL = BenchOptions(
    "full",
    100,
    1000,
    32,
    300,
    500,
    300,
    10,
    1000,
    (25, 50, 100, 150, 200, 300),
    10,
    600,
    10,
    20,
    atomic_bulk_requests=10,
)
BULK_CONCURRENCY = 2


@dataclass
class Run:
    """What a workload run accumulates: the wallets, the figures; `databases` are read for the books."""

    client: ApiClient
    options: BenchOptions
    pgbench_tps: float
    watched: list[Watched]
    databases: Sources
    wallets: w.Wallets | None = None
    completed_transfers: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    # Where the run says what it is doing (a terminal status line); a long run is never silent.
    progress: Callable[[str], None] = lambda _: None

    def opened_wallets(self) -> w.Wallets:
        if self.wallets is None:
            raise RuntimeError("the benchmark's wallets are not open yet: `setup` opens them")
        return self.wallets


async def outcomes_total(client: ApiClient) -> float:
    """Sagas ended so far, summed over the payment instances (each counts its own)."""
    return sum(
        sample.value
        for text in await client.metrics_texts()
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == OUTCOMES_METRIC
    )


async def wait_for_outcomes(client: ApiClient, target: float, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await outcomes_total(client) >= target:
            return True
        await asyncio.sleep(OUTCOME_POLL_S)
    return False


async def payment_details(client: ApiClient, ids: Sequence[str]) -> list[dict[str, Any]]:
    semaphore = asyncio.Semaphore(DETAIL_CONCURRENCY)

    async def one(payment_id: str) -> dict[str, Any]:
        async with semaphore:
            detail: dict[str, Any] = await client.get_json(f"{client.next_payment_url()}/v1/payments/{payment_id}")
            return detail

    return list(await asyncio.gather(*(one(i) for i in ids)))


def timing(detail: dict[str, Any]) -> SagaTiming:
    history = detail["history"]
    finished = next((h["at"] for h in history if h["to_status"] in TERMINAL), None)
    return SagaTiming(
        detail["status"],
        datetime.fromisoformat(history[0]["at"]),
        datetime.fromisoformat(finished) if finished else None,
    )


async def measured(
    run: Run, name: str, load: Callable[[], Any], parameters: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run `load` (returns a LoadResult), wait for its sagas, and compute its figures."""
    run.progress(f"{name}: {len(run.results) + 1} workloads so far...")
    before_outcomes = await outcomes_total(run.client)
    cpu_before = cpu_seconds(run.watched)
    result: LoadResult = await load()
    accepted = result.accepted_ids
    settled = await wait_for_outcomes(run.client, before_outcomes + len(accepted), run.options.settle_timeout_s)
    cpu_after = cpu_seconds(run.watched)
    details = await payment_details(run.client, accepted)
    timings = [timing(d) for d in details]
    statuses: dict[str, int] = {}
    for d in details:
        statuses[d["status"]] = statuses.get(d["status"], 0) + 1
    per_s = completed_per_s(timings)
    completed = statuses.get("COMPLETED", 0)
    figures = {
        "workload": name,
        **parameters,
        "requests": len(result.sent) + result.skipped,
        "accepted": len(accepted),
        "rejected": result.errors,
        "shed": result.shed_total,
        "skipped_by_client": result.skipped,
        "statuses": statuses,
        "all_terminal": settled and sum(statuses.get(s, 0) for s in TERMINAL) == len(accepted),
        "completed_per_s": per_s,
        "ratio_to_pgbench": round(per_s / run.pgbench_tps, 5) if run.pgbench_tps else None,
        "post_latency": Latency.of([s.latency_s for s in result.sent]).as_dict(),
        "saga_latency": saga_latency(timings).as_dict(),
        "cpu_s_per_1000": {
            process: round((cpu_after.get(process, 0.0) - seconds) * 1000 / max(1, completed), 2)
            for process, seconds in sorted(cpu_before.items())
        },
    }
    return figures, details


async def finish(run: Run, figures: dict[str, Any]) -> None:
    """The books after a workload: every check of `ledgerline verify` on the platform's databases."""
    report = await verify(run.databases, Limits(stale_after_s=run.options.settle_timeout_s))
    figures["books"] = {
        "ok": report.ok,
        "found": {t.check: t.found for t in report.tallies.values()},
        "checked": {t.check: t.checked for t in report.tallies.values()},
        "summary": report.summary(),
    }
    run.results.append(figures)


async def setup(run: Run) -> None:
    ids = await w.open_wallets(run.client, run.options.wallets + 1)
    run.wallets = w.Wallets(ids[:-1], ids[-1])
    funding = [w.deposit(i, w.FUNDING) for i in run.wallets.ids] + [w.deposit(run.wallets.hot, w.HOT_FUNDING)]
    figures, _ = await measured(
        run, "funding deposits", lambda: closed_loop(run.client, funding, w.SETUP_CONCURRENCY), {}
    )
    await finish(run, figures)


async def closed(run: Run, name: str, requests: list[Request]) -> list[dict[str, Any]]:
    concurrency = run.options.concurrency
    figures, details = await measured(
        run, name, lambda: closed_loop(run.client, requests, concurrency), {"concurrency": concurrency}
    )
    await finish(run, figures)
    return details


async def drive(run: Run) -> list[dict[str, Any]]:
    o = run.options
    await setup(run)
    wallets = run.opened_wallets()
    details = await closed(run, "transfers", w.transfers(wallets, o.transfers))
    run.completed_transfers = [d["id"] for d in details if d["status"] == "COMPLETED" and d["type"] == "transfer"]
    for rate in o.rates_per_s:
        figures, _ = await measured(
            run,
            "transfers (open loop)",
            partial(
                open_loop,
                run.client,
                lambda _: w.transfer(*wallets.pair()),
                rate_per_s=rate,
                duration_s=o.rate_duration_s,
            ),
            {"rate_per_s": rate, "duration_s": o.rate_duration_s},
        )
        await finish(run, figures)
    await closed(run, "deposits", w.deposits(wallets, o.deposits))
    await closed(run, "mix (transfers, refunds, withdrawals)", w.mix(wallets, o.mix, run.completed_transfers))
    await closed(run, "hot wallet (one source)", w.hot_wallet(wallets, o.hot))
    await bulk(run, "bulk transfers (POST /v1/transfers/batch)", o.bulk_requests, atomic=False)
    if o.atomic_bulk_requests:
        await bulk(run, "atomic bulk transfers (all or none)", o.atomic_bulk_requests, atomic=True)
    await scale(run)
    return run.results


async def bulk(run: Run, name: str, requests: int, *, atomic: bool) -> None:
    wallets, size = run.opened_wallets(), run.options.bulk_size
    batches = [[r.body for r in w.transfers(wallets, size)] for _ in range(requests)]
    figures, _ = await measured(
        run,
        name,
        lambda: bulk_loop(run.client, batches, BULK_CONCURRENCY, atomic=atomic),
        {"concurrency": BULK_CONCURRENCY, "batch_size": size, "atomic": atomic},
    )
    await finish(run, figures)


async def ledger_caught_up(client: ApiClient, last_wallet_id: str, timeout_s: float) -> None:
    """Wait until the ledger has opened the account of the last seeded wallet (events are in order
    per partition, so this is close to all of them): seeding should not be measured as transfers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            await client.get_json(f"{client.ledger_url}/v1/accounts/{last_wallet_id}")
            return
        except RuntimeError:
            await asyncio.sleep(OUTCOME_POLL_S)
    raise RuntimeError(f"the ledger did not open the seeded accounts within {timeout_s:.0f}s")


async def scale(run: Run) -> None:
    """Transfers at each wallet count: throughput and latency should not depend on it."""
    wallets = run.opened_wallets()
    population: list[str] = [*wallets.ids, wallets.hot]
    for target in run.options.scale_wallets:
        seeding: dict[str, Any] = {}
        if target > len(population):
            started, before = time.monotonic(), len(population)

            def seeded(count: int, before: int = before, target: int = target) -> None:
                run.progress(f"opening wallets: {before + count:,} of {target:,}...")

            population += await w.seed_wallets(run.client, target - before, before, on_page=seeded)
            run.progress(f"the ledger opening the accounts of {target:,} wallets...")
            await ledger_caught_up(run.client, population[-1], run.options.settle_timeout_s)
            elapsed = time.monotonic() - started
            seeding = {
                "seeded": target - before,
                "seed_s": round(elapsed, 1),
                "seeded_per_s": round((target - before) / elapsed, 1),
            }
        requests = w.spread_transfers(wallets, population, run.options.transfers)
        figures, _ = await measured(
            run,
            f"transfers among {target:,} wallets",
            partial(closed_loop, run.client, requests, run.options.concurrency),
            {"concurrency": run.options.concurrency, "wallets": target, **seeding},
        )
        figures["history_page_latency"] = (await history_pages(run.client, wallets.ids)).as_dict()
        await finish(run, figures)


HISTORY_PAGE_SIZE = 50
HISTORY_CONCURRENCY = 8


async def history_pages(client: ApiClient, wallet_ids: Sequence[str]) -> Latency:
    """The first history page of each of the busiest wallets: its latency should not grow with
    the number of wallets or payments."""
    semaphore = asyncio.Semaphore(HISTORY_CONCURRENCY)

    async def one(wallet_id: str) -> float:
        async with semaphore:
            started = time.perf_counter()
            await client.get_json(
                f"{client.payment_url}/v1/payments", {"wallet_id": wallet_id, "limit": str(HISTORY_PAGE_SIZE)}
            )
            return time.perf_counter() - started

    return Latency.of(await asyncio.gather(*(one(wallet_id) for wallet_id in wallet_ids)))


def summary(pgbench: Any, options: BenchOptions, results: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "mode": options.mode,
        "options": asdict(options),
        "pgbench": asdict(pgbench),
        "workloads": results,
        "books_ok": all(r["books"]["ok"] for r in results),
        "all_terminal": all(r["all_terminal"] for r in results),
        **extra,
    }
