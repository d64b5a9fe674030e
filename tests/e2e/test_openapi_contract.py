"""Every service's OpenAPI document tells the truth: schemathesis, with all its checks on positive
and negative data, finds against the running platform no server error, no status, header, content
type or body the document does not declare, no 405 without `Allow`, no error that is not problem
details, no request outside the schema accepted and none inside it refused for its shape."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import SERVICES, Platform
from tests.books import assert_books_balance

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKS_MODULE = "tests.e2e.openapi_contract_checks"
# Examples per operation and mode: enough to reach every status an operation declares, few enough
# for the six services, run side by side, to take about two minutes on a 2-core machine.
EXAMPLES_PER_OPERATION = int(os.environ.get("LEDGERLINE_CONTRACT_EXAMPLES", "5"))
# A bound for a machine far busier than usual, not an expectation.
RUN_TIMEOUT_S = 900
# A bound for a stuck request, not a speed test: the reconciliation re-adds every posting.
REQUEST_TIMEOUT_S = 120
OUTPUT_TAIL_CHARS = 20_000


@pytest.fixture(scope="session")
def api_auth_headers(platform: Platform) -> dict[str, str]:
    """Headers every contract request carries: the access token of a freshly registered customer,
    so the operations run past authentication (the ownership matrix covers who may do what). Every
    operation is fuzzed: the admin ones, such as the bank simulator's latency and failure knob,
    answer a customer 403 and change nothing the other tests sharing the platform see."""
    credentials = {"email": f"contract-{uuid.uuid4().hex[:12]}@example.com", "password": secrets.token_urlsafe(24)}
    with httpx.Client(base_url=platform.url("identity"), timeout=REQUEST_TIMEOUT_S) as identity:
        identity.post("/v1/registrations", json=credentials).raise_for_status()
        session = identity.post("/v1/sessions", json=credentials)
        session.raise_for_status()
    return {"Authorization": f"Bearer {session.json()['access_token']}"}


def schemathesis_command(url: str, headers: dict[str, str], service: str, report_dir: Path) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--checks=all",
        # Replaced by openapi_contract_checks.positive_data_accepted_unless_data_refuses.
        "--exclude-checks=positive_data_acceptance",
        "--mode=all",
        f"--max-examples={EXAMPLES_PER_OPERATION}",
        f"--request-timeout={REQUEST_TIMEOUT_S}",
        f"--max-response-time={REQUEST_TIMEOUT_S}",
        "--generation-database=none",
        "--suppress-health-check=all",
        "--no-color",
        "--report=junit",
        f"--report-dir={report_dir}",
    ]
    for name, value in headers.items():
        command.extend(["-H", f"{name}: {value}"])
    return command


@dataclass(frozen=True, slots=True)
class ContractRun:
    returncode: int
    output: str


@pytest.fixture(scope="module")
def contract_runs(
    platform: Platform, api_auth_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ContractRun]:
    """Schemathesis against every service at once: the runs mostly wait on the services, so
    together they take about as long as the slowest (identity, which hashes passwords)."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": CHECKS_MODULE, "PYTHONPATH": str(REPO_ROOT)}
    running: dict[str, subprocess.Popen[str]] = {}
    for service in SERVICES:
        folder = tmp_path_factory.mktemp(f"contract-{service}")
        command = schemathesis_command(platform.url(service), api_auth_headers, service, folder / "report")
        # Schemathesis keeps its crash cache under the working directory: the run's own folder.
        running[service] = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    runs: dict[str, ContractRun] = {}
    for service, process in running.items():
        try:
            output, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            output += f"\n(stopped after {RUN_TIMEOUT_S} s)"
        runs[service] = ContractRun(process.returncode, output)
    return runs


# The first test's setup runs every service's contract run (see contract_runs).
@pytest.mark.timeout(RUN_TIMEOUT_S + 120)
@pytest.mark.parametrize("service", SERVICES)
async def test_service_keeps_its_openapi_contract(
    contract_runs: dict[str, ContractRun], client: LedgerlineClient, service: str
) -> None:
    run = contract_runs[service]
    assert run.returncode == 0, run.output[-OUTPUT_TAIL_CHARS:]
    assert " passed" in run.output, run.output[-OUTPUT_TAIL_CHARS:]
    # Whatever the fuzzed requests moved, the books still balance and every wallet reconciles.
    await assert_books_balance(client)
