"""The short chaos run: three seeds of mixed load with SIGKILLs, pauses, bank faults, Redis losing
its data and network faults (through toxiproxy) on Apache Kafka, after which every payment is
terminal, every retry got one payment, every outcome was announced once and `ledgerline verify`
finds the books whole (`make chaos` is the long run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from ledgerline.chaos.command import print_seed
from ledgerline.chaos.platform import ChaosPlatform, chaos_platform
from ledgerline.chaos.run import ChaosOptions, run_seed
from ledgerline.chaos.schedule import Kind

pytestmark = [pytest.mark.apache, pytest.mark.chaos]
# Between them, these three seeds inject every kind of fault but the bank's errors, and network
# faults towards both PostgreSQL and the broker.
SEEDS = (1, 7, 40)
SHORT = ChaosOptions(load_s=10.0, faults=3, settle_bound_s=120.0)
HEALTHY_TIMEOUT_S = 300.0
KILLS = (Kind.KILL, Kind.KILL_TWO, Kind.REDIS_LOST)


@pytest.fixture(scope="module")
def chaos() -> Iterator[ChaosPlatform]:
    with chaos_platform("apache", print) as platform:
        yield platform


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_seed_of_faults_loses_nothing(chaos: ChaosPlatform, seed: int) -> None:
    assert chaos.wait_healthy(HEALTHY_TIMEOUT_S), "the platform is not healthy before the seed"
    started = time.monotonic()
    result = asyncio.run(run_seed(chaos, seed, SHORT, print))
    print_seed(Console(width=200), result)
    print(f"seed {seed} took {time.monotonic() - started:.0f}s")
    assert result.books is not None and result.books.ok, result.books.summary() if result.books else "no books"
    assert result.findings == [], result.findings
    statuses = result.figures["statuses"]
    assert result.figures["accepted"] > 0 and statuses.get("COMPLETED", 0) > 0, result.figures
    if any(fault.kind in KILLS for fault in result.plan.faults):
        assert result.figures["process_restarts"] > 0, "a kill was planned but nothing was restarted"
