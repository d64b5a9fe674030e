"""`ledgerline report` draws a run from a real Prometheus scraping a running platform: after a few
transfers and a declined card, the command writes a valid PNG per chart with its data as JSON,
and the data holds the run (transfers completed per second, the saga's percentiles, the declined
card among the outcomes, the backlog and the lag)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from ledgerline.cli.main import app
from ledgerline.cli.report import CHARTS, ReportError, parse_duration, step_for
from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from ledgerline.infra.prometheus import PrometheusServer, job_name
from tests.books import assert_books_balance, funded_wallet, wallet_minor
from tests.polling import eventually

# A few scrapes at five seconds for a rate, plus a machine busy with other tests.
DATA_WITHIN_S = 120.0
REPORT_TIMEOUT_S = 600.0  # A fresh interpreter and matplotlib on a machine shared with other runs.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _query(prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def _every_service_scraped(prometheus: PrometheusServer, platform: Platform) -> bool:
    up = {sample["metric"]["job"] for sample in _query(prometheus, "up == 1")}
    return up >= {job_name(service) for service in platform.services}


def _arguments(prometheus: PrometheusServer, out: Path) -> list[str]:
    return ["report", "--since", "5m", "--out", str(out), "--prometheus", prometheus.url]


def _run_report(prometheus: PrometheusServer, out: Path) -> Result:
    """The command itself, in this process: a fresh interpreter importing matplotlib can take
    minutes on a machine shared with other runs."""
    return CliRunner().invoke(app, _arguments(prometheus, out), terminal_width=400)


@pytest.mark.timeout(900)  # A platform, a load, a few scrapes and five pictures on a busy machine.
async def test_the_report_draws_the_run(
    platform: Platform, client: LedgerlineClient, local_prometheus: PrometheusServer, tmp_path: Path
) -> None:
    assert await eventually(lambda: _every_service_scraped(local_prometheus, platform), DATA_WITHIN_S)
    alice = await funded_wallet(client, "alice", "30.00")
    bob = await funded_wallet(client, "bob", "0")
    for _ in range(4):
        assert (await client.transfer(alice, bob, "2.00"))["status"] == "COMPLETED"
    declined = await client.deposit(alice, "5.00", card_token="tok_declined")
    assert (declined["status"], declined["failure_reason"]) == ("FAILED", "card_declined")
    assert (await wallet_minor(client, bob))["balance"] == 800

    # Prometheus has seen the transfers rise once a rate of them is non-zero, and the declined
    # card (a series that starts with it) once it has a rate at all: two scrapes of it.
    seen = (
        'sum(rate(ledgerline_saga_outcomes_total{type="transfer",outcome="completed"}[1m])) > 0',
        'rate(ledgerline_saga_outcomes_total{type="deposit",reason="card_declined"}[1m])',
    )
    for expr in seen:
        assert await eventually(partial(_query, local_prometheus, expr), DATA_WITHIN_S), f"{expr} stayed empty"

    out = tmp_path / "report"
    done = _run_report(local_prometheus, out)
    assert done.exit_code == 0, done.output
    assert "no data" not in done.output, done.output
    for chart in CHARTS:
        png, data = out / f"{chart.name}.png", json.loads((out / f"{chart.name}.json").read_text())
        assert png.read_bytes().startswith(PNG_SIGNATURE)
        with Image.open(png) as image:
            image.verify()
            assert image.size[0] > 100 and image.size[1] > 100
        assert data["title"] == chart.title
        assert data["series"] and all(series["points"] for series in data["series"]), f"{chart.name} has no data"

    def lines(name: str) -> dict[str, list[list[float]]]:
        data = json.loads((out / f"{name}.json").read_text())
        return {series["label"]: series["points"] for series in data["series"]}

    assert max(value for _, value in lines("throughput")["transfer"]) > 0
    assert set(lines("saga_latency")) == {"p50", "p95", "p99"}
    assert all(value > 0 for points in lines("saga_latency").values() for _, value in points)
    assert any(label == "deposit failed card_declined" for label in lines("outcomes"))
    assert "payment" in lines("outbox_backlog")
    await assert_books_balance(client)


def test_a_prometheus_out_of_reach_is_an_error_not_a_picture(tmp_path: Path) -> None:
    unreachable = PrometheusServer(tmp_path, 9, {})  # Port 9 (discard): nothing answers HTTP there.
    command = [sys.executable, "-m", "ledgerline.cli", *_arguments(unreachable, tmp_path / "report")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S, check=False)
    assert done.returncode == 1
    assert "cannot read throughput" in done.stdout
    assert not list((tmp_path / "report").glob("*.png"))


@pytest.mark.parametrize("text", ["", "10", "0m", "-5m", "5w", "3d"])
def test_a_range_must_be_a_duration_the_local_prometheus_keeps(text: str) -> None:
    with pytest.raises(ReportError):
        parse_duration(text)


def test_ranges_and_steps() -> None:
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("2d") == 172_800
    assert step_for(600) == 5  # One point per scrape on a short run.
    assert step_for(172_800) == 240  # At most 720 points on the longest.
