"""What a running service holds (engine, Redis, producer, workers) and its FastAPI shell."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from ledgerline.core.access_tokens import ClientCredentials, service_auth
from ledgerline.core.api_docs import install_api_docs
from ledgerline.core.auth import (
    TokenVerifier,
    install_principal_rate_limit,
    install_token_verifier,
    verifier_from_settings,
)
from ledgerline.core.body_limit import RequestBodyLimit
from ledgerline.core.db import UnitOfWork, create_engine
from ledgerline.core.kafka import BatchConsumer, BatchHandler, ConsumerLimits
from ledgerline.core.kafka_clients import create_producer
from ledgerline.core.openapi import PROBLEM_RULES, ProblemRule, install_problem_docs
from ledgerline.core.outbox import OutboxRelay
from ledgerline.core.problems import install_problem_handlers
from ledgerline.core.processing import BatchHandling, InboxProcessor, MessageHandler
from ledgerline.core.rate_limits import Bucket, RateLimiter, RateLimitHeaders
from ledgerline.core.retention import Pruner, Retained, limits_of, retained_tables
from ledgerline.core.settings import ServiceSettings
from ledgerline.core.telemetry import (
    configure_logging,
    configure_tracing,
    install_http_telemetry,
    instrument_app,
    instrument_engine,
)

_log = logging.getLogger(__name__)
STARTUP_DEADLINE_S = 60
WORKER_RESTART_DELAY_MAX_S = 30.0
READINESS_TIMEOUT_S = 2.0
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
CollaboratorsT = TypeVar("CollaboratorsT")
Worker = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A consumer group reading `topics`.

    Messages are applied through `handlers` (one inbox transaction per batch), or through a
    custom batch handler built by `make_batch_handler(group)`.
    """

    topics: Sequence[str]
    handlers: Mapping[str, MessageHandler] = field(default_factory=dict)
    batch: BatchHandling | None = None
    group_suffix: str = ""
    # Set for topics whose messages wait on purpose (retry delays): no need to poll them often.
    fetch_max_wait_ms: int | None = None
    make_batch_handler: Callable[[str], BatchHandler] | None = None


@dataclass
class ServiceRuntime(Generic[SettingsT]):
    """The connections of a running service (made by `connect`) and its supervised tasks."""

    name: str
    settings: SettingsT
    engine: AsyncEngine = field(init=False)
    redis: Redis = field(init=False)
    producer: AIOKafkaProducer = field(init=False)
    consumers: list[BatchConsumer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _service_auth: ClientCredentials | None = field(init=False)

    def __post_init__(self) -> None:
        # One token for every peer client: it is fetched once and renewed before it expires.
        s = self.settings
        self._service_auth = service_auth(s.auth_identity_url, s.client_id, s.client_secret)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def peer_client(self, base_url: str, timeout_s: float | None = None) -> httpx.AsyncClient:
        """An HTTP client to another service that sends this service's token (client credentials)."""
        timeout = timeout_s or self.settings.http_timeout_s
        return httpx.AsyncClient(base_url=base_url, timeout=timeout, auth=self._service_auth)

    async def connect(self) -> None:
        """The engine, Redis and the producer, the producer retried until the broker answers."""
        s = self.settings
        self.engine = create_engine(
            s.database_url,
            pool_size=s.database_pool_size,
            pool_timeout_s=s.database_pool_timeout_s,
            pre_ping=s.database_pool_pre_ping,
        )
        instrument_engine(self.engine)
        self.redis = Redis.from_url(s.redis_url, socket_timeout=s.http_timeout_s)
        self.producer = create_producer(s.kafka_bootstrap_servers, f"ledgerline-{self.name}")
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(STARTUP_DEADLINE_S),
            wait=wait_exponential(max=5),
            retry=retry_if_exception_type(Exception),
            reraise=True,
        ):
            with attempt:
                await self.producer.start()

    async def start(
        self,
        subscriptions: Sequence[Subscription],
        workers: Sequence[Worker] = (),
        *,
        idempotency_records: bool = False,
        retained: Sequence[Retained] = (),
    ) -> None:
        """Start the relay, the consumers, retention and `workers` as supervised tasks (after
        `connect`); `idempotency_records` says the service keeps an idempotency_keys table, and
        `retained` names its own tables that retention prunes too."""
        s = self.settings
        if s.outbox_relay_enabled:
            relay = OutboxRelay(
                service=self.name,
                engine=self.engine,
                producer=self.producer,
                listen_dsn=_plain_dsn(s.database_url),
                batch_size_max=s.outbox_batch_size_max,
                poll_interval_s=s.outbox_poll_interval_s,
            )
            self._spawn("outbox-relay", relay.run)
        if s.retention_enabled:
            tables = [*retained_tables(s, idempotency_records=idempotency_records), *retained]
            pruner = Pruner(service=self.name, engine=self.engine, tables=tables, limits=limits_of(s))
            self._spawn("retention", pruner.run)
        limits = ConsumerLimits(
            batch_size_max=s.consumer_batch_size_max,
            poll_timeout_ms=s.consumer_poll_timeout_ms,
            attempts_max=s.consumer_attempts_max,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            fetch_min_bytes=s.kafka_fetch_min_bytes,
        )
        for subscription in subscriptions:
            group = f"ledgerline-{self.name}{subscription.group_suffix}"
            if subscription.make_batch_handler is not None:
                handle_batch = subscription.make_batch_handler(group)
            else:
                processor = InboxProcessor(
                    consumer=group, engine=self.engine, handlers=subscription.handlers, batch=subscription.batch
                )
                handle_batch = processor.handle_batch
            consumer = BatchConsumer(
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=group,
                topics=subscription.topics,
                handle_batch=handle_batch,
                producer=self.producer,
                limits=limits
                if subscription.fetch_max_wait_ms is None
                else replace(limits, fetch_max_wait_ms=subscription.fetch_max_wait_ms),
            )
            self.consumers.append(consumer)
            self._spawn(group, consumer.run)
        for worker in workers:
            self._spawn(getattr(worker, "__name__", "worker"), worker)

    def _spawn(self, name: str, run: Worker) -> None:
        self._tasks.append(asyncio.create_task(_supervise(name, run), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.producer.stop()
        await self.redis.aclose()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        checks["database"] = await _check(self._ping_database())
        checks["redis"] = await _check(self.redis.ping())
        checks["kafka"] = "ok" if self.producer.client.cluster.brokers() else "no brokers known"
        for consumer in self.consumers:
            if not consumer.started.is_set():
                checks["consumers"] = "not yet joined"
        return checks

    async def _ping_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))


async def _check(awaitable: Awaitable[Any]) -> str:
    try:
        await asyncio.wait_for(awaitable, READINESS_TIMEOUT_S)
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _plain_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


async def _supervise(name: str, run: Worker) -> None:
    """Keep a background worker alive: a crash is logged and the worker restarts with backoff."""
    delay = 0.5
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("worker %s crashed; restarting in %.1fs", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, WORKER_RESTART_DELAY_MAX_S)


def build_service_app(
    *,
    runtime: ServiceRuntime[SettingsT],
    bootstrap: Callable[[ServiceRuntime[SettingsT]], Awaitable[CollaboratorsT]],
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription] | Callable[[CollaboratorsT], Sequence[Subscription]] = (),
    workers: Callable[[CollaboratorsT], Sequence[Worker]] = lambda _: (),
    token_verifier: Callable[[CollaboratorsT], TokenVerifier] | None = None,
    problem_rules: Sequence[ProblemRule] = (),
    idempotency_records: bool = False,
    retained: Sequence[Retained] = (),
) -> FastAPI:
    """The service's FastAPI app.

    At startup the runtime connects, then `bootstrap(runtime)` makes the service's collaborators
    (routes reach them through `collaborators_of`), and the consumers and `workers` start.
    `token_verifier` replaces the one that fetches the identity service's keys;
    `problem_rules` declare the service's own refusals beyond `PROBLEM_RULES`;
    `idempotency_records` says it keeps an idempotency_keys table (pruned with its inbox), and
    `retained` the service's own tables that retention prunes too.
    """
    settings = runtime.settings
    traced = configure_tracing(runtime.name, settings.otel_exporter_otlp_endpoint)
    configure_logging(settings.log_level, with_trace_ids=traced)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.connect()
        collaborators = await bootstrap(runtime)
        app.state.collaborators = collaborators
        await runtime.start(
            subscriptions(collaborators) if callable(subscriptions) else subscriptions,
            workers(collaborators),
            idempotency_records=idempotency_records,
            retained=retained,
        )
        verifier = token_verifier(collaborators) if token_verifier else verifier_from_settings(settings, runtime.redis)
        install_token_verifier(app, verifier)
        install_principal_rate_limit(
            app, RateLimiter(runtime.redis), Bucket(settings.rate_limit_capacity, settings.rate_limit_refill_per_s)
        )
        try:
            yield
        finally:
            await runtime.stop()

    # FastAPI's own docs pages load their assets from a CDN; install_api_docs serves local ones.
    app = FastAPI(
        title=title, description=description, version="1.0.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.runtime = runtime
    install_api_docs(app)
    install_problem_handlers(app)
    # Services that page their lists have a `page_size_max` setting; the document states it.
    install_problem_docs(app, (*PROBLEM_RULES, *problem_rules), page_size_max=getattr(settings, "page_size_max", None))
    # Added before the telemetry middleware, which therefore wraps it and counts the 413s.
    app.add_middleware(RequestBodyLimit, bytes_max=settings.request_body_bytes_max)
    app.add_middleware(RateLimitHeaders)
    install_http_telemetry(app, runtime.name)
    instrument_app(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    for router in routers:
        app.include_router(router)
    return app
