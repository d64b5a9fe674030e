"""The chaos load's webhook subscriptions, and what reached them: subscriptions on every wallet
of a seed (two on one wallet, so "once per subscription" is tested, not only once per wallet)
pointing at the webhook sink, and the calls the sink kept, read until every terminal payment
has reached each of its subscriptions or the bound passes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from ledgerline.chaos import findings as f
from ledgerline.infra.webhook_sink import ReceivedWebhook, read_received
from ledgerline.verify.reading import read_only

POLL_S = 1.0
SUBSCRIBE_TIMEOUT_S = 30.0
TWICE_SUBSCRIBED_WALLETS = 1


@dataclass(frozen=True, slots=True)
class Subscribed:
    path: str
    wallet_id: str
    secret: str


async def subscribe(notification_url: str, auth: httpx.Auth, wallets: Sequence[str], sink_url: str) -> list[Subscribed]:
    """One subscription per wallet, a second one on the first `TWICE_SUBSCRIBED_WALLETS`, each
    at a path of its own on the sink."""
    prefix = f"/{uuid.uuid4().hex[:12]}"
    wanted = [*wallets, *wallets[:TWICE_SUBSCRIBED_WALLETS]]
    subscribed = []
    async with httpx.AsyncClient(base_url=notification_url, auth=auth, timeout=SUBSCRIBE_TIMEOUT_S) as http:
        for number, wallet_id in enumerate(wanted):
            path = f"{prefix}/{wallet_id}/{number}"
            response = await http.post("/v1/webhooks", json={"wallet_id": wallet_id, "url": f"{sink_url}{path}"})
            response.raise_for_status()
            subscribed.append(Subscribed(path, wallet_id, str(response.json()["secret"])))
    return subscribed


async def delivered_once(
    payment_url: str,
    sink_file: Path,
    subscribed: Sequence[Subscribed],
    statuses: Mapping[str, str | None],
    deadline: float,
) -> tuple[list[f.ChaosFinding], list[f.Heard]]:
    """The findings on the webhook calls of these subscriptions, re-read until there are none
    (deliveries may still be under way) or `deadline` (monotonic) passes; and the calls."""
    secrets = {s.path: s.secret for s in subscribed}
    subscriptions = {s.path: s.wallet_id for s in subscribed}
    while True:
        heard = [_heard(call, secrets) for call in read_received(sink_file) if call.path in secrets]
        named = {*statuses, *(call.payment_id for call in heard)}
        parties = await payment_parties(payment_url, named)
        findings = f.webhooks_delivered_once(statuses, parties, subscriptions, heard)
        if not findings or time.monotonic() > deadline:
            return findings, heard
        await asyncio.sleep(POLL_S)


def _heard(call: ReceivedWebhook, secrets: Mapping[str, str]) -> f.Heard:
    try:
        body = json.loads(call.body)
    except ValueError:
        body = {}
    return f.Heard(call.path, call.webhook_id, call.signed_by(secrets[call.path]), body)


async def payment_parties(payment_url: str, payment_ids: set[str]) -> dict[str, set[str]]:
    """The wallets each payment moved money out of or into, from the payment database."""
    ids = [p for p in payment_ids if _is_uuid(p)]
    async with read_only(payment_url) as payments:
        rows = await payments.execute(
            text(
                "SELECT id::text, source_wallet_id::text, destination_wallet_id::text"
                " FROM payments WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )
        return {str(row[0]): {str(w) for w in row[1:] if w is not None} for row in rows}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
