"""Payment history: a holder lists the payments of a wallet, newest first, in keyset pages
that never skip or repeat one, narrowed by type, status and time, each with its refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ledgerline.client import LedgerlineClient, register_customer
from ledgerline.infra.platform import Platform
from tests.books import assert_books_balance, funded_wallet, minor
from tests.conftest import platform_client


async def _all_pages(client: LedgerlineClient, **filters: str) -> tuple[list[dict[str, object]], int]:
    items: list[dict[str, object]] = []
    cursor, pages = None, 0
    while True:
        page = await client.payments(**filters, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return items, pages


async def test_history_of_a_wallet_in_pages_with_filters_and_refunds(client: LedgerlineClient) -> None:
    started = datetime.now(UTC)
    alice = await funded_wallet(client, "alice", "20.00")
    bob = await funded_wallet(client, "bob", "0")
    carol = await funded_wallet(client, "carol", "0")
    sent = [await client.transfer(alice, bob, f"{n}.00") for n in (1, 2, 3)]
    to_carol = await client.transfer(alice, carol, "4.00")
    refused = await client.transfer(bob, alice, "500.00")
    assert refused["status"] == "FAILED"
    refund = await client.refund(sent[0]["id"], "0.50")

    history, pages = await _all_pages(client, wallet_id=alice, limit="2")
    funding = [p for p in history if p["type"] == "deposit"]
    ids = [p["id"] for p in history]
    # Alice's deposit, four transfers out, the refused one towards her, and the refund to her.
    expected = {sent[0]["id"], sent[1]["id"], sent[2]["id"], to_carol["id"], refused["id"], refund["id"]}
    assert expected <= set(ids) and len(funding) == 1 and len(ids) == len(set(ids)) == 7
    assert pages == 4
    assert ids[0] == refund["id"]  # Newest first.
    created = [datetime.fromisoformat(str(p["created_at"])) for p in history]
    assert created == sorted(created, reverse=True)
    by_id = {p["id"]: p for p in history}
    assert by_id[sent[0]["id"]]["refund_ids"] == [refund["id"]]
    assert by_id[sent[1]["id"]]["refund_ids"] == []
    moved_out = sum(
        minor(str(p["amount"])) for p in history if p["source_wallet_id"] == alice and p["status"] == "COMPLETED"
    )
    assert moved_out == 100 + 200 + 300 + 400

    bob_transfers, _ = await _all_pages(client, wallet_id=bob, type="transfer")
    assert {p["id"] for p in bob_transfers} == {sent[0]["id"], sent[1]["id"], sent[2]["id"], refused["id"]}
    failed, _ = await _all_pages(client, wallet_id=bob, status="FAILED")
    assert [p["id"] for p in failed] == [refused["id"]] and failed[0]["failure_reason"] == "insufficient_funds"
    assert (await client.payments(wallet_id=carol, type="transfer"))["items"][0]["id"] == to_carol["id"]

    cut = datetime.fromisoformat(str(by_id[to_carol["id"]]["created_at"]))
    earlier, _ = await _all_pages(client, wallet_id=alice, created_to=cut.isoformat())
    later, _ = await _all_pages(client, wallet_id=alice, created_from=cut.isoformat())
    assert {p["id"] for p in earlier} | {p["id"] for p in later} == set(ids)
    assert not {p["id"] for p in earlier} & {p["id"] for p in later}
    assert to_carol["id"] in {p["id"] for p in later}
    window, _ = await _all_pages(
        client,
        created_from=started.isoformat(),
        created_to=(datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
        wallet_id=carol,
    )
    assert [p["id"] for p in window] == [to_carol["id"]]

    single = await client.get_payment(sent[0]["id"])
    assert single["refund_ids"] == [refund["id"]]
    await assert_books_balance(client)


async def test_history_refuses_bad_pages_clearly(client: LedgerlineClient) -> None:
    wallet = (await client.open_wallet("dora"))["id"]
    for params, status, code in (
        ({"wallet_id": wallet, "cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"wallet_id": wallet, "limit": "100000"}, 422, "page_too_large"),
        ({"wallet_id": wallet, "created_from": "2026-01-01T00:00:00"}, 422, "naive_time"),
        ({"wallet_id": wallet, "created_to": "0.5"}, 422, None),
        ({"wallet_id": wallet, "status": "LOST"}, 422, None),
        ({}, 422, "wallet_id_required"),  # Only an admin lists every payment.
    ):
        response = await client.payment.get("/v1/payments", params=params)
        assert response.status_code == status, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        if code:
            assert response.json()["code"] == code


async def test_an_admin_lists_every_payment(client: LedgerlineClient, admin_client: LedgerlineClient) -> None:
    started = datetime.now(UTC)
    alice = await funded_wallet(client, "alice", "3.00")
    bob = await funded_wallet(client, "bob", "0")
    transfer = await client.transfer(alice, bob, "2.00")
    everything, _ = await _all_pages(admin_client, created_from=started.isoformat(), limit="1")
    assert transfer["id"] in {p["id"] for p in everything}
    assert {p["type"] for p in everything} >= {"deposit", "transfer"}


async def test_the_recipient_reads_a_transfer_and_nobody_else(platform: Platform, client: LedgerlineClient) -> None:
    """A transfer in a recipient's history can be opened by them; a third customer gets 404."""
    recipient = platform_client(platform, await register_customer(platform.url("identity")))
    stranger = platform_client(platform, await register_customer(platform.url("identity")))
    try:
        alice = await funded_wallet(client, "alice", "5.00")
        theirs = (await recipient.open_wallet("rita"))["id"]
        sent = await client.transfer(alice, theirs, "1.25")
        assert sent["status"] == "COMPLETED"
        listed = (await recipient.payments(wallet_id=theirs))["items"]
        assert [p["id"] for p in listed] == [sent["id"]]
        seen = await recipient.get_payment(sent["id"])
        assert (seen["amount"], seen["destination_wallet_id"], seen["status"]) == ("1.25", theirs, "COMPLETED")
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await stranger.get_payment(sent["id"])
        assert refused.value.response.status_code == 404
        assert (await recipient.get_wallet(theirs))["balance"] == "1.25"
        await assert_books_balance(client)
    finally:
        await recipient.aclose()
        await stranger.aclose()
