"""The Prometheus that `ledgerline up` starts has a configuration promtool accepts, sees every
service of a running platform `up`, loads the repository's rules and evaluates them on live data."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ledgerline.infra.platform import DEFAULT_PORTS, SERVICES, Platform
from ledgerline.infra.prometheus import OPERATOR, PrometheusServer, job_name, start_local_prometheus
from ledgerline_operator.settings import METRICS_PORT
from tests.observability.conftest import RULES_FILES

# Two scrapes (a rate needs two samples) and one rule evaluation at the five-second interval,
# with room for a machine busy with other work.
LIVE_DATA_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 1.0


def test_the_configuration_passes_promtool(tmp_path: Path, promtool: Path) -> None:
    server = PrometheusServer(tmp_path, DEFAULT_PORTS["prometheus"], {s: DEFAULT_PORTS[s] for s in SERVICES})
    # `check config` also checks every rule file the configuration loads.
    result = subprocess.run(
        [str(promtool), "check", "config", str(server.write_config())], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def prometheus(platform: Platform) -> Iterator[PrometheusServer]:
    """Started the way `ledgerline up` starts it, and stopped after the test."""
    said: list[str] = []
    server = start_local_prometheus(platform, said.append)
    assert server is not None, said
    assert any(server.url in line for line in said), said
    yield server
    server.stop()
    assert server.process is not None and not server.process.running


def _api(prometheus: PrometheusServer, path: str, **params: str) -> Any:
    response = httpx.get(f"{prometheus.url}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def _eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + LIVE_DATA_TIMEOUT_S
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {LIVE_DATA_TIMEOUT_S:.0f}s: {what}")
        time.sleep(POLL_INTERVAL_S)


def test_every_service_is_scraped_and_up(platform: Platform, prometheus: PrometheusServer) -> None:
    expected = {job_name(service) for service in platform.services}
    # The operator needs a cluster: its target is there, and down, until someone runs it here.
    operator = job_name(OPERATOR)

    def all_up() -> bool:
        targets = _api(prometheus, "targets", state="active")["activeTargets"]
        scraped = {t["labels"]["job"]: t for t in targets if t["lastScrape"] != "0001-01-01T00:00:00Z"}
        return (
            {job for job, t in scraped.items() if t["health"] == "up"} == expected
            and set(scraped) == expected | {operator}
            and scraped[operator]["health"] == "down"
        )

    _eventually(all_up, f"every target of {sorted(expected)} up, {operator} down")


def test_the_operator_is_scraped_where_it_serves_by_default() -> None:
    assert DEFAULT_PORTS[OPERATOR] == METRICS_PORT


def test_the_repository_rules_are_loaded_and_evaluate(platform: Platform, prometheus: PrometheusServer) -> None:
    groups = _api(prometheus, "rules")["groups"]
    loaded = {(g["name"], r["name"]) for g in groups for r in g["rules"]}
    declared = {
        (g["name"], r.get("record") or r["alert"])
        for path in RULES_FILES
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
    }
    assert loaded == declared

    # The scrapes themselves are requests to /metrics, so within a few scrapes the recording
    # rule has a rate for every service: proof that the rules run on what is scraped.
    def recorded() -> set[str]:
        result = _api(prometheus, "query", query="ledgerline:http_requests:rate5m > 0")["result"]
        return {sample["metric"]["service"] for sample in result} & set(platform.services)

    _eventually(lambda: recorded() == set(platform.services), "ledgerline:http_requests:rate5m for every service")

    # A rule's health is "unknown" until its first evaluation and "err" when that failed.
    def unhealthy() -> list[tuple[str, str]]:
        groups = _api(prometheus, "rules")["groups"]
        return [(r["name"], r.get("lastError", r["health"])) for g in groups for r in g["rules"] if r["health"] != "ok"]

    _eventually(lambda: not unhealthy(), "every rule evaluated without error")
