"""Settings every service shares; each service subclasses with its own env prefix.

Infrastructure addresses (Kafka, Redis) are read from unprefixed `LEDGERLINE_*` variables so
one ConfigMap can feed every pod; what belongs to one service (its database, its peers) is read
from `LEDGERLINE_<SERVICE>_*`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]
_DEVELOPMENT_HOSTS = ("localhost", "127.0.0.1")
# A JSON request to any route fits in 64 KiB; a service with larger requests raises its own default.
REQUEST_BODY_BYTES_MAX = 64 * 1024
# No setting may let a request body hold more than this in a service's memory.
REQUEST_BODY_BYTES_CEILING = 16 * 1024 * 1024
HOUR_S = 3600.0
DAY_S = 24 * HOUR_S


def _shared(name: str) -> AliasChoices:
    return AliasChoices(f"LEDGERLINE_{name.upper()}", name)


class TokenSettings(BaseSettings):
    """Where access tokens come from and what they must claim: one set of variables for every
    service, since the services form one API with one issuer and one audience."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", extra="ignore", populate_by_name=True)

    auth_identity_url: str = Field("http://127.0.0.1:8005", validation_alias=_shared("auth_identity_url"))
    auth_issuer: str = Field("https://identity.ledgerline.local", validation_alias=_shared("auth_issuer"))
    auth_audience: str = Field("ledgerline-api", validation_alias=_shared("auth_audience"))
    # A JWKS refresh for an unknown `kid` happens at most this often, so made-up kids cannot
    # turn into a request stream to the identity service.
    auth_jwks_refresh_interval_min_s: float = Field(
        10.0, ge=0.1, le=3600, validation_alias=_shared("auth_jwks_refresh_interval_min_s")
    )
    auth_jwks_cache_max_age_s: float = Field(
        300.0, ge=1, le=86_400, validation_alias=_shared("auth_jwks_cache_max_age_s")
    )
    # How long a "not revoked" answer about a session is trusted: the price of verifying a token
    # without a Redis round trip on every request. A logout takes effect within this bound.
    auth_revocation_cache_s: float = Field(2.0, ge=0, le=60, validation_alias=_shared("auth_revocation_cache_s"))


class ProxySettings(BaseSettings):
    """Which peers may say who the client is: X-Forwarded-For and X-Forwarded-Proto are believed
    only from these addresses (comma-separated IPs or networks, `*` for any), the entry point's.
    A client's address decides its rate-limit bucket on login and registration."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", extra="ignore")

    forwarded_allow_ips: str = Field("127.0.0.1,::1", min_length=1, max_length=4096)


class MetricsSettings(BaseSettings):
    """Where a process serves /metrics: on a port of its own when `LEDGERLINE_METRICS_PORT` is set
    (a cluster's pods, so the scraper's network policy opens only that port), else beside the API."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", extra="ignore")

    metrics_port: int | None = Field(None, ge=1, le=65535)


class ServiceSettings(TokenSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", extra="ignore", populate_by_name=True)

    # This service's own client credentials, for the calls it makes to other services.
    client_id: str | None = Field(None, max_length=64)
    client_secret: str | None = Field(None, max_length=256)
    # Each principal may send a burst of `rate_limit_capacity` requests to one route, then
    # `rate_limit_refill_per_s` a second (a token bucket in Redis, shared by every instance).
    rate_limit_capacity: int = Field(200, ge=1, le=1_000_000)
    rate_limit_refill_per_s: float = Field(100.0, gt=0, le=1_000_000)

    environment: Environment = Field("development", validation_alias=_shared("environment"))
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias=_shared("kafka_bootstrap_servers"))
    # How long the broker may hold a fetch that finds no new records. Kafka answers as soon as
    # records arrive, so this only bounds idle polling; a broker that always waits the full time
    # (the embedded one) needs it short, because it then adds to every saga hop.
    kafka_fetch_max_wait_ms: int = Field(500, ge=1, le=10_000, validation_alias=_shared("kafka_fetch_max_wait_ms"))
    # Records a fetch waits for (up to the max wait) before answering: more per fetch under load,
    # fewer requests for the broker and the consumer to handle.
    kafka_fetch_min_bytes: int = Field(1, ge=1, le=16 * 1024 * 1024, validation_alias=_shared("kafka_fetch_min_bytes"))
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_shared("redis_url"))
    log_level: str = Field("INFO", validation_alias=_shared("log_level"))
    otel_exporter_otlp_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_exporter_otlp_endpoint")
    )

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    database_pool_size: int = Field(10, ge=1, le=100)
    database_pool_timeout_s: float = Field(10.0, gt=0)
    database_pool_pre_ping: bool = False  # A round trip per checkout; off, a dead connection fails once.

    consumer_batch_size_max: int = Field(500, ge=1, le=10_000)
    consumer_poll_timeout_ms: int = Field(100, ge=1, le=60_000)
    consumer_attempts_max: int = Field(5, ge=1, le=100)
    outbox_relay_enabled: bool = True
    outbox_batch_size_max: int = Field(500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(1.0, gt=0, le=60)
    http_timeout_s: float = Field(5.0, gt=0, le=120)
    # Retention (core/retention.py): inbox rows and idempotency records are deleted once older
    # than these, well past any redelivery (the broker keeps a topic 7 days by default) or client
    # retry (the idempotency fast path in Redis keeps a response 24 hours).
    retention_enabled: bool = True
    inbox_retention_s: float = Field(14 * DAY_S, ge=HOUR_S, le=366 * DAY_S)
    idempotency_retention_s: float = Field(7 * DAY_S, ge=HOUR_S, le=366 * DAY_S)
    retention_interval_s: float = Field(300.0, gt=0, le=DAY_S)
    retention_batch_size_max: int = Field(1_000, ge=1, le=100_000)
    retention_batches_per_round_max: int = Field(100, ge=1, le=10_000)
    # Larger request bodies are refused with 413 before a route reads them (core/body_limit.py).
    request_body_bytes_max: int = Field(REQUEST_BODY_BYTES_MAX, ge=1024, le=REQUEST_BODY_BYTES_CEILING)

    @model_validator(mode="after")
    def _refuse_development_defaults_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        for name in ("database_url", "redis_url", "kafka_bootstrap_servers"):
            value = getattr(self, name)
            if any(host in value for host in _DEVELOPMENT_HOSTS):
                raise ValueError(f"{name} points at a development default ({value}) in production")
        return self
