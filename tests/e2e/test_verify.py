"""`ledgerline verify` passes the books of a running platform and names a wallet whose balance
was changed behind the ledger's back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import asyncpg

from ledgerline.client import LedgerlineClient
from ledgerline.infra.platform import Platform
from tests.books import PLAYED_PAYMENTS, funded_wallet, minor, wallet_minor

VERIFY_TIMEOUT_S = 300.0


def run_verify(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    for service in ("wallet", "ledger", "payment"):
        env[f"LEDGERLINE_{service.upper()}_DATABASE_URL"] = platform.infra.database_url(service)
    command = [sys.executable, "-m", "ledgerline.cli", "verify", "--stale-after-s", "120", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S, check=False)


async def shift_balance(platform: Platform, wallet_id: str, delta_minor: int) -> None:
    dsn = platform.infra.database_url("wallet").replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE wallets SET balance_minor = balance_minor + $2 WHERE id = $1", uuid.UUID(wallet_id), delta_minor
        )
    finally:
        await connection.close()


def wrong(result: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """What a `--json` run found, apart from the journal entries of payments that other tests on
    the shared platform sent to the wallet and ledger themselves (they have no payment row)."""
    assert result.returncode in (0, 1), result.stdout + result.stderr
    found_by_check = {}
    for check in json.loads(result.stdout)["checks"]:
        subjects = [f["subject"] for f in check["findings"]]
        played = check["check"] == "entry_once_per_payment" and check["found"] == len(subjects)
        if check["found"] and not (played and set(subjects) <= PLAYED_PAYMENTS):
            found_by_check[check["check"]] = subjects
    return found_by_check


def found(report: dict[str, Any], check: str) -> list[str]:
    entry = next(c for c in report["checks"] if c["check"] == check)
    return [f["subject"] for f in entry["findings"]]


async def test_verify_passes_sound_books_and_names_a_wallet_changed_behind_the_ledger(
    client: LedgerlineClient, platform: Platform
) -> None:
    alice = await funded_wallet(client, "verify-alice", "50.00")
    bob = await funded_wallet(client, "verify-bob", "0")
    assert (await client.transfer(alice, bob, "20.00"))["status"] == "COMPLETED"

    assert wrong(run_verify(platform, "--json")) == {}
    shown = run_verify(platform).stdout  # The table names every check, with what it proves.
    assert all(name in shown for name in ("ledger_balanced", "wallets_reconciled", "money_supply")), shown

    await shift_balance(platform, bob, minor("0.01"))
    try:
        assert (await wallet_minor(client, bob))["balance"] == minor("20.01")
        broken = run_verify(platform, "--json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        report = json.loads(broken.stdout)
        assert report["ok"] is False
        assert found(report, "wallets_reconciled") == [bob]
        # One cent appeared from nowhere: the money supply no longer matches the deposits.
        assert found(report, "money_supply") == ["EUR"]
        assert found(report, "ledger_balanced") == []
    finally:
        await shift_balance(platform, bob, -minor("0.01"))
    assert wrong(run_verify(platform, "--json")) == {}


def test_verify_moves_money_between_two_test_wallets_first(platform: Platform) -> None:
    urls = [f"--{s}-url={platform.url(s)}" for s in ("wallet", "ledger", "payment", "identity")]
    result = run_verify(platform, "--move-money", "--json", *urls)
    assert wrong(result) == {}, result.stdout + result.stderr
    moved = json.loads(result.stdout)["money_moved"]
    assert moved["ok"] is True and moved["problems"] == [], moved
