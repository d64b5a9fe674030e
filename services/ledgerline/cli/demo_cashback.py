"""The demo's cashback step: the operator sets a cashback rule (once; a later run finds it), a
customer's transfer earns it, and the reward is credited to the payer's wallet through the
payment saga. The step has a currency of its own (CHF), so its rule rewards no other payment of
the demo, nor of anyone else using the platform in EUR."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console

from ledgerline.client import LedgerlineClient

CURRENCY = "CHF"
RATE_BPS = 100  # 1% of every CHF transfer, up to the monthly cap.
MONTHLY_CAP = "20.00"
RULES_PATH = "/v1/rewards/rules"
RULE_PAGE_SIZE = 200
# The reward is paid after the transfer: consumed, asked of the payment service, then its saga.
REWARD_TIMEOUT_S = 60.0
REWARD_POLL_INTERVAL_S = 0.5


async def show_cashback(
    console: Console, url: str, operator: httpx.Auth, alice: LedgerlineClient, bob: LedgerlineClient
) -> None:
    async with httpx.AsyncClient(base_url=url, auth=operator, timeout=30) as admin:
        rule, created = await _cashback_rule(admin)
    said = "adds" if created else "already has"
    console.print(
        f"the operator {said} a cashback rule: {rule['rate_bps'] / 100:g}% of {CURRENCY} transfers,"
        f" up to {rule['monthly_cap']} {CURRENCY} a month (rule {rule['id']})"
    )
    payer = (await alice.open_wallet("alice", CURRENCY))["id"]
    payee = (await bob.open_wallet("bob", CURRENCY))["id"]
    await alice.deposit(payer, "100.00", CURRENCY)
    transfer = await alice.transfer(payer, payee, "50.00", CURRENCY)
    console.print(f"alice deposits 100.00 {CURRENCY} and sends bob 50.00 {CURRENCY}: [bold]{transfer['status']}[/]")
    reward = await _paid_reward(url, alice, payer)
    if reward is None:
        console.print(f"[red]no reward paid within {REWARD_TIMEOUT_S:.0f}s[/]")
        return
    wallet = await alice.get_wallet(payer)
    console.print(
        f"cashback credited to alice: [bold]{reward['amount']} {CURRENCY}[/] ({reward['status']}, reward"
        f" {reward['id']}); her wallet holds {wallet['balance']} {CURRENCY}"
    )


async def _cashback_rule(admin: httpx.AsyncClient) -> tuple[dict[str, Any], bool]:
    """The demo's rule: found among the rules, or added (True)."""
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": RULE_PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        page = (await admin.get(RULES_PATH, params=params)).raise_for_status().json()
        for rule in page["items"]:
            if _is_the_demos(rule):
                return rule, False
        cursor = page.get("next_cursor")
        if not cursor:
            break
    body = {
        "payment_type": "transfer",
        "currency": CURRENCY,
        "minimum_amount": "0",
        "rate_bps": RATE_BPS,
        "bonus": "0",
        "monthly_cap": MONTHLY_CAP,
        "valid_from": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    return (await admin.post(RULES_PATH, json=body)).raise_for_status().json(), True


def _is_the_demos(rule: dict[str, Any]) -> bool:
    terms = (rule["payment_type"], rule["currency"], rule["rate_bps"], rule["bonus"], rule["valid_to"])
    return terms == ("transfer", CURRENCY, RATE_BPS, "0.00", None)


async def _paid_reward(url: str, alice: LedgerlineClient, wallet_id: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + REWARD_TIMEOUT_S
    async with httpx.AsyncClient(base_url=url, auth=alice.auth, timeout=30) as http:
        while time.monotonic() < deadline:
            listed = (await http.get("/v1/rewards", params={"wallet_id": wallet_id})).raise_for_status().json()
            paid = [reward for reward in listed["items"] if reward["status"] == "paid"]
            if paid:
                return dict(paid[0])
            await asyncio.sleep(REWARD_POLL_INTERVAL_S)
    return None
