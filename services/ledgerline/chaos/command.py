"""`ledgerline chaos`: seeds one after the other on one platform, each printed with its schedule,
figures and findings; the exit code says whether any seed found a violation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ledgerline.chaos.platform import chaos_platform
from ledgerline.chaos.run import ChaosOptions, SeedResult, run_seed
from ledgerline.verify.report import render

PLATFORM_HEALTH_TIMEOUT_S = 300.0


def run_chaos(console: Console, seeds: Sequence[int], options: ChaosOptions, kafka_backend: str) -> list[SeedResult]:
    started = time.monotonic()

    def log(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:7.1f}s[/] {message}", highlight=False, soft_wrap=True)

    results = []
    with console.status(f"starting the platform (Kafka backend {kafka_backend})..."):
        platform = chaos_platform(kafka_backend, log)
        chaos = platform.__enter__()
    try:
        for seed in seeds:
            if not chaos.wait_healthy(PLATFORM_HEALTH_TIMEOUT_S):
                raise RuntimeError(f"the platform is not healthy before seed {seed}")
            console.rule(f"seed {seed}")
            result = asyncio.run(run_seed(chaos, seed, options, log))
            print_seed(console, result)
            chaos.keep_logs = chaos.keep_logs or not result.ok
            results.append(result)
    finally:
        platform.__exit__(None, None, None)
    print_summary(console, results, time.monotonic() - started)
    return results


def print_seed(console: Console, result: SeedResult) -> None:
    console.print(f"seed {result.seed}: load {result.plan.load_s:.0f}s, faults:")
    for fault in result.plan.faults:
        console.print(f"  {fault.describe()}", highlight=False)
    console.print("figures: " + json.dumps(result.figures), highlight=False)
    if result.findings:
        table = Table(title=f"seed {result.seed}: {len(result.findings)} findings", title_justify="left")
        for column in ("check", "subject", "detail"):
            table.add_column(column)
        for finding in result.findings:
            table.add_row(finding.check, finding.subject, finding.detail)
        console.print(table)
    if result.books is not None and not result.books.ok:
        render(result.books, console)
    verdict = "[green]no violation[/]" if result.ok else f"[red]VIOLATIONS[/] (replay with SEED={result.seed})"
    console.print(f"seed {result.seed}: {verdict}")


def print_summary(console: Console, results: Sequence[SeedResult], elapsed_s: float) -> None:
    table = Table(title=f"ledgerline chaos: {len(results)} seeds in {elapsed_s:.0f}s", title_justify="left")
    for column in ("seed", "faults", "requests", "accepted", "statuses", "restarts", "findings", ""):
        table.add_column(column)
    for r in results:
        table.add_row(
            str(r.seed),
            ", ".join(fault.kind.value for fault in r.plan.faults),
            str(r.figures.get("requests", "-")),
            str(r.figures.get("accepted", "-")),
            " ".join(f"{k}={v}" for k, v in sorted(r.figures.get("statuses", {}).items())),
            str(r.figures.get("process_restarts", "-")),
            str(len(r.findings) + (0 if r.books is None or r.books.ok else 1)),
            "[green]ok[/]" if r.ok else "[red]WRONG[/]",
        )
    console.print(table)
