"""`ledgerline top` draws the overview from a real Prometheus scraping a running platform: after a
transfer and a declined card, one frame shows their outcomes, each service's latency and books
that are whole; the command prints the same frame with `--once`."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import httpx
from rich.console import Console

from ledgerline.cli.top import Overview, read_overview, render
from ledgerline.client import LedgerlineClient
from ledgerline.infra.prometheus import PrometheusServer
from tests.books import funded_wallet, wallet_minor
from tests.polling import eventually

# Two scrapes at five seconds for a rate, plus a machine busy with other tests.
DATA_WITHIN_S = 90.0
FRAME_WIDTH = 160
# The command starts a fresh interpreter and imports rich, httpx and the CLI: seconds on a quiet
# machine, over a minute when three suites share two cores.
COMMAND_TIMEOUT_S = 240
QS = ("50", "95", "99")


def _frame(overview: Overview) -> str:
    console = Console(record=True, width=FRAME_WIDTH, color_system=None)
    console.print(render(overview))
    return console.export_text()


async def test_one_frame_shows_outcomes_latency_and_the_books(
    client: LedgerlineClient, local_prometheus: PrometheusServer
) -> None:
    alice = await funded_wallet(client, "alice", "20.00")
    bob = await funded_wallet(client, "bob", "0")
    transfer = await client.transfer(alice, bob, "7.50")
    assert transfer["status"] == "COMPLETED"
    assert (await wallet_minor(client, bob))["balance"] == 750
    declined = await client.deposit(alice, "5.00", card_token="tok_declined")
    assert declined["status"] == "FAILED" and declined["failure_reason"] == "card_declined"

    def complete() -> Overview | None:
        with httpx.Client() as http:
            overview = read_overview(local_prometheus.url, http)
        outcomes = overview.values.get("outcomes", {})
        ready = (
            "transfer completed none" in outcomes
            and "deposit failed card_declined" in outcomes
            # NaN until two scrapes have seen the payment service's requests rise.
            and all(not math.isnan(overview.values.get(f"latency_p{q}", {}).get("payment", math.nan)) for q in QS)
            and overview.one("mismatches") is not None
        )
        return overview if ready else None

    overview = await eventually(complete, timeout_s=DATA_WITHIN_S)
    assert overview is not None, "Prometheus never had the transfer, the declined card and the books"
    assert not overview.errors
    assert overview.values["outcomes"]["transfer completed none"] >= 1
    frame = _frame(overview)
    assert "transfer completed none" in frame
    assert "deposit failed card_declined" in frame
    assert "Books: whole" in frame
    assert "mismatched wallets 0" in frame
    latency_rows = [line for line in frame.splitlines() if line.strip("│ ").startswith("payment ")]
    assert latency_rows, frame
    assert latency_rows[0].count(" ms") + latency_rows[0].count(" s ") == 3, latency_rows  # p50, p95, p99.

    printed = subprocess.run(
        [sys.executable, "-m", "ledgerline.cli", "top", "--once", "--prometheus", local_prometheus.url],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        env=os.environ | {"COLUMNS": str(FRAME_WIDTH)},
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert "transfer completed none" in printed.stdout
    assert "Books: whole" in printed.stdout
