"""Shared fixtures of the observability tests: the Prometheus binaries and the observability/ files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerline.infra.platform import Platform
from ledgerline.infra.prometheus import PrometheusServer, start_local_prometheus

REPO_ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO_ROOT / "observability"
RULES_FILES = tuple(sorted((OBSERVABILITY / "rules").glob("*.yml")))
RULE_TEST_FILES = tuple(sorted((OBSERVABILITY / "tests").glob("*.test.yml")))
DASHBOARD_FILES = tuple(sorted((OBSERVABILITY / "dashboards").glob("*.json")))


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool from Debian's prometheus package, which `make bootstrap` installs. Missing, it is
    a failure and not a skip: the rules would otherwise ship untested without anyone noticing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not on PATH: run `make bootstrap`, which installs Debian's prometheus package "
            "(apt-get as root or with sudo), or `apt-get install prometheus` yourself",
            pytrace=False,
        )
    return Path(found)


@pytest.fixture
def local_prometheus(platform: Platform) -> Iterator[PrometheusServer]:
    """The Prometheus `ledgerline up` starts, scraping the shared test platform, for one test."""
    said: list[str] = []
    server = start_local_prometheus(platform, said.append)
    assert server is not None, said
    yield server
    server.stop()
