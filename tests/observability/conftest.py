"""Shared fixtures of the observability tests: the Prometheus binaries and the observability/ files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
