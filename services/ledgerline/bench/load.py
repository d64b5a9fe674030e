"""The load generator: HTTP requests as API clients send them, closed or open loop.

Closed loop: `concurrency` clients, each sending its next request when the last one answered.
Open loop: requests start at a fixed rate whatever the answers, latency counted from when each
was due (so a slow server cannot hide its queueing, the coordinated-omission trap). Shed
requests (429/503) are retried after their `Retry-After` in the closed loop, counted in both.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ledgerline.core.access_tokens import RenewingBearer

REQUEST_TIMEOUT_S = 30.0
SHED_RETRIES_MAX = 10
RETRY_AFTER_MAX_S = 5.0
OUTSTANDING_MAX = 5000
SHED_STATUSES = frozenset({429, 503})
# A kept-alive connection the server closed just as it was reused: the request never arrived.
# Retried (payments with the same idempotency key, so a retry cannot pay twice).
CONNECTION_RETRIES_MAX = 3
KEEPALIVE_S = 2.0
_CONNECTION_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sent:
    latency_s: float
    status: int
    payment_id: str | None
    shed: int  # How many times it was refused with 429/503 before this answer.


@dataclass
class LoadResult:
    sent: list[Sent] = field(default_factory=list)
    shed_total: int = 0
    skipped: int = 0  # Open loop only: requests not started because OUTSTANDING_MAX were in flight.
    elapsed_s: float = 0.0

    @property
    def accepted_ids(self) -> list[str]:
        return [s.payment_id for s in self.sent if s.status == 202 and s.payment_id]

    @property
    def errors(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for s in self.sent:
            if s.status != 202:
                counts[s.status] = counts.get(s.status, 0) + 1
        return counts


class ApiClient:
    """One aiohttp session per service (keep-alive connections, bounded).

    Payment requests go to each of `payment_urls` in turn (instance 1 is `payment_url`), as a
    Kubernetes Service spreads them over a Deployment's replicas. Requests carry the customer's
    access token, or the operator's where they need the `admin` scope (`as_operator`).
    """

    def __init__(
        self,
        *,
        payment_url: str,
        wallet_url: str,
        ledger_url: str,
        connections_max: int,
        customer: RenewingBearer,
        operator: RenewingBearer,
        payment_urls: Sequence[str] = (),
    ) -> None:
        self.payment_url, self.wallet_url, self.ledger_url = payment_url, wallet_url, ledger_url
        self._customer, self._operator = customer, operator
        self.payment_urls = list(payment_urls) or [payment_url]
        self._payment_turns = itertools.cycle(self.payment_urls)
        self._session = aiohttp.ClientSession(
            # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s)
            # closes them, so a request never goes out on a connection already closed.
            connector=aiohttp.TCPConnector(limit=connections_max, keepalive_timeout=KEEPALIVE_S),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        )

    async def close(self) -> None:
        await self._session.close()

    async def post_payment(self, request: Request, *, retry_shed: bool) -> Sent:
        key = str(uuid.uuid4())
        started = time.perf_counter()
        shed = 0
        while True:
            status, body, retry_after = await self._send(
                "POST", self.next_payment_url() + request.path, json=request.body, headers={"Idempotency-Key": key}
            )
            if status in SHED_STATUSES and retry_shed and shed < SHED_RETRIES_MAX:
                shed += 1
                await asyncio.sleep(min(float(retry_after or 0.1), RETRY_AFTER_MAX_S))
                continue
            payment_id = body.get("id") if status == 202 and isinstance(body, dict) else None
            return Sent(time.perf_counter() - started, status, payment_id, shed + (status in SHED_STATUSES))

    async def post_transfer_batch(self, transfers: Sequence[dict[str, Any]], *, atomic: bool = False) -> list[Sent]:
        """One bulk request (all or none if `atomic`); one Sent per transfer, each with the request's latency."""
        started = time.perf_counter()
        body = {"transfers": [{"id": str(uuid.uuid4()), **transfer} for transfer in transfers], "atomic": atomic}
        shed = 0
        while True:
            status, answer, retry_after = await self._send(
                "POST", self.next_payment_url() + "/v1/transfers/batch", json=body
            )
            if status in SHED_STATUSES and shed < SHED_RETRIES_MAX:
                shed += 1
                await asyncio.sleep(min(float(retry_after or 0.1), RETRY_AFTER_MAX_S))
                continue
            break
        latency_s = time.perf_counter() - started
        if status != 200:
            return [Sent(latency_s, status, None, shed) for _ in transfers]
        return [
            Sent(latency_s, r["status"], r["payment"]["id"] if r["status"] == 202 else None, shed)
            for r in answer["results"]
        ]

    async def _bearer(self, as_operator: bool, headers: dict[str, str] | None = None) -> dict[str, str]:
        token = await (self._operator if as_operator else self._customer).token()
        return (headers or {}) | {"Authorization": f"Bearer {token}"}

    async def _send(
        self, method: str, url: str, *, as_operator: bool = False, headers: dict[str, str] | None = None, **options: Any
    ) -> tuple[int, Any, str | None]:
        """Status, JSON body (None if not JSON) and Retry-After of an idempotent request."""
        for attempt in range(CONNECTION_RETRIES_MAX):
            try:
                sent_headers = await self._bearer(as_operator, headers)
                async with self._session.request(method, url, headers=sent_headers, **options) as response:
                    text = await response.text()
                    try:
                        body = json.loads(text) if text else None
                    except ValueError:
                        body = None
                    return response.status, body, response.headers.get("Retry-After")
            except _CONNECTION_ERRORS:
                if attempt + 1 == CONNECTION_RETRIES_MAX:
                    raise
        raise AssertionError("unreachable")

    async def get_json(
        self,
        url: str,
        params: dict[str, str] | None = None,
        *,
        timeout_s: float | None = None,
        as_operator: bool = False,
    ) -> Any:
        longer = {"timeout": aiohttp.ClientTimeout(total=timeout_s)} if timeout_s else {}
        return await self._within_limits("GET", url, params=params, as_operator=as_operator, **longer)

    async def post_json(self, url: str, body: dict[str, Any]) -> Any:
        return await self._within_limits("POST", url, json=body)

    async def _within_limits(self, method: str, url: str, **options: Any) -> Any:
        """The JSON answer of a setup or read request, waiting out 429s as Retry-After says."""
        for _ in range(SHED_RETRIES_MAX):
            status, body, retry_after = await self._send(method, url, **options)
            if status != 429:
                break
            await asyncio.sleep(min(float(retry_after or 1), RETRY_AFTER_MAX_S))
        if status >= 300:
            raise RuntimeError(f"{method} {url} answered {status}: {body}")
        return body

    def next_payment_url(self) -> str:
        return next(self._payment_turns)

    async def metrics_text(self, payment_url: str) -> str:
        for attempt in range(CONNECTION_RETRIES_MAX):
            try:
                async with self._session.get(payment_url + "/metrics") as response:
                    return await response.text()
            except _CONNECTION_ERRORS:
                if attempt + 1 == CONNECTION_RETRIES_MAX:
                    raise
        raise AssertionError("unreachable")

    async def metrics_texts(self) -> list[str]:
        """Every payment instance's metrics: each counts only the sagas it moved."""
        return [await self.metrics_text(url) for url in self.payment_urls]


async def closed_loop(client: ApiClient, requests: Sequence[Request], concurrency: int) -> LoadResult:
    result = LoadResult()
    queue = iter(requests)
    started = time.perf_counter()

    async def worker() -> None:
        for request in queue:
            sent = await client.post_payment(request, retry_shed=True)
            result.sent.append(sent)
            result.shed_total += sent.shed

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result


async def bulk_loop(
    client: ApiClient, batches: Sequence[Sequence[dict[str, Any]]], concurrency: int, *, atomic: bool = False
) -> LoadResult:
    """Bulk requests from `concurrency` clients; every transfer counts as one request."""
    result = LoadResult()
    queue = iter(batches)
    started = time.perf_counter()

    async def worker() -> None:
        for batch in queue:
            sent = await client.post_transfer_batch(batch, atomic=atomic)
            result.sent.extend(sent)
            result.shed_total += sent[0].shed if sent else 0

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result


async def open_loop(
    client: ApiClient, make_request: Callable[[int], Request], *, rate_per_s: float, duration_s: float
) -> LoadResult:
    result = LoadResult()
    total = int(rate_per_s * duration_s)
    started = time.perf_counter()
    in_flight: set[asyncio.Task[None]] = set()

    async def one(index: int, due: float) -> None:
        sent = await client.post_payment(make_request(index), retry_shed=False)
        # Latency counts from when the request was due, not from when it could be sent.
        late_s = max(0.0, time.perf_counter() - sent.latency_s - due)
        result.sent.append(Sent(sent.latency_s + late_s, sent.status, sent.payment_id, sent.shed))
        result.shed_total += sent.shed

    for index in range(total):
        due = started + index / rate_per_s
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= OUTSTANDING_MAX:
            result.skipped += 1
            continue
        task = asyncio.create_task(one(index, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    result.elapsed_s = time.perf_counter() - started
    return result
